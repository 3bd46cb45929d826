# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Onboarding: the calls a service makes to obtain its credentials
(generate a key and a CSR, exchange a one-time password for a compliance
credential, compliance checks, the production credential).

Each step is committed when it succeeds; a failed step is recorded and the
next run starts again from it.  Every call is an exchange of kind
``onboarding``; what is obtained goes to the secret store
(:mod:`.secret_store`), never to the database, and the secret values are
masked in the stored requests and answers."""
import datetime as dt
import json
import logging

from sql import For

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import policy, secret_store
from .exceptions import OnboardingError, ServiceFailure
from .recorded_call import recorded_call

logger = logging.getLogger(__name__)
STATES = [
    ('pending', "Not Started"),
    ('running', "Running"),
    ('failed', "Failed"),
    ('done', "Done"),
    ]
#: what a step may ask staff for (fields of the wizard, never stored)
INPUTS = {'otp'}
#: seconds after which a run that did not finish is deemed dead
RUNNING_TIMEOUT = 15 * 60
MASK = '********'


class Onboarding(ModelSQL, ModelView):
    __name__ = 'account.einvoice.onboarding'
    __string__ = "E-Invoice Onboarding"

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", required=True,
        readonly=True, ondelete='CASCADE')
    service = fields.Char("Service", readonly=True)
    state = fields.Selection(STATES, "State", readonly=True)
    steps_done = fields.Text("Steps Done", readonly=True,
        help="The steps that succeeded, one per line.")
    next_step = fields.Char("Next Step", readonly=True,
        help="The step the next run starts with.")
    last_error = fields.Text("Last Error", readonly=True)
    started = fields.DateTime("Started", readonly=True)
    running_since = fields.DateTime("Running Since", readonly=True)
    finished = fields.DateTime("Finished", readonly=True)
    exchanges = fields.Function(fields.Many2Many(
            'account.einvoice.exchange', None, None, "Exchanges",
            readonly=True),
        'get_exchanges')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('configuration_unique', Unique(t, t.configuration),
                'account_einvoice.msg_onboarding_configuration_unique'),
            ]
        cls._order = [('id', 'DESC')]

    @classmethod
    def default_state(cls):
        return 'pending'

    def get_rec_name(self, name):
        return self.configuration.rec_name

    @property
    def done(self):
        return [s for s in (self.steps_done or '').splitlines() if s]

    def get_exchanges(self, name):
        Exchange = Pool().get('account.einvoice.exchange')
        return [e.id for e in Exchange.search([
                    ('configuration', '=', self.configuration.id),
                    ('kind', '=', 'onboarding'),
                    ], order=[('id', 'ASC')])]

    @classmethod
    def of(cls, configuration):
        "The onboarding of configuration, created when missing"
        with without_check_access():
            records = cls.search(
                [('configuration', '=', configuration.id)], limit=1)
            if records:
                return records[0]
            record = cls(company=configuration.company,
                configuration=configuration, service=configuration.service)
            record.save()
            return record


class OnboardingRunner:
    """Run the onboarding steps of a configuration's service from the first
    not done; given to ``service.run_onboarding_step``"""

    def __init__(self, configuration, data=None):
        self.configuration_id = configuration.id
        self.data = {k: v for k, v in (data or {}).items() if v}
        # values masked wherever a request or an answer is stored
        self.secrets = {v for v in self.data.values() if isinstance(v, str)}
        self.step = None

    @property
    def configuration(self):
        return Pool().get('account.einvoice.configuration')(
            self.configuration_id)

    @property
    def name(self):
        "The credential name the secrets are kept under"
        return self.configuration.certificate_name

    def check(self):
        "Raise OnboardingError when the configuration cannot be onboarded"
        configuration = self.configuration
        if not configuration.certificate_name:
            raise OnboardingError(gettext(
                    'account_einvoice.msg_onboarding_no_credential'))
        secret_store.check_name(configuration.certificate_name)
        problem = policy.certificate_problem(
            configuration.certificate_name, configuration.company)
        if problem:
            raise OnboardingError(problem)
        if not secret_store.directory():
            raise OnboardingError(gettext(
                    'account_einvoice.msg_secret_store_missing',
                    option='secrets_path', section=secret_store.SECTION))
        if not configuration.get_service().onboarding_steps():
            raise OnboardingError(gettext(
                    'account_einvoice.msg_onboarding_no_steps',
                    service=configuration.service_string))

    # -- the secret store of the credential ------------------------------
    def keep_secret(self, value):
        "Mask value (text) wherever a request or an answer is stored"
        if isinstance(value, bytes):
            value = value.decode('utf-8', 'replace')
        if value:
            self.secrets.add(value)
        return value

    def secret(self, key):
        return self.keep_secret(secret_store.secret(self.name, key))

    def store_secret(self, key, value, expires=None):
        self.keep_secret(value)
        secret_store.store_secret(self.name, key, value, expires=expires)

    def secret_expiry(self, key):
        return secret_store.secret_expiry(self.name, key)

    def delete_secret(self, key):
        secret_store.delete_secret(self.name, key)

    def mask(self, data, fields=()):
        """data (bytes) without the known secrets, nor the values of the
        JSON members named in fields"""
        if not data:
            return data
        if fields:
            try:
                value = json.loads(data)
            except ValueError:
                pass
            else:
                data = json.dumps(_mask_members(value, set(fields)),
                    ensure_ascii=False).encode()
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) < 4:
                continue
            for form in {secret, json.dumps(secret)[1:-1]}:
                data = data.replace(form.encode(), MASK.encode())
        return data

    # -- calls ------------------------------------------------------------
    def call(self, request, secret_fields=()):
        """Send request as an exchange of kind onboarding and return the
        answer; raise ServiceFailure when it fails (the exchange keeps
        it).  The JSON members named in secret_fields and every secret of
        the runner are masked in what is stored."""
        return recorded_call(self.configuration, request, 'onboarding',
            self.step, mask=lambda data: self.mask(data, secret_fields))

    # -- steps ------------------------------------------------------------
    def _lock(self, record_id):
        Onboarding = Pool().get('account.einvoice.onboarding')
        transaction = Transaction()
        table = Onboarding.__table__()
        query = table.select(table.id, where=table.id == record_id)
        if transaction.database.has_select_for():
            query.for_ = For('UPDATE')
        transaction.connection.cursor().execute(*query)
        return Onboarding(record_id)

    def _write(self, record_id, **values):
        Onboarding = Pool().get('account.einvoice.onboarding')
        with without_check_access():
            Onboarding.write([Onboarding(record_id)], values)
        Transaction().commit()

    def run(self):
        """Run the steps from the first not done; return the onboarding
        record, raise OnboardingError (recorded on it) at the first failure
        """
        Onboarding = Pool().get('account.einvoice.onboarding')
        transaction = Transaction()
        self.check()
        record_id = Onboarding.of(self.configuration).id
        record = self._lock(record_id)
        now = dt.datetime.now()
        if (record.state == 'running' and record.running_since
                and now - record.running_since
                < dt.timedelta(seconds=RUNNING_TIMEOUT)):
            raise OnboardingError(gettext(
                    'account_einvoice.msg_onboarding_running',
                    since=record.running_since.replace(microsecond=0)))
        done = record.done
        self._write(record_id, state='running', running_since=now,
            started=record.started or now, finished=None)
        service = self.configuration.get_service()
        for name, label in service.onboarding_steps():
            if name in done:
                continue
            self.step = name
            self._write(record_id, next_step=name)
            try:
                service.run_onboarding_step(self, name, self.data)
            except (ServiceFailure, UserError) as exception:
                transaction.rollback()
                message = gettext('account_einvoice.msg_onboarding_failed',
                    step=label, error=self.mask(
                        str(exception.message).encode()).decode())
                self._write(record_id, state='failed', last_error=message,
                    running_since=None)
                raise OnboardingError(message) from None
            except Exception as exception:
                transaction.rollback()
                logger.exception("e-invoice onboarding step %s of "
                    "configuration %s failed", name, self.configuration_id)
                message = gettext('account_einvoice.msg_onboarding_failed',
                    step=label, error=gettext(
                        'account_einvoice.msg_internal_error',
                        error=exception.__class__.__name__))
                self._write(record_id, state='failed', last_error=message,
                    running_since=None)
                raise OnboardingError(message) from None
            done.append(name)
            self._write(record_id, steps_done='\n'.join(done))
        self._write(record_id, state='done', next_step=None,
            last_error=None, running_since=None, finished=dt.datetime.now())
        return Onboarding(record_id)


def _mask_members(value, names):
    if isinstance(value, dict):
        return {k: MASK if k in names and v else _mask_members(v, names)
            for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_members(v, names) for v in value]
    return value


class OnboardStart(ModelView):
    __name__ = 'account.einvoice.onboard.start'
    __string__ = "E-Invoice Onboarding"

    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", readonly=True)
    state = fields.Selection(STATES, "State", readonly=True)
    steps = fields.Text("Steps", readonly=True)
    last_error = fields.Text("Last Error", readonly=True)
    needs_otp = fields.Boolean("Needs One-Time Password", readonly=True)
    otp = fields.Char("One-Time Password",
        states={
            'invisible': ~Eval('needs_otp'),
            'required': Bool(Eval('needs_otp')),
            },
        help="Given by the authority's portal; used for this run only, "
        "never stored.")


class Onboard(Wizard):
    __name__ = 'account.einvoice.onboard'
    __string__ = "E-Invoice Onboarding"

    start = StateView('account.einvoice.onboard.start',
        'account_einvoice.onboarding_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Run", 'run', 'tryton-ok', default=True),
            ])
    run = StateTransition()
    done = StateView('account.einvoice.onboard.start',
        'account_einvoice.onboarding_done_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        configuration = self.record
        service = configuration.get_service()
        Onboarding = Pool().get('account.einvoice.onboarding')
        records = Onboarding.search(
            [('configuration', '=', configuration.id)], limit=1)
        done = records[0].done if records else []
        lines, inputs = [], set()
        for name, label in service.onboarding_steps():
            if name in done:
                lines.append(f'\u2713 {label}')
            else:
                lines.append(f'\u2022 {label}')
                inputs |= service.onboarding_inputs(name)
        return {
            'configuration': configuration.id,
            'state': records[0].state if records else 'pending',
            'steps': '\n'.join(lines),
            'last_error': records[0].last_error if records else None,
            'needs_otp': 'otp' in inputs,
            'otp': None,
            }

    def transition_run(self):
        data = {'otp': self.start.otp}
        # the session is stored in the database: never the password
        self.start.otp = None
        OnboardingRunner(self.record, data).run()
        return 'done'

    def default_done(self, fields):
        values = self.default_start(fields)
        values['otp'] = None
        return values
