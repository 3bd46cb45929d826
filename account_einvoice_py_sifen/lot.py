# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The xDE of ``rEnvioLote``: base64 of a zip holding one XML file,
``<rLoteDE>`` with the rDE of the lot (at most 50, of one type), nothing
between the tags."""
import base64
import binascii
import io
import zipfile

from lxml import etree

from trytond.modules.account_einvoice.schema import parse_untrusted

from .de import NS

MAX_DOCUMENTS = 50
FILE_NAME = 'lote.xml'
#: SIFEN refuses a lot larger than 10,000 KB (0270)
MAX_SIZE = 10_000 * 1024


def _strip_declaration(document):
    document = document.strip()
    if document.startswith(b'<?xml'):
        document = document[document.index(b'?>') + 2:].lstrip()
    return document


def pack(documents):
    "The base64 text of the zip of the rDE (bytes each)"
    if not 1 <= len(documents) <= MAX_DOCUMENTS:
        raise ValueError(f'a lot holds 1 to {MAX_DOCUMENTS} documents, '
            f'not {len(documents)}')
    content = b''.join(
        [b'<rLoteDE>'] + [_strip_declaration(d) for d in documents]
        + [b'</rLoteDE>'])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(FILE_NAME, content)
    return base64.b64encode(buffer.getvalue()).decode('ascii')


def unpack(text, limit=MAX_SIZE):
    """The rDE (bytes each) of a packed lot; ValueError when it is not one
    or any size (the base64, the zip's file, its entries) exceeds limit"""
    if len(text) > limit * 4 // 3 + 4:
        raise ValueError('the lot is too large')
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exception:
        raise ValueError(f'not base64: {exception}')
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exception:
        raise ValueError(f'not a zip: {exception}')
    with archive:
        entries = archive.infolist()
        if len(entries) != 1:
            raise ValueError(f'{len(entries)} files in the zip, not 1')
        entry, = entries
        if entry.file_size > limit:
            raise ValueError('the lot is too large')
        with archive.open(entry) as fp:
            # the declared size may lie: read no more than limit
            content = fp.read(limit + 1)
        if len(content) > limit:
            raise ValueError('the lot is too large')
    try:
        root = parse_untrusted(content)
    except etree.XMLSyntaxError as exception:
        raise ValueError(f'malformed XML: {exception}')
    if root.tag != 'rLoteDE':
        raise ValueError(f'the root is {root.tag}, not rLoteDE')
    documents = list(root)
    if not 1 <= len(documents) <= MAX_DOCUMENTS:
        raise ValueError(f'{len(documents)} documents in the lot')
    for document in documents:
        if document.tag != f'{{{NS}}}rDE':
            raise ValueError(f'{document.tag} in the lot, not rDE')
    return [etree.tostring(
            d, encoding='UTF-8', xml_declaration=False, with_tail=False)
        for d in documents]
