# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Clearance before the invoice is shared.

Where the authority must accept an invoice before the customer receives
it (``service.needs_clearance(invoice)``), posting marks its submission
``clearance`` and queues its sending at once, as *Send Now* does: the task
runs after the posting committed, in its own transactions (in a worker
when trytond has one, else after the request that posted), so posting
never fails nor waits on the authority.  Until the submission is accepted
the invoice cannot be printed, exported nor e-mailed, and the invoice
report is not cached at posting."""
from trytond.i18n import gettext
from trytond.model import dualmethod
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from . import rows
from .exceptions import ClearanceError
from .printed import ACCEPTED
from .service import EinvoiceService


def _clears(service):
    "Whether the service may ask for clearance (most never do)"
    return (type(service).needs_clearance
        is not EinvoiceService.needs_clearance)


class Submission(metaclass=PoolMeta):
    __name__ = 'account.einvoice.submission'

    @classmethod
    def _create_for_invoices(cls, invoices, services=None):
        services = {} if services is None else services
        submissions = super()._create_for_invoices(invoices, services)
        cls.queue_clearance(submissions, services)
        return submissions

    @classmethod
    def queue_clearance(cls, submissions, services=None):
        """Mark the submissions whose invoice needs clearance and queue
        their sending now (the Send Now path, after the commit)"""
        services = {} if services is None else services
        to_clear = []
        for submission in submissions:
            service = cls._service_of(submission.configuration, services)
            if _clears(service) and service.needs_clearance(
                    submission.invoice):
                to_clear.append(submission)
        if not to_clear:
            return []
        cls.write_rows(to_clear, {'clearance': True})
        with Transaction().set_context(queue_name='account_einvoice'):
            cls.__queue__.process(to_clear)
        return to_clear


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def einvoice_uncleared(cls, invoices):
        """{invoice id: submission state} of the invoices the authority
        must clear before they are shared and has not accepted yet"""
        Submission = Pool().get('account.einvoice.submission')
        ids = [i.id for i in invoices if i.id is not None and i.id >= 0]
        if not ids:
            return {}
        result = {}
        with without_check_access():
            for sub_ids in grouped_slice(ids, rows.IN_SLICE):
                for submission in Submission.search([
                            ('invoice', 'in', list(sub_ids)),
                            ('clearance', '=', True),
                            ('state', 'not in', list(ACCEPTED)),
                            ]):
                    result[submission.invoice.id] = submission.state
        return result

    @classmethod
    def check_shareable(cls, invoices,
            message='account_einvoice.msg_clearance_print'):
        "Refuse to share an invoice the authority has not cleared yet"
        uncleared = cls.einvoice_uncleared(invoices)
        if not uncleared:
            return
        Submission = Pool().get('account.einvoice.submission')
        labels = dict(Submission.fields_get(['state'])['state']['selection'])
        for invoice in invoices:
            if invoice.id in uncleared:
                raise ClearanceError(gettext(message,
                        invoice=invoice.rec_name,
                        state=labels.get(uncleared[invoice.id],
                            uncleared[invoice.id])))

    @dualmethod
    def print_invoice(cls, invoices):
        # The report kept at posting must carry what the authority cleared
        uncleared = cls.einvoice_uncleared(invoices)
        super().print_invoice([i for i in invoices if i.id not in uncleared])


class InvoiceEdocument(metaclass=PoolMeta):
    __name__ = 'account.invoice.edocument'

    def transition_render(self):
        Pool().get('account.invoice').check_shareable([self.record])
        return super().transition_render()


class Email(metaclass=PoolMeta):
    __name__ = 'ir.email'

    @classmethod
    def send(cls, to='', cc='', bcc='', subject='', body='', files=None,
            record=None, reports=None, attachments=None):
        if record and record[0] == 'account.invoice':
            Invoice = Pool().get('account.invoice')
            Invoice.check_shareable([Invoice(int(record[1]))],
                'account_einvoice.msg_clearance_email')
        return super().send(to=to, cc=cc, bcc=bcc, subject=subject,
            body=body, files=files, record=record, reports=reports,
            attachments=attachments)
