# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Local checks against AFIP's synchronised tables (:mod:`.tables`).

Called once per invoice from :func:`.checks.check_invoice`, after the
other checks, only when one of the company's AFIP configurations has
synchronised the tables; a table with no row yet is not checked.  Each
check returns the message of the refusal (a LocalMessage naming the
invoice, the field and the value), or None.
"""
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.pool import Pool

from .tables import SERVICE


def synchronised(company_id):
    "Whether an AFIP configuration of the company synchronised its tables"
    Configuration = Pool().get('account.einvoice.configuration')
    return any(c.service == SERVICE and c.ar_tables_synchronised
        for c in Configuration.browse(Configuration.units_of(company_id)))


def valid_on(row, date):
    _, start, end = row
    return (not start or start <= date) and (not end or date <= end)


def invoice_codes(invoice, voucher):
    "(table, message id, value, extra parameters) of what the invoice uses"
    yield ('voucher_type', 'msg_table_voucher_type',
        invoice.ar_voucher_type, {})
    yield ('document_type', 'msg_table_document_type',
        str(voucher.document[0]), {})
    for code, _ in voucher.ivas:
        yield ('iva_rate', 'msg_table_iva_rate', code, {})
    for (code, _), (_, _, name) in voucher.tributes:
        yield ('tribute', 'msg_table_tribute', code, {'tax': name or ''})
    currency, _ = voucher.currency()
    yield ('currency', 'msg_table_currency', currency, {})
    for optional in getattr(invoice, 'ar_optionals', None) or []:
        yield ('optional', 'msg_table_optional', optional.code, {})


def check_invoice(invoice, voucher):
    "The refusal of an invoice using what AFIP does not list, or None"
    Parameter = Pool().get('account.einvoice.ar.parameter')
    if not synchronised(invoice.company.id):
        return None
    date = invoice.invoice_date
    params = {'invoice': invoice.rec_name, 'date': date.isoformat()}
    for table, message, value, extra in invoice_codes(invoice, voucher):
        rows = Parameter.rows(table)
        if not rows or value is None:
            continue
        row = rows.get(str(value))
        if not row or not valid_on(row, date):
            return LocalMessage(f'account_einvoice_ar.{message}',
                value=str(value), **params, **extra)
    condition = invoice.ar_receiver_condition
    rows = Parameter.rows('receiver_condition')
    if rows and condition:
        row = rows.get(condition)
        classes = (row[0] or '').split('/') if row else []
        if (not row or not valid_on(row, date)
                or voucher.klass not in classes):
            return LocalMessage(
                'account_einvoice_ar.msg_table_receiver_condition',
                value=condition, klass=voucher.klass or '', **params)
    activity = getattr(invoice, 'ar_activity', None)
    rows = Parameter.rows('activity', invoice.company.id)
    if rows and activity:
        row = rows.get(str(activity))
        if not row or not valid_on(row, date):
            return LocalMessage('account_einvoice_ar.msg_table_activity',
                value=str(activity), **params)
    return check_pos(invoice, params)


def check_pos(invoice, params):
    """The point of sale must be listed by AFIP, open, and of the invoice's
    emission type (``ar_authorization`` CAEA: authorized here with the
    fortnight's CAEA)"""
    PointOfSale = Pool().get('account.einvoice.ar.pos')
    pos = invoice.ar_pos
    params = dict(params, value=pos.rec_name)
    if not pos.afip_listed and PointOfSale.search([
                ('company', '=', invoice.company.id),
                ('afip_listed', '=', True),
                ], limit=1):
        return LocalMessage('account_einvoice_ar.msg_table_pos_unknown',
            **params)
    if pos.blocked:
        return LocalMessage('account_einvoice_ar.msg_table_pos_blocked',
            **params)
    if pos.closed_on and pos.closed_on <= invoice.invoice_date:
        return LocalMessage('account_einvoice_ar.msg_table_pos_closed',
            closed=pos.closed_on.isoformat(), **params)
    caea = getattr(invoice, 'ar_authorization', None) == 'CAEA'
    if pos.emission_type == 'caea' and not caea:
        return LocalMessage('account_einvoice_ar.msg_table_pos_caea',
            **params)
    if pos.emission_type == 'cae' and caea:
        return LocalMessage('account_einvoice_ar.msg_table_pos_cae',
            **params)
