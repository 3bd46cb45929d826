"""SIFEN: COUNT invoices of two points of issue posted in batches while
three worker processes send them in lots and poll the lots (killed with
SIGKILL while SIFEN has their request, lot and poll answers lost): SIFEN
approves every CDC exactly once, without a duplicate-CDC error, and each
point's numbers run 1..n without a gap.

    python -m tests.test_sifen_chaos --worker COMPANY

runs one worker.  COUNT is 500 (``SIFEN_CHAOS_COUNT``);
``SIFEN_CHAOS_DEBUG`` prints the states every 0.3 s."""
import os
import sys
from collections import Counter

from tests import chaos, tools
from tests.chaos import work
from tests.sifen_case import SECTION, SERVICE, SifenTestCase

COUNT = int(os.environ.get('SIFEN_CHAOS_COUNT', 500))
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

    def test_two_points_kills_lost_answers(self):
        drafts = tools.call(create_drafts, self.base, COUNT,
            company=self.company)
        self.sandbox.set_option(SERVICE, 'processing_seconds', 2)
        self.sandbox.set_option('*', 'latency', 0.05)
        states, _, kills, lost = chaos.run(self, __name__, drafts,
            kills=KILLS, processes=PROCESSES, deadline=DEADLINE,
            seed=20261205, debug='SIFEN_CHAOS_DEBUG',
            faults=[(SERVICE, 'rEnvioLote', 'drop_after')] * LOST_LOTS
            + [(SERVICE, 'rEnviConsLoteDe', 'drop_after')] * LOST_POLLS)
        self.assertEqual(Counter(states.values()),
            Counter({'accepted': len(drafts)}))
        self.assertEqual(kills, KILLS)
        self.assertEqual(lost, LOST_LOTS + LOST_POLLS)
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
