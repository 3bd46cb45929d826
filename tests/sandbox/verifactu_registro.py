"""VERI*FACTU sandbox: RegFactuSistemaFacturacion (records, huella, chains,
per-record codes, waits; see the table in :mod:`tests.sandbox.verifactu`)."""
import datetime
import secrets
from decimal import Decimal, InvalidOperation

from lxml import etree

from .clock import iso
from .verifactu_xml import (
    FECHA_FIN, INCIDENCIA, LR_REGISTRO, MADRID, NS_R, NS_SF, R, Record, S,
    copy_children, parse_generated, sub)

ERRORS = {
    1100: 'Valor o tipo incorrecto del campo: %s',
    1177: 'El valor del campo IdSistemaInformatico es incorrecto.',
    2000: 'El cálculo de la huella suministrada es incorrecta.',
    2004: 'El valor del campo FechaHoraHusoGenRegistro debe ser menor que '
    'la fecha actual más un margen de error. Si el envío es posterior, '
    'debe informarse el campo Incidencia.',
    2010: 'El encadenamiento con el registro anterior no es correcto '
    '(sandbox).',
    3000: 'Registro de facturación duplicado.',
    3001: 'El registro de facturación ya ha sido anulado.',
    3002: 'No existe el registro de facturación.',
    }
LATE = 240
EXEMPT_BATCH = 1000
_CSV_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
_STATE_OF = {'Correcto': 'Correcta', 'AceptadoConErrores':
    'AceptadaConErrores'}


def _csv():
    return ''.join(secrets.choice(_CSV_ALPHABET) for _ in range(16))


def timestamp(epoch):
    "xs:dateTime text (Madrid time, with offset) of an epoch time"
    return datetime.datetime.fromtimestamp(epoch, MADRID).isoformat(
        timespec='seconds')


def _negative(text):
    try:
        return Decimal(text) < 0
    except (InvalidOperation, TypeError):
        return False


def _as_list(value):
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class RegistroMixin:
    "RegFactuSistemaFacturacion of the VERI*FACTU sandbox"

    def registro(self, body, cab, nif, caller, ctx):
        now = self.core.now()
        issuer = self._issuer(nif)
        cached = getattr(ctx, 'verifactu_records', None)
        if cached is not None and cached[0] is body:
            records = cached[1]
        else:
            records = [Record(el) for item in body.iterchildren(LR_REGISTRO)
                for el in item if isinstance(el.tag, str)]
        violation = self._early(nif, issuer, len(records), now)
        wait = int(self.options.get('wait') or 0)
        issuer['not_before'] = now + wait
        issuer['requests'] += 1
        self.requests += 1
        self.records += len(records)
        request = {
            'nif': nif, 'now': now, 'ts': timestamp(now),
            'id_peticion': self._id_peticion(), 'presenter': caller.tax_id,
            'incidencia': (cab.findtext(INCIDENCIA) or '').strip() or None,
            'fecha_fin': (cab.findtext(FECHA_FIN) or '').strip() or None,
            'representative': ctx.summary.get('representative'),
            }

        response = etree.Element(R['RespuestaRegFactuSistemaFacturacion'],
            nsmap={'sfR': NS_R, 'sf': NS_SF})
        cab_echo = copy_children(sub(response, R['Cabecera']), cab)
        sub(response, R['TiempoEsperaEnvio'], wait)
        estado_envio = sub(response, R['EstadoEnvio'])
        notes = {n: [] for n in ('accepted', 'registered', 'cancelled',
                'rejected', 'duplicates')}
        statuses = []
        for rec in records:
            self.received_huellas[rec.huella] = (
                self.received_huellas.get(rec.huella, 0) + 1)
            status, code, text, dup, resent = self._record(issuer, rec,
                request)
            statuses.append(status)
            self._line(response, rec, status, code, text, dup)
            if resent:
                notes['duplicates'].append(rec.key)
            if status == 'Incorrecto':
                notes['rejected'].append(rec.key)
            else:
                notes['accepted'].append(rec.key)
                notes['registered' if rec.alta else 'cancelled'].append(
                    rec.key)
        if all(s == 'Incorrecto' for s in statuses):
            whole = 'Incorrecto'
        elif all(s == 'Correcto' for s in statuses):
            whole = 'Correcto'
        else:
            whole = 'ParcialmenteCorrecto'
        estado_envio.text = whole
        csv = None
        if whole != 'Incorrecto':
            csv = _csv()
            csv_el = etree.Element(R['CSV'])
            csv_el.text = csv
            datos = etree.Element(R['DatosPresentacion'])
            sub(datos, S('NIFPresentador'), caller.tax_id)
            sub(datos, S('TimestampPresentacion'), request['ts'])
            cab_echo.addprevious(csv_el)
            cab_echo.addprevious(datos)
        ctx.note(estado_envio=whole, csv=csv, wait=wait,
            id_peticion=request['id_peticion'], violation=violation,
            **notes)
        return response

    def _early(self, nif, issuer, count, now):
        "Record a request sent before the announced wait; True if early"
        not_before = issuer['not_before']
        if not_before is None or now >= not_before or count >= EXEMPT_BATCH:
            return False
        self.violations.append({'issuer': nif, 'received_at': iso(now),
                'timestamp': now, 'not_before': iso(not_before),
                'early_by': round(not_before - now, 3), 'records': count})
        return True

    # -- one record -----------------------------------------------------------
    def _record(self, issuer, rec, request):
        """(status, code, text, RegistroDuplicado dict or None, whether the
        record was held already)"""
        nif = request['nif']
        held = self.huellas.get((nif, rec.huella))
        if held is not None:
            invoice = issuer['invoices'].get(held['key'])
            if held['status'] == 'Incorrecto':
                dup = None
                if held['code'] == 3000 and invoice is not None:
                    dup = self._duplicate(invoice, invoice['id_peticion'])
                return ('Incorrecto', held['code'], held['description'],
                    dup, True)
            return ('Incorrecto', 3000, ERRORS[3000],
                self._duplicate(invoice, held['id_peticion']), True)
        chain_key = (nif, rec.installation)
        last = self.last.get(chain_key)
        if rec.first:
            link_ok = last is None
        else:
            link_ok = (last is not None and rec.previous == last['huella']
                and rec.previous_key == last['key'])
        huella_ok = rec.computed == rec.huella
        if not link_ok:
            self.chain_breaks.append({'issuer': nif,
                    'installation': rec.installation, 'key': rec.key,
                    'huella': rec.huella, 'previous': rec.previous,
                    'first': rec.first,
                    'expected': last['huella'] if last else None,
                    'expected_key': last['key'] if last else None})
        if not huella_ok:
            self.huella_errors.append({'issuer': nif, 'key': rec.key,
                    'huella': rec.huella, 'computed': rec.computed,
                    'text': rec.text})
        status, code, text, dup = self._judge(issuer, rec, request)
        if status != 'Incorrecto':
            late = parse_generated(rec.generated)
            if not huella_ok:
                status, code, text = 'AceptadoConErrores', 2000, ERRORS[2000]
            elif not link_ok:
                status, code, text = 'AceptadoConErrores', 2010, ERRORS[2010]
            elif (late is not None and request['incidencia'] != 'S'
                    and request['now'] - late.timestamp() > LATE):
                status, code, text = 'AceptadoConErrores', 2004, ERRORS[2004]
        held = {
            'seq': len(issuer['records']) + 1, 'kind': rec.kind,
            'key': rec.key, 'number': rec.number, 'date': rec.date,
            'installation': rec.installation, 'flags': dict(rec.flags),
            'first': rec.first, 'previous': rec.previous,
            'huella': rec.huella, 'computed': rec.computed,
            'huella_ok': huella_ok, 'link_ok': link_ok,
            'generated': rec.generated, 'incidencia': request['incidencia'],
            'status': status, 'code': code, 'description': text,
            'id_peticion': request['id_peticion'],
            'received_at': iso(request['now']),
            '_element': rec.element, '_request': request,
            }
        issuer['records'].append(held)
        self.huellas[(nif, rec.huella)] = held
        self.last[chain_key] = held
        issuer['last'][rec.key] = status
        if status != 'Incorrecto':
            self._register(issuer, rec, held, request)
        return status, code, text, dup, False

    def _judge(self, issuer, rec, request):
        "Refusals of a record not held yet: (status, code, text, dup)"
        refused = _as_list(self.options.get('refuse_system'))
        if (rec.system_id is None or len(rec.system_id) != 2
                or rec.system_id in refused):
            return 'Incorrecto', 1177, ERRORS[1177], None
        if rec.nif != request['nif']:
            field = 'IDEmisorFactura' + ('' if rec.alta else 'Anulada')
            return 'Incorrecto', 1100, ERRORS[1100] % field, None
        invoice = issuer['invoices'].get(rec.key)
        registered = invoice is not None and invoice['state'] != 'Anulada'
        rechazo = rec.flags.get('RechazoPrevio')
        if rec.alta:
            if rechazo == 'S':
                if issuer['last'].get(rec.key) != 'Incorrecto':
                    return 'Incorrecto', 3002, ERRORS[3002], None
            elif rec.flags.get('Subsanacion') == 'S':
                if not registered:
                    return 'Incorrecto', 3002, ERRORS[3002], None
            elif registered:
                return ('Incorrecto', 3000, ERRORS[3000],
                    self._duplicate(invoice, invoice['id_peticion']))
        elif invoice is not None and invoice['state'] == 'Anulada':
            return 'Incorrecto', 3001, ERRORS[3001], None
        elif not registered and 'S' not in (rechazo,
                rec.flags.get('SinRegistroPrevio')):
            return 'Incorrecto', 3002, ERRORS[3002], None
        if rec.alta and rec.tipo_factura == 'F1' and _negative(
                rec.importe_total):
            return 'Incorrecto', 1100, ERRORS[1100] % 'ImporteTotal', None
        if rec.number in _as_list(self.options.get('reject_numbers')):
            return 'Incorrecto', 1100, ERRORS[1100] % 'NumSerieFactura', None
        return 'Correcto', None, None, None

    @staticmethod
    def _duplicate(invoice, id_peticion):
        if invoice is None:  # pragma: no cover - an accepted record registers
            return {'id_peticion': id_peticion, 'state': 'Correcta'}
        return {'id_peticion': id_peticion, 'state': invoice['state'],
            'code': invoice['code'], 'description': invoice['description']}

    def _register(self, issuer, rec, held, request):
        invoice = issuer['invoices'].get(rec.key)
        values = {'huella': rec.huella, 'kind': rec.kind,
            'seq': held['seq'], 'id_peticion': request['id_peticion'],
            'presenter': request['presenter'], 'modified_at': request['ts'],
            '_element': rec.element, '_request': request}
        if rec.alta:
            values.update(state=_STATE_OF[held['status']],
                code=held['code'], description=held['description'])
        else:
            values.update(state='Anulada', code=None, description=None)
        if invoice is None:
            invoice = issuer['invoices'][rec.key] = {'key': rec.key,
                'number': rec.number, 'date': rec.date,
                'registered_at': request['ts'],
                '_order': len(issuer['invoices'])}
        invoice.update(values)

    # -- the answer line ------------------------------------------------------
    def _line(self, response, rec, status, code, text, dup):
        line = sub(response, R['RespuestaLinea'])
        idf = sub(line, R['IDFactura'])
        sub(idf, S('IDEmisorFactura'), rec.nif)
        sub(idf, S('NumSerieFactura'), rec.number)
        sub(idf, S('FechaExpedicionFactura'), rec.date)
        operacion = sub(line, R['Operacion'])
        sub(operacion, S('TipoOperacion'),
            'Alta' if rec.alta else 'Anulacion')
        for name in ('Subsanacion', 'RechazoPrevio', 'SinRegistroPrevio'):
            if rec.flags.get(name):
                sub(operacion, S(name), rec.flags[name])
        if rec.ref:
            sub(line, R['RefExterna'], rec.ref)
        sub(line, R['EstadoRegistro'], status)
        if code is not None:
            sub(line, R['CodigoErrorRegistro'], code)
            sub(line, R['DescripcionErrorRegistro'], text)
        if dup is not None:
            dup_el = sub(line, R['RegistroDuplicado'])
            sub(dup_el, S('IdPeticionRegistroDuplicado'), dup['id_peticion'])
            sub(dup_el, S('EstadoRegistroDuplicado'), dup['state'])
            if dup.get('code') is not None:
                sub(dup_el, S('CodigoErrorRegistro'), dup['code'])
                sub(dup_el, S('DescripcionErrorRegistro'),
                    dup['description'])
