"""The clearance variant of the test authority (``test_clearance``): the
authority clears each invoice before the customer may receive it and
returns its own stamped copy, as ZATCA does for standard (B2B) invoices.

``POST /test-clearance/v1/invoices`` (operation ``clearance``), served on
``sb.url`` (mutual TLS) and ``sb.open_url``.  HTTP Basic authentication
with option ``basic_auth`` = ``'user:password'`` (default
``'TEST:secret'``; None = none): wrong or missing -> 401
``{"error": "unauthorized"}``, not processed.

Body ``{"invoice": "<base64>", "hash": "<hex sha256 of the decoded
bytes>"}``; the decoded invoice is a JSON object with at least ``id``,
``number``, ``date`` (YYYY-MM-DD) and ``amount`` (decimal text); an
optional ``reason`` (text).  Anything else in it is kept as sent.

* Not JSON, not base64, a missing member or a wrong value -> 400
  ``{"error": "malformed", "detail": ...}`` (nothing changes).
* ``id`` already cleared: 409 ``{"status": "ALREADY_CLEARED", "cleared":
  <base64 of the copy held>, "reference"}`` (nothing changes): the client
  reads it as cleared.
* Refused -> 400 ``{"status": "NOT_CLEARED", "errors": [{"code",
  "message"}]}``: ``hash`` is not the SHA-256 of the invoice (2001), the
  amount has more than 2 decimals (2002), a negative amount (a credit
  note) without ``reason`` (2003), option ``refuse`` (a list of ids) names
  it (2004).  Nothing is held.
* Else 200 ``{"status": "CLEARED", "reference": "CL-<12 hex>",
  "cleared": <base64 of the stamped copy>}``: the copy is the invoice
  with a ``stamp`` member (``{"reference", "cleared_at"}``, sandbox clock)
  and a ``qr`` member (``CLR|<id>|<number>|<amount>|<reference>``),
  serialized with sorted keys; the authority holds it by ``id``.

Inspection summary: ``keys`` (the invoice id), ``hash``, ``auth_user``,
``received_at``; after processing ``status`` (CLEARED, NOT_CLEARED,
ALREADY_CLEARED) and ``codes``.  ``state()``: ``cleared`` {id: copy as a
dict}, ``refused`` {id: number of refusals}.
"""
import base64
import binascii
import datetime
import hashlib
import hmac
import json
import secrets
from decimal import Decimal, InvalidOperation

from .clock import iso
from .core import SandboxService
from .rest import JsonResponse, JsonRoute, parse_json

__all__ = ['TestClearanceService', 'PATH', 'encode_invoice']

PATH = '/test-clearance/v1/invoices'
REQUIRED = ('id', 'number', 'date', 'amount')


class Malformed(ValueError):
    pass


def encode_invoice(invoice):
    "The request body of an invoice dict, as a client would send it"
    data = json.dumps(invoice, sort_keys=True).encode()
    return {'invoice': base64.b64encode(data).decode(),
        'hash': hashlib.sha256(data).hexdigest()}


def decode_invoice(body):
    "(invoice dict, raw bytes, hash given); raises Malformed"
    if not isinstance(body, dict):
        raise Malformed('body must be a JSON object')
    if not isinstance(body.get('invoice'), str):
        raise Malformed('invoice (base64 text) required')
    if not isinstance(body.get('hash'), str):
        raise Malformed('hash (text) required')
    try:
        data = base64.b64decode(body['invoice'], validate=True)
        invoice = parse_json(data)
    except (binascii.Error, ValueError) as e:
        raise Malformed('invoice is not base64 JSON: %s' % e)
    if not isinstance(invoice, dict):
        raise Malformed('invoice: not a JSON object')
    for name in REQUIRED:
        if not isinstance(invoice.get(name), str) or not invoice[name]:
            raise Malformed('invoice: %s must be a non-empty string' % name)
    try:
        amount = Decimal(invoice['amount'])
        datetime.date.fromisoformat(invoice['date'])
    except (InvalidOperation, ValueError) as e:
        raise Malformed('invoice: invalid value: %s' % e)
    if not amount.is_finite():
        raise Malformed('invoice: amount must be finite')
    reason = invoice.get('reason')
    if reason is not None and not isinstance(reason, str):
        raise Malformed('invoice: reason must be a string')
    return invoice, data, body['hash']


class TestClearanceService(SandboxService):
    __test__ = False  # not a test case (pytest)
    name = 'test_clearance'
    client_certificate = 'optional'
    json_routes = (JsonRoute('POST', PATH, 'clearance', 'clear'),)
    default_options = {'basic_auth': 'TEST:secret', 'refuse': [],
        'latency': 0}

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self.cleared = {}       # id -> stamped copy (bytes)
        self.refused = {}       # id -> number of refusals

    def state(self):
        return {
            'cleared': {k: json.loads(v) for k, v in self.cleared.items()},
            'refused': dict(self.refused),
            }

    def authenticate(self, request):
        return request.refuse_basic_auth(
            self.options.get('basic_auth'), 'test-clearance')

    def _read(self, request):
        if 'read' not in request.cache:
            try:
                request.cache['read'] = decode_invoice(request.body)
            except Malformed as e:
                request.cache['read'] = e
        result = request.cache['read']
        if isinstance(result, Exception):
            raise result
        return result

    def summarize_json(self, operation, request):
        try:
            invoice, _, given = self._read(request)
        except Malformed as e:
            return {'keys': [], 'malformed': str(e)}
        return {'keys': [invoice['id']], 'hash': given}

    def clear(self, request):
        try:
            invoice, data, given = self._read(request)
        except Malformed as e:
            return JsonResponse(400, {'error': 'malformed',
                    'detail': str(e)})
        held = self.cleared.get(invoice['id'])
        if held is not None:
            request.ctx.note(status='ALREADY_CLEARED', codes=[])
            return JsonResponse(409, {'status': 'ALREADY_CLEARED',
                    'reference': json.loads(held)['stamp']['reference'],
                    'cleared': base64.b64encode(held).decode()},
                processed=True)
        errors = self._errors(invoice, data, given)
        if errors:
            self.refused[invoice['id']] = (
                self.refused.get(invoice['id'], 0) + 1)
            request.ctx.note(status='NOT_CLEARED',
                codes=[e['code'] for e in errors])
            return JsonResponse(400, {'status': 'NOT_CLEARED',
                    'errors': errors}, processed=True)
        reference = 'CL-' + secrets.token_hex(6).upper()
        copy = dict(invoice, stamp={'reference': reference,
                'cleared_at': iso(request.received_at)},
            qr='|'.join(['CLR', invoice['id'], invoice['number'],
                    invoice['amount'], reference]))
        stamped = json.dumps(copy, sort_keys=True).encode()
        self.cleared[invoice['id']] = stamped
        request.ctx.note(status='CLEARED', codes=[])
        return JsonResponse(200, {'status': 'CLEARED',
                'reference': reference,
                'cleared': base64.b64encode(stamped).decode()})

    def _errors(self, invoice, data, given):
        errors = []
        if not hmac.compare_digest(
                hashlib.sha256(data).hexdigest(), given.lower()):
            errors.append({'code': 2001,
                    'message': 'hash is not the SHA-256 of the invoice'})
        amount = Decimal(invoice['amount'])
        if amount.as_tuple().exponent < -2:
            errors.append({'code': 2002,
                    'message': 'amount has more than 2 decimals'})
        if amount < 0 and not (invoice.get('reason') or '').strip():
            errors.append({'code': 2003,
                    'message': 'a credit note must give its reason'})
        if invoice['id'] in (self.options.get('refuse') or []):
            errors.append({'code': 2004,
                    'message': 'refused by the test authority'})
        return errors
