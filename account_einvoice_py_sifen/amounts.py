# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The amounts of a DE as SIFEN writes them.

Guaraníes have no decimals, other currencies 2 (unit prices and
quantities up to 8); rounding is half up.  The base and IVA of each line
are the posted ones (LineData), so the totals (gTotSub) are their sums and
add up with what was posted: nothing is recomputed from the rates."""
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal

from .invoice_data import EXEMPT, EXEMPT_EXONERATED, PARTLY_TAXED, TAXED

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PRICE_DIGITS = 8
RATE_DIGITS = 4


def digits(currency):
    "The decimals of amounts in currency"
    return 0 if currency == 'PYG' else 2


def round_to(value, places):
    return Decimal(value).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def amount(value, currency):
    "value rounded as an amount of currency"
    return round_to(value, digits(currency))


def text(value, places=None):
    """value as the XML writes it: plain notation, no exponent; without
    trailing zeros when places is None"""
    value = Decimal(value)
    if places is not None:
        value = round_to(value, places)
    else:
        value = value.normalize() if value else ZERO
    result = format(value, 'f')
    return '0' if result in {'-0', ''} else result


def proportion(line):
    "dPropIVA: 100 taxed, 0 exempt, the taxed share of a partly taxed line"
    if line.affectation == TAXED:
        return HUNDRED
    if line.affectation in {EXEMPT, EXEMPT_EXONERATED}:
        return ZERO
    return Decimal(line.proportion)


def rate(line):
    "dTasaIVA: 0 on exempt lines"
    if line.affectation in {EXEMPT, EXEMPT_EXONERATED}:
        return ZERO
    return Decimal(line.rate)


def gross(line, currency):
    "dTotBruOpeItem: unit price × quantity"
    return amount(Decimal(line.unit_price) * Decimal(line.quantity), currency)


def unit_discount(line, currency):
    """dDescItem: the discount per unit that takes the gross amount to the
    line's total (0 when there is none)"""
    difference = gross(line, currency) - Decimal(line.total)
    if difference <= 0 or not line.quantity:
        return ZERO
    return round_to(difference / Decimal(line.quantity), PRICE_DIGITS)


@dataclass
class Totals:
    "gTotSub"
    dSubExe: Decimal = ZERO
    dSubExo: Decimal = ZERO
    dSub5: Decimal = ZERO
    dSub10: Decimal = ZERO
    dTotOpe: Decimal = ZERO
    dTotDesc: Decimal = ZERO
    dTotDescGlotem: Decimal = ZERO
    dTotAntItem: Decimal = ZERO
    dTotAnt: Decimal = ZERO
    dPorcDescTotal: Decimal = ZERO
    dDescTotal: Decimal = ZERO
    dAnticipo: Decimal = ZERO
    dRedon: Decimal = ZERO
    dTotGralOpe: Decimal = ZERO
    dIVA5: Decimal = ZERO
    dIVA10: Decimal = ZERO
    dTotIVA: Decimal = ZERO
    dBaseGrav5: Decimal = ZERO
    dBaseGrav10: Decimal = ZERO
    dTBasGraIVA: Decimal = ZERO
    #: dTotalGs, when the currency is not PYG
    dTotalGs: Decimal = None

    def items(self):
        "(element name, value) in the XSD's order, dTotalGs when set"
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                yield item.name, value


def totals(data):
    """The Totals of a DocumentData.

    Exempt (iAfecIVA 3) and exonerated (2) lines go to dSubExe and dSubExo;
    the taxed part (base + IVA) of taxed and partly taxed lines to dSub5 or
    dSub10 by rate, the exempt part of a partly taxed line (dBasExe) to
    dSubExe (Nota Técnica 13), so that dTotOpe is the sum of the lines."""
    currency = data.currency

    def round_(value):
        return amount(value, currency)
    result = Totals()
    for line in data.lines:
        total = Decimal(line.total)
        base, tax = Decimal(line.base), Decimal(line.tax)
        result.dTotOpe += total
        result.dTotDesc += unit_discount(line, currency) * Decimal(
            line.quantity)
        if line.affectation == EXEMPT:
            result.dSubExe += total
            continue
        if line.affectation == EXEMPT_EXONERATED:
            result.dSubExo += total
            continue
        if line.affectation == PARTLY_TAXED:
            result.dSubExe += total - base - tax
        if rate(line) == 5:
            result.dSub5 += base + tax
            result.dIVA5 += tax
            result.dBaseGrav5 += base
        else:
            result.dSub10 += base + tax
            result.dIVA10 += tax
            result.dBaseGrav10 += base
    for item in fields(result):
        value = getattr(result, item.name)
        if value is not None:
            setattr(result, item.name, round_(value))
    result.dTotGralOpe = result.dTotOpe - result.dRedon
    result.dTotIVA = result.dIVA5 + result.dIVA10
    result.dTBasGraIVA = result.dBaseGrav5 + result.dBaseGrav10
    if currency != 'PYG' and data.rate:
        result.dTotalGs = round_to(
            result.dTotGralOpe * Decimal(data.rate), 0)
    return result
