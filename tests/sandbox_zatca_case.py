"""Base class and builders of the tests of the ZATCA sandbox service
(tests/test_sandbox_zatca.py).

The invoices are the ZATCA SDK samples changed (uuid, ICV, PIH, seller
VAT, issue time, spoilt parts) and signed with the client's signer for a
key whose certificate the sandbox issued.
"""
import base64
import datetime
import os
import unittest
import uuid
from collections import namedtuple

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from tests import tools
from tests.sandbox import Sandbox
from tests.sandbox.zatca import issue_production
from tests.sandbox.zatca_onboarding import build_csr, token_certificate

SERVICE = 'zatca'
SAMPLES = os.path.join(tools.SCHEMAS, 'sa_zatca', 'samples')
VAT = '300000000000003'
OTHER_VAT = '311111111111113'
FIRST_PIH = ('NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MW'
    'I0NjcyOWQ3M2EyN2ZiNTdlOQ==')
UBL = 'urn:oasis:names:specification:ubl:schema:xsd:'
NS = {'cac': UBL + 'CommonAggregateComponents-2',
    'cbc': UBL + 'CommonBasicComponents-2',
    'ds': 'http://www.w3.org/2000/09/xmldsig#'}
SAUDI = datetime.timezone(datetime.timedelta(hours=3))
#: document kind -> (sample, transaction code name)
KINDS = {
    'simplified-388': ('Simplified_Invoice.xml', '0200000'),
    'simplified-381': ('Simplified_Credit_Note.xml', '0200000'),
    'simplified-383': ('Standard_Debit_Note.xml', '0200000'),
    'standard-388': ('Standard_Invoice.xml', '0100000'),
    'standard-381': ('Standard_Credit_Note.xml', '0100000'),
    'standard-383': ('Standard_Debit_Note.xml', '0100000'),
    }

Unit = namedtuple('Unit', ['token', 'secret', 'key', 'certificate', 'vat'])
Document = namedtuple('Document', ['xml', 'hash', 'uuid'])


def zatca_sign(*args):
    from trytond.modules.account_einvoice.signing_zatca import zatca_sign
    return zatca_sign(*args)


def b64(data):
    return base64.b64encode(data).decode()


def tlv(tags):
    data = b''
    for tag, value in sorted(tags.items()):
        value = value.encode() if isinstance(value, str) else value
        data += bytes([tag, len(value)]) + value
    return b64(data)


def untlv(text):
    data, tags, offset = base64.b64decode(text), {}, 0
    while offset < len(data):
        tag, length = data[offset], data[offset + 1]
        tags[tag] = data[offset + 2:offset + 2 + length]
        offset += 2 + length
    return tags


def set_text(root, path, value):
    root.find(path, NS).text = value


def qr_element(root):
    return root.xpath("cac:AdditionalDocumentReference[cbc:ID='QR']/"
        "cac:Attachment/cbc:EmbeddedDocumentBinaryObject", namespaces=NS)[0]


def qr_tags(root, certificate, simplified):
    "The QR a client writes for the signed root"
    def text(path):
        return root.findtext(path, namespaces=NS).strip()
    party = 'cac:AccountingSupplierParty/cac:Party/'
    signature = './/ds:Signature/'
    tags = {1: text(party + 'cac:PartyLegalEntity/cbc:RegistrationName'),
        2: text(party + 'cac:PartyTaxScheme/cbc:CompanyID'),
        3: text('cbc:IssueDate') + 'T' + text('cbc:IssueTime'),
        4: text('cac:LegalMonetaryTotal/cbc:PayableAmount'),
        5: text('cac:TaxTotal/cbc:TaxAmount'),
        6: text(signature + 'ds:SignedInfo/ds:Reference/ds:DigestValue'),
        7: text(signature + 'ds:SignatureValue'),
        8: certificate.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo)}
    if simplified:
        tags[9] = certificate.signature
    return tags


class ZatcaSandboxCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox([SERVICE]).start()
        cls.session = cls.sb.session(None)
        cls.session.headers['Accept-Version'] = 'V2'

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()

    # -- helpers --
    def url(self, path, portal='developer-portal'):
        return self.sb.open_endpoint('/e-invoicing/%s/%s' % (portal, path))

    def post(self, path, body, unit=None, method='POST', portal=None,
            **kwargs):
        kwargs.setdefault('timeout', 10)
        if unit is not None:
            kwargs['auth'] = (unit.token, unit.secret)
        return self.session.request(method, self.url(path,
                portal or 'developer-portal'), json=body, **kwargs)

    def onboard_compliance(self, title='1100', vat=VAT, serial_name=None):
        pem, key = build_csr(vat=vat, title=title, serial_name=serial_name)
        response = self.post('compliance', {'csr': b64(pem)},
            headers={'OTP': '123345'})
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        unit = Unit(answer['binarySecurityToken'], answer['secret'], key,
            token_certificate(answer['binarySecurityToken']), vat)
        return unit, answer['requestID']

    def production_unit(self, vat=VAT, serial_name=None):
        pem, key = build_csr(vat=vat, serial_name=serial_name)
        token, secret = issue_production(self.sb, pem)
        return Unit(token, secret, key, token_certificate(token), vat)

    def make(self, unit, kind='simplified-388', icv=1, pih=FIRST_PIH,
            edit=None, qr_edit=None, vat=None, issued=None, signer=None,
            uid=None):
        "A signed Document of kind built from its SDK sample"
        sample, name = KINDS[kind]
        with open(os.path.join(SAMPLES, sample), 'rb') as file:
            root = etree.fromstring(file.read())
        uid = uid or str(uuid.uuid4())
        issued = issued or datetime.datetime.now(SAUDI)
        set_text(root, 'cbc:UUID', uid)
        root.find('cbc:InvoiceTypeCode', NS).set('name', name)
        set_text(root, 'cbc:IssueDate', issued.strftime('%Y-%m-%d'))
        set_text(root, 'cbc:IssueTime', issued.strftime('%H:%M:%S'))
        set_text(root, "cac:AdditionalDocumentReference[cbc:ID='ICV']/"
            "cbc:UUID", str(icv))
        set_text(root, "cac:AdditionalDocumentReference[cbc:ID='PIH']/"
            "cac:Attachment/cbc:EmbeddedDocumentBinaryObject", pih)
        set_text(root, 'cac:AccountingSupplierParty/cac:Party/'
            'cac:PartyTaxScheme/cbc:CompanyID', vat or unit.vat)
        if edit:
            edit(root)
        signer = signer or unit
        signed = zatca_sign(root, signer.key, signer.certificate)
        root = etree.fromstring(signed.xml)
        tags = qr_tags(root, signer.certificate, name == '0200000')
        if qr_edit:
            qr_edit(tags)
        qr_element(root).text = tlv(tags)
        xml = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            + etree.tostring(root, encoding='UTF-8'))
        return Document(xml, signed.invoice_hash, uid)

    @staticmethod
    def body(document, **values):
        return dict({'invoiceHash': document.hash, 'uuid': document.uuid,
                'invoice': b64(document.xml)}, **values)

    def report(self, unit, document, path='invoices/reporting/single',
            **kwargs):
        return self.post(path, self.body(document), unit, **kwargs)

    def clear(self, unit, document, **kwargs):
        return self.report(unit, document, 'invoices/clearance/single',
            **kwargs)

    def codes(self, response, kind='errorMessages'):
        return [m['code'] for m in
            response.json()['validationResults'][kind]]

    def documents(self, unit):
        units = self.sb.state(SERVICE)['units']
        name, = [n for n in units if n.startswith(unit.vat + '|')]
        return [(d['icv'], d['uuid'], d['status'], d['linked'])
            for d in units[name]['documents']]

    # -- onboarding --
