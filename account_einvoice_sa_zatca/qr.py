# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""ZATCA's QR code: TLV fields (1-byte tag, 1-byte length, UTF-8 value),
the whole base64-encoded.

Tags of a phase 2 invoice: 1 seller name, 2 seller VAT number, 3 issue
date and time, 4 ``PayableAmount``, 5 the first ``TaxTotal/TaxAmount``
(the tax total in SAR), texts as written in the XML; 6 the invoice hash
and 7 the signature (their base64 texts); 8 the public key (DER
SubjectPublicKeyInfo); 9 the signature of the certificate (simplified
invoices only)."""
import base64

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from trytond.modules.account_einvoice.signing import xml_root
from trytond.modules.account_einvoice.signing_zatca import (
    NS, zatca_invoice_hash)

MAX_LENGTH = 255
PATHS = {
    1: 'cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity'
    '/cbc:RegistrationName',
    2: 'cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme'
    '/cbc:CompanyID',
    4: 'cac:LegalMonetaryTotal/cbc:PayableAmount',
    5: 'cac:TaxTotal/cbc:TaxAmount',
    }


def _bytes(value):
    return value.encode('utf-8') if isinstance(value, str) else bytes(value)


def encode(pairs):
    """The base64 text of the TLV of pairs ((tag, str or bytes), …);
    ValueError for a value longer than 255 bytes"""
    data = bytearray()
    for tag, value in pairs:
        value = _bytes(value)
        if not 0 < tag < 256:
            raise ValueError(f'QR tag {tag} out of range')
        if len(value) > MAX_LENGTH:
            raise ValueError(
                f'QR tag {tag} holds {len(value)} bytes, '
                f'at most {MAX_LENGTH}')
        data += bytes([tag, len(value)]) + value
    return base64.b64encode(bytes(data)).decode('ascii')


def decode(text):
    "{tag: bytes} of a base64 TLV text; ValueError when malformed"
    data = base64.b64decode(text, validate=True)
    fields, index = {}, 0
    while index < len(data):
        if index + 2 > len(data):
            raise ValueError('truncated QR field')
        tag, length = data[index], data[index + 1]
        value = data[index + 2:index + 2 + length]
        if len(value) != length:
            raise ValueError(f'truncated QR tag {tag}')
        fields[tag] = value
        index += 2 + length
    return fields


def _text(root, path):
    element = root.find(path, NS)
    if element is None or element.text is None:
        raise ValueError(f'{path} is missing')
    return element.text


def invoice_qr(xml, certificate, signature, simplified=None):
    """The QR text of the signed invoice xml (bytes or element), signed
    with certificate; signature is the base64 ECDSA signature;
    simplified (default: from InvoiceTypeCode's name) adds tag 9."""
    root = xml_root(xml)
    if simplified is None:
        code = root.find('cbc:InvoiceTypeCode', NS)
        simplified = code is not None and code.get('name', '')[:2] == '02'
    pairs = [
        (1, _text(root, PATHS[1])),
        (2, _text(root, PATHS[2])),
        (3, _text(root, 'cbc:IssueDate') + 'T'
            + _text(root, 'cbc:IssueTime')),
        (4, _text(root, PATHS[4])),
        (5, _text(root, PATHS[5])),
        (6, zatca_invoice_hash(root)),
        (7, signature),
        (8, certificate.public_key().public_bytes(
                Encoding.DER, PublicFormat.SubjectPublicKeyInfo)),
        ]
    if simplified:
        pairs.append((9, certificate.signature))
    return encode(pairs)
