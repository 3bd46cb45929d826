"""SII: refusals and their fix, A1, duplicates, cancellation, lost
answers and the queries that resolve them."""
import datetime as dt

from tests import tools
from tests.sii_case import BAD_NIF, GOOD_NIF, SIITestCase

EMITIDAS = 'SuministroLRFacturasEmitidas'
RECIBIDAS = 'SuministroLRFacturasRecibidas'


class SIIRecoveryTest(SIITestCase):

    def registered(self, invoice, operation=EMITIDAS):
        return self.sandbox.count('sii', operation, self.key(invoice),
            'registered')

    def sent(self, invoice, operation=EMITIDAS):
        return self.sandbox.count('sii', operation, self.key(invoice))

    def test_wrong_nif_fix_and_reschedule(self):
        """A wrong NIF is refused locally with a clear message, the rest of
        the batch goes; once the NIF is fixed, rescheduling sends it"""
        party = self.new_party("Cliente Con Error SA", (None, BAD_NIF))
        bad = self.post([('100', ['iva21'], None)], party=party)
        good = self.post([('100', ['iva21'], None)])
        self.cron()
        submission = self.submission(bad)
        self.assertEqual(submission['state'], 'rejected')
        self.assertEqual(submission['message'],
            "The customer's tax identifier %s is not a valid Spanish NIF "
            "(wrong check letter or digit)." % BAD_NIF)
        self.assertEqual(submission['outcomes'],
            [('local', 'rejected', 'LOCAL')])
        self.assertEqual(self.submission(good)['state'], 'accepted')
        self.assertEqual(self.sent(bad), 0)
        exchange, = self.exchanges()
        self.assertEqual(exchange['records'], 1)

        self.set_identifier(party, GOOD_NIF, 'es_vat')
        self.reschedule(bad)
        self.assertEqual(self.submission(bad)['operation'], 'register')
        self.cron()
        submission = self.submission(bad)
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual(self.held(bad)['counterparty'], GOOD_NIF)
        self.assertEqual(self.registered(bad), 1)

    def test_aeat_refuses_one_record(self):
        """AEAT refuses one record (period before the issue date): only
        that one is rejected, with AEAT's code and text"""
        today = dt.date.today()
        first = today.replace(day=1)
        refused = self.post([('100', ['iva21'], None)], date=today,
            accounting_date=first - dt.timedelta(days=1))
        good = self.post([('100', ['iva21'], None)])
        self.cron()
        submission = self.submission(refused)
        self.assertEqual(submission['state'], 'rejected')
        self.assertEqual(submission['code'], '1108')
        self.assertIn('período de liquidación', submission['message'])
        self.assertFalse(submission['registered'])
        self.assertEqual(self.submission(good)['state'], 'accepted')
        self.assertIsNone(self.held(refused))
        self.assertRequestsValid()

    def test_accepted_with_errors_then_a1(self):
        """AceptadoConErrores: rescheduling after the fix sends an A1 that
        replaces the held record"""
        party = self.new_party("Cliente No Censado SL",
            ('es_vat', '11111111H'))
        invoice = self.post([('100', ['iva21'], None)], party=party)
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted_with_errors')
        self.assertEqual(submission['code'], '1117')
        self.assertEqual(self.held(invoice)['state'], 'AceptadaConErrores')
        self.sandbox.set_option('sii', 'unidentified_nifs', [])
        self.reschedule(invoice)
        self.assertEqual(self.submission(invoice)['operation'], 'modify')
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual(self.held(invoice)['state'], 'Correcta')
        self.assertEqual(self.sandbox.count('sii', EMITIDAS,
                self.key(invoice), 'modified'), 1)
        requests = self.sandbox.received('sii', EMITIDAS)
        self.assertEqual([r['summary']['tipo_comunicacion']
                for r in requests], ['A0', 'A1'])
        self.assertRequestsValid()

    def duplicate(self, invoice):
        "Forget locally that AEAT holds invoice (e.g. a restored backup)"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction():
            Submission = Pool().get('account.einvoice.submission')
            table = Submission.__table__()
            Transaction().connection.cursor().execute(*table.update(
                    [table.state, table.operation, table.registered,
                        table.reference],
                    ['pending', 'register', False, None],
                    where=table.invoice == invoice))

    def test_duplicate_reconciled_by_query(self):
        "A 3000 duplicate is queried and takes the state AEAT holds"
        invoice = self.post([('100', ['iva21'], None)])
        self.cron()
        csv = self.submission(invoice)['reference']
        self.duplicate(invoice)
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertTrue(submission['registered'])
        self.assertEqual(submission['reference'], csv)
        self.assertEqual([o[:3] for o in submission['outcomes']], [
                ('send', 'accepted', None),
                ('send', 'unknown', '3000'),
                ('query', 'accepted', None)])
        self.assertEqual(self.registered(invoice), 1)
        self.assertEqual(len(self.sandbox.received(
                    'sii', 'ConsultaLRFacturasEmitidas')), 1)
        self.assertRequestsValid()

    def test_duplicate_of_cancelled(self):
        "A duplicate AEAT holds as Anulada ends cancelled"
        self.sandbox.set_option('sii', 'reregister_cancelled', False)
        invoice = self.post([('50', ['iva21'], None)], type_='in',
            party='supplier', reference='DUP-ANUL-1')
        self.cron()
        self.cancel_invoices([invoice])
        self.cron()
        self.assertEqual(self.held(invoice)['state'], 'Anulada')
        self.duplicate(invoice)
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'cancelled')
        self.assertEqual(submission['outcomes'][-1][:2],
            ('query', 'cancelled'))

    def test_cancel_accepted(self):
        "Cancelling accepted invoices sends AnulacionLRFacturas*"
        issued = self.post([('100', ['iva21'], None)])
        received = self.post([('60', ['iva21'], None)], type_='in',
            party='supplier', reference='CANCEL-1')
        self.cron()
        self.cancel_invoices([issued, received])
        for invoice in (issued, received):
            submission = self.submission(invoice)
            self.assertEqual(
                (submission['state'], submission['operation']),
                ('pending', 'cancel'))
        self.cron()
        for invoice in (issued, received):
            self.assertEqual(self.submission(invoice)['state'], 'cancelled')
            self.assertEqual(self.held(invoice)['state'], 'Anulada')
        operations = {e['remote_operation'] for e in self.exchanges()}
        self.assertIn('AnulacionLRFacturasEmitidas', operations)
        self.assertIn('AnulacionLRFacturasRecibidas', operations)
        self.assertRequestsValid()

    def test_lost_response_queried_no_duplicate(self):
        "A lost answer is resolved by ConsultaLR; nothing is sent twice"
        invoices = [self.post([('100', ['iva21'], None)]) for _ in range(3)]
        self.sandbox.add_fault('sii', EMITIDAS, 'drop_after')
        self.cron()
        for invoice in invoices:
            submission = self.submission(invoice)
            self.assertEqual(submission['state'], 'pending')
            self.assertTrue(submission['needs_query'])
            self.assertEqual(self.held(invoice)['state'], 'Correcta')
        self.cron()
        for invoice in invoices:
            submission = self.submission(invoice)
            self.assertEqual(submission['state'], 'accepted')
            self.assertEqual(submission['reference'],
                self.held(invoice)['csv'])
            self.assertEqual(self.sent(invoice), 1)
        # one targeted ConsultaLR per invoice
        queries = self.sandbox.received('sii', 'ConsultaLRFacturasEmitidas')
        self.assertEqual(len(queries), 3)
        self.assertRequestsValid()

    def test_lost_request_sent_again(self):
        "An answer lost before AEAT processed it: queried, then sent"
        invoice = self.post([('100', ['iva21'], None)], type_='in',
            party='supplier', reference='LOST-1')
        self.sandbox.add_fault('sii', RECIBIDAS, 'drop_after',
            process=False)
        self.cron()
        self.assertTrue(self.submission(invoice)['needs_query'])
        self.assertIsNone(self.held(invoice))
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual([o[:2] for o in submission['outcomes']], [
                ('send', 'unknown'), ('query', 'not_found'),
                ('send', 'accepted')])
        self.assertEqual(self.registered(invoice, RECIBIDAS), 1)

    def test_lost_modification(self):
        """A lost A1 answer: the query compares what AEAT holds with what
        was sent to know whether the modification was applied"""
        party = self.new_party("Cliente Modificado SL",
            ('es_vat', '11111111H'))
        applied = self.post([('100', ['iva21'], None)], party=party)
        self.cron()
        self.sandbox.set_option('sii', 'unidentified_nifs', [])
        self.reschedule(applied)
        self.sandbox.add_fault('sii', EMITIDAS, 'drop_after')
        self.cron()
        self.assertTrue(self.submission(applied)['needs_query'])
        self.cron()
        submission = self.submission(applied)
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual(submission['outcomes'][-1][:2],
            ('query', 'accepted'))
        self.assertEqual(self.sandbox.count('sii', EMITIDAS,
                self.key(applied), 'modified'), 1)

        # the same, but AEAT holds another version: A1 sent again
        other = self.post([('100', ['iva21'], None)])
        self.cron()
        self.set_identifier(self.base['parties']['es'], '11111111H',
            'es_vat')
        try:
            self.reschedule_modify(other)
            self.sandbox.add_fault('sii', EMITIDAS, 'drop_after',
                process=False)
            self.cron()
            self.cron()
        finally:
            self.set_identifier(self.base['parties']['es'], GOOD_NIF,
                'es_vat')
        submission = self.submission(other)
        self.assertEqual([o[:2] for o in submission['outcomes'][-3:]], [
                ('send', 'unknown'), ('query', 'not_found'),
                ('send', 'accepted')])
        self.assertEqual(self.held(other)['counterparty'], '11111111H')

    def reschedule_modify(self, invoice):
        from trytond.pool import Pool
        with tools.transaction():
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice)])
            # as a reschedule: the record is built again from the data
            Submission.write([submission], {
                    'state': 'pending', 'operation': 'modify',
                    'prepared': None})

    def test_query_asks_for_each_record(self):
        "Queries ask for one record each: no page is left unread"
        self.sandbox.set_option('sii', 'page_size', 2)
        invoices = [self.post([('10', ['iva21'], None)]) for _ in range(5)]
        self.sandbox.add_fault('sii', EMITIDAS, 'drop_after')
        self.cron()
        self.cron()
        for invoice in invoices:
            self.assertEqual(self.submission(invoice)['state'], 'accepted')
            self.assertEqual(self.sent(invoice), 1)
        queries = self.sandbox.received('sii', 'ConsultaLRFacturasEmitidas')
        self.assertEqual(len(queries), 5)
        self.assertEqual(
            [len(q['summary']['found']) for q in queries], [1] * 5)

    def test_titular_not_certificate_holder(self):
        "4114: the whole request is refused and staff are told"
        self.set_configuration(certificate_name='other')
        invoice = self.post([('100', ['iva21'], None)])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'pending')
        self.assertIn('4114', submission['last_error'])
        exchange, = self.exchanges()
        self.assertEqual(exchange['state'], 'failed')
        self.set_configuration(certificate_name='sii')

    def test_server_fault_is_transient(self):
        self.sandbox.add_fault('sii', EMITIDAS, 'soap_fault',
            faultstring='Codigo[9999].Servicio no disponible')
        invoice = self.post([('100', ['iva21'], None)])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'pending')
        self.assertFalse(submission['needs_query'])
        self.assertIn('Servicio no disponible', submission['last_error'])
