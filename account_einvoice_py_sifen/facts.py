# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What a posted customer invoice says to SIFEN (:mod:`.invoice_data`).

SIFEN writes amounts IVA included: each line's total is its untaxed
amount plus its IVA rounded in the invoice's currency, so the document
adds up to what Tryton posted when taxes are rounded per line
(:mod:`.rules` refuses the invoice otherwise).  ``errors`` holds what
cannot even be put in a document (a line without its IVA, a tax SIFEN
has no rate for)."""
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from trytond.modules.account_einvoice.invoice import document_kind, rate_to
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.pool import Pool

from .invoice_data import (
    CREDIT_NOTE, DEBIT_NOTE, INVOICE, PARTLY_TAXED, DocumentData,
    InstalmentData, IssuerData, LineData, ReceiverData)
from .party import IDENTITY_DOCUMENTS

MODULE = 'account_einvoice_py_sifen'
ASUNCION = ZoneInfo('America/Asuncion')
#: SET's measure units (Unidades_Medida_v141.xsd) of Tryton's usual ones
UNITS = {
    'u': (77, 'UNI'), 'unit': (77, 'UNI'), 'kg': (83, 'kg'),
    'g': (86, 'g'), 'm': (87, 'm'), 'l': (89, 'l'), 'h': (2166, 'h'),
    }
CURRENCY_NAMES = {'PYG': 'Guarani', 'USD': 'US Dollar', 'EUR': 'Euro',
    'BRL': 'Brazilian Real', 'ARS': 'Argentine Peso'}
#: the RUC of legal persons starts at 80,000,000; below it is the
#: identity card number of a natural person
LEGAL_PERSON_RUC = 80000000


def msg(name, **params):
    return LocalMessage(f'{MODULE}.{name}', **params)


def percent(rate):
    "A tax rate (0.10) as the percent SIFEN writes (10)"
    value = (Decimal(rate or 0) * 100).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral() else (
        value)


def split_ruc(code):
    "(ruc, check digit) of a RUC as Tryton keeps it ('80013884-8')"
    code = (code or '').replace('-', '').replace(' ', '').replace('.', '')
    if len(code) < 2:
        return None, None
    return code[:-1], code[-1]


def ruc_of(party):
    for identifier in party.identifiers or []:
        if identifier.type == 'py_vat' and identifier.code:
            return split_ruc(identifier.code)
    return None, None


def taxpayer_type(ruc):
    try:
        return 2 if int(ruc) >= LEGAL_PERSON_RUC else 1
    except (TypeError, ValueError):
        return None


def now_in_paraguay():
    return dt.datetime.now(ASUNCION).replace(microsecond=0, tzinfo=None)


def issue_moment(invoice_date, now=None):
    """dFeEmiDE of an invoice dated invoice_date, issued now: Paraguay's
    time that day, or the end of its day when it is already over in
    Paraguay (the company may work in another zone), or its start when it
    has not come yet"""
    now = now or now_in_paraguay()
    if invoice_date == now.date():
        return now
    if invoice_date < now.date():
        return dt.datetime.combine(invoice_date, dt.time(23, 59, 59))
    return dt.datetime.combine(invoice_date, dt.time(0, 0, 0))


def issuer_data(configuration):
    "The issuer of the unit's documents: the company at its first address"
    party = configuration.company.party
    address = party.address_get()
    ruc, dv = ruc_of(party)
    phone = party.phone or ''
    email = party.email or ''
    return IssuerData(
        name=(party.name or '').strip(),
        ruc=ruc, ruc_dv=dv,
        taxpayer_type=int(configuration.sifen_taxpayer_type or 0) or (
            taxpayer_type(ruc)),
        address=_street(address),
        house_number=(address.building_number if address else None) or '0',
        department=int(configuration.sifen_department or 0) or None,
        department_name=dict(configuration.fields_get(
                ['sifen_department'])['sifen_department']['selection']).get(
            configuration.sifen_department),
        district=configuration.sifen_district,
        district_name=configuration.sifen_district_name,
        city=configuration.sifen_city,
        city_name=configuration.sifen_city_name,
        phone=''.join(c for c in phone if c.isdigit() or c in '+-() ')
        .strip() or None,
        email=email.strip() or None,
        activity_code=configuration.sifen_activity_code,
        activity_name=configuration.sifen_activity_name,
        timbrado=configuration.sifen_timbrado,
        timbrado_start=configuration.sifen_timbrado_start,
        establishment=configuration.sifen_establishment or '001',
        point=configuration.sifen_point or '001',
        sources={
            'name': ('party.party', 'name'),
            'ruc': ('party.party', 'identifiers'),
            'ruc_dv': ('party.party', 'identifiers'),
            'address': ('party.address', 'street'),
            'phone': ('party.party', 'phone'),
            'email': ('party.party', 'email'),
            'department': ('account.einvoice.configuration',
                'sifen_department'),
            'city': ('account.einvoice.configuration', 'sifen_city'),
            'city_name': ('account.einvoice.configuration',
                'sifen_city_name'),
            'activity_code': ('account.einvoice.configuration',
                'sifen_activity_code'),
            'activity_name': ('account.einvoice.configuration',
                'sifen_activity_name'),
            'timbrado': ('account.einvoice.configuration',
                'sifen_timbrado'),
            'timbrado_start': ('account.einvoice.configuration',
                'sifen_timbrado_start'),
            })


def _street(address):
    if not address:
        return None
    return (address.street_name
        or (address.street_unstructured or '').split('\n')[0]
        or None)


def receiver_data(invoice):
    party = invoice.party
    address = invoice.invoice_address
    country = address.country if address and address.country else None
    foreign = bool(country and country.code != 'PY')
    ruc, dv = ruc_of(party)
    name = ((address.party_name if address and address.party_name else '')
        or party.name or '').strip()
    data = ReceiverData(
        name=name,
        nature=1 if ruc and not foreign else 2,
        operation_type=4 if foreign else (1 if ruc else 2),
        country=(country.code3 if country and country.code3 else 'PRY'),
        country_name=(country.name if country else 'Paraguay'),
        address=_street(address),
        house_number=(address.building_number if address else None),
        phone=party.phone or None,
        email=party.email or None,
        sources={
            'name': ('party.party', 'name'),
            'ruc': ('party.party', 'identifiers'),
            'ruc_dv': ('party.party', 'identifiers'),
            'id_number': ('party.party', 'identifiers'),
            'address': ('party.address', 'street'),
            'country': ('party.address', 'country'),
            })
    if data.nature == 1:
        data.ruc, data.ruc_dv = ruc, dv
        data.taxpayer_type = taxpayer_type(ruc)
    else:
        for identifier in party.identifiers or []:
            if identifier.type in IDENTITY_DOCUMENTS and identifier.code:
                data.id_type = IDENTITY_DOCUMENTS[identifier.type]
                data.id_number = identifier.code.strip()
                break
        else:
            if ruc:
                # a foreign receiver known by a RUC: "other document"
                data.id_type, data.id_number = 9, f'{ruc}-{dv}'
            else:
                # innominado: a consumer who gives no identity
                data.id_type, data.id_number = 5, '0'
    return data


def cdc_of(invoice):
    "The CDC of the DE SIFEN holds for invoice, or None"
    Submission = Pool().get('account.einvoice.submission')
    submissions = Submission.search([
            ('invoice', '=', invoice.id),
            ('configuration.service', '=', 'py_sifen'),
            ], limit=1, order=[('id', 'DESC')])
    for submission in submissions:
        return held_cdc(submission)
    return None


def held_cdc(submission):
    "The CDC of the DE of submission: its reference, else its document's"
    if submission.reference:
        return submission.reference
    for document in submission.documents:
        if document.kind == 'de' and document.filename:
            return document.filename.split('.')[0]
    return None


class SifenInvoice:
    "The SIFEN view of one posted customer invoice"

    def __init__(self, invoice, configuration):
        self.invoice = invoice
        self.errors = []
        kind, sign = document_kind(invoice, invoice.sifen_debit_note)
        type_ = {'credit_note': CREDIT_NOTE, 'debit_note': DEBIT_NOTE,
            'invoice': INVOICE}[kind]
        currency = invoice.currency.code
        data = self.data = DocumentData(
            type=type_,
            number=None,
            issued=issue_moment(invoice.invoice_date),
            issuer=issuer_data(configuration),
            receiver=receiver_data(invoice),
            lines=[],
            currency=currency,
            currency_name=CURRENCY_NAMES.get(
                currency, invoice.currency.name),
            reference=invoice.rec_name,
            total=invoice.total_amount * sign,
            tax_total=invoice.tax_amount * sign,
            sources={name: ('account.invoice', field) for name, field in [
                    ('issued', 'invoice_date'), ('currency', 'currency'),
                    ('rate', 'currency'), ('condition', 'payment_term'),
                    ('instalments', 'payment_term'),
                    ('credit_days', 'payment_term'),
                    ('associated_cdc', 'sifen_associated_invoice'),
                    ('reason', 'sifen_reason'), ('lines', 'lines'),
                    ('total', 'total_amount'), ('tax_total', 'tax_amount'),
                    ]})
        if currency != 'PYG':
            data.rate = self._rate(invoice)
        data.transaction_type = 2 if all(
            line.product and line.product.type == 'service'
            for line in invoice.lines if line.type == 'line') else 1
        if type_ == INVOICE:
            self._payment(invoice)
        else:
            data.associated_cdc = self._associated(invoice)
            data.reason = int(invoice.sifen_reason or 0) or (
                2 if type_ == CREDIT_NOTE else 8)
        self._lines(invoice, sign)

    def _rate(self, invoice):
        rate = rate_to(invoice, 'PYG')
        if rate is None:
            self.errors.append(msg('msg_pyg_missing',
                    invoice=self.invoice.rec_name))
            return None
        return rate.quantize(Decimal('0.0001'))

    def _payment(self, invoice):
        data = self.data
        terms = []
        if invoice.payment_term:
            terms = invoice.payment_term.compute(
                invoice.total_amount, invoice.currency, invoice.invoice_date)
        later = [(d, a) for d, a in terms if d and d > invoice.invoice_date]
        if not later:
            data.condition = 1
            return
        data.condition = 2
        if len(terms) == 1:
            data.credit_days = (terms[0][0] - invoice.invoice_date).days
        else:
            data.instalments = [InstalmentData(amount=a, due_date=d)
                for d, a in terms]

    def _associated(self, invoice):
        origins = []
        if invoice.sifen_associated_invoice:
            origins.append(invoice.sifen_associated_invoice)
        for line in invoice.lines:
            origin = getattr(line, 'origin', None)
            if (origin and getattr(origin, '__name__', '')
                    == 'account.invoice.line' and origin.invoice
                    and origin.invoice not in origins):
                origins.append(origin.invoice)
        for origin in origins:
            cdc = cdc_of(origin)
            if cdc:
                return cdc
        return None

    def _tax(self, line):
        "(tax, rate, affectation, proportion) of the line's IVA"
        taxes = list(line.taxes)
        if len(taxes) != 1:
            self.errors.append(msg('msg_line_tax_count',
                    invoice=self.invoice.rec_name, line=line.rec_name,
                    count=len(taxes)))
            return None
        tax, = taxes
        if tax.type != 'percentage' or tax.rate is None:
            self.errors.append(msg('msg_tax_not_percentage',
                    invoice=self.invoice.rec_name, tax=tax.rec_name))
            return None
        affectation = tax.sifen_affectation_code()
        proportion = tax.sifen_taxed_proportion()
        rate = percent(tax.rate)
        if affectation == PARTLY_TAXED and proportion:
            rate = percent(tax.rate * 100 / proportion)
        return tax, rate, affectation, proportion

    def _lines(self, invoice, sign):
        currency = invoice.currency
        for line in invoice.lines:
            if line.type != 'line':
                continue
            found = self._tax(line)
            if found is None:
                continue
            tax, rate, affectation, proportion = found
            base = line.amount * sign
            iva = currency.round(base * tax.rate)
            total = base + iva
            quantity = abs(Decimal(str(line.quantity or 0)))
            unit, unit_name = UNITS.get(
                (line.unit.symbol or '').lower() if line.unit else 'u',
                (77, 'UNI'))
            price = (total / quantity).quantize(Decimal('0.00000001')) \
                if quantity else total
            if affectation == 1:
                taxed, exempt = base, Decimal(0)
            elif affectation == PARTLY_TAXED and rate:
                taxed = currency.round(iva * 100 / rate)
                exempt = total - taxed - iva
            else:
                taxed, exempt, iva = Decimal(0), total, Decimal(0)
            self.data.lines.append(LineData(
                    code=(line.product.code if line.product
                        and line.product.code else str(len(
                                self.data.lines) + 1)),
                    description=(line.description or (
                            line.product.rec_name if line.product else '')
                        ).strip().split('\n')[0][:2000] or '-',
                    quantity=quantity,
                    unit=unit, unit_name=unit_name,
                    unit_price=price.normalize(),
                    total=total,
                    affectation=affectation,
                    rate=rate if affectation in {1, PARTLY_TAXED}
                    else Decimal(0),
                    proportion=proportion,
                    base=taxed, tax=iva, exempt_base=exempt,
                    source=line.rec_name))
