# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The exchange rate of foreign currency vouchers (MonCotiz).

Entered on the invoice, else Tryton's currency rate at posting, else, when
the configuration takes AFIP's (``ar_rate_source`` 'afip'), AFIP's
``FEParamGetCotizacion`` of the invoice date, asked for in
:meth:`.service.WSFEService.check` (posting never calls AFIP).  An invoice
whose rate AFIP does not give is postponed, not refused.
"""
from decimal import Decimal, InvalidOperation

from trytond.model import fields
from trytond.modules.account_einvoice import rows
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.modules.account_einvoice.service import Postpone
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from . import afip, answers
from .afip import E, wsfe_tag

RATE_DIGITS = Decimal('0.000001')
RATE_SOURCES = [
    (None, ""),
    ('user', "Entered"),
    ('tryton', "Tryton"),
    ('afip', "AFIP"),
    ]


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    ar_currency_rate_source = fields.Selection(
        RATE_SOURCES, "Currency Rate Source", readonly=True,
        states={'invisible': ~Eval('ar_currency_rate_source')},
        help="Where the currency rate sent to AFIP comes from.")

    def ar_set_voucher_data(self, configuration):
        entered = self.ar_currency_rate
        super().ar_set_voucher_data(configuration)
        if self.currency == self.company.currency:
            self.ar_currency_rate_source = None
        elif entered:
            self.ar_currency_rate_source = 'user'
        elif self.ar_currency_rate:
            self.ar_currency_rate_source = 'tryton'

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('ar_currency_rate_source', None)
        default.setdefault('ar_currency_rate',
            lambda data: data.get('ar_currency_rate')
            if data.get('ar_currency_rate_source') in {None, 'user'}
            else None)
        return super().copy(invoices, default=default)


def quote(service, currency, date):
    "AFIP's rate of currency (its code) on date, or raise ServiceFailure"
    result = service.simple_call('FEParamGetCotizacion',
        E.MonId(currency), E.FchCotiz(afip.afip_date(date)))
    if result is None:
        raise ServiceFailure('unknown', 'FEParamGetCotizacion: no result')
    errors = answers.header_errors(result)
    if errors:
        raise ServiceFailure('transient', answers.message_text(errors))
    text = result.findtext(f'{wsfe_tag("ResultGet")}/{wsfe_tag("MonCotiz")}')
    try:
        rate = Decimal((text or '').strip()).quantize(RATE_DIGITS)
    except InvalidOperation:
        rate = None
    if not rate or rate <= 0:
        raise ServiceFailure('unknown',
            f'FEParamGetCotizacion: invalid MonCotiz {text!r}')
    return rate


def fetch_rates(service, submissions):
    """Write AFIP's rate on the foreign currency invoices that have none
    when the configuration takes AFIP's; {submission id: Postpone} of those
    whose rate AFIP did not give"""
    if service.configuration.ar_rate_source != 'afip':
        return {}
    Invoice = Pool().get('account.invoice')
    quotes, waiting, to_write = {}, {}, []
    for submission in submissions:
        invoice = submission.invoice
        if (not invoice or invoice.ar_currency_rate
                or invoice.currency == invoice.company.currency
                # authorized here: its rate is the one printed
                or getattr(invoice, 'ar_authorization', None) == 'CAEA'):
            continue
        currency = afip.CURRENCIES.get(invoice.currency.code)
        if not currency:
            continue    # refused by the checks
        key = (currency, invoice.invoice_date)
        if key not in quotes:
            try:
                quotes[key] = quote(service, *key)
            except ServiceFailure as failure:
                quotes[key] = failure
        rate = quotes[key]
        if isinstance(rate, ServiceFailure):
            waiting[submission.id] = Postpone(LocalMessage(
                    'account_einvoice_ar.msg_rate_unavailable',
                    invoice=invoice.rec_name, currency=currency,
                    date=invoice.invoice_date.isoformat(),
                    error=rate.message), retry_at=rate.retry_at)
            continue
        invoice.ar_currency_rate = rate
        invoice.ar_currency_rate_source = 'afip'
        to_write.extend(([invoice], {
                    'ar_currency_rate': rate,
                    'ar_currency_rate_source': 'afip',
                    }))
    if to_write:
        # trusted values on posted invoices
        rows.update(Invoice, *to_write)
    return waiting
