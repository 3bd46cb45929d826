"""The printed ZATCA tax invoice (report ``account.invoice.zatca``): both
languages, the values ZATCA holds, ZATCA's QR for cleared invoices and
ours for simplified ones, right-to-left Arabic, refused before
clearance."""
import io
import os
import shutil
import subprocess
import tempfile
import zipfile

from lxml import etree

from tests import tools
from tests.test_ar_printed import decode_qr
from tests.zatca_case import BUYER_VAT, SERVICE, ZatcaTestCase, create_invoice

NS = {
    'office': 'urn:oasis:names:tc:opendocument:xmlns:office:1.0',
    'style': 'urn:oasis:names:tc:opendocument:xmlns:style:1.0',
    'text': 'urn:oasis:names:tc:opendocument:xmlns:text:1.0',
    'draw': 'urn:oasis:names:tc:opendocument:xmlns:drawing:1.0',
    'fo': 'urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0',
    'xlink': 'http://www.w3.org/1999/xlink',
    }
ARABIC = range(0x0600, 0x0700)


def render(invoice_id):
    "The ZATCA tax invoice report of an invoice: (format, bytes)"
    from trytond.pool import Pool
    Report = Pool().get('account.invoice.zatca', type='report')
    format_, content, _, _ = Report.execute([invoice_id], {})
    return format_, bytes(content)


def usd_invoice(base):
    "A simplified invoice of 100 USD + 15 % VAT, posted"
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    invoice = Invoice(create_invoice(base, [('100', ['vat15'])], post=False))
    usd = base['currencies']['USD']
    Invoice.write([invoice], {'currency': usd, 'lines': [
                ('write', [l.id for l in invoice.lines], {'currency': usd})]})
    Invoice.post([invoice])
    return invoice.id


def is_arabic(text):
    "Arabic text (a value giving a Latin name beside it is left to bidi)"
    return any(ord(c) in ARABIC for c in text) and not any(
        c.isascii() and c.isalpha() for c in text)


SELLER = "شركة ساندبوكس السعودية | SANDBOX SAUDI COMPANY LLC"


class Printed:
    "The rendered OpenDocument text: paragraphs, their styles, the QR"

    def __init__(self, data):
        self.data = data
        self.package = zipfile.ZipFile(io.BytesIO(data))
        self.content = etree.fromstring(self.package.read('content.xml'))
        self.styles = etree.fromstring(self.package.read('styles.xml'))

    def paragraphs(self):
        "[(style name, text)] of the body's paragraphs"
        return [(p.get(f'{{{NS["text"]}}}style-name'), ''.join(p.itertext()))
            for p in self.content.iterfind('.//text:p', NS)]

    def texts(self):
        return [t for _, t in self.paragraphs()]

    def style(self, name):
        "The properties of a paragraph style and its parents, merged"
        properties = {}
        while name:
            found = self.styles.xpath(
                '//style:style[@style:name=$name]', namespaces=NS, name=name)
            if not found:
                break
            for element in found[0]:
                for key, value in element.attrib.items():
                    properties.setdefault(etree.QName(key).localname, value)
            name = found[0].get(f'{{{NS["style"]}}}parent-style-name')
        for element in self.styles.xpath('//style:default-style['
                '@style:family="paragraph"]/*', namespaces=NS):
            for key, value in element.attrib.items():
                properties.setdefault(etree.QName(key).localname, value)
        return properties

    def qr_image(self):
        href, = self.content.xpath(
            '//draw:frame[@draw:name="zatca_qr"]/draw:image/@xlink:href',
            namespaces=NS)
        return self.package.read(href)


class ZatcaPrintedTest(ZatcaTestCase):

    def tearDown(self):
        super().tearDown()
        from tests.chain_case import ChainTestCase
        ChainTestCase.forget_chains()

    def post_as_client(self, lines, **values):
        "Post as an RPC call does: commit, then the queued tasks (the send)"
        from trytond.tests.test_tryton import DB_NAME
        from trytond.transaction import Transaction
        from trytond.worker import run_task
        tasks = Transaction().tasks
        tasks.clear()
        invoice = self.invoice(lines, **values)
        while tasks:
            run_task(DB_NAME, tasks.pop())
        return invoice

    def print_(self, invoice_id):
        format_, data = tools.call(render, invoice_id, company=self.company,
            commit=False)
        self.assertEqual(format_, 'odt')
        return Printed(data)

    def read(self, invoice_id, *names):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            invoice = Pool().get('account.invoice')(invoice_id)
            return tuple(getattr(invoice, n) for n in names)

    def held(self, data, path):
        from trytond.modules.account_einvoice.signing import xml_root
        from trytond.modules.account_einvoice.signing_zatca import NS
        return xml_root(data).xpath(path + '/text()', namespaces=NS)[0]

    def assertRow(self, texts, *cells):
        "cells follow each other in texts (a row of a table)"
        cells = list(cells)
        found = [texts[i:i + len(cells)] for i, text in enumerate(texts)
            if text == cells[0]]
        if cells not in found:
            self.fail(f"{cells} not in {found}")

    def assertBreakdown(self, texts, held):
        """The VAT breakdown: one row per category of the held document,
        with its figures and, for Z, its exemption reason"""
        from trytond.modules.account_einvoice.signing import xml_root
        from trytond.modules.account_einvoice_sa_zatca.report import (
            tax_breakdown)
        self.assertRow(texts, "VAT Breakdown", "تفاصيل ضريبة القيمة المضافة",
            "VAT Category", "فئة الضريبة", "VAT Rate", "نسبة الضريبة",
            "Taxable Amount", "المبلغ الخاضع للضريبة", "VAT Amount",
            "مبلغ الضريبة", "Exemption Reason", "سبب الإعفاء")
        standard = ['S', "Standard rate", "النسبة الأساسية"]
        rows = [standard + ['15 %', '1,000.00', '150.00', '', ''],
            standard + ['5 %', '31.50', '1.58', '', ''],
            ['Z', "Zero rated", "خاضعة لنسبة الصفر", '0 %', '200.00',
                '0.00', 'VATEX-SA-32', "Export of goods (art. 32)"]]
        for row in rows:
            self.assertRow(texts, *row)
        self.assertEqual(texts.count("Standard rate"), 2)
        self.assertEqual(texts.count("Zero rated"), 1)
        self.assertEqual([(c.category, c.rate, c.taxable, c.tax,
                    c.exemption_code, c.exemption_reason)
                for c in tax_breakdown(xml_root(held))], [
                ('S', '15.00', '1000.00', '150.00', None, None),
                ('S', '5.00', '31.50', '1.58', None, None),
                ('Z', '0.00', '200.00', '0.00', 'VATEX-SA-32',
                    "Export of goods (art. 32)")])

    def assertRightToLeft(self, printed):
        "Every Arabic paragraph is right-to-left in Arabic (Saudi Arabia)"
        arabic = [(s, t) for s, t in printed.paragraphs() if is_arabic(t)]
        self.assertTrue(arabic)
        for style, text in arabic:
            with self.subTest(text=text):
                properties = printed.style(style)
                self.assertEqual(properties.get('writing-mode'), 'rl-tb')
                self.assertEqual(properties.get('language-complex'), 'ar')
                self.assertEqual(properties.get('country-complex'), 'SA')
                self.assertEqual(
                    properties.get('font-name-complex'), 'DejaVu Sans')
        fonts = printed.content.xpath(
            '//style:font-face/@style:name', namespaces=NS)
        self.assertIn('DejaVu Sans', fonts)

    def test_standard_cleared_printed_with_zatca_qr(self):
        "Standard: refused until cleared, then both languages, ZATCA's QR"
        from trytond.modules.account_einvoice.exceptions import ClearanceError
        from trytond.modules.account_einvoice_sa_zatca.service import qr_of
        self.sandbox.add_fault(SERVICE, 'clearance', 'http_503')
        invoice = self.post_as_client(
            [('1000', ['vat15']), ('10.50', 3, ['vat5']), ('200', ['zero'])],
            party='b2b')
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        with self.assertRaises(ClearanceError) as refused:
            self.print_(invoice)
        number, = self.read(invoice, 'number')
        self.assertIn(number, refused.exception.message)

        self.make_due()
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        (_, _, _, sent), (kind, returned, _, cleared) = self.documents(
            invoice)
        self.assertEqual((kind, returned), ('cleared', True))
        printed = self.print_(invoice)
        texts = printed.texts()

        qr_text, = self.read(invoice, 'einvoice_qr')
        self.assertEqual(qr_text, qr_of(cleared))
        self.assertNotEqual(qr_text, qr_of(sent))
        self.assertEqual(decode_qr(printed.qr_image()), [qr_text])

        self.assertEqual(texts[:2], ["Tax Invoice", "فاتورة ضريبية"])
        self.assertRow(texts, "Invoice Number", number, "رقم الفاتورة")
        for label, path, arabic in [
                ("Issue Date", 'cbc:IssueDate', "تاريخ الإصدار"),
                ("Issue Time", 'cbc:IssueTime', "وقت الإصدار"),
                ("Unique Identifier (UUID)", 'cbc:UUID', "المعرف الفريد"),
                ("Invoice Counter (ICV)",
                    "cac:AdditionalDocumentReference[cbc:ID='ICV']/cbc:UUID",
                    "عداد الفاتورة")]:
            self.assertRow(texts, label, self.held(cleared, path), arabic)
        self.assertRow(texts, "Supply Date",
            self.held(cleared, 'cac:Delivery/cbc:ActualDeliveryDate'),
            "تاريخ التوريد")
        self.assertRow(texts, "Currency", 'SAR', "العملة")
        self.assertRow(texts, "Seller", "البائع", "Buyer", "المشتري")
        self.assertRow(texts, "Name", SELLER,
            "Saudi Buyer Trading Co", "الاسم")
        self.assertRow(texts, "VAT Number", self.vat, BUYER_VAT,
            "الرقم الضريبي")
        self.assertRow(texts, "Building Number", '2322', '1111',
            "رقم المبنى")
        self.assertRow(texts, "Street", "Prince Sultan Street",
            "King Fahd Road", "الشارع")
        self.assertRow(texts, "District", "Al-Murabba", "Al-Olaya", "الحي")
        self.assertRow(texts, "Postal Code", '23333', '12211',
            "الرمز البريدي")
        self.assertRow(texts, "Other ID", 'CRN 1010010000', '', "معرف آخر")
        for english, arabic in [("Description", "الوصف"),
                ("Quantity", "الكمية"), ("Unit Price", "سعر الوحدة"),
                ("Taxable Amount", "المبلغ الخاضع للضريبة"),
                ("VAT Rate", "نسبة الضريبة"), ("VAT Amount", "مبلغ الضريبة"),
                ("Total with VAT", "المجموع شامل الضريبة")]:
            self.assertRow(texts, english, arabic)
        self.assertRow(texts, "Widget", '1', '1000', '1,000.00', '15 %',
            '150.00', '1,150.00')
        self.assertRow(texts, "Widget", '3', '10.5', '31.50', '5 %',
            '1.58', '33.08')
        self.assertRow(texts, "Widget", '1', '200', '200.00', '0 %',
            '0.00', '200.00')
        self.assertBreakdown(texts, cleared)
        self.assertRow(texts, "Total Excluding VAT", '1,231.50',
            "الإجمالي غير شامل ضريبة القيمة المضافة")
        self.assertRow(texts, "Total VAT", '151.58',
            "إجمالي ضريبة القيمة المضافة")
        self.assertRow(texts, "Total Including VAT", '1,383.08',
            "الإجمالي شامل ضريبة القيمة المضافة")
        self.assertEqual(self.held(cleared,
                'cac:LegalMonetaryTotal/cbc:PayableAmount'), '1383.08')
        self.assertNotIn("Total VAT in SAR", texts)
        self.assertNotIn("Reason", texts)
        self.assertRightToLeft(printed)
        self.check_pdf(printed)

    def test_simplified_foreign_currency_our_qr(self):
        "Simplified (USD): printable at once with our QR, VAT total in SAR"
        from trytond.modules.account_einvoice_sa_zatca.service import qr_of
        invoice = tools.call(usd_invoice, self.base, company=self.company)
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        (_, _, _, sent), = self.documents(invoice)
        printed = self.print_(invoice)
        texts = printed.texts()
        qr_text, = self.read(invoice, 'einvoice_qr')
        self.assertEqual(qr_text, qr_of(sent))
        self.assertEqual(decode_qr(printed.qr_image()), [qr_text])
        self.assertEqual(texts[:2],
            ["Simplified Tax Invoice", "فاتورة ضريبية مبسطة"])
        self.assertRow(texts, "Currency", 'USD', "العملة")
        self.assertRow(texts, "Name", SELLER,
            "Walk-in Customer", "الاسم")
        self.assertRow(texts, "Total VAT", '15.00',
            "إجمالي ضريبة القيمة المضافة")
        self.assertRow(texts, "Total VAT in SAR", '56.25',
            "إجمالي ضريبة القيمة المضافة بالريال السعودي")
        # the breakdown is the one in the document currency
        self.assertRow(texts, 'S', "Standard rate", "النسبة الأساسية", '15 %',
            '100.00', '15.00', '', '')
        self.assertNotIn("Supply Date", texts)
        self.assertRightToLeft(printed)

        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.assertEqual(
            decode_qr(self.print_(invoice).qr_image()), [qr_text])

    def test_credit_note_reference_and_reason(self):
        "A credit note: its title, the credited invoice and the reason"
        invoice = self.invoice([('100', ['vat15'])])
        self.cron()

        credit_id = self.credit(invoice, "Goods returned")
        number, = self.read(invoice, 'number')
        texts = self.print_(credit_id).texts()
        self.assertEqual(texts[:2], ["Credit Note", "إشعار دائن"])
        self.assertRow(texts, "Original Invoice", number, "الفاتورة الأصلية")
        self.assertRow(texts, "Reason", "Goods returned", "سبب الإصدار")
        self.assertRow(texts, "Total Including VAT", '115.00',
            "الإجمالي شامل ضريبة القيمة المضافة")

    def check_pdf(self, printed):
        "With LibreOffice, the PDF carries the Arabic text"
        soffice = shutil.which('soffice') or shutil.which('libreoffice')
        pdftotext = shutil.which('pdftotext')
        if not soffice or not pdftotext:
            return
        with tempfile.TemporaryDirectory() as directory:
            source = os.path.join(directory, 'invoice.odt')
            with open(source, 'wb') as output:
                output.write(printed.data)
            subprocess.run([soffice, '--headless', '--convert-to', 'pdf',
                    '--outdir', directory, source, '-env:UserInstallation='
                    f'file://{directory}/profile'],
                check=True, capture_output=True, timeout=120)
            text = subprocess.run(
                [pdftotext, os.path.join(directory, 'invoice.pdf'), '-'],
                check=True, capture_output=True).stdout.decode()
        self.assertIn("Tax Invoice", text)
        self.assertIn("فاتورة ضريبية", text)
