"""ZATCA: COUNT simplified invoices of two EGS units posted in batches while
three worker processes report them (killed with SIGKILL while ZATCA has
their request, answers lost): the sandbox holds every invoice once, each
unit's ICV runs 1..n without a gap and every PIH is the previous
invoice's hash, in the order of our chains.

    python -m tests.test_zatca_chaos --worker COMPANY

runs one worker.  COUNT is 1,000 (``ZATCA_CHAOS_COUNT``);
``ZATCA_CHAOS_DEBUG`` prints the states every 0.3 s (``CHAOS_DEBUG``
the transactions started again)."""
import os
import random
import sys
import threading
import time
from collections import Counter

from tests import chaos, tools
from tests.chaos import post, retrying, work
from tests.zatca_case import SERVICE, ZatcaTestCase, setup_configuration

COUNT = int(os.environ.get('ZATCA_CHAOS_COUNT', 1000))
POST_BATCH = {'postgresql': 100, 'sqlite': 50}
PROCESSES = 3
KILLS = 5
LOST_ANSWERS = 3
DEADLINE = 900
FIRST_PIH = ('NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5'
    'MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==')


def create_drafts(base, count):
    """count draft simplified invoices with a taxed line, alternately in
    the journals of units A and B: one per journal made by the ORM, the
    others copied from them in SQL"""
    from tests.zatca_case import create_invoice
    by_unit = {unit: chaos.copy_invoice(create_invoice(
                base, [('99.99', ['vat15'])], post=False, journal=unit),
            count // 2)
        for unit in ['A', 'B']}
    # alternate the units: both chains grow at once
    return [i for pair in zip(by_unit['A'], by_unit['B']) for i in pair]


class Poster(threading.Thread):
    "The bookkeeper posting the drafts in batches, as fast as it can"

    def __init__(self, company, batches):
        super().__init__(daemon=True)
        self.company = company
        self.batches = batches
        self.numbers = {}
        self.retries = 0
        self.error = None
        self.lock = threading.Lock()

    def run(self):
        try:
            for batch in self.batches:
                numbers, retries = retrying(post, batch, company=self.company)
                with self.lock:
                    self.numbers.update(numbers)
                    self.retries += retries
        except Exception as exception:
            self.error = exception

    def posted(self):
        with self.lock:
            return dict(self.numbers)


class ZatcaChaosTest(ZatcaTestCase):
    sandbox_subprocess = True
    config_options = {'in_flight_margin': 1, 'retry_delay': 1,
        'retry_delay_max': 2, 'confirm_delay': 1}

    @classmethod
    def setUpData(cls):
        from trytond.pool import Pool
        super().setUpData()

        def second_unit():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(cls.configuration)],
                {'journals': [('add', [cls.base['journals']['A']])]})
            return setup_configuration(cls.base, cls.sandbox, unit='B',
                certificate='zatca_b', journals=['B'])
        cls.second = tools.call(second_unit, company=cls.base['company'])
        cls.units = [cls.configuration, cls.second]

    def states(self):
        "{invoice id: submission state}, read in SQL"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction(commit=False):
            table = Pool().get('account.einvoice.submission').__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(table.invoice, table.state))
            return dict(cursor)

    def test_two_units_kills_lost_answers(self):
        started = time.monotonic()
        rng = random.Random(20261204)
        drafts = tools.call(create_drafts, self.base, COUNT,
            company=self.company)
        size = POST_BATCH['postgresql' if tools.is_postgresql() else 'sqlite']
        batches = [drafts[i:i + size] for i in range(0, len(drafts), size)]
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
                if lost < LOST_ANSWERS and len(posted) >= (
                        (lost + 1) * COUNT // (LOST_ANSWERS + 1)):
                    self.sandbox.add_fault(SERVICE, 'reporting',
                        'drop_after')
                    lost += 1
                states = self.states()
                if os.environ.get('ZATCA_CHAOS_DEBUG'):
                    print(f'{now - started:.0f} s {len(posted)} posted '
                        f'{dict(Counter(states.values()))} {kills} kills',
                        flush=True)
                if (not poster.is_alive() and len(posted) == len(drafts)
                        and kills == KILLS and lost == LOST_ANSWERS
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
        self.assertEqual(lost, LOST_ANSWERS)
        self.assertEqual(self.sandbox.faults(), [])
        self.assertSandboxHoldsOurChains(len(drafts))

    def assertSandboxHoldsOurChains(self, count):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Document = Pool().get('account.einvoice.document')
            ours = {}
            for document in Document.search([('returned', '=', False)],
                    order=[('chain_sequence', 'ASC')]):
                ours.setdefault(document.chain.key, []).append(
                    document.digest)
        self.assertEqual(sum(len(v) for v in ours.values()), count)
        units = self.sandbox.state(SERVICE)['units']
        self.assertEqual(len(units), 2)
        held = sorted(([d for d in unit['documents']
                    if d['status'] == 'REPORTED']
                for unit in units.values()), key=lambda u: u[0]['hash'])
        for documents in held:
            # each invoice held once, ICV 1..n, each PIH the hash before
            self.assertEqual([int(d['icv']) for d in documents],
                list(range(1, len(documents) + 1)))
            self.assertEqual([d['pih'] for d in documents],
                [FIRST_PIH] + [d['hash'] for d in documents[:-1]])
            self.assertEqual(len({d['uuid'] for d in documents}),
                len(documents))
        self.assertEqual(sorted([d['hash'] for d in unit] for unit in held),
            sorted(ours.values()))
        self.assertEqual(set(self.verify_chains().values()), {None})


if __name__ == '__main__':
    work(int(sys.argv[2]))
