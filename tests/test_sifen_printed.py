"""SIFEN's printed DE (KuDE, report ``account.invoice.sifen_kude``) and the
voiding of unused numbers (wizard ``account.einvoice.sifen.void``, sent as
an ``rGeVeInu`` event)."""
import datetime as dt
import io
import zipfile

from lxml import etree

from tests import tools
from tests.chain_case import ChainTestCase
from tests.sifen_case import BUYER_RUC, SERVICE, TIMBRADO, SifenTestCase
from tests.test_ar_printed import decode_qr

NS = {
    'text': 'urn:oasis:names:tc:opendocument:xmlns:text:1.0',
    'draw': 'urn:oasis:names:tc:opendocument:xmlns:drawing:1.0',
    'xlink': 'http://www.w3.org/1999/xlink',
    's': 'http://ekuatia.set.gov.py/sifen/xsd',
    }
CONFIGURATION = 'account.einvoice.configuration'


def render(invoice_id):
    "The KuDE of an invoice: (format, bytes)"
    from trytond.pool import Pool
    Report = Pool().get('account.invoice.sifen_kude', type='report')
    format_, content, _, _ = Report.execute([invoice_id], {})
    return format_, bytes(content)


def grouped_cdc(cdc):
    return ' '.join(cdc[i:i + 4] for i in range(0, 44, 4))


class Printed:
    "The rendered OpenDocument text"

    def __init__(self, data):
        self.package = zipfile.ZipFile(io.BytesIO(data))
        self.content = etree.fromstring(self.package.read('content.xml'))

    def texts(self):
        return [''.join(p.itertext())
            for p in self.content.iterfind('.//text:p', NS)]

    def qr_image(self):
        href, = self.content.xpath(
            '//draw:frame[@draw:name="sifen_qr"]/draw:image/@xlink:href',
            namespaces=NS)
        return self.package.read(href)


class SifenPrintedTest(SifenTestCase):

    def tearDown(self):
        super().tearDown()
        ChainTestCase.forget_chains()

    # -- helpers -----------------------------------------------------------
    def print_(self, invoice_id):
        format_, data = tools.call(render, invoice_id, company=self.company,
            commit=False)
        self.assertEqual(format_, 'odt')
        return Printed(data)

    def de(self, invoice_id):
        for kind, _, data in self.documents(invoice_id):
            if kind == 'de':
                return etree.fromstring(data)

    def send_and_process(self):
        self.cron()
        self.finish_processing()
        self.cron()

    def assertRow(self, texts, *cells):
        "cells follow each other in texts (a row of a table)"
        cells = list(cells)
        found = [texts[i:i + len(cells)] for i, text in enumerate(texts)
            if text == cells[0]]
        if cells not in found:
            self.fail(f"{cells} not in {found}")

    def void(self, state, **values):
        """Run the voiding wizard from the first unit's form up to state
        with the start values; return the wizard's answer"""
        from trytond.pool import Pool
        context = {'active_model': CONFIGURATION,
            'active_id': self.configuration,
            'active_ids': [self.configuration]}

        def run():
            Void = Pool().get('account.einvoice.sifen.void', type='wizard')
            session, _, _ = Void.create()
            start = Void.execute(session, {}, 'start')['view']
            data = {k: v for k, v in start['defaults'].items()
                if '.' not in k}
            data.update(values)
            if state == 'start':
                return start
            return Void.execute(session, {'start': data}, state)
        return tools.call(run, company=self.company, context=context)

    def refused(self, **values):
        from trytond.exceptions import UserError
        with self.assertRaises(UserError) as context:
            self.void('void', reason="Números no utilizados", **values)
        return context.exception.message

    def voidings(self):
        "[(description, facts, submission state)] of the voiding records"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Record = Pool().get('account.einvoice.record')
            return [(r.description, r.facts,
                    [s.state for s in r.submissions])
                for r in Record.search([('kind', '=', 'sifen_voiding')],
                    order=[('id', 'ASC')])]

    # -- KuDE --------------------------------------------------------------
    def test_kude(self):
        "The KuDE of an FE and of its NC say what the DEs hold"
        from trytond.exceptions import UserError
        invoice = self.invoice([('100000', ['iva10']),
                ('21000', 2, ['iva5']), ('5000', ['exempt'])])
        self.send_and_process()
        self.assertEqual(self.states([invoice]), ['accepted'])
        cdc = self.cdc(invoice)
        grouped = grouped_cdc(cdc)
        printed = self.print_(invoice)
        texts = printed.texts()
        self.assertIn("Factura electrónica", texts)
        self.assertRow(texts, "Número", '001-001-0000001')
        self.assertRow(texts, "Timbrado N°", TIMBRADO)
        self.assertIn("SANDBOX PARAGUAY S.A.", texts)
        self.assertRow(texts, "RUC", self.ruc)
        self.assertRow(texts, "RUC", BUYER_RUC)
        self.assertRow(texts, "Nombre o razón social",
            "BANCO DEL PARAGUAY S.A.")
        self.assertRow(texts, "Condición de venta", "Contado")
        self.assertRow(texts, "Moneda", "PYG - Guarani")
        # items: the sale value in the column of its rate
        self.assertRow(texts, 'YM1', "Yerba Mate 500 g", 'UNI', '1',
            '110.000', '0', '0', '0', '110.000')
        self.assertRow(texts, 'YM1', "Yerba Mate 500 g", 'UNI', '2',
            '22.050', '0', '0', '44.100', '0')
        self.assertRow(texts, 'YM1', "Yerba Mate 500 g", 'UNI', '1',
            '5.000', '0', '5.000', '0', '0')
        self.assertRow(texts, "Subtotal", '5.000', '44.100', '110.000')
        self.assertRow(texts, "Total a pagar", '159.100')
        self.assertRow(texts, "Liquidación del IVA", '(5 %)', '2.100',
            '(10 %)', '10.000', "Total IVA", '12.100')
        self.assertEqual(
            self.de(invoice).findtext('s:DE/s:gTotSub/s:dTotGralOpe',
                namespaces=NS), '159100')
        self.assertIn(f"CDC: {grouped}", texts)
        self.assertIn("Consulte la validez de esta Factura Electrónica con "
            "el número de CDC impreso abajo en: "
            "https://ekuatia.set.gov.py/consultas-test/", texts)
        qr = self.de(invoice).findtext('s:gCamFuFD/s:dCarQR', namespaces=NS)
        self.assertEqual(decode_qr(printed.qr_image()), [qr])
        self.assertIn(f'Id={cdc}', qr)

        credit = self.credit(invoice)
        texts = self.print_(credit).texts()
        self.assertIn("Nota de crédito electrónica", texts)
        self.assertRow(texts, "Número", '001-001-0000001')
        self.assertRow(texts, "Documento asociado (CDC)", grouped)
        self.assertRow(texts, "Motivo de emisión", "Devolución")
        self.assertRow(texts, "Total a pagar", '159.100')
        self.assertIn(f"CDC: {grouped_cdc(self.cdc(credit))}", texts)
        self.assertIn("Consulte la validez de esta Nota de Crédito "
            "Electrónica con el número de CDC impreso abajo en: "
            "https://ekuatia.set.gov.py/consultas-test/", texts)

        draft = self.invoice([('1100', ['iva10'])], post=False)
        with self.assertRaises(UserError) as context:
            self.print_(draft)
        self.assertIn('has no electronic document (DE)',
            context.exception.message)

    # -- voiding -----------------------------------------------------------
    def test_voiding(self):
        "Unused numbers proposed, the others refused, voided by an event"
        rejected = self.invoice([('1100', ['iva10'])])
        # SIFEN does not know the timbrado (yet): 1101
        self.timbrado('99999999')
        self.send_and_process()
        self.timbrado(TIMBRADO)
        approved = self.invoice([('2200', ['iva10'])])
        self.send_and_process()
        self.assertEqual(self.states([rejected, approved]),
            ['rejected', 'accepted'])
        self.assertEqual(self.submissions([rejected])[0]['code'], '1101')
        pending = self.invoice([('3300', ['iva10'])])

        start = self.void('start')
        self.assertEqual({k: start['defaults'][k] for k in [
                    'configuration', 'type', 'first', 'last', 'last_number',
                    'unused']}, {
                'configuration': self.configuration, 'type': '1',
                'first': 1, 'last': 1, 'last_number': 3, 'unused': '1'})

        self.assertIn('approved the numbers 2', self.refused(first=1, last=2))
        self.assertIn('numbered 3', self.refused(first=3, last=3))
        self.assertIn('beyond the last number given out',
            self.refused(first=1, last=4))
        self.assertIn('The range 3 to 1', self.refused(first=3, last=1))
        from trytond.exceptions import UserError
        with self.assertRaises(UserError) as context:
            self.void('void', first=1, last=1, reason="no")
        self.assertIn('5 to 500 characters', context.exception.message)
        self.assertEqual(self.voidings(), [])

        # closed before it was sent: its number is unused too
        self.cancel_invoices([pending])
        self.assertEqual(self.states([pending]), ['cancelled'])
        values = self.void('propose')['view']['values']
        self.assertEqual((values['first'], values['last'], values['unused']),
            (1, 1, '1, 3'))

        answer = self.void('void', first=1, last=1,
            reason="Documento rechazado por SIFEN")
        (action, _), = answer['actions']
        self.assertEqual(action['res_model'], 'account.einvoice.record')
        (description, facts, states), = self.voidings()
        self.assertEqual(action['res_id'], [self.last_record()])
        self.assertEqual(description, '001-001 FE 0000001-0000001')
        self.assertEqual(facts, {'timbrado': TIMBRADO,
                'establishment': '001', 'point': '001', 'type': 1,
                'first': 1, 'last': 1,
                'reason': "Documento rechazado por SIFEN"})
        self.assertEqual(states, ['pending'])
        self.assertIn('already voided', self.refused(first=1, last=1))

        self.cron()
        (_, _, states), = self.voidings()
        self.assertEqual(states, ['accepted'])
        ruc = self.ruc.split('-')[0]
        self.assertEqual(self.state()['voided'], [{
                    'series': [ruc, TIMBRADO, '001', '001', '1'],
                    'ranges': [[1, 1]]}])
        event, = [e for e in self.state()['events']
            if e['kind'] == 'rGeVeInu']
        self.assertEqual(event['status'], 'Aprobado')
        request = self.exchanges()[-1]['request']
        self.assertEqual(request.count(b'<rGeVeInu>'), 1)
        self.assertIn(b'<dNumIn>0000001</dNumIn><dNumFin>0000001</dNumFin>',
            request)
        values = self.void('propose')['view']['values']
        self.assertEqual(values['unused'], '3')

        # numbers voided elsewhere (SET's own tool): a later DE carrying
        # one of them is refused
        self.void_elsewhere(4, 4)
        self.cron()
        self.assertEqual(self.state()['voided'][0]['ranges'],
            [[1, 1], [4, 4]])
        later = self.invoice([('4400', ['iva10'])])
        self.assertEqual(self.de(later).findtext(
                's:DE/s:gTimb/s:dNumDoc', namespaces=NS), '0000004')
        self.send_and_process()
        submission, = self.submissions([later])
        self.assertEqual((submission['state'], submission['code']),
            ('rejected', '1104'))

    def timbrado(self, number):
        "The only timbrado SIFEN knows of the company"
        self.sandbox.set_option(SERVICE, 'timbrados', {
                self.ruc.split('-')[0]: [{'number': number,
                        'start': (dt.date.today()
                            - dt.timedelta(days=365)).isoformat()}]})

    def last_record(self):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Record = Pool().get('account.einvoice.record')
            return Record.search([], order=[('id', 'DESC')], limit=1)[0].id

    def void_elsewhere(self, first, last):
        "Void numbers as another system would (none of our checks)"
        from trytond.pool import Pool

        def report():
            pool = Pool()
            Record = pool.get('account.einvoice.record')
            Configuration = pool.get(CONFIGURATION)
            Record.report(Configuration(self.configuration),
                'sifen_voiding', {'timbrado': TIMBRADO,
                    'establishment': '001', 'point': '001', 'type': 1,
                    'first': first, 'last': last,
                    'reason': "Inutilizado en el sistema de SET"})
        tools.call(report, company=self.company)
