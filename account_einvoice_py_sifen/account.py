# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""How SIFEN reads a tax: its IVA affectation and taxed proportion."""
from decimal import Decimal

from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

AFFECTATIONS = [
    (None, ""),
    ('1', "1 - Taxed (Gravado IVA)"),
    ('2', "2 - Exonerated (Exonerado, art. 100)"),
    ('3', "3 - Exempt (Exento)"),
    ('4', "4 - Partly taxed (Gravado parcial)"),
    ]


class _SifenMixin:
    __slots__ = ()
    sifen_affectation = fields.Selection(AFFECTATIONS, "SIFEN IVA Affectation",
        sort=False,
        help="How SIFEN reports the lines of this tax (iAfecIVA). Empty: "
        "taxed for a rate of 10% or 5%, exempt for a zero rate.")
    sifen_proportion = fields.Numeric("SIFEN Taxed Proportion",
        digits=(3, 2),
        domain=['OR', ('sifen_proportion', '=', None),
            [('sifen_proportion', '>', 0), ('sifen_proportion', '<=', 100)]],
        states={
            'invisible': Eval('sifen_affectation') != '4',
            },
        help="The percentage of the price the rate applies to (dPropIVA), "
        "for partly taxed supplies such as real estate (30%).")

    def sifen_affectation_code(self):
        "The iAfecIVA of the tax"
        if self.sifen_affectation:
            return int(self.sifen_affectation)
        return 1 if (self.rate or 0) > 0 else 3

    def sifen_taxed_proportion(self):
        if self.sifen_affectation_code() == 4:
            return self.sifen_proportion or Decimal(100)
        return Decimal(100) if self.sifen_affectation_code() == 1 \
            else Decimal(0)


class TaxTemplate(_SifenMixin, metaclass=PoolMeta):
    __name__ = 'account.tax.template'

    def _get_tax_value(self, tax=None):
        value = super()._get_tax_value(tax=tax)
        for name in ('sifen_affectation', 'sifen_proportion'):
            if not tax or getattr(tax, name) != getattr(self, name):
                value[name] = getattr(self, name)
        return value


class Tax(_SifenMixin, metaclass=PoolMeta):
    __name__ = 'account.tax'
