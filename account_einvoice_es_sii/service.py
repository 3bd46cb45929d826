# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The AEAT SII service: Suministro (A0/A1), Anulación and Consulta of the
issued (emitidas) and received (recibidas) invoice books.

Addresses
    AEAT: the ports of the official WSDLs, ``SuministroFact*`` in
    production and ``SuministroFact*Pruebas`` in staging.  Other
    authorities speaking the same protocol (the foral treasuries of
    Araba, Bizkaia, Gipuzkoa and Navarra) are built in (:mod:`.authorities`)
    or declared in the trytond configuration (which takes precedence),
    section ``[account_einvoice_es_sii]``, one address per book and
    environment: ``<name>.emitidas.production = https://...`` (and
    ``recibidas``, ``staging``; ``<name>.name`` is the label).
    ``endpoint_host`` of the configuration (https, a host allowed by the
    server operator) replaces host and port;
    unlike the framework's default its path, if any, is put in front of
    the official path (e.g. ``https://127.0.0.1:8443/pruebas``).
"""
import datetime as dt
import json
import time
from collections import defaultdict
from urllib.parse import urlsplit, urlunsplit

from lxml import etree
from sql import Null

from trytond import config
from trytond.i18n import gettext
from trytond.modules.account_einvoice import rows, schema, transport
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.modules.account_einvoice.service import (
    FAULT_CODE, EinvoiceService, Outcome, Request)
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from . import answers, authorities, builder, cash, customs
from .builder import BOOKS, LR, NSMAP, RC, R
from .facts import SIIInvoice, book_of, period_of, sii_date
from .identification import company_nif
from .period import reported as period_reported

SECTION = 'account_einvoice_es_sii'
OFFICIAL = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/ssii_1_1_bis/fact/ws/')
# whole-request refusals caused by our setup
CONFIGURATION_CODES = {'4102', '4103', '4104', '4109', '4114', '4118'}
MAX_PAGES = 50
# the batch key of the queries
QUERY = 'Consulta'
TIPO = {'register': 'A0', 'modify': 'A1', 'cancel': 'Baja'}
# invoices read per ORM browse: small lists keep Tryton's per-instance
# bookkeeping linear
CHUNK = 100
# records built by check() for build_request() of the same run:
# (database, submission id) -> (time, key, element)
_prepared = {}
PREPARED_TTL = 600


def _expire_prepared():
    limit = time.monotonic() - PREPARED_TTL
    for key in [k for k, v in _prepared.items() if v[0] < limit]:
        _prepared.pop(key, None)


def authority_addresses():
    "{name: label} of the authorities declared in the trytond config"
    result = {}
    if not config.has_section(SECTION):
        return result
    for option in config.options(SECTION):
        parts = option.split('.')
        if (len(parts) == 3 and parts[1] in BOOKS
                and config.get(SECTION, option)):
            name = parts[0]
            result.setdefault(name, config.get(SECTION, f'{name}.name',
                    default=name.title()))
    return result


class SIIService(EinvoiceService):
    name = "AEAT SII"
    #: SuministroLR.xsd: maxOccurs="10000"
    batch_limit = 10000
    # AEAT documents no answer (503 included) as "request not processed":
    # every failed answer may follow processing and is queried
    unprocessed_statuses = frozenset()

    def __init__(self, configuration):
        super().__init__(configuration)
        self._titular = None
        self._keys = {}
        self._periods = {}

    # -- who -------------------------------------------------------------
    def titular(self):
        "(NIF, name) of the holder of the books: the company"
        if self._titular is None:
            company = self.configuration.company
            nif = company_nif(company)
            if not nif:
                raise ServiceFailure('configuration', gettext(
                        'account_einvoice_es_sii.msg_titular_missing',
                        company=company.rec_name))
            self._titular = (nif, company.party.name)
        return self._titular

    def _titular_nif(self):
        try:
            return self.titular()[0]
        except ServiceFailure:
            return None

    def emitter_key(self, facts, titular_nif):
        if facts.book == 'emitidas':
            return titular_nif
        return facts.counterpart.key if facts.counterpart else ''

    def record_key(self, facts, titular_nif):
        "The key AEAT holds the invoice by (emitter|number|date)"
        return builder.record_key(self.emitter_key(facts, titular_nif),
            facts.number, sii_date(facts.date))

    # -- selection and grouping ------------------------------------------
    def applies_to(self, invoice):
        return (invoice.type in {'out', 'in'} and not invoice.sii_excluded
            and not customs.not_reported(invoice)
            and period_reported(invoice, self._periods))

    def batch_key(self, submission):
        if submission.id not in self._keys:
            self._load_keys(submission)
        book, period, needs_query, operation = self._keys[submission.id]
        if book in cash.CASH:
            return cash.batch_key(book, needs_query)
        if needs_query:
            return (book, period, QUERY)
        return (book, TIPO[operation])

    def limit(self, key):
        if key[-1] == QUERY:
            # ConsultaLR filters by one IDFactura: asking for exactly the
            # record needed keeps the answer small and complete (a period
            # may hold more records than any number of pages read)
            return 1
        return super().limit(key)

    def _load_keys(self, submission):
        """(book, period, needs_query, operation) of the pending
        submissions from this one on (claims go in id order), in one query"""
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        Invoice = pool.get('account.invoice')
        Record = pool.get('account.einvoice.record')
        table = Submission.__table__()
        invoice = Invoice.__table__()
        record = Record.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.join(invoice, 'LEFT',
                condition=table.invoice == invoice.id).join(record, 'LEFT',
                condition=table.record == record.id).select(
                table.id, invoice.type, invoice.accounting_date,
                invoice.invoice_date, table.needs_query, table.operation,
                record.kind,
                where=(table.configuration == self.configuration.id)
                & (table.state == 'pending')
                & (table.exchange == Null)
                & (table.id >= submission.id),
                order_by=[table.id.asc], limit=self.batch_limit))
        for (id_, type_, accounting_date, invoice_date, needs_query,
                operation, kind) in cursor:
            if kind:
                # a cash-criterion record (collection, payment)
                self._keys[id_] = (kind, None, bool(needs_query), operation)
                continue
            date = accounting_date or invoice_date
            if isinstance(date, str):
                date = dt.date.fromisoformat(date[:10])
            self._keys[id_] = (
                'emitidas' if type_ == 'out' else 'recibidas',
                (str(date.year), '%02d' % date.month),
                bool(needs_query), operation)
        if submission.id not in self._keys and submission.record:
            self._keys[submission.id] = (submission.record.kind, None,
                submission.needs_query, submission.operation)
        elif submission.id not in self._keys:
            invoice = submission.invoice
            self._keys[submission.id] = (
                book_of(invoice), period_of(invoice),
                submission.needs_query, submission.operation)

    @staticmethod
    def _first_invoice(submissions):
        "The invoice of the first submission (without reading the others)"
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        return Submission(submissions[0].id).invoice

    def _facts(self, submissions):
        """Yield (submission, SIIInvoice), reading the invoices in small
        chunks"""
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        Invoice = pool.get('account.invoice')
        table = Submission.__table__()
        cursor = Transaction().connection.cursor()
        invoice_ids = {}
        ids = [s.id for s in submissions]
        for sub_ids in grouped_slice(ids, rows.IN_SLICE):
            cursor.execute(*table.select(table.id, table.invoice,
                    where=reduce_ids(table.id, sub_ids)))
            invoice_ids.update(cursor)
        for start in range(0, len(submissions), CHUNK):
            chunk = submissions[start:start + CHUNK]
            invoices = Invoice.browse([invoice_ids[s.id] for s in chunk])
            for submission, invoice in zip(chunk, invoices):
                yield submission, SIIInvoice(invoice)

    def prepare_at_posting(self, submissions):
        """The record of each posted invoice, with the titular's NIF and
        the key AEAT holds it by: the claim appends it as it is"""
        nif = self._titular_nif()
        if not nif:
            return {}
        result = {}
        to_prepare = [s for s in submissions
            if s.operation != 'cancel' and not s.record]
        for submission, facts in self._facts(to_prepare):
            if facts.errors:
                continue
            key, record = self._record(facts, nif)
            result[submission.id] = json.dumps({
                    'nif': nif,
                    'key': key,
                    'record': etree.tostring(record, encoding='unicode'),
                    })
        return result

    def _record(self, facts, nif):
        "(the key AEAT holds it by, the registro of facts in no body)"
        scratch = etree.Element('scratch', nsmap=NSMAP)
        record = builder.registro(scratch, facts, nif)
        scratch.remove(record)
        return self.record_key(facts, nif), record

    @staticmethod
    def _stored_records(submissions, nif):
        """({submission id: operation}, {submission id: (key, element)} of
        the records prepared at posting for this titular), read in bulk"""
        Submission = Pool().get('account.einvoice.submission')
        table = Submission.__table__()
        cursor = Transaction().connection.cursor()
        parser = schema.safe_parser()
        operations, records = {}, {}
        ids = [s.id for s in submissions]
        for sub_ids in grouped_slice(ids, rows.IN_SLICE):
            cursor.execute(*table.select(
                    table.id, table.operation, table.prepared,
                    where=reduce_ids(table.id, sub_ids)))
            for id_, operation, text in cursor:
                operations[id_] = operation
                if not text or not nif or operation == 'cancel':
                    continue
                try:
                    stored = json.loads(text)
                    if stored['nif'] != nif:
                        continue
                    records[id_] = (stored['key'], etree.fromstring(
                            stored['record'].encode(), parser))
                except (ValueError, KeyError, TypeError, etree.XMLSyntaxError):
                    # not ours any more: computed again from the invoice
                    continue
        return operations, records

    def check(self, submissions):
        """Refuse what AEAT would refuse for sure; keep the records built
        on the way (or prepared at posting) for build_request"""
        cash_ones = [s for s in submissions if s.record]
        if cash_ones:
            return cash.check(cash_ones)
        result = {}
        database = Transaction().database.name
        nif = self._titular_nif()
        now = time.monotonic()
        _expire_prepared()
        operations, stored = self._stored_records(submissions, nif)
        for id_, (key, record) in stored.items():
            _prepared[(database, id_)] = (now, key, record)
        to_check = [s for s in submissions
            if operations.get(s.id) != 'cancel' and s.id not in stored]
        for submission, facts in self._facts(to_check):
            if facts.errors:
                # rendered in the language of whoever reads it
                result[submission.id] = (facts.errors[0]
                    if len(facts.errors) == 1
                    else LocalMessage.lines(facts.errors))
            elif nif:
                _prepared[(database, submission.id)] = (
                    now, *self._record(facts, nif))
        return result

    # -- requests ----------------------------------------------------------
    def _request(self, book, operation, body, records, context, query=False):
        name = BOOKS[book]['wsdl']
        port = name
        if self.configuration.environment == 'staging':
            port += 'Pruebas'
        xsd = 'ConsultaLR.xsd' if query else 'SuministroLR.xsd'
        context.setdefault('book', book)
        return Request(
            operation=operation, body=body, records=records,
            wsdl=f'es_sii/{name}.wsdl', wsdl_url=f'{OFFICIAL}{name}.wsdl',
            service_name='siiService', port_name=port,
            schema=f'es_sii/{xsd}', schema_url=OFFICIAL + xsd,
            context=context)

    def build_request(self, submissions, operation):
        if submissions[0].record:
            return cash.build_request(self, submissions)
        nif, name = self.titular()
        book = book_of(self._first_invoice(submissions))
        conf = BOOKS[book]
        if operation == 'cancel':
            body = etree.Element(LR(conf['baja']), nsmap=NSMAP)
            builder.cabecera(body, name, nif)
            soap_operation = conf['anulacion']
            write = builder.registro_baja
        else:
            body = etree.Element(LR(conf['suministro']), nsmap=NSMAP)
            builder.cabecera(body, name, nif, TIPO[operation])
            soap_operation = conf['suministro']
            write = builder.registro
        records, ids = {}, defaultdict(list)
        database = Transaction().database.name
        missing = []
        for submission in submissions:
            prepared = _prepared.pop((database, submission.id), None)
            if prepared is None or operation == 'cancel':
                missing.append(submission)
                continue
            _, key, record = prepared
            body.append(record)
            records[submission.id] = record
            ids[key].append(submission.id)
        for submission, facts in self._facts(missing):
            records[submission.id] = write(body, facts, nif)
            ids[self.record_key(facts, nif)].append(submission.id)
        return self._request(book, soap_operation, body, records, {
                'ids': dict(ids),
                'cancel': operation == 'cancel',
                'modify': operation == 'modify',
                })

    def build_query(self, submissions):
        if submissions[0].record:
            return cash.build_query(self, submissions)
        nif, name = self.titular()
        invoice = self._first_invoice(submissions)
        book, period = book_of(invoice), period_of(invoice)
        conf = BOOKS[book]
        ids, expected, operations = defaultdict(list), {}, {}
        single = None
        for submission, facts in self._facts(submissions):
            ids[self.record_key(facts, nif)].append(submission.id)
            operations[submission.id] = submission.operation
            if submission.operation != 'cancel':
                _, record = self._record(facts, nif)
                expected[submission.id] = builder.fingerprint(
                    record.find(LR(conf['factura'])))
            single = facts
        if len(submissions) > 1:
            single = None
        body = builder.consulta(book, name, nif, period, facts=single)
        return self._request(book, conf['consulta'], body, {}, {
                'ids': dict(ids),
                'expected': expected,
                'operations': operations,
                'period': period,
                'query': True,
                }, query=True)

    # -- addresses ---------------------------------------------------------
    def address(self, request):
        if request.context.get('cash'):
            return cash.address(self, request)
        authority = getattr(self.configuration, 'sii_authority', None)
        if not authority or authority == 'aeat':
            url, action = schema.endpoint(
                self.wsdl_location(request), request.service_name,
                request.port_name, request.operation,
                forbid_entities=request.forbid_entities)
        else:
            book = request.context['book']
            environment = self.configuration.environment
            url = (config.get(SECTION, f'{authority}.{book}.{environment}')
                or authorities.address(authority, book, environment))
            action = ''
            if not url:
                raise ServiceFailure('configuration', gettext(
                        'account_einvoice_es_sii.msg_authority_url_missing',
                        option=f'{authority}.{book}.{environment}',
                        section=SECTION))
        return self.override_url(url), action

    def override_url(self, url):
        host = self.configuration.endpoint_host
        if not host:
            return url
        # only https and the hosts the server operator allows
        self.configuration.check_endpoint()
        target, parts = urlsplit(host.strip()), urlsplit(url)
        return urlunsplit(('https', target.netloc,
                target.path.rstrip('/') + parts.path, parts.query, ''))

    def call(self, request, data):
        response = super().call(request, data)
        if request.context.get('cash'):
            return response
        if request.context.get('query') and len(
                request.context['operations']) > 1:
            self._follow_pages(request, response)
        return response

    def _follow_pages(self, request, response):
        """Fetch the next pages of a Consulta while some of the records
        asked for were not returned; append their items to the first
        answer (the exchange keeps the first page as received)."""
        body = response.body
        book = request.context['book']
        conf = BOOKS[book]
        if body is None or body.tag != RC(conf['respuesta_consulta']):
            return
        wanted = set(request.context['ids'])
        nif, name = self.titular()
        for _ in range(MAX_PAGES):
            if body.findtext(RC('IndicadorPaginacion')) != 'S':
                return
            items = body.findall(RC(conf['item']))
            found = {builder.answer_key(i.find(RC('IDFactura')))
                for i in items}
            if not items or wanted <= found:
                return
            page_body = builder.consulta(book, name, nif,
                request.context['period'],
                page_key=builder.page_key(book, items[-1]))
            page = super().call(request, transport.envelope(page_body))
            fault = transport.fault(page)
            if fault:
                raise self.classify_fault(*fault)
            for item in page.body.iterfind(RC(conf['item'])):
                body.append(item)
            body.find(RC('IndicadorPaginacion')).text = page.body.findtext(
                RC('IndicadorPaginacion'))

    # -- answers -----------------------------------------------------------
    def parse_response(self, request, response):
        if request.context.get('cash'):
            return cash.parse_response(request, response)
        body = response.body
        context = request.context
        conf = BOOKS[context['book']]
        cancel = context['cancel']
        tag = R(conf['respuesta_baja' if cancel else 'respuesta'])
        if body.tag != tag:
            raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
        csv = body.findtext(R('CSV'))
        ids = context['ids']
        by_key = defaultdict(list)
        for line in body.iterfind(R('RespuestaLinea')):
            key = builder.answer_key(line.find(R('IDFactura')))
            if key in ids:
                by_key[key].append(answers.line_outcome(line, csv, context))
        outcomes = {}
        for key, found in by_key.items():
            if len(found) > len(ids[key]):
                # listed more often than sent: one answer only if they agree
                found = [answers.agreed(found)] * len(ids[key])
            outcomes.update(zip(ids[key], found))
        return outcomes

    def parse_query(self, request, response):
        if request.context.get('cash'):
            return cash.parse_query(request, response)
        body = response.body
        context = request.context
        conf = BOOKS[context['book']]
        if body.tag != RC(conf['respuesta_consulta']):
            raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
        operations = context['operations']
        outcomes = {}
        for ids in context['ids'].values():
            for submission_id in ids:
                if operations[submission_id] == 'cancel':
                    # AEAT does not hold it: nothing left to cancel
                    outcomes[submission_id] = Outcome('cancelled',
                        message=gettext(
                            'account_einvoice_es_sii.msg_query_absent'))
                else:
                    outcomes[submission_id] = Outcome('not_found')
        if body.findtext(RC('IndicadorPaginacion')) == 'S':
            # pages left unread: a record not seen may be on them
            unread = gettext('account_einvoice_es_sii.msg_query_unread')
            outcomes = {i: Outcome('unknown', message=unread)
                for i in outcomes}
        held = defaultdict(list)
        for item in body.iterfind(RC(conf['item'])):
            key = builder.answer_key(item.find(RC('IDFactura')))
            for submission_id in context['ids'].get(key, []):
                held[submission_id].append(answers.held_outcome(
                        item, conf, operations[submission_id],
                        context['expected'].get(submission_id)))
        for submission_id, found in held.items():
            # listed twice: one answer only if they agree
            outcomes[submission_id] = answers.agreed(found)
        return outcomes

    def classify_fault(self, code, message):
        match = FAULT_CODE.match(message or '')
        number = match.group(1) if match else None
        if number in CONFIGURATION_CODES or 'Client' in (code or ''):
            return ServiceFailure('configuration', message or code,
                code=number or code)
        # a Server fault: AEAT could not take the request now
        return ServiceFailure('transient', message or code,
            code=number or code)

    # -- staff -------------------------------------------------------------
    def payload(self, submission):
        """The record of submission in the last request that carried it,
        pretty-printed, or the record that would be sent"""
        if submission.record:
            # a collection or payment (cash criterion): its facts
            return json.dumps(submission.record.facts, indent=2,
                sort_keys=True)
        nif = self._titular_nif() or ''
        invoice = submission.invoice
        # identified as sent (a customs document by its own number)
        facts = SIIInvoice(invoice)
        key = self.record_key(facts, nif)
        for outcome in submission.outcomes:
            exchange = outcome.exchange
            if (exchange is None or exchange.kind != 'send'
                    or not exchange.request):
                continue
            root = schema.parse_untrusted(exchange.request)
            for idf in root.iter(LR('IDFactura')):
                if builder.answer_key(idf) == key:
                    return (gettext('account_einvoice_es_sii.msg_payload_sent',
                            date=exchange.started) + '\n'
                        + _pretty(idf.getparent()))
        _, record = self._record(facts, nif)
        text = gettext('account_einvoice_es_sii.msg_payload_preview')
        if facts.errors:
            text += '\n' + '\n'.join(str(e) for e in facts.errors)
        return text + '\n' + _pretty(record)


def _pretty(element):
    element = etree.fromstring(etree.tostring(element))
    etree.cleanup_namespaces(element)
    return etree.tostring(element, pretty_print=True, encoding='unicode')
