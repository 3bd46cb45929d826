"""Framework: the authority's waits (a wait in its answer, Retry-After)
honoured across runs and processes, and deadlines (retries never past
them, staff notified before and after)."""
import datetime as dt
import time

from tests import tools
from tests.chain_case import ChainTestCase


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace('Z', '+00:00'))


class FlowControlTest(ChainTestCase):

    def setUp(self):
        super().setUp()
        from trytond import config
        if not config.has_section('account_einvoice_test'):
            config.add_section('account_einvoice_test')
        config.set('account_einvoice_test', 'deadline_seconds', '0')

    def request_times(self):
        return [parse_time(r['received_at'])
            for r in self.sandbox.received('test_chain')
            if r.get('processed')]

    def chain_not_before(self):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Chain = Pool().get('account.einvoice.chain')
            chain, = Chain.search(
                [('configuration', '=', self.configuration),
                    ('key', '=', self.issuer)])
            return chain.not_before

    def test_wait_in_the_answer_is_honoured(self):
        "No request before the wait the authority answered, across runs"
        self.set_configuration(batch_size=2)
        self.sandbox.set_option('test_chain', 'wait', 2)
        invoices = self.post(4)
        self.cron()
        self.assertEqual(len(self.request_times()), 1)
        self.assertIsNotNone(self.chain_not_before())
        self.cron()     # too early: nothing is sent, nothing spins
        self.assertEqual(len(self.request_times()), 1)
        time.sleep(2.1)
        self.cron()
        times = self.request_times()
        self.assertEqual(len(times), 2)
        self.assertGreaterEqual((times[1] - times[0]).total_seconds(), 2)
        self.assertEqual(self.sandbox.state('test_chain')['violations'], [])
        self.assertEqual(
            [s['state'] for s in self.submissions(invoices)],
            ['accepted'] * 4)

    def test_lost_answer_keeps_the_last_wait(self):
        "An answer lost may have asked for a wait: the last one asked holds"
        self.set_configuration(batch_size=2)
        self.sandbox.set_option('test_chain', 'wait', 2)
        self.post(4)
        self.cron()
        time.sleep(2.1)
        self.sandbox.add_fault('test_chain', '*', 'drop_after')
        self.cron()
        first, lost = self.request_times()
        self.assertGreaterEqual(self.chain_not_before(),
            lost.replace(tzinfo=None) + dt.timedelta(seconds=2))
        self.cron()     # nothing may go yet, not even the resend
        self.assertEqual(len(self.request_times()), 2)

    def test_wait_honoured_by_concurrent_processes(self):
        "Two processes sending one chain never break the authority's wait"
        self.set_configuration(batch_size=5)
        self.sandbox.set_option('test_chain', 'wait', 1)
        invoices = self.post(15)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            processes = [tools.worker(self.config_path, '--company',
                    str(self.company), wait=False) for _ in range(2)]
            for process in processes:
                self.assertEqual(process.wait(timeout=120), 0)
            states = {s['state'] for s in self.submissions(invoices)}
            if states == {'accepted'}:
                break
            time.sleep(0.3)
        self.assertEqual(states, {'accepted'})
        times = self.request_times()
        self.assertEqual(len(times), 3)
        for before, after in zip(times, times[1:]):
            self.assertGreaterEqual((after - before).total_seconds(), 1)
        self.assertEqual(self.sandbox.state('test_chain')['violations'], [])
        self.assertEqual(set(self.received_digests().values()), {1})

    def test_retry_after_is_honoured(self):
        "429 + Retry-After: not sent, the chain waits that long"
        invoices = self.post(2)
        self.sandbox.add_fault('test_chain', '*', 'http_429', seconds=30)
        started = dt.datetime.now()
        self.cron()
        exchange, = self.exchanges()
        self.assertEqual(exchange['state'], 'failed')
        for submission in self.submissions(invoices):
            self.assertEqual(submission['state'], 'pending')
            self.assertFalse(submission['needs_query'])
            self.assertGreaterEqual(submission['next_attempt'],
                started + dt.timedelta(seconds=29))
        self.assertGreaterEqual(self.chain_not_before(),
            started + dt.timedelta(seconds=29))
        self.cron()
        self.assertEqual(len(self.exchanges()), 1)
        self.assertEqual(self.held(), [])

    def notifications(self):
        from trytond.pool import Pool

        def read():
            Notification = Pool().get('res.notification')
            return [(n.label, n.description, n.model, n.records)
                for n in Notification.search([], order=[('id', 'ASC')])]
        return tools.call(read, commit=False)

    def test_deadline_notified_before_and_after(self):
        "Staff are told before a deadline passes, and when it has"
        from trytond import config
        from trytond.pool import Pool
        config.set('account_einvoice_test', 'deadline_seconds', '600')
        known = len(self.notifications())
        invoice, = self.post(1)
        self.sandbox.add_fault(
            'test_chain', '*', 'http_429', seconds=7200, count=None)
        self.cron()
        submission = self.submission(invoice)
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            deadline = Submission(submission['id']).deadline
            notice = Submission(submission['id']).deadline_notice
        # the authority asked for 2 hours: the retry still comes in time
        self.assertLessEqual(submission['next_attempt'], deadline)
        self.assertEqual(notice, 'warned')
        near = self.notifications()[known:]
        self.assertTrue(any('due soon' in n[0] for n in near), near)
        self.assertTrue(
            any(str(submission['id']) in n[3] for n in near), near)
        self.cron()
        self.assertEqual(len(self.notifications()), len(near) + known)

        def pass_deadline():
            Submission = Pool().get('account.einvoice.submission')
            Submission.write([Submission(submission['id'])], {
                    'deadline': dt.datetime.now() - dt.timedelta(minutes=1)})
        tools.call(pass_deadline)
        self.cron()
        missed = self.notifications()[known + len(near):]
        self.assertTrue(any('past their deadline' in n[0] for n in missed),
            missed)
