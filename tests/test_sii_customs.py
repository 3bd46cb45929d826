"""SII: what is not reported (taxes all excluded) and the received-book
records that are not suppliers' invoices: F5 (imports, customs document),
LC (customs complementary settlement) and F6 (other vouchers)."""
import datetime as dt
from decimal import Decimal

from lxml import etree

from tests import tools
from tests.sii_case import (
    NS_SII, SOAP, SUPPLIER_NIF, SIITestCase, create_invoice)

RECIBIDAS = 'SuministroLRFacturasRecibidas'
NS_R = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/ssii/fact/ws/'
    'RespuestaSuministro.xsd')
CUSTOMS_NIF = 'Q2826000H'


def _sii(name):
    return '{%s}%s' % (NS_SII, name)


def create_excluded_tax(company):
    "A 0 % import VAT excluded from the SII (settled at customs)"
    from trytond.pool import Pool
    Tax = Pool().get('account.tax')
    chart_tax, = Tax.search([('company', '=', company)], limit=1)
    tax = Tax(name='import0', description='import0', type='percentage',
        rate=Decimal(0), company=company, sii_excluded=True,
        invoice_account=chart_tax.invoice_account,
        credit_note_account=chart_tax.credit_note_account)
    tax.save()
    return tax.id


class SIICustomsTest(SIITestCase):

    @classmethod
    def setUpData(cls):
        super().setUpData()
        cls.base['taxes']['import0'] = tools.call(
            create_excluded_tax, cls.base['company'],
            company=cls.base['company'])

    def post_document(self, lines, party='supplier', number=None,
            date=None, override=None, type_='in', reference=None):
        "Post an invoice recording a customs document; return its id"
        def create():
            from trytond.pool import Pool
            Invoice = Pool().get('account.invoice')
            invoice = create_invoice(self.base, lines, party=party,
                type_=type_, reference=reference, post=False,
                override=override)
            invoice.sii_customs_number = number
            invoice.sii_customs_date = date
            invoice.save()
            Invoice.post([invoice])
            return invoice.id
        return tools.call(create, company=self.company)

    def has_submission(self, invoice_id):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            return bool(Submission.search([('invoice', '=', invoice_id)]))

    def held_at(self, key):
        state = self.sandbox.state('sii')
        return state['staging']['recibidas'][self.titular][key]

    def test_excluded_taxes_send_nothing(self):
        "Taxes all excluded: no submission; a withholding alone is reported"
        imported = self.post([('5000', ['import0'], 'goods')], type_='in',
            party='supplier', reference='IMP-1')
        withholding = self.post([('300', ['irpf'], 'service')], type_='in',
            party='supplier', reference='IRPF-1')
        self.cron()
        self.assertFalse(self.has_submission(imported))
        self.assertEqual(self.submission(withholding)['state'], 'accepted')
        self.assertEqual(self.sandbox.count('sii', RECIBIDAS,
                self.key(withholding)), 1)
        self.assertEqual([r['summary']['keys']
                for r in self.sandbox.received('sii', RECIBIDAS)],
            [[self.key(withholding)]])

    def test_import_customs_document_f5(self):
        "The DUA goes to the received book as F5, the importer both sides"
        customs = self.new_party("Aduana", ('es_vat', CUSTOMS_NIF))
        date = dt.date.today() - dt.timedelta(days=2)
        # the customs value taxed, offset by an untaxed line (the DUA
        # charges the VAT only) and the duties without VAT
        invoice = self.post_document([
                ('1000', ['iva21'], 'goods'),
                ('-1000', [], None),
                ('25', [], None),
                ], party=customs, number='24ES00281140000017', date=date)
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted',
            submission['message'])
        key = '%s|24ES00281140000017|%s' % (
            self.titular, date.strftime('%d-%m-%Y'))
        held = self.held_at(key)
        self.assertEqual(held['tipo_factura'], 'F5')
        self.assertEqual(held['counterparty'], self.titular)
        self.assertEqual(held['counterparty_name'], "SANDBOX EMPRESA SL")
        self.assertEqual(held['importe_total'], '1210.00')
        record = etree.fromstring(held['xml'])
        details = record.findall('.//' + _sii('DetalleIVA'))
        self.assertEqual([(d.findtext(_sii('BaseImponible')),
                    d.findtext(_sii('CuotaSoportada'))) for d in details],
            [('1000.00', '210.00')])
        self.assertEqual(record.findtext('.//' + _sii('CuotaDeducible')),
            '210.00')
        self.assertEqual(self.sandbox.count('sii', RECIBIDAS, key,
                'registered'), 1)
        self.assertRequestsValid()
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            payload = Submission(submission['id']).sii_payload
        self.assertTrue(payload.startswith("Sent on"), payload)
        self.assertIn('24ES00281140000017', payload)

        # the sandbox applies AEAT's rules of F5 records
        request = self.exchanges()[0]['request']
        for change, code in [
                (lambda r: r.find('.//' + _sii('IDEmisorFactura')).find(
                        _sii('NIF')), 1244),
                (lambda r: r.find('.//' + _sii('Contraparte')).find(
                        _sii('NIF')), 1244),
                ]:
            root = etree.fromstring(request)
            change(root).text = SUPPLIER_NIF
            self.assertEqual(self.raw_send(root), code)
        root = etree.fromstring(request)
        root.find('.//' + _sii('ClaveRegimenEspecialOTrascendencia')
            ).text = '13'
        self.assertEqual(self.raw_send(root), 1245)

    def test_lc_f6_and_refusals(self):
        "LC and F6 accepted; F5/F6/LC only received; F5 needs its document"
        date = dt.date.today() - dt.timedelta(days=1)
        lc = self.post_document([('200', ['iva21'], 'goods'),
                ('-200', [], None)], number='24ES0028LC0000001',
            date=date, override='LC')
        f6 = self.post_document([('50', ['iva21'], 'service')],
            override='F6', reference='JUST-1')
        missing = self.post_document([('10', ['iva21'], 'goods')],
            override='F5', reference='NO-DUA')
        from trytond.model.exceptions import DomainValidationError
        with self.assertRaises(DomainValidationError):
            self.post_document([('10', ['iva21'], None)], type_='out',
                party='es', override='F6')
        self.cron()
        self.assertEqual(self.submission(lc)['state'], 'accepted')
        held = self.held_at('%s|24ES0028LC0000001|%s' % (
                self.titular, date.strftime('%d-%m-%Y')))
        self.assertEqual((held['tipo_factura'], held['counterparty'],
                held['importe_total']), ('LC', self.titular, '242.00'))
        self.assertEqual(self.submission(f6)['state'], 'accepted')
        held = self.held(f6)
        self.assertEqual((held['tipo_factura'], held['emitter']),
            ('F6', SUPPLIER_NIF))
        submission = self.submission(missing)
        self.assertEqual((submission['state'], submission['code']),
            ('rejected', 'LOCAL'))
        self.assertIn("Customs Document Number and Date",
            submission['message'])
        self.assertRequestsValid()
        # an F5 in the issued book is refused by the sandbox too
        exchange = next(e for e in self.exchanges()
            if e['remote_operation'] == RECIBIDAS)
        root = etree.fromstring(exchange['request'])
        for element in root.iter(_sii('TipoFactura')):
            element.text = 'F5'
        self.assertEqual(self.raw_send(root, book='fe'), 1243)

    # -- helpers -------------------------------------------------------------
    def raw_send(self, envelope, book='fr'):
        """Post an envelope to the sandbox's staging book as the company;
        return the error code of its only line (None if accepted)"""
        body = envelope.find('{%s}Body' % SOAP)[0]
        for record in body[2:]:
            body.remove(record)
        if book == 'fe':
            self._to_emitidas(body)
        session = self.sandbox.session('es_company')
        try:
            response = session.post(self.sandbox.url
                + f'/pruebas/wlpl/SSII-FACT/ws/{book}/Sii'
                + ('FactFRV1SOAP' if book == 'fr' else 'FactFEV1SOAP'),
                data=etree.tostring(envelope),
                headers={'Content-Type': 'text/xml; charset=utf-8'})
        finally:
            session.close()
        answer = etree.fromstring(response.content)
        line, = answer.iter('{%s}RespuestaLinea' % NS_R)
        code = line.findtext('{%s}CodigoErrorRegistro' % NS_R)
        return int(code) if code else None

    @staticmethod
    def _to_emitidas(body):
        "Make a SuministroLRFacturasRecibidas body an Emitidas one"
        ns_lr = etree.QName(body).namespace
        body.tag = '{%s}SuministroLRFacturasEmitidas' % ns_lr
        for record in body.iter('{%s}RegistroLRFacturasRecibidas' % ns_lr):
            record.tag = '{%s}RegistroLRFacturasEmitidas' % ns_lr
            factura = record.find('{%s}FacturaRecibida' % ns_lr)
            factura.tag = '{%s}FacturaExpedida' % ns_lr
            emisor = record.find('{%s}IDFactura' % ns_lr).find(
                _sii('IDEmisorFactura'))
            for child in list(emisor):
                if child.tag != _sii('NIF'):
                    emisor.remove(child)
            contraparte = factura.find(_sii('Contraparte'))
            desglose = factura.find(_sii('DesgloseFactura'))
            for name in ['FechaRegContable', 'CuotaDeducible']:
                factura.remove(factura.find(_sii(name)))
            factura.remove(contraparte)
            factura.remove(desglose)
            factura.append(contraparte)
            tipo = etree.SubElement(factura, _sii('TipoDesglose'))
            desglose_factura = etree.SubElement(tipo, _sii('DesgloseFactura'))
            sujeta = etree.SubElement(desglose_factura, _sii('Sujeta'))
            no_exenta = etree.SubElement(sujeta, _sii('NoExenta'))
            etree.SubElement(no_exenta, _sii('TipoNoExenta')).text = 'S1'
            iva = etree.SubElement(no_exenta, _sii('DesgloseIVA'))
            for detail in desglose.iter(_sii('DetalleIVA')):
                item = etree.SubElement(iva, _sii('DetalleIVA'))
                for name, target in [('TipoImpositivo', 'TipoImpositivo'),
                        ('BaseImponible', 'BaseImponible'),
                        ('CuotaSoportada', 'CuotaRepercutida')]:
                    etree.SubElement(item, _sii(target)).text = (
                        detail.findtext(_sii(name)))
