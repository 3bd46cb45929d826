# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""WSFEv1: CAE authorization of customer invoices (FECAESolicitar).

Numbering: AFIP numbers the vouchers of each (point of sale, voucher type)
strictly in sequence.  :meth:`WSFEService.prepare` runs in the framework's
claiming transaction; it locks the series row, defers the batch while
another batch of the series is in flight or its outcome is unknown, takes
the last authorized number (``FECompUltimoAutorizado`` when the series is
not known to be in step, else the highest authorized number held here),
numbers the batch and lets the framework commit it before the call.  An
unknown outcome is thus always resolved by asking ``FECompConsultar`` for
that number and comparing every field before anything is sent again.

A detail refused with 10016 only (not the next number: someone else used
it, or a detail before it in the same request was refused) is answered
``not_found``: it stays pending and is numbered again, after resynchronising
the series, at the next claim.
"""
import datetime as dt
import logging
import threading
import weakref
from collections import defaultdict
from decimal import Decimal

from lxml import etree
from lxml.builder import ElementMaker

from trytond import config
from trytond.i18n import gettext
from trytond.modules.account_einvoice import schema, transport
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.modules.account_einvoice.service import (
    EinvoiceService, Outcome, Request)
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import afip, ticket

logger = logging.getLogger(__name__)
WSFE_NS = 'http://ar.gov.afip.dif.FEV1/'
WSDL = 'ar_afip/wsfev1.wsdl'
WSDL_URL = 'https://wswhomo.afip.gov.ar/wsfev1/service.asmx?WSDL'
SERVICE, PORT = 'Service', 'ServiceSoap'
E = ElementMaker(namespace=WSFE_NS, nsmap={None: WSFE_NS})
#: placeholders of the credentials in stored requests
TOKEN_MARK = '@@AFIP-TOKEN@@'
SIGN_MARK = '@@AFIP-SIGN@@'
#: sends of one invoice refused with 10016 only before it is rejected
MAX_RESYNC = 4
#: the series is asked for its last number at least this often (seconds)
SYNC_INTERVAL = 600
AUTH_ERRORS = {'600', '601', '602'}
COMPARED = ['Concepto', 'DocTipo', 'DocNro', 'CbteFch', 'ImpTotal',
    'ImpTotConc', 'ImpNeto', 'ImpOpEx', 'ImpTrib', 'ImpIVA', 'MonId',
    'MonCotiz']
#: days a voucher may be dated before or after the day it is sent, by
#: Concepto (AFIP's CbteFch rule, refused with 10016)
DATE_WINDOW = {'1': 5, '2': 10, '3': 10}
#: pesos from which a final consumer must be identified (RG 5700/2025)
IDENTIFICATION_THRESHOLD = Decimal('10000000')
#: wait for a ticket issued elsewhere whose expiration is unknown (WSAA
#: tickets last 12 h)
UNKNOWN_TICKET_WAIT = dt.timedelta(hours=1)
_limits = {}
_limits_lock = threading.Lock()
#: transaction of a run (of the scheduler, or of a posting) ->
#: {configuration id: ServiceFailure of the login refused with
#: coe.alreadyAuthenticated}
_refused_logins = weakref.WeakKeyDictionary()


def identification_threshold():
    "Option consumer_identification_threshold of [account_einvoice_ar]"
    value = config.get('account_einvoice_ar',
        'consumer_identification_threshold', default=None)
    return Decimal(value) if value else IDENTIFICATION_THRESHOLD


def _q(tag):
    return f'{{{WSFE_NS}}}{tag}'


def wsfe_url(configuration, operation):
    url, action = schema.endpoint(
        schema.locate(WSDL, WSDL_URL), SERVICE, PORT, operation)
    return ticket.production_url(configuration, url), action


def _messages(parent, path):
    result = []
    if parent is None:
        return result
    for item in parent.iterfind(path):
        result.append((
                (item.findtext(_q('Code')) or '').strip(),
                (item.findtext(_q('Msg')) or '').strip()))
    return result


def _text(messages):
    return '\n'.join(f'{c}: {m}' for c, m in messages) or None


def _same(name, expected, found):
    if expected is None or found is None:
        return (expected or None) == (found or None)
    if name.startswith('Imp') or name in {'MonCotiz', 'DocNro'}:
        try:
            return abs(Decimal(str(expected)) - Decimal(str(found))) < (
                Decimal('0.005'))
        except ArithmeticError:
            return False
    return str(expected).strip() == str(found).strip()


def _authorized(cae, due, observations):
    """The Outcome of an approval: accepted only with a CAE and its due
    date, else unknown (asked again)"""
    cae = (cae or '').strip()
    due_date = afip.parse_afip_date(due)
    missing = [name for name, ok in [
            ('CAE', len(cae) == 14 and cae.isdigit()),
            ('CAEFchVto', due_date is not None)] if not ok]
    if missing:
        return Outcome('unknown', message=gettext(
                'account_einvoice_ar.msg_answer_incomplete',
                missing=', '.join(missing)))
    return Outcome(
        'accepted',
        code=','.join(c for c, _ in observations) or None,
        message=_text(observations),
        reference=cae,
        values={
            'ar_cae_due_date': due_date,
            'ar_retries': 0,
            })


def _agreed(outcomes):
    """One Outcome from the answers given for one voucher: answers that
    contradict each other leave it unknown (asked again)"""
    first = outcomes[0]
    if all((o.state, o.reference, o.code) == (
                first.state, first.reference, first.code)
            for o in outcomes[1:]):
        return first
    return Outcome('unknown', message=gettext(
            'account_einvoice_ar.msg_answer_contradictory',
            answers='; '.join(
                ' '.join(filter(None, [o.state, o.reference, o.code]))
                for o in outcomes)))


class Voucher:
    "What AFIP is told about one invoice (amounts in its currency)"

    def __init__(self, invoice, cuit, number=None):
        self.invoice = invoice
        self.cuit = cuit
        self.number = number or invoice.ar_voucher_number
        self.errors = []
        self.compute()

    def compute(self):
        invoice = self.invoice
        sign = -1 if invoice.total_amount < 0 else 1
        self.sign = sign
        self.type = int(invoice.ar_voucher_type or 0)
        self.klass = afip.VOUCHER_CLASS.get(self.type)
        neto = iva = exempt = not_taxed = tributes_total = Decimal(0)
        ivas = defaultdict(lambda: [Decimal(0), Decimal(0)])
        tributes = defaultdict(lambda: [Decimal(0), Decimal(0), None])
        for line in invoice.taxes:
            tax = line.tax
            kind = tax.ar_kind if tax else None
            base, value = line.base * sign, line.amount * sign
            if kind == 'iva':
                if not tax.ar_iva_id:
                    self.errors.append(gettext(
                            'account_einvoice_ar.msg_tax_iva_id',
                            tax=tax.rec_name))
                    continue
                ivas[tax.ar_iva_id][0] += base
                ivas[tax.ar_iva_id][1] += value
                neto += base
                iva += value
            elif kind == 'exempt':
                exempt += base
            elif kind == 'not_taxed':
                not_taxed += base
            elif kind == 'tribute':
                rate = (tax.rate or Decimal(0)) * 100
                key = (tax.ar_tribute_id or '99', rate)
                tributes[key][0] += base
                tributes[key][1] += value
                tributes[key][2] = tax.name
                tributes_total += value
            else:
                self.errors.append(gettext(
                        'account_einvoice_ar.msg_tax_kind',
                        tax=tax.rec_name if tax else line.description))
        untaxed = invoice.untaxed_amount * sign
        total = invoice.total_amount * sign
        # lines carrying no IVA tax at all are not taxed
        not_taxed += untaxed - neto - exempt - not_taxed
        if self.klass == 'C':
            if iva:
                self.errors.append(gettext(
                        'account_einvoice_ar.msg_class_c_iva'))
            neto, iva, exempt, not_taxed = untaxed, Decimal(0), 0, 0
            ivas = {}
        self.amounts = {
            'ImpTotal': total,
            'ImpTotConc': not_taxed,
            'ImpNeto': neto,
            'ImpOpEx': exempt,
            'ImpTrib': tributes_total,
            'ImpIVA': iva,
            }
        self.ivas = sorted(ivas.items())
        self.tributes = sorted(tributes.items())

    @property
    def document(self):
        invoice = self.invoice
        if invoice.ar_document_type:
            return int(invoice.ar_document_type), int(
                invoice.ar_document_number or 0)
        return afip.WITHOUT_DOCUMENT

    def currency(self):
        invoice = self.invoice
        code = afip.CURRENCIES.get(invoice.currency.code)
        if code == 'PES':
            return code, Decimal(1)
        return code, invoice.ar_currency_rate or Decimal(0)

    def service_dates(self):
        invoice = self.invoice
        if invoice.ar_concept in {'2', '3'}:
            due = invoice.ar_payment_due_date or invoice.invoice_date
            return (
                invoice.ar_service_start or invoice.invoice_date,
                invoice.ar_service_end or invoice.invoice_date,
                due)
        return None, None, None

    def fields(self):
        "The scalar fields, as strings, in the WSDL's order"
        invoice = self.invoice
        doc_type, doc_number = self.document
        start, end, due = self.service_dates()
        currency, rate = self.currency()
        values = {
            'Concepto': invoice.ar_concept or '1',
            'DocTipo': str(doc_type),
            'DocNro': str(doc_number),
            'CbteDesde': str(self.number or 0),
            'CbteHasta': str(self.number or 0),
            'CbteFch': afip.afip_date(invoice.invoice_date),
            }
        for name in ['ImpTotal', 'ImpTotConc', 'ImpNeto', 'ImpOpEx',
                'ImpTrib', 'ImpIVA']:
            values[name] = afip.amount(self.amounts[name])
        values.update({
                'FchServDesde': afip.afip_date(start),
                'FchServHasta': afip.afip_date(end),
                'FchVtoPago': afip.afip_date(due),
                'MonId': currency,
                'MonCotiz': f'{Decimal(rate).normalize():f}' if rate else '0',
                'CanMisMonExt': None if currency == 'PES' else (
                    'S' if invoice.ar_paid_in_currency else 'N'),
                'CondicionIVAReceptorId': invoice.ar_receiver_condition,
                })
        return values

    def associated(self):
        original = self.invoice.ar_associated_invoice
        if not original or not original.ar_voucher_number:
            return None
        return {
            'Tipo': original.ar_voucher_type,
            'PtoVta': str(original.ar_pos.number),
            'Nro': str(original.ar_voucher_number),
            'Cuit': self.cuit,
            'CbteFch': afip.afip_date(original.invoice_date),
            }

    def element(self):
        values = self.fields()
        detail = E.FECAEDetRequest()
        for name, value in values.items():
            if value is not None:
                etree.SubElement(detail, _q(name)).text = value
        associated = self.associated()
        if associated:
            detail.append(E.CbtesAsoc(E.CbteAsoc(*[
                            E(_q(name), value)
                            for name, value in associated.items()])))
        if self.tributes:
            detail.append(E.Tributos(*[
                        E.Tributo(
                            E.Id(code),
                            E.Desc((desc or '')[:80]),
                            E.BaseImp(afip.amount(base)),
                            E.Alic(afip.amount(rate)),
                            E.Importe(afip.amount(value)))
                        for (code, rate), (base, value, desc)
                        in self.tributes]))
        if self.ivas:
            detail.append(E.Iva(*[
                        E.AlicIva(
                            E.Id(code),
                            E.BaseImp(afip.amount(base)),
                            E.Importe(afip.amount(value)))
                        for code, (base, value) in self.ivas]))
        return detail


class WSFEService(EinvoiceService):
    name = "AFIP WSFEv1"
    batch_limit = 250
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
        codes = {c for c, _ in _messages(
                response.body, f'.//{_q("Errors")}/{_q("Err")}')}
        return '600' in codes

    def simple_call(self, operation, *children):
        "A read-only call outside the exchange history; the Result element"
        request = self._request(
            operation, E(_q(operation), self.auth(), *children))
        response = self.call(request, transport.envelope(request.body))
        fault = transport.fault(response)
        if fault:
            raise self.classify_fault(*fault)
        return response.body.find(_q(f'{operation}Result'))

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
            value = int(result.findtext(_q('RegXReq')) or 0)
        except (ServiceFailure, ValueError, AttributeError):
            logger.warning("FECompTotXRequest failed", exc_info=True)
            return
        if value > 0:
            with _limits_lock:
                _limits[key] = value

    def last_authorized(self, point_of_sale, voucher_type):
        result = self.simple_call('FECompUltimoAutorizado',
            E.PtoVta(str(point_of_sale)), E.CbteTipo(str(voucher_type)))
        errors = _messages(result, f'{_q("Errors")}/{_q("Err")}')
        if errors:
            raise ServiceFailure('transient', _text(errors))
        return int(result.findtext(_q('CbteNro')) or 0)

    # -- selection and grouping ------------------------------------------
    def applies_to(self, invoice):
        return invoice.type == 'out'

    def batch_key(self, submission):
        invoice = submission.invoice
        return (
            invoice.ar_pos.number if invoice.ar_pos else 0,
            int(invoice.ar_voucher_type or 0),
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
        refused = {}
        today = ticket.server_now(self.configuration).replace(
            tzinfo=dt.timezone.utc).astimezone(afip.AR_TZ).date()
        last_dates = {}
        for submission in submissions:
            invoice = submission.invoice
            message = (self.check_invoice(invoice)
                or self.check_date(invoice, today, last_dates))
            if message:
                refused[submission.id] = message
        return refused

    def check_date(self, invoice, today, last_dates):
        """AFIP's CbteFch rules: within a few days of the day it is sent,
        not before the last voucher authorized in the series"""
        date = invoice.invoice_date
        window = DATE_WINDOW.get(invoice.ar_concept or '1', 5)
        if abs((date - today).days) > window:
            # rendered in the language of whoever reads it
            return LocalMessage('account_einvoice_ar.msg_date_window',
                invoice=invoice.rec_name, date=date.isoformat(), days=window,
                first=(today - dt.timedelta(days=window)).isoformat(),
                last=(today + dt.timedelta(days=window)).isoformat())
        series = (invoice.ar_pos.id, invoice.ar_voucher_type)
        if series not in last_dates:
            last_dates[series] = self.last_date_here(*series)
        last = last_dates[series]
        if last and date < last:
            return LocalMessage('account_einvoice_ar.msg_date_before_last',
                invoice=invoice.rec_name, date=date.isoformat(),
                last=last.isoformat())

    @staticmethod
    def last_date_here(pos, voucher_type):
        "The latest date of the vouchers of a series authorized here"
        Invoice = Pool().get('account.invoice')
        invoices = Invoice.search([
                ('ar_pos', '=', pos),
                ('ar_voucher_type', '=', voucher_type),
                ('ar_cae', '!=', None),
                ], order=[('invoice_date', 'DESC')], limit=1)
        return invoices[0].invoice_date if invoices else None

    def check_invoice(self, invoice):
        if not self.cuit:
            return gettext('account_einvoice_ar.msg_company_cuit')
        if not invoice.ar_pos:
            return gettext('account_einvoice_ar.msg_invoice_pos',
                invoice=invoice.rec_name)
        if not invoice.ar_voucher_type:
            return gettext('account_einvoice_ar.msg_invoice_voucher_type',
                invoice=invoice.rec_name)
        if invoice.currency.code not in afip.CURRENCIES:
            return gettext('account_einvoice_ar.msg_currency',
                currency=invoice.currency.code)
        voucher = Voucher(invoice, self.cuit)
        if voucher.errors:
            return '\n'.join(voucher.errors)
        doc_type, _ = voucher.document
        if voucher.klass == 'A' and doc_type != 80:
            return gettext('account_einvoice_ar.msg_class_a_cuit',
                party=invoice.party.rec_name)
        currency, rate = voucher.currency()
        if currency != 'PES' and not rate:
            return gettext('account_einvoice_ar.msg_currency_rate',
                invoice=invoice.rec_name)
        threshold = identification_threshold()
        pesos = abs(voucher.amounts['ImpTotal']) * rate
        if (voucher.klass in {'B', 'C'} and pesos >= threshold
                and doc_type == afip.WITHOUT_DOCUMENT[0]):
            return LocalMessage(
                'account_einvoice_ar.msg_consumer_unidentified',
                invoice=invoice.rec_name, party=invoice.party.rec_name,
                amount=afip.amount(pesos), threshold=afip.amount(threshold))
        if int(invoice.ar_voucher_type) in afip.NOTES:
            original = invoice.ar_associated_invoice
            if not original:
                return gettext('account_einvoice_ar.msg_note_original',
                    invoice=invoice.rec_name)
            if original.einvoice_state in {'rejected', 'cancelled', None}:
                return gettext(
                    'account_einvoice_ar.msg_note_original_unauthorized',
                    invoice=invoice.rec_name, original=original.rec_name)

    # -- numbering -------------------------------------------------------
    def prepare(self, submissions):
        pool = Pool()
        Series = pool.get('account.einvoice.ar.series')
        Invoice = pool.get('account.invoice')
        Submission = pool.get('account.einvoice.submission')
        invoices = [s.invoice for s in submissions]
        pos = invoices[0].ar_pos
        voucher_type = int(invoices[0].ar_voucher_type)
        series = Series.lock_series(pos, voucher_type)

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
        Invoice.write(*to_write)
        series.last_number = last
        series.save()
        if any(s.ar_resync for s in ready):
            Submission.write(ready, {'ar_resync': False})
        return ready

    # -- requests --------------------------------------------------------
    def build_request(self, submissions, operation):
        if operation != 'register':
            raise ServiceFailure('configuration', gettext(
                    'account_einvoice_ar.msg_operation_unsupported',
                    operation=operation))
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
        body = E.FECAESolicitar(
            self.auth(),
            E.FeCAEReq(
                E.FeCabReq(
                    E.CantReg(str(len(details))),
                    E.PtoVta(str(first.ar_pos.number)),
                    E.CbteTipo(str(first.ar_voucher_type))),
                E.FeDetReq(*details)))
        return self._request('FECAESolicitar', body, records, {
                'numbers': numbers,
                'retries': {s.id: s.ar_retries or 0 for s in submissions},
                })

    def build_query(self, submissions):
        submission, = submissions
        invoice = submission.invoice
        voucher = Voucher(invoice, self.cuit)
        request = E.FeCompConsReq(
            E.CbteTipo(str(invoice.ar_voucher_type)),
            E.CbteNro(str(invoice.ar_voucher_number or 0)),
            E.PtoVta(str(invoice.ar_pos.number)))
        body = E.FECompConsultar(self.auth(), request)
        return self._request('FECompConsultar', body,
            {submission.id: request}, {
                'submission': submission.id,
                'expected': voucher.fields(),
                })

    # -- answers ---------------------------------------------------------
    def _header_errors(self, result):
        errors = _messages(result, f'{_q("Errors")}/{_q("Err")}')
        codes = {c for c, _ in errors}
        if codes & {'600', '601'}:
            raise ServiceFailure('transient', _text(errors),
                code=','.join(sorted(codes)))
        return errors

    def parse_response(self, request, body):
        result = body.find(_q('FECAESolicitarResult'))
        if result is None:
            raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
        errors = self._header_errors(result)
        details = result.findall(f'{_q("FeDetResp")}/{_q("FECAEDetResponse")}')
        if not details:
            raise ServiceFailure('configuration', _text(errors)
                or "FECAESolicitar answered no detail",
                code=','.join(c for c, _ in errors) or None)
        numbers = request.context['numbers']
        retries = request.context['retries']
        answers = defaultdict(list)
        for detail in details:
            number = (detail.findtext(_q('CbteDesde')) or '').strip()
            submission_id = numbers.get(number)
            if submission_id is not None:
                answers[submission_id].append(
                    self._detail_outcome(detail, errors,
                        retries.get(submission_id, 0)))
        return {i: _agreed(outcomes) for i, outcomes in answers.items()}

    @staticmethod
    def _detail_outcome(detail, errors, retries):
        "The Outcome of one FECAEDetResponse"
        observations = _messages(
            detail, f'{_q("Observaciones")}/{_q("Obs")}')
        codes = [c for c, _ in observations]
        result = (detail.findtext(_q('Resultado')) or '').strip()
        if result == 'A':
            return _authorized(
                detail.findtext(_q('CAE')), detail.findtext(_q('CAEFchVto')),
                observations)
        if result != 'R':
            return Outcome('unknown', message=gettext(
                    'account_einvoice_ar.msg_answer_incomplete',
                    missing='Resultado'))
        messages = observations + errors
        if set(codes) == {'10016'} and retries < MAX_RESYNC:
            # Not the next number: number it again after asking AFIP.
            return Outcome(
                'not_found', code='10016', message=_text(messages),
                values={
                    'ar_resync': True,
                    'ar_retries': retries + 1,
                    })
        return Outcome(
            'rejected', code=','.join(codes) or None,
            message=_text(messages), values={'ar_retries': 0})

    def parse_query(self, request, body):
        submission_id = request.context['submission']
        result = body.find(_q('FECompConsultarResult'))
        if result is None:
            raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
        errors = self._header_errors(result)
        found = result.find(_q('ResultGet'))
        if found is None:
            if any(c == '602' for c, _ in errors):
                return {submission_id: Outcome(
                        'not_found', code='602', message=_text(errors),
                        values={'ar_resync': True})}
            raise ServiceFailure('transient', _text(errors)
                or "FECompConsultar answered nothing")
        expected = request.context['expected']
        differences = []
        for name in COMPARED:
            held = found.findtext(_q(name))
            if not _same(name, expected.get(name), held):
                differences.append(f'{name}: {held} != {expected.get(name)}')
        if differences or (
                found.findtext(_q('Resultado')) or '').strip() != 'A':
            # The number is held by another voucher: ours was not taken.
            return {submission_id: Outcome(
                    'not_found', code='10016',
                    message=gettext(
                        'account_einvoice_ar.msg_number_held_elsewhere',
                        differences='; '.join(differences)),
                    values={'ar_resync': True})}
        observations = _messages(
            found, f'{_q("Observaciones")}/{_q("Obs")}')
        return {submission_id: _authorized(
                found.findtext(_q('CodAutorizacion')),
                found.findtext(_q('FchVto')), observations)}

    def classify_fault(self, code, message):
        if 'unable to read request' in (message or ''):
            return ServiceFailure('configuration', message, code=code)
        if code.endswith('Server'):
            return ServiceFailure('transient', message, code=code)
        return ServiceFailure('configuration', message, code=code)

    def before_call(self, request):
        self.credentials()
