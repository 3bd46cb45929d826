"""The invoice checks of the ``zatca`` sandbox service (no chain: the
service checks ICV/PIH continuity, see :mod:`tests.sandbox.zatca`).

:func:`check_submission` returns a :class:`Checked`: the Invoice read (or
None), the raw XML and the ``errorMessages`` / ``warningMessages`` items
(``{"type", "code", "category", "message", "status"}``).  Codes:

================================ ==========================================
code                             failure
================================ ==========================================
invalid-request                  body not ``{invoiceHash, uuid, invoice}``
                                 texts, or invoice not base64
XSD_ZATCA_INVALID                not well-formed / DOCTYPE / too big or deep
                                 / not UBL 2.1 (``UBL-Invoice-2.1.xsd``)
invalid-invoice-hash             invoiceHash is not the XML's invoice hash
invalid-uuid                     uuid is not ``cbc:UUID``
invalid-signature                signature missing, its digest not the
                                 hash, or ECDSA does not verify
certificate-hashing              xades:CertDigest wrong
signed-properties-hashing        SignedProperties digest wrong
invalid-signing-certificate      embedded certificate is not the caller's
BR-KSA-39                        seller VAT is not the certificate's UID
BR-KSA-06 / BR-KSA-05            InvoiceTypeCode name / code
invalid-invoice-type             type not allowed on this endpoint or by the
                                 certificate's title
BR-KSA-EN16931-01                ProfileID is not ``reporting:1.0``
BR-KSA-33 / BR-KSA-26            ICV / PIH missing or malformed
BR-KSA-27                        simplified invoice without QR
QRCODE_INVALID                   QR unreadable or a tag (1, 2, 4-9) differs
invoiceTimeStamp_QRCODE_INVALID  QR tag 3 is not IssueDate T IssueTime
BR-CO-10, BR-CO-13, BR-CO-14,    totals (EN 16931)
BR-CO-15, BR-S-09
BR-KSA-51                        line RoundingAmount != amount + tax
BR-53                            no TaxTotal in SAR (tax currency) when the
                                 document currency is not SAR
BR-KSA-56 / BR-KSA-17            credit/debit note without billing
                                 reference / reason (InstructionNote)
SANDBOX-REFUSED                  option ``refuse_uuids`` names the uuid
BR-KSA-98 (warning)              simplified invoice over 24 h after its
                                 issue time (sandbox clock)
SANDBOX-WARNING (warning)        option ``force_warning``
================================ ==========================================
"""
import base64
import binascii
import datetime
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .core import XMLError, load_schema
from .zatca_document import (
    NS, b64_hex_sha256, parse_invoice, read_invoice, read_qr,
    signed_properties_digest)

__all__ = ['Checked', 'check_submission', 'item', 'UBL_XSD']

UBL_XSD = 'sa_zatca/UBL2.1/maindoc/UBL-Invoice-2.1.xsd'
TYPE_CODES = ('388', '381', '383')
TYPE_NAME = re.compile(r'^0[12][01]{5}$')
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$')
CENT = Decimal('0.01')


def item(code, message, category='KSA', type_='ERROR'):
    "An errorMessages / warningMessages item"
    return {'type': type_, 'code': code, 'category': category,
        'message': message, 'status': type_}


@dataclass
class Checked:
    invoice: object = None
    xml: bytes = None
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def error(self, code, message, category='KSA'):
        self.errors.append(item(code, message, category))

    def warning(self, code, message, category='KSA'):
        self.warnings.append(item(code, message, category, 'WARNING'))


def check_submission(body, certificate, credential, options, now,
        allowed=None):
    """Check one ``{invoiceHash, uuid, invoice}`` body sent with
    credential (its certificate: the cryptography object); allowed: the
    document kinds this endpoint takes (None: any); now: epoch seconds."""
    checked = Checked()
    given = body if isinstance(body, dict) else {}
    if not all(isinstance(given.get(k), str) and given.get(k)
            for k in ('invoiceHash', 'uuid', 'invoice')):
        checked.error('invalid-request', 'the body must hold invoiceHash, '
            'uuid and invoice (texts)', 'REQUEST')
        return checked
    try:
        checked.xml = base64.b64decode(given['invoice'], validate=True)
    except (binascii.Error, ValueError):
        checked.error('invalid-request', 'invoice is not base64', 'REQUEST')
        return checked
    try:
        root = parse_invoice(checked.xml)
    except XMLError as exception:
        checked.error('XSD_ZATCA_INVALID', str(exception), 'XSD validation')
        return checked
    problem = load_schema(UBL_XSD).validate(root)
    if problem:
        checked.error('XSD_ZATCA_INVALID', problem, 'XSD validation')
        return checked
    invoice = checked.invoice = read_invoice(root)
    if given['invoiceHash'] != invoice.hash:
        checked.error('invalid-invoice-hash', 'invoiceHash %s is not the '
            'hash of the invoice' % given['invoiceHash'], 'SIGNATURE')
    if given['uuid'] != invoice.uuid:
        checked.error('invalid-uuid', 'uuid %s is not the invoice UUID %s'
            % (given['uuid'], invoice.uuid), 'KSA')
    _signature(checked, invoice, certificate)
    _identity(checked, invoice, credential, allowed)
    _qr(checked, invoice, certificate)
    _totals(checked, invoice)
    _notes(checked, invoice)
    if invoice.uuid in (options.get('refuse_uuids') or []):
        checked.error('SANDBOX-REFUSED', 'refused by the sandbox (option '
            'refuse_uuids)', 'SANDBOX')
    _late(checked, invoice, options, now)
    if options.get('force_warning'):
        checked.warning('SANDBOX-WARNING', str(options['force_warning']),
            'SANDBOX')
    return checked


def _signature(checked, invoice, certificate):
    if invoice.signature_value is None or not invoice.certificate:
        checked.error('invalid-signature', 'the invoice is not signed',
            'SIGNATURE')
        return
    try:
        embedded = x509.load_der_x509_certificate(
            base64.b64decode(invoice.certificate))
    except ValueError:
        checked.error('invalid-signature', 'the embedded certificate is '
            'unreadable', 'SIGNATURE')
        return
    if embedded != certificate:
        checked.error('invalid-signing-certificate', 'the invoice is signed '
            'with a certificate that is not the caller\'s', 'SIGNATURE')
    signature = invoice.extra['signature']
    digest = signature.find('.//xades:CertDigest/ds:DigestValue', NS)
    if digest is None or (digest.text or '').strip() != b64_hex_sha256(
            invoice.certificate.encode()):
        checked.error('certificate-hashing', 'the certificate digest does '
            'not match', 'SIGNATURE')
    properties = signature.find('.//xades:SignedProperties', NS)
    reference = signature.find('ds:SignedInfo/ds:Reference[@URI='
        '"#xadesSignedProperties"]/ds:DigestValue', NS)
    if properties is None or reference is None or (
            (reference.text or '').strip()
            != signed_properties_digest(properties)):
        checked.error('signed-properties-hashing', 'the signed properties '
            'digest does not match', 'SIGNATURE')
    if invoice.signed_hash != invoice.hash:
        checked.error('invalid-signature', 'the signed digest is not the '
            'invoice hash', 'SIGNATURE')
        return
    try:
        embedded.public_key().verify(
            base64.b64decode(invoice.signature_value),
            base64.b64decode(invoice.hash), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        checked.error('invalid-signature', 'the signature does not verify',
            'SIGNATURE')


def _identity(checked, invoice, credential, allowed):
    if invoice.seller_vat != credential['vat']:
        checked.error('BR-KSA-39', 'seller VAT %s is not the certificate\'s '
            '%s' % (invoice.seller_vat, credential['vat']))
    if not TYPE_NAME.match(invoice.type_name or ''):
        checked.error('BR-KSA-06', 'InvoiceTypeCode name %r is not a '
            'transaction code 0100000/0200000' % invoice.type_name)
        return
    if invoice.type_code not in TYPE_CODES:
        checked.error('BR-KSA-05', 'InvoiceTypeCode %r is not 388, 381 or '
            '383' % invoice.type_code)
        return
    if allowed is not None and invoice.kind not in allowed:
        checked.error('invalid-invoice-type', '%s not accepted here'
            % invoice.kind)
    if invoice.text('cbc:ProfileID') != 'reporting:1.0':
        checked.error('BR-KSA-EN16931-01', 'ProfileID must be reporting:1.0')
    if not UUID_RE.match(invoice.uuid or ''):
        checked.error('BR-KSA-03', 'UUID %r is not a UUID' % invoice.uuid)
    if not (invoice.icv or '').isdigit():
        checked.error('BR-KSA-33', 'ICV %r is not a counter' % invoice.icv)
    try:
        if len(base64.b64decode(invoice.pih or '', validate=True)) not in (
                32, 64):
            raise ValueError
    except (binascii.Error, ValueError):
        checked.error('BR-KSA-26', 'PIH %r is not a base64 SHA-256'
            % invoice.pih)


def _public_key(certificate):
    return certificate.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _qr(checked, invoice, certificate):
    if not invoice.qr:
        if invoice.simplified:
            checked.error('BR-KSA-27', 'a simplified invoice must carry '
                'its QR code')
        return
    try:
        tags = read_qr(invoice.qr)
    except (ValueError, binascii.Error) as exception:
        checked.error('QRCODE_INVALID', 'QR unreadable: %s' % exception,
            'QR')
        return
    stamp = '%sT%s' % (invoice.issue_date, invoice.issue_time)
    if tags.get(3) != stamp.encode():
        checked.error('invoiceTimeStamp_QRCODE_INVALID', 'QR tag 3 is not '
            '%s' % stamp, 'QR')
    expected = {
        1: invoice.seller_name, 2: invoice.seller_vat,
        4: invoice.text('cac:LegalMonetaryTotal/cbc:PayableAmount'),
        5: invoice.text('cac:TaxTotal/cbc:TaxAmount'),
        6: invoice.hash, 7: invoice.signature_value,
        8: _public_key(certificate)}
    if invoice.simplified:
        expected[9] = certificate.signature
    wrong = [str(tag) for tag, value in expected.items()
        if tags.get(tag) != (
            value.encode() if isinstance(value, str) else value)]
    if wrong:
        checked.error('QRCODE_INVALID', 'QR tags %s do not match the '
            'invoice' % ', '.join(wrong), 'QR')


def _amount(element, path):
    found = element.find(path, NS)
    if found is None or found.text is None:
        return Decimal(0)
    try:
        return Decimal(found.text.strip())
    except InvalidOperation:
        return Decimal('NaN')


def _totals(checked, invoice):
    root = invoice.root
    total = 'cac:LegalMonetaryTotal/cbc:'
    lines = root.findall('cac:InvoiceLine', NS)
    line_total = sum((_amount(line, 'cbc:LineExtensionAmount')
            for line in lines), Decimal(0))
    if line_total != _amount(root, total + 'LineExtensionAmount'):
        checked.error('BR-CO-10', 'LineExtensionAmount is not the sum of '
            'the lines (%s)' % line_total, 'EN')
    exclusive = (_amount(root, total + 'LineExtensionAmount')
        - _amount(root, total + 'AllowanceTotalAmount')
        + _amount(root, total + 'ChargeTotalAmount'))
    if exclusive != _amount(root, total + 'TaxExclusiveAmount'):
        checked.error('BR-CO-13', 'TaxExclusiveAmount is not the lines '
            'minus allowances plus charges (%s)' % exclusive, 'EN')
    document_tax = None
    tax_currency = invoice.tax_currency or 'SAR'
    in_tax_currency = False
    for tax_total in root.findall('cac:TaxTotal', NS):
        amount = _amount(tax_total, 'cbc:TaxAmount')
        currency = tax_total.find('cbc:TaxAmount', NS).get('currencyID')
        subtotals = tax_total.findall('cac:TaxSubtotal', NS)
        if currency == tax_currency and not subtotals:
            in_tax_currency = True
        if subtotals:
            document_tax = amount
            parts = sum((_amount(s, 'cbc:TaxAmount') for s in subtotals),
                Decimal(0))
            if parts != amount:
                checked.error('BR-CO-14', 'TaxAmount %s is not the sum of '
                    'the categories (%s)' % (amount, parts), 'EN')
        for subtotal in subtotals:
            if subtotal.findtext('cac:TaxCategory/cbc:ID',
                    namespaces=NS, default='').strip() != 'S':
                continue
            expected = (_amount(subtotal, 'cbc:TaxableAmount')
                * _amount(subtotal, 'cac:TaxCategory/cbc:Percent')
                / 100).quantize(CENT, ROUND_HALF_UP)
            if expected != _amount(subtotal, 'cbc:TaxAmount'):
                checked.error('BR-S-09', 'category S tax must be %s'
                    % expected, 'EN')
    if document_tax is None:
        document_tax = _amount(root, 'cac:TaxTotal/cbc:TaxAmount')
    inclusive = _amount(root, total + 'TaxExclusiveAmount') + document_tax
    if inclusive != _amount(root, total + 'TaxInclusiveAmount'):
        checked.error('BR-CO-15', 'TaxInclusiveAmount is not the exclusive '
            'amount plus the tax (%s)' % inclusive, 'EN')
    if invoice.currency != 'SAR' and not in_tax_currency:
        checked.error('BR-53', 'a TaxTotal in SAR is required when the '
            'invoice currency is not SAR', 'EN')
    for line in lines:
        rounding = line.find('cac:TaxTotal/cbc:RoundingAmount', NS)
        if rounding is None:
            continue
        expected = (_amount(line, 'cbc:LineExtensionAmount')
            + _amount(line, 'cac:TaxTotal/cbc:TaxAmount'))
        if _amount(line, 'cac:TaxTotal/cbc:RoundingAmount') != expected:
            checked.error('BR-KSA-51', 'line %s: RoundingAmount must be %s'
                % (line.findtext('cbc:ID', namespaces=NS), expected))


def _notes(checked, invoice):
    if invoice.type_code not in ('381', '383'):
        return
    if not invoice.text('cac:BillingReference/cac:InvoiceDocumentReference/'
            'cbc:ID'):
        checked.error('BR-KSA-56', 'a credit or debit note must reference '
            'the invoice it corrects (BillingReference)')
    if not invoice.text('cac:PaymentMeans/cbc:InstructionNote'):
        checked.error('BR-KSA-17', 'a credit or debit note must give its '
            'reason (InstructionNote)')


def issued_at(invoice, zone_hours):
    """Epoch seconds of IssueDate + IssueTime (no offset: UTC+zone_hours,
    Saudi time by default), or None"""
    try:
        moment = datetime.datetime.fromisoformat('%sT%s' % (
                invoice.issue_date, (invoice.issue_time or '').replace(
                    'Z', '+00:00')))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone(
                datetime.timedelta(hours=float(zone_hours))))
    return moment.timestamp()


def _late(checked, invoice, options, now):
    if not invoice.simplified:
        return
    issued = issued_at(invoice, options.get('issue_time_zone_hours', 3))
    if issued is not None and now - issued > 24 * 3600:
        checked.warning('BR-KSA-98', 'simplified invoice reported more than '
            '24 hours after its issue time')
