"""Base class of the framework tests: one database and one sandbox per
class, the test authority service configured for one company."""
import unittest

from tests import tools


class FrameworkTestCase(unittest.TestCase):
    modules = ['account_einvoice']
    sandbox_subprocess = False
    config_options = {}

    @classmethod
    def setUpClass(cls):
        from tests.sandbox import Sandbox
        cls.test_tryton = tools.trytond_setup()
        cls.test_tryton.drop_db()
        cls.test_tryton.activate_module(cls.modules)
        cls.sandbox = Sandbox(subprocess=cls.sandbox_subprocess)
        cls.sandbox.start()
        cls.config_path = tools.configure(
            cls.sandbox, {'test': 'test_company'}, **cls.config_options)
        cls.base = tools.call(tools.create_base)
        cls.configuration = tools.call(
            lambda: tools.setup_configuration(
                cls.base, endpoint_host=cls.sandbox.url).id,
            company=cls.base['company'])

    @classmethod
    def tearDownClass(cls):
        cls.sandbox.stop()
        cls.test_tryton.drop_db()

    def setUp(self):
        self.sandbox.reset()
        self.sandbox.clear_faults()
        self.first_exchange = max([0] + [e['id'] for e in self.exchanges(0)])

    def tearDown(self):
        "Close what a test left pending so the next one starts clean"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction():
            pool = Pool()
            Submission = pool.get('account.einvoice.submission')
            Configuration = pool.get('account.einvoice.configuration')
            table = Submission.__table__()
            Transaction().connection.cursor().execute(*table.update(
                    [table.state, table.exchange, table.needs_query],
                    ['cancelled', None, False],
                    where=table.state == 'pending'))
            configuration = Configuration(self.configuration)
            configuration.batch_size = None
            configuration.certificate_name = 'test'
            configuration.last_failure = None
            configuration.save()

    # -- helpers -----------------------------------------------------------
    @property
    def company(self):
        return self.base['company']

    def post(self, count=1, **kwargs):
        "Post count invoices; return their ids"
        return tools.call(lambda: [
                tools.create_invoice(self.base, **kwargs).id
                for _ in range(count)], company=self.company)

    def cron(self):
        tools.run_cron(self.company)

    def submissions(self, invoice_ids):
        "Return the submissions of invoices as plain dicts, in order"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            records = Submission.search([('invoice', 'in', invoice_ids)])
            by_invoice = {s.invoice.id: s for s in records}
            return [self._as_dict(by_invoice[i]) if i in by_invoice else None
                for i in invoice_ids]

    @staticmethod
    def _as_dict(submission):
        return {
            'id': submission.id,
            'invoice': submission.invoice.id,
            'state': submission.state,
            'operation': submission.operation,
            'registered': submission.registered,
            'needs_query': submission.needs_query,
            'exchange': submission.exchange.id if submission.exchange
            else None,
            'attempts': submission.attempts,
            'next_attempt': submission.next_attempt,
            'reference': submission.reference,
            'code': submission.code,
            'message': submission.message,
            'last_error': submission.last_error,
            'outcomes': [(o.kind, o.state, o.code, o.message)
                for o in submission.outcomes],
            }

    def submission(self, invoice_id):
        return self.submissions([invoice_id])[0]

    def key(self, invoice_id):
        return f'INV-{invoice_id}'

    def sent_count(self, invoice_id, operation='Submit'):
        return self.sandbox.count(
            'test_authority', operation, self.key(invoice_id))

    def exchanges(self, since=None):
        "The exchanges of the running test, oldest first"
        from trytond.pool import Pool
        if since is None:
            since = self.first_exchange
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            return [{
                    'id': e.id,
                    'kind': e.kind,
                    'operation': e.operation,
                    'state': e.state,
                    'result': e.result,
                    'error': e.error,
                    'records': e.record_count,
                    'request': e.request,
                    'response': e.response,
                    'request_id': e.request_id,
                    'worker': e.worker,
                    } for e in Exchange.search(
                    [('id', '>', since)], order=[('id', 'ASC')])]

    def cancel_invoices(self, invoice_ids):
        from trytond.pool import Pool

        def cancel():
            Invoice = Pool().get('account.invoice')
            Invoice.cancel(Invoice.browse(invoice_ids))
        tools.call(cancel, company=self.company)

    def set_configuration(self, **values):
        from trytond.pool import Pool
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(self.configuration)], values)
