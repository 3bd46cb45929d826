# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What the SII needs to know about one invoice, computed once.

``SIIInvoice`` reads the invoice (taxes, lines, party) and produces the
identification, the amounts in company currency and the breakdown; the
XML is written by :mod:`.builder` from it, the local checks read its
``errors``."""
from collections import defaultdict
from decimal import Decimal

from trytond.i18n import gettext
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import customs
from .account import EXEMPT_KEYS
from .identification import identify

CENT = Decimal('0.01')
ZERO = Decimal(0)
MAX_AMOUNT = Decimal('999999999999.99')
# AEAT's threshold of Macrodato (absolute ImporteTotal)
MACRODATO = Decimal('100000000')
MAX_DETAILS = 6
# ClaveRegimenEspecialOTrascendencia and its two Adicional
MAX_OPERATION_KEYS = 3
SERVICES, GOODS = 'services', 'goods'


def round2(value):
    return (value or ZERO).quantize(CENT)


def sii_date(date):
    return date.strftime('%d-%m-%Y')


def period_of(invoice):
    "(Ejercicio, Periodo) of the invoice: the month of its accounting date"
    date = invoice.accounting_date or invoice.invoice_date
    return str(date.year), '%02d' % date.month


def book_of(invoice):
    return 'emitidas' if invoice.type == 'out' else 'recibidas'


def number_of(invoice):
    "The number the SII identifies the invoice by (the issuer's)"
    if invoice.type == 'out':
        return invoice.number
    return customs.document_number(invoice) or invoice.reference


def _split(value, weights):
    "Split value along weights (dict), the last part takes the rest"
    items = [(k, w) for k, w in weights.items() if w]
    if not items:
        items = list(weights.items())[:1]
    total = sum(w for _, w in items)
    if len(items) == 1 or not total:
        return {items[0][0]: value}
    result, remaining = {}, value
    for key, weight in items[:-1]:
        part = round2(value * weight / total)
        result[key] = part
        remaining -= part
    result[items[-1][0]] = remaining
    return result


class Detail:
    "One DetalleIVA: a rate with its base, quota and surcharge"
    __slots__ = ('key', 'rate', 'base', 'quota', 're_rate', 're_quota')

    def __init__(self, key, rate, base=ZERO, quota=ZERO, re_rate=None,
            re_quota=None):
        self.key = key
        self.rate = rate
        self.base = base
        self.quota = quota
        self.re_rate = re_rate
        self.re_quota = re_quota


class Block:
    "A breakdown block: subject details, exempt bases, not subject bases"

    def __init__(self):
        self.details = {}
        self.exempt = defaultdict(lambda: ZERO)
        self.not_subject = ZERO
        self.location = ZERO

    def add(self, key, rate, base, quota, re_rate=None, re_quota=None):
        if key in EXEMPT_KEYS:
            self.exempt[key] += base
        elif key == 'NS':
            self.not_subject += base
        elif key == 'NL':
            self.location += base
        else:
            index = (key, rate, re_rate)
            detail = self.details.get(index)
            if detail is None:
                detail = self.details[index] = Detail(key, rate,
                    re_rate=re_rate, re_quota=ZERO if re_rate else None)
            detail.base += base
            detail.quota += quota
            if re_quota is not None:
                detail.re_quota = (detail.re_quota or ZERO) + re_quota

    @property
    def subject_keys(self):
        return {d.key for d in self.details.values()}

    def total(self, skip_isp_quota=False):
        total = sum(self.exempt.values(), ZERO) + self.not_subject + (
            self.location)
        for detail in self.details.values():
            total += detail.base + (detail.re_quota or ZERO)
            if not (skip_isp_quota and detail.key == 'S2'):
                total += detail.quota
        return total


class SIIInvoice:
    "The SII view of one invoice"

    def __init__(self, invoice):
        self.invoice = invoice
        self.book = book_of(invoice)
        self.errors = []
        self._role_message = ('account_einvoice_es_sii.msg_role_customer'
            if self.book == 'emitidas'
            else 'account_einvoice_es_sii.msg_role_supplier')
        self.role = gettext(self._role_message)
        self.number = number_of(invoice)
        self.date = invoice.invoice_date
        self.period = period_of(invoice)
        self.type = invoice.sii_invoice_type
        self.counterpart = identify(invoice.party, self.role)
        customs.adapt(self)  # F5/F6/LC: number, date, counterpart
        self._converter = self._make_converter()
        self.blocks = {}
        self.excluded_amount = ZERO
        self.line_total = ZERO
        self._compute()
        self._own_isp_quota = self.isp_quota
        self.rectified_amounts = None
        self._rectified_total = ZERO
        if self.substitution:
            self._substitute()
        self._check()

    # -- identification ----------------------------------------------------
    @property
    def key_parts(self):
        return self.number, sii_date(self.date)

    @property
    def simplified(self):
        return self.type in {'F2', 'R5'}

    @property
    def split(self):
        """Goods and services are told apart for customers identified by
        IDOtro or by a NIF of a non-resident entity (starting with N), but
        not on simplified invoices (AEAT's rule for DesgloseTipoOperacion)"""
        counterpart = self.counterpart
        return (self.book == 'emitidas' and counterpart is not None
            and not self.simplified
            and (counterpart.foreign or counterpart.nif.startswith('N')))

    @property
    def operation_keys(self):
        """The distinct regime keys: the invoice's own first, then those
        of the reported taxes (01 for a tax without one) by decreasing
        base, then code"""
        invoice = self.invoice
        bases = defaultdict(lambda: ZERO)
        for tax_line in invoice.taxes:
            tax = tax_line.tax
            if (tax is None or tax.id in self._surcharges
                    or tax.sii_key() in {'', None}):
                continue
            bases[tax.sii_operation_key or '01'] += abs(tax_line.base or 0)
        keys = sorted(bases, key=lambda k: (-bases[k], k))
        if invoice.sii_operation_key:
            keys = [invoice.sii_operation_key] + [
                k for k in keys if k != invoice.sii_operation_key]
        return keys or ['01']

    @property
    def operation_key(self):
        return self.operation_keys[0]

    @property
    def external_reference(self):
        """RefExterna: our own number of the invoice, when it is not the
        number the SII identifies it by (received invoices)"""
        number = self.invoice.number
        if number and number != self.number:
            return number[:60]

    @property
    def operation_date(self):
        "FechaOperacion: only when it differs from the issue date"
        if '_operation_date' in self.__dict__:
            return self._operation_date
        date = getattr(self.invoice, 'sii_operation_date', None)
        if date and date != self.date:
            return date

    @operation_date.setter
    def operation_date(self, value):
        # VERI*FACTU reads the date from its own field
        self._operation_date = value

    @property
    def macrodato(self):
        if '_macrodato' in self.__dict__:
            return self._macrodato
        return abs(self.total) >= MACRODATO

    @macrodato.setter
    def macrodato(self, value):
        # VERI*FACTU decides it from its own total
        self._macrodato = value

    @property
    def description(self):
        invoice = self.invoice
        text = invoice.description
        if not text:
            text = ', '.join(filter(None, (
                        getattr(l, 'description', None)
                        for l in invoice.lines)))
        return (text or self.number or '-')[:500]

    @property
    def substitution(self):
        "Rectification by substitution (TipoRectificativa S)"
        return (self.type.startswith('R')
            and self.invoice.sii_rectification_type == 'S')

    @property
    def rectified_invoices(self):
        "The invoices a credit note corrects (through its lines' origin)"
        result = []
        if not self.type.startswith('R'):
            return result
        Line = Pool().get('account.invoice.line')
        for line in self.invoice.lines:
            origin = getattr(line, 'origin', None)
            if (isinstance(origin, Line) and origin.invoice
                    and origin.invoice not in result):
                result.append(origin.invoice)
        return result

    @property
    def rectified(self):
        "(number, date) of the invoices a credit note corrects"
        result = []
        for original in self.rectified_invoices:
            number = number_of(original)
            if (number and original.invoice_date
                    and (number, original.invoice_date) not in result):
                result.append((number, original.invoice_date))
        return result

    @property
    def registration_date(self):
        "FechaRegContable: when the invoice entered the books"
        invoice = self.invoice
        move = invoice.move
        date = None
        if move is not None:
            date = getattr(move, 'post_date', None) or move.date
        date = date or invoice.accounting_date or invoice.invoice_date
        return max(date, invoice.invoice_date)

    # -- amounts -----------------------------------------------------------
    def _make_converter(self):
        invoice = self.invoice
        company_currency = invoice.company.currency
        if invoice.currency == company_currency:
            return round2
        Currency = Pool().get('currency.currency')
        date = invoice.currency_date

        def convert(amount):
            with Transaction().set_context(date=date):
                return round2(Currency.compute(
                        invoice.currency, amount, company_currency))
        return convert

    def _category(self, line):
        if not self.split:
            return None
        product = getattr(line, 'product', None)
        if product is not None and product.type != 'service':
            return GOODS
        return SERVICES

    def _block(self, category):
        block = self.blocks.get(category)
        if block is None:
            block = self.blocks[category] = Block()
        return block

    def _compute(self):
        convert = self._converter
        invoice = self.invoice
        surcharges = set()
        for tax_line in invoice.taxes:
            tax = tax_line.tax
            if tax is not None and tax.sii_surcharge_tax:
                surcharges.add(tax.sii_surcharge_tax.id)
        self._surcharges = surcharges

        # the bases of each tax per category, from the lines
        weights = defaultdict(lambda: defaultdict(lambda: ZERO))
        for line in invoice.lines:
            if getattr(line, 'type', 'line') != 'line':
                continue
            amount = convert(line.amount)
            self.line_total += amount
            category = self._category(line)
            reported = False
            for tax in line.taxes:
                weights[tax.id][category] += amount or ZERO
                if tax.id in surcharges:
                    continue
                key = tax.sii_key()
                if key != '':
                    reported = True
            if not reported and self.customs:
                # the customs value offsetting the base, the duties
                self.excluded_amount += amount
            elif not reported:
                self._block(category).add('NS', None, amount, ZERO)

        main, surcharge_lines = [], []
        for tax_line in invoice.taxes:
            tax = tax_line.tax
            base, amount = convert(tax_line.base), convert(tax_line.amount)
            if tax is None:
                self.errors.append(LocalMessage(
                        'account_einvoice_es_sii.msg_tax_line_without_tax',
                        line=tax_line.description or ''))
                continue
            if tax.id in surcharges:
                surcharge_lines.append((tax, base, amount))
                continue
            key = tax.sii_key()
            if key == '':
                self.excluded_amount += amount
                continue
            if key is None:
                self.errors.append(LocalMessage(
                        'account_einvoice_es_sii.msg_tax_key_missing',
                        tax=tax.rec_name))
                continue
            main.append([tax, key, base, amount, None, None])

        for tax, base, amount in surcharge_lines:
            candidates = [m for m in main if m[0].sii_surcharge_tax == tax
                and m[4] is None]
            match = next((m for m in candidates if abs(m[2] - base) <= CENT),
                candidates[0] if candidates else None)
            if match is None:
                self.errors.append(LocalMessage(
                        'account_einvoice_es_sii.msg_surcharge_alone',
                        tax=tax.rec_name))
                continue
            match[4] = self._rate(tax)
            match[5] = amount

        for tax, key, base, amount, re_rate, re_quota in main:
            rate = self._rate(tax)
            bases = _split(base, weights.get(tax.id) or {None: base})
            if not self.split:
                bases = {None: base}
            amounts = _split(amount, {c: b for c, b in bases.items()})
            re_amounts = (_split(re_quota, {c: b for c, b in bases.items()})
                if re_quota is not None else {})
            for category, part in bases.items():
                self._block(category).add(key, rate, part,
                    amounts.get(category, ZERO), re_rate,
                    re_amounts.get(category))
        if not self.blocks:
            self._block(SERVICES if self.split else None).add(
                'NS', None, ZERO, ZERO)

    def _substitute(self):
        """Rectification by substitution: the breakdown states the amounts
        as corrected (the rectified invoices' plus this one's differences)
        and ImporteRectificacion those of the rectified invoices"""
        originals = [SIIInvoice(i) for i in self.rectified_invoices]
        if not originals:
            self.errors.append(LocalMessage(
                    'account_einvoice_es_sii.msg_substitution_without_origin'))
            return
        base = quota = re_quota = ZERO
        surcharge = False
        for original in originals:
            self.errors.extend(original.errors)
            self._rectified_total += original.total
            for category, block in original.blocks.items():
                if not self.split:
                    category = None
                elif category is None:
                    category = SERVICES
                target = self._block(category)
                for key, amount in block.exempt.items():
                    target.add(key, None, amount, ZERO)
                    base += amount
                for key, amount in [('NS', block.not_subject),
                        ('NL', block.location)]:
                    if amount:
                        target.add(key, None, amount, ZERO)
                        base += amount
                for detail in block.details.values():
                    target.add(detail.key, detail.rate, detail.base,
                        detail.quota, detail.re_rate, detail.re_quota)
                    base += detail.base
                    quota += detail.quota
                    if detail.re_quota is not None:
                        surcharge = True
                        re_quota += detail.re_quota
        self.rectified_amounts = (base, quota,
            re_quota if surcharge else None)

    @staticmethod
    def _rate(tax):
        if tax.type == 'percentage' and tax.rate is not None:
            return round2(abs(tax.rate) * 100)
        return None

    @property
    def total(self):
        "ImporteTotal: the sum of the breakdown"
        skip = self.book == 'recibidas'
        return sum((b.total(skip_isp_quota=skip)
                for b in self.blocks.values()), ZERO)

    @property
    def deductible(self):
        "CuotaDeducible of a received invoice"
        return sum((d.quota for b in self.blocks.values()
                for d in b.details.values()), ZERO)

    @property
    def isp_quota(self):
        return sum((d.quota for b in self.blocks.values()
                for d in b.details.values() if d.key == 'S2'), ZERO)

    # -- local checks ------------------------------------------------------
    def _check(self):
        invoice = self.invoice
        party = invoice.party.rec_name
        if not self.number:
            self.errors.append(LocalMessage(
                    'account_einvoice_es_sii.msg_supplier_number_missing'
                    if self.book == 'recibidas'
                    else 'account_einvoice_es_sii.msg_number_missing'))
        counterpart = self.counterpart
        if counterpart is not None and counterpart.error:
            self.errors.append(counterpart.error)
        elif counterpart is None and not self.simplified:
            self.errors.append(LocalMessage(
                    'account_einvoice_es_sii.msg_counterpart_missing',
                    role=LocalMessage(self._role_message), party=party,
                    type=self.type))
        keys = self.operation_keys
        if len(keys) > MAX_OPERATION_KEYS:
            self.errors.append(LocalMessage(
                    'account_einvoice_es_sii.msg_too_many_operation_keys',
                    keys=', '.join(keys)))
        if self.errors:
            return
        for block in self.blocks.values():
            if len(block.details) > MAX_DETAILS:
                self.errors.append(LocalMessage(
                        'account_einvoice_es_sii.msg_too_many_rates',
                        count=len(block.details)))
                return
        total = self.total
        if abs(total) > MAX_AMOUNT:
            self.errors.append(LocalMessage(
                    'account_einvoice_es_sii.msg_amount_too_large',
                    amount=total))
            return
        expected = self._converter(invoice.total_amount) - (
            self.excluded_amount) + self._rectified_total
        if self.book == 'recibidas':
            expected -= self._own_isp_quota
        tolerance = CENT if self._converter is round2 else Decimal(1)
        if abs(expected - total) > tolerance:
            self.errors.append(LocalMessage(
                    'account_einvoice_es_sii.msg_total_mismatch',
                    breakdown=total, total=expected))
