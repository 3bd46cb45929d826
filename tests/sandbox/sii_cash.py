"""SII sandbox: the cash criterion books (collections of issued invoices,
payments of received invoices) and their Consulta.

Paths (like the official ``SuministroCobrosEmitidas.wsdl`` and
``SuministroPagosRecibidas.wsdl``; ``/pruebas`` in front for staging):
``/wlpl/SSII-FACT/ws/fe/SiiFactCOBV1SOAP`` and
``/wlpl/SSII-FACT/ws/fr/SiiFactPAGV1SOAP``.

``SuministroLRCobrosEmitidas`` / ``SuministroLRPagosRecibidas``: each
``RegistroLRCobros`` / ``RegistroLRPagos`` names a held invoice of the
Titular (issued / received book, same key as the invoice books) and its
``Cobro`` / ``Pago`` items.  Per record (codes marked * are sandbox
approximations):

====== ==================================================================
3002   the invoice is not held (or Anulada)
1300*  the held invoice has no key 07 (``ClaveRegimenEspecialOTrascendencia``
       or an additional key)
1301*  the amounts held and sent exceed its ``ImporteTotal``
====== ==================================================================

Accepted items are appended to the held invoice's ``cash`` list
(``fecha``, ``importe``, ``medio``, ``cuenta``, ``csv``), shown by
``sb.state('sii')``.  ``ConsultaCobros`` / ``ConsultaPagos`` list them
(``DatosCobro`` / ``DatosPago`` with the ``DatosPresentacion`` of their
request).  Summary: ``keys`` (invoice keys), ``accepted``, ``rejected``,
``estado_envio``, ``csv``; the Consulta notes ``found`` (items listed)."""
import datetime
import secrets
from decimal import Decimal, InvalidOperation

from lxml import etree

from .core import SoapFault
from .sii_xml import (
    NS_LR, NS_LRRC, NS_R, NS_SII, SII_CABECERA, TITULAR_NIF, TITULAR_REPR, R,
    S, _copy_children, _sub, invoice_key)

COBROS_PATH = '/wlpl/SSII-FACT/ws/fe/SiiFactCOBV1SOAP'
PAGOS_PATH = '/wlpl/SSII-FACT/ws/fr/SiiFactPAGV1SOAP'
CASH_OPERATIONS = {
    'SuministroLRCobrosEmitidas': ('emitidas', 'RegistroLRCobros', 'Cobros',
        'Cobro', 'RespuestaLRCobrosEmitidas'),
    'SuministroLRPagosRecibidas': ('recibidas', 'RegistroLRPagos', 'Pagos',
        'Pago', 'RespuestaLRPagosRecibidas'),
    }
CASH_QUERIES = {
    'ConsultaCobros': ('emitidas', 'FiltroConsultaCobros',
        'RespuestaConsultaCobros', 'RegistroRespuestaConsultaCobros',
        'DatosCobro'),
    'ConsultaPagos': ('recibidas', 'FiltroConsultaPagos',
        'RespuestaConsultaPagos', 'RegistroRespuestaConsultaPagos',
        'DatosPago'),
    }
ERRORS = {
    3002: 'No existe el registro de facturación',
    1300: 'La factura no está acogida al régimen especial del criterio '
    'de caja',
    1301: 'La suma de los cobros o pagos supera el importe total de la '
    'factura',
    }
KEY_TAGS = {S('ClaveRegimenEspecialOTrascendencia'),
    S('ClaveRegimenEspecialOTrascendenciaAdicional1'),
    S('ClaveRegimenEspecialOTrascendenciaAdicional2')}
_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'


def _t(ns, name):
    return '{%s}%s' % (ns, name)


def _decimal(value):
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return Decimal(0)


class CashMixin:
    "Mixed into the SII sandbox service"

    paths = tuple(prefix + path
        for prefix in ('', '/pruebas') for path in (COBROS_PATH, PAGOS_PATH))

    def is_cash(self, operation):
        return operation in CASH_OPERATIONS or operation in CASH_QUERIES

    def summarize_cash(self, operation, body):
        if operation not in CASH_OPERATIONS:
            return {}
        tag = _t(NS_LR, CASH_OPERATIONS[operation][1])
        return {'keys': [invoice_key(r.find(_t(NS_LR, 'IDFactura')))
                for r in body.iterchildren(tag)]}

    def handle_cash(self, operation, body, caller, ctx):
        cab = body.find(SII_CABECERA)
        titular = (cab.findtext(TITULAR_NIF) or '').strip()
        if self.options.get('check_titular', True):
            allowed = {titular, (cab.findtext(TITULAR_REPR) or '').strip()}
            if caller.tax_id not in allowed:
                from .sii import TEXT_4114
                raise SoapFault('Client', TEXT_4114)
        env = self.environment(ctx)
        if operation in CASH_QUERIES:
            return self._cash_query(operation, body, cab, titular, env, ctx)
        return self._cash_suministro(operation, body, cab, titular, env,
            caller, ctx)

    @staticmethod
    def _is_recc(held):
        record = held.get('_record')
        if record is None:
            return False
        return any(el.tag in KEY_TAGS and (el.text or '').strip() == '07'
            for el in record.iter())

    def _cash_suministro(self, operation, body, cab, titular, env, caller,
            ctx):
        book, registro, group, item, answer = CASH_OPERATIONS[operation]
        store = self._book(env, book, titular)
        csv = ''.join(secrets.choice(_ALPHABET) for _ in range(16))
        ts = datetime.datetime.now().strftime('%d-%m-%Y %H:%M:%S')
        response = etree.Element(_t(NS_R, answer),
            nsmap={'siiR': NS_R, 'sii': NS_SII})
        cab_echo = _copy_children(_sub(response, R['Cabecera']), cab)
        estado_envio = _sub(response, R['EstadoEnvio'])
        accepted, rejected = [], []
        for rec in body.iterchildren(_t(NS_LR, registro)):
            idf = rec.find(_t(NS_LR, 'IDFactura'))
            key = invoice_key(idf)
            items = [{
                    'fecha': i.findtext(S('Fecha')),
                    'importe': i.findtext(S('Importe')),
                    'medio': i.findtext(S('Medio')),
                    'cuenta': i.findtext(S('Cuenta_O_Medio')),
                    'csv': csv,
                    'timestamp': ts,
                    'presenter': caller.tax_id,
                    } for i in rec.find(_t(NS_LR, group)).iterchildren(
                    S(item))]
            held = store.get(key)
            code = None
            if held is None or held.get('state') == 'Anulada':
                code = 3002
            elif not self._is_recc(held):
                code = 1300
            else:
                total = abs(_decimal(held.get('importe_total')))
                so_far = sum((_decimal(c['importe'])
                        for c in held.get('cash', [])), Decimal(0))
                new = sum((_decimal(i['importe']) for i in items), Decimal(0))
                if abs(so_far + new) > total:
                    code = 1301
            line = _sub(response, R['RespuestaLinea'])
            line_idf = _sub(line, R['IDFactura'])
            _copy_children(line_idf, idf)
            if code:
                rejected.append(key)
                _sub(line, R['EstadoRegistro'], 'Incorrecto')
                _sub(line, R['CodigoErrorRegistro'], code)
                _sub(line, R['DescripcionErrorRegistro'], ERRORS[code])
            else:
                accepted.append(key)
                held.setdefault('cash', []).extend(items)
                _sub(line, R['EstadoRegistro'], 'Correcto')
        if accepted and rejected:
            whole = 'ParcialmenteCorrecto'
        elif accepted:
            whole = 'Correcto'
        else:
            whole = 'Incorrecto'
        estado_envio.text = whole
        if whole != 'Incorrecto':
            csv_el = etree.Element(R['CSV'])
            csv_el.text = csv
            datos = etree.Element(R['DatosPresentacion'])
            _sub(datos, S('NIFPresentador'), caller.tax_id)
            _sub(datos, S('TimestampPresentacion'), ts)
            cab_echo.addprevious(csv_el)
            cab_echo.addprevious(datos)
        ctx.note(accepted=accepted, rejected=rejected, estado_envio=whole,
            csv=csv if whole != 'Incorrecto' else None)
        return response

    def _cash_query(self, operation, body, cab, titular, env, ctx):
        book, filtro, answer, held_tag, datos_tag = CASH_QUERIES[operation]
        store = self._book(env, book, titular)
        idf = body.find('{*}%s/{*}IDFactura' % filtro)
        held = store.get(invoice_key(idf)) or {}
        response = etree.Element(_t(NS_LRRC, answer),
            nsmap={'siiLRRC': NS_LRRC, 'sii': NS_SII})
        _copy_children(_sub(response, SII_CABECERA), cab)
        _copy_children(_sub(response, _t(NS_LRRC, 'IDFactura')), idf)
        _sub(response, _t(NS_LRRC, 'IndicadorPaginacion'), 'N')
        items = held.get('cash', [])
        _sub(response, _t(NS_LRRC, 'ResultadoConsulta'),
            'ConDatos' if items else 'SinDatos')
        for entry in items:
            node = _sub(response, _t(NS_LRRC, held_tag))
            datos = _sub(node, _t(NS_LRRC, datos_tag))
            _sub(datos, S('Fecha'), entry['fecha'])
            _sub(datos, S('Importe'), entry['importe'])
            _sub(datos, S('Medio'), entry['medio'])
            if entry['cuenta']:
                _sub(datos, S('Cuenta_O_Medio'), entry['cuenta'])
            presentation = _sub(node, _t(NS_LRRC, 'DatosPresentacion'))
            _sub(presentation, S('NIFPresentador'), entry['presenter'])
            _sub(presentation, S('TimestampPresentacion'),
                entry['timestamp'])
            _sub(presentation, S('CSV'), entry['csv'])
        ctx.note(found=len(items))
        return response
