# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from .account import OPERATION_KEYS
from .identification import identify

INVOICE_TYPES = [
    (None, ""),
    ('F1', "F1 - Invoice"),
    ('F2', "F2 - Simplified invoice"),
    ('R1', "R1 - Credit note (art. 80.1, 80.2 and legal error)"),
    ('R2', "R2 - Credit note (art. 80.3, insolvency)"),
    ('R3', "R3 - Credit note (art. 80.4, bad debts)"),
    ('R4', "R4 - Credit note (other)"),
    ('R5', "R5 - Credit note of a simplified invoice"),
    ]

RECTIFICATION_TYPES = [
    (None, ""),
    ('I', "By differences"),
    ('S', "By substitution"),
    ]


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    sii_excluded = fields.Boolean("Not Reported to SII",
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="Do not report this invoice to the SII.")
    sii_invoice_type = fields.Function(fields.Selection(
            INVOICE_TYPES, "SII Invoice Type"), 'get_sii_invoice_type')
    sii_invoice_type_override = fields.Selection(INVOICE_TYPES,
        "SII Invoice Type Override",
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="Leave empty to use: F1, or F2 for a customer without any "
        "identifier; R1 for credit notes (R5 when simplified).")
    sii_operation_key = fields.Selection(OPERATION_KEYS,
        "SII Operation Key",
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="Leave empty to use the key of the taxes (01 by default).")
    sii_operation_date = fields.Date("SII Operation Date",
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="When the goods were delivered or the services rendered, if "
        "not on the invoice date (FechaOperacion).")
    sii_rectification_type = fields.Selection(RECTIFICATION_TYPES,
        "SII Rectification Type",
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="By substitution, the SII receives the corrected amounts and "
        "those of the invoices the lines credit; empty: by differences.")

    @classmethod
    def default_sii_excluded(cls):
        return False

    def get_sii_invoice_type(self, name):
        if self.sii_invoice_type_override:
            return self.sii_invoice_type_override
        simplified = (self.type == 'out' and self.party
            and identify(self.party, '') is None)
        if ((self.total_amount or 0) < 0
                or self.sii_rectification_type == 'S'):
            return 'R5' if simplified else 'R1'
        return 'F2' if simplified else 'F1'

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('sii_invoice_type_override')
        default.setdefault('sii_operation_date')
        default.setdefault('sii_rectification_type')
        return super().copy(invoices, default=default)
