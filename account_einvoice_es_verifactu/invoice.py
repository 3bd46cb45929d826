# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    verifactu_rectification_type = fields.Selection([
            (None, ""),
            ('I', "By Differences"),
            ('S', "By Substitution"),
            ], "VERI*FACTU Rectification",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="How a rectifying invoice corrects the original one: by the "
        "differences (default) or by substituting its amounts.")
    verifactu_operation_date = fields.Date("Operation Date",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="The date of the operation when it differs from the invoice "
        "date (reported as FechaOperacion).")

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('verifactu_rectification_type')
        default.setdefault('verifactu_operation_date')
        return super().copy(invoices, default=default)
