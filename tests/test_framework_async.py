"""Framework: submit now, result later (issue 15).  The asynchronous test
authority (sandbox ``test_async``) takes lots and processes them on its
own clock; the framework polls them, queries each document when the
submit answer is lost (never a blind resend while the authority may still
be processing), tells staff when a lot is late, and holds every document
exactly once with senders killed."""
import configparser
import datetime as dt
import os
import random
import tempfile
import time
from collections import Counter
from decimal import Decimal

import requests

from tests import tools
from tests.framework_case import FrameworkTestCase
from tests.sandbox.test_async_authority import LOTS, QUERY, RESULT

SERVICE = 'test_async'
ISSUER = 'TEST0001'
#: the sandbox's default processing time and the service's
PROCESSING = 60
SECTION = 'account_einvoice_test'
TIMES = {'poll_delay': '60', 'poll_deadline': '3600',
    'processing_time': str(PROCESSING)}


class AsyncTest(FrameworkTestCase):
    sandbox_services = [SERVICE]
    # a request may stay 2 + 5 + 1 s in the authority's hands
    config_options = {'in_flight_margin': 1, 'confirm_delay': 1,
        'retry_delay': 1, 'retry_delay_max': 2}
    config_sections = {SECTION: dict(TIMES)}

    @classmethod
    def setUpData(cls):
        super().setUpData()
        from trytond.pool import Pool
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write(
                [Configuration(cls.configuration)], {'service': SERVICE})

    def setUp(self):
        super().setUp()
        from trytond import config
        for name, value in TIMES.items():
            config.set(SECTION, name, value)

    # -- helpers -----------------------------------------------------------
    def state(self):
        return self.sandbox.state(SERVICE)

    def received(self, invoice_ids):
        "Copies of each invoice the authority received in its lots"
        received = self.state()['received'].get(ISSUER, {})
        return [received.get(self.key(i), 0) for i in invoice_ids]

    def held(self, invoice_id):
        return self.state()['held'][ISSUER][self.key(invoice_id)]

    def lots(self, invoice_ids):
        "Tickets and next attempts of the submissions"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            found = {s.invoice.id: s for s in Submission.search(
                    [('invoice', 'in', invoice_ids)])}
            return [{'ticket': found[i].ticket,
                    'poll_deadline': found[i].poll_deadline,
                    'poll_notified': found[i].poll_notified,
                    'next_attempt': found[i].next_attempt,
                    } for i in invoice_ids]

    def ask_now(self):
        """Let the submissions waiting for a retry go now, without
        pretending the authority has had more time (unlike make_due)"""
        from trytond.pool import Pool

        def reset():
            Submission = Pool().get('account.einvoice.submission')
            Submission.write(
                Submission.search([('state', '=', 'pending')]),
                {'next_attempt': None})
        tools.call(reset)

    def finish_processing(self):
        "The authority is done with every lot received so far"
        self.sandbox.set_clock(advance=PROCESSING + 1)
        self.make_due()

    def notifications(self):
        from trytond.pool import Pool

        def read():
            Notification = Pool().get('res.notification')
            return [(n.label, n.description, n.records)
                for n in Notification.search([], order=[('id', 'ASC')])]
        return tools.call(read, commit=False)

    def states(self, invoice_ids):
        return [s['state'] for s in self.submissions(invoice_ids)]

    # -- the sandbox -------------------------------------------------------
    def test_sandbox_authority(self):
        "The sandbox: lots processed on its clock, the NotFound trap"
        session = self.sandbox.session('test_company')
        self.addCleanup(session.close)

        def post(path, body, identity=None):
            response = (self.sandbox.session(identity) if identity
                else session).post(self.sandbox.url + path, json=body,
                timeout=10)
            return response.status_code, response.json()

        def document(id_, amount='10.00'):
            return {'id': id_, 'number': 'N-' + id_, 'date': '2026-01-31',
                'amount': amount}
        status, answer = post(LOTS, {'issuer': ISSUER, 'documents': [
                    document('A'), document('B', '-1')]})
        self.assertEqual((status, answer['code'], answer['status']),
            (200, '0300', 'Received'))
        lot = answer['lot']
        self.assertEqual(post(RESULT, {'lot': lot})[1],
            {'code': '0361', 'status': 'Processing'})
        # received but processing: "not found" (resending would duplicate)
        self.assertEqual([r['status'] for r in post(QUERY, {
                        'ids': ['A', 'B', 'C']})[1]['results']],
            ['NotFound'] * 3)
        _, again = post(LOTS, {'issuer': ISSUER, 'documents': [
                    document('A')]})
        self.sandbox.set_clock(advance=PROCESSING)
        _, done = post(RESULT, {'lot': lot})
        self.assertEqual(done['code'], '0362')
        self.assertEqual([(r['id'], r['status'], r['code'])
                for r in done['results']],
            [('A', 'Accepted', None), ('B', 'Rejected', 1100)])
        self.assertRegex(done['results'][0]['reference'], r'^TS-[0-9A-F]+$')
        _, duplicate = post(RESULT, {'lot': again['lot']})
        self.assertEqual([(r['status'], r['code'], r['message'])
                for r in duplicate['results']],
            [('Rejected', 1001, 'duplicate')])
        _, query = post(QUERY, {'ids': ['A', 'C']})
        self.assertEqual([(r['status'], r['reference'])
                for r in query['results']],
            [('Accepted', done['results'][0]['reference']),
                ('NotFound', None)])
        self.assertEqual(post(RESULT, {'lot': '1'})[1],
            {'code': '0360', 'status': 'UnknownLot'})
        # another issuer's certificate: refused, its lots unknown to it
        self.assertEqual(post(LOTS, {'issuer': ISSUER, 'documents': [
                        document('D')]}, 'es_company'),
            (403, {'error': 'not the issuer'}))
        self.sandbox.set_option(SERVICE, 'lot_limit', 1)
        self.assertEqual(post(LOTS, {'issuer': ISSUER, 'documents': [
                        document('E'), document('F')]})[0], 413)
        self.sandbox.set_option(SERVICE, 'not_queued', True)
        self.assertEqual(post(LOTS, {'issuer': ISSUER, 'documents': [
                        document('G')]})[1],
            {'code': '0301', 'status': 'NotQueued'})
        # the fault machinery applies: processed, answer lost
        self.sandbox.set_option(SERVICE, 'not_queued', False)
        self.sandbox.add_fault(SERVICE, 'lots', 'drop_after')
        with self.assertRaises(requests.exceptions.ConnectionError):
            post(LOTS, {'issuer': ISSUER, 'documents': [document('H')]})
        state = self.state()
        self.assertEqual(state['received'][ISSUER],
            {'A': 2, 'B': 1, 'H': 1})
        self.assertEqual(state['duplicates'],
            [{'issuer': ISSUER, 'id': 'A', 'lot': again['lot']}])
        self.assertEqual(state['calls'], {'lots': 4, 'result': 4,
                'query': 2})
        self.assertEqual(state['asked']['lots']['G'], 1)
        self.assertEqual(state['lots'][lot]['documents'], ['A', 'B'])

    # -- the framework -----------------------------------------------------
    def test_lot_polled_and_resolved(self):
        "Lots sent, polled after poll_delay only, resolved per document"
        self.set_configuration(batch_size=2)
        invoices = self.post(2) + self.post(1, amount=Decimal('-10'))
        self.cron()
        self.assertEqual(self.states(invoices), ['processing'] * 3)
        lots = self.lots(invoices)
        tickets = [lot['ticket'] for lot in lots]
        self.assertEqual(sorted(self.state()['lots']), sorted(set(tickets)))
        self.assertEqual(len(set(tickets)), 2)
        for lot in lots:
            self.assertGreater(lot['next_attempt'],
                dt.datetime.now() + dt.timedelta(seconds=50))

        self.cron()     # not due: nobody asks yet
        self.assertEqual(self.state()['calls'], {'lots': 2})
        self.make_due()
        self.cron()     # still processing: asked again later, no query
        self.assertEqual(self.states(invoices), ['processing'] * 3)
        self.assertEqual(self.state()['calls'], {'lots': 2, 'result': 2})
        self.cron()
        self.assertEqual(self.state()['calls'], {'lots': 2, 'result': 2})

        self.finish_processing()
        self.cron()
        submissions = self.submissions(invoices)
        self.assertEqual([s['state'] for s in submissions],
            ['accepted', 'accepted', 'rejected'])
        for invoice, submission in zip(invoices[:2], submissions):
            self.assertEqual(submission['reference'],
                self.held(invoice)['reference'])
        self.assertEqual((submissions[2]['code'], submissions[2]['message']),
            ('1100', 'Amount must not be negative'))
        self.assertEqual(submissions[0]['outcomes'], [     # newest first
                ('poll', 'accepted', None, None),
                ('poll', 'processing', '0361', 'Processing'),
                ('send', 'processing', '0300', 'Received')])
        exchanges = self.exchanges()
        self.assertEqual([e['kind'] for e in exchanges],
            ['send'] * 2 + ['poll'] * 4)
        self.assertEqual([e['remote_operation'] for e in exchanges[-2:]],
            ['POST lots/result'] * 2)
        self.assertEqual(self.received(invoices), [1, 1, 1])
        self.assertEqual(self.state()['calls'], {'lots': 2, 'result': 4})

    def test_poll_deadline_notified_once(self):
        "Past the poll deadline staff are told once; polling goes on"
        from trytond import config
        config.set(SECTION, 'poll_deadline', '0')
        known = len(self.notifications())
        invoices = self.post(2)
        self.cron()
        self.make_due()
        self.cron()
        late = self.notifications()[known:]
        self.assertEqual(len(late), 1, late)
        label, description, records = late[0]
        ticket = self.lots(invoices)[0]['ticket']
        self.assertIn('still being processed', label)
        self.assertIn(ticket, description)
        self.assertEqual(sorted(eval(records)),
            sorted(s['id'] for s in self.submissions(invoices)))
        for submission, lot in zip(
                self.submissions(invoices), self.lots(invoices)):
            self.assertEqual(submission['state'], 'processing')
            self.assertIn(f'still not processed lot {ticket}',
                submission['last_error'])
            self.assertTrue(lot['poll_notified'])

        self.make_due()
        self.cron()
        self.assertEqual(len(self.notifications()), known + 1)
        self.assertEqual(self.state()['calls'], {'lots': 1, 'result': 2})
        self.finish_processing()
        self.cron()
        self.assertEqual(self.states(invoices), ['accepted'] * 2)

    def test_poll_deadline_notified_when_polls_fail(self):
        "Polls failing past the poll deadline: staff are told all the same"
        from trytond import config
        config.set(SECTION, 'poll_deadline', '0')
        known = len(self.notifications())
        invoices = self.post(2)
        self.cron()
        self.sandbox.add_fault(SERVICE, 'result', 'http_503', count=None)
        self.make_due()
        self.cron()
        self.make_due()
        self.cron()
        late = self.notifications()[known:]
        self.assertEqual(len(late), 1, late)
        self.assertIn(self.lots(invoices)[0]['ticket'], late[0][1])
        self.assertEqual(self.states(invoices), ['processing'] * 2)
        self.assertTrue(all(lot['poll_notified']
                for lot in self.lots(invoices)))
        self.assertEqual(self.state()['calls'].get('result', 0), 0)
        self.sandbox.clear_faults()
        self.finish_processing()
        self.make_due()
        self.cron()
        self.assertEqual(self.states(invoices), ['accepted'] * 2)

    def test_submit_answer_lost(self):
        "A lost submit answer: queried, not resent while processing"
        invoices = self.post(3)
        self.sandbox.add_fault(SERVICE, 'lots', 'drop_after')
        self.cron()
        self.ask_now()
        self.cron()
        submissions = self.submissions(invoices)
        self.assertEqual({(s['state'], s['needs_query'])
                for s in submissions}, {('pending', True)})
        # "not found": the lot may still be processing
        self.assertEqual(self.state()['calls'], {'lots': 1, 'query': 1})
        send = self.exchanges()[0]
        self.assertEqual((send['kind'], send['state']), ('send', 'unknown'))
        sent = self.exchange_sent(send['id'])
        for submission in submissions:
            self.assertGreaterEqual(submission['next_attempt'],
                sent + dt.timedelta(seconds=PROCESSING))
            kind, state, _, message = submission['outcomes'][0]
            self.assertEqual((kind, state), ('query', 'not_found'))
            self.assertIn('may still be processing', message)
        self.cron()
        self.assertEqual(self.state()['calls'], {'lots': 1, 'query': 1})

        self.finish_processing()
        self.cron()
        submissions = self.submissions(invoices)
        self.assertEqual([s['state'] for s in submissions], ['accepted'] * 3)
        for invoice, submission in zip(invoices, submissions):
            self.assertEqual(submission['reference'],
                self.held(invoice)['reference'])
        self.assertEqual(self.state()['calls'], {'lots': 1, 'query': 2})
        self.assertEqual(self.received(invoices), [1, 1, 1])
        self.assertEqual(self.state()['duplicates'], [])

    def exchange_sent(self, exchange_id):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            return Exchange(exchange_id).sent

    def test_not_queued_sent_again(self):
        "A lot not queued: each document asked about, then sent again"
        self.sandbox.set_option(SERVICE, 'not_queued', True)
        invoices = self.post(2)
        self.cron()
        self.ask_now()
        self.cron()
        self.assertEqual({(s['state'], s['needs_query'])
                for s in self.submissions(invoices)}, {('pending', True)})
        self.assertEqual(self.state()['calls']['lots'], 1)
        self.sandbox.set_option(SERVICE, 'not_queued', False)
        self.make_due()
        self.cron()
        self.assertEqual(self.states(invoices), ['processing'] * 2)
        state = self.state()
        self.assertEqual(state['calls']['lots'], 2)
        self.assertEqual([state['asked']['lots'][self.key(i)]
                for i in invoices], [2, 2])
        self.assertEqual(self.received(invoices), [1, 1])
        self.finish_processing()
        self.cron()
        self.assertEqual(self.states(invoices), ['accepted'] * 2)

    def test_workers_killed(self):
        "Senders killed, answers lost: every document held exactly once"
        count, kills_wanted = 150, 4
        ids = tools.call(tools.bulk_submissions, self.base,
            self.configuration, count, company=self.company)
        self.set_configuration(batch_size=25)
        self.sandbox.set_option(SERVICE, 'processing_seconds', 2)
        self.sandbox.set_option(SERVICE, 'latency', 0.3)
        self.sandbox.add_fault(SERVICE, 'lots', 'drop_after', count=2)
        self.sandbox.add_fault(SERVICE, 'result', 'drop_after', count=2)
        path = self.worker_config(
            poll_delay=0.5, processing_time=3, poll_deadline=3600)

        def spawn():
            return tools.worker(
                path, '--company', str(self.company), wait=False)
        rng = random.Random(20261204)
        processes = [spawn() for _ in range(3)]
        kills, states = 0, Counter()
        deadline = time.monotonic() + 300
        try:
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.3, 1.0))
                alive = [p for p in processes if p.poll() is None]
                if kills < kills_wanted and alive:
                    rng.choice(alive).kill()    # SIGKILL
                    kills += 1
                for i, process in enumerate(processes):
                    if process.poll() is not None:
                        process.wait()
                        processes[i] = spawn()
                states = Counter(self.states(ids))
                if states == Counter({'accepted': count}):
                    break
        finally:
            for process in processes:
                process.kill()
                process.wait()
        self.assertEqual(states, Counter({'accepted': count}))
        self.assertEqual(kills, kills_wanted)
        state = self.state()
        self.assertEqual(state['duplicates'], [])
        self.assertEqual(self.received(ids), [1] * count)
        self.assertEqual(
            {h['status'] for h in state['held'][ISSUER].values()},
            {'Accepted'})
        # both answers were lost twice: lots were queried and polled
        self.assertEqual(self.sandbox.faults(), [])
        kinds = Counter(e['kind'] for e in self.exchanges())
        self.assertGreater(kinds['poll'], 0, kinds)
        self.assertGreater(kinds['query'], 0, kinds)

    def worker_config(self, **times):
        "The workers' configuration file with other delays of the service"
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.config_path)
        for name, value in times.items():
            parser.set(SECTION, name, str(value))
        fd, path = tempfile.mkstemp(prefix='einvoice-async-', suffix='.conf')
        with os.fdopen(fd, 'w') as fp:
            parser.write(fp)
        self.addCleanup(os.unlink, path)
        return path
