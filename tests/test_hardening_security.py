"""Hardening (issue 9, items 2 and 5): what the server operator allows.

Endpoint overrides only over https to allowed hosts, certificates only for
the companies the operator declared, AFIP access tickets never shared
between configurations, and no call of any kind with an expired
certificate.  Each refusal happens on save and again before any call."""
from tests import tools
from tests.ar_case import COMPANY_CUIT, ArTestCase
from tests.framework_case import FrameworkTestCase
from trytond.exceptions import UserError

CERTIFICATES = 'account_einvoice_certificate'


def declare_certificate(name, identity, companies=None):
    "Declare certificate name (a sandbox identity) in the trytond config"
    from trytond import config
    config.set(CERTIFICATES, f'{name}.certificate', identity.cert_path)
    config.set(CERTIFICATES, f'{name}.private_key', identity.key_path)
    config.set(CERTIFICATES, f'{name}.companies', companies or '')


def force_configuration(configuration_id, **values):
    """Write values without validation: what an older configuration holds
    after the server operator changed the trytond configuration"""
    from sql import Column

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with tools.transaction():
        Configuration = Pool().get('account.einvoice.configuration')
        table = Configuration.__table__()
        Transaction().connection.cursor().execute(*table.update(
                [Column(table, n) for n in values], list(values.values()),
                where=table.id == configuration_id))


def last_failure(configuration_id):
    from trytond.pool import Pool
    with tools.transaction(commit=False):
        Configuration = Pool().get('account.einvoice.configuration')
        return Configuration(configuration_id).last_failure


class SecurityAssertions:

    def traffic(self):
        "What the sandbox saw: requests and failed TLS handshakes"
        return len(self.sandbox.received()), self.sandbox.info()[
            'tls_failures']

    def assert_refused_on_save(self, text, configuration=None, **values):
        from trytond.pool import Pool
        with self.assertRaises(UserError) as context:
            with tools.transaction():
                Configuration = Pool().get('account.einvoice.configuration')
                Configuration.write(
                    [Configuration(configuration or self.configuration)],
                    values)
        self.assertIn(text, context.exception.message)

    def assert_nothing_sent(self, invoice, text):
        """cron: the invoice stays pending with text, nothing reaches the
        sandbox and the configuration failure is recorded"""
        before = self.traffic()
        self.cron()
        self.assertEqual(self.traffic(), before)
        submission = self.submission_of(invoice)
        self.assertEqual(submission['state'], 'pending')
        self.assertIn(text, submission['last_error'])
        self.assertIn(text, last_failure(self.configuration))


class FrameworkSecurityTest(SecurityAssertions, FrameworkTestCase):

    def configuration_defaults(self):
        return dict(super().configuration_defaults(),
            endpoint_host=self.sandbox.url)

    def submission_of(self, invoice):
        return self.submission(invoice)

    def test_http_endpoint(self):
        "A plain http endpoint is refused on save and before any call"
        http = self.sandbox.url.replace('https://', 'http://')
        self.assert_refused_on_save('must be an https://',
            endpoint_host=http)
        force_configuration(self.configuration, endpoint_host=http)
        invoice, = self.post()
        self.assert_nothing_sent(invoice, 'must be an https://')

    def test_host_not_allowed(self):
        "A host the server operator did not allow is refused"
        other = self.sandbox.url.replace('127.0.0.1', 'localhost')
        self.assert_refused_on_save('is not allowed', endpoint_host=other)
        force_configuration(self.configuration, endpoint_host=other)
        invoice, = self.post()
        self.assert_nothing_sent(invoice, 'allowed_hosts')

    def test_allowed_hosts_port(self):
        "host:port allows that port only; https is required anyway"
        from trytond import config
        from trytond.modules.account_einvoice import policy
        port = self.sandbox.port
        saved = config.get('account_einvoice', 'allowed_hosts')
        config.set('account_einvoice', 'allowed_hosts',
            f'127.0.0.1:{port}, example.com')
        try:
            with tools.transaction(commit=False):
                self.assertIsNone(policy.endpoint_problem(
                        f'https://127.0.0.1:{port}'))
                self.assertIsNone(policy.endpoint_problem(
                        'https://EXAMPLE.com/prefix'))
                for endpoint in [f'https://127.0.0.1:{port + 1}',
                        f'https://user:secret@127.0.0.1:{port}',
                        'https://example.org', 'example.com',
                        'ftp://example.com']:
                    self.assertIsNotNone(
                        policy.endpoint_problem(endpoint), endpoint)
        finally:
            config.set('account_einvoice', 'allowed_hosts', saved)

    def test_certificate_of_another_company(self):
        "A certificate declared for other companies cannot be used"
        declare_certificate('foreign',
            self.sandbox.pki.identities['test_company'],
            companies='B00000000, 999')
        try:
            self.assert_refused_on_save('may not use the certificate',
                certificate_name='foreign')
            force_configuration(self.configuration, certificate_name='foreign')
            invoice, = self.post()
            self.assert_nothing_sent(invoice, 'may not use the certificate')
        finally:
            self.set_configuration(certificate_name='test')

    def test_certificate_declared_for_no_company(self):
        "An undeclared certificate may be set but nothing is sent with it"
        declare_certificate('loose',
            self.sandbox.pki.identities['test_company'])
        self.set_configuration(certificate_name='loose')
        try:
            invoice, = self.post()
            self.assert_nothing_sent(invoice, 'declared for no company')
        finally:
            self.set_configuration(certificate_name='test')

    def test_certificate_by_company_id(self):
        "The operator may name a company by its id"
        declare_certificate('by_id',
            self.sandbox.pki.identities['test_company'],
            companies=str(self.company))
        self.set_configuration(certificate_name='by_id')
        try:
            invoice, = self.post()
            self.cron()
            self.assertEqual(self.submission(invoice)['state'], 'accepted')
        finally:
            self.set_configuration(certificate_name='test')

    def test_certificate_companies_by_identifier(self):
        """An entry names the companies with a party identifier equal to
        it (inactive ones too) once both lose their separators and case;
        an entry naming several companies names none"""
        from trytond import config
        from trytond.modules.account_einvoice import policy
        from trytond.pool import Pool
        option = 'normalized.companies'
        try:
            with tools.transaction(commit=False):
                pool = Pool()
                Company = pool.get('company.company')
                Party = pool.get('party.party')
                Identifier = pool.get('party.identifier')
                ours = Company(self.company)
                party, = Party.create([{'name': "Shared Code"}])
                Company.create([
                        {'party': party.id, 'currency': ours.currency.id}])
                Identifier.create([
                        {'party': ours.party.id, 'code': 'X-98.76/54',
                            'active': False},
                        {'party': ours.party.id, 'code': 'y1-2'},
                        {'party': party.id, 'code': 'x987654'}])
                for entries, status in [
                        ('y12', policy.ALLOWED),
                        ('Y.1-2,B00000000', policy.ALLOWED),
                        (str(self.company), policy.ALLOWED),
                        ('y1', policy.OTHER),
                        ('X987654', policy.OTHER),
                        ('-', policy.OTHER)]:
                    config.set(CERTIFICATES, option, entries)
                    with self.subTest(entries=entries):
                        self.assertEqual(policy.certificate_status(
                                'normalized', self.company), status)
        finally:
            config.set(CERTIFICATES, option, '')

    def test_preferences_company_outside_user_companies(self):
        """A user given company A who sets company B in the preferences
        (trytond stores it unchecked) still reads nothing of B"""
        from trytond.modules.company.tests import create_company
        from trytond.pool import Pool
        from trytond.transaction import Transaction

        def setup():
            pool = Pool()
            User = pool.get('res.user')
            Exchange = pool.get('account.einvoice.exchange')
            ModelData = pool.get('ir.model.data')
            other = create_company(name="Other Company")
            ours, theirs = Exchange.create([
                    {'company': self.company, 'kind': 'send', 'state': 'done'},
                    {'company': other.id, 'kind': 'send', 'state': 'done'}])
            user, = User.create([{
                        'login': 'restricted',
                        'companies': [('add', [self.company])],
                        'company': self.company,
                        'groups': [('add', [ModelData.get_id(
                                        'account', 'group_account')])],
                        }])
            return user.id, other.id, ours.id, theirs.id
        user, other, ours, theirs = tools.call(setup)

        def set_company(company):
            Pool().get('res.user').set_preferences({'company': company})
        tools.call(set_company, other, user=user)

        def visible(**context):
            Exchange = Pool().get('account.einvoice.exchange')
            with Transaction().set_context(_check_access=True, **context):
                return {e.id for e in Exchange.search([])}
        for context in [{}, {'company': other}]:
            with self.subTest(context=context):
                seen = tools.call(visible, user=user, context=context)
                self.assertNotIn(theirs, seen)
        # back in its own company, the user reads its own records
        tools.call(set_company, self.company, user=user)
        self.assertIn(ours, tools.call(
                visible, user=user, context={'company': self.company}))


class ArSecurityTest(SecurityAssertions, ArTestCase):

    @classmethod
    def setUpData(cls):
        from trytond import config
        super().setUpData()
        # by id: the intruder below holds the same CUIT on its party
        config.set(CERTIFICATES, 'afip.companies', str(cls.base['company']))
        cls.intruder, cls.intruder_configuration = tools.call(
            cls.create_intruder)
        declare_certificate('intruder',
            cls.sandbox.pki.identities['test_company'],
            companies=str(cls.intruder))

    @classmethod
    def create_intruder(cls):
        """Another company whose administrator wrote the CUIT of the
        Argentine company on its party, with an AFIP configuration"""
        import datetime as dt

        from trytond.modules.company.tests import create_company
        from trytond.pool import Pool
        Configuration = Pool().get('account.einvoice.configuration')
        company = create_company(name="Intruder SA")
        company.party.identifiers = [
            {'type': 'ar_vat', 'code': COMPANY_CUIT}]
        company.party.save()
        configuration = Configuration(company=company, service='ar_afip',
            environment='staging', certificate_name=None,
            endpoint_host=cls.sandbox.url,
            start_date=dt.date.today())
        configuration.save()
        return company.id, configuration.id

    def configuration_defaults(self):
        return dict(super().configuration_defaults(),
            certificate_name='afip', endpoint_host=self.sandbox.url)

    def submission_of(self, invoice):
        info = self.invoice(invoice)
        return {'state': info['state'], 'last_error': info['last_error']}

    def ticket(self, configuration_id):
        from trytond.modules.account_einvoice_ar import ticket
        from trytond.pool import Pool

        def get():
            Configuration = Pool().get('account.einvoice.configuration')
            return ticket.get(Configuration(configuration_id))[0]
        return tools.call(get)

    def test_expired_certificate_no_call(self):
        "Item 5: no WSAA login, no WSFEv1 call of any kind"
        declare_certificate('old', self.sandbox.pki.identities['expired'],
            companies=str(self.company))
        invoice, = self.post(party='final')
        self.set_configuration(certificate_name='old')
        self.forget_tickets()
        try:
            self.assert_nothing_sent(invoice, 'expired on')
        finally:
            self.set_configuration(certificate_name='afip')
            # AFIP still holds the ticket forgotten here
            self.sandbox.set_option(
                'afip_wsaa', 'expire_tickets', COMPANY_CUIT)
        self.make_due()
        self.cron()
        self.assertEqual(self.invoice(invoice)['state'], 'accepted')

    def test_ticket_not_shared_between_configurations(self):
        "Same CUIT on another company's party: its own login, never ours"
        from trytond.modules.account_einvoice_ar import ticket
        ours = self.ticket(self.configuration)
        self.set_configuration_of(
            self.intruder_configuration, certificate_name='intruder')
        before = len(self.sandbox.received('afip_wsaa', 'loginCms'))
        theirs = self.ticket(self.intruder_configuration)
        self.assertNotEqual(theirs, ours)
        self.assertEqual(
            len(self.sandbox.received('afip_wsaa', 'loginCms')), before + 1)
        # nor from the database
        ticket._memory.clear()
        self.assertEqual(self.ticket(self.intruder_configuration), theirs)
        self.assertEqual(self.ticket(self.configuration), ours)

    def test_intruder_cannot_use_our_certificate(self):
        "Another company's configuration with our certificate: nothing sent"
        from trytond.modules.account_einvoice.exceptions import ServiceFailure
        self.assert_refused_on_save('may not use the certificate',
            configuration=self.intruder_configuration,
            certificate_name='afip')
        force_configuration(
            self.intruder_configuration, certificate_name='afip')
        before = self.traffic()
        try:
            with self.assertRaises(ServiceFailure) as context:
                self.ticket(self.intruder_configuration)
        finally:
            force_configuration(
                self.intruder_configuration, certificate_name=None)
        self.assertEqual(context.exception.kind, 'configuration')
        self.assertIn('may not use the certificate',
            context.exception.message)
        self.assertEqual(self.traffic(), before)

    def set_configuration_of(self, configuration_id, **values):
        from trytond.pool import Pool
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(configuration_id)], values)
