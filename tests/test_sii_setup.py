"""SII set-up: a company on Spain's chart of accounts (account_es) reports
without coding a tax by hand; the foral treasuries' official addresses;
the period switch.  Every request is checked against the official XSD."""
import datetime as dt
from urllib.parse import urlsplit

from tests import tools
from tests.sii_case import EU_VAT, GOOD_NIF, NS_SII, SUPPLIER_NIF, SIITestCase

#: our tax names -> account_es tax templates (normal variant)
CHART_TAXES = {
    'iva21': 'iva_rep_21_normal',
    'iva10': 'iva_rep_10_normal',
    'iva4': 'iva_rep_4_normal',
    're52': 'iva_rep_re_52_normal',
    'exempt': 'iva_rep_ex_servicios_normal',
    'intra_goods': 'iva_rep_intracomunitario_bienes_normal',
    'intra_services': 'iva_rep_intracomunitario_servicios_normal',
    'export': 'iva_rep_exportaciones_normal',
    'in21': 'iva_sop_21_normal',
    'in_irpf': 'irpf_15_purchase_normal',
    'in_intra': 'iva_sop_intracomunitario_normal',
    'in_import': 'iva_sop_importacion_normal',
    }


def S(name):
    return '{%s}%s' % (NS_SII, name)


def texts(element, name):
    return [e.text for e in element.iter(S(name))]


def create_es_base(company_nif):
    """A company on account_es's PGC chart (normal), this year's and next
    year's fiscal years, parties and products; taxes are the chart's"""
    from trytond.modules.account.tests import create_chart, get_fiscalyear
    from trytond.modules.account_invoice.tests import set_invoice_sequences
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    pool = Pool()
    User = pool.get('res.user')
    Account = pool.get('account.account')
    Tax = pool.get('account.tax')
    ModelData = pool.get('ir.model.data')
    Party = pool.get('party.party')
    Country = pool.get('country.country')
    PaymentTerm = pool.get('account.invoice.payment_term')
    Uom = pool.get('product.uom')
    Template = pool.get('product.template')
    Category = pool.get('product.category')

    company = create_company(name="SANDBOX EMPRESA SL")
    company.party.identifiers = [{'type': 'es_vat', 'code': company_nif}]
    company.party.save()
    admin, = User.search([('login', '=', 'admin')])
    User.write([admin], {
            'companies': [('add', [company.id])], 'company': company.id})
    result = {'company': company.id}
    with set_company(company):
        create_chart(company, chart='account_es.pgc_0_normal')
        today = dt.date.today()
        for year in [today.year, today.year + 1]:
            fiscalyear = set_invoice_sequences(get_fiscalyear(
                    company, today=dt.date(year, 1, 1)))
            fiscalyear.save()
            fiscalyear.create_period([fiscalyear])
        revenue, = Account.search([('code', '=', '700'),
                ('company', '=', company.id)])
        expense, = Account.search([('code', '=', '600'),
                ('company', '=', company.id)])
        result.update(revenue=revenue.id, expense=expense.id)
        result['taxes'] = {}
        for name, xml_id in CHART_TAXES.items():
            tax, = Tax.search([
                    ('template', '=', ModelData.get_id('account_es', xml_id)),
                    ('company', '=', company.id),
                    ])
            result['taxes'][name] = tax.id

        countries = {c: Country(code=c, name=c) for c in ['ES', 'DE', 'US']}
        Country.save(countries.values())

        def party(name, country, *identifiers):
            party = Party(name=name,
                addresses=[{'country': countries[country].id}],
                identifiers=[{'type': t, 'code': c} for t, c in identifiers])
            party.save()
            return party.id
        result['parties'] = {
            'es': party("Cliente Nacional SA", 'ES', ('es_vat', GOOD_NIF)),
            'eu': party("Kunde GmbH", 'DE', ('eu_vat', EU_VAT)),
            'foreign': party("Foreign Customer Inc", 'US',
                ('sii_passport', 'X1234567')),
            'supplier': party("Proveedor SL", 'ES',
                ('es_vat', SUPPLIER_NIF)),
            'eu_supplier': party("Lieferant GmbH", 'DE',
                ('eu_vat', EU_VAT)),
            }
        term = PaymentTerm(name="Now", lines=[{}])
        term.save()
        result['term'] = term.id
        unit, = Uom.search([('name', '=', 'Unit')])
        category = Category(name="Accounting", accounting=True,
            account_revenue=revenue, account_expense=expense)
        category.save()
        result['products'] = {}
        for name in ['goods', 'service']:
            template = Template(name=name, type=name, default_uom=unit,
                account_category=category, products=[{}])
            template.save()
            result['products'][name] = template.products[0].id
        result['unit'] = unit.id
    return result


class SIISetupTest(SIITestCase):
    modules = ['account_einvoice_es_sii', 'account_es']
    create_base = staticmethod(create_es_base)

    def test_chart_codes_reported(self):
        "One invoice of each kind, taxed with the chart's taxes only"
        standard = self.post([('100', ['iva21'], 'goods')])
        reduced = self.post([('100', ['iva10'], 'goods'),
                ('50', ['iva4'], 'goods')])
        surcharge = self.post([('100', ['iva21', 're52'], 'goods')])
        exempt = self.post([('70', ['exempt'], 'service')])
        intra = self.post([('300', ['intra_goods'], 'goods'),
                ('200', ['intra_services'], 'service')], party='eu')
        export = self.post([('400', ['export'], 'goods')], party='foreign')
        received = self.post([('1000', ['in21', 'in_irpf'], 'service')],
            party='supplier', type_='in', reference='PROV-1')
        acquisition = self.post([('500', ['in_intra'], 'goods')],
            party='eu_supplier', type_='in', reference='DE-77')
        invoices = [standard, reduced, surcharge, exempt, intra, export,
            received, acquisition]
        self.cron()
        for invoice in invoices:
            submission = self.submission(invoice)
            self.assertEqual(submission['state'], 'accepted',
                (invoice, submission))
            self.assertEqual(self.held(invoice)['state'], 'Correcta')
        self.assertRequestsValid()
        self.assertEqual(len(self.exchanges()), 2)

        record = self.record_xml(standard)
        self.assertEqual(texts(record, 'TipoNoExenta'), ['S1'])
        self.assertEqual(texts(record, 'TipoImpositivo'), ['21.00'])
        self.assertEqual(
            texts(record, 'ClaveRegimenEspecialOTrascendencia'), ['01'])
        record = self.record_xml(reduced)
        self.assertEqual(sorted(texts(record, 'TipoImpositivo')),
            ['10.00', '4.00'])
        record = self.record_xml(surcharge)
        self.assertEqual(texts(record, 'TipoRecargoEquivalencia'), ['5.20'])
        self.assertEqual(texts(record, 'CuotaRecargoEquivalencia'), ['5.20'])
        record = self.record_xml(exempt)
        self.assertEqual(texts(record, 'CausaExencion'), ['E1'])
        record = self.record_xml(intra)
        self.assertEqual(texts(record, 'CausaExencion'), ['E5'])
        self.assertEqual(texts(record, 'ImporteTAIReglasLocalizacion'),
            ['200.00'])
        record = self.record_xml(export)
        self.assertEqual(texts(record, 'CausaExencion'), ['E2'])
        self.assertEqual(
            texts(record, 'ClaveRegimenEspecialOTrascendencia'), ['02'])
        record = self.record_xml(received)
        self.assertEqual(texts(record, 'CuotaDeducible'), ['210.00'])
        self.assertEqual(texts(record, 'ImporteTotal'), ['1210.00'])
        record = self.record_xml(acquisition)
        self.assertEqual(
            texts(record, 'ClaveRegimenEspecialOTrascendencia'), ['09'])
        self.assertEqual(texts(record, 'CuotaSoportada'), ['105.00'])
        self.assertEqual(texts(record, 'ImporteTotal'), ['605.00'])

    def test_foral_addresses(self):
        "Each authority's requests go to its official path"
        from trytond.modules.account_einvoice_es_sii import authorities
        self.assertEqual(
            authorities.address('gipuzkoa', 'emitidas', 'production'),
            'https://sii.egoitza.gipuzkoa.eus/JBS/HACI/SSII-FACT/ws/fe/'
            'SiiFactFEV1SOAP')
        self.assertEqual(
            authorities.address('bizkaia', 'recibidas', 'staging'),
            'https://pruapps.bizkaia.eus/SSII-FACT/ws/fr/SiiFactFRV1SOAP')
        cases = [(name, environment, type_)
            for name in ['araba', 'bizkaia', 'gipuzkoa', 'navarra']
            for environment, type_ in [('staging', 'out'),
                ('production', 'in')]]
        try:
            for number, (name, environment, type_) in enumerate(cases):
                with self.subTest(authority=name, environment=environment):
                    prefix = '/pruebas' if environment == 'staging' else ''
                    self.set_configuration(sii_authority=name,
                        environment=environment,
                        endpoint_host=self.sandbox.url + prefix)
                    book = 'emitidas' if type_ == 'out' else 'recibidas'
                    official = authorities.address(name, book, environment)
                    self.assertTrue(official.startswith('https://'))
                    first = max([self.first_exchange]
                        + [e['id'] for e in self.exchanges()])
                    invoice = self.post([('100', ['iva21' if type_ == 'out'
                                    else 'in21'], 'goods')],
                        type_=type_, party='es' if type_ == 'out'
                        else 'supplier', reference=f'FORAL-{number}')
                    self.cron()
                    self.assertEqual(
                        self.submission(invoice)['state'], 'accepted')
                    self.assertEqual(
                        self.held(invoice, environment)['state'], 'Correcta')
                    exchange, = self.exchanges(first)
                    self.assertEqual(urlsplit(exchange['endpoint']).path,
                        prefix + urlsplit(official).path)
        finally:
            self.set_configuration(sii_authority='aeat',
                environment='staging',
                endpoint_host=self.sandbox.url + '/pruebas')
        self.assertRequestsValid()

    def test_period_switch(self):
        "A period switched off is not reported, and locked once posted"
        from trytond.model.exceptions import AccessError
        from trytond.pool import Pool
        date = dt.date(dt.date.today().year + 1, 1, 15)

        def period():
            Period = Pool().get('account.period')
            return Period(Period.find(self.company, date=date))

        def switch(value):
            Period = Pool().get('account.period')
            Period.write([period()], {'sii_report': value})

        self.assertTrue(tools.call(lambda: period().sii_report))
        # no posted invoice yet: it may go both ways
        tools.call(switch, False, company=self.company)
        tools.call(switch, True, company=self.company)
        tools.call(switch, False, company=self.company)
        invoice = self.post([('100', ['iva21'], 'goods')], date=date)
        self.cron()
        self.assertEqual(self.exchanges(), [])

        def submissions():
            Submission = Pool().get('account.einvoice.submission')
            return Submission.search_count([('invoice', '=', invoice)])
        self.assertEqual(tools.call(submissions), 0)
        self.assertTrue(tools.call(lambda: period().sii_report_locked))
        with self.assertRaises(AccessError) as raised:
            tools.call(switch, True, company=self.company)
        self.assertIn('posted invoices', str(raised.exception))
        self.assertFalse(tools.call(lambda: period().sii_report))
