"""Base of the SIFEN tests: a Paraguayan company (the RUC of the sandbox's
``py_company`` identity, guaraníes, IVA 10 %, 5 % and exempt, customers
with a RUC, with an identity card, without identity and abroad) issuing
from two points of issue of one establishment (two reporting units, one
per invoice journal) to the sandbox's ``sifen`` service."""
import datetime as dt
from decimal import Decimal

from tests import tools
from tests.case import SandboxTestCase

SERVICE = 'sifen'
TIMBRADO = '12557209'
#: the sandbox's test CSC 0001
CSC = 'ABCD0000000000000000000000000000'
BUYER_RUC = '80002201-7'
SECTION = 'account_einvoice_py_sifen'
#: the sandbox processes a lot in 60 s by default
PROCESSING = 60
TIMES = {'poll_delay': '60', 'poll_deadline': '3600',
    'processing_time': str(PROCESSING)}
TAXES = {
    'iva10': (Decimal('0.10'), None, None),
    'iva5': (Decimal('0.05'), None, None),
    'exempt': (Decimal('0'), '3', None),
    }


def create_sifen_base(ruc):
    """Company (PYG), chart, fiscal year, IVA taxes, customers, products,
    a second invoice journal (for the second point of issue)"""
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    pool = Pool()
    Currency = pool.get('currency.currency')
    Rate = pool.get('currency.currency.rate')
    Country = pool.get('country.country')
    Tax = pool.get('account.tax')
    Party = pool.get('party.party')
    PaymentTerm = pool.get('account.invoice.payment_term')
    Configuration = pool.get('account.configuration')
    Uom = pool.get('product.uom')
    Template = pool.get('product.template')
    Category = pool.get('product.category')
    Journal = pool.get('account.journal')

    pyg = Currency(name="Guarani", code='PYG', symbol='₲', digits=0,
        rounding=Decimal('1'))
    pyg.save()
    usd = Currency(name="US Dollar", code='USD', symbol='$', digits=2,
        rounding=Decimal('0.01'))
    usd.save()
    # 1 USD = 7,299.27 PYG
    Rate.create([{'currency': pyg.id, 'rate': Decimal(1),
                'date': dt.date(2000, 1, 1)},
            {'currency': usd.id, 'rate': Decimal('0.000137'),
                'date': dt.date(2000, 1, 1)}])
    paraguay = Country(code='PY', code3='PRY', name="Paraguay")
    paraguay.save()
    argentina = Country(code='AR', code3='ARG', name="Argentina")
    argentina.save()
    company = create_company(name="SANDBOX PARAGUAY S.A.", currency=pyg)
    company.party.identifiers = [{'type': 'py_vat', 'code': ruc}]
    company.party.addresses = [{
            'street': "Avenida Brasilia 765", 'building_number': '765',
            'city': "Asunción", 'country': paraguay.id}]
    company.party.contact_mechanisms = [
        {'type': 'phone', 'value': '021 416 1000'},
        {'type': 'email', 'value': 'facturas@sandbox.com.py'}]
    company.party.save()
    company.cancel_invoice_out = True
    company.save()
    result = {'company': company.id, 'currencies': {
            'PYG': pyg.id, 'USD': usd.id}}
    accounts = tools.setup_books(company)
    with set_company(company):
        configuration = Configuration(1)
        # SIFEN adds up the IVA of each item
        configuration.tax_rounding = 'line'
        configuration.save()
        chart_tax, = Tax.search([('company', '=', company.id)], limit=1)
        taxes = {}
        for name, (rate, affectation, proportion) in TAXES.items():
            tax = Tax(name=name, description=name, type='percentage',
                rate=rate, company=company, sifen_affectation=affectation,
                sifen_proportion=proportion,
                invoice_account=chart_tax.invoice_account,
                credit_note_account=chart_tax.credit_note_account)
            tax.save()
            taxes[name] = tax.id
        result['taxes'] = taxes

        def party(name, identifiers=(), country=paraguay, **address):
            party = Party(name=name,
                addresses=[dict({'street': "Calle Palma 123"}, **address,
                        country=country.id)],
                identifiers=[{'type': t, 'code': c}
                    for t, c in identifiers])
            party.save()
            return party.id
        result['parties'] = {
            'b2b': party("BANCO DEL PARAGUAY S.A.", [('py_vat', BUYER_RUC)]),
            'b2c': party("Juan Pérez", [('py_ci', '1234567')]),
            'anonymous': party("Consumidor Final"),
            'foreign': party("Importadora Buenos Aires SRL",
                country=argentina),
            }
        term = PaymentTerm(name="Now", lines=[{}])
        term.save()
        credit = PaymentTerm(name="30 days", lines=[{'relativedeltas': [
                        {'days': 30}]}])
        credit.save()
        result['terms'] = {'cash': term.id, 'credit': credit.id}
        unit, = Uom.search([('name', '=', 'Unit')])
        category = Category(name="Accounting", accounting=True,
            account_revenue=accounts['revenue'],
            account_expense=accounts['expense'])
        category.save()
        template = Template(name="Yerba Mate", type='goods',
            default_uom=unit, account_category=category,
            products=[{'suffix_code': 'YM1'}])
        template.save()
        result['product'] = template.products[0].id
        result['unit'] = unit.id
        result['revenue'] = accounts['revenue'].id
        journal, = Journal.search([('type', '=', 'revenue')], limit=1)
        second, = Journal.copy([journal], {'name': "Point 002 Sales"})
        result['journals'] = {'A': journal.id, 'B': second.id}
    return result


def create_invoice(base, lines, party='b2b', post=True, currency='PYG',
        journal='A', term='cash', **values):
    """lines: [(unit price, [tax names])] or [(unit price, quantity, [tax
    names])]; values: other invoice fields"""
    return tools.create_lines_invoice(base, lines, party, currency,
        journal, base['terms'][term], "Yerba Mate 500 g", post=post,
        **values)


def setup_configuration(base, sandbox, point='001', certificate='sifen',
        journals=(), **values):
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    configuration = Configuration(
        company=base['company'], service='py_sifen', environment='staging',
        start_date=dt.date.today() - dt.timedelta(days=60),
        certificate_name=certificate, endpoint_host=sandbox.url,
        unit=f'001-{point}', journals=[base['journals'][j] for j in journals],
        sifen_timbrado=TIMBRADO,
        sifen_timbrado_start=dt.date.today() - dt.timedelta(days=365),
        sifen_establishment='001', sifen_point=point,
        sifen_taxpayer_type='2', sifen_department='1',
        sifen_city=1, sifen_city_name="ASUNCION (DISTRITO)",
        sifen_activity_code='46900',
        sifen_activity_name="Comercio al por mayor no especializado",
        sifen_csc_id='0001', **values)
    configuration.save()
    return configuration.id


class SifenTestCase(SandboxTestCase):
    modules = ['account_einvoice_py_sifen']
    sandbox_services = [SERVICE]
    certificates = {'sifen': 'py_company'}
    credential_secrets = {'sifen': {'sifen_csc': CSC}}
    config_sections = {SECTION: dict(TIMES)}
    # a request may stay 2 + 5 + 1 s in the authority's hands
    config_options = {'in_flight_margin': 1, 'confirm_delay': 1,
        'retry_delay': 1, 'retry_delay_max': 2}

    @classmethod
    def setUpData(cls):
        cls.ruc = cls.sandbox.identity('py_company').tax_id
        cls.base = tools.call(create_sifen_base, cls.ruc)
        cls.configuration = tools.call(setup_configuration, cls.base,
            cls.sandbox, point='001', journals=['A'],
            company=cls.base['company'])
        cls.second = tools.call(setup_configuration, cls.base,
            cls.sandbox, point='002', journals=['B'],
            company=cls.base['company'])
        cls.sandbox.set_option(SERVICE, 'timbrados', {
                cls.ruc.split('-')[0]: [{'number': TIMBRADO,
                        'start': (dt.date.today()
                            - dt.timedelta(days=365)).isoformat()}]})

    def setUp(self):
        super().setUp()
        from trytond import config
        for name, value in self.config_sections[SECTION].items():
            config.set(SECTION, name, value)
        self.sandbox.set_clock()

    def configuration_defaults(self):
        return {
            'batch_size': None, 'last_failure': None,
            'endpoint_host': self.sandbox.url, 'sifen_sending': 'lots',
            }

    def state(self):
        return self.sandbox.state(SERVICE)

    def finish_processing(self):
        "SIFEN is done with every lot received so far"
        self.sandbox.set_clock(advance=PROCESSING + 1)
        self.make_due()

    def invoice(self, lines, **values):
        return tools.call(create_invoice, self.base, lines,
            company=self.company, **values)

    def credit(self, invoice_id, post=True, **values):
        "Credit the invoice with a credit note"
        from trytond.pool import Pool

        def credit():
            Invoice = Pool().get('account.invoice')
            credit, = Invoice.credit([Invoice(invoice_id)])
            for name, value in values.items():
                setattr(credit, name, value)
            credit.save()
            if post:
                Invoice.post([credit])
            return credit.id
        return tools.call(credit, company=self.company)

    def submissions(self, invoice_ids):
        "The submissions of invoices as dicts, in their order"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            found = {s.invoice.id: s for s in Submission.search(
                    [('invoice', 'in', invoice_ids)])}
            return [{name: getattr(found[i], name) for name in [
                        'id', 'state', 'code', 'message', 'reference',
                        'needs_query', 'chain_sequence', 'ticket',
                        'operation', 'registered', 'attempts',
                        'last_error', 'next_attempt']}
                for i in invoice_ids]

    def states(self, invoice_ids):
        return [s['state'] for s in self.submissions(invoice_ids)]

    def documents(self, invoice_id):
        "[(kind, filename, data)] of an invoice, oldest first"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Document = Pool().get('account.einvoice.document')
            return [(d.kind, d.filename, d.data)
                for d in Document.search(
                    [('submission.invoice', '=', invoice_id)],
                    order=[('id', 'ASC')])]

    def cdc(self, invoice_id):
        for kind, filename, _ in self.documents(invoice_id):
            if kind == 'de':
                return filename.split('.')[0]
