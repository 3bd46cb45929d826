# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from urllib.parse import urlsplit, urlunsplit

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import policy, secret_store
from .certificate import load_certificate
from .exceptions import (
    CertificateError, ConfigurationError, EndpointError, ServiceFailure,
    SubmissionError)

EXPIRY_WARNING_DAYS = 30


class ConfigurationJournal(ModelSQL):
    __name__ = 'account.einvoice.configuration-account.journal'
    __string__ = "E-Invoice Configuration - Journal"

    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", required=True,
        ondelete='CASCADE')
    journal = fields.Many2One(
        'account.journal', "Journal", required=True, ondelete='CASCADE')


class Configuration(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'account.einvoice.configuration'
    __string__ = "E-Invoice Authority Configuration"

    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    service = fields.Selection([], "Authority Service", required=True,
        help="The authority the company's posted invoices are reported to.")
    service_string = service.translated('service')
    environment = fields.Selection([
            ('staging', "Staging"),
            ('production', "Production"),
            ], "Environment", required=True)
    unit = fields.Char("Reporting Unit",
        help="The device, establishment or installation this configuration "
        "reports for, when the company reports through several "
        "(each with its own credentials and chains).")
    journals = fields.Many2Many(
        'account.einvoice.configuration-account.journal', 'configuration',
        'journal', "Journals",
        help="The invoices of these journals are reported through this "
        "unit; leave empty for the unit of the other journals.")
    start_date = fields.Date("Start Date", required=True,
        help="Invoices dated before this day are not reported.")
    certificate_name = fields.Char("Certificate",
        help="The name of the client certificate declared in the "
        "[account_einvoice_certificate] section of the trytond "
        "configuration.")
    endpoint_host = fields.Char("Endpoint Host",
        help="Replace the host and port of the authority's official address "
        "(e.g. https://sandbox.example.com:8443). Only https and the hosts "
        "the server administrator allows in the trytond configuration. "
        "Leave empty for the official one.")
    batch_size = fields.Integer("Batch Size",
        domain=['OR', ('batch_size', '=', None), ('batch_size', '>', 0)],
        help="Records per request; empty for the authority's limit.")
    certificate_subject = fields.Function(
        fields.Char("Certificate Subject"), 'get_certificate_info')
    certificate_issuer = fields.Function(
        fields.Char("Certificate Issuer"), 'get_certificate_info')
    certificate_expiry = fields.Function(
        fields.DateTime("Certificate Expiry"), 'get_certificate_info')
    certificate_status = fields.Function(
        fields.Char("Certificate Status"), 'get_certificate_info')
    last_failure = fields.Text("Last Failure", readonly=True,
        help="The last whole-request refusal caused by this configuration.")
    last_failure_date = fields.DateTime("Last Failure Date", readonly=True)
    expiry_notified = fields.Date("Expiry Notified", readonly=True)

    _company_cache = Cache(
        'account_einvoice.configuration.company', context=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'check_certificate': {
                    'invisible': ~Eval('certificate_name'),
                    'depends': ['certificate_name'],
                    },
                'onboard': {
                    'invisible': ~Eval('certificate_name'),
                    'depends': ['certificate_name'],
                    },
                })

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        # a company may report through several units since 8.0.1
        cls.__table_handler__(module).drop_constraint('company_unique')

    @classmethod
    def default_environment(cls):
        return 'staging'

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    def get_rec_name(self, name):
        if self.unit:
            return (f'{self.company.rec_name} / {self.unit} '
                f'({self.service_string})')
        return f'{self.company.rec_name} ({self.service_string})'

    @classmethod
    def get_certificate_info(cls, configurations, names):
        result = {n: {c.id: None for c in configurations} for n in names}
        now = dt.datetime.utcnow()
        for configuration in configurations:
            if not configuration.certificate_name:
                continue
            try:
                if policy.certificate_status(configuration.certificate_name,
                        configuration.company.id) == policy.OTHER:
                    # Nothing about another company's certificate is shown
                    raise CertificateError(policy.certificate_problem(
                            configuration.certificate_name,
                            configuration.company))
                certificate = configuration.get_certificate()
            except CertificateError as exception:
                if 'certificate_status' in result:
                    result['certificate_status'][configuration.id] = (
                        exception.message)
                continue
            values = {
                'certificate_subject': certificate.subject,
                'certificate_issuer': certificate.issuer,
                'certificate_expiry': certificate.not_after,
                'certificate_status': cls._certificate_status(
                    certificate, now),
                }
            for name in names:
                result[name][configuration.id] = values[name]
        return result

    @staticmethod
    def _certificate_status(certificate, now):
        if certificate.expired(now):
            return gettext('account_einvoice.msg_certificate_status_expired')
        if certificate.expires_within(EXPIRY_WARNING_DAYS, now):
            return gettext(
                'account_einvoice.msg_certificate_status_expiring',
                days=(certificate.not_after - now).days)
        return gettext('account_einvoice.msg_certificate_status_valid')

    @classmethod
    def validate_fields(cls, configurations, field_names):
        super().validate_fields(configurations, field_names)
        if field_names is None or field_names & {
                'company', 'certificate_name', 'endpoint_host'}:
            for configuration in configurations:
                configuration.check_operator_policy()
        if field_names is None or field_names & {
                'company', 'service', 'unit', 'journals', 'active'}:
            cls.check_units(configurations)

    @classmethod
    def check_units(cls, configurations):
        """The active configurations of a company are its reporting units:
        one authority, distinct unit names, a journal in one unit only"""
        companies = {c.company.id for c in configurations if c.company}
        for company_id in companies:
            units = cls.search([('company', '=', company_id)],
                order=[('id', 'ASC')])
            services, names, journals = set(), set(), {}
            for unit in units:
                services.add(unit.service)
                if len(services) > 1:
                    raise ConfigurationError(gettext(
                            'account_einvoice.'
                            'msg_configuration_company_unique',
                            company=unit.company.rec_name))
                name = (unit.unit or '').strip()
                if name in names:
                    raise ConfigurationError(gettext(
                            'account_einvoice.msg_configuration_unit_unique',
                            company=unit.company.rec_name,
                            unit=name or '-'))
                names.add(name)
                for journal in unit.journals:
                    if journal.id in journals:
                        raise ConfigurationError(gettext(
                                'account_einvoice.'
                                'msg_configuration_journal_unit',
                                journal=journal.rec_name,
                                unit=name or '-',
                                other=journals[journal.id] or '-'))
                    journals[journal.id] = name

    def check_operator_policy(self):
        """Refuse what the server operator does not allow: an endpoint
        override elsewhere than an allowed https host, a certificate
        declared for other companies (one declared for none may be set
        now; nothing is sent with it until it is declared)."""
        if self.endpoint_host:
            problem = policy.endpoint_problem(self.endpoint_host)
            if problem:
                raise EndpointError(problem)
        if self.certificate_name and self.company:
            status = policy.certificate_status(
                self.certificate_name, self.company.id)
            if status == policy.OTHER:
                raise CertificateError(policy.certificate_problem(
                        self.certificate_name, self.company))

    @classmethod
    def create(cls, vlist):
        cls._company_cache.clear()
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        cls._company_cache.clear()
        actions = iter(args)
        for configurations, values in zip(actions, actions):
            if {'service', 'company'} & set(values):
                cls.check_nothing_pending(configurations, values)
        super().write(*args)

    @classmethod
    def check_nothing_pending(cls, configurations, values):
        """Refuse to move a configuration to another authority or company
        while it has work pending: it would be sent to the wrong one"""
        Submission = Pool().get('account.einvoice.submission')
        for configuration in configurations:
            same_service = values.get('service', configuration.service) == (
                configuration.service)
            same_company = values.get('company', configuration.company.id) == (
                configuration.company.id)
            if same_service and same_company:
                continue
            count = Submission.search_count([
                    ('configuration', '=', configuration.id),
                    ['OR',
                        ('state', '=', 'pending'),
                        ('cancel_requested', '=', True),
                        ],
                    ])
            if count:
                raise ConfigurationError(gettext(
                        'account_einvoice.msg_configuration_service_pending',
                        company=configuration.company.rec_name,
                        count=count))

    @classmethod
    def delete(cls, configurations):
        cls._company_cache.clear()
        super().delete(configurations)

    @classmethod
    def units_of(cls, company_id):
        "The ids of the active configurations (units) of company"
        result = cls._company_cache.get(company_id)
        if result is not None:
            return result
        result = [c.id for c in cls.search(
                [('company', '=', company_id)], order=[('id', 'ASC')])]
        cls._company_cache.set(company_id, result)
        return result

    @classmethod
    def for_company(cls, company_id):
        "Return the id of the company's first active configuration or None"
        units = cls.units_of(company_id)
        return units[0] if units else None

    @classmethod
    def for_invoice(cls, invoice, services=None):
        """The configuration (unit) reporting invoice, or None: the
        service of the company's units decides (by default by journal)"""
        units = cls.units_of(invoice.company.id)
        if not units:
            return None
        if len(units) == 1:
            return cls(units[0])
        configurations = cls.browse(units)
        first = configurations[0]
        if services is not None:
            if first.id not in services:
                services[first.id] = first.get_service()
            service = services[first.id]
        else:
            service = first.get_service()
        return service.select_unit(invoice, configurations)

    def get_service(self):
        "Return the EinvoiceService instance for this configuration"
        raise SubmissionError(gettext(
                'account_einvoice.msg_service_unknown',
                service=self.service))

    def get_certificate(self):
        return load_certificate(self.certificate_name)

    def check_certificate_usable(self):
        """Raise CertificateError when sending must not even be tried:
        the certificate is missing, expired or not declared for the
        company by the server operator"""
        certificate = self.get_certificate()
        if certificate.expired():
            raise CertificateError(gettext(
                    'account_einvoice.msg_certificate_expired',
                    name=self.certificate_name,
                    date=certificate.not_after.isoformat(' ', 'minutes')))
        problem = policy.certificate_problem(
            self.certificate_name, self.company)
        if problem:
            raise CertificateError(problem)
        return certificate

    def check_endpoint(self):
        "Raise ServiceFailure when the endpoint override may not be used"
        if self.endpoint_host:
            problem = policy.endpoint_problem(self.endpoint_host)
            if problem:
                raise ServiceFailure('configuration', problem)

    def check_sending(self):
        """Raise ServiceFailure('configuration') unless a call of any kind
        may be made with this configuration now"""
        try:
            self.check_certificate_usable()
        except CertificateError as exception:
            raise ServiceFailure('configuration', exception.message)
        self.check_endpoint()

    def override_url(self, url):
        """Apply the endpoint override to url; raise ServiceFailure when
        the server operator does not allow it"""
        if not self.endpoint_host:
            return url
        self.check_endpoint()
        host = urlsplit(self.endpoint_host.strip())
        parts = urlsplit(url)
        return urlunsplit(
            ('https', host.netloc, parts.path, parts.query, parts.fragment))

    @classmethod
    @ModelView.button
    def check_certificate(cls, configurations):
        for configuration in configurations:
            configuration.check_certificate_usable()

    @classmethod
    @ModelView.button_action('account_einvoice.wizard_onboard')
    def onboard(cls, configurations):
        "Run the authority's onboarding steps (see onboarding.py)"
        pass

    def record_failure(self, message):
        """Remember a whole-request refusal caused by our setup and tell
        the company's accounting users, once per distinct message."""
        if self.last_failure == message:
            return
        self.last_failure = message
        self.last_failure_date = dt.datetime.now()
        self.save()
        self.notify_accountants(
            gettext('account_einvoice.msg_notification_failure_label',
                service=self.service_string),
            message)

    def clear_failure(self):
        if self.last_failure:
            self.last_failure = None
            self.last_failure_date = None
            self.save()

    def notify_accountants(self, label, description, records=None):
        "Notify the company's accounting administrators (about records)"
        pool = Pool()
        Notification = pool.get('res.notification')
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        group_id = ModelData.get_id('account', 'group_account_admin')
        users = User.search([
                ('groups', '=', group_id),
                ('companies', '=', self.company.id),
                ])
        Notification.create([{
                    'user': u.id,
                    'label': label[:250],
                    'description': (description or '')[:250],
                    'icon': 'tryton-warning',
                    'model': (records[0].__name__ if records
                        else self.__name__),
                    'records': str([r.id for r in records] if records
                        else [self.id]),
                    } for u in users])

    @classmethod
    def check_certificates(cls):
        """Cron: warn the accountants when a certificate or a stored secret
        expires soon"""
        today = Pool().get('ir.date').today()
        now = dt.datetime.utcnow()
        for configuration in cls.search(
                [('certificate_name', '!=', None)]):
            notified = configuration.expiry_notified == today
            if not notified and secret_store.warn_expiring(
                    configuration, EXPIRY_WARNING_DAYS, now):
                configuration.expiry_notified = today
                configuration.save()
            try:
                certificate = configuration.get_certificate()
            except CertificateError as exception:
                configuration.record_failure(exception.message)
                continue
            if (certificate.expires_within(EXPIRY_WARNING_DAYS, now)
                    and not notified):
                configuration.notify_accountants(
                    gettext('account_einvoice.msg_certificate_expiry_label',
                        name=configuration.certificate_name),
                    cls._certificate_status(certificate, now))
                configuration.expiry_notified = today
                configuration.save()
