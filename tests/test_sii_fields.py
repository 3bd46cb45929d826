"""SII: RefExterna, additional regime keys, Macrodato, FechaOperacion,
rectification by substitution, the breakdown by operation type and the
services not subject by location, as the sandbox's AEAT received them."""
import datetime as dt
from decimal import Decimal

from tests import tools
from tests.sii_case import NS_SII, SIITestCase

# rate, SII operation key, SII tax key
FIELD_TAXES = {
    'lease11': (Decimal('0.21'), '11', 'S1'),
    'lease12': (Decimal('0.21'), '12', 'S1'),
    'works14': (Decimal('0.21'), '14', 'S1'),
    'eu_services': (Decimal('0'), None, 'NL'),
    }
N_NIF = 'N0032484H'


def S(name):
    return '{%s}%s' % (NS_SII, name)


def texts(element, name):
    return [e.text for e in element.iter(S(name))]


def create_taxes(company_id):
    from trytond.pool import Pool
    Tax = Pool().get('account.tax')
    chart_tax, = Tax.search([('company', '=', company_id)], limit=1)
    result = {}
    for name, (rate, operation_key, key) in FIELD_TAXES.items():
        tax = Tax(name=name, description=name, type='percentage', rate=rate,
            company=company_id, sii_operation_key=operation_key,
            sii_tax_key=key, invoice_account=chart_tax.invoice_account,
            credit_note_account=chart_tax.credit_note_account)
        tax.save()
        result[name] = tax.id
    return result


class SIIFieldsTest(SIITestCase):

    @classmethod
    def setUpData(cls):
        super().setUpData()
        cls.base['taxes'].update(tools.call(create_taxes,
                cls.base['company'], company=cls.base['company']))

    def set_invoice(self, invoice_id, **values):
        from trytond.pool import Pool

        def write():
            Invoice = Pool().get('account.invoice')
            Invoice.write([Invoice(invoice_id)], values)
        tools.call(write, company=self.company)

    def draft(self, lines, **kwargs):
        return self.post(lines, post=False, **kwargs)

    def post_draft(self, invoice_id):
        from trytond.pool import Pool

        def post():
            Invoice = Pool().get('account.invoice')
            Invoice.post([Invoice(invoice_id)])
        tools.call(post, company=self.company)

    def test_reference_and_regime_keys(self):
        """RefExterna is our number of a received invoice; the regime keys
        are the taxes' by decreasing base, the invoice's own first"""
        received = self.post([('200', ['iva21'], 'goods')],
            party='supplier', type_='in', reference='PROV-77')
        issued = self.post([('100', ['iva21'], 'service'),
                ('300', ['lease11'], 'service'),
                ('50', ['lease12'], 'service')])
        forced = self.draft([('100', ['iva21'], 'service'),
                ('300', ['lease11'], 'service')])
        self.set_invoice(forced, sii_operation_key='12')
        self.post_draft(forced)
        too_many = self.post([('100', ['iva21'], 'service'),
                ('300', ['lease11'], 'service'),
                ('50', ['lease12'], 'service'),
                ('10', ['works14'], 'service')])
        self.cron()
        self.assertRequestsValid()
        for invoice in [received, issued, forced]:
            self.assertEqual(self.submission(invoice)['state'], 'accepted')

        from trytond.pool import Pool
        with tools.transaction(commit=False):
            number = Pool().get('account.invoice')(received).number
        record = self.record_xml(received)
        self.assertEqual(texts(record, 'RefExterna'), [number])
        self.assertEqual(texts(record, 'NumSerieFacturaEmisor'), ['PROV-77'])
        answer, = [e['response'] for e in self.exchanges()
            if e['remote_operation'] == 'SuministroLRFacturasRecibidas']
        self.assertIn(('RefExterna>%s<' % number).encode(), answer)
        self.assertEqual(texts(self.record_xml(issued), 'RefExterna'), [])

        def keys(invoice):
            record = self.record_xml(invoice)
            return [texts(record, 'ClaveRegimenEspecialOTrascendencia'
                    + suffix) for suffix in ['', 'Adicional1', 'Adicional2']]
        self.assertEqual(keys(issued), [['11'], ['01'], ['12']])
        self.assertEqual(keys(forced), [['12'], ['11'], ['01']])

        submission = self.submission(too_many)
        self.assertNotIn(submission['state'], {'accepted', 'pending'})
        self.assertIn('11, 01, 12, 14', submission['message'])
        self.assertIsNone(self.held(too_many))

    def test_macrodato_and_operation_date(self):
        """Macrodato S from 100,000,000 on; FechaOperacion only when it
        differs from the issue date (AEAT refuses a future one)"""
        today = dt.date.today()
        big = self.post([('100000000', ['exempt'], 'service')])
        below = self.post([('99999999.99', ['exempt'], 'service')])
        earlier = self.draft([('100', ['iva21'], 'goods')])
        self.set_invoice(earlier,
            sii_operation_date=today - dt.timedelta(days=3))
        same = self.draft([('100', ['iva21'], 'goods')])
        self.set_invoice(same, sii_operation_date=today)
        future = self.draft([('100', ['iva21'], 'goods')])
        self.set_invoice(future,
            sii_operation_date=today + dt.timedelta(days=40))
        for invoice in [earlier, same, future]:
            self.post_draft(invoice)
        self.cron()
        self.assertRequestsValid()
        for invoice in [big, below, earlier, same]:
            self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(texts(self.record_xml(big), 'Macrodato'), ['S'])
        self.assertEqual(self.held(big)['importe_total'], '100000000.00')
        self.assertEqual(texts(self.record_xml(below), 'Macrodato'), [])
        self.assertEqual(texts(self.record_xml(earlier), 'FechaOperacion'),
            [(today - dt.timedelta(days=3)).strftime('%d-%m-%Y')])
        self.assertEqual(texts(self.record_xml(same), 'FechaOperacion'), [])
        submission = self.submission(future)
        self.assertEqual(submission['state'], 'rejected')
        self.assertEqual(submission['code'], '1241')
        self.assertIsNone(self.held(future))

    def test_rectification_by_substitution(self):
        """R1 by substitution: the corrected amounts in the breakdown, the
        replaced invoice's in ImporteRectificacion"""
        from trytond.pool import Pool
        original = self.post([('100', ['iva21'], 'service')])

        def substitute():
            pool = Pool()
            Invoice = pool.get('account.invoice')
            Line = pool.get('account.invoice.line')
            credit, = Invoice.credit([Invoice(original)])
            line = Line(credit.lines[0].id)
            Line.copy([line], {'quantity': 1, 'unit_price': Decimal(120),
                    'origin': None})
            credit = Invoice(credit.id)
            credit.sii_rectification_type = 'S'
            credit.invoice_date = dt.date.today()
            credit.save()
            Invoice.post([credit])
            return credit.id
        credit = tools.call(substitute, company=self.company)
        by_differences = self.post([('-10', ['iva21'], 'service')])
        self.cron()
        self.assertRequestsValid()
        for invoice in [original, credit, by_differences]:
            self.assertEqual(self.submission(invoice)['state'], 'accepted')
        held = self.held(credit)
        self.assertEqual(held['tipo_factura'], 'R1')
        self.assertEqual(held['importe_total'], '145.20')
        record = self.record_xml(credit)
        self.assertEqual(texts(record, 'TipoRectificativa'), ['S'])
        self.assertEqual(texts(record, 'BaseRectificada'), ['100.00'])
        self.assertEqual(texts(record, 'CuotaRectificada'), ['21.00'])
        self.assertEqual(texts(record, 'BaseImponible'), ['120.00'])
        self.assertEqual(texts(record, 'CuotaRepercutida'), ['25.20'])
        with tools.transaction(commit=False):
            number = Pool().get('account.invoice')(original).number
        rectified, = record.iter(S('IDFacturaRectificada'))
        self.assertEqual(texts(rectified, 'NumSerieFacturaEmisor'), [number])
        record = self.record_xml(by_differences)
        self.assertEqual(texts(record, 'TipoRectificativa'), ['I'])
        self.assertEqual(texts(record, 'BaseRectificada'), [])

    def test_breakdown_by_operation_type(self):
        """A NIF starting with N is broken down by operation type, a
        simplified invoice never is; services to an EU business are not
        subject by location (ImporteTAIReglasLocalizacion)"""
        party = self.new_party("Sucursal Extranjera", ('es_vat', N_NIF))
        branch = self.post([('100', ['iva21'], 'service'),
                ('40', ['iva21'], 'goods')], party=party)
        simplified = self.post([('20', ['iva21'], 'service')],
            party='plain')
        eu = self.post([('500', ['eu_services'], 'service')], party='eu')
        self.cron()
        self.assertRequestsValid()
        for invoice in [branch, simplified, eu]:
            self.assertEqual(self.submission(invoice)['state'], 'accepted')
        record = self.record_xml(branch)
        self.assertEqual(texts(record, 'NIF')[-1], N_NIF)
        services, = record.iter(S('PrestacionServicios'))
        goods, = record.iter(S('Entrega'))
        self.assertEqual(texts(services, 'BaseImponible'), ['100.00'])
        self.assertEqual(texts(goods, 'BaseImponible'), ['40.00'])
        record = self.record_xml(simplified)
        self.assertEqual(len(list(record.iter(S('DesgloseFactura')))), 1)
        self.assertEqual(len(list(record.iter(S('Contraparte')))), 0)
        record = self.record_xml(eu)
        services, = record.iter(S('PrestacionServicios'))
        self.assertEqual(texts(services, 'ImporteTAIReglasLocalizacion'),
            ['500.00'])
        self.assertEqual(texts(record, 'CausaExencion'), [])
        self.assertEqual(self.held(eu)['importe_total'], '500.00')
