# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Local checks before sending: what AFIP would surely refuse.

Each check returns the message of the refusal, or None.
"""
import datetime as dt
from decimal import Decimal

from trytond import config
from trytond.i18n import gettext
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.pool import Pool

from . import afip, fce, optionals, table_checks
from .voucher import Voucher

#: days a voucher may be dated before or after the day it is sent, by
#: Concepto (AFIP's CbteFch rule, refused with 10016)
DATE_WINDOW = {'1': 5, '2': 10, '3': 10}
#: pesos from which a final consumer must be identified (RG 5700/2025)
IDENTIFICATION_THRESHOLD = Decimal('10000000')


def identification_threshold():
    "Option consumer_identification_threshold of [account_einvoice_ar]"
    value = config.get('account_einvoice_ar',
        'consumer_identification_threshold', default=None)
    return Decimal(value) if value else IDENTIFICATION_THRESHOLD


def check_invoice(invoice, cuit):
    if not cuit:
        return gettext('account_einvoice_ar.msg_company_cuit')
    if not invoice.ar_pos:
        return gettext('account_einvoice_ar.msg_invoice_pos',
            invoice=invoice.rec_name)
    if not invoice.ar_voucher_type:
        return gettext('account_einvoice_ar.msg_invoice_voucher_type',
            invoice=invoice.rec_name)
    if invoice.currency.code not in afip.CURRENCIES:
        return gettext('account_einvoice_ar.msg_currency',
            currency=invoice.currency.code)
    voucher = Voucher(invoice, cuit)
    if voucher.errors:
        return '\n'.join(voucher.errors)
    doc_type, _ = voucher.document
    if voucher.klass == 'A' and doc_type != 80:
        return gettext('account_einvoice_ar.msg_class_a_cuit',
            party=invoice.party.rec_name)
    currency, rate = voucher.currency()
    if currency != 'PES' and not rate:
        return gettext('account_einvoice_ar.msg_currency_rate',
            invoice=invoice.rec_name)
    threshold = identification_threshold()
    pesos = abs(voucher.amounts['ImpTotal']) * rate
    if (voucher.klass in {'B', 'C'} and pesos >= threshold
            and doc_type == afip.WITHOUT_DOCUMENT[0]):
        return LocalMessage(
            'account_einvoice_ar.msg_consumer_unidentified',
            invoice=invoice.rec_name, party=invoice.party.rec_name,
            amount=afip.amount(pesos), threshold=afip.amount(threshold))
    message = (optionals.check_request_fields(invoice)
        or fce.check_fce(invoice))
    if message:
        return message
    if int(invoice.ar_voucher_type) in afip.NOTES:
        original = invoice.ar_associated_invoice
        if not original and not invoice.ar_period_start:
            return gettext('account_einvoice_ar.msg_note_original',
                invoice=invoice.rec_name)
        if original and original.einvoice_state in {
                'rejected', 'cancelled', None}:
            return gettext(
                'account_einvoice_ar.msg_note_original_unauthorized',
                invoice=invoice.rec_name, original=original.rec_name)
    return table_checks.check_invoice(invoice, voucher)


def check_date(invoice, today, last_dates):
    """AFIP's CbteFch rules: within a few days of the day it is sent,
    not before the last voucher authorized in the series

    last_dates caches last_date_here by series across the invoices checked
    together."""
    date = invoice.invoice_date
    window = DATE_WINDOW.get(invoice.ar_concept or '1', 5)
    if abs((date - today).days) > window:
        # rendered in the language of whoever reads it
        return LocalMessage('account_einvoice_ar.msg_date_window',
            invoice=invoice.rec_name, date=date.isoformat(), days=window,
            first=(today - dt.timedelta(days=window)).isoformat(),
            last=(today + dt.timedelta(days=window)).isoformat())
    series = (invoice.ar_pos.id, invoice.ar_voucher_type)
    if series not in last_dates:
        last_dates[series] = last_date_here(*series)
    last = last_dates[series]
    if last and date < last:
        return LocalMessage('account_einvoice_ar.msg_date_before_last',
            invoice=invoice.rec_name, date=date.isoformat(),
            last=last.isoformat())


def last_date_here(pos, voucher_type):
    "The latest date of the vouchers of a series authorized here"
    Invoice = Pool().get('account.invoice')
    invoices = Invoice.search([
            ('ar_pos', '=', pos),
            ('ar_voucher_type', '=', voucher_type),
            ('ar_cae', '!=', None),
            ], order=[('invoice_date', 'DESC')], limit=1)
    return invoices[0].invoice_date if invoices else None
