# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""ZATCA (Saudi Arabia) invoice hash and signature.

ZATCA's signature is not a plain XMLDSig one (see the ZATCA part of
shared/reference/sa_zatca_py_sifen.md):
- the invoice hash is SHA-256 of the inclusive C14N 1.0 (lxml) of the
  invoice without ``ext:UBLExtensions``, ``cac:Signature`` and the QR
  ``cac:AdditionalDocumentReference``, the whitespace around them kept;
- the ECDSA secp256k1 signature is over those 32 bytes (not SignedInfo);
- the SignedProperties and certificate digests are base64 of the *hex*
  SHA-256, the certificate one over its base64 text.
What is hashed is what is sent: the signed bytes are never re-indented.
"""
import base64
import datetime as dt
import hashlib
from collections import namedtuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from .exceptions import SignatureError
from .signing import xml_root

UBL = 'urn:oasis:names:specification:ubl:schema:xsd:'
EXT = UBL + 'CommonExtensionComponents-2'
CAC = UBL + 'CommonAggregateComponents-2'
CBC = UBL + 'CommonBasicComponents-2'
SIG = UBL + 'CommonSignatureComponents-2'
SAC = UBL + 'SignatureAggregateComponents-2'
SBC = UBL + 'SignatureBasicComponents-2'
DS = 'http://www.w3.org/2000/09/xmldsig#'
XADES = 'http://uri.etsi.org/01903/v1.3.2#'
NS = {'ext': EXT, 'cac': CAC, 'cbc': CBC, 'ds': DS, 'xades': XADES}
C14N11 = 'http://www.w3.org/2006/12/xml-c14n11'
XPATH = 'http://www.w3.org/TR/1999/REC-xpath-19991116'
SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256'
#: what the invoice hash leaves out (the Reference's XPath transforms)
EXCLUDED = ('ext:UBLExtensions', 'cac:Signature',
    "cac:AdditionalDocumentReference[cbc:ID='QR']")
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
#: the hash standing for "no previous invoice" (first PIH)
FIRST_PIH = base64.b64encode(
    hashlib.sha256(b'0').hexdigest().encode()).decode()

ZatcaSigned = namedtuple('ZatcaSigned', ['xml', 'invoice_hash', 'signature'])


def _b64_hex_sha256(data):
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()


def _remove_keeping_tail(element):
    "Remove element, its tail (whitespace) staying in the document"
    parent, previous = element.getparent(), element.getprevious()
    if element.tail:
        if previous is not None:
            previous.tail = (previous.tail or '') + element.tail
        else:
            parent.text = (parent.text or '') + element.tail
    parent.remove(element)


def _without_excluded(root):
    for xpath in EXCLUDED:
        for element in root.xpath('//' + xpath, namespaces=NS):
            _remove_keeping_tail(element)


def _invoice_digest(root):
    copy = xml_root(etree.tostring(root))
    _without_excluded(copy)
    return hashlib.sha256(etree.tostring(copy, method='c14n')).digest()


def zatca_invoice_hash(data):
    "The invoice hash (base64 of SHA-256) of data, bytes or an element"
    return base64.b64encode(_invoice_digest(xml_root(data))).decode()


def certificate_text(certificate):
    "The certificate as ds:X509Certificate holds it: base64 of the DER"
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()


def zatca_certificate_digest(certificate):
    "xades:CertDigest: base64 of the hex SHA-256 of the base64 text"
    return _b64_hex_sha256(certificate_text(certificate).encode())


def zatca_issuer_name(certificate):
    "ds:X509IssuerName: the issuer's RDNs, last first, joined by ', '"
    return ', '.join(
        rdn.rfc4514_string() for rdn in reversed(certificate.issuer.rdns))


def zatca_signed_properties_digest(signed_properties):
    """The digest of xades:SignedProperties as ZATCA computes it: the
    element as serialised in the document with xmlns:xades on it and
    xmlns:ds on each ds:* child, i.e. its exclusive C14N (lxml) written
    back with empty elements self-closed, as lxml writes them."""
    c14n = etree.tostring(signed_properties, method='c14n', exclusive=True)
    return _b64_hex_sha256(etree.tostring(xml_root(c14n)))


def _add(parent, tag, text=None, nsmap=None, **attributes):
    element = etree.SubElement(parent, tag, attributes, nsmap=nsmap)
    element.text = text
    return element


def _signed_properties(parent, certificate, signing_time):
    properties = _add(
        parent, f'{{{XADES}}}SignedProperties', Id='xadesSignedProperties')
    signature_properties = _add(
        properties, f'{{{XADES}}}SignedSignatureProperties')
    _add(signature_properties, f'{{{XADES}}}SigningTime',
        signing_time.strftime('%Y-%m-%dT%H:%M:%S'))
    cert = _add(_add(signature_properties, f'{{{XADES}}}SigningCertificate'),
        f'{{{XADES}}}Cert')
    digest = _add(cert, f'{{{XADES}}}CertDigest')
    _add(digest, f'{{{DS}}}DigestMethod', Algorithm=SHA256)
    _add(digest, f'{{{DS}}}DigestValue', zatca_certificate_digest(certificate))
    issuer_serial = _add(cert, f'{{{XADES}}}IssuerSerial')
    _add(issuer_serial, f'{{{DS}}}X509IssuerName',
        zatca_issuer_name(certificate))
    _add(issuer_serial, f'{{{DS}}}X509SerialNumber',
        str(certificate.serial_number))
    return properties


def _signature(parent, invoice_hash, signature_value, certificate,
        signing_time):
    signature = _add(parent, f'{{{DS}}}Signature', nsmap={'ds': DS},
        Id='signature')
    signed_info = _add(signature, f'{{{DS}}}SignedInfo')
    _add(signed_info, f'{{{DS}}}CanonicalizationMethod', Algorithm=C14N11)
    _add(signed_info, f'{{{DS}}}SignatureMethod',
        Algorithm='http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256')
    reference = _add(signed_info, f'{{{DS}}}Reference',
        Id='invoiceSignedData', URI='')
    transforms = _add(reference, f'{{{DS}}}Transforms')
    for excluded in EXCLUDED:
        _add(_add(transforms, f'{{{DS}}}Transform', Algorithm=XPATH),
            f'{{{DS}}}XPath', f'not(//ancestor-or-self::{excluded})')
    _add(transforms, f'{{{DS}}}Transform', Algorithm=C14N11)
    _add(reference, f'{{{DS}}}DigestMethod', Algorithm=SHA256)
    _add(reference, f'{{{DS}}}DigestValue', invoice_hash)
    properties_reference = _add(signed_info, f'{{{DS}}}Reference',
        Type='http://www.w3.org/2000/09/xmldsig#SignatureProperties',
        URI='#xadesSignedProperties')
    _add(properties_reference, f'{{{DS}}}DigestMethod', Algorithm=SHA256)
    properties_digest = _add(properties_reference, f'{{{DS}}}DigestValue')
    _add(signature, f'{{{DS}}}SignatureValue', signature_value)
    _add(_add(_add(signature, f'{{{DS}}}KeyInfo'), f'{{{DS}}}X509Data'),
        f'{{{DS}}}X509Certificate', certificate_text(certificate))
    qualifying = _add(_add(signature, f'{{{DS}}}Object'),
        f'{{{XADES}}}QualifyingProperties', nsmap={'xades': XADES},
        Target='signature')
    properties = _signed_properties(qualifying, certificate, signing_time)
    return properties, properties_digest


def zatca_signature_block(root, invoice_hash, signature_value, certificate,
        signing_time):
    """Put the ext:UBLExtensions signature block first in the invoice root
    (replacing any), laid out as the ZATCA SDK writes it; return it."""
    for old in root.findall(f'{{{EXT}}}UBLExtensions'):
        _remove_keeping_tail(old)
    extensions = etree.SubElement(root, f'{{{EXT}}}UBLExtensions')
    root.insert(0, extensions)
    extensions.tail, root.text = root.text, None
    extension = _add(extensions, f'{{{EXT}}}UBLExtension')
    _add(extension, f'{{{EXT}}}ExtensionURI',
        'urn:oasis:names:specification:ubl:dsig:enveloped:xades')
    signatures = _add(_add(extension, f'{{{EXT}}}ExtensionContent'),
        f'{{{SIG}}}UBLDocumentSignatures',
        nsmap={'sig': SIG, 'sac': SAC, 'sbc': SBC})
    information = _add(signatures, f'{{{SAC}}}SignatureInformation')
    _add(information, f'{{{CBC}}}ID',
        'urn:oasis:names:specification:ubl:signature:1')
    _add(information, f'{{{SBC}}}ReferencedSignatureID',
        'urn:oasis:names:specification:ubl:signature:Invoice')
    properties, properties_digest = _signature(
        information, invoice_hash, signature_value, certificate,
        signing_time)
    etree.indent(extensions, space='    ')
    information.text = ' ' + information.text  # the SDK's stray space
    # Digested once in place: indentation is part of what ZATCA hashes.
    properties_digest.text = zatca_signed_properties_digest(properties)
    return extensions


def _check_key(key, certificate):
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256K1):
        raise ValueError('ZATCA signs with an EC secp256k1 key')
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if (key.public_key().public_bytes(*spki)
            != certificate.public_key().public_bytes(*spki)):
        raise ValueError('the key is not the certificate\'s')


def zatca_sign(data, key, certificate, signing_time=None):
    """Sign the invoice data (bytes or an element, left unchanged).

    Return ZatcaSigned(xml, invoice_hash, signature): the bytes to send
    (UTF-8, with the XML declaration), the invoice hash (base64, for the
    API body and the next PIH) and the ECDSA signature (base64, for the
    QR).  signing_time is a naive datetime written as is (default: now,
    UTC)."""
    _check_key(key, certificate)
    root = xml_root(etree.tostring(xml_root(data)))
    if signing_time is None:
        signing_time = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    digest = _invoice_digest(root)
    invoice_hash = base64.b64encode(digest).decode()
    signature = base64.b64encode(
        key.sign(digest, ec.ECDSA(hashes.SHA256()))).decode()
    zatca_signature_block(
        root, invoice_hash, signature, certificate, signing_time)
    xml = DECLARATION + etree.tostring(root, encoding='UTF-8')
    if zatca_invoice_hash(xml) != invoice_hash:
        raise SignatureError('the signed invoice hashes differently')
    return ZatcaSigned(xml, invoice_hash, signature)


def _text(root, path):
    element = root.find(path, NS)
    if element is None or not element.text:
        raise SignatureError(f'{path} is missing')
    return element.text.strip()


def zatca_verify(data, certificate=None):
    """Check every part of a ZATCA-signed invoice (bytes or an element):
    the invoice hash, the certificate and SignedProperties digests and the
    ECDSA signature with the embedded certificate, which must be
    certificate when given.  Return the embedded certificate; raise
    SignatureError naming the first mismatch."""
    root = xml_root(data)
    signature = './/ds:Signature[@Id="signature"]'
    try:
        embedded = x509.load_der_x509_certificate(base64.b64decode(
                _text(root, f'{signature}/ds:KeyInfo//ds:X509Certificate')))
    except ValueError as exception:
        raise SignatureError(f'unreadable certificate: {exception}')
    if certificate is not None and embedded != certificate:
        raise SignatureError('signed with another certificate')
    invoice_hash = _text(
        root, f'{signature}//ds:Reference[@Id="invoiceSignedData"]'
        '/ds:DigestValue')
    if invoice_hash != zatca_invoice_hash(root):
        raise SignatureError('the invoice hash does not match')
    properties = root.find(
        f'{signature}//xades:SignedProperties[@Id="xadesSignedProperties"]',
        NS)
    if properties is None:
        raise SignatureError('xades:SignedProperties is missing')
    if _text(properties, './/xades:CertDigest/ds:DigestValue') != (
            zatca_certificate_digest(embedded)):
        raise SignatureError('the certificate digest does not match')
    if _text(root, f'{signature}//ds:Reference[@URI="#xadesSignedProperties"]'
            '/ds:DigestValue') != zatca_signed_properties_digest(properties):
        raise SignatureError('the signed properties digest does not match')
    try:
        embedded.public_key().verify(
            base64.b64decode(_text(root, f'{signature}/ds:SignatureValue')),
            base64.b64decode(invoice_hash), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise SignatureError('the signature does not verify')
    return embedded
