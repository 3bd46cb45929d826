"""ZATCA onboarding for the ``zatca`` sandbox service: CSR checks and
credentials (compliance and production CSIDs) issued by the sandbox CA.

A credential is ``{"request_id", "token", "secret", "portal", "kind"
('compliance' or 'production'), "unit" ('<UID>|<SN>' of the SAN: the EGS
unit), "vat", "title", "serial" (decimal), "not_after", "passed" (the
document types that passed the compliance checks), "certificate" (the
DER, not in state())}``.

:func:`build_csr` makes a CSR as an EGS would (for tests), with fields
to spoil.
"""
import base64
import binascii
import datetime
import re
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .pki import _issue

__all__ = ['CSRError', 'TEMPLATES', 'TITLES', 'TEMPLATE_OID', 'read_csr',
    'build_csr', 'issue_credential', 'token_certificate', 'unit_of',
    'DOCUMENT_TYPES']

#: portal -> the template name its CSRs must carry
TEMPLATES = {
    'developer-portal': 'TSTZATCA-Code-Signing',
    'simulation': 'PREZATCA-Code-Signing',
    'core': 'ZATCA-Code-Signing',
    }
TEMPLATE_OID = ObjectIdentifier('1.3.6.1.4.1.311.20.2')
UID = ObjectIdentifier('0.9.2342.19200300.100.1.1')
REGISTERED_ADDRESS = ObjectIdentifier('2.5.4.26')
BUSINESS_CATEGORY = ObjectIdentifier('2.5.4.15')
SN = NameOID.SURNAME            # ZATCA's "SN" is 2.5.4.4
TITLE = NameOID.TITLE
#: title (functionality map) -> the document types the unit may issue
STANDARD = ('standard-388', 'standard-381', 'standard-383')
SIMPLIFIED = ('simplified-388', 'simplified-381', 'simplified-383')
DOCUMENT_TYPES = STANDARD + SIMPLIFIED
TITLES = {'1000': STANDARD, '0100': SIMPLIFIED, '1100': DOCUMENT_TYPES}
SERIAL_RE = re.compile(r'^1-[^|]+\|2-[^|]+\|3-[^|]+$')
VAT_RE = re.compile(r'^3\d{13}3$')
#: DER string tags a template name may use
_STRING_TAGS = {0x0c: 'utf-8', 0x13: 'ascii', 0x16: 'ascii',
    0x1e: 'utf-16-be'}


class CSRError(ValueError):
    "A CSR ZATCA would refuse; the message names what is wrong"


def _der_string(data):
    "The text of a DER-encoded string (short or long length form)"
    if len(data) < 2 or data[0] not in _STRING_TAGS:
        raise CSRError('template name: not a DER string')
    length, offset = data[1], 2
    if length & 0x80:
        size = length & 0x7f
        length = int.from_bytes(data[2:2 + size], 'big')
        offset = 2 + size
    if offset + length != len(data):
        raise CSRError('template name: bad DER length')
    return data[offset:].decode(_STRING_TAGS[data[0]])


def _one(name, oid, label):
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not str(values[0].value).strip():
        raise CSRError('%s missing' % label)
    return str(values[0].value)


def read_csr(data, portal):
    """Parse and check a CSR for portal; data is the API's ``csr`` (base64
    of the PEM) or PEM bytes.  Return ``(csr, fields)``, fields with
    ``vat``, ``serial_name`` (SN), ``title``, ``unit``; raise CSRError."""
    if isinstance(data, str):
        data = data.encode()
    if not data.lstrip().startswith(b'-----BEGIN'):
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise CSRError('csr is not base64')
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise CSRError('csr is not a PEM certificate request')
    if not csr.is_signature_valid:
        raise CSRError('CSR signature does not verify')
    key = csr.public_key()
    if not (isinstance(key, ec.EllipticCurvePublicKey)
            and isinstance(key.curve, ec.SECP256K1)):
        raise CSRError('key must be EC secp256k1')
    if not isinstance(csr.signature_hash_algorithm, hashes.SHA256):
        raise CSRError('CSR must be signed with ECDSA-SHA256')
    subject = csr.subject
    if _one(subject, NameOID.COUNTRY_NAME, 'subject C') != 'SA':
        raise CSRError('subject C must be SA')
    for oid, label in [(NameOID.ORGANIZATION_NAME, 'subject O'),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, 'subject OU'),
            (NameOID.COMMON_NAME, 'subject CN')]:
        _one(subject, oid, label)
    try:
        template = csr.extensions.get_extension_for_oid(TEMPLATE_OID).value
    except x509.ExtensionNotFound:
        raise CSRError('template name extension (1.3.6.1.4.1.311.20.2) '
            'missing')
    name = _der_string(template.value)
    if name != TEMPLATES[portal]:
        raise CSRError('template name %r is not %r (portal %s)'
            % (name, TEMPLATES[portal], portal))
    try:
        san = csr.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise CSRError('subjectAltName missing')
    names = san.get_values_for_type(x509.DirectoryName)
    if len(names) != 1:
        raise CSRError('subjectAltName must hold one dirName')
    directory = names[0]
    serial_name = _one(directory, SN, 'SAN SN')
    if not SERIAL_RE.match(serial_name):
        raise CSRError('SAN SN must be 1-…|2-…|3-…')
    vat = _one(directory, UID, 'SAN UID')
    if not VAT_RE.match(vat):
        raise CSRError('SAN UID must be a VAT number of 15 digits '
            'starting and ending with 3')
    title = _one(directory, TITLE, 'SAN title')
    if title not in TITLES:
        raise CSRError('SAN title must be 1000, 0100 or 1100')
    _one(directory, REGISTERED_ADDRESS, 'SAN registeredAddress')
    _one(directory, BUSINESS_CATEGORY, 'SAN businessCategory')
    return csr, {'vat': vat, 'serial_name': serial_name, 'title': title,
        'unit': unit_of(vat, serial_name), 'san': san}


def unit_of(vat, serial_name):
    "The key of an EGS unit"
    return '%s|%s' % (vat, serial_name)


def issue_credential(ca, csr, fields, portal, kind, validity_days=365,
        request_id=None, now=None):
    """A credential (see the module docstring) for csr's key and subject,
    issued by ca = (certificate, key)"""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    not_after = now + datetime.timedelta(days=float(validity_days))
    certificate = _issue(*ca, csr.subject, csr.public_key(),
        not_after=not_after, san=list(fields['san']))
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        'request_id': request_id or str(secrets.randbelow(10 ** 12)).zfill(
            12),
        'token': base64.b64encode(base64.b64encode(der)).decode(),
        'secret': secrets.token_urlsafe(24),
        'portal': portal,
        'kind': kind,
        'unit': fields['unit'],
        'vat': fields['vat'],
        'title': fields['title'],
        'serial': str(certificate.serial_number),
        'not_after': not_after.isoformat(timespec='seconds'),
        'passed': [],
        'certificate': der,
        }


def token_certificate(token):
    "The certificate of a binarySecurityToken"
    return x509.load_der_x509_certificate(
        base64.b64decode(base64.b64decode(token)))


def _der_utf8(text):
    data = text.encode()
    assert len(data) < 128
    return bytes([0x0c, len(data)]) + data


def build_csr(key=None, vat='399999999900003', serial_name=None,
        title='1100', portal='developer-portal', template=None,
        country='SA', organization='Sandbox Trading Co',
        unit='Riyadh Branch', common_name=None, curve=None,
        registered_address='RRRD2929', business_category='Trading',
        omit=()):
    """(PEM bytes, private key) of a CSR like an EGS makes; omit names
    parts to leave out (``'OU'``, ``'template'``, ``'businessCategory'``,
    ``'registeredAddress'``) to build refused ones."""
    if key is None:
        key = ec.generate_private_key(curve or ec.SECP256K1())
    serial_name = serial_name or '1-Sandbox|2-Test|3-%s' % (
        secrets.token_hex(8))
    subject = [x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME,
            common_name or 'TST-%s' % vat)]
    subject = [a for a in subject if not (
            a.oid == NameOID.ORGANIZATIONAL_UNIT_NAME and 'OU' in omit)]
    directory = [x509.NameAttribute(SN, serial_name),
        x509.NameAttribute(UID, vat),
        x509.NameAttribute(TITLE, title),
        x509.NameAttribute(REGISTERED_ADDRESS, registered_address),
        x509.NameAttribute(BUSINESS_CATEGORY, business_category)]
    directory = [a for a in directory if not (
            (a.oid == REGISTERED_ADDRESS and 'registeredAddress' in omit)
            or (a.oid == BUSINESS_CATEGORY
                and 'businessCategory' in omit))]
    builder = (x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .add_extension(x509.SubjectAlternativeName(
                [x509.DirectoryName(x509.Name(directory))]),
            critical=False))
    if 'template' not in omit:
        builder = builder.add_extension(x509.UnrecognizedExtension(
                TEMPLATE_OID, _der_utf8(template or TEMPLATES[portal])),
            critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM), key
