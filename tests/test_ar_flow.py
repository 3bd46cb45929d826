"""AFIP WSFEv1: vouchers A, B, C and notes, content, rejections."""
import base64
import json
from decimal import Decimal

from tests.ar_case import COMPANY_CUIT, CUSTOMERS, POS, ArTestCase


class ArFlowTest(ArTestCase):

    def assertAuthorized(self, info, voucher_type):
        self.assertEqual(info['state'], 'accepted', info)
        self.assertEqual(info['type'], voucher_type)
        self.assertRegex(info['cae'], r'^\d{14}$')
        self.assertIsNotNone(info['cae_due'])
        self.assertEqual(info['legal'], f"{POS:05d}-{info['nro']:08d}")
        self.assertEqual(self.caes()[self.key(info)], 1)

    def test_authorized_invoice_cannot_be_cancelled(self):
        "AFIP has no cancellation: staff are told to issue a credit note"
        from trytond.modules.account_einvoice_ar.exceptions import (
            VoucherCancelError)
        invoice, = self.post(party='ri')
        self.cron()
        with self.assertRaises(VoucherCancelError) as context:
            self.cancel_invoices([invoice])
        self.assertIn('credit note', context.exception.message)
        self.assertEqual(self.invoice(invoice)['state'], 'accepted')

    def test_classes_and_credit_note(self):
        "A and B invoices, an A credit note with CbtesAsoc, a C invoice"
        a, = self.post(party='ri')
        b, = self.post(party='final')
        self.cron()
        a, b = self.invoices([a, b])
        self.assertAuthorized(a, '1')
        self.assertAuthorized(b, '6')
        self.assertNotEqual(a['number'], a['legal'])

        credit = self.credit(a['id'])
        self.cron()
        credit = self.invoice(credit)
        self.assertAuthorized(credit, '3')
        request, = [e['request'] for e in self.exchanges()
            if e['remote_operation'] == 'FECAESolicitar'
            and b'<CbteTipo>3</CbteTipo>' in e['request']]
        self.assertIn(b'<CbtesAsoc><CbteAsoc><Tipo>1</Tipo>', request)
        self.assertIn(f'<Nro>{a["nro"]}</Nro>'.encode(), request)
        # the stored request never holds the credentials
        self.assertIn(b'@@AFIP-TOKEN@@', request)

        self.set_company_condition('6')
        try:
            c, = self.post(party='ri', lines=[(Decimal('50'), [], 2)])
            self.cron()
        finally:
            self.set_company_condition('1')
        self.assertAuthorized(self.invoice(c), '11')

    def test_qr_code(self):
        "The QR URL holds the RG 4892 JSON"
        invoice, = self.post(party='ri')
        self.cron()
        info = self.invoice(invoice)
        prefix = 'https://www.afip.gob.ar/fe/qr/?p='
        self.assertTrue(info['qr'].startswith(prefix))
        data = json.loads(base64.b64decode(info['qr'][len(prefix):]))
        self.assertEqual(data['cuit'], int(COMPANY_CUIT))
        self.assertEqual(data['ptoVta'], POS)
        self.assertEqual(data['tipoCmp'], 1)
        self.assertEqual(data['nroCmp'], info['nro'])
        self.assertEqual(data['importe'], 121.0)
        self.assertEqual(data['tipoDocRec'], 80)
        self.assertEqual(data['nroDocRec'], int(CUSTOMERS['ri'][1]))
        self.assertEqual(data['codAut'], int(info['cae']))

    def test_content(self):
        "Services with dates, IVA rates, exempt, not taxed, tributes, USD"
        mixed, = self.post(party='ri', lines=[
                (Decimal('100'), ['iva21'], 1),
                (Decimal('200'), ['iva105', 'iibb'], 1),
                (Decimal('30'), ['exempt'], 1),
                (Decimal('20'), [], 1),
                ])
        dollars, = self.post(party='final', currency=self.base['usd'],
            ar_paid_in_currency=True)
        self.cron()
        mixed, dollars = self.invoices([mixed, dollars])
        self.assertAuthorized(mixed, '1')
        self.assertAuthorized(dollars, '6')
        series = self.sandbox.state('afip_wsfe')['series']
        held = series[f'{COMPANY_CUIT}:{POS}:1']['vouchers'][
            str(mixed['nro'])]['fields']
        self.assertEqual(held['Concepto'], '2')
        self.assertTrue(held['FchServDesde'] and held['FchVtoPago'])
        self.assertEqual(Decimal(held['ImpNeto']), Decimal('300'))
        self.assertEqual(Decimal(held['ImpIVA']), Decimal('42'))
        self.assertEqual(Decimal(held['ImpOpEx']), Decimal('30'))
        self.assertEqual(Decimal(held['ImpTotConc']), Decimal('20'))
        self.assertEqual(Decimal(held['ImpTrib']), Decimal('6'))
        self.assertEqual(Decimal(held['ImpTotal']), Decimal('398'))
        held = series[f'{COMPANY_CUIT}:{POS}:6']['vouchers'][
            str(dollars['nro'])]['fields']
        self.assertEqual(held['MonId'], 'DOL')
        self.assertEqual(Decimal(held['MonCotiz']), Decimal('1000'))
        self.assertEqual(held['CanMisMonExt'], 'S')
        self.assertEqual(held['CondicionIVAReceptorId'], '5')
        self.assertEqual(held['DocTipo'], '99')

    def test_rejected_in_batch(self):
        "A refused CUIT is rejected with AFIP's text; the rest authorized"
        self.sandbox.set_option('afip_wsfe', 'unregistered_cuits',
            [CUSTOMERS['unregistered'][1]])
        try:
            first, = self.post(party='ri')
            bad, = self.post(party='unregistered')
            last, = self.post(party='ri')
            self.cron()
        finally:
            self.sandbox.set_option('afip_wsfe', 'unregistered_cuits', [])
        first, bad, last = self.invoices([first, bad, last])
        self.assertAuthorized(first, '1')
        self.assertAuthorized(last, '1')
        self.assertEqual(last['nro'], first['nro'] + 1)
        self.assertEqual(bad['state'], 'rejected')
        self.assertEqual(bad['code'], '10015')
        self.assertIn('El campo DocNro es invalido', bad['message'])
        self.assertIsNone(bad['nro'])
        self.assertIsNone(bad['legal'])
        self.assertEqual(
            [o[1:] for o in last['outcomes']],
            [('accepted', None), ('not_found', '10016')])

    def test_observation_kept(self):
        "An observation on an accepted voucher is kept"
        self.sandbox.set_option('afip_wsfe', 'observation',
            {'code': 10217, 'msg': "Observacion de prueba"})
        try:
            invoice, = self.post(party='final')
            self.cron()
        finally:
            self.sandbox.set_option('afip_wsfe', 'observation', None)
        info = self.invoice(invoice)
        self.assertAuthorized(info, '6')
        self.assertEqual(info['code'], '10217')
        self.assertIn("Observacion de prueba", info['message'])

    def test_local_check(self):
        "A class A voucher without the party's CUIT is refused locally"
        invoice, = self.post(party='final', ar_receiver_condition='1')
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'rejected')
        self.assertEqual(info['code'], 'LOCAL')
        self.assertIn('CUIT', info['message'])
