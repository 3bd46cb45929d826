"""Plug-in interface of the authority sandbox (no country knowledge here).

A service (an "authority") is one class deriving from :class:`SandboxService`
plus one line in :data:`tests.sandbox.services.SERVICES`.  The server
(:mod:`tests.sandbox.server`) does TLS, HTTP, SOAP envelopes, WSDL serving,
fault injection and recording; the service only sees parsed body elements.

Writing a service
=================

::

    from tests.sandbox.core import SandboxService, SoapFault, E

    class MyAuthority(SandboxService):
        name = 'my_authority'                 # used in the control API
        # URL path of the WSDL -> WSDL file (relative to the schema dir
        # EINVOICE_SCHEMA_DIR, default <repo>/../shared/schemas or the
        # `make schemas` cache, or absolute).  GET <path>?wsdl serves it
        # with every soap address rewritten to the sandbox; XSDs next to
        # the WSDL file are served by relative name next to <path>.
        wsdl = {'/my/v1': 'xx_my/My.wsdl'}
        # Files whose schemas validate request bodies (.xsd, or .wsdl for
        # schemas embedded in <wsdl:types>); None = no validation.
        schema = 'xx_my/My.wsdl'
        validate = True                 # or a set of operation names
        default_options = {'batch_limit': 1000}

        def port_path(self, wsdl_path, service, port, location):
            # where the given WSDL port is served (default: path of the
            # original location); e.g. move test ports elsewhere:
            return super().port_path(wsdl_path, service, port, location)

        def handle(self, operation, body, caller, ctx):
            # operation: WSDL operation name (found from the body element)
            # body: lxml element (first child of soap:Body)
            # caller: Caller (caller.tax_id from the client certificate)
            # ctx: RequestContext (path, port, soap_action, headers, ...)
            if caller.tax_id != body.findtext('...'):
                raise SoapFault('Client', 'Codigo[4114]...')
            ctx.note(accepted=['key1'])   # add to the inspection summary
            return E('{urn:x}Response', E('{urn:x}Status', 'OK'))
            # or a list of elements, or SoapResponse(body, headers=[...])

        def summarize(self, operation, body, caller, ctx):
            # JSON-able dict recorded for every request; 'keys' is what
            # Sandbox.count() looks at by default.
            return {'keys': [...]}

        def state(self):       # JSON-able dump of what the authority holds
            ...
        def reset(self):       # forget everything (options are kept)
            ...

Hooks with defaults: :meth:`SandboxService.schema_fault` (SOAP Fault for a
schema violation), :meth:`SandboxService.protocol_fault` (unparsable
request, DOCTYPE, unknown operation), :meth:`SandboxService.custom_fault`
(service-specific injected fault kinds, e.g. ``busy``), and
:meth:`SandboxService.operation_for` (body element -> operation name; by
default from the WSDL bindings).  ``handle`` runs under ``self.lock`` (one
request at a time per service) unless ``serialize = False``.

REST/JSON services declare ``json_routes`` instead of (or besides) WSDLs:
see :mod:`tests.sandbox.rest`.

Utilities: :func:`load_schema` (cached ``XMLSchema`` from ``.xsd`` or from
the embedded schemas of a ``.wsdl``), :func:`parse_xml` (safe parser),
:func:`build_envelope`, :func:`build_fault`, :func:`schema_path`.
"""
import os
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from lxml import etree

__all__ = ['SandboxService', 'SoapFault', 'SoapResponse', 'Caller',
    'RequestContext', 'E', 'load_schema', 'parse_xml', 'build_envelope',
    'build_fault', 'schema_dir', 'schema_path', 'SOAP11_NS', 'SOAP12_NS',
    'XMLError', 'wsdl_operations']

SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/'
SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope'
WSDL_NS = 'http://schemas.xmlsoap.org/wsdl/'
WSDL_SOAP11_NS = 'http://schemas.xmlsoap.org/wsdl/soap/'
WSDL_SOAP12_NS = 'http://schemas.xmlsoap.org/wsdl/soap12/'
XSD_NS = 'http://www.w3.org/2001/XMLSchema'

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
OWN_SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
    'schemas')


def schema_dir():
    "Directory of the official WSDL/XSD files"
    from tests.tools import official_schemas
    return os.environ.get('EINVOICE_SCHEMA_DIR') or official_schemas()


def schema_path(name):
    """Absolute path of a schema file: absolute paths are kept, relative ones
    are looked up in the sandbox's own ``schemas/`` then in
    :func:`schema_dir`."""
    if os.path.isabs(name):
        return name
    own = os.path.join(OWN_SCHEMA_DIR, name)
    if os.path.exists(own):
        return own
    return os.path.join(schema_dir(), name)


# -- XML utilities ------------------------------------------------------------

class XMLError(ValueError):
    "Raised by parse_xml for malformed or forbidden documents"


_parsers = threading.local()


def _parser():
    parser = getattr(_parsers, 'parser', None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(resolve_entities=False,
            no_network=True, load_dtd=False, huge_tree=True,
            remove_blank_text=False)
    return parser


def parse_xml(data):
    """Parse untrusted bytes safely; reject any DOCTYPE.  Returns the root
    element.  Raises :class:`XMLError`."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        raise XMLError('Malformed XML: %s' % e) from e
    if root is None:
        raise XMLError('Empty document')
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XMLError('DOCTYPE is not allowed')
    return root


class _ElementMaker:
    """Tiny element builder: ``E('{ns}Tag', child_or_text, ..., attr=v)``.
    ``None`` children are skipped, lists are flattened, other values are
    converted with ``str``."""

    def __call__(self, tag, *children, nsmap=None, **attrib):
        el = etree.Element(tag, nsmap=nsmap)
        for key, value in attrib.items():
            el.set(key, str(value))
        self._add(el, children)
        return el

    def _add(self, el, children):
        for child in children:
            if child is None:
                continue
            if isinstance(child, (list, tuple)):
                self._add(el, child)
            elif isinstance(child, etree._Element):
                el.append(child)
            else:
                text = str(child)
                if len(el):
                    last = el[-1]
                    last.tail = (last.tail or '') + text
                else:
                    el.text = (el.text or '') + text

    def ns(self, namespace):
        "Return a function building elements of ``namespace``"
        def make(tag, *children, **attrib):
            return self('{%s}%s' % (namespace, tag), *children, **attrib)
        return make


E = _ElementMaker()


# -- schemas ------------------------------------------------------------------

_schema_cache = {}
_schema_lock = threading.Lock()


class _EmbeddedResolver(etree.Resolver):
    def __init__(self, documents):
        super().__init__()
        self.documents = documents

    def resolve(self, url, pubid, context):
        if url in self.documents:
            # a distinct base URL per document (libxml2 loads a URL once),
            # in the WSDL's directory for relative imports
            return self.resolve_string(self.documents[url], context,
                base_url=url)
        return None


def _schema_parser(resolver=None):
    parser = etree.XMLParser(resolve_entities=False, no_network=True,
        huge_tree=True)
    if resolver is not None:
        parser.resolvers.add(resolver)
    return parser


def _build_schema(path):
    if path.endswith('.wsdl'):
        doc = etree.parse(path, _schema_parser())
        schemas = doc.getroot().findall(
            '{%s}types/{%s}schema' % (WSDL_NS, XSD_NS))
        if not schemas:
            raise ValueError('No embedded schema in %s' % path)
        if len(schemas) == 1:
            root = etree.fromstring(etree.tostring(schemas[0]),
                _schema_parser(), base_url=path)
            return etree.XMLSchema(root)
        # Several schemas: a wrapper schema imports each of them from
        # in-memory documents.  Namespaces the embedded schemas import
        # without a location resolve to the ones already loaded, so import
        # them in reverse order (dependencies usually come last).
        base = os.path.dirname(path)
        documents = {}
        wrapper = etree.Element('{%s}schema' % XSD_NS,
            nsmap={'xs': XSD_NS},
            targetNamespace='urn:einvoice-sandbox:wsdl-wrapper')
        for i, schema in reversed(list(enumerate(schemas))):
            url = os.path.join(base, 'sandbox-embedded-%d.xsd' % i)
            documents[url] = etree.tostring(schema)
            etree.SubElement(wrapper, '{%s}import' % XSD_NS,
                namespace=schema.get('targetNamespace', ''),
                schemaLocation=url)
        parser = _schema_parser(_EmbeddedResolver(documents))
        root = etree.fromstring(etree.tostring(wrapper), parser,
            base_url=os.path.join(base, 'sandbox-wrapper.xsd'))
        return etree.XMLSchema(root)
    return etree.XMLSchema(etree.parse(path, _schema_parser()))


class Schema:
    """A cached, thread-safe ``XMLSchema``: ``validate(element)`` returns
    None or the error message of the first violation."""

    def __init__(self, xmlschema):
        self.xmlschema = xmlschema
        self.lock = threading.Lock()

    def validate(self, element):
        with self.lock:
            if self.xmlschema.validate(element):
                return None
            errors = list(self.xmlschema.error_log)
        if not errors:
            return 'Invalid document'
        error = errors[0]
        return error.message


def load_schema(name):
    """Return a cached :class:`Schema` built from a ``.xsd`` file or from the
    schema(s) embedded in a ``.wsdl`` file (path as for
    :func:`schema_path`).  Built once per process."""
    path = schema_path(name)
    with _schema_lock:
        schema = _schema_cache.get(path)
        if schema is None:
            schema = _schema_cache[path] = Schema(_build_schema(path))
        return schema


def wsdl_operations(path):
    """Map the body element QNames of a WSDL's operations to their names.

    Returns ``{'{ns}Element': (operation, soap_action)}``, read from the
    bindings, port types and messages of the WSDL (document style)."""
    doc = etree.parse(path, _schema_parser()).getroot()
    tns = doc.get('targetNamespace')

    def qname(el, value):
        if value is None:
            return None
        if ':' in value:
            prefix, local = value.split(':', 1)
            return '{%s}%s' % (el.nsmap.get(prefix), local)
        return '{%s}%s' % (el.nsmap.get(None, tns), value)

    messages = {}
    for msg in doc.findall('{%s}message' % WSDL_NS):
        parts = msg.findall('{%s}part' % WSDL_NS)
        elements = [qname(p, p.get('element')) for p in parts
            if p.get('element')]
        messages['{%s}%s' % (tns, msg.get('name'))] = elements
    inputs = {}
    for port_type in doc.findall('{%s}portType' % WSDL_NS):
        for op in port_type.findall('{%s}operation' % WSDL_NS):
            inp = op.find('{%s}input' % WSDL_NS)
            if inp is not None:
                inputs[op.get('name')] = messages.get(
                    qname(inp, inp.get('message')), [])
    result = {}
    for binding in doc.findall('{%s}binding' % WSDL_NS):
        for op in binding.findall('{%s}operation' % WSDL_NS):
            name = op.get('name')
            action = None
            for ns in (WSDL_SOAP11_NS, WSDL_SOAP12_NS):
                soap_op = op.find('{%s}operation' % ns)
                if soap_op is not None:
                    action = soap_op.get('soapAction')
            for element in inputs.get(name, []):
                result.setdefault(element, (name, action))
    return result


# -- SOAP ---------------------------------------------------------------------

class SoapFault(Exception):
    """Raise from ``handle`` to answer a SOAP Fault.

    ``code`` is ``'Client'``/``'Server'`` (prefixed with the envelope's
    prefix ``env:``) or a full QName string; ``detail`` is an element, a
    list of elements, or a string."""

    def __init__(self, code, string, detail=None, actor=None, status=500,
            nsmap=None):
        super().__init__('%s: %s' % (code, string))
        self.code = code
        self.string = string
        self.detail = detail
        self.actor = actor
        self.status = status
        self.nsmap = nsmap


@dataclass
class SoapResponse:
    """Full control of a success answer: body element(s), SOAP header
    element(s), HTTP status and extra HTTP headers."""
    body: object
    headers: list = field(default_factory=list)
    status: int = 200
    http_headers: dict = field(default_factory=dict)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def build_envelope(body, headers=None, soap_ns=SOAP11_NS, prefix='env'):
    "Return a SOAP envelope element wrapping body/header element(s)"
    env = etree.Element('{%s}Envelope' % soap_ns, nsmap={prefix: soap_ns})
    header_items = _as_list(headers)
    if header_items:
        header = etree.SubElement(env, '{%s}Header' % soap_ns)
        header.extend(header_items)
    body_el = etree.SubElement(env, '{%s}Body' % soap_ns)
    body_el.extend(_as_list(body))
    return env


def build_fault(code, string, detail=None, actor=None, soap_ns=SOAP11_NS,
        prefix='env'):
    """Return a SOAP Fault envelope element (SOAP 1.1 ``faultcode`` /
    ``faultstring``; SOAP 1.2 ``Code/Value`` / ``Reason/Text``)."""
    if ':' not in code and not code.startswith('{'):
        if soap_ns == SOAP12_NS:
            code = {'Client': 'Sender', 'Server': 'Receiver'}.get(code, code)
        code = '%s:%s' % (prefix, code)
    env = etree.Element('{%s}Envelope' % soap_ns, nsmap={prefix: soap_ns})
    body = etree.SubElement(env, '{%s}Body' % soap_ns)
    fault = etree.SubElement(body, '{%s}Fault' % soap_ns)
    details = detail
    if soap_ns == SOAP12_NS:
        code_el = etree.SubElement(fault, '{%s}Code' % soap_ns)
        etree.SubElement(code_el, '{%s}Value' % soap_ns).text = code
        reason = etree.SubElement(fault, '{%s}Reason' % soap_ns)
        text = etree.SubElement(reason, '{%s}Text' % soap_ns)
        text.text = string
        text.set('{http://www.w3.org/XML/1998/namespace}lang', 'en')
        detail_tag = '{%s}Detail' % soap_ns
    else:
        etree.SubElement(fault, 'faultcode').text = code
        etree.SubElement(fault, 'faultstring').text = string
        if actor:
            etree.SubElement(fault, 'faultactor').text = actor
        detail_tag = 'detail'
    if details is not None:
        detail_el = etree.SubElement(fault, detail_tag)
        if isinstance(details, str):
            detail_el.text = details
        else:
            detail_el.extend(_as_list(details))
    return env


@dataclass
class Caller:
    "The client, as identified by its TLS certificate"
    tax_id: str
    serial_number: str = None
    common_name: str = None
    subject: dict = field(default_factory=dict)

    def as_dict(self):
        return {'tax_id': self.tax_id, 'serial_number': self.serial_number,
            'common_name': self.common_name}


@dataclass
class RequestContext:
    """Everything about one request besides the body element.

    ``port``: name of the WSDL port whose address is this path (None if
    ambiguous/unknown); ``soap_action``: the SOAPAction header (quotes
    stripped) or the SOAP 1.2 ``action`` content-type parameter;
    ``envelope``: the parsed envelope; ``soap_headers``: children of
    ``soap:Header``; ``summary``: the recorded inspection summary (update
    it with :meth:`note`)."""
    service: object
    path: str
    query: str
    http_headers: dict
    soap_action: str
    soap_ns: str
    envelope: object
    soap_headers: list
    port: str = None
    received_at: float = field(default_factory=time.time)
    size: int = 0
    summary: dict = field(default_factory=dict)

    def note(self, **values):
        "Add values to the inspection summary of this request"
        self.summary.update(values)


# -- the base class -----------------------------------------------------------

class SandboxService:
    """Base class of sandbox services (see the module docstring)."""

    #: short name used by the control API (``sb.count(name, ...)``)
    name = None
    #: the server core, set by :meth:`attach`
    core = None
    #: {url path of the WSDL: WSDL file (see schema_path)}
    wsdl = {}
    #: extra POST paths not declared as port addresses in the WSDLs
    paths = ()
    #: schema file(s) validating request bodies (.xsd or .wsdl) or None
    schema = None
    #: True (all operations), False, or a set of operation names
    validate = True
    #: handle() calls are serialized with self.lock
    serialize = True
    #: default values of the options (copied at reset of options)
    default_options = {}
    #: REST/JSON routes (:class:`tests.sandbox.rest.JsonRoute`)
    json_routes = ()
    #: 'optional': its JSON routes are also served on the port where TLS
    #: asks for a client certificate without requiring one (sb.open_url)
    client_certificate = 'required'
    #: bytes of a JSON request body beyond which it is refused (413)
    max_json_body = 8 * 1024 * 1024

    def __init__(self):
        self.lock = threading.RLock()
        self.options = dict(self.default_options)
        self._operations = None

    # -- routing ----------------------------------------------------------
    def attach(self, core):
        """Called by the server before routing: services that need the
        server (its CA, another service's state) keep it here."""
        self.core = core

    def port_path(self, wsdl_path, service, port, location):
        """URL path on the sandbox where WSDL port ``service``/``port``
        (original address ``location``) is served.  Default: the path of
        the original location (so ``/wsfev1/service.asmx`` stays)."""
        return urlparse(location).path or wsdl_path

    def wsdl_file(self, wsdl_path):
        return schema_path(self.wsdl[wsdl_path])

    @property
    def operations(self):
        "{body element QName: (operation name, soapAction)} from the WSDLs"
        if self._operations is None:
            ops = {}
            for path in self.wsdl:
                ops.update(wsdl_operations(self.wsdl_file(path)))
            self._operations = ops
        return self._operations

    def operation_for(self, body, ctx):
        "Name of the operation for body element ``body``"
        found = self.operations.get(body.tag)
        if found:
            return found[0]
        return etree.QName(body).localname

    # -- validation -------------------------------------------------------
    def should_validate(self, operation):
        if not self.schema or not self.validate:
            return False
        if self.validate is True:
            return True
        return operation in self.validate

    def validate_body(self, operation, body):
        "Return None or the schema error message"
        error = None
        for name in _as_list(self.schema):
            error = load_schema(name).validate(body)
            if error is None:
                return None
        return error

    def schema_fault(self, operation, message, ctx):
        "SOAP Fault for a schema violation (override for the exact text)"
        return SoapFault('Client', 'Schema violation: %s' % message)

    def protocol_fault(self, kind, message, ctx):
        """SOAP Fault for requests that cannot be dispatched: ``kind`` is
        ``malformed``, ``doctype``, ``not_soap`` or ``unknown_operation``
        (or a :class:`SoapResponse` answering them as the authority does;
        ``ctx.soap_ns`` may be set for an unparsable envelope)"""
        return SoapFault('Client', message)

    def custom_fault(self, kind, params, operation, ctx):
        """Injected fault kind unknown to the server (e.g. ``busy``):
        raise SoapFault / return a SoapResponse, or return None to process
        normally.  Called before processing."""
        raise ValueError('Unknown fault kind %r' % kind)

    def custom_fault_kinds(self):
        "Service-specific fault kinds accepted by add_fault"
        return ()

    # -- JSON routes (see tests.sandbox.rest) -----------------------------
    def authenticate(self, request):
        "None, or the JsonResponse refusing the caller (before parsing)"
        return None

    def summarize_json(self, operation, request):
        "Inspection summary of a JSON request (like summarize)"
        return {}

    def json_error(self, kind, detail):
        """JsonResponse refusing a request the server could not read:
        ``malformed``, ``too_large``, ``length_required``, ``media_type``"""
        from .rest import JsonResponse
        status = {'malformed': 400, 'too_large': 413, 'length_required': 411,
            'media_type': 415}[kind]
        return JsonResponse(status, {'error': kind, 'detail': detail})

    # -- processing -------------------------------------------------------
    def handle(self, operation, body, caller, ctx):
        raise NotImplementedError

    def summarize(self, operation, body, caller, ctx):
        "JSON-able dict recorded for inspection; 'keys' is counted by count()"
        return {}

    def state(self):
        "JSON-able dump of the held state"
        return {}

    def reset(self):
        "Forget the held state"

    def set_option(self, name, value):
        self.options[name] = value

    def reset_options(self):
        self.options = dict(self.default_options)
