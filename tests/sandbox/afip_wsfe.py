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
``FEParamGetTiposOpcional`` (with 2101 CBU, 2102 Alias, 22 Anulación, 23
Referencia Comercial), ``FEParamGetTiposPaises``, ``FEParamGetActividades``
(option ``actividades``), and the CAEA operations ``FECAEASolicitar``,
``FECAEAConsultar``, ``FECAEARegInformativo``,
``FECAEASinMovimientoInformar``, ``FECAEASinMovimientoConsultar`` (below).
``FEParamGetPtosVenta`` lists option ``puntos_venta``: an int is a CAE point
of sale, a dict ``{'nro': 4, 'emision_tipo': 'CAEA', 'bloqueado': 'N',
'fch_baja': None}`` gives its ``EmisionTipo`` (CAE or CAEA).

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
10151 Opcional Id not in FEParamGetTiposOpcional
10152 sum of Compradores Porcentaje != 100 (0.01)
10015 a Comprador with DocTipo 80/86 and an invalid (or unregistered) CUIT
10153 PeriodoAsoc with an invalid date, FchDesde > FchHasta, or FchHasta >
      CbteFch
10154 PeriodoAsoc and CbtesAsoc together
10155 Actividad Id not among option ``actividades``
10160 FCE invoice (201, 206, 211) without a valid FchVtoPago (any Concepto)
10161 FCE invoice without Opcional 2101 (CBU: 22 digits, both check
      digits valid) nor 2102 (alias: 6-20 of letters, digits, '.', '-'),
      or with an invalid CBU / alias
10162 FCE invoice without Opcional 27 (transfer system) 'SCA' or 'ADC'
10164 FCE invoice to a receiver not obliged (DocTipo 80 and DocNro in
      option ``fce_receivers``) or ImpTotal x MonCotiz below option
      ``fce_threshold``
10163 FCE note (202, 203, 207, 208, 212, 213) without Opcional 22 'S'/'N'
10166 FCE note without CbtesAsoc, or a CbteAsoc without Cuit or a valid
      CbteFch
10165 common invoice (1, 6, 11) to an obliged receiver at or above the
      threshold (an FCE is due)
===== =======================================================================

(10013, 10015, 10016, 10048, 10242, 10246 are AFIP's; the other numbers
are sandbox choices in AFIP's range.)  A rejected detail does not consume
its number, so the following details of the same request fail with 10016.
Accepted details get a 14-digit CAE, CAEFchVto = CbteFch + 10 days, and
optionally the observation of option ``observation`` (``{'code': 10217,
'msg': '...'}``).  ``FeCabResp.Resultado``: A, R or P (partial).

FECompConsultar answers the stored voucher (``ResultGet``, request fields +
Resultado, CodAutorizacion, EmisionTipo, FchVto, FchProceso) or Err 602.
An informed CAEA voucher: EmisionTipo CAEA, CodAutorizacion = the CAEA,
FchVto = the CAEA's FchVigHasta.

CAEA (contingency; codes are sandbox choices; dates in AR time of the
sandbox clock ``now_ar()``, i.e. shifted by ``clock_offset_seconds``):

* ``FECAEASolicitar(Periodo yyyymm, Orden)``: Orden 1 = days 1-15, 2 = 16
  to the end of the month.  Grants a unique 14-digit CAEA (``ResultGet``:
  CAEA, Periodo, Orden, FchVigDesde, FchVigHasta, FchTopeInf = FchVigHasta
  + 8 days, FchProceso).  Err 15006 invalid Periodo/Orden; 15008 a CAEA
  was already granted to the CUIT for the period and order (use
  FECAEAConsultar); 15007 outside the request window: from 5 calendar
  days before the fortnight starts until its last day.
* ``FECAEAConsultar(Periodo, Orden)``: the granted CAEA, or Err 602.
* ``FECAEARegInformativo``: header errors and detail checks as
  FECAESolicitar (the +-5/10 days CbteFch window excepted: CbteFch must
  instead be within the fortnight), then per detail: 1501 CAEA unknown
  for the CUIT, 1502 CbteFch outside the CAEA's fortnight, 1503 PtoVta not
  a CAEA point of sale (option ``puntos_venta``), 10016 not the next
  number of the series (shared with CAE).  Informed after FchTopeInf:
  accepted with observation 1504.  Accepted details are stored like CAE
  vouchers (CbteFchHsGen kept in the state); ``FECAEADetResponse`` ends
  with the CAEA.  Informing a voucher again gives 10016 (its number is
  used): FECompConsultar tells whether it was informed.
* ``FECAEASinMovimientoInformar(PtoVta, CAEA)``: Resultado A, or R with
  Err 1501 unknown CAEA, 1506 already informed without movement, 1505
  vouchers were informed with the CAEA on that point of sale, 1507 the
  fortnight has not ended (today <= FchVigHasta).
* ``FECAEASinMovimientoConsultar(CAEA, PtoVta)``: ``FECAEASinMov`` of the
  reports (empty CAEA / PtoVta 0 = any), or Err 602.

Options: ``reg_x_req`` (250), ``clock_offset_seconds`` (0),
``condicion_iva_required`` (True), ``observation`` (None),
``unregistered_cuits`` ([]), ``puntos_venta`` ([1, 2, 3]: ints or dicts,
see above), ``actividades`` (None = ``[(620100, 1, 'Servicios de
consultores en informática')]``; list of (Id, Orden, Desc)),
``fce_receivers`` ([] CUITs obliged to receive FCE), ``fce_threshold``
(3958316 pesos),
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
``FECAEARegInformativo`` is summarized like ``FECAESolicitar`` (voucher
keys; ``authorized`` = informed and accepted); ``FECAEASolicitar`` /
``FECAEAConsultar``: ``keys`` = ``['caea:<cuit>:<periodo>:<orden>']``,
``granted`` = the same key when a CAEA was granted;
``FECAEASinMovimientoInformar`` / ``...Consultar``: ``keys`` =
``['sinmov:<cuit>:<pto>:<caea>']``, ``accepted`` = the same key when
informed (A).  ``state()`` adds ``caeas`` ({CAEA: {cuit, periodo, orden,
desde, hasta, tope, proceso, informed: [voucher keys]}}), ``informed``
({voucher key: times accepted by FECAEARegInformativo}; also counted in
``caes``) and ``sin_movimiento`` ({sinmov key: FchProceso}).
Code: this module (plumbing, authentication, queries),
:mod:`.afip_wsfe_cae` (``FECAESolicitar``, voucher checks),
:mod:`.afip_wsfe_fields` (optional fields and FCE checks),
:mod:`.afip_wsfe_caea` (CAEA), :mod:`.afip_wsfe_params`
(``FEParamGet*``), :mod:`.afip_wsfe_tables` (codes, texts, XML helpers).
"""
import datetime
import secrets
import time
from collections import Counter

from lxml import etree

from .afip import AR_TZ, CoreAware, series_key, voucher_key
from .afip_wsfe_cae import CAEMixin
from .afip_wsfe_caea import CAEAMixin, caea_key, sinmov_key
from .afip_wsfe_fields import DEFAULT_FCE_THRESHOLD, FieldChecksMixin
from .afip_wsfe_params import ParamTablesMixin
from .afip_wsfe_tables import (
    CBTE_CLASS, COMPLEX, MSG, NS, SCALARS, F, _date, _errors, _fields, _q,
    _text)
from .core import SandboxService, SoapFault, SoapResponse

__all__ = ['WSFEService', 'NS']


class WSFEService(CAEMixin, CAEAMixin, FieldChecksMixin, ParamTablesMixin,
        CoreAware, SandboxService):
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
        'actividades': None,
        'fce_receivers': [],
        'fce_threshold': DEFAULT_FCE_THRESHOLD,
        }

    def __init__(self):
        super().__init__()
        self.tickets = None
        self.series = {}
        self.caes = {}          # env -> Counter(voucher key)
        self.issued_caes = set()    # CAEs and CAEAs
        self.caeas = {}         # env -> {(cuit, periodo, orden): record}
        self.sin_movimiento = {}    # env -> {(cuit, pto, caea): FchProceso}
        self.informed = {}      # env -> Counter(voucher key)

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
        self.caeas = {}
        self.sin_movimiento = {}
        self.informed = {}

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
        return dict({'environment': env, 'series': series,
                'caes': dict(self.caes.get(env, {}))}, **self.caea_state())

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
            external=False, authorization=None, emision_tipo='CAE',
            vto=None, extra=None):
        """Store an authorized voucher as the next of its series: a new CAE
        unless ``authorization`` (the CAEA of an informed voucher)"""
        series = self._series(cuit, pto_vta, cbte_tipo)
        cae = authorization or self._new_cae()
        vto = vto or (_date(date) + datetime.timedelta(days=10)).strftime(
            '%Y%m%d')
        record = {
            'emision_tipo': emision_tipo,
            'fields': values,
            'complex': (etree.tostring(det).decode('utf-8')
                if det is not None else None),
            'cae': cae, 'cae_vto': vto,
            'fch_proceso': self.now_ar().strftime('%Y%m%d%H%M%S'),
            'observations': [list(o) for o in obs],
            'external': external,
            }
        record.update(extra or {})
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
            if operation in ('FECAESolicitar', 'FECAEARegInformativo'):
                req, det = (('FeCAEReq', 'FECAEDetRequest')
                    if operation == 'FECAESolicitar'
                    else ('FeCAEARegInfReq', 'FECAEADetRequest'))
                cab = body.find('%s/%s' % (_q(req), _q('FeCabReq')))
                pto = int(cab.findtext(_q('PtoVta')))
                tipo = int(cab.findtext(_q('CbteTipo')))
                keys = [voucher_key(cuit, pto, tipo, d.findtext(
                            _q('CbteDesde')))
                    for d in body.iterfind('%s/%s/%s' % (_q(req),
                            _q('FeDetReq'), _q(det)))]
                return {'cuit': str(cuit), 'keys': keys}
            if operation in ('FECAEASolicitar', 'FECAEAConsultar'):
                return {'cuit': str(cuit), 'keys': [caea_key(cuit,
                            body.findtext(_q('Periodo')),
                            body.findtext(_q('Orden')))]}
            if operation in ('FECAEASinMovimientoInformar',
                    'FECAEASinMovimientoConsultar'):
                return {'cuit': str(cuit), 'keys': [sinmov_key(cuit,
                            body.findtext(_q('PtoVta')),
                            (body.findtext(_q('CAEA')) or '').strip())]}
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
            F('EmisionTipo', record.get('emision_tipo') or 'CAE'),
            F('FchVto', record['cae_vto']),
            F('FchProceso', record['fch_proceso']),
            F('Observaciones', [F('Obs', F('Code', c), F('Msg', m))
                    for c, m in obs]) if obs else None,
            F('PtoVta', pto), F('CbteTipo', tipo)]
        return [F('ResultGet', children)]
