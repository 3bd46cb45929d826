"""Reading a ZATCA invoice for the ``zatca`` sandbox service: the
invoice hash, the QR TLV, the signature parts and the fields the checks
need.  The sandbox's own code (it checks the client's, so it shares none).
"""
import base64
import hashlib
import re
from dataclasses import dataclass, field

from lxml import etree

from .core import XMLError, parse_xml

__all__ = ['NS', 'FIRST_PIH', 'invoice_hash', 'read_qr', 'encode_qr',
    'Invoice', 'read_invoice', 'set_qr', 'signed_properties_digest',
    'b64_hex_sha256', 'MAX_DEPTH', 'MAX_BYTES']

_UBL = 'urn:oasis:names:specification:ubl:schema:xsd:'
NS = {
    'inv': _UBL + 'Invoice-2',
    'ext': _UBL + 'CommonExtensionComponents-2',
    'cac': _UBL + 'CommonAggregateComponents-2',
    'cbc': _UBL + 'CommonBasicComponents-2',
    'ds': 'http://www.w3.org/2000/09/xmldsig#',
    'xades': 'http://uri.etsi.org/01903/v1.3.2#',
    }
#: what the invoice hash leaves out
_LEFT_OUT = ('/inv:Invoice/ext:UBLExtensions', '/inv:Invoice/cac:Signature',
    "/inv:Invoice/cac:AdditionalDocumentReference[cbc:ID='QR']")
FIRST_PIH = base64.b64encode(
    hashlib.sha256(b'0').hexdigest().encode()).decode()
MAX_DEPTH = 40
MAX_BYTES = 2 * 1024 * 1024
_EMPTY = re.compile(r'<([A-Za-z_][\w.:-]*)((?:\s[^<>]*)?)></\1>')


def b64_hex_sha256(data):
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode()
        ).decode()


def _drop(element):
    "Take element out, the text after it staying where it was"
    parent = element.getparent()
    before = element.getprevious()
    tail = element.tail or ''
    if before is None:
        parent.text = (parent.text or '') + tail
    else:
        before.tail = (before.tail or '') + tail
    parent.remove(element)


def hash_digest(root):
    "SHA-256 of the C14N of a copy of root without the three parts"
    copy = parse_xml(etree.tostring(root))
    for path in _LEFT_OUT:
        for element in copy.xpath(path, namespaces=NS):
            _drop(element)
    return hashlib.sha256(etree.tostring(copy, method='c14n')).digest()


def invoice_hash(root):
    "The ZATCA invoice hash (base64 text) of an invoice element"
    return base64.b64encode(hash_digest(root)).decode()


def signed_properties_digest(element):
    """base64(hex(SHA-256)) of xades:SignedProperties written as ZATCA
    digests it: the exclusive C14N (namespaces declared where used) with
    empty elements self-closed as the document writes them"""
    text = etree.tostring(element, method='c14n', exclusive=True).decode()
    return b64_hex_sha256(_EMPTY.sub(r'<\1\2/>', text).encode())


def read_qr(text):
    """{tag: bytes} of a QR text (base64 of tag-length-value items);
    raises ValueError"""
    data = base64.b64decode(text, validate=True)
    tags, offset = {}, 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ValueError('truncated TLV')
        tag, length = data[offset], data[offset + 1]
        value = data[offset + 2:offset + 2 + length]
        if len(value) != length:
            raise ValueError('tag %d truncated' % tag)
        if tag in tags:
            raise ValueError('tag %d repeated' % tag)
        tags[tag] = value
        offset += 2 + length
    return tags


def encode_qr(tags):
    "base64 text of {tag: bytes or text}"
    data = b''
    for tag in sorted(tags):
        value = tags[tag]
        if isinstance(value, str):
            value = value.encode()
        if len(value) > 255:
            raise ValueError('tag %d longer than 255 bytes' % tag)
        data += bytes([tag, len(value)]) + value
    return base64.b64encode(data).decode()


def _depth(root):
    deepest, stack = 0, [(root, 1)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in element)
    return deepest


def parse_invoice(data):
    "The root of untrusted invoice bytes, bounded; raises XMLError"
    if len(data) > MAX_BYTES:
        raise XMLError('invoice over %d bytes' % MAX_BYTES)
    root = parse_xml(data)
    if _depth(root) > MAX_DEPTH:
        raise XMLError('invoice nested deeper than %d' % MAX_DEPTH)
    return root


@dataclass
class Invoice:
    "What the checks read from an invoice (texts as written)"
    root: object
    hash: str
    uuid: str = None
    number: str = None
    icv: str = None
    pih: str = None
    type_code: str = None
    type_name: str = None
    issue_date: str = None
    issue_time: str = None
    currency: str = None
    tax_currency: str = None
    seller_vat: str = None
    seller_name: str = None
    qr: str = None
    signature_value: str = None
    signed_hash: str = None
    certificate: str = None
    extra: dict = field(default_factory=dict)

    @property
    def simplified(self):
        return (self.type_name or '').startswith('02')

    @property
    def kind(self):
        "'standard-388', 'simplified-381', …"
        return '%s-%s' % ('simplified' if self.simplified else 'standard',
            self.type_code)

    def find(self, path):
        return self.root.find(path, NS)

    def findall(self, path):
        return self.root.findall(path, NS)

    def text(self, path):
        element = self.root.find(path, NS)
        if element is None or element.text is None:
            return None
        return element.text.strip()


_SIGNATURE = ('ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/'
    '{urn:oasis:names:specification:ubl:schema:xsd:'
    'CommonSignatureComponents-2}UBLDocumentSignatures/'
    '{urn:oasis:names:specification:ubl:schema:xsd:'
    'SignatureAggregateComponents-2}SignatureInformation/ds:Signature')


def read_invoice(root):
    "The Invoice of a parsed (schema-valid) root"
    invoice = Invoice(root, invoice_hash(root))
    text = invoice.text
    invoice.uuid = text('cbc:UUID')
    invoice.number = text('cbc:ID')
    invoice.issue_date = text('cbc:IssueDate')
    invoice.issue_time = text('cbc:IssueTime')
    invoice.type_code = text('cbc:InvoiceTypeCode')
    code = invoice.find('cbc:InvoiceTypeCode')
    invoice.type_name = code.get('name') if code is not None else None
    invoice.currency = text('cbc:DocumentCurrencyCode')
    invoice.tax_currency = text('cbc:TaxCurrencyCode')
    for reference in invoice.findall('cac:AdditionalDocumentReference'):
        name = (reference.findtext('cbc:ID', namespaces=NS) or '').strip()
        if name == 'ICV':
            invoice.icv = (reference.findtext('cbc:UUID', namespaces=NS)
                or '').strip()
        elif name in ('PIH', 'QR'):
            value = (reference.findtext(
                    'cac:Attachment/cbc:EmbeddedDocumentBinaryObject',
                    namespaces=NS) or '').strip()
            setattr(invoice, name.lower(), value)
    party = 'cac:AccountingSupplierParty/cac:Party/'
    invoice.seller_vat = text(party + 'cac:PartyTaxScheme/cbc:CompanyID')
    invoice.seller_name = text(
        party + 'cac:PartyLegalEntity/cbc:RegistrationName')
    signature = invoice.find(_SIGNATURE)
    if signature is not None:
        def part(path):
            found = signature.find(path, NS)
            return (found.text or '').strip() if found is not None else None
        invoice.signature_value = part('ds:SignatureValue')
        invoice.signed_hash = part(
            'ds:SignedInfo/ds:Reference[@Id="invoiceSignedData"]/'
            'ds:DigestValue')
        invoice.certificate = part('ds:KeyInfo/ds:X509Data/'
            'ds:X509Certificate')
        invoice.extra['signature'] = signature
    return invoice


def set_qr(data, qr):
    """The invoice bytes with qr in its QR AdditionalDocumentReference
    (added after the last AdditionalDocumentReference when missing); the
    invoice hash is unchanged"""
    root = parse_xml(data)
    cbc, cac = '{%s}' % NS['cbc'], '{%s}' % NS['cac']
    found = root.xpath("cac:AdditionalDocumentReference[cbc:ID='QR']",
        namespaces=NS)
    if found:
        reference = found[0]
    else:
        references = root.findall(cac + 'AdditionalDocumentReference')
        reference = etree.Element(cac + 'AdditionalDocumentReference')
        etree.SubElement(reference, cbc + 'ID').text = 'QR'
        etree.SubElement(etree.SubElement(reference, cac + 'Attachment'),
            cbc + 'EmbeddedDocumentBinaryObject', mimeCode='text/plain')
        # no whitespace of its own: the hash (which leaves it out) stays
        references[-1].addnext(reference)
        reference.tail = None
    binary = reference.find('cac:Attachment/cbc:EmbeddedDocumentBinaryObject',
        NS)
    binary.text = qr
    declaration = b''
    if data.lstrip().startswith(b'<?xml'):
        declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    return declaration + etree.tostring(root, encoding='UTF-8')
