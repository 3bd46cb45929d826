# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The key and the certificate signing request of an EGS unit.

ZATCA issues the unit's certificates for a CSR of an EC secp256k1 key,
signed ECDSA-SHA256, with the subject ``C=SA, OU, O, CN``, the certificate
template name extension of the portal and a subject alternative name
holding the device serial, the VAT number, the invoice types, the location
and the industry (the attributes ZATCA's SDK writes: ``SN`` is OpenSSL's
short name of *surname*, 2.5.4.4, as in the certificates ZATCA issues)."""
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from trytond.i18n import gettext
from trytond.modules.account_einvoice.exceptions import OnboardingError

#: certificate template name (Microsoft's enrollment extension)
TEMPLATE_OID = ObjectIdentifier('1.3.6.1.4.1.311.20.2')
TEMPLATES = {
    'developer-portal': 'TSTZATCA-Code-Signing',
    'simulation': 'PREZATCA-Code-Signing',
    'core': 'ZATCA-Code-Signing',
    }
REGISTERED_ADDRESS = ObjectIdentifier('2.5.4.26')
VAT = re.compile(r'3\d{13}3\Z')
#: the configuration fields the CSR is made of
FIELDS = ['zatca_portal', 'zatca_invoice_types', 'zatca_solution_name',
    'zatca_model', 'zatca_serial', 'zatca_branch', 'zatca_industry',
    'zatca_location']


def new_key():
    "A new EC secp256k1 private key"
    return ec.generate_private_key(ec.SECP256K1())


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode('ascii')


def load_key(pem):
    if isinstance(pem, str):
        pem = pem.encode('ascii')
    return serialization.load_pem_private_key(pem, password=None)


def seller_vat(company):
    "The VAT number (identifier of type sa_vat) of company's party, or None"
    for identifier in company.party.identifiers:
        if identifier.type == 'sa_vat' and identifier.code:
            return identifier.code.strip()
    return None


def _field_label(configuration, name):
    return configuration.__class__.fields_get([name])[name]['string']


def check(configuration):
    """Raise OnboardingError naming the first field the CSR lacks or the
    invalid seller VAT; return the seller VAT"""
    for name in FIELDS:
        if not (getattr(configuration, name, None) or '').strip():
            raise OnboardingError(gettext(
                    'account_einvoice_sa_zatca.msg_csr_field_missing',
                    field=_field_label(configuration, name),
                    configuration=configuration.rec_name))
    company = configuration.company
    vat = seller_vat(company)
    if not vat:
        raise OnboardingError(gettext(
                'account_einvoice_sa_zatca.msg_csr_vat_missing',
                company=company.rec_name))
    if not VAT.match(vat):
        raise OnboardingError(gettext(
                'account_einvoice_sa_zatca.msg_csr_vat_invalid',
                company=company.rec_name, vat=vat))
    return vat


def common_name(configuration):
    "The unique name of the EGS unit: the solution and its serial"
    return (f'{configuration.zatca_solution_name.strip()}-'
        f'{configuration.zatca_serial.strip()}')


def device_serial(configuration):
    return '|'.join([
            f'1-{configuration.zatca_solution_name.strip()}',
            f'2-{configuration.zatca_model.strip()}',
            f'3-{configuration.zatca_serial.strip()}'])


def _utf8(oid, value):
    return x509.RelativeDistinguishedName([x509.NameAttribute(
                oid, value[:128], _type=_ASN1Type.UTF8String)])


def build_csr(key, configuration):
    """The CSR (x509.CertificateSigningRequest) of the unit for key;
    raise OnboardingError when the configuration cannot make one"""
    vat = check(configuration)
    company = configuration.company
    subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, 'SA'),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                configuration.zatca_branch.strip()[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                company.party.name.strip()[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME,
                common_name(configuration)[:64]),
            ])
    directory = x509.Name([
            _utf8(NameOID.SURNAME, device_serial(configuration)),
            _utf8(NameOID.USER_ID, vat),
            _utf8(NameOID.TITLE, configuration.zatca_invoice_types),
            _utf8(REGISTERED_ADDRESS, configuration.zatca_location.strip()),
            _utf8(NameOID.BUSINESS_CATEGORY,
                configuration.zatca_industry.strip()),
            ])
    template = TEMPLATES[configuration.zatca_portal].encode('ascii')
    # DER PrintableString, as the SDK's ASN1:PRINTABLESTRING:… writes it
    template = bytes([0x13, len(template)]) + template
    return (x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.UnrecognizedExtension(TEMPLATE_OID, template),
            critical=False)
        .add_extension(x509.SubjectAlternativeName(
                [x509.DirectoryName(directory)]), critical=False)
        .sign(key, hashes.SHA256()))


def csr_pem(csr):
    return csr.public_bytes(serialization.Encoding.PEM).decode('ascii')
