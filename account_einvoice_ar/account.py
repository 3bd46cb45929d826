# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import afip


class Tax(metaclass=PoolMeta):
    __name__ = 'account.tax'

    ar_kind = fields.Selection(afip.TAX_KINDS, "AFIP Kind",
        help="How AFIP's electronic invoices report this tax.")
    ar_iva_id = fields.Selection(afip.IVA_RATES, "AFIP IVA Rate",
        states={
            'invisible': Eval('ar_kind') != 'iva',
            'required': Eval('ar_kind') == 'iva',
            },
        depends=['ar_kind'],
        help="The AFIP aliquot id (AlicIva Id).")
    ar_tribute_id = fields.Selection(afip.TRIBUTES, "AFIP Tribute",
        states={
            'invisible': Eval('ar_kind') != 'tribute',
            'required': Eval('ar_kind') == 'tribute',
            },
        depends=['ar_kind'],
        help="The AFIP tribute id (Tributo Id).")
