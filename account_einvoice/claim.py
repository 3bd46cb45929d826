# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Claim: the first step of the exactly-once loop (see :mod:`.processing`).

Lock pending rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), refuse
locally what the service's checks refuse, group the rest into batches,
create one in-flight exchange per batch, link the rows, commit.  No other
process can take them any more.
"""
import datetime as dt
import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from sql import Null

from trytond import backend
from trytond.pool import Pool
from trytond.tools import reduce_ids
from trytond.transaction import Transaction

from . import rows
from .chain import CONFIGURATION_KEY
from .chained_claim import ChainedClaim
from .isolation import isolate, refusal
from .recovery import active, option
from .service import Postpone
from .submission import backoff

logger = logging.getLogger(__name__)
CLAIM_RETRIES = 10


@dataclass
class Batch:
    exchange: int
    kind: str
    operation: str
    submissions: list
    #: seconds the authority asked to wait before the next request
    wait: float = None
    #: the authority's ticket a poll asks about
    ticket: str = None


def record_locally(configuration_id, documents=True, ids=None):
    """End the pending submissions of a local-only service (whose documents
    are stored, when it keeps documents): *recorded*, or *cancelled* for a
    cancellation, with an outcome row each; nothing is sent.  ids limits
    them.  Return their number."""
    pool = Pool()
    Submission = pool.get('account.einvoice.submission')
    Outcome = pool.get('account.einvoice.exchange.outcome')
    table = Submission.__table__()
    where = ((table.configuration == configuration_id)
        & (table.state == 'pending')
        & (table.exchange == Null))
    if documents:
        where &= (table.generated == True)  # noqa: E712
    if ids is not None:
        where &= reduce_ids(table.id, ids or [-1])
    cursor = Transaction().connection.cursor()
    cursor.execute(*lockable(table.select(table.id, table.operation,
                where=where, order_by=[table.id.asc])))
    recorded = cursor.fetchall()
    if not recorded:
        return 0
    submissions = rows.browse(Submission, [i for i, _ in recorded])
    # never sent: no retry, no deadline to meet
    values = {'state': 'recorded', 'registered': True, 'attempts': 0,
        'next_attempt': None, 'last_error': None, 'deadline': None,
        'deadline_notice': None}
    Submission.write_rows(
        [s for s, (_, o) in zip(submissions, recorded) if o != 'cancel'],
        values,
        [s for s, (_, o) in zip(submissions, recorded) if o == 'cancel'],
        dict(values, state='cancelled', registered=False))
    Outcome.log([{
                'submission': i,
                'operation': o,
                'state': 'recorded',
                } for i, o in recorded])
    return len(recorded)


def lockable(query):
    "query locking the rows it reads, skipping those locked (PostgreSQL)"
    database = Transaction().database
    if database.has_select_for():
        query.for_ = database.get_select_for_skip_locked()('UPDATE')
    return query


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Claim(ChainedClaim):
    """The claim half of the Processor (it provides _models, database,
    configuration_id, ids, worker, claims, deferred and reject_locally)"""

    def claim(self):
        transaction = Transaction()
        for attempt in range(CLAIM_RETRIES):
            transaction.commit()
            claims = Counter(self.claims)
            try:
                return self._claim()
            except backend.DatabaseOperationalError:
                # A concurrent process committed rows we tried to lock
                # after our snapshot; start again from a new one.
                transaction.rollback()
                # what was rolled back was not claimed: it must not count
                # towards the claims a run may make of a submission
                self.claims = claims
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        logger.warning("could not claim submissions after %s attempts",
            CLAIM_RETRIES)
        return []

    def _claim(self):
        Configuration, Submission, _, _ = self._models()
        transaction = Transaction()
        configuration = Configuration(self.configuration_id)
        service = configuration.get_service()
        now = dt.datetime.now()
        self.deferred = 0
        read = 0
        self.seen = {}
        if service.documents:
            self._lock_first(configuration)
            read = self._generate(configuration, service, now)
        if not service.sends:
            return self._record_all(configuration, service, now, read)
        batches = self._claim_polls(configuration, service, now)
        batches += self._claim_unchained(configuration, service, now)
        if service.documents:
            batches += self._claim_chains(configuration, service, now)
        transaction.commit()
        return batches

    def _record_all(self, configuration, service, now, read):
        """A local-only service sends nothing: what is generated is
        recorded, chunk after chunk (each committed) while chunks come
        full; no batch, no exchange"""
        transaction = Transaction()
        limit = self._limit(configuration, service)
        while True:
            record_locally(self.configuration_id, service.documents)
            transaction.commit()
            if not service.documents or read < limit:
                return []
            self._lock_first(configuration)
            read = self._generate(configuration, service, now)

    def _lockable(self, query):
        return lockable(query)

    def _lock_first(self, configuration):
        """SQLite: take the write lock before reading, so what is read
        (chain heads, documents to generate) cannot change before this
        claim commits"""
        if not Transaction().database.has_select_for():
            Pool().get('account.einvoice.chain').lock(configuration.id, None)

    def _base_where(self, table, now, state='pending'):
        where = ((table.configuration == self.configuration_id)
            & (table.state == state)
            & (table.exchange == Null)
            & ((table.next_attempt == Null) | (table.next_attempt <= now)))
        if self.ids is not None:
            where &= table.id.in_(self.ids or [-1])
        exhausted = self._exhausted()
        if exhausted:
            where &= ~table.id.in_(list(exhausted))
        return where

    def _limit(self, configuration, service, key=None):
        limit = service.batch_limit if key is None else service.limit(key)
        if configuration.batch_size:
            limit = min(limit, configuration.batch_size)
        return limit

    def _generate(self, configuration, service, now):
        """Check and generate the documents of the pending submissions that
        have none yet; the refused ones never join a chain"""
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        Document = pool.get('account.einvoice.document')
        table = Submission.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*self._lockable(table.select(table.id,
                    where=self._base_where(table, now)
                    & (table.generated != True),  # noqa: E712
                    order_by=[table.id.asc],
                    limit=self._limit(configuration, service))))
        submissions = rows.browse(Submission, [i for i, in cursor])
        read = len(submissions)
        if not submissions:
            return read
        refused = self._check(service, submissions)
        submissions = [s for s in submissions if s.id not in refused]
        if submissions:
            refused.update(Document.generate(
                    configuration, service, submissions))
            if service.qr_at_generation:
                Submission._update_invoice_qr([
                        s for s in submissions if s.id not in refused])
        if refused:
            self._refuse(rows.browse(Submission, list(refused)), refused)
        return read

    def _claim_unchained(self, configuration, service, now):
        Configuration, Submission, Exchange, Outcome = self._models()
        Chain = Pool().get('account.einvoice.chain')
        cursor = Transaction().connection.cursor()
        table = Submission.__table__()
        where = self._base_where(table, now) & (table.chain == Null)
        if service.documents:
            where &= (table.generated == True)  # noqa: E712
        cursor.execute(*self._lockable(table.select(
                    table.id, table.needs_query, table.operation,
                    table.state, table.attempts,
                    where=where, order_by=[table.id.asc],
                    limit=self._limit(configuration, service))))
        claimed = cursor.fetchall()
        self._saw(claimed)
        needs_query = {i: bool(q) for i, q, *_ in claimed}
        operations = {i: o for i, _, o, *_ in claimed}
        if not needs_query:
            return []
        ids = list(needs_query)
        self.claims.update(ids)
        submissions = rows.browse(Submission, ids)

        if not service.documents:
            to_check = [s for s in submissions if not needs_query[s.id]]
            refused = self._check(service, to_check) if to_check else {}
            if refused:
                self._refuse(
                    [s for s in submissions if s.id in refused], refused)
                submissions = [
                    s for s in submissions if s.id not in refused]

        resend = service.recovery == 'resend'
        groups = defaultdict(list)
        for submission in submissions:
            if needs_query[submission.id] and not resend:
                key = ('query', None, service.batch_key(submission))
            else:
                key = ('send', operations[submission.id],
                    service.batch_key(submission))
            groups[key].append(submission)

        chain = Chain.find(self.configuration_id, [CONFIGURATION_KEY]).get(
            CONFIGURATION_KEY)
        batches = []
        for (kind, operation, key), members in groups.items():
            if kind == 'send' and chain and chain.waiting(now) and not (
                    service.wait_exempt_batch
                    and len(members) >= service.wait_exempt_batch):
                self.claims.subtract([s.id for s in members])
                continue
            size = self._limit(configuration, service, key)
            if kind == 'query' and service.query_limit:
                size = min(size, service.query_limit)
            for chunk in _chunks(members, size):
                if kind == 'send':
                    chunk = self._prepare(service, chunk)
                    if not chunk:
                        continue
                batches.append(self._open(
                        configuration, kind, operation, chunk, now))
        return batches

    def _claim_polls(self, configuration, service, now):
        """One poll exchange per ticket (and slice) of the submissions the
        authority is processing whose time to ask has come"""
        _, Submission, _, _ = self._models()
        table = Submission.__table__()
        where = self._base_where(table, now, state='processing')
        cursor = Transaction().connection.cursor()
        cursor.execute(*self._lockable(table.select(
                    table.id, table.needs_query, table.operation,
                    table.state, table.attempts, table.ticket, where=where,
                    order_by=[table.id.asc],
                    limit=self._limit(configuration, service))))
        claimed = cursor.fetchall()
        self._saw(claimed)
        by_ticket = defaultdict(list)
        for submission_id, *_, ticket in claimed:
            by_ticket[ticket or ''].append(submission_id)
        batches = []
        for ticket, ids in by_ticket.items():
            self.claims.update(ids)
            for chunk in _chunks(rows.browse(Submission, ids),
                    self._limit(configuration, service)):
                batch = self._open(configuration, 'poll', None, chunk, now)
                batch.ticket = ticket or None
                batches.append(batch)
        return batches

    def _saw(self, claimed):
        """Remember what the rows read were (id, needs_query, operation,
        state, attempts): on SQLite they are checked again under the write
        lock before they are linked to an exchange"""
        if not Transaction().database.has_select_for():
            self.seen.update((r[0], tuple(r[1:5])) for r in claimed)

    def _check_unchanged(self, ids):
        """On SQLite, which reads outside the transaction until its first
        write (no row lock to skip), refuse the claim when another process
        claimed, sent or recorded one of the rows read since: the claim
        starts again from what is there now."""
        if Transaction().database.has_select_for():
            return
        ids = [i for i in ids if i in self.seen]
        if not ids:
            return
        _, Submission, _, _ = self._models()
        table = Submission.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, table.needs_query,
                table.operation, table.state, table.attempts,
                table.exchange, where=table.id.in_(ids)))
        for id_, *values, exchange in cursor:
            if exchange or tuple(values) != self.seen[id_]:
                raise backend.DatabaseOperationalError(
                    f'e-invoice submission {id_} changed since it was read')

    def _open(self, configuration, kind, operation, chunk, now):
        "Create the in-flight exchange of a batch and link its rows"
        _, Submission, Exchange, _ = self._models()
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
        # the first write holds SQLite's write lock from here on
        self._check_unchanged([s.id for s in chunk])
        Submission.write_rows(chunk, {'exchange': exchange.id})
        active.add((self.database, exchange.id))
        return Batch(exchange.id, kind, operation, [s.id for s in chunk])

    def _check(self, service, submissions):
        """The local refusals of service.check; what it cannot check (it
        raises) is charged to the submissions causing it, refused alone"""
        results, failures = isolate(service.check, submissions)
        refused = {}
        for result in results:
            refused.update(result)
        for submission in submissions:
            if submission.id in failures:
                refused[submission.id] = refusal(
                    submission, failures[submission.id], 'check')
        return refused

    def _refuse(self, submissions, refused):
        """Reject what the checks refused; what they postponed waits (see
        :class:`~.service.Postpone`)"""
        waiting = [s for s in submissions
            if isinstance(refused[s.id], Postpone)]
        self.reject_locally(
            [s for s in submissions if s not in waiting], refused)
        if not waiting:
            return
        _, Submission, _, _ = self._models()
        now = dt.datetime.now()
        base = option('retry_delay', 60)
        maximum = option('retry_delay_max', 6 * 3600)
        to_write = []
        for submission in waiting:
            postpone = refused[submission.id]
            attempts = (submission.attempts or 0) + 1
            next_attempt = postpone.retry_at or (
                now + backoff(attempts, base, maximum))
            if submission.deadline and submission.deadline < next_attempt:
                next_attempt = max(submission.deadline, now)
            to_write.extend(([submission], {
                        'attempts': attempts,
                        'next_attempt': next_attempt,
                        'last_error': str(postpone.message),
                        }))
        Submission.write_rows(*to_write)

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
