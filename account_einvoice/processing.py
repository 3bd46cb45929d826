# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Claim, send, record: the exactly-once loop.

1. *Claim*: lock pending rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
   create one in-flight exchange per batch, link the rows, commit.  No
   other process can take them any more.
2. *Call*: build and validate the request, store it, commit, then call.
3. *Record*: store the answer and the outcomes, unlink the rows, commit.

An exchange left in flight (crash, lost answer) and every answer that may
have been processed without us knowing mark its submissions "outcome
unknown"; they are then queried before anything is sent again.
"""
import datetime as dt
import logging
import os
import random
import socket
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from sql import For, Null

from trytond import backend, config
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import transport
from .exceptions import CertificateError, ServiceFailure
from .exchange import worker_id
from .schema import validate_records
from .submission import backoff

logger = logging.getLogger(__name__)
# (database, exchange id) this process is sending right now
_active = set()
CLAIM_RETRIES = 10
MAX_CLAIMS_PER_RUN = 3
# seconds between claims when a service deferred everything it was given
DEFER_DELAY = 0.2


@dataclass
class Batch:
    exchange: int
    kind: str
    operation: str
    submissions: list


def _option(name, default):
    return config.getfloat('account_einvoice', name, default=default)


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Processor:
    "Report the pending submissions of one configuration"

    def __init__(self, configuration, ids=None):
        self.configuration_id = configuration.id
        self.ids = list(ids) if ids is not None else None
        self.worker = worker_id()
        self.claims = Counter()
        self.deferred = 0

    @property
    def database(self):
        return Transaction().database.name

    def _models(self):
        pool = Pool()
        return (
            pool.get('account.einvoice.configuration'),
            pool.get('account.einvoice.submission'),
            pool.get('account.einvoice.exchange'),
            pool.get('account.einvoice.exchange.outcome'))

    def run(self):
        self.recover_stale()
        waited = 0
        patience = _option('defer_wait', 10)
        while True:
            batches = self.claim()
            if not batches:
                if self.deferred and waited < patience:
                    # Another sender holds what these records wait for
                    # (e.g. the authority's next number): try again soon.
                    time.sleep(DEFER_DELAY)
                    waited += DEFER_DELAY
                    continue
                break
            for batch in batches:
                self.execute(batch)

    # -- Claim -----------------------------------------------------------
    def claim(self):
        transaction = Transaction()
        for attempt in range(CLAIM_RETRIES):
            transaction.commit()
            try:
                return self._claim()
            except backend.DatabaseOperationalError:
                # A concurrent process committed rows we tried to lock
                # after our snapshot; start again from a new one.
                transaction.rollback()
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        logger.warning("could not claim submissions after %s attempts",
            CLAIM_RETRIES)
        return []

    def _claim(self):
        Configuration, Submission, Exchange, Outcome = self._models()
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        configuration = Configuration(self.configuration_id)
        service = configuration.get_service()
        now = dt.datetime.now()
        self.deferred = 0

        table = Submission.__table__()
        where = ((table.configuration == self.configuration_id)
            & (table.state == 'pending')
            & (table.exchange == Null)
            & ((table.next_attempt == Null) | (table.next_attempt <= now)))
        if self.ids is not None:
            where &= table.id.in_(self.ids or [-1])
        exhausted = [i for i, n in self.claims.items()
            if n >= MAX_CLAIMS_PER_RUN]
        if exhausted:
            where &= ~table.id.in_(exhausted)
        limit = service.batch_limit
        if configuration.batch_size:
            limit = min(limit, configuration.batch_size)
        query = table.select(
            table.id, where=where, order_by=[table.id.asc], limit=limit)
        if database.has_select_for():
            query.for_ = database.get_select_for_skip_locked()('UPDATE')
        cursor.execute(*query)
        ids = [i for i, in cursor]
        if not ids:
            return []
        self.claims.update(ids)
        submissions = Submission.browse(ids)

        to_check = [s for s in submissions if not s.needs_query]
        refused = service.check(to_check) if to_check else {}
        if refused:
            self.reject_locally(
                [s for s in submissions if s.id in refused], refused)
            submissions = [s for s in submissions if s.id not in refused]

        groups = defaultdict(list)
        for submission in submissions:
            if submission.needs_query:
                key = ('query', None, service.batch_key(submission))
            else:
                key = ('send', submission.operation,
                    service.batch_key(submission))
            groups[key].append(submission)

        batches = []
        for (kind, operation, key), members in groups.items():
            size = service.limit(key)
            if configuration.batch_size:
                size = min(size, configuration.batch_size)
            for chunk in _chunks(members, size):
                if kind == 'send':
                    chunk = self._prepare(service, chunk)
                    if not chunk:
                        continue
                exchange = Exchange(
                    company=configuration.company,
                    configuration=configuration,
                    service=configuration.service,
                    environment=configuration.environment,
                    kind=kind,
                    operation=operation,
                    state='in_flight',
                    started=now,
                    worker=self.worker,
                    record_count=len(chunk))
                exchange.save()
                Submission.write(chunk, {'exchange': exchange.id})
                batches.append(
                    Batch(exchange.id, kind, operation, [s.id for s in chunk]))
                _active.add((self.database, exchange.id))
        transaction.commit()
        return batches

    def _prepare(self, service, chunk):
        """Let the service prepare a chunk; what it defers is left pending
        and unclaimed (not counted as a claim of this run)."""
        prepared = service.prepare(chunk)
        if prepared is None:
            return chunk
        prepared = list(prepared)
        kept = {s.id for s in prepared}
        deferred = [s.id for s in chunk if s.id not in kept]
        if deferred:
            self.claims.subtract(deferred)
            self.deferred += len(deferred)
        return prepared

    def reject_locally(self, submissions, messages, exchange=None):
        "Refuse submissions before sending, with the reason"
        _, Submission, _, Outcome = self._models()
        code = 'LOCAL'
        to_write = []
        outcomes = []
        for submission in submissions:
            message = messages[submission.id]
            to_write.extend(([submission], {
                        'state': 'rejected',
                        'code': code,
                        'message': message,
                        'exchange': None,
                        }))
            outcomes.append({
                    'submission': submission.id,
                    'exchange': exchange.id if exchange else None,
                    'operation': submission.operation,
                    'state': 'rejected',
                    'code': code,
                    'message': message,
                    })
        if to_write:
            Submission.write(*to_write)
            Outcome.log(outcomes)

    # -- Call ------------------------------------------------------------
    def execute(self, batch):
        Configuration, Submission, Exchange, _ = self._models()
        transaction = Transaction()
        configuration = Configuration(self.configuration_id)
        service = configuration.get_service()
        exchange = Exchange(batch.exchange)
        submissions = Submission.browse(batch.submissions)
        called = False
        response = None
        request = None
        try:
            try:
                configuration.check_certificate_usable()
            except CertificateError as exception:
                raise ServiceFailure('configuration', exception.message)
            if batch.kind == 'send':
                request, submissions = self.build(
                    service, exchange, submissions, batch.operation)
                if request is None:
                    exchange.state = 'done'
                    exchange.result = gettext(
                        'account_einvoice.msg_exchange_nothing_to_send')
                    exchange.save()
                    transaction.commit()
                    return
            else:
                request = service.build_query(submissions)
            data = transport.envelope(request.body, request.header)
            url, _ = service.address(request)
            exchange.request = data
            exchange.soap_operation = request.operation
            exchange.endpoint = url
            exchange.record_count = len(submissions)
            exchange.save()
            transaction.commit()

            service.before_call(request)
            called = True
            response = service.call(request, data)
            fault = transport.fault(response)
            if fault:
                raise service.classify_fault(*fault)
            if batch.kind == 'send':
                outcomes = service.parse_response(request, response.body)
            else:
                outcomes = service.parse_query(request, response.body)
        except ServiceFailure as failure:
            self.fail(batch, failure, called, response or failure.response)
        except Exception as exception:
            logger.exception("e-invoice exchange %s failed", batch.exchange)
            self.fail(batch, ServiceFailure('unknown', gettext(
                        'account_einvoice.msg_internal_error',
                        error=f'{exception.__class__.__name__}: {exception}'
                        )), called, response)
        else:
            try:
                self.record(batch, outcomes, response)
            except Exception:
                # Left in flight: the next run asks the authority.
                logger.exception(
                    "could not record e-invoice exchange %s", batch.exchange)
                transaction.rollback()
        finally:
            _active.discard((self.database, batch.exchange))

    def build(self, service, exchange, submissions, operation):
        "Build a request that validates, refusing the invalid records"
        for _ in range(3):
            request = service.build_request(submissions, operation)
            schema = service.schema(request)
            if schema is None:
                return request, submissions
            errors, general = validate_records(
                schema, request.body, request.records)
            if not errors and not general:
                return request, submissions
            if not errors:
                raise ServiceFailure('configuration', gettext(
                        'account_einvoice.msg_request_schema_invalid',
                        errors='; '.join(general[:5])))
            self.reject_locally(
                [s for s in submissions if s.id in errors],
                {i: gettext('account_einvoice.msg_record_schema_invalid',
                        errors='; '.join(e[:5]))
                    for i, e in errors.items()},
                exchange=exchange)
            submissions = [s for s in submissions if s.id not in errors]
            if not submissions:
                return None, []
        raise ServiceFailure('configuration', gettext(
                'account_einvoice.msg_request_schema_invalid',
                errors=''))

    # -- Record ----------------------------------------------------------
    def _still_ours(self, exchange_id):
        """Lock the exchange and tell if it is still in flight for us (a
        recovery may have taken over a sender that was too slow)."""
        _, _, Exchange, _ = self._models()
        transaction = Transaction()
        database = transaction.database
        table = Exchange.__table__()
        query = table.select(table.state, table.worker,
            where=table.id == exchange_id)
        if database.has_select_for():
            query.for_ = For('UPDATE')
        cursor = transaction.connection.cursor()
        cursor.execute(*query)
        row = cursor.fetchone()
        return bool(row) and row[0] == 'in_flight' and row[1] == self.worker

    def _late(self, exchange_id, response, note):
        _, _, Exchange, _ = self._models()
        exchange = Exchange(exchange_id)
        if response is not None:
            exchange.response = response.content
            exchange.duration = round(response.duration, 3)
        exchange.error = '\n'.join(filter(None, [exchange.error, note]))
        exchange.save()
        Transaction().commit()

    def fail(self, batch, failure, called, response):
        Configuration, Submission, Exchange, Outcome = self._models()
        transaction = Transaction()
        transaction.rollback()
        kind = failure.kind
        if not called and kind == 'unknown':
            kind = 'not_sent'
        if called and not self._still_ours(batch.exchange):
            self._late(batch.exchange, response, failure.message)
            return
        now = dt.datetime.now()
        exchange = Exchange(batch.exchange)
        exchange.state = 'unknown' if kind == 'unknown' else 'failed'
        exchange.result = gettext(f'account_einvoice.msg_failure_{kind}')
        exchange.error = failure.message
        if response is not None:
            exchange.response = response.content
            exchange.duration = round(response.duration, 3)
        exchange.save()

        base = _option('retry_delay', 60)
        maximum = _option('retry_delay_max', 6 * 3600)
        submissions = Submission.search([('exchange', '=', batch.exchange)])
        by_attempts = defaultdict(list)
        for submission in submissions:
            by_attempts[(submission.attempts or 0) + 1].append(submission)
        to_write = []
        for attempts, members in by_attempts.items():
            values = {
                'exchange': None,
                'attempts': attempts,
                'next_attempt': now + backoff(attempts, base, maximum),
                'last_error': failure.message,
                }
            if kind == 'unknown':
                values['needs_query'] = True
            to_write.extend((members, values))
        if to_write:
            Submission.write(*to_write)
        Outcome.log([{
                    'exchange': exchange.id,
                    'submission': s.id,
                    'operation': s.operation,
                    'state': 'unknown' if kind == 'unknown' else 'pending',
                    'code': failure.code,
                    'message': failure.message,
                    } for s in submissions])
        if kind == 'configuration':
            Configuration(self.configuration_id).record_failure(
                failure.message)
        transaction.commit()

    def record(self, batch, outcomes, response):
        Configuration, Submission, Exchange, Outcome = self._models()
        transaction = Transaction()
        if not self._still_ours(batch.exchange):
            self._late(batch.exchange, response, gettext(
                    'account_einvoice.msg_exchange_late_answer'))
            return
        exchange = Exchange(batch.exchange)
        submissions = Submission.search([('exchange', '=', batch.exchange)])
        states = Counter()
        groups = defaultdict(list)
        outcome_rows = []
        for submission in submissions:
            outcome = outcomes.get(submission.id)
            if outcome is None or outcome.state == 'unknown':
                values = {
                    'exchange': None,
                    'needs_query': True,
                    'next_attempt': None,
                    }
                row_state, code, message, reference = (
                    'unknown', None, gettext(
                        'account_einvoice.msg_outcome_missing'), None)
                if outcome is not None:
                    code, message = outcome.code, outcome.message
            else:
                if batch.kind == 'send':
                    values = self.after_send(
                        submission, outcome, batch.operation)
                else:
                    values = self.after_query(submission, outcome)
                row_state, code, message, reference = (
                    outcome.state, outcome.code, outcome.message,
                    outcome.reference)
            states[row_state] += 1
            groups[tuple(sorted(values.items()))].append(submission)
            outcome_rows.append({
                    'exchange': exchange.id,
                    'submission': submission.id,
                    'operation': submission.operation,
                    'state': row_state,
                    'code': code,
                    'message': message,
                    'reference': reference,
                    })
        to_write = []
        for values, members in groups.items():
            to_write.extend((members, dict(values)))
        if to_write:
            Submission.write(*to_write)
        Outcome.log(outcome_rows)
        exchange.state = 'done'
        exchange.response = response.content
        exchange.duration = round(response.duration, 3)
        exchange.result = ', '.join(
            f'{n} {s}' for s, n in sorted(states.items()))
        exchange.save()
        Configuration(self.configuration_id).clear_failure()
        transaction.commit()

    @staticmethod
    def after_send(submission, outcome, operation):
        values = {
            'exchange': None,
            'needs_query': False,
            'attempts': 0,
            'next_attempt': None,
            'last_error': None,
            'code': outcome.code,
            'message': outcome.message,
            }
        values.update(outcome.values)
        if outcome.reference:
            values['reference'] = outcome.reference
        if outcome.state in {'accepted', 'accepted_with_errors'}:
            if operation == 'cancel':
                values.update(state='cancelled', registered=False)
            else:
                values.update(state=outcome.state, registered=True)
                if submission.cancel_requested:
                    values.update(
                        state='pending', operation='cancel',
                        cancel_requested=False)
        elif outcome.state == 'cancelled':
            values.update(state='cancelled', registered=False)
        elif outcome.state == 'not_found':
            # Not taken by the authority, certainly: send it again (the
            # service prepares it anew, e.g. with another number).
            values['state'] = 'pending'
        else:
            values['state'] = 'rejected'
            if submission.cancel_requested and not submission.registered:
                values.update(state='cancelled', cancel_requested=False)
        return values

    @classmethod
    def after_query(cls, submission, outcome):
        done = {
            'register': {'accepted', 'accepted_with_errors', 'cancelled'},
            'modify': {'accepted', 'accepted_with_errors', 'cancelled'},
            'cancel': {'cancelled'},
            }[submission.operation]
        if outcome.state not in done:
            # The authority does not hold what we sent: safe to send it.
            values = {
                'exchange': None,
                'needs_query': False,
                'next_attempt': None,
                }
            values.update(outcome.values)
            if outcome.state in {'accepted', 'accepted_with_errors'}:
                values['registered'] = True
            return values
        return cls.after_send(submission, outcome, submission.operation)

    # -- Recovery --------------------------------------------------------
    def recover_stale(self):
        """Mark the batches a dead or stuck sender left in flight as
        "outcome unknown" so they are queried before being sent again."""
        _, Submission, Exchange, Outcome = self._models()
        transaction = Transaction()
        transaction.commit()
        database = transaction.database
        cursor = transaction.connection.cursor()
        table = Exchange.__table__()
        query = table.select(table.id, table.worker, table.started,
            where=(table.configuration == self.configuration_id)
            & table.state.in_(['in_flight', 'recovering']))
        if database.has_select_for():
            query.for_ = database.get_select_for_skip_locked()('UPDATE')
        try:
            cursor.execute(*query)
            rows = cursor.fetchall()
        except backend.DatabaseOperationalError:
            transaction.rollback()
            return
        timeout = _option('in_flight_timeout', None)
        if timeout is None:
            timeout = (_option('connect_timeout', 10)
                + 2 * _option('timeout', 60) + 60)
        cutoff = dt.datetime.now() - dt.timedelta(seconds=timeout)
        stale = [i for i, worker, started in rows
            if self._is_stale(i, worker, started, cutoff)]
        if not stale:
            return
        submissions = Submission.search([('exchange', 'in', stale)])
        message = gettext('account_einvoice.msg_exchange_abandoned')
        Exchange.write(Exchange.browse(stale), {
                'state': 'unknown',
                'error': message,
                })
        if submissions:
            Outcome.log([{
                        'exchange': s.exchange.id,
                        'submission': s.id,
                        'operation': s.operation,
                        'state': 'unknown',
                        'message': message,
                        } for s in submissions])
            Submission.write(submissions, {
                    'exchange': None,
                    'needs_query': True,
                    'next_attempt': None,
                    })
        logger.info("recovered %s abandoned e-invoice exchanges", len(stale))
        transaction.commit()

    def _is_stale(self, exchange_id, worker, started, cutoff):
        if started is None or started < cutoff:
            return True
        host, _, pid = (worker or '').rpartition(':')
        if host != socket.gethostname() or not pid.isdigit():
            return False
        pid = int(pid)
        if pid == os.getpid():
            return (self.database, exchange_id) not in _active
        return not _pid_alive(pid)
