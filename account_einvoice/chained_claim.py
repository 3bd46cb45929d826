# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Claiming chained documents: strictly in chain order, one request per
chain at a time.

A chain's *head* is its earliest pending submission.  While the head is in
flight, waits for a retry, or its outcome is unknown (and the authority is
asked first), nothing later in the chain is sent: the chain is skipped, not
spun on.  Otherwise the run of consecutive ready submissions from the head
is claimed as one batch, unless the authority asked to wait (a full batch
may go early when the service allows it).
"""
from sql import Null
from sql.aggregate import Min

from trytond.pool import Pool
from trytond.transaction import Transaction

# claims of one submission in one run before it waits for the next run
MAX_CLAIMS_PER_RUN = 3


class ChainedClaim:
    "Part of the Processor's claim (see :mod:`.claim`)"

    def _exhausted(self):
        "The submissions this run claimed as often as a run may"
        return {i for i, n in self.claims.items()
            if n >= MAX_CLAIMS_PER_RUN}

    def _claim_chains(self, configuration, service, now):
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        Chain = pool.get('account.einvoice.chain')
        cursor = Transaction().connection.cursor()
        table = Submission.__table__()
        where = ((table.configuration == self.configuration_id)
            & (table.state == 'pending')
            & (table.chain != Null))
        if self.ids is not None:
            wanted = Submission.__table__()
            where &= table.chain.in_(wanted.select(wanted.chain,
                    where=wanted.id.in_(self.ids or [-1])))
        cursor.execute(*table.select(
                table.chain, Min(table.chain_sequence),
                where=where, group_by=[table.chain]))
        heads = dict(cursor)
        if not heads:
            return []
        chains = {c.id: c for c in Chain.browse(list(heads))}
        batches = []
        for chain_id in sorted(heads):
            batch = self._claim_chain(
                configuration, service, chains[chain_id], heads[chain_id],
                now)
            if batch:
                batches.append(batch)
        return batches

    def _claim_chain(self, configuration, service, chain, head, now):
        _, Submission, _, _ = self._models()
        cursor = Transaction().connection.cursor()
        table = Submission.__table__()
        limit = self._limit(configuration, service)
        cursor.execute(*table.select(
                table.id, table.exchange, table.needs_query,
                table.next_attempt, table.operation,
                where=(table.chain == chain.id)
                & (table.state == 'pending')
                & (table.chain_sequence >= head),
                order_by=[table.chain_sequence.asc],
                limit=limit))
        rows = cursor.fetchall()
        exhausted = self._exhausted()

        def ready(row):
            id_, exchange, _, next_attempt, _ = row
            return not exchange and id_ not in exhausted and (
                not next_attempt or next_attempt <= now)

        def asks(row):
            return bool(row[2]) and service.recovery == 'query'

        if not rows or not ready(rows[0]):
            return None
        first = rows[0]
        query = asks(first)
        run = []
        for row in rows:
            if not ready(row) or asks(row) != query or (
                    not query and row[4] != first[4]):
                break
            run.append(row[0])
            if query and len(run) == service.query_limit:
                break
        if not query and chain.waiting(now) and not (
                service.wait_exempt_batch
                and len(run) >= service.wait_exempt_batch):
            return None
        run = self._lock_run(run)
        if not run:
            return None
        self.claims.update(run)
        kind = 'query' if query else 'send'
        operation = None if query else first[4]
        return self._open(configuration, kind, operation,
            Submission.browse(run), now)

    def _lock_run(self, run):
        """Lock the rows of run; keep only the prefix another sender does
        not hold (nothing when the head is taken)"""
        _, Submission, _, _ = self._models()
        cursor = Transaction().connection.cursor()
        table = Submission.__table__()
        cursor.execute(*self._lockable(table.select(
                    table.id, where=table.id.in_(run)
                    & (table.exchange == Null))))
        locked = {i for i, in cursor}
        prefix = []
        for id_ in run:
            if id_ not in locked:
                break
            prefix.append(id_)
        return prefix
