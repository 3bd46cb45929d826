# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Take back what a dead, stuck or failing sender left behind.

A request may stay in the authority's hands after its sender gave up or
died: the time it was sent is committed right before the call, and no
answer "not held" is believed before the request's window (connect and
read timeouts plus ``in_flight_margin``) and ``confirm_delay`` have passed
since then; a sooner "not found" is asked again later.  After
``MAX_FAILURES`` failed calls in a row a run stops and the configuration's
pending submissions wait.
"""
import datetime as dt
import logging
import os
import socket

from sql import Null

from trytond import backend, config
from trytond.i18n import gettext
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from . import rows
from .submission import backoff

logger = logging.getLogger(__name__)
# (database, exchange id) this process is sending right now
active = set()
# consecutive failed batches that stop a run (and pause the configuration)
MAX_FAILURES = 3
RUN_STOPPERS = {'transient', 'unknown', 'not_sent'}


def option(name, default):
    return config.getfloat('account_einvoice', name, default=default)


def request_window(service=None):
    """Seconds a request may stay in the authority's hands after it was
    sent, whether its sender waits for the answer or not"""
    read = getattr(service, 'timeout', None) or option('timeout', 60)
    return (option('connect_timeout', 10) + read
        + option('in_flight_margin', 60))


def write_lock(table, where):
    """SQLite has no row lock: take the database's write lock (a no-op
    UPDATE of the exchanges) before reading the rows that decide a write,
    so no other process changes them between the read and the write.
    Nothing on PostgreSQL (the reads lock with FOR UPDATE)."""
    transaction = Transaction()
    if transaction.database.has_select_for():
        return
    transaction.connection.cursor().execute(*table.update(
            [table.state], [table.state], where=where))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Recovery:
    """The recovery half of the Processor (it provides _models, database,
    configuration_id and _done)"""

    def pause(self):
        """Put off the pending submissions of the configuration: its last
        calls failed in a row, for longer each time they do"""
        _, Submission, Exchange, _ = self._models()
        transaction = Transaction()
        table = Exchange.__table__()
        cursor = transaction.connection.cursor()
        cursor.execute(*table.select(table.failure,
                where=(table.configuration == self.configuration_id)
                & (table.sent != Null)
                & ~table.state.in_(['in_flight', 'recovering']),
                order_by=[table.id.desc], limit=MAX_FAILURES * 10))
        streak = 0
        for failure, in cursor:
            if failure not in RUN_STOPPERS:
                break
            streak += 1
        until = dt.datetime.now() + backoff(
            max(streak // MAX_FAILURES, 1), option('retry_delay', 60),
            option('retry_delay_max', 6 * 3600))
        submission = Submission.__table__()
        cursor.execute(*submission.update(
                [submission.next_attempt], [until],
                where=(submission.configuration == self.configuration_id)
                & (submission.state == 'pending')
                & (submission.exchange == Null)
                & ((submission.next_attempt == Null)
                    | (submission.next_attempt < until))))
        transaction.commit()
        logger.warning("e-invoice configuration %s: %s failed calls in a "
            "row, reporting paused until %s", self.configuration_id,
            streak, until)

    def release(self, exchange_ids, message):
        """Give back to pending the submissions of exchanges never sent
        (nothing left this machine: no query is needed)"""
        _, Submission, Exchange, _ = self._models()
        for exchange_id in exchange_ids:
            active.discard((self.database, exchange_id))
        Exchange.write(Exchange.browse(exchange_ids), {
                'state': 'failed',
                'error': message,
                })
        submissions = Submission.search([('exchange', 'in', exchange_ids)])
        if submissions:
            Submission.write(submissions, {'exchange': None})

    def _too_early(self, service, exchange, submissions, outcomes):
        """{submission id: when to ask again} for the answers "not held"
        that cannot be believed yet: the query left less than the request
        window plus confirm_delay after the last request carrying the
        submission was sent (that request may still have been in the
        authority's hands)"""
        _, _, Exchange, Outcome = self._models()
        candidates = [s.id for s in submissions
            if s.id in outcomes
            and outcomes[s.id].state not in {'unknown', 'processing'}
            and outcomes[s.id].state not in self._done(s.operation)]
        if not candidates:
            return {}
        # an authority processing lots on its own time may not show what
        # it received before it is done with it
        delay = dt.timedelta(seconds=request_window(service)
            + option('confirm_delay', 60) + (service.processing_time or 0))
        outcome = Outcome.__table__()
        table = Exchange.__table__()
        cursor = Transaction().connection.cursor()
        last_sent = {}
        for sub_ids in grouped_slice(candidates, rows.IN_SLICE):
            cursor.execute(*outcome.join(table,
                    condition=outcome.exchange == table.id).select(
                    outcome.submission, table.sent, table.started,
                    where=reduce_ids(outcome.submission, sub_ids)
                    & (table.kind == 'send')))
            for submission_id, sent, started in cursor:
                sent = sent or started
                if sent and sent > last_sent.get(submission_id, sent):
                    last_sent[submission_id] = sent
                elif sent:
                    last_sent.setdefault(submission_id, sent)
        cursor.execute(*table.select(table.sent, table.started,
                where=table.id == exchange.id))
        sent, started = cursor.fetchone()
        asked = sent or started
        return {i: sent + delay for i, sent in last_sent.items()
            if asked < sent + delay}

    def recover_stale(self):
        """Take back the batches a dead or stuck sender left in flight.

        A batch never sent goes back to pending at once when its sender is
        dead (nothing left this machine); a sent one is marked "outcome
        unknown", to be queried, only once the authority cannot be holding
        the request any more, whatever became of its sender."""
        _, Submission, Exchange, Outcome = self._models()
        transaction = Transaction()
        transaction.commit()
        database = transaction.database
        cursor = transaction.connection.cursor()
        table = Exchange.__table__()
        query = table.select(table.id, table.worker, table.started,
            table.sent, table.kind,
            where=(table.configuration == self.configuration_id)
            & table.state.in_(['in_flight', 'recovering']))
        if database.has_select_for():
            query.for_ = database.get_select_for_skip_locked()('UPDATE')
        try:
            cursor.execute(*query)
            unsent, stale, polls = self._abandoned(cursor.fetchall())
            if (unsent or stale or polls) and not database.has_select_for():
                # SQLite: decide again under the write lock, or a sender
                # could mark one sent between this read and the release
                write_lock(table, table.id.in_(unsent + stale + polls))
                cursor.execute(*query)
                unsent, stale, polls = self._abandoned(cursor.fetchall())
        except backend.DatabaseOperationalError:
            transaction.rollback()
            return
        if unsent:
            logger.info("released %s e-invoice exchanges never sent",
                len(unsent))
            self.release(unsent, gettext(
                    'account_einvoice.msg_exchange_abandoned_unsent'))
        if polls:
            self.release(polls, gettext(
                    'account_einvoice.msg_exchange_abandoned'))
        if not stale:
            transaction.commit()
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

    def _abandoned(self, rows):
        """The exchanges of rows (id, worker, started, sent, kind) to take
        back: (never sent, sent, polls)"""
        unsent, stale, polls = [], [], []
        if not rows:
            return unsent, stale, polls
        Configuration = self._models()[0]
        service = Configuration(self.configuration_id).get_service()
        window = request_window(service)
        timeout = option('in_flight_timeout', None)
        if timeout is None:
            timeout = (option('connect_timeout', 10)
                + 2 * option('timeout', 60) + 60)
        now = dt.datetime.now()
        for exchange_id, worker, started, sent, kind in rows:
            dead = self._dead(exchange_id, worker)
            if sent is None:
                if (dead or started is None
                        or started < now - dt.timedelta(seconds=timeout)):
                    unsent.append(exchange_id)
            elif sent < now - dt.timedelta(seconds=window) and (dead
                    or sent < now - dt.timedelta(seconds=timeout)):
                # a poll only read: its lot stays in the authority's hands
                (polls if kind == 'poll' else stale).append(exchange_id)
        return unsent, stale, polls

    def _dead(self, exchange_id, worker):
        """Tell whether the sender of an exchange certainly stopped (a
        process of this host that is gone): nobody will record its answer"""
        host, _, pid = (worker or '').rpartition(':')
        if host != socket.gethostname() or not pid.isdigit():
            return False
        pid = int(pid)
        if pid == os.getpid():
            return (self.database, exchange_id) not in active
        return not _pid_alive(pid)
