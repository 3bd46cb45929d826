# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Vouchers authorized here with the fortnight's CAEA.

* At posting, on a CAEA point of sale (:func:`authorize`): numbered under
  the series' chain lock, the CAEA valid on the invoice date as their
  authorization; the submission then informs them
  (``FECAEARegInformativo``) with the CAEA's report deadline.
* After authorize-on-post, on a CAE point of sale with a contingency point
  of sale (:func:`fall_back`): only when the online call surely was not
  processed (the submission is pending, not in flight, its outcome known,
  never registered, and the call failed); an outcome unknown may hide a
  CAE already given, so the invoice stays queued and the user is told.
"""
import datetime as dt
import logging

from trytond import backend
from trytond.i18n import gettext
from trytond.modules.account_einvoice import rows
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

from . import printed
from .exceptions import CaeaMissingError

logger = logging.getLogger(__name__)


def _number(configuration, invoices, pos, now):
    """{invoice: values} authorizing invoices (one voucher type) on pos
    with the CAEA of their date; the series' chain stays locked"""
    pool = Pool()
    Series = pool.get('account.einvoice.ar.series')
    Chain = pool.get('account.einvoice.chain')
    Caea = pool.get('account.einvoice.ar.caea')
    voucher_type = int(invoices[0].ar_voucher_type)
    caeas = {}
    for invoice in invoices:
        date = invoice.invoice_date
        if date not in caeas:
            caeas[date] = Caea.valid_for(configuration, date)
        if not caeas[date]:
            raise CaeaMissingError(gettext(
                    'account_einvoice_ar.msg_caea_none',
                    invoice=invoice.rec_name, pos=pos.rec_name,
                    date=date.strftime('%d/%m/%Y')))
    _, chain = Series.lock_series(configuration, pos, voucher_type)
    last = max(chain.last_sequence or 0,
        Series.last_authorized_here(pos, voucher_type))
    result = {}
    for invoice in sorted(invoices, key=lambda i: (i.invoice_date, i.id)):
        last += 1
        record = caeas[invoice.invoice_date]
        result[invoice] = {
            'ar_pos': pos.id,
            'ar_voucher_number': last,
            'ar_cae': record.code,
            'ar_cae_due_date': record.valid_to,
            'ar_authorization': 'CAEA',
            'ar_caea_generated': now,
            }
        if (invoice.currency != invoice.company.currency
                and not invoice.ar_currency_rate):
            # moved from a CAE point of sale before AFIP's rate came: the
            # voucher is final now
            result[invoice].update({
                    'ar_currency_rate': invoice._ar_tryton_rate(
                        invoice.invoice_date),
                    'ar_currency_rate_source': 'tryton',
                    })
    Chain.write([chain], {'last_sequence': last})
    return result


def authorize(configuration, invoices):
    """Authorize with the CAEA the invoices of CAEA points of sale (set on
    the instances, saved by the caller); raise CaeaMissingError when a date
    has no CAEA"""
    Date = Pool().get('ir.date')
    groups = {}
    for invoice in invoices:
        pos = invoice.ar_pos
        if (not pos or pos.emission_type != 'caea'
                or invoice.ar_voucher_number or not invoice.ar_voucher_type):
            continue
        if not invoice.invoice_date:
            invoice.invoice_date = Date.today()
        groups.setdefault((pos, invoice.ar_voucher_type), []).append(invoice)
    now = dt.datetime.now().replace(microsecond=0)
    for (pos, _), members in groups.items():
        with without_check_access():
            numbered = _number(configuration, members, pos, now)
        for invoice, values in numbered.items():
            for name, value in values.items():
                if name != 'ar_pos':
                    setattr(invoice, name, value)
            # printed at once: the QR code of the CAEA voucher
            invoice.einvoice_qr = printed.qr_url(
                invoice, configuration.ar_cuit(), invoice.ar_cae)


def _claim(submission_ids):
    """Take the submissions that can still fall back: an UPDATE holding
    their rows (row locks on PostgreSQL, the write lock on SQLite) so no
    sender claims them meanwhile; return the ids taken"""
    Submission = Pool().get('account.einvoice.submission')
    table = Submission.__table__()
    cursor = Transaction().connection.cursor()
    taken = []
    for submission_id in submission_ids:
        cursor.execute(*table.update(
                [table.write_date], [dt.datetime.now()],
                where=(table.id == submission_id)
                & (table.state == 'pending')
                & (table.exchange == None)  # noqa: E711
                & (table.needs_query == False)  # noqa: E712
                & (table.registered == False)))  # noqa: E712
        if cursor.rowcount:
            taken.append(submission_id)
    return taken


def fall_back(configuration, submission_ids):
    """After authorize-on-post: move to their contingency point of sale and
    authorize with the CAEA the invoices whose online call surely was not
    processed; tell the user about those whose outcome is unknown"""
    pool = Pool()
    Submission = pool.get('account.einvoice.submission')
    transaction = Transaction()
    candidates, unknown = [], []
    for submission in Submission.browse(submission_ids):
        invoice = submission.invoice
        if (submission.state != 'pending' or submission.registered
                or invoice.ar_authorization == 'CAEA'):
            continue
        if submission.needs_query or submission.exchange:
            unknown.append(invoice)
        elif (submission.attempts and invoice.ar_pos
                and invoice.ar_pos.contingency_pos):
            candidates.append(submission.id)
    if unknown:
        _notify_unknown(unknown)
        transaction.commit()
    if not candidates:
        return []
    try:
        moved = _move(configuration, candidates)
        transaction.commit()
    except backend.DatabaseOperationalError:
        # a sender took them meanwhile: they stay queued
        transaction.rollback()
        logger.info("contingency of %s AFIP invoices given way to a sender",
            len(candidates))
        return []
    except CaeaMissingError as exception:
        transaction.rollback()
        _notify_user(gettext(
                'account_einvoice_ar.msg_contingency_failed_label'),
            exception.message)
        transaction.commit()
        return []
    return moved


def _move(configuration, candidates):
    pool = Pool()
    Submission = pool.get('account.einvoice.submission')
    Invoice = pool.get('account.invoice')
    Outcome = pool.get('account.einvoice.exchange.outcome')
    service = configuration.get_service()
    taken = _claim(candidates)
    if not taken:
        return []
    submissions = Submission.browse(taken)
    groups = {}
    for submission in submissions:
        invoice = submission.invoice
        pos = invoice.ar_pos.contingency_pos
        groups.setdefault((pos, invoice.ar_voucher_type), []).append(invoice)
    now = dt.datetime.now().replace(microsecond=0)
    to_write = []
    for (pos, _), invoices in groups.items():
        for invoice, values in _number(
                configuration, invoices, pos, now).items():
            to_write.extend(([invoice], dict(values,
                        invoice_report_cache=None,
                        invoice_report_format=None)))
    rows.update(Invoice, *to_write)
    invoices = Invoice.browse([s.invoice.id for s in submissions])
    cuit = configuration.ar_cuit()
    rows.update(Invoice, *[x for i in invoices for x in ([i], {
                    'einvoice_qr': printed.qr_url(i, cuit, i.ar_cae)})])
    invoices = Invoice.browse([i.id for i in invoices])
    by_invoice = {i.id: i for i in invoices}
    sub_writes, outcomes = [], []
    for submission in submissions:
        invoice = by_invoice[submission.invoice.id]
        sub_writes.extend(([submission], {
                    'attempts': 0,
                    'next_attempt': None,
                    'last_error': None,
                    'ar_resync': False,
                    'ar_retries': 0,
                    'deadline': service.deadline(invoice),
                    'deadline_notice': None,
                    }))
        outcomes.append({
                'submission': submission.id,
                'operation': submission.operation,
                'state': 'pending',
                'code': 'CAEA',
                'message': gettext(
                    'account_einvoice_ar.msg_contingency_authorized',
                    pos=invoice.ar_pos.rec_name,
                    number=invoice.ar_legal_number, caea=invoice.ar_cae),
                })
    Submission.write_rows(*sub_writes)
    Outcome.log(outcomes)
    return taken


def _notify_unknown(invoices):
    _notify_user(
        gettext('account_einvoice_ar.msg_contingency_unknown_label'),
        gettext('account_einvoice_ar.msg_contingency_unknown',
            invoices=', '.join(i.rec_name for i in invoices[:10])),
        invoices)


def _notify_user(label, description, records=None):
    "Notify the user who posted (the context's user, before set_user)"
    Notification = Pool().get('res.notification')
    user = Transaction().context.get('ar_posting_user')
    if user is None:
        return
    Notification.create([{
                'user': user,
                'label': label[:250],
                'description': (description or '')[:250],
                'icon': 'tryton-warning',
                'model': records[0].__name__ if records else None,
                'records': str([r.id for r in records]) if records else None,
                }])
