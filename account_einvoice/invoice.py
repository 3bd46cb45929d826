# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from decimal import Decimal

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from .submission import STATES


def document_kind(invoice, debit_note):
    """('credit_note' | 'debit_note' | 'invoice', sign) of a posted
    invoice: a negative total is a credit note, else the country's debit
    note flag decides; sign turns its amounts positive"""
    if invoice.total_amount < 0:
        return 'credit_note', -1
    return ('debit_note' if debit_note else 'invoice'), 1


def rate_to(invoice, code):
    """How many units of the currency code one unit of the invoice's
    currency is worth at its currency date (Tryton's rates, not rounded),
    or None when the currency code is missing"""
    pool = Pool()
    Currency = pool.get('currency.currency')
    Date = pool.get('ir.date')
    if invoice.currency.code == code:
        return Decimal(1)
    found = Currency.search([('code', '=', code)], limit=1)
    if not found:
        return None
    date = invoice.currency_date or invoice.invoice_date or Date.today()
    with Transaction().set_context(date=date):
        return Decimal(Currency.compute(
                invoice.currency, Decimal(1), found[0], round=False))


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    einvoice_submissions = fields.One2Many(
        'account.einvoice.submission', 'invoice', "E-Invoice Submissions",
        readonly=True)
    einvoice_state = fields.Function(
        fields.Selection([(None, "")] + STATES, "E-Invoice State"),
        'get_einvoice', searcher='search_einvoice')
    einvoice_reference = fields.Function(
        fields.Char("E-Invoice Reference"), 'get_einvoice')
    einvoice_message = fields.Function(
        fields.Text("E-Invoice Message"), 'get_einvoice')

    @classmethod
    def get_einvoice(cls, invoices, names):
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        result = {n: {i.id: None for i in invoices} for n in names}
        columns = {
            'einvoice_state': 'state',
            'einvoice_reference': 'reference',
            'einvoice_message': 'message',
            }
        submissions = Submission.search(
            [('invoice', 'in', [i.id for i in invoices])])
        for submission in submissions:
            for name in names:
                value = getattr(submission, columns[name])
                if name == 'einvoice_message' and not value:
                    value = submission.last_error
                result[name][submission.invoice.id] = value
        return result

    @classmethod
    def search_einvoice(cls, name, clause):
        return [('einvoice_submissions.state',) + tuple(clause[1:])]

    @classmethod
    def _post(cls, invoices):
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        super()._post(invoices)
        # numbered now; a refusal rolls the posting back
        services = Submission.check_posting(invoices)
        Submission.create_for_invoices(invoices, services)

    @classmethod
    def cancel(cls, invoices):
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        super().cancel(invoices)
        Submission.invoices_cancelled(invoices)

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('einvoice_submissions')
        return super().copy(invoices, default=default)
