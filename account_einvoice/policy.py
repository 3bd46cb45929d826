# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What the server operator allows, read from the trytond configuration.

Users of the database cannot widen any of this::

    [account_einvoice]
    # hosts an endpoint override may point at (https only); a host
    # without a port allows any port
    allowed_hosts = sandbox.example.com:8443, 127.0.0.1

    [account_einvoice_certificate]
    # the companies that may use a certificate: company ids or tax
    # identifiers of the company's party
    acme_ar.companies = 30712345671

An entry naming several companies of a database names none of them:
adding another company's tax identifier to one's own party gains nothing.
"""
import re
from urllib.parse import urlsplit

from trytond import config
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

from .certificate import SECTION as CERTIFICATE_SECTION
from .certificate import option

SECTION = 'account_einvoice'
_SEPARATORS = re.compile(r'[\s,;]+')

#: certificate_status() results
ALLOWED, UNDECLARED, OTHER = 'allowed', 'undeclared', 'other'


def _entries(value):
    return [e for e in _SEPARATORS.split(value or '') if e]


def allowed_hosts():
    "[(host, port or None)] of the allowed_hosts option"
    result = []
    for entry in _entries(config.get(SECTION, 'allowed_hosts', default='')):
        parts = urlsplit('//' + entry)
        try:
            port = parts.port
        except ValueError:
            continue
        if parts.hostname:
            result.append((parts.hostname.lower(), port))
    return result


def endpoint_problem(endpoint):
    "Return why endpoint (an override address) may not be used, or None"
    parts = urlsplit((endpoint or '').strip())
    if parts.scheme.lower() != 'https':
        return gettext('account_einvoice.msg_endpoint_not_https',
            endpoint=endpoint)
    try:
        port = parts.port or 443
    except ValueError:
        port = None
    if (not parts.hostname or port is None or parts.username is not None
            or parts.password is not None or parts.query or parts.fragment):
        return gettext('account_einvoice.msg_endpoint_invalid',
            endpoint=endpoint)
    host = parts.hostname.lower()
    for allowed, allowed_port in allowed_hosts():
        if host == allowed and allowed_port in {None, port}:
            return None
    return gettext('account_einvoice.msg_endpoint_host_not_allowed',
        host=f'{host}:{port}', option='allowed_hosts', section=SECTION)


def _normalize(code):
    return re.sub(r'[^0-9A-Za-z]', '', code or '').upper()


def _companies_named(entries):
    """{entry: ids of the companies of this database it names} (a company
    id, or a code equal to an identifier of the company's party once both
    are normalized), from one search of the companies"""
    Company = Pool().get('company.company')
    keys = {entry: _normalize(entry) for entry in entries}
    result = {entry: set() for entry in entries}
    domain = ['OR']
    ids = [int(e) for e in entries if e.isdigit() and int(e) < 2 ** 31]
    if ids:
        domain.append(('id', 'in', ids))
    # the key's letters and digits in order, anything around them: the
    # companies whose codes may normalize to the key, checked below
    domain.extend(
        ('party.identifiers.code', 'ilike', '%' + '%'.join(key) + '%')
        for key in sorted(set(keys.values())) if key)
    if len(domain) == 1:
        return result
    with without_check_access(), Transaction().set_context(
            active_test=False):
        for company in Company.search(domain):
            codes = {_normalize(i.code) for i in company.party.identifiers}
            for entry, key in keys.items():
                if ((entry.isdigit() and company.id == int(entry))
                        or (key and key in codes)):
                    result[entry].add(company.id)
    return result


def certificate_status(name, company_id):
    """ALLOWED when the operator declared certificate name for the company,
    UNDECLARED when it is declared for no company, OTHER otherwise"""
    entries = _entries(option(name, 'companies'))
    if not entries:
        return UNDECLARED
    named = _companies_named(entries)
    for entry in entries:
        if named[entry] == {company_id}:
            return ALLOWED
    return OTHER


def certificate_problem(name, company):
    "Return why company may not use certificate name, or None"
    status = certificate_status(name, company.id)
    if status == ALLOWED:
        return None
    message = ('account_einvoice.msg_certificate_companies_missing'
        if status == UNDECLARED
        else 'account_einvoice.msg_certificate_company_not_allowed')
    return gettext(message, name=name, company=company.rec_name,
        section=CERTIFICATE_SECTION)
