# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from sql import Null
from sql.aggregate import Count, Max

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.modules.account_einvoice import rows
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from . import afip


class PointOfSale(DeactivableMixin, ModelSQL, ModelView):
    "AFIP Point of Sale"
    __name__ = 'account.einvoice.ar.pos'

    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    number = fields.Integer("Number", required=True,
        domain=[('number', '>=', 1), ('number', '<=', 99998)],
        help="The point of sale declared to AFIP for web services (CAE).")
    name = fields.Char("Name")
    emission_type = fields.Selection([
            ('cae', "CAE"),
            ('caea', "CAEA"),
            ], "Emission Type", required=True,
        help="CAE: each voucher is authorized online.  CAEA: vouchers are "
        "authorized here with the fortnight's CAEA and informed to AFIP "
        "afterwards.")
    contingency_pos = fields.Many2One('account.einvoice.ar.pos',
        "Contingency Point of Sale",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('emission_type', '=', 'caea'),
            ('id', '!=', Eval('id', -1)),
            ],
        states={'invisible': Eval('emission_type') != 'cae'},
        help="With authorize on post: where an invoice goes, authorized with "
        "the CAEA, when AFIP surely did not take its CAE request.")
    afip_listed = fields.Boolean("Listed by AFIP", readonly=True,
        help="AFIP listed it at the last synchronisation of its tables "
        "(FEParamGetPtosVenta).")
    blocked = fields.Boolean("Blocked", readonly=True,
        help="AFIP blocked it: no voucher can be authorized on it.")
    closed_on = fields.Date("Closed On", readonly=True,
        help="The day AFIP closed it (FchBaja).")
    series = fields.One2Many(
        'account.einvoice.ar.series', 'pos', "Series", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('number_unique', Unique(t, t.company, t.number),
                'account_einvoice_ar.msg_pos_unique'),
            ]
        cls._order = [('number', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_emission_type(cls):
        return 'cae'

    @classmethod
    def default_afip_listed(cls):
        return False

    @classmethod
    def default_blocked(cls):
        return False

    def get_rec_name(self, name):
        label = f'{self.number:05d}'
        if self.name:
            label += f' - {self.name}'
        return label

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('name',) + tuple(clause[1:])]

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        Series = Pool().get('account.einvoice.ar.series')
        with without_check_access():
            Series.create([{
                        'pos': r.id,
                        'voucher_type': code,
                        } for r in records
                    for code, _ in afip.VOUCHER_TYPES if code])
        return records


def chain_key(pos_number, voucher_type):
    "The key of the framework chain that numbers a series (e.g. 00003-006)"
    return f'{int(pos_number):05d}-{int(voucher_type):03d}'


class Series(ModelSQL, ModelView):
    """AFIP Voucher Series

    One row per (point of sale, voucher type): when AFIP's counter was last
    read.  The numbering itself is the framework chain of the series
    (:func:`chain_key`): its lock is taken while the series is numbered and
    its last sequence is the last number given out."""
    __name__ = 'account.einvoice.ar.series'

    pos = fields.Many2One('account.einvoice.ar.pos', "Point of Sale",
        required=True, readonly=True, ondelete='CASCADE')
    voucher_type = fields.Selection(
        afip.VOUCHER_TYPES, "Voucher Type", required=True, readonly=True)
    chain = fields.Function(
        fields.Many2One('account.einvoice.chain', "Chain",
            help="The chain that numbers the series."), 'get_chain')
    last_number = fields.Function(fields.Integer("Last Number",
            help="The last number given out here."), 'get_chain')
    last_sync = fields.DateTime("Last Synchronisation", readonly=True,
        help="When AFIP was last asked for its last authorized number.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('type_unique', Unique(t, t.pos, t.voucher_type),
                'account_einvoice_ar.msg_series_unique'),
            ]

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        migrate = table_h.column_exist('last_number')
        super().__register__(module)
        if migrate:
            cls._migrate_last_number()
            table_h.drop_column('last_number')

    @classmethod
    def _migrate_last_number(cls):
        "Move the counters of the series onto their chains"
        pool = Pool()
        PointOfSale = pool.get('account.einvoice.ar.pos')
        Configuration = pool.get('account.einvoice.configuration')
        Chain = pool.get('account.einvoice.chain')
        series = cls.__table__()
        pos = PointOfSale.__table__()
        configuration = Configuration.__table__()
        chain = Chain.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*series
            .join(pos, condition=series.pos == pos.id)
            .join(configuration,
                condition=configuration.company == pos.company)
            .select(configuration.id, pos.number, series.voucher_type,
                series.last_number,
                where=(configuration.service == 'ar_afip')
                & (series.last_number > 0)))
        now = dt.datetime.now()
        for configuration_id, number, voucher_type, last in (
                cursor.fetchall()):
            key = chain_key(number, voucher_type)
            where = ((chain.configuration == configuration_id)
                & (chain.key == key))
            cursor.execute(*chain.select(chain.id, where=where))
            if cursor.fetchone():
                cursor.execute(*chain.update(
                        [chain.last_sequence], [last],
                        where=where & ((chain.last_sequence == Null)
                            | (chain.last_sequence < last))))
            else:
                cursor.execute(*chain.insert(
                        [chain.configuration, chain.key, chain.last_sequence,
                            chain.create_uid, chain.create_date],
                        [[configuration_id, key, last, 0, now]]))

    @property
    def chain_key(self):
        return chain_key(self.pos.number, self.voucher_type)

    @classmethod
    def get_chain(cls, series, names):
        """The chain of each series and its last sequence (read in SQL:
        staff who see the series see its counter)"""
        pool = Pool()
        Configuration = pool.get('account.einvoice.configuration')
        Chain = pool.get('account.einvoice.chain')
        configuration = Configuration.__table__()
        chain = Chain.__table__()
        cursor = Transaction().connection.cursor()
        result = {'chain': {s.id: None for s in series},
            'last_number': {s.id: 0 for s in series}}
        by_key = {(s.pos.company.id, s.chain_key): s.id for s in series}
        companies = list({c for c, _ in by_key})
        keys = list({k for _, k in by_key})
        for sub_keys in grouped_slice(keys, rows.IN_SLICE):
            cursor.execute(*chain
                .join(configuration,
                    condition=chain.configuration == configuration.id)
                .select(configuration.company, chain.key, chain.id,
                    chain.last_sequence,
                    where=(configuration.service == 'ar_afip')
                    & configuration.company.in_(companies)
                    & chain.key.in_(list(sub_keys))))
            for company, key, chain_id, last in cursor:
                series_id = by_key.get((company, key))
                if series_id:
                    result['chain'][series_id] = chain_id
                    result['last_number'][series_id] = last or 0
        return {n: result[n] for n in names}

    @classmethod
    def lock_series(cls, configuration, pos, voucher_type):
        """Return the series and its chain, the chain locked until the
        transaction ends (the framework's chain lock)"""
        Chain = Pool().get('account.einvoice.chain')
        chain = Chain.lock(
            configuration.id, chain_key(pos.number, voucher_type))
        records = cls.search([
                ('pos', '=', pos.id),
                ('voucher_type', '=', str(voucher_type)),
                ], limit=1)
        if records:
            return records[0], chain
        record, = cls.create([{
                    'pos': pos.id,
                    'voucher_type': str(voucher_type),
                    }])
        return record, chain

    @classmethod
    def last_authorized_here(cls, pos, voucher_type):
        "The highest number of the series that holds a CAE here"
        Invoice = Pool().get('account.invoice')
        table = Invoice.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(Max(table.ar_voucher_number),
                where=(table.ar_pos == pos.id)
                & (table.ar_voucher_type == str(voucher_type))
                & (table.ar_cae != Null)))
        value, = cursor.fetchone()
        return value or 0


class Chain(metaclass=PoolMeta):
    __name__ = 'account.einvoice.chain'

    def first_break(self):
        # The chains of AFIP's series hold numbers, not documents: what can
        # break is the numbering of the vouchers authorized here.
        if self.configuration.service == 'ar_afip' and self.key:
            return self._series_break()
        return super().first_break()

    def _series_break(self):
        "A number authorized twice, or beyond the last given out, or None"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        PointOfSale = pool.get('account.einvoice.ar.pos')
        pos_number, voucher_type = (int(p) for p in self.key.split('-'))
        with Transaction().set_context(active_test=False):
            pos = PointOfSale.search([
                    ('company', '=', self.configuration.company.id),
                    ('number', '=', pos_number),
                    ])
        if not pos:
            return None
        invoice = Invoice.__table__()
        cursor = Transaction().connection.cursor()
        number = invoice.ar_voucher_number
        cursor.execute(*invoice.select(number, Count(invoice.id),
                where=invoice.ar_pos.in_([p.id for p in pos])
                & (invoice.ar_voucher_type == str(voucher_type))
                & (invoice.ar_cae != Null),
                group_by=[number], order_by=[number.asc]))
        last = self.last_sequence or 0
        for value, count in cursor:
            if count > 1:
                return gettext('account_einvoice_ar.msg_chain_series_twice',
                    chain=self.rec_name, number=value)
            if value > last:
                return gettext('account_einvoice_ar.msg_chain_series_beyond',
                    chain=self.rec_name, number=value, last=last)
        return None
