"""Framework: exactly once across crashes and concurrent processes."""
import time
from collections import Counter

from tests import tools
from tests.framework_case import FrameworkTestCase


class ExactlyOnceTest(FrameworkTestCase):

    def wait_processed(self, operation='Submit', timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.get('processed') for r in self.sandbox.received(
                        'test_authority', operation)):
                return
            time.sleep(0.1)
        self.fail("the sandbox never processed the request")

    def states(self, invoice_ids):
        "The states of the invoices' submissions, in one read"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            return Counter(s['state'] for s in Submission.search_read(
                    [('invoice', 'in', invoice_ids)], fields_names=['state']))

    def test_killed_between_call_and_commit(self):
        "A sender killed after the authority answered: query, no resend"
        invoices = self.post(3)
        self.sandbox.add_fault(
            'test_authority', 'Submit', 'latency', seconds=60)
        process = tools.worker(
            self.config_path, '--company', str(self.company), wait=False)
        try:
            self.wait_processed()
        finally:
            process.kill()
            process.wait()
        exchange, = self.exchanges()
        self.assertEqual(exchange['state'], 'in_flight')
        self.assertEqual(
            {s['exchange'] for s in self.submissions(invoices)},
            {exchange['id']})

        # once the authority cannot be holding the request any more
        self.make_due()
        self.cron()
        for submission in self.submissions(invoices):
            self.assertEqual(submission['state'], 'accepted')
            self.assertEqual(self.sent_count(submission['invoice']), 1)
            self.assertEqual(
                self.sent_count(submission['invoice'], 'Query'), 1)
        self.assertEqual(
            [(e['kind'], e['state']) for e in self.exchanges()],
            [('send', 'unknown'), ('query', 'done')])

    def test_claimed_meanwhile_by_another_process(self):
        "Rows read, then claimed by another process before linked: sent once"
        from trytond import config
        section, option = 'account_einvoice_test', 'concurrent_claim_config'
        invoices = self.post(3)
        if not config._config.has_section(section):
            config._config.add_section(section)
        config.set(section, option, self.config_path)
        try:
            self.cron()
        finally:
            config.set(section, option, '')
        self.assertEqual([self.sent_count(i) for i in invoices], [1, 1, 1])
        self.assertEqual(self.states(invoices), Counter({'accepted': 3}))
        exchanges = self.exchanges()
        self.assertEqual([(e['kind'], e['state']) for e in exchanges],
            [('send', 'done')])

    @tools.requires_postgresql
    def test_concurrent_processes(self):
        "4 processes (cron and direct runs), 2,000 pending: each sent once"
        from trytond.pool import Pool
        count = 2000
        ids = tools.call(
            tools.bulk_submissions, self.base, self.configuration, count,
            company=self.company)
        self.set_configuration(batch_size=50)
        self.sandbox.set_option('test_authority', 'latency', 0.02)

        def make_cron_due():
            Cron = Pool().get('ir.cron')
            Cron.write(Cron.search([]), {'next_call': None})
        tools.call(make_cron_due)
        processes = [tools.worker(self.config_path, '--cron', wait=False)]
        processes += [
            tools.worker(self.config_path, '--company', str(self.company),
                wait=False)
            for _ in range(3)]
        for process in processes:
            self.assertEqual(process.wait(timeout=600), 0)

        received = Counter()
        for request in self.sandbox.received('test_authority', 'Submit'):
            if request.get('processed'):
                received.update(request['summary']['keys'])
        self.assertEqual(len(received), count)
        self.assertEqual(set(received.values()), {1})
        self.assertEqual(self.states(ids), Counter({'accepted': count}))
        workers = Counter(e['worker'] for e in self.exchanges())
        self.assertGreaterEqual(len(workers), 3, workers)
