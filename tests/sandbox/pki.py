"""Throw-away PKI for the authority sandbox.

Everything is generated with ``cryptography`` (EC P-256 keys, so creation
takes a few milliseconds) into a directory:

* ``ca.crt.pem`` / ``ca.key.pem``: the sandbox CA, the only CA the server
  trusts for client certificates and the CA clients use to verify the server;
* ``server.crt.pem`` / ``server.key.pem``: server certificate for
  ``127.0.0.1`` and ``localhost`` (SAN IP + DNS);
* ``<identity>.crt.pem`` / ``<identity>.key.pem`` for every client identity
  (unencrypted PEM), plus ``<identity>.p12`` (PKCS#12, password ``sandbox``)
  for the identities created with ``p12=True`` (``es_company`` by default);
* ``pki.json``: a manifest so that another process can load the same PKI
  (:meth:`PKI.load`).

Client certificates carry the taxpayer id in the subject ``serialNumber``
attribute, like real Spanish (FNMT: ``IDCES-<NIF>``) and Argentine
(``CUIT <cuit>``) certificates, plus a ``CN`` with a name.  The server derives
the caller id from it with :func:`tax_id_from_serial`.

Usage::

    pki = PKI.create()                       # temp dir
    pki = PKI.create('/some/dir')            # given dir
    ident = pki.identities['es_company']
    ident.tax_id, ident.cert_path, ident.key_path, ident.p12_path
    pki.add_identity('es_third', 'A58818501', serial_prefix='IDCES-')
"""
import datetime
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ['PKI', 'Identity', 'IdentitySpec', 'DEFAULT_IDENTITIES',
    'tax_id_from_serial', 'P12_PASSWORD']

P12_PASSWORD = 'sandbox'

# Prefixes stripped from the subject serialNumber to get the taxpayer id.
SERIAL_PREFIXES = ('IDCES-', 'VATES-', 'CUIT ', 'CUIT-', 'CUIL ', 'RUC')


def tax_id_from_serial(serial):
    "Return the taxpayer id carried by a certificate subject serialNumber"
    if not serial:
        return None
    serial = serial.strip()
    for prefix in SERIAL_PREFIXES:
        if serial.upper().startswith(prefix):
            return serial[len(prefix):].strip()
    return serial


@dataclass
class IdentitySpec:
    name: str
    tax_id: str
    common_name: str = ''
    serial_prefix: str = ''
    country: str = ''
    expired: bool = False
    foreign_ca: bool = False
    p12: bool = False
    rsa: bool = False


def _default_specs():
    from stdnum.ar import cuit
    from stdnum.es import cif, nif

    def es_company(base):
        number = base + cif.calc_check_digits(base)[0]
        assert nif.is_valid(number), number
        return number

    ar = '3071234567'
    ar = ar + cuit.calc_check_digit(ar)
    assert cuit.is_valid(ar), ar
    return [
        IdentitySpec('es_company', es_company('B1234567'),
            'SANDBOX EMPRESA SL', 'IDCES-', 'ES', p12=True),
        IdentitySpec('es_other', es_company('B8765432'),
            'SANDBOX OTRA EMPRESA SL', 'IDCES-', 'ES'),
        IdentitySpec('ar_company', ar, 'SANDBOX EMPRESA SA', 'CUIT ', 'AR'),
        # a Saudi VAT number: 15 digits, the first and the last 3
        IdentitySpec('sa_company', '310123456700003',
            'SANDBOX SAUDI COMPANY LLC', '', 'SA'),
        # SIFEN: the RUC and its check digit (the SET sample issuer)
        IdentitySpec('py_company', '80013884-8', 'SANDBOX PARAGUAY SA',
            'RUC', 'PY', p12=True, rsa=True),
        IdentitySpec('test_company', 'TEST0001', 'Sandbox Test Company'),
        IdentitySpec('expired', 'EXPIRED01', 'Sandbox Expired Company',
            expired=True),
        IdentitySpec('unknown_ca', 'UNKNOWN01', 'Sandbox Unknown CA Company',
            foreign_ca=True),
        ]


DEFAULT_IDENTITIES = _default_specs()


@dataclass
class Identity:
    name: str
    tax_id: str
    serial_number: str
    common_name: str
    cert_path: str
    key_path: str
    p12_path: str = None
    p12_password: str = None
    expired: bool = False
    foreign_ca: bool = False

    @property
    def cert(self):
        "(cert, key) tuple as expected by requests' ``cert=``"
        return (self.cert_path, self.key_path)


def _new_key(rsa_key=False):
    if rsa_key:  # SIFEN signs with RSA-SHA256
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name, serial=None, country=None, org=None):
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _write(path, data):
    with open(path, 'wb') as fh:
        fh.write(data)
    return path


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _make_ca(common_name):
    key = _new_key()
    name = _name(common_name, org='Einvoice Sandbox')
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0),
            critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                key_cert_sign=True, crl_sign=True, encipher_only=False,
                decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256()))
    return cert, key


def _issue(ca_cert, ca_key, subject, public_key, *, server=False,
        not_before=None, not_after=None, san=None):
    now = _now()
    not_before = not_before or now - datetime.timedelta(days=1)
    not_after = not_after or now + datetime.timedelta(days=825)
    builder = (x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None),
            critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True,
                content_commitment=not server, key_encipherment=False,
                data_encipherment=False, key_agreement=server,
                key_cert_sign=False, crl_sign=False, encipher_only=False,
                decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([
                    ExtendedKeyUsageOID.SERVER_AUTH if server
                    else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key),
            critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san),
            critical=False)
    return builder.sign(ca_key, hashes.SHA256())


class PKI:
    "A sandbox PKI living in ``directory``; see the module docstring"

    def __init__(self, directory):
        self.directory = directory
        self.identities = {}
        self._ca = None
        self._foreign_ca = None
        self._owned = False

    # -- paths --------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.directory, name)

    @property
    def ca_path(self):
        return self.path('ca.crt.pem')

    @property
    def server_cert_path(self):
        return self.path('server.crt.pem')

    @property
    def server_key_path(self):
        return self.path('server.key.pem')

    @property
    def manifest_path(self):
        return self.path('pki.json')

    def __getitem__(self, name):
        return self.identities[name]

    # -- creation -----------------------------------------------------------
    @classmethod
    def create(cls, directory=None, identities=None):
        """Create a new PKI in ``directory`` (a new temp dir if None).

        ``identities`` is a list of :class:`IdentitySpec` (default
        :data:`DEFAULT_IDENTITIES`)."""
        owned = directory is None
        if owned:
            directory = tempfile.mkdtemp(prefix='einvoice-sandbox-pki-')
        os.makedirs(directory, exist_ok=True)
        pki = cls(directory)
        pki._owned = owned
        pki._ca = _make_ca('Einvoice Sandbox Root CA')
        _write(pki.path('ca.crt.pem'), _pem_cert(pki._ca[0]))
        _write(pki.path('ca.key.pem'), _pem_key(pki._ca[1]))
        import ipaddress
        key = _new_key()
        cert = _issue(*pki._ca, _name('localhost', org='Einvoice Sandbox'),
            key.public_key(), server=True, san=[
                x509.DNSName('localhost'),
                x509.IPAddress(ipaddress.ip_address('127.0.0.1'))])
        _write(pki.server_cert_path, _pem_cert(cert))
        _write(pki.server_key_path, _pem_key(key))
        for spec in (DEFAULT_IDENTITIES if identities is None
                else identities):
            pki.add_identity(spec)
        return pki

    def add_identity(self, spec_or_name, tax_id=None, **kwargs):
        """Issue a client certificate and register it as an identity.

        Accepts an :class:`IdentitySpec` or ``name, tax_id, **spec fields``.
        The server trusts any certificate issued by the sandbox CA, so a new
        identity can be used immediately, also against a running server."""
        if isinstance(spec_or_name, IdentitySpec):
            spec = spec_or_name
        else:
            spec = IdentitySpec(spec_or_name, tax_id, **kwargs)
        if self._ca is None:
            self._load_ca()
        if spec.foreign_ca:
            if self._foreign_ca is None:
                self._foreign_ca = _make_ca('Unknown Foreign CA')
            ca = self._foreign_ca
        else:
            ca = self._ca
        key = _new_key(spec.rsa)
        serial = spec.serial_prefix + spec.tax_id
        subject = _name(spec.common_name or spec.name, serial,
            spec.country or None)
        kwargs = {}
        if spec.expired:
            now = _now()
            kwargs = {
                'not_before': now - datetime.timedelta(days=400),
                'not_after': now - datetime.timedelta(days=30),
                }
        cert = _issue(*ca, subject, key.public_key(), **kwargs)
        cert_path = _write(self.path(spec.name + '.crt.pem'), _pem_cert(cert))
        key_path = _write(self.path(spec.name + '.key.pem'), _pem_key(key))
        ident = Identity(spec.name, spec.tax_id, serial,
            spec.common_name or spec.name, cert_path, key_path,
            expired=spec.expired, foreign_ca=spec.foreign_ca)
        if spec.p12:
            data = pkcs12.serialize_key_and_certificates(
                spec.name.encode(), key, cert, [ca[0]],
                serialization.BestAvailableEncryption(P12_PASSWORD.encode()))
            ident.p12_path = _write(self.path(spec.name + '.p12'), data)
            ident.p12_password = P12_PASSWORD
        self.identities[spec.name] = ident
        self._save_manifest()
        return ident

    def _save_manifest(self):
        data = {
            'ca': self.ca_path,
            'server_cert': self.server_cert_path,
            'server_key': self.server_key_path,
            'identities': {k: asdict(v) for k, v in self.identities.items()},
            }
        tmp = self.manifest_path + '.tmp'
        with open(tmp, 'w') as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.manifest_path)

    def _load_ca(self):
        with open(self.path('ca.crt.pem'), 'rb') as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        with open(self.path('ca.key.pem'), 'rb') as fh:
            key = serialization.load_pem_private_key(fh.read(), None)
        self._ca = (cert, key)

    @classmethod
    def load(cls, directory):
        "Load a PKI previously created in ``directory``"
        pki = cls(directory)
        with open(pki.manifest_path) as fh:
            data = json.load(fh)
        for name, values in data['identities'].items():
            pki.identities[name] = Identity(**values)
        return pki

    @classmethod
    def load_or_create(cls, directory=None):
        if directory and os.path.exists(os.path.join(directory, 'pki.json')):
            return cls.load(directory)
        return cls.create(directory)

    def cleanup(self):
        "Remove the directory if it was created by :meth:`create`"
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def describe(self):
        lines = ['CA certificate: %s' % self.ca_path]
        for ident in self.identities.values():
            extra = ''
            if ident.expired:
                extra = ' (EXPIRED)'
            elif ident.foreign_ca:
                extra = ' (signed by an unknown CA)'
            lines.append('  %-13s %-12s cert=%s key=%s%s%s' % (
                    ident.name, ident.tax_id, ident.cert_path,
                    ident.key_path,
                    (' p12=%s (password %s)' % (
                            ident.p12_path, ident.p12_password)
                        if ident.p12_path else ''), extra))
        return '\n'.join(lines)
