"""SII (AEAT "Suministro Inmediato de Información") in the sandbox.

Serves the official ``es_sii/SuministroFactEmitidas.wsdl`` and
``es_sii/SuministroFactRecibidas.wsdl`` (from the schema dir) and answers
like AEAT does, checking every request body against the official XSDs.

Addresses and environments
==========================

===================================== ========================================
port (both WSDLs)                     sandbox path
===================================== ========================================
``SuministroFactEmitidas``,           ``/wlpl/SSII-FACT/ws/fe/SiiFactFEV1SOAP``
``SuministroFactEmitidasSello``       (the official path)
``SuministroFactEmitidasPruebas``,    ``/pruebas/wlpl/SSII-FACT/ws/fe/``
``SuministroFactEmitidasPruebasSello`` ``SiiFactFEV1SOAP``
``SuministroFactRecibidas[Sello]``    ``/wlpl/SSII-FACT/ws/fr/SiiFactFRV1SOAP``
``SuministroFactRecibidasPruebas*``   ``/pruebas/wlpl/SSII-FACT/ws/fr/...``
===================================== ========================================

``GET <official path>?wsdl`` serves the WSDL with every port address
rewritten (so the ``...Pruebas`` ports point at ``/pruebas/...``); the XSDs
are served next to it.  In reality production and Pruebas share the path on
different hosts (www1 / prewww1.aeat.es); a client that takes the official
WSDL and only replaces the host therefore always hits the official path.
So the environment ("AEAT database") of a request is decided by its path:

* ``/pruebas/...`` -> ``staging``;
* the official path -> option ``default_environment`` (``'production'``
  by default; set it to ``'staging'`` to make a host-replacing client that
  believes it talks to Pruebas land in the staging state).

The two environments have separate state.

Operations
==========

``SuministroLRFacturasEmitidas``, ``AnulacionLRFacturasEmitidas``
(body ``BajaLRFacturasEmitidas``), ``ConsultaLRFacturasEmitidas`` and the
Recibidas equivalents.  The ``ConsultaLRFactInformadas*`` operations answer
a ``Server`` fault ``Codigo[9999]...`` (not simulated).

Whole-request refusals (SOAP 1.1 Fault, HTTP 500, like AEAT):

* body not valid against the official XSDs (includes ``IDVersionSii`` other
  than 1.1, a missing ``TipoComunicacion`` and more than 10,000 records,
  which the XSD's ``maxOccurs`` forbids): ``env:Client``
  ``Codigo[4102].El XML no cumple el esquema. <libxml2 message>``;
* ``Cabecera/Titular/NIF`` (or its ``NIFRepresentante``) is not the NIF of
  the client certificate (option ``check_titular``, default True):
  ``env:Client`` ``Codigo[4114].El NIF del titular no coincide con el
  certificado``.

Per record (``RegistroLRFacturas*`` / ``RegistroLRBaja*``), first match
wins.  Codes marked * are sandbox approximations (AEAT's exact code for
the situation is not documented here):

====== ==================== ===================================================
code   EstadoRegistro       when
====== ==================== ===================================================
1104   Incorrecto           a Spanish NIF of the counterpart with a wrong check
                            digit (``stdnum.es.nif``): emitidas
                            ``Contraparte/NIF``; recibidas
                            ``IDEmisorFactura/NIF`` or ``Contraparte/NIF``
1108*  Incorrecto           emitidas only: ``PeriodoLiquidacion`` before the
                            issue date (Ejercicio < issue year, or same year
                            and the period ends before the issue month;
                            ``0A`` = whole year, ``nT`` = quarter n)
3000   Incorrecto           A0 of a held invoice that is not Anulada (line
                            ``CSV`` = the held CSV + ``RegistroDuplicado``
                            with the held EstadoRegistro and error).  A0 of an
                            Anulada invoice registers it again (option
                            ``reregister_cancelled``, default True; False
                            answers 3000 with ``RegistroDuplicado`` Anulada)
3002   Incorrecto           A1 (A4, A6) or Anulación of an unknown invoice:
                            "No existe el registro de facturación"
3001   Incorrecto           Anulación (or A1) of an Anulada invoice: "La
                            factura ya está anulada" (line ``CSV`` = held)
1117   AceptadoConErrores   counterpart NIF valid but listed in option
                            ``unidentified_nifs`` (default ``['11111111H']``):
                            "El NIF no está identificado en el censo de la
                            AEAT"
1231*  AceptadoConErrores   ``ImporteTotal`` differs by more than 1.00 from the
                            breakdown: BaseImponible + CuotaRepercutida /
                            CuotaSoportada + CuotaRecargoEquivalencia +
                            no-sujeta amounts (exempt bases included; the
                            CuotaSoportada of InversionSujetoPasivo excluded)
-      Correcto             otherwise
====== ==================== ===================================================

A0/A5 register, A1/A4/A6 modify (replace the held data).  Accepted records
(Correcto or AceptadoConErrores) are held with state ``Correcta`` /
``AceptadaConErrores`` (+ code and text), Anulación sets ``Anulada``.

Answer: ``CSV`` (16 characters A-Z0-9) and ``DatosPresentacion``
(``NIFPresentador`` = certificate NIF, ``TimestampPresentacion``) unless
``EstadoEnvio`` is ``Incorrecto``; the ``Cabecera`` echo; ``EstadoEnvio``
``Correcto`` (every line Correcto), ``Incorrecto`` (every line Incorrecto)
or ``ParcialmenteCorrecto``; one ``RespuestaLinea`` per record in order.

Injected answer ``duplicate_line`` (``add_fault('sii', operation,
'duplicate_line', position='before')``): the request is processed as
usual, then every ``RespuestaLinea`` (Consulta: every item) is listed
twice, the copy (``before`` or ``after`` the real one) stating the
opposite: ``Incorrecto`` 1100 for an accepted line, ``Correcto`` for a
refused one; ``Anulada`` for a held invoice, ``Correcta`` for an
``Anulada`` one.

Consulta: records of the Titular in the environment whose
``PeriodoLiquidacion`` equals the filter's, optionally filtered by
``IDFactura`` (NumSerieFacturaEmisor, FechaExpedicionFacturaEmisor, and for
recibidas the IDEmisorFactura NIF/IDOtro ID) and, for emitidas,
``Contraparte`` (NIF or IDOtro ID).  Order: first registration.  Pages of
option ``page_size`` (default 10000, AEAT's); ``ClavePaginacion`` = the
IDFactura of the last record of the previous page: the page starts right
after it (an unknown key gives ``SinDatos``); ``IndicadorPaginacion`` is
``S`` when more records follow.  Each item carries the held invoice data
(``DatosFacturaEmitida`` / ``DatosFacturaRecibida`` rebuilt from the last
accepted record, ``Cobros`` / ``Pagos`` = ``N``), ``DatosPresentacion``
(presenter, time, CSV of the last accepted operation) and
``EstadoFactura`` (``TimestampUltimaModificacion``, ``EstadoRegistro``,
error code/text for AceptadaConErrores; no ``EstadoCuadre``).

Keys, inspection and state
==========================

An invoice is held per (environment, book, Titular NIF, key) where the key
string is ``"<emitter id>|<NumSerieFacturaEmisor>|<date>"``: emitter id =
``IDEmisorFactura/NIF`` (or ``IDOtro/ID`` in recibidas), date =
``FechaExpedicionFacturaEmisor`` as sent (``dd-mm-yyyy``), e.g.
``"B12345674|F-2024-001|15-05-2024"``.  (AEAT keys received invoices by
Titular too, so two companies may hold the same supplier invoice.)

Inspection summary of every request: ``titular``, ``environment``,
``tipo_comunicacion`` (None on Anulación/Consulta), ``keys`` (key strings of
the records), ``entries`` ([operation, key, TipoComunicacion]); after
processing also ``accepted`` (keys accepted with or without errors),
``registered`` (accepted A0/A5), ``modified`` (accepted A1/A4/A6),
``cancelled`` (accepted Anulación), ``rejected``, ``estado_envio`` and
``csv``; Consulta notes ``period`` and ``found`` (keys returned).  So::

    key = 'B12345674|F-1|15-05-2024'
    sb.count('sii', 'SuministroLRFacturasEmitidas', key)   # A0/A1 received
    sb.count('sii', 'SuministroLRFacturasEmitidas', key, 'registered')

(requests refused as a whole by 4102/4114 count as received, not
registered).  ``sb.state('sii')`` returns ``{environment: {book: {titular:
{key: record}}}}`` (book ``emitidas``/``recibidas``; record: ``key``,
``emitter``, ``number``, ``date``, ``titular``, ``period``,
``tipo_factura``, ``importe_total``, ``counterparty``, ``state``, ``code``,
``description``, ``csv``, ``presenter``, ``registered_at``,
``modified_at``, ``history`` and ``xml``, the last accepted record).
``sb.reset()`` forgets everything.
"""
import copy
import datetime
import secrets
from decimal import Decimal, InvalidOperation
from urllib.parse import urlparse

from lxml import etree

from .core import SandboxService, SoapFault

try:
    from stdnum.es import nif as _es_nif
except ImportError:  # pragma: no cover
    _es_nif = None

_BASE = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/ssii/fact/ws/')
NS_SII = _BASE + 'SuministroInformacion.xsd'
NS_LR = _BASE + 'SuministroLR.xsd'
NS_R = _BASE + 'RespuestaSuministro.xsd'
NS_LRC = _BASE + 'ConsultaLR.xsd'
NS_LRRC = _BASE + 'RespuestaConsultaLR.xsd'

EMITIDAS_PATH = '/wlpl/SSII-FACT/ws/fe/SiiFactFEV1SOAP'
RECIBIDAS_PATH = '/wlpl/SSII-FACT/ws/fr/SiiFactFRV1SOAP'
PRUEBAS_PREFIX = '/pruebas'


def _t(ns, *names):
    "Clark path of ``names`` in namespace ``ns``"
    return '/'.join('{%s}%s' % (ns, n) for n in names)


def S(*names):
    return _t(NS_SII, *names)


# -- texts --------------------------------------------------------------------
TEXT_4102 = 'Codigo[4102].El XML no cumple el esquema. '
TEXT_4114 = 'Codigo[4114].El NIF del titular no coincide con el certificado'
ERRORS = {
    1104: 'Valor del campo NIF del bloque %s no es correcto',
    1108: 'El período de liquidación no es coherente con la fecha de '
    'expedición de la factura',
    1117: 'El NIF no está identificado en el censo de la AEAT. NIF:%s',
    1231: 'El importe total de la factura no coincide con la suma del '
    'desglose',
    3000: 'Factura duplicada',
    3001: 'La factura ya está anulada',
    3002: 'No existe el registro de facturación',
    }

REGISTER = ('A0', 'A5')
MODIFY = ('A1', 'A4', 'A6')

_CSV_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

BOOKS = {
    'emitidas': {
        'alta_op': 'SuministroLRFacturasEmitidas',
        'baja_op': 'AnulacionLRFacturasEmitidas',
        'consulta_op': 'ConsultaLRFacturasEmitidas',
        'alta_record': _t(NS_LR, 'RegistroLRFacturasEmitidas'),
        'baja_record': _t(NS_LR, 'RegistroLRBajaExpedidas'),
        'factura': _t(NS_LR, 'FacturaExpedida'),
        'alta_resp': _t(NS_R, 'RespuestaLRFacturasEmitidas'),
        'baja_resp': _t(NS_R, 'RespuestaLRBajaFacturasEmitidas'),
        'consulta_resp': _t(NS_LRRC, 'RespuestaConsultaLRFacturasEmitidas'),
        'consulta_item': _t(NS_LRRC,
            'RegistroRespuestaConsultaLRFacturasEmitidas'),
        'datos': _t(NS_LRRC, 'DatosFacturaEmitida'),
        },
    'recibidas': {
        'alta_op': 'SuministroLRFacturasRecibidas',
        'baja_op': 'AnulacionLRFacturasRecibidas',
        'consulta_op': 'ConsultaLRFacturasRecibidas',
        'alta_record': _t(NS_LR, 'RegistroLRFacturasRecibidas'),
        'baja_record': _t(NS_LR, 'RegistroLRBajaRecibidas'),
        'factura': _t(NS_LR, 'FacturaRecibida'),
        'alta_resp': _t(NS_R, 'RespuestaLRFacturasRecibidas'),
        'baja_resp': _t(NS_R, 'RespuestaLRBajaFacturasRecibidas'),
        'consulta_resp': _t(NS_LRRC, 'RespuestaConsultaLRFacturasRecibidas'),
        'consulta_item': _t(NS_LRRC,
            'RegistroRespuestaConsultaLRFacturasRecibidas'),
        'datos': _t(NS_LRRC, 'DatosFacturaRecibida'),
        },
    }
OPERATIONS = {}
for _book, _conf in BOOKS.items():
    OPERATIONS[_conf['alta_op']] = (_book, 'alta')
    OPERATIONS[_conf['baja_op']] = (_book, 'baja')
    OPERATIONS[_conf['consulta_op']] = (_book, 'consulta')

# frequently used tags
LR_IDFACTURA = _t(NS_LR, 'IDFactura')
LR_REFEXTERNA = _t(NS_LR, 'RefExterna')
SII_CABECERA = S('Cabecera')
SII_PERIODO = S('PeriodoLiquidacion')
SII_EJERCICIO = S('Ejercicio')
SII_PERIODO_P = S('Periodo')
SII_EMISOR = S('IDEmisorFactura')
SII_NIF = S('NIF')
SII_IDOTRO = S('IDOtro')
SII_ID = S('ID')
SII_NUM = S('NumSerieFacturaEmisor')
SII_FECHA = S('FechaExpedicionFacturaEmisor')
SII_TIPO_FACTURA = S('TipoFactura')
SII_IMPORTE_TOTAL = S('ImporteTotal')
SII_REFEXTERNA = S('RefExterna')
SII_CONTRAPARTE = S('Contraparte')
SII_NOMBRE = S('NombreRazon')
TITULAR_NIF = S('Titular', 'NIF')
TITULAR_REPR = S('Titular', 'NIFRepresentante')
TITULAR_NOMBRE = S('Titular', 'NombreRazon')
TIPO_COMUNICACION = S('TipoComunicacion')

_SUM_EMITIDAS = tuple(S(n) for n in ('BaseImponible', 'CuotaRepercutida',
        'CuotaRecargoEquivalencia', 'ImportePorArticulos7_14_Otros',
        'ImporteTAIReglasLocalizacion'))
_SUM_RECIBIDAS = tuple(S(n) for n in ('BaseImponible', 'CuotaSoportada',
        'CuotaRecargoEquivalencia'))
_ISP = S('InversionSujetoPasivo')
_CUOTA_SOPORTADA = S('CuotaSoportada')

# elements of FacturaType & co. whose (anonymous) content type is local:
# in the Consulta answer their children change namespace too
_ANONYMOUS = frozenset(('FacturasAgrupadas', 'FacturasRectificadas',
        'DatosInmueble', 'TipoDesglose'))

R = {n: _t(NS_R, n) for n in ('CSV', 'DatosPresentacion', 'Cabecera',
        'EstadoEnvio', 'RespuestaLinea', 'IDFactura', 'RefExterna',
        'EstadoRegistro', 'CodigoErrorRegistro', 'DescripcionErrorRegistro',
        'RegistroDuplicado')}
RC = {n: _t(NS_LRRC, n) for n in ('PeriodoLiquidacion', 'Ejercicio',
        'Periodo', 'IndicadorPaginacion', 'ResultadoConsulta', 'IDFactura',
        'DatosPresentacion', 'EstadoFactura', 'TimestampUltimaModificacion',
        'EstadoRegistro', 'CodigoErrorRegistro', 'DescripcionErrorRegistro',
        'Cobros', 'Pagos', 'CuotaDeducible')}
C = {n: _t(NS_LRC, n) for n in ('FiltroConsulta', 'IDFactura',
        'Contraparte', 'ClavePaginacion')}

_STATE_OF = {'Correcto': 'Correcta', 'AceptadoConErrores':
    'AceptadaConErrores'}


def _duplicate_lines(response, position):
    """The ``duplicate_line`` fault: every RespuestaLinea (or Consulta
    item) listed twice, the copy ``before`` or ``after`` it stating the
    opposite (Correcto <-> Incorrecto 1100; held state <-> Anulada)"""
    if response.tag.startswith('{%s}' % NS_LRRC):
        lines = [i for i in response if i.tag.endswith(
                'RegistroRespuestaConsultaLRFacturasEmitidas')
            or i.tag.endswith('RegistroRespuestaConsultaLRFacturasRecibidas')]
        path, states = RC['EstadoFactura'] + '/' + RC['EstadoRegistro'], (
            'Correcta', 'Anulada')
        code_tags = (RC['CodigoErrorRegistro'],
            RC['DescripcionErrorRegistro'])
    else:
        lines = response.findall(R['RespuestaLinea'])
        path, states = R['EstadoRegistro'], ('Correcto', 'Incorrecto')
        code_tags = (R['CodigoErrorRegistro'], R['DescripcionErrorRegistro'])
    for line in lines:
        copy_ = copy.deepcopy(line)
        status = copy_.find(path)
        for tag in code_tags:
            for el in status.getparent().findall(tag):
                el.getparent().remove(el)
        status.text = states[1] if status.text != states[1] else states[0]
        if status.text == 'Incorrecto':
            status.addnext(etree.Element(R['DescripcionErrorRegistro']))
            status.getnext().text = 'Valor o tipo incorrecto'
            status.addnext(etree.Element(R['CodigoErrorRegistro']))
            status.getnext().text = '1100'
        if position == 'after':
            line.addnext(copy_)
        else:
            line.addprevious(copy_)


def _new_csv():
    return ''.join(secrets.choice(_CSV_ALPHABET) for _ in range(16))


def _timestamp(now=None):
    return (now or datetime.datetime.now()).strftime('%d-%m-%Y %H:%M:%S')


def _sub(parent, tag, text=None):
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


_nif_cache = {}


def _nif_is_valid(value):
    "stdnum.es.nif.is_valid, memoized (batches repeat counterparts)"
    if _es_nif is None:
        return True
    valid = _nif_cache.get(value)
    if valid is None:
        if len(_nif_cache) > 100000:
            _nif_cache.clear()
        valid = _nif_cache[value] = bool(_es_nif.is_valid(value))
    return valid


def _kids(el):
    "{tag: first child} of an element (one pass; faster than find())"
    result = {}
    if el is not None:
        for child in el:
            result.setdefault(child.tag, child)
    return result


def _txt(el):
    return None if el is None else (el.text or '').strip()


class _Record:
    "What the rules need from one RegistroLR* element, read in one pass"
    __slots__ = ('element', 'kids', 'idf', 'key', 'emitter', 'emitter_nif',
        'number', 'date', 'ref')

    def __init__(self, element):
        self.element = element
        self.kids = kids = _kids(element)
        self.idf = idf = kids.get(LR_IDFACTURA)
        ikids = _kids(idf)
        self.emitter, self.emitter_nif = _emitter(ikids.get(SII_EMISOR))
        self.number = _txt(ikids.get(SII_NUM)) or ''
        self.date = _txt(ikids.get(SII_FECHA)) or ''
        self.key = '%s|%s|%s' % (self.emitter, self.number, self.date)
        self.ref = None


def _emitter(el):
    "(NIF or IDOtro/ID, NIF or None) of an IDEmisorFactura/Contraparte"
    if el is None:
        return None, None
    for child in el:
        if child.tag == SII_NIF:
            nif = (child.text or '').strip()
            return nif, nif
        if child.tag == SII_IDOTRO:
            for grandchild in child:
                if grandchild.tag == SII_ID:
                    return (grandchild.text or '').strip(), None
    return None, None


def _emitter_id(emisor):
    "NIF or IDOtro/ID of an IDEmisorFactura / Contraparte element"
    return _emitter(emisor)[0]


def invoice_key(idfactura):
    """``"<emitter id>|<NumSerie>|<FechaExpedicion>"`` of an IDFactura-like
    element (children in the SuministroInformacion namespace)"""
    return '%s|%s|%s' % (_emitter_id(idfactura.find(SII_EMISOR)),
        (idfactura.findtext(SII_NUM) or '').strip(),
        (idfactura.findtext(SII_FECHA) or '').strip())


def _period_end_month(periodo):
    if periodo == '0A':
        return 12
    if periodo.endswith('T'):
        return 3 * int(periodo[0])
    return int(periodo)


def _decimal(text):
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        return None


def _copy_children(target, source):
    for child in source:
        if isinstance(child.tag, str):
            target.append(copy.deepcopy(child))
    return target


def _retag(el, ns):
    el.tag = '{%s}%s' % (ns, etree.QName(el).localname)
    return el


class SIIService(SandboxService):
    name = 'sii'
    wsdl = {
        EMITIDAS_PATH: 'es_sii/SuministroFactEmitidas.wsdl',
        RECIBIDAS_PATH: 'es_sii/SuministroFactRecibidas.wsdl',
        }
    # the embedded schema imports every SII XSD (both books, Consulta)
    schema = 'es_sii/SuministroFactEmitidas.wsdl'
    default_options = {
        'default_environment': 'production',
        'unidentified_nifs': ['11111111H'],
        'page_size': 10000,
        'reregister_cancelled': True,
        'check_titular': True,
        }

    def __init__(self):
        super().__init__()
        self.db = {}

    # -- routing --------------------------------------------------------------
    def port_path(self, wsdl_path, service, port, location):
        path = urlparse(location).path or wsdl_path
        if 'Pruebas' in (port or ''):
            return PRUEBAS_PREFIX + path
        return path

    def environment(self, ctx):
        if ctx.path.startswith(PRUEBAS_PREFIX + '/'):
            return 'staging'
        return self.options.get('default_environment') or 'production'

    # -- faults ---------------------------------------------------------------
    def custom_fault_kinds(self):
        return ('duplicate_line',)

    def custom_fault(self, kind, params, operation, ctx):
        if kind == 'duplicate_line':
            # processed as usual; handle() alters the answer
            ctx.sii_duplicate_line = params
            return None
        return super().custom_fault(kind, params, operation, ctx)

    def schema_fault(self, operation, message, ctx):
        return SoapFault('Client', TEXT_4102 + message)

    def protocol_fault(self, kind, message, ctx):
        return SoapFault('Client', TEXT_4102 + message)

    # -- state ----------------------------------------------------------------
    def reset(self):
        self.db = {}

    def _book(self, env, book, titular):
        return self.db.setdefault(env, {}).setdefault(book, {}).setdefault(
            titular, {})

    def state(self):
        result = {}
        for env, books in self.db.items():
            for book, titulares in books.items():
                for titular, records in titulares.items():
                    target = result.setdefault(env, {}).setdefault(
                        book, {}).setdefault(titular, {})
                    for key, rec in records.items():
                        value = {k: v for k, v in rec.items()
                            if not k.startswith('_')}
                        value['history'] = list(rec['history'])
                        value['xml'] = etree.tostring(rec['_record'],
                            encoding='unicode')
                        target[key] = value
        return result

    # -- inspection -----------------------------------------------------------
    def summarize(self, operation, body, caller, ctx):
        found = OPERATIONS.get(operation)
        summary = {'environment': self.environment(ctx)}
        cab = body.find(SII_CABECERA)
        if cab is not None:
            summary['titular'] = cab.findtext(TITULAR_NIF)
            summary['tipo_comunicacion'] = cab.findtext(TIPO_COMUNICACION)
        if not found or found[1] == 'consulta':
            return summary
        book, kind = found
        conf = BOOKS[book]
        tag = conf['alta_record'] if kind == 'alta' else conf['baja_record']
        tipo = summary.get('tipo_comunicacion')
        records = [_Record(r) for r in body.iterchildren(tag)]
        # handle() reuses the parsed records
        ctx.sii_records = (body, records)
        keys = [r.key for r in records]
        summary['keys'] = keys
        summary['entries'] = [[operation, k, tipo] for k in keys]
        return summary

    # -- processing -----------------------------------------------------------
    def handle(self, operation, body, caller, ctx):
        found = OPERATIONS.get(operation)
        if found is None:
            raise SoapFault('Server', 'Codigo[9999].Operación %s no '
                'disponible en el entorno de pruebas local' % operation)
        book, kind = found
        cab = body.find(SII_CABECERA)
        titular = (cab.findtext(TITULAR_NIF) or '').strip()
        if self.options.get('check_titular', True):
            allowed = {titular, (cab.findtext(TITULAR_REPR) or '').strip()}
            if caller.tax_id not in allowed:
                raise SoapFault('Client', TEXT_4114)
        env = self.environment(ctx)
        if kind == 'consulta':
            response = self.consulta(book, body, cab, titular, env, caller,
                ctx)
        else:
            response = self.suministro(book, kind, body, cab, titular, env,
                caller, ctx)
        duplicate = getattr(ctx, 'sii_duplicate_line', None)
        if duplicate is not None:
            _duplicate_lines(response, duplicate.get('position', 'before'))
        return response

    def suministro(self, book, kind, body, cab, titular, env, caller, ctx):
        conf = BOOKS[book]
        store = self._book(env, book, titular)
        now = datetime.datetime.now()
        ts = _timestamp(now)
        csv = _new_csv()
        tipo = cab.findtext(TIPO_COMUNICACION) if kind == 'alta' else None
        unidentified = set(self.options.get('unidentified_nifs') or ())
        reregister = self.options.get('reregister_cancelled', True)
        presenter = caller.tax_id

        response = etree.Element(
            conf['alta_resp'] if kind == 'alta' else conf['baja_resp'],
            nsmap={'siiR': NS_R, 'sii': NS_SII})
        # CSV and DatosPresentacion are inserted at the end if not rejected
        cab_echo = _copy_children(_sub(response, R['Cabecera']), cab)
        estado_envio = _sub(response, R['EstadoEnvio'])

        accepted, registered, modified, cancelled, rejected = (
            [], [], [], [], [])
        n_ok = n_bad = n_warn = 0
        rec_tag = conf['alta_record'] if kind == 'alta' else \
            conf['baja_record']
        cached = getattr(ctx, 'sii_records', None)
        if cached is not None and cached[0] is body:
            records = cached[1]
        else:
            records = [_Record(r) for r in body.iterchildren(rec_tag)]
        titular_name = cab.findtext(TITULAR_NOMBRE)
        for rec in records:
            idf, key = rec.idf, rec.key
            held = store.get(key)
            if kind == 'alta':
                status, code, text, line_csv, dup = self._alta(book, conf,
                    tipo, rec, held, store, titular, titular_name, csv, ts,
                    presenter, unidentified, reregister)
            else:
                status, code, text, line_csv, dup = self._baja(key, held,
                    csv, ts, presenter)
            if status == 'Incorrecto':
                n_bad += 1
                rejected.append(key)
            else:
                accepted.append(key)
                if status == 'Correcto':
                    n_ok += 1
                else:
                    n_warn += 1
                if kind == 'baja':
                    cancelled.append(key)
                elif tipo in REGISTER:
                    registered.append(key)
                else:
                    modified.append(key)
            line = _sub(response, R['RespuestaLinea'])
            _copy_children(_sub(line, R['IDFactura']), idf)
            if kind == 'alta':
                ref = rec.ref
            else:
                ref = _txt(rec.kids.get(LR_REFEXTERNA))
            if ref is not None:
                _sub(line, R['RefExterna'], ref)
            _sub(line, R['EstadoRegistro'], status)
            if code is not None:
                _sub(line, R['CodigoErrorRegistro'], code)
                _sub(line, R['DescripcionErrorRegistro'], text)
            if line_csv:
                _sub(line, R['CSV'], line_csv)
            if dup is not None:
                dup_el = _sub(line, R['RegistroDuplicado'])
                _sub(dup_el, S('EstadoRegistro'), dup['state'])
                if dup.get('code') is not None:
                    _sub(dup_el, S('CodigoErrorRegistro'), dup['code'])
                    _sub(dup_el, S('DescripcionErrorRegistro'),
                        dup['description'])
        if n_bad and not (n_ok or n_warn):
            whole = 'Incorrecto'
        elif n_bad or n_warn:
            whole = 'ParcialmenteCorrecto'
        else:
            whole = 'Correcto'
        estado_envio.text = whole
        if whole != 'Incorrecto':
            csv_el = etree.Element(R['CSV'])
            csv_el.text = csv
            datos = etree.Element(R['DatosPresentacion'])
            _sub(datos, S('NIFPresentador'), presenter)
            _sub(datos, S('TimestampPresentacion'), ts)
            cab_echo.addprevious(csv_el)
            cab_echo.addprevious(datos)
        ctx.note(accepted=accepted, registered=registered, modified=modified,
            cancelled=cancelled, rejected=rejected, estado_envio=whole,
            csv=csv if whole != 'Incorrecto' else None)
        return response

    def _alta(self, book, conf, tipo, rec, held, store, titular,
            titular_name, csv, ts, presenter, unidentified, reregister):
        factura = rec.kids.get(conf['factura'])
        fkids = _kids(factura)
        contraparte = fkids.get(SII_CONTRAPARTE)
        counterparty, counter_nif = _emitter(contraparte)
        rec.ref = _txt(fkids.get(SII_REFEXTERNA))
        # 1104: counterpart NIF check digit
        if book == 'emitidas':
            candidates = [('Contraparte', counter_nif)]
        else:
            candidates = [('IDEmisorFactura', rec.emitter_nif),
                ('Contraparte', counter_nif)]
        checked_nif = None
        for block, value in candidates:
            if value is None:
                continue
            checked_nif = checked_nif or value
            if not _nif_is_valid(value):
                return ('Incorrecto', 1104, ERRORS[1104] % block, None,
                    None)
        pkids = _kids(rec.kids.get(SII_PERIODO))
        ejercicio = _txt(pkids.get(SII_EJERCICIO))
        periodo = _txt(pkids.get(SII_PERIODO_P))
        fecha = rec.date
        # 1108: period before the issue date (emitidas)
        if book == 'emitidas':
            try:
                year, month = int(fecha[6:10]), int(fecha[3:5])
                ej = int(ejercicio)
                if ej < year or (ej == year
                        and _period_end_month(periodo) < month):
                    return 'Incorrecto', 1108, ERRORS[1108], None, None
            except ValueError:
                pass
        # duplicates / unknown
        if tipo in REGISTER:
            if held is not None and (held['state'] != 'Anulada'
                    or not reregister):
                return ('Incorrecto', 3000, ERRORS[3000], held['csv'],
                    held)
        elif held is None:
            return 'Incorrecto', 3002, ERRORS[3002], None, None
        elif held['state'] == 'Anulada':
            return 'Incorrecto', 3001, ERRORS[3001], held['csv'], None
        # accepted, possibly with errors
        status, code, text = 'Correcto', None, None
        importe_total = _txt(fkids.get(SII_IMPORTE_TOTAL))
        if checked_nif is not None and checked_nif in unidentified:
            status, code, text = ('AceptadoConErrores', 1117,
                ERRORS[1117] % checked_nif)
        else:
            total = _decimal(importe_total)
            if total is not None:
                computed = self._breakdown_total(book, factura)
                if abs(total - computed) > 1:
                    status, code, text = ('AceptadoConErrores', 1231,
                        ERRORS[1231])
        history = held['history'] if held is not None else []
        history.append({'operation': tipo, 'csv': csv, 'timestamp': ts,
                'estado': status})
        store[rec.key] = {
            'key': rec.key,
            'emitter': rec.emitter,
            'number': rec.number,
            'date': fecha,
            'titular': titular,
            'titular_name': titular_name,
            'period': {'Ejercicio': ejercicio, 'Periodo': periodo},
            'tipo_factura': _txt(fkids.get(SII_TIPO_FACTURA)),
            'importe_total': importe_total,
            'counterparty': counterparty,
            'counterparty_name': None if contraparte is None
            else _txt(_kids(contraparte).get(SII_NOMBRE)),
            'state': _STATE_OF[status],
            'code': code,
            'description': text,
            'csv': csv,
            'presenter': presenter,
            'registered_at': held['registered_at'] if (held is not None
                and held['state'] != 'Anulada') else ts,
            'modified_at': ts,
            'history': history,
            '_record': rec.element,
            '_seq': held['_seq'] if held is not None else self._next_seq(),
            }
        return status, code, text, None, None

    def _next_seq(self):
        self._seq = getattr(self, '_seq', 0) + 1
        return self._seq

    def _baja(self, key, held, csv, ts, presenter):
        if held is None:
            return 'Incorrecto', 3002, ERRORS[3002], None, None
        if held['state'] == 'Anulada':
            return 'Incorrecto', 3001, ERRORS[3001], held['csv'], None
        held.update(state='Anulada', code=None, description=None, csv=csv,
            presenter=presenter, modified_at=ts)
        held['history'].append({'operation': 'Anulacion', 'csv': csv,
                'timestamp': ts, 'estado': 'Correcto'})
        return 'Correcto', None, None, None, None

    @staticmethod
    def _breakdown_total(book, factura):
        total = Decimal(0)
        tags = _SUM_EMITIDAS if book == 'emitidas' else _SUM_RECIBIDAS
        for el in factura.iter(*tags):
            if el.tag == _CUOTA_SOPORTADA and el.getparent().getparent(
                    ).tag == _ISP:
                continue
            value = _decimal(el.text)
            if value is not None:
                total += value
        return total

    # -- Consulta -------------------------------------------------------------
    def consulta(self, book, body, cab, titular, env, caller, ctx):
        conf = BOOKS[book]
        filtro = body.find(C['FiltroConsulta'])
        period = filtro.find(SII_PERIODO)
        ejercicio = period.findtext(SII_EJERCICIO)
        periodo = period.findtext(SII_PERIODO_P)
        num = fecha = emitter = counter = None
        idf = filtro.find(C['IDFactura'])
        if idf is not None:
            num = idf.findtext(SII_NUM)
            fecha = idf.findtext(SII_FECHA)
            emitter = _emitter_id(idf.find(SII_EMISOR))
        contraparte = filtro.find(C['Contraparte'])
        if contraparte is not None:
            counter = _emitter_id(contraparte)
        clave = filtro.find(C['ClavePaginacion'])
        clave_key = invoice_key(clave) if clave is not None else None

        store = self.db.get(env, {}).get(book, {}).get(titular, {})
        matches = []
        for key, rec in store.items():
            if (rec['period']['Ejercicio'] != ejercicio
                    or rec['period']['Periodo'] != periodo):
                continue
            if num is not None and rec['number'] != num.strip():
                continue
            if fecha is not None and rec['date'] != fecha.strip():
                continue
            if emitter is not None and rec['emitter'] != emitter:
                continue
            if counter is not None and rec['counterparty'] != counter:
                continue
            matches.append(rec)
        matches.sort(key=lambda r: r['_seq'])
        if clave_key is not None:
            for i, rec in enumerate(matches):
                if rec['key'] == clave_key:
                    matches = matches[i + 1:]
                    break
            else:
                matches = []
        page_size = max(1, min(int(self.options.get('page_size') or 10000),
                10000))
        more = len(matches) > page_size
        page = matches[:page_size]

        response = etree.Element(conf['consulta_resp'],
            nsmap={'siiLRRC': NS_LRRC, 'sii': NS_SII})
        response.append(copy.deepcopy(cab))
        per = _sub(response, RC['PeriodoLiquidacion'])
        _sub(per, RC['Ejercicio'], ejercicio)
        _sub(per, RC['Periodo'], periodo)
        _sub(response, RC['IndicadorPaginacion'], 'S' if more else 'N')
        _sub(response, RC['ResultadoConsulta'],
            'ConDatos' if page else 'SinDatos')
        for rec in page:
            self._consulta_item(response, book, conf, rec)
        ctx.note(period=[ejercicio, periodo],
            found=[rec['key'] for rec in page], paginated=more)
        return response

    def _consulta_item(self, response, book, conf, rec):
        record = rec['_record']
        item = _sub(response, conf['consulta_item'])
        _copy_children(_sub(item, RC['IDFactura']),
            record.find(LR_IDFACTURA))
        datos = _sub(item, conf['datos'])
        factura = record.find(conf['factura'])
        for child in factura:
            if not isinstance(child.tag, str):
                continue
            new = _retag(copy.deepcopy(child), NS_LRRC)
            local = etree.QName(new).localname
            if local in _ANONYMOUS:
                for grandchild in new:
                    if isinstance(grandchild.tag, str):
                        _retag(grandchild, NS_LRRC)
            datos.append(new)
            if book == 'recibidas' and new.tag == RC['CuotaDeducible']:
                _sub(datos, RC['Pagos'], 'N')
        if book == 'emitidas':
            _sub(datos, RC['Cobros'], 'N')
        pres = _sub(item, RC['DatosPresentacion'])
        _sub(pres, S('NIFPresentador'), rec['presenter'])
        _sub(pres, S('TimestampPresentacion'), rec['modified_at'])
        _sub(pres, S('CSV'), rec['csv'])
        estado = _sub(item, RC['EstadoFactura'])
        _sub(estado, RC['TimestampUltimaModificacion'], rec['modified_at'])
        _sub(estado, RC['EstadoRegistro'], rec['state'])
        if rec['code'] is not None:
            _sub(estado, RC['CodigoErrorRegistro'], rec['code'])
            _sub(estado, RC['DescripcionErrorRegistro'], rec['description'])
