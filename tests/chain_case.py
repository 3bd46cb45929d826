"""Base class of the tests of chained documents: the framework's chained
REST/JSON test authority (sandbox ``test_chain``) for one company."""
from collections import Counter

from tests import tools
from tests.framework_case import FrameworkTestCase

BASIC_AUTH = 'TEST:chain-secret-4711'


class ChainTestCase(FrameworkTestCase):
    sandbox_services = ['test_chain']
    credential_secrets = {'test': {'basic_auth': BASIC_AUTH}}

    @classmethod
    def setUpData(cls):
        super().setUpData()
        cls.sandbox.set_option('test_chain', 'basic_auth', BASIC_AUTH)
        cls.set_service('test_chain')

    @classmethod
    def set_service(cls, service):
        from trytond.pool import Pool
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write(
                [Configuration(cls.configuration)], {'service': service})

    def setUp(self):
        super().setUp()
        self.sandbox.set_option('test_chain', 'basic_auth', BASIC_AUTH)

    def tearDown(self):
        super().tearDown()
        self.forget_chains()

    @staticmethod
    def forget_chains():
        "Start the next test with empty chains (the sandbox forgets them)"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction():
            pool = Pool()
            cursor = Transaction().connection.cursor()
            submission = pool.get('account.einvoice.submission').__table__()
            chain = pool.get('account.einvoice.chain').__table__()
            document = pool.get('account.einvoice.document').__table__()
            cursor.execute(*submission.update(
                    [submission.chain], [None]))
            cursor.execute(*chain.update(
                    [chain.last_document], [None]))
            cursor.execute(*document.update(
                    [document.previous], [None]))
            cursor.execute(*document.delete())
            cursor.execute(*chain.delete())

    # -- helpers -----------------------------------------------------------
    @property
    def issuer(self):
        return 'TEST0001'

    def held(self):
        "The documents the authority holds for the company's chain"
        return self.sandbox.chain(self.issuer, self.issuer)

    def received_digests(self):
        "Counter of the document digests the authority processed"
        received = Counter()
        for request in self.sandbox.received('test_chain'):
            if request.get('processed'):
                received.update(request['summary'].get('digests', []))
        return received

    def documents(self, invoice_ids=None):
        "The stored documents (of invoices), in chain order"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Document = Pool().get('account.einvoice.document')
            domain = []
            if invoice_ids is not None:
                domain.append(('submission.invoice', 'in', invoice_ids))
            return [{
                    'id': d.id,
                    'invoice': d.submission.invoice.id,
                    'kind': d.kind,
                    'sequence': d.chain_sequence,
                    'digest': d.digest,
                    'previous': d.previous.id if d.previous else None,
                    'current': d.current,
                    'data': bytes(d.data),
                    } for d in Document.search(domain,
                    order=[('chain_sequence', 'ASC'), ('id', 'ASC')])]

    def verify_chain(self):
        "Verify chain on every chain of the configuration: {key: result}"
        from trytond.pool import Pool
        with tools.transaction():
            Chain = Pool().get('account.einvoice.chain')
            chains = Chain.search([
                    ('configuration', '=', self.configuration),
                    ('key', '!=', ''),
                    ])
            results = Chain.verify_chains(chains)
            return {c.key: results[c.id] for c in chains}
