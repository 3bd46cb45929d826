# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The one HTTPS client of the authorities: verified TLS, bounded answers.

Every call (SOAP requests and schema downloads) checks the server
certificate against ``[account_einvoice] ca_bundle``, reads at most
``max_response_size`` bytes of answer and ends at ``call_deadline`` seconds
whatever the server does (a socket timeout only bounds each read).
"""
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.ssl_ import create_urllib3_context

from trytond import config

SECTION = 'account_einvoice'
#: how much of an answer refused as too large is kept in the history
STORED_PREFIX = 64 * 1024
_CHUNK = 64 * 1024
_local = threading.local()


class TooLarge(Exception):
    "The answer exceeds max_response_size; prefix holds its first bytes"

    def __init__(self, limit, prefix, reply):
        super().__init__(limit)
        self.limit = limit
        self.prefix = prefix
        self.reply = reply


class DeadlineExceeded(Exception):
    "The call lasted longer than its deadline and was cut"


def timeouts(timeout=None):
    "(connect, read) seconds; timeout replaces the configured read timeout"
    connect = config.getfloat(SECTION, 'connect_timeout', default=10)
    read = config.getfloat(SECTION, 'timeout', default=60)
    if timeout is not None:
        connect, read = min(connect, timeout), timeout
    return connect, read


def deadline(connect, read):
    "Seconds a whole call may last, sending and reading included"
    value = config.getfloat(SECTION, 'call_deadline', default=0)
    return value if value > 0 else connect + read + 60


def max_response_size():
    return config.getint(SECTION, 'max_response_size', default=50 * 2**20)


def verify():
    return config.get(SECTION, 'ca_bundle') or True


def seclevel_1_hosts():
    "Host names for which the TLS security level is lowered to 1"
    value = config.get(SECTION, 'tls_seclevel_1_hosts', default='') or ''
    return frozenset(h.strip().lower() for h in value.split(',')
        if h.strip() and '*' not in h)


def host(url):
    return (urlsplit(url).hostname or '').lower()


# -- the deadline --------------------------------------------------------
class _Watch:
    """Shut the call's sockets down when the deadline passes: a blocked
    send or read then fails at once."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.connections = []
        self.expired = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        _local.watch = self
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        _local.watch = None
        with self._lock:
            self.connections.clear()

    def add(self, connection):
        with self._lock:
            self.connections.append(connection)

    def _expire(self):
        with self._lock:
            self.expired = True
            for connection in self.connections:
                sock = getattr(connection, 'sock', None)
                if sock is None:
                    continue
                try:
                    # The plain socket call: SSLSocket.shutdown would change
                    # TLS state under the thread reading it.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except (OSError, ValueError):
                    pass


def _watch(connection):
    watch = getattr(_local, 'watch', None)
    if watch is not None:
        watch.add(connection)


class _WatchedMixin:
    def connect(self):
        _watch(self)
        return super().connect()

    def request(self, *args, **kwargs):
        _watch(self)
        return super().request(*args, **kwargs)


class _HTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    "An adapter whose connections obey the call deadline"

    def __init__(self, ssl_context=None, **kwargs):
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        if self._ssl_context is not None:
            kwargs['ssl_context'] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)
        self._watched(self.poolmanager)

    def proxy_manager_for(self, proxy, **kwargs):
        if self._ssl_context is not None:
            kwargs['ssl_context'] = self._ssl_context
        manager = super().proxy_manager_for(proxy, **kwargs)
        return self._watched(manager)

    @staticmethod
    def _watched(manager):
        manager.pool_classes_by_scheme = {
            'http': _HTTPPool, 'https': _HTTPSPool}
        return manager


def seclevel_1_context():
    """An SSL context accepting the keys of security level 1 (1024-bit DH
    and RSA); the certificate and the host name are still verified."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.set_ciphers('DEFAULT:@SECLEVEL=1')
    return context


def new_session(cert=None):
    "A requests session whose adapters obey the deadline and TLS options"
    session = requests.Session()
    if cert:
        session.cert = cert
    session.mount('https://', _Adapter())
    session.mount('http://', _Adapter())
    for name in seclevel_1_hosts():
        adapter = _Adapter(ssl_context=seclevel_1_context())
        # The longest matching prefix wins: only this host, any port.
        session.mount(f'https://{name}/', adapter)
        session.mount(f'https://{name}:', adapter)
    return session


def session(certificate=None):
    "The session of this thread for certificate (None: no client cert)"
    sessions = getattr(_local, 'sessions', None)
    if sessions is None:
        sessions = _local.sessions = {}
    cert = None
    if certificate:
        cert = (certificate.cert_path, certificate.key_path)
    # urllib3 loads the CA bundle and the client certificate into an SSL
    # context given to it: such a context must serve only one of each.
    key = (cert, seclevel_1_hosts(), verify())
    result = sessions.get(key)
    if result is None:
        result = sessions[key] = new_session(cert)
    return result


# -- calls ---------------------------------------------------------------
def _read(reply, limit):
    "The body of reply, raising TooLarge beyond limit bytes"
    length = reply.headers.get('Content-Length')
    if length and length.isdigit() and int(length) > limit:
        prefix = next(reply.iter_content(STORED_PREFIX), b'')
        raise TooLarge(limit, prefix[:STORED_PREFIX], reply)
    content = bytearray()
    for chunk in reply.iter_content(_CHUNK):
        content += chunk
        if len(content) > limit:
            raise TooLarge(limit, bytes(content[:STORED_PREFIX]), reply)
    return bytes(content)


def request(method, url, certificate=None, timeout=None, requests_session=None,
        **kwargs):
    """Make a call; return (reply, content, duration).

    Raise TooLarge, DeadlineExceeded or the exceptions of requests."""
    connect, read = timeouts(timeout)
    started = time.monotonic()
    if requests_session is None:
        requests_session = session(certificate)
    with _Watch(deadline(connect, read)) as watch:
        try:
            reply = requests_session.request(
                method, url, timeout=(connect, read), verify=verify(),
                stream=True, **kwargs)
            try:
                content = _read(reply, max_response_size())
            finally:
                reply.close()
        except TooLarge:
            raise
        except Exception as exception:
            if watch.expired:
                raise DeadlineExceeded(watch.seconds) from exception
            raise
    return reply, content, time.monotonic() - started


def fetch(url, requests_session=None):
    "GET url (a schema file): its content, or an exception"
    reply, content, _ = request('GET', url, requests_session=requests_session)
    reply.raise_for_status()
    return content
