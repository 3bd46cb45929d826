"""Framework: a chain of 2,000 documents sent by three concurrent processes
killed with SIGKILL mid-batch while answers are lost: the authority holds
every document once, in chain order; nothing is regenerated."""
import random
import time
from collections import Counter

from tests import tools
from tests.chain_case import ChainTestCase

COUNT = 2000
PROCESSES = 3
KILLS = 5


class ChainChaosTest(ChainTestCase):
    # a request may stay 2 + 5 + 1 s in the authority's hands
    config_options = {'in_flight_margin': 1, 'retry_delay': 1,
        'retry_delay_max': 2}

    def spawn(self):
        return tools.worker(self.config_path, '--company', str(self.company),
            wait=False)

    def accepted(self, ids):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            return Counter(s['state'] for s in Submission.search_read(
                    [('invoice', 'in', ids)], fields_names=['state']))

    def test_chain_survives_kills_and_lost_answers(self):
        ids = tools.call(
            tools.bulk_submissions, self.base, self.configuration, COUNT,
            company=self.company)
        self.set_configuration(batch_size=100)
        self.sandbox.set_option('test_chain', 'latency', 0.3)
        # answers lost after the authority processed the request
        self.sandbox.add_fault('test_chain', '*', 'drop_after', count=3)
        rng = random.Random(20261203)
        processes = [self.spawn() for _ in range(PROCESSES)]
        kills = 0
        deadline = time.monotonic() + 600
        states = Counter()
        try:
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.5, 1.5))
                if kills < KILLS:
                    victim = rng.choice(processes)
                    if victim.poll() is None:
                        victim.kill()       # SIGKILL
                        kills += 1
                for i, process in enumerate(processes):
                    if process.poll() is not None:
                        process.wait()
                        processes[i] = self.spawn()
                states = self.accepted(ids)
                if states == Counter({'accepted': COUNT}):
                    break
        finally:
            for process in processes:
                process.kill()
                process.wait()
        self.assertEqual(states, Counter({'accepted': COUNT}))
        self.assertEqual(kills, KILLS)

        held = self.held()
        self.assertEqual([h['sequence'] for h in held],
            list(range(1, COUNT + 1)))
        self.assertEqual(len({h['id'] for h in held}), COUNT)
        self.assertEqual({h['status'] for h in held}, {'Accepted'})
        received = self.received_digests()
        self.assertEqual(len(received), COUNT)
        broken = [b for request in self.sandbox.received('test_chain')
            for b in request['summary'].get('broken') or []]
        self.assertEqual(broken, [])

        documents = self.documents()
        self.assertEqual(len(documents), COUNT)
        self.assertTrue(all(d['current'] for d in documents))
        self.assertEqual([h['digest'] for h in held],
            [d['digest'] for d in documents])
        self.assertEqual(self.verify_chain(), {self.issuer: None})
        workers = Counter(e['worker'] for e in self.exchanges())
        self.assertGreaterEqual(len(workers), PROCESSES, workers)
