# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from sql import Null
from sql.aggregate import Max

from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
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
                        'last_number': 0,
                        } for r in records
                    for code, _ in afip.VOUCHER_TYPES if code])
        return records


class Series(ModelSQL, ModelView):
    """AFIP Voucher Series

    One row per (point of sale, voucher type): the lock taken while the
    series is numbered, and what is known of AFIP's counter."""
    __name__ = 'account.einvoice.ar.series'

    pos = fields.Many2One('account.einvoice.ar.pos', "Point of Sale",
        required=True, readonly=True, ondelete='CASCADE')
    voucher_type = fields.Selection(
        afip.VOUCHER_TYPES, "Voucher Type", required=True, readonly=True)
    last_number = fields.Integer("Last Number", readonly=True,
        help="The last number given out here.")
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
    def lock_series(cls, pos, voucher_type):
        """Return the series row, locked until the transaction ends.

        The UPDATE takes the row lock on PostgreSQL (a concurrent claim
        waits, then fails to serialize and claims again from a newer
        snapshot) and the write lock on SQLite."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        where = ((table.pos == pos.id)
            & (table.voucher_type == str(voucher_type)))
        cursor.execute(*table.update(
                [table.write_date], [dt.datetime.now()], where=where))
        records = cls.search([
                ('pos', '=', pos.id),
                ('voucher_type', '=', str(voucher_type)),
                ], limit=1)
        if records:
            return records[0]
        record, = cls.create([{
                    'pos': pos.id,
                    'voucher_type': str(voucher_type),
                    'last_number': 0,
                    }])
        return record

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
