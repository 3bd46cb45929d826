# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""ZATCA's VAT category and exemption reason on tax templates and taxes."""
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

CATEGORIES = [
    (None, ""),
    ('S', "S - Standard rate"),
    ('Z', "Z - Zero rated"),
    ('E', "E - Exempt"),
    ('O', "O - Not subject to VAT"),
    ]
#: ZATCA's exemption reason codes (KSA-2 code list) and their category
EXEMPTION_CODES = [
    (None, ""),
    ('VATEX-SA-29', "VATEX-SA-29 - Financial services (art. 29)"),
    ('VATEX-SA-29-7', "VATEX-SA-29-7 - Life insurance services (art. 29-7)"),
    ('VATEX-SA-30', "VATEX-SA-30 - Real estate transactions (art. 30)"),
    ('VATEX-SA-32', "VATEX-SA-32 - Export of goods (art. 32)"),
    ('VATEX-SA-33', "VATEX-SA-33 - Export of services (art. 33)"),
    ('VATEX-SA-34-1', "VATEX-SA-34-1 - International transport of goods"),
    ('VATEX-SA-34-2', "VATEX-SA-34-2 - International transport of "
        "passengers"),
    ('VATEX-SA-34-3', "VATEX-SA-34-3 - Services related to international "
        "transport"),
    ('VATEX-SA-34-4', "VATEX-SA-34-4 - Supply of a qualifying means of "
        "transport"),
    ('VATEX-SA-34-5', "VATEX-SA-34-5 - Services related to the means of "
        "transport"),
    ('VATEX-SA-35', "VATEX-SA-35 - Medicines and medical equipment"),
    ('VATEX-SA-36', "VATEX-SA-36 - Qualifying metals"),
    ('VATEX-SA-EDU', "VATEX-SA-EDU - Private education to citizens"),
    ('VATEX-SA-HEA', "VATEX-SA-HEA - Private healthcare to citizens"),
    ('VATEX-SA-MLTRY', "VATEX-SA-MLTRY - Supply of qualified military "
        "goods"),
    ('VATEX-SA-OOS', "VATEX-SA-OOS - Not subject to VAT"),
    ]
EXEMPTION_CATEGORY = {
    'VATEX-SA-29': 'E', 'VATEX-SA-29-7': 'E', 'VATEX-SA-30': 'E',
    'VATEX-SA-OOS': 'O',
    }
# the others are zero rated (Z)


class _ZatcaMixin:
    __slots__ = ()
    zatca_category = fields.Selection(CATEGORIES, "ZATCA VAT Category",
        sort=False,
        help="The VAT category (UNCL5305) ZATCA reports the base and amount "
        "of this tax under. Empty: standard rate (S) for a positive rate; "
        "a zero rate must say whether it is zero rated, exempt or not "
        "subject.")
    zatca_exemption_code = fields.Selection(EXEMPTION_CODES,
        "ZATCA Exemption Reason", sort=False,
        states={
            'invisible': ~Eval('zatca_category').in_(['Z', 'E', 'O']),
            },
        help="The reason code ZATCA requires for zero rated, exempt and "
        "not subject supplies (VATEX-SA-…).")
    zatca_exemption_reason = fields.Char("ZATCA Exemption Text",
        states={
            'invisible': ~Eval('zatca_category').in_(['Z', 'E', 'O']),
            },
        help="The exemption reason as printed; empty for the text of the "
        "code.")


class TaxTemplate(_ZatcaMixin, metaclass=PoolMeta):
    __name__ = 'account.tax.template'

    def _get_tax_value(self, tax=None):
        value = super()._get_tax_value(tax=tax)
        for name in ('zatca_category', 'zatca_exemption_code',
                'zatca_exemption_reason'):
            if not tax or getattr(tax, name) != getattr(self, name):
                value[name] = getattr(self, name)
        return value


class Tax(_ZatcaMixin, metaclass=PoolMeta):
    __name__ = 'account.tax'
