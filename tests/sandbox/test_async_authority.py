"""The asynchronous REST/JSON test authority (``test_async``): submit now,
result later, as SIFEN takes its lots.

Served with mutual TLS; the caller's certificate must be the issuer's
(else 403 ``{"error": "not the issuer"}``, not processed).  Times are read
on the sandbox clock.

``POST /test-async/v1/lots`` (operation ``lots``) ``{"issuer",
"documents": [{"id", "number", "date" (YYYY-MM-DD), "amount" (decimal
text)}]}``: malformed -> 400 ``{"error": "malformed", "detail"}``; more
than option ``lot_limit`` (50) documents -> 413 ``{"error": "too many
documents"}``; option ``not_queued`` -> 200 ``{"code": "0301", "status":
"NotQueued"}`` (nothing kept); else 200 ``{"code": "0300", "status":
"Received", "lot": "<ticket>"}``.  Each document of a queued lot is
decided when it is received, in order:

* an id already received (in any lot, processed or not): ``Rejected`` 1001
  ``duplicate`` (the first copy stays held), listed in ``state()
  ['duplicates']``;
* amount < 0: ``Rejected`` 1100, held;
* else ``Accepted`` with reference ``TS-<12 hex>``, held.

The decision is known only once option ``processing_seconds`` (60) have
passed since the lot was received.

``POST /test-async/v1/lots/result`` (operation ``result``) ``{"lot"}``:
``{"code": "0361", "status": "Processing"}`` until then, ``{"code":
"0362", "status": "Done", "results": [{"id", "status", "code",
"message", "reference"}]}`` after; a lot unknown to the issuer ->
``{"code": "0360", "status": "UnknownLot"}``.

``POST /test-async/v1/documents/query`` (operation ``query``) ``{"issuer"
(default: the caller), "ids": [...]}`` -> ``{"results": [{"id", "status":
"NotFound"|"Accepted"|"Rejected", "code", "message", "reference"}]}``:
the held copy once its lot is processed; like SIFEN, ``NotFound`` while
the lot that holds it is still processing (the trap of a resend).

Inspection summary: ``issuer``, ``keys`` (the document ids of a lot or a
query), ``lot``; after processing ``queued`` (ids of a queued lot),
``status``.  ``state()``: ``lots`` ({ticket: issuer, received_at, ready
(processed by now), documents (ids), results}), ``held`` ({issuer: {id:
status, code, message, reference, lot}}), ``received`` ({issuer: {id:
copies received}}), ``duplicates`` ([{issuer, id, lot}]), ``calls``
({operation: count}), ``asked`` ({operation: {id or ticket: count}}).
"""
import datetime
import secrets
from decimal import Decimal, InvalidOperation

from .clock import iso
from .core import SandboxService
from .rest import JsonResponse, JsonRoute

__all__ = ['TestAsyncService', 'LOTS', 'RESULT', 'QUERY']

LOTS = '/test-async/v1/lots'
RESULT = '/test-async/v1/lots/result'
QUERY = '/test-async/v1/documents/query'
FIELDS = ('id', 'number', 'date', 'amount')


class Malformed(ValueError):
    pass


class Refused(Exception):
    "The request is answered with response, not processed"

    def __init__(self, response):
        super().__init__(response)
        self.response = response


def _text(item, name, where):
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise Malformed('%s: %s must be a non-empty string' % (where, name))
    return value


def _document(index, item):
    where = 'documents[%d]' % index
    if not isinstance(item, dict):
        raise Malformed('%s: not a JSON object' % where)
    missing = [f for f in FIELDS if f not in item]
    if missing:
        raise Malformed('%s: missing field %s' % (where, ', '.join(missing)))
    date = _text(item, 'date', where)
    try:
        amount = Decimal(_text(item, 'amount', where))
        if len(date) != 10:
            raise ValueError(date)
        datetime.date.fromisoformat(date)
    except (InvalidOperation, ValueError) as e:
        raise Malformed('%s: invalid value: %s' % (where, e))
    if not amount.is_finite():
        raise Malformed('%s: amount must be finite' % where)
    return {'id': _text(item, 'id', where),
        'number': _text(item, 'number', where), 'date': date,
        'amount': amount}


def _lot(body):
    ticket = body.get('lot')
    if not isinstance(ticket, str) or not ticket:
        raise Malformed('lot must be a non-empty string')
    return ticket


def _ids(body):
    ids = body.get('ids')
    if (not isinstance(ids, list) or not ids
            or not all(isinstance(i, str) and i for i in ids)):
        raise Malformed('ids must be a non-empty list of strings')
    return ids


class TestAsyncService(SandboxService):
    __test__ = False  # not a test case (pytest)
    name = 'test_async'
    json_routes = (
        JsonRoute('POST', LOTS, 'lots', 'submit_lot'),
        JsonRoute('POST', RESULT, 'result', 'lot_result'),
        JsonRoute('POST', QUERY, 'query', 'query'),
        )
    default_options = {'lot_limit': 50, 'processing_seconds': 60,
        'not_queued': False, 'latency': 0}

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self.lots = {}          # ticket -> lot
        self.held = {}          # (issuer, id) -> held result
        self.received = {}      # (issuer, id) -> copies received
        self.duplicates = []
        self.calls = {}
        self.asked = {}

    def state(self):
        held, received = {}, {}
        for (issuer, id_), value in self.held.items():
            held.setdefault(issuer, {})[id_] = dict(value)
        for (issuer, id_), count in self.received.items():
            received.setdefault(issuer, {})[id_] = count
        lots = {ticket: {'issuer': lot['issuer'],
                'received_at': iso(lot['received_at']),
                'ready': self._ready(lot),
                'documents': [r['id'] for r in lot['results']],
                'results': [dict(r) for r in lot['results']]}
            for ticket, lot in self.lots.items()}
        return {'lots': lots, 'held': held, 'received': received,
            'duplicates': [dict(d) for d in self.duplicates],
            'calls': dict(self.calls),
            'asked': {k: dict(v) for k, v in self.asked.items()}}

    # -- reading the request --
    def _read(self, request, parse):
        """(issuer, parse(body), None) of a request of the issuer, else
        (None, None, the response refusing it): 400 when malformed, 403
        when the caller is not the issuer, or that of a Refused raised by
        parse"""
        body = request.body
        try:
            if not isinstance(body, dict):
                raise Malformed('body must be a JSON object')
            caller = request.caller.tax_id if request.caller else None
            issuer = body.get('issuer', caller)
            if not isinstance(issuer, str) or not issuer:
                raise Malformed('issuer must be a non-empty string')
            if issuer != caller:
                raise Refused(JsonResponse(403, {'error': 'not the issuer'}))
            return issuer, parse(body), None
        except Malformed as e:
            return None, None, JsonResponse(400, {'error': 'malformed',
                    'detail': str(e)})
        except Refused as e:
            return None, None, e.response

    def summarize_json(self, operation, request):
        body = request.body if isinstance(request.body, dict) else {}
        summary = {'issuer': body.get('issuer'), 'keys': []}
        if operation == 'lots' and isinstance(body.get('documents'), list):
            summary['keys'] = [d.get('id') for d in body['documents']
                if isinstance(d, dict)]
        elif operation == 'query' and isinstance(body.get('ids'), list):
            summary['keys'] = list(body['ids'])
        elif operation == 'result':
            summary['lot'] = body.get('lot')
        return summary

    def _count(self, operation, keys):
        self.calls[operation] = self.calls.get(operation, 0) + 1
        asked = self.asked.setdefault(operation, {})
        for key in keys:
            asked[key] = asked.get(key, 0) + 1

    def _ready(self, lot):
        seconds = float(self.options.get('processing_seconds') or 0)
        return self.core.now() >= lot['received_at'] + seconds

    # -- operations --
    def _documents(self, body):
        items = body.get('documents')
        if not isinstance(items, list) or not items:
            raise Malformed('documents must be a non-empty list')
        limit = int(self.options.get('lot_limit') or 0)
        if limit and len(items) > limit:
            raise Refused(JsonResponse(413, {'error': 'too many documents'}))
        return [_document(i, d) for i, d in enumerate(items)]

    def submit_lot(self, request):
        issuer, documents, refusal = self._read(request, self._documents)
        if refusal:
            return refusal
        self._count('lots', [d['id'] for d in documents])
        if self.options.get('not_queued'):
            request.ctx.note(status='NotQueued', queued=[])
            return JsonResponse(200, {'code': '0301',
                    'status': 'NotQueued'})
        ticket = self._ticket()
        lot = self.lots[ticket] = {'issuer': issuer,
            'received_at': request.received_at, 'results': []}
        for document in documents:
            lot['results'].append(self._decide(issuer, ticket, document))
        request.ctx.note(status='Received', lot=ticket,
            queued=[d['id'] for d in documents])
        return JsonResponse(200, {'code': '0300', 'status': 'Received',
                'lot': ticket})

    def _ticket(self):
        while True:
            ticket = str(10 ** 14 + secrets.randbelow(9 * 10 ** 14))
            if ticket not in self.lots:
                return ticket

    def _decide(self, issuer, ticket, document):
        key = (issuer, document['id'])
        self.received[key] = self.received.get(key, 0) + 1
        result = {'id': document['id'], 'reference': None}
        if key in self.held:
            self.duplicates.append({'issuer': issuer, 'id': document['id'],
                    'lot': ticket})
            result.update(status='Rejected', code=1001, message='duplicate')
            return result
        if document['amount'] < 0:
            result.update(status='Rejected', code=1100,
                message='Amount must not be negative')
        else:
            result.update(status='Accepted', code=None, message=None,
                reference='TS-' + secrets.token_hex(6).upper())
        self.held[key] = dict(result, lot=ticket,
            number=document['number'], amount=str(document['amount']))
        return result

    def lot_result(self, request):
        issuer, ticket, refusal = self._read(request, _lot)
        if refusal:
            return refusal
        self._count('result', [ticket])
        lot = self.lots.get(ticket)
        if lot is None or lot['issuer'] != issuer:
            request.ctx.note(status='UnknownLot')
            return JsonResponse(200, {'code': '0360', 'status': 'UnknownLot'})
        if not self._ready(lot):
            request.ctx.note(status='Processing')
            return JsonResponse(200, {'code': '0361',
                    'status': 'Processing'})
        request.ctx.note(status='Done')
        return JsonResponse(200, {'code': '0362', 'status': 'Done',
                'results': [self._public(r) for r in lot['results']]})

    @staticmethod
    def _public(result):
        return {k: result[k]
            for k in ('id', 'status', 'code', 'message', 'reference')}

    def query(self, request):
        issuer, ids, refusal = self._read(request, _ids)
        if refusal:
            return refusal
        self._count('query', ids)
        results = []
        for id_ in ids:
            held = self.held.get((issuer, id_))
            if held is None or not self._ready(self.lots[held['lot']]):
                results.append({'id': id_, 'status': 'NotFound',
                        'code': None, 'message': None, 'reference': None})
            else:
                results.append(self._public(held))
        return JsonResponse(200, {'results': results})
