# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What the authority requires on the printed invoice: the content of a QR
code (stored when the authority accepts the invoice) and a text (rendered
when read, in the reader's language).  Both come from the service's
``qr_content`` and ``print_text`` hooks."""
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from . import rows
from .service import EinvoiceService

ACCEPTED = {'accepted', 'accepted_with_errors'}


def _prints_qr(service):
    "Whether the service puts a QR on the printed invoice"
    return type(service).qr_content is not EinvoiceService.qr_content


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    einvoice_qr = fields.Char("E-Invoice QR Code", readonly=True,
        help="The content of the QR code the authority requires on the "
        "printed invoice.")
    einvoice_print_text = fields.Function(
        fields.Text("E-Invoice Printed Text",
            help="The text the authority requires on the printed invoice."),
        'get_einvoice_print_text')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._check_modify_exclude.add('einvoice_qr')

    @classmethod
    def get_einvoice_print_text(cls, invoices, name):
        result = {i.id: None for i in invoices}
        services = {}
        for invoice in invoices:
            for submission in invoice.einvoice_submissions:
                configuration = submission.configuration
                if configuration not in services:
                    services[configuration] = configuration.get_service()
                text = services[configuration].print_text(submission)
                if text:
                    result[invoice.id] = str(text)
        return result

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('einvoice_qr')
        return super().copy(invoices, default=default)


class Submission(metaclass=PoolMeta):
    __name__ = 'account.einvoice.submission'

    @classmethod
    def _values_written(cls, args):
        "Update the QR of the invoices whose state args changed"
        super()._values_written(args)
        changed = []
        actions = iter(args)
        for records, values in zip(actions, actions):
            if values.get('state') in ACCEPTED | {'cancelled'}:
                changed.extend(int(r) for r in records)
        changed = cls._shown_on_invoice(changed)
        if changed:
            cls._update_invoice_qr(rows.browse(cls, changed))

    @classmethod
    def _shown_on_invoice(cls, ids):
        """The submissions among ids whose invoice prints their outcome:
        cancelled, or of a service printing a QR (read in bulk: most print
        nothing)"""
        Configuration = Pool().get('account.einvoice.configuration')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        prints_qr, result = {}, []
        for sub_ids in grouped_slice(ids, rows.IN_SLICE):
            cursor.execute(*table.select(
                    table.id, table.configuration, table.state,
                    where=reduce_ids(table.id, sub_ids)))
            for id_, configuration_id, state in cursor:
                if configuration_id not in prints_qr:
                    service = Configuration(configuration_id).get_service()
                    prints_qr[configuration_id] = _prints_qr(service)
                if state == 'cancelled' or prints_qr[configuration_id]:
                    result.append(id_)
        return result

    @classmethod
    def _update_invoice_qr(cls, submissions, services=None):
        """Store the QR content of accepted invoices, clear it on those the
        authority no longer holds; the printed invoice must show it: it is
        printed again.  services: those already at work, by configuration
        id (what they know of the invoices is reused)."""
        Invoice = Pool().get('account.invoice')
        to_write, cancelled = [], []
        known = services or {}
        services = {}
        for submission in submissions:
            if not submission.invoice:
                continue
            if submission.state == 'cancelled':
                cancelled.append(submission.invoice.id)
                continue
            configuration = submission.configuration
            if configuration.id not in services:
                service = (known.get(configuration.id)
                    or configuration.get_service())
                # most services print no QR: skip their records cheaply
                services[configuration.id] = (
                    service if _prints_qr(service) else None)
            service = services[configuration.id]
            if service is None:
                continue
            content = service.qr_content(submission)
            if content and submission.invoice.einvoice_qr != content:
                to_write.extend(([submission.invoice], {
                            'einvoice_qr': content,
                            'invoice_report_cache': None,
                            'invoice_report_format': None,
                            }))
        if cancelled:
            invoices = Invoice.search([
                    ('id', 'in', cancelled),
                    ('einvoice_qr', '!=', None),
                    ])
            if invoices:
                to_write.extend((invoices, {
                            'einvoice_qr': None,
                            'invoice_report_cache': None,
                            'invoice_report_format': None,
                            }))
        if to_write:
            rows.update(Invoice, *to_write)
