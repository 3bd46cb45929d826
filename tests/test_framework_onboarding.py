"""Framework: the secret store and onboarding (issue 15, items 4 and 8).

The test chain service onboards with the sandbox's onboarding authority:
an EC key and a CSR, a compliance credential for a one-time password, a
compliance check, the production credential it then sends with.  Nothing
secret reaches the database, the stored exchanges, the logs or RPC."""
import base64
import datetime as dt
import hashlib
import logging
import os
import shutil
import stat

from tests import tools
from tests.chain_case import ChainTestCase
from trytond.exceptions import UserError

OTP = '123345'
NAME = 'test'
KEYS = ['basic_auth', 'compliance_request_id', 'compliance_secret',
    'compliance_token', 'csr', 'private_key']


class Capture(logging.Handler):
    "Every log record of the process, formatted"

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts = []

    def emit(self, record):
        self.texts.append(self.format(record))


class OnboardingTest(ChainTestCase):
    sandbox_services = ['test_chain', 'onboarding_ca']
    credential_secrets = {}
    secret_store = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = tools.call(cls.create_users, company=cls.base['company'])

    @classmethod
    def create_users(cls):
        from trytond.pool import Pool
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        account = ModelData.get_id('account', 'group_account')
        admin = ModelData.get_id('account', 'group_account_admin')
        users = {}
        for login, groups in [
                ('bookkeeper', [account]), ('chief', [account, admin])]:
            user, = User.create([{
                        'login': login, 'name': login.title(),
                        'groups': [('add', groups)],
                        'companies': [('add', [cls.base['company']])],
                        'company': cls.base['company'],
                        }])
            users[login] = user.id
        users['admin'], = [u.id for u in User.search(
                [('login', '=', 'admin')])]
        return users

    def setUp(self):
        from trytond.pool import Pool
        super().setUp()
        # only the production credential onboarding obtains may send
        self.sandbox.set_option('test_chain', 'basic_auth', 'nobody:none')
        shutil.rmtree(os.path.join(self.secrets_path, NAME),
            ignore_errors=True)

        def forget():
            Onboarding = Pool().get('account.einvoice.onboarding')
            Onboarding.delete(Onboarding.search([]))
        tools.call(forget)

    # -- helpers -----------------------------------------------------------
    def onboard(self, otp=None, user='chief'):
        """Run the wizard from the configuration as an RPC client does;
        return the start view's values and the session id"""
        from trytond.pool import Pool
        context = {
            'active_model': 'account.einvoice.configuration',
            'active_id': self.configuration,
            'active_ids': [self.configuration],
            }

        def create():
            Onboard = Pool().get('account.einvoice.onboard', type='wizard')
            session_id, _, _ = Onboard.create()
            return session_id
        session_id = tools.call(create, user=self.users[user],
            company=self.company, context=dict(context, _check_access=True))

        def execute(state, data):
            Onboard = Pool().get('account.einvoice.onboard', type='wizard')
            return Onboard.execute(session_id, data, state)
        start = tools.call(execute, 'start', {}, user=self.users[user],
            company=self.company, context=context)
        tools.call(execute, 'run', {'start': {'otp': otp}},
            user=self.users[user], company=self.company, context=context)
        return start['view']['defaults'], session_id

    def onboarding(self):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Onboarding = Pool().get('account.einvoice.onboarding')
            record, = Onboarding.search([])
            return {
                'state': record.state,
                'done': record.done,
                'next_step': record.next_step,
                'last_error': record.last_error,
                'exchanges': [e.id for e in record.exchanges],
                }

    def stored(self, key):
        from trytond.modules.account_einvoice.secret_store import secret
        return secret(NAME, key)

    def calls(self, operation):
        return len([r for r in self.sandbox.received(
                    'onboarding_ca', operation) if r['processed']])

    def secrets(self):
        "Every secret value of the running test"
        state = self.sandbox.state('onboarding_ca')
        values = {OTP}
        for credential in (list(state['compliance'].values())
                + state['production']):
            values |= {credential['token'], credential['secret']}
        key = self.stored('private_key')
        if key:
            values |= {line for line in key.splitlines()
                if line and not line.startswith('-----')}
        return values

    def assert_nothing_secret(self, texts):
        secrets = self.secrets()
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode('utf-8', 'replace')
            for secret in secrets:
                self.assertNotIn(secret, text or '')

    def stored_exchanges(self):
        "Every text of the exchanges of the test, as stored"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            exchanges = Exchange.search([('id', '>', self.first_exchange)],
                order=[('id', 'ASC')])
            return [(e.kind, e.state, e.operation, e.request_headers or '',
                    bytes(e.request or b'').decode(),
                    bytes(e.response or b'').decode(), e.response_headers,
                    e.error, e.result) for e in exchanges]

    # -- tests -------------------------------------------------------------
    def test_onboarding_then_sending(self):
        "Every step once; secrets only in the store; the credential sends"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        capture = Capture()
        root = logging.getLogger()
        level = root.level
        root.addHandler(capture)
        root.setLevel(logging.DEBUG)
        try:
            start, session = self.onboard(OTP)
        finally:
            root.removeHandler(capture)
            root.setLevel(level)
        self.assertTrue(start['needs_otp'])
        self.assertEqual(self.onboarding(), {
                'state': 'done',
                'done': ['key', 'compliance', 'check', 'production'],
                'next_step': None,
                'last_error': None,
                'exchanges': self.onboarding()['exchanges'],
                })
        self.assertEqual([self.calls(o) for o in [
                    'compliance', 'compliance_checks', 'production']],
            [1, 1, 1])
        exchanges = self.stored_exchanges()
        self.assertEqual([(e[0], e[1], e[2]) for e in exchanges], [
                ('onboarding', 'done', 'compliance'),
                ('onboarding', 'done', 'check'),
                ('onboarding', 'done', 'production')])
        self.assertEqual(len(self.onboarding()['exchanges']), 3)
        # the answers are kept, without the credentials they carried
        self.assertIn('"requestID"', exchanges[0][5])
        self.assertIn('"binarySecurityToken": "********"', exchanges[0][5])
        self.assert_nothing_secret(
            [t for e in exchanges for t in e] + capture.texts)

        # the store: one folder per credential, files 0600
        folder = os.path.join(self.secrets_path, NAME)
        self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode), 0o700)
        self.assertEqual(
            sorted(f for f in os.listdir(folder) if not f.startswith('.')),
            KEYS)
        for name in os.listdir(folder):
            self.assertEqual(stat.S_IMODE(
                    os.stat(os.path.join(folder, name)).st_mode), 0o600)
        production, = self.sandbox.state('onboarding_ca')['production']
        self.assertEqual(self.stored('basic_auth'),
            f"{production['token']}:{production['secret']}")

        # nothing through RPC, whoever reads, nor in the wizard's session
        def read_all():
            pool = Pool()
            texts = []
            for name in ['account.einvoice.onboarding',
                    'account.einvoice.configuration',
                    'account.einvoice.exchange']:
                Model = pool.get(name)
                fields = Model.fields_get()
                self.assertFalse({'otp', 'secret', 'token', 'private_key'}
                    & set(fields))
                with Transaction().set_context(_check_access=True):
                    rows = Model.search_read([], fields_names=[
                            f for f, d in fields.items()
                            if d['type'] != 'binary'])
                    rows += Model.read([r['id'] for r in rows],
                        [f for f, d in fields.items()
                            if d['type'] == 'binary'])
                self.assertTrue(rows)
                texts.append(repr(rows))
            Session = pool.get('ir.session.wizard')
            texts.append(Session(session).data)
            return texts
        for user in ['admin', 'chief']:
            with self.subTest(user=user):
                self.assert_nothing_secret(tools.call(read_all,
                        user=self.users[user], company=self.company))
        # nor anywhere in the database file (the exchanges' documents in
        # the filestore were read above)
        data = tools.sqlite_database_bytes()
        if data is not None:
            self.assertIn(b'account.einvoice.onboarding', data)
            for secret in self.secrets():
                self.assertNotIn(secret.encode(), data)

        # the authority accepts the production credential
        self.sandbox.set_option('test_chain', 'basic_auth',
            f"{production['token']}:{production['secret']}")
        invoice, = self.post()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        sent, = self.sandbox.received('test_chain')
        self.assertEqual(sent['summary']['auth_user'], production['token'])
        self.assert_nothing_secret(
            [t for e in self.stored_exchanges() for t in e])

    def test_resume_after_interruption(self):
        "Interrupted at the third step, resumed there: nothing repeated"
        self.sandbox.add_fault('onboarding_ca', 'compliance_checks',
            'http_503')
        with self.assertRaises(UserError) as context:
            self.onboard(OTP)
        self.assertIn('Run the compliance checks', context.exception.message)
        self.assertIn('503', context.exception.message)
        onboarding = self.onboarding()
        self.assertEqual(
            (onboarding['state'], onboarding['done'],
                onboarding['next_step']),
            ('failed', ['key', 'compliance'], 'check'))
        self.assertEqual(onboarding['last_error'], context.exception.message)
        self.assertEqual([e[1] for e in self.stored_exchanges()],
            ['done', 'failed'])
        key = self.stored('private_key')

        # no one-time password asked any more
        start, _ = self.onboard()
        self.assertFalse(start['needs_otp'])
        self.assertEqual(self.onboarding()['state'], 'done')
        self.assertEqual(self.stored('private_key'), key)
        self.assertEqual([self.calls(o) for o in [
                    'compliance', 'compliance_checks', 'production']],
            [1, 1, 1])
        csr = base64.b64encode(self.stored('csr').encode())
        self.assertEqual(self.sandbox.count('onboarding_ca', 'compliance',
                'csr:' + hashlib.sha256(csr).hexdigest()), 1)
        self.assertEqual([e[1] for e in self.stored_exchanges()],
            ['done', 'failed', 'done', 'done'])
        self.assert_nothing_secret(
            [t for e in self.stored_exchanges() for t in e])

    def test_wrong_otp(self):
        "A wrong one-time password: a clear message, no credential"
        with self.assertRaises(UserError) as context:
            self.onboard('999999')
        self.assertIn('refused the one-time password',
            context.exception.message)
        self.assertIn('invalid OTP', context.exception.message)
        onboarding = self.onboarding()
        self.assertEqual((onboarding['state'], onboarding['next_step']),
            ('failed', 'compliance'))
        for key in KEYS:
            if key not in {'private_key', 'csr'}:
                self.assertIsNone(self.stored(key), key)
        self.assertEqual(self.calls('compliance'), 0)
        exchange, = self.stored_exchanges()
        self.assertEqual(exchange[:3], ('onboarding', 'failed', 'compliance'))
        self.assertNotIn('999999', repr(exchange))
        self.assertNotIn('OTP', exchange[3])
        # a wizard without the password refuses before any call
        with self.assertRaises(UserError):
            self.onboard('')
        self.assertEqual(len(self.stored_exchanges()), 1)

    def test_onboard_button(self):
        "The configuration's Onboard button opens the wizard (admins only)"
        from trytond.pool import Pool

        def press():
            pool = Pool()
            Configuration = pool.get('account.einvoice.configuration')
            Action = pool.get('ir.action')
            ModelData = pool.get('ir.model.data')
            wizard = Action.get_action_id(
                ModelData.get_id('account_einvoice', 'wizard_onboard'))
            return Configuration.onboard(
                [Configuration(self.configuration)]), wizard
        action, wizard = tools.call(press, user=self.users['chief'],
            company=self.company, context={'_check_access': True})
        self.assertEqual(action, wizard)
        with self.assertRaises(UserError):
            tools.call(press, user=self.users['bookkeeper'],
                company=self.company, context={'_check_access': True})

    def test_store_rules(self):
        "Names are file names; no directory, nothing stored; nor onboarded"
        from trytond import config
        from trytond.modules.account_einvoice import secret_store
        with tools.transaction(commit=False):
            for name in ['../etc', '.hidden', 'a/b', '', 'x' * 101]:
                with self.subTest(name=name):
                    with self.assertRaises(UserError):
                        secret_store.store_secret(name, 'key', 'value')
            with self.assertRaises(UserError):
                secret_store.store_secret(NAME, '../key', 'value')
            config.set('account_einvoice', 'secrets_path', '')
            try:
                with self.assertRaises(UserError) as context:
                    secret_store.store_secret(NAME, 'key', 'value')
                self.assertIn('secrets_path', context.exception.message)
                self.assertIsNone(secret_store.secret(NAME, 'key'))
            finally:
                config.set('account_einvoice', 'secrets_path',
                    self.secrets_path)
            # the trytond configuration comes first
            secret_store.store_secret(NAME, 'companies', 'stored')
            self.assertNotEqual(secret_store.secret(NAME, 'companies'),
                'stored')
            secret_store.delete_secret(NAME, 'companies')
        config.set('account_einvoice', 'secrets_path', '')
        try:
            with self.assertRaises(UserError) as context:
                self.onboard(OTP)
            self.assertIn('secrets_path', context.exception.message)
        finally:
            config.set('account_einvoice', 'secrets_path', self.secrets_path)
        self.assertEqual(self.stored_exchanges(), [])
        # a bookkeeper cannot run it
        with self.assertRaises(UserError):
            self.onboard(OTP, user='bookkeeper')

    def test_expiry_warning(self):
        "A stored secret expiring soon is notified once a day"
        from trytond.modules.account_einvoice import secret_store
        from trytond.pool import Pool
        secret_store.store_secret(NAME, 'api_token', 'tok-4711',
            expires=dt.datetime.utcnow() + dt.timedelta(days=5))
        secret_store.store_secret(NAME, 'later', 'tok-4712',
            expires=dt.datetime.utcnow() + dt.timedelta(days=90))
        self.assertEqual(
            secret_store.secret_expiry(NAME, 'api_token').date(),
            (dt.datetime.utcnow() + dt.timedelta(days=5)).date())

        def check():
            pool = Pool()
            Configuration = pool.get('account.einvoice.configuration')
            Configuration.write([Configuration(self.configuration)],
                {'expiry_notified': None})
            Configuration.check_certificates()
            Configuration.check_certificates()

        def notifications():
            Notification = Pool().get('res.notification')
            return [(n.label, n.description) for n in Notification.search([
                        ('user', '=', self.users['chief']),
                        ('label', 'like', 'Secrets of credential%'),
                        ])]
        tools.call(check)
        (label, description), = tools.call(notifications)
        self.assertEqual(label, 'Secrets of credential test expire soon')
        self.assertIn('api_token', description)
        self.assertNotIn('later', description)
        self.assertNotIn('tok-4711', description)
