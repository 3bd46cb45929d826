"""WSFEv1 sandbox: the CAEA (contingency) operations: ``FECAEASolicitar``,
``FECAEAConsultar``, ``FECAEARegInformativo``,
``FECAEASinMovimientoInformar``, ``FECAEASinMovimientoConsultar`` (see the
rules in :mod:`tests.sandbox.afip_wsfe`)."""
import calendar
import datetime
import secrets
from collections import Counter

from .afip import voucher_key
from .afip_wsfe_tables import MSG, F, _date, _errors, _fields, _q, _text

#: Solicitar is accepted from this many days before the fortnight starts
REQUEST_DAYS_BEFORE = 5
#: FchTopeInf = FchVigHasta + this many days
INFORM_DAYS_AFTER = 8


def fortnight(periodo, orden):
    "(first day, last day) of the fortnight ``orden`` of yyyymm, or None"
    year, month = divmod(int(periodo), 100)
    if not (2000 <= year <= 9999 and 1 <= month <= 12) or orden not in (
            1, 2):
        return None
    if orden == 1:
        return datetime.date(year, month, 1), datetime.date(year, month, 15)
    last = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, 16), datetime.date(year, month, last)


def caea_key(cuit, periodo, orden):
    "``'caea:<cuit>:<periodo>:<orden>'`` (inspection key)"
    return 'caea:%d:%d:%d' % (int(cuit), int(periodo), int(orden))


def sinmov_key(cuit, pto_vta, caea):
    "``'sinmov:<cuit>:<pto_vta>:<caea>'`` (inspection key)"
    return 'sinmov:%d:%d:%s' % (int(cuit), int(pto_vta), caea)


class CAEAMixin:
    "CAEA of :class:`tests.sandbox.afip_wsfe.WSFEService`"

    def _caea_state(self):
        "(caeas, sin_movimiento, informed) of the current environment"
        env = self.environment
        return (self.caeas.setdefault(env, {}),
            self.sin_movimiento.setdefault(env, {}),
            self.informed.setdefault(env, Counter()))

    def _new_caea(self):
        while True:
            caea = '3%013d' % secrets.randbelow(10 ** 13)
            if caea not in self.issued_caes:
                self.issued_caes.add(caea)
                return caea

    def _find_caea(self, cuit, caea):
        for record in self._caea_state()[0].values():
            if record['caea'] == caea and record['cuit'] == str(cuit):
                return record
        return None

    def caea_state(self):
        "The ``state()`` entries of the CAEA (see the module docstring)"
        caeas, sin_movimiento, informed = self._caea_state()
        return {
            'caeas': {r['caea']: dict(r, informed=list(r['informed']))
                for r in caeas.values()},
            'informed': dict(informed),
            'sin_movimiento': {sinmov_key(*k): v
                for k, v in sin_movimiento.items()},
            }

    @staticmethod
    def _periodo_orden(body):
        try:
            return (int(body.findtext(_q('Periodo'))),
                int(body.findtext(_q('Orden'))))
        except (TypeError, ValueError):
            return 0, 0

    @staticmethod
    def _caea_get(record):
        return F('ResultGet', F('CAEA', record['caea']),
            F('Periodo', record['periodo']), F('Orden', record['orden']),
            F('FchVigDesde', record['desde']),
            F('FchVigHasta', record['hasta']),
            F('FchTopeInf', record['tope']),
            F('FchProceso', record['proceso']))

    # -- FECAEASolicitar / FECAEAConsultar --
    def op_FECAEASolicitar(self, body, cuit, errors, ctx):
        if errors:
            return [_errors(errors)]
        periodo, orden = self._periodo_orden(body)
        span = fortnight(periodo, orden)
        if span is None:
            return [_errors([(15006, MSG[15006])])]
        caeas = self._caea_state()[0]
        if (cuit, periodo, orden) in caeas:
            return [_errors([(15008, MSG[15008])])]
        today = self.now_ar().date()
        if not (span[0] - datetime.timedelta(days=REQUEST_DAYS_BEFORE)
                <= today <= span[1]):
            return [_errors([(15007, MSG[15007])])]
        record = caeas[cuit, periodo, orden] = {
            'caea': self._new_caea(), 'cuit': cuit, 'periodo': periodo,
            'orden': orden, 'desde': span[0].strftime('%Y%m%d'),
            'hasta': span[1].strftime('%Y%m%d'),
            'tope': (span[1] + datetime.timedelta(days=INFORM_DAYS_AFTER)
                ).strftime('%Y%m%d'),
            'proceso': self.now_ar().strftime('%Y%m%d%H%M%S'),
            'informed': [],
            }
        ctx.note(granted=[caea_key(cuit, periodo, orden)],
            caea=record['caea'])
        return [self._caea_get(record)]

    def op_FECAEAConsultar(self, body, cuit, errors, ctx):
        if errors:
            return [_errors(errors)]
        record = self._caea_state()[0].get(
            (cuit,) + self._periodo_orden(body))
        if record is None:
            return [_errors([(602, MSG[602])])]
        return [self._caea_get(record)]

    # -- FECAEARegInformativo --
    def op_FECAEARegInformativo(self, body, cuit, errors, ctx):
        return self._authorize(body, cuit, errors, ctx, 'FeCAEARegInfReq',
            'FECAEADetRequest', self._inform)

    def _inform(self, cuit, pto, tipo, det, now):
        f = _fields(det)
        today = now.date()
        head, codes, warnings = self._check(cuit, pto, tipo, f, today,
            window=False)
        key = voucher_key(cuit, pto, tipo, head[3])
        caea = _text(f, 'CAEA') or ''
        record = self._find_caea(cuit, caea)
        if record is None:
            codes.append(1501)
        elif not (record['desde'] <= head[5] <= record['hasta']):
            codes.append(1502)
        if not self.caea_point_of_sale(pto):
            codes.append(1503)
        tail = [F('CAEA', caea)]
        if codes:
            return self._det_response('FECAEADetResponse', head, codes, [],
                tail), False, key
        if today > _date(record['tope']):
            warnings.append((1504, MSG[1504]))
        self._store(cuit, pto, tipo, head[3], self._values(f, head), det,
            head[5], warnings, authorization=caea, emision_tipo='CAEA',
            vto=record['hasta'],
            extra={'cbte_fch_hs_gen': _text(f, 'CbteFchHsGen')})
        record['informed'].append(key)
        self._caea_state()[2][key] += 1
        return self._det_response('FECAEADetResponse', head, [], warnings,
            tail), True, key

    # -- without movement --
    def op_FECAEASinMovimientoInformar(self, body, cuit, errors, ctx):
        try:
            pto = int(body.findtext(_q('PtoVta')))
        except (TypeError, ValueError):
            pto = 0
        caea = (body.findtext(_q('CAEA')) or '').strip()
        fch = self.now_ar().strftime('%Y%m%d%H%M%S')
        if not errors:
            _, sin_movimiento, _ = self._caea_state()
            record = self._find_caea(cuit, caea)
            if record is None:
                errors = [(1501, MSG[1501])]
            elif (cuit, pto, caea) in sin_movimiento:
                errors = [(1506, MSG[1506])]
            elif any(k.split(':')[1] == str(pto)
                    for k in record['informed']):
                errors = [(1505, MSG[1505])]
            elif self.now_ar().date() <= _date(record['hasta']):
                errors = [(1507, MSG[1507])]
            else:
                sin_movimiento[cuit, pto, caea] = fch
                ctx.note(accepted=[sinmov_key(cuit, pto, caea)])
        return [F('CAEA', caea), F('FchProceso', fch), F('PtoVta', pto),
            F('Resultado', 'R' if errors else 'A'), _errors(errors)]

    def op_FECAEASinMovimientoConsultar(self, body, cuit, errors, ctx):
        if errors:
            return [_errors(errors)]
        try:
            pto = int(body.findtext(_q('PtoVta')))
        except (TypeError, ValueError):
            pto = 0
        caea = (body.findtext(_q('CAEA')) or '').strip()
        found = [F('FECAEASinMov', F('CAEA', c), F('FchProceso', fch),
                F('PtoVta', p))
            for (u, p, c), fch in sorted(self._caea_state()[1].items())
            if u == cuit and (not caea or c == caea)
            and (not pto or p == pto)]
        if not found:
            return [_errors([(602, MSG[602])])]
        return [F('ResultGet', found)]
