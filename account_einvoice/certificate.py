# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Client certificates named in the trytond configuration.

The database only stores a certificate *name*; the files live on the
server and are declared in the trytond configuration::

    [account_einvoice_certificate]
    acme_es.certificate = /etc/tryton/acme.crt.pem
    acme_es.private_key = /etc/tryton/acme.key.pem
    acme_ar.pkcs12 = /etc/tryton/acme.p12
    acme_ar.password = secret

A PKCS#12 bundle is decrypted once per process into a private temporary
directory because `requests` only takes file paths.
"""
import atexit
import datetime as dt
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from trytond import config
from trytond.i18n import gettext

from .exceptions import CertificateError

SECTION = 'account_einvoice_certificate'
_lock = threading.Lock()
_cache = {}
_private_dir = None


@dataclass(frozen=True)
class Certificate:
    name: str
    certificate: object
    private_key: object
    cert_path: str
    key_path: str

    @property
    def subject(self):
        return self.certificate.subject.rfc4514_string()

    @property
    def issuer(self):
        return self.certificate.issuer.rfc4514_string()

    @property
    def not_after(self):
        return self.certificate.not_valid_after_utc.replace(tzinfo=None)

    @property
    def not_before(self):
        return self.certificate.not_valid_before_utc.replace(tzinfo=None)

    @property
    def serial_number(self):
        "The subject serialNumber: the holder's tax identifier"
        attributes = self.certificate.subject.get_attributes_for_oid(
            NameOID.SERIAL_NUMBER)
        return attributes[0].value if attributes else None

    @property
    def fingerprint(self):
        return self.certificate.fingerprint(hashes.SHA256()).hex(':')

    def expired(self, now=None):
        now = now or dt.datetime.utcnow()
        return not (self.not_before <= now <= self.not_after)

    def expires_within(self, days, now=None):
        now = now or dt.datetime.utcnow()
        return self.not_after - now <= dt.timedelta(days=days)


def option(name, key):
    """The option ``<name>.<key>`` of the certificates' section, or None:
    the only reader of that section"""
    return config.get(SECTION, f'{name}.{key}')


def _private_directory():
    global _private_dir
    if _private_dir is None:
        _private_dir = tempfile.mkdtemp(prefix='einvoice-cert-')
        os.chmod(_private_dir, 0o700)
        atexit.register(shutil.rmtree, _private_dir, True)
    return _private_dir


def _read(path, name):
    try:
        with open(path, 'rb') as fp:
            return fp.read()
    except OSError as exception:
        raise CertificateError(gettext(
                'account_einvoice.msg_certificate_unreadable',
                name=name, path=path, error=exception.strerror)
            ) from exception


def _load_pem(name, cert_path, key_path):
    try:
        certificate = x509.load_pem_x509_certificate(_read(cert_path, name))
        private_key = serialization.load_pem_private_key(
            _read(key_path, name), password=None)
    except ValueError as exception:
        raise CertificateError(gettext(
                'account_einvoice.msg_certificate_invalid',
                name=name, error=str(exception))) from exception
    return Certificate(name, certificate, private_key, cert_path, key_path)


def _load_pkcs12(name, path, password):
    try:
        private_key, certificate, _ = pkcs12.load_key_and_certificates(
            _read(path, name), password.encode() if password else None)
    except ValueError as exception:
        raise CertificateError(gettext(
                'account_einvoice.msg_certificate_invalid',
                name=name, error=str(exception))) from exception
    if certificate is None or private_key is None:
        raise CertificateError(gettext(
                'account_einvoice.msg_certificate_invalid',
                name=name, error="no certificate or key in the bundle"))
    directory = _private_directory()
    cert_path = os.path.join(directory, f'{name}.crt.pem')
    key_path = os.path.join(directory, f'{name}.key.pem')
    with open(cert_path, 'wb') as fp:
        fp.write(certificate.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'wb') as fp:
        fp.write(private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
    return Certificate(name, certificate, private_key, cert_path, key_path)


def _signature(paths):
    "Files' modification times so a renewed certificate is picked up"
    result = []
    for path in paths:
        try:
            result.append((path, os.stat(path).st_mtime_ns))
        except OSError:
            result.append((path, None))
    return tuple(result)


def load_certificate(name):
    "Return the Certificate named in the trytond configuration"
    if not name:
        raise CertificateError(gettext(
                'account_einvoice.msg_certificate_missing_name'))
    pkcs12_path = option(name, 'pkcs12')
    cert_path = option(name, 'certificate')
    key_path = option(name, 'private_key')
    if pkcs12_path:
        paths = (pkcs12_path,)
    elif cert_path and key_path:
        paths = (cert_path, key_path)
    else:
        raise CertificateError(gettext(
                'account_einvoice.msg_certificate_not_configured',
                name=name, section=SECTION))
    key = (name, _signature(paths), option(name, 'password'))
    with _lock:
        certificate = _cache.get(name)
        if certificate is None or certificate[0] != key:
            if pkcs12_path:
                loaded = _load_pkcs12(
                    name, pkcs12_path, option(name, 'password'))
            else:
                loaded = _load_pem(name, cert_path, key_path)
            certificate = _cache[name] = (key, loaded)
    return certificate[1]


def secret(name, key):
    """A secret of a named credential, declared in the trytond
    configuration beside its certificate (``<name>.<key> = value``), else
    kept in the operator's secrets directory (see :mod:`.secret_store`):
    never stored in the database"""
    from .secret_store import secret
    return secret(name, key)
