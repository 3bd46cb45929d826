"""Base class and builders of the tests of the VERI*FACTU service of the
authority sandbox (tests/test_sandbox_verifactu.py).

Records are built with lxml as the client stores them (one
``sf:RegistroAlta`` / ``sf:RegistroAnulacion`` element, no declaration)
and spliced byte for byte into the request envelope; requests go through
a real HTTPS client with the sandbox test certificates and every answer
is checked against the official response XSDs.
"""
import datetime
import unittest
import uuid

from lxml import etree

from tests.sandbox import Sandbox
from tests.sandbox.core import SOAP11_NS, load_schema
from tests.sandbox.verifactu import NS_LR, NS_LRC, NS_LRRC, NS_R, NS_SF, PATH
from tests.sandbox.verifactu_xml import (
    ALTA_FIELDS, ANULACION_FIELDS, MADRID, huella, huella_text)

SERVICE = 'verifactu'
DATE = '15-05-2024'
PERIOD = ('2024', '05')
SF = '{%s}' % NS_SF


def uid(prefix='VF'):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8].upper())


def now_text(delta=0):
    "FechaHoraHusoGenRegistro text, ``delta`` seconds from now"
    moment = datetime.datetime.now(MADRID) + datetime.timedelta(
        seconds=delta)
    return moment.replace(microsecond=0).isoformat()


def _el(parent, name, text=None):
    el = etree.SubElement(parent, SF + name)
    if text is not None:
        el.text = text
    return el


def _system(parent, system_id='TS', installation='1'):
    si = _el(parent, 'SistemaInformatico')
    _el(si, 'NombreRazon', 'SANDBOX SOFTWARE SL')
    _el(si, 'NIF', 'B12345674')
    _el(si, 'NombreSistemaInformatico', 'Sandbox SIF')
    _el(si, 'IdSistemaInformatico', system_id)
    _el(si, 'Version', '1.0')
    _el(si, 'NumeroInstalacion', installation)
    for name in ('TipoUsoPosibleSoloVerifactu', 'TipoUsoPosibleMultiOT',
            'IndicadorMultiplesOT'):
        _el(si, name, 'N' if name == 'IndicadorMultiplesOT' else 'S')


def _chain(parent, previous):
    enc = _el(parent, 'Encadenamiento')
    if previous is None:
        _el(enc, 'PrimerRegistro', 'S')
        return ''
    nif, number, date, prev = previous
    ant = _el(enc, 'RegistroAnterior')
    _el(ant, 'IDEmisorFactura', nif)
    _el(ant, 'NumSerieFactura', number)
    _el(ant, 'FechaExpedicionFactura', date)
    _el(ant, 'Huella', prev)
    return prev


class Built:
    "One record as the client stores it: bytes, huella, invoice key"

    def __init__(self, element, key, nif, number, date):
        self.data = etree.tostring(element, encoding='utf-8')
        self.huella = element.findtext(SF + 'Huella')
        self.key = key
        self.link = (nif, number, date, self.huella)


def alta(nif, number, previous=None, date=DATE, tipo='F1', cuota='21.00',
        importe='121.00', base='100.00', generated=None, flags=(),
        system_id='TS', installation='1', wrong_huella=False,
        name='SANDBOX EMPRESA SL'):
    """A RegistroAlta; ``previous`` = (nif, number, date, huella) of the
    previous record of the chain or None (PrimerRegistro); ``flags``:
    (name, value) pairs among Subsanacion / RechazoPrevio"""
    flags = dict(flags)
    rec = etree.Element(SF + 'RegistroAlta', nsmap={'sf': NS_SF})
    _el(rec, 'IDVersion', '1.0')
    idf = _el(rec, 'IDFactura')
    _el(idf, 'IDEmisorFactura', nif)
    _el(idf, 'NumSerieFactura', number)
    _el(idf, 'FechaExpedicionFactura', date)
    _el(rec, 'NombreRazonEmisor', name)
    for flag in ('Subsanacion', 'RechazoPrevio'):
        if flag in flags:
            _el(rec, flag, flags[flag])
    _el(rec, 'TipoFactura', tipo)
    _el(rec, 'DescripcionOperacion', 'Venta de mercaderías & servicios')
    dest = _el(_el(rec, 'Destinatarios'), 'IDDestinatario')
    _el(dest, 'NombreRazon', 'Cliente SA')
    _el(dest, 'NIF', '12345678Z')
    det = _el(_el(rec, 'Desglose'), 'DetalleDesglose')
    _el(det, 'Impuesto', '01')
    _el(det, 'ClaveRegimen', '01')
    _el(det, 'CalificacionOperacion', 'S1')
    _el(det, 'TipoImpositivo', '21.00')
    _el(det, 'BaseImponibleOimporteNoSujeto', base)
    _el(det, 'CuotaRepercutida', cuota)
    _el(rec, 'CuotaTotal', cuota)
    _el(rec, 'ImporteTotal', importe)
    prev = _chain(rec, previous)
    _system(rec, system_id, installation)
    generated = generated or now_text()
    _el(rec, 'FechaHoraHusoGenRegistro', generated)
    _el(rec, 'TipoHuella', '01')
    value = huella(huella_text({'IDEmisorFactura': nif,
                'NumSerieFactura': number, 'FechaExpedicionFactura': date,
                'TipoFactura': tipo, 'CuotaTotal': cuota,
                'ImporteTotal': importe, 'Huella': prev,
                'FechaHoraHusoGenRegistro': generated}, ALTA_FIELDS))
    if wrong_huella:
        value = value[::-1]
    _el(rec, 'Huella', value)
    return Built(rec, '%s|%s|%s' % (nif, number, date), nif, number, date)


def anulacion(nif, number, previous, date=DATE, generated=None, flags=(),
        system_id='TS', installation='1'):
    "A RegistroAnulacion; ``flags``: SinRegistroPrevio / RechazoPrevio"
    flags = dict(flags)
    rec = etree.Element(SF + 'RegistroAnulacion', nsmap={'sf': NS_SF})
    _el(rec, 'IDVersion', '1.0')
    idf = _el(rec, 'IDFactura')
    _el(idf, 'IDEmisorFacturaAnulada', nif)
    _el(idf, 'NumSerieFacturaAnulada', number)
    _el(idf, 'FechaExpedicionFacturaAnulada', date)
    for flag in ('SinRegistroPrevio', 'RechazoPrevio'):
        if flag in flags:
            _el(rec, flag, flags[flag])
    prev = _chain(rec, previous)
    _system(rec, system_id, installation)
    generated = generated or now_text()
    _el(rec, 'FechaHoraHusoGenRegistro', generated)
    _el(rec, 'TipoHuella', '01')
    _el(rec, 'Huella', huella(huella_text({'IDEmisorFacturaAnulada': nif,
                    'NumSerieFacturaAnulada': number,
                    'FechaExpedicionFacturaAnulada': date, 'Huella': prev,
                    'FechaHoraHusoGenRegistro': generated},
                ANULACION_FIELDS)))
    return Built(rec, '%s|%s|%s' % (nif, number, date), nif, number, date)


class Chain:
    """The chain of one issuer as a client keeps it: every built record
    links to the previous one"""

    def __init__(self, nif):
        self.nif = nif
        self.last = None

    def alta(self, number, **kwargs):
        built = alta(self.nif, number, self.last, **kwargs)
        self.last = built.link
        return built

    def anulacion(self, number, **kwargs):
        built = anulacion(self.nif, number, self.last, **kwargs)
        self.last = built.link
        return built


def envelope(records, nif, name='SANDBOX EMPRESA SL', representative=None,
        incidencia=None):
    """RegFactuSistemaFacturacion request bytes; the records' bytes are
    spliced verbatim"""
    cab = ['<sfLR:Cabecera><sf:ObligadoEmision><sf:NombreRazon>%s'
        '</sf:NombreRazon><sf:NIF>%s</sf:NIF></sf:ObligadoEmision>' % (
            name, nif)]
    if representative:
        cab.append('<sf:Representante><sf:NombreRazon>REPRESENTANTE SL'
            '</sf:NombreRazon><sf:NIF>%s</sf:NIF></sf:Representante>'
            % representative)
    if incidencia:
        cab.append('<sf:RemisionVoluntaria><sf:Incidencia>%s</sf:Incidencia>'
            '</sf:RemisionVoluntaria>' % incidencia)
    cab.append('</sfLR:Cabecera>')
    head = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="%s" xmlns:sfLR="%s" xmlns:sf="%s"><soapenv:Header/>'
        '<soapenv:Body><sfLR:RegFactuSistemaFacturacion>' % (
            SOAP11_NS, NS_LR, NS_SF)).encode() + ''.join(cab).encode()
    body = b''.join(b'<sfLR:RegistroFactura>' + (r.data if hasattr(r, 'data')
            else r) + b'</sfLR:RegistroFactura>' for r in records)
    return head + body + (b'</sfLR:RegFactuSistemaFacturacion>'
        b'</soapenv:Body></soapenv:Envelope>')


def consulta_envelope(nif, period=PERIOD, number=None, clave=None,
        name='SANDBOX EMPRESA SL'):
    "ConsultaFactuSistemaFacturacion request bytes"
    parts = ['<sfLRC:Cabecera><sf:IDVersion>1.0</sf:IDVersion>'
        '<sf:ObligadoEmision><sf:NombreRazon>%s</sf:NombreRazon>'
        '<sf:NIF>%s</sf:NIF></sf:ObligadoEmision></sfLRC:Cabecera>'
        '<sfLRC:FiltroConsulta><sfLRC:PeriodoImputacion>'
        '<sf:Ejercicio>%s</sf:Ejercicio><sf:Periodo>%s</sf:Periodo>'
        '</sfLRC:PeriodoImputacion>' % (name, nif, period[0], period[1])]
    if number:
        parts.append('<sfLRC:NumSerieFactura>%s</sfLRC:NumSerieFactura>'
            % number)
    if clave:
        parts.append('<sfLRC:ClavePaginacion><sf:IDEmisorFactura>%s'
            '</sf:IDEmisorFactura><sf:NumSerieFactura>%s</sf:NumSerieFactura>'
            '<sf:FechaExpedicionFactura>%s</sf:FechaExpedicionFactura>'
            '</sfLRC:ClavePaginacion>' % tuple(clave))
    parts.append('</sfLRC:FiltroConsulta>')
    return ('<soapenv:Envelope xmlns:soapenv="%s" xmlns:sfLRC="%s" '
        'xmlns:sf="%s"><soapenv:Body><sfLRC:ConsultaFactuSistemaFacturacion>'
        '%s</sfLRC:ConsultaFactuSistemaFacturacion></soapenv:Body>'
        '</soapenv:Envelope>' % (SOAP11_NS, NS_LRC, NS_SF,
            ''.join(parts))).encode()


class Answer:
    "A parsed answer: ``status``, ``body`` (element), ``fault`` text"

    def __init__(self, response):
        self.status = response.status_code
        self.raw = response.content
        root = etree.fromstring(response.content)
        self.body = root.find('{%s}Body' % SOAP11_NS)[0]
        self.fault = None
        if self.body.tag == '{%s}Fault' % SOAP11_NS:
            self.fault = self.body.findtext('faultstring')
            self.faultcode = self.body.findtext('faultcode')

    def find(self, path):
        return self.body.find(path, NSMAP)

    def findall(self, path):
        return self.body.findall(path, NSMAP)

    def text(self, path):
        return self.body.findtext(path, namespaces=NSMAP)

    def lines(self):
        "[(NumSerieFactura, EstadoRegistro, code or None)] of the answer"
        return [(line.findtext('sfR:IDFactura/sf:NumSerieFactura',
                    namespaces=NSMAP),
                line.findtext('sfR:EstadoRegistro', namespaces=NSMAP),
                _int(line.findtext('sfR:CodigoErrorRegistro',
                        namespaces=NSMAP)))
            for line in self.findall('sfR:RespuestaLinea')]


def _int(text):
    return None if text is None else int(text)


NSMAP = {'sf': NS_SF, 'sfR': NS_R, 'sfLRRC': NS_LRRC}


class VerifactuTestCase(unittest.TestCase):
    "One sandbox per class; state, options and clock reset per test"

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox([SERVICE]).start()
        cls.nif = cls.sb.identity('es_company').tax_id
        cls.other_nif = cls.sb.identity('es_other').tax_id
        cls.sessions = {}

    @classmethod
    def tearDownClass(cls):
        for session in cls.sessions.values():
            session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()
        self.sb.set_option(SERVICE, 'wait', 0)
        self.chain = Chain(self.nif)

    def session(self, identity):
        if identity not in self.sessions:
            self.sessions[identity] = self.sb.session(identity)
        return self.sessions[identity]

    def post(self, data, identity='es_company', path=PATH):
        response = self.session(identity).post(self.sb.url + path,
            data=data, timeout=60, headers={
                'Content-Type': 'text/xml; charset=utf-8',
                'SOAPAction': '""'})
        return Answer(response)

    def send(self, records, identity='es_company', nif=None, **kwargs):
        "Send records; the answer must be valid (RespuestaSuministro.xsd)"
        answer = self.post(envelope(records, nif or self.nif, **kwargs),
            identity)
        self.assertIsNone(answer.fault, answer.raw[:2000])
        self.assertValid(answer.body, 'RespuestaSuministro.xsd')
        return answer

    def consulta(self, identity='es_company', nif=None, **kwargs):
        answer = self.post(consulta_envelope(nif or self.nif, **kwargs),
            identity)
        self.assertIsNone(answer.fault, answer.raw[:2000])
        self.assertValid(answer.body, 'RespuestaConsultaLR.xsd')
        return answer

    def assertValid(self, element, xsd):
        error = load_schema('es_verifactu/' + xsd).validate(element)
        self.assertIsNone(error, etree.tostring(element)[:3000])

    def assertFault(self, answer, code, faultcode='env:Client'):
        self.assertEqual(answer.status, 500)
        self.assertEqual(answer.faultcode, faultcode)
        self.assertTrue(answer.fault.startswith('Codigo[%d].' % code),
            answer.fault)

    def state(self):
        return self.sb.state(SERVICE)

    def held(self, nif=None):
        return self.sb.verifactu(nif or self.nif)
