"""The demo's data (:mod:`tests.demo`): the Spanish and Argentine
companies, their users, and the invoices posted."""
import datetime as dt
from decimal import Decimal

from tests.demo_setup import PASSWORDS

USERS = {
    # login: (name, accounting administrator)
    'chief': ("Chief Accountant", True),
    'bookkeeper': ("Bookkeeper", False),
    }
#: the customer whose NIF the SII check refuses (a wrong check letter),
#: and the NIF it should have
BAD_PARTY = "Cliente Con Error SL"
BAD_NIF = '23456789X'
GOOD_NIF = '23456789D'
TAX_NAMES = {
    'iva21': "IVA 21%",
    'iva10': "IVA 10%",
    're52': "Recargo de equivalencia 5.2%",
    'exempt': "IVA exento (art. 20)",
    'intra': "IVA 0% entrega intracomunitaria",
    'export': "IVA 0% exportación",
    'ns': "No sujeto (reglas de localización)",
    'irpf': "Retención IRPF 15%",
    'isp21': "IVA 21% inversión del sujeto pasivo",
    'isp21_neg': "IVA 21% ISP (deducible)",
    'untagged0': "IVA 0%",
    'iva21_re': "IVA 21% + recargo de equivalencia",
    }
#: the VERI*FACTU company and the taxes it charges (name, rate, SII key)
VERIFACTU_COMPANY = "VERIFACTU DEMO SL"
VERIFACTU_TAXES = {
    'iva21': ("IVA 21%", Decimal('0.21'), 'S1'),
    'iva10': ("IVA 10%", Decimal('0.10'), 'S1'),
    'exempt': ("IVA exento (art. 20)", Decimal('0'), 'E1'),
    'intra': ("IVA 0% entrega intracomunitaria", Decimal('0'), 'E5'),
    }
AR_PARTY_NAMES = {
    'ri': "Distribuidora del Sur SA",
    'mono': "Taller Ramírez (monotributo)",
    'unregistered': "Comercial Fantasma SRL",
    'final': "Consumidor Final",
    'dni': "María González",
    }


def number_invoices(company, prefix):
    "Readable invoice numbers: <prefix>-<year>-0001"
    from trytond.pool import Pool
    pool = Pool()
    FiscalYear = pool.get('account.fiscalyear')
    Sequence = pool.get('ir.sequence.strict')
    sequences = set()
    for fiscalyear in FiscalYear.search([('company', '=', company)]):
        for line in fiscalyear.invoice_sequences:
            sequences.update([line.out_invoice_sequence,
                    line.out_credit_note_sequence, line.in_invoice_sequence,
                    line.in_credit_note_sequence])
    Sequence.write(list(sequences), {
            'prefix': prefix + '-${year}-', 'padding': 4})


def create_spain(sandbox):
    "The Spanish company, its SII configuration and books"
    from tests import sii_case
    from trytond.pool import Pool
    pool = Pool()
    Currency = pool.get('currency.currency')
    Tax = pool.get('account.tax')
    euro, = Currency.create([{
                'name': "Euro", 'code': 'EUR', 'symbol': '€',
                'rates': [('create', [{
                                'date': dt.date(2000, 1, 1),
                                'rate': Decimal(1)}])],
                }])
    nif = sandbox.identity('es_company').tax_id
    base = sii_case.create_sii_base(nif, currency=euro)
    Identifier = pool.get('party.identifier')
    Identifier.write(
        Identifier.search([('party', '=', base['parties']['bad'])]),
        {'code': BAD_NIF})
    for name, tax_id in base['taxes'].items():
        Tax.write([Tax(tax_id)], {
                'name': TAX_NAMES.get(name, name),
                'description': TAX_NAMES.get(name, name),
                })
    number_invoices(base['company'], 'ES')
    base['configuration'] = sii_case.setup_configuration(base, sandbox)
    return base


def create_verifactu(sandbox, spain):
    """The company on VERI*FACTU: the NIF of the sandbox's es_other
    certificate, its own books and taxes, the Spanish company's customers
    and products"""
    from tests import tools
    from tests.verifactu_case import setup_configuration
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    pool = Pool()
    Company = pool.get('company.company')
    Tax = pool.get('account.tax')
    euro = Company(spain['company']).currency
    company = create_company(name=VERIFACTU_COMPANY, currency=euro)
    company.party.identifiers = [{'type': 'es_vat',
            'code': sandbox.identity('es_other').tax_id}]
    company.party.save()
    company.cancel_invoice_out = True
    company.save()
    accounts = tools.setup_books(company)
    base = dict(spain, company=company.id, revenue=accounts['revenue'].id,
        expense=accounts['expense'].id)
    with set_company(company):
        chart_tax, = Tax.search([('company', '=', company.id)], limit=1)
        taxes = Tax.create([{
                    'name': name, 'description': name,
                    'type': 'percentage', 'rate': rate,
                    'company': company.id, 'sii_tax_key': key,
                    'invoice_account': chart_tax.invoice_account.id,
                    'credit_note_account': chart_tax.credit_note_account.id,
                    } for name, rate, key in VERIFACTU_TAXES.values()])
        # the products' category gets this company's accounts too
        Product = pool.get('product.product')
        Category = pool.get('product.category')
        category = Product(spain['products']['goods']).account_category
        Category.write([category], {
                'account_revenue': accounts['revenue'].id,
                'account_expense': accounts['expense'].id,
                })
    base['taxes'] = dict(zip(VERIFACTU_TAXES, (t.id for t in taxes)))
    number_invoices(company, 'VF')
    base['configuration'] = setup_configuration(base, sandbox,
        certificate='verifactu')
    return base


def post_verifactu_invoices(base):
    """Customer invoices and a credit note; return the number of the one
    the AEAT will reject and its id"""
    from tests import ar_case, sii_case

    def post(lines, **kwargs):
        return sii_case.create_invoice(base, lines, **kwargs)
    first = post([('1500', ['iva21'], 'service'),
            ('240', ['iva10'], 'goods')], party='es',
        description="Proyecto de implantación")
    post([('32.90', ['iva21'], 'goods')], party='plain',
        description="Venta en tienda (factura simplificada)")
    post([('1800', ['intra'], 'goods')], party='eu',
        description="Entrega intracomunitaria")
    rejected = post([('450', ['exempt'], 'service')], party='es',
        description="Formación (exenta)")
    ar_case.credit_invoice(first.id)
    return rejected.number, rejected.id


def reject_verifactu_number(sandbox, number):
    """The sandbox AEAT answers 1100 for this invoice number (as the AEAT
    does for a wrong field), until the demo corrects it"""
    sandbox.set_option('verifactu', 'reject_numbers', [number])
    # the demo does not wait the AEAT's 60 s between two requests
    sandbox.set_option('verifactu', 'wait', 0)


def correct_verifactu_invoice(invoice_id):
    """Reschedule the rejected submission: a new record with
    Subsanacion=S and RechazoPrevio=S (an "alta por rechazo")"""
    from trytond.pool import Pool
    Submission = Pool().get('account.einvoice.submission')
    Submission.reschedule(Submission.search([
                ('invoice', '=', invoice_id),
                ('state', '=', 'rejected'),
                ]))


def create_argentina(sandbox):
    "The Argentine company, its point of sale and AFIP configuration"
    from tests import ar_case
    from trytond.pool import Pool
    Party = Pool().get('party.party')
    base = ar_case.create_base()
    for key, name in AR_PARTY_NAMES.items():
        Party.write([Party(base['parties'][key])], {'name': name})
    number_invoices(base['company'], 'AR')
    base['configuration'] = ar_case.setup_configuration(base, sandbox.url)
    return base


def create_users(companies):
    from trytond.pool import Pool
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    account = ModelData.get_id('account', 'group_account')
    admin = ModelData.get_id('account', 'group_account_admin')
    for login, (name, administrator) in USERS.items():
        User.create([{
                    'login': login,
                    'name': name,
                    'password': PASSWORDS[login],
                    'groups': [('add',
                            [account, admin] if administrator else [account])],
                    'companies': [('add', companies)],
                    'company': companies[0],
                    }])
    # the Tryton administrator works in the Spanish company too
    admin_user, = User.search([('login', '=', 'admin')])
    User.write([admin_user], {'company': companies[0]})


def post_spanish_invoices(base):
    "Customer invoices of every kind, a refused one, a credit note, a bill"
    from tests import ar_case, sii_case

    def post(lines, **kwargs):
        return sii_case.create_invoice(base, lines, **kwargs).id
    consulting = post([('1200', ['iva21'], 'service'),
            ('350', ['iva10'], 'goods')], party='es',
        description="Implantación y materiales")
    post([('45.50', ['iva21'], 'goods')], party='plain',
        description="Venta en tienda (factura simplificada)")
    post([('2400', ['intra'], 'goods')], party='eu',
        description="Entrega intracomunitaria")
    post([('980', ['export'], 'goods')], party='foreign',
        description="Exportación")
    post([('600', ['iva21'], 'service')], party='bad',
        description="Mantenimiento mensual")
    ar_case.credit_invoice(consulting)
    post([('800', ['iva21'], 'goods')], party='supplier', type_='in',
        reference='PROV-2025/0042', description="Compra de material")


def post_argentine_invoices(base):
    "Facturas A and B, one in dollars; return the first one's id"
    from tests import ar_case

    def post(party, lines, **values):
        return ar_case.create_invoice(base, party=party, lines=[
                (Decimal(amount), taxes, quantity)
                for amount, taxes, quantity in lines], **values)
    first = post('ri', [('150000', ['iva21'], 1)],
        description="Consultoría")
    post('ri', [('80000', ['iva105'], 2), ('5000', ['iva21'], 1)],
        description="Equipos")
    post('mono', [('25000', ['iva21'], 1)], description="Servicio técnico")
    post('final', [('12000', ['iva21'], 1)], description="Venta mostrador")
    post('dni', [('30000', ['iva21'], 1)], description="Curso")
    post('ri', [('1200', ['iva21'], 1)], currency=base['usd'],
        description="Licencia anual (USD)")
    # AFIP does not know this CUIT (see reject_unregistered_cuit)
    post('unregistered', [('40000', ['iva21'], 1)],
        description="Asesoramiento")
    return first


def reject_unregistered_cuit(sandbox):
    "AFIP rejects the vouchers of this customer: its CUIT is not registered"
    from tests.ar_case import CUSTOMERS
    sandbox.set_option('afip_wsfe', 'unregistered_cuits',
        [CUSTOMERS['unregistered'][1]])


def invoice_number(invoice_id):
    from trytond.pool import Pool
    return Pool().get('account.invoice')(invoice_id).number


def post_argentine_credit_note(invoice_id):
    "A credit note refers to an authorized voucher (with its CAE)"
    from tests import ar_case
    return ar_case.credit_invoice(invoice_id)


# -- Saudi Arabia (ZATCA) ----------------------------------------------------

#: the one-time password the sandbox's Fatoora portal gives (option otp)
ZATCA_OTP = '123345'
SA_PARTY_NAMES = {
    'b2b': "Al-Noor Trading Co",
    'b2c': "Walk-in Customer",
    # a standard invoice to it is refused at posting: no national address
    'no_address': "Najd Contracting Est.",
    }


def create_saudi(sandbox):
    """The Saudi company (the VAT number of the sandbox's sa_company
    certificate), its taxes with ZATCA's categories, its customers and its
    EGS unit"""
    from tests import zatca_case
    from trytond.pool import Pool
    Party = Pool().get('party.party')
    base = zatca_case.create_zatca_base(
        sandbox.identity('sa_company').tax_id)
    for key, name in SA_PARTY_NAMES.items():
        Party.write([Party(base['parties'][key])], {'name': name})
    number_invoices(base['company'], 'SA')
    base['configuration'] = zatca_case.setup_configuration(base, sandbox,
        unit='RYD-1', certificate='zatca')
    return base


def onboard_saudi_unit(configuration_id):
    """What the Onboard wizard runs with the portal's one-time password:
    key and CSR, compliance credential, compliance checks, production
    credential; return the steps done"""
    from trytond.modules.account_einvoice.onboarding import OnboardingRunner
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    record = OnboardingRunner(
        Configuration(configuration_id), {'otp': ZATCA_OTP}).run()
    return record.done


def post_saudi_standard_invoice(base, database):
    """A standard (B2B) invoice posted as the client posts it: the
    transaction commits, then the task it queued clears the invoice with
    ZATCA at once; return the state of its submission"""
    from tests import tools
    from tests.zatca_case import create_invoice
    from trytond.transaction import Transaction
    from trytond.worker import run_task
    tasks = Transaction().tasks
    tasks.clear()
    invoice = tools.call(create_invoice, base,
        [('1500', ['vat15']), ('240', 3, ['vat15'])], party='b2b',
        description="Supply of shelving", company=base['company'])
    while tasks:
        run_task(database, tasks.pop())

    def state():
        from trytond.pool import Pool
        Submission = Pool().get('account.einvoice.submission')
        submission, = Submission.search([('invoice', '=', invoice)])
        return submission.state
    return tools.call(state, commit=False)


def post_saudi_simplified_invoices(base):
    "Simplified (B2C) invoices, reported by the cron within 24 hours"
    from tests.zatca_case import create_invoice
    create_invoice(base, [('45.50', 2, ['vat15']), ('19.99', ['vat15'])],
        party='b2c', description="Shop sale")
    create_invoice(base, [('100', ['vat15'])], party='b2c', currency='USD',
        description="Online sale (USD)")


def draft_saudi_refused_invoice(base):
    """A standard invoice to a customer without national address: a draft
    (posting it is refused, see post_refused)"""
    from tests.zatca_case import create_invoice
    return create_invoice(base, [('800', ['vat15'])], party='no_address',
        post=False, zatca_transaction='standard',
        description="Site survey")


def post_refused(invoice_id):
    "Try to post the invoice; return the refusal's message (or None)"
    from trytond.exceptions import UserError
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Invoice = Pool().get('account.invoice')
    try:
        Invoice.post([Invoice(invoice_id)])
    except UserError as error:
        Transaction().rollback()
        return error.message
    return None
