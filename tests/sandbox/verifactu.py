"""AEAT VERI*FACTU (``SistemaFacturacion.wsdl``) in the sandbox.

Serves the official ``es_verifactu/SistemaFacturacion.wsdl`` (``GET
/wlpl/TIKE-CONT/ws/SistemaFacturacion/VerifactuSOAP?wsdl``, every port
address rewritten, the XSDs next to it) and answers SOAP 1.1 over mutual
TLS at the official path ``/wlpl/TIKE-CONT/ws/SistemaFacturacion/
VerifactuSOAP`` for all four ``sfVerifactu`` ports (production and
Pruebas share the path on different hosts: a client that only replaces
the host lands here).  The ``sfRequerimiento`` port
(``.../RequerimientoSOAP``, NO-VERI*FACTU) answers a ``Server`` fault
``Codigo[9999]`` (not simulated).  One state (no environments).

Operations: ``RegFactuSistemaFacturacion`` and
``ConsultaFactuSistemaFacturacion`` (:mod:`.verifactu_registro`,
:mod:`.verifactu_consulta`; vocabulary and huella in :mod:`.verifactu_xml`).

Whole-request refusals (SOAP 1.1 Fault, HTTP 500, nothing processed)
=====================================================================

* body not valid against the official XSDs (more than 1,000 records
  included): ``env:Client`` ``Codigo[4102].El XML no cumple el esquema.
  <libxml2 message, namespaces removed: it names the field>``;
* ``Cabecera/ObligadoEmision/NIF`` in option ``unidentified_nifs``
  (default ``['11111111H']``): ``env:Client`` ``Codigo[4104].El NIF del
  obligado a emitir no está identificado en el censo de la AEAT``;
* the client certificate's NIF (``serialNumber`` ``IDCES-<NIF>``, see
  :mod:`.pki`) is neither ``ObligadoEmision/NIF`` nor the header's
  ``Representante/NIF`` allowed to act for it by option
  ``representatives`` (``{"<rep NIF>": ["<issuer NIF>", ...]}``, default
  ``{}``); Consulta (no Representante in its header): the certificate NIF
  is the ObligadoEmision NIF or a representative allowed for it:
  ``env:Client`` ``Codigo[4114].El NIF del certificado no corresponde al
  obligado a emitir ni a un representante autorizado``.  Option
  ``check_certificate`` (default True) turns it off;
* injected fault ``internal_error`` (``sb.add_fault('verifactu',
  'RegFactuSistemaFacturacion', 'internal_error')``): ``env:Server``
  ``Codigo[20009].Error interno``, not processed.  The common kinds of
  :mod:`.faults` work too (``drop_after`` = lost answer, processed;
  ``html``, ``http_503``, ``truncated``...).

Per record (RegFactuSistemaFacturacion)
=======================================

Chains are per ObligadoEmision NIF and ``SistemaInformatico/
NumeroInstalacion``; an invoice is keyed ``"<NIF>|<NumSerieFactura>|
<FechaExpedicionFactura>"`` (anulación: the cancelled invoice's id).  The
huella of every record is recomputed from its own element texts (values
trimmed, nothing escaped) and its link compared with the last record held
for its chain.  Status, first match wins; codes marked * are sandbox-only:

====== ================== ====================================================
code   EstadoRegistro     when
====== ================== ====================================================
3000   Incorrecto         same ``Huella`` already held for the issuer: a
                          resend changes nothing, the record is not held
                          again.  ``RegistroDuplicado`` = the invoice's
                          current state (``Correcta`` / ``AceptadaConErrores``
                          + code / ``Anulada``) and the IdPeticion of the held
                          record.  When the held record had been refused, the
                          line repeats its refusal (same code and text; no
                          RegistroDuplicado, the schema has no state for a
                          refused record, unless that refusal was a 3000)
1177   Incorrecto         ``IdSistemaInformatico`` not 2 characters, or listed
                          in option ``refuse_system`` (text or list)
1100   Incorrecto         ``IDEmisorFactura`` other than the header's NIF
3000   Incorrecto         alta (no Subsanacion, RechazoPrevio not S) of a
                          registered invoice (+ ``RegistroDuplicado``)
3002   Incorrecto         Subsanacion=S (RechazoPrevio not S) of an invoice
                          not registered; RechazoPrevio=S when the invoice's
                          last record was not refused; anulación of an invoice
                          not registered unless SinRegistroPrevio=S or
                          RechazoPrevio=S
3001   Incorrecto         anulación of a cancelled invoice
1100   Incorrecto         ``ImporteTotal`` < 0 on F1 ("Valor o tipo incorrecto
                          del campo: ImporteTotal"); NumSerieFactura in option
                          ``reject_numbers`` (field NumSerieFactura)
2000   AceptadoConErrores huella recomputed != ``Huella`` sent ("El cálculo de
                          la huella suministrada es incorrecta.")
2010*  AceptadoConErrores link broken: PrimerRegistro while the chain holds
                          records, RegistroAnterior when it holds none, or
                          RegistroAnterior (Huella, IDEmisorFactura,
                          NumSerieFactura, FechaExpedicionFactura) != the last
                          record held for the chain
2004   AceptadoConErrores ``FechaHoraHusoGenRegistro`` (with its own offset)
                          more than 240 s before the sandbox clock and the
                          header lacks ``RemisionVoluntaria/Incidencia`` = S
-      Correcto           otherwise
====== ================== ====================================================

Every record but a 3000-by-huella is held in its chain in arrival order,
refused ones included (they are links); huella errors and broken links are
counted whatever the status.  Accepted altas register the invoice
(``Correcta`` / ``AceptadaConErrores``; a plain alta of an ``Anulada``
invoice registers it again), accepted anulaciones set ``Anulada``.

Answer: ``CSV`` + ``DatosPresentacion`` unless every line is Incorrecto;
the ``Cabecera`` echo; ``TiempoEsperaEnvio`` = option ``wait`` (seconds,
default 60); ``EstadoEnvio``; one ``RespuestaLinea`` per record.  A request
of fewer than 1,000 records before the wait announced to its issuer
(sandbox clock) is processed but listed in ``state()['violations']``.

Consulta
========

ObligadoEmision queries only (``Destinatario`` -> Fault 9999): the
invoices of the issuer registered or cancelled (refused records are never
returned) whose FechaExpedicionFactura is in ``PeriodoImputacion``
(Ejercicio + month), optionally with that ``NumSerieFactura``; other
filters are ignored.  Order: first registration.  Pages of option
``page_size`` (default 10000); ``ClavePaginacion`` = IDFactura of the last
item of the previous page; ``IndicadorPaginacion`` S when more follow, and
then the answer's ``ClavePaginacion`` is the last item's IDFactura.  Each
item: ``IDFactura``, ``DatosRegistroFacturacion`` (the last accepted record
of the invoice: its flags, data, Encadenamiento, SistemaInformatico,
FechaHoraHusoGenRegistro, TipoHuella, ``Huella``; NifRepresentante and
Incidencia of its header), ``DatosPresentacion`` (presenter, time,
IdPeticion) and ``EstadoRegistro`` (``Correcto`` / ``AceptadoConErrores`` /
``Anulado`` -- RespuestaConsultaLR.xsd's spelling -- + code and text).

State and inspection
====================

``sb.state('verifactu')`` (also ``GET /control/verifactu/state``)::

    {'issuers': {nif: {
        'records': [{'seq', 'kind' ('alta'|'anulacion'), 'key', 'number',
            'date', 'installation', 'flags' ({Subsanacion, RechazoPrevio,
            SinRegistroPrevio} as sent), 'first', 'previous' (link huella
            sent), 'huella', 'computed', 'huella_ok', 'link_ok',
            'generated', 'incidencia', 'status', 'code', 'description',
            'id_peticion', 'received_at'}, ...],      # arrival order
        'invoices': {key: {'key', 'number', 'date', 'state', 'code',
            'description', 'huella', 'kind', 'seq', 'id_peticion',
            'presenter', 'registered_at', 'modified_at'}},
        'not_before': iso or None, 'requests': n}},
     'requests': n, 'records': n, 'consultas': n,
     'received': {huella: times received in processed requests},
     'violations': [{'issuer', 'received_at', 'timestamp', 'not_before',
         'early_by', 'records'}],
     'chain_breaks': [{'issuer', 'installation', 'key', 'huella',
         'previous', 'expected', 'expected_key', 'first'}],
     'huella_errors': [{'issuer', 'key', 'huella', 'computed', 'text'}]}

``sb.verifactu(nif)`` returns that issuer's ``{'records', 'invoices',
...}``.  Inspection summary of every request: ``issuer``,
``representative``, ``keys`` (invoice keys), ``huellas``, ``kinds``;
after processing ``accepted``, ``registered``, ``cancelled``,
``rejected``, ``duplicates`` (keys), ``estado_envio``, ``csv``,
``id_peticion``, ``wait``, ``violation``; Consulta: ``period``, ``found``.
"""
from lxml import etree

from .core import SandboxService, SoapFault
from .verifactu_consulta import ConsultaMixin
from .verifactu_registro import RegistroMixin
from .verifactu_xml import (
    ALTA, ANULACION, CONSULTA, LR_CABECERA, LR_REGISTRO, NS_LR, NS_LRC,
    NS_LRRC, NS_R, NS_SF, OBLIGADO_NIF, REG_FACTU, REPRESENTANTE_NIF, C,
    Record)

__all__ = ['VerifactuService', 'PATH', 'NS_SF', 'NS_LR', 'NS_R', 'NS_LRC',
    'NS_LRRC', 'ALTA', 'ANULACION']

PATH = '/wlpl/TIKE-CONT/ws/SistemaFacturacion/VerifactuSOAP'
WSDL = 'es_verifactu/SistemaFacturacion.wsdl'

TEXT_4102 = 'Codigo[4102].El XML no cumple el esquema. '
TEXT_4104 = ('Codigo[4104].El NIF del obligado a emitir no está identificado '
    'en el censo de la AEAT')
TEXT_4114 = ('Codigo[4114].El NIF del certificado no corresponde al obligado '
    'a emitir ni a un representante autorizado')
TEXT_20009 = 'Codigo[20009].Error interno'


def _strip_namespaces(message):
    "libxml2's message without ``{namespace}`` prefixes (names the field)"
    while '{' in message and '}' in message[message.index('{'):]:
        start = message.index('{')
        message = message[:start] + message[message.index('}', start) + 1:]
    return message


class VerifactuService(RegistroMixin, ConsultaMixin, SandboxService):
    name = 'verifactu'
    wsdl = {PATH: WSDL}
    schema = WSDL
    default_options = {
        'wait': 60,
        'unidentified_nifs': ['11111111H'],
        'representatives': {},
        'check_certificate': True,
        'refuse_system': [],
        'reject_numbers': [],
        'page_size': 10000,
        }

    def __init__(self):
        super().__init__()
        self.reset()

    # -- faults ---------------------------------------------------------------
    def custom_fault_kinds(self):
        return ('internal_error',)

    def custom_fault(self, kind, params, operation, ctx):
        if kind == 'internal_error':
            raise SoapFault('Server', TEXT_20009)
        return super().custom_fault(kind, params, operation, ctx)

    def schema_fault(self, operation, message, ctx):
        return SoapFault('Client', TEXT_4102 + _strip_namespaces(message))

    def protocol_fault(self, kind, message, ctx):
        return SoapFault('Client', TEXT_4102 + message)

    # -- state ----------------------------------------------------------------
    def reset(self):
        self.issuers = {}
        self.huellas = {}       # (issuer, huella) -> held record
        self.last = {}          # (issuer, installation) -> held record
        self.received_huellas = {}
        self.violations = []
        self.chain_breaks = []
        self.huella_errors = []
        self.requests = self.records = self.consultas = 0
        self._peticion = 0

    def _issuer(self, nif):
        return self.issuers.setdefault(nif, {'records': [], 'invoices': {},
                'last': {}, 'not_before': None, 'requests': 0})

    def state(self):
        from .clock import iso

        def public(value):
            return {k: v for k, v in value.items() if not k.startswith('_')}
        issuers = {}
        for nif, issuer in self.issuers.items():
            issuers[nif] = {
                'records': [public(r) for r in issuer['records']],
                'invoices': {k: public(v)
                    for k, v in issuer['invoices'].items()},
                'not_before': (iso(issuer['not_before'])
                    if issuer['not_before'] is not None else None),
                'requests': issuer['requests'],
                }
        return {'issuers': issuers, 'requests': self.requests,
            'records': self.records, 'consultas': self.consultas,
            'received': dict(self.received_huellas),
            'violations': [dict(v) for v in self.violations],
            'chain_breaks': [dict(v) for v in self.chain_breaks],
            'huella_errors': [dict(v) for v in self.huella_errors]}

    # -- checks of the whole request ------------------------------------------
    def _check_issuer(self, nif, representative, caller, consulta=False):
        """4104 for an issuer out of the census, 4114 unless the
        certificate is the issuer's or an allowed representative's (named
        in the header, except in a Consulta whose header has no NIF)"""
        if nif in set(self.options.get('unidentified_nifs') or ()):
            raise SoapFault('Client', TEXT_4104)
        if not self.options.get('check_certificate', True):
            return
        if caller.tax_id == nif:
            return
        allowed = (self.options.get('representatives') or {}).get(
            caller.tax_id) or ()
        if not consulta and caller.tax_id != representative:
            raise SoapFault('Client', TEXT_4114)
        if nif not in allowed:
            raise SoapFault('Client', TEXT_4114)

    # -- inspection -----------------------------------------------------------
    def summarize(self, operation, body, caller, ctx):
        summary = {}
        if body.tag == REG_FACTU:
            cab = body.find(LR_CABECERA)
            if cab is not None:
                summary['issuer'] = (cab.findtext(OBLIGADO_NIF) or '').strip()
                summary['representative'] = cab.findtext(REPRESENTANTE_NIF)
            records = []
            for item in body.iterchildren(LR_REGISTRO):
                for el in item:
                    if isinstance(el.tag, str):
                        records.append(Record(el))
            ctx.verifactu_records = (body, records)
            summary['keys'] = [r.key for r in records]
            summary['huellas'] = [r.huella for r in records]
            summary['kinds'] = [r.kind for r in records]
        elif body.tag == CONSULTA:
            summary['issuer'] = (body.findtext(C['Cabecera'] + '/'
                    + OBLIGADO_NIF) or '').strip() or None
        return summary

    # -- processing -----------------------------------------------------------
    def handle(self, operation, body, caller, ctx):
        if not ctx.path.endswith('/VerifactuSOAP'):
            raise SoapFault('Server', 'Codigo[9999].Operación %s no '
                'disponible en el entorno de pruebas local (%s)' % (
                    operation, ctx.path))
        if body.tag == REG_FACTU:
            cab = body.find(LR_CABECERA)
            nif = (cab.findtext(OBLIGADO_NIF) or '').strip()
            representative = cab.findtext(REPRESENTANTE_NIF)
            if representative is not None:
                representative = representative.strip()
            self._check_issuer(nif, representative, caller)
            return self.registro(body, cab, nif, caller, ctx)
        if body.tag == CONSULTA:
            return self.consulta(body, caller, ctx)
        raise SoapFault('Server', 'Codigo[9999].Operación %s no disponible '
            'en el entorno de pruebas local' % etree.QName(body).localname)

    def _id_peticion(self):
        self._peticion += 1
        return 'SBX%017d' % self._peticion
