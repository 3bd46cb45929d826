# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Official WSDL/XSD files: located once, compiled once per process.

The trytond option ``[account_einvoice] schema_directory`` names a local
directory laid out like the authorities' files (``es_sii/...``,
``ar_afip/...``); without it, the cache filled by ``einvoice-schemas``
(``make schemas``, see schema_download.py).  When a file is missing there,
the official URL is used and fetched once per process through the verified
HTTPS client of the calls (``ca_bundle``, size and time limits), imports
included.
"""
import bisect
import copy
import os
import re
import threading
from functools import cache
from io import BytesIO

from lxml import etree

from trytond import config
from trytond.i18n import gettext

from .exceptions import SchemaError
from .schema_download import default_directory

XS = 'http://www.w3.org/2001/XMLSchema'
WSDL = 'http://schemas.xmlsoap.org/wsdl/'
_lock = threading.Lock()


def safe_parser():
    "A parser for untrusted XML: no DTD, no entities, no network"
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False,
        huge_tree=True, remove_comments=True)


def parse_untrusted(data):
    """Parse XML received from outside; refuse any document type declaration
    (entity tricks) instead of trying to defuse it."""
    root = etree.fromstring(data, safe_parser())
    if root.getroottree().docinfo.doctype:
        raise etree.XMLSyntaxError(
            "document type declarations are not accepted", None, 0, 0)
    return root


def schema_directory():
    "The configured directory, else the cache of ``einvoice-schemas``"
    return (config.get('account_einvoice', 'schema_directory')
        or default_directory())


def locate(relative, url=None):
    "Return a local path for relative (under the schema directory) or url"
    directory = schema_directory()
    if directory:
        path = os.path.join(directory, relative)
        if os.path.exists(path):
            return path
    if os.path.isabs(relative) and os.path.exists(relative):
        return relative
    if url:
        return url
    raise SchemaError(gettext(
            'account_einvoice.msg_schema_missing',
            name=relative, directory=directory or '-'))


def _is_url(location):
    return location.startswith(('https://', 'http://'))


def download(url, requests_session=None):
    "The content of a schema file at url, or SchemaError"
    from . import https
    try:
        return https.fetch(url, requests_session=requests_session)
    except Exception as exception:
        raise SchemaError(gettext(
                'account_einvoice.msg_schema_download_failed', url=url,
                error=f'{exception.__class__.__name__}: {exception}'))


def _zeep_transport():
    import zeep
    import zeep.cache

    from . import https

    class Transport(zeep.Transport):
        def _load_remote_data(self, url):
            return download(url, self.session)
    return Transport(
        cache=zeep.cache.InMemoryCache(), session=https.new_session())


@cache
def _wsdl_client(location, forbid_entities):
    import zeep
    settings = zeep.Settings(
        strict=False, xml_huge_tree=True, forbid_entities=forbid_entities)
    return zeep.Client(
        location, settings=settings, transport=_zeep_transport())


def wsdl_client(location, forbid_entities=True):
    "The zeep client for a WSDL, loaded once per process"
    with _lock:
        return _wsdl_client(location, forbid_entities)


def endpoint(location, service_name, port_name, operation,
        forbid_entities=True):
    "Return (address, SOAPAction) of operation on the WSDL port"
    client = wsdl_client(location, forbid_entities)
    port = client.wsdl.services[service_name].ports[port_name]
    soap_action = port.binding.get(operation).soapaction
    return port.binding_options['address'], soap_action or ''


class _Resolver(etree.Resolver):
    "Imports and includes at an URL come through the verified client"

    def resolve(self, url, pubid, context):
        if url and _is_url(url):
            return self.resolve_string(download(url), context, base_url=url)


def _schema_parser():
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_Resolver())
    return parser


@cache
def _xml_schema(location):
    parser = _schema_parser()
    if _is_url(location):
        document = etree.parse(
            BytesIO(download(location)), parser, base_url=location)
    else:
        document = etree.parse(location, parser)
    root = document.getroot()
    if root.tag == f'{{{WSDL}}}definitions':
        root = _schema_from_wsdl(root, parser)
    return etree.XMLSchema(root)


def _schema_from_wsdl(definitions, parser):
    "Build one schema document from the schema embedded in a WSDL"
    schemas = definitions.findall(f'{{{WSDL}}}types/{{{XS}}}schema')
    if len(schemas) != 1:
        raise ValueError("expected exactly one embedded schema")
    schema, = schemas
    nsmap = dict(definitions.nsmap)
    nsmap.update(schema.nsmap)
    nsmap.pop(None, None)
    # Made by the parser, the new document keeps its resolver and base URL
    # for the relative imports.
    root = parser.makeelement(schema.tag, nsmap=nsmap)
    root.getroottree().docinfo.URL = definitions.getroottree().docinfo.URL
    for name, value in schema.attrib.items():
        root.set(name, value)
    for child in schema:
        root.append(copy.deepcopy(child))
    return root


def xml_schema(location):
    "The compiled XMLSchema of an XSD (or a WSDL's embedded schema)"
    with _lock:
        return _xml_schema(location)


# lxml's enumeration errors list every allowed value (~250 countries)
_ENUMERATION = re.compile(r'\s*is not an element of the set \{.*?\}', re.S)
_NAMESPACE = re.compile(r"'\{[^{}']*\}")


def short_message(message):
    "A schema error naming the field and the value, without enumerations"
    message = _ENUMERATION.sub(' is not an allowed value', message)
    return _NAMESPACE.sub("'", message)


def validate_records(schema, body, records):
    """Validate body and attribute schema errors to its records.

    records maps a key to an element inside body.  Return
    ``(errors_by_key, general_errors)`` where each value is a list of
    messages; both are empty when the body is valid.
    """
    if schema.validate(body):
        return {}, []
    # Re-parse a pretty-printed copy so every element has its own line and
    # each error line falls inside the record that caused it.
    position = {element: i for i, element in enumerate(body.iter())}
    text = etree.tostring(body, pretty_print=True)
    copy_root = etree.fromstring(text, safe_parser())
    copies = list(copy_root.iter())
    spans = []
    for key, element in records.items():
        copied = copies[position[element]]
        last = max(e.sourceline for e in copied.iter())
        spans.append((copied.sourceline, last, key))
    spans.sort()
    lines = [start for start, _, _ in spans]
    schema.validate(copy_root)
    errors, general = {}, []
    for error in schema.error_log:
        index = bisect.bisect_right(lines, error.line) - 1
        if index >= 0:
            _, last, key = spans[index]
            if error.line <= last:
                errors.setdefault(key, []).append(
                    short_message(error.message))
                continue
        general.append(short_message(error.message))
    return errors, general
