# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The contract between the framework and an authority module.

A country module subclasses :class:`EinvoiceService` and returns it from
``account.einvoice.configuration.get_service`` for its selection value.
The framework owns everything else: claiming work, committing, history,
retries, recovery.  See ``doc/account_einvoice/design.rst``.
"""
import datetime as dt
import re
from dataclasses import dataclass, field

from lxml import etree

from trytond.i18n import gettext

from . import schema, transport
from .exceptions import ServiceFailure

OUTCOME_STATES = {
    'accepted', 'accepted_with_errors', 'rejected', 'cancelled', 'not_found',
    'unknown', 'processing'}
FAULT_CODE = re.compile(r'Codigo\[(\d+)\]\.?\s*(.*)', re.S)


@dataclass
class Outcome:
    """What the authority said about one submission.

    ``not_found``: the authority does not hold the record, so it is safe to
    send it (again).  In a query answer it ends the "outcome unknown"
    state; in an answer to a request it means the authority certainly did
    not take the record and it must be sent again as it is prepared next
    (e.g. with a new sequence number); the submission stays pending.
    ``unknown`` asks the framework to query the authority before anything
    else (e.g. a "duplicate" answer whose held state must be reconciled).
    ``processing``: the authority received the record and will give its
    result later; ``reference`` is its ticket (e.g. the lot number) that
    :meth:`EinvoiceService.build_poll` asks about.

    In a query answer, a ``rejected`` outcome means "not held" (sent
    again) unless ``final``: then the record can never be taken as it is
    (e.g. its number is held by another record and cannot change) and the
    submission ends rejected, as after a request.

    ``document`` (a :class:`~.document.Draft`) is a document the authority
    returned (e.g. its stamped copy of a cleared invoice): kept with the
    submission's documents, never sent."""
    state: str
    code: str = None
    message: str = None
    reference: str = None
    values: dict = field(default_factory=dict)
    document: object = None
    final: bool = False

    def __post_init__(self):
        assert self.state in OUTCOME_STATES, self.state


@dataclass
class Postpone:
    """A result of :meth:`EinvoiceService.check`: the submission cannot be
    checked now (a value it needs from the authority did not come) and is
    not refused; it waits as after a failed call (``attempts`` + 1,
    ``next_attempt`` at ``retry_at`` or after the backoff, ``message`` as
    its *Last Error*) and is left out of the run."""
    message: str
    retry_at: dt.datetime = None


@dataclass
class Request:
    """One call built by a service.

    ``operation`` names the remote operation ('Submit', 'POST documents').
    ``protocol`` is 'soap11', 'soap12', 'json' (a JSON body and answer) or
    'http' (a raw payload, the answer read by the service).  SOAP sends
    ``body`` (and ``header``) to the address of ``port_name`` in the WSDL;
    'json' and 'http' send ``payload`` (bytes; for 'json' also any JSON
    value) to ``url``.  The configured host override applies to both.
    ``headers`` are added to those of the protocol; the names in
    ``secret_headers`` (e.g. 'Authorization', added in
    :meth:`EinvoiceService.before_call`) are sent but never stored nor
    logged.

    ``records`` maps submission ids to their element inside ``body`` so
    schema errors can be charged to the right invoice.  ``context`` is kept
    for :meth:`EinvoiceService.parse_response`."""
    operation: str
    body: etree._Element = None
    records: dict = field(default_factory=dict)
    wsdl: str = None
    wsdl_url: str = None
    service_name: str = None
    port_name: str = None
    schema: str = None
    schema_url: str = None
    header: etree._Element = None
    context: dict = field(default_factory=dict)
    forbid_entities: bool = True
    protocol: str = 'soap11'
    method: str = 'POST'
    url: str = None
    headers: dict = field(default_factory=dict)
    secret_headers: set = field(default_factory=set)
    payload: bytes = None

    def __post_init__(self):
        assert self.protocol in transport.PROTOCOLS, self.protocol


class EinvoiceService:
    "Base class of an authority service bound to a company configuration"

    #: most records one request may carry
    batch_limit = 1000
    #: most records one query may ask about (None: as many as a request)
    query_limit = None
    #: human name for messages
    name = "Authority"

    def __init__(self, configuration):
        self.configuration = configuration

    # -- Selection -------------------------------------------------------
    def applies_to(self, invoice):
        """Tell whether a posted invoice must be reported (called while
        posting: keep it cheap, no network)."""
        return True

    def select_unit(self, invoice, configurations):
        """The configuration (reporting unit) among the company's that
        reports invoice, or None not to report it.  The default: the unit
        listing the invoice's journal, else the one listing no journal."""
        journal = invoice.journal.id if invoice.journal else None
        fallback = None
        for configuration in configurations:
            journals = [j.id for j in configuration.journals]
            if journal in journals:
                return configuration
            if not journals and fallback is None:
                fallback = configuration
        return fallback

    def needs_clearance(self, invoice):
        """Tell whether the authority must accept the invoice before it is
        shared (printed, e-mailed): it is then sent at once after posting
        and cannot be printed until accepted (called while posting)"""
        return False

    # -- Submit now, result later ----------------------------------------
    #: False for a local-only service: its documents are generated,
    #: chained and kept (state 'recorded'), never sent
    sends = True
    #: seconds between the asks about a lot being processed
    poll_delay = 60
    #: seconds after which staff are told a lot is still being processed
    poll_deadline = 3600
    #: seconds the authority may take to process what it received: a
    #: "not held" answer to a query is not believed sooner
    processing_time = 0

    def build_poll(self, ticket, submissions):
        "Return the Request asking the result of the lot ticket"
        raise NotImplementedError

    def parse_poll(self, request, response):
        """{submission id: Outcome} from the answer to build_poll:
        ``processing`` while the authority is still at it, the final
        outcome once done, ``not_found`` (it does not know the lot) or
        ``unknown``: each document is then queried, never sent blindly"""
        raise NotImplementedError

    # -- Grouping --------------------------------------------------------
    def batch_key(self, submission):
        """Extra key of what may share a request beyond company, operation
        and environment (e.g. the book or the point of sale)."""
        return ()

    def limit(self, key):
        "Records per request for a batch key"
        return self.batch_limit

    # -- Local checks ----------------------------------------------------
    def check(self, submissions):
        """Return {submission id: message} for submissions that cannot be
        sent as they are (the authority would refuse them for sure).

        A message is a text or, to be read in each reader's language, a
        :class:`~.local_message.LocalMessage`.  A :class:`Postpone`
        instead of a message does not refuse the submission: it waits.  Raise
        :class:`~.exceptions.RecordError` (or anything else) for a record
        that cannot even be checked: the framework finds which records
        raise and refuses them alone."""
        return {}

    # -- Building and parsing --------------------------------------------
    def prepare(self, submissions):
        """Hook called in the transaction that marks the batch in flight,
        before it is committed (e.g. assign the authority's numbers).

        Return None to send every submission, or the list of those to send
        in that order; the others are deferred: left pending, unclaimed,
        and claimed again shortly (within the ``defer_wait`` seconds of a
        run) or by the next run."""

    def prepare_at_posting(self, submissions):
        """{submission id: text} computed when the invoices are posted,
        kept on the submissions (``prepared``) for check and
        build_request: what cannot change once posted (e.g. the record of
        the invoice), so reporting need not read the invoices again.  It
        must not raise for one bad invoice: leave it out (the claim
        refuses it with its message).  Cleared when staff reschedule."""
        return {}

    def build_request(self, submissions, operation):
        """Return a Request for submissions; operation is 'register',
        'modify' or 'cancel'.  A record that cannot be built raises (a
        RecordError naming the field): it is refused alone."""
        raise NotImplementedError

    def build_query(self, submissions):
        "Return a Request asking what the authority holds for submissions"
        raise NotImplementedError

    def parse_response(self, request, response):
        """Return {submission id: Outcome} from the answer to request.

        response is the :class:`~.transport.Response` that
        :meth:`classify_response` let through: ``status``, ``headers``
        (read with ``response.header(name)``) and ``body``, the first
        child of the SOAP Body, the decoded JSON value ('json') or None
        ('http': read ``content``).  Submissions missing from the result
        stay unknown and are queried later; a malformed body must raise
        ServiceFailure('unknown')."""
        raise NotImplementedError

    def parse_query(self, request, response):
        "Like parse_response, for build_query (use the 'not_found' state)"
        raise NotImplementedError

    # -- Failures --------------------------------------------------------
    def classify_response(self, response):
        """Return the ServiceFailure an answer means, or None when
        parse_response should read it.

        A SOAP Fault (1.1 or 1.2) goes to :meth:`classify_fault`.  For
        'json' and 'http' the HTTP status decides: 2xx is read; 429 and
        503 are 'transient', retried at the time Retry-After names; other
        4xx refuse the whole request ('configuration': 401 and 403 our
        credentials); 3xx, 5xx and anything else may follow processing
        ('unknown').  Authorities override this for documented statuses."""
        fault = transport.fault(response)
        if fault:
            failure = self.classify_fault(*fault)
            failure.response = failure.response or response
            return failure
        status = response.status
        if response.protocol in transport.ENVELOPES or 200 <= status < 300:
            return None
        detail = http_detail(response)
        code = str(status)
        if status in {429, 503}:
            return ServiceFailure('transient', gettext(
                    'account_einvoice.msg_http_busy',
                    status=status, detail=detail),
                code=code, response=response,
                retry_at=transport.retry_after(response))
        if status in {401, 403}:
            return ServiceFailure('configuration', gettext(
                    'account_einvoice.msg_http_unauthorized',
                    status=status, detail=detail),
                code=code, response=response)
        if 400 <= status < 500:
            return ServiceFailure('configuration', gettext(
                    'account_einvoice.msg_http_refused',
                    status=status, detail=detail),
                code=code, response=response)
        return ServiceFailure('unknown', gettext(
                'account_einvoice.msg_http_unknown',
                status=status, detail=detail),
            code=code, response=response)

    def classify_fault(self, code, message):
        """Return the ServiceFailure for a SOAP Fault of the authority.

        The default reads the ``Codigo[N].text`` form and treats every fault
        as a refusal of the whole request to be fixed by an administrator;
        authorities override this for their busy or data codes."""
        match = FAULT_CODE.match(message or '')
        number = match.group(1) if match else None
        return ServiceFailure(
            'configuration', message or code, code=number or code)

    def before_call(self, request):
        """Hook run just before the network call (e.g. authentication);
        may raise ServiceFailure."""

    def check_posting(self, invoices):
        """Return {invoice id: message} for invoices the authority would
        certainly refuse, from their own data: posting them is refused
        with the message (called while posting: no network)."""
        return {}

    # -- Staff actions ---------------------------------------------------
    def cancellation(self, submission):
        """What cancelling the invoice does to a submission that is not in
        flight: 'cancel' (queue a cancellation for the authority),
        'close' (nothing was reported: closed locally) or 'after' (send
        what is queued, then the cancellation)."""
        return 'cancel' if submission.registered else 'close'

    def reschedule_operation(self, submission):
        "Operation to use when staff reschedule a refused submission"
        if submission.operation == 'cancel':
            return 'cancel'
        return 'modify' if submission.registered else 'register'

    # -- Documents generated once ----------------------------------------
    #: True when the service sends stored documents (see document.py)
    documents = False
    #: 'queue': generated in the transaction that queues the work
    #: (posting, cancelling, rescheduling); 'claim': when a sender claims
    #: it (under the chain's lock).  Either way a document is generated
    #: once; what could not be generated when queued is at claim time.
    generate_on = 'claim'
    #: 'query': an unknown outcome is resolved by asking the authority;
    #: 'resend': by sending the stored bytes again (for authorities
    #: without a query); parse_response reads their "already held" answer
    #: as the held state, never as a rejection.
    recovery = 'query'

    def chain_key(self, submission):
        """The key of the chain the submission's documents join (e.g. the
        issuer or the device), or None when they are not chained"""
        return None

    def generate_documents(self, submission, link):
        """Return the list of :class:`~.document.Draft` to send for the
        submission's operation.

        link is the end of the chain (``sequence``, ``digest`` and
        ``anchor`` of its last document; sequence 0 and digest None for an
        empty chain), or None when the submission is not chained.  Raise
        a RecordError naming the field for a record that cannot be
        generated: it is refused alone and the chain does not move."""
        raise NotImplementedError

    def check_documents(self, submission, drafts):
        """Return None, or the message refusing drafts before they are
        stored and chained (e.g. their schema errors)"""
        return None

    def document_digest(self, document, data):
        "Recompute the digest of a stored document (Verify chain)"
        raise NotImplementedError

    def document_previous_digest(self, document, data):
        """The digest of the previous document as written in data, or None
        for the first of a chain (Verify chain)"""
        raise NotImplementedError

    def current_documents(self, submissions):
        "{submission id: [documents to send, in order]}"
        from trytond.pool import Pool
        Document = Pool().get('account.einvoice.document')
        return Document.current_of(submissions)

    # -- Flow control and deadlines --------------------------------------
    #: records waiting that allow a request before the authority's wait
    #: is over (None: never)
    wait_exempt_batch = None
    #: seconds before a submission's deadline staff are told it is still
    #: not accepted
    deadline_notice = 3600

    def wait_after(self, request, response):
        """Seconds the authority asked to wait before the next request, read
        from an answer (e.g. VERI*FACTU's TiempoEsperaEnvio), or None.  The
        default reads an HTTP Retry-After header."""
        when = transport.retry_after(response)
        if when is None:
            return None
        return max((when - dt.datetime.now()).total_seconds(), 0) or None

    def deadline(self, invoice):
        """When the authority must have received the invoice, or None.
        Retries are never scheduled past it and staff are notified
        ``deadline_notice`` seconds before it (and when it has passed)."""
        return None

    # -- The printed invoice ---------------------------------------------
    #: True when the QR code is known once the documents are generated
    #: (it is then stored at posting, before anything is sent)
    qr_at_generation = False

    def qr_content(self, submission):
        """The content of the QR code the authority requires on the printed
        invoice, or None.  Called when the authority accepts the submission,
        in the transaction that records its answer, or when its documents
        are generated if ``qr_at_generation`` (no network): stored on the
        invoice as ``einvoice_qr``."""
        return None

    def print_text(self, submission):
        """The text the authority requires printed (its reference, a
        legend), one line per line, or None.  Called when the invoice is
        read or printed, in the reader's language: build it cheaply from
        stored values."""
        return None

    # -- Onboarding ------------------------------------------------------
    def onboarding_steps(self):
        """[(name, label)] of the calls obtaining the service's credentials
        (see :mod:`.onboarding`), in order; empty: nothing to onboard"""
        return []

    def onboarding_inputs(self, step):
        """What staff must give for step: a subset of
        :data:`.onboarding.INPUTS` (e.g. {'otp'}), used for the call and
        never stored"""
        return set()

    def run_onboarding_step(self, runner, step, data):
        """Do step: ``runner.call(request)`` records each call as an
        exchange of kind onboarding, ``runner.store_secret(key, value)``
        keeps what it obtained; data holds the inputs.  Raise
        ServiceFailure or OnboardingError: the step is done again next
        time, those before it are not."""
        raise NotImplementedError

    # -- Helpers for subclasses ------------------------------------------
    @property
    def certificate(self):
        return self.configuration.get_certificate()

    def wsdl_location(self, request):
        return schema.locate(request.wsdl, request.wsdl_url)

    def address(self, request):
        "Return (url, SOAPAction) with the configured host override applied"
        url, action = schema.endpoint(
            self.wsdl_location(request), request.service_name,
            request.port_name, request.operation,
            forbid_entities=request.forbid_entities)
        return self.configuration.override_url(url), action

    def schema(self, request):
        if not request.schema:
            return None
        return schema.xml_schema(
            schema.locate(request.schema, request.schema_url))

    #: seconds to wait for an answer; None for the configured timeout
    timeout = None
    #: HTTP statuses of non-SOAP answers the authority documents as "the
    #: request was not processed" (e.g. refused by its front end before it
    #: was read): retried later without asking the authority first.  Leave
    #: empty unless documented: any other answer may follow processing.
    unprocessed_statuses = frozenset()

    def serialize(self, request):
        "The bytes to send: the SOAP envelope, or the payload"
        return transport.serialize(request)

    def endpoint(self, request):
        """Return (url, headers) of the call, the configured host override
        applied: SOAP from the WSDL (:meth:`address`), its action in the
        SOAPAction header (1.1) or the Content-Type (1.2); 'json' and
        'http' from ``request.url``.  ``request.headers`` come last."""
        if request.protocol in transport.ENVELOPES:
            url, action = self.address(request)
        else:
            url, action = self.configuration.override_url(request.url), None
        headers = transport.protocol_headers(request.protocol, action)
        headers.update(request.headers)
        return url, headers

    def call(self, request, data):
        "Send serialized data; return the parsed transport.Response"
        url, headers = self.endpoint(request)
        return transport.parse(transport.send(
                request.method, url, data, headers, self.certificate,
                timeout=self.timeout), request.protocol)


def http_detail(response, limit=200):
    "A short text of an HTTP error answer for the messages"
    body = response.body
    if isinstance(body, dict):
        for key in ('error', 'message', 'detail'):
            if isinstance(body.get(key), str):
                return body[key][:limit]
    text = (response.content or b'')[:limit].decode('utf-8', 'replace')
    return ' '.join(text.split())
