# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The printed voucher (RG 4892): its QR code and its CAE (or CAEA) with
due date."""
from trytond.i18n import gettext

from . import afip
from .voucher import Voucher


def qr_url(invoice, cuit, cae):
    "The QR code URL of the voucher as it was sent to AFIP and authorized"
    data = afip.qr_data(cuit, invoice.ar_pos.number, invoice.ar_voucher_type,
        Voucher(invoice, cuit).fields(), cae,
        authorization=invoice.ar_authorization or 'CAE')
    return afip.qr_url(data)


def print_text(invoice):
    "The CAE and its due date, in the language of the transaction"
    if not invoice.ar_cae:
        return None
    kind = 'caea' if invoice.ar_authorization == 'CAEA' else 'cae'
    lines = [gettext(f'account_einvoice_ar.msg_print_{kind}',
            cae=invoice.ar_cae)]
    if invoice.ar_cae_due_date:
        lines.append(gettext(f'account_einvoice_ar.msg_print_{kind}_due_date',
                date=invoice.ar_cae_due_date.strftime('%d/%m/%Y')))
    return '\n'.join(lines)
