"""ZATCA: the onboarding of EGS units (issue 16, item 1).

Two units of one Saudi company onboard through the Onboard wizard against
the sandbox's ``zatca`` service: the key and CSR, the compliance
credential for a one-time password, one compliance check per document type
the unit may issue, the production credential, its renewal.  Nothing
secret reaches the database or the stored exchanges."""
import base64
import datetime as dt
import json
import os
import shutil
import stat

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID, ObjectIdentifier

from tests import tools
from tests.case import SandboxTestCase
from trytond.exceptions import UserError
from trytond.modules.account_einvoice.signing_zatca import FIRST_PIH

OTP = '123345'
VAT = '399999999900003'
UNITS = {'a': '1100', 'b': '0100'}
KEYS = ['compliance', 'egs_csr', 'egs_key', 'production']
SPKI = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _service_with_onboarding():
    """Until the lead's ZatcaService inherits ZatcaOnboardingMixin, the
    configuration builds this one"""
    from trytond.modules.account_einvoice_sa_zatca import service
    from trytond.modules.account_einvoice_sa_zatca.onboarding import (
        ZatcaOnboardingMixin)
    if not issubclass(service.ZatcaService, ZatcaOnboardingMixin):
        service.ZatcaService = type('ZatcaService',
            (ZatcaOnboardingMixin, service.ZatcaService), {})


class ZatcaOnboardingTest(SandboxTestCase):
    modules = ['account_einvoice_sa_zatca']
    sandbox_services = ['zatca']
    certificates = {f'zatca_{u}': 'test_company' for u in UNITS}
    secret_store = True

    @classmethod
    def setUpData(cls):
        _service_with_onboarding()
        cls.base = tools.call(tools.create_base,
            company_name="Maximum Speed Tech Supply LTD", tax_id=VAT)
        cls.units = tools.call(cls.create_units, company=cls.base['company'])
        cls.configuration = cls.units['a']
        cls.chief = tools.call(cls.create_chief)

    @classmethod
    def create_units(cls):
        from trytond.pool import Pool
        pool = Pool()
        Company = pool.get('company.company')
        Country = pool.get('country.country')
        Configuration = pool.get('account.einvoice.configuration')
        party = Company(cls.base['company']).party
        identifier, = party.identifiers
        identifier.type = 'sa_vat'
        identifier.save()
        country = Country(code='SA', name="Saudi Arabia")
        country.save()
        address, = party.addresses
        address.street_name = "Prince Sultan"
        address.building_number = '2322'
        address.additional_number = '1234'
        address.district = "Al-Murabba"
        address.city = "Riyadh"
        address.postal_code = '23333'
        address.country = country
        address.save()
        units = {}
        for unit, types in UNITS.items():
            configuration = Configuration(company=cls.base['company'],
                service='sa_zatca', environment='staging',
                start_date=dt.date.today(),
                certificate_name=f'zatca_{unit}', unit=unit.upper(),
                endpoint_host=cls.sandbox.url,
                zatca_portal='developer-portal', zatca_invoice_types=types,
                zatca_solution_name='Tryton', zatca_model='8.0',
                zatca_serial=f'EGS-{unit}', zatca_branch="Riyadh Branch",
                zatca_industry="Supply activities",
                zatca_location="RRRD2929")
            configuration.save()
            units[unit] = configuration.id
        return units

    @classmethod
    def create_chief(cls):
        from trytond.pool import Pool
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user, = User.create([{
                    'login': 'chief', 'name': "Chief",
                    'groups': [('add', [
                                ModelData.get_id('account', 'group_account'),
                                ModelData.get_id(
                                    'account', 'group_account_admin')])],
                    'companies': [('add', [cls.base['company']])],
                    'company': cls.base['company'],
                    }])
        return user.id

    def setUp(self):
        from trytond.pool import Pool
        super().setUp()
        for unit in UNITS:
            shutil.rmtree(os.path.join(self.secrets_path, f'zatca_{unit}'),
                ignore_errors=True)

        def forget():
            Onboarding = Pool().get('account.einvoice.onboarding')
            Onboarding.delete(Onboarding.search([]))
        tools.call(forget)

    # -- helpers -----------------------------------------------------------
    def onboard(self, unit, otp=None):
        """Run the wizard on the unit's configuration as an RPC client
        does; return the start view's values"""
        from trytond.pool import Pool
        configuration = self.units[unit]
        context = {
            'active_model': 'account.einvoice.configuration',
            'active_id': configuration, 'active_ids': [configuration],
            }

        def create():
            Onboard = Pool().get('account.einvoice.onboard', type='wizard')
            return Onboard.create()[0]
        session = tools.call(create, user=self.chief, company=self.company,
            context=dict(context, _check_access=True))

        def execute(state, data):
            Onboard = Pool().get('account.einvoice.onboard', type='wizard')
            return Onboard.execute(session, data, state)
        start = tools.call(execute, 'start', {}, user=self.chief,
            company=self.company, context=context)
        tools.call(execute, 'run', {'start': {'otp': otp}}, user=self.chief,
            company=self.company, context=context)
        return start['view']['defaults']

    def start(self, unit):
        "The wizard's start view of the unit"
        from trytond.pool import Pool
        configuration = self.units[unit]

        def start():
            Onboard = Pool().get('account.einvoice.onboard', type='wizard')
            session, _, _ = Onboard.create()
            try:
                return Onboard.execute(session, {}, 'start')['view'][
                    'defaults']
            finally:
                Onboard.delete(session)
        return tools.call(start, user=self.chief, company=self.company,
            context={'active_model': 'account.einvoice.configuration',
                'active_id': configuration, 'active_ids': [configuration]})

    def onboarding(self, unit):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Onboarding = Pool().get('account.einvoice.onboarding')
            record, = Onboarding.search(
                [('configuration', '=', self.units[unit])])
            return (record.state, record.done, record.next_step,
                record.last_error)

    def stored(self, unit, key):
        from trytond.modules.account_einvoice.secret_store import secret
        return secret(f'zatca_{unit}', key)

    def credential(self, unit, stage='production'):
        from trytond.modules.account_einvoice_sa_zatca import credentials
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Configuration = Pool().get('account.einvoice.configuration')
            return credentials.credentials(
                Configuration(self.units[unit]), stage)

    def operations(self):
        "(operation, state) of the onboarding exchanges of the test"
        return [(e['operation'], e['state']) for e in self.exchanges()
            if e['kind'] == 'onboarding']

    def compliance_requests(self):
        "The bodies of the compliance checks sent, as stored"
        return [json.loads(e['request']) for e in self.exchanges()
            if e['remote_operation'] == 'POST compliance/invoices']

    def compliance_hashes(self):
        return [(b['uuid'], b['invoiceHash'])
            for b in self.compliance_requests()]

    def compliance_chain(self):
        "(ICV, PIH) of the compliance documents sent"
        from lxml import etree
        ns = {'cac': 'urn:oasis:names:specification:ubl:schema:xsd:'
            'CommonAggregateComponents-2',
            'cbc': 'urn:oasis:names:specification:ubl:schema:xsd:'
            'CommonBasicComponents-2'}
        chain = []
        for body in self.compliance_requests():
            root = etree.fromstring(base64.b64decode(body['invoice']))
            reference = "cac:AdditionalDocumentReference[cbc:ID='%s']"
            chain.append((
                int(root.xpath(reference % 'ICV' + '/cbc:UUID/text()',
                        namespaces=ns)[0]),
                root.xpath(reference % 'PIH' + '//cbc:EmbeddedDocument'
                    'BinaryObject/text()', namespaces=ns)[0]))
        return chain

    def calls(self, operation):
        return len([r for r in self.sandbox.received('zatca', operation)
                if r['processed']])

    def secrets(self, unit):
        "Every secret value of the unit known to the test"
        values = {OTP}
        for key in KEYS + ['renewal_key']:
            text = self.stored(unit, key)
            if not text or key == 'egs_csr':
                continue
            if key in {'compliance', 'production'}:
                value = json.loads(text)
                values |= {value['token'], value['secret']}
                text = value.get('key') or ''
            values |= {line for line in text.splitlines()
                if line and not line.startswith('-----')}
        return values

    def assert_nothing_secret(self, unit, texts):
        secrets = self.secrets(unit)
        self.assertGreater(len(secrets), 5)
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode('utf-8', 'replace')
            for secret in secrets:
                self.assertNotIn(secret, text or '')

    def stored_texts(self):
        "Every text of the exchanges of the test, as stored"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            return [t for e in Exchange.search(
                    [('id', '>', self.first_exchange)])
                for t in (e.request_headers, e.response_headers,
                    bytes(e.request or b''), bytes(e.response or b''),
                    e.error, e.result)]

    # -- tests -------------------------------------------------------------
    def test_csr(self):
        "The CSR per portal; a missing field or a wrong VAT refused"
        from trytond.modules.account_einvoice_sa_zatca import csr
        from trytond.pool import Pool
        with tools.transaction(commit=False) as transaction:
            pool = Pool()
            Configuration = pool.get('account.einvoice.configuration')
            Identifier = pool.get('party.identifier')
            configuration = Configuration(self.units['a'])
            key = csr.new_key()
            for portal, template in [
                    ('developer-portal', 'TSTZATCA-Code-Signing'),
                    ('simulation', 'PREZATCA-Code-Signing'),
                    ('core', 'ZATCA-Code-Signing')]:
                configuration.zatca_portal = portal
                request = csr.build_csr(key, configuration)
                self.assertTrue(request.is_signature_valid)
                extension = request.extensions.get_extension_for_oid(
                    ObjectIdentifier('1.3.6.1.4.1.311.20.2')).value
                self.assertEqual(extension.value, b'\x13'
                    + bytes([len(template)]) + template.encode())
            self.assertEqual(request.subject.rfc4514_string(),
                'CN=Tryton-EGS-a,O=Maximum Speed Tech Supply LTD,'
                'OU=Riyadh Branch,C=SA')
            self.assertEqual(request.public_key().public_bytes(*SPKI),
                key.public_key().public_bytes(*SPKI))
            directory, = request.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DirectoryName)
            self.assertEqual(
                [(a.oid.dotted_string, a.value) for a in directory], [
                    ('2.5.4.4', '1-Tryton|2-8.0|3-EGS-a'),
                    ('0.9.2342.19200300.100.1.1', VAT),
                    ('2.5.4.12', '1100'),
                    ('2.5.4.26', 'RRRD2929'),
                    ('2.5.4.15', 'Supply activities')])
            self.assertEqual(
                directory.get_attributes_for_oid(NameOID.USER_ID)[0].value,
                VAT)

            configuration.zatca_location = None
            with self.assertRaises(UserError) as context:
                csr.build_csr(key, configuration)
            self.assertIn('"Location"', context.exception.message)
            configuration = Configuration(self.units['a'])
            identifier, = Identifier.search([('code', '=', VAT)])
            for code, text in [('300000000000004', 'not valid'),
                    ('39999999990000', 'not valid')]:
                identifier.code = code
                identifier.save()
                configuration = Configuration(self.units['a'])
                with self.assertRaises(UserError) as context:
                    csr.build_csr(key, configuration)
                self.assertIn(code, context.exception.message)
                self.assertIn('15 digits', context.exception.message)
            identifier.type = None
            identifier.save()
            with self.assertRaises(UserError) as context:
                csr.build_csr(key, Configuration(self.units['a']))
            self.assertIn('no Saudi Arabia VAT Number',
                context.exception.message)
            transaction.rollback()

    def test_onboarding(self):
        """From nothing to the production credential, resumed after a
        wrong one-time password; secrets only in the store"""
        from trytond.modules.account_einvoice.service import Request
        from trytond.modules.account_einvoice_sa_zatca import credentials
        from trytond.pool import Pool

        # no credential yet: sending is refused with what to do
        with self.assertRaises(Exception) as context:
            self.credential('a')
        self.assertEqual(context.exception.kind, 'configuration')
        self.assertIn('no production credential', context.exception.message)

        with self.assertRaises(UserError) as context:
            self.onboard('a', '999999')
        state, done, next_step, error = self.onboarding('a')
        self.assertEqual(context.exception.message, error)
        self.assertEqual((state, done, next_step),
            ('failed', ['key'], 'compliance'))
        self.assertIn('refused the one-time password', error)
        self.assertIn('Invalid-OTP: invalid OTP', error)  # ZATCA's words
        self.assertIsNone(self.stored('a', 'compliance'))
        key = self.stored('a', 'egs_key')

        start = self.onboard('a', OTP)
        self.assertTrue(start['needs_otp'])
        self.assertEqual(self.onboarding('a'),
            ('done', ['key', 'compliance', 'checks', 'production'], None,
                None))
        # the key of the first run was kept, the CSR sent is of it
        self.assertEqual(self.stored('a', 'egs_key'), key)
        self.assertEqual(self.operations(), [('compliance', 'failed')]
            + [('compliance', 'done')] + [('checks', 'done')] * 6
            + [('production', 'done')])
        self.assertEqual([self.calls(o) for o in [
                    'compliance', 'compliance_invoices', 'production']],
            [1, 6, 1])
        self.assert_passed('a', [f'{t}-{c}' for t in [
                    'standard', 'simplified'] for c in [388, 381, 383]])
        # the checks are chained among themselves, not in the unit's chain
        self.assertEqual(self.compliance_chain(), list(zip(range(1, 7),
                    [FIRST_PIH] + [h for _, h in self.compliance_hashes()][
                        :-1])))
        with tools.transaction(commit=False):
            self.assertEqual(
                Pool().get('account.einvoice.chain').search([]), [])

        # the store: one folder per unit, files 0600
        folder = os.path.join(self.secrets_path, 'zatca_a')
        self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode), 0o700)
        self.assertEqual(sorted(f for f in os.listdir(folder)
                if not f.startswith('.')), KEYS)
        for name in os.listdir(folder):
            self.assertEqual(stat.S_IMODE(
                    os.stat(os.path.join(folder, name)).st_mode), 0o600)

        # the production credential: the key of its certificate, which
        # carries the unit's VAT number
        credential = self.credential('a')
        self.assertEqual(credential.key.public_key().public_bytes(*SPKI),
            credential.certificate.public_key().public_bytes(*SPKI))
        directory, = credential.certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DirectoryName)
        self.assertEqual(
            directory.get_attributes_for_oid(NameOID.USER_ID)[0].value, VAT)
        production = json.loads(self.stored('a', 'production'))
        token, secret = base64.b64decode(
            credential.authorization.split()[1]).decode().split(':')
        self.assertEqual((token, secret),
            (production['token'], production['secret']))
        with tools.transaction(commit=False):
            Configuration = Pool().get('account.einvoice.configuration')
            request = Request(operation='x', protocol='json')
            credentials.authorize(request, Configuration(self.units['a']))
        self.assertEqual(request.headers['Authorization'],
            credential.authorization)
        self.assertIn('Authorization', request.secret_headers)

        # nothing secret in what is stored nor in the database file
        self.assert_nothing_secret('a', self.stored_texts())
        texts = self.stored_texts()
        self.assertTrue(any(b'"binarySecurityToken": "********"' in t
                for t in texts if isinstance(t, bytes)))
        data = tools.sqlite_database_bytes()
        if data is not None:
            for value in self.secrets('a'):
                self.assertNotIn(value.encode(), data)

        # run again: nothing left to do, no call
        start = self.onboard('a')
        self.assertFalse(start['needs_otp'])
        self.assertEqual(len(self.operations()), 9)

    def assert_passed(self, unit, types):
        "The document types that passed the unit's compliance checks"
        credential, = [c for c in self.sandbox.state('zatca')[
                'compliance'].values() if c['unit'].endswith(f'3-EGS-{unit}')]
        self.assertEqual(sorted(credential['passed']), sorted(types))

    def set_vat(self, code):
        from trytond.pool import Pool

        def write():
            Identifier = Pool().get('party.identifier')
            identifier, = Identifier.search([('type', '=', 'sa_vat')])
            identifier.code = code
            identifier.save()
        tools.call(write)

    def test_simplified_only(self):
        """A unit allowed only simplified invoices runs three checks;
        a failed check names the document and ZATCA's message, and the
        next run starts again at the checks"""
        self.sandbox.add_fault('zatca', 'compliance_invoices', 'http_500')
        with self.assertRaises(UserError) as context:
            self.onboard('b', OTP)
        self.assertIn('Pass the compliance checks', context.exception.message)
        self.assertIn('500', context.exception.message)
        self.assertEqual(self.onboarding('b')[1:3],
            (['key', 'compliance'], 'checks'))

        # the invoices now name a seller other than the certificate's
        self.set_vat('311111111100003')
        self.addCleanup(self.set_vat, VAT)
        with self.assertRaises(UserError) as context:
            self.onboard('b')
        self.assertIn("compliance check of the simplified invoice did not "
            "pass", context.exception.message)
        self.assertIn('BR-KSA-39: seller VAT 311111111100003',
            context.exception.message)

        self.set_vat(VAT)
        self.sandbox.set_option('zatca', 'force_warning', 'a warning')
        self.onboard('b')
        self.assertEqual(self.onboarding('b')[0], 'done')
        self.assertEqual([self.calls(o) for o in [
                    'compliance', 'compliance_invoices', 'production']],
            [1, 4, 1])
        self.assert_passed('b',
            ['simplified-388', 'simplified-381', 'simplified-383'])
        self.assertEqual(
            [r['status'] for r in self.sandbox.received('zatca')
                if r['operation'] == 'compliance_invoices'],
            [500, 400, 202, 202, 202])
        self.assertEqual(self.operations(),
            [('compliance', 'done'), ('checks', 'unknown'),
                ('checks', 'done')] + [('checks', 'done')] * 3
            + [('production', 'done')])

    def test_renewal(self):
        """Renewed once when expiring within 30 days, and when asked for;
        the new key and certificate replace the old ones together"""
        from trytond.pool import Pool
        self.sandbox.set_option('zatca', 'validity_days', 20)
        self.onboard('b', OTP)
        first = json.loads(self.stored('b', 'production'))
        self.assertEqual(self.calls('renewal'), 0)
        self.sandbox.set_option('zatca', 'validity_days', 365)

        start = self.start('b')
        self.assertIn('Renew the production credential', start['steps'])
        self.assertTrue(start['needs_otp'])
        with self.assertRaises(UserError):
            self.onboard('b', '999999')
        state, _, next_step, error = self.onboarding('b')
        self.assertEqual(state, 'failed')
        self.assertTrue(next_step.startswith('renew-'))
        self.assertIn('refused the one-time password', error)
        renewal_key = self.stored('b', 'renewal_key')
        self.assertTrue(renewal_key)
        # the first credential still sends meanwhile
        self.assertEqual(json.loads(self.stored('b', 'production')), first)

        self.onboard('b', OTP)
        state, done, next_step, _ = self.onboarding('b')
        self.assertEqual((state, next_step), ('done', None))
        self.assertTrue(done[-1].startswith('renew-'))
        self.assertEqual(self.calls('renewal'), 1)
        second = json.loads(self.stored('b', 'production'))
        self.assertNotEqual(second['token'], first['token'])
        self.assertEqual(second['key'], renewal_key)
        for key in ['renewal_key', 'renewal_csr', 'renewal_requested']:
            self.assertIsNone(self.stored('b', key))
        credential = self.credential('b')
        self.assertEqual(credential.key.public_key().public_bytes(*SPKI),
            credential.certificate.public_key().public_bytes(*SPKI))
        self.assertGreater(credential.expires - dt.datetime.utcnow(),
            dt.timedelta(days=300))
        # not due any more: nothing to run
        start = self.onboard('b')
        self.assertNotIn('Renew', start['steps'])
        self.assertFalse(start['needs_otp'])

        # on demand: the Renew Credential button, then the wizard
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            action = Configuration.zatca_renew(
                [Configuration(self.units['b'])])
            Action = Pool().get('ir.action.wizard')
            self.assertEqual(Action.search([('action', '=', action)])[0]
                .wiz_name, 'account.einvoice.onboard')
        self.assertIn('Renew', self.start('b')['steps'])
        self.onboard('b', OTP)
        self.assertEqual(self.calls('renewal'), 2)
        self.assertNotEqual(
            json.loads(self.stored('b', 'production'))['key'], second['key'])
        self.assertIsNone(self.stored('b', 'renewal_requested'))
        self.assert_nothing_secret('b', self.stored_texts())
