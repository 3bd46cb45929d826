"""Framework: staff workflow, access rights, history, certificates."""
import datetime as dt
from decimal import Decimal

from tests import tools
from tests.framework_case import FrameworkTestCase


class StaffWorkflowTest(FrameworkTestCase):

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
                ('bookkeeper', [account]),
                ('chief', [account, admin])]:
            user, = User.create([{
                        'login': login,
                        'name': login.title(),
                        'groups': [('add', groups)],
                        'companies': [('add', [cls.base['company']])],
                        'company': cls.base['company'],
                        }])
            users[login] = user.id
        return users

    def as_user(self, login, func, *args):
        return tools.call(func, *args, user=self.users[login],
            company=self.company, context={'_check_access': True})

    def test_reschedule_rejected_after_fix(self):
        "Rejected, fixed, rescheduled by the chief accountant: accepted"
        from trytond.pool import Pool
        invoice, = self.post(amount=Decimal('-10'))
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'rejected')

        def reschedule(submission_id):
            Submission = Pool().get('account.einvoice.submission')
            Submission.reschedule([Submission(submission_id)])
        self.as_user('chief', reschedule, submission['id'])
        submission = self.submission(invoice)
        self.assertEqual(
            (submission['state'], submission['operation']),
            ('pending', 'register'))
        # The authority refused it for the amount; the sandbox accepts the
        # same record once the rule is relaxed, as after a data fix.
        self.sandbox.set_option('test_authority', 'allow_negative', True)
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        self.assertEqual(
            [o[1] for o in submission['outcomes']], ['accepted', 'rejected'])

    def test_reschedule_accepted_with_errors_modifies(self):
        from trytond.pool import Pool
        invoice, = self.post(description='WARN')
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted_with_errors')

        def fix_and_reschedule(submission_id):
            Submission = Pool().get('account.einvoice.submission')
            Invoice = Pool().get('account.invoice')
            record = Submission(submission_id)
            Invoice.write([record.invoice], {'description': 'fixed'})
            Submission.reschedule([record])
        tools.call(fix_and_reschedule, submission['id'])
        self.assertEqual(self.submission(invoice)['operation'], 'modify')
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted')
        pairs = [p for r in self.sandbox.received('test_authority', 'Submit')
            for p in r['summary']['pairs']]
        self.assertEqual(pairs, [['register', self.key(invoice)],
                ['modify', self.key(invoice)]])

    def test_bookkeeper_cannot_reschedule(self):
        from trytond.model.exceptions import AccessButtonError
        from trytond.pool import Pool
        invoice, = self.post(amount=Decimal('-10'))
        self.cron()
        submission = self.submission(invoice)

        def reschedule(submission_id):
            Submission = Pool().get('account.einvoice.submission')
            Submission.reschedule([Submission(submission_id)])
        with self.assertRaises(AccessButtonError):
            self.as_user('bookkeeper', reschedule, submission['id'])

        def read(submission_id):
            Submission = Pool().get('account.einvoice.submission')
            return Submission.read([submission_id], ['state'])[0]['state']
        self.assertEqual(self.as_user('bookkeeper', read, submission['id']),
            'rejected')

    def test_staff_post_and_cancel(self):
        "An accounting user posts and cancels without history rights"
        from trytond.pool import Pool

        def post():
            return tools.create_invoice(self.base, type_='in').id
        invoice = self.as_user('chief', post)
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')

        def cancel(invoice_id):
            Invoice = Pool().get('account.invoice')
            Invoice.cancel([Invoice(invoice_id)])
        self.as_user('bookkeeper', cancel, invoice)
        submission = self.submission(invoice)
        self.assertEqual(
            (submission['state'], submission['operation']),
            ('pending', 'cancel'))

    def test_history_not_editable(self):
        from trytond.model.exceptions import AccessError
        from trytond.pool import Pool
        invoice, = self.post()
        self.cron()
        for model, values in [
                ('account.einvoice.exchange', {'result': 'forged'}),
                ('account.einvoice.exchange.outcome', {'state': 'accepted'}),
                ('account.einvoice.submission', {'state': 'accepted'}),
                ]:
            def write():
                Model = Pool().get(model)
                Model.write(Model.search([]), values)
            for login in ['bookkeeper', 'chief']:
                with self.subTest(model=model, user=login):
                    with self.assertRaises(AccessError):
                        self.as_user(login, write)

    def test_send_now(self):
        "Send now bypasses the backoff and reports at once"
        from trytond.pool import Pool
        invoice, = self.post()
        self.sandbox.add_fault('test_authority', 'Submit', 'busy')
        self.cron()
        submission = self.submission(invoice)
        self.assertGreater(submission['next_attempt'], dt.datetime.now())

        def send_now(submission_id):
            Submission = Pool().get('account.einvoice.submission')
            Submission.send_now([Submission(submission_id)])
        self.as_user('chief', send_now, submission['id'])
        tools.run_queue()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')


class CertificateTest(FrameworkTestCase):

    def info(self):
        from trytond.pool import Pool

        def read():
            Configuration = Pool().get('account.einvoice.configuration')
            return Configuration.read([self.configuration], [
                    'certificate_subject', 'certificate_issuer',
                    'certificate_expiry', 'certificate_status'])[0]
        return tools.call(read, commit=False)

    def test_pem_certificate_info(self):
        info = self.info()
        self.assertIn('TEST0001', info['certificate_subject'])
        self.assertIn('CA', info['certificate_issuer'])
        self.assertGreater(info['certificate_expiry'], dt.datetime.now())
        self.assertEqual(info['certificate_status'], 'Valid')

    def test_pkcs12_certificate(self):
        from trytond import config
        identity = self.sandbox.pki.identities['es_company']
        config.set('account_einvoice_certificate', 'p12.pkcs12',
            identity.p12_path)
        config.set('account_einvoice_certificate', 'p12.password',
            identity.p12_password)
        self.set_configuration(certificate_name='p12')
        info = self.info()
        self.assertIn(identity.tax_id, info['certificate_subject'])

    def test_missing_certificate_is_explained(self):
        self.set_configuration(certificate_name='nowhere')
        info = self.info()
        self.assertIn('[account_einvoice_certificate]',
            info['certificate_status'])

    def test_private_key_not_readable(self):
        from trytond.pool import Pool
        fields = tools.call(lambda: Pool().get(
                'account.einvoice.configuration').fields_get(), commit=False)
        self.assertFalse([f for f in fields if 'key' in f or 'password' in f])

    def test_expiring_certificate_notifies(self):
        import os
        import tempfile

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        from trytond import config
        from trytond.pool import Pool

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Soon')])
        now = dt.datetime.now(dt.timezone.utc)
        certificate = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=300))
            .not_valid_after(now + dt.timedelta(days=10))
            .sign(key, hashes.SHA256()))
        directory = tempfile.mkdtemp()
        paths = {}
        for part, data in [
                ('certificate', certificate.public_bytes(
                        serialization.Encoding.PEM)),
                ('private_key', key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()))]:
            paths[part] = os.path.join(directory, part)
            with open(paths[part], 'wb') as fp:
                fp.write(data)
            config.set('account_einvoice_certificate', f'soon.{part}',
                paths[part])
        self.set_configuration(certificate_name='soon')
        self.assertEqual(self.info()['certificate_status'],
            'Expires in 9 days')

        def check():
            Pool().get('account.einvoice.configuration').check_certificates()
        tools.call(check)
        tools.call(check)

        def labels():
            Notification = Pool().get('res.notification')
            return [n.label for n in Notification.search([])]
        found = [label for label in tools.call(labels, commit=False)
            if 'soon' in label]
        self.assertEqual(len(found), 1, "notified once a day")
