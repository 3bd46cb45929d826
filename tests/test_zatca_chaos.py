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
import sys
from collections import Counter

from tests import chaos, tools
from tests.chaos import work
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

    def test_two_units_kills_lost_answers(self):
        drafts = tools.call(create_drafts, self.base, COUNT,
            company=self.company)
        self.sandbox.set_option('*', 'latency', 0.05)
        states, _, kills, lost = chaos.run(self, __name__, drafts,
            kills=KILLS, processes=PROCESSES, deadline=DEADLINE,
            faults=[(SERVICE, 'reporting', 'drop_after')] * LOST_ANSWERS,
            post_batch=POST_BATCH['postgresql' if tools.is_postgresql()
                else 'sqlite'], debug='ZATCA_CHAOS_DEBUG')
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
