"""SII: issued and received invoices of every kind against the sandbox's
AEAT (staging), every request checked against the official XSD."""
from lxml import etree

from tests import tools
from tests.sii_case import EU_VAT, GOOD_NIF, NS_SII, SIITestCase


def S(name):
    return '{%s}%s' % (NS_SII, name)


def texts(element, name):
    return [e.text for e in element.iter(S(name))]


class SIIFlowTest(SIITestCase):

    def test_issued_f1_accepted(self):
        "A national invoice is registered (A0) and gets the CSV"
        invoice = self.post([('100', ['iva21'], 'service')])
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        self.assertEqual(self.sandbox.received(), [])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertTrue(submission['registered'])
        self.assertRegex(submission['reference'], r'^[A-Z0-9]{16}$')
        held = self.held(invoice)
        self.assertEqual(held['state'], 'Correcta')
        self.assertEqual(held['tipo_factura'], 'F1')
        self.assertEqual(held['importe_total'], '121.00')
        self.assertEqual(held['counterparty'], GOOD_NIF)
        self.assertEqual(held['csv'], submission['reference'])
        self.assertEqual(self.sandbox.count('sii',
                'SuministroLRFacturasEmitidas', self.key(invoice),
                'registered'), 1)
        exchange, = self.exchanges()
        self.assertEqual(exchange['remote_operation'],
            'SuministroLRFacturasEmitidas')
        self.assertIn('/pruebas/', exchange['endpoint'])
        self.assertIn(b'<sii:TipoComunicacion>A0<', exchange['request'])
        self.assertRequestsValid()
        record = self.record_xml(invoice)
        self.assertEqual(texts(record, 'TipoNoExenta'), ['S1'])
        self.assertEqual(texts(record, 'TipoImpositivo'), ['21.00'])
        self.assertEqual(texts(record, 'CuotaRepercutida'), ['21.00'])
        self.assertEqual(texts(record, 'Periodo')[0],
            '%02d' % __import__('datetime').date.today().month)

    def test_mixed_batch_accepted(self):
        """F1, F2, R1, EU and non-EU customers, exempt, surcharge and
        withholding lines, a received invoice: all accepted, one request
        per book"""
        f1 = self.post([('100', ['iva21'], 'service'),
                ('50', ['iva10'], 'goods')])
        f2 = self.post([('20', ['iva21'], 'goods')], party='plain')
        r1 = self.post([('-30', ['iva21'], 'service')])
        eu = self.post([('300', ['intra'], 'goods'),
                ('200', ['intra'], 'service')], party='eu')
        foreign = self.post([('400', ['export'], 'goods')],
            party='foreign')
        us = self.post([('80', ['ns'], 'service')], party='us')
        exempt = self.post([('70', ['exempt'], 'service'),
                ('30', ['iva21'], 'service')])
        surcharge = self.post([('100', ['iva21_re', 're52'], 'goods')])
        withholding = self.post([('1000', ['iva21', 'irpf'], 'service')])
        received = self.post([('200', ['iva21'], 'goods')],
            party='supplier', type_='in', reference='PROV-2024/17')
        isp = self.post([('500', ['isp21', 'isp21_neg'], 'service')],
            party='supplier', type_='in', reference='PROV-ISP-1')
        issued = [f1, f2, r1, eu, foreign, us, exempt, surcharge,
            withholding]
        self.cron()
        for invoice in issued + [received, isp]:
            submission = self.submission(invoice)
            self.assertEqual(submission['state'], 'accepted',
                (invoice, submission))
            self.assertEqual(self.held(invoice)['state'], 'Correcta')
        exchanges = self.exchanges()
        self.assertEqual(sorted((e['remote_operation'], e['records'])
                for e in exchanges), [
                ('SuministroLRFacturasEmitidas', len(issued)),
                ('SuministroLRFacturasRecibidas', 2)])
        self.assertRequestsValid()

        held = {i: self.held(i) for i in issued + [received, isp]}
        self.assertEqual(held[f2]['tipo_factura'], 'F2')
        self.assertIsNone(held[f2]['counterparty'])
        self.assertEqual(held[r1]['tipo_factura'], 'R1')
        self.assertEqual(held[r1]['importe_total'], '-36.30')
        self.assertEqual(texts(self.record_xml(r1), 'TipoRectificativa'),
            ['I'])

        # EU customer: IDOtro with the VAT number, goods and services apart
        record = self.record_xml(eu)
        self.assertEqual(texts(record, 'IDType'), ['02'])
        self.assertEqual(texts(record, 'ID'), [EU_VAT])
        self.assertEqual(texts(record, 'CodigoPais'), ['DE'])
        self.assertEqual(len(list(record.iter(S('DesgloseTipoOperacion')))),
            1)
        services, = record.iter(S('PrestacionServicios'))
        goods, = record.iter(S('Entrega'))
        self.assertEqual(texts(services, 'BaseImponible'), ['200.00'])
        self.assertEqual(texts(goods, 'BaseImponible'), ['300.00'])
        self.assertEqual(texts(record, 'CausaExencion'), ['E5', 'E5'])

        # passport of a non-EU customer, export exempt
        record = self.record_xml(foreign)
        self.assertEqual(texts(record, 'IDType'), ['03'])
        self.assertEqual(texts(record, 'CodigoPais'), ['US'])
        self.assertEqual(texts(record, 'CausaExencion'), ['E2'])
        # a foreign tax number (US EIN): IDType 04, not subject
        record = self.record_xml(us)
        self.assertEqual(texts(record, 'IDType'), ['04'])
        self.assertEqual(texts(record, 'ImportePorArticulos7_14_Otros'),
            ['80.00'])

        # exempt and taxed lines in one invoice
        record = self.record_xml(exempt)
        self.assertEqual(texts(record, 'CausaExencion'), ['E1'])
        self.assertEqual(texts(record, 'BaseImponible'), ['70.00', '30.00'])
        self.assertEqual(held[exempt]['importe_total'], '106.30')

        # equivalence surcharge on the VAT detail
        record = self.record_xml(surcharge)
        self.assertEqual(texts(record, 'TipoRecargoEquivalencia'), ['5.20'])
        self.assertEqual(texts(record, 'CuotaRecargoEquivalencia'),
            ['5.20'])
        self.assertEqual(held[surcharge]['importe_total'], '126.20')

        # the withholding is left out of the SII amounts
        self.assertEqual(held[withholding]['importe_total'], '1210.00')

        # received invoices: supplier number, deductible VAT, reverse charge
        record = self.record_xml(received)
        self.assertEqual(texts(record, 'NumSerieFacturaEmisor'),
            ['PROV-2024/17'])
        self.assertEqual(texts(record, 'CuotaDeducible'), ['42.00'])
        self.assertEqual(len(texts(record, 'FechaRegContable')), 1)
        record = self.record_xml(isp)
        self.assertEqual(len(list(record.iter(S('InversionSujetoPasivo')))),
            1)
        self.assertEqual(texts(record, 'CuotaDeducible'), ['105.00'])
        self.assertEqual(held[isp]['importe_total'], '500.00')

    def test_payload_shown(self):
        "Staff read the record that was sent, pretty-printed"
        from trytond.pool import Pool
        invoice = self.post([('100', ['iva21'], None)])
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice)])
            preview = submission.sii_payload
        self.assertIn('would be sent', preview)
        self.cron()
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice)])
            payload = submission.sii_payload
        self.assertIn('Sent on', payload)
        self.assertIn('<sii:NIF>%s</sii:NIF>' % GOOD_NIF, payload)
        self.assertIn('\n  ', payload)
        record = etree.fromstring(payload.split('\n', 1)[1])
        self.assertEqual(texts(record, 'ImporteTotal'), ['121.00'])

    def test_record_prepared_at_posting(self):
        """The record is built when the invoice is posted and sent as it
        was then: a later rename of the customer does not change it"""
        from trytond.pool import Pool
        party = self.new_party("Cliente Al Contabilizar SA",
            ('es_vat', GOOD_NIF))
        invoice = self.post([('100', ['iva21'], None)], party=party)

        def rename(name):
            Party = Pool().get('party.party')
            Party.write([Party(party)], {'name': name})

        def prepared():
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice)])
            return submission.prepared
        self.assertIn("Cliente Al Contabilizar SA",
            tools.call(prepared, commit=False))
        tools.call(rename, "Cliente Renombrado SA", company=self.company)
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(texts(self.record_xml(invoice), 'NombreRazon'),
            ["Cliente Al Contabilizar SA"])

        "A 0% tax without SII key is refused with its name"
        invoice = self.post([('100', ['untagged0'], None)])
        other = self.post([('100', ['iva21'], None)])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'rejected')
        self.assertEqual(submission['code'], 'LOCAL')
        self.assertIn('"untagged0" has no SII tax key', submission['message'])
        self.assertEqual(self.submission(other)['state'], 'accepted')

    def test_excluded_invoice_not_reported(self):
        from trytond.pool import Pool

        def create():
            from tests.sii_case import create_invoice
            invoice = create_invoice(self.base, [('10', ['iva21'], None)],
                post=False)
            invoice.sii_excluded = True
            invoice.save()
            Pool().get('account.invoice').post([invoice])
            return invoice.id
        invoice = tools.call(create, company=self.company)
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            self.assertEqual(
                Submission.search([('invoice', '=', invoice)]), [])
