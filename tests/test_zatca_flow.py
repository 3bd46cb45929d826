"""ZATCA: simplified invoices reported, standard ones cleared at posting,
the chain of each EGS unit, every HTTP status of ZATCA's answers, and the
rules refusing at posting what ZATCA would reject."""
import datetime as dt
from decimal import Decimal

from tests import tools
from tests.test_ar_printed import Document, decode_qr, render
from tests.zatca_case import SERVICE, ZatcaTestCase

FIRST_PIH = ('NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5'
    'MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==')


class ZatcaFlowTest(ZatcaTestCase):

    def tearDown(self):
        super().tearDown()
        from tests.chain_case import ChainTestCase
        ChainTestCase.forget_chains()

    # -- helpers -----------------------------------------------------------
    def post_as_client(self, lines, **values):
        """Post an invoice the way an RPC call does: commit, then run the
        tasks the transaction queued (trytond without a worker)"""
        from trytond.tests.test_tryton import DB_NAME
        from trytond.transaction import Transaction
        from trytond.worker import run_task
        tasks = Transaction().tasks
        tasks.clear()
        invoice = self.invoice(lines, **values)
        while tasks:
            run_task(DB_NAME, tasks.pop())
        return invoice

    def held(self):
        "The documents the sandbox received for the unit, in order"
        units = self.sandbox.state(SERVICE)['units']
        return [dict(d, icv=int(d['icv']))
            for unit in units.values() for d in unit['documents']]

    def uuid_of(self, invoice_id):
        from lxml import etree
        _, data = self.sent_document(invoice_id)
        return etree.fromstring(data).findtext(
            '{urn:oasis:names:specification:ubl:schema:xsd:'
            'CommonBasicComponents-2}UUID')

    def received(self, operation):
        return [r for r in self.sandbox.received(SERVICE, operation)
            if r['processed']]

    def sent_document(self, invoice_id):
        kind, returned, digest, data = self.documents(invoice_id)[0]
        self.assertEqual((kind, returned), ('invoice', False))
        return digest, data

    def read_invoice(self, invoice_id, *names):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            invoice = Pool().get('account.invoice')(invoice_id)
            return tuple(getattr(invoice, n) for n in names)

    def print_(self, invoice_id):
        return tools.call(render, invoice_id, company=self.company,
            commit=False)

    # -- reporting ---------------------------------------------------------
    def test_simplified_reported_once_in_chain(self):
        "Simplified invoices: signed at posting, chained, reported by the cron"
        from trytond.modules.account_einvoice.signing_zatca import zatca_verify
        from trytond.modules.account_einvoice_sa_zatca import qr
        first = self.invoice([('100', ['vat15'])])
        second = self.invoice([('10.50', 3, ['vat15']), ('20', ['zero'])])
        digest1, data1 = self.sent_document(first)
        digest2, data2 = self.sent_document(second)
        # the QR is printable before ZATCA has the invoice (B2C)
        qr_text, = self.read_invoice(first, 'einvoice_qr')
        tags = qr.decode(qr_text)
        self.assertEqual(tags[1].decode(),
            "شركة ساندبوكس السعودية | SANDBOX SAUDI COMPANY LLC")
        self.assertEqual(tags[4], b'115.00')
        self.assertEqual(tags[5], b'15.00')
        self.assertEqual(tags[6].decode(), digest1)
        zatca_verify(data1)
        self.assertIn('<cbc:UUID>1</cbc:UUID>'.encode(), data1)
        self.assertIn(FIRST_PIH.encode(), data1)
        self.assertIn('<cbc:UUID>2</cbc:UUID>'.encode(), data2)
        self.assertIn(digest1.encode(), data2)
        submission = self.submission(first)
        self.assertEqual(submission['state'], 'pending')
        self.assertFalse(submission['clearance'])
        self.assertAlmostEqual(submission['deadline'],
            dt.datetime.now() + dt.timedelta(hours=24),
            delta=dt.timedelta(minutes=5))

        self.cron()
        for invoice in [first, second]:
            submission = self.submission(invoice)
            self.assertEqual(submission['state'], 'accepted', submission)
        held = self.held()
        self.assertEqual([(d['icv'], d['status']) for d in held],
            [(1, 'REPORTED'), (2, 'REPORTED')])
        self.assertEqual([d['hash'] for d in held], [digest1, digest2])
        self.assertEqual(len(self.received('reporting')), 2)
        self.cron()
        self.assertEqual(len(self.received('reporting')), 2)
        self.assertEqual(set(self.verify_chains().values()), {None})

    def test_warnings_accepted_with_errors(self):
        "202: accepted, ZATCA's warnings kept for staff"
        self.sandbox.set_option(SERVICE, 'force_warning', "Check it")
        invoice = self.invoice([('100', ['vat15'])])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted_with_errors')
        self.assertEqual(submission['code'], 'SANDBOX-WARNING')
        self.assertEqual(submission['message'], 'SANDBOX-WARNING: Check it')

    def test_rejected_every_message(self):
        "400: rejected with each of ZATCA's validation messages; rescheduled"
        from trytond.pool import Pool
        invoice = self.invoice([('100', ['vat15'])])
        self.sandbox.set_option(SERVICE, 'refuse_uuids',
            [self.uuid_of(invoice)])
        self.sandbox.set_option(SERVICE, 'force_warning', "Check it")
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'rejected')
        self.assertEqual(submission['code'], 'SANDBOX-REFUSED')
        self.assertEqual(submission['message'].splitlines(), [
                "SANDBOX-REFUSED: refused by the sandbox (option "
                "refuse_uuids)",
                "SANDBOX-WARNING: Check it"])
        # the chain goes on from the rejected document
        self.sandbox.set_option(SERVICE, 'refuse_uuids', [])
        self.sandbox.set_option(SERVICE, 'force_warning', None)
        after = self.invoice([('5', ['vat15'])])
        self.cron()
        self.assertEqual(self.submission(after)['state'], 'accepted')
        self.assertEqual(self.held()[-1]['pih'],
            self.sent_document(invoice)[0])
        # rescheduled: a new document (UUID, next ICV) after the others
        first_uuid = self.uuid_of(invoice)

        def reschedule():
            Submission = Pool().get('account.einvoice.submission')
            Submission.reschedule(
                Submission.search([('invoice', '=', invoice)]))
        tools.call(reschedule, company=self.company)
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        documents = self.documents(invoice)
        self.assertEqual(len(documents), 2)
        held = self.held()
        self.assertEqual([d['icv'] for d in held], [1, 2, 3])
        self.assertEqual(held[-1]['hash'], documents[-1][2])
        self.assertNotEqual(held[-1]['uuid'], first_uuid)
        self.assertEqual(held[-1]['status'], 'REPORTED')

    def test_credentials_refused(self):
        "401: a configuration failure told to staff, nothing lost"
        self.sandbox.add_fault(SERVICE, 'reporting', 'http_401')
        invoice = self.invoice([('100', ['vat15'])])
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            configuration = Pool().get('account.einvoice.configuration')(
                self.configuration)
            self.assertIn('401', configuration.last_failure)
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(len(self.received('reporting')), 1)

    def test_busy_then_reported(self):
        "429 (Retry-After) and 503: sent again later, held once"
        self.sandbox.add_fault(SERVICE, 'reporting', 'http_429',
            retry_after=1)
        invoice = self.invoice([('100', ['vat15'])])
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        self.sandbox.add_fault(SERVICE, 'reporting', 'http_503')
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(len(self.received('reporting')), 1)

    def test_lost_answer_resent_same_bytes(self):
        "A lost answer: the same bytes again, ZATCA's 409 read as accepted"
        self.sandbox.add_fault(SERVICE, 'reporting', 'drop_after')
        invoice = self.invoice([('100', ['vat15'])])
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        self.make_due()
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertIn('409', submission['message'])
        requests = self.received('reporting')
        self.assertEqual(len(requests), 2)
        self.assertEqual([d['icv'] for d in self.held()], [1])
        self.assertEqual(len(self.documents(invoice)), 1)

    # -- clearance ---------------------------------------------------------
    def test_standard_cleared_at_posting_printed_with_zatca_qr(self):
        "Standard invoice: cleared at once, ZATCA's copy and QR printed"
        from trytond.modules.account_einvoice_sa_zatca import qr
        invoice = self.post_as_client([('1000', ['vat15'])], party='b2b')
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted', submission)
        self.assertEqual(len(self.received('clearance')), 1)
        self.assertTrue(submission['clearance'])
        documents = self.documents(invoice)
        self.assertEqual([(d[0], d[1]) for d in documents],
            [('invoice', False), ('cleared', True)])
        cleared = documents[1][3]
        qr_text, = self.read_invoice(invoice, 'einvoice_qr')
        self.assertIn(qr_text.encode(), cleared)
        tags = qr.decode(qr_text)
        self.assertEqual(tags[4], b'1150.00')
        self.assertEqual(tags[6].decode(), documents[0][2])
        format_, data = self.print_(invoice)
        self.assertEqual(decode_qr(Document(data).image()), [qr_text])

    def test_standard_not_printable_before_clearance(self):
        "ZATCA down: posted, not printable until cleared"
        from trytond.modules.account_einvoice.exceptions import ClearanceError
        self.sandbox.add_fault(SERVICE, 'clearance', 'http_503')
        invoice = self.post_as_client([('1000', ['vat15'])], party='b2b')
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        with self.assertRaises(ClearanceError):
            self.print_(invoice)
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.print_(invoice)

    def test_clearance_switched_off_reported(self):
        "303: clearance switched off, the standard invoice reported instead"
        self.sandbox.set_option(SERVICE, 'clearance_off', True)
        invoice = self.post_as_client([('1000', ['vat15'])], party='b2b')
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(len(self.received('reporting')), 1)
        self.assertEqual([d['status'] for d in self.held()], ['REPORTED'])

    def test_rejected_standard_credit_and_reissue(self):
        "A rejected cleared invoice: credit note and new invoice, guided"
        from trytond.pool import Pool
        self.sandbox.add_fault(SERVICE, 'clearance', 'http_503')
        invoice = self.post_as_client([('200', ['vat15'])], party='b2b')
        self.sandbox.set_option(SERVICE, 'refuse_uuids',
            [self.uuid_of(invoice)])
        self.make_due()
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'rejected')

        def correct():
            pool = Pool()
            Submission = pool.get('account.einvoice.submission')
            Invoice = pool.get('account.invoice')
            action = Submission.zatca_correct(
                [Submission(submission['id'])])
            drafts = Invoice.search([('id', '!=', invoice),
                    ('state', '=', 'draft')], order=[('id', 'ASC')])
            return action['name'], [(i.total_amount,
                    i.zatca_corrected_invoice and i.zatca_corrected_invoice.id,
                    i.zatca_reason) for i in drafts]
        name, drafts = tools.call(correct, company=self.company)
        number, = self.read_invoice(invoice, 'number')
        self.assertEqual(name, "Correction: Credit Note and New Invoice")
        self.assertEqual(drafts, [
                (Decimal('-230.00'), invoice,
                    f"Cancels invoice {number}, rejected by ZATCA"),
                (Decimal('230.00'), None, None)])
        # a rejected invoice may be cancelled: ZATCA holds nothing
        self.cancel_invoices([invoice])
        self.assertEqual(self.submission(invoice)['state'], 'cancelled')

    # -- rules at posting --------------------------------------------------
    def test_rounding_refused_at_posting(self):
        "Tryton rounding the tax per line: refused naming BR-S-09"
        from trytond.exceptions import UserError
        from trytond.pool import Pool

        def set_rounding(value):
            Configuration = Pool().get('account.configuration')
            configuration = Configuration(1)
            configuration.tax_rounding = value
            configuration.save()
        tools.call(set_rounding, 'line', company=self.company)
        try:
            with self.assertRaises(UserError) as refused:
                self.invoice([('1.03', ['vat15'])] * 3)
        finally:
            tools.call(set_rounding, 'document', company=self.company)
        self.assertIn('BR-S-09', refused.exception.message)
        self.assertEqual(self.held(), [])

    def test_issue_date_and_time(self):
        "Dated yesterday in Riyadh: issued at its end; tomorrow: refused"
        from zoneinfo import ZoneInfo

        from lxml import etree

        from trytond.exceptions import UserError
        from trytond.modules.account_einvoice_sa_zatca.service import (
            ZatcaService)
        riyadh = dt.datetime.now(ZoneInfo('Asia/Riyadh')).date()
        yesterday = riyadh - dt.timedelta(days=1)
        self.assertEqual(ZatcaService.issue_time(ZatcaService(None),
                yesterday), dt.time(23, 59, 59))
        if yesterday == dt.date.today():
            # the company's day (UTC) is still the one over in Riyadh:
            # posted today, dated yesterday in Riyadh (before 21:00 UTC
            # the invoice sequence, already used today, refuses that date)
            invoice = self.invoice([('100', ['vat15'])],
                invoice_date=yesterday)
            _, data = self.sent_document(invoice)
            cbc = ('{urn:oasis:names:specification:ubl:schema:xsd:'
                'CommonBasicComponents-2}')
            root = etree.fromstring(data)
            self.assertEqual((root.findtext(cbc + 'IssueDate'),
                    root.findtext(cbc + 'IssueTime')),
                (yesterday.isoformat(), '23:59:59'))
            self.cron()
            # reported within 24 hours of it: no warning
            self.assertEqual(self.submission(invoice)['state'], 'accepted')

        with self.assertRaises(UserError) as refused:
            self.invoice([('100', ['vat15'])],
                invoice_date=riyadh + dt.timedelta(days=1))
        self.assertIn('BR-KSA-04', refused.exception.message)

    def test_not_onboarded_refused_at_posting(self):
        "A unit without its production credential issues no invoice"
        from trytond.exceptions import UserError
        from trytond.modules.account_einvoice import secret_store
        secret_store.delete_secret('zatca_a', 'production')
        with self.assertRaises(UserError) as refused:
            self.invoice([('100', ['vat15'])])
        self.assertIn('has no production credential: onboard it',
            refused.exception.message)
        self.assertEqual(self.held(), [])

    def test_standard_needs_buyer_address(self):
        "A standard invoice to a buyer without address refused at posting"
        from trytond.exceptions import UserError
        with self.assertRaises(UserError) as refused:
            self.invoice([('100', ['vat15'])], party='no_address',
                zatca_transaction='standard')
        self.assertIn('BR-KSA', refused.exception.message)

    def test_cancel_refused_credit_note_reported(self):
        "A reported invoice is credited, not cancelled; its credit note 381"
        from trytond.modules.account_einvoice_sa_zatca.exceptions import (
            ZatcaError)
        invoice = self.invoice([('100', ['vat15'])])
        self.cron()
        with self.assertRaises(ZatcaError):
            self.cancel_invoices([invoice])

        credit_id = self.credit(invoice, "Goods returned")
        self.cron()
        self.assertEqual(self.submission(credit_id)['state'], 'accepted')
        _, data = self.sent_document(credit_id)
        number, = self.read_invoice(invoice, 'number')
        self.assertIn(b'>381</cbc:InvoiceTypeCode>', data)
        self.assertIn(f'<cbc:ID>{number}</cbc:ID>'.encode(), data)
        self.assertIn(b'Goods returned', data)

    def test_foreign_currency_tax_total_in_sar(self):
        "A USD invoice: the QR's tax total is the SAR one"
        from trytond.modules.account_einvoice_sa_zatca import qr
        invoice = self.invoice([('100', ['vat15'])], currency='USD')
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        qr_text, = self.read_invoice(invoice, 'einvoice_qr')
        tags = qr.decode(qr_text)
        self.assertEqual(tags[4], b'115.00')
        self.assertEqual(Decimal(tags[5].decode()), Decimal('56.25'))
