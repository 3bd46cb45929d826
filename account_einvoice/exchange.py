# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import json
import os
import socket

from sql import Column, Null

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .local_message import render, stored_values
from .transport import public_headers

STATES = [
    ('in_flight', "In Flight"),
    ('recovering', "Recovering"),
    ('done', "Done"),
    ('failed', "Failed"),
    ('unknown', "Outcome Unknown"),
    ('recovered', "Recovered"),
    ]
KINDS = [
    ('send', "Send"),
    ('query', "Query"),
    ('poll', "Poll"),
    ('onboarding', "Onboarding"),
    ]
OUTCOME_KINDS = KINDS + [('local', "Local Check")]
PROTOCOLS = [
    (None, ""),
    ('soap11', "SOAP 1.1"),
    ('soap12', "SOAP 1.2"),
    ('json', "HTTP/JSON"),
    ('http', "HTTP"),
    ]
EXTENSIONS = {'json': 'json', 'http': 'bin'}
OUTCOME_STATES = [
    ('accepted', "Accepted"),
    ('accepted_with_errors', "Accepted with Errors"),
    ('rejected', "Rejected"),
    ('cancelled', "Cancelled"),
    ('not_found', "Not Found"),
    ('pending', "Pending"),
    ('processing', "Processing"),
    ('recorded', "Recorded"),
    ('unknown', "Unknown"),
    ]


def worker_id():
    "Identify this process so a crashed sender can be told from a slow one"
    return f'{socket.gethostname()}:{os.getpid()}'


class Exchange(ModelSQL, ModelView):
    __name__ = 'account.einvoice.exchange'
    __string__ = "E-Invoice Exchange"

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", readonly=True,
        ondelete='SET NULL')
    service = fields.Char("Service", readonly=True)
    environment = fields.Char("Environment", readonly=True)
    kind = fields.Selection(KINDS, "Kind", readonly=True)
    operation = fields.Char("Operation", readonly=True,
        help="The record operation (register, modify, cancel).")
    remote_operation = fields.Char("Remote Operation", readonly=True,
        help="The operation of the authority that was called.")
    protocol = fields.Selection(PROTOCOLS, "Protocol", readonly=True)
    endpoint = fields.Char("Endpoint", readonly=True)
    http_status = fields.Integer("HTTP Status", readonly=True)
    request_headers = fields.Text("Request Headers", readonly=True,
        help="The HTTP headers sent, without the secret ones "
        "(credentials).")
    response_headers = fields.Text("Response Headers", readonly=True)
    started = fields.DateTime("Started", readonly=True)
    sent = fields.Timestamp("Sent", readonly=True,
        help="When the request left for the authority (committed just "
        "before the call); empty while it has not been sent.")
    failure = fields.Char("Failure", readonly=True,
        help="The kind of failure of the call (not_sent, unknown, "
        "transient, configuration).")
    duration = fields.Float("Duration (s)", digits=(16, 3), readonly=True)
    state = fields.Selection(STATES, "State", readonly=True)
    result = fields.Char("Result", readonly=True,
        help="The authority's overall answer.")
    error = fields.Text("Error", readonly=True)
    worker = fields.Char("Worker", readonly=True)
    record_count = fields.Integer("Records", readonly=True)
    request = fields.Binary(
        "Request", filename='request_filename', file_id='request_id',
        store_prefix='account_einvoice', readonly=True)
    request_id = fields.Char("Request ID", readonly=True)
    request_filename = fields.Function(
        fields.Char("Request File Name"), 'get_filename')
    response = fields.Binary(
        "Response", filename='response_filename', file_id='response_id',
        store_prefix='account_einvoice', readonly=True)
    response_id = fields.Char("Response ID", readonly=True)
    response_filename = fields.Function(
        fields.Char("Response File Name"), 'get_filename')
    outcomes = fields.One2Many(
        'account.einvoice.exchange.outcome', 'exchange', "Outcomes",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('started', 'DESC'), ('id', 'DESC')]
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.state, Index.Equality(cardinality='low')),
                where=t.state.in_(['in_flight', 'recovering'])))

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        table = cls.__table__()
        created = not table_h.column_exist('sent')
        # the history records any protocol, not only SOAP
        table_h.column_rename('soap_operation', 'remote_operation')
        protocol_created = not table_h.column_exist('protocol')
        super().__register__(module)
        cursor = Transaction().connection.cursor()
        if created:
            # Before this column, every stored request may have been sent
            # when its exchange started.
            cursor.execute(*table.update(
                    [table.sent], [table.started],
                    where=table.request_id != Null))
        if protocol_created:
            # Before this column, every call was SOAP 1.1
            cursor.execute(*table.update(
                    [table.protocol], ['soap11'],
                    where=table.remote_operation != Null))

    def get_rec_name(self, name):
        return f'{self.remote_operation or self.kind} @ {self.started}'

    def get_filename(self, name):
        kind = name.split('_')[0]
        extension = EXTENSIONS.get(self.protocol, 'xml')
        return f'{self.kind}-{self.id}-{kind}.{extension}'

    @staticmethod
    def dump_headers(headers, secret=()):
        """The text stored for HTTP headers: JSON without the secret ones
        (transport.public_headers)"""
        if headers is None:
            return None
        return json.dumps(public_headers(headers, secret), sort_keys=True,
            indent=1, ensure_ascii=False)

    @classmethod
    def store_answer(cls, exchange_id, response, secret=()):
        """Write the HTTP status and headers of the answer to an exchange
        (no commit: the transaction that records the answer does)"""
        table = cls.__table__()
        Transaction().connection.cursor().execute(*table.update(
                [table.http_status, table.response_headers],
                [response.status,
                    cls.dump_headers(response.headers, secret)],
                where=table.id == exchange_id))


class Outcome(ModelSQL, ModelView):
    __name__ = 'account.einvoice.exchange.outcome'
    __string__ = "E-Invoice Exchange Outcome"

    exchange = fields.Many2One(
        'account.einvoice.exchange', "Exchange", ondelete='CASCADE',
        readonly=True, help="Empty when refused before sending.")
    submission = fields.Many2One(
        'account.einvoice.submission', "Submission", required=True,
        ondelete='CASCADE', readonly=True)
    started = fields.Function(
        fields.DateTime("Date"), 'get_exchange_field')
    kind = fields.Function(
        fields.Selection(OUTCOME_KINDS, "Kind"), 'get_exchange_field')
    operation = fields.Char("Operation", readonly=True)
    state = fields.Selection(OUTCOME_STATES, "Outcome", readonly=True)
    code = fields.Char("Code", readonly=True)
    message = fields.Function(fields.Text("Message"),
        'get_message', searcher='search_message')
    message_text = fields.Text("Message as Stored", readonly=True,
        help="The authority's text, or ours in the writer's language.")
    message_id = fields.Char("Message ID", readonly=True)
    message_params = fields.Dict(None, "Message Parameters", readonly=True)
    reference = fields.Char("Reference", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'DESC')]
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.submission, Index.Range())))

    @classmethod
    def __register__(cls, module):
        # message became a Function field rendered in the reader's language
        cls.__table_handler__(module).column_rename('message', 'message_text')
        super().__register__(module)

    def get_message(self, name):
        return render(
            self.message_text, self.message_id, self.message_params)

    @classmethod
    def search_message(cls, name, clause):
        return [('message_text',) + tuple(clause[1:])]

    @classmethod
    def log(cls, rows):
        """Insert outcome rows in bulk.

        They are written only by the framework, from trusted values, often
        by thousands at a time: the per-record validation of create() would
        cost more than the exchange itself."""
        if not rows:
            return
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        names = [
            'exchange', 'submission', 'operation', 'state', 'code',
            'reference']
        message_names = ['message_text', 'message_id', 'message_params']
        params = cls.message_params.sql_format
        columns = [Column(table, n) for n in names + message_names] + [
            table.create_uid, table.create_date]
        now = dt.datetime.now()
        stored = {}
        for chunk in grouped_slice(rows, 500):
            values = []
            for row in chunk:
                # the same message is often logged for a whole batch
                message = row.get('message')
                if message not in stored:
                    message_values = stored_values(message)
                    message_values['message_params'] = params(
                        message_values['message_params'])
                    stored[message] = [
                        message_values[n] for n in message_names]
                values.append([row.get(n) for n in names]
                    + stored[message] + [transaction.user, now])
            cursor.execute(*table.insert(columns, values))

    def get_exchange_field(self, name):
        if not self.exchange:
            if name == 'kind':
                return 'local'
            # DateTime fields hold whole seconds
            return self.create_date.replace(microsecond=0)
        return getattr(self.exchange, name)
