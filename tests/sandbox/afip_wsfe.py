"""AFIP/ARCA WSFEv1 (electronic invoices, CAE) for the authority sandbox.

Served at ``/wsfev1/service.asmx`` (WSDL ``ar_afip/wsfev1.wsdl``, SOAP 1.1
and 1.2 ports, requests validated against the embedded schema; a schema
violation answers a ``soap:Client`` fault "Server was unable to read
request...", as ASP.NET does).  Every answer carries the SOAP header
``FEHeaderInfo{ambiente, fecha, id}`` (``fecha`` = server time, shifted by
option ``clock_offset_seconds``).

Operations: ``FEDummy`` (no authentication), ``FECompTotXRequest``,
``FECompUltimoAutorizado``, ``FECAESolicitar``, ``FECompConsultar``,
``FEParamGetTiposCbte``, ``FEParamGetTiposIva``, ``FEParamGetTiposDoc``,
``FEParamGetTiposMonedas``, ``FEParamGetCotizacion``, ``FEParamGetPtosVenta``,
``FEParamGetCondicionIvaReceptor`` (``ClaseCmp`` filter),
``FEParamGetTiposConcepto``, ``FEParamGetTiposTributos``,
``FEParamGetTiposOpcional``, ``FEParamGetTiposPaises``.  The CAEA
operations answer a ``soap:Server`` fault (not implemented).

Authentication (every other call): ``Auth{Token, Sign, Cuit}`` must be a
ticket issued by ``afip_wsaa`` for service ``wsfe``, else the normal
response with ``Errors/Err``: 600 (unknown token / sign: "ValidacionDeToken:
No validó la firma digital."; expired: "ValidacionDeToken: No validaron las
fechas del token GenTime, ExpTime, NowUTC: ..."), 601 (Cuit is not the
ticket's CUIT).  Not SOAP faults, as AFIP.

FECAESolicitar.  Header errors (whole request rejected, ``FeCabResp``
Resultado R + ``Errors``): 10001 CantReg != number of details, 10002
CantReg > RegXReq, 10007 unknown CbteTipo.  Then details are processed in
order; a detail is rejected (Resultado R, ``Observaciones/Obs``) with every
applicable code of:

===== =======================================================================
10023 Concepto not 1, 2 or 3
10014 unknown DocTipo
10013 class A/M voucher with DocTipo != 80 (CUIT)
10015 DocTipo 80/86 with an invalid CUIT/CUIL (check digit, ``stdnum``) or
      one listed in option ``unregistered_cuits`` ("El campo DocNro es
      invalido")
10011 CbteHasta != CbteDesde
10016 CbteDesde != last authorized + 1, or CbteFch invalid, outside today
      +-5 days (Concepto 1) / +-10 days (2, 3), or before the date of the
      last authorized voucher of the series (AFIP's text)
10048 ImpTotal != ImpTotConc + ImpNeto + ImpOpEx + ImpTrib + ImpIVA (0.01)
10070 class A/B/M with ImpNeto > 0 and no Iva
10071 class C with Iva or ImpIVA != 0
10019 unknown AlicIva Id
10061 AlicIva Importe differs from BaseImp x rate by more than
      0.01 + 0.1 % of BaseImp
10051 sum of AlicIva Importe != ImpIVA (0.01)
10056 sum of Tributo Importe != ImpTrib (0.01)
10038 unknown MonId
10119 MonCotiz != 1 for PES, or <= 0 for another currency
10239 CanMisMonExt not S/N (required for a currency other than PES)
10246 CondicionIVAReceptorId missing (RG 5616); only an observation on an
      accepted voucher when option ``condicion_iva_required`` is False
10242 CondicionIVAReceptorId unknown or not valid for the voucher class
10035 / 10036 / 10037  Concepto 2/3 without a valid FchServDesde /
      FchServHasta / FchVtoPago
10040 credit/debit note (2, 3, 7, 8, 12, 13, 52, 53, 202, 203, 207, 208,
      212, 213) without CbtesAsoc (or PeriodoAsoc)
10041 CbteAsoc of the same CUIT that was never authorized
===== =======================================================================

(10013, 10015, 10016, 10048, 10242, 10246 are AFIP's; the other numbers
are sandbox choices in AFIP's range.)  A rejected detail does not consume
its number, so the following details of the same request fail with 10016.
Accepted details get a 14-digit CAE, CAEFchVto = CbteFch + 10 days, and
optionally the observation of option ``observation`` (``{'code': 10217,
'msg': '...'}``).  ``FeCabResp.Resultado``: A, R or P (partial).

FECompConsultar answers the stored voucher (``ResultGet``, request fields +
Resultado, CodAutorizacion, EmisionTipo CAE, FchVto, FchProceso) or Err 602.

Options: ``reg_x_req`` (250), ``clock_offset_seconds`` (0),
``condicion_iva_required`` (True), ``observation`` (None),
``unregistered_cuits`` ([]), ``puntos_venta`` ([1, 2, 3]),
``cotizaciones`` ({'DOL': 1000.0, '060': 1100.0, '012': 180.0}),
``ambiente`` ('HomologacionExterno - efa'), ``environment``
('homologacion'; state is kept per environment; tickets are only valid
in the ``afip_wsaa`` environment of the same name), ``accept_any_token``
(False: True skips the ticket check).  Actions through ``set_option``
(not stored):

* ``authorize_external``: ``{'cuit', 'pto_vta', 'cbte_tipo', 'count': 1,
  'date': 'yyyymmdd'}`` -- another system authorized the next number(s)
  (also :meth:`WSFEService.bump_last`).

Injected answers (``add_fault('afip_wsfe', operation, kind, ...)``; the
request is processed as usual, only the answer is altered):

* ``empty_cae``: approved vouchers are answered without their CAE
  (``FECAESolicitar``: empty ``CAE``; ``FECompConsultar``: empty
  ``CodAutorizacion``);
* ``duplicate_result``: ``FECAESolicitar`` answers each approved voucher
  twice: as it is, then with ``Resultado`` R, no CAE and observation
  ``code`` (default 10016).

Inspection: see :mod:`tests.sandbox.afip` for the key formats
(``keys``/``authorized``/``rejected``) and ``state()['caes']``.
"""
import datetime
import secrets
import time
from collections import Counter
from decimal import Decimal, InvalidOperation

from lxml import etree

from .afip import AR_TZ, CoreAware, series_key, voucher_key
from .core import E, SandboxService, SoapFault, SoapResponse

__all__ = ['WSFEService', 'NS']

NS = 'http://ar.gov.afip.dif.FEV1/'
F = E.ns(NS)

FCH_DESDE = '20100917'

# id, description, class
CBTE_TIPOS = [
    (1, 'Factura A', 'A'), (2, 'Nota de Débito A', 'A'),
    (3, 'Nota de Crédito A', 'A'), (4, 'Recibos A', 'A'),
    (5, 'Notas de Venta al contado A', 'A'),
    (6, 'Factura B', 'B'), (7, 'Nota de Débito B', 'B'),
    (8, 'Nota de Crédito B', 'B'), (9, 'Recibos B', 'B'),
    (10, 'Notas de Venta al contado B', 'B'),
    (11, 'Factura C', 'C'), (12, 'Nota de Débito C', 'C'),
    (13, 'Nota de Crédito C', 'C'), (15, 'Recibo C', 'C'),
    (49, 'Comprobante de Compra de Bienes Usados a Consumidor Final', 'B'),
    (51, 'Factura M', 'M'), (52, 'Nota de Débito M', 'M'),
    (53, 'Nota de Crédito M', 'M'), (54, 'Recibo M', 'M'),
    (201, 'Factura de Crédito electrónica MiPyMEs (FCE) A', 'A'),
    (202, 'Nota de Débito electrónica MiPyMEs (FCE) A', 'A'),
    (203, 'Nota de Crédito electrónica MiPyMEs (FCE) A', 'A'),
    (206, 'Factura de Crédito electrónica MiPyMEs (FCE) B', 'B'),
    (207, 'Nota de Débito electrónica MiPyMEs (FCE) B', 'B'),
    (208, 'Nota de Crédito electrónica MiPyMEs (FCE) B', 'B'),
    (211, 'Factura de Crédito electrónica MiPyMEs (FCE) C', 'C'),
    (212, 'Nota de Débito electrónica MiPyMEs (FCE) C', 'C'),
    (213, 'Nota de Crédito electrónica MiPyMEs (FCE) C', 'C'),
    ]
CBTE_CLASS = {i: c for i, _, c in CBTE_TIPOS}
NOTES = {2, 3, 7, 8, 12, 13, 52, 53, 202, 203, 207, 208, 212, 213}
IVA_TIPOS = [(3, '0%', Decimal('0')), (4, '10.5%', Decimal('0.105')),
    (5, '21%', Decimal('0.21')), (6, '27%', Decimal('0.27')),
    (8, '5%', Decimal('0.05')), (9, '2.5%', Decimal('0.025'))]
IVA_RATES = {i: r for i, _, r in IVA_TIPOS}
DOC_TIPOS = [(80, 'CUIT'), (86, 'CUIL'), (87, 'CDI'), (89, 'LE'),
    (90, 'LC'), (91, 'CI Extranjera'), (92, 'en trámite'),
    (93, 'Acta Nacimiento'), (94, 'Pasaporte'), (95, 'CI Bs. As. RNP'),
    (96, 'DNI'), (99, 'Doc. (Otro)')]
DOC_IDS = {i for i, _ in DOC_TIPOS}
CONDICION_IVA = [
    (1, 'IVA Responsable Inscripto', 'A/M/C'),
    (4, 'IVA Sujeto Exento', 'B/C'),
    (5, 'Consumidor Final', 'B/C'),
    (6, 'Responsable Monotributo', 'A/M/C'),
    (7, 'Sujeto No Categorizado', 'B/C'),
    (8, 'Proveedor del Exterior', 'B/C'),
    (9, 'Cliente del Exterior', 'B/C'),
    (10, 'IVA Liberado – Ley N° 19.640', 'B/C'),
    (13, 'Monotributista Social', 'A/M/C'),
    (15, 'IVA No Alcanzado', 'B/C'),
    (16, 'Monotributo Trabajador Independiente Promovido', 'A/M/C'),
    ]
CONDICION_CLASSES = {i: c.split('/') for i, _, c in CONDICION_IVA}
MONEDAS = [('PES', 'Pesos Argentinos'), ('DOL', 'Dólar Estadounidense'),
    ('060', 'Euro'), ('012', 'Real'), ('021', 'Libra Esterlina'),
    ('019', 'Yens'), ('018', 'Dólar Canadiense')]
MONEDA_IDS = {i for i, _ in MONEDAS}
CONCEPTOS = [(1, 'Producto'), (2, 'Servicios'),
    (3, 'Productos y Servicios')]
TRIBUTOS = [(1, 'Impuestos nacionales'), (2, 'Impuestos provinciales'),
    (3, 'Impuestos municipales'), (4, 'Impuestos Internos'),
    (5, 'IIBB'), (6, 'Percepción de IVA'), (7, 'Percepción de IIBB'),
    (8, 'Percepciones por Impuestos Municipales'),
    (9, 'Otras Percepciones'),
    (13, 'Percepción de IVA a no Categorizado'), (99, 'Otro')]
OPCIONALES = [('2', 'RG Empresas Promovidas - Identificador de proyecto'),
    ('10', 'RG 3668 Impuesto al Valor Agregado - Art.12'),
    ('27', 'Transferencia'), ('2101', 'CBU del Emisor')]
PAISES = [(200, 'ARGENTINA'), (203, 'BRASIL'), (208, 'CHILE'),
    (212, 'ESTADOS UNIDOS'), (225, 'URUGUAY'), (410, 'ESPAÑA')]

MSG = {
    600: 'ValidacionDeToken: No validó la firma digital.',
    601: 'CUIT representada no incluida en Token',
    602: ('No existen datos en nuestros registros para los parametros '
        'ingresados.'),
    10001: ('El numero de registros informados en CantReg no coincide con '
        'la cantidad de comprobantes enviados en FeDetReq.'),
    10002: ('La cantidad de registros informados en CantReg supera el '
        'maximo permitido por request (FECompTotXRequest).'),
    10007: ('El campo CbteTipo informado no es valido. Consultar metodo '
        'FEParamGetTiposCbte.'),
    10011: 'El campo CbteHasta debe ser igual a CbteDesde.',
    10013: ('Para comprobantes clase A y M el campo DocTipo debe ser igual '
        'a 80 (CUIT).'),
    10014: ('El campo DocTipo es invalido. Consultar metodo '
        'FEParamGetTiposDoc.'),
    10015: 'El campo DocNro es invalido.',
    10016: ('El numero o fecha del comprobante no se corresponde con el '
        'proximo a autorizar. Consultar metodo FECompUltimoAutorizado.'),
    10019: ('El Id de alicuota de IVA es invalido. Consultar metodo '
        'FEParamGetTiposIva.'),
    10023: ('El campo Concepto es invalido. Consultar metodo '
        'FEParamGetTiposConcepto.'),
    10035: ('Si el concepto es 2 o 3 el campo FchServDesde es obligatorio '
        '(yyyymmdd).'),
    10036: ('Si el concepto es 2 o 3 el campo FchServHasta es obligatorio '
        '(yyyymmdd).'),
    10037: ('Si el concepto es 2 o 3 el campo FchVtoPago es obligatorio '
        '(yyyymmdd).'),
    10038: ('El campo MonId es invalido. Consultar metodo '
        'FEParamGetTiposMonedas.'),
    10040: ('Para las notas de debito y credito es obligatorio informar '
        'CbtesAsoc o PeriodoAsoc.'),
    10041: ('El comprobante asociado informado en CbtesAsoc no se encuentra '
        'autorizado.'),
    10048: ('El campo ImpTotal debe ser igual a la suma de ImpTotConc + '
        'ImpNeto + ImpOpEx + ImpTrib + ImpIVA.'),
    10051: 'La suma de los importes de AlicIva debe ser igual a ImpIVA.',
    10056: 'La suma de los importes de Tributos debe ser igual a ImpTrib.',
    10061: ('El Importe de AlicIva no se corresponde con BaseImp por la '
        'alicuota informada.'),
    10070: 'Si ImpNeto es mayor a 0 el objeto IVA es obligatorio.',
    10071: ('Para comprobantes tipo C el objeto IVA no debe informarse y '
        'ImpIVA debe ser 0.'),
    10119: ('El campo MonCotiz es invalido: debe ser 1 para PES y mayor a 0 '
        'para otras monedas.'),
    10239: 'El campo CanMisMonExt es invalido: informar S o N.',
    10242: ('El campo CondicionIVAReceptorId es invalido para la clase de '
        'comprobante. Consultar metodo FEParamGetCondicionIvaReceptor.'),
    10246: ('Campo Condicion Frente al IVA del receptor obligatorio '
        'conforme lo reglamentado en la Resolución General N° 5616.'),
    }

SCALARS = ['Concepto', 'DocTipo', 'DocNro', 'CbteDesde', 'CbteHasta',
    'CbteFch', 'ImpTotal', 'ImpTotConc', 'ImpNeto', 'ImpOpEx', 'ImpTrib',
    'ImpIVA', 'FchServDesde', 'FchServHasta', 'FchVtoPago', 'MonId',
    'MonCotiz', 'CanMisMonExt', 'CondicionIVAReceptorId']
COMPLEX = ['CbtesAsoc', 'Tributos', 'Iva', 'Opcionales', 'Compradores',
    'PeriodoAsoc', 'Actividades']
CENT = Decimal('0.01')


def _q(tag):
    return '{%s}%s' % (NS, tag)


def _local(el):
    return etree.QName(el).localname


def _fields(el):
    return {_local(c): c for c in el if isinstance(c.tag, str)}


def _text(fields, name):
    el = fields.get(name)
    if el is None or el.text is None:
        return None
    return el.text.strip()


def _dec(text, default='0'):
    try:
        value = Decimal(text if text not in (None, '') else default)
    except InvalidOperation:
        return Decimal('NaN')
    return value


def _date(text):
    try:
        if not text or len(text) != 8:
            raise ValueError
        return datetime.datetime.strptime(text, '%Y%m%d').date()
    except ValueError:
        return None


def _errors(errs):
    if not errs:
        return None
    return F('Errors', [F('Err', F('Code', c), F('Msg', m))
            for c, m in errs])


def _cuit_valid(number):
    from stdnum.ar import cuit
    return cuit.is_valid(str(number))


class WSFEService(CoreAware, SandboxService):
    name = 'afip_wsfe'
    wsdl = {'/wsfev1/service.asmx': 'ar_afip/wsfev1.wsdl'}
    schema = 'ar_afip/wsfev1.wsdl'
    default_options = {
        'reg_x_req': 250,
        'clock_offset_seconds': 0,
        'condicion_iva_required': True,
        'observation': None,
        'unregistered_cuits': [],
        'puntos_venta': [1, 2, 3],
        'cotizaciones': {'DOL': 1000.0, '060': 1100.0, '012': 180.0},
        'ambiente': 'HomologacionExterno - efa',
        'environment': 'homologacion',
        'accept_any_token': False,
        }

    def __init__(self):
        super().__init__()
        self.tickets = None
        self.series = {}
        self.caes = {}          # env -> Counter(voucher key)
        self.issued_caes = set()

    def attach(self, core):
        super().attach(core)
        from .afip_wsaa import WSAAService
        for service in core.services.values():
            if isinstance(service, WSAAService):
                self.tickets = service.tickets

    # -- plumbing --
    def now(self):
        return time.time() + float(
            self.options.get('clock_offset_seconds') or 0)

    def now_ar(self):
        return datetime.datetime.fromtimestamp(self.now(), AR_TZ)

    @property
    def environment(self):
        return self.options.get('environment') or 'homologacion'

    def reset(self):
        self.series = {}
        self.caes = {}
        self.issued_caes = set()

    def set_option(self, name, value):
        if name == 'authorize_external':
            value = dict(value)
            self.bump_last(value.pop('cuit'), value.pop('pto_vta'),
                value.pop('cbte_tipo'), **value)
            return
        super().set_option(name, value)

    def _series(self, cuit, pto_vta, cbte_tipo, env=None):
        key = (env or self.environment, str(int(cuit)), int(pto_vta),
            int(cbte_tipo))
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = {'last': 0, 'last_date': None,
                'vouchers': {}}
        return series

    def state(self):
        env = self.environment
        series = {}
        for (e, cuit, pto, tipo), value in self.series.items():
            if e != env:
                continue
            series[series_key(cuit, pto, tipo)] = {
                'last': value['last'], 'last_date': value['last_date'],
                'vouchers': {str(n): dict(v)
                    for n, v in value['vouchers'].items()}}
        return {'environment': env, 'series': series,
            'caes': dict(self.caes.get(env, {}))}

    def schema_fault(self, operation, message, ctx):
        return SoapFault('Client', 'Server was unable to read request. ---> '
            'There is an error in XML document. ---> %s' % message)

    def protocol_fault(self, kind, message, ctx):
        return SoapFault('Client', 'Server was unable to read request. ---> '
            '%s' % message)

    def _new_cae(self):
        while True:
            cae = '7%013d' % secrets.randbelow(10 ** 13)
            if cae not in self.issued_caes:
                self.issued_caes.add(cae)
                return cae

    def _count_cae(self, key):
        self.caes.setdefault(self.environment, Counter())[key] += 1

    def bump_last(self, cuit, pto_vta, cbte_tipo, count=1, date=None,
            fields=None):
        """Authorize ``count`` vouchers as another system would (next
        numbers of the series, CAE issued, dated ``date`` or today).
        Returns the last number."""
        with self.lock:
            series = self._series(cuit, pto_vta, cbte_tipo)
            date = date or self.now_ar().strftime('%Y%m%d')
            for _ in range(int(count)):
                nro = series['last'] + 1
                values = {'Concepto': '1', 'DocTipo': '99', 'DocNro': '0',
                    'CbteDesde': str(nro), 'CbteHasta': str(nro),
                    'CbteFch': date, 'ImpTotal': '0', 'ImpTotConc': '0',
                    'ImpNeto': '0', 'ImpOpEx': '0', 'ImpTrib': '0',
                    'ImpIVA': '0', 'MonId': 'PES', 'MonCotiz': '1',
                    'CondicionIVAReceptorId': '5'}
                values.update(fields or {})
                self._store(cuit, pto_vta, cbte_tipo, nro, values, None,
                    date, [], external=True)
            return series['last']

    def _store(self, cuit, pto_vta, cbte_tipo, nro, values, det, date, obs,
            external=False):
        series = self._series(cuit, pto_vta, cbte_tipo)
        cae = self._new_cae()
        vto = (_date(date) + datetime.timedelta(days=10)).strftime('%Y%m%d')
        record = {
            'fields': values,
            'complex': (etree.tostring(det).decode('utf-8')
                if det is not None else None),
            'cae': cae, 'cae_vto': vto,
            'fch_proceso': self.now_ar().strftime('%Y%m%d%H%M%S'),
            'observations': [list(o) for o in obs],
            'external': external,
            }
        series['vouchers'][nro] = record
        series['last'] = nro
        series['last_date'] = date
        self._count_cae(voucher_key(cuit, pto_vta, cbte_tipo, nro))
        return record

    # -- authentication --
    def _auth(self, body):
        "Return (cuit, errors)"
        auth = body.find(_q('Auth'))
        fields = _fields(auth) if auth is not None else {}
        try:
            cuit = str(int(_text(fields, 'Cuit')))
        except (TypeError, ValueError):
            cuit = None
        if self.options.get('accept_any_token'):
            return cuit, []
        token = _text(fields, 'Token')
        sign = _text(fields, 'Sign')
        ticket = self.tickets.get(token) if (
            self.tickets is not None and token) else None
        if (ticket is None or ticket['sign'] != sign
                or ticket['env'] != self.environment
                or ticket['service'] != 'wsfe'):
            return cuit, [(600, MSG[600])]
        now = self.now()
        if ticket['expiration'] <= now:
            def fmt(epoch):
                return '%d (%s)' % (epoch, datetime.datetime.fromtimestamp(
                        epoch, datetime.timezone.utc).strftime(
                        '%m/%d/%Y %I:%M:%S %p'))
            return cuit, [(600, 'ValidacionDeToken: No validaron las fechas '
                    'del token GenTime, ExpTime, NowUTC: %s, %s, %s' % (
                        fmt(ticket['generation']),
                        fmt(ticket['expiration']), fmt(now)))]
        if cuit != ticket['cuit']:
            return cuit, [(601, MSG[601])]
        return cuit, []

    # -- responses --
    def _header_info(self):
        return F('FEHeaderInfo', F('ambiente', self.options.get('ambiente')),
            F('fecha', self.now_ar().isoformat(timespec='milliseconds')),
            F('id', '6.1.0.0'), nsmap={None: NS})

    def _respond(self, operation, children):
        result = F(operation + 'Response', F(operation + 'Result', children),
            nsmap={None: NS})
        etree.cleanup_namespaces(result)
        return SoapResponse(result, headers=[self._header_info()])

    def summarize(self, operation, body, caller, ctx):
        try:
            auth = body.find(_q('Auth'))
            cuit = int(auth.findtext(_q('Cuit')))
            if operation == 'FECAESolicitar':
                cab = body.find('%s/%s' % (_q('FeCAEReq'), _q('FeCabReq')))
                pto = int(cab.findtext(_q('PtoVta')))
                tipo = int(cab.findtext(_q('CbteTipo')))
                keys = [voucher_key(cuit, pto, tipo, d.findtext(
                            _q('CbteDesde')))
                    for d in body.iterfind('%s/%s/%s' % (_q('FeCAEReq'),
                            _q('FeDetReq'), _q('FECAEDetRequest')))]
                return {'cuit': str(cuit), 'keys': keys}
            if operation == 'FECompConsultar':
                req = body.find(_q('FeCompConsReq'))
                return {'cuit': str(cuit), 'keys': [voucher_key(cuit,
                            req.findtext(_q('PtoVta')),
                            req.findtext(_q('CbteTipo')),
                            req.findtext(_q('CbteNro')))]}
            if operation == 'FECompUltimoAutorizado':
                return {'cuit': str(cuit), 'keys': [series_key(cuit,
                            body.findtext(_q('PtoVta')),
                            body.findtext(_q('CbteTipo')))]}
            return {'cuit': str(cuit), 'keys': []}
        except (AttributeError, TypeError, ValueError):
            return {'keys': []}

    def custom_fault_kinds(self):
        return ('empty_cae', 'duplicate_result')

    def custom_fault(self, kind, params, operation, ctx):
        if kind in self.custom_fault_kinds():
            # processed as usual; handle() alters the answer
            ctx.afip_tamper = (kind, params)
            return None
        return super().custom_fault(kind, params, operation, ctx)

    def handle(self, operation, body, caller, ctx):
        if operation == 'FEDummy':
            return self._respond(operation, [F('AppServer', 'OK'),
                    F('DbServer', 'OK'), F('AuthServer', 'OK')])
        method = getattr(self, 'op_' + operation, None)
        if method is None:
            raise SoapFault('Server', 'Operation %s is not implemented in '
                'the sandbox' % operation)
        cuit, errors = self._auth(body)
        if errors:
            ctx.note(auth_error=errors[0][0])
        response = self._respond(operation, method(body, cuit, errors, ctx))
        tamper = getattr(ctx, 'afip_tamper', None)
        if tamper:
            self._tamper(response.body, *tamper)
        return response

    @staticmethod
    def _tamper(result, kind, params):
        "Alter an answer as the injected fault kind says"
        approved = [d for d in result.iter(_q('FECAEDetResponse'))
            if d.findtext(_q('Resultado')) == 'A']
        if kind == 'empty_cae':
            for detail in approved:
                detail.find(_q('CAE')).text = ''
            for found in result.iter(_q('CodAutorizacion')):
                found.text = ''
        elif kind == 'duplicate_result':
            code = int(params.get('code', 10016))
            for detail in approved:
                copy_ = etree.fromstring(etree.tostring(detail))
                copy_.find(_q('Resultado')).text = 'R'
                copy_.find(_q('CAE')).text = ''
                copy_.find(_q('CAEFchVto')).text = ''
                old = copy_.find(_q('Observaciones'))
                if old is not None:
                    copy_.remove(old)
                copy_.find(_q('Resultado')).addnext(F('Observaciones',
                        F('Obs', F('Code', code), F('Msg', MSG.get(
                                    code, 'Rechazado')))))
                detail.addnext(copy_)

    # -- operations: answers are lists of children of the <Op>Result --
    def op_FECompTotXRequest(self, body, cuit, errors, ctx):
        return [F('RegXReq', 0 if errors else int(
                    self.options.get('reg_x_req') or 0)), _errors(errors)]

    def op_FECompUltimoAutorizado(self, body, cuit, errors, ctx):
        pto = int(body.findtext(_q('PtoVta')))
        tipo = int(body.findtext(_q('CbteTipo')))
        nro = 0
        if not errors:
            if tipo not in CBTE_CLASS:
                errors = [(10007, MSG[10007])]
            else:
                nro = self._series(cuit, pto, tipo)['last']
        return [F('PtoVta', pto), F('CbteTipo', tipo), F('CbteNro', nro),
            _errors(errors)]

    def op_FECompConsultar(self, body, cuit, errors, ctx):
        if errors:
            return [_errors(errors)]
        req = body.find(_q('FeCompConsReq'))
        if req is None:
            return [_errors([(602, MSG[602])])]
        req = _fields(req)
        tipo = int(_text(req, 'CbteTipo'))
        nro = int(_text(req, 'CbteNro'))
        pto = int(_text(req, 'PtoVta'))
        record = self._series(cuit, pto, tipo)['vouchers'].get(nro)
        if record is None:
            return [_errors([(602, MSG[602])])]
        values = record['fields']
        children = [F(name, values[name]) for name in SCALARS
            if values.get(name) is not None]
        if record['complex']:
            stored = _fields(etree.fromstring(record['complex']))
            for name in COMPLEX:
                if name in stored:
                    children.append(stored[name])
        obs = record['observations']
        children += [F('Resultado', 'A'), F('CodAutorizacion', record['cae']),
            F('EmisionTipo', 'CAE'), F('FchVto', record['cae_vto']),
            F('FchProceso', record['fch_proceso']),
            F('Observaciones', [F('Obs', F('Code', c), F('Msg', m))
                    for c, m in obs]) if obs else None,
            F('PtoVta', pto), F('CbteTipo', tipo)]
        return [F('ResultGet', children)]

    def op_FECAESolicitar(self, body, cuit, errors, ctx):
        if errors:
            ctx.note(authorized=[], rejected=[])
            return [_errors(errors)]
        req = body.find(_q('FeCAEReq'))
        cab = req.find(_q('FeCabReq')) if req is not None else None
        details = [] if req is None else req.findall('%s/%s' % (
                _q('FeDetReq'), _q('FECAEDetRequest')))
        if cab is None:
            return [_errors([(10001, MSG[10001])])]
        cab_f = _fields(cab)
        cant = int(_text(cab_f, 'CantReg'))
        pto = int(_text(cab_f, 'PtoVta'))
        tipo = int(_text(cab_f, 'CbteTipo'))
        now = self.now_ar()
        fch_proceso = now.strftime('%Y%m%d%H%M%S')

        def cab_resp(resultado):
            return F('FeCabResp', F('Cuit', cuit), F('PtoVta', pto),
                F('CbteTipo', tipo), F('FchProceso', fch_proceso),
                F('CantReg', cant), F('Resultado', resultado),
                F('Reproceso', 'N'))
        if cant != len(details):
            errors = [(10001, MSG[10001])]
        elif cant > int(self.options.get('reg_x_req') or 0):
            errors = [(10002, MSG[10002])]
        elif tipo not in CBTE_CLASS:
            errors = [(10007, MSG[10007])]
        if errors:
            ctx.note(authorized=[], rejected=[], resultado='R')
            return [cab_resp('R'), _errors(errors)]
        responses, authorized, rejected = [], [], []
        for det in details:
            response, ok, key = self._detail(cuit, pto, tipo, det, now)
            responses.append(response)
            (authorized if ok else rejected).append(key)
        resultado = ('A' if not rejected else 'R' if not authorized
            else 'P')
        ctx.note(authorized=authorized, rejected=rejected,
            resultado=resultado)
        return [cab_resp(resultado), F('FeDetResp', responses)]

    def _detail(self, cuit, pto, tipo, det, now):
        f = _fields(det)
        today = now.date()
        clase = CBTE_CLASS[tipo]
        try:
            concepto = int(_text(f, 'Concepto'))
            doc_tipo = int(_text(f, 'DocTipo'))
            doc_nro = int(_text(f, 'DocNro'))
            desde = int(_text(f, 'CbteDesde'))
            hasta = int(_text(f, 'CbteHasta'))
        except (TypeError, ValueError):
            concepto = doc_tipo = doc_nro = desde = hasta = 0
        fch = _text(f, 'CbteFch') or today.strftime('%Y%m%d')
        key = voucher_key(cuit, pto, tipo, desde)
        series = self._series(cuit, pto, tipo)
        codes = []          # rejecting

        def reject(code):
            if code not in codes:
                codes.append(code)
        warnings = []       # observations on an accepted voucher

        if concepto not in (1, 2, 3):
            reject(10023)
        if doc_tipo not in DOC_IDS:
            reject(10014)
        elif clase in ('A', 'M') and doc_tipo != 80:
            reject(10013)
        if doc_tipo in (80, 86) and (not _cuit_valid(doc_nro) or str(
                    doc_nro) in [str(c) for c in self.options.get(
                        'unregistered_cuits') or []]):
            reject(10015)
        if hasta != desde:
            reject(10011)
        if desde != series['last'] + 1:
            reject(10016)
        date = _date(fch)
        window = 5 if concepto == 1 else 10
        if (date is None or abs((date - today).days) > window
                or (series['last_date'] and fch < series['last_date'])):
            reject(10016)

        # amounts
        total = _dec(_text(f, 'ImpTotal'))
        parts = [_dec(_text(f, n)) for n in ('ImpTotConc', 'ImpNeto',
                'ImpOpEx', 'ImpTrib', 'ImpIVA')]
        neto, imp_trib, imp_iva = parts[1], parts[3], parts[4]
        if not all(v.is_finite() for v in parts + [total]):
            reject(10048)
        else:
            if abs(total - sum(parts)) > CENT:
                reject(10048)
            ivas = []
            if 'Iva' in f:
                for alic in f['Iva']:
                    if not isinstance(alic.tag, str):
                        continue
                    a = _fields(alic)
                    try:
                        ivas.append((int(_text(a, 'Id')),
                                _dec(_text(a, 'BaseImp')),
                                _dec(_text(a, 'Importe'))))
                    except (TypeError, ValueError):
                        reject(10019)
            if clase == 'C':
                if ivas or imp_iva != 0:
                    reject(10071)
            else:
                if neto > 0 and not ivas:
                    reject(10070)
                for id_, base, importe in ivas:
                    rate = IVA_RATES.get(id_)
                    if rate is None:
                        reject(10019)
                    elif not (base.is_finite() and importe.is_finite()) or (
                            abs(base * rate - importe)
                            > CENT + abs(base) * Decimal('0.001')):
                        reject(10061)
                if ivas and all(v[2].is_finite() for v in ivas) and abs(
                        sum(v[2] for v in ivas) - imp_iva) > CENT:
                    reject(10051)
            tributos = []
            if 'Tributos' in f:
                tributos = [_dec(_text(_fields(t), 'Importe'))
                    for t in f['Tributos'] if isinstance(t.tag, str)]
            if abs(sum(tributos, Decimal(0)) - imp_trib) > CENT:
                reject(10056)

        # currency
        mon = _text(f, 'MonId') or 'PES'
        cotiz = _dec(_text(f, 'MonCotiz'), '1')
        can = _text(f, 'CanMisMonExt')
        if mon not in MONEDA_IDS:
            reject(10038)
        elif not cotiz.is_finite() or (mon == 'PES' and cotiz != 1) or (
                mon != 'PES' and cotiz <= 0):
            reject(10119)
        if (mon != 'PES' or can is not None) and can not in ('S', 'N'):
            reject(10239)

        # receiver VAT condition (RG 5616)
        cond = _text(f, 'CondicionIVAReceptorId')
        if cond is None:
            if self.options.get('condicion_iva_required', True):
                reject(10246)
            else:
                warnings.append((10246, MSG[10246]))
        else:
            try:
                classes = CONDICION_CLASSES.get(int(cond))
            except ValueError:
                classes = None
            if not classes or clase not in classes:
                reject(10242)

        # services
        if concepto in (2, 3):
            for code, name in ((10035, 'FchServDesde'),
                    (10036, 'FchServHasta'), (10037, 'FchVtoPago')):
                if _date(_text(f, name)) is None:
                    reject(code)

        # notes
        if tipo in NOTES:
            asocs = [] if 'CbtesAsoc' not in f else [
                _fields(a) for a in f['CbtesAsoc'] if isinstance(a.tag, str)]
            if not asocs and 'PeriodoAsoc' not in f:
                reject(10040)
            for a in asocs:
                try:
                    a_cuit = int(_text(a, 'Cuit') or cuit)
                    a_key = (int(_text(a, 'PtoVta')), int(_text(a, 'Tipo')),
                        int(_text(a, 'Nro')))
                except (TypeError, ValueError):
                    reject(10041)
                    continue
                if str(a_cuit) == str(cuit) and a_key[2] not in self._series(
                        cuit, a_key[0], a_key[1])['vouchers']:
                    reject(10041)

        head = [F('Concepto', concepto), F('DocTipo', doc_tipo),
            F('DocNro', doc_nro), F('CbteDesde', desde),
            F('CbteHasta', hasta), F('CbteFch', fch)]
        if codes:
            obs = [(c, MSG[c]) for c in codes]
            return F('FECAEDetResponse', head, F('Resultado', 'R'),
                F('Observaciones', [F('Obs', F('Code', c), F('Msg', m))
                        for c, m in obs]),
                F('CAE', ''), F('CAEFchVto', '')), False, key
        extra = self.options.get('observation')
        if extra:
            warnings.append((int(extra['code']), extra.get('msg', '')))
        values = {name: _text(f, name) for name in SCALARS}
        values.update(CbteFch=fch, MonId=mon, MonCotiz=values['MonCotiz']
            or '1')
        record = self._store(cuit, pto, tipo, desde, values, det, fch,
            warnings)
        return F('FECAEDetResponse', head, F('Resultado', 'A'),
            F('Observaciones', [F('Obs', F('Code', c), F('Msg', m))
                    for c, m in warnings]) if warnings else None,
            F('CAE', record['cae']),
            F('CAEFchVto', record['cae_vto'])), True, key

    # -- parameter tables --
    def _param(self, errors, items):
        if errors:
            return [_errors(errors)]
        return [F('ResultGet', items)]

    def _typed(self, tag, rows):
        return [F(tag, F('Id', i), F('Desc', d), F('FchDesde', FCH_DESDE),
                F('FchHasta', 'NULL')) for i, d in rows]

    def op_FEParamGetTiposCbte(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('CbteTipo',
                [(i, d) for i, d, _ in CBTE_TIPOS]))

    def op_FEParamGetTiposIva(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('IvaTipo',
                [(i, d) for i, d, _ in IVA_TIPOS]))

    def op_FEParamGetTiposDoc(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('DocTipo', DOC_TIPOS))

    def op_FEParamGetTiposMonedas(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('Moneda', MONEDAS))

    def op_FEParamGetTiposConcepto(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('ConceptoTipo', CONCEPTOS))

    def op_FEParamGetTiposTributos(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('TributoTipo', TRIBUTOS))

    def op_FEParamGetTiposOpcional(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('OpcionalTipo', OPCIONALES))

    def op_FEParamGetTiposPaises(self, body, cuit, errors, ctx):
        return self._param(errors, [F('PaisTipo', F('Id', i), F('Desc', d))
                for i, d in PAISES])

    def op_FEParamGetCondicionIvaReceptor(self, body, cuit, errors, ctx):
        clase = (body.findtext(_q('ClaseCmp')) or '').strip().upper()
        rows = [(i, d, c) for i, d, c in CONDICION_IVA
            if not clase or clase in c.split('/')]
        return self._param(errors, [F('CondicionIvaReceptor', F('Id', i),
                    F('Desc', d), F('Cmp_Clase', c)) for i, d, c in rows])

    def op_FEParamGetPtosVenta(self, body, cuit, errors, ctx):
        return self._param(errors, [F('PtoVenta', F('Nro', n),
                    F('EmisionTipo', 'CAE'), F('Bloqueado', 'N'),
                    F('FchBaja', 'NULL'))
                for n in self.options.get('puntos_venta') or []])

    def op_FEParamGetCotizacion(self, body, cuit, errors, ctx):
        if errors:
            return [_errors(errors)]
        mon = (body.findtext(_q('MonId')) or '').strip()
        fch = (body.findtext(_q('FchCotiz')) or '').strip() or (
            self.now_ar().strftime('%Y%m%d'))
        rates = self.options.get('cotizaciones') or {}
        if mon not in rates:
            return [_errors([(602, MSG[602])])]
        return [F('ResultGet', F('MonId', mon), F('MonCotiz', rates[mon]),
                F('FchCotiz', fch))]
