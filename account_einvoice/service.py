# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The contract between the framework and an authority module.

A country module subclasses :class:`EinvoiceService` and returns it from
``account.einvoice.configuration.get_service`` for its selection value.
The framework owns everything else: claiming work, committing, history,
retries, recovery.  See ``doc/account_einvoice/design.rst``.
"""
import re
from dataclasses import dataclass, field

from lxml import etree

from . import schema, transport
from .exceptions import ServiceFailure

OUTCOME_STATES = {
    'accepted', 'accepted_with_errors', 'rejected', 'cancelled', 'not_found',
    'unknown'}
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
    else (e.g. a "duplicate" answer whose held state must be reconciled)."""
    state: str
    code: str = None
    message: str = None
    reference: str = None
    values: dict = field(default_factory=dict)

    def __post_init__(self):
        assert self.state in OUTCOME_STATES, self.state


@dataclass
class Request:
    """One SOAP call built by a service.

    ``records`` maps submission ids to their element inside ``body`` so
    schema errors can be charged to the right invoice.  ``context`` is kept
    for :meth:`EinvoiceService.parse_response`."""
    operation: str
    body: etree._Element
    records: dict
    wsdl: str
    wsdl_url: str = None
    service_name: str = None
    port_name: str = None
    schema: str = None
    schema_url: str = None
    header: etree._Element = None
    context: dict = field(default_factory=dict)
    forbid_entities: bool = True


class EinvoiceService:
    "Base class of an authority service bound to a company configuration"

    #: most records one request may carry
    batch_limit = 1000
    #: human name for messages
    name = "Authority"

    def __init__(self, configuration):
        self.configuration = configuration

    # -- Selection -------------------------------------------------------
    def applies_to(self, invoice):
        """Tell whether a posted invoice must be reported (called while
        posting: keep it cheap, no network)."""
        return True

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
        :class:`~.local_message.LocalMessage`.  Raise
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

    def build_request(self, submissions, operation):
        """Return a Request for submissions; operation is 'register',
        'modify' or 'cancel'.  A record that cannot be built raises (a
        RecordError naming the field): it is refused alone."""
        raise NotImplementedError

    def build_query(self, submissions):
        "Return a Request asking what the authority holds for submissions"
        raise NotImplementedError

    def parse_response(self, request, body):
        """Return {submission id: Outcome} from the SOAP body of a reply.

        Submissions missing from the result stay unknown and are queried
        later; a malformed body must raise ServiceFailure('unknown')."""
        raise NotImplementedError

    def parse_query(self, request, body):
        "Like parse_response, for build_query (use the 'not_found' state)"
        raise NotImplementedError

    # -- Failures --------------------------------------------------------
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

    # -- Staff actions ---------------------------------------------------
    def reschedule_operation(self, submission):
        "Operation to use when staff reschedule a refused submission"
        if submission.operation == 'cancel':
            return 'cancel'
        return 'modify' if submission.registered else 'register'

    # -- The printed invoice ---------------------------------------------
    def qr_content(self, submission):
        """The content of the QR code the authority requires on the printed
        invoice, or None.  Called when the authority accepts the submission,
        in the transaction that records its answer (no network): stored on
        the invoice as ``einvoice_qr``."""
        return None

    def print_text(self, submission):
        """The text the authority requires printed (its reference, a
        legend), one line per line, or None.  Called when the invoice is
        read or printed, in the reader's language: build it cheaply from
        stored values."""
        return None

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

    def call(self, request, data):
        "Send serialized data; return the parsed transport.Response"
        url, action = self.address(request)
        return transport.parse(transport.post(
                url, data, action, self.certificate, timeout=self.timeout))
