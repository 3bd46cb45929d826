"""SII sandbox: Suministro (registration, modification) and Anulación of
invoice records, with AEAT's per-record rules (see the table in
:mod:`tests.sandbox.sii`)."""
import datetime
import secrets
from decimal import Decimal, InvalidOperation

from lxml import etree

from . import sii_customs
from .sii_xml import (
    BOOKS, LR_REFEXTERNA, NS_R, NS_SII, SII_CONTRAPARTE, SII_EJERCICIO,
    SII_IMPORTE_TOTAL, SII_NOMBRE, SII_PERIODO, SII_PERIODO_P, SII_REFEXTERNA,
    SII_TIPO_FACTURA, TIPO_COMUNICACION, TITULAR_NOMBRE, R, S, _copy_children,
    _emitter, _kids, _Record, _sub, _txt)

try:
    from stdnum.es import nif as _es_nif
except ImportError:  # pragma: no cover
    _es_nif = None

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
    1239: 'El campo Macrodato debe ser S si y solo si el ImporteTotal es '
    'igual o superior a 100.000.000 en valor absoluto',
    1240: 'El bloque ImporteRectificacion es obligatorio si '
    'TipoRectificativa es S, y solo entonces puede informarse',
    1241: 'La FechaOperacion no puede ser posterior a la fecha actual salvo '
    'con las claves de régimen 14 y 15',
    1242: 'Si la contraparte se identifica con IDOtro o con un NIF que '
    'empieza por N, el desglose debe ser por tipo de operación '
    '(DesgloseTipoOperacion), salvo en facturas simplificadas',
    }
MACRODATO = Decimal('100000000')
_SIMPLIFIED = {'F2', 'R5'}
_LATE_KEYS = {'14', '15'}
_KEYS = tuple(S(n) for n in ('ClaveRegimenEspecialOTrascendencia',
        'ClaveRegimenEspecialOTrascendenciaAdicional1',
        'ClaveRegimenEspecialOTrascendenciaAdicional2'))

REGISTER = ('A0', 'A5')
MODIFY = ('A1', 'A4', 'A6')

_CSV_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

_SUM_EMITIDAS = tuple(S(n) for n in ('BaseImponible', 'CuotaRepercutida',
        'CuotaRecargoEquivalencia', 'ImportePorArticulos7_14_Otros',
        'ImporteTAIReglasLocalizacion'))
_SUM_RECIBIDAS = tuple(S(n) for n in ('BaseImponible', 'CuotaSoportada',
        'CuotaRecargoEquivalencia'))
_ISP = S('InversionSujetoPasivo')
_CUOTA_SOPORTADA = S('CuotaSoportada')

_STATE_OF = {'Correcto': 'Correcta', 'AceptadoConErrores':
    'AceptadaConErrores'}


def _new_csv():
    return ''.join(secrets.choice(_CSV_ALPHABET) for _ in range(16))


def _timestamp(now=None):
    return (now or datetime.datetime.now()).strftime('%d-%m-%Y %H:%M:%S')


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


class SuministroMixin:
    "Suministro and Anulación answers of :class:`tests.sandbox.sii.SIIService`"

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
        rule = sii_customs.check(book, rec, factura, fkids, titular)
        if rule is not None:  # F5, F6, LC
            return ('Incorrecto', *rule, None, None)
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
        importe_total = _txt(fkids.get(SII_IMPORTE_TOTAL))
        code = self._field_rules(book, fkids, importe_total)
        if code is not None:
            return 'Incorrecto', code, ERRORS[code], None, None
        # accepted, possibly with errors
        status, code, text = 'Correcto', None, None
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

    def _field_rules(self, book, fkids, importe_total):
        "The code of the first field rule a FacturaExpedida/Recibida breaks"
        total = _decimal(importe_total)
        macrodato = _txt(fkids.get(S('Macrodato'))) == 'S'
        if total is not None and (abs(total) >= MACRODATO) != macrodato:
            return 1239
        if ((_txt(fkids.get(S('TipoRectificativa'))) == 'S')
                != (fkids.get(S('ImporteRectificacion')) is not None)):
            return 1240
        fecha = _txt(fkids.get(S('FechaOperacion')))
        keys = {_txt(fkids.get(k)) for k in _KEYS}
        if fecha and not (keys & _LATE_KEYS):
            try:
                date = datetime.datetime.strptime(fecha, '%d-%m-%Y').date()
            except ValueError:
                date = None
            today = datetime.date.fromtimestamp(self.core.now())
            if date is not None and date > today:
                return 1241
        if book == 'emitidas':
            contraparte = fkids.get(SII_CONTRAPARTE)
            _, nif = _emitter(contraparte)
            by_operation = (contraparte is not None
                and (nif is None or nif.startswith('N')))
            tipo = _kids(fkids.get(S('TipoDesglose')))
            simplified = _txt(fkids.get(SII_TIPO_FACTURA)) in _SIMPLIFIED
            if (by_operation and not simplified
                    and S('DesgloseTipoOperacion') not in tipo):
                return 1242

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
