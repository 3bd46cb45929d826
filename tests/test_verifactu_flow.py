"""VERI*FACTU through the cron against the sandbox AEAT: records generated
at posting and chained, the QR before anything is sent, cancellation,
rejection and correction, one bad record alone, lost answers, the wait."""
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from tests import tools
from tests.sii_case import create_invoice
from tests.verifactu_case import SERVICE, SF, VerifactuTestCase


def text(record, name):
    return record.findtext(f'.//{{{SF}}}{name}')


class VerifactuFlowTest(VerifactuTestCase):

    def held(self, invoice_id):
        "What the sandbox AEAT holds for an invoice (or None)"
        number, date = self.invoice_values(
            invoice_id, 'number', 'invoice_date')
        key = f'{self.titular}|{number}|{date.strftime("%d-%m-%Y")}'
        return self.sandbox.verifactu(self.titular)['invoices'].get(key)

    def assertEachRecordOnce(self):
        received = self.sandbox.state(SERVICE)['received']
        self.assertTrue(received)
        self.assertEqual(
            {h: n for h, n in received.items() if n != 1}, {})

    def assertChainsSound(self, violations=True):
        state = self.sandbox.state(SERVICE)
        self.assertEqual(state['chain_breaks'], [])
        self.assertEqual(state['huella_errors'], [])
        if violations:
            self.assertEqual(state['violations'], [])
        self.assertEqual(set(self.verify_chains().values()), {None})

    def test_post_generates_chained_record_and_qr_before_sending(self):
        "Posting stores the record and the QR; the cron sends it once"
        first = self.post([(100, ['iva21'], 'goods')])
        second = self.post([(Decimal('12.30'), ['iva10'], 'service')])
        documents = self.documents(first)
        self.assertEqual([d[0] for d in documents], ['alta'])
        kind, digest, data = documents[0]
        record = etree.fromstring(data)
        self.assertEqual(record.findtext(f'{{{SF}}}Huella'), digest)
        self.assertEqual(len(digest), 64)
        qr, legend, number = self.invoice_values(
            first, 'einvoice_qr', 'einvoice_print_text', 'number')
        url = urlsplit(qr)
        self.assertEqual(url.netloc, 'prewww2.aeat.es')
        query = parse_qs(url.query)
        self.assertEqual(query['nif'], [self.titular])
        self.assertEqual(query['numserie'], [number])
        self.assertEqual(query['importe'], ['121.00'])
        self.assertEqual(legend, 'VERI*FACTU')
        self.assertEqual(self.exchanges(), [])

        second_record = etree.fromstring(self.documents(second)[0][2])
        anterior = second_record.find(
            f'{{{SF}}}Encadenamiento/{{{SF}}}RegistroAnterior')
        self.assertEqual(anterior.findtext(f'{{{SF}}}Huella'), digest)
        self.assertEqual(
            anterior.findtext(f'{{{SF}}}NumSerieFactura'), number)

        self.cron()
        for invoice in (first, second):
            submission = self.submission(invoice)
            self.assertEqual(submission['state'], 'accepted')
            self.assertTrue(submission['reference'])
            self.assertEqual(self.held(invoice)['state'], 'Correcta')
        # the stored records, byte for byte, in chain order
        request, = [e['request'] for e in self.exchanges()]
        positions = [request.index(d[2])
            for i in (first, second) for d in self.documents(i)]
        self.assertEqual(positions, sorted(positions))
        self.assertRequestsValid()
        self.assertEachRecordOnce()
        self.assertChainsSound()

    def test_cancel_appends_chained_anulacion(self):
        "Cancelling an accepted invoice sends a RegistroAnulacion chained"
        invoice = self.post([(50, ['iva21'], 'goods')])
        self.cron()
        (_, alta_digest, _), = self.documents(invoice)
        self.cancel_invoices([invoice])
        documents = self.documents(invoice)
        self.assertEqual([d[0] for d in documents], ['alta', 'anulacion'])
        record = etree.fromstring(documents[1][2])
        self.assertEqual(etree.QName(record).localname, 'RegistroAnulacion')
        self.assertEqual(text(record, 'RegistroAnterior/{%s}Huella' % SF)
            if False else record.find(
                f'{{{SF}}}Encadenamiento/{{{SF}}}RegistroAnterior'
                f'/{{{SF}}}Huella').text, alta_digest)
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'cancelled')
        self.assertEqual(self.held(invoice)['state'], 'Anulada')
        self.assertEqual(self.invoice_values(invoice, 'einvoice_qr'), (None,))
        self.assertEachRecordOnce()
        self.assertChainsSound()

    def test_cancel_before_sending(self):
        "An invoice cancelled before its alta went: alta, then anulación"
        invoice = self.post([(45, ['iva21'], 'goods')])
        self.assertCancelledAfterItsAlta(invoice)

    def assertCancelledAfterItsAlta(self, invoice):
        "Cancel a pending invoice: its alta is sent, then its anulación"
        self.cancel_invoices([invoice])
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        self.cron()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'cancelled')
        self.assertEqual([d[0] for d in self.documents(invoice)],
            ['alta', 'anulacion'])
        self.assertEqual(self.held(invoice)['state'], 'Anulada')
        self.assertEachRecordOnce()
        self.assertChainsSound()

    def test_cancel_after_rejection(self):
        "A rejected invoice cancelled: an anulación with RechazoPrevio=S"
        invoice = self.post([(55, ['iva21'], 'goods')])
        number, = self.invoice_values(invoice, 'number')
        self.sandbox.set_option(SERVICE, 'reject_numbers', [number])
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'rejected')
        self.sandbox.set_option(SERVICE, 'reject_numbers', [])
        self.cancel_invoices([invoice])
        current = self.documents(invoice, True)
        self.assertEqual([d[0] for d in current], ['anulacion'])
        self.assertEqual(
            text(etree.fromstring(current[0][2]), 'RechazoPrevio'), 'S')
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'cancelled')
        self.assertEachRecordOnce()
        self.assertChainsSound()

    def test_rejected_record_corrected_with_rechazo_previo(self):
        "A rejected alta is corrected by Subsanacion=S + RechazoPrevio=S"
        invoice = self.post([(80, ['iva21'], 'goods')])
        number, = self.invoice_values(invoice, 'number')
        self.sandbox.set_option(SERVICE, 'reject_numbers', [number])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'rejected')
        self.assertEqual(submission['code'], '1100')
        self.assertIn('NumSerieFactura', submission['message'])
        self.sandbox.set_option(SERVICE, 'reject_numbers', [])
        self.reschedule(invoice)
        documents = self.documents(invoice)
        self.assertEqual([d[0] for d in documents],
            ['alta', 'rechazo_previo'])
        self.assertEqual([d[0] for d in self.documents(invoice, True)],
            ['rechazo_previo'])
        record = etree.fromstring(documents[1][2])
        self.assertEqual(text(record, 'Subsanacion'), 'S')
        self.assertEqual(text(record, 'RechazoPrevio'), 'S')
        anterior = record.find(
            f'{{{SF}}}Encadenamiento/{{{SF}}}RegistroAnterior')
        # the rejected record is a link of the chain all the same
        self.assertEqual(anterior.findtext(f'{{{SF}}}Huella'),
            documents[0][1])
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(self.held(invoice)['state'], 'Correcta')
        self.assertEachRecordOnce()
        self.assertChainsSound()

    def test_accepted_with_errors_corrected_by_subsanacion(self):
        "A late record without Incidencia is corrected by a Subsanación"
        invoice = self.post([(90, ['iva21'], 'goods')])
        self.sandbox.set_clock(offset=600)
        try:
            self.cron()
        finally:
            self.sandbox.set_clock(offset=0)
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted_with_errors')
        self.assertEqual(submission['code'], '2004')
        self.reschedule(invoice)
        kinds = [d[0] for d in self.documents(invoice, True)]
        self.assertEqual(kinds, ['subsanacion'])
        record = etree.fromstring(self.documents(invoice, True)[0][2])
        self.assertEqual(text(record, 'Subsanacion'), 'S')
        self.assertIsNone(text(record, 'RechazoPrevio'))
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEachRecordOnce()
        # the sandbox clock went back: its wait looks violated
        self.assertChainsSound(violations=False)

    def test_late_records_declare_the_incident(self):
        "Records sent late go with RemisionVoluntaria/Incidencia=S"
        from trytond import config
        invoice = self.post([(70, ['iva21'], 'goods')])
        if not config.has_section('account_einvoice_es_verifactu'):
            config.add_section('account_einvoice_es_verifactu')
        config.set('account_einvoice_es_verifactu', 'late_seconds', '0')
        self.sandbox.set_clock(offset=600)
        try:
            self.cron()
        finally:
            self.sandbox.set_clock(offset=0)
            config.set('account_einvoice_es_verifactu', 'late_seconds', '120')
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        request = etree.fromstring(self.exchanges()[-1]['request'])
        self.assertEqual(text(request, 'Incidencia'), 'S')

    def test_bad_record_refused_alone(self):
        "One record the AEAT refuses does not stop the rest of its request"
        bad = self.post([(10, ['iva21'], 'goods')])
        good = self.post([(20, ['iva21'], 'goods')])
        number, = self.invoice_values(bad, 'number')
        self.sandbox.set_option(SERVICE, 'reject_numbers', [number])
        self.cron()
        self.assertEqual(len(self.exchanges()), 1)
        self.assertEqual(self.submission(bad)['state'], 'rejected')
        self.assertEqual(self.submission(good)['state'], 'accepted')
        self.assertIsNone(self.held(bad))
        self.assertEqual(self.held(good)['state'], 'Correcta')

    def test_local_check_refuses_posting(self):
        "An F1 to a customer whose NIF is wrong is refused when posted"
        from trytond.modules.account_einvoice.exceptions import PostingError
        with self.assertRaises(PostingError) as context:
            self.post([(10, ['iva21'], 'goods')], party='bad')
        self.assertIn('cannot be posted', context.exception.message)
        self.assertIn('NIF', context.exception.message)

    def test_lost_answer_queried_never_resent(self):
        "A lost answer is resolved by ConsultaFactuSistemaFacturacion"
        invoice = self.post([(30, ['iva21'], 'goods')])
        self.sandbox.add_fault(
            SERVICE, 'RegFactuSistemaFacturacion', 'drop_after', count=1)
        self.cron()
        self.assertTrue(self.submission(invoice)['needs_query'])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual([e['kind'] for e in self.exchanges()],
            ['send', 'query'])
        self.assertEachRecordOnce()
        self.assertRequestsValid()

    def test_duplicate_answer_reconciled_by_query(self):
        "A 3000 duplicate is asked to the AEAT, not taken as a rejection"
        from trytond.pool import Pool
        invoice = self.post([(40, ['iva21'], 'goods')])
        self.sandbox.add_fault(
            SERVICE, 'RegFactuSistemaFacturacion', 'drop_after', count=1)
        self.cron()

        def forget():
            # as if the client had not known the answer was lost
            Submission = Pool().get('account.einvoice.submission')
            submissions = Submission.search([('invoice', '=', invoice)])
            Submission.write(submissions, {
                    'needs_query': False, 'exchange': None})
        tools.call(forget, company=self.company)
        self.cron()
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        kinds = [e['kind'] for e in self.exchanges()]
        self.assertEqual(kinds, ['send', 'send', 'query'])
        self.assertEqual(self.sandbox.state(SERVICE)['received'][
                self.documents(invoice)[0][1]], 2)

    def test_wait_honoured(self):
        "No request before TiempoEsperaEnvio has passed"
        self.sandbox.set_option(SERVICE, 'wait', 30)
        first = self.post([(15, ['iva21'], 'goods')])
        self.cron()
        second = self.post([(16, ['iva21'], 'goods')])
        self.cron(due=False)
        self.assertEqual(self.submission(first)['state'], 'accepted')
        self.assertEqual(self.submission(second)['state'], 'pending')
        self.assertEqual(len(self.exchanges()), 1)
        self.assertEqual(self.sandbox.state(SERVICE)['violations'], [])

    def post_while_chain_changes(self, amount):
        """Post an invoice while a sender changes the chain's row (on
        PostgreSQL the posting's generation gives way to the claim)"""
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        draft = tools.call(lambda: create_invoice(
                self.base, [(amount, ['iva21'], 'goods')], post=False).id,
            company=self.company)

        def post_while_sending():
            Invoice = Pool().get('account.invoice')
            invoice, = Invoice.search([('id', '=', draft)])
            # a worker changes the chain's row meanwhile (its wait)
            with Transaction().new_transaction():
                Chain = Pool().get('account.einvoice.chain')
                Chain.write(Chain.search([]), {'verification': 'touched'})
            Invoice.post([invoice])
            return invoice.id
        return tools.call(post_while_sending, company=self.company)

    def test_posting_kept_when_a_worker_holds_the_chain(self):
        "A chain changed by a sender while posting: posted all the same"
        first = self.post([(10, ['iva21'], 'goods')])
        self.cron()
        second = self.post_while_chain_changes(20)
        qr, number = self.invoice_values(second, 'einvoice_qr', 'number')
        self.assertIn(f'numserie={number}', qr)
        self.assertEqual(self.submission(second)['state'], 'pending')
        self.sandbox.set_option(SERVICE, 'wait', 0)
        self.cron()
        self.assertEqual(self.submission(second)['state'], 'accepted')
        self.assertEqual([d[0] for d in self.documents(second)], ['alta'])
        self.assertEqual(
            [d[0] for d in self.documents(first)], ['alta'])
        self.assertEachRecordOnce()
        self.assertChainsSound()

    def test_cancelled_before_its_alta_is_generated(self):
        "Issued, cancelled before its alta was generated: alta, anulación"
        self.post([(10, ['iva21'], 'goods')])
        self.cron()
        invoice = self.post_while_chain_changes(30)
        self.sandbox.set_option(SERVICE, 'wait', 0)
        self.assertCancelledAfterItsAlta(invoice)

    def test_switching_authority_refused_while_pending(self):
        "A company reports to SII or VERI*FACTU, never both at once"
        from trytond.modules.account_einvoice.exceptions import (
            ConfigurationError)
        self.post([(12, ['iva21'], 'goods')])
        with self.assertRaises(ConfigurationError) as context:
            self.set_configuration(service='es_sii', sii_authority='aeat')
        self.assertIn('pending', context.exception.message)
        self.cron()
        self.set_configuration(service='es_sii', sii_authority='aeat')
        self.set_configuration(service='es_verifactu')

    def test_representative_sends_for_two_companies(self):
        "One certificate acts for two companies, named as Representante"
        from tests import tools
        from tests.sii_case import create_invoice, create_sii_base
        from tests.verifactu_case import setup_configuration
        from trytond import config
        agent = self.sandbox.identity('es_other').tax_id
        second_nif = 'B76543214'
        second = tools.call(create_sii_base, second_nif)
        tools.declare_company(second['company'])
        second_configuration = tools.call(setup_configuration, second,
            self.sandbox, certificate='other', company=second['company'])
        config.set('account_einvoice_es_verifactu', 'other.representative',
            f'{agent} ASESORIA EJEMPLO SL')
        self.set_configuration(certificate_name='other')
        self.sandbox.set_option(SERVICE, 'representatives',
            {agent: [self.titular, second_nif]})
        try:
            first = self.post([(11, ['iva21'], 'goods')])
            other = tools.call(lambda: create_invoice(
                    second, [(22, ['iva21'], 'goods')]).id,
                company=second['company'])
            self.cron()
            tools.run_cron(second['company'])
            self.assertEqual(self.submission(first)['state'], 'accepted')
            self.assertEqual(self.submission(other)['state'], 'accepted')
            self.assertTrue(self.sandbox.verifactu(second_nif)['invoices'])
            headers = []
            for exchange in self.exchanges():
                request = etree.fromstring(exchange['request'])
                headers.append((text(request, 'ObligadoEmision/{%s}NIF'
                            % SF), request.findtext(
                            f'.//{{{SF}}}Representante/{{{SF}}}NIF')))
            self.assertEqual(sorted(headers),
                sorted([(self.titular, agent), (second_nif, agent)]))

            # the AEAT refuses a representative it does not know of
            self.sandbox.set_option(SERVICE, 'representatives', {})
            refused = self.post([(33, ['iva21'], 'goods')])
            self.cron()
            submission = self.submission(refused)
            self.assertEqual(submission['state'], 'pending')
            self.assertIn('4114', submission['last_error'])
            self.assertIn('representative', submission['last_error'])
            # the administrators are told what to fix
            from trytond.pool import Pool
            with tools.transaction(commit=False):
                Configuration = Pool().get('account.einvoice.configuration')
                failure = Configuration(self.configuration).last_failure
            self.assertIn('4114', failure)
            self.assertIn('[account_einvoice_es_verifactu]', failure)
        finally:
            config.set('account_einvoice_es_verifactu',
                'other.representative', '')
            self.sandbox.set_option(SERVICE, 'representatives', {})
            self.set_configuration(certificate_name='sii')
            tools.call(lambda: self._deactivate(second_configuration))

    @staticmethod
    def _deactivate(configuration_id):
        from trytond.pool import Pool
        Configuration = Pool().get('account.einvoice.configuration')
        Configuration.write([Configuration(configuration_id)],
            {'active': False})
