# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The ZATCA UBL 2.1 invoice of an InvoiceData, and its signature.

:func:`build` writes the unsigned invoice (no ``ext:UBLExtensions``, no
QR) laid out as the ZATCA SDK samples are; :func:`sign` signs it
(:mod:`trytond.modules.account_einvoice.signing_zatca`) and adds the QR.
The element order follows ``UBL-Invoice-2.1.xsd``."""
from collections import namedtuple
from decimal import Decimal

from lxml import etree

from trytond.modules.account_einvoice.exceptions import SignatureError
from trytond.modules.account_einvoice.signing import xml_root
from trytond.modules.account_einvoice.signing_zatca import (
    CAC, CBC, DECLARATION, EXT, zatca_invoice_hash, zatca_sign)

from . import amounts, qr
from .invoice_data import CREDIT_NOTE, DEBIT_NOTE, SIMPLIFIED

INVOICE = 'urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'
NSMAP = {None: INVOICE, 'cac': CAC, 'cbc': CBC, 'ext': EXT}
SIGNATURE_ID = 'urn:oasis:names:specification:ubl:signature:Invoice'
SIGNATURE_METHOD = 'urn:oasis:names:specification:ubl:dsig:enveloped:xades'
SAR = 'SAR'
INDENT = '    '

Signed = namedtuple('Signed', ['xml', 'invoice_hash', 'signature', 'qr'])


def _cac(parent, name):
    return etree.SubElement(parent, f'{{{CAC}}}{name}')


def _cbc(parent, tag, text, **attributes):
    "A cbc element, left out when text is None or empty"
    if text is None or text == '':
        return None
    element = etree.SubElement(parent, f'{{{CBC}}}{tag}', attributes)
    element.text = str(text)
    return element


def amount(value):
    "An amount as written: 2 decimals"
    return f'{amounts.quantize(value):f}'


def percent(value):
    return f'{amounts.quantize(value):f}'


def quantity(value):
    "A quantity as given, never in exponent notation"
    return f'{Decimal(value):f}'


def price(value):
    "A unit price as given, with at least 2 decimals"
    value = Decimal(value)
    if value.as_tuple().exponent > -2:
        value = amounts.quantize(value)
    return f'{value:f}'


def _money(parent, name, value, currency):
    return _cbc(parent, name, amount(value), currencyID=currency)


def _party(parent, party):
    if party is None:
        return
    element = _cac(parent, 'Party')
    if party.other_id and party.other_id[1]:
        scheme, value = party.other_id
        _cbc(_cac(element, 'PartyIdentification'), 'ID', value,
            schemeID=scheme)
    address = _cac(element, 'PostalAddress')
    _cbc(address, 'StreetName', party.street)
    _cbc(address, 'AdditionalStreetName', party.additional_street)
    _cbc(address, 'BuildingNumber', party.building)
    _cbc(address, 'PlotIdentification', party.additional_number)
    _cbc(address, 'CitySubdivisionName', party.district)
    _cbc(address, 'CityName', party.city)
    _cbc(address, 'PostalZone', party.postal_code)
    _cbc(address, 'CountrySubentity', party.subdivision)
    if party.country:
        _cbc(_cac(address, 'Country'), 'IdentificationCode', party.country)
    if party.vat:
        tax_scheme = _cac(element, 'PartyTaxScheme')
        _cbc(tax_scheme, 'CompanyID', party.vat)
        _cbc(_cac(tax_scheme, 'TaxScheme'), 'ID', 'VAT')
    if party.name:
        _cbc(_cac(element, 'PartyLegalEntity'), 'RegistrationName',
            party.name)


def _tax_category(parent, name, item, exemption=True):
    "A TaxCategory (UN/ECE 5305 code, percent, exemption reason)"
    category = _cac(parent, name)
    _cbc(category, 'ID', item.category, schemeID='UN/ECE 5305',
        schemeAgencyID='6')
    _cbc(category, 'Percent', percent(item.rate))
    if exemption:
        _cbc(category, 'TaxExemptionReasonCode', item.exemption_code)
        _cbc(category, 'TaxExemptionReason', item.exemption_reason)
    _cbc(_cac(category, 'TaxScheme'), 'ID', 'VAT', schemeID='UN/ECE 5153',
        schemeAgencyID='6')
    return category


def _header(root, data):
    _cbc(root, 'ProfileID', 'reporting:1.0')
    _cbc(root, 'ID', data.number)
    _cbc(root, 'UUID', data.uuid)
    _cbc(root, 'IssueDate', data.issue_date.isoformat())
    _cbc(root, 'IssueTime', data.issue_time.strftime('%H:%M:%S'))
    _cbc(root, 'InvoiceTypeCode', data.type_code, name=data.transaction)
    _cbc(root, 'Note', data.note)
    _cbc(root, 'DocumentCurrencyCode', data.currency)
    _cbc(root, 'TaxCurrencyCode', SAR)
    for reference in data.billing_references:
        _cbc(_cac(_cac(root, 'BillingReference'), 'InvoiceDocumentReference'),
            'ID', reference)
    if data.icv is not None:
        icv = _cac(root, 'AdditionalDocumentReference')
        _cbc(icv, 'ID', 'ICV')
        _cbc(icv, 'UUID', str(data.icv))
    if data.pih:
        _embedded(root, 'PIH', data.pih)
    signature = _cac(root, 'Signature')
    _cbc(signature, 'ID', SIGNATURE_ID)
    _cbc(signature, 'SignatureMethod', SIGNATURE_METHOD)


def _embedded(parent, identifier, text):
    reference = _cac(parent, 'AdditionalDocumentReference')
    _cbc(reference, 'ID', identifier)
    _cbc(_cac(reference, 'Attachment'), 'EmbeddedDocumentBinaryObject', text,
        mimeCode='text/plain')
    return reference


def _parties(root, data):
    _party(_cac(root, 'AccountingSupplierParty'), data.seller)
    _party(_cac(root, 'AccountingCustomerParty'), data.buyer)
    if data.supply_date:
        delivery = _cac(root, 'Delivery')
        _cbc(delivery, 'ActualDeliveryDate', data.supply_date.isoformat())
        if data.supply_end_date:
            _cbc(delivery, 'LatestDeliveryDate',
                data.supply_end_date.isoformat())
    means = _cac(root, 'PaymentMeans')
    _cbc(means, 'PaymentMeansCode', data.payment_means)
    if data.type_code in {CREDIT_NOTE, DEBIT_NOTE}:
        _cbc(means, 'InstructionNote', data.reason)


def _allowances(root, data):
    for allowance in data.allowances:
        element = _cac(root, 'AllowanceCharge')
        _cbc(element, 'ChargeIndicator', 'false')
        _cbc(element, 'AllowanceChargeReason', allowance.reason)
        _money(element, 'Amount', allowance.amount, data.currency)
        _tax_category(element, 'TaxCategory', allowance)


def _totals(root, data, totals):
    # BR-KSA-EN16931-09: the tax total in SAR (BT-111) first, without
    # subtotals; the QR's tag 5 is this one.
    _money(_cac(root, 'TaxTotal'), 'TaxAmount', totals.tax_total_sar, SAR)
    tax_total = _cac(root, 'TaxTotal')
    _money(tax_total, 'TaxAmount', totals.tax_total, data.currency)
    for category in totals.categories:
        subtotal = _cac(tax_total, 'TaxSubtotal')
        _money(subtotal, 'TaxableAmount', category.base, data.currency)
        _money(subtotal, 'TaxAmount', category.tax, data.currency)
        _tax_category(subtotal, 'TaxCategory', category)
    monetary = _cac(root, 'LegalMonetaryTotal')
    _money(monetary, 'LineExtensionAmount', totals.line_total, data.currency)
    _money(monetary, 'TaxExclusiveAmount', totals.tax_exclusive,
        data.currency)
    _money(monetary, 'TaxInclusiveAmount', totals.tax_inclusive,
        data.currency)
    _money(monetary, 'AllowanceTotalAmount', totals.allowance_total,
        data.currency)
    _money(monetary, 'PrepaidAmount', 0, data.currency)
    _money(monetary, 'PayableAmount', totals.payable, data.currency)


def _lines(root, data):
    for line in data.lines:
        element = _cac(root, 'InvoiceLine')
        _cbc(element, 'ID', line.id)
        _cbc(element, 'InvoicedQuantity', quantity(line.quantity),
            unitCode=line.unit_code)
        _money(element, 'LineExtensionAmount', line.amount, data.currency)
        tax_total = _cac(element, 'TaxTotal')
        _money(tax_total, 'TaxAmount', amounts.line_tax(line), data.currency)
        _money(tax_total, 'RoundingAmount', amounts.line_rounding(line),
            data.currency)
        item = _cac(element, 'Item')
        _cbc(item, 'Name', line.name)
        _tax_category(item, 'ClassifiedTaxCategory', line, exemption=False)
        _cbc(_cac(element, 'Price'), 'PriceAmount', price(line.price),
            currencyID=data.currency)


def build(data, totals=None):
    """The unsigned UBL invoice (lxml root) of data (InvoiceData); totals
    (amounts.Totals) when the caller already has them"""
    if totals is None:
        totals = amounts.totals(data)
    root = etree.Element(f'{{{INVOICE}}}Invoice', nsmap=NSMAP)
    _header(root, data)
    _parties(root, data)
    _allowances(root, data)
    _totals(root, data, totals)
    _lines(root, data)
    etree.indent(root, space=INDENT)
    return root


def is_simplified(root):
    code = root.find(f'{{{CBC}}}InvoiceTypeCode')
    return code is not None and code.get('name', '')[:2] == SIMPLIFIED[:2]


def add_qr(root, text):
    """Put the QR reference (replacing any) before cac:Signature, i.e.
    right after PIH.  It has no tail: the whitespace the invoice hash
    covers stays as it was."""
    for old in root.xpath(
            "cac:AdditionalDocumentReference[cbc:ID='QR']",
            namespaces={'cac': CAC, 'cbc': CBC}):
        previous = old.getprevious()
        if old.tail and previous is not None:
            previous.tail = (previous.tail or '') + old.tail
        root.remove(old)
    reference = _embedded(root, 'QR', text)
    root.remove(reference)
    etree.indent(reference, space=INDENT, level=1)
    reference.tail = None
    signature = root.find(f'{{{CAC}}}Signature')
    if signature is not None:
        signature.addprevious(reference)
    else:
        root.append(reference)
    return reference


def sign(root, key, certificate, signing_time=None):
    """Sign the invoice (root unchanged) and add its QR.

    Return Signed(xml, invoice_hash, signature, qr): the bytes to send,
    the invoice hash and the signature (base64) and the QR text (base64
    TLV).  The QR is outside what the hash covers."""
    signed = zatca_sign(root, key, certificate, signing_time)
    document = xml_root(signed.xml)
    text = qr.invoice_qr(
        document, certificate, signed.signature, is_simplified(document))
    add_qr(document, text)
    xml = DECLARATION + etree.tostring(document, encoding='UTF-8')
    if zatca_invoice_hash(xml) != signed.invoice_hash:
        raise SignatureError('adding the QR changed the invoice hash')
    return Signed(xml, signed.invoice_hash, signed.signature, text)
