"""Framework: documents generated once and chained, sent in chain order,
verified; recovery by resending the stored bytes (the chained REST/JSON
test authority)."""
import json
from decimal import Decimal

from tests import tools
from tests.chain_case import BASIC_AUTH, ChainTestCase


class ChainTest(ChainTestCase):

    def test_chain_sent_in_order_and_verified(self):
        "Documents generated once, chained, held in order, Verify chain"
        invoices = self.post(5)
        self.cron()
        for submission in self.submissions(invoices):
            self.assertEqual(submission['state'], 'accepted')
            self.assertTrue(submission['reference'].startswith('TC-'))
        documents = self.documents()
        self.assertEqual([d['sequence'] for d in documents], [1, 2, 3, 4, 5])
        self.assertEqual([d['invoice'] for d in documents], invoices)
        held = self.held()
        self.assertEqual([h['digest'] for h in held],
            [d['digest'] for d in documents])
        self.assertEqual({h['status'] for h in held}, {'Accepted'})
        self.assertEqual(set(self.received_digests().values()), {1})
        content = json.loads(documents[1]['data'])
        self.assertEqual(content['previous'], documents[0]['digest'])
        self.assertEqual(documents[1]['previous'], documents[0]['id'])
        self.assertEqual(self.verify_chain(), {self.issuer: None})

        exchange, = self.exchanges()
        self.assertEqual(exchange['remote_operation'], 'POST documents')
        # the credentials went to the authority but were never stored
        self.assertNotIn(BASIC_AUTH.split(':')[1].encode(),
            exchange['request'])
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            stored = Exchange(exchange['id'])
            self.assertNotIn('Authorization', stored.request_headers or '')
            self.assertNotIn('Basic', stored.request_headers or '')

    def test_verify_names_first_break(self):
        "A document altered in the database is named by Verify chain"
        from trytond.pool import Pool
        invoices = self.post(3)
        self.cron()
        second = self.documents()[1]

        def tamper():
            Document = Pool().get('account.einvoice.document')
            document = Document(second['id'])
            data = json.loads(document.data)
            data['amount'] = '1.00'
            Document.write([document], {
                    'data': json.dumps(data).encode()})
        tools.call(tamper)
        result = self.verify_chain()[self.issuer]
        self.assertIn(f'#{second["sequence"]}', result)
        self.assertIn('digest', result)
        self.assertEqual(len(invoices), 3)

    def test_generated_elsewhere_not_generated_again(self):
        "A submission read before another process generated it: skipped"
        from trytond.pool import Pool
        invoice, = self.post(1)
        submission_id = self.submission(invoice)['id']

        def generate_twice():
            Submission = Pool().get('account.einvoice.submission')
            Document = Pool().get('account.einvoice.document')
            stale = Submission(submission_id)
            self.assertFalse(stale.generated)
            configuration = stale.configuration
            service = configuration.get_service()
            Document.generate(configuration, service,
                [Submission(submission_id)])
            Document.generate(configuration, service, [stale])
        tools.call(generate_twice)
        document, = self.documents()
        self.assertEqual(document['sequence'], 1)
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(len(self.held()), 1)
        self.assertEqual(self.verify_chain(), {self.issuer: None})

    def test_local_refusal_never_joins_the_chain(self):
        "A record the local check refuses is refused alone, unchained"
        good = self.post(1)
        bad = self.post(1, description='X' * 50)
        after = self.post(1)
        self.cron()
        refused = self.submission(bad[0])
        self.assertEqual(refused['state'], 'rejected')
        self.assertEqual(refused['code'], 'LOCAL')
        self.assertIn('Number', refused['message'])
        self.assertEqual(self.documents(bad), [])
        self.assertEqual(
            [d['invoice'] for d in self.documents()], good + after)
        self.assertEqual([h['status'] for h in self.held()],
            ['Accepted', 'Accepted'])
        self.assertEqual(self.verify_chain(), {self.issuer: None})

    def test_rejected_in_the_middle_then_corrected(self):
        "A refusal mid-chain keeps the chain; the correction is appended"
        first = self.post(1)
        refused = self.post(1, amount=Decimal('-10'))
        last = self.post(1)
        self.cron()
        self.assertEqual(self.submission(refused[0])['state'], 'rejected')
        self.assertEqual(self.submission(refused[0])['code'], '1100')
        self.assertEqual(self.submission(last[0])['state'], 'accepted')

        from trytond.pool import Pool

        def correct():
            Submission = Pool().get('account.einvoice.submission')
            Submission.reschedule(Submission.search(
                    [('invoice', 'in', refused)]))
        tools.call(correct, company=self.company)
        self.sandbox.set_option('test_chain', 'allow_negative', True)
        self.cron()
        submission = self.submission(refused[0])
        self.assertEqual(submission['state'], 'accepted', submission)
        held = self.held()
        self.assertEqual([(h['kind'], h['status']) for h in held], [
                ('record', 'Accepted'), ('record', 'Rejected'),
                ('record', 'Accepted'), ('correction', 'Accepted')])
        documents = self.documents(refused)
        self.assertEqual([(d['kind'], d['current']) for d in documents],
            [('record', False), ('correction', True)])
        self.assertEqual(documents[1]['sequence'], 4)
        self.assertEqual(self.verify_chain(), {self.issuer: None})
        self.assertEqual(len(first), 1)

    def test_lost_answer_resends_the_same_bytes(self):
        "Resend recovery: the stored bytes again, 'already held' = accepted"
        invoices = self.post(2)
        self.sandbox.add_fault('test_chain', '*', 'drop_after')
        self.cron()
        for submission in self.submissions(invoices):
            self.assertEqual(submission['state'], 'pending')
            self.assertTrue(submission['needs_query'])
        before = self.documents()
        self.make_due()
        self.cron()
        for submission in self.submissions(invoices):
            self.assertEqual(submission['state'], 'accepted')
            self.assertEqual(submission['code'], '3000')
        self.assertEqual(self.documents(), before)
        first, second = [e['request'] for e in self.exchanges()]
        self.assertEqual(first, second)
        self.assertEqual(set(self.received_digests().values()), {2})
        self.assertEqual(len(self.held()), 2)
        self.assertEqual(self.verify_chain(), {self.issuer: None})

    def test_cancellation_is_a_new_document(self):
        "Cancelling an accepted invoice appends a cancellation document"
        invoices = self.post(1, type_='in')
        self.cron()
        self.cancel_invoices(invoices)
        self.cron()
        self.assertEqual(self.submission(invoices[0])['state'], 'cancelled')
        self.assertEqual([h['kind'] for h in self.held()],
            ['record', 'cancellation'])
        self.assertEqual(self.verify_chain(), {self.issuer: None})

    def test_wrong_credentials_refused_as_configuration(self):
        "401: the whole request refused for our setup, nothing held"
        self.sandbox.set_option('test_chain', 'basic_auth', 'TEST:other')
        invoices = self.post(1)
        self.cron()
        submission = self.submission(invoices[0])
        self.assertEqual(submission['state'], 'pending')
        self.assertFalse(submission['needs_query'])
        exchange, = self.exchanges()
        self.assertEqual(exchange['state'], 'failed')
        self.assertEqual(self.held(), [])
