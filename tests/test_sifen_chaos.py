"""SIFEN: COUNT invoices of two points of issue posted in batches while
three worker processes send them in lots and poll the lots (killed with
SIGKILL while SIFEN has their request, lot and poll answers lost): SIFEN
approves every CDC exactly once, without a duplicate-CDC error, and each
point's numbers run 1..n without a gap.

    python -m tests.test_sifen_chaos --worker COMPANY

runs one worker.  COUNT is 500 (``SIFEN_CHAOS_COUNT``);
``SIFEN_CHAOS_DEBUG`` prints the states every 0.3 s."""
import os
import random
import sys
import time
from collections import Counter

from tests import chaos, tools
from tests.chaos import work
from tests.sifen_case import SECTION, SERVICE, SifenTestCase
from tests.test_zatca_chaos import Poster

COUNT = int(os.environ.get('SIFEN_CHAOS_COUNT', 500))
POST_BATCH = {'postgresql': 100, 'sqlite': 50}
PROCESSES = 3
KILLS = 5
LOST_LOTS = 3
LOST_POLLS = 2
DEADLINE = 900


def create_drafts(base, count):
    """count draft invoices alternately in the journals of points 001 and
    002: one per journal made by the ORM, the others copied in SQL"""
    from tests.sifen_case import create_invoice
    by_point = {point: chaos.copy_invoice(create_invoice(
                base, [('11000', ['iva10'])], post=False, journal=point),
            count // 2)
        for point in ['A', 'B']}
    return [i for pair in zip(by_point['A'], by_point['B']) for i in pair]


class SifenChaosTest(SifenTestCase):
    sandbox_subprocess = True
    config_sections = {SECTION: {'poll_delay': '0.5',
            'poll_deadline': '3600', 'processing_time': '3'}}

    def states(self):
        "{invoice id: submission state}, read in SQL"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction(commit=False):
            table = Pool().get('account.einvoice.submission').__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(table.invoice, table.state))
            return dict(cursor)

    def test_two_points_kills_lost_answers(self):
        started = time.monotonic()
        rng = random.Random(20261205)
        drafts = tools.call(create_drafts, self.base, COUNT,
            company=self.company)
        size = POST_BATCH['postgresql' if tools.is_postgresql() else 'sqlite']
        batches = [drafts[i:i + size] for i in range(0, len(drafts), size)]
        self.sandbox.set_option(SERVICE, 'processing_seconds', 2)
        self.sandbox.set_option('*', 'latency', 0.05)
        poster = Poster(self.company, batches)
        processes = [chaos.spawn(__name__, self) for _ in range(PROCESSES)]
        poster.start()
        kills = lost = 0
        deadline = time.monotonic() + DEADLINE
        next_kill = time.monotonic() + rng.uniform(2, 5)
        states = {}
        try:
            while time.monotonic() < deadline:
                time.sleep(0.3)
                if poster.error:
                    raise poster.error
                now = time.monotonic()
                if kills < KILLS and now >= next_kill:
                    pids = chaos.in_flight_workers()
                    victims = [p for p in processes
                        if p.pid in pids and p.poll() is None]
                    if victims or (now >= next_kill + 5
                            and poster.posted()):
                        victim = rng.choice(victims or processes)
                        if victim.poll() is None:
                            victim.kill()
                            kills += 1
                            next_kill = now + rng.uniform(2, 6)
                for i, process in enumerate(processes):
                    if process.poll() is not None:
                        process.wait()
                        processes[i] = chaos.spawn(__name__, self)
                posted = poster.posted()
                if lost < LOST_LOTS + LOST_POLLS and len(posted) >= (
                        (lost + 1) * COUNT // (LOST_LOTS + LOST_POLLS + 1)):
                    self.sandbox.add_fault(SERVICE,
                        'rEnvioLote' if lost < LOST_LOTS
                        else 'rEnviConsLoteDe', 'drop_after')
                    lost += 1
                states = self.states()
                if os.environ.get('SIFEN_CHAOS_DEBUG'):
                    print(f'{now - started:.0f} s {len(posted)} posted '
                        f'{dict(Counter(states.values()))} {kills} kills',
                        flush=True)
                if (not poster.is_alive() and len(posted) == len(drafts)
                        and kills == KILLS
                        and lost == LOST_LOTS + LOST_POLLS
                        and not self.sandbox.faults()
                        and set(states.values()) == {'accepted'}):
                    break
        finally:
            for process in processes:
                process.kill()
                process.wait()
            poster.join(timeout=60)
        print(f"\n  {time.monotonic() - started:.0f} s: {len(posted)} posted "
            f"({poster.retries} postings started again), {kills} kills, "
            f"{lost} answers lost", flush=True)

        self.assertEqual(Counter(states.values()),
            Counter({'accepted': len(drafts)}))
        self.assertEqual(kills, KILLS)
        self.assertEqual(self.sandbox.faults(), [])
        self.assertSifenHoldsEachOnce(len(drafts))

    def assertSifenHoldsEachOnce(self, count):
        state = self.state()
        self.assertEqual(state['duplicates'], [])
        held = state['held']
        self.assertEqual(len(held), count)
        self.assertEqual({h['state'] for h in held.values()}, {'approved'})
        self.assertEqual(set(state['received'].values()), {1})
        numbers = {}
        for cdc in held:
            # CDC: type, RUC, DV, establishment, point, number, …
            numbers.setdefault(cdc[14:17], []).append(int(cdc[17:24]))
        self.assertEqual(sorted(numbers), ['001', '002'])
        for point, found in numbers.items():
            self.assertEqual(sorted(found), list(range(1, len(found) + 1)))
        self.assertEqual(set(self.verify_chains().values()), {None})


if __name__ == '__main__':
    work(int(sys.argv[2]))
