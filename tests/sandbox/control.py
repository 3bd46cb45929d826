"""State of a running authority sandbox and its control API.

:class:`SandboxCore` holds the services, their routes and rewritten WSDLs,
the injected faults and the record of every request received.  Its public
methods are the control API: ``POST /_sandbox/call`` with JSON
``{"method": m, "args": {...}}`` (m in :data:`CONTROL_METHODS`) and
``GET /_sandbox/info``; both require a client certificate like everything
else.
"""
import copy
import importlib
import json
import os
import sys
import threading

from lxml import etree

from .clock import SandboxClock
from .core import WSDL_NS, WSDL_SOAP11_NS, WSDL_SOAP12_NS
from .faults import FAULT_KINDS

__all__ = ['SandboxCore', 'CONTROL_METHODS', 'load_services']

CONTROL_METHODS = ('add_fault', 'clear_faults', 'faults', 'received',
    'count', 'state', 'reset', 'set_option', 'options', 'info',
    'set_clock', 'clock')


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
        #: (method, path) -> (service, JsonRoute)
        self.json_routes = {}
        self.open_url = None
        self.sandbox_clock = SandboxClock()
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
                mount = self.file_mounts.setdefault(url_dir,
                    (service, os.path.dirname(filename), {}))
                mount[2][os.path.basename(filename)] = data
            for path in service.paths:
                self._route(service, path)
            for route in service.json_routes:
                key = (route.method.upper(), route.path)
                if key in self.json_routes:
                    raise ValueError('%s %s served twice' % key)
                self.json_routes[key] = (service, route)

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
        self.sandbox_clock.reset()
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
                'json_routes': [[m, self.base_url + p, r.operation]
                    for (m, p), (s, r) in self.json_routes.items()
                    if s is svc],
                }
        result = {'url': self.base_url, 'open_url': self.open_url,
            'services': services,
            'tls_failures': len(self.tls_failures), 'pid': os.getpid()}
        if self.pki is not None:
            result['pki_dir'] = self.pki.directory
            result['ca'] = self.pki.ca_path
        return result

    def set_clock(self, offset=None, frozen=None, advance=None):
        "See tests.sandbox.clock"
        return self.sandbox_clock.set(offset, frozen, advance)

    def clock(self):
        return self.sandbox_clock.describe()

    def now(self):
        "Epoch seconds on the sandbox clock"
        return self.sandbox_clock.now()

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
