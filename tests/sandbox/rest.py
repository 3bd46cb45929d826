"""REST/JSON routes of the authority sandbox.

A service declares its routes and one method per route::

    from tests.sandbox.core import SandboxService
    from tests.sandbox.rest import JsonResponse, JsonRoute

    class MyRest(SandboxService):
        name = 'my_rest'
        client_certificate = 'optional'   # also served on sb.open_url
        json_routes = (JsonRoute('POST', '/my/v1/documents', 'documents',
                'submit'),)

        def authenticate(self, request):   # before the body is parsed
            if request.basic_auth() != ('user', 'password'):
                return JsonResponse(401, {'error': 'unauthorized'})

        def summarize_json(self, operation, request):
            return {'keys': [...]}          # recorded, counted by count()

        def submit(self, request):
            # request.body: parsed JSON; request.caller: Caller or None;
            # request.header(name); request.received_at (sandbox clock)
            return JsonResponse(200, {'status': 'ok'}, {'X-A': '1'})
            # or a tuple (status, headers, json_value)

The server reads at most ``max_json_body`` bytes (413 beyond), answers
415 to a body that is not ``application/json``, 400 (``json_error``) to
a body that is not strict JSON (no NaN, no duplicate keys, bounded depth)
and records every request like SOAP ones (operation = the route's
operation name, ``protocol`` ``json``, ``received_at``: ISO time on the
sandbox clock, also in the summary).  The injected faults of
:mod:`tests.sandbox.faults` apply, and the service option ``latency``
(seconds added to every answer, after processing).
"""
import base64
import binascii
import hmac
import json
import socket
import time
from dataclasses import dataclass, field

from .clock import iso
from .core import RequestContext
from .faults import FAULT_KINDS, HTML_PAGE, hostile_xml

__all__ = ['JsonRoute', 'JsonRequest', 'JsonResponse', 'parse_json',
    'serve_json', 'JSON_TYPE']

JSON_TYPE = 'application/json'
MAX_DEPTH = 64


@dataclass(frozen=True)
class JsonRoute:
    "HTTP ``method`` + ``path`` -> service method ``handler``"
    method: str
    path: str
    operation: str
    handler: str


@dataclass
class JsonResponse:
    """Answer of a JSON route: ``processed`` (did the authority take the
    request?) defaults to ``status < 400``."""
    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    processed: bool = None

    def encode(self):
        if self.body is None:
            return b''
        return json.dumps(self.body).encode()


@dataclass
class JsonRequest:
    method: str
    path: str
    query: str
    headers: object
    raw: bytes
    caller: object
    ctx: RequestContext
    received_at: float
    body: object = None
    #: free for the service (e.g. documents decoded by summarize_json)
    cache: dict = field(default_factory=dict)

    def header(self, name, default=None):
        "Header value, name case-insensitive"
        return self.headers.get(name, default)

    def basic_auth(self):
        "(user, password) of an HTTP Basic Authorization header, or None"
        value = self.header('Authorization') or ''
        scheme, _, token = value.partition(' ')
        if scheme.lower() != 'basic':
            return None
        try:
            text = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, ValueError):
            return None
        user, sep, password = text.partition(':')
        return (user, password) if sep else None

    def refuse_basic_auth(self, expected, realm):
        """None when the Basic credentials are expected ('user:password';
        no expected credentials: anyone), else the 401 answer; the user
        given is noted"""
        if not expected:
            return None
        user, _, password = str(expected).partition(':')
        given = self.basic_auth()
        if given is not None:
            self.ctx.note(auth_user=given[0])
        if given is None or not (
                hmac.compare_digest(given[0].encode(), user.encode())
                and hmac.compare_digest(given[1].encode(),
                    password.encode())):
            return JsonResponse(401, {'error': 'unauthorized'},
                {'WWW-Authenticate': f'Basic realm="{realm}"'})
        return None


def _reject_constant(name):
    raise ValueError('%s is not JSON' % name)


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError('duplicate key %r' % key)
        result[key] = value
    return result


def _depth(value, limit):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ValueError('nested deeper than %d' % limit)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def parse_json(data, max_depth=MAX_DEPTH):
    """Strict JSON from untrusted bytes (UTF-8, no NaN/Infinity, no
    duplicate keys, bounded nesting).  Raises ValueError."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        raise ValueError('not UTF-8: %s' % e) from e
    try:
        value = json.loads(text, parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates)
    except RecursionError as e:
        raise ValueError('nested too deeply') from e
    _depth(value, max_depth)
    return value


class _JsonExchange:
    "One request on a JSON route (used by the HTTP handler)"

    def __init__(self, handler, service, route, parts):
        self.handler = handler
        self.core = handler.core
        self.route = route
        self.service = service
        self.parts = parts
        self.entry = None

    def send(self, response, close=False):
        handler = self.handler
        self.entry['status'] = response.status
        headers = dict(response.headers)
        body = response.encode()
        handler.send_response(response.status)
        if body or response.status not in (204, 303):
            handler.send_header('Content-Type', JSON_TYPE)
        handler.send_header('Content-Length', str(len(body)))
        for key, value in headers.items():
            handler.send_header(key, str(value))
        if close:
            handler.send_header('Connection', 'close')
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.write(body)

    def discard(self, length, most=64 * 1024 * 1024):
        "Read a refused body (bounded) so the client gets the answer"
        rfile = self.handler.rfile
        while 0 < length <= most:
            chunk = rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)
            most -= len(chunk)

    def refuse(self, outcome, response, close=False):
        self.entry['outcome'] = outcome
        self.send(response, close)

    def serve(self):
        handler, core, service = self.handler, self.core, self.service
        caller = handler._caller()
        if caller.tax_id is None and not caller.subject:
            caller = None
        now = core.now()
        length = int(handler.headers.get('Content-Length') or 0)
        self.entry = entry = {
            'service': service.name, 'operation': self.route.operation,
            'protocol': 'json', 'method': handler.command,
            'caller': caller.tax_id if caller else None,
            'caller_name': caller.common_name if caller else None,
            'time': time.time(), 'received_at': iso(now),
            'path': self.route.path, 'port': None, 'soap_action': None,
            'size': length, 'processed': False, 'outcome': None, 'fault': None,
            'fault_code': None, 'fault_string': None, 'status': None,
            'summary': {'received_at': iso(now)},
            }
        core.record(entry)
        limit = service.max_json_body
        chunked = 'chunked' in handler.headers.get(
            'Transfer-Encoding', '').lower()
        # refused unread: the connection cannot be reused (close)
        if chunked:
            return self.refuse('length_required', service.json_error(
                    'length_required', 'Content-Length required'), True)
        if length > limit:
            self.discard(length)
            return self.refuse('too_large', service.json_error(
                    'too_large', 'request body over %d bytes' % limit), True)
        raw = handler.rfile.read(length) if length else b''
        if len(raw) < length:
            # the client went away mid-body: nothing to answer
            entry['outcome'] = 'incomplete'
            handler.close_connection = True
            return
        ctx = RequestContext(service=service, path=self.route.path,
            query=self.parts.query, http_headers=dict(handler.headers),
            soap_action=None, soap_ns=None, envelope=None, soap_headers=[],
            received_at=now, size=len(raw), summary=entry['summary'])
        request = JsonRequest(handler.command, self.route.path,
            self.parts.query, handler.headers, raw, caller, ctx, now)
        denied = service.authenticate(request)
        if denied is not None:
            return self.refuse('unauthorized', _response(denied))
        ctype = (handler.headers.get('Content-Type') or '').split(';')[0]
        if raw and ctype.strip().lower() != JSON_TYPE:
            return self.refuse('media_type', service.json_error(
                    'media_type', 'Content-Type must be %s' % JSON_TYPE))
        try:
            request.body = parse_json(raw) if raw else None
        except ValueError as e:
            return self.refuse('malformed', service.json_error(
                    'malformed', str(e)))
        try:
            entry['summary'].update(
                service.summarize_json(self.route.operation, request) or {})
        except Exception as e:
            entry['summary']['error'] = 'summarize failed: %s' % e
        self.apply(request)

    def apply(self, request):
        core, entry = self.core, self.entry
        fault = core.take_fault(self.service.name, self.route.operation)
        kind = fault['kind'] if fault else None
        params = fault['params'] if fault else {}
        entry['fault'] = kind
        process = params.get('process',
            FAULT_KINDS.get(kind, True) if kind else True)
        if kind and not process:
            return self.unprocessed(kind, params)
        if kind == 'hold':
            core.stopping.wait(float(params.get('seconds', 10)))
        if kind and kind not in FAULT_KINDS:
            custom = self.service.custom_fault(kind, params,
                self.route.operation, request.ctx)
            response = (self.process(request) if custom is None
                else _response(custom))
        else:
            response = self.process(request)
        latency = core.latency or float(
            self.service.options.get('latency') or 0)
        if latency:
            core.stopping.wait(latency)
        if kind in ('latency', 'slow_ack'):
            core.stopping.wait(float(params.get('seconds',
                        1 if kind == 'latency' else 2)))
        if kind == 'drop_after' or (kind == 'hold' and params.get('drop')):
            self.handler.close_connection = True
            entry['status'] = None
            return
        if kind == 'redirect_303':
            return self.send(JsonResponse(303, None,
                    {'Location': self.location(params)}))
        if kind == 'truncated':
            return self.send_cut(response)
        if kind == 'malformed':
            body = response.encode()
            return self.send_raw(200, body[:len(body) // 2]
                + b'<<</ broken & "unterminated', JSON_TYPE)
        self.send(response)

    def process(self, request):
        entry, service = self.entry, self.service
        method = getattr(service, self.route.handler)
        try:
            if service.serialize:
                with service.lock:
                    response = _response(method(request))
            else:
                response = _response(method(request))
        except Exception as e:
            import traceback
            traceback.print_exc()
            entry['outcome'] = 'error'
            return JsonResponse(500, {'error': 'sandbox internal error',
                    'detail': '%s: %s' % (type(e).__name__, e)})
        processed = response.processed
        if processed is None:
            processed = response.status < 400
        entry['processed'] = bool(processed)
        entry['outcome'] = entry['outcome'] or (
            'ok' if processed else 'refused')
        return response

    def location(self, params):
        host, port = self.handler.server.server_address[:2]
        return params.get('location',
            'https://%s:%d/moved%s' % (host, port, self.route.path))

    def send_cut(self, response):
        body = response.encode()
        handler = self.handler
        self.entry['status'] = response.status
        handler.send_response(response.status)
        handler.send_header('Content-Type', JSON_TYPE)
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:len(body) // 2])
        handler.close_connection = True

    def send_raw(self, status, body, ctype, headers=None):
        self.entry['status'] = status
        self.handler._send(status, body, ctype, headers)

    def unprocessed(self, kind, params):
        handler, entry = self.handler, self.entry
        entry['outcome'] = 'injected'
        wait = handler.core.stopping.wait
        if kind in ('hang', 'hold'):
            wait(float(params.get('seconds', 120 if kind == 'hang' else 10)))
            handler.close_connection = True
            return
        if kind in ('latency', 'slow_ack'):
            wait(float(params.get('seconds', 1)))
        if kind == 'drop_after':
            handler.close_connection = True
            return
        if kind == 'http_429':
            seconds = params.get('seconds', 1)
            return self.send(JsonResponse(429, {
                        'error': 'too many requests'},
                    {'Retry-After': str(seconds)}))
        if kind in ('http_500', 'http_503'):
            status = int(kind[-3:])
            return self.send_raw(status, params.get('body', '%d %s\n' % (
                        status, 'Internal Server Error' if status == 500
                        else 'Service Unavailable')).encode(),
                'text/plain; charset=utf-8',
                {'Retry-After': '1'} if status == 503 else None)
        if kind == 'html':
            return self.send_raw(200, HTML_PAGE, 'text/html; charset=utf-8')
        if kind == 'entities':
            return self.send_raw(200, hostile_xml(params.get('variant',
                        'all')), 'text/xml; charset=utf-8')
        if kind == 'redirect_303':
            return self.send(JsonResponse(303, None,
                    {'Location': self.location(params)}))
        if kind in FAULT_KINDS:
            # soap_fault, truncated, malformed, latency when unprocessed
            return self.send(JsonResponse(500, {'error': params.get(
                            'faultstring', 'Injected fault')}))
        custom = self.service.custom_fault(kind, params,
            self.route.operation, None)
        self.send(_response(custom) if custom is not None
            else JsonResponse(500, {'error': 'Injected fault'}))


def _response(value):
    if isinstance(value, JsonResponse):
        return value
    status, headers, body = value
    return JsonResponse(status, body, dict(headers or {}))


def serve_json(handler, service, route, parts):
    "Answer one request on a JSON route (called by the HTTP handler)"
    try:
        _JsonExchange(handler, service, route, parts).serve()
    except (ConnectionError, socket.timeout):
        handler.close_connection = True
