"""SIFEN: DEs generated and numbered at posting, sent in lots and polled,
or one by one; the answers of every kind; a lost answer, a lot not queued
and a duplicate resolved by asking each CDC; cancellation events and their
window; the rules refusing at posting what SIFEN would reject."""
import datetime as dt

from lxml import etree

from tests import tools
from tests.chain_case import ChainTestCase
from tests.sifen_case import BUYER_RUC, SERVICE, SifenTestCase

NS = {'s': 'http://ekuatia.set.gov.py/sifen/xsd'}


class SifenFlowTest(SifenTestCase):

    def tearDown(self):
        super().tearDown()
        ChainTestCase.forget_chains()

    # -- helpers -----------------------------------------------------------
    def de(self, invoice_id):
        "The stored DE of an invoice, parsed"
        for kind, _, data in self.documents(invoice_id):
            if kind == 'de':
                return etree.fromstring(data)

    def text(self, invoice_id, path):
        return self.de(invoice_id).findtext(path, namespaces=NS)

    def held(self, cdc):
        return self.state()['held'].get(cdc)

    def calls(self):
        return self.state()['calls']

    def read_invoice(self, invoice_id, *names):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            invoice = Pool().get('account.invoice')(invoice_id)
            return tuple(getattr(invoice, n) for n in names)

    def ask_now(self):
        """Let the submissions waiting for a retry go now, without
        pretending SIFEN has had more time (unlike make_due)"""
        from trytond.pool import Pool

        def reset():
            Submission = Pool().get('account.einvoice.submission')
            Submission.write(
                Submission.search([('state', '=', 'pending')]),
                {'next_attempt': None})
        tools.call(reset)

    def send_and_process(self):
        "Send what is pending, let SIFEN process it, read the results"
        self.cron()
        self.finish_processing()
        self.cron()

    # -- lots --------------------------------------------------------------
    def test_lot_sent_polled_approved(self):
        "Posted DEs numbered per point, sent in one lot, polled, approved"
        invoices = [
            self.invoice([('110000', ['iva10'])]),
            self.invoice([('21000', 2, ['iva5']), ('5000', ['exempt'])],
                party='b2c'),
            self.invoice([('33000', ['iva10'])], party='anonymous'),
            ]
        # generated once at posting: numbered, with their CDC and QR
        self.assertEqual(self.states(invoices), ['pending'] * 3)
        self.assertEqual(
            [self.text(i, 's:DE/s:gTimb/s:dNumDoc') for i in invoices],
            ['0000001', '0000002', '0000003'])
        cdcs = [self.cdc(i) for i in invoices]
        for invoice, cdc in zip(invoices, cdcs):
            self.assertEqual(len(cdc), 44)
            self.assertEqual(cdc[2:10], '80013884')
            qr, = self.read_invoice(invoice, 'einvoice_qr')
            self.assertEqual(qr, self.text(invoice, 's:gCamFuFD/s:dCarQR'))
            self.assertIn(f'Id={cdc}', qr)
        self.assertEqual(self.text(invoices[0],
                's:DE/s:gDatGralOpe/s:gDatRec/s:dRucRec'), BUYER_RUC[:-2])
        self.assertEqual(self.text(invoices[1],
                's:DE/s:gDatGralOpe/s:gDatRec/s:dNumIDRec'), '1234567')

        self.cron()
        self.assertEqual(self.states(invoices), ['processing'] * 3)
        tickets = {s['ticket'] for s in self.submissions(invoices)}
        self.assertEqual(len(tickets), 1)
        self.cron()     # not yet time to ask
        self.assertEqual(self.states(invoices), ['processing'] * 3)
        self.finish_processing()
        self.cron()
        submissions = self.submissions(invoices)
        self.assertEqual([s['state'] for s in submissions],
            ['accepted'] * 3)
        self.assertEqual([s['reference'] for s in submissions], cdcs)
        for cdc in cdcs:
            self.assertEqual(self.held(cdc)['state'], 'approved')
            self.assertEqual(self.state()['received'][cdc], 1)
        kinds = [(e['kind'], e['remote_operation']) for e in self.exchanges()]
        self.assertEqual(kinds, [('send', 'rEnvioLote'),
                ('poll', 'rEnviConsLoteDe')])
        cdc_printed, = self.read_invoice(invoices[0], 'sifen_cdc')
        self.assertEqual(cdc_printed, cdcs[0])

    def test_points_of_issue_numbered_apart(self):
        "Each point of issue numbers its documents from 1, in its own lots"
        first = self.invoice([('1100', ['iva10'])], journal='A')
        second = self.invoice([('2200', ['iva10'])], journal='B')
        third = self.invoice([('3300', ['iva10'])], journal='B')
        numbers = [(self.text(i, 's:DE/s:gTimb/s:dPunExp'),
                self.text(i, 's:DE/s:gTimb/s:dNumDoc'))
            for i in [first, second, third]]
        self.assertEqual(numbers,
            [('001', '0000001'), ('002', '0000001'), ('002', '0000002')])
        self.send_and_process()
        self.assertEqual(self.states([first, second, third]),
            ['accepted'] * 3)
        self.assertEqual(len(self.state()['lots']), 2)
        self.assertEqual(self.verify_chains(),
            {k: None for k in self.verify_chains()})

    def test_bad_document_refused_alone(self):
        "A DE SIFEN refuses in a lot: refused alone, with SIFEN's message"
        today = dt.date.today()
        late = self.invoice([('1100', ['iva10'])],
            invoice_date=today - dt.timedelta(days=30))
        good = self.invoice([('2200', ['iva10'])])
        # the lot reaches SIFEN two days later: the first DE is too old
        self.sandbox.set_clock(advance=2 * 86400)
        self.cron()
        self.finish_processing()
        self.cron()
        late_submission, good_submission = self.submissions([late, good])
        self.assertEqual(good_submission['state'], 'accepted')
        self.assertEqual(late_submission['state'], 'rejected')
        self.assertEqual(late_submission['code'], '1150')
        self.assertIn('1150', late_submission['message'])

    def test_observation_held_not_rescheduled(self):
        "Approved with an observation: held by SIFEN, never sent again"
        from trytond.exceptions import UserError
        invoice = self.invoice([('1100', ['iva10'])])
        self.sandbox.set_option(SERVICE, 'observe_cdcs', [self.cdc(invoice)])
        self.send_and_process()
        submission, = self.submissions([invoice])
        self.assertEqual((submission['state'], submission['code']),
            ('accepted_with_errors', '1005'))
        self.assertIn('1005', submission['message'])

        def reschedule():
            from trytond.pool import Pool
            Submission = Pool().get('account.einvoice.submission')
            Submission.reschedule([Submission(submission['id'])])
        with self.assertRaises(UserError) as context:
            tools.call(reschedule, company=self.company)
        self.assertIn('cannot be sent again', str(context.exception))

    def test_submit_answer_lost(self):
        "A lost lot answer: each CDC asked, not resent while processing"
        invoices = [self.invoice([('1100', ['iva10'])]) for _ in range(2)]
        self.sandbox.add_fault(SERVICE, 'rEnvioLote', 'drop_after')
        self.cron()
        self.ask_now()
        self.cron()
        submissions = self.submissions(invoices)
        self.assertEqual({(s['state'], s['needs_query'])
                for s in submissions}, {('pending', True)})
        self.assertEqual(self.calls().get('recibe-lote'), 1)
        self.finish_processing()
        self.cron()
        self.assertEqual(self.states(invoices), ['accepted'] * 2)
        self.assertEqual(self.calls().get('recibe-lote'), 1)
        for invoice in invoices:
            self.assertEqual(self.state()['received'][self.cdc(invoice)], 1)
        self.assertEqual(self.state()['duplicates'], [])

    def test_not_queued_asked_then_sent_again(self):
        "0301 (not queued): each CDC asked before the lot goes again"
        self.sandbox.set_option(SERVICE, 'not_queued', True)
        invoices = [self.invoice([('1100', ['iva10'])]) for _ in range(2)]
        self.cron()
        submissions = self.submissions(invoices)
        self.assertEqual({(s['state'], s['needs_query'])
                for s in submissions}, {('pending', True)})
        self.assertEqual(self.calls().get('recibe-lote'), 1)
        self.assertEqual(self.state()['lots'], {})
        self.sandbox.set_option(SERVICE, 'not_queued', False)
        self.finish_processing()
        self.cron()     # asked: not held; sent again
        self.finish_processing()
        self.cron()
        self.assertEqual(self.states(invoices), ['accepted'] * 2)
        self.assertGreaterEqual(self.calls().get('consulta'), 2)
        for invoice in invoices:
            self.assertEqual(self.state()['received'][self.cdc(invoice)], 1)
        self.assertEqual(self.state()['duplicates'], [])

    def test_single_sent_synchronously(self):
        "One by one: recibe answers the DE at once"
        self.set_configuration(sifen_sending='single')
        invoice = self.invoice([('1100', ['iva10'])])
        self.cron()
        submission, = self.submissions([invoice])
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual(submission['reference'], self.cdc(invoice))
        exchange, = self.exchanges()
        self.assertEqual(exchange['remote_operation'], 'rEnviDe')
        # the stored DE went byte for byte inside the envelope
        _, _, data = self.documents(invoice)[0]
        self.assertIn(data.split(b'?>', 1)[-1].strip(), exchange['request'])

    def test_html_page_is_unknown(self):
        "SET's web page instead of SOAP: the CDC asked, never resent blind"
        self.set_configuration(sifen_sending='single')
        invoice = self.invoice([('1100', ['iva10'])])
        self.sandbox.add_fault(SERVICE, 'rEnviDe', 'html')
        self.cron()
        submission, = self.submissions([invoice])
        self.assertEqual((submission['state'], submission['needs_query']),
            ('pending', True))
        self.assertIn('web page', self.exchanges()[0]['error'] or '')

    # -- notes and cancellation -------------------------------------------
    def test_credit_note_refers_to_invoice(self):
        "A credit note names the CDC of the invoice it corrects"
        invoice = self.invoice([('1100', ['iva10'])])
        self.send_and_process()
        credit = self.credit(invoice)
        self.assertEqual(self.text(credit, 's:DE/s:gTimb/s:iTiDE'), '5')
        self.assertEqual(self.text(credit, 's:DE/s:gTimb/s:dNumDoc'),
            '0000001')
        self.assertEqual(
            self.text(credit, 's:DE/s:gCamDEAsoc/s:dCdCDERef'),
            self.cdc(invoice))
        self.send_and_process()
        self.assertEqual(self.states([credit]), ['accepted'])

    def test_cancellation_event(self):
        "Cancelling an approved invoice sends SIFEN's cancellation event"
        invoice = self.invoice([('1100', ['iva10'])])
        self.send_and_process()
        cdc = self.cdc(invoice)

        def cancel():
            from trytond.pool import Pool
            Invoice = Pool().get('account.invoice')
            record = Invoice(invoice)
            record.sifen_cancel_reason = "Error en el precio"
            record.save()
            Invoice.cancel([record])
        tools.call(cancel, company=self.company)
        self.cron()
        submission, = self.submissions([invoice])
        self.assertEqual((submission['state'], submission['operation']),
            ('cancelled', 'cancel'))
        self.assertEqual(self.held(cdc)['state'], 'cancelled')
        event = self.exchanges()[-1]
        self.assertEqual(event['remote_operation'], 'rEnviEventoDe')
        self.assertIn(b'Error en el precio', event['request'])

    def test_cancellation_window(self):
        "Past 48 hours after approval an invoice is credited, not cancelled"
        from trytond.exceptions import UserError
        invoice = self.invoice([('1100', ['iva10'])])
        self.send_and_process()

        def cancel_later():
            from trytond.pool import Pool
            Invoice = Pool().get('account.invoice')
            Invoice.check_sifen_cancellation([Invoice(invoice)],
                now=dt.datetime.now() + dt.timedelta(hours=49))
        with self.assertRaises(UserError) as context:
            tools.call(cancel_later, company=self.company)
        self.assertIn('48 hours', str(context.exception))

    # -- refused at posting ------------------------------------------------
    def test_refused_at_posting(self):
        "Dates outside SIFEN's window and lines without one IVA refused"
        from trytond.exceptions import UserError
        future = dt.date.today() + dt.timedelta(days=6)
        with self.assertRaises(UserError) as context:
            self.invoice([('1100', ['iva10'])], invoice_date=future)
        self.assertIn('120', str(context.exception))
        with self.assertRaises(UserError) as context:
            self.invoice([('1100', ['iva10', 'iva5'])])
        self.assertIn('2 taxes', str(context.exception))
