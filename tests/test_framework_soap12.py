"""Framework: the test authority over SOAP 1.2, its records generated once
when the invoice is posted and sent as stored."""
from lxml import etree

from tests import tools
from tests.framework_case import FrameworkTestCase

SOAP12 = b'http://www.w3.org/2003/05/soap-envelope'
NS = 'urn:einvoice-sandbox:test-authority:1'


def sent_record(request):
    "The record element of a request, canonicalized"
    record = etree.fromstring(request).find(f'.//{{{NS}}}Record')
    return etree.tostring(record, method='c14n', exclusive=True)


def canonical(data):
    return etree.tostring(
        etree.fromstring(data), method='c14n', exclusive=True)


class Soap12Test(FrameworkTestCase):

    @classmethod
    def setUpData(cls):
        super().setUpData()
        from trytond.pool import Pool
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(cls.configuration)],
                {'service': 'test_authority_12'})

    def documents(self, invoice_ids):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Document = Pool().get('account.einvoice.document')
            return [(d.id, d.kind, d.current, bytes(d.data))
                for d in Document.search(
                    [('submission.invoice', 'in', invoice_ids)],
                    order=[('id', 'ASC')])]

    def test_generated_when_posted_and_sent_as_stored(self):
        invoice, = self.post(1)
        documents = self.documents([invoice])
        self.assertEqual(len(documents), 1)
        _, kind, current, data = documents[0]
        self.assertEqual((kind, current), ('record', True))
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        exchange, = self.exchanges()
        self.assertIn(SOAP12, exchange['request'])
        self.assertIn(SOAP12, exchange['response'])
        self.assertEqual(sent_record(exchange['request']), canonical(data))
        self.assertEqual(exchange['remote_operation'], 'Submit')
        self.assertEqual(self.sent_count(invoice), 1)
        self.assertEqual(self.documents([invoice]), documents)

    def test_retry_sends_the_same_bytes(self):
        "Not processed (503): sent again later, byte-identical record"
        invoice, = self.post(1)
        documents = self.documents([invoice])
        self.sandbox.add_fault('test_authority', 'Submit', 'http_503')
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        first, second = self.exchanges()
        self.assertEqual(first['request'], second['request'])
        self.assertEqual(
            sent_record(first['request']), canonical(documents[0][3]))
        self.assertEqual(self.documents([invoice]), documents)

    def test_lost_answer_is_queried_over_soap12(self):
        "A lost answer: SOAP 1.2 query, the held state, no resend"
        invoice, = self.post(1)
        self.sandbox.add_fault('test_authority', 'Submit', 'drop_after')
        self.cron()
        self.assertTrue(self.submission(invoice)['needs_query'])
        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(self.sent_count(invoice), 1)
        self.assertEqual(self.sent_count(invoice, 'Query'), 1)
        query = self.exchanges()[-1]
        self.assertIn(SOAP12, query['request'])

    def test_soap12_fault_classified_by_the_service(self):
        "A SOAP 1.2 fault's reason is read: busy is transient"
        invoice, = self.post(1)
        self.sandbox.add_fault('test_authority', 'Submit', 'busy')
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'pending')
        self.assertFalse(submission['needs_query'])
        self.assertIn('5000', submission['last_error'])
        exchange, = self.exchanges()
        self.assertEqual(exchange['state'], 'failed')
