# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Queuing the work: a submission for each posted invoice (or record
without invoice) that must be reported, the documents and records prepared
when the work is queued, and what cancelling an invoice queues.  Part of
``account.einvoice.submission``; nothing here calls the network."""
import logging

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import without_check_access

from .exceptions import PostingError, ServiceFailure
from .isolation import isolate
from .local_message import LocalMessage

logger = logging.getLogger(__name__)


class Queueing:
    "Part of account.einvoice.submission"
    __slots__ = ()

    # -- Creation from invoices ------------------------------------------
    @classmethod
    def create_for_invoices(cls, invoices, services=None):
        """Queue a submission for each posted invoice that must be reported.
        services: the {configuration id: service} check_posting returned,
        whose work on these invoices (their facts) is not done again."""
        # Posting is the staff's right; the submissions are read-only to
        # them, so queuing must not need access to the history.
        with without_check_access():
            return cls._create_for_invoices(invoices, services)

    @staticmethod
    def _service_of(configuration, services):
        "The service of configuration, made once per {id: service} given"
        if configuration.id not in services:
            services[configuration.id] = configuration.get_service()
        return services[configuration.id]

    @classmethod
    def _reported(cls, invoices, services=None):
        "Yield (invoice, configuration, service) of the invoices to report"
        Configuration = Pool().get('account.einvoice.configuration')
        single = {}
        services = {} if services is None else services
        for invoice in invoices:
            company_id = invoice.company.id
            if company_id not in single:
                units = Configuration.units_of(company_id)
                single[company_id] = (
                    Configuration(units[0]) if len(units) == 1
                    else None if not units else False)
            configuration = single[company_id]
            if configuration is False:
                # several reporting units: the service tells which one
                configuration = Configuration.for_invoice(invoice, services)
            if not configuration:
                continue
            date = invoice.accounting_date or invoice.invoice_date
            if date and date < configuration.start_date:
                continue
            service = cls._service_of(configuration, services)
            if not service.applies_to(invoice):
                continue
            yield invoice, configuration, service

    @classmethod
    def check_posting(cls, invoices):
        """Refuse to post invoices the authority would certainly refuse,
        with the service's message naming the invoice and the field.
        Return the services used, by configuration id."""
        by_service, services = {}, {}
        with without_check_access():
            for invoice, _, service in cls._reported(invoices, services):
                by_service.setdefault(service, []).append(invoice)
            checked = [(service, members, service.check_posting(members))
                for service, members in by_service.items()]
        for service, members, messages in checked:
            for invoice in members:
                if messages.get(invoice.id):
                    raise PostingError(gettext(
                            'account_einvoice.msg_posting_refused',
                            invoice=invoice.rec_name,
                            message=messages[invoice.id]))
        return services

    @classmethod
    def _create_for_invoices(cls, invoices, services=None):
        vlist = []
        services = {} if services is None else services
        for invoice, configuration, _ in cls._reported(invoices, services):
            company_id = invoice.company.id
            vlist.append({
                    'invoice': invoice.id,
                    'company': company_id,
                    'configuration': configuration.id,
                    })
        if vlist:
            existing = {s.invoice.id for s in cls.search([
                        ('invoice', 'in', [v['invoice'] for v in vlist]),
                        ])}
            vlist = [v for v in vlist if v['invoice'] not in existing]
        if not vlist:
            return []
        submissions = cls.create(vlist)
        cls._set_deadlines(submissions, services)
        cls.generate_queued(submissions, services)
        cls._prepare_at_posting(submissions, services)
        return submissions

    @classmethod
    def create_for_records(cls, records):
        """Queue a submission for each record without invoice (to the
        configuration it names), as posting does for an invoice"""
        with without_check_access():
            submissions = cls.create([{
                        'record': r.id,
                        'company': r.company.id,
                        'configuration': r.configuration.id,
                        } for r in records])
            services = {}
            cls.generate_queued(submissions, services)
            cls._prepare_at_posting(submissions, services)
        return submissions

    @classmethod
    def _prepare_at_posting(cls, submissions, services):
        """Keep what each service computes now for reporting later (what
        posting fixed): the claim then reads it instead of the invoices.
        What fails is left to the claim, which computes it again."""
        by_configuration = {}
        for submission in submissions:
            by_configuration.setdefault(
                submission.configuration, []).append(submission)
        to_write = []
        for configuration, members in by_configuration.items():
            service = cls._service_of(configuration, services)
            try:
                results, failures = isolate(
                    service.prepare_at_posting, members)
            except ServiceFailure:
                continue
            if failures:
                logger.info("e-invoice records of %s submissions left to "
                    "the claim", len(failures))
            prepared = {}
            for result in results:
                prepared.update(result)
            for submission in members:
                if prepared.get(submission.id):
                    to_write.extend(([submission],
                            {'prepared': prepared[submission.id]}))
        if to_write:
            cls.write_rows(*to_write)

    @classmethod
    def _set_deadlines(cls, submissions, services=None):
        services = {} if services is None else services
        to_write = []
        for submission in submissions:
            if not submission.invoice:
                continue
            deadline = cls._service_of(
                submission.configuration, services).deadline(
                submission.invoice)
            if deadline:
                to_write.extend(([submission], {'deadline': deadline}))
        if to_write:
            cls.write(*to_write)

    @classmethod
    def generate_queued(cls, submissions, services=None):
        """Generate now the documents of services that generate them when
        the work is queued.  What fails is left to the claim, which refuses
        it with its message: queuing never fails."""
        services = {} if services is None else services
        Document = Pool().get('account.einvoice.document')
        by_configuration = {}
        for submission in submissions:
            if submission.state == 'pending' and not submission.generated:
                by_configuration.setdefault(
                    submission.configuration, []).append(submission)
        for configuration, members in by_configuration.items():
            service = cls._service_of(configuration, services)
            if not service.documents or service.generate_on != 'queue':
                continue
            with without_check_access():
                refused = Document.generate_unless_busy(
                    configuration, service, members)
                if refused is None:
                    logger.info("e-invoice chain busy: documents of %s "
                        "submissions left to the next claim", len(members))
                    refused = {}
                if service.qr_at_generation:
                    cls._update_invoice_qr([
                            s for s in members if s.id not in refused],
                        services)
            if refused:
                logger.info("e-invoice documents of %s submissions left to "
                    "the next claim", len(refused))
            if not service.sends:
                # never sent: nothing waits for a sender
                from .claim import record_locally
                record_locally(configuration.id, service.documents,
                    [s.id for s in members])

    @staticmethod
    def new_documents():
        "Values making the next claim generate new documents"
        return {'generated': False, 'chain': None, 'chain_sequence': None}

    @classmethod
    def invoices_cancelled(cls, invoices):
        "Queue a cancellation for what the authority holds"
        with without_check_access():
            cls._invoices_cancelled(invoices)

    @classmethod
    def _invoices_cancelled(cls, invoices):
        submissions = cls.search([
                ('invoice', 'in', [i.id for i in invoices]),
                ])
        to_cancel, to_close, to_flag = [], [], []
        services = {}
        for submission in submissions:
            if submission.state == 'cancelled':
                continue
            if (submission.exchange or submission.needs_query
                    or submission.state == 'processing'):
                to_flag.append(submission)
                continue
            action = cls._service_of(
                submission.configuration, services).cancellation(submission)
            if action == 'after' and submission.state == 'pending':
                to_flag.append(submission)
            elif action in {'cancel', 'after'}:
                to_cancel.append(submission)
            else:
                to_close.append(submission)
        if to_cancel:
            Document = Pool().get('account.einvoice.document')
            Document.supersede([s.id for s in to_cancel])
            cls.write(to_cancel, {
                    'state': 'pending',
                    'operation': 'cancel',
                    'attempts': 0,
                    'next_attempt': None,
                    **cls.new_documents(),
                    })
            cls.generate_queued(to_cancel)
        if to_close:
            cls.write(to_close, {
                    'state': 'cancelled',
                    'message': LocalMessage(
                        'account_einvoice.msg_cancelled_before_reported'),
                    })
        if to_flag:
            cls.write(to_flag, {'cancel_requested': True})
