# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What a posted customer invoice says to ZATCA (:mod:`.invoice_data`).

Amounts are the invoice's own (Tryton's rounding): the rules
(:mod:`.rules`) refuse at posting an invoice whose figures ZATCA would
compute otherwise, so the document never disagrees with the accounts.
``errors`` holds what cannot even be put in a document (a line without
its VAT, a tax ZATCA has no category for)."""
from decimal import Decimal

from trytond.modules.account_einvoice.invoice import document_kind, rate_to
from trytond.modules.account_einvoice.local_message import LocalMessage

from .invoice_data import (
    CREDIT_NOTE, DEBIT_NOTE, INVOICE, SIMPLIFIED, STANDARD, AllowanceData,
    InvoiceData, LineData, PartyData)

MODULE = 'account_einvoice_sa_zatca'
#: the identifier types ZATCA reads as the party's other id, by preference
SELLER_IDS = ['crn', 'mom', 'mls', '700', 'sag', 'oth']
BUYER_IDS = ['tin', 'crn', 'mom', 'mls', '700', 'sag', 'nat', 'gcc', 'iqa',
    'pas', 'oth']
#: UN/ECE recommendation 20 codes of Tryton's usual units
UNITS = {
    'u': 'PCE', 'unit': 'PCE', 'kg': 'KGM', 'g': 'GRM', 'h': 'HUR',
    'min': 'MIN', 'm': 'MTR', 'km': 'KMT', 'l': 'LTR', 'd': 'DAY',
    'day': 'DAY', 'm²': 'MTK', 'm³': 'MTQ',
    }
CENT = Decimal('0.01')


def percent(rate):
    "A tax rate (0.15) as the percent ZATCA writes (15)"
    value = (Decimal(rate or 0) * 100).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral() else (
        value)


def msg(name, **params):
    return LocalMessage(f'{MODULE}.{name}', **params)


def identifier(party, types):
    "(scheme, code) of party's first identifier of types, in their order"
    found = {i.type: i.code for i in reversed(party.identifiers or [])
        if i.type}
    for type_ in types:
        code = found.get(f'sa_{type_}')
        if code:
            return type_.upper(), code.replace(' ', '')
    return None


def party_data(party, address, other_ids):
    vat = identifier(party, ['vat'])
    name = (party.name or '').strip()
    if party.arabic_name and party.arabic_name.strip():
        name = f'{party.arabic_name.strip()} | {name}'
    data = PartyData(
        name=name,
        vat=vat[1] if vat else None,
        other_id=identifier(party, other_ids),
        sources={
            'name': ('party.party', 'name'),
            'vat': ('party.party', 'identifiers'),
            'other_id': ('party.party', 'identifiers'),
            })
    if address:
        data.street = (address.street_name
            or (address.street_unstructured or '').split('\n')[0]
            or None)
        data.building = address.building_number or None
        data.additional_street = address.building_name or None
        data.additional_number = address.additional_number or None
        data.district = address.district or None
        data.city = address.city or None
        data.postal_code = address.postal_code or None
        data.subdivision = (address.subdivision.name
            if address.subdivision else None)
        data.country = address.country.code if address.country else None
        for name, field in [('street', 'street_name'),
                ('building', 'building_number'),
                ('additional_street', 'building_name'),
                ('additional_number', 'additional_number'),
                ('district', 'district'), ('city', 'city'),
                ('postal_code', 'postal_code'),
                ('subdivision', 'subdivision'), ('country', 'country')]:
            data.sources[name] = ('party.address', field)
    else:
        data.country = None
    return data


def seller_data(configuration):
    "The seller of the unit's invoices: the company, at its first address"
    party = configuration.company.party
    return party_data(party, party.address_get(), SELLER_IDS)


def transaction(invoice):
    "STANDARD or SIMPLIFIED"
    chosen = invoice.zatca_transaction
    if not chosen:
        identified = invoice.party_tax_identifier or (
            invoice.party.tax_identifier)
        chosen = 'standard' if identified else 'simplified'
    return STANDARD if chosen == 'standard' else SIMPLIFIED


def unit_code(line):
    if not line.unit:
        return 'PCE'
    return UNITS.get((line.unit.symbol or '').lower(), 'PCE')


def _sar_rate(invoice):
    rate = rate_to(invoice, 'SAR')
    if rate is None:
        return None, msg('msg_sar_currency_missing',
            invoice=invoice.rec_name)
    return rate, None


class ZatcaInvoice:
    "The ZATCA view of one posted customer invoice"

    def __init__(self, invoice, configuration):
        self.invoice = invoice
        self.errors = []
        kind, sign = document_kind(invoice, invoice.zatca_debit_note)
        type_code = {'credit_note': CREDIT_NOTE, 'debit_note': DEBIT_NOTE,
            'invoice': INVOICE}[kind]
        rate, problem = _sar_rate(invoice)
        if problem:
            self.errors.append(problem)
        data = self.data = InvoiceData(
            number=invoice.number,
            uuid=None,
            issue_date=invoice.invoice_date,
            issue_time=None,
            transaction=transaction(invoice),
            type_code=type_code,
            currency=invoice.currency.code,
            seller=seller_data(configuration),
            buyer=party_data(invoice.party, invoice.invoice_address,
                BUYER_IDS),
            rate_to_sar=rate or Decimal(1),
            posted_untaxed=invoice.untaxed_amount * sign,
            posted_tax=invoice.tax_amount * sign,
            posted_total=invoice.total_amount * sign,
            sources={
                'number': ('account.invoice', 'number'),
                'supply_date': ('account.invoice', 'zatca_supply_date'),
                'billing_references': (
                    'account.invoice', 'zatca_corrected_invoice'),
                'reason': ('account.invoice', 'zatca_reason'),
                'currency': ('account.invoice', 'currency'),
                })
        if invoice.invoice_address and invoice.invoice_address.party_name:
            data.buyer.name = invoice.invoice_address.party_name
        data.supply_date = invoice.zatca_supply_date or (
            invoice.invoice_date if data.transaction == STANDARD else None)
        if type_code in {CREDIT_NOTE, DEBIT_NOTE}:
            data.billing_references = self._corrected(invoice)
            data.reason = ((invoice.zatca_reason or invoice.description
                    or '').strip() or None)
        if invoice.description and type_code == INVOICE:
            data.note = invoice.description.strip()[:1000] or None
        self._lines(invoice, sign)

    @staticmethod
    def _corrected(invoice):
        if invoice.zatca_corrected_invoice:
            return [invoice.zatca_corrected_invoice.number]
        numbers = []
        for line in invoice.lines:
            origin = getattr(line, 'origin', None)
            if (origin and getattr(origin, '__name__', '')
                    == 'account.invoice.line' and origin.invoice
                    and origin.invoice.number
                    and origin.invoice.number not in numbers):
                numbers.append(origin.invoice.number)
        return numbers

    def _tax(self, line):
        "(category, rate, exemption code, reason) of the line's VAT"
        taxes = [t for t in line.taxes]
        label = line.rec_name
        if len(taxes) != 1:
            self.errors.append(msg('msg_line_tax_count',
                    invoice=self.invoice.rec_name, line=label,
                    count=len(taxes)))
            return None
        tax, = taxes
        if tax.type != 'percentage' or tax.rate is None:
            self.errors.append(msg('msg_tax_not_percentage',
                    invoice=self.invoice.rec_name, tax=tax.rec_name))
            return None
        rate = percent(tax.rate)
        category = tax.zatca_category or ('S' if rate > 0 else None)
        if not category:
            self.errors.append(msg('msg_tax_category_missing',
                    invoice=self.invoice.rec_name, tax=tax.rec_name))
            return None
        reason = tax.zatca_exemption_reason
        if not reason and tax.zatca_exemption_code:
            reason = dict(tax.fields_get(['zatca_exemption_code'])[
                    'zatca_exemption_code']['selection']).get(
                tax.zatca_exemption_code, '').split(' - ', 1)[-1]
        return category, rate, tax.zatca_exemption_code, reason or None

    def _lines(self, invoice, sign):
        data = self.data
        data.posted_taxes = []
        for tax_line in invoice.taxes:
            tax = tax_line.tax
            if not tax or tax.type != 'percentage':
                continue
            rate = percent(tax.rate)
            category = tax.zatca_category or ('S' if rate > 0 else None)
            data.posted_taxes.append((category, rate, tax_line.amount * sign,
                    f'{tax_line.rec_name} ({invoice.rec_name})'))
        number = 0
        for line in invoice.lines:
            if line.type != 'line':
                continue
            tax = self._tax(line)
            if tax is None:
                continue
            category, rate, code, reason = tax
            amount = line.amount * sign
            source = line.rec_name
            if amount < 0:
                data.allowances.append(AllowanceData(
                        reason=(line.description or '').strip()
                        or 'Discount',
                        amount=-amount, category=category, rate=rate,
                        exemption_code=code, exemption_reason=reason,
                        source=source))
                continue
            number += 1
            quantity = Decimal(str(line.quantity)) * sign
            data.lines.append(LineData(
                    id=str(number),
                    name=(line.description or (
                            line.product.rec_name if line.product else '')
                        ).strip().split('\n')[0][:1000],
                    quantity=quantity,
                    unit_code=unit_code(line),
                    price=line.unit_price,
                    amount=amount,
                    category=category, rate=rate,
                    exemption_code=code, exemption_reason=reason,
                    source=source))
