"""SIFEN sandbox: lots (recibe-lote, consulta-lote) and events (evento),
mixed into :class:`tests.sandbox.sifen.SifenService`."""
import base64
import binascii
import io
import zipfile

from lxml import etree

from .core import XMLError, parse_xml
from .sifen_checks import Checked, certificate_ruc, check_signature
from .sifen_xml import NS, S, qualify, res_proc, text

__all__ = ['LotsMixin', 'EventsMixin']

HOUR = 3600


class LotsMixin:

    def _unzip(self, body):
        """The rDE elements of a lot's xDE, or (code, message) refusing the
        whole lot"""
        data = ''.join((text(body, 'xDE') or '').split())
        if len(data) > int(self.options['max_lot_kb']) * 1024:
            return None, ('0270', 'Tamaño del lote excede el máximo '
                'permitido (%s KB)' % self.options['max_lot_kb'])
        try:
            archive = zipfile.ZipFile(io.BytesIO(
                    base64.b64decode(data, validate=True)))
            names = archive.namelist()
            if len(names) != 1:
                raise ValueError('the zip must hold one file, not %d'
                    % len(names))
            info = archive.getinfo(names[0])
            limit = int(self.options['max_unzipped_kb']) * 1024
            if info.file_size > limit:
                return None, ('0270', 'Tamaño del lote descomprimido excede '
                    'el máximo permitido')
            with archive.open(info) as member:
                content = member.read(limit + 1)
            if len(content) > limit:
                return None, ('0270', 'Tamaño del lote descomprimido excede '
                    'el máximo permitido')
            root = parse_xml(content)
        except (ValueError, binascii.Error, zipfile.BadZipFile, XMLError,
                OSError, RuntimeError) as e:
            return None, ('0160', 'XML Mal Formado: %s' % e)
        if etree.QName(root).localname != 'rLoteDE':
            return None, ('0160', 'XML Mal Formado: rLoteDE esperado')
        return [c for c in root if isinstance(c.tag, str)], None

    def recibe_lote(self, body, caller, ctx):
        now = self.core.now()
        rdes, refusal = self._unzip(body)
        if refusal is None:
            types = {text(r, 'DE/gTimb/iTiDE') for r in rdes}
            if not rdes or len(rdes) > int(self.options['lot_limit']):
                refusal = ('0363', 'Lote con %d DE: se admiten de 1 a %s'
                    % (len(rdes), self.options['lot_limit']))
            elif len(types) > 1:
                refusal = ('0363', 'Lote con DE de tipos distintos: %s'
                    % ', '.join(sorted(t or '?' for t in types)))
        cdcs = [] if refusal else [r.find('{%s}DE' % NS).get('Id')
            if r.find('{%s}DE' % NS) is not None else None for r in rdes]
        self._count('recibe-lote', [c for c in cdcs if c])
        if refusal is None and self.options.get('not_queued'):
            refusal = ('0301', 'Lote no encolado para procesamiento')
        if refusal:
            ctx.note(code=refusal[0], status='refused')
            return S('rResEnviLoteDe', S('dFecProc', self._fec(now)),
                S('dCodRes', refusal[0]), S('dMsgRes', refusal[1]))
        ticket = self._ticket()
        lot = self.lots[ticket] = {'ruc': self._caller_ruc(caller),
            'received_at': now, 'results': [], 'type': types.pop()}
        for rde in rdes:
            lot['results'].append(self._decide(rde, now, ticket))
        ctx.note(code='0300', lot=ticket, status='received')
        seconds = int(float(self.options['processing_seconds']))
        return S('rResEnviLoteDe', S('dFecProc', self._fec(now)),
            S('dCodRes', '0300'), S('dMsgRes', 'Lote recibido con éxito'),
            S('dProtConsLote', ticket), S('dTpoProces', seconds))

    def consulta_lote(self, body, caller, ctx):
        now = self.core.now()
        ticket = text(body, 'dProtConsLote') or ''
        self._count('consulta-lote', [ticket])
        lot = self.lots.get(ticket)
        results = []
        if lot is None:
            code, message = '0360', 'Número de lote inexistente'
        elif lot['ruc'] != self._caller_ruc(caller):
            code, message = '0340', ('Consulta de lote no autorizada: el '
                'RUC no es el del emisor del lote')
        elif not self._ready(lot):
            code, message = '0361', 'Lote %s en procesamiento' % ticket
        else:
            code, message = '0362', ('Procesamiento de lote %s concluido'
                % ticket)
            results = [S('gResProcLote', S('id', r['cdc'] or '-'),
                    S('dEstRes', r['status']),
                    S('dProtAut', r['protocol']) if r['protocol'] else None,
                    res_proc(r['codes'], 5))
                for r in lot['results']]
        ctx.note(code=code, lot=ticket)
        return S('rResEnviConsLoteDe', S('dFecProc', self._fec(now)),
            S('dCodResLot', code), S('dMsgResLot', message), results)

    def _ready(self, lot):
        seconds = float(self.options.get('processing_seconds') or 0)
        return self.core.now() >= lot['received_at'] + seconds

    def _ticket(self):
        self.sequence += 1
        return str(10 ** 15 + self.sequence)


class EventsMixin:

    def evento(self, body, caller, ctx):
        now = self.core.now()
        answers = []
        ids = []
        for ges in body.iterfind(qualify('dEvReg/gGroupGesEve/rGesEve')):
            eve = ges.find('{%s}rEve' % NS)
            event_id = eve.get('Id')
            ids.append(event_id)
            checked = Checked()
            group = eve.find(qualify('gGroupTiEvt'))[0]
            kind = etree.QName(group).localname
            record = {'id': event_id, 'kind': kind, 'ruc': None,
                'received_at': now}
            signature = ges.find('{http://www.w3.org/2000/09/xmldsig#}'
                'Signature')
            ruc = self._signer_ruc(signature)
            record['ruc'] = ruc
            if kind == 'rGeVeCan':
                self._cancel(checked, group, ruc, now, record)
            elif kind == 'rGeVeInu':
                self._void(checked, group, ruc, record)
            else:
                checked.add('4000', 'Evento %s no admitido por el sandbox'
                    % kind)
            check_signature(checked, ges, ges, event_id, self._ca(),
                record.get('issuer', ruc))
            if not checked.problems:
                self._apply(record, now)
                checked.problems = [('0600', 'Evento registrado '
                        'correctamente')]
                status, protocol = 'Aprobado', self._protocol()
            else:
                status, protocol = 'Rechazado', None
            record.update(status=status, protocol=protocol,
                codes=[list(c) for c in checked.problems])
            self.events.append(record)
            answers.append(S('gResProcEVe', S('dEstRes', status),
                    S('dProtAut', protocol) if protocol else None,
                    S('id', event_id), res_proc(checked.problems)))
        self._count('evento', ids)
        ctx.note(events=ids)
        return S('rRetEnviEventoDe', S('dFecProc', self._fec(now)), answers)

    def _signer_ruc(self, signature):
        from .sifen_checks import signature_certificate
        certificate, _ = signature_certificate(signature, self._ca())
        return certificate_ruc(certificate)[0] if certificate else None

    def _cancel(self, checked, group, ruc, now, record):
        cdc = text(group, 'Id')
        record['cdc'] = cdc
        held = self.held.get(cdc)
        if held is None or not self._visible(held):
            checked.add('4001', 'CDC inexistente: %s' % cdc)
            return
        record['issuer'] = held['ruc']
        if held['state'] == 'cancelled':
            checked.add('4002', 'CDC %s ya cancelado' % cdc)
            return
        hours = 48 if held['type'] == '1' else 168
        if now > held['approved_at'] + hours * HOUR:
            checked.add('4003', 'Plazo de cancelación excedido: %d horas '
                'desde la aprobación del DE' % hours)

    def _void(self, checked, group, ruc, record):
        series = (ruc, text(group, 'dNumTim'), text(group, 'dEst'),
            text(group, 'dPunExp'), text(group, 'iTiDE'))
        first = int(text(group, 'dNumIn'))
        last = int(text(group, 'dNumFin'))
        record.update(series=list(series), first=first, last=last)
        if first > last:
            checked.add('4011', 'Rango inválido: dNumIn mayor que dNumFin')
            return
        used = sorted(held['number'] for held in self.held.values()
            if held['series'] == series and first <= held['number'] <= last)
        if used:
            checked.add('4010', 'Rango a inutilizar con números ya '
                'utilizados: %s' % ', '.join('%07d' % n for n in used[:10]))

    def _apply(self, record, now):
        if record['kind'] == 'rGeVeCan':
            held = self.held[record['cdc']]
            held.update(state='cancelled', cancelled_at=now)
        elif record['kind'] == 'rGeVeInu':
            self.voided.setdefault(tuple(record['series']), []).append(
                (record['first'], record['last']))
