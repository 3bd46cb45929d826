"""Framework: clearance before the invoice is shared (the clearance
variant of the test authority, sandbox ``test_clearance``) and the rules
refusing to post what the authority would certainly refuse."""
import json
from decimal import Decimal

from tests import chain_case, tools
from tests.framework_case import FrameworkTestCase
from tests.sandbox.test_clearance_authority import PATH, encode_invoice
from tests.test_ar_printed import Document, decode_qr, render

BASIC_AUTH = 'TEST:clearance-secret-0815'
SERVICE = 'test_clearance'


class ClearanceTest(FrameworkTestCase):
    sandbox_services = [SERVICE]
    credential_secrets = {'test': {'basic_auth': BASIC_AUTH}}

    @classmethod
    def setUpData(cls):
        from trytond.pool import Pool
        super().setUpData()

        def setup():
            pool = Pool()
            Configuration = pool.get('account.einvoice.configuration')
            Party = pool.get('party.party')
            Configuration.write([Configuration(cls.configuration)],
                {'service': SERVICE})
            party = Party(name="Business Customer", addresses=[{}],
                identifiers=[{'type': 'eu_vat', 'code': 'BE0897290877'}])
            party.save()
            return party.id
        cls.business = tools.call(setup, company=cls.base['company'])

    def setUp(self):
        super().setUp()
        self.sandbox.set_option(SERVICE, 'basic_auth', BASIC_AUTH)

    def tearDown(self):
        super().tearDown()
        chain_case.ChainTestCase.forget_chains()

    # -- helpers -----------------------------------------------------------
    def post_as_client(self, party=None, **kwargs):
        """Post an invoice the way an RPC call does: commit, then run the
        tasks the transaction queued (trytond without a worker)"""
        from trytond.tests.test_tryton import DB_NAME
        from trytond.transaction import Transaction
        from trytond.worker import run_task
        base = dict(self.base, party=party or self.business)
        tasks = Transaction().tasks
        tasks.clear()
        invoice = tools.call(lambda: tools.create_invoice(base, **kwargs).id,
            company=self.company)
        while tasks:
            run_task(DB_NAME, tasks.pop())
        return invoice

    def cleared(self, invoice_id):
        "How many requests to clear the invoice the authority processed"
        return self.sandbox.count(SERVICE, 'clearance', self.key(invoice_id))

    def read(self, invoice_id):
        from trytond.pool import Pool

        def read():
            Invoice = Pool().get('account.invoice')
            invoice = Invoice(invoice_id)
            submission, = invoice.einvoice_submissions
            return {
                'state': invoice.state,
                'number': invoice.number,
                'total': invoice.total_amount,
                'rec_name': invoice.rec_name,
                'qr': invoice.einvoice_qr,
                'print_text': invoice.einvoice_print_text,
                'cached': bool(invoice.invoice_report_cache),
                'clearance': submission.clearance,
                'einvoice_state': submission.state,
                'reference': submission.reference,
                'last_error': submission.last_error,
                'documents': [{
                        'kind': d.kind,
                        'current': d.current,
                        'returned': d.returned,
                        'chain': d.chain.id if d.chain else None,
                        'data': bytes(d.data),
                        } for d in sorted(
                        submission.documents, key=lambda d: d.id)],
                }
        return tools.call(read, company=self.company, commit=False)

    def print_(self, invoice_id):
        return tools.call(render, invoice_id, company=self.company,
            commit=False)

    def email(self, invoice_id):
        """E-mail the invoice with its report: the names of the files
        attached (rolled back: the mail never leaves)"""
        from trytond.pool import Pool

        class Sent(Exception):
            pass

        def send():
            pool = Pool()
            Email = pool.get('ir.email')
            ActionReport = pool.get('ir.action.report')
            report, = ActionReport.search([
                    ('report_name', '=', 'account.invoice')])
            email = Email.send(to='customer@example.com', subject="Invoice",
                body="Your invoice", record=['account.invoice', invoice_id],
                reports=[report.id])
            raise Sent([a.name for a in pool.get('ir.attachment').search([
                            ('resource', '=', str(email))])])
        try:
            tools.call(send, company=self.company, commit=False)
        except Sent as sent:
            return sent.args[0]

    def assert_refused(self, call, invoice, state, action):
        from trytond.modules.account_einvoice.exceptions import ClearanceError
        with self.assertRaises(ClearanceError) as refused:
            call()
        message = refused.exception.message
        self.assertIn(f'"{invoice["rec_name"]}"', message)
        self.assertIn(action, message)
        self.assertIn(f'(e-invoice state: {state})', message)

    def assert_prints_cleared_copy(self, invoice_id):
        "Printed with the QR and stamp of the copy the authority holds"
        info = self.read(invoice_id)
        held = self.sandbox.state(SERVICE)['cleared'][self.key(invoice_id)]
        returned, = [d for d in info['documents'] if d['returned']]
        self.assertEqual(json.loads(returned['data']), held)
        self.assertEqual(info['qr'], held['qr'])
        format_, data = self.print_(invoice_id)
        self.assertEqual(format_, 'odt')
        document = Document(data)
        self.assertEqual(decode_qr(document.image()), [held['qr']])
        self.assertEqual(document.section_lines()[0],
            f"Cleared: {held['stamp']['reference']}")
        return info, held

    # -- tests -------------------------------------------------------------
    def test_cleared_at_posting(self):
        "A B2B invoice is cleared at once, its stamped copy kept and printed"
        invoice = self.post_as_client()
        # sent by the task posting queued, not by the cron
        self.assertEqual(self.cleared(invoice), 1)
        info, held = self.assert_prints_cleared_copy(invoice)
        self.assertEqual(info['state'], 'posted')
        self.assertEqual(info['einvoice_state'], 'accepted')
        self.assertTrue(info['clearance'])
        self.assertEqual(info['reference'], held['stamp']['reference'])
        self.assertEqual(held['qr'], '|'.join(['CLR', self.key(invoice),
                    info['number'], str(info['total']), info['reference']]))
        # the invoice report kept at posting was made after the clearance
        self.assertTrue(info['cached'])
        sent, returned = info['documents']
        self.assertEqual((sent['kind'], sent['current'], sent['returned']),
            ('record', True, False))
        self.assertIsNotNone(sent['chain'])
        self.assertEqual((returned['kind'], returned['current'],
                returned['chain']), ('cleared', False, None))
        self.assertEqual(len(self.email(invoice)), 1)
        self.cron()
        self.assertEqual(self.cleared(invoice), 1)

    def test_not_shared_before_clearance(self):
        "Authority down: posted, pending; no print nor e-mail until cleared"
        self.sandbox.add_fault(SERVICE, 'clearance', 'http_503')
        invoice = self.post_as_client()
        info = self.read(invoice)
        self.assertEqual(info['state'], 'posted')
        self.assertEqual(info['einvoice_state'], 'pending')
        self.assertIn('503', info['last_error'])
        self.assertEqual(self.cleared(invoice), 0)
        self.assertFalse(info['cached'])
        self.assertIsNone(info['qr'])
        self.assert_refused(lambda: self.print_(invoice), info, 'Pending',
            'cannot be printed')
        self.assert_refused(lambda: self.email(invoice), info, 'Pending',
            'cannot be e-mailed')

        self.make_due()
        self.cron()
        self.assertEqual(self.cleared(invoice), 1)
        info, _ = self.assert_prints_cleared_copy(invoice)
        self.assertEqual(info['einvoice_state'], 'accepted')
        self.assertEqual(len(self.email(invoice)), 1)

    def test_lost_answer_already_cleared(self):
        "A resend after a lost answer gets the held copy: accepted"
        self.sandbox.add_fault(SERVICE, 'clearance', 'drop_after')
        invoice = self.post_as_client()
        info = self.read(invoice)
        self.assertEqual(info['einvoice_state'], 'pending')
        self.assert_refused(lambda: self.print_(invoice), info, 'Pending',
            'cannot be printed')
        self.make_due()
        self.cron()
        statuses = [r['summary'].get('status')
            for r in self.sandbox.received(SERVICE)]
        self.assertEqual(statuses, ['CLEARED', 'ALREADY_CLEARED'])
        self.assertEqual(self.sandbox.state(SERVICE)['refused'], {})
        info, _ = self.assert_prints_cleared_copy(invoice)
        self.assertEqual(info['einvoice_state'], 'accepted')

    def test_b2c_not_cleared(self):
        "An invoice to a consumer waits for the cron and prints at once"
        invoice = self.post_as_client(party=self.base['party'])
        info = self.read(invoice)
        self.assertFalse(info['clearance'])
        self.assertEqual(info['einvoice_state'], 'pending')
        self.assertEqual(self.cleared(invoice), 0)
        self.assertTrue(info['cached'])
        format_, data = self.print_(invoice)
        self.assertIsNone(Document(data).section)
        self.assertEqual(len(self.email(invoice)), 1)

    def test_credit_note_needs_reason(self):
        "A pre-post rule refuses a credit note without its reason"
        from trytond.modules.account_einvoice.exceptions import PostingError
        from trytond.pool import Pool
        base = dict(self.base, party=self.business)
        invoice = tools.call(lambda: tools.create_invoice(
                base, amount=Decimal('-50'), post=False).id,
            company=self.company)

        def post():
            Invoice = Pool().get('account.invoice')
            Invoice.post([Invoice(invoice)])
        with self.assertRaises(PostingError) as refused:
            tools.call(post, company=self.company)
        message = refused.exception.message
        self.assertRegex(message, r'^Invoice "\S+.*" cannot be posted: ')
        self.assertIn('Description: a credit note must give its reason '
            '(rule CLR-2003)', message)
        state = tools.call(lambda: Pool().get('account.invoice')(
                invoice).state, commit=False)
        self.assertEqual(state, 'draft')
        self.assertEqual(self.sandbox.received(SERVICE), [])

        credit = self.post_as_client(
            amount=Decimal('-50'), description="Returned goods")
        self.assertEqual(self.cleared(credit), 1)
        held = self.sandbox.state(SERVICE)['cleared'][self.key(credit)]
        self.assertEqual(held['reason'], "Returned goods")
        self.assertEqual(self.read(credit)['einvoice_state'], 'accepted')

    def test_sandbox_refusals(self):
        "The clearance authority's refusals, as any client sees them"
        session = self.sandbox.session(None)
        url = self.sandbox.open_endpoint(PATH)
        auth = tuple(BASIC_AUTH.split(':'))

        def post(invoice, **kwargs):
            body = kwargs.pop('body', None) or encode_invoice(invoice)
            return session.post(url, json=body, timeout=10,
                auth=kwargs.pop('auth', auth))
        invoice = {'id': 'X-1', 'number': 'F1', 'date': '2024-05-01',
            'amount': '-10.00'}
        self.assertEqual(post(invoice, auth=('TEST', 'wrong')).status_code,
            401)
        answer = post(None, body={'invoice': 'not base64!', 'hash': ''})
        self.assertEqual((answer.status_code, answer.json()['error']),
            (400, 'malformed'))
        answer = post(invoice, body=dict(encode_invoice(invoice), hash='0'))
        self.assertEqual(answer.status_code, 400)
        self.assertEqual(answer.json()['status'], 'NOT_CLEARED')
        self.assertEqual([e['code'] for e in answer.json()['errors']],
            [2001, 2003])
        invoice['reason'] = "Damaged"
        first = post(invoice)
        self.assertEqual((first.status_code, first.json()['status']),
            (200, 'CLEARED'))
        again = post(invoice)
        self.assertEqual((again.status_code, again.json()['status']),
            (409, 'ALREADY_CLEARED'))
        self.assertEqual(again.json()['cleared'], first.json()['cleared'])
        self.assertEqual(self.sandbox.state(SERVICE)['refused'], {'X-1': 1})
        session.close()
