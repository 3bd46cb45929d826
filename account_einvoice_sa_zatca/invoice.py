# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

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
