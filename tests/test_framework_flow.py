"""Framework: submissions, states, history, batching (test authority)."""
from decimal import Decimal

from tests import tools
from tests.framework_case import FrameworkTestCase


class SubmissionFlowTest(FrameworkTestCase):

    def test_post_queues_without_network(self):
        "Posting creates one pending submission and calls nobody"
        invoice, = self.post()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'pending')
        self.assertEqual(submission['operation'], 'register')
        self.assertEqual(self.sandbox.received(), [])

    def test_accept_records_history(self):
        "Accepted: reference stored, exchange with request and response"
        invoice, = self.post()
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertTrue(submission['registered'])
        self.assertRegex(submission['reference'], r'^TA-[0-9A-F]{12}$')
        self.assertEqual(self.sent_count(invoice), 1)
        exchange, = self.exchanges()
        self.assertEqual(exchange['state'], 'done')
        self.assertEqual(exchange['kind'], 'send')
        self.assertTrue(exchange['request_id'], "request not in filestore")
        self.assertIn(self.key(invoice).encode(), exchange['request'])
        self.assertIn(b'SubmitResponse', exchange['response'])
        self.assertEqual(submission['outcomes'],
            [('send', 'accepted', None, None)])

    def test_per_record_outcomes_in_one_batch(self):
        "Accepted, accepted with errors and rejected share one request"
        good, = self.post()
        warned, = self.post(description='WARN')
        refused, = self.post(amount=Decimal('-50'))
        self.cron()
        self.assertEqual(len(self.exchanges()), 1)
        good, warned, refused = self.submissions([good, warned, refused])
        self.assertEqual(good['state'], 'accepted')
        self.assertEqual(warned['state'], 'accepted_with_errors')
        self.assertEqual(warned['code'], '2000')
        self.assertEqual(
            warned['message'], "Accepted with warnings: number format")
        self.assertEqual(refused['state'], 'rejected')
        self.assertEqual(refused['code'], '1100')
        self.assertEqual(refused['message'], "Amount must not be negative")
        self.assertFalse(refused['registered'])

    def test_batches_split_to_limit(self):
        "7 pending with a batch size of 3 go in 3 requests"
        self.set_configuration(batch_size=3)
        invoices = self.post(7)
        self.cron()
        exchanges = self.exchanges()
        self.assertEqual([e['records'] for e in exchanges], [3, 3, 1])
        self.assertTrue(all(e['state'] == 'done' for e in exchanges))
        for invoice in invoices:
            self.assertEqual(self.sent_count(invoice), 1)
        self.assertEqual(
            {s['state'] for s in self.submissions(invoices)}, {'accepted'})

    def test_start_date(self):
        "Invoices dated before the start date are not reported"
        import datetime as dt
        self.set_configuration(
            start_date=dt.date.today() + dt.timedelta(days=1))
        try:
            invoice, = self.post()
        finally:
            self.set_configuration(
                start_date=dt.date.today() - dt.timedelta(days=30))
        self.assertIsNone(self.submission(invoice))

    def test_inactive_configuration(self):
        "A company without an active configuration reports nothing"
        self.set_configuration(active=False)
        try:
            invoice, = self.post()
        finally:
            self.set_configuration(active=True)
        self.assertIsNone(self.submission(invoice))

    def test_invoice_shows_state(self):
        from trytond.pool import Pool
        invoice, = self.post()
        self.cron()
        with tools.transaction(commit=False):
            Invoice = Pool().get('account.invoice')
            record = Invoice(invoice)
            self.assertEqual(record.einvoice_state, 'accepted')
            self.assertTrue(record.einvoice_reference.startswith('TA-'))
            self.assertEqual(
                Invoice.search([('einvoice_state', '=', 'accepted'),
                        ('id', '=', invoice)]), [record])

    def test_cancel_accepted_invoice(self):
        "Cancelling an accepted invoice sends a cancellation"
        invoice, = self.post(type_='in')
        self.cron()
        self.cancel_invoices([invoice])
        submission = self.submission(invoice)
        self.assertEqual(
            (submission['state'], submission['operation']),
            ('pending', 'cancel'))
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'cancelled')
        self.assertEqual(self.sandbox.state('test_authority')
            ['TEST0001'][self.key(invoice)]['status'], 'Cancelled')

    def test_cancel_before_reporting(self):
        "An invoice cancelled before it was reported is not sent"
        invoice, = self.post(type_='in')
        self.cancel_invoices([invoice])
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'cancelled')
        self.assertEqual(self.sandbox.received(), [])
