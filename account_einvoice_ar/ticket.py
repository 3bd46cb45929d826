# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""WSAA access tickets kept in the database and shared by every process.

One row per (company, configuration, CUIT, service, environment): a
configuration never receives a ticket another one logged in for, even with
the same CUIT.  A process needing a ticket uses its memory copy, else the
row, else locks the row (an UPDATE: a row lock on PostgreSQL, the database
write lock on SQLite), reads it again and only then logs in, so concurrent
processes log in once.  The row is written in a
transaction of its own, committed at once.

Nobody reads the table through RPC (its access rights deny everything);
the token and sign never appear in the exchange history either: requests
are stored with placeholders, filled in just before sending.

No ticket is handed out, and no login is tried, unless the configuration
may send at all (certificate valid and declared for the company by the
server operator, endpoint allowed): see ``check_sending``.
"""
import datetime as dt
import logging
import random
import threading
import time

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelSQL, Unique, fields
from trytond.model.exceptions import SQLConstraintError
from trytond.modules.account_einvoice import schema, transport
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

from . import wsaa
from .afip import ENDPOINTS, WSFE_NS

logger = logging.getLogger(__name__)
#: a ticket is renewed this long before its expiration
MARGIN = dt.timedelta(minutes=10)
_lock = threading.Lock()
_memory = {}        # _key() -> (token, sign, expiration, offset)
_offsets = {}       # (cuit, environment) -> seconds server - local


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Ticket(ModelSQL):
    "AFIP Access Ticket"
    __name__ = 'account.einvoice.ar.ticket'

    company = fields.Many2One('company.company', "Company", readonly=True,
        ondelete='CASCADE')
    configuration = fields.Many2One('account.einvoice.configuration',
        "Configuration", readonly=True, ondelete='CASCADE')
    cuit = fields.Char("CUIT", required=True, readonly=True)
    service = fields.Char("Service", required=True, readonly=True)
    environment = fields.Char("Environment", required=True, readonly=True)
    token = fields.Text("Token", readonly=True)
    sign = fields.Text("Sign", readonly=True)
    generation = fields.DateTime("Generation (UTC)", readonly=True)
    expiration = fields.DateTime("Expiration (UTC)", readonly=True)
    clock_offset = fields.Float("Clock Offset (s)", readonly=True,
        help="The authority's clock minus ours when the ticket was issued.")
    logins = fields.Integer("Logins", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('configuration_key_unique', Unique(t, t.company,
                    t.configuration, t.cuit, t.service, t.environment),
                'account_einvoice_ar.msg_ticket_unique'),
            ]

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        table_h = cls.__table_handler__(module)
        # Migration: tickets were shared by every configuration of a CUIT;
        # rows without a configuration are never handed out again.
        table_h.drop_constraint('key_unique')


def _key(configuration, service):
    return (configuration.company.id, configuration.id,
        configuration.ar_cuit(), service, configuration.environment)


def _clock_key(key):
    "(cuit, environment) of a ticket key"
    return key[2], key[4]


def offset(configuration):
    "Seconds to add to our clock to get the authority's"
    return _offsets.get((configuration.ar_cuit(),
            configuration.environment), 0.0)


def server_now(configuration):
    return utcnow() + dt.timedelta(seconds=offset(configuration))


def production_url(configuration, url):
    if configuration.environment == 'production':
        for homologation, production in ENDPOINTS.items():
            url = url.replace(homologation, production)
    return configuration.override_url(url)


def wsaa_url(configuration):
    url, _ = schema.endpoint(
        schema.locate(wsaa.WSDL, wsaa.WSDL_URL), 'LoginCMSService',
        'LoginCms', 'loginCms')
    return production_url(configuration, url)


def _valid(entry, configuration, stale=None):
    if not entry:
        return False
    token, _, expiration, _ = entry
    if not token or token == stale or expiration is None:
        return False
    return expiration - MARGIN > server_now(configuration)


def get(configuration, service='wsfe', stale=None, timeout=None,
        login=True):
    """Return (token, sign) of a valid ticket, logging in when needed.

    stale is a token the authority refused: it is not used again.  Without
    login only what this process holds is used (e.g. inside a transaction
    that already wrote: SQLite has one writer).  Raises ServiceFailure when
    no ticket can be had."""
    configuration.check_sending()
    key = _key(configuration, service)
    with _lock:
        entry = _memory.get(key)
    if _valid(entry, configuration, stale):
        return entry[0], entry[1]
    if not login:
        raise ServiceFailure('not_sent', gettext(
                'account_einvoice_ar.msg_ticket_busy'))
    Ticket = Pool().get('account.einvoice.ar.ticket')
    row_id = _ensure(Ticket, key)
    for attempt in range(8):
        try:
            return _get_locked(
                configuration, Ticket, key, row_id, stale, timeout)
        except backend.DatabaseOperationalError:
            # another process renewed it meanwhile: read it again
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
    raise ServiceFailure('transient', gettext(
            'account_einvoice_ar.msg_ticket_busy'))


def forget(configuration, service='wsfe'):
    with _lock:
        _memory.pop(_key(configuration, service), None)


def held_expiration(configuration, service='wsfe'):
    """Expiration (UTC, the authority's clock) of the last ticket this
    database got for configuration, even if lost or refused since; None
    when unknown"""
    key = _key(configuration, service)
    with _lock:
        entry = _memory.get(key)
    if entry and entry[2]:
        return entry[2]
    Ticket = Pool().get('account.einvoice.ar.ticket')
    company, configuration, cuit, service, environment = key
    with without_check_access():
        rows = Ticket.search([
                ('company', '=', company),
                ('configuration', '=', configuration),
                ('cuit', '=', cuit),
                ('service', '=', service),
                ('environment', '=', environment),
                ], limit=1)
    return rows[0].expiration if rows else None


def _ensure(Ticket, key):
    company, configuration, cuit, service, environment = key
    domain = [
        ('company', '=', company),
        ('configuration', '=', configuration),
        ('cuit', '=', cuit),
        ('service', '=', service),
        ('environment', '=', environment),
        ]
    transaction = Transaction()
    with transaction.new_transaction() as new, without_check_access():
        rows = Ticket.search(domain, limit=1)
        if rows:
            return rows[0].id
        try:
            row, = Ticket.create([{
                        'company': company,
                        'configuration': configuration,
                        'cuit': cuit,
                        'service': service,
                        'environment': environment,
                        'logins': 0,
                        }])
            new.commit()
            return row.id
        except (backend.DatabaseIntegrityError, SQLConstraintError):
            # created meanwhile by another process
            new.rollback()
    with transaction.new_transaction(), without_check_access():
        row, = Ticket.search(domain, limit=1)
        return row.id


def _remember(key, configuration, token, sign, expiration, clock):
    with _lock:
        _memory[key] = (token, sign, expiration, clock)
        _offsets[_clock_key(key)] = clock or 0.0


def _get_locked(configuration, Ticket, key, row_id, stale, timeout):
    transaction = Transaction()
    with transaction.new_transaction() as new, without_check_access():
        table = Ticket.__table__()
        cursor = new.connection.cursor()
        # Lock first: whoever holds the row is logging in.
        cursor.execute(*table.update(
                [table.write_date], [dt.datetime.now()],
                where=table.id == row_id))
        cursor.execute(*table.select(
                table.token, table.sign, table.expiration,
                table.clock_offset, table.logins,
                where=table.id == row_id))
        token, sign_, expiration, clock, logins = cursor.fetchone()
        if clock is not None:
            with _lock:
                _offsets[_clock_key(key)] = clock
        if isinstance(expiration, str):
            expiration = dt.datetime.fromisoformat(expiration)
        entry = (token, sign_, expiration, clock)
        if _valid(entry, configuration, stale):
            new.commit()
            _remember(key, configuration, *entry)
            return token, sign_
        ticket, clock = _login(configuration, key[3], timeout)
        cursor.execute(*table.update(
                [table.token, table.sign, table.generation, table.expiration,
                    table.clock_offset, table.logins],
                [ticket.token, ticket.sign, ticket.generation,
                    ticket.expiration, clock, (logins or 0) + 1],
                where=table.id == row_id))
        new.commit()
    _remember(key, configuration, ticket.token, ticket.sign,
        ticket.expiration, clock)
    logger.info("AFIP ticket for %s/%s/%s of configuration %s renewed until "
        "%s UTC", key[2], key[3], key[4], key[1], ticket.expiration)
    return ticket.token, ticket.sign


def _login(configuration, service, timeout):
    configuration.check_sending()
    certificate = configuration.get_certificate()
    url = wsaa_url(configuration)
    clock = offset(configuration)
    for attempt in range(2):
        started = utcnow()
        now = (started + dt.timedelta(seconds=clock)).replace(
            tzinfo=dt.timezone.utc)
        ticket, fault = wsaa.login(
            url, certificate, service, now, timeout=timeout)
        if ticket:
            # The authority's clock, from its answer
            clock = (ticket.generation - started).total_seconds()
            if abs(clock) < 5:
                clock = 0.0
            return ticket, clock
        code, message = fault
        if code in wsaa.CLOCK_FAULTS and attempt == 0:
            server = server_time(configuration, timeout)
            if server is not None:
                clock = (server - utcnow()).total_seconds()
                logger.warning(
                    "AFIP clock differs from ours by %.0f s", clock)
                continue
        break
    if code == 'coe.alreadyAuthenticated':
        # A ticket we do not hold (lost, or taken by another system with
        # the same certificate) is still valid: nothing is refused, the
        # invoices wait for it to expire.
        raise ServiceFailure('transient', gettext(
                'account_einvoice_ar.msg_ticket_already_authenticated',
                message=message), code=code)
    raise ServiceFailure('configuration', gettext(
            'account_einvoice_ar.msg_ticket_refused',
            code=code, message=message), code=code)


def server_time(configuration, timeout=None):
    """The authority's current time (UTC, naive) from the FEHeaderInfo of
    WSFEv1's FEDummy answer (no authentication needed), or None"""
    from lxml import etree

    from .service import wsfe_url
    body = etree.Element(f'{{{WSFE_NS}}}FEDummy', nsmap={None: WSFE_NS})
    try:
        configuration.check_sending()
        url, action = wsfe_url(configuration, 'FEDummy')
        response = transport.post(url, transport.envelope(body), action,
            configuration.get_certificate(), timeout=timeout)
        root = schema.parse_untrusted(response.content)
    except Exception:
        logger.warning("could not read AFIP's time", exc_info=True)
        return None
    text = root.findtext(f'.//{{{WSFE_NS}}}FEHeaderInfo/{{{WSFE_NS}}}fecha')
    if not text:
        return None
    try:
        return wsaa.utc(dt.datetime.fromisoformat(text.strip()))
    except ValueError:
        return None
