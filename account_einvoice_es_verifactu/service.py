# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The AEAT VERI*FACTU service: RegFactuSistemaFacturacion and
ConsultaFactuSistemaFacturacion (``SistemaFacturacion.wsdl``).

Every record (alta or anulación) is generated once when the invoice is
posted, cancelled or rescheduled, chained per issuer and installation and
stored; requests splice the stored bytes, so a resend is the same record.
An unknown outcome (lost answer, duplicate) is asked to the AEAT before
anything is sent again."""
import datetime as dt
import json

from lxml import etree

from trytond import config
from trytond.i18n import gettext
from trytond.modules.account_einvoice import schema
from trytond.modules.account_einvoice.document import Draft
from trytond.modules.account_einvoice.exceptions import (
    RecordError, ServiceFailure)
from trytond.modules.account_einvoice.service import (
    FAULT_CODE, EinvoiceService, Outcome, Request)

from . import huella, qr, query, records, system
from .facts import VerifactuInvoice
from .identity import issuer, representative

OFFICIAL = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/tike/cont/ws/')
BASE = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/tike/cont/ws/')
SF = BASE + 'SuministroInformacion.xsd'
LR = BASE + 'SuministroLR.xsd'
R = BASE + 'RespuestaSuministro.xsd'
LRC = BASE + 'ConsultaLR.xsd'
LRRC = BASE + 'RespuestaConsultaLR.xsd'
NSMAP = {'sf': SF, 'sfLR': LR}
ENVELOPE = 'http://schemas.xmlsoap.org/soap/envelope/'
VERSION = '1.0'
# whole-request refusals caused by our setup (certificate, header, system)
CONFIGURATION_CODES = {
    '4102', '4103', '4104', '4105', '4106', '4109', '4114', '4118'}
TRANSIENT_CODES = {'20009'}
DUPLICATE = '3000'
# a record generated this long before it is sent is late: the request
# declares the incident (the AEAT flags timestamps 240 s off its clock)
LATE_SECONDS = 120
STATES = {
    'Correcto': 'accepted',
    'AceptadoConErrores': 'accepted_with_errors',
    'Incorrecto': 'rejected',
    }
# the states of ConsultaFactuSistemaFacturacion
HELD_STATES = {
    'Correcto': 'accepted',
    'AceptadoConErrores': 'accepted_with_errors',
    'Anulado': 'cancelled',
    }
MAX_PAGES = 20


def _q(namespace, name):
    return f'{{{namespace}}}{name}'


class VerifactuService(EinvoiceService):
    name = "VERI*FACTU (AEAT)"
    batch_limit = 1000
    documents = True
    generate_on = 'queue'
    recovery = 'query'
    wait_exempt_batch = 1000
    qr_at_generation = True

    def __init__(self, configuration):
        super().__init__(configuration)
        self._facts = {}
        self._identity = None

    # -- selection and checks --------------------------------------------
    def applies_to(self, invoice):
        return invoice.type == 'out'

    def facts(self, invoice):
        facts = self._facts.get(invoice.id)
        if facts is None:
            facts = self._facts[invoice.id] = VerifactuInvoice(invoice)
        return facts

    def check_posting(self, invoices):
        messages = {}
        problem = system.problem(self.configuration)
        for invoice in invoices:
            if problem:
                messages[invoice.id] = problem
                continue
            errors = self.facts(invoice).errors
            if errors:
                messages[invoice.id] = '\n'.join(str(e) for e in errors)
        return messages

    def check(self, submissions):
        result = {}
        for submission in submissions:
            if submission.operation == 'cancel':
                continue
            errors = self.facts(submission.invoice).errors
            if errors:
                result[submission.id] = errors[0]
        return result

    # -- documents and chain ---------------------------------------------
    def chain_key(self, submission):
        nif, _ = issuer(self.configuration.company)
        return f'{nif}/{system.installation_number()}'

    def cancellation(self, submission):
        if submission.registered:
            return 'cancel'
        if submission.state == 'pending':
            # issued: its alta (in the chain, or left to the next claim
            # when the chain was busy at posting) is sent, then annulled
            return 'after'
        if submission.generated or submission.documents:
            return 'cancel'
        return 'close'

    def reschedule_operation(self, submission):
        if submission.operation == 'cancel':
            return 'cancel'
        # a correction of what the AEAT holds (Subsanación) or a new alta
        # after its rejection (RechazoPrevio): never a plain alta again
        return 'modify'

    def generate_documents(self, submission, link):
        invoice = submission.invoice
        facts = self.facts(invoice)
        previous = None
        if link and link.digest:
            previous = dict(json.loads(link.anchor), Huella=link.digest)
        generated = huella.generation_time()
        if self._identity is None:
            self._identity = system.identity(self.configuration)
        identity = self._identity
        if submission.operation == 'cancel':
            kind = 'anulacion'
            data = records.registro_anulacion(facts, previous, generated,
                identity, {
                    'rechazo_previo': not submission.registered,
                    'sin_registro_previo': False,
                    })
        else:
            correction = submission.operation == 'modify'
            rejected = correction and not submission.registered
            kind = ('rechazo_previo' if rejected
                else 'subsanacion' if correction else 'alta')
            if facts.errors:
                raise RecordError(str(facts.errors[0]))
            data = records.registro_alta(facts, previous, generated,
                identity, {
                    'subsanacion': correction,
                    'rechazo_previo': 'S' if rejected else None,
                    })
        fields = records.record_fields(data)
        return [Draft(kind, data, fields['Huella'],
                filename=f"{kind}-{fields['identity']['NumSerieFactura']}"
                f"-{fields['FechaHoraHusoGenRegistro'][:19]}.xml".replace(
                    '/', '_').replace(':', ''),
                anchor=json.dumps(fields['identity'], sort_keys=True))]

    def check_documents(self, submission, drafts):
        xml_schema = self._schema('SuministroLR.xsd')
        for draft in drafts:
            body = self._envelope_body(
                [draft.data], self._cabecera(incident=False))
            if not xml_schema.validate(body):
                return '; '.join(schema.short_message(e.message)
                    for e in xml_schema.error_log)
        return None

    def document_digest(self, document, data):
        fields = records.record_fields(data)
        return huella.huella(fields['text'])

    def document_previous_digest(self, document, data):
        return records.record_fields(data)['previous']

    # -- requests ---------------------------------------------------------
    def _schema(self, name):
        return schema.xml_schema(
            schema.locate(f'es_verifactu/{name}', OFFICIAL + name))

    def _cabecera(self, incident):
        cabecera = etree.Element(_q(LR, 'Cabecera'), nsmap=NSMAP)
        nif, name = issuer(self.configuration.company)
        obligado = etree.SubElement(cabecera, _q(SF, 'ObligadoEmision'))
        etree.SubElement(obligado, _q(SF, 'NombreRazon')).text = name
        etree.SubElement(obligado, _q(SF, 'NIF')).text = nif
        agent = representative(self.configuration)
        if agent and agent[0] != nif:
            element = etree.SubElement(cabecera, _q(SF, 'Representante'))
            etree.SubElement(element, _q(SF, 'NombreRazon')).text = agent[1]
            etree.SubElement(element, _q(SF, 'NIF')).text = agent[0]
        if incident:
            voluntary = etree.SubElement(
                cabecera, _q(SF, 'RemisionVoluntaria'))
            etree.SubElement(voluntary, _q(SF, 'Incidencia')).text = 'S'
        return cabecera

    @staticmethod
    def _envelope_body(datas, cabecera):
        body = etree.Element(
            _q(LR, 'RegFactuSistemaFacturacion'), nsmap=NSMAP)
        body.append(cabecera)
        for data in datas:
            wrapper = etree.SubElement(body, _q(LR, 'RegistroFactura'))
            wrapper.append(etree.fromstring(data))
        return body

    def _request(self, operation, body, records_, context, xsd):
        port = 'SistemaVerifactu'
        if self.configuration.environment == 'staging':
            port += 'Pruebas'
        return Request(
            operation=operation, body=body, records=records_,
            wsdl='es_verifactu/SistemaFacturacion.wsdl',
            wsdl_url=OFFICIAL + 'SistemaFacturacion.wsdl',
            service_name='sfVerifactu', port_name=port,
            schema=f'es_verifactu/{xsd}', schema_url=OFFICIAL + xsd,
            context=context, forbid_entities=False)

    def build_request(self, submissions, operation):
        documents = self.current_documents(submissions)
        ordered = sorted(submissions, key=lambda s: s.chain_sequence or 0)
        datas, ids, keys, late = [], {}, {}, False
        now = dt.datetime.now().astimezone()
        late_after = dt.timedelta(seconds=config.getint(
                system.SECTION, 'late_seconds', default=LATE_SECONDS))
        for submission in ordered:
            for document in documents[submission.id]:
                data = document.data
                fields = records.record_fields(data)
                generated = dt.datetime.fromisoformat(
                    fields['FechaHoraHusoGenRegistro'])
                late = late or now - generated > late_after
                datas.append(data)
                identity = fields['identity']
                key = (identity['NumSerieFactura'],
                    identity['FechaExpedicionFactura'])
                ids[key] = submission.id
                keys[submission.id] = data
        cabecera = self._cabecera(incident=late)
        body = self._envelope_body(datas, cabecera)
        elements = {}
        for wrapper, data in zip(body.iterfind(_q(LR, 'RegistroFactura')),
                datas):
            elements[data] = wrapper[0]
        return self._request('RegFactuSistemaFacturacion', body,
            {i: elements[d] for i, d in keys.items()}, {
                'ids': {'|'.join(k): v for k, v in ids.items()},
                'datas': datas,
                'cabecera': etree.tostring(cabecera),
                'operation': operation,
                }, 'SuministroLR.xsd')

    def serialize(self, request):
        """The envelope with the stored records spliced in byte for byte"""
        if request.context.get('datas') is None:
            return super().serialize(request)
        head = (
            f'<soapenv:Envelope xmlns:soapenv="{ENVELOPE}">'
            '<soapenv:Header/><soapenv:Body>'
            f'<sfLR:RegFactuSistemaFacturacion xmlns:sfLR="{LR}" '
            f'xmlns:sf="{SF}">').encode()
        cabecera = etree.tostring(
            etree.fromstring(request.context['cabecera']))
        parts = [b'<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n', head,
            cabecera]
        for data in request.context['datas']:
            parts += [b'<sfLR:RegistroFactura>', data,
                b'</sfLR:RegistroFactura>']
        parts.append(b'</sfLR:RegFactuSistemaFacturacion>'
            b'</soapenv:Body></soapenv:Envelope>')
        return b''.join(parts)

    def build_query(self, submissions):
        nif, name = issuer(self.configuration.company)
        first = submissions[0].invoice
        period = (first.invoice_date.year, first.invoice_date.month)
        members = [s for s in submissions
            if (s.invoice.invoice_date.year, s.invoice.invoice_date.month)
            == period]
        documents = self.current_documents(members)
        ids, expected, operations = {}, {}, {}
        for submission in members:
            data = documents[submission.id][-1].data
            fields = records.record_fields(data)
            identity = fields['identity']
            key = '|'.join((identity['NumSerieFactura'],
                    identity['FechaExpedicionFactura']))
            ids[key] = submission.id
            expected[submission.id] = fields['Huella']
            operations[submission.id] = submission.operation
        number = None
        if len(members) == 1:
            number = next(iter(ids)).split('|')[0]
        body = query.consulta(nif, name, period, number=number)
        return self._request('ConsultaFactuSistemaFacturacion', body, {}, {
                'ids': ids,
                'expected': expected,
                'operations': operations,
                'period': period,
                'number': number,
                'query': True,
                }, 'ConsultaLR.xsd')

    def call(self, request, data):
        response = super().call(request, data)
        if request.context.get('query') and not request.context['number']:
            self._follow_pages(request, response)
        return response

    def _follow_pages(self, request, response):
        """Fetch the next pages while some records asked for are missing;
        their items are appended to the first answer"""
        body = response.body
        if body is None or body.tag != _q(
                LRRC, 'RespuestaConsultaFactuSistemaFacturacion'):
            return
        wanted = set(request.context['ids'])
        nif, name = issuer(self.configuration.company)
        item_tag = _q(LRRC, 'RegistroRespuestaConsultaFactuSistemaFacturacion')
        for _ in range(MAX_PAGES):
            if body.findtext(_q(LRRC, 'IndicadorPaginacion')) != 'S':
                return
            items = body.findall(item_tag)
            found = {_answer_key(i.find(_q(LRRC, 'IDFactura')))
                for i in items}
            if not items or wanted <= found:
                return
            last = items[-1].find(_q(LRRC, 'IDFactura'))
            page_body = query.consulta(nif, name,
                request.context['period'], page_key=last)
            page = super().call(request, self.serialize(Request(
                        operation=request.operation, body=page_body)))
            failure = self.classify_response(page)
            if failure:
                raise failure
            for item in page.body.iterfind(item_tag):
                body.append(item)
            body.find(_q(LRRC, 'IndicadorPaginacion')).text = (
                page.body.findtext(_q(LRRC, 'IndicadorPaginacion')))

    # -- answers ----------------------------------------------------------
    def wait_after(self, request, response):
        body = response.body
        if body is not None:
            text = body.findtext(_q(R, 'TiempoEsperaEnvio'))
            if text and text.strip().isdigit():
                return float(text) or None
        return super().wait_after(request, response)

    def parse_response(self, request, response):
        body = response.body
        if body is None or body.tag != _q(
                R, 'RespuestaRegFactuSistemaFacturacion'):
            raise ServiceFailure('unknown', gettext(
                    'account_einvoice_es_verifactu.msg_unexpected_answer'))
        ids = request.context['ids']
        csv = body.findtext(_q(R, 'CSV'))
        outcomes = {}
        for line in body.iterfind(_q(R, 'RespuestaLinea')):
            key = _answer_key(line.find(_q(R, 'IDFactura')))
            submission_id = ids.get(key)
            if submission_id is None:
                continue
            outcomes[submission_id] = self._line_outcome(line, csv)
        return outcomes

    @staticmethod
    def _line_outcome(line, csv):
        status = line.findtext(_q(R, 'EstadoRegistro'))
        code = line.findtext(_q(R, 'CodigoErrorRegistro'))
        message = line.findtext(_q(R, 'DescripcionErrorRegistro'))
        if code == DUPLICATE:
            # the AEAT holds a record of this invoice: which one is asked
            # before anything is sent again
            return Outcome('unknown', code=code, message=message)
        state = STATES.get(status)
        if state is None:
            raise ServiceFailure('unknown', gettext(
                    'account_einvoice_es_verifactu.msg_unexpected_status',
                    status=status))
        advice = system.advice(code)
        if advice:
            message = f'{message or ""} {advice}'.strip()
        return Outcome(state, code=code, message=message,
            reference=csv if state != 'rejected' else None)

    def parse_query(self, request, response):
        body = response.body
        if body is None or body.tag != _q(
                LRRC, 'RespuestaConsultaFactuSistemaFacturacion'):
            raise ServiceFailure('unknown', gettext(
                    'account_einvoice_es_verifactu.msg_unexpected_answer'))
        context = request.context
        ids = context['ids']
        held = {}
        for item in body.iterfind(
                _q(LRRC, 'RegistroRespuestaConsultaFactuSistemaFacturacion')):
            key = _answer_key(item.find(_q(LRRC, 'IDFactura')))
            if key in ids:
                held[ids[key]] = item
        outcomes = {}
        complete = body.findtext(_q(LRRC, 'IndicadorPaginacion')) != 'S'
        for key, submission_id in ids.items():
            item = held.get(submission_id)
            if item is None:
                if complete:
                    outcomes[submission_id] = Outcome('not_found')
                continue
            outcomes[submission_id] = self._held(
                item, context['operations'][submission_id],
                context['expected'][submission_id])
        return outcomes

    @staticmethod
    def _held(item, operation, expected):
        status = item.find(_q(LRRC, 'EstadoRegistro'))
        state = HELD_STATES.get(
            status.findtext(_q(LRRC, 'EstadoRegistro'))
            if status is not None else None)
        code = status.findtext(_q(LRRC, 'CodigoErrorRegistro')) if (
            status is not None) else None
        message = status.findtext(_q(LRRC, 'DescripcionErrorRegistro')) if (
            status is not None) else None
        digest = (item.findtext(
                f'{{{LRRC}}}DatosRegistroFacturacion/{{{LRRC}}}Huella')
            or '').strip()
        if state is None:
            raise ServiceFailure('unknown', gettext(
                    'account_einvoice_es_verifactu.msg_unexpected_answer'))
        if operation == 'cancel':
            return Outcome(state if state == 'cancelled' else 'not_found')
        if digest and digest == expected:
            return Outcome(state, code=code, message=message)
        if state == 'cancelled':
            return Outcome('cancelled', code=code, message=message)
        if operation == 'modify':
            # the AEAT still holds the record being corrected
            return Outcome('not_found')
        return Outcome('rejected', code=DUPLICATE, message=gettext(
                'account_einvoice_es_verifactu.msg_other_record_held',
                digest=digest or '?'))

    def classify_fault(self, code, message):
        match = FAULT_CODE.match(message or '')
        number = match.group(1) if match else None
        if number in TRANSIENT_CODES or (
                number not in CONFIGURATION_CODES
                and 'Server' in (code or '')):
            return ServiceFailure('transient', message or code,
                code=number or code)
        return ServiceFailure('configuration', gettext(
                'account_einvoice_es_verifactu.msg_request_refused',
                code=number or code, message=message or '',
                advice=system.advice(number)),
            code=number or code)

    # -- printed invoice ---------------------------------------------------
    def qr_content(self, submission):
        facts = self._facts.get(submission.invoice.id)
        if (facts is not None and not facts.errors
                and submission.operation != 'cancel'):
            # the facts its alta was generated from, moments ago
            return qr.qr_url(self.configuration.environment,
                facts.issuer_nif, facts.number, facts.date,
                facts.importe_total)
        documents = self.current_documents([submission])[submission.id]
        for document in documents:
            fields = records.record_fields(document.data)
            if fields['kind'] != 'alta':
                continue
            identity = fields['identity']
            return qr.qr_url(self.configuration.environment,
                identity['IDEmisorFactura'], identity['NumSerieFactura'],
                identity['FechaExpedicionFactura'], fields['ImporteTotal'])
        return submission.invoice.einvoice_qr

    def print_text(self, submission):
        if submission.state == 'cancelled':
            return None
        return 'VERI*FACTU'


def _answer_key(idf):
    if idf is None:
        return None
    number = date = None
    for child in idf:
        name = etree.QName(child).localname
        if name in {'NumSerieFactura', 'NumSerieFacturaAnulada'}:
            number = (child.text or '').strip()
        elif name in {'FechaExpedicionFactura',
                'FechaExpedicionFacturaAnulada'}:
            date = (child.text or '').strip()
    return f'{number}|{date}'
