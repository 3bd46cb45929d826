# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Download the authorities' official WSDL/XSD files into the schema cache.

``einvoice-schemas`` (``make schemas``) fetches every file listed in
``schemas/<folder>/SHA256SUMS`` from its published address through the
verified HTTPS client, points imports of a remote copy of a standard
schema (xmldsig) at the local copy beside them, checks each file against
its pinned digest and only then writes the folder into the cache.
"""
import hashlib
import os
import posixpath
import re
import tempfile
from collections import namedtuple
from urllib.parse import urlsplit

from lxml import etree

from . import https

DIGESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'schemas')
AEAT = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/')
XMLDSIG = 'https://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd'
XS = 'http://www.w3.org/2001/XMLSchema'
WSDL = 'http://schemas.xmlsoap.org/wsdl/'


class Source(namedtuple('Source', ['base', 'prefix', 'urls'])):
    """Where a folder's files are published: base + name without prefix,
    or the URL given for the name in urls"""

    def url(self, name):
        if name in self.urls:
            return self.urls[name]
        return self.base + name[len(self.prefix):]


SOURCES = {
    'es_sii': Source(AEAT + 'ssii_1_1_bis/fact/ws/', '', {}),
    'es_verifactu': Source(AEAT + 'tike/cont/ws/', '', {
            'xmldsig-core-schema.xsd': XMLDSIG,
            }),
    # The files the modules pin are the homologation WSDLs (their addresses
    # are the test hosts; production is chosen by endpoint).
    'ar_afip': Source(None, '', {
            'wsaa.wsdl': (
                'https://wsaahomo.afip.gov.ar/ws/services/LoginCms?wsdl'),
            'wsfev1.wsdl': (
                'https://wswhomo.afip.gov.ar/wsfev1/service.asmx?WSDL'),
            }),
    # SIFEN's WSDLs import a schema only SET's server makes: the client
    # needs none of them (it posts to their addresses), only the XSDs
    'py_sifen': Source('https://ekuatia.set.gov.py/sifen/xsd/', '', {}),
    'sa_zatca': Source(
        'https://docs.oasis-open.org/ubl/os-UBL-2.1/xsd/', 'UBL2.1/', {}),
    }
_REMOTE_IMPORT = re.compile(rb'schemaLocation="https?://[^"]*/([^"/]+)"')


class DownloadError(Exception):
    pass


def default_directory():
    "The cache used when [account_einvoice] schema_directory is not set"
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(cache, 'tryton-einvoice', 'schemas')


def digests(folder):
    "{relative name: sha256 hex} pinned for folder"
    result = {}
    with open(os.path.join(DIGESTS, folder, 'SHA256SUMS')) as fp:
        for line in fp:
            if line.strip():
                digest, name = line.split(None, 1)
                result[posixpath.normpath(name.strip())] = digest
    return result


def mirrored(url, base_url):
    "url with its scheme and host replaced by base_url (path and query kept)"
    if not base_url:
        return url
    parts = urlsplit(url)
    rest = parts.path + (f'?{parts.query}' if parts.query else '')
    return base_url.rstrip('/') + rest


def localize(name, content, names):
    "Point the imports of remote copies of files of the folder at them"
    directory = posixpath.dirname(name)

    def local(match):
        target = posixpath.join(directory, match.group(1).decode())
        if target in names:
            return b'schemaLocation="' + match.group(1) + b'"'
        return match.group(0)
    return _REMOTE_IMPORT.sub(local, content)


def imports(name, content):
    "Relative names of the files content imports or includes"
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(content, parser)
    locations = [e.get('schemaLocation') for e in root.iter(
            f'{{{XS}}}import', f'{{{XS}}}include', f'{{{XS}}}redefine')]
    locations += [e.get('location') for e in root.iter(f'{{{WSDL}}}import')]
    directory = posixpath.dirname(name)
    return {posixpath.normpath(posixpath.join(directory, location))
        for location in locations if location and '://' not in location}


def check(folder, name, content, expected):
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected:
        raise DownloadError(
            f"{folder}/{name}: SHA-256 {digest} is not the pinned {expected};"
            " the file was refused")


def cached(path, expected):
    "Whether path already holds the pinned content"
    if not os.path.isfile(path):
        return False
    with open(path, 'rb') as fp:
        return hashlib.sha256(fp.read()).hexdigest() == expected


def fetch(folder, base_url=None, directory=None, log=print):
    """Return {name: content} of folder, downloaded (or read from directory
    when already there) and checked; raise DownloadError"""
    pinned = digests(folder)
    source = SOURCES[folder]
    contents = {}
    for name, expected in sorted(pinned.items()):
        path = os.path.join(directory, folder, name) if directory else None
        if path and cached(path, expected):
            with open(path, 'rb') as fp:
                contents[name] = fp.read()
            continue
        url = mirrored(source.url(name), base_url)
        log(f"{folder}/{name} <- {url}")
        try:
            content = https.fetch(url)
        except Exception as exception:
            raise DownloadError(f"{folder}/{name}: download from {url} "
                f"failed: {exception.__class__.__name__}: {exception}")
        content = localize(name, content, pinned)
        check(folder, name, content, expected)
        contents[name] = content
    for name, content in contents.items():
        missing = imports(name, content) - set(pinned)
        if missing:
            raise DownloadError(f"{folder}/{name} imports "
                f"{', '.join(sorted(missing))}, which is not pinned")
    return contents


def write(directory, folder, contents):
    "Write the files of folder, each replaced at once"
    for name, content in contents.items():
        path = os.path.join(directory, folder, *name.split('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=os.path.dirname(path), prefix='.download-')
        try:
            with os.fdopen(descriptor, 'wb') as fp:
                fp.write(content)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
