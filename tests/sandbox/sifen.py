"""SIFEN (Paraguay, e-Kuatia, DE v150) in the sandbox (``sifen``).

SOAP 1.2 over mutual TLS, POSTed to the path of each official WSDL
(``GET <path>?wsdl`` serves it); the client points
``https://sifen-test.set.gov.py`` (or production's host) at the sandbox:

- ``/de/ws/sync/recibe.wsdl``: ``rEnviDe`` -> ``rRetEnviDe``
- ``/de/ws/async/recibe-lote.wsdl``: ``rEnvioLote`` -> ``rResEnviLoteDe``
- ``/de/ws/consultas/consulta-lote.wsdl``: ``rEnviConsLoteDe`` ->
  ``rResEnviConsLoteDe``
- ``/de/ws/consultas/consulta.wsdl``: ``rEnviConsDeRequest`` ->
  ``rEnviConsDeResponse``
- ``/de/ws/consultas/consulta-ruc.wsdl``: ``rEnviConsRUC`` ->
  ``rResEnviConsRUC``
- ``/de/ws/eventos/evento.wsdl``: ``rEnviEventoDe`` -> ``rRetEnviEventoDe``

Answers use the prefix ``ns2`` (as SIFEN does).  Like SIFEN, refusals are
answers (HTTP 200), not SOAP Faults: an unparsable body -> the path's
answer with 0160 ``XML Mal Formado``; a body element of another path ->
0160; a body not valid against the WSDL's schema (its
``<name>.wsdl.xsd1.xsd`` import mapped to the XSD of ``wsdl/README.md``)
-> 0100 with the libxml2 message; an XML declaration other than UTF-8 ->
0107.  Each DE is checked by :mod:`.sifen_checks` (codes there), then:
a CDC already approved (sync or in any lot, processed or not) -> 1001
``CDC duplicado``.  Approved: 0260 ``Autorización del DE satisfactoria``
and a ``dProtAut``, or 1005 ``Aprobado con observación``.

Lots (:mod:`.sifen_lots`): base64 text over option ``max_lot_kb``
(10,000) or unzipped over ``max_unzipped_kb`` -> 0270; not a zip of one
file holding ``rLoteDE`` -> 0160; more than ``lot_limit`` (50) rDE or
several iTiDE -> 0363 (nothing kept); option ``not_queued`` -> 0301
(nothing kept); else 0300 + ``dProtConsLote`` + ``dTpoProces``.  Each DE
is decided on receipt, the results are shown after option
``processing_seconds`` (60) on the sandbox clock: consulta-lote 0361 until
then, 0362 with one ``gResProcLote`` per DE after, 0360 unknown lot, 0340
the lot of another RUC (the caller's certificate).  consulta: 0420 unknown,
rejected, or while its lot is processing; 0422 with ``xContenDE`` =
``<rContDe><rDE .../><dProtAut/><dFecProc/><dEstRes/></rContDe>`` as
text (dEstRes ``Aprobado``, ``Aprobado con observación`` or ``Cancelado``).

Events: each ``rEve`` signed (its ``Id``) by the DE's issuer (0140-0142);
``rGeVeCan``: 4001 unknown CDC, 4002 already cancelled, 4003 more than
48 h (iTiDE 1) / 168 h after approval; ``rGeVeInu``: 4010 a number of the
range (timbrado, est, point, iTiDE of the signer's RUC) already approved,
later DEs with a voided number -> 1104; registered: 0600.

consulta-ruc: option ``rucs`` ({ruc: name}) -> 0502 + ``xContRUC``, else
0500.

Options: ``cscs`` ({IdCSC: CSC}, the two test CSCs), ``timbrados``
({ruc: [{number, start 'YYYY-MM-DD', points ['001-001', ...] or
absent}]}; None = not checked), ``observe_cdcs`` (approved with 1005),
``late_hours`` (72: dFecFirma older -> 1005; None = off),
``future_tolerance`` (120 s for dFecFirma), ``time_zone_hours`` (-3),
``rucs``, ``not_queued``, ``processing_seconds``, ``lot_limit``,
``max_lot_kb``, ``max_unzipped_kb``.  The fault ``html`` answers SET's
"BIG-IP logout" page (HTTP 200, text/html).
"""
from lxml import etree

from .core import SOAP12_NS, SandboxService, SoapResponse
from .sifen_checks import check_de
from .sifen_lots import EventsMixin, LotsMixin
from .sifen_xml import (
    NS, OPERATIONS, PATHS, WSDLS, S, fec_utc, res_proc, text, wsdl_schema)

__all__ = ['SifenService', 'BIGIP_PAGE']

BIGIP_PAGE = b"""<html><head><title>BIG-IP logout page</title></head>
<body><table><tr><td>Your session could not be established.</td></tr>
<tr><td>The session reference number: 5a8c1f2e</td></tr>
<tr><td><a href="/my.policy">Click here to continue.</a></td></tr>
</table></body></html>
"""
APPROVED = 'Aprobado'
OBSERVED = 'Aprobado con observación'
REJECTED = 'Rechazado'


class SifenService(LotsMixin, EventsMixin, SandboxService):
    name = 'sifen'
    wsdl = {path: files[0] for path, files in WSDLS.items()}
    validate = False  # answered as SIFEN does, in handle()
    html_page = BIGIP_PAGE
    default_options = {
        'cscs': {'0001': 'ABCD0000000000000000000000000000',
            '0002': 'EFGH0000000000000000000000000000'},
        'timbrados': None, 'observe_cdcs': [], 'late_hours': 72,
        'future_tolerance': 120, 'time_zone_hours': -3, 'rucs': {},
        'not_queued': False, 'processing_seconds': 60, 'lot_limit': 50,
        'max_lot_kb': 10000, 'max_unzipped_kb': 50000,
        }

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self.lots = {}
        self.held = {}
        self.received = {}
        self.rejected = {}
        self.duplicates = []
        self.events = []
        self.voided = {}
        self.calls = {}
        self.asked = {}
        self.sequence = 0

    # -- dispatch --
    def summarize(self, operation, body, caller, ctx):
        keys = [t.text for t in body.iter('{%s}dCDC' % NS)]
        keys += [d.get('Id') for d in body.iter('{%s}DE' % NS)]
        keys += [t.text for t in body.iterfind('.//{%s}rGeVeCan/{%s}Id'
                % (NS, NS))]
        return {'keys': [k for k in keys if k],
            'lot': text(body, 'dProtConsLote')}

    def protocol_fault(self, kind, message, ctx):
        ctx.soap_ns = SOAP12_NS
        return SoapResponse(self._refusal(ctx.path, '0160',
                'XML Mal Formado.'))

    def handle(self, operation, body, caller, ctx):
        local = etree.QName(body).localname
        if (etree.QName(body).namespace != NS
                or PATHS.get(local) != ctx.path):
            return self._refusal(ctx.path, '0160', 'XML Mal Formado: %s no '
                'es una operación de %s' % (local, ctx.path))
        encoding = ctx.envelope.getroottree().docinfo.encoding
        if encoding and encoding.upper().replace('_', '-') != 'UTF-8':
            return self._refusal(ctx.path, '0107', 'Codificación del XML '
                'distinta de UTF-8: %s' % encoding)
        error = wsdl_schema(ctx.path).validate(body)
        if error:
            return self._refusal(ctx.path, '0100', 'XML no cumple con el '
                'esquema: %s' % error)
        return {'rEnviDe': self.recibe, 'rEnvioLote': self.recibe_lote,
            'rEnviConsLoteDe': self.consulta_lote,
            'rEnviConsDeRequest': self.consulta,
            'rEnviConsRUC': self.consulta_ruc,
            'rEnviEventoDe': self.evento}[local](body, caller, ctx)

    def _refusal(self, path, code, message):
        "The answer of path refusing the whole request"
        now = self._fec(self.core.now())
        answer = WSDLS.get(path, (None,) * 4)[3] or 'rRetEnviDe'
        self._count(OPERATIONS.get(path, 'unknown') + ':refused', [])
        if answer == 'rRetEnviDe':
            return S(answer, S('rProtDe', S('dFecProc', now),
                    S('dEstRes', REJECTED), res_proc([(code, message)])))
        if answer == 'rResEnviConsLoteDe':
            return S(answer, S('dFecProc', now), S('dCodResLot', code),
                S('dMsgResLot', message[:255]))
        if answer == 'rRetEnviEventoDe':
            return S(answer, S('dFecProc', now), S('gResProcEVe',
                    S('dEstRes', REJECTED), S('id', 0),
                    res_proc([(code, message)])))
        if answer == 'rResEnviConsRUC':
            return S(answer, S('dCodRes', code), S('dMsgRes', message[:255]))
        return S(answer, S('dFecProc', now), S('dCodRes', code),
            S('dMsgRes', message[:255]))

    # -- helpers --
    def _fec(self, timestamp):
        return fec_utc(timestamp, float(self.options['time_zone_hours']))

    def _count(self, operation, keys):
        self.calls[operation] = self.calls.get(operation, 0) + 1
        asked = self.asked.setdefault(operation, {})
        for key in keys:
            asked[key] = asked.get(key, 0) + 1

    def _ca(self):
        pki = self.core.pki
        if pki._ca is None:
            pki._load_ca()
        return pki._ca[0]

    @staticmethod
    def _caller_ruc(caller):
        return (caller.tax_id or '').partition('-')[0]

    def _protocol(self):
        self.sequence += 1
        return str(1000000000 + self.sequence)

    def _visible(self, held):
        "A held DE is known once its lot is processed"
        lot = self.lots.get(held.get('lot'))
        return lot is None or self._ready(lot)

    # -- DEs --
    def _decide(self, rde, now, lot=None):
        checked = check_de(rde, now, self.options, self._ca(), self.voided)
        cdc = checked.cdc
        if cdc:
            self.received[cdc] = self.received.get(cdc, 0) + 1
        codes = list(checked.problems)
        if not codes and cdc in self.held:
            self.duplicates.append({'cdc': cdc, 'lot': lot})
            codes = [('1001', 'CDC duplicado')]
        result = {'cdc': cdc, 'protocol': None, 'digest': checked.digest}
        if codes:
            result.update(status=REJECTED, codes=codes)
            if cdc and cdc not in self.held:
                self.rejected[cdc] = codes
            return result
        observed = checked.observations
        result.update(status=OBSERVED if observed else APPROVED,
            protocol=self._protocol(),
            codes=observed or [('0260', 'Autorización del DE '
                    'satisfactoria')])
        self.rejected.pop(cdc, None)
        self.held[cdc] = {'ruc': checked.ruc, 'type': checked.type,
            'series': checked.series, 'number': checked.number,
            'state': 'observed' if observed else 'approved',
            'status': result['status'], 'protocol': result['protocol'],
            'lot': lot, 'approved_at': now, 'digest': checked.digest,
            'codes': result['codes'], 'rde': etree.tostring(rde)}
        return result

    def recibe(self, body, caller, ctx):
        now = self.core.now()
        rde = body.find('{%s}xDE/{%s}rDE' % (NS, NS))
        if rde is None:
            self._count('recibe', [])
            return self._refusal(ctx.path, '0160', 'XML Mal Formado: '
                'xDE sin rDE')
        result = self._decide(rde, now)
        self._count('recibe', [result['cdc']] if result['cdc'] else [])
        ctx.note(status=result['status'], codes=[c for c, _ in
                result['codes']])
        return S('rRetEnviDe', S('rProtDe', S('Id', result['cdc']),
                S('dFecProc', self._fec(now)),
                S('dDigVal', result['digest']) if result['digest'] else None,
                S('dEstRes', result['status']),
                S('dProtAut', result['protocol'])
                if result['protocol'] else None,
                res_proc(result['codes'])))

    def consulta(self, body, caller, ctx):
        now = self.core.now()
        cdc = text(body, 'dCDC')
        self._count('consulta', [cdc])
        held = self.held.get(cdc)
        if held is None or not self._visible(held):
            ctx.note(code='0420')
            return S('rEnviConsDeResponse', S('dFecProc', self._fec(now)),
                S('dCodRes', '0420'), S('dMsgRes', 'Documento No Existe en '
                    'SIFEN o ha sido Rechazado'))
        state = {'approved': APPROVED, 'observed': OBSERVED,
            'cancelled': 'Cancelado'}[held['state']]
        content = S('rContDe', parse_rde(held['rde']),
            S('dProtAut', held['protocol']),
            S('dFecProc', self._fec(held['approved_at'])),
            S('dEstRes', state))
        ctx.note(code='0422', state=held['state'])
        return S('rEnviConsDeResponse', S('dFecProc', self._fec(now)),
            S('dCodRes', '0422'), S('dMsgRes', 'CDC encontrado'),
            S('xContenDE', etree.tostring(content, encoding='unicode')))

    def consulta_ruc(self, body, caller, ctx):
        ruc = text(body, 'dRUCCons')
        self._count('consulta-ruc', [ruc])
        name = (self.options.get('rucs') or {}).get(ruc)
        if name is None:
            return S('rResEnviConsRUC', S('dCodRes', '0500'),
                S('dMsgRes', 'RUC no existe'))
        return S('rResEnviConsRUC', S('dCodRes', '0502'),
            S('dMsgRes', 'RUC encontrado'), S('xContRUC', S('dRUCCons', ruc),
                S('dRazCons', name), S('dCodEstCons', 'ACT'),
                S('dDesEstCons', 'ACTIVO'), S('dRUCFactElec', 'S')))

    # -- inspection --
    def state(self):
        lots = {ticket: {'ruc': lot['ruc'], 'type': lot['type'],
                'received_at': lot['received_at'],
                'processed': self._ready(lot),
                'documents': [r['cdc'] for r in lot['results']],
                'results': [{'cdc': r['cdc'], 'status': r['status'],
                        'protocol': r['protocol'],
                        'codes': [list(c) for c in r['codes']]}
                    for r in lot['results']]}
            for ticket, lot in self.lots.items()}
        held = {cdc: {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in h.items() if k != 'rde'}
            for cdc, h in self.held.items()}
        for cdc, h in held.items():
            h['visible'] = self._visible(self.held[cdc])
            h['codes'] = [list(c) for c in h['codes']]
        return {'lots': lots, 'held': held, 'received': dict(self.received),
            'rejected': {k: [list(c) for c in v]
                for k, v in self.rejected.items()},
            'duplicates': [dict(d) for d in self.duplicates],
            'events': [dict(e) for e in self.events],
            'voided': [{'series': list(k), 'ranges': [list(r) for r in v]}
                for k, v in self.voided.items()],
            'calls': dict(self.calls),
            'asked': {k: dict(v) for k, v in self.asked.items()}}


def parse_rde(data):
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False,
            no_network=True))
