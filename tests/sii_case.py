"""Base of the SII tests: a Spanish company (the NIF of the sandbox's
``es_company`` certificate) with SII-coded taxes, customers and suppliers
of every kind, and the SII service configured against the sandbox's
staging ("Pruebas") state."""
import datetime as dt
from decimal import Decimal

from lxml import etree

from tests import tools
from tests.case import SandboxTestCase

SCHEMAS = tools.SCHEMAS
NS_SII = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/ssii/fact/ws/SuministroInformacion.xsd')
SOAP = 'http://schemas.xmlsoap.org/soap/envelope/'


def identify(party):
    from trytond.modules.account_einvoice_es_sii import identification
    return identification.identify(party, '')


def nif(digits):
    "A valid DNI for 8 digits"
    from stdnum.es import dni
    return digits + dni.calc_check_digit(digits)


GOOD_NIF = nif('12345678')            # 12345678Z
SUPPLIER_NIF = nif('87654321')
BAD_NIF = '12345678X'                 # wrong check letter
EU_VAT = 'DE136695976'
TAXES = {
    # name: (rate, sii_tax_key, sii_excluded)
    'iva21': (Decimal('0.21'), 'S1', False),
    'iva10': (Decimal('0.10'), 'S1', False),
    're52': (Decimal('0.052'), None, False),
    'exempt': (Decimal('0'), 'E1', False),
    'intra': (Decimal('0'), 'E5', False),
    'export': (Decimal('0'), 'E2', False),
    'ns': (Decimal('0'), 'NS', False),
    'irpf': (Decimal('-0.15'), None, True),
    'isp21': (Decimal('0.21'), 'S2', False),
    'isp21_neg': (Decimal('-0.21'), None, True),
    'untagged0': (Decimal('0'), None, False),
    }


def create_sii_base(company_nif, currency=None):
    """Company (in currency, default a test one), chart, fiscal year, taxes,
    parties and products"""
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    pool = Pool()
    Tax = pool.get('account.tax')
    Party = pool.get('party.party')
    PaymentTerm = pool.get('account.invoice.payment_term')
    Configuration = pool.get('account.configuration')
    Country = pool.get('country.country')
    Uom = pool.get('product.uom')
    Template = pool.get('product.template')

    company = create_company(name="SANDBOX EMPRESA SL", currency=currency)
    company.party.identifiers = [{'type': 'es_vat', 'code': company_nif}]
    company.party.save()
    company.cancel_invoice_out = True
    company.save()
    result = {'company': company.id}
    accounts = tools.setup_books(company)
    revenue, expense = accounts['revenue'], accounts['expense']
    with set_company(company):
        chart_tax, = Tax.search([('company', '=', company.id)], limit=1)
        result.update(revenue=revenue.id, expense=expense.id)
        taxes = {}
        for name, (rate, key, excluded) in TAXES.items():
            tax = Tax(name=name, description=name, type='percentage',
                rate=rate, company=company, sii_tax_key=key,
                sii_excluded=excluded,
                invoice_account=chart_tax.invoice_account,
                credit_note_account=chart_tax.credit_note_account)
            tax.save()
            taxes[name] = tax
        taxes['iva21_re'] = Tax(name='iva21_re', description='iva21 + RE',
            type='percentage', rate=Decimal('0.21'), company=company,
            sii_tax_key='S1', sii_surcharge_tax=taxes['re52'],
            invoice_account=chart_tax.invoice_account,
            credit_note_account=chart_tax.credit_note_account)
        taxes['iva21_re'].save()
        result['taxes'] = {n: t.id for n, t in taxes.items()}

        countries = {}
        for code, name in [('ES', "Spain"), ('DE', "Germany"),
                ('US', "United States")]:
            country = Country(code=code, name=name)
            country.save()
            countries[code] = country

        def party(name, country, *identifiers):
            party = Party(name=name,
                addresses=[{'country': countries[country].id}],
                identifiers=[{'type': t, 'code': c} for t, c in identifiers])
            party.save()
            return party.id
        result['parties'] = {
            'es': party("Cliente Nacional SA", 'ES', ('es_vat', GOOD_NIF)),
            'plain': party("Consumidor Final", 'ES'),
            'eu': party("Kunde GmbH", 'DE', ('eu_vat', EU_VAT)),
            'foreign': party("Foreign Customer Inc", 'US',
                ('sii_passport', 'X1234567')),
            'us': party("US Corp", 'US', ('us_ein', '04-2103594')),
            'bad': party("Cliente Con Error SL", 'ES', (None, BAD_NIF)),
            'supplier': party("Proveedor SL", 'ES',
                ('es_vat', SUPPLIER_NIF)),
            }
        term = PaymentTerm(name="Now", lines=[{}])
        term.save()
        result['term'] = term.id
        unit, = Uom.search([('name', '=', 'Unit')])
        Category = pool.get('product.category')
        category = Category(name="Accounting", accounting=True,
            account_revenue=revenue, account_expense=expense)
        category.save()
        products = {}
        for name, type_ in [('goods', 'goods'), ('service', 'service')]:
            template = Template(name=name, type=type_, default_uom=unit,
                account_category=category, products=[{}])
            template.save()
            products[name] = template.products[0].id
        result['products'] = products
        result['unit'] = unit.id
        Configuration(1).save()
    return result


def create_invoice(base, lines, party='es', type_='out', date=None,
        accounting_date=None, reference=None, post=True, description=None,
        override=None):
    """lines: [(amount, [tax names], product name or None)]"""
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Party = pool.get('party.party')
    party = Party(base['parties'].get(party, party))
    invoice = Invoice(
        type=type_,
        company=base['company'],
        party=party,
        invoice_address=party.address_get(),
        payment_term=base['term'],
        invoice_date=date or dt.date.today(),
        accounting_date=accounting_date,
        reference=reference,
        description=description,
        sii_invoice_type_override=override,
        lines=[{
                'type': 'line',
                'account': base['revenue' if type_ == 'out' else 'expense'],
                'product': base['products'][product] if product else None,
                'unit': base['unit'] if product else None,
                'description': product or "Consulting",
                'quantity': 1,
                'unit_price': Decimal(amount),
                'taxes': [base['taxes'][t] for t in taxes],
                } for amount, taxes, product in lines])
    invoice.on_change_type()
    invoice.save()
    if post:
        Invoice.post([invoice])
    return invoice


def bulk_submissions(base, configuration, count, party='plain',
        prepare=False):
    """count numbered customer invoices (no lines: not subject, 0.00) with
    pending submissions, copied in SQL from one invoice (posting is not
    what is measured); prepare: with what posting prepares (the records);
    return the invoice ids"""
    import datetime as dt

    from sql import Column
    from sql.operators import Concat

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Party = pool.get('party.party')
    Submission = pool.get('account.einvoice.submission')
    party = Party(base['parties'][party])
    template, = Invoice.create([{
                'type': 'out',
                'company': base['company'],
                'party': party.id,
                'invoice_address': party.address_get().id,
                'account': party.account_receivable_used.id,
                'invoice_date': dt.date.today(),
                }])
    cursor = Transaction().connection.cursor()
    table = Invoice.__table__()
    cursor.execute(*table.select(where=table.id == template.id))
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone()))
    row.update(state='posted')
    names = [n for n in names if n != 'id']
    columns = [Column(table, n) for n in names]
    values = [row[n] for n in names]
    for start in range(0, count - 1, 200):
        cursor.execute(*table.insert(columns,
                [values] * min(200, count - 1 - start)))
    cursor.execute(*table.select(table.id,
            where=table.id >= template.id, order_by=[table.id.asc]))
    ids = [i for i, in cursor][:count]
    cursor.execute(*table.update([table.number, table.state],
            [Concat('BK-', table.id), 'posted'],
            where=(table.id >= ids[0]) & (table.id <= ids[-1])))
    submission = Submission.__table__()
    now = dt.datetime.now()
    for start in range(0, len(ids), 500):
        cursor.execute(*submission.insert([
                    submission.invoice, submission.company,
                    submission.configuration, submission.state,
                    submission.operation, submission.registered,
                    submission.needs_query, submission.cancel_requested,
                    submission.attempts, submission.create_uid,
                    submission.create_date], [
                    [i, base['company'], configuration, 'pending',
                        'register', False, False, False, 0, 0, now]
                    for i in ids[start:start + 500]]))
    if prepare:
        cursor.execute(*submission.select(submission.id,
                where=submission.invoice.in_(ids) if len(ids) < 1000
                else submission.invoice >= ids[0]))
        submission_ids = [i for i, in cursor]
        for start in range(0, len(submission_ids), 200):
            Submission._prepare_at_posting(Submission.browse(
                    submission_ids[start:start + 200]), {})
    return ids


def setup_configuration(base, sandbox, certificate='sii', **values):
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    values.setdefault('environment', 'staging')
    values.setdefault('endpoint_host', sandbox.url + (
            '/pruebas' if values['environment'] == 'staging' else ''))
    configuration = Configuration(
        company=base['company'],
        service='es_sii',
        sii_authority='aeat',
        start_date=dt.date.today() - dt.timedelta(days=60),
        certificate_name=certificate,
        **values)
    configuration.save()
    return configuration.id


def xsd(name):
    "The compiled official XSD es_sii/<name>"
    import os
    return etree.XMLSchema(etree.parse(os.path.join(SCHEMAS, 'es_sii', name)))


class SIITestCase(SandboxTestCase):
    modules = ['account_einvoice_es_sii']
    sandbox_services = ['sii']
    certificates = {'sii': 'es_company', 'other': 'es_other'}
    #: builds the company, chart, taxes and parties from the titular's NIF
    create_base = staticmethod(create_sii_base)

    @classmethod
    def setUpData(cls):
        cls.titular = cls.sandbox.identity('es_company').tax_id
        cls.base = tools.call(cls.create_base, cls.titular)
        cls.configuration = tools.call(
            setup_configuration, cls.base, cls.sandbox,
            company=cls.base['company'])
        cls.xsd_lr = xsd('SuministroLR.xsd')
        cls.xsd_consulta = xsd('ConsultaLR.xsd')

    def configuration_defaults(self):
        return dict(super().configuration_defaults(),
            certificate_name='sii',
            environment='staging',
            endpoint_host=self.sandbox.url + '/pruebas',
            sii_authority='aeat')

    # -- helpers -----------------------------------------------------------
    def cron(self, due=True):
        "Run the cron (first making every retry due, unless told not to)"
        if due:
            self.make_due()
        super().cron()

    def post(self, lines, **kwargs):
        "Post one invoice; return its id"
        return tools.call(lambda: create_invoice(
                self.base, lines, **kwargs).id, company=self.company)

    def new_party(self, name, *identifiers, country='ES'):
        "Create a party; identifiers: (type, code); return its id"
        from trytond.pool import Pool

        def create():
            pool = Pool()
            Party = pool.get('party.party')
            Country = pool.get('country.country')
            country_, = Country.search([('code', '=', country)])
            party = Party(name=name, addresses=[{'country': country_.id}],
                identifiers=[{'type': t, 'code': c} for t, c in identifiers])
            party.save()
            return party.id
        return tools.call(create, company=self.company)

    def set_identifier(self, party, code, type_=None):
        from trytond.pool import Pool

        def write():
            Identifier = Pool().get('party.identifier')
            identifiers = Identifier.search([('party', '=', party)])
            Identifier.write(identifiers, {'code': code, 'type': type_})
        tools.call(write, company=self.company)

    def reschedule(self, invoice_id):
        from trytond.pool import Pool

        def reschedule():
            Submission = Pool().get('account.einvoice.submission')
            Submission.reschedule(
                Submission.search([('invoice', '=', invoice_id)]))
        tools.call(reschedule, company=self.company)

    def submission(self, invoice_id):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice_id)])
            return {
                'id': submission.id,
                'state': submission.state,
                'operation': submission.operation,
                'registered': submission.registered,
                'needs_query': submission.needs_query,
                'reference': submission.reference,
                'code': submission.code,
                'message': submission.message,
                'last_error': submission.last_error,
                'outcomes': [(o.kind, o.state, o.code)
                    for o in reversed(submission.outcomes)],
                }

    def key(self, invoice_id):
        "The sandbox key of an invoice (emitter|number|date)"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            invoice = Pool().get('account.invoice')(invoice_id)
            if invoice.type == 'out':
                emitter, number = self.titular, invoice.number
            else:
                emitter = identify(invoice.party).key
                number = invoice.reference
            return '%s|%s|%s' % (emitter, number,
                invoice.invoice_date.strftime('%d-%m-%Y'))

    def held(self, invoice_id, environment='staging'):
        "What the sandbox AEAT holds for an invoice (or None)"
        book = 'emitidas' if self.key(invoice_id).startswith(
            self.titular) else 'recibidas'
        state = self.sandbox.state('sii')
        return state.get(environment, {}).get(book, {}).get(
            self.titular, {}).get(self.key(invoice_id))

    def assertRequestsValid(self, exchanges=None):
        "Every request body validates against the official XSD"
        for exchange in exchanges or self.exchanges():
            if not exchange['request']:
                continue
            root = etree.fromstring(exchange['request'])
            body = root.find('{%s}Body' % SOAP)[0]
            schema = (self.xsd_consulta if exchange['kind'] == 'query'
                else self.xsd_lr)
            self.assertTrue(schema.validate(body),
                f"{exchange['remote_operation']}: {schema.error_log}")

    def record_xml(self, invoice_id):
        "The XML record AEAT holds for an invoice"
        return etree.fromstring(self.held(invoice_id)['xml'])
