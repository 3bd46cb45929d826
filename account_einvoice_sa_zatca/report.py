# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The printed ZATCA tax invoice: Arabic and English, with the QR code.

The labels are in both languages in ``tax_invoice.fodt`` (the report is
not translated: every reader gets both).  What ZATCA holds and Tryton does
not know (UUID, issue time, invoice counter, the totals and the VAT
breakdown per category as ZATCA computes them, the VAT total in SAR) is
read from the stored signed document, the cleared copy for a cleared
invoice; the rest comes from the invoice, in the same shape the document
was written from (:mod:`.facts`)."""
from decimal import Decimal
from types import SimpleNamespace

from trytond.i18n import gettext
from trytond.modules.account_einvoice import odf
from trytond.modules.account_einvoice.signing import xml_root
from trytond.modules.account_einvoice.signing_zatca import NS
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import without_check_access

from . import amounts
from .exceptions import ZatcaError
from .facts import ZatcaInvoice
from .invoice_data import CREDIT_NOTE, DEBIT_NOTE, STANDARD, PartyData

SERVICE = 'sa_zatca'
SAR = 'SAR'
#: (English, Arabic) title by document type; invoices by transaction
TITLES = {
    STANDARD: ("Tax Invoice", "فاتورة ضريبية"),
    None: ("Simplified Tax Invoice", "فاتورة ضريبية مبسطة"),
    CREDIT_NOTE: ("Credit Note", "إشعار دائن"),
    DEBIT_NOTE: ("Debit Note", "إشعار مدين"),
    }
#: (English, Arabic) name of each VAT category (UN/ECE 5305)
CATEGORY_NAMES = {
    'S': ("Standard rate", "النسبة الأساسية"),
    'Z': ("Zero rated", "خاضعة لنسبة الصفر"),
    'E': ("Exempt", "معفاة"),
    'O': ("Not subject to VAT", "غير خاضعة لضريبة القيمة المضافة"),
    }
#: side of the printed QR code
QR_SIZE = '3.5cm'


def money(value):
    return f'{value:,.2f}'


def number(value):
    "A quantity or price as written, without trailing zeros"
    return format(Decimal(value).normalize(), 'f')


def percent(value):
    return f'{number(value)} %'


def _zatca_submission(invoice):
    submissions = [s for s in invoice.einvoice_submissions
        if s.configuration.service == SERVICE]
    return max(submissions, key=lambda s: s.id) if submissions else None


def signed_document(submission):
    """The bytes of what ZATCA holds of the submission: its cleared copy
    if ZATCA returned one, else the signed document sent"""
    Document = Pool().get('account.einvoice.document')
    documents = Document.search([
            ('submission', '=', submission.id),
            ['OR', ('returned', '=', True), ('current', '=', True)],
            ], order=[('id', 'DESC')])
    for returned in [True, False]:
        for document in documents:
            if bool(document.returned) == returned:
                return document.data
    return None


def _text(element, path):
    found = element.xpath(f'{path}/text()', namespaces=NS)
    return found[0].strip() if found else None


def tax_breakdown(root):
    """The VAT breakdown (BG-23) of the document: the TaxSubtotals of its
    tax total in the document currency, in their order"""
    breakdown = []
    for subtotal in root.xpath(
            'cac:TaxTotal[cac:TaxSubtotal]/cac:TaxSubtotal', namespaces=NS):
        category = 'cac:TaxCategory/cbc:'
        breakdown.append(SimpleNamespace(
                category=_text(subtotal, category + 'ID'),
                rate=_text(subtotal, category + 'Percent'),
                taxable=_text(subtotal, 'cbc:TaxableAmount'),
                tax=_text(subtotal, 'cbc:TaxAmount'),
                exemption_code=_text(
                    subtotal, category + 'TaxExemptionReasonCode'),
                exemption_reason=_text(
                    subtotal, category + 'TaxExemptionReason'),
                ))
    return breakdown


def document_values(data):
    "The values the printed invoice takes from the signed document"
    root = xml_root(data)

    def text(path):
        return _text(root, path)

    monetary = 'cac:LegalMonetaryTotal/cbc:'
    return SimpleNamespace(
        uuid=text('cbc:UUID'),
        issue_date=text('cbc:IssueDate'),
        issue_time=text('cbc:IssueTime'),
        icv=text("cac:AdditionalDocumentReference[cbc:ID='ICV']/cbc:UUID"),
        currency=text('cbc:DocumentCurrencyCode'),
        line_total=text(monetary + 'LineExtensionAmount'),
        allowance_total=text(monetary + 'AllowanceTotalAmount'),
        tax_exclusive=text(monetary + 'TaxExclusiveAmount'),
        tax_inclusive=text(monetary + 'TaxInclusiveAmount'),
        payable=text(monetary + 'PayableAmount'),
        # the tax total with the breakdown is in the document currency;
        # the one in SAR stands alone (the same when the currency is SAR)
        tax_total=text('cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount'),
        tax_total_sar=text(f"cac:TaxTotal/cbc:TaxAmount[@currencyID='{SAR}']"),
        breakdown=tax_breakdown(root),
        )


def _amount(text):
    return money(Decimal(text)) if text else ''


def _breakdown_row(subtotal):
    name = CATEGORY_NAMES.get(subtotal.category, (subtotal.category, ''))
    return SimpleNamespace(
        category=subtotal.category or '',
        name_en=name[0] or '',
        name_ar=name[1],
        rate=percent(subtotal.rate) if subtotal.rate else '',
        taxable=_amount(subtotal.taxable),
        tax=_amount(subtotal.tax),
        exemption_code=subtotal.exemption_code or '',
        exemption_reason=subtotal.exemption_reason or '',
        )


def _address(party):
    "The printed national address of a PartyData"
    return SimpleNamespace(
        name=party.name or '',
        vat=party.vat or '',
        other_id=' '.join(party.other_id) if party.other_id else '',
        building=party.building or '',
        street=', '.join(filter(None, [party.street,
                    party.additional_street])),
        district=party.district or '',
        city=party.city or '',
        postal_code=party.postal_code or '',
        additional_number=party.additional_number or '',
        country=party.country or '',
        )


def tax_invoice(invoice):
    """What the ZATCA tax invoice of invoice prints; ZatcaError when it
    has no signed ZATCA document"""
    submission = _zatca_submission(invoice)
    if submission is None:
        raise ZatcaError(gettext(
                'account_einvoice_sa_zatca.msg_print_not_zatca',
                invoice=invoice.rec_name))
    with without_check_access():
        data = signed_document(submission)
    if data is None or not invoice.einvoice_qr:
        raise ZatcaError(gettext(
                'account_einvoice_sa_zatca.msg_print_not_signed',
                invoice=invoice.rec_name))
    held = document_values(data)
    facts = ZatcaInvoice(invoice, submission.configuration).data
    if facts.type_code in {CREDIT_NOTE, DEBIT_NOTE}:
        title = TITLES[facts.type_code]
    else:
        title = TITLES[STANDARD if facts.transaction == STANDARD else None]
    currency = held.currency or facts.currency
    return SimpleNamespace(
        title_en=title[0],
        title_ar=title[1],
        number=facts.number,
        uuid=held.uuid,
        icv=held.icv,
        issue_date=held.issue_date,
        issue_time=held.issue_time,
        supply_date=(facts.supply_date.isoformat()
            if facts.supply_date else ''),
        note=facts.type_code in {CREDIT_NOTE, DEBIT_NOTE},
        references=', '.join(facts.billing_references),
        reason=facts.reason or '',
        currency=currency,
        foreign=currency != SAR,
        seller=_address(facts.seller),
        buyer=_address(facts.buyer or PartyData(name='', country=None)),
        lines=[SimpleNamespace(
                name=line.name,
                quantity=number(line.quantity),
                price=number(line.price),
                amount=money(line.amount),
                rate=percent(line.rate),
                tax=money(amounts.line_tax(line)),
                total=money(amounts.line_rounding(line)),
                ) for line in facts.lines],
        allowances=[SimpleNamespace(
                reason=allowance.reason,
                rate=percent(allowance.rate),
                amount=money(allowance.amount),
                ) for allowance in facts.allowances],
        line_total=_amount(held.line_total),
        allowance_total=(_amount(held.allowance_total)
            if facts.allowances else ''),
        tax_exclusive=_amount(held.tax_exclusive),
        tax_total=_amount(held.tax_total),
        breakdown=[_breakdown_row(s) for s in held.breakdown],
        tax_inclusive=_amount(held.tax_inclusive),
        tax_total_sar=_amount(held.tax_total_sar),
        qr_image=(odf.qr_png(invoice.einvoice_qr), 'image/png',
            QR_SIZE, QR_SIZE, 'zatca_qr'),
        )


class TaxInvoiceReport(Report):
    __name__ = 'account.invoice.zatca'

    @classmethod
    def execute(cls, ids, data):
        "Refuse invoices ZATCA must clear first, as the invoice report does"
        Invoice = Pool().get('account.invoice')
        Invoice.check_shareable(Invoice.browse(list(map(int, ids))))
        return super().execute(ids, data)

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['zatca'] = tax_invoice(context['record'])
        return context
