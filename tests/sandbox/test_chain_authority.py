"""The chained REST/JSON test authority (``test_chain``): documents hashed
and linked in chains, as VERI*FACTU, ZATCA and SIFEN keep them.

``POST /test-chain/v1/documents`` (operation ``documents``), served on
``sb.url`` (mutual TLS) and on ``sb.open_url`` (client certificate
optional; the caller is recorded when given).  HTTP Basic authentication
with option ``basic_auth`` = ``'user:password'`` (default
``'TEST:secret'``; None = none): wrong or missing -> 401
``{"error": "unauthorized"}``, not processed.

Body ``{"issuer": "<id>", "documents": [{"content": "<base64>"}, ...]}``;
each decoded content is a JSON document ``{"id", "chain", "sequence"
(from 1), "previous" (hex sha256 of the previous document's bytes, null
for the first), "kind" (record, correction, cancellation), "number",
"date" (YYYY-MM-DD), "amount" (decimal text), "generated" (ISO time)}``
whose digest is the hex sha256 of the decoded bytes.

Whole-request refusals (nothing changes): malformed JSON, a document
missing a field or with a wrong value -> 400 ``{"error": "malformed",
"detail": ...}``; more than option ``batch_limit`` (1000) -> 413
``{"error": "too many documents"}``; a request before the wait announced
to the issuer has passed (sandbox clock) is a violation (``state()
['violations']``) and, with option ``enforce_wait``, 429 + Retry-After;
requests of >= option ``wait_exempt_batch`` (1000) documents are exempt.
Option ``latency``: seconds added to every answer (after processing).

Per document, in order (per issuer + chain the authority holds the
documents it took, accepted and rejected alike):

* same digest already held: ``AlreadyHeld`` 3000 with the held
  ``reference``, ``held`` (the held status) and ``held_code`` (nothing
  changes);
* ``previous`` != digest of the last held document of the chain (null
  when none) or ``sequence`` != its sequence + 1: ``Rejected`` 4200
  ``chain broken: expected previous <x> sequence <n>``, not held;
* record/correction with amount < 0 (unless option ``allow_negative``):
  ``Rejected`` 1100, held, the id is not registered (it counts as
  rejected);
* record of a registered id: ``Rejected`` 3001;
* correction of an id not rejected before, cancellation of an id not
  registered: ``Rejected`` 3002;
* else ``Accepted`` with reference ``TC-<12 hex>``.

Answer 200 ``{"status": "Accepted"|"PartiallyAccepted"|"Rejected",
"results": [{"id", "digest", "status", "code", "message", "reference"}],
"wait": <option wait, seconds>}`` (AlreadyHeld counts as its held
status).  No query operation: clients recover by re-sending.

Inspection summary: ``issuer``, ``keys`` (document ids), ``digests``,
``links`` ([chain, sequence]), ``auth_user``, ``received_at`` (ISO);
after
processing ``accepted``, ``rejected``, ``already_held``, ``broken`` (ids),
``status``, ``wait``, ``violation`` (True when early).
"""
import base64
import binascii
import datetime
import hashlib
import math
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .clock import iso
from .core import SandboxService
from .rest import JsonResponse, JsonRoute, parse_json

__all__ = ['TestChainService', 'PATH', 'encode_document']

PATH = '/test-chain/v1/documents'
KINDS = ('record', 'correction', 'cancellation')
FIELDS = ('id', 'chain', 'sequence', 'previous', 'kind', 'number', 'date',
    'amount', 'generated')


class Malformed(ValueError):
    pass


class TooMany(ValueError):
    pass


@dataclass
class Document:
    id: str
    chain: str
    sequence: int
    previous: str
    kind: str
    number: str
    date: str
    amount: Decimal
    generated: str
    digest: str


def encode_document(document):
    """(bytes, digest) of a document dict, as a client would send it; put
    ``base64.b64encode(bytes).decode()`` in ``content``"""
    import json
    data = json.dumps(document, sort_keys=True).encode()
    return data, hashlib.sha256(data).hexdigest()


def _text(doc, name, where):
    value = doc[name]
    if not isinstance(value, str) or not value:
        raise Malformed('%s: %s must be a non-empty string' % (where, name))
    return value


def decode_document(index, item):
    "Document from one item of ``documents``; raises Malformed"
    where = 'documents[%d]' % index
    if not isinstance(item, dict) or not isinstance(item.get('content'),
            str):
        raise Malformed('%s: content (base64 text) required' % where)
    try:
        data = base64.b64decode(item['content'], validate=True)
        doc = parse_json(data)
    except (binascii.Error, ValueError) as e:
        raise Malformed('%s: content is not base64 JSON: %s' % (where, e))
    if not isinstance(doc, dict):
        raise Malformed('%s: not a JSON object' % where)
    missing = [f for f in FIELDS if f not in doc]
    if missing:
        raise Malformed('%s: missing field %s' % (where, ', '.join(missing)))
    sequence = doc['sequence']
    if (not isinstance(sequence, int) or isinstance(sequence, bool)
            or sequence < 1):
        raise Malformed('%s: sequence must be an integer >= 1' % where)
    previous = doc['previous']
    if previous is not None and not isinstance(previous, str):
        raise Malformed('%s: previous must be a string or null' % where)
    if doc['kind'] not in KINDS:
        raise Malformed('%s: kind must be one of %s' % (where,
                ', '.join(KINDS)))
    date = _text(doc, 'date', where)
    try:
        amount = Decimal(_text(doc, 'amount', where))
        if len(date) != 10:
            raise ValueError(date)
        datetime.date.fromisoformat(date)
        datetime.datetime.fromisoformat(
            _text(doc, 'generated', where).replace('Z', '+00:00'))
    except (InvalidOperation, ValueError) as e:
        raise Malformed('%s: invalid value: %s' % (where, e))
    if not amount.is_finite():
        raise Malformed('%s: amount must be finite' % where)
    if doc['number'] is None or isinstance(doc['number'], (dict, list)):
        raise Malformed('%s: number must be a scalar' % where)
    return Document(_text(doc, 'id', where), _text(doc, 'chain', where),
        sequence, previous, doc['kind'], str(doc['number']), date, amount,
        doc['generated'], hashlib.sha256(data).hexdigest())


class TestChainService(SandboxService):
    __test__ = False  # not a test case (pytest)
    name = 'test_chain'
    client_certificate = 'optional'
    json_routes = (JsonRoute('POST', PATH, 'documents', 'submit'),)
    default_options = {'basic_auth': 'TEST:secret', 'wait': 0,
        'enforce_wait': False, 'wait_exempt_batch': 1000,
        'batch_limit': 1000, 'allow_negative': False, 'latency': 0}

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self.chains = {}        # (issuer, chain) -> [held document]
        self.digests = {}       # (issuer, digest) -> held document
        self.ids = {}           # (issuer, id) -> registered/rejected/...
        self.not_before = {}    # issuer -> epoch seconds (sandbox clock)
        self.violations = []

    def state(self):
        chains, ids = {}, {}
        for (issuer, chain), held in self.chains.items():
            chains.setdefault(issuer, {})[chain] = [dict(d) for d in held]
        for (issuer, id_), value in self.ids.items():
            ids.setdefault(issuer, {})[id_] = value
        return {'chains': chains, 'ids': ids,
            'not_before': {k: iso(v) for k, v in self.not_before.items()},
            'violations': [dict(v) for v in self.violations]}

    # -- reading the request --
    def authenticate(self, request):
        return request.refuse_basic_auth(
            self.options.get('basic_auth'), 'test-chain')

    def _read(self, request):
        "(issuer, [Document]); raises Malformed or TooMany (cached)"
        if 'read' not in request.cache:
            try:
                request.cache['read'] = self._decode(request.body)
            except (Malformed, TooMany) as e:
                request.cache['read'] = e
        result = request.cache['read']
        if isinstance(result, Exception):
            raise result
        return result

    def _decode(self, body):
        if not isinstance(body, dict):
            raise Malformed('body must be a JSON object')
        for name in ('issuer', 'documents'):
            if name not in body:
                raise Malformed('missing field %s' % name)
        issuer, items = body['issuer'], body['documents']
        if not isinstance(issuer, str) or not issuer:
            raise Malformed('issuer must be a non-empty string')
        if not isinstance(items, list) or not items:
            raise Malformed('documents must be a non-empty list')
        limit = int(self.options.get('batch_limit') or 0)
        if limit and len(items) > limit:
            raise TooMany(len(items))
        return issuer, [decode_document(i, item)
            for i, item in enumerate(items)]

    def summarize_json(self, operation, request):
        try:
            issuer, documents = self._read(request)
        except Malformed as e:
            return {'keys': [], 'malformed': str(e)}
        except TooMany as e:
            return {'keys': [], 'too_many': e.args[0]}
        return {'issuer': issuer, 'documents': len(documents),
            'keys': [d.id for d in documents],
            'digests': [d.digest for d in documents],
            'links': [[d.chain, d.sequence] for d in documents]}

    # -- processing --
    def submit(self, request):
        try:
            issuer, documents = self._read(request)
        except Malformed as e:
            return JsonResponse(400, {'error': 'malformed',
                    'detail': str(e)})
        except TooMany:
            return JsonResponse(413, {'error': 'too many documents'})
        early = self._early(issuer, len(documents), request)
        if early is not None:
            return early
        results = [self._apply(issuer, doc, request.received_at)
            for doc in documents]
        wait = self.options.get('wait') or 0
        if wait:
            self.not_before[issuer] = self.core.now() + float(wait)
        effective = [r.get('held', r['status']) for r in results]
        accepted = [s == 'Accepted' for s in effective]
        whole = ('Accepted' if all(accepted) else 'PartiallyAccepted'
            if any(accepted) else 'Rejected')

        def ids(test):
            return [r['id'] for r in results if test(r)]
        request.ctx.note(status=whole, wait=wait,
            accepted=ids(lambda r: r['status'] == 'Accepted'),
            rejected=ids(lambda r: r['status'] == 'Rejected'),
            already_held=ids(lambda r: r['status'] == 'AlreadyHeld'),
            broken=ids(lambda r: r['code'] == 4200))
        return JsonResponse(200, {'status': whole, 'results': results,
                'wait': wait})

    def _early(self, issuer, count, request):
        "None, or the 429 refusing a request before the announced wait"
        not_before = self.not_before.get(issuer)
        now = request.received_at
        exempt = int(self.options.get('wait_exempt_batch') or 0)
        if (not_before is None or now >= not_before
                or (exempt and count >= exempt)):
            return None
        enforced = bool(self.options.get('enforce_wait'))
        self.violations.append({'issuer': issuer, 'received_at': iso(now),
                'timestamp': now, 'not_before': iso(not_before),
                'early_by': round(not_before - now, 3), 'documents': count,
                'enforced': enforced})
        request.ctx.note(violation=True)
        if not enforced:
            return None
        retry = max(1, math.ceil(not_before - now))
        return JsonResponse(429, {'error': 'too early',
                'retry_after': retry}, {'Retry-After': str(retry)})

    def _apply(self, issuer, doc, now):
        result = {'id': doc.id, 'digest': doc.digest}
        held = self.digests.get((issuer, doc.digest))
        if held is not None:
            result.update(status='AlreadyHeld', code=3000,
                message='Already held: %s' % held['status'],
                reference=held['reference'], held=held['status'],
                held_code=held['code'])
            return result
        chain = self.chains.setdefault((issuer, doc.chain), [])
        previous = chain[-1]['digest'] if chain else None
        sequence = chain[-1]['sequence'] + 1 if chain else 1
        if doc.previous != previous or doc.sequence != sequence:
            result.update(status='Rejected', code=4200,
                message='chain broken: expected previous %s sequence %d' % (
                    previous or 'null', sequence), reference=None)
            return result
        key = (issuer, doc.id)
        known = self.ids.get(key)
        reference, code, message = None, None, None
        if (doc.kind != 'cancellation' and doc.amount < 0
                and not self.options.get('allow_negative')):
            code, message = 1100, 'Amount must not be negative'
            if known != 'registered':
                self.ids[key] = 'rejected'
        elif doc.kind == 'record' and known == 'registered':
            code, message = 3001, 'Duplicate: already registered'
        elif doc.kind == 'correction' and known != 'rejected':
            code, message = 3002, 'Nothing to correct: not rejected before'
        elif doc.kind == 'cancellation' and known != 'registered':
            code, message = 3002, 'Not found: not registered'
        else:
            reference = 'TC-' + secrets.token_hex(6).upper()
            self.ids[key] = ('cancelled' if doc.kind == 'cancellation'
                else 'registered')
        status = 'Rejected' if code else 'Accepted'
        result.update(status=status, code=code, message=message,
            reference=reference)
        held = {'id': doc.id, 'sequence': doc.sequence,
            'digest': doc.digest, 'previous': doc.previous,
            'kind': doc.kind, 'number': doc.number,
            'amount': str(doc.amount), 'status': status, 'code': code,
            'message': message, 'reference': reference,
            'received_at': iso(now)}
        chain.append(held)
        self.digests[(issuer, doc.digest)] = held
        return result
