"""A small hostile HTTPS server for the transport tests.

It answers like a misbehaving authority::

    with HostileServer(pki) as server:          # pki: tests.sandbox.pki.PKI
        server.url + '/huge?size=1000000'        # 'x' * size, Content-Length
        server.url + '/huge?size=1000000&chunked=1'  # no length, chunked
        server.url + '/trickle?interval=0.5'     # one byte per interval
        server.url + '/soap'                      # a small SOAP answer
        server.url + '/schemas/es_sii/SuministroLR.xsd'  # official files
        server.sent                               # body bytes written
        server.answer_posts('/huge?size=1000000') # any POST gets this
        server.reply(429, b'{}', 'application/json', {'Retry-After': '5'})
                                                  # any POST gets this answer
        server.requests, server.request_headers   # what the POSTs carried
        server.files['/any/path?query'] = b'...'  # served as is (a mirror)

``tls`` chooses the server side of the handshake: ``'default'`` (the
sandbox's server certificate), ``'weak_dh'`` (TLS 1.2, DHE only with a
1024-bit group: clients at security level 2 fail with DH_KEY_TOO_SMALL) or
``'weak_key'`` (a 1024-bit RSA certificate).  Every certificate is issued
by the sandbox CA for ``localhost`` and ``127.0.0.1``.  ``client_auth``
requires a client certificate of the sandbox CA (mutual TLS).
"""
import http.server
import ipaddress
import os
import ssl
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sandbox import pki as sandbox_pki

SCHEMAS = os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared',
        'schemas'))

# RFC 2409 Oakley group 2: the 1024-bit group weak servers still use.
DH_1024 = b"""-----BEGIN DH PARAMETERS-----
MIGHAoGBAP//////////yQ/aoiFowjTExmKLgNwc0SkCTgiKZ8x0Agu+pjsTmyJR
Sgh5jjQE3e+VGbPNOkMbMCsKbfJfFDdP4TVtbVHCReSFtXZiXn7G9ExC6aY37WsL
/1y29Aa37e44a/taiZ+lrp8kEXxLH+ZJKGZR7OZTgf//////////AgEC
-----END DH PARAMETERS-----
"""

SOAP_ANSWER = (b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv='
    b'"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    b'<Answer xmlns="urn:hostile">ok</Answer>'
    b'</soapenv:Body></soapenv:Envelope>')


def _rsa_certificate(pki, directory, bits):
    "Write an RSA server certificate of the sandbox CA; return the paths"
    if pki._ca is None:
        pki._load_ca()
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    cert = sandbox_pki._issue(*pki._ca,
        sandbox_pki._name('localhost', org='Hostile'), key.public_key(),
        server=True, san=[x509.DNSName('localhost'),
            x509.IPAddress(ipaddress.ip_address('127.0.0.1'))])
    cert_path = sandbox_pki._write(os.path.join(directory, f'rsa{bits}.crt'),
        sandbox_pki._pem_cert(cert))
    key_path = sandbox_pki._write(os.path.join(directory, f'rsa{bits}.key'),
        sandbox_pki._pem_key(key))
    return cert_path, key_path


def server_context(pki, tls='default', client_auth=False):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    directory = tempfile.mkdtemp(prefix='hostile-tls-')
    if tls == 'default':
        context.load_cert_chain(pki.server_cert_path, pki.server_key_path)
    elif tls == 'weak_dh':
        context.load_cert_chain(*_rsa_certificate(pki, directory, 2048))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers('DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0')
        path = os.path.join(directory, 'dh1024.pem')
        with open(path, 'wb') as fp:
            fp.write(DH_1024)
        context.load_dh_params(path)
    elif tls == 'weak_key':
        context.set_ciphers('DEFAULT:@SECLEVEL=0')
        context.load_cert_chain(*_rsa_certificate(pki, directory, 1024))
    else:
        raise ValueError(tls)
    if client_auth:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca_path)
    return context


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if self.path in self.server.files:
                self.server.downloads.append(self.path)
                self.answer(self.server.files[self.path], 'application/xml')
            elif url.path == '/huge':
                self.huge(int(params.get('size', 200 * 2**20)),
                    bool(params.get('chunked')))
            elif url.path == '/trickle':
                self.trickle(float(params.get('interval', 1)),
                    int(params.get('size', 1000)))
            elif url.path == '/soap':
                self.answer(SOAP_ANSWER, 'text/xml; charset=utf-8')
            elif url.path.startswith('/schemas/'):
                self.schema(url.path[len('/schemas/'):])
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                OSError):
            self.close_connection = True

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        self.server.requests.append(self.rfile.read(length))
        self.server.request_headers.append(dict(self.headers))
        if self.server.canned is not None:
            self.canned(*self.server.canned)
            return
        if self.server.post_answer:
            # Any SOAP path of an authority gets the chosen answer
            self.path = self.server.post_answer
        self.do_GET()

    def answer(self, body, content_type):
        self.send_response(200)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.write(body)

    def write(self, data):
        self.wfile.write(data)
        self.server.sent += len(data)

    def canned(self, status, body, content_type, headers):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.write(body)

    def huge(self, size, chunked):
        self.send_response(200)
        self.send_header('Content-Type', 'text/xml')
        if chunked:
            self.send_header('Transfer-Encoding', 'chunked')
        else:
            self.send_header('Content-Length', str(size))
        self.end_headers()
        block = b'x' * 65536
        left = size
        while left > 0:
            data = block[:left]
            if chunked:
                self.wfile.write(b'%x\r\n' % len(data))
            self.write(data)
            if chunked:
                self.wfile.write(b'\r\n')
            left -= len(data)
        if chunked:
            self.wfile.write(b'0\r\n\r\n')

    def trickle(self, interval, size):
        self.send_response(200)
        self.send_header('Content-Type', 'text/xml')
        self.send_header('Content-Length', str(size))
        self.end_headers()
        self.wfile.flush()
        for _ in range(size):
            self.write(b'<')
            self.wfile.flush()
            time.sleep(interval)
            if self.server.stopping.is_set():
                break
        self.close_connection = True

    def schema(self, relative):
        path = os.path.normpath(os.path.join(SCHEMAS, relative))
        if not path.startswith(SCHEMAS + os.sep) or not os.path.isfile(path):
            self.send_error(404)
            return
        self.server.downloads.append(relative)
        with open(path, 'rb') as fp:
            self.answer(fp.read(), 'application/xml')


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, context):
        super().__init__(address, _Handler)
        self.context = context
        self.sent = 0
        self.requests = []
        self.request_headers = []
        self.downloads = []
        self.files = {}
        self.post_answer = None
        self.canned = None
        self.stopping = threading.Event()

    def get_request(self):
        sock, address = super().get_request()
        sock.settimeout(10)
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            # The client refused our weak parameters: that is the test.
            request.close()
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


class HostileServer:
    "See the module docstring"

    def __init__(self, pki, tls='default', client_auth=False):
        self.server = _Server(
            ('127.0.0.1', 0), server_context(pki, tls, client_auth))
        self.port = self.server.server_address[1]
        self.url = f'https://127.0.0.1:{self.port}'
        self.localhost_url = f'https://localhost:{self.port}'
        self.thread = None

    @property
    def sent(self):
        return self.server.sent

    @property
    def downloads(self):
        return self.server.downloads

    @property
    def files(self):
        return self.server.files

    @property
    def requests(self):
        return self.server.requests

    @property
    def request_headers(self):
        return self.server.request_headers

    def reset(self):
        self.server.sent = 0
        self.server.requests.clear()
        self.server.request_headers.clear()
        self.server.downloads.clear()
        self.server.post_answer = None
        self.server.canned = None

    def reply(self, status, body, content_type, headers=None):
        "Answer every POST with this status, body and headers"
        self.server.canned = (status, body, content_type, headers or {})

    def answer_posts(self, path):
        "Answer every POST like a GET of path (e.g. '/huge?size=100')"
        self.server.post_answer = path

    def start(self):
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={'poll_interval': 0.05},
            daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
