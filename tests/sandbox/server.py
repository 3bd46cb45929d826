"""HTTPS + mutual TLS + SOAP server of the authority sandbox.

No country knowledge lives here: services are plug-ins (see
:mod:`tests.sandbox.core`).  Start it from tests with::

    with Sandbox() as sb:                      # in-process, background thread
        sb.url, sb.port, sb.pki, sb.ca_path
        sb.wsdl_url('test_authority')          # served, addresses rewritten
        session = sb.session('es_company')     # requests.Session with mTLS
        sb.add_fault('test_authority', 'Submit', 'drop_after')
        sb.count('test_authority', 'Submit', 'INV-1')
        sb.open_url                            # client certificate optional
        sb.chain('TEST0001', 'CHAIN-A')        # test_chain: held documents
        sb.verifactu('B12345674')              # verifactu: held records
        sb.set_clock(offset=60)                # sandbox clock

    with Sandbox(subprocess=True) as sb:       # same API, separate process
        ...

Injected faults: :mod:`tests.sandbox.faults`; control API and records:
:mod:`tests.sandbox.control`; request handling:
:mod:`tests.sandbox.handler`; in-thread and child-process servers:
:mod:`tests.sandbox.hosting`.
"""
import os

from .control import CONTROL_METHODS, SandboxCore, load_services
from .faults import (  # noqa: F401
    FAULT_KINDS, HOSTILE_XML, HTML_PAGE, hostile_xml)
from .hosting import REPO_ROOT, _LocalServer, _RemoteServer  # noqa: F401
from .pki import PKI

__all__ = ['Sandbox', 'SandboxProcess', 'SandboxCore', 'CONTROL_METHODS',
    'FAULT_KINDS', 'load_services']


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
    def open_url(self):
        """Base URL of the port whose TLS asks for a client certificate
        without requiring one: only the JSON routes of services declaring
        ``client_certificate = 'optional'`` (None if there is none)"""
        return self._server.open_url

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

    def open_endpoint(self, path):
        "URL of ``path`` on the open port (see open_url)"
        return self.open_url + path

    # -- control API --
    def _call(self, method, **args):
        return self._server.call(method, **args)

    def add_fault(self, service, operation='*', kind='latency', count=1,
            **params):
        """Inject ``kind`` into the next ``count`` calls (None = until
        cleared) of ``service``/``operation`` ('*' = any); see
        :mod:`tests.sandbox.faults` for kinds and parameters."""
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

    def set_clock(self, offset=None, frozen=None, advance=None):
        """Sandbox clock: ``offset`` seconds from real time, or ``frozen``
        at an instant (ISO text, naive = UTC, datetime or epoch seconds);
        ``advance`` moves it forward; no argument = real time.  Returns
        :meth:`clock`.  ``reset()`` puts it back to real time."""
        if hasattr(frozen, 'isoformat'):
            frozen = frozen.isoformat()
        return self._call('set_clock', offset=offset, frozen=frozen,
            advance=advance)

    def clock(self):
        "{'now': iso, 'timestamp': epoch s, 'offset': s, 'frozen': iso}"
        return self._call('clock')

    def chain(self, issuer, chain, service='test_chain'):
        """Documents held by the chained authority for issuer + chain, in
        order: dicts with id, sequence, digest, previous, kind, status,
        code, message, reference, received_at"""
        chains = self.state(service)['chains']
        return chains.get(issuer, {}).get(chain, [])

    def verifactu(self, issuer, service='verifactu'):
        """What the VERI*FACTU service holds for an issuer NIF:
        ``{'records': [held records, arrival order], 'invoices': {key:
        registered/cancelled invoice}, 'not_before', 'requests'}`` (see
        :mod:`tests.sandbox.verifactu`)"""
        return self.state(service)['issuers'].get(issuer, {'records': [],
                'invoices': {}, 'not_before': None, 'requests': 0})


class SandboxProcess(Sandbox):
    "A :class:`Sandbox` running in a child process"

    def __init__(self, services=None, **kwargs):
        kwargs['subprocess'] = True
        super().__init__(services, **kwargs)
