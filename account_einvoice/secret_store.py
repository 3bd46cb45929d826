# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Secrets of named credentials: API tokens, generated private keys, CSC
codes.  Never in the database.

A secret is read from the trytond configuration first (declared beside
the certificate, ``<name>.<key>``), then from the directory the server
operator gives for the secrets a service obtains itself (onboarding)::

    [account_einvoice]
    secrets_path = /var/lib/trytond/einvoice-secrets

with one subdirectory per credential name (mode 0700) and one file per
secret (mode 0600), written atomically; ``.<key>.expires`` holds the ISO
time the secret expires, when known.  Credential names and keys are plain
file names: letters, digits, ``.``, ``_``, ``-``, not starting with a dot.
"""
import datetime as dt
import os
import re
import tempfile

from trytond import config
from trytond.i18n import gettext

from .certificate import option
from .exceptions import SecretError

SECTION = 'account_einvoice'
SAFE = re.compile(r'[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}\Z')
EXPIRES = '.%s.expires'


def directory():
    "The directory of the stored secrets, or None when not configured"
    return config.get(SECTION, 'secrets_path') or None


def check_name(value):
    "Raise SecretError unless value may name a credential or a secret"
    if not isinstance(value, str) or not SAFE.match(value):
        raise SecretError(gettext(
                'account_einvoice.msg_secret_name_invalid', name=value))
    return value


def _folder(name, create=False):
    root = directory()
    if not root:
        if create:
            raise SecretError(gettext(
                    'account_einvoice.msg_secret_store_missing',
                    option='secrets_path', section=SECTION))
        return None
    folder = os.path.join(root, check_name(name))
    if create:
        os.makedirs(root, mode=0o700, exist_ok=True)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    return folder


def _read(path):
    try:
        with open(path, 'rb') as fp:
            return fp.read().decode('utf-8')
    except FileNotFoundError:
        return None


def _write(folder, filename, data):
    "Write data to folder/filename (0600) through a renamed temporary file"
    fd, tmp = tempfile.mkstemp(prefix=f'.{filename}.', dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, 'wb') as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, os.path.join(folder, filename))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def secret(name, key):
    """The secret key of the credential name: from the trytond
    configuration, else from the secrets directory; None when unknown"""
    if not name:
        return None
    value = option(name, key)
    if value is not None:
        return value
    folder = _folder(name)
    if folder is None:
        return None
    return _read(os.path.join(folder, check_name(key)))


def store_secret(name, key, value, expires=None):
    """Keep value (text or bytes) as the secret key of credential name,
    expiring at expires (a naive UTC datetime) when given"""
    folder = _folder(name, create=True)
    check_name(key)
    if isinstance(value, str):
        value = value.encode('utf-8')
    _write(folder, key, value)
    if expires is not None:
        _write(folder, EXPIRES % key,
            expires.replace(microsecond=0).isoformat().encode())
    else:
        _remove(os.path.join(folder, EXPIRES % key))


def secret_expiry(name, key):
    "When the stored secret expires (naive UTC), or None"
    folder = _folder(name)
    if folder is None:
        return None
    value = _read(os.path.join(folder, EXPIRES % check_name(key)))
    return dt.datetime.fromisoformat(value.strip()) if value else None


def delete_secret(name, key):
    "Forget a stored secret (those of the trytond configuration stay)"
    folder = _folder(name)
    if folder is None:
        return
    _remove(os.path.join(folder, check_name(key)))
    _remove(os.path.join(folder, EXPIRES % key))


def stored_keys(name):
    "The keys of the secrets stored for credential name"
    folder = _folder(name)
    if folder is None or not os.path.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder) if SAFE.match(f)
        and os.path.isfile(os.path.join(folder, f)))


def expiring(name, days, now=None):
    "[(key, expires)] of the stored secrets expiring within days"
    now = now or dt.datetime.utcnow()
    result = []
    for key in stored_keys(name):
        expires = secret_expiry(name, key)
        if expires is not None and expires - now <= dt.timedelta(days=days):
            result.append((key, expires))
    return result


def warn_expiring(configuration, days, now=None):
    """Notify the accounting administrators of the configuration's company
    about its stored secrets expiring within days; return whether any"""
    name = configuration.certificate_name
    if not name or not SAFE.match(name):
        return False
    secrets = expiring(name, days, now)
    if not secrets:
        return False
    configuration.notify_accountants(
        gettext('account_einvoice.msg_secret_expiry_label', name=name),
        gettext('account_einvoice.msg_secret_expiring',
            secrets=', '.join(
                f'{k} ({e.isoformat(" ", "minutes")})' for k, e in secrets)))
    return True
