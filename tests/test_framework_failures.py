"""Framework: failures are classified, nothing is lost or sent twice."""
import datetime as dt

from tests import tools
from tests.framework_case import FrameworkTestCase


class FailureTest(FrameworkTestCase):

    def assert_retry_later(self, submission, error):
        self.assertEqual(submission['state'], 'pending')
        self.assertEqual(submission['attempts'], 1)
        self.assertGreater(submission['next_attempt'], dt.datetime.now())
        self.assertIn(error, submission['last_error'])
        self.assertIsNone(submission['exchange'])

    def test_lost_response_is_queried_not_resent(self):
        "drop_after: the authority processed it; query, never resend"
        invoice, = self.post()
        self.sandbox.add_fault('test_authority', 'Submit', 'drop_after')
        self.cron()
        submission = self.submission(invoice)
        self.assertTrue(submission['needs_query'])
        self.assert_retry_later(submission, 'Connection')
        self.assertEqual(self.exchanges()[-1]['state'], 'unknown')

        self.make_due()
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertFalse(submission['needs_query'])
        self.assertTrue(submission['reference'].startswith('TA-'))
        self.assertEqual(self.sent_count(invoice), 1)
        self.assertEqual(self.sent_count(invoice, 'Query'), 1)
        self.assertEqual(
            [e['kind'] for e in self.exchanges()], ['send', 'query'])

    def test_unknown_outcome_not_held_is_sent_once(self):
        "A web page before processing: query says not found, then send"
        invoice, = self.post()
        self.sandbox.add_fault('test_authority', 'Submit', 'html')
        self.cron()
        submission = self.submission(invoice)
        self.assertTrue(submission['needs_query'])
        self.assertIn('web page', submission['last_error'])
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(self.sent_count(invoice), 1)
        self.assertEqual(
            [e['kind'] for e in self.exchanges()], ['send', 'query', 'send'])

    def test_duplicate_is_reconciled_by_query(self):
        "The authority already holds it (3000): query, take its state"
        from tests import tools
        from trytond.pool import Pool
        invoice, = self.post()
        self.cron()
        accepted = self.submission(invoice)

        def forget(submission_id):
            # As after restoring a backup taken before the answer arrived
            Submission = Pool().get('account.einvoice.submission')
            Submission.write([Submission(submission_id)], {
                    'state': 'pending', 'registered': False,
                    'reference': None})
        tools.call(forget, accepted['id'])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual(submission['reference'], accepted['reference'])
        self.assertEqual(
            [o[:3] for o in submission['outcomes']],
            [('query', 'accepted', None), ('send', 'unknown', '3000'),
                ('send', 'accepted', None)])
        self.assertEqual(self.sandbox.count('test_authority', 'Submit',
                self.key(invoice), field='registered'), 1)

    def test_timeout_is_unknown(self):
        "A hang until the client times out: outcome unknown"
        invoice, = self.post()
        self.sandbox.add_fault(
            'test_authority', 'Submit', 'hang', seconds=10)
        self.cron()
        submission = self.submission(invoice)
        self.assertTrue(submission['needs_query'])
        self.assertIn('Timeout', submission['last_error'])
        self.assertEqual(self.sent_count(invoice), 0)

    def test_html_page_and_malformed_and_hostile(self):
        "Web pages, broken XML and entity tricks never corrupt a record"
        for kind in ['html', 'malformed', 'truncated', 'entities']:
            with self.subTest(kind=kind):
                self.sandbox.reset()
                invoice, = self.post()
                self.sandbox.add_fault('test_authority', 'Submit', kind)
                self.cron()
                submission = self.submission(invoice)
                self.assertEqual(submission['state'], 'pending')
                self.assertTrue(submission['needs_query'])
                self.assertIsNone(submission['reference'])
                self.make_due()
                self.cron()
                submission = self.submission(invoice)
                self.assertEqual(submission['state'], 'accepted')
                self.assertEqual(
                    self.sandbox.count('test_authority', 'Submit',
                        self.key(invoice), field='registered'), 1)

    def test_busy_is_transient(self):
        "A busy authority: retry later with backoff, no query needed"
        invoice, = self.post()
        self.sandbox.add_fault('test_authority', 'Submit', 'busy')
        self.cron()
        submission = self.submission(invoice)
        self.assert_retry_later(submission, 'Codigo[5000]')
        self.assertFalse(submission['needs_query'])
        self.assertEqual(self.exchanges()[-1]['state'], 'failed')

    def test_backoff_grows(self):
        invoice, = self.post()
        self.sandbox.add_fault('test_authority', 'Submit', 'busy', count=3)
        delays = []
        for _ in range(3):
            self.make_due()
            self.cron()
            submission = self.submission(invoice)
            delays.append(
                (submission['next_attempt'] - dt.datetime.now())
                .total_seconds())
        self.assertEqual(self.submission(invoice)['attempts'], 3)
        self.assertTrue(55 < delays[0] <= 60, delays)
        self.assertTrue(115 < delays[1] <= 120, delays)
        self.assertTrue(235 < delays[2] <= 240, delays)

    def test_not_sent_when_unreachable(self):
        "Nothing listens: not sent, retried later, no query needed"
        invoice, = self.post()
        self.set_configuration(endpoint_host='https://127.0.0.1:9')
        try:
            self.cron()
        finally:
            self.set_configuration(endpoint_host=self.sandbox.url)
        submission = self.submission(invoice)
        self.assert_retry_later(submission, 'Connection')
        self.assertFalse(submission['needs_query'])

    def test_configuration_refusal_notifies(self):
        "4114 (issuer is not the certificate holder): pending + notified"
        from tests import tools
        from trytond.pool import Pool
        invoice, = self.post()

        def set_issuer(code):
            Identifier = Pool().get('party.identifier')
            company = Pool().get('company.company')(self.company)
            Identifier.write(list(company.party.identifiers), {'code': code})
        tools.call(set_issuer, 'OTHER01')
        try:
            self.cron()
        finally:
            tools.call(set_issuer, 'TEST0001')
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'pending')
        self.assert_retry_later(submission, 'Codigo[4114]')

        def notifications():
            Notification = Pool().get('res.notification')
            return [(n.user.login, n.label, n.description)
                for n in Notification.search([])]
        found = tools.call(notifications, commit=False)
        self.assertIn('admin', [n[0] for n in found])
        self.assertTrue(any('4114' in (n[2] or '') for n in found), found)

    def test_expired_certificate_stops_before_any_call(self):
        from trytond import config
        invoice, = self.post()
        expired = self.sandbox.pki.identities['expired']
        config.set('account_einvoice_certificate', 'old.certificate',
            expired.cert_path)
        config.set('account_einvoice_certificate', 'old.private_key',
            expired.key_path)
        self.set_configuration(certificate_name='old')
        self.cron()
        submission = self.submission(invoice)
        self.assertIn('expired on', submission['last_error'])
        self.assertEqual(self.sandbox.received(), [])

    def test_invalid_record_rejected_locally_rest_sent(self):
        "A record that breaks the schema is refused; the batch still goes"
        good, = self.post()
        bad, = self.post(description='X' * 40)
        self.cron()
        good, bad = self.submissions([good, bad])
        self.assertEqual(good['state'], 'accepted')
        self.assertEqual(bad['state'], 'rejected')
        self.assertEqual(bad['code'], 'LOCAL')
        self.assertIn('official schema', bad['message'])
        self.assertIn('Number', bad['message'])
        self.assertEqual(self.sent_count(bad['invoice']), 0)

    def test_schemas_loaded_once(self):
        from trytond.modules.account_einvoice import schema
        self.post()
        self.cron()
        before = (schema._wsdl_client.cache_info().misses,
            schema._xml_schema.cache_info().misses)
        self.post(2)
        self.set_configuration(batch_size=1)
        self.cron()
        after = (schema._wsdl_client.cache_info().misses,
            schema._xml_schema.cache_info().misses)
        self.assertEqual(before, after)

    def test_rolled_back_claims_do_not_count(self):
        """Claims the database rolls back (a concurrent sender committed
        first) do not count towards the claims a run may make of a
        submission: it is still sent in that run, once"""
        from trytond import backend
        from trytond.modules.account_einvoice.processing import Processor
        from trytond.pool import Pool
        invoice, = self.post()

        class Contended(Processor):
            "Claims rolled back three times, as by a busy other sender"
            rollbacks = 3

            def _claim_unchained(self, *args):
                batches = super()._claim_unchained(*args)
                if Contended.rollbacks:
                    Contended.rollbacks -= 1
                    raise backend.DatabaseOperationalError(
                        "could not serialize access")
                return batches

        def run():
            Configuration = Pool().get('account.einvoice.configuration')
            Contended(Configuration(self.configuration)).run()
        tools.call(run, company=self.company)
        self.assertEqual(Contended.rollbacks, 0)
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(self.sent_count(invoice), 1)
