# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The SIFEN service: one signed DE per invoice, sent in lots of up to 50
(asynchronous, polled) or one by one (synchronous); cancellations and the
voiding of unused numbers as signed events.

Each DE is generated once when the invoice is posted: numbered in its
series (timbrado, establishment, point, type) under the series' chain
lock, its CDC composed, signed and given its QR; every send is those
bytes.  A lot whose answer is lost, or that SIFEN did not queue (0301), is
never sent blindly again: each CDC is asked about (consulta), and a
"not found" is believed only once SIFEN has had the time to process the
lot."""
import datetime as dt
import itertools
import os
import time

from lxml import etree

from trytond import config
from trytond.i18n import gettext
from trytond.modules.account_einvoice.certificate import secret
from trytond.modules.account_einvoice.document import Draft
from trytond.modules.account_einvoice.exceptions import (
    RecordError, ServiceFailure)
from trytond.modules.account_einvoice.service import (
    EinvoiceService, Outcome, Request)
from trytond.modules.account_einvoice.signing import xml_root

from . import document, events, lot, rules
from .exceptions import SifenError
from .facts import SifenInvoice, held_cdc, now_in_paraguay
from .invoice_data import TYPES

NS = 'http://ekuatia.set.gov.py/sifen/xsd'
HOSTS = {
    'staging': 'https://sifen-test.set.gov.py',
    'production': 'https://sifen.set.gov.py',
    }
RECIBE = '/de/ws/sync/recibe.wsdl'
RECIBE_LOTE = '/de/ws/async/recibe-lote.wsdl'
CONSULTA_LOTE = '/de/ws/consultas/consulta-lote.wsdl'
CONSULTA = '/de/ws/consultas/consulta.wsdl'
EVENTO = '/de/ws/eventos/evento.wsdl'
#: record kind of the voiding of unused numbers
VOIDING = 'sifen_voiding'
LOT_RECEIVED, LOT_NOT_QUEUED = '0300', '0301'
LOT_UNKNOWN, LOT_PROCESSING, LOT_DONE = '0360', '0361', '0362'
NOT_FOUND, FOUND = '0420', {'0421', '0422'}
EVENT_REGISTERED = '0600'
DUPLICATE_CDC = '1001'
#: a cancellation SIFEN already holds (sent again after a lost answer; a
#: voiding sent again is approved again)
ALREADY_CANCELLED = '4002'
#: events one request may carry
EVENT_LIMIT = 15
#: hours after signing SIFEN takes a DE without an observation
TRANSMISSION_HOURS = 72
_request_ids = itertools.count()


def d_id():
    "A request id of at most 15 digits, unique enough per issuer"
    return str((int(time.time() * 1000) * 100 + os.getpid() % 100
            + next(_request_ids)) % 10 ** 15)


def q(name):
    return f'{{{NS}}}{name}'


def _seconds(name, default):
    return config.getfloat('account_einvoice_py_sifen', name,
        default=default)


def results(element):
    "[(code, text)] of the gResProc of element"
    found = []
    for result in element.iter(q('gResProc')):
        code = (result.findtext(q('dCodRes')) or '').strip()
        text = (result.findtext(q('dMsgRes')) or '').strip()
        found.append((code, text))
    return found


def outcome_of(element, reference=None):
    """The Outcome of one document's protocol (rProtDe, gResProcLote or
    gResProcEVe)"""
    state = (element.findtext(q('dEstRes')) or '').strip().lower()
    found = results(element)
    codes = [c for c, _ in found]
    message = '\n'.join(f'{c}: {t}' if c else t for c, t in found) or None
    code = codes[0] if codes else None
    if state.startswith('aprobado'):
        observed = 'observ' in state
        return Outcome('accepted_with_errors' if observed else 'accepted',
            code=code, message=message if observed else None,
            reference=reference)
    if state.startswith('rechazado'):
        if DUPLICATE_CDC in codes:
            # another copy is held: its state is read by a query
            return Outcome('unknown', code=DUPLICATE_CDC, message=message)
        return Outcome('rejected', code=code, message=message)
    raise ServiceFailure('unknown', f"unexpected result {state!r}")


class SifenService(EinvoiceService):
    name = "SIFEN (e-Kuatia)"
    documents = True
    generate_on = 'queue'
    recovery = 'query'
    qr_at_generation = True
    query_limit = 1
    #: warn staff a day before SIFEN's 72 hours pass
    deadline_notice = 24 * 3600

    @property
    def batch_limit(self):
        if self.configuration.sifen_sending == 'single':
            return 1
        return 50

    @property
    def poll_delay(self):
        return _seconds('poll_delay', 60)

    @property
    def poll_deadline(self):
        return _seconds('poll_deadline', 3600)

    @property
    def processing_time(self):
        return _seconds('processing_time', 600)

    def __init__(self, configuration):
        super().__init__(configuration)
        self._facts = {}

    # -- selection and checks --------------------------------------------
    def applies_to(self, invoice):
        return invoice.type == 'out'

    def facts(self, invoice):
        facts = self._facts.get(invoice.id)
        if facts is None:
            facts = self._facts[invoice.id] = SifenInvoice(
                invoice, self.configuration)
        return facts

    def check_posting(self, invoices):
        result = {}
        now = now_in_paraguay()
        problem = self.configuration_problem()
        for invoice in invoices:
            if problem:
                result[invoice.id] = problem
                continue
            facts = self.facts(invoice)
            found = [str(e) for e in facts.errors]
            if not found:
                found = [rules.text(v) for v in rules.check(facts.data, now)]
            if found:
                result[invoice.id] = '\n'.join(found)
        return result

    def configuration_problem(self):
        "The message refusing every document of this unit, or None"
        if not self.csc():
            return gettext('account_einvoice_py_sifen.msg_csc_missing',
                unit=self.configuration.rec_name,
                name=self.configuration.certificate_name or '-')
        return None

    def csc(self):
        return secret(self.configuration.certificate_name, 'sifen_csc')

    def deadline(self, invoice):
        return dt.datetime.now() + dt.timedelta(hours=TRANSMISSION_HOURS)

    def cancellation(self, submission):
        # what SIFEN holds is cancelled by an event; a DE it never took
        # is closed here (its number is voided with the other unused ones)
        return 'cancel' if submission.registered else 'close'

    def reschedule_operation(self, submission):
        if submission.operation == 'cancel':
            return 'cancel'
        if submission.registered:
            # approved with an observation: SIFEN holds the DE, a new one
            # would be a second document for the same sale
            raise SifenError(gettext(
                    'account_einvoice_py_sifen.msg_reschedule_held',
                    invoice=submission.invoice.rec_name
                    if submission.invoice else submission.rec_name))
        return 'register'

    def batch_key(self, submission):
        if submission.record or submission.operation == 'cancel':
            return ('event',)
        return ('de',)

    def limit(self, key):
        if key == ('event',):
            return EVENT_LIMIT
        return self.batch_limit

    # -- documents -------------------------------------------------------
    def chain_key(self, submission):
        if submission.record or submission.operation == 'cancel':
            return None
        from .voiding import series_key
        return series_key(self.configuration,
            self.facts(submission.invoice).data.type)

    @property
    def production(self):
        return self.configuration.environment == 'production'

    def _signing(self):
        certificate = self.certificate
        return certificate.private_key, certificate.certificate

    def generate_documents(self, submission, link):
        if submission.record:
            return [self._voiding(submission.record)]
        if submission.operation == 'cancel':
            return [self._cancellation(submission)]
        facts = self.facts(submission.invoice)
        if facts.errors:
            raise RecordError(str(facts.errors[0]))
        data = facts.data
        data.number = f'{link.sequence + 1:07d}'
        key, certificate = self._signing()
        generated = document.generate(data, key, certificate,
            self.configuration.sifen_csc_id, self.csc(), self.production,
            now_in_paraguay())
        # SIFEN's documents do not link to each other: the chain is the
        # series' numbering, each number following the previous one
        return [Draft('de', generated.data, data.number,
                filename=f'{generated.cdc}.xml')]

    def document_digest(self, document_, data):
        return document.read(data).get('number')

    def document_previous_digest(self, document_, data):
        number = int(document.read(data).get('number') or 0)
        return f'{number - 1:07d}' if number > 1 else None

    def _cancellation(self, submission):
        invoice = submission.invoice
        cdc = self.held_cdc(submission)
        if not cdc:
            raise RecordError(gettext(
                    'account_einvoice_py_sifen.msg_cancel_no_cdc',
                    invoice=invoice.rec_name))
        reason = (invoice.sifen_cancel_reason or '').strip() or gettext(
            'account_einvoice_py_sifen.msg_cancel_default_reason',
            invoice=invoice.rec_name)
        key, certificate = self._signing()
        signed = events.sign(events.cancellation(
                cdc, reason[:500], now_in_paraguay(),
                str(submission.id)), key, certificate)
        return Draft('event', etree.tostring(signed, encoding='UTF-8'),
            None, filename=f'{cdc}-cancel.xml')

    def _voiding(self, record):
        facts = record.facts
        key, certificate = self._signing()
        signed = events.sign(events.voiding(
                facts['timbrado'], facts['establishment'], facts['point'],
                int(facts['type']), int(facts['first']), int(facts['last']),
                facts['reason'][:500], now_in_paraguay(),
                str(record.id)), key, certificate)
        return Draft('event', etree.tostring(signed, encoding='UTF-8'),
            None, filename=f'voiding-{record.id}.xml')

    @staticmethod
    def held_cdc(submission):
        "The CDC of the DE of submission"
        return held_cdc(submission)

    # -- requests --------------------------------------------------------
    def url(self, path):
        host = HOSTS.get(self.configuration.environment, HOSTS['staging'])
        return self.configuration.override_url(host + path)

    def address(self, request):
        # SIFEN takes the call at the WSDL's own address (its
        # soap12:address), whose schema imports only SET's server makes
        return request.url, ''

    def _request(self, operation, path, body, fragments, **context):
        return Request(
            operation=operation, protocol='soap12', body=body,
            url=self.url(path),
            context={'fragments': fragments, **context})

    def serialize(self, request):
        """The envelope, the stored documents spliced in byte for byte
        where the body holds their placeholders"""
        data = super().serialize(request)
        for placeholder, fragment in request.context['fragments']:
            data = data.replace(placeholder, fragment, 1)
        return data

    @staticmethod
    def _fragment(data):
        "A stored document without its XML declaration"
        if data.startswith(b'<?xml'):
            data = data[data.index(b'?>') + 2:]
        return data.strip()

    def build_request(self, submissions, operation):
        documents = self.current_documents(submissions)
        ids = {}
        stored = []
        for submission in submissions:
            document_, = documents[submission.id]
            ids[self._document_id(submission, document_)] = submission.id
            stored.append(document_.data)
        if submissions[0].record or operation == 'cancel':
            request = self._event_request(stored, ids)
            request.context['cancel'] = operation == 'cancel'
            return request
        if len(submissions) == 1 and self.batch_limit == 1:
            body = etree.Element(q('rEnviDe'), nsmap={None: NS})
            etree.SubElement(body, q('dId')).text = d_id()
            etree.SubElement(body, q('xDE')).text = 'DE-PLACEHOLDER'
            return self._request('rEnviDe', RECIBE, body,
                [(b'DE-PLACEHOLDER', self._fragment(stored[0]))], ids=ids,
                sync=True)
        body = etree.Element(q('rEnvioLote'), nsmap={None: NS})
        etree.SubElement(body, q('dId')).text = d_id()
        etree.SubElement(body, q('xDE')).text = lot.pack(
            [self._fragment(d) for d in stored])
        return self._request('rEnvioLote', RECIBE_LOTE, body, [], ids=ids)

    def _document_id(self, submission, document_):
        if document_.kind == 'de':
            return document_.filename.split('.')[0]
        root = xml_root(document_.data)
        return root.find(f'.//{q("rEve")}').get('Id')

    def _event_request(self, stored, ids):
        body = etree.Element(q('rEnviEventoDe'), nsmap={None: NS})
        etree.SubElement(body, q('dId')).text = d_id()
        group = etree.SubElement(
            etree.SubElement(body, q('dEvReg')), q('gGroupGesEve'))
        fragments = []
        for index, data in enumerate(stored):
            placeholder = f'EVENT-{index}-PLACEHOLDER'
            etree.SubElement(group, q('rGesEve')).text = placeholder
            fragments.append((
                    f'<rGesEve>{placeholder}</rGesEve>'.encode(),
                    self._fragment(data)))
        return self._request('rEnviEventoDe', EVENTO, body, fragments,
            ids=ids, event=True)

    def build_poll(self, ticket, submissions):
        body = etree.Element(q('rEnviConsLoteDe'), nsmap={None: NS})
        etree.SubElement(body, q('dId')).text = d_id()
        etree.SubElement(body, q('dProtConsLote')).text = ticket
        ids = {}
        for submission in submissions:
            ids[self.held_cdc(submission)] = submission.id
        return self._request('rEnviConsLoteDe', CONSULTA_LOTE, body, [],
            ids=ids, ticket=ticket)

    def build_query(self, submissions):
        submission, = submissions
        if submission.record or submission.operation == 'cancel':
            # an event has no query: sent again, SIFEN answers that it
            # holds it already
            request = self.build_request(submissions, submission.operation)
            request.context['replay'] = True
            return request
        cdc = self.held_cdc(submission)
        body = etree.Element(q('rEnviConsDeRequest'), nsmap={None: NS})
        etree.SubElement(body, q('dId')).text = d_id()
        etree.SubElement(body, q('dCDC')).text = cdc
        return self._request('rEnviConsDeRequest', CONSULTA, body, [],
            ids={cdc: submission.id})

    # -- answers ---------------------------------------------------------
    def classify_fault(self, code, message):
        return ServiceFailure('unknown', message or code, code=code)

    @staticmethod
    def _expect(response, name):
        body = response.body
        if body is None or body.tag != q(name):
            found = etree.QName(body).localname if body is not None else '-'
            raise ServiceFailure('unknown',
                f"unexpected answer {found!r} (expected {name})")
        return body

    def parse_response(self, request, response):
        ids = request.context['ids']
        if request.context.get('event'):
            return self._parse_events(request, response)
        if request.context.get('sync'):
            body = self._expect(response, 'rRetEnviDe')
            protocol = body.find(q('rProtDe'))
            if protocol is None:
                return self._refused_whole(body, ids)
            cdc = (protocol.findtext(q('Id')) or '').strip()
            submission_id = ids.get(cdc)
            if submission_id is None:
                raise ServiceFailure('unknown', "answer about another CDC")
            return {submission_id: outcome_of(protocol, cdc)}
        body = self._expect(response, 'rResEnviLoteDe')
        code = (body.findtext(q('dCodRes')) or '').strip()
        text = (body.findtext(q('dMsgRes')) or '').strip()
        ticket = (body.findtext(q('dProtConsLote')) or '').strip()
        if code == LOT_RECEIVED and ticket:
            return {i: Outcome('processing', code=code, message=text,
                    reference=ticket) for i in ids.values()}
        if code == LOT_NOT_QUEUED:
            # "not queued": each CDC is asked about before it is sent again
            return {i: Outcome('unknown', code=code, message=text)
                for i in ids.values()}
        # the whole lot refused (type mix, size…): to be fixed by staff
        return {i: Outcome('rejected', code=code or None,
                message=f'{code}: {text}' if code else text)
            for i in ids.values()}

    def _refused_whole(self, body, ids):
        found = results(body)
        if not found:
            raise ServiceFailure('unknown', "answer without a protocol")
        message = '\n'.join(f'{c}: {t}' for c, t in found)
        return {i: Outcome('rejected', code=found[0][0], message=message)
            for i in ids.values()}

    def _parse_events(self, request, response):
        ids = request.context['ids']
        body = self._expect(response, 'rRetEnviEventoDe')
        outcomes = {}
        for result in body.iter(q('gResProcEVe')):
            event_id = (result.findtext(q('id')) or '').strip()
            submission_id = ids.get(event_id)
            if submission_id is None:
                continue
            found = results(result)
            codes = [c for c, _ in found]
            message = '\n'.join(f'{c}: {t}' for c, t in found) or None
            state = (result.findtext(q('dEstRes')) or '').lower()
            protocol = (result.findtext(q('dProtAut')) or '').strip()
            if state.startswith('aprobado') or (
                    ALREADY_CANCELLED in codes
                    and request.context.get('replay')):
                # a cancelled invoice keeps its CDC as reference
                outcomes[submission_id] = Outcome('accepted',
                    code=codes[0] if codes else EVENT_REGISTERED,
                    message=message if not state.startswith('aprobado')
                    else None,
                    reference=None if request.context.get('cancel')
                    else protocol or None)
            elif state.startswith('rechazado'):
                outcomes[submission_id] = Outcome('rejected',
                    code=codes[0] if codes else None, message=message)
        return outcomes

    def parse_poll(self, request, response):
        ids = request.context['ids']
        ticket = request.context['ticket']
        body = self._expect(response, 'rResEnviConsLoteDe')
        code = (body.findtext(q('dCodResLot')) or '').strip()
        text = (body.findtext(q('dMsgResLot')) or '').strip()
        if code == LOT_PROCESSING:
            return {i: Outcome('processing', code=code, message=text,
                    reference=ticket) for i in ids.values()}
        if code != LOT_DONE:
            # unknown lot (0360), or another answer: each CDC is asked
            return {i: Outcome('not_found' if code == LOT_UNKNOWN
                    else 'unknown', code=code or None, message=text)
                for i in ids.values()}
        outcomes = {}
        for result in body.iter(q('gResProcLote')):
            cdc = (result.findtext(q('id')) or '').strip()
            submission_id = ids.get(cdc)
            if submission_id is not None:
                outcomes[submission_id] = outcome_of(result, cdc)
        return outcomes

    def parse_query(self, request, response):
        if request.context.get('event'):
            return self._parse_events(request, response)
        ids = request.context['ids']
        (cdc, submission_id), = ids.items()
        body = self._expect(response, 'rEnviConsDeResponse')
        code = (body.findtext(q('dCodRes')) or '').strip()
        text = (body.findtext(q('dMsgRes')) or '').strip()
        if code == NOT_FOUND:
            return {submission_id: Outcome('not_found', code=code,
                    message=text)}
        if code in FOUND:
            return {submission_id: self._held(body, cdc, code, text)}
        raise ServiceFailure('unknown', f"unexpected answer {code!r}")

    def _held(self, body, cdc, code, text):
        """The state of a DE SIFEN holds, from its consulta answer (the
        text of ``rContDe``: the DE, its protocol and its state)"""
        content = body.findtext(q('xContenDE')) or ''
        state = ''
        if content.strip():
            try:
                held = xml_root(content.encode('utf-8'))
            except Exception:
                raise ServiceFailure('unknown', "unreadable xContenDE")
            state = (held.findtext(f'.//{q("dEstRes")}')
                or held.findtext('.//dEstRes') or '').strip().lower()
        if state.startswith('cancelado'):
            return Outcome('cancelled', code=code, message=text,
                reference=cdc)
        if 'observ' in state:
            return Outcome('accepted_with_errors', code=code, message=text,
                reference=cdc)
        return Outcome('accepted', code=code, message=text, reference=cdc)

    # -- the printed invoice ---------------------------------------------
    def qr_content(self, submission):
        stored = [d for d in submission.documents if d.kind == 'de']
        if not stored:
            return None
        return document.read(max(stored, key=lambda d: d.id).data).get('qr')

    def print_text(self, submission):
        cdc = self.held_cdc(submission)
        if not cdc:
            return None
        return f"CDC: {' '.join(cdc[i:i + 4] for i in range(0, 44, 4))}"

    def type_name(self, type_):
        return TYPES.get(type_)
