"""HTTP request handler of the authority sandbox: serves WSDLs and XSDs,
the control API, SOAP requests (parsed, routed to their service,
recorded, with the injected faults of :mod:`tests.sandbox.faults`) and
JSON routes (:mod:`tests.sandbox.rest`).  On the open port (client
certificate optional) only the JSON routes of services declaring
``client_certificate = 'optional'`` are served."""
import http.server
import json
import os
import time
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from .clock import iso
from .core import (
    SOAP11_NS, SOAP12_NS, Caller, RequestContext, SoapFault, SoapResponse,
    XMLError, build_envelope, build_fault, parse_xml)
from .faults import FAULT_KINDS, HTML_PAGE, hostile_xml
from .pki import tax_id_from_serial
from .rest import serve_json


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

    def _json_route(self, parts):
        found = self.core.json_routes.get((self.command, parts.path))
        if found is None:
            return None
        if self._open and found[0].client_certificate != 'optional':
            return None
        return found

    @property
    def _open(self):
        return getattr(self.server, 'open', False)

    def _dispatch_json(self):
        "Serve a JSON route; False if there is none for this request"
        parts = urlsplit(self.path)
        found = self._json_route(parts)
        if found is None:
            if self._open:
                self._send(404, b'Not found\n', 'text/plain')
                return True
            return False
        serve_json(self, found[0], found[1], parts)
        return True

    def _other(self):
        if not self._dispatch_json():
            self._send(405, b'Method not allowed\n', 'text/plain')

    do_PUT = do_DELETE = do_PATCH = _other

    # -- GET --
    def do_GET(self):
        if self._dispatch_json():
            return
        parts = urlsplit(self.path)
        path, query = parts.path, parts.query
        if path.startswith(('/_sandbox/', '/control/')):
            return self._control_get(path, query)
        wsdl = self.core.wsdl_routes.get(path)
        if wsdl is not None and query.lower().split('&')[0] in (
                'wsdl', 'wsdl='):
            return self._send(200, wsdl[1])
        if '/' in path:
            url_dir, name = path.rsplit('/', 1)
            mount = self.core.file_mounts.get(url_dir)
            if mount is not None and name and not name.startswith('.'):
                service, directory, wsdls = mount
                if name in wsdls:
                    return self._send(200, wsdls[name])
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
        if path == '/control/clock':
            return self._send_json(self.core.clock())
        names = path.split('/')
        if (len(names) == 4 and names[3] == 'state'
                and names[2] in self.core.services):
            return self._send_json(self.core.state(names[2]))
        self._send(404, b'Not found\n', 'text/plain')

    # -- POST --
    def do_POST(self):
        if self._dispatch_json():
            return
        parts = urlsplit(self.path)
        body = self._read_body()
        if parts.path == '/control/clock':
            try:
                return self._send_json(self.core.set_clock(
                        **json.loads(body or b'{}')))
            except Exception as e:
                return self._send_json({'error': '%s: %s' % (
                            type(e).__name__, e)}, 400)
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
            'time': time.time(), 'received_at': iso(core.now()),
            'protocol': 'soap11', 'path': route.path,
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
            if ctx.soap_ns == SOAP12_NS:
                entry['protocol'] = 'soap12'
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
            if isinstance(fault, SoapResponse):
                # services answering malformed requests as the authority
                # does (e.g. SIFEN's 0160)
                entry['status'] = fault.status
                env = build_envelope(fault.body, fault.headers,
                    soap_ns=ctx.soap_ns)
                return self._send(fault.status, etree.tostring(env,
                        xml_declaration=True, encoding='utf-8'),
                    self._ctype(ctx), fault.http_headers)
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
        if kind in ('latency', 'slow_ack'):
            core.stopping.wait(float(params.get('seconds',
                        1 if kind == 'latency' else 2)))
        elif kind == 'redirect_303':
            entry['status'] = 303
            host, port = self.server.server_address[:2]
            return self._send(303, b'', 'text/plain', {'Location':
                    params.get('location', 'https://%s:%d/moved%s' % (
                            host, port, route.path))})
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
            return _fault_status(f, ctx), etree.tostring(env,
                xml_declaration=True, encoding='utf-8'), {}
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
        entry['status'] = _fault_status(fault, ctx)
        env = build_fault(fault.code, fault.string, fault.detail, fault.actor,
            soap_ns=ctx.soap_ns)
        self._send(entry['status'], etree.tostring(env,
                xml_declaration=True, encoding='utf-8'), self._ctype(ctx))

    def _unprocessed_fault(self, kind, params, entry, ctx, service,
            operation):
        entry['outcome'] = 'injected'
        if kind in ('hang', 'hold'):
            self.core.stopping.wait(float(params.get('seconds',
                        120 if kind == 'hang' else 10)))
            self.close_connection = True
            return
        if kind in ('latency', 'slow_ack'):
            self.core.stopping.wait(float(params.get('seconds', 1)))
            kind = 'soap_fault'
        if kind == 'redirect_303':
            entry['status'] = 303
            host, port = self.server.server_address[:2]
            return self._send(303, b'', 'text/plain', {'Location':
                    params.get('location', 'https://%s:%d/moved%s' % (
                            host, port, ctx.path))})
        if kind == 'http_429':
            entry['status'] = 429
            return self._send(429, b'429 Too Many Requests\n',
                'text/plain; charset=utf-8',
                {'Retry-After': str(params.get('seconds', 1))})
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
            return self._send(200, getattr(service, 'html_page', None)
                or HTML_PAGE, 'text/html; charset=utf-8')
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


def _fault_status(fault, ctx):
    "SOAP 1.2 over HTTP answers a Sender fault with 400, others with 500"
    if (ctx.soap_ns == SOAP12_NS and fault.status == 500
            and fault.code.rsplit('}', 1)[-1].rsplit(':', 1)[-1] in (
                'Client', 'Sender')):
        return 400
    return fault.status
