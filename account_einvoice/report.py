# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from . import odf


class InvoiceReport(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def execute(cls, ids, data):
        "Refuse invoices the authority must clear first (cached or not)"
        Invoice = Pool().get('account.invoice')
        Invoice.check_shareable(Invoice.browse(list(map(int, ids))))
        return super().execute(ids, data)

    @classmethod
    def render(cls, report, report_context):
        """Add the authority's QR code and text to the rendered document
        (before any conversion, e.g. to PDF); invoices without QR content
        are rendered as before"""
        data = super().render(report, report_context)
        record = report_context.get('record')
        content = getattr(record, 'einvoice_qr', None)
        if not content or not odf.is_text_document(data):
            return data
        return odf.add_printed(data, content, cls.einvoice_print_lines(record))

    @classmethod
    def einvoice_print_lines(cls, record):
        "The printed lines, in the language of the body (the party's)"
        Invoice = Pool().get('account.invoice')
        lang = record.party.lang
        with Transaction().set_context(language=lang.code if lang else None):
            text = Invoice(record.id).einvoice_print_text
        return (text or '').splitlines()
