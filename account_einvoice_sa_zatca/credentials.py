# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Where the secrets of an EGS unit live and how they are used.

They are kept in the framework's secret store under the configuration's
credential name (its *Certificate*), never in the database (the keys
differ from the options the operator declares beside a certificate,
``private_key`` among them, which the store would read first):

``egs_key``, ``egs_csr``
   The key and CSR of the onboarding (PEM); the compliance and the first
   production certificates are issued for this key.
``compliance``
   The compliance credential: JSON ``{request_id, token, secret}``,
   expiring with its certificate.
``production``
   The production credential: JSON ``{request_id, token, secret, key}``
   (``key``: the PEM of the key its certificate certifies, so that a
   renewal replaces key and certificate in one write), expiring with its
   certificate.
``renewal_key``, ``renewal_csr``
   The key and CSR of a renewal under way.
``renewal_requested``
   Present when staff asked for a renewal before it is due.

``token`` is ZATCA's ``binarySecurityToken``: base64 of the base64 DER
certificate, sent as it was received in the Basic authorization."""
import base64
import datetime as dt
import functools
import json
from collections import namedtuple

from cryptography import x509

from trytond.i18n import gettext
from trytond.modules.account_einvoice import secret_store
from trytond.modules.account_einvoice.exceptions import ServiceFailure

from .csr import load_key

STAGES = ('compliance', 'production')
#: days before the production credential expires from which it is renewed
RENEWAL_DAYS = 30
Credential = namedtuple('Credential', [
        'key', 'certificate', 'authorization', 'request_id', 'expires'])


def name(configuration):
    "The credential name the unit's secrets are kept under"
    return configuration.certificate_name


def token_certificate(token):
    "The x509 certificate of a binarySecurityToken"
    return x509.load_der_x509_certificate(
        base64.b64decode(base64.b64decode(token)))


def not_after(certificate):
    "The expiry of certificate as a naive UTC datetime"
    return certificate.not_valid_after_utc.replace(tzinfo=None)


@functools.lru_cache(maxsize=64)
def _parsed(token, pem):
    "(key, certificate): parsed once per process (each invoice signs)"
    return load_key(pem), token_certificate(token)


def basic(token, secret):
    credentials = base64.b64encode(f'{token}:{secret}'.encode('utf-8'))
    return 'Basic ' + credentials.decode('ascii')


def stored(configuration, stage):
    "The stored credential of stage as a dict, or None"
    assert stage in STAGES, stage
    value = secret_store.secret(name(configuration), stage)
    if not value:
        return None
    try:
        value = json.loads(value)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def expiry(configuration, stage='production'):
    "When the stored credential of stage expires (naive UTC), or None"
    return secret_store.secret_expiry(name(configuration), stage)


def _missing(configuration, stage):
    return ServiceFailure('configuration', gettext(
            f'account_einvoice_sa_zatca.msg_credential_{stage}_missing',
            configuration=configuration.rec_name))


def credentials(configuration, stage='production', now=None):
    """(key, certificate, authorization, request_id, expires) of the
    unit's credential of stage; raise ServiceFailure('configuration')
    telling to onboard the unit when it is missing or expired"""
    assert stage in STAGES, stage
    value = stored(configuration, stage)
    if not value or not all(value.get(k) for k in ('token', 'secret')):
        raise _missing(configuration, stage)
    pem = value.get('key') if stage == 'production' else (
        secret_store.secret(name(configuration), 'egs_key'))
    try:
        key, certificate = _parsed(value['token'], pem)
    except (ValueError, TypeError):
        raise _missing(configuration, stage) from None
    expires = not_after(certificate)
    if expires <= (now or dt.datetime.utcnow()):
        raise ServiceFailure('configuration', gettext(
                'account_einvoice_sa_zatca.msg_credential_expired',
                configuration=configuration.rec_name,
                date=expires.isoformat(' ', 'minutes')))
    return Credential(key, certificate,
        basic(value['token'], value['secret']), value.get('request_id'),
        expires)


def authorize(request, configuration, stage='production'):
    """Add the Authorization header of the unit's credential to request
    (never stored: it is one of the request's secret headers); return the
    credential"""
    credential = credentials(configuration, stage)
    request.headers['Authorization'] = credential.authorization
    request.secret_headers = set(request.secret_headers) | {'Authorization'}
    return credential


def renewal_due(configuration, now=None, days=RENEWAL_DAYS):
    """Whether the production credential must be renewed: it expires
    within days, or staff asked for it"""
    if not stored(configuration, 'production'):
        return False
    if secret_store.secret(name(configuration), 'renewal_requested'):
        return True
    expires = expiry(configuration, 'production')
    now = now or dt.datetime.utcnow()
    return expires is not None and expires - now <= dt.timedelta(days=days)


def request_renewal(configuration):
    "Renew the production credential at the next onboarding run"
    secret_store.store_secret(name(configuration), 'renewal_requested',
        dt.datetime.utcnow().replace(microsecond=0).isoformat())
