# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import logging

from sql import Null

from trytond.i18n import gettext
from trytond.model import Check, Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import rows
from .exceptions import SubmissionError
from .local_message import render, stored_values
from .queueing import Queueing

logger = logging.getLogger(__name__)

STATES = [
    ('pending', "Pending"),
    ('processing', "Processing"),
    ('accepted', "Accepted"),
    ('accepted_with_errors', "Accepted with Errors"),
    ('rejected', "Rejected"),
    ('cancelled', "Cancelled"),
    ('recorded', "Recorded"),
    ]
OPERATIONS = [
    ('register', "Register"),
    ('modify', "Modify"),
    ('cancel', "Cancel"),
    ]


class Submission(Queueing, ModelSQL, ModelView):
    __name__ = 'account.einvoice.submission'
    __string__ = "E-Invoice Submission"

    invoice = fields.Many2One(
        'account.invoice', "Invoice", readonly=True, ondelete='RESTRICT',
        states={'invisible': ~Eval('invoice') & Eval('record')},
        depends=['record'])
    record = fields.Many2One(
        'account.einvoice.record', "Record without Invoice", readonly=True,
        ondelete='RESTRICT',
        states={'invisible': ~Eval('record')},
        help="What is reported when it is not an invoice (e.g. the voiding "
        "of unused numbers, a system event).")
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", required=True,
        readonly=True, ondelete='RESTRICT')
    party = fields.Function(
        fields.Many2One('party.party', "Party",
            context={'company': Eval('company', -1)}, depends={'company'}),
        'get_invoice_field', searcher='search_invoice_field')
    invoice_date = fields.Function(
        fields.Date("Invoice Date"), 'get_invoice_field',
        searcher='search_invoice_field')
    invoice_type = fields.Function(
        fields.Selection('get_invoice_types', "Invoice Type"),
        'get_invoice_field', searcher='search_invoice_field')
    total_amount = fields.Function(
        fields.Numeric("Total", digits=(16, 2)), 'get_invoice_field')
    service = fields.Function(
        fields.Char("Service"), 'get_service_code',
        searcher='search_service_code')
    state = fields.Selection(STATES, "State", readonly=True, sort=False)
    operation = fields.Selection(OPERATIONS, "Operation", readonly=True,
        help="What the next request asks the authority to do.")
    registered = fields.Boolean("Held by the Authority", readonly=True,
        help="The authority has accepted this invoice at least once.")
    needs_query = fields.Boolean("Outcome Unknown", readonly=True,
        help="The last request may have been processed: the authority is "
        "asked before anything is sent again.")
    cancel_requested = fields.Boolean("Cancellation Requested", readonly=True)
    exchange = fields.Many2One(
        'account.einvoice.exchange', "In Flight", readonly=True,
        ondelete='SET NULL')
    attempts = fields.Integer("Failed Attempts", readonly=True)
    next_attempt = fields.DateTime("Next Attempt", readonly=True)
    reference = fields.Char("Reference", readonly=True,
        help="The authority's reference (CSV, CAE...).")
    code = fields.Char("Code", readonly=True)
    message = fields.Function(fields.Text("Message"),
        'get_message', setter='set_message', searcher='search_message')
    message_text = fields.Text("Message as Stored", readonly=True,
        help="The authority's text, or ours in the writer's language.")
    message_id = fields.Char("Message ID", readonly=True)
    message_params = fields.Dict(None, "Message Parameters", readonly=True)
    last_error = fields.Text("Last Error", readonly=True)
    generated = fields.Boolean("Documents Generated", readonly=True,
        help="The documents of the current operation are stored and are "
        "what every request sends.")
    documents = fields.One2Many(
        'account.einvoice.document', 'submission', "Documents",
        readonly=True, order=[('id', 'DESC')])
    chain = fields.Many2One(
        'account.einvoice.chain', "Chain", readonly=True,
        ondelete='RESTRICT')
    chain_sequence = fields.Integer("Chain Sequence", readonly=True,
        help="The position of the current document in its chain: sent "
        "after every earlier one.")
    deadline = fields.DateTime("Deadline", readonly=True,
        help="When the authority must have received it.")
    deadline_notice = fields.Selection([
            (None, ""),
            ('warned', "Warned"),
            ('missed', "Missed"),
            ], "Deadline Notice", readonly=True)
    ticket = fields.Char("Ticket", readonly=True,
        help="The authority's reference of the lot being processed: its "
        "result is asked for later.")
    poll_deadline = fields.DateTime("Processing Deadline", readonly=True,
        help="When the authority should have processed the lot: staff are "
        "told if it has not.")
    poll_notified = fields.Boolean("Processing Delay Notified", readonly=True)
    clearance = fields.Boolean("Clearance Required", readonly=True,
        help="The authority must accept the invoice before it is printed "
        "or sent to the customer.")
    prepared = fields.Text("Prepared at Posting", readonly=True,
        help="What the service computed when the invoice was posted to "
        "report it later; computed again when it is rescheduled.")
    outcomes = fields.One2Many(
        'account.einvoice.exchange.outcome', 'submission', "History",
        readonly=True, order=[('id', 'DESC')])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'DESC')]
        t = cls.__table__()
        cls._sql_constraints += [
            ('invoice_unique', Unique(t, t.invoice),
                'account_einvoice.msg_submission_invoice_unique'),
            ('record_unique', Unique(t, t.record),
                'account_einvoice.msg_submission_invoice_unique'),
            ('origin_required', Check(t,
                    (t.invoice != Null) | (t.record != Null)),
                'account_einvoice.msg_submission_origin_required'),
            ]
        cls._sql_indexes.update({
                Index(t,
                    (t.company, Index.Equality()),
                    (t.id, Index.Range()),
                    where=(t.state == 'pending') & (t.exchange == Null)),
                Index(t, (t.state, Index.Equality(cardinality='low'))),
                Index(t, (t.exchange, Index.Equality()),
                    where=t.exchange != Null),
                Index(t,
                    (t.chain, Index.Equality()),
                    (t.chain_sequence, Index.Range()),
                    where=(t.state == 'pending') & (t.chain != Null)),
                Index(t, (t.deadline, Index.Range()),
                    where=(t.state == 'pending') & (t.deadline != Null)),
                })
        cls._buttons.update({
                'reschedule': {
                    'invisible': ~Eval('state').in_(
                        ['rejected', 'accepted_with_errors']),
                    'depends': ['state'],
                    },
                'send_now': {
                    'invisible': Eval('state') != 'pending',
                    'readonly': Eval('exchange', None) != None,  # noqa: E711
                    'depends': ['state', 'exchange'],
                    },
                })

    @classmethod
    def __register__(cls, module):
        # message became a Function field rendered in the reader's language
        cls.__table_handler__(module).column_rename('message', 'message_text')
        super().__register__(module)

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def default_operation(cls):
        return 'register'

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def default_registered(cls):
        return False

    @classmethod
    def default_needs_query(cls):
        return False

    @classmethod
    def default_cancel_requested(cls):
        return False

    @classmethod
    def default_poll_notified(cls):
        return False

    @classmethod
    def default_clearance(cls):
        return False

    @classmethod
    def default_generated(cls):
        return False

    def get_rec_name(self, name):
        if self.invoice:
            return self.invoice.rec_name
        return self.record.rec_name if self.record else str(self.id)

    def get_message(self, name):
        return render(
            self.message_text, self.message_id, self.message_params)

    @classmethod
    def set_message(cls, submissions, name, value):
        "Store a text as it is, or a LocalMessage by reference"
        cls.write(submissions, stored_values(value))

    @classmethod
    def write_rows(cls, *args):
        """Write the framework's bookkeeping of (submissions, values)
        pairs in bulk (see :mod:`.rows`): no validation, triggers or
        per-record reads; a message is stored as set_message does"""
        pairs = []
        actions = iter(args)
        for records, values in zip(actions, actions):
            values = dict(values)
            if 'message' in values:
                values.update(stored_values(values.pop('message')))
            pairs.extend((records, values))
        rows.update(cls, *pairs)
        cls._values_written(args)

    @classmethod
    def write(cls, *args):
        super().write(*args)
        cls._values_written(args)

    @classmethod
    def _values_written(cls, args):
        """Hook called with the (submissions, values) pairs written by
        write or write_rows: what depends on them (the printed invoice,
        a number on the invoice) is updated here"""

    @classmethod
    def search_message(cls, name, clause):
        return [('message_text',) + tuple(clause[1:])]

    @classmethod
    def search_rec_name(cls, name, clause):
        bool_op = 'AND' if clause[1].startswith('!') else 'OR'
        return [bool_op,
            ('invoice.rec_name',) + tuple(clause[1:]),
            ('record.rec_name',) + tuple(clause[1:]),
            ]

    @classmethod
    def get_invoice_types(cls):
        Invoice = Pool().get('account.invoice')
        return [(None, '')] + Invoice.fields_get(['type'])['type']['selection']

    def get_invoice_field(self, name):
        if not self.invoice:
            return None
        value = getattr(self.invoice, {
                'invoice_type': 'type'}.get(name, name))
        if isinstance(value, ModelSQL):
            return value.id
        return value

    @classmethod
    def search_invoice_field(cls, name, clause):
        nested = clause[0][len(name):]
        field = {'invoice_type': 'type'}.get(name, name)
        return [('invoice.' + field + nested,) + tuple(clause[1:])]

    def get_service(self):
        return self.configuration.get_service()

    def get_service_code(self, name):
        return self.configuration.service

    @classmethod
    def search_service_code(cls, name, clause):
        return [('configuration.service',) + tuple(clause[1:])]

    # -- Staff actions ---------------------------------------------------
    @classmethod
    @ModelView.button
    def reschedule(cls, submissions):
        for submission in submissions:
            if submission.state not in {'rejected', 'accepted_with_errors'}:
                raise SubmissionError(gettext(
                        'account_einvoice.msg_reschedule_state',
                        submission=submission.rec_name))
        to_write = []
        for submission in submissions:
            operation = submission.get_service().reschedule_operation(
                submission)
            to_write.extend(([submission], {
                        'state': 'pending',
                        'operation': operation,
                        'attempts': 0,
                        'next_attempt': None,
                        'last_error': None,
                        'deadline_notice': None,
                        'prepared': None,
                        **cls.new_documents(),
                        }))
        if to_write:
            Document = Pool().get('account.einvoice.document')
            Document.supersede([s.id for s in submissions])
            cls.write(*to_write)
            cls.generate_queued(submissions)

    @classmethod
    @ModelView.button
    def send_now(cls, submissions):
        pending = [s for s in submissions if s.state == 'pending']
        if not pending:
            return
        cls.write(pending, {'next_attempt': None})
        with Transaction().set_context(queue_name='account_einvoice'):
            cls.__queue__.process(pending)

    # -- Processing ------------------------------------------------------
    @classmethod
    def process(cls, submissions):
        "Send the given pending submissions now (queue task)"
        by_configuration = {}
        for submission in submissions:
            by_configuration.setdefault(
                submission.configuration, []).append(submission.id)
        for configuration, ids in by_configuration.items():
            cls._run(configuration, ids=ids)

    @classmethod
    def send_pending(cls):
        "Cron: report what is pending for the context company (or all)"
        transaction = Transaction()
        if not transaction.database.has_select_for():
            cls._send_pending()
            return
        # The processing commits after each call: do it in a transaction of
        # its own so the caller (ir.cron) keeps its lock on the cron row and
        # other cron processes do not start the same job meanwhile.
        with transaction.new_transaction() as processing:
            cls._send_pending()
            processing.commit()

    @classmethod
    def _send_pending(cls):
        pool = Pool()
        Configuration = pool.get('account.einvoice.configuration')
        company_id = Transaction().context.get('company')
        domain = []
        if company_id:
            domain.append(('company', '=', company_id))
        for configuration in Configuration.search(domain):
            cls._run(configuration)

    @classmethod
    def _run(cls, configuration, ids=None):
        """Report for one configuration; what goes wrong unexpectedly is
        recorded on it and never stops the other configurations"""
        from .deadline import notify_deadlines
        from .polling import notify_late_lots
        from .processing import Processor
        pool = Pool()
        Configuration = pool.get('account.einvoice.configuration')
        transaction = Transaction()
        configuration_id = configuration.id
        try:
            notify_deadlines(configuration)
            notify_late_lots(configuration)
            transaction.commit()
            Processor(configuration, ids=ids).run()
        except Exception as exception:
            logger.exception(
                "e-invoice configuration %s failed", configuration_id)
            transaction.rollback()
            message = gettext('account_einvoice.msg_configuration_crashed',
                error=f'{exception.__class__.__name__}: {exception}')
            try:
                Configuration(configuration_id).record_failure(message)
                transaction.commit()
            except Exception:
                logger.exception("could not record the failure of "
                    "e-invoice configuration %s", configuration_id)
                transaction.rollback()

    @classmethod
    def copy(cls, submissions, default=None):
        if not submissions:
            return []
        raise SubmissionError(gettext('account_einvoice.msg_submission_copy'))

    @classmethod
    def delete(cls, submissions):
        for submission in submissions:
            if submission.registered or submission.exchange:
                raise SubmissionError(gettext(
                        'account_einvoice.msg_submission_delete',
                        submission=submission.rec_name))
        super().delete(submissions)


def backoff(attempts, base, maximum):
    "Delay before the next attempt after attempts consecutive failures"
    seconds = min(base * (2 ** max(attempts - 1, 0)), maximum)
    return dt.timedelta(seconds=seconds)
