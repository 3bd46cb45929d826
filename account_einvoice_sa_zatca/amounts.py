# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The totals of a ZATCA document, computed the way ZATCA checks them.

Each VAT category's tax is its taxable base times its rate, rounded once
(BR-S-09), and the document totals are sums of those rounded figures
(BR-CO-10 … BR-CO-16): the totals rules hold by construction.  The line
taxes (KSA-11) are rounded per line and only shown on the lines (BR-KSA-51);
their sum may differ from the categories' by a few halalas, which is what
:mod:`.rules` compares with the posted invoice."""
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal('0.01')


def quantize(amount):
    "amount rounded half up to 2 decimals"
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def tax(base, rate):
    "round(base × rate / 100, 2)"
    return quantize(Decimal(base) * Decimal(rate) / 100)


def line_tax(line):
    "The line VAT amount (KSA-11)"
    return tax(line.amount, line.rate)


def line_rounding(line):
    "The line amount with VAT (KSA-12, RoundingAmount)"
    return quantize(line.amount) + line_tax(line)


@dataclass
class Category:
    "One VAT breakdown (BG-23)"
    category: str
    rate: Decimal
    exemption_code: str = None
    exemption_reason: str = None
    base: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)


def category_key(item):
    "What groups lines and allowances into one VAT breakdown"
    return (item.category, Decimal(item.rate), item.exemption_code or None,
        item.exemption_reason or None)


@dataclass
class Totals:
    line_total: Decimal  # LineExtensionAmount (BT-106)
    allowance_total: Decimal  # AllowanceTotalAmount (BT-107)
    tax_exclusive: Decimal  # BT-109
    tax_total: Decimal  # BT-110, in the document currency
    tax_inclusive: Decimal  # BT-112
    payable: Decimal  # BT-115
    tax_total_sar: Decimal  # BT-111
    categories: list = field(default_factory=list)


def categories(data):
    "The VAT breakdowns of data, in the order their lines come"
    breakdowns = {}
    for item in data.lines:
        breakdown = breakdowns.setdefault(category_key(item), Category(
                item.category, Decimal(item.rate), item.exemption_code,
                item.exemption_reason))
        breakdown.base += quantize(item.amount)
    for item in data.allowances:
        breakdown = breakdowns.setdefault(category_key(item), Category(
                item.category, Decimal(item.rate), item.exemption_code,
                item.exemption_reason))
        breakdown.base -= quantize(item.amount)
    for breakdown in breakdowns.values():
        breakdown.base = quantize(breakdown.base)
        breakdown.tax = tax(breakdown.base, breakdown.rate)
    return list(breakdowns.values())


def totals(data):
    "The Totals of data (InvoiceData)"
    line_total = quantize(sum(
            (quantize(line.amount) for line in data.lines), Decimal(0)))
    allowance_total = quantize(sum(
            (quantize(a.amount) for a in data.allowances), Decimal(0)))
    breakdowns = categories(data)
    tax_total = quantize(sum((c.tax for c in breakdowns), Decimal(0)))
    tax_exclusive = line_total - allowance_total
    tax_inclusive = tax_exclusive + tax_total
    return Totals(
        line_total=line_total,
        allowance_total=allowance_total,
        tax_exclusive=tax_exclusive,
        tax_total=tax_total,
        tax_inclusive=tax_inclusive,
        payable=tax_inclusive,
        tax_total_sar=quantize(tax_total * Decimal(data.rate_to_sar or 1)),
        categories=breakdowns)
