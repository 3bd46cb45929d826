# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The period switch: whether the invoices of a fiscal period are reported
to the SII.  It is frozen once the period holds posted invoices (their
reporting, or not, has been decided)."""
from trytond.i18n import gettext
from trytond.model import fields
from trytond.model.exceptions import AccessError
from trytond.modules.account.exceptions import PeriodNotFoundError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

POSTED = ['posted', 'paid', 'cancelled']


class Period(metaclass=PoolMeta):
    __name__ = 'account.period'

    sii_report = fields.Boolean("Report to SII",
        states={
            'readonly': Eval('sii_report_locked', False),
            },
        help="Report the invoices of this period to the SII.\n"
        "It cannot be changed once the period holds posted invoices.")
    sii_report_locked = fields.Function(
        fields.Boolean("SII Switch Locked"), 'get_sii_report_locked')

    @classmethod
    def default_sii_report(cls):
        return True

    @classmethod
    def _sii_posted(cls, periods):
        "The ids of periods holding posted invoices"
        Invoice = Pool().get('account.invoice')
        invoices = Invoice.search([
                ('move.period', 'in', [p.id for p in periods]),
                ('state', 'in', POSTED),
                ('type', 'in', ['out', 'in']),
                ])
        return {i.move.period.id for i in invoices}

    @classmethod
    def get_sii_report_locked(cls, periods, name):
        posted = cls._sii_posted(periods)
        return {p.id: p.id in posted for p in periods}

    @classmethod
    def check_modification(cls, mode, periods, values=None, external=False):
        super().check_modification(
            mode, periods, values=values, external=external)
        if mode == 'write' and 'sii_report' in values:
            changed = [p for p in periods
                if p.sii_report != values['sii_report']]
            posted = cls._sii_posted(changed) if changed else set()
            for period in changed:
                if period.id in posted:
                    raise AccessError(gettext(
                            'account_einvoice_es_sii.msg_period_switch_posted',
                            period=period.rec_name))


def reported(invoice, cache):
    """Whether the period of invoice is reported to the SII
    (cache: {(company id, date): bool} kept by the caller)"""
    date = invoice.accounting_date or invoice.invoice_date
    if date is None:
        return True
    key = (invoice.company.id, date)
    if key not in cache:
        Period = Pool().get('account.period')
        try:
            period = Period(Period.find(
                    invoice.company, date=date, test_state=False))
        except PeriodNotFoundError:
            cache[key] = True
        else:
            cache[key] = bool(period.sii_report)
    return cache[key]
