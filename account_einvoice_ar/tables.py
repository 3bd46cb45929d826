# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""AFIP's parameter tables (``FEParamGet*``) kept as records.

Each synchronisation reads every table through the configuration's
service, outside the exchange history (read-only calls), and upserts its
rows; a row AFIP no longer lists is kept with ``valid_to`` yesterday.  The
points of sale AFIP lists update the company's ``account.einvoice.ar.pos``.
The local checks (:mod:`.table_checks`) use the rows once a company's
tables were synchronised; before that the tables of :mod:`.afip` apply.
"""
import datetime as dt
import logging

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import afip, answers
from .afip import E, wsfe_tag

logger = logging.getLogger(__name__)
SERVICE = 'ar_afip'

TABLES = [
    ('voucher_type', "Voucher Type"),
    ('document_type', "Document Type"),
    ('iva_rate', "IVA Rate"),
    ('tribute', "Tribute"),
    ('currency', "Currency"),
    ('optional', "Optional"),
    ('receiver_condition', "Receiver IVA Condition"),
    ('concept', "Concept"),
    ('activity', "Activity"),
    ]
#: table -> (FEParamGet operation, element of each row in ResultGet)
SOURCES = {
    'voucher_type': ('FEParamGetTiposCbte', 'CbteTipo'),
    'document_type': ('FEParamGetTiposDoc', 'DocTipo'),
    'iva_rate': ('FEParamGetTiposIva', 'IvaTipo'),
    'tribute': ('FEParamGetTiposTributos', 'TributoTipo'),
    'currency': ('FEParamGetTiposMonedas', 'Moneda'),
    'optional': ('FEParamGetTiposOpcional', 'OpcionalTipo'),
    'receiver_condition': (
        'FEParamGetCondicionIvaReceptor', 'CondicionIvaReceptor'),
    'concept': ('FEParamGetTiposConcepto', 'ConceptoTipo'),
    'activity': ('FEParamGetActividades', 'ActividadesTipo'),
    }
#: tables kept per company (AFIP answers them for the CUIT)
COMPANY_TABLES = {'activity'}
#: voucher classes the receiver conditions are asked for (ClaseCmp)
RECEIVER_CLASSES = ['A', 'B', 'C', 'M']
#: AFIP's answer "no data" (e.g. no activity, no point of sale)
NO_DATA = '602'


class Parameter(ModelSQL, ModelView):
    "AFIP Parameter"
    __name__ = 'account.einvoice.ar.parameter'
    __string__ = "AFIP Parameter"

    table = fields.Selection(TABLES, "Table", required=True, readonly=True)
    code = fields.Char("Code", required=True, readonly=True)
    description = fields.Char("Description", readonly=True)
    classes = fields.Char("Classes", readonly=True,
        help="The voucher classes a receiver IVA condition is valid for "
        "(e.g. A/M/C).")
    valid_from = fields.Date("Valid From", readonly=True)
    valid_to = fields.Date("Valid To", readonly=True,
        help="Set to the day before a synchronisation that no longer found "
        "the row.")
    company = fields.Many2One('company.company', "Company", readonly=True,
        ondelete='CASCADE',
        help="Only for the activities, which AFIP lists per CUIT.")

    _rows_cache = Cache(
        'account_einvoice_ar.parameter.rows', context=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.table, t.code, t.company),
                'account_einvoice_ar.msg_parameter_unique'),
            ]
        cls._order = [('table', 'ASC'), ('code', 'ASC'), ('id', 'ASC')]

    def get_rec_name(self, name):
        if self.description:
            return f'{self.code} - {self.description}'
        return self.code

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('code', operator, value),
            ('description', operator, value),
            ]

    @classmethod
    def create(cls, vlist):
        cls._rows_cache.clear()
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        cls._rows_cache.clear()
        super().write(*args)

    @classmethod
    def delete(cls, records):
        cls._rows_cache.clear()
        super().delete(records)

    @classmethod
    def rows(cls, table, company=None):
        """{code: (classes, valid_from, valid_to)} of a table (of the
        company for the activities); empty when never synchronised"""
        if table not in COMPANY_TABLES:
            company = None
        key = (table, company)
        result = cls._rows_cache.get(key)
        if result is not None:
            return {c: tuple(v) for c, v in result.items()}
        with without_check_access():
            records = cls.search([
                    ('table', '=', table),
                    ('company', '=', company),
                    ])
        result = {r.code: (r.classes, r.valid_from, r.valid_to)
            for r in records}
        cls._rows_cache.set(key, result)
        return result

    @classmethod
    def synchronise(cls, table, listed, company=None):
        """Upsert the rows AFIP listed ({code: values}); the others get
        valid_to yesterday.  Return (created, withdrawn)."""
        Date = Pool().get('ir.date')
        yesterday = Date.today() - dt.timedelta(days=1)
        if table not in COMPANY_TABLES:
            company = None
        records = {r.code: r for r in cls.search([
                    ('table', '=', table),
                    ('company', '=', company),
                    ])}
        to_create, to_write = [], []
        withdrawn = 0
        for code, values in listed.items():
            record = records.get(code)
            if record is None:
                to_create.append(dict(values, table=table, code=code,
                        company=company))
                continue
            changed = {k: v for k, v in values.items()
                if getattr(record, k) != v}
            if changed:
                to_write.extend(([record], changed))
        for code, record in records.items():
            if code in listed:
                continue
            if record.valid_to is None or record.valid_to > yesterday:
                to_write.extend(([record], {'valid_to': yesterday}))
                withdrawn += 1
        if to_create:
            cls.create(to_create)
        if to_write:
            cls.write(*to_write)
        return len(to_create), withdrawn


def _result(service, operation, *children):
    "The Result element of a read-only call; AFIP's 602 is no row"
    result = service.simple_call(operation, *children)
    if result is None:
        raise ServiceFailure('unknown', gettext(
                'account_einvoice_ar.msg_tables_no_result',
                operation=operation))
    errors = answers.header_errors(result)
    if errors and {c for c, _ in errors} != {NO_DATA}:
        raise ServiceFailure('transient', answers.message_text(errors))
    return result


def _items(result, element):
    get = result.find(wsfe_tag('ResultGet'))
    if get is None:
        return []
    return get.findall(wsfe_tag(element))


def _text(item, name):
    value = (item.findtext(wsfe_tag(name)) or '').strip()
    return value if value and value != 'NULL' else None


def fetch_table(service, table):
    "{code: values} of an AFIP table as the service answers it"
    operation, element = SOURCES[table]
    if table == 'receiver_condition':
        return _fetch_receiver_conditions(service, operation, element)
    listed = {}
    for item in _items(_result(service, operation), element):
        code = _text(item, 'Id')
        if code is None:
            continue
        listed[code] = {
            'description': _text(item, 'Desc'),
            'classes': None,
            'valid_from': afip.parse_afip_date(_text(item, 'FchDesde')),
            'valid_to': afip.parse_afip_date(_text(item, 'FchHasta')),
            }
    return listed


def _fetch_receiver_conditions(service, operation, element):
    listed = {}
    for klass in RECEIVER_CLASSES:
        result = _result(service, operation, E.ClaseCmp(klass))
        for item in _items(result, element):
            code = _text(item, 'Id')
            if code is None:
                continue
            values = listed.setdefault(code, {
                    'description': _text(item, 'Desc'),
                    'classes': None,
                    'valid_from': None,
                    'valid_to': None,
                    })
            classes = set(filter(None,
                    (values['classes'] or '').split('/')))
            classes.update(filter(None,
                    (_text(item, 'Cmp_Clase') or klass).split('/')))
            values['classes'] = '/'.join(sorted(classes))
    return listed


def fetch_points_of_sale(service):
    "{number: values of account.einvoice.ar.pos} AFIP lists"
    listed = {}
    for item in _items(_result(service, 'FEParamGetPtosVenta'), 'PtoVenta'):
        number = _text(item, 'Nro')
        if not number:
            continue
        emission = (_text(item, 'EmisionTipo') or '').upper()
        listed[int(number)] = {
            'emission_type': 'caea' if emission.startswith('CAEA') else 'cae',
            'blocked': (_text(item, 'Bloqueado') or '').upper() == 'S',
            'closed_on': afip.parse_afip_date(_text(item, 'FchBaja')),
            'afip_listed': True,
            }
    return listed


def synchronise_points_of_sale(company, listed):
    """Create the points of sale AFIP lists that are missing, update the
    others; return (created, not listed)"""
    PointOfSale = Pool().get('account.einvoice.ar.pos')
    with Transaction().set_context(active_test=False):
        records = {p.number: p for p in PointOfSale.search([
                    ('company', '=', company.id),
                    ])}
    to_create, to_write = [], []
    for number, values in listed.items():
        record = records.get(number)
        if record is None:
            to_create.append(dict(values, company=company.id, number=number))
            continue
        changed = {k: v for k, v in values.items()
            if getattr(record, k) != v}
        if changed:
            to_write.extend(([record], changed))
    missing = [p for n, p in records.items()
        if n not in listed and p.afip_listed]
    if missing:
        to_write.extend((missing, {'afip_listed': False}))
    if to_create:
        PointOfSale.create(to_create)
    if to_write:
        PointOfSale.write(*to_write)
    return len(to_create), len(missing)


def synchronise(configuration):
    """Read every table and the points of sale (all the calls first, then
    the writes); one failing call is logged and reported, the others go
    on.  Return (lines, number of tables synchronised)."""
    Parameter = Pool().get('account.einvoice.ar.parameter')
    service = configuration.get_service()
    company = configuration.company
    fetched = []
    for table, _ in TABLES + [('pos', None)]:
        try:
            if table == 'pos':
                listed = fetch_points_of_sale(service)
            else:
                listed = fetch_table(service, table)
        except ServiceFailure as failure:
            logger.warning("AFIP table %s of %s not synchronised: %s",
                table, configuration.rec_name, failure.message)
            fetched.append((table, None, failure.message))
        else:
            fetched.append((table, listed, None))
    lines, done = [], 0
    with without_check_access():
        for table, listed, error in fetched:
            label = gettext(f'account_einvoice_ar.msg_tables_{table}')
            if listed is None:
                lines.append(gettext('account_einvoice_ar.msg_tables_failed',
                        table=label, error=error))
                continue
            if table == 'pos':
                created, withdrawn = synchronise_points_of_sale(
                    company, listed)
            else:
                created, withdrawn = Parameter.synchronise(
                    table, listed, company.id)
            done += 1
            lines.append(gettext('account_einvoice_ar.msg_tables_table',
                    table=label, count=len(listed), created=created,
                    withdrawn=withdrawn))
    return lines, done


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    ar_tables_synchronised = fields.DateTime(
        "AFIP Tables Synchronised", readonly=True,
        states={'invisible': Eval('service') != SERVICE},
        help="When AFIP's parameter tables and points of sale were last "
        "read; the local checks use them from then on.")
    ar_rate_source = fields.Selection([
            ('tryton', "Tryton"),
            ('afip', "AFIP"),
            ], "Exchange Rate Source", required=True,
        states={'invisible': Eval('service') != SERVICE},
        help="Where the rate of a foreign currency invoice comes from when "
        "none is entered: Tryton's currency rates at posting, or AFIP's "
        "(FEParamGetCotizacion) before sending.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'ar_synchronise': {
                    'invisible': Eval('service') != SERVICE,
                    'depends': ['service'],
                    },
                })

    @classmethod
    def default_ar_rate_source(cls):
        return 'tryton'

    @classmethod
    @ModelView.button_action('account_einvoice_ar.wizard_synchronise_tables')
    def ar_synchronise(cls, configurations):
        pass

    def ar_synchronise_tables(self):
        "Read AFIP's tables into Tryton; return the lines of the result"
        lines, done = synchronise(self)
        if done:
            with without_check_access():
                self.write([self], {
                        'ar_tables_synchronised': dt.datetime.now(),
                        })
        return lines

    @classmethod
    def ar_synchronise_all(cls):
        "Cron: synchronise the tables of every AFIP configuration"
        transaction = Transaction()
        for configuration in cls.search([('service', '=', SERVICE)]):
            with transaction.set_context(
                    company=configuration.company.id):
                try:
                    configuration.ar_synchronise_tables()
                except Exception:
                    logger.exception("AFIP tables of %s not synchronised",
                        configuration.rec_name)
                    transaction.rollback()
                    continue
            transaction.commit()


class SynchroniseTablesResult(ModelView):
    "Synchronise AFIP Tables"
    __name__ = 'account.einvoice.ar.synchronise_tables.result'
    __string__ = "Synchronise AFIP Tables"

    result = fields.Text("Result", readonly=True)


class SynchroniseTables(Wizard):
    "Synchronise AFIP Tables"
    __name__ = 'account.einvoice.ar.synchronise_tables'

    start = StateTransition()
    done = StateView('account.einvoice.ar.synchronise_tables.result',
        'account_einvoice_ar.synchronise_tables_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_start(self):
        lines = []
        for configuration in self.records:
            if configuration.service != SERVICE:
                continue
            if len(self.records) > 1:
                lines.append(configuration.rec_name)
            lines.extend(configuration.ar_synchronise_tables())
        self.done.result = '\n'.join(lines)
        return 'done'

    def default_done(self, fields):
        return {'result': self.done.result}


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('account.einvoice.configuration|ar_synchronise_all',
                "Synchronise AFIP Tables"))
