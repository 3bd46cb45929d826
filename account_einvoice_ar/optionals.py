# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What an invoice tells AFIP besides its amounts: optional fields
(Opcionales), several buyers (Compradores), the period a note corrects
(PeriodoAsoc) and the issuer's activity (Actividades)."""
from decimal import Decimal

from stdnum.ar import cuit as stdcuit

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import afip
from .configuration import SERVICE

#: Comprador DocTipo holding a CUIT or CUIL
CUIT_DOCUMENTS = {'80', '86'}


class InvoiceDetailMixin:
    "A detail of an AFIP voucher, fixed once the invoice is posted"
    __slots__ = ()
    invoice = fields.Many2One('account.invoice', "Invoice", required=True,
        ondelete='CASCADE', domain=[('type', '=', 'out')])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('invoice')
        cls._order = [('invoice', 'ASC'), ('id', 'ASC')]

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        for record in records:
            if not record.invoice.is_modifiable:
                raise AccessError(gettext(
                        'account_einvoice_ar.msg_invoice_detail_modify',
                        invoice=record.invoice.rec_name))


class InvoiceOptional(InvoiceDetailMixin, ModelSQL, ModelView):
    "AFIP Optional Field of an Invoice"
    __name__ = 'account.einvoice.ar.invoice.optional'

    code = fields.Char("Code", required=True,
        help="The Id of AFIP's table of optional fields "
        "(FEParamGetTiposOpcional), e.g. 2101 CBU, 27 transfer system.")
    value = fields.Char("Value", required=True)
    automatic = fields.Boolean("Automatic", readonly=True,
        help="Added when posting (FCE MiPyME); not copied with the "
        "invoice.")

    @classmethod
    def default_automatic(cls):
        return False

    def get_rec_name(self, name):
        return f'{self.code}: {self.value}'


class InvoiceBuyer(InvoiceDetailMixin, ModelSQL, ModelView):
    "AFIP Buyer of an Invoice"
    __name__ = 'account.einvoice.ar.invoice.buyer'

    party = fields.Many2One('party.party', "Party",
        help="Fills in the document; optional.")
    document_type = fields.Selection(
        afip.BUYER_DOCUMENT_TYPES, "Document Type", required=True)
    document_number = fields.Char("Document Number", required=True)
    percentage = fields.Numeric("Percentage", digits=(5, 2), required=True,
        domain=[('percentage', '>', 0), ('percentage', '<=', 100)],
        help="The buyer's share of the voucher; the shares add up to 100.")

    @classmethod
    def default_document_type(cls):
        return '80'

    @fields.depends('party')
    def on_change_party(self):
        if self.party:
            doc_type, doc_number = self.party.ar_document()
            if (doc_type, doc_number) != afip.WITHOUT_DOCUMENT:
                self.document_type = str(doc_type)
                self.document_number = str(doc_number)

    def get_rec_name(self, name):
        return f'{self.document_number} ({self.percentage} %)'


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    ar_activity = fields.Integer("AFIP Activity",
        states={'invisible': Eval('service') != SERVICE},
        help="The company's economic activity (FEParamGetActividades Id) "
        "sent with its vouchers (Actividades) when the invoice has none.")


def check_request_fields(invoice):
    "The refusal of the buyers or the associated period, or None"
    buyers = invoice.ar_buyers
    if buyers:
        total = sum((b.percentage or 0 for b in buyers), Decimal(0))
        if total != 100:
            return LocalMessage('account_einvoice_ar.msg_buyers_percentage',
                invoice=invoice.rec_name, total=f'{total:f}')
        for buyer in buyers:
            if (buyer.document_type in CUIT_DOCUMENTS
                    and not stdcuit.is_valid(buyer.document_number or '')):
                return LocalMessage('account_einvoice_ar.msg_buyer_document',
                    invoice=invoice.rec_name, number=buyer.document_number)
    start, end = invoice.ar_period_start, invoice.ar_period_end
    if start or end:
        if int(invoice.ar_voucher_type) not in afip.NOTES:
            return LocalMessage('account_einvoice_ar.msg_period_not_note',
                invoice=invoice.rec_name)
        if invoice.ar_associated_invoice:
            return LocalMessage(
                'account_einvoice_ar.msg_period_and_voucher',
                invoice=invoice.rec_name,
                original=invoice.ar_associated_invoice.rec_name)
        if not (start and end) or start > end or end > invoice.invoice_date:
            return LocalMessage('account_einvoice_ar.msg_period_invalid',
                invoice=invoice.rec_name,
                start=start.isoformat() if start else '-',
                end=end.isoformat() if end else '-',
                date=invoice.invoice_date.isoformat())
