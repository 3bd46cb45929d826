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
1239*  Incorrecto           ``Macrodato`` ``S`` not sent exactly when
                            ``|ImporteTotal|`` >= 100,000,000
1240*  Incorrecto           ``ImporteRectificacion`` without
                            ``TipoRectificativa`` ``S``, or ``S`` without it
1241*  Incorrecto           ``FechaOperacion`` after the sandbox clock's date
                            (unless a regime key is 14 or 15)
1242*  Incorrecto           emitidas: ``Contraparte`` by ``IDOtro`` or a NIF
                            starting with N, not simplified (F2, R5), and
                            ``DesgloseFactura`` instead of
                            ``DesgloseTipoOperacion``
1243*  Incorrecto           ``TipoFactura`` F5, F6 or LC in emitidas (received
                            book only; :mod:`.sii_customs`)
1244*  Incorrecto           F5 or LC: ``IDEmisorFactura/NIF`` or
                            ``Contraparte/NIF`` is not the Titular's (the
                            importer is both)
1245*  Incorrecto           F5 or LC with regime key 13 (import without DUA)
                            or ``InversionSujetoPasivo``
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

The cash criterion books (``SuministroLRCobrosEmitidas``,
``SuministroLRPagosRecibidas``, ``ConsultaCobros``, ``ConsultaPagos``) are
served by :mod:`.sii_cash`.

Code: this module (routing, faults, state, inspection), :mod:`.sii_xml`
(namespaces and tags), :mod:`.sii_suministro` (Suministro, Anulación) and
:mod:`.sii_consulta` (Consulta).
"""
import copy
from urllib.parse import urlparse

from lxml import etree

from .core import SandboxService, SoapFault
from .sii_cash import CashMixin
from .sii_consulta import ConsultaMixin
from .sii_suministro import SuministroMixin
from .sii_xml import (
    BOOKS, NS_LR, NS_LRC, NS_LRRC, NS_R, NS_SII, OPERATIONS, RC, SII_CABECERA,
    TIPO_COMUNICACION, TITULAR_NIF, TITULAR_REPR, R, _Record, invoice_key)

__all__ = ['SIIService', 'invoice_key', 'EMITIDAS_PATH', 'RECIBIDAS_PATH',
    'NS_SII', 'NS_LR', 'NS_LRC', 'NS_R', 'NS_LRRC']

EMITIDAS_PATH = '/wlpl/SSII-FACT/ws/fe/SiiFactFEV1SOAP'
RECIBIDAS_PATH = '/wlpl/SSII-FACT/ws/fr/SiiFactFRV1SOAP'
PRUEBAS_PREFIX = '/pruebas'
# the paths of the foral treasuries (same operations): Araba and Bizkaia,
# Gipuzkoa, then Navarra (one address for both books)
FORAL_PATHS = tuple(prefix + path
    for prefix in ['', PRUEBAS_PREFIX]
    for path in [
        '/SSII-FACT/ws/fe/SiiFactFEV1SOAP', '/SSII-FACT/ws/fr/SiiFactFRV1SOAP',
        '/JBS/HACI/SSII-FACT/ws/fe/SiiFactFEV1SOAP',
        '/JBS/HACI/SSII-FACT/ws/fr/SiiFactFRV1SOAP',
        '/SII_PRODUCCION.proxy/SiiMensajesXsdHandlet.ashx',
        '/SII_PRUEBAS.proxy/SiiMensajesXsdHandlet.ashx'])

# -- texts --------------------------------------------------------------------
TEXT_4102 = 'Codigo[4102].El XML no cumple el esquema. '
TEXT_4114 = 'Codigo[4114].El NIF del titular no coincide con el certificado'


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


class SIIService(CashMixin, SuministroMixin, ConsultaMixin, SandboxService):
    name = 'sii'
    wsdl = {
        EMITIDAS_PATH: 'es_sii/SuministroFactEmitidas.wsdl',
        RECIBIDAS_PATH: 'es_sii/SuministroFactRecibidas.wsdl',
        }
    paths = FORAL_PATHS + CashMixin.paths
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
        if self.is_cash(operation):
            summary.update(self.summarize_cash(operation, body))
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
        if self.is_cash(operation):
            return self.handle_cash(operation, body, caller, ctx)
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
