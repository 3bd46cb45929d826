# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""WSFEv1: CAE authorization of customer invoices (FECAESolicitar).

Numbering: AFIP numbers the vouchers of each (point of sale, voucher type)
strictly in sequence.  :meth:`WSFEService.prepare` runs in the framework's
claiming transaction; it locks the series' chain (the framework's
``account.einvoice.chain``, key ``PPPPP-TTT``), defers the batch while
another batch of the series is in flight or its outcome is unknown, takes
the last authorized number (``FECompUltimoAutorizado`` when the series is
not known to be in step, else the highest authorized number held here),
numbers the batch, moves the chain's last sequence to the last number given
out and lets the framework commit it before the call.  An unknown outcome
is thus always resolved by asking ``FECompConsultar`` for that number and
comparing every field before anything is sent again.  The submissions are
not chained documents (no ``chain``): the framework's chained claim is for
stored documents, AFIP's vouchers are numbered here at claim time.

A detail refused with 10016 only (not the next number: someone else used
it, or a detail before it in the same request was refused) is answered
``not_found``: it stays pending and is numbered again, after resynchronising
the series, at the next claim.

Vouchers authorized here with a CAEA (``ar_authorization``) have their own
batches and are informed with ``FECAEARegInformativo``, never numbered
again (:mod:`.caea_inform`); their deadline is the CAEA's FchTopeInf.
"""
import datetime as dt
import logging
import threading
import weakref

from trytond.i18n import gettext
from trytond.modules.account_einvoice import rows, schema, transport
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice.service import EinvoiceService, Request
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import afip, answers, caea, caea_inform, checks, printed, rates, ticket
from .afip import E, wsfe_tag
from .voucher import Voucher

logger = logging.getLogger(__name__)
WSDL = 'ar_afip/wsfev1.wsdl'
WSDL_URL = 'https://wswhomo.afip.gov.ar/wsfev1/service.asmx?WSDL'
SERVICE, PORT = 'Service', 'ServiceSoap'
#: placeholders of the credentials in stored requests
TOKEN_MARK = '@@AFIP-TOKEN@@'
SIGN_MARK = '@@AFIP-SIGN@@'
#: the series is asked for its last number at least this often (seconds)
SYNC_INTERVAL = 600
#: wait for a ticket issued elsewhere whose expiration is unknown (WSAA
#: tickets last 12 h)
UNKNOWN_TICKET_WAIT = dt.timedelta(hours=1)
_limits = {}
_limits_lock = threading.Lock()
#: transaction of a run (of the scheduler, or of a posting) ->
#: {configuration id: ServiceFailure of the login refused with
#: coe.alreadyAuthenticated}
_refused_logins = weakref.WeakKeyDictionary()


def wsfe_url(configuration, operation):
    url, action = schema.endpoint(
        schema.locate(WSDL, WSDL_URL), SERVICE, PORT, operation)
    return ticket.production_url(configuration, url), action


class WSFEService(EinvoiceService):
    name = "AFIP WSFEv1"
    batch_limit = 250
    #: CAEA vouchers must be informed by the CAEA's FchTopeInf
    deadline_notice = 2 * 24 * 3600
    #: inside the claiming transaction: no login (see ticket.get)
    claiming = False

    # -- helpers ---------------------------------------------------------
    @property
    def cuit(self):
        return self.configuration.ar_cuit()

    def auth(self):
        return E.Auth(
            E.Token(TOKEN_MARK), E.Sign(SIGN_MARK), E.Cuit(self.cuit))

    def _request(self, operation, body, records=None, context=None):
        return Request(
            operation=operation, body=body, records=records or {},
            wsdl=WSDL, wsdl_url=WSDL_URL, service_name=SERVICE,
            port_name=PORT, schema=WSDL, context=context or {})

    def address(self, request):
        url, action = schema.endpoint(
            self.wsdl_location(request), request.service_name,
            request.port_name, request.operation)
        return ticket.production_url(self.configuration, url), action

    def credentials(self, stale=None):
        """The ticket; after coe.alreadyAuthenticated no other login in the
        same run, and the retry is timed to the other ticket's expiration"""
        with _limits_lock:
            refused = _refused_logins.setdefault(Transaction(), {})
        failure = refused.get(self.configuration.id)
        if failure and not self.claiming:
            raise ServiceFailure(failure.kind, failure.message,
                code=failure.code, retry_at=failure.retry_at)
        try:
            return ticket.get(
                self.configuration, stale=stale, timeout=self.timeout,
                login=not self.claiming)
        except ServiceFailure as failure:
            if failure.code == 'coe.alreadyAuthenticated':
                failure.retry_at = self._other_ticket_expiry()
                refused[self.configuration.id] = failure
            raise

    def _other_ticket_expiry(self):
        "Local time at which the ticket AFIP holds has surely expired"
        expiration = ticket.held_expiration(self.configuration)
        now = ticket.server_now(self.configuration)
        if expiration and expiration > now:
            wait = expiration - now + dt.timedelta(minutes=1)
        else:
            wait = UNKNOWN_TICKET_WAIT
        return dt.datetime.now() + wait

    def call(self, request, data):
        "Fill in the credentials; log in again once if they are refused"
        url, action = self.address(request)
        stale = None
        for attempt in range(2):
            token, sign = self.credentials(stale)
            payload = data.replace(TOKEN_MARK.encode(), token.encode())
            payload = payload.replace(SIGN_MARK.encode(), sign.encode())
            response = transport.parse(transport.post(
                    url, payload, action, self.certificate,
                    timeout=self.timeout))
            if attempt == 0 and self._token_refused(response):
                stale = token
                continue
            return response
        return response

    @staticmethod
    def _token_refused(response):
        if transport.fault(response):
            return False
        codes = {c for c, _ in answers.coded_messages(
                response.body, f'.//{answers.ERRORS}')}
        return '600' in codes

    def simple_call(self, operation, *children):
        "A read-only call outside the exchange history; the Result element"
        request = self._request(
            operation, E(wsfe_tag(operation), self.auth(), *children))
        response = self.call(request, transport.envelope(request.body))
        fault = transport.fault(response)
        if fault:
            raise self.classify_fault(*fault)
        return response.body.find(wsfe_tag(f'{operation}Result'))

    def limit(self, key):
        if key and key[-1]:
            return 1    # FECompConsultar asks one voucher at a time
        with _limits_lock:
            value = _limits.get((self.cuit, self.configuration.environment))
        return min(value or self.batch_limit, self.batch_limit)

    def _fetch_limit(self):
        key = (self.cuit, self.configuration.environment)
        with _limits_lock:
            if key in _limits:
                return
        try:
            result = self.simple_call('FECompTotXRequest')
            value = int(result.findtext(wsfe_tag('RegXReq')) or 0)
        except (ServiceFailure, ValueError, AttributeError):
            logger.warning("FECompTotXRequest failed", exc_info=True)
            return
        if value > 0:
            with _limits_lock:
                _limits[key] = value

    def last_authorized(self, point_of_sale, voucher_type):
        result = self.simple_call('FECompUltimoAutorizado',
            E.PtoVta(str(point_of_sale)), E.CbteTipo(str(voucher_type)))
        errors = answers.coded_messages(result, answers.ERRORS)
        if errors:
            raise ServiceFailure('transient', answers.message_text(errors))
        return int(result.findtext(wsfe_tag('CbteNro')) or 0)

    # -- selection and grouping ------------------------------------------
    def applies_to(self, invoice):
        return invoice.type == 'out'

    def batch_key(self, submission):
        invoice = submission.invoice
        return (
            invoice.ar_pos.number if invoice.ar_pos else 0,
            int(invoice.ar_voucher_type or 0),
            invoice.ar_authorization == 'CAEA',
            bool(submission.needs_query))

    def reschedule_operation(self, submission):
        return 'register'

    # -- local checks ----------------------------------------------------
    def check(self, submissions):
        # Log in now, in a transaction of its own, while the claiming one
        # has written nothing yet (SQLite has one writer at a time).
        try:
            self.credentials()
            self._fetch_limit()
        except ServiceFailure as failure:
            logger.info("no AFIP ticket before the claim: %s", failure)
        # AFIP's exchange rates, while nothing is written yet; an invoice
        # AFIP gives none for waits (Postpone)
        refused = rates.fetch_rates(self, submissions)
        today = ticket.server_now(self.configuration).replace(
            tzinfo=dt.timezone.utc).astimezone(afip.AR_TZ).date()
        last_dates = {}
        for submission in submissions:
            if submission.id in refused:
                continue
            invoice = submission.invoice
            # a CAEA voucher is dated when it was authorized here
            message = checks.check_invoice(invoice, self.cuit) or (
                None if caea_inform.is_caea(submission)
                else checks.check_date(invoice, today, last_dates))
            if message:
                refused[submission.id] = message
        return refused

    # -- numbering -------------------------------------------------------
    def prepare(self, submissions):
        if caea_inform.is_caea(submissions[0]):
            return caea_inform.prepare(self, submissions)
        pool = Pool()
        Series = pool.get('account.einvoice.ar.series')
        Chain = pool.get('account.einvoice.chain')
        Invoice = pool.get('account.invoice')
        Submission = pool.get('account.einvoice.submission')
        invoices = [s.invoice for s in submissions]
        pos = invoices[0].ar_pos
        voucher_type = int(invoices[0].ar_voucher_type)
        series, chain = Series.lock_series(
            self.configuration, pos, voucher_type)

        ids = [s.id for s in submissions]
        blocking = Submission.search([
                ('configuration', '=', self.configuration.id),
                ('invoice.ar_pos', '=', pos.id),
                ('invoice.ar_voucher_type', '=', str(voucher_type)),
                ('state', '=', 'pending'),
                ('id', 'not in', ids),
                ['OR',
                    ('exchange', '!=', None),
                    ('needs_query', '=', True),
                    ],
                ], limit=1)
        ready = []
        for submission in submissions:
            original = submission.invoice.ar_associated_invoice
            if (original and int(submission.invoice.ar_voucher_type)
                    in afip.NOTES and not original.ar_cae):
                continue    # the original voucher is not authorized yet
            ready.append(submission)
        if blocking or not ready:
            return []

        now = dt.datetime.now()
        resync = (series.last_sync is None
            or (now - series.last_sync).total_seconds() > SYNC_INTERVAL
            or any(s.ar_resync for s in ready))
        last = None
        if resync:
            self.claiming = True
            try:
                last = self.last_authorized(pos.number, voucher_type)
                series.last_sync = now
                series.save()
            except ServiceFailure as failure:
                logger.warning("FECompUltimoAutorizado failed: %s", failure)
            finally:
                self.claiming = False
        if last is None:
            # In step (or AFIP unreachable): the highest number authorized
            # here; a 10016 answer makes the next claim ask AFIP.
            last = Series.last_authorized_here(pos, voucher_type)
        ready.sort(key=lambda s: (s.invoice.invoice_date, s.invoice.id))
        to_write = []
        for submission in ready:
            last += 1
            to_write.extend(([submission.invoice], {
                        'ar_voucher_number': last,
                        }))
        # trusted values on posted invoices, thousands at a time
        rows.update(Invoice, *to_write)
        Chain.write([chain], {'last_sequence': last})
        if any(s.ar_resync for s in ready):
            Submission.write_rows(ready, {'ar_resync': False})
        return ready

    # -- requests --------------------------------------------------------
    def build_request(self, submissions, operation):
        if operation != 'register':
            raise ServiceFailure('configuration', gettext(
                    'account_einvoice_ar.msg_operation_unsupported',
                    operation=operation))
        if caea_inform.is_caea(submissions[0]):
            return caea_inform.build_request(self, submissions)
        submissions = sorted(
            submissions, key=lambda s: s.invoice.ar_voucher_number)
        first = submissions[0].invoice
        details, records, numbers = [], {}, {}
        for submission in submissions:
            voucher = Voucher(submission.invoice, self.cuit)
            element = voucher.element()
            details.append(element)
            records[submission.id] = element
            numbers[str(voucher.number)] = submission.id
        body = self.batch_body('FECAESolicitar', 'FeCAEReq', first, details)
        return self._request('FECAESolicitar', body, records, {
                'numbers': numbers,
                'retries': {s.id: s.ar_retries or 0 for s in submissions},
                })

    def batch_body(self, operation, request_tag, first, details):
        "The body of a request of the vouchers of first's series"
        return E(wsfe_tag(operation),
            self.auth(),
            E(wsfe_tag(request_tag),
                E.FeCabReq(
                    E.CantReg(str(len(details))),
                    E.PtoVta(str(first.ar_pos.number)),
                    E.CbteTipo(str(first.ar_voucher_type))),
                E.FeDetReq(*details)))

    def build_query(self, submissions):
        submission, = submissions
        invoice = submission.invoice
        voucher = Voucher(invoice, self.cuit)
        request = E.FeCompConsReq(
            E.CbteTipo(str(invoice.ar_voucher_type)),
            E.CbteNro(str(invoice.ar_voucher_number or 0)),
            E.PtoVta(str(invoice.ar_pos.number)))
        body = E.FECompConsultar(self.auth(), request)
        context = {
            'submission': submission.id,
            'expected': voucher.fields(),
            }
        if caea_inform.is_caea(submission):
            context.update(caea_inform.query_context(submission))
        return self._request('FECompConsultar', body,
            {submission.id: request}, context)

    # -- answers ---------------------------------------------------------
    def parse_response(self, request, response):
        if request.operation == 'FECAEARegInformativo':
            return caea_inform.outcomes(request, response.body)
        return answers.solicitar_outcomes(request, response.body)

    def parse_query(self, request, response):
        if 'caea' in request.context:
            return caea_inform.consultar_outcomes(request, response.body)
        return answers.consultar_outcomes(request, response.body)

    def deadline(self, invoice):
        "CAEA vouchers: informed by the CAEA's report deadline"
        if invoice.ar_authorization != 'CAEA' or not invoice.ar_cae:
            return None
        Caea = Pool().get('account.einvoice.ar.caea')
        record = Caea.of_code(self.configuration, invoice.ar_cae)
        if record and record.report_deadline:
            return caea.end_of_day(record.report_deadline)
        return None

    def classify_fault(self, code, message):
        if 'unable to read request' in (message or ''):
            return ServiceFailure('configuration', message, code=code)
        if code.endswith('Server'):
            return ServiceFailure('transient', message, code=code)
        return ServiceFailure('configuration', message, code=code)

    def before_call(self, request):
        self.credentials()

    # -- the printed voucher ---------------------------------------------
    def qr_content(self, submission):
        return printed.qr_url(submission.invoice, self.cuit,
            submission.reference)

    def print_text(self, submission):
        return printed.print_text(submission.invoice)
