"""The base of every cross-module test class: one database with the
modules activated, one sandbox, the trytond configuration pointing at
both, and helpers to run the scheduler and read what happened."""
import unittest

from tests import tools


class SandboxTestCase(unittest.TestCase):
    #: Tryton modules to activate
    modules = []
    #: sandbox services to start (None: all)
    sandbox_services = None
    sandbox_subprocess = False
    #: certificate name in the trytond configuration -> sandbox identity
    certificates = {}
    #: extra options of the [account_einvoice] section
    config_options = {}
    #: certificate name -> {secret name: value} declared beside it
    credential_secrets = {}
    #: other sections of the trytond configuration
    config_sections = {}
    #: give the class a secret store of its own (cls.secrets_path)
    secret_store = False

    @classmethod
    def setUpClass(cls):
        import tempfile

        from tests.sandbox import Sandbox
        if cls.secret_store:
            cls.secrets_path = tempfile.mkdtemp(prefix='einvoice-secrets-')
            cls.config_options = dict(cls.config_options,
                secrets_path=cls.secrets_path)
        cls.test_tryton = tools.trytond_setup()
        cls.test_tryton.drop_db()
        cls.test_tryton.activate_module(cls.modules)
        cls.sandbox = Sandbox(
            cls.sandbox_services, subprocess=cls.sandbox_subprocess)
        cls.sandbox.start()
        cls.config_path = tools.configure(
            cls.sandbox, cls.certificates, secrets=cls.credential_secrets,
            sections=cls.config_sections, **cls.config_options)
        cls.setUpData()

    @classmethod
    def setUpData(cls):
        "Create cls.base (with 'company') and cls.configuration (an id)"
        raise NotImplementedError

    @classmethod
    def tearDownClass(cls):
        import shutil
        cls.sandbox.stop()
        cls.test_tryton.drop_db()
        if cls.secret_store:
            shutil.rmtree(cls.secrets_path, ignore_errors=True)

    def setUp(self):
        self.sandbox.reset()
        self.sandbox.clear_faults()
        self.first_exchange = max([0] + [e['id'] for e in self.exchanges(0)])

    def configuration_defaults(self):
        "Values the configuration is reset to after each test"
        return {'batch_size': None, 'last_failure': None}

    def tearDown(self):
        "Close what a test left pending so the next one starts clean"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        self.sandbox.clear_faults()
        with tools.transaction():
            pool = Pool()
            Submission = pool.get('account.einvoice.submission')
            Configuration = pool.get('account.einvoice.configuration')
            table = Submission.__table__()
            Transaction().connection.cursor().execute(*table.update(
                    [table.state, table.exchange, table.needs_query],
                    ['cancelled', None, False],
                    where=table.state.in_(['pending', 'processing'])))
            Configuration.write([Configuration(self.configuration)],
                self.configuration_defaults())
            self._clear_holds()

    # -- helpers -----------------------------------------------------------
    @property
    def company(self):
        return self.base['company']

    def cron(self):
        tools.run_cron(self.company)

    def make_due(self):
        """Let what waits for a retry go now, as if the authority had had
        all the time it may take with the requests sent so far"""
        import datetime as dt

        from trytond.pool import Pool
        from trytond.transaction import Transaction

        def reset():
            pool = Pool()
            Submission = pool.get('account.einvoice.submission')
            Exchange = pool.get('account.einvoice.exchange')
            Submission.write(
                Submission.search(
                    [('state', 'in', ['pending', 'processing'])]),
                {'next_attempt': None})
            self._clear_holds()
            table = Exchange.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(table.id, table.sent,
                    where=table.sent != None))  # noqa: E711
            for exchange_id, sent in cursor.fetchall():
                cursor.execute(*table.update([table.sent],
                        [sent - dt.timedelta(days=1)],
                        where=table.id == exchange_id))
        tools.call(reset)

    @staticmethod
    def _clear_holds():
        "Forget the waits the authority asked for"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        chain = Pool().get('account.einvoice.chain').__table__()
        Transaction().connection.cursor().execute(*chain.update(
                [chain.not_before], [None]))

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
                    'remote_operation': e.remote_operation,
                    'endpoint': e.endpoint,
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

    def verify_chains(self):
        "The first break of each chain (None when it verifies)"
        from trytond.pool import Pool

        def verify():
            Chain = Pool().get('account.einvoice.chain')
            chains = Chain.search([])
            Chain.verify_chains(chains)
            return {c.key: c.first_break() for c in chains}
        return tools.call(verify, company=self.company)

    def set_configuration(self, **values):
        from trytond.pool import Pool
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(self.configuration)], values)

    def cancel_invoices(self, invoice_ids):
        from trytond.pool import Pool

        def cancel():
            Invoice = Pool().get('account.invoice')
            Invoice.cancel(Invoice.browse(invoice_ids))
        tools.call(cancel, company=self.company)
