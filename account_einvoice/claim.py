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
from collections import defaultdict
from dataclasses import dataclass

from sql import Null

from trytond import backend
from trytond.transaction import Transaction

from .isolation import isolate, refusal
from .recovery import active

logger = logging.getLogger(__name__)
CLAIM_RETRIES = 10
MAX_CLAIMS_PER_RUN = 3


@dataclass
class Batch:
    exchange: int
    kind: str
    operation: str
    submissions: list


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Claim:
    """The claim half of the Processor (it provides _models, database,
    configuration_id, ids, worker, claims, deferred and reject_locally)"""

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
        refused = self._check(service, to_check) if to_check else {}
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
                active.add((self.database, exchange.id))
        transaction.commit()
        return batches

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
