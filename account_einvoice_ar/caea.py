# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""CAEA: the code AFIP grants per fortnight for authorizing vouchers here.

A CAEA is asked for ahead (``FECAEASolicitar``, from ``ADVANCE_DAYS``
before its fortnight), kept as an ``account.einvoice.ar.caea`` record
created (state *requested*) and committed before the call: an answer lost
leaves it *requested* and the next run asks ``FECAEAConsultar``, never a
second ``FECAEASolicitar`` blindly.  After the fortnight, each CAEA point
of sale that issued nothing with it is informed without movement once
(``account.einvoice.ar.caea.report``, same rule).  The calls are in
:mod:`.caea_calls` and kept in the exchange history (kind *CAEA*)."""
import calendar
import datetime as dt
import logging

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

from . import afip

logger = logging.getLogger(__name__)
#: days before its fortnight a CAEA may be asked for (AFIP: 5)
ADVANCE_DAYS = 5
#: days after the fortnight until which its vouchers may be informed
REPORT_DAYS = 8
ORDERS = [
    ('1', "Days 1-15"),
    ('2', "Days 16-End"),
    ]
STATES = [
    ('requested', "Requested"),
    ('granted', "Granted"),
    ('refused', "Refused"),
    ]
REPORT_STATES = [
    ('requested', "Requested"),
    ('done', "Informed"),
    ('refused', "Refused"),
    ]
EXCHANGE_KIND = 'ar_caea'


def fortnight(date):
    "(period yyyymm, order 1|2) of date"
    return date.year * 100 + date.month, 1 if date.day <= 15 else 2


def fortnight_dates(period, order):
    "First and last day of a fortnight"
    year, month = divmod(int(period), 100)
    if int(order) == 1:
        return dt.date(year, month, 1), dt.date(year, month, 15)
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, 16), dt.date(year, month, last)


def next_fortnight(period, order):
    _, end = fortnight_dates(period, order)
    return fortnight(end + dt.timedelta(days=1))


def fortnights_to_request(today):
    """The fortnights whose CAEA is needed on today: the current one, and
    the next one from ADVANCE_DAYS before it starts"""
    current = fortnight(today)
    result = [current]
    following = next_fortnight(*current)
    start, _ = fortnight_dates(*following)
    if (start - today).days <= ADVANCE_DAYS:
        result.append(following)
    return result


def fortnight_label(period, order):
    start, end = fortnight_dates(period, order)
    return f'{start:%d/%m/%Y} - {end:%d/%m/%Y}'


def ar_today(configuration):
    "Today in Argentina by AFIP's clock (as last seen)"
    from . import ticket
    return ticket.server_now(configuration).replace(
        tzinfo=dt.timezone.utc).astimezone(afip.AR_TZ).date()


def end_of_day(date):
    "The last second of date in Argentina, as a naive local datetime"
    moment = dt.datetime.combine(date, dt.time(23, 59, 59), afip.AR_TZ)
    return moment.astimezone().replace(tzinfo=None)


class Caea(ModelSQL, ModelView):
    "AFIP CAEA"
    __name__ = 'account.einvoice.ar.caea'
    __string__ = "AFIP CAEA"

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", required=True,
        readonly=True, ondelete='CASCADE')
    period = fields.Integer("Period", required=True, readonly=True,
        help="Year and month (yyyymm).")
    order = fields.Selection(ORDERS, "Fortnight", required=True,
        readonly=True)
    code = fields.Char("CAEA", readonly=True)
    valid_from = fields.Date("Valid From", readonly=True)
    valid_to = fields.Date("Valid To", readonly=True)
    report_deadline = fields.Date("Report Deadline", readonly=True,
        help="The last day for informing the vouchers authorized with it "
        "(FchTopeInf).")
    processed = fields.Char("Processed", readonly=True,
        help="When AFIP granted it (FchProceso).")
    state = fields.Selection(STATES, "State", readonly=True,
        help="Requested: asked for, AFIP's answer not known yet (it is "
        "consulted before asking again).")
    message = fields.Text("Message", readonly=True)
    notified = fields.Boolean("Missing Notified", readonly=True)
    closed = fields.Boolean("Closed", readonly=True,
        help="Every CAEA point of sale without vouchers was informed.")
    reports = fields.One2Many('account.einvoice.ar.caea.report', 'caea',
        "Without Movement", readonly=True)
    exchanges = fields.Function(fields.Many2Many(
            'account.einvoice.exchange', None, None, "Exchanges"),
        'get_exchanges')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('fortnight_unique', Unique(t, t.configuration, t.period,
                    t.order), 'account_einvoice_ar.msg_caea_unique'),
            ]
        cls._order = [('period', 'DESC'), ('order', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_state(cls):
        return 'requested'

    @classmethod
    def default_notified(cls):
        return False

    @classmethod
    def default_closed(cls):
        return False

    @property
    def label(self):
        return f'{self.period}/{self.order}'

    def get_rec_name(self, name):
        return f'{self.label} {self.code or ""}'.strip()

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('code',) + tuple(clause[1:])]

    def get_exchanges(self, name):
        Exchange = Pool().get('account.einvoice.exchange')
        return [e.id for e in Exchange.search([
                    ('configuration', '=', self.configuration.id),
                    ('kind', '=', EXCHANGE_KIND),
                    ('operation', 'like', f'{self.label}%'),
                    ], order=[('id', 'ASC')])]

    @classmethod
    def valid_for(cls, configuration, date):
        "The granted CAEA of configuration whose fortnight holds date"
        with without_check_access():
            found = cls.search([
                    ('configuration', '=', configuration.id),
                    ('state', '=', 'granted'),
                    ('valid_from', '<=', date),
                    ('valid_to', '>=', date),
                    ], limit=1)
        return found[0] if found else None

    @classmethod
    def of_code(cls, configuration, code):
        with without_check_access():
            found = cls.search([
                    ('configuration', '=', configuration.id),
                    ('code', '=', code),
                    ], limit=1)
        return found[0] if found else None

    @classmethod
    def of_fortnight(cls, configuration, period, order, create=False):
        with without_check_access():
            found = cls.search([
                    ('configuration', '=', configuration.id),
                    ('period', '=', period),
                    ('order', '=', str(order)),
                    ], limit=1)
            if found or not create:
                return found[0] if found else None
            record, = cls.create([{
                        'company': configuration.company.id,
                        'configuration': configuration.id,
                        'period': period,
                        'order': str(order),
                        }])
        return record

    # -- cron ------------------------------------------------------------
    @classmethod
    def run_contingency(cls):
        """Cron: ask for the CAEAs due, notify a fortnight started without
        one and inform the points of sale without movement"""
        transaction = Transaction()
        if not transaction.database.has_select_for():
            cls._run_contingency()
            return
        # committed part-way: keep the cron row locked by the caller
        with transaction.new_transaction() as processing:
            cls._run_contingency()
            processing.commit()

    @classmethod
    def _run_contingency(cls, today=None):
        Configuration = Pool().get('account.einvoice.configuration')
        domain = [('service', '=', 'ar_afip'), ('ar_caea', '=', True)]
        company_id = Transaction().context.get('company')
        if company_id:
            domain.append(('company', '=', company_id))
        for configuration in Configuration.search(domain):
            cls.run_configuration(configuration, today=today)

    @classmethod
    def run_configuration(cls, configuration, today=None):
        """The CAEA work of one configuration (today: Argentina's date,
        AFIP's clock by default); a failure is recorded on it"""
        from .caea_calls import CaeaCalls
        transaction = Transaction()
        configuration_id = configuration.id
        try:
            CaeaCalls(configuration).run(today or ar_today(configuration))
        except Exception as exception:
            logger.exception("CAEA work of configuration %s failed",
                configuration_id)
            transaction.rollback()
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration(configuration_id).record_failure(gettext(
                    'account_einvoice.msg_configuration_crashed',
                    error=f'{exception.__class__.__name__}: {exception}'))
            transaction.commit()

    def notify_missing(self):
        "Tell the accountants once that the fortnight started without CAEA"
        if self.notified:
            return
        configuration = self.configuration
        configuration.notify_accountants(
            gettext('account_einvoice_ar.msg_caea_missing_label',
                company=configuration.company.rec_name),
            gettext('account_einvoice_ar.msg_caea_missing',
                company=configuration.company.rec_name,
                fortnight=fortnight_label(self.period, self.order),
                error=self.message or '-'),
            records=[self])
        with without_check_access():
            self.__class__.write([self], {'notified': True})


class CaeaReport(ModelSQL, ModelView):
    "AFIP CAEA without Movement"
    __name__ = 'account.einvoice.ar.caea.report'
    __string__ = "AFIP CAEA without Movement"

    caea = fields.Many2One('account.einvoice.ar.caea', "CAEA",
        required=True, readonly=True, ondelete='CASCADE')
    pos = fields.Many2One('account.einvoice.ar.pos', "Point of Sale",
        required=True, readonly=True, ondelete='CASCADE')
    state = fields.Selection(REPORT_STATES, "State", readonly=True,
        help="Requested: informed, AFIP's answer not known yet (it is "
        "consulted before informing again).")
    processed = fields.Char("Processed", readonly=True)
    message = fields.Text("Message", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('pos_unique', Unique(t, t.caea, t.pos),
                'account_einvoice_ar.msg_caea_report_unique'),
            ]

    @classmethod
    def default_state(cls):
        return 'requested'


class Exchange(metaclass=PoolMeta):
    __name__ = 'account.einvoice.exchange'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection.append((EXCHANGE_KIND, "AFIP CAEA"))


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('account.einvoice.ar.caea|run_contingency',
                "Request AFIP CAEAs"))
