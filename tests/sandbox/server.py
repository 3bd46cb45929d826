"""HTTPS + mutual TLS + SOAP server of the authority sandbox.

No country knowledge lives here: services are plug-ins (see
:mod:`tests.sandbox.core`).  Start it from tests with::

    with Sandbox() as sb:                      # in-process, background thread
        sb.url, sb.port, sb.pki, sb.ca_path
        sb.wsdl_url('test_authority')          # served, addresses rewritten
        session = sb.session('es_company')     # requests.Session with mTLS
        sb.add_fault('test_authority', 'Submit', 'drop_after')
        sb.count('test_authority', 'Submit', 'INV-1')

    with Sandbox(subprocess=True) as sb:       # same API, separate process
        ...

Injected faults (``sb.add_fault(service, operation, kind, count=1,
**params)``; ``operation='*'`` matches any operation; ``count=None`` = until
cleared).  "processed" means the service handled the request and its state
changed as usual; every kind accepts ``process=True/False`` to override:

============== ========== ====================================================
kind           processed  behaviour
============== ========== ====================================================
latency        yes        sleep ``seconds`` (default 1) before answering
hang           no         never answer; sleep ``seconds`` (default 120) then
                          close the connection
hold           yes        keep the request ``seconds`` (default 10) before
                          processing it, then answer (lost if the client has
                          gone meanwhile; ``drop=True``: close without
                          answering): a slow authority still holding a
                          request its sender gave up on
drop_after     yes        close the connection without any response (the
                          "lost response" case)
http_500       no         HTTP 500, plain text body
http_503       no         HTTP 503, plain text body (+ Retry-After)
html           no         HTTP 200 ``text/html`` maintenance page
soap_fault     no         HTTP 500 SOAP Fault (``faultcode``, default
                          ``Server``; ``faultstring``)
truncated      yes        full Content-Length but only the first half of the
                          real response body, then close
malformed      yes        HTTP 200 ``text/xml`` with syntactically broken XML
entities       no         HTTP 200 response with a DOCTYPE declaring
                          "billion laughs" entities and an external
                          ``SYSTEM "file:///etc/passwd"`` entity
                          (``variant``: ``all``, ``laughs`` or ``xxe``)
<other>        service    delegated to ``service.custom_fault`` (e.g. the
                          test authority's ``busy``)
============== ========== ====================================================

Control API: ``POST /_sandbox/call`` with JSON ``{"method": m, "args":
{...}}`` (m in :data:`CONTROL_METHODS`) and ``GET /_sandbox/info``; both
require a client certificate like everything else.
"""
import copy
import http.server
import importlib
import json
import os
import socket
import ssl
import subprocess as _subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from .core import (
    SOAP11_NS, SOAP12_NS, WSDL_NS, WSDL_SOAP11_NS, WSDL_SOAP12_NS, Caller,
    RequestContext, SoapFault, SoapResponse, XMLError, build_envelope,
    build_fault, parse_xml)
from .pki import PKI, tax_id_from_serial

__all__ = ['Sandbox', 'SandboxProcess', 'SandboxCore', 'CONTROL_METHODS',
    'FAULT_KINDS', 'load_services']

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))

# kind -> processed by default
FAULT_KINDS = {
    'latency': True,
    'hang': False,
    'hold': True,
    'drop_after': True,
    'http_500': False,
    'http_503': False,
    'html': False,
    'soap_fault': False,
    'truncated': True,
    'malformed': True,
    'entities': False,
    }

CONTROL_METHODS = ('add_fault', 'clear_faults', 'faults', 'received',
    'count', 'state', 'reset', 'set_option', 'options', 'info')

HTML_PAGE = b"""<!DOCTYPE html>
<html><head><title>503 Service Temporarily Unavailable</title></head>
<body><h1>Servicio no disponible</h1>
<p>The service is under maintenance. Please try again later.</p>
<hr><address>sandbox-proxy</address></body></html>
"""

HOSTILE_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE env:Envelope [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
<env:Body><Response xmlns="urn:einvoice-sandbox:hostile">
<Data>&lol9;</Data><File>&xxe;</File>
</Response></env:Body></env:Envelope>
"""


def hostile_xml(variant='all'):
    """The ``entities`` fault body: variant ``all`` (billion laughs +
    external entity), ``laughs`` or ``xxe`` (external entity only)."""
    lines = HOSTILE_XML.split(b'\n')
    if variant == 'xxe':
        lines = [l for l in lines if b'ENTITY lol' not in l]
        lines = [l.replace(b'&lol9;', b'x') for l in lines]
    elif variant == 'laughs':
        lines = [l.replace(b'&xxe;', b'x') for l in lines
            if b'ENTITY xxe' not in l]
    return b'\n'.join(lines)


def load_services(names=None, strict=False):
    """Instantiate services.  ``names``: service names of
    :data:`tests.sandbox.services.SERVICES`, ``module:Class`` strings,
    classes or instances; None = every registered service (those that fail
    to import are skipped with a warning unless ``strict``)."""
    from .services import SERVICES
    explicit = names is not None
    if names is None:
        names = list(SERVICES)
    result = []
    for item in names:
        if isinstance(item, str):
            target = SERVICES.get(item, item)
            try:
                module, _, cls = target.partition(':')
                if module.startswith('.'):
                    module = importlib.import_module(module, __package__)
                else:
                    module = importlib.import_module(module)
                item = getattr(module, cls)
            except Exception as e:
                if strict or explicit:
                    raise
                print('sandbox: service %s not loaded: %s' % (target, e),
                    file=sys.stderr)
                continue
        if isinstance(item, type):
            item = item()
        result.append(item)
    return result


def _json_copy(value):
    return json.loads(json.dumps(value))


class _Route:
    def __init__(self, service, path):
        self.service = service
        self.path = path
        self.ports = []


class SandboxCore:
    """The state of a running sandbox: services, routes, faults, records.
    Its public methods are the control API."""

    def __init__(self, services, latency=0.0, verbose=False):
        self.services = {}
        for service in services:
            if not service.name:
                raise ValueError('Service %r has no name' % service)
            if service.name in self.services:
                raise ValueError('Duplicate service %s' % service.name)
            self.services[service.name] = service
        self.latency = latency
        self.verbose = verbose
        self.lock = threading.RLock()
        self._faults = []
        self._received = []
        self._seq = 0
        self.tls_failures = []
        self.stopping = threading.Event()
        self.base_url = None
        self.post_routes = {}
        self.wsdl_routes = {}
        self.file_mounts = {}
        self.pki = None

    # -- set-up -------------------------------------------------------------
    def bind(self, base_url):
        "Compute routes and rewritten WSDLs for ``base_url``"
        self.base_url = base_url.rstrip('/')
        for service in self.services.values():
            service.attach(self)
            for wsdl_path in service.wsdl:
                data = self._rewrite_wsdl(service, wsdl_path)
                self.wsdl_routes[wsdl_path] = (service, data)
                filename = service.wsdl_file(wsdl_path)
                url_dir = wsdl_path.rsplit('/', 1)[0]
                self.file_mounts[url_dir] = (service, os.path.dirname(
                        filename), os.path.basename(filename), data)
            for path in service.paths:
                self._route(service, path)

    def _route(self, service, path, port=None):
        route = self.post_routes.get(path)
        if route is None:
            route = self.post_routes[path] = _Route(service, path)
        elif route.service is not service:
            raise ValueError('Path %s served by %s and %s' % (
                    path, route.service.name, service.name))
        if port and port not in route.ports:
            route.ports.append(port)
        return route

    def _rewrite_wsdl(self, service, wsdl_path):
        filename = service.wsdl_file(wsdl_path)
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        tree = etree.parse(filename, parser)
        root = tree.getroot()
        for svc in root.iter('{%s}service' % WSDL_NS):
            for port in svc.iter('{%s}port' % WSDL_NS):
                for ns in (WSDL_SOAP11_NS, WSDL_SOAP12_NS):
                    for address in port.findall('{%s}address' % ns):
                        path = service.port_path(wsdl_path, svc.get('name'),
                            port.get('name'), address.get('location', ''))
                        address.set('location', self.base_url + path)
                        self._route(service, path, port.get('name'))
        return etree.tostring(tree, xml_declaration=True, encoding='utf-8')

    # -- control API --
    def add_fault(self, service, operation='*', kind='latency', count=1,
            **params):
        if service not in self.services and service != '*':
            raise ValueError('Unknown service %r' % service)
        if (kind not in FAULT_KINDS and (service == '*' or kind not in
                    self.services[service].custom_fault_kinds())):
            raise ValueError('Unknown fault kind %r' % kind)
        fault = {'service': service, 'operation': operation or '*',
            'kind': kind, 'count': count, 'params': params}
        with self.lock:
            self._faults.append(fault)
        return _json_copy(fault)

    def clear_faults(self):
        with self.lock:
            self._faults = []

    def faults(self):
        with self.lock:
            return _json_copy(self._faults)

    def take_fault(self, service, operation):
        with self.lock:
            for fault in self._faults:
                if fault['service'] not in ('*', service):
                    continue
                if fault['operation'] not in ('*', operation):
                    continue
                if fault['count'] is not None:
                    fault['count'] -= 1
                    if fault['count'] <= 0:
                        self._faults.remove(fault)
                return copy.deepcopy(fault)
        return None

    def received(self, service=None, operation=None):
        with self.lock:
            return _json_copy([e for e in self._received
                    if service in (None, '*', e['service'])
                    and operation in (None, '*', e['operation'])])

    def count(self, service, operation, key, field='keys',
            processed_only=True):
        """How many times ``key`` appears in the ``field`` list of the
        summaries of the requests to service/operation (``'*'`` = any)."""
        total = 0
        with self.lock:
            for e in self._received:
                if service not in (None, '*', e['service']):
                    continue
                if operation not in (None, '*', e['operation']):
                    continue
                if processed_only and not e['processed']:
                    continue
                values = e['summary'].get(field) or []
                total += sum(1 for v in values
                    if v == key or (isinstance(v, list) and list(key
                                if isinstance(key, (list, tuple)) else [key])
                            == v))
        return total

    def state(self, service):
        svc = self.services[service]
        with svc.lock:
            return _json_copy(svc.state())

    def reset(self, options=True):
        "Forget faults, records, services' state (and options)"
        with self.lock:
            self._faults = []
            self._received = []
            self.tls_failures = []
        for svc in self.services.values():
            with svc.lock:
                svc.reset()
                if options:
                    svc.reset_options()

    def set_option(self, service, name, value):
        "Service option, or sandbox option (service '*': latency)"
        if service in (None, '*'):
            if name != 'latency':
                raise ValueError('Unknown sandbox option %r' % name)
            self.latency = float(value)
            return
        svc = self.services[service]
        with svc.lock:
            svc.set_option(name, value)

    def options(self, service):
        if service in (None, '*'):
            return {'latency': self.latency}
        return _json_copy(self.services[service].options)

    def info(self):
        services = {}
        for name, svc in self.services.items():
            services[name] = {
                'wsdl': [self.base_url + p + '?wsdl' for p in svc.wsdl],
                'endpoints': {r.path: r.ports
                    for r in self.post_routes.values() if r.service is svc},
                }
        result = {'url': self.base_url, 'services': services,
            'tls_failures': len(self.tls_failures), 'pid': os.getpid()}
        if self.pki is not None:
            result['pki_dir'] = self.pki.directory
            result['ca'] = self.pki.ca_path
        return result

    def call(self, method, args):
        if method not in CONTROL_METHODS:
            raise ValueError('Unknown control method %r' % method)
        return getattr(self, method)(**(args or {}))

    # -- records --
    def record(self, entry):
        with self.lock:
            self._seq += 1
            entry['seq'] = self._seq
            self._received.append(entry)
        return entry


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'EinvoiceSandbox/1.0'
    timeout = 300

    # -- helpers --
    @property
    def core(self):
        return self.server.core

    def log_message(self, format, *args):
        if self.core.verbose:
            super().log_message(format, *args)

    def _caller(self):
        cert = self.connection.getpeercert() or {}
        subject = {}
        for rdn in cert.get('subject', ()):
            for key, value in rdn:
                subject[key] = value
        serial = subject.get('serialNumber')
        return Caller(tax_id_from_serial(serial) or subject.get('commonName'),
            serial, subject.get('commonName'), subject)

    def _send(self, status, body, content_type='text/xml; charset=utf-8',
            headers=None, close=False):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _send_json(self, value, status=200):
        self._send(status, json.dumps(value).encode(),
            'application/json')

    def _read_body(self):
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip(), 16)
                if not size:
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b''.join(chunks)
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    # -- GET --
    def do_GET(self):
        parts = urlsplit(self.path)
        path, query = parts.path, parts.query
        if path.startswith('/_sandbox/'):
            return self._control_get(path, query)
        wsdl = self.core.wsdl_routes.get(path)
        if wsdl is not None and query.lower().split('&')[0] in (
                'wsdl', 'wsdl='):
            return self._send(200, wsdl[1])
        if '/' in path:
            url_dir, name = path.rsplit('/', 1)
            mount = self.core.file_mounts.get(url_dir)
            if mount is not None and name and not name.startswith('.'):
                service, directory, wsdl_name, wsdl_data = mount
                if name == wsdl_name:
                    return self._send(200, wsdl_data)
                filename = os.path.join(directory, name)
                if (os.path.dirname(os.path.abspath(filename))
                        == os.path.abspath(directory)
                        and os.path.isfile(filename)
                        and name.lower().endswith(('.xsd', '.wsdl'))):
                    with open(filename, 'rb') as fh:
                        return self._send(200, fh.read())
        if path in self.core.post_routes:
            return self._send(405, b'Use POST for SOAP requests\n',
                'text/plain')
        self._send(404, b'Not found\n', 'text/plain')

    do_HEAD = do_GET

    def _control_get(self, path, query):
        if path == '/_sandbox/info':
            return self._send_json(self.core.info())
        if path == '/_sandbox/received':
            args = {k: v[0] for k, v in parse_qs(query).items()}
            return self._send_json(self.core.received(**args))
        self._send(404, b'Not found\n', 'text/plain')

    # -- POST --
    def do_POST(self):
        parts = urlsplit(self.path)
        body = self._read_body()
        if parts.path == '/_sandbox/call':
            try:
                request = json.loads(body or b'{}')
                result = self.core.call(request['method'],
                    request.get('args'))
            except Exception as e:
                return self._send_json({'error': '%s: %s' % (
                            type(e).__name__, e)}, 400)
            return self._send_json({'result': result})
        route = self.core.post_routes.get(parts.path)
        if route is None:
            return self._send(404, b'Not found\n', 'text/plain')
        self._soap(route, parts, body)

    def _soap(self, route, parts, data):
        core = self.core
        service = route.service
        caller = self._caller()
        soap_action = self.headers.get('SOAPAction')
        content_type = self.headers.get('Content-Type', '')
        if soap_action is None and 'action=' in content_type:
            soap_action = content_type.split('action=', 1)[1].split(';')[0]
        soap_action = (soap_action or '').strip().strip('"')
        entry = {
            'service': service.name, 'operation': None,
            'caller': caller.tax_id, 'caller_name': caller.common_name,
            'time': time.time(), 'path': route.path,
            'port': route.ports[0] if len(route.ports) == 1 else None,
            'soap_action': soap_action, 'size': len(data),
            'processed': False, 'outcome': None, 'fault': None,
            'fault_code': None, 'fault_string': None, 'status': None,
            'summary': {},
            }
        ctx = RequestContext(service=service, path=route.path,
            query=parts.query, http_headers=dict(self.headers),
            soap_action=soap_action, soap_ns=SOAP11_NS, envelope=None,
            soap_headers=[], port=entry['port'], size=len(data),
            summary=entry['summary'])
        ctx.ports = tuple(route.ports)

        # parse and locate the operation
        body = None
        try:
            envelope = parse_xml(data)
            if envelope.tag not in ('{%s}Envelope' % SOAP11_NS,
                    '{%s}Envelope' % SOAP12_NS):
                raise XMLError('Not a SOAP envelope: %s' % envelope.tag)
            ctx.soap_ns = etree.QName(envelope).namespace
            ctx.envelope = envelope
            header = envelope.find('{%s}Header' % ctx.soap_ns)
            if header is not None:
                ctx.soap_headers = [c for c in header
                    if isinstance(c.tag, str)]
            body_el = envelope.find('{%s}Body' % ctx.soap_ns)
            children = [] if body_el is None else [c for c in body_el
                if isinstance(c.tag, str)]
            if not children:
                raise XMLError('Empty SOAP Body')
            body = children[0]
        except XMLError as e:
            kind = ('doctype' if 'DOCTYPE' in str(e) else 'malformed')
            fault = service.protocol_fault(kind, str(e), ctx)
            entry.update(outcome='protocol_fault')
            core.record(entry)
            return self._send_fault(fault, ctx, entry)
        operation = service.operation_for(body, ctx)
        entry['operation'] = operation
        try:
            entry['summary'].update(
                service.summarize(operation, body, caller, ctx) or {})
        except Exception as e:
            entry['summary']['error'] = 'summarize failed: %s' % e
        core.record(entry)

        fault = core.take_fault(service.name, operation)
        kind = fault['kind'] if fault else None
        params = fault['params'] if fault else {}
        entry['fault'] = kind
        process = params.get('process',
            FAULT_KINDS.get(kind, True) if kind else True)

        if kind and not process:
            return self._unprocessed_fault(kind, params, entry, ctx,
                service, operation)
        custom = None
        if kind and kind not in FAULT_KINDS:
            try:
                custom = service.custom_fault(kind, params, operation, ctx)
            except SoapFault as f:
                entry.update(outcome='fault')
                return self._send_fault(f, ctx, entry)

        if kind == 'hold':
            core.stopping.wait(float(params.get('seconds', 10)))
        # process
        status, payload, extra_headers = self._process(service, operation,
            body, caller, ctx, entry, custom)
        if core.latency:
            core.stopping.wait(core.latency)
        if kind == 'latency':
            core.stopping.wait(float(params.get('seconds', 1)))
        elif kind == 'drop_after' or (kind == 'hold' and params.get('drop')):
            self.close_connection = True
            entry['status'] = None
            return
        elif kind == 'truncated':
            self.send_response(status)
            self.send_header('Content-Type', self._ctype(ctx))
            self.send_header('Content-Length', str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[:len(payload) // 2])
            self.close_connection = True
            return
        elif kind == 'malformed':
            cut = payload.rfind(b'</')
            payload = payload[:max(cut, 1)] + b'<<</ broken & "unterminated'
            status = 200
        entry['status'] = status
        self._send(status, payload, self._ctype(ctx), extra_headers)

    def _ctype(self, ctx):
        if ctx.soap_ns == SOAP12_NS:
            return 'application/soap+xml; charset=utf-8'
        return 'text/xml; charset=utf-8'

    def _process(self, service, operation, body, caller, ctx, entry,
            custom=None):
        entry['processed'] = True
        try:
            if custom is not None:
                result = custom
            else:
                if service.should_validate(operation):
                    error = service.validate_body(operation, body)
                    if error is not None:
                        entry['outcome'] = 'schema_error'
                        raise service.schema_fault(operation, error, ctx)
                if service.serialize:
                    with service.lock:
                        result = service.handle(operation, body, caller, ctx)
                else:
                    result = service.handle(operation, body, caller, ctx)
        except SoapFault as f:
            entry['outcome'] = entry['outcome'] or 'fault'
            entry['fault_code'] = f.code
            entry['fault_string'] = f.string
            env = build_fault(f.code, f.string, f.detail, f.actor,
                soap_ns=ctx.soap_ns)
            return f.status, etree.tostring(env, xml_declaration=True,
                encoding='utf-8'), {}
        except Exception as e:
            import traceback
            traceback.print_exc()
            entry['outcome'] = 'error'
            env = build_fault('Server', 'Sandbox internal error: %s: %s' % (
                    type(e).__name__, e), soap_ns=ctx.soap_ns)
            return 500, etree.tostring(env, xml_declaration=True,
                encoding='utf-8'), {}
        entry['outcome'] = 'ok'
        if not isinstance(result, SoapResponse):
            result = SoapResponse(result)
        env = build_envelope(result.body, result.headers, soap_ns=ctx.soap_ns)
        return result.status, etree.tostring(env, xml_declaration=True,
            encoding='utf-8'), result.http_headers

    def _send_fault(self, fault, ctx, entry):
        entry['fault_code'] = fault.code
        entry['fault_string'] = fault.string
        entry['status'] = fault.status
        env = build_fault(fault.code, fault.string, fault.detail, fault.actor,
            soap_ns=ctx.soap_ns)
        self._send(fault.status, etree.tostring(env, xml_declaration=True,
                encoding='utf-8'), self._ctype(ctx))

    def _unprocessed_fault(self, kind, params, entry, ctx, service,
            operation):
        entry['outcome'] = 'injected'
        if kind in ('hang', 'hold'):
            self.core.stopping.wait(float(params.get('seconds',
                        120 if kind == 'hang' else 10)))
            self.close_connection = True
            return
        if kind == 'latency':
            self.core.stopping.wait(float(params.get('seconds', 1)))
            kind = 'soap_fault'
        if kind == 'drop_after':
            self.close_connection = True
            return
        if kind in ('http_500', 'http_503'):
            status = int(kind[-3:])
            entry['status'] = status
            return self._send(status, params.get('body', '%d %s\n' % (
                        status, 'Internal Server Error' if status == 500
                        else 'Service Unavailable')).encode(),
                'text/plain; charset=utf-8',
                {'Retry-After': '1'} if status == 503 else None)
        if kind == 'html':
            entry['status'] = 200
            return self._send(200, HTML_PAGE, 'text/html; charset=utf-8')
        if kind == 'entities':
            entry['status'] = 200
            return self._send(200, hostile_xml(params.get('variant', 'all')),
                self._ctype(ctx))
        if kind in ('soap_fault', 'truncated', 'malformed'):
            fault = SoapFault(params.get('faultcode', 'Server'),
                params.get('faultstring', 'Injected fault'),
                params.get('detail'))
            return self._send_fault(fault, ctx, entry)
        # service-specific kind
        try:
            result = service.custom_fault(kind, params, operation, ctx)
        except SoapFault as f:
            return self._send_fault(f, ctx, entry)
        if result is None:
            result = SoapResponse([])
        env = build_envelope(result.body, result.headers, soap_ns=ctx.soap_ns)
        entry['status'] = result.status
        self._send(result.status, etree.tostring(env, xml_declaration=True,
                encoding='utf-8'), self._ctype(ctx), result.http_headers)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128
    handshake_timeout = 10

    def __init__(self, address, core, ssl_context):
        self.core = core
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread, not in accept()
        request.settimeout(self.handshake_timeout)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.core.lock:
                self.core.tls_failures.append(str(e))
                del self.core.tls_failures[:-100]
            return
        try:
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout,
                    BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def _server_ssl_context(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.server_cert_path, pki.server_key_path)
    ctx.load_verify_locations(cafile=pki.ca_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class _LocalServer:
    "A running server in this process (background thread)"

    def __init__(self, pki, services, host, port, latency, faults,
            verbose=False):
        self.core = SandboxCore(load_services(services), latency, verbose)
        self.core.pki = pki
        self.httpd = _Server((host, port), self.core,
            _server_ssl_context(pki))
        self.port = self.httpd.server_address[1]
        self.url = 'https://%s:%d' % (host, self.port)
        self.core.bind(self.url)
        for fault in faults or ():
            self.core.add_fault(**fault)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
            kwargs={'poll_interval': 0.1}, name='einvoice-sandbox',
            daemon=True)
        self.thread.start()

    def call(self, method, **args):
        return _json_copy(self.core.call(method, args))

    def stop(self):
        self.core.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _RemoteServer:
    "A sandbox in a child process (``python -m tests.sandbox``)"

    def __init__(self, pki, services, host, port, latency, faults,
            verbose=False, python=None, startup_timeout=30):
        import requests
        fd, self.ready_file = tempfile.mkstemp(prefix='sandbox-ready-',
            suffix='.json', dir=pki.directory)
        os.close(fd)
        os.unlink(self.ready_file)
        cmd = [python or sys.executable, '-m', 'tests.sandbox',
            '--host', host, '--port', str(port), '--pki-dir', pki.directory,
            '--ready-file', self.ready_file, '--quiet']
        if latency:
            cmd += ['--latency', str(latency * 1000)]
        for name in services or ():
            if not isinstance(name, str):
                name = '%s:%s' % (name.__module__, name.__qualname__) \
                    if isinstance(name, type) else '%s:%s' % (
                        type(name).__module__, type(name).__qualname__)
            cmd += ['--service', name]
        if verbose:
            cmd.append('--verbose')
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [REPO_ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
        self.log_path = os.path.join(pki.directory, 'sandbox-%d.log' % (
                time.time_ns() % 10 ** 9))
        self.log = open(self.log_path, 'wb')
        self.process = _subprocess.Popen(cmd, cwd=REPO_ROOT, env=env,
            stdout=self.log, stderr=_subprocess.STDOUT,
            stdin=_subprocess.DEVNULL)
        deadline = time.time() + startup_timeout
        while not os.path.exists(self.ready_file):
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                with open(self.log_path, 'rb') as fh:
                    log = fh.read().decode(errors='replace')
                raise RuntimeError('Sandbox process failed to start:\n'
                    + log)
            time.sleep(0.02)
        with open(self.ready_file) as fh:
            ready = json.load(fh)
        self.url = ready['url']
        self.port = ready['port']
        self.pid = self.process.pid
        ident = pki.identities.get('test_company') or next(
            i for i in pki.identities.values()
            if not i.expired and not i.foreign_ca)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.cert = ident.cert
        self.session.verify = pki.ca_path
        for fault in faults or ():
            self.call('add_fault', **fault)

    def call(self, method, **args):
        response = self.session.post(self.url + '/_sandbox/call',
            json={'method': method, 'args': args}, timeout=60)
        data = response.json()
        if 'error' in data:
            raise ValueError(data['error'])
        return data['result']

    def stop(self):
        if getattr(self, 'session', None) is not None:
            self.session.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except _subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)


class Sandbox:
    """Handle on a running sandbox (in-process thread or child process).

    ``services``: names / ``module:Class`` / classes (instances only
    in-process); None = all registered.  ``pki``: a :class:`PKI`, or
    ``pki_dir`` to create/load one there (default: a new temp dir, removed
    at stop).  ``faults``: list of ``add_fault`` keyword dicts applied at
    start.  ``latency``: seconds added to every SOAP answer.
    """

    def __init__(self, services=None, *, pki=None, pki_dir=None,
            host='127.0.0.1', port=0, latency=0.0, faults=(),
            subprocess=False, verbose=False, python=None,
            startup_timeout=30):
        self.services = services
        self.pki = pki
        self.pki_dir = pki_dir
        self.host = host
        self._port = port
        self.latency = latency
        self.initial_faults = list(faults)
        self.subprocess = subprocess
        self.verbose = verbose
        self.python = python
        self.startup_timeout = startup_timeout
        self._server = None
        self._own_pki = False

    # -- life cycle --
    def start(self):
        if self._server is not None:
            return self
        if self.pki is None:
            self.pki = PKI.load_or_create(self.pki_dir)
            self._own_pki = self.pki_dir is None
        if self.subprocess:
            self._server = _RemoteServer(self.pki, self.services, self.host,
                self._port, self.latency, self.initial_faults, self.verbose,
                self.python, self.startup_timeout)
        else:
            self._server = _LocalServer(self.pki, self.services, self.host,
                self._port, self.latency, self.initial_faults, self.verbose)
        return self

    def stop(self):
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._own_pki:
            self.pki.cleanup()
            self.pki = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self):
        return self._server is not None

    # -- addresses --
    @property
    def url(self):
        return self._server.url

    @property
    def port(self):
        return self._server.port

    @property
    def pid(self):
        "Process id of the server (this process in-process)"
        return getattr(self._server, 'pid', os.getpid())

    @property
    def ca_path(self):
        return self.pki.ca_path

    @property
    def core(self):
        "The SandboxCore (in-process mode only)"
        return self._server.core

    def identity(self, name='es_company'):
        return self.pki.identities[name]

    def client_cert(self, identity='es_company'):
        "(cert_path, key_path) for requests' ``cert=``"
        return self.pki.identities[identity].cert

    def session(self, identity='es_company'):
        "A requests.Session with the identity's client cert, trusting the CA"
        import requests
        session = requests.Session()
        # without this, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the
        # environment silently override session.verify
        session.trust_env = False
        if identity is not None:
            session.cert = self.client_cert(identity)
        session.verify = self.ca_path
        return session

    def wsdl_url(self, service, index=0):
        "URL of the ``index``-th WSDL of ``service``"
        return self.info()['services'][service]['wsdl'][index]

    def endpoint(self, path):
        return self.url + path

    # -- control API --
    def _call(self, method, **args):
        return self._server.call(method, **args)

    def add_fault(self, service, operation='*', kind='latency', count=1,
            **params):
        """Inject ``kind`` into the next ``count`` calls (None = until
        cleared) of ``service``/``operation`` ('*' = any); see the module
        docstring for kinds and parameters."""
        return self._call('add_fault', service=service, operation=operation,
            kind=kind, count=count, **params)

    def clear_faults(self):
        return self._call('clear_faults')

    def faults(self):
        "Pending injected faults"
        return self._call('faults')

    def received(self, service=None, operation=None):
        """Requests received, oldest first: dicts with service, operation,
        caller, caller_name, time, path, port, soap_action, size,
        processed, outcome, fault, fault_code, fault_string, status,
        summary, seq."""
        return self._call('received', service=service, operation=operation)

    def count(self, service, operation, key, field='keys',
            processed_only=True):
        """How many processed requests to service/operation carried ``key``
        in their summary list ``field`` (plug-ins document their fields)."""
        return self._call('count', service=service, operation=operation,
            key=key, field=field, processed_only=processed_only)

    def state(self, service):
        return self._call('state', service=service)

    def reset(self, options=True):
        return self._call('reset', options=options)

    def set_option(self, service, name, value):
        return self._call('set_option', service=service, name=name,
            value=value)

    def options(self, service):
        return self._call('options', service=service)

    def info(self):
        return self._call('info')


class SandboxProcess(Sandbox):
    "A :class:`Sandbox` running in a child process"

    def __init__(self, services=None, **kwargs):
        kwargs['subprocess'] = True
        super().__init__(services, **kwargs)
