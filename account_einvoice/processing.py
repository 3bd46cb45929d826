# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Claim, send, record: the exactly-once loop.

1. *Claim* (:mod:`.claim`): lock pending rows (``FOR UPDATE SKIP
   LOCKED`` on PostgreSQL), create one in-flight exchange per batch, link
   the rows, commit.  No other process can take them any more.
2. *Call*: build and validate the request, store it, commit, then call.
3. *Record*: store the answer and the outcomes, unlink the rows, commit.

An exchange left in flight (crash, lost answer) and every answer that may
have been processed without us knowing mark its submissions "outcome
unknown"; they are then queried before anything is sent again.

A request may stay in the authority's hands after its sender gave up or
died: the time it was sent is committed right before the call, and no
answer "not held" is believed before the request's window (connect and
read timeouts plus ``in_flight_margin``) and ``confirm_delay`` have passed
since then; a sooner "not found" is asked again later.  A batch is sent
only while its exchange is still in flight for this process.
"""
import datetime as dt
import logging
import random
import time
from collections import Counter, defaultdict

from sql import For

from trytond import backend
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import rows, transport
from .claim import CLAIM_RETRIES, Claim
from .exceptions import CertificateError, ServiceFailure
from .exchange import worker_id
from .isolation import isolate, refusal
from .local_message import LocalMessage
from .polling import processing_values
from .recovery import (
    MAX_FAILURES, RUN_STOPPERS, Recovery, active, option, write_lock)
from .schema import validate_records
from .submission import backoff
from .transitions import Transitions

logger = logging.getLogger(__name__)
# an answer whose recording the database refuses (busy, concurrent write)
# is recorded again this many times before the authority is asked instead
RECORD_ATTEMPTS = 5
# seconds between claims when a service deferred everything it was given
DEFER_DELAY = 0.2


class Processor(Claim, Recovery, Transitions):
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
        patience = option('defer_wait', 10)
        failures = 0
        while failures < MAX_FAILURES:
            batches = self.claim()
            if not batches:
                if self.deferred and waited < patience:
                    # Another sender holds what these records wait for
                    # (e.g. the authority's next number): try again soon.
                    time.sleep(DEFER_DELAY)
                    waited += DEFER_DELAY
                    continue
                break
            # patience is for waiting without progress: a busy other
            # sender must not make this one give up on work it can do
            waited = 0
            for i, batch in enumerate(batches):
                if failures >= MAX_FAILURES:
                    # The authority is failing: leave the rest for later
                    # instead of turning the backlog into failures.
                    self.release([b.exchange for b in batches[i:]],
                        gettext('account_einvoice.msg_exchange_run_stopped',
                            count=failures))
                    Transaction().commit()
                    break
                try:
                    failed = self.execute(batch)
                except BaseException:
                    # The batches left were never sent: this process's
                    # next run gives them back at once.
                    for rest in batches[i + 1:]:
                        active.discard((self.database, rest.exchange))
                    raise
                if failed in RUN_STOPPERS:
                    failures += 1
                else:
                    failures = 0
        if failures >= MAX_FAILURES:
            self.pause()

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
            Submission.write_rows(*to_write)
            Outcome.log(outcomes)

    # -- Call ------------------------------------------------------------
    def execute(self, batch):
        "Send the batch and record the answer; return the failure kind"
        Configuration, Submission, Exchange, _ = self._models()
        transaction = Transaction()
        configuration = Configuration(self.configuration_id)
        service = configuration.get_service()
        exchange = Exchange(batch.exchange)
        submissions = rows.browse(Submission, batch.submissions)
        called = False
        response = None
        request = None
        failed = None
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
            elif batch.kind == 'poll':
                request = service.build_poll(batch.ticket, submissions)
            else:
                request = service.build_query(submissions)
            data = service.serialize(request)
            url, headers = service.endpoint(request)
            exchange.request = data
            exchange.remote_operation = request.operation
            exchange.protocol = request.protocol
            exchange.endpoint = url
            exchange.request_headers = Exchange.dump_headers(
                headers, request.secret_headers)
            exchange.record_count = len(submissions)
            exchange.save()
            transaction.commit()

            service.before_call(request)
            if not self._mark_sent(batch.exchange):
                logger.info("e-invoice exchange %s was taken over before "
                    "it was sent", batch.exchange)
                return
            called = True
            response = service.call(request, data)
            failure = service.classify_response(response)
            if failure:
                raise failure
            if batch.kind == 'send':
                outcomes = service.parse_response(request, response)
            elif batch.kind == 'poll':
                outcomes = service.parse_poll(request, response)
            else:
                outcomes = service.parse_query(request, response)
        except ServiceFailure as failure:
            response = response or failure.response
            if self._unprocessed(service, failure, response):
                failure.kind = 'not_sent'
            failed = self.fail(batch, failure, called, response)
            self._store_answer(batch.exchange, response, request, commit=True)
        except Exception as exception:
            logger.exception("e-invoice exchange %s failed", batch.exchange)
            failed = self.fail(batch, ServiceFailure('unknown', gettext(
                        'account_einvoice.msg_internal_error',
                        error=f'{exception.__class__.__name__}: {exception}'
                        )), called, response)
            self._store_answer(batch.exchange, response, request, commit=True)
        else:
            self._record_answer(service, batch, request, response, outcomes)
        finally:
            active.discard((self.database, batch.exchange))
        return failed

    def _record_answer(self, service, batch, request, response, outcomes):
        """Commit the authority's wait first (on its own), then the answer
        and the outcomes, started again while the database is busy: the
        answer is only in memory"""
        transaction = Transaction()
        try:
            batch.wait = service.wait_after(request, response)
            if batch.wait:
                self.hold(batch.submissions, dt.datetime.now()
                    + dt.timedelta(seconds=batch.wait), wait=batch.wait)
            for attempt in range(RECORD_ATTEMPTS):
                try:
                    self._store_answer(batch.exchange, response, request)
                    self.record(service, batch, outcomes, response)
                    return
                except backend.DatabaseOperationalError:
                    transaction.rollback()
                    if attempt + 1 == RECORD_ATTEMPTS:
                        raise
                    time.sleep(random.uniform(0.1, 0.3) * (attempt + 1))
        except Exception:
            # Left in flight: the next run asks the authority.
            logger.exception(
                "could not record e-invoice exchange %s", batch.exchange)
            transaction.rollback()

    def _mark_sent(self, exchange_id):
        """Commit that the request leaves now, if the exchange is still in
        flight for us: a recovery may have taken over a batch that waited
        too long, and sent it itself"""
        _, _, Exchange, _ = self._models()
        transaction = Transaction()
        if not self._still_ours(exchange_id):
            transaction.rollback()
            return False
        # Taken under the lock: the time waited for it must not make the
        # request look older than it is (its window would end too soon).
        now = dt.datetime.now()
        table = Exchange.__table__()
        transaction.connection.cursor().execute(*table.update(
                [table.sent], [now], where=table.id == exchange_id))
        transaction.commit()
        return True

    def _store_answer(self, exchange_id, response, request, commit=False):
        "Keep the HTTP status and headers of the answer on the exchange"
        if response is None:
            return
        _, _, Exchange, _ = self._models()
        Exchange.store_answer(exchange_id, response,
            request.secret_headers if request is not None else ())
        if commit:
            Transaction().commit()

    @staticmethod
    def _unprocessed(service, failure, response):
        """Tell whether a failed call's answer is one the authority
        documents as "request not processed" (e.g. a 503 of its front end):
        for SOAP an answer that is not a SOAP message"""
        if (failure.kind != 'unknown' or response is None
                or response.status not in service.unprocessed_statuses):
            return False
        return (response.body is None
            or response.protocol not in transport.ENVELOPES)

    def _build_request(self, service, exchange, submissions, operation):
        """service.build_request, refusing alone the submissions it cannot
        build (it raises for them); None when none is left"""
        results, failures = isolate(
            lambda part: service.build_request(part, operation),
            submissions)
        if not failures:
            return results[0], submissions
        culprits = [s for s in submissions if s.id in failures]
        self.reject_locally(culprits, {
                s.id: refusal(s, failures[s.id], 'build')
                for s in culprits}, exchange=exchange)
        Transaction().commit()
        submissions = [s for s in submissions if s.id not in failures]
        if not submissions:
            return None, []
        return service.build_request(submissions, operation), submissions

    def build(self, service, exchange, submissions, operation):
        "Build a request that validates, refusing the invalid records"
        for _ in range(3):
            request, submissions = self._build_request(
                service, exchange, submissions, operation)
            if request is None:
                return None, []
            schema = service.schema(request)
            if schema is None:
                return request, submissions
            errors, general = validate_records(
                schema, request.body, request.records)
            if not errors and not general:
                return request, submissions
            if service.documents:
                # Stored documents were checked before they were kept (and
                # chained): refusing one now would break its chain.
                general = general + [
                    e for i in sorted(errors) for e in errors[i]]
                errors = {}
            if not errors:
                raise ServiceFailure('configuration', gettext(
                        'account_einvoice.msg_request_schema_invalid',
                        errors='; '.join(general[:5])))
            self.reject_locally(
                [s for s in submissions if s.id in errors],
                {i: LocalMessage('account_einvoice.msg_record_schema_invalid',
                        errors='; '.join(e[:5]))
                    for i, e in errors.items()},
                exchange=exchange)
            Transaction().commit()
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
        write_lock(table, table.id == exchange_id)
        query = table.select(table.state, table.worker,
            where=table.id == exchange_id)
        if database.has_select_for():
            query.for_ = For('UPDATE')
        cursor = transaction.connection.cursor()
        cursor.execute(*query)
        row = cursor.fetchone()
        return bool(row) and row[0] == 'in_flight' and row[1] == self.worker

    def _members(self, exchange_id):
        "The submissions linked to the exchange"
        _, Submission, _, _ = self._models()
        table = Submission.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id,
                where=table.exchange == exchange_id, order_by=[table.id]))
        return rows.browse(Submission, [i for i, in cursor])

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
        retry_at = getattr(failure, 'retry_at', None)
        if (retry_at and response is not None
                and transport.retry_after(response)):
            # the authority itself asked every request to wait
            self.hold(batch.submissions, retry_at)
        if called and failure.kind == 'unknown' and batch.kind == 'send':
            # the authority may have taken it and asked, in the answer
            # lost, for a wait: the last one it asked for holds
            self.hold_last_wait(batch.submissions)
        kind = failure.kind
        if not called and kind == 'unknown':
            kind = 'not_sent'
        if called and not self._still_ours(batch.exchange):
            self._late(batch.exchange, response, failure.message)
            return kind
        now = dt.datetime.now()
        exchange = Exchange(batch.exchange)
        exchange.state = 'unknown' if kind == 'unknown' else 'failed'
        exchange.failure = kind
        exchange.result = gettext(f'account_einvoice.msg_failure_{kind}')
        exchange.error = failure.message
        if response is not None:
            exchange.response = response.content
            exchange.duration = round(response.duration, 3)
        exchange.save()

        base = option('retry_delay', 60)
        maximum = option('retry_delay_max', 6 * 3600)
        submissions = self._members(batch.exchange)
        by_attempts = defaultdict(list)
        for submission in submissions:
            next_attempt = (retry_at or now + backoff(
                    (submission.attempts or 0) + 1, base, maximum))
            if submission.deadline and submission.deadline < next_attempt:
                # never put off past the deadline
                next_attempt = max(submission.deadline, now)
            by_attempts[((submission.attempts or 0) + 1,
                    next_attempt)].append(submission)
        to_write = []
        for (attempts, next_attempt), members in by_attempts.items():
            values = {
                'exchange': None,
                'attempts': attempts,
                'next_attempt': next_attempt,
                'last_error': failure.message,
                }
            if kind == 'unknown' and batch.kind != 'poll':
                # a poll only reads: the lot stays in the authority's hands
                values['needs_query'] = True
            to_write.extend((members, values))
        if to_write:
            Submission.write_rows(*to_write)
        if batch.kind == 'poll':
            row_state = 'processing'
        else:
            row_state = 'unknown' if kind == 'unknown' else 'pending'
        Outcome.log([{
                    'exchange': exchange.id,
                    'submission': s.id,
                    'operation': s.operation,
                    'state': row_state,
                    'code': failure.code,
                    'message': failure.message,
                    } for s in submissions])
        if kind == 'configuration':
            Configuration(self.configuration_id).record_failure(
                failure.message)
        transaction.commit()
        return kind

    def record(self, service, batch, outcomes, response):
        Configuration, Submission, Exchange, Outcome = self._models()
        transaction = Transaction()
        if not self._still_ours(batch.exchange):
            self._late(batch.exchange, response, gettext(
                    'account_einvoice.msg_exchange_late_answer'))
            return
        exchange = Exchange(batch.exchange)
        submissions = rows.read(Submission,
            ['operation', 'cancel_requested', 'registered', 'state',
                'ticket', 'poll_deadline'],
            lambda t: t.exchange == batch.exchange)
        now = dt.datetime.now()
        returned = []
        early = {}
        if batch.kind == 'query':
            early = self._too_early(
                service, exchange, submissions, outcomes)
        states = Counter()
        groups = defaultdict(list)
        outcome_rows = []
        for submission in submissions:
            outcome = outcomes.get(submission.id)
            if outcome is not None and outcome.document is not None:
                returned.append(
                    (submission.id, submission.operation, outcome.document))
            if outcome is None or outcome.state == 'unknown' or (
                    batch.kind == 'poll' and outcome.state == 'not_found'):
                # the authority must be asked about each document (a lot
                # it does not know included) before anything is sent again
                values = {
                    'exchange': None,
                    'needs_query': True,
                    'next_attempt': None,
                    }
                row_state, code, message, reference = (
                    'unknown', None, gettext(
                        'account_einvoice.msg_outcome_missing'), None)
                if batch.kind == 'poll':
                    values['state'] = 'pending'
                    message = gettext('account_einvoice.msg_poll_lot_unknown',
                        ticket=batch.ticket or '-')
                if outcome is not None:
                    code = outcome.code
                    message = outcome.message or (
                        message if batch.kind == 'poll' else None)
            elif outcome.state == 'processing':
                values = processing_values(
                    service, submission, outcome, now, batch.ticket)
                values.update(code=outcome.code, message=outcome.message)
                row_state, code, message, reference = (
                    'processing', outcome.code, outcome.message,
                    values['ticket'])
            elif submission.id in early:
                # The last request may still be in the authority's hands
                values = {
                    'exchange': None,
                    'needs_query': True,
                    'next_attempt': early[submission.id],
                    }
                row_state, code, message, reference = (
                    outcome.state, outcome.code, gettext(
                        'account_einvoice.msg_query_not_held_yet',
                        date=early[submission.id].replace(microsecond=0)),
                    None)
            else:
                if batch.kind == 'send':
                    values = self.after_send(
                        submission, outcome, batch.operation)
                elif batch.kind == 'poll':
                    values = self.after_send(
                        submission, outcome, submission.operation)
                else:
                    values = self.after_query(submission, outcome)
                row_state, code, message, reference = (
                    outcome.state, outcome.code, outcome.message,
                    outcome.reference)
            states[row_state] += 1
            groups[tuple(sorted(values.items()))].append(submission.id)
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
        renewed = []
        for values, members in groups.items():
            values = dict(values)
            to_write.extend((members, values))
            if values.get('generated') is False:
                renewed.extend(members)
        if renewed:
            Pool().get('account.einvoice.document').supersede(renewed)
        if to_write:
            Submission.write_rows(*to_write)
        Outcome.log(outcome_rows)
        if returned:
            Pool().get('account.einvoice.document').keep_returned(
                exchange.company.id, returned)
        exchange.state = 'done'
        exchange.response = response.content
        exchange.duration = round(response.duration, 3)
        exchange.result = ', '.join(
            f'{n} {s}' for s, n in sorted(states.items()))
        exchange.save()
        Configuration(self.configuration_id).clear_failure()
        transaction.commit()

    def hold_last_wait(self, submission_ids):
        "Hold the chains of the submissions for their last wait, if any"
        pool = Pool()
        Chain = pool.get('account.einvoice.chain')
        Submission = pool.get('account.einvoice.submission')
        keys = {s.chain.key if s.chain else None
            for s in rows.browse(Submission, submission_ids)}
        wait = Chain.last_wait_of(self.configuration_id, keys)
        if wait:
            self.hold(submission_ids, dt.datetime.now()
                + dt.timedelta(seconds=wait))

    def hold(self, submission_ids, until, wait=None):
        """Commit that no request may go before until for the chains of the
        submissions (the configuration's own chain for those not chained).

        Committed on its own, before the answer is recorded, while the
        batch still blocks its chain: no other sender can slip a request
        in between; a concurrent write of the chain row is retried."""
        pool = Pool()
        Chain = pool.get('account.einvoice.chain')
        Submission = pool.get('account.einvoice.submission')
        transaction = Transaction()
        for attempt in range(CLAIM_RETRIES):
            try:
                keys = {s.chain.key if s.chain else None
                    for s in rows.browse(Submission, submission_ids)}
                Chain.hold(self.configuration_id, keys, until, wait=wait)
                transaction.commit()
                return
            except backend.DatabaseOperationalError:
                transaction.rollback()
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        logger.warning("could not record the wait of e-invoice "
            "configuration %s", self.configuration_id)
