# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The ZATCA (KSA) and EN 16931 rules an InvoiceData can be checked against
before posting: what ZATCA would reject and local data decides.

:func:`check` needs no database: each Violation holds the rule id, the
field (a source of the data: ``(model, field)`` or a label) and the
ir.message of the module with its parameters; :func:`text` (with a pool)
writes it in the user's language.  Rule ids come from ZATCA's and CEN's
schematrons; a rule without an id (``rule`` None) names itself in the
message."""
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from trytond.modules.account_einvoice.local_message import field_label

from . import amounts
from .invoice_data import (
    CATEGORIES, CREDIT_NOTE, DEBIT_NOTE, INVOICE, STANDARD)

MODULE = 'account_einvoice_sa_zatca'
VAT = re.compile(r'3\d{13}3')
BUILDING = re.compile(r'\d{4}')
POSTAL_CODE = re.compile(r'\d{5}')
CURRENCY = re.compile(r'[A-Z]{3}')
ALPHANUMERIC = re.compile(r'[0-9A-Za-z]+')
SELLER_SCHEMES = ('CRN', 'MOM', 'MLS', '700', 'SAG', 'OTH')
BUYER_SCHEMES = ('TIN', 'CRN', 'MOM', 'MLS', '700', 'SAG', 'NAT', 'GCC',
    'IQA', 'PAS', 'OTH')
STANDARD_RATES = (Decimal(5), Decimal(15))
#: the exemption (exception) reason codes of each category (BR-KSA-CL-04)
EXEMPTION_CODES = {
    'E': ('VATEX-SA-29', 'VATEX-SA-29-7', 'VATEX-SA-30'),
    'O': ('VATEX-SA-OOS',),
    'Z': ('VATEX-SA-32', 'VATEX-SA-33', 'VATEX-SA-34-1', 'VATEX-SA-34-2',
        'VATEX-SA-34-3', 'VATEX-SA-34-4', 'VATEX-SA-34-5', 'VATEX-SA-35',
        'VATEX-SA-36', 'VATEX-SA-EDU', 'VATEX-SA-HEA', 'VATEX-SA-MLTRY',
        'VATEX-SA-DIPLOMAT'),
    }
#: the rule of a Z, E or O breakdown without reason code
MISSING_CODE_RULES = {'Z': 'BR-KSA-69', 'E': 'BR-KSA-23', 'O': 'BR-KSA-24'}
#: the rules on the rate of a line and of an allowance, per category
RATE_RULES = {
    'S': ('BR-S-05', 'BR-S-06'),
    'Z': ('BR-Z-05', 'BR-Z-06'),
    'E': ('BR-E-05', 'BR-E-06'),
    'O': ('BR-KSA-11', 'BR-KSA-12'),
    }
#: the rule of a breakdown tax differing from the posted one
TAX_RULES = {'S': 'BR-S-09', 'Z': 'BR-Z-09', 'E': 'BR-E-09', 'O': 'BR-O-09'}


@dataclass
class Violation:
    rule: str  # e.g. 'BR-KSA-40'; None: the message names the rule
    field: object  # (model, field name), a label or a data path
    message: str  # the ir.message id of the module (msg_zatca_…)
    params: dict = field(default_factory=dict)

    def text(self):
        "The message in the user's language (needs a pool)"
        return text(self)


def _source(sources, name, default):
    return sources.get(name) or default


def text(violation):
    "The Violation in the user's language: rule, field and detail"
    from trytond.i18n import gettext
    detail = gettext(f'{MODULE}.{violation.message}', **violation.params)
    return gettext(f'{MODULE}.msg_zatca_rule',
        rule=violation.rule or '-', field=field_label(violation.field),
        detail=detail)


def texts(violations):
    "All the violations, one line each"
    return '\n'.join(text(v) for v in violations)


class _Checker:
    def __init__(self, data):
        self.data = data
        self.violations = []

    def add(self, rule, source, message, **params):
        self.violations.append(Violation(rule, source, message, params))

    def party_source(self, role, party, name):
        return _source(party.sources if party else {}, name, f'{role}.{name}')

    def line_source(self, line, name):
        return line.source or f'lines[{line.id}].{name}'

    def allowance_source(self, index, allowance, name):
        return allowance.source or f'allowances[{index}].{name}'

    # The document

    def document(self):
        data = self.data
        sources = data.sources
        if not data.currency or not CURRENCY.fullmatch(data.currency):
            self.add('BR-KSA-CL-01', _source(sources, 'currency', 'currency'),
                'msg_zatca_currency', value=data.currency or '')
        if not data.lines:
            self.add('BR-16', _source(sources, 'lines', 'lines'),
                'msg_zatca_no_lines')
        standard = data.transaction[:2] == STANDARD[:2]
        if standard and data.type_code == INVOICE and not data.supply_date:
            self.add('BR-KSA-15', _source(sources, 'supply_date',
                    'supply_date'), 'msg_zatca_supply_date')
        if data.supply_end_date:
            if not data.supply_date:
                self.add('BR-KSA-35', _source(sources, 'supply_date',
                        'supply_date'), 'msg_zatca_supply_date')
            elif data.supply_end_date < data.supply_date:
                self.add('BR-KSA-36', _source(sources, 'supply_end_date',
                        'supply_end_date'), 'msg_zatca_supply_end_date')
        if data.type_code in {CREDIT_NOTE, DEBIT_NOTE}:
            if not any(data.billing_references):
                self.add('BR-KSA-56', _source(sources, 'billing_references',
                        'billing_references'), 'msg_zatca_billing_reference')
            if not (data.reason or '').strip():
                self.add('BR-KSA-17', _source(sources, 'reason', 'reason'),
                    'msg_zatca_reason')

    # The parties

    def seller(self):
        seller = self.data.seller

        def source(name):
            return self.party_source('seller', seller, name)
        if not seller.vat:
            self.add('BR-KSA-39', source('vat'), 'msg_zatca_vat_missing')
        elif not VAT.fullmatch(seller.vat):
            self.add('BR-KSA-40', source('vat'), 'msg_zatca_vat',
                value=seller.vat)
        if not (seller.name or '').strip():
            self.add('BR-06', source('name'), 'msg_zatca_name')
        elif len(seller.name.encode('utf-8')) > 255:
            self.add(None, source('name'), 'msg_zatca_qr_seller_name')
        scheme, value = seller.other_id or (None, None)
        if (scheme not in SELLER_SCHEMES or not value
                or not ALPHANUMERIC.fullmatch(value)):
            self.add('BR-KSA-08', source('other_id'), 'msg_zatca_seller_id',
                schemes=', '.join(SELLER_SCHEMES))
        for name in ['street', 'building', 'postal_code', 'city', 'district']:
            if not (getattr(seller, name) or '').strip():
                self.add('BR-KSA-09', source(name), 'msg_zatca_address')
        if seller.building and not BUILDING.fullmatch(seller.building):
            self.add('BR-KSA-37', source('building'), 'msg_zatca_building',
                value=seller.building)
        if (seller.postal_code
                and not POSTAL_CODE.fullmatch(seller.postal_code)):
            self.add('BR-KSA-66', source('postal_code'),
                'msg_zatca_postal_code', value=seller.postal_code)
        if seller.country != 'SA':
            self.add('BR-KSA-09', source('country'), 'msg_zatca_address')

    def buyer(self):
        data, buyer = self.data, self.data.buyer

        def source(name):
            return self.party_source('buyer', buyer, name)
        standard = data.transaction[:2] == STANDARD[:2]
        if buyer and buyer.vat and not VAT.fullmatch(buyer.vat):
            self.add('BR-KSA-44', source('vat'), 'msg_zatca_vat',
                value=buyer.vat)
        if buyer and buyer.other_id and buyer.other_id[1]:
            scheme, value = buyer.other_id
            if (scheme not in BUYER_SCHEMES
                    or not ALPHANUMERIC.fullmatch(value)):
                self.add('BR-KSA-14', source('other_id'),
                    'msg_zatca_buyer_id', schemes=', '.join(BUYER_SCHEMES))
        if not standard:
            return self.simplified_buyer()
        if buyer is None or not (buyer.name or '').strip():
            self.add('BR-KSA-42', source('name'), 'msg_zatca_name')
        if buyer is None:
            self.add('BR-KSA-81', source('other_id'),
                'msg_zatca_buyer_identifier')
            self.add('BR-10', source('street'), 'msg_zatca_buyer_address')
            return
        if not buyer.vat and not (buyer.other_id and buyer.other_id[1]):
            self.add('BR-KSA-81', source('other_id'),
                'msg_zatca_buyer_identifier')
        for name in ['street', 'city', 'country']:
            if not (getattr(buyer, name) or '').strip():
                self.add('BR-KSA-10', source(name),
                    'msg_zatca_buyer_address')
        if buyer.country == 'SA':
            for name in ['building', 'postal_code', 'district']:
                if not (getattr(buyer, name) or '').strip():
                    self.add('BR-KSA-63', source(name),
                        'msg_zatca_buyer_address_sa')
            if (buyer.postal_code
                    and not POSTAL_CODE.fullmatch(buyer.postal_code)):
                self.add('BR-KSA-67', source('postal_code'),
                    'msg_zatca_postal_code', value=buyer.postal_code)

    def simplified_buyer(self):
        "BR-KSA-25: the buyer's name for education and health exemptions"
        buyer = self.data.buyer
        codes = {item.exemption_code
            for item in self.data.lines + self.data.allowances}
        if codes & {'VATEX-SA-EDU', 'VATEX-SA-HEA'} and (
                buyer is None or not (buyer.name or '').strip()):
            self.add('BR-KSA-25', self.party_source('buyer', buyer, 'name'),
                'msg_zatca_name')

    # Lines, allowances and categories

    def category(self, item, source, rate_rule):
        if item.category not in CATEGORIES:
            self.add('BR-KSA-18', source, 'msg_zatca_category',
                value=item.category or '')
            return
        rate = Decimal(item.rate if item.rate is not None else -1)
        if item.category == 'S':
            if rate <= 0:
                self.add(rate_rule, source, 'msg_zatca_rate_standard',
                    rate=str(rate))
            elif rate not in STANDARD_RATES:
                self.add('BR-KSA-84', source, 'msg_zatca_rate_standard',
                    rate=str(rate))
            if item.exemption_code or item.exemption_reason:
                self.add('BR-S-10', source, 'msg_zatca_exemption_standard')
            return
        if rate != 0:
            self.add(rate_rule, source, 'msg_zatca_rate_zero',
                category=item.category, rate=str(rate))
        if not item.exemption_code:
            self.add(MISSING_CODE_RULES[item.category], source,
                'msg_zatca_exemption_code', category=item.category)
        elif item.exemption_code not in EXEMPTION_CODES[item.category]:
            self.add('BR-KSA-CL-04', source, 'msg_zatca_exemption_code',
                category=item.category)
        if not (item.exemption_reason or '').strip():
            self.add('BR-KSA-83', source, 'msg_zatca_exemption_reason',
                category=item.category)

    def lines(self):
        for line in self.data.lines:
            if not (line.name or '').strip():
                self.add('BR-25', self.line_source(line, 'name'),
                    'msg_zatca_line_name')
            if not line.quantity:
                self.add('BR-22', self.line_source(line, 'quantity'),
                    'msg_zatca_line_quantity')
            elif line.quantity < 0 or line.amount < 0 or line.price < 0:
                self.add('BR-KSA-F-04', self.line_source(line, 'quantity'),
                    'msg_zatca_negative')
            elif abs(amounts.quantize(line.quantity * line.price)
                    - line.amount) > amounts.CENT:
                self.add('BR-KSA-EN16931-11',
                    self.line_source(line, 'amount'), 'msg_zatca_line_amount',
                    amount=str(line.amount), quantity=str(line.quantity),
                    price=str(line.price))
            self.category(line, self.line_source(line, 'category'),
                RATE_RULES.get(line.category, ('BR-KSA-18',))[0])
        for index, allowance in enumerate(self.data.allowances):
            if allowance.amount < 0:
                self.add('BR-KSA-F-04', self.allowance_source(
                        index, allowance, 'amount'), 'msg_zatca_negative')
            self.category(allowance,
                self.allowance_source(index, allowance, 'category'),
                RATE_RULES.get(allowance.category, (None, 'BR-KSA-18'))[1])

    # The figures of the posted invoice

    def posted(self, totals):
        data = self.data
        sources = data.sources
        if data.posted_taxes is not None:
            self.posted_categories(totals, data.posted_taxes)
        figures = [
            ('BR-CO-13', 'posted_untaxed', totals.tax_exclusive,
                'msg_zatca_posted_untaxed'),
            ('BR-CO-14', 'posted_tax', totals.tax_total,
                'msg_zatca_posted_total'),
            ('BR-CO-15', 'posted_total', totals.payable,
                'msg_zatca_posted_total'),
            ]
        for rule, name, document, message in figures:
            posted = getattr(data, name)
            if posted is not None and amounts.quantize(posted) != document:
                self.add(rule, _source(sources, name, name), message,
                    document=amount(document), posted=amount(posted))

    def posted_categories(self, totals, posted_taxes):
        "BR-S-09 (…): each category's tax against Tryton's for it"
        document = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for category in totals.categories:
            key = (category.category, Decimal(category.rate))
            document[key][0] += category.base
            document[key][1] += category.tax
        posted, posted_sources = defaultdict(Decimal), {}
        for category, rate, tax_amount, source in posted_taxes:
            key = (category, Decimal(rate))
            posted[key] += Decimal(tax_amount)
            posted_sources.setdefault(key, source)
        for key in list(document) + [k for k in posted if k not in document]:
            base, tax = document[key]
            if amounts.quantize(posted[key]) != tax:
                category, rate = key
                self.add(TAX_RULES.get(category, 'BR-S-09'),
                    posted_sources.get(key) or _source(
                        self.data.sources, 'posted_tax', 'posted_tax'),
                    'msg_zatca_posted_category', category=category,
                    rate=str(rate), base=amount(base), document=amount(tax),
                    posted=amount(posted[key]))


def amount(value):
    return f'{amounts.quantize(value):f}'


def check(data):
    """The rules data (InvoiceData) breaks: [Violation]"""
    checker = _Checker(data)
    checker.document()
    checker.seller()
    checker.buyer()
    checker.lines()
    if checker.violations:
        # totals of wrong data would only repeat the same mistakes
        return checker.violations
    checker.posted(amounts.totals(data))
    return checker.violations
