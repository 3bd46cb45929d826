"""The AFIP printed voucher: RG 4892 QR code, CAE and its due date on
Tryton's invoice report (account_einvoice's extension of it)."""
import base64
import datetime as dt
import io
import json
import unittest
import zipfile
from decimal import Decimal

from lxml import etree

from tests import tools
from tests.ar_case import COMPANY_CUIT, CUSTOMERS, POS, ArTestCase

QR_PREFIX = 'https://www.afip.gob.ar/fe/qr/?p='


def render(invoice_id):
    "The account.invoice report of an invoice: (format, bytes)"
    from trytond.pool import Pool
    InvoiceReport = Pool().get('account.invoice', type='report')
    format_, content, _, _ = InvoiceReport.execute([invoice_id], {})
    return format_, bytes(content)


def decode_qr(png):
    """The texts of the QR codes a PNG image shows (QR codes only: a part
    of one may read as a linear barcode)"""
    import zxingcpp
    from PIL import Image
    return [r.text for r in zxingcpp.read_barcodes(
            Image.open(io.BytesIO(png)),
            formats=zxingcpp.BarcodeFormat.QRCode)]


def qr_json(url):
    assert url.startswith(QR_PREFIX), url
    return json.loads(base64.b64decode(url[len(QR_PREFIX):]))


class Document:
    "What the report rendered: a zipped OpenDocument text"

    def __init__(self, data):
        self.package = zipfile.ZipFile(io.BytesIO(data))
        self.content = etree.fromstring(self.package.read('content.xml'))
        self.manifest = self.package.read('META-INF/manifest.xml')

    def xpath(self, path):
        from trytond.modules.account_einvoice.odf import NS
        return self.content.xpath(path, namespaces=NS)

    @property
    def section(self):
        found = self.xpath('//text:section[@text:name="einvoice_printed"]')
        return found[0] if found else None

    def image(self):
        "The PNG the QR frame of the section shows"
        href, = self.section.xpath(
            './/draw:frame[@draw:name="einvoice_qr"]/draw:image/@xlink:href',
            namespaces=self.section.nsmap | {
                'draw': 'urn:oasis:names:tc:opendocument:xmlns:drawing:1.0',
                'xlink': 'http://www.w3.org/1999/xlink'})
        return self.package.read(href)

    def section_lines(self):
        return [''.join(p.itertext()) for p in self.section
            if etree.QName(p).localname == 'p' and ''.join(p.itertext())]


class ArPrintedTest(ArTestCase):

    def test_printed_voucher(self):
        "The report of an authorized voucher shows its QR code, CAE and due"
        invoice, = self.post(party='ri')
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted', info)
        format_, data = tools.call(render, invoice, company=self.company)
        self.assertEqual(format_, 'odt')
        document = Document(data)
        self.assertIsNotNone(document.section)
        self.assertIn(b'Pictures/einvoice_qr.png', document.manifest)

        stored = tools.call(
            lambda: self.read(invoice, 'einvoice_qr', 'einvoice_print_text',
                'ar_qr_url'), commit=False)
        self.assertEqual(stored['ar_qr_url'], stored['einvoice_qr'])
        self.assertEqual(decode_qr(document.image()), [stored['einvoice_qr']])

        held = self.sandbox.state('afip_wsfe')['series'][
            f'{COMPANY_CUIT}:{POS}:1']['vouchers'][str(info['nro'])]
        data = qr_json(stored['einvoice_qr'])
        self.assertEqual(data['codAut'], int(held['cae']))
        self.assertEqual(data['codAut'], int(info['cae']))
        self.assertEqual(data['nroCmp'], info['nro'])
        self.assertEqual(data['cuit'], int(COMPANY_CUIT))
        self.assertEqual(data['ptoVta'], POS)
        self.assertEqual(data['tipoCmp'], 1)
        self.assertEqual(Decimal(str(data['importe'])),
            Decimal(held['fields']['ImpTotal']))
        self.assertEqual(data['importe'], 121.0)
        self.assertEqual(data['fecha'], dt.datetime.strptime(
                held['fields']['CbteFch'], '%Y%m%d').date().isoformat())
        self.assertEqual((data['moneda'], data['ctz']), ('PES', 1))
        self.assertEqual(data['tipoDocRec'], 80)
        self.assertEqual(data['nroDocRec'], int(CUSTOMERS['ri'][1]))
        self.assertEqual(data['tipoCodAut'], 'E')

        due = dt.datetime.strptime(held['cae_vto'], '%Y%m%d').strftime(
            '%d/%m/%Y')
        expected = [f"CAE: {held['cae']}", f"CAE Due Date: {due}"]
        self.assertEqual(stored['einvoice_print_text'].splitlines(), expected)
        self.assertEqual(document.section_lines(), expected)

    def test_unidentified_receiver(self):
        "A final consumer without document: no tipoDocRec/nroDocRec"
        invoice, = self.post(party='final')
        self.cron()
        stored = tools.call(
            lambda: self.read(invoice, 'einvoice_qr'), commit=False)
        data = qr_json(stored['einvoice_qr'])
        self.assertEqual(data['tipoCmp'], 6)
        self.assertNotIn('tipoDocRec', data)
        self.assertNotIn('nroDocRec', data)
        format_, content = tools.call(render, invoice, company=self.company)
        self.assertEqual(
            decode_qr(Document(content).image()), [stored['einvoice_qr']])

    def test_without_qr(self):
        "An invoice without QR content is printed without the frame"
        invoice, = self.post(party='ri')    # not sent: no CAE yet
        stored = tools.call(
            lambda: self.read(invoice, 'einvoice_qr', 'einvoice_print_text'),
            commit=False)
        self.assertEqual(stored, {
                'einvoice_qr': None, 'einvoice_print_text': None})
        format_, data = tools.call(render, invoice, company=self.company)
        document = Document(data)
        self.assertIsNone(document.section)
        self.assertNotIn('Pictures/einvoice_qr.png',
            document.package.namelist())
        self.assertNotIn(b'einvoice_qr', document.manifest)

    def test_migration_of_stored_url(self):
        "The URL stored by the former ar_qr_url column moves to einvoice_qr"
        invoice, = self.post(party='ri')

        def migrate():
            from sql import Column

            from trytond.pool import Pool
            from trytond.transaction import Transaction
            Invoice = Pool().get('account.invoice')
            table = Invoice.__table__()
            handler = Invoice.__table_handler__('account_einvoice_ar')
            handler.add_column('ar_qr_url', 'VARCHAR')
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.einvoice_qr, Column(table, 'ar_qr_url')],
                    [None, 'https://old/url'], where=table.id == invoice))
            Invoice.__register__('account_einvoice_ar')
            dropped = not Invoice.__table_handler__(
                'account_einvoice_ar').column_exist('ar_qr_url')
            return Invoice(invoice).einvoice_qr, dropped
        self.assertEqual(tools.call(migrate, commit=False),
            ('https://old/url', True))

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def read(invoice_id, *names):
        from trytond.pool import Pool
        Invoice = Pool().get('account.invoice')
        record = Invoice(invoice_id)
        return {n: getattr(record, n) for n in names}


class QrDataTest(unittest.TestCase):
    "The RG 4892 JSON and URL built from the fields AFIP authorized"

    FIELDS = {
        'Concepto': '1', 'DocTipo': '80', 'DocNro': '20123456786',
        'CbteDesde': '12', 'CbteHasta': '12', 'CbteFch': '20250102',
        'ImpTotal': '1234.50', 'MonId': 'DOL', 'MonCotiz': '1045.25',
        }

    def test_identified_receiver(self):
        from trytond.modules.account_einvoice_ar import afip
        data = afip.qr_data(
            '30712345671', 3, '1', self.FIELDS, '75123456789012')
        self.assertEqual(data, {
                'ver': 1, 'fecha': '2025-01-02', 'cuit': 30712345671,
                'ptoVta': 3, 'tipoCmp': 1, 'nroCmp': 12,
                'importe': 1234.5, 'moneda': 'DOL', 'ctz': 1045.25,
                'tipoDocRec': 80, 'nroDocRec': 20123456786,
                'tipoCodAut': 'E', 'codAut': 75123456789012,
                })
        self.assertEqual(afip.qr_url(data), QR_PREFIX + base64.b64encode(
                b'{"ver":1,"fecha":"2025-01-02","cuit":30712345671,'
                b'"ptoVta":3,"tipoCmp":1,"nroCmp":12,"importe":1234.5,'
                b'"moneda":"DOL","ctz":1045.25,"tipoDocRec":80,'
                b'"nroDocRec":20123456786,"tipoCodAut":"E",'
                b'"codAut":75123456789012}').decode())

    def test_unidentified_receiver(self):
        from trytond.modules.account_einvoice_ar import afip
        fields = dict(self.FIELDS, DocTipo='99', DocNro='0', MonId='PES',
            MonCotiz='1')
        data = afip.qr_data('30712345671', 3, '6', fields, '75123456789012')
        self.assertNotIn('tipoDocRec', data)
        self.assertNotIn('nroDocRec', data)
        self.assertEqual((data['moneda'], data['ctz']), ('PES', 1))
