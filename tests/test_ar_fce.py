"""AFIP WSFEv1: the request fields (Opcionales, Compradores, PeriodoAsoc,
Actividades) and the Factura de Crédito Electrónica MiPyME (FCE)."""
import datetime as dt
from decimal import Decimal

from lxml import etree

from tests import tools
from tests.ar_case import COMPANY_CUIT, CUSTOMERS, POS, ArTestCase, cuit

BIG_CUIT = cuit('3070000000')
CBU = '2850590940090418135201'
ACTIVITY = 620100
THRESHOLD = Decimal('1000')
NS = {'f': 'http://ar.gov.afip.dif.FEV1/'}
FCE_CONFIGURATION = {
    'ar_fce_threshold': THRESHOLD,
    'ar_cbu': CBU,
    'ar_cbu_alias': None,
    'ar_transfer_system': 'SCA',
    'ar_activity': ACTIVITY,
    }


def create_big_party():
    "A large company obliged to receive FCE"
    from trytond.pool import Pool
    Party = Pool().get('party.party')
    party = Party(name="Gran Empresa SA", addresses=[{}],
        ar_iva_condition='1', ar_fce_receiver=True,
        identifiers=[{'type': 'ar_vat', 'code': BIG_CUIT}])
    party.save()
    return party.id


def credit_forced(invoice_id):
    "A credit note of the invoice posted as FCE whatever its original"
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    credit, = Invoice.credit([Invoice(invoice_id)])
    credit.ar_fce = True
    credit.save()
    Invoice.post([credit])
    return credit.id


def drop_optionals(invoice_id):
    from trytond.pool import Pool
    Optional = Pool().get('account.einvoice.ar.invoice.optional')
    Optional.delete(Optional.search([('invoice', '=', invoice_id)]))


class ArFceTest(ArTestCase):

    @classmethod
    def setUpData(cls):
        super().setUpData()
        cls.base['parties']['big'] = tools.call(
            create_big_party, company=cls.base['company'])
        cls.sandbox.set_option('afip_wsfe', 'fce_receivers', [BIG_CUIT])
        cls.sandbox.set_option('afip_wsfe', 'fce_threshold', int(THRESHOLD))

    def setUp(self):
        super().setUp()
        self.set_configuration(**FCE_CONFIGURATION)

    # -- helpers ---------------------------------------------------------
    def held(self, info):
        "The FECAEDetRequest the sandbox authorized for the invoice"
        series = self.sandbox.state('afip_wsfe')['series']
        voucher = series[f'{COMPANY_CUIT}:{POS}:{info["type"]}'][
            'vouchers'][str(info['nro'])]
        return etree.fromstring(voucher['complex'].encode())

    @staticmethod
    def children(detail, path, *names):
        "The texts of names in each element at path of a detail"
        return [tuple(e.findtext(f'f:{n}', namespaces=NS) for n in names)
            for e in detail.iterfind(f'f:{path}', namespaces=NS)]

    def assertAuthorized(self, info, voucher_type):
        self.assertEqual(info['state'], 'accepted', info)
        self.assertEqual(info['type'], voucher_type)
        self.assertRegex(info['cae'], r'^\d{14}$')
        self.assertEqual(self.caes()[self.key(info)], 1)

    def assertRefused(self, info, *texts):
        self.assertEqual(info['state'], 'rejected', info)
        self.assertEqual(info['code'], 'LOCAL')
        self.assertIsNone(info['nro'])
        for text in texts:
            self.assertIn(text, info['message'])

    def sent(self):
        return [e for e in self.exchanges()
            if e['remote_operation'] == 'FECAESolicitar']

    def read(self, invoice_id, *names):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            invoice = Pool().get('account.invoice')(invoice_id)
            return {name: getattr(invoice, name) for name in names} | {
                'optionals': [(o.code, o.value, o.automatic)
                    for o in invoice.ar_optionals]}

    # -- tests -----------------------------------------------------------
    def test_fce_invoice_and_credit_note(self):
        "FCE A with CBU, transfer system and due date; its note 203 with 22"
        from trytond.model.exceptions import AccessError
        invoice, = self.post(party='big', ar_concept='1',
            lines=[(Decimal('1000'), ['iva21'], 1)])
        self.cron()
        info = self.invoice(invoice)
        self.assertAuthorized(info, '201')
        detail = self.held(info)
        self.assertEqual(self.children(detail, 'Opcionales/f:Opcional',
                'Id', 'Valor'),
            [('2101', CBU), ('27', 'SCA')])
        # products: FchVtoPago only because it is an FCE
        self.assertEqual(detail.findtext('f:Concepto', namespaces=NS), '1')
        self.assertIsNone(detail.find('f:FchServDesde', namespaces=NS))
        self.assertTrue(detail.findtext('f:FchVtoPago', namespaces=NS))
        self.assertEqual(detail.findtext(
                'f:Actividades/f:Actividad/f:Id', namespaces=NS),
            str(ACTIVITY))
        values = self.read(invoice, 'ar_fce', 'ar_activity')
        self.assertTrue(values['ar_fce'])
        self.assertEqual(values['ar_activity'], ACTIVITY)
        self.assertEqual(values['optionals'],
            [('2101', CBU, True), ('27', 'SCA', True)])
        with self.assertRaises(AccessError):
            tools.call(drop_optionals, invoice, company=self.company)

        credit = self.credit(invoice)
        self.cron()
        credit = self.invoice(credit)
        self.assertAuthorized(credit, '203')
        detail = self.held(credit)
        self.assertEqual(self.children(detail, 'Opcionales/f:Opcional',
                'Id', 'Valor'),
            [('22', 'N')])
        associated = detail.find('f:CbtesAsoc/f:CbteAsoc', namespaces=NS)
        self.assertEqual(associated.findtext('f:Tipo', namespaces=NS), '201')
        self.assertEqual(
            associated.findtext('f:Cuit', namespaces=NS), COMPANY_CUIT)
        self.assertTrue(associated.findtext('f:CbteFch', namespaces=NS))

        # a copy is decided again when posted: no FCE flag nor FCE fields
        def copy():
            from trytond.pool import Pool
            Invoice = Pool().get('account.invoice')
            duplicate, = Invoice.copy([Invoice(invoice)])
            return duplicate.id
        duplicate = tools.call(copy, company=self.company)
        values = self.read(duplicate, 'ar_fce', 'ar_activity')
        self.assertFalse(values['ar_fce'])
        self.assertEqual(values['optionals'], [])
        self.assertEqual(values['ar_activity'], ACTIVITY)

    def test_common_invoices(self):
        """An obliged receiver below the threshold, or anyone else above
        it, gets a common invoice; a note forced as FCE on a common invoice
        is refused locally"""
        small, = self.post(party='big')
        other, = self.post(party='ri',
            lines=[(Decimal('1000'), ['iva21'], 1)])
        self.cron()
        small, other = self.invoices([small, other])
        self.assertAuthorized(small, '1')
        self.assertAuthorized(other, '1')
        self.assertIsNone(self.held(small).find(
                'f:Opcionales', namespaces=NS))
        self.assertFalse(self.read(small['id'], 'ar_fce')['ar_fce'])

        forced = tools.call(credit_forced, other['id'], company=self.company)
        self.cron()
        self.assertRefused(
            self.invoice(forced), 'Associated Voucher', other['number'])

    def test_fce_without_cbu(self):
        "No CBU nor alias configured: refused locally naming the fields"
        from trytond.modules.account_einvoice_ar.exceptions import (
            FCEConfigurationError)
        with self.assertRaises(FCEConfigurationError):
            self.set_configuration(ar_cbu='2850590940090418135202')
        self.set_configuration(ar_cbu=None)
        sent = len(self.sent())
        with self.assertRaises(FCEConfigurationError) as raised:
            self.post(party='big', lines=[(Decimal('1000'), ['iva21'], 1)])
        self.assertIn('"CBU" or "CBU Alias"', raised.exception.message)
        self.assertIn('"Transfer System"', raised.exception.message)
        self.assertEqual(len(self.sent()), sent)

    def test_buyers(self):
        "Two buyers 50/50 accepted; 60/30 refused locally"
        buyers = [
            {'document_type': '80', 'document_number': CUSTOMERS['ri'][1],
                'percentage': Decimal('50')},
            {'document_type': '80', 'document_number': CUSTOMERS['mono'][1],
                'percentage': Decimal('50')},
            ]
        shared, = self.post(party='ri', ar_buyers=[dict(b) for b in buyers])
        buyers[0]['percentage'], buyers[1]['percentage'] = (
            Decimal('60'), Decimal('30'))
        wrong, = self.post(party='ri', ar_buyers=[dict(b) for b in buyers])
        self.cron()
        shared, wrong = self.invoices([shared, wrong])
        self.assertAuthorized(shared, '1')
        self.assertEqual(self.children(self.held(shared),
                'Compradores/f:Comprador', 'DocTipo', 'DocNro', 'Porcentaje'),
            [('80', CUSTOMERS['ri'][1], '50.00'),
                ('80', CUSTOMERS['mono'][1], '50.00')])
        self.assertRefused(wrong, '"Buyers"', '90')

    def test_period_note(self):
        "A credit note for a period (PeriodoAsoc), no associated voucher"
        today = dt.date.today()
        start, end = today - dt.timedelta(days=20), today - dt.timedelta(
            days=1)
        note, = self.post(party='ri',
            lines=[(Decimal('-50'), ['iva21'], 1)],
            ar_period_start=start, ar_period_end=end)
        late, = self.post(party='ri',
            lines=[(Decimal('-50'), ['iva21'], 1)],
            ar_period_start=start, ar_period_end=today + dt.timedelta(
                days=1))
        self.cron()
        note, late = self.invoices([note, late])
        self.assertAuthorized(note, '3')
        detail = self.held(note)
        self.assertIsNone(detail.find('f:CbtesAsoc', namespaces=NS))
        self.assertEqual(
            (detail.findtext('f:PeriodoAsoc/f:FchDesde', namespaces=NS),
                detail.findtext('f:PeriodoAsoc/f:FchHasta', namespaces=NS)),
            (start.strftime('%Y%m%d'), end.strftime('%Y%m%d')))
        self.assertRefused(late, '"Associated Period To"')
