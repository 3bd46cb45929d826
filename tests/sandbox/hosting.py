"""Where a sandbox runs: a thread of this process (:class:`_LocalServer`)
or a child process, ``python -m tests.sandbox`` (:class:`_RemoteServer`);
both listen with HTTPS and mutual TLS, plus, when a service declares
``client_certificate = 'optional'``, an "open" port whose TLS asks for a
client certificate without requiring one (the handshake comes before the
HTTP request, so this cannot be decided per route on one port)."""
import http.server
import json
import os
import socket
import ssl
import subprocess as _subprocess
import sys
import tempfile
import threading
import time

from .control import SandboxCore, _json_copy, load_services
from .handler import _Handler

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128
    handshake_timeout = 10

    def __init__(self, address, core, ssl_context, open=False):
        self.core = core
        self.ssl_context = ssl_context
        #: serves only JSON routes with an optional client certificate
        self.open = open
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


def _server_ssl_context(pki, verify_mode=ssl.CERT_REQUIRED):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.server_cert_path, pki.server_key_path)
    ctx.load_verify_locations(cafile=pki.ca_path)
    ctx.verify_mode = verify_mode
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
        self.open_httpd = self.open_port = self.open_url = None
        if any(s.client_certificate == 'optional'
                for s in self.core.services.values()):
            self.open_httpd = _Server((host, 0), self.core,
                _server_ssl_context(pki, ssl.CERT_OPTIONAL), open=True)
            self.open_port = self.open_httpd.server_address[1]
            self.open_url = self.core.open_url = 'https://%s:%d' % (
                host, self.open_port)
        for fault in faults or ():
            self.core.add_fault(**fault)
        self.threads = []
        for httpd in filter(None, (self.httpd, self.open_httpd)):
            thread = threading.Thread(target=httpd.serve_forever,
                kwargs={'poll_interval': 0.1}, name='einvoice-sandbox',
                daemon=True)
            thread.start()
            self.threads.append(thread)

    def call(self, method, **args):
        return _json_copy(self.core.call(method, args))

    def stop(self):
        self.core.stopping.set()
        for httpd in filter(None, (self.httpd, self.open_httpd)):
            httpd.shutdown()
            httpd.server_close()
        for thread in self.threads:
            thread.join(5)


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
        self.open_url = ready.get('open_url')
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
