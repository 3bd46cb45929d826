"""Base of the ZATCA tests: a Saudi company (the VAT number of the
sandbox's ``sa_company`` identity, SAR, ZATCA-coded taxes, customers with
and without VAT numbers) and its EGS units reporting to the sandbox's
``zatca`` service; each unit holds a production credential the sandbox
issued for its own key (:func:`grant_credentials`), kept in the secret
store like onboarding keeps it."""
import datetime as dt
import json
from decimal import Decimal

from tests import tools
from tests.case import SandboxTestCase

SERVICE = 'zatca'
BUYER_VAT = '311111111111113'
TAXES = {
    'vat15': (Decimal('0.15'), 'S', None),
    'vat5': (Decimal('0.05'), 'S', None),
    'zero': (Decimal('0'), 'Z', 'VATEX-SA-32'),
    'exempt': (Decimal('0'), 'E', 'VATEX-SA-29'),
    'oos': (Decimal('0'), 'O', 'VATEX-SA-OOS'),
    }


def saudi_address(**values):
    address = {
        'street_name': "Prince Sultan Street", 'building_number': '2322',
        'district': "Al-Murabba", 'city': "Riyadh",
        'postal_code': '23333', 'additional_number': '1234',
        }
    address.update(values)
    return address


def create_zatca_base(vat):
    """Company (SAR), chart, fiscal year, ZATCA taxes, customers, product,
    a second invoice journal (for a second unit)"""
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

    sar = Currency(name="Saudi Riyal", code='SAR', symbol='SAR', digits=2,
        rounding=Decimal('0.01'))
    sar.save()
    usd = Currency(name="US Dollar", code='USD', symbol='$', digits=2,
        rounding=Decimal('0.01'))
    usd.save()
    # 1 SAR = 0.2666 USD (3.75 SAR per USD)
    Rate.create([{'currency': sar.id, 'rate': Decimal(1),
                'date': dt.date(2000, 1, 1)},
            {'currency': usd.id, 'rate': Decimal('0.266667'),
                'date': dt.date(2000, 1, 1)}])
    saudi = Country(code='SA', name="Saudi Arabia")
    saudi.save()
    company = create_company(name="SANDBOX SAUDI COMPANY LLC", currency=sar)
    company.party.arabic_name = "شركة ساندبوكس السعودية"
    company.party.identifiers = [
        {'type': 'sa_vat', 'code': vat},
        {'type': 'sa_crn', 'code': '1010010000'},
        ]
    company.party.addresses = [saudi_address(country=saudi.id)]
    company.party.save()
    company.cancel_invoice_out = True
    company.save()
    result = {'company': company.id, 'currencies': {
            'SAR': sar.id, 'USD': usd.id}}
    accounts = tools.setup_books(company)
    with set_company(company):
        configuration = Configuration(1)
        configuration.tax_rounding = 'document'
        configuration.save()
        chart_tax, = Tax.search([('company', '=', company.id)], limit=1)
        taxes = {}
        for name, (rate, category, code) in TAXES.items():
            tax = Tax(name=name, description=name, type='percentage',
                rate=rate, company=company, zatca_category=category,
                zatca_exemption_code=code,
                invoice_account=chart_tax.invoice_account,
                credit_note_account=chart_tax.credit_note_account)
            tax.save()
            taxes[name] = tax.id
        result['taxes'] = taxes

        def party(name, identifiers=(), **address):
            party = Party(name=name,
                addresses=[dict(address, country=saudi.id)],
                identifiers=[{'type': t, 'code': c}
                    for t, c in identifiers])
            party.save()
            return party.id
        result['parties'] = {
            'b2b': party("Saudi Buyer Trading Co", [('sa_vat', BUYER_VAT)],
                **saudi_address(street_name="King Fahd Road",
                    building_number='1111', district="Al-Olaya",
                    postal_code='12211')),
            'b2c': party("Walk-in Customer"),
            'no_address': party("Buyer Without Address",
                [('sa_vat', '322222222222223')]),
            }
        term = PaymentTerm(name="Now", lines=[{}])
        term.save()
        result['term'] = term.id
        unit, = Uom.search([('name', '=', 'Unit')])
        category = Category(name="Accounting", accounting=True,
            account_revenue=accounts['revenue'],
            account_expense=accounts['expense'])
        category.save()
        template = Template(name="Widget", type='goods', default_uom=unit,
            account_category=category, products=[{}])
        template.save()
        result['product'] = template.products[0].id
        result['unit'] = unit.id
        result['revenue'] = accounts['revenue'].id
        journal, = Journal.search([('type', '=', 'revenue')], limit=1)
        second, = Journal.copy([journal], {'name': "Branch B Sales"})
        result['journals'] = {'A': journal.id, 'B': second.id}
    return result


def create_invoice(base, lines, party='b2c', post=True, currency='SAR',
        journal='A', **values):
    """lines: [(unit price, [tax names])] or [(unit price, quantity, [tax
    names])]; values: other invoice fields"""
    return tools.create_lines_invoice(base, lines, party, currency,
        journal, base['term'], "Widget", post=post, **values)


def setup_configuration(base, sandbox, unit='A', certificate='zatca_a',
        journals=(), **values):
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    configuration = Configuration(
        company=base['company'], service='sa_zatca', environment='staging',
        start_date=dt.date.today() - dt.timedelta(days=60),
        certificate_name=certificate, endpoint_host=sandbox.url,
        unit=unit, journals=[base['journals'][j] for j in journals],
        zatca_portal='developer-portal', zatca_invoice_types='1100',
        zatca_solution_name='Tryton', zatca_model='8.0',
        zatca_serial=f'EGS-{unit}', zatca_branch="Riyadh Branch",
        zatca_industry="Retail", zatca_location="RRRD2929", **values)
    configuration.save()
    return configuration.id


def grant_credentials(sandbox, configuration_id):
    """Give the unit a production credential the sandbox issued for a new
    key, as onboarding stores it"""
    from trytond.modules.account_einvoice import secret_store
    from trytond.modules.account_einvoice_sa_zatca import credentials, csr
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    configuration = Configuration(configuration_id)
    key = csr.new_key()
    request = csr.build_csr(key, configuration)
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.sandbox.zatca import issue_production
    token, secret = issue_production(
        sandbox, request.public_bytes(Encoding.PEM))
    certificate = credentials.token_certificate(token)
    secret_store.store_secret(credentials.name(configuration), 'production',
        json.dumps({'request_id': 'granted', 'token': token,
                'secret': secret, 'key': csr.key_pem(key)}),
        expires=credentials.not_after(certificate))


class ZatcaTestCase(SandboxTestCase):
    modules = ['account_einvoice_sa_zatca']
    sandbox_services = [SERVICE]
    certificates = {'zatca_a': 'sa_company', 'zatca_b': 'sa_company'}
    secret_store = True

    @classmethod
    def setUpData(cls):
        cls.vat = cls.sandbox.identity('sa_company').tax_id
        cls.base = tools.call(create_zatca_base, cls.vat)
        cls.configuration = tools.call(setup_configuration, cls.base,
            cls.sandbox, company=cls.base['company'])
        cls.units = [cls.configuration]

    def setUp(self):
        super().setUp()
        self.sandbox.set_clock()
        # the sandbox forgot the credentials it issued
        for configuration in self.units:
            tools.call(grant_credentials, self.sandbox, configuration)

    def configuration_defaults(self):
        return {
            'batch_size': None, 'last_failure': None,
            'endpoint_host': self.sandbox.url,
            }

    def invoice(self, lines, **values):
        return tools.call(create_invoice, self.base, lines,
            company=self.company, **values)

    def credit(self, invoice_id, reason):
        "Credit the invoice with a posted credit note giving reason"
        from trytond.pool import Pool

        def credit():
            Invoice = Pool().get('account.invoice')
            credit, = Invoice.credit([Invoice(invoice_id)])
            credit.zatca_reason = reason
            credit.save()
            Invoice.post([credit])
            return credit.id
        return tools.call(credit, company=self.company)

    def submission(self, invoice_id):
        "The submission of an invoice as a dict"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice_id)])
            return {name: getattr(submission, name) for name in [
                    'id', 'state', 'code', 'message', 'reference',
                    'needs_query', 'chain_sequence', 'clearance',
                    'deadline', 'attempts', 'last_error']}

    def documents(self, invoice_id):
        "[(kind, returned, digest, data)] of an invoice, oldest first"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Document = Pool().get('account.einvoice.document')
            return [(d.kind, d.returned, d.digest, d.data)
                for d in Document.search(
                    [('submission.invoice', '=', invoice_id)],
                    order=[('id', 'ASC')])]
