# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from decimal import ROUND_HALF_UP

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import without_check_access

from .exceptions import ZatcaError

TRANSACTIONS = [
    (None, "Automatic"),
    ('standard', "Standard Tax Invoice (B2B)"),
    ('simplified', "Simplified Tax Invoice (B2C)"),
    ]


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    _zatca_states = {
        'readonly': Eval('state') != 'draft',
        'invisible': Eval('type') != 'out',
        }
    zatca_transaction = fields.Selection(TRANSACTIONS, "ZATCA Invoice Type",
        states=_zatca_states,
        help="Standard invoices (to a VAT registered business) are cleared "
        "by ZATCA before they are shared; simplified ones are reported "
        "within 24 hours. Automatic: standard when the customer has a tax "
        "identifier.")
    zatca_debit_note = fields.Boolean("Debit Note",
        states=_zatca_states,
        help="The invoice raises the amount of an issued invoice "
        "(ZATCA document type 383).")
    zatca_corrected_invoice = fields.Many2One('account.invoice',
        "Corrected Invoice",
        domain=[
            ('type', '=', 'out'),
            ('company', '=', Eval('company', -1)),
            ('state', 'in', ['posted', 'paid']),
            ],
        states=_zatca_states,
        help="The invoice a debit or credit note corrects (its billing "
        "reference); for a credit note the invoice of its lines when "
        "empty.")
    zatca_reason = fields.Char("Reason for Issuance",
        states=_zatca_states,
        help="Why a credit or debit note is issued, as ZATCA requires it "
        "(the invoice description when empty).")
    zatca_supply_date = fields.Date("Supply Date",
        states=_zatca_states,
        help="The date of the supply when it differs from the invoice "
        "date.")
    del _zatca_states

    @classmethod
    def default_zatca_debit_note(cls):
        return False

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        for name in ('zatca_corrected_invoice', 'zatca_reason',
                'zatca_supply_date'):
            default.setdefault(name)
        default.setdefault('zatca_debit_note', False)
        return super().copy(invoices, default=default)

    def _credit(self, **values):
        credit = super()._credit(**values)
        credit.zatca_corrected_invoice = self
        credit.zatca_transaction = self.zatca_transaction
        return credit

    def _zatca_reported(self):
        "Whether the company reports its customer invoices to ZATCA"
        Configuration = Pool().get('account.einvoice.configuration')
        if self.type != 'out' or not self.company:
            return False
        # also for users who may not read the configurations (sales)
        with without_check_access():
            return bool(Configuration.search([
                        ('company', '=', self.company.id),
                        ('service', '=', 'sa_zatca'),
                        ], limit=1))

    @fields.depends('company', 'type', 'currency')
    def _round_taxes(self, taxes):
        # ZATCA rounds each VAT category's tax half up (BR-S-09): so does
        # the invoice, without Tryton's compensation between taxes
        if self.currency and self._zatca_reported():
            for line in taxes.values():
                line.amount = self.currency.round(
                    line.amount, rounding=ROUND_HALF_UP)
            return
        super()._round_taxes(taxes)

    @classmethod
    def cancel(cls, invoices):
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        with without_check_access():
            held = Submission.search([
                    ('invoice', 'in', [i.id for i in invoices]),
                    ('configuration.service', '=', 'sa_zatca'),
                    ('state', 'in', ['pending', 'processing', 'accepted',
                            'accepted_with_errors']),
                    ], limit=1)
        if held:
            raise ZatcaError(gettext(
                    'account_einvoice_sa_zatca.msg_cancel_reported',
                    invoice=held[0].invoice.rec_name))
        super().cancel(invoices)
