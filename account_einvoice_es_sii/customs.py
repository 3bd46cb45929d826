# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What the SII must not receive, and the received-book records that are
not suppliers' invoices.

* Taxes *excluded from the SII* (the import VAT of the foreign
  supplier's invoice, settled at customs): an invoice whose taxes are all
  excluded is not reported at all, the customs document is.
* F5 (imports, DUA) and LC (customs complementary settlement): the
  customs document recorded as a received invoice.  AEAT's rules: the
  number is the document's, the issue date its admission date, and the
  importer (the Titular of the books) is both the issuer and the
  counterpart.  Lines without a reported tax (the customs value
  offsetting the base, the duties) stay out of the breakdown.
* F6 (other accounting vouchers): a received record identified as an
  invoice is."""
from trytond.model import fields
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.pool import PoolMeta
from trytond.pyson import Eval, If, In

from .identification import identify

CUSTOMS_TYPES = {'F5', 'LC'}
RECEIVED_TYPES = CUSTOMS_TYPES | {'F6'}
TYPES = [
    ('F5', "F5 - Import (customs document, DUA)"),
    ('F6', "F6 - Other accounting voucher"),
    ('LC', "LC - Customs complementary settlement"),
    ]


def not_reported(invoice):
    """Whether the taxes of invoice are all excluded from the SII (the
    peer module's rule), withholdings alone aside: an invoice taxed only
    by a withholding is still reported, as not subject"""
    taxes = [t.tax for t in invoice.taxes]
    return (bool(taxes)
        and all(t is not None and t.sii_excluded for t in taxes)
        and not all(_withholding(t) for t in taxes))


def _withholding(tax):
    return tax.type == 'percentage' and (tax.rate or 0) < 0


def document_number(invoice):
    "The number of the customs document the invoice records, if any"
    if (invoice.type == 'in'
            and invoice.sii_invoice_type in CUSTOMS_TYPES):
        return invoice.sii_customs_number


def adapt(facts):
    """Apply the rules of the record types of this module to facts
    (called once its identification is read, before its amounts)"""
    invoice = facts.invoice
    facts.customs = False
    facts.counterpart_name = invoice.party.name
    if facts.type not in RECEIVED_TYPES:
        return
    if facts.book != 'recibidas':
        facts.errors.append(LocalMessage(
                'account_einvoice_es_sii.msg_received_type_only',
                type=facts.type))
        return
    if facts.type not in CUSTOMS_TYPES:
        return
    facts.customs = True
    facts.date = invoice.sii_customs_date
    if not (invoice.sii_customs_number and invoice.sii_customs_date):
        facts.errors.append(LocalMessage(
                'account_einvoice_es_sii.msg_customs_document_missing',
                type=facts.type))
        # identified as it stands, the record is refused anyway
        facts.date = facts.date or invoice.invoice_date
        facts.number = facts.number or invoice.reference
    company = invoice.company.party
    facts.counterpart = identify(company, facts.role)
    facts.counterpart_name = company.name


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    sii_customs_number = fields.Char("Customs Document Number",
        states={
            'invisible': ~In(Eval('sii_invoice_type'), list(CUSTOMS_TYPES)),
            'readonly': Eval('state') != 'draft',
            },
        help="The number of the customs document (DUA) or of the "
        "complementary settlement: the SII identifies the record by it.")
    sii_customs_date = fields.Date("Customs Document Date",
        states={
            'invisible': ~In(Eval('sii_invoice_type'), list(CUSTOMS_TYPES)),
            'readonly': Eval('state') != 'draft',
            },
        help="The date the customs admitted the document: the SII "
        "identifies the record by it.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for name in ['sii_invoice_type', 'sii_invoice_type_override']:
            field = getattr(cls, name)
            field.selection = field.selection + [
                t for t in TYPES if t not in field.selection]
        override = cls.sii_invoice_type_override
        override.domain = list(override.domain or []) + [
            If(Eval('type') == 'in', [],
                ('sii_invoice_type_override', 'not in',
                    list(RECEIVED_TYPES))),
            ]
        override.depends = set(override.depends or ()) | {'type'}

    def get_sii_invoice_type(self, name):
        if (self.type == 'in' and self.sii_customs_number
                and not self.sii_invoice_type_override):
            return 'F5'
        return super().get_sii_invoice_type(name)

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('sii_customs_number')
        default.setdefault('sii_customs_date')
        return super().copy(invoices, default=default)
