"""Base class of the AFIP tests: one database and one sandbox per class,
an Argentinian company (CUIT 30712345671, Responsable Inscripto, pesos)
with IVA taxes, customers and point of sale 3, the AFIP service configured.

``python -m tests.ar_case ticket`` (TRYTOND_CONFIG, DB_NAME) prints the
access ticket token another process would use: the ticket tests start two
at once."""
import datetime as dt
import os
import sys
from decimal import Decimal

from tests import tools
from tests.case import SandboxTestCase

COMPANY_CUIT = '30712345671'
POS = 3


def cuit(prefix):
    from stdnum.ar import cuit as stdcuit
    return prefix + stdcuit.calc_check_digit(prefix)


CUSTOMERS = {
    # name: (identifier type, code, IVA condition)
    'ri': ('ar_vat', cuit('2012345678'), '1'),
    'mono': ('ar_vat', cuit('2023456789'), '6'),
    'unregistered': ('ar_vat', cuit('2099999999'), '1'),
    'final': (None, None, None),
    'dni': ('ar_dni', '30123456', '5'),
    }


def create_base():
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    pool = Pool()
    Tax = pool.get('account.tax')
    Party = pool.get('party.party')
    PaymentTerm = pool.get('account.invoice.payment_term')
    Currency = pool.get('currency.currency')
    Configuration = pool.get('account.configuration')
    PointOfSale = pool.get('account.einvoice.ar.pos')

    ars, usd = Currency.create([
            {'name': "Peso", 'code': 'ARS', 'symbol': '$',
                'rates': [('create', [{'date': dt.date(2000, 1, 1),
                                'rate': Decimal(1)}])]},
            {'name': "Dollar", 'code': 'USD', 'symbol': 'US$',
                'rates': [('create', [{'date': dt.date(2000, 1, 1),
                                'rate': Decimal('0.001')}])]},
            ])
    company = create_company(name="Sandbox Empresa SA", currency=ars)
    company.party.identifiers = [{'type': 'ar_vat', 'code': COMPANY_CUIT}]
    company.party.ar_iva_condition = '1'
    company.party.save()
    revenue = tools.setup_books(company)['revenue']
    with set_company(company):
        template, = Tax.search([('company', '=', company.id)], limit=1)

        def tax(name, rate, **values):
            record = Tax(
                name=name, description=name, type='percentage',
                rate=Decimal(rate), company=company,
                invoice_account=template.invoice_account,
                credit_note_account=template.credit_note_account, **values)
            record.save()
            return record.id
        taxes = {
            'iva21': tax("IVA 21%", '0.21', ar_kind='iva', ar_iva_id='5'),
            'iva105': tax("IVA 10.5%", '0.105', ar_kind='iva',
                ar_iva_id='4'),
            'exempt': tax("IVA Exento", '0', ar_kind='exempt'),
            'iibb': tax("Percepción IIBB 3%", '0.03', ar_kind='tribute',
                ar_tribute_id='7'),
            }
        parties = {}
        for name, (type_, code, condition) in CUSTOMERS.items():
            party = Party(name=f"Customer {name}", addresses=[{}],
                ar_iva_condition=condition)
            if type_:
                party.identifiers = [{'type': type_, 'code': code}]
            party.save()
            parties[name] = party.id
        term = PaymentTerm(name="Now", lines=[{}])
        term.save()
        Configuration(1).save()
        pos = PointOfSale(company=company, number=POS, name="Web")
        pos.save()
    return {
        'company': company.id,
        'revenue': revenue.id,
        'taxes': taxes,
        'parties': parties,
        'term': term.id,
        'pos': pos.id,
        'usd': usd.id,
        'ars': ars.id,
        }


def setup_configuration(base, endpoint_host, **values):
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    configuration = Configuration(
        company=base['company'],
        service='ar_afip',
        environment='staging',
        start_date=dt.date.today() - dt.timedelta(days=30),
        certificate_name='afip',
        endpoint_host=endpoint_host,
        ar_pos=base['pos'],
        **values)
    configuration.save()
    return configuration.id


def create_invoice(base, party='ri', lines=None, post=True, **values):
    """lines: [(amount, [tax names], quantity)]; default one 100 + IVA 21"""
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Party = pool.get('party.party')
    party = Party(base['parties'][party])
    if lines is None:
        lines = [(Decimal('100'), ['iva21'], 1)]
    currency = values.pop('currency', base['ars'])
    invoice = Invoice(
        type='out',
        company=base['company'],
        party=party,
        invoice_address=party.address_get(),
        payment_term=base['term'],
        invoice_date=values.pop('invoice_date', dt.date.today()),
        currency=currency,
        lines=[{
                'type': 'line',
                'currency': currency,
                'account': base['revenue'],
                'description': "Service",
                'quantity': quantity,
                'unit_price': Decimal(amount),
                'taxes': [base['taxes'][t] for t in taxes],
                } for amount, taxes, quantity in lines],
        **values)
    invoice.on_change_type()
    invoice.save()
    if post:
        Invoice.post([invoice])
    return invoice.id


def credit_invoice(invoice_id, post=True):
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    credit, = Invoice.credit([Invoice(invoice_id)])
    if post:
        Invoice.post([credit])
    return credit.id


class ArTestCase(SandboxTestCase):
    modules = ['account_einvoice_ar']
    sandbox_services = ['afip_wsaa', 'afip_wsfe']
    certificates = {'afip': 'ar_company'}

    @classmethod
    def setUpData(cls):
        cls.base = tools.call(create_base)
        cls.configuration = tools.call(
            setup_configuration, cls.base, cls.sandbox.url,
            company=cls.base['company'])

    def setUp(self):
        # The sandbox keeps AFIP's numbering and tickets between tests
        self.sandbox.clear_faults()
        self.first_exchange = max([0] + [e['id'] for e in self.exchanges(0)])

    def configuration_defaults(self):
        return dict(super().configuration_defaults(),
            ar_authorize_on_post=False)

    # -- helpers ---------------------------------------------------------
    def post(self, count=1, **kwargs):
        return tools.call(lambda: [create_invoice(self.base, **kwargs)
                for _ in range(count)], company=self.company)

    def credit(self, invoice_id):
        return tools.call(credit_invoice, invoice_id, company=self.company)

    def invoices(self, ids):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Invoice = Pool().get('account.invoice')
            result = []
            for invoice in Invoice.browse(ids):
                submission = (invoice.einvoice_submissions[0]
                    if invoice.einvoice_submissions else None)
                result.append({
                        'id': invoice.id,
                        'number': invoice.number,
                        'type': invoice.ar_voucher_type,
                        'nro': invoice.ar_voucher_number,
                        'legal': invoice.ar_legal_number,
                        'cae': invoice.ar_cae,
                        'cae_due': invoice.ar_cae_due_date,
                        'qr': invoice.ar_qr_url,
                        'state': invoice.einvoice_state,
                        'message': invoice.einvoice_message,
                        'needs_query': (submission.needs_query
                            if submission else None),
                        'code': submission.code if submission else None,
                        'last_error': (submission.last_error
                            if submission else None),
                        'outcomes': [(o.kind, o.state, o.code)
                            for o in submission.outcomes]
                        if submission else [],
                        })
            return result

    def invoice(self, invoice_id):
        return self.invoices([invoice_id])[0]

    def key(self, info):
        from tests.sandbox.afip import voucher_key
        return voucher_key(COMPANY_CUIT, POS, info['type'], info['nro'])

    def caes(self):
        return self.sandbox.state('afip_wsfe')['caes']

    def set_company_condition(self, condition):
        from trytond.pool import Pool
        with tools.transaction():
            Company = Pool().get('company.company')
            company = Company(self.company)
            company.party.ar_iva_condition = condition
            company.party.save()

    def forget_tickets(self):
        "Lose the stored tickets (the sandbox may still hold a valid one)"
        from trytond.modules.account_einvoice_ar import ticket
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction():
            Ticket = Pool().get('account.einvoice.ar.ticket')
            table = Ticket.__table__()
            Transaction().connection.cursor().execute(*table.delete())
        ticket._memory.clear()
        ticket._offsets.clear()

    def logins(self):
        return self.sandbox.count('afip_wsaa', 'loginCms', COMPANY_CUIT,
            field='issued')


def _print_ticket():
    "Worker: print the token this process gets"
    database, pool = tools.start_pool(os.environ['TRYTOND_CONFIG'])
    from trytond.modules.account_einvoice_ar import ticket
    from trytond.transaction import Transaction
    with Transaction().start(database, 0) as transaction:
        Configuration = pool.get('account.einvoice.configuration')
        configuration, = Configuration.search(
            [('service', '=', 'ar_afip')])
        token, _ = ticket.get(configuration)
        transaction.commit()
    print(token)
    return 0


if __name__ == '__main__':
    if sys.argv[1:] == ['ticket']:
        sys.exit(_print_ticket())
