"""AFIP's parameter tables synchronised into Tryton and used by the local
checks; AFIP's exchange rate (FEParamGetCotizacion) for foreign currency
vouchers, fetched before sending."""
import datetime as dt
from decimal import Decimal

from tests import tools
from tests.ar_case import POS, ArTestCase
from tests.sandbox import afip_wsfe_tables as sandbox_tables

DEFAULT_POS = [1, 2, 3]


class ArTablesTest(ArTestCase):

    def configuration_defaults(self):
        return dict(super().configuration_defaults(), ar_rate_source='tryton')

    def set_points_of_sale(self, value):
        self.sandbox.set_option('afip_wsfe', 'puntos_venta', value)
        self.addCleanup(self.sandbox.set_option,
            'afip_wsfe', 'puntos_venta', DEFAULT_POS)

    def synchronise(self):
        "Run the wizard as the configuration's button does; its result"
        from trytond.pool import Pool
        context = {
            'active_model': 'account.einvoice.configuration',
            'active_id': self.configuration,
            'active_ids': [self.configuration],
            }

        def run():
            Wizard = Pool().get(
                'account.einvoice.ar.synchronise_tables', type='wizard')
            session_id, _, _ = Wizard.create()
            result = Wizard.execute(session_id, {}, 'start')
            Wizard.delete(session_id)
            return result['view']['defaults']['result']
        return tools.call(run, company=self.company, context=context)

    def parameters(self, table):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Parameter = Pool().get('account.einvoice.ar.parameter')
            return {p.code: (p.description, p.classes, p.valid_to,
                    p.company.id if p.company else None)
                for p in Parameter.search([('table', '=', table)])}

    def points_of_sale(self):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            PointOfSale = Pool().get('account.einvoice.ar.pos')
            return {p.number: (p.emission_type, p.afip_listed, p.blocked,
                    p.closed_on) for p in PointOfSale.search([
                        ('company', '=', self.company)])}

    def pos_id(self, number):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            PointOfSale = Pool().get('account.einvoice.ar.pos')
            pos, = PointOfSale.search([
                    ('company', '=', self.company), ('number', '=', number)])
            return pos.id

    def solicitar_requests(self):
        return [e['request'] for e in self.exchanges()
            if e['remote_operation'] == 'FECAESolicitar']

    def received(self, operation):
        return len(self.sandbox.received('afip_wsfe', operation))

    def test_synchronise(self):
        "Every table and the points of sale are read; changes are followed"
        from trytond.pool import Pool
        self.set_points_of_sale(
            DEFAULT_POS + [{'nro': 4, 'emision_tipo': 'CAEA'}])
        result = self.synchronise()

        expected = {
            'voucher_type': sandbox_tables.CBTE_TIPOS,
            'document_type': sandbox_tables.DOC_TIPOS,
            'iva_rate': sandbox_tables.IVA_TIPOS,
            'tribute': sandbox_tables.TRIBUTOS,
            'currency': sandbox_tables.MONEDAS,
            'optional': sandbox_tables.OPCIONALES,
            'receiver_condition': sandbox_tables.CONDICION_IVA,
            'concept': sandbox_tables.CONCEPTOS,
            }
        for table, rows in expected.items():
            with self.subTest(table=table):
                self.assertEqual(set(self.parameters(table)),
                    {str(r[0]) for r in rows})
        self.assertNotIn('not synchronised', result)
        self.assertIn(
            f'Voucher types: {len(sandbox_tables.CBTE_TIPOS)} listed by '
            'AFIP', result)
        conditions = self.parameters('receiver_condition')
        self.assertEqual(conditions['1'][1], 'A/C/M')
        self.assertEqual(conditions['5'][1], 'B/C')
        self.assertEqual(self.parameters('currency')['DOL'][0],
            'Dólar Estadounidense')
        activities = self.parameters('activity')
        self.assertEqual(activities, {'620100': (
                    'Servicios de consultores en informática', None, None,
                    self.company)})
        pos = self.points_of_sale()
        self.assertEqual(pos[4], ('caea', True, False, None))
        self.assertEqual(pos[POS], ('cae', True, False, None))
        with tools.transaction(commit=False):
            Configuration = Pool().get('account.einvoice.configuration')
            self.assertTrue(
                Configuration(self.configuration).ar_tables_synchronised)

        # AFIP changes its lists; one table cannot be read this time
        self.sandbox.set_option('afip_wsfe', 'actividades',
            [(702000, 1, 'Servicios de asesoramiento')])
        self.addCleanup(
            self.sandbox.set_option, 'afip_wsfe', 'actividades', None)
        self.sandbox.set_option('afip_wsfe', 'puntos_venta', [
                2, 3, {'nro': 4, 'emision_tipo': 'CAEA', 'bloqueado': 'S',
                    'fch_baja': '20250110'}])
        self.sandbox.add_fault('afip_wsfe', 'FEParamGetTiposMonedas',
            'http_503')
        currencies = self.parameters('currency')

        def cron():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.ar_synchronise_all()
        tools.call(cron)

        yesterday = dt.date.today() - dt.timedelta(days=1)
        activities = self.parameters('activity')
        self.assertEqual(activities['620100'][2], yesterday)
        self.assertEqual(activities['702000'][2], None)
        self.assertEqual(self.parameters('currency'), currencies)
        pos = self.points_of_sale()
        self.assertEqual(pos[1][1], False)
        self.assertEqual(pos[4], ('caea', True, True, dt.date(2025, 1, 10)))

    def test_check_refuses_unlisted(self):
        "AFIP blocked a point of sale, made another CAEA: refused, not sent"
        self.set_pos(2, 'cae')
        self.set_pos(4, 'cae')
        blocked, = self.post(party='ri', ar_pos=self.pos_id(2))
        caea, = self.post(party='ri', ar_pos=self.pos_id(4))
        activity, = self.post(party='ri', ar_activity=999999)
        good, = self.post(party='ri')
        self.set_points_of_sale(
            [1, {'nro': 2, 'bloqueado': 'S'}, POS,
                {'nro': 4, 'emision_tipo': 'CAEA'}])
        result = self.synchronise()
        self.assertNotIn('not synchronised', result)
        before = self.received('FECAESolicitar')
        self.cron()

        blocked, caea, activity, good = self.invoices(
            [blocked, caea, activity, good])
        self.assertEqual(good['state'], 'accepted')
        for info, text in [
                (blocked, 'point of sale 00002, which AFIP lists as '
                    'blocked'),
                (caea, 'asks for a CAE on the point of sale 00004, which '
                    'AFIP lists as a CAEA point of sale'),
                (activity, 'the AFIP activity 999999, which AFIP does not '
                    "list among the company's activities")]:
            self.assertEqual(info['state'], 'rejected')
            self.assertEqual(info['code'], 'LOCAL')
            self.assertIn(text, info['message'])
            self.assertIn(f'"{info["number"]}', info['message'])
            self.assertIsNone(info['nro'])
        # one request, for the good invoice only
        self.assertEqual(self.received('FECAESolicitar'), before + 1)
        request, = self.solicitar_requests()
        self.assertIn(b'<PtoVta>3</PtoVta>', request)

    def set_pos(self, number, emission_type):
        "Point of sale number of the company, as declared here"
        from trytond.pool import Pool

        def set_pos():
            PointOfSale = Pool().get('account.einvoice.ar.pos')
            records = PointOfSale.search([
                    ('company', '=', self.company),
                    ('number', '=', number)])
            if records:
                PointOfSale.write(records, {'emission_type': emission_type})
            else:
                PointOfSale.create([{'company': self.company,
                            'number': number,
                            'emission_type': emission_type}])
        tools.call(set_pos, company=self.company)

    def test_afip_rate(self):
        "AFIP's rate of the invoice date is fetched before sending"
        self.set_configuration(ar_rate_source='afip')
        self.sandbox.set_option(
            'afip_wsfe', 'cotizaciones', {'DOL': 1234.5})
        self.addCleanup(self.sandbox.set_option, 'afip_wsfe', 'cotizaciones',
            {'DOL': 1000.0, '060': 1100.0, '012': 180.0})
        before = self.received('FEParamGetCotizacion')
        invoice, = self.post(party='ri', currency=self.base['usd'])
        self.assertEqual(self.rate(invoice), (None, None))
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted', info)
        self.assertEqual(self.rate(invoice), (Decimal('1234.5'), 'afip'))
        request, = self.solicitar_requests()
        self.assertIn(b'<MonId>DOL</MonId><MonCotiz>1234.5</MonCotiz>',
            request)
        self.assertEqual(self.received('FEParamGetCotizacion'), before + 1)

        # an entered rate is kept: AFIP is not asked
        entered, = self.post(party='ri', currency=self.base['usd'],
            ar_currency_rate=Decimal('1100'))
        self.cron()
        self.assertEqual(self.invoice(entered)['state'], 'accepted')
        self.assertEqual(self.rate(entered), (Decimal('1100'), 'user'))
        self.assertEqual(self.received('FEParamGetCotizacion'), before + 1)

    def test_afip_rate_down(self):
        "AFIP does not give the rate: the invoice waits, then goes"
        self.set_configuration(ar_rate_source='afip')
        self.sandbox.add_fault('afip_wsfe', 'FEParamGetCotizacion',
            'http_503')
        before = self.received('FECAESolicitar')
        invoice, = self.post(party='ri', currency=self.base['usd'])
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'pending')
        self.assertIn('AFIP gave no exchange rate for DOL', info['last_error'])
        self.assertEqual(info['outcomes'], [])
        self.assertEqual(self.received('FECAESolicitar'), before)
        self.assertEqual(self.rate(invoice), (None, None))

        self.make_due()
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted')
        self.assertEqual(self.rate(invoice), (Decimal('1000'), 'afip'))
        self.assertEqual(self.received('FECAESolicitar'), before + 1)

    def rate(self, invoice_id):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            invoice = Pool().get('account.invoice')(invoice_id)
            rate = invoice.ar_currency_rate
            return (rate.normalize() if rate is not None else None,
                invoice.ar_currency_rate_source)
