# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What SIFEN needs on a customer invoice: the kind of note, the document
it corrects and why, the CDC; and the cancellation window."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import without_check_access

from .exceptions import SifenError

#: iMotEmi
REASONS = [
    (None, ""),
    ('1', "Return and price adjustment"),
    ('2', "Return"),
    ('3', "Discount"),
    ('4', "Bonus"),
    ('5', "Bad debt"),
    ('6', "Cost recovery"),
    ('7', "Expense recovery"),
    ('8', "Price adjustment"),
    ]
#: hours after approval SIFEN accepts a cancellation: 48 for an invoice,
#: 168 for the other documents
CANCEL_HOURS = {1: 48}
CANCEL_HOURS_OTHER = 168


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    _sifen_states = {
        'readonly': Eval('state') != 'draft',
        'invisible': Eval('type') != 'out',
        }
    sifen_debit_note = fields.Boolean("Debit Note",
        states=_sifen_states,
        help="The invoice raises the amount of an issued document "
        "(SIFEN's electronic debit note).")
    sifen_associated_invoice = fields.Many2One('account.invoice',
        "Associated Document",
        domain=[
            ('type', '=', 'out'),
            ('company', '=', Eval('company', -1)),
            ('state', 'in', ['posted', 'paid']),
            ],
        states=_sifen_states,
        help="The invoice a credit or debit note corrects (its CDC is "
        "written in the note); for a credit note the invoice of its lines "
        "when empty.")
    sifen_reason = fields.Selection(REASONS, "Reason for Issuance",
        sort=False, states=_sifen_states,
        help="Why a credit or debit note is issued (iMotEmi); empty: "
        "return for a credit note, price adjustment for a debit note.")
    sifen_cancel_reason = fields.Char("Cancellation Reason",
        states={
            'invisible': Eval('type') != 'out',
            'readonly': Eval('state') == 'cancelled',
            },
        help="Why the invoice is cancelled, sent to SIFEN with the "
        "cancellation event (5 to 500 characters).")
    sifen_cdc = fields.Function(fields.Char("CDC",
            states={'invisible': ~Eval('sifen_cdc')},
            help="The 44-digit code of the electronic document (DE) SIFEN "
            "holds for the invoice."), 'get_sifen_cdc')
    del _sifen_states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # the reason is given when cancelling a posted invoice
        cls._check_modify_exclude |= {'sifen_cancel_reason'}

    @classmethod
    def default_sifen_debit_note(cls):
        return False

    def get_sifen_cdc(self, name):
        from .facts import cdc_of
        if self.type != 'out' or self.state not in {
                'posted', 'paid', 'cancelled'}:
            return None
        with without_check_access():
            return cdc_of(self)

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        for name in ('sifen_associated_invoice', 'sifen_reason',
                'sifen_cancel_reason'):
            default.setdefault(name)
        default.setdefault('sifen_debit_note', False)
        return super().copy(invoices, default=default)

    def _credit(self, **values):
        credit = super()._credit(**values)
        credit.sifen_associated_invoice = self
        return credit

    @classmethod
    def cancel(cls, invoices):
        cls.check_sifen_cancellation(invoices)
        super().cancel(invoices)

    @classmethod
    def check_sifen_cancellation(cls, invoices, now=None):
        """Refuse to cancel what SIFEN approved longer ago than it allows
        (48 hours for an invoice, 168 for a note): a credit note must
        correct it instead"""
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        Outcome = pool.get('account.einvoice.exchange.outcome')
        now = now or dt.datetime.now()
        with without_check_access():
            submissions = Submission.search([
                    ('invoice', 'in', [i.id for i in invoices]),
                    ('configuration.service', '=', 'py_sifen'),
                    ('registered', '=', True),
                    ('operation', '!=', 'cancel'),
                    ])
            for submission in submissions:
                outcomes = Outcome.search([
                        ('submission', '=', submission.id),
                        ('state', 'in', ['accepted',
                                'accepted_with_errors']),
                        ], order=[('id', 'ASC')], limit=1)
                if not outcomes:
                    continue
                approved = outcomes[0].create_date
                invoice = submission.invoice
                debit = invoice.sifen_debit_note or invoice.total_amount < 0
                hours = CANCEL_HOURS_OTHER if debit else CANCEL_HOURS[1]
                if now - approved > dt.timedelta(hours=hours):
                    raise SifenError(gettext(
                            'account_einvoice_py_sifen.msg_cancel_too_late',
                            invoice=invoice.rec_name, hours=hours,
                            approved=approved.replace(
                                microsecond=0).isoformat(' ')))
