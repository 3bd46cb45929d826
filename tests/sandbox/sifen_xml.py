"""SIFEN vocabulary for the sandbox: namespaces, the six WSDLs and their
schemas, CDC check digit, QR hash, times and the answers' elements."""
import datetime
import hashlib
import threading

from lxml import etree

from .core import Schema, load_schema, schema_path

__all__ = ['NS', 'DS', 'WSDLS', 'PATHS', 'OPERATIONS', 'wsdl_schema',
    'de_schema', 'check_digit', 'qr_hash', 'fec_utc', 'local_time', 'S',
    'res_proc', 'text', 'qualify']

NS = 'http://ekuatia.set.gov.py/sifen/xsd'
DS = 'http://www.w3.org/2000/09/xmldsig#'
#: SIFEN answers with this prefix: clients must not depend on it
NSMAP = {'ns2': NS}

#: URL path -> (WSDL file, XSD its ``<name>.wsdl.xsd1.xsd`` import stands
#: for (wsdl/README.md), request element, answer element)
WSDLS = {
    '/de/ws/sync/recibe.wsdl': ('py_sifen/wsdl/recibe.wsdl',
        'py_sifen/WS_SiRecepDE_v150.xsd', 'rEnviDe', 'rRetEnviDe'),
    '/de/ws/async/recibe-lote.wsdl': ('py_sifen/wsdl/recibe-lote.wsdl',
        'py_sifen/WS_SiRecepLoteDE_v141.xsd', 'rEnvioLote',
        'rResEnviLoteDe'),
    '/de/ws/consultas/consulta-lote.wsdl': (
        'py_sifen/wsdl/consulta-lote.wsdl',
        'py_sifen/WS_SiConsLote_v141.xsd', 'rEnviConsLoteDe',
        'rResEnviConsLoteDe'),
    '/de/ws/consultas/consulta.wsdl': ('py_sifen/wsdl/consulta.wsdl',
        'py_sifen/WS_SiConsDE_v141.xsd', 'rEnviConsDeRequest',
        'rEnviConsDeResponse'),
    '/de/ws/consultas/consulta-ruc.wsdl': ('py_sifen/wsdl/consulta-ruc.wsdl',
        'py_sifen/WS_SiConsRUC_v141.xsd', 'rEnviConsRUC', 'rResEnviConsRUC'),
    '/de/ws/eventos/evento.wsdl': ('py_sifen/wsdl/evento.wsdl',
        'py_sifen/WS_SiRecepEvento_v150.xsd', 'rEnviEventoDe',
        'rRetEnviEventoDe'),
    }
#: request element local name -> URL path
PATHS = {v[2]: k for k, v in WSDLS.items()}
OPERATIONS = {k: v[2] for k, v in WSDLS.items()}


class _ImportMap(etree.Resolver):
    "Maps the server-generated ``<name>.wsdl.xsd1.xsd`` to its XSD file"

    def __init__(self, target):
        super().__init__()
        self.target = target

    def resolve(self, url, pubid, context):
        if url.endswith('.wsdl.xsd1.xsd'):
            return self.resolve_filename(self.target, context)
        return None


_schemas = {}
_lock = threading.Lock()


def wsdl_schema(path):
    """The schema of the WSDL served at URL ``path``: its embedded
    ``xsd:schema`` with the import mapped (built once per process)"""
    wsdl_file, xsd_file = WSDLS[path][:2]
    with _lock:
        schema = _schemas.get(path)
        if schema is None:
            wsdl = schema_path(wsdl_file)
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            embedded = etree.parse(wsdl, parser).find(
                '{http://schemas.xmlsoap.org/wsdl/}types/'
                '{http://www.w3.org/2001/XMLSchema}schema')
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            parser.resolvers.add(_ImportMap(schema_path(xsd_file)))
            root = etree.fromstring(etree.tostring(embedded), parser,
                base_url=wsdl)
            schema = _schemas[path] = Schema(etree.XMLSchema(root))
        return schema


def de_schema():
    return load_schema('py_sifen/siRecepDE_v150.xsd')


def check_digit(digits):
    "Mod-11 check digit of SIFEN (CDC, RUC): weights 2..11 from the right"
    total, weight = 0, 2
    for char in reversed(''.join(
                c if c.isdigit() else str(ord(c)) for c in digits.upper())):
        total += int(char) * weight
        weight = 2 if weight == 11 else weight + 1
    rest = total % 11
    return str(11 - rest if rest > 1 else 0)


def qr_hash(parameters, csc):
    "cHashQR of the query string before ``&cHashQR=`` with the CSC"
    return hashlib.sha256((parameters + csc).encode('utf-8')).hexdigest()


def local_time(text, hours):
    "Epoch seconds of a SIFEN local time (no offset) at UTC+hours"
    moment = datetime.datetime.fromisoformat(text)
    return moment.replace(tzinfo=datetime.timezone(
            datetime.timedelta(hours=hours))).timestamp()


def fec_utc(timestamp, hours):
    "``fecUTC`` text (with the offset) of an epoch at UTC+hours"
    zone = datetime.timezone(datetime.timedelta(hours=hours))
    return datetime.datetime.fromtimestamp(int(timestamp), zone).isoformat()


def S(tag, *children):
    "An answer element of the SIFEN namespace (prefix ns2)"
    el = etree.Element('{%s}%s' % (NS, tag), nsmap=NSMAP)
    for child in children:
        if child is None:
            continue
        if isinstance(child, (list, tuple)):
            el.extend(c for c in child if c is not None)
        elif isinstance(child, etree._Element):
            el.append(child)
        else:
            el.text = str(child)
    return el


def res_proc(codes, limit=100):
    "gResProc elements of [(code, message)]"
    return [S('gResProc', S('dCodRes', code), S('dMsgRes', message[:255]))
        for code, message in codes[:limit]]


def text(element, path):
    "Text of the SIFEN-namespace path below element (None if absent)"
    found = element.find(qualify(path))
    return None if found is None else (found.text or '')


def qualify(path):
    "``a/b`` -> ``{NS}a/{NS}b`` (a leading ``.//`` is kept)"
    prefix = ''
    if path.startswith('.//'):
        prefix, path = './/', path[3:]
    return prefix + '/'.join('{%s}%s' % (NS, p) for p in path.split('/'))
