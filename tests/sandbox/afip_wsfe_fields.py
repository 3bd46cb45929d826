"""WSFEv1 sandbox: checks of the optional request fields (``Opcionales``,
``Compradores``, ``PeriodoAsoc``, ``Actividades``) and of the Factura de
Crédito Electrónica MiPyME rules (see :mod:`tests.sandbox.afip_wsfe`)."""
import re
from decimal import Decimal

from .afip_wsfe_tables import (
    ACTIVIDADES, CENT, COMMON_INVOICES, FCE_INVOICES, FCE_NOTES, OPCIONAL_IDS,
    _cuit_valid, _date, _dec, _fields, _text)

ALIAS = re.compile(r'^[A-Za-z0-9.-]{6,20}$')
DEFAULT_FCE_THRESHOLD = 3958316


def _items(fields, name):
    "The element children of the array ``name`` as field dicts"
    if name not in fields:
        return []
    return [_fields(c) for c in fields[name] if isinstance(c.tag, str)]


def cbu_valid(value):
    "22 digits with both check digits of the Argentine CBU"
    from stdnum.ar import cbu
    return bool(value) and len(value) == 22 and cbu.is_valid(value)


class FieldChecksMixin:
    "Field and FCE checks of :class:`tests.sandbox.afip_wsfe.WSFEService`"

    def _activity_ids(self):
        rows = self.options.get('actividades')
        if rows is None:
            rows = ACTIVIDADES
        return {int(row[0]) for row in rows}

    def _fce_obliged(self, f):
        "Whether the receiver must get an FCE for this voucher's amount"
        receivers = {str(int(c)) for c in
            self.options.get('fce_receivers') or []}
        try:
            doc_tipo = int(_text(f, 'DocTipo'))
            doc_nro = str(int(_text(f, 'DocNro')))
        except (TypeError, ValueError):
            return False
        if doc_tipo != 80 or doc_nro not in receivers:
            return False
        threshold = self.options.get('fce_threshold')
        if threshold is None:
            threshold = DEFAULT_FCE_THRESHOLD
        total = _dec(_text(f, 'ImpTotal')) * _dec(_text(f, 'MonCotiz'), '1')
        return total.is_finite() and total >= Decimal(str(threshold))

    def _field_codes(self, cuit, tipo, f, fch):
        "Rejection codes of the optional fields and the FCE rules, in order"
        codes = []

        def reject(code):
            if code not in codes:
                codes.append(code)

        opcionales = {}
        for opcional in _items(f, 'Opcionales'):
            id_ = _text(opcional, 'Id')
            if id_ not in OPCIONAL_IDS:
                reject(10151)
            opcionales[id_] = _text(opcional, 'Valor')

        compradores = _items(f, 'Compradores')
        if compradores:
            total = sum((_dec(_text(c, 'Porcentaje')) for c in compradores),
                Decimal(0))
            if not total.is_finite() or abs(total - 100) > CENT:
                reject(10152)
            unregistered = {str(c) for c in
                self.options.get('unregistered_cuits') or []}
            for comprador in compradores:
                if _text(comprador, 'DocTipo') in ('80', '86') and (
                        not _cuit_valid(_text(comprador, 'DocNro'))
                        or _text(comprador, 'DocNro') in unregistered):
                    reject(10015)

        if 'PeriodoAsoc' in f:
            periodo = _fields(f['PeriodoAsoc'])
            desde = _date(_text(periodo, 'FchDesde'))
            hasta = _date(_text(periodo, 'FchHasta'))
            if desde is None or hasta is None or desde > hasta or (
                    _date(fch) is not None and hasta > _date(fch)):
                reject(10153)
            if _items(f, 'CbtesAsoc'):
                reject(10154)

        activities = self._activity_ids()
        for actividad in _items(f, 'Actividades'):
            try:
                id_ = int(_text(actividad, 'Id'))
            except (TypeError, ValueError):
                id_ = None
            if id_ not in activities:
                reject(10155)

        if tipo in FCE_INVOICES:
            if _date(_text(f, 'FchVtoPago')) is None:
                reject(10160)
            cbu, alias = opcionales.get('2101'), opcionales.get('2102')
            if not (cbu_valid(cbu) if cbu is not None
                    else alias is not None and ALIAS.match(alias)):
                reject(10161)
            if opcionales.get('27') not in ('SCA', 'ADC'):
                reject(10162)
            if not self._fce_obliged(f):
                reject(10164)
        elif tipo in FCE_NOTES:
            if opcionales.get('22') not in ('S', 'N'):
                reject(10163)
            asocs = _items(f, 'CbtesAsoc')
            if not asocs or any(not _text(a, 'Cuit') or _date(
                        _text(a, 'CbteFch')) is None for a in asocs):
                reject(10166)
        elif tipo in COMMON_INVOICES and self._fce_obliged(f):
            reject(10165)
        return codes
