"""VERI*FACTU facts of real invoices (types, breakdown, rectifications,
local checks) and the records written from them against the official
schema.  Only the SII module is activated: the facts read the SII keys and
nothing else of the database."""
import datetime as dt
import unittest
from decimal import Decimal

from lxml import etree

from tests import tools
from tests.sii_case import create_invoice, create_sii_base, nif

ISSUER = nif('89890001')
SF = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/tike/cont/ws/SuministroInformacion.xsd')
LR = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/tike/cont/ws/SuministroLR.xsd')
SYSTEM = {
    'NombreRazon': 'Productor', 'NIF': ISSUER,
    'NombreSistemaInformatico': 'Tryton', 'IdSistemaInformatico': 'TE',
    'Version': '8.0', 'NumeroInstalacion': '1',
    'TipoUsoPosibleSoloVerifactu': 'S', 'TipoUsoPosibleMultiOT': 'S',
    'IndicadorMultiplesOT': 'N'}
MSG = 'account_einvoice_es_verifactu.'


class VerifactuFactsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        from trytond.modules.account_einvoice import schema
        cls.test_tryton = tools.trytond_setup()
        cls.test_tryton.drop_db()
        cls.test_tryton.activate_module(['account_einvoice_es_sii'])
        cls.base = tools.call(create_sii_base, ISSUER)
        cls.xsd = schema.xml_schema(schema.locate(
                'es_verifactu/SuministroLR.xsd'))

    @classmethod
    def tearDownClass(cls):
        cls.test_tryton.drop_db()

    def facts(self, lines, post=True, change=None, **kwargs):
        """The VerifactuInvoice of a new invoice and its record;
        change(invoice) may alter the invoice first (or return another)"""
        from trytond.modules.account_einvoice_es_verifactu import records
        from trytond.modules.account_einvoice_es_verifactu.facts import (
            VerifactuInvoice)

        def build():
            invoice = create_invoice(self.base, lines, post=post, **kwargs)
            if change:
                invoice = change(invoice) or invoice
            facts = VerifactuInvoice(invoice)
            data = None
            if not facts.errors:
                data = records.registro_alta(facts, None,
                    dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), SYSTEM,
                    {'subsanacion': False, 'rechazo_previo': None})
                self.assertValid(data)
            return facts, data
        return tools.call(build, company=self.base['company'], commit=False)

    def assertValid(self, data):
        body = etree.Element('{%s}RegFactuSistemaFacturacion' % LR)
        cabecera = etree.SubElement(body, '{%s}Cabecera' % LR)
        obligado = etree.SubElement(cabecera, '{%s}ObligadoEmision' % SF)
        etree.SubElement(obligado, '{%s}NombreRazon' % SF).text = 'E'
        etree.SubElement(obligado, '{%s}NIF' % SF).text = ISSUER
        etree.SubElement(body, '{%s}RegistroFactura' % LR).append(
            etree.fromstring(data))
        self.assertTrue(self.xsd.validate(body), self.xsd.error_log)

    def ids(self, facts):
        return [e.id for e in facts.errors]

    def breakdown(self, facts):
        return [(l.regime, l.qualification or l.exemption, l.rate, l.base,
                l.quota, l.re_rate, l.re_quota) for l in facts.lines]

    def test_complete_invoice(self):
        "F1: subject with surcharge, exempt and not subject lines"
        facts, data = self.facts([
                (100, ['iva21_re', 're52'], 'goods'), (50, ['exempt'], None),
                (30, ['ns'], None), (20, [], None), (10, ['iva10'], None)],
            party='eu')
        self.assertEqual(facts.errors, [])
        self.assertEqual(facts.type, 'F1')
        self.assertIsNone(facts.rectification_type)
        self.assertEqual(facts.destinatario.id, 'DE136695976')
        self.assertEqual(self.breakdown(facts), [
                ('01', 'S1', Decimal('21.00'), Decimal('100.00'),
                    Decimal('21.00'), Decimal('5.20'), Decimal('5.20')),
                ('01', 'S1', Decimal('10.00'), Decimal('10.00'),
                    Decimal('1.00'), None, None),
                ('01', 'E1', None, Decimal('50.00'), None, None, None),
                ('01', 'N1', None, Decimal('50.00'), None, None, None),
                ])
        self.assertEqual(facts.cuota_total, Decimal('27.20'))
        self.assertEqual(facts.importe_total, Decimal('237.20'))
        self.assertIn(b'<sf:IDOtro><sf:CodigoPais>DE</sf:CodigoPais>', data)

    def test_simplified_and_credits(self):
        "F2 without Destinatarios; its credit R5; the credit of an F1 R1"
        from trytond.modules.account_einvoice_es_verifactu import records
        from trytond.modules.account_einvoice_es_verifactu.facts import (
            VerifactuInvoice)
        from trytond.pool import Pool

        def build():
            Invoice = Pool().get('account.invoice')
            result = {}
            for party in ['plain', 'es']:
                invoice = create_invoice(self.base, [(100, ['iva21'], None)],
                    party=party)
                credit, = Invoice.credit([invoice])
                Invoice.post([credit])
                result[party] = VerifactuInvoice(invoice), VerifactuInvoice(
                    credit)
            for facts in sum(result.values(), ()):
                self.assertEqual(facts.errors, [])
                self.assertValid(records.registro_alta(facts, None,
                        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                        SYSTEM, {'subsanacion': False,
                            'rechazo_previo': None}))
            return result
        result = tools.call(build, company=self.base['company'],
            commit=False)
        (ticket, ticket_credit), (invoice, credit) = (
            result['plain'], result['es'])
        self.assertEqual((ticket.type, ticket.destinatario), ('F2', None))
        self.assertEqual(ticket_credit.type, 'R5')
        self.assertIsNone(ticket_credit.destinatario)
        self.assertEqual(invoice.type, 'F1')
        self.assertEqual(credit.type, 'R1')
        self.assertEqual(credit.rectification_type, 'I')
        self.assertEqual([(i.nif, i.number, i.date) for i in credit.rectified],
            [(ISSUER, invoice.number, invoice.date)])
        self.assertIsNone(credit.rectification_amounts)
        self.assertEqual(credit.importe_total, Decimal('-121.00'))
        self.assertEqual(credit.cuota_total, Decimal('-21.00'))

    def test_substitution(self):
        "A complete invoice issued for a ticket is an F3 naming it"
        from trytond.modules.account_einvoice_es_verifactu.facts import (
            VerifactuInvoice)

        def build():
            ticket = create_invoice(self.base, [(100, ['iva21'], None)],
                party='plain')
            invoice = create_invoice(self.base, [(100, ['iva21'], None)],
                post=False)
            invoice.lines[0].origin = ticket.lines[0]
            invoice.lines[0].save()
            return ticket.number, VerifactuInvoice(invoice)
        ticket, facts = tools.call(build, company=self.base['company'],
            commit=False)
        self.assertEqual(facts.type, 'F3')
        self.assertEqual([i.number for i in facts.substituted], [ticket])
        self.assertEqual(facts.rectified, [])

    def test_local_checks(self):
        "Each local check names the invoice and the field"
        cases = [
            ({'party': 'bad'}, [(100, ['iva21'], None)],
                'msg_counterpart_invalid'),
            ({'override': 'R1'}, [(-100, ['iva21'], None)],
                'msg_rectified_missing'),
            ({}, [(100, ['isp21'], None)], 'msg_reverse_charge_quota'),
            ({}, [(100, ['untagged0'], None)], 'msg_tax_key_missing'),
            ({'change': lambda i: setattr(i, 'number', 'N' * 61)},
                [(100, ['iva21'], None)], 'msg_number_too_long'),
            ({'change': lambda i: setattr(i, 'sii_operation_key', '13')},
                [(100, ['iva21'], None)], 'msg_regime_not_allowed'),
            ({'party': 'us', 'override': 'F1'}, [
                    (i + 1, [], None) for i in range(3)], None),
            ]
        for values, lines, expected in cases:
            with self.subTest(expected=expected):
                facts, _ = self.facts(lines, **values)
                self.assertEqual(self.ids(facts),
                    [MSG + expected] if expected else [])
                for error in facts.errors:
                    self.assertEqual(dict(error.params)['invoice'],
                        facts.invoice.rec_name)

    def test_too_many_lines(self):
        "At most 12 breakdown lines"
        from trytond.pool import Pool

        def change(invoice):
            Tax = Pool().get('account.tax')
            names = ['exempt', 'intra', 'export']
            taxes = []
            for i in range(10):
                tax = Tax(name=f'rate{i}', description=f'rate{i}',
                    type='percentage', rate=Decimal(i + 1) / 100,
                    company=invoice.company, sii_tax_key='S1',
                    invoice_account=Tax(self.base['taxes']['iva21'])
                    .invoice_account,
                    credit_note_account=Tax(self.base['taxes']['iva21'])
                    .credit_note_account)
                tax.save()
                taxes.append(tax)
            invoice.lines = [{'account': self.base['revenue'],
                    'quantity': 1, 'unit_price': Decimal(10),
                    'description': 'x', 'taxes': [t.id]}
                for t in taxes] + [{'account': self.base['revenue'],
                    'quantity': 1, 'unit_price': Decimal(10),
                    'description': n,
                    'taxes': [self.base['taxes'][n]]} for n in names]
            invoice.save()
            invoice.__class__.update_taxes([invoice])
            return invoice.__class__(invoice.id)
        facts, _ = self.facts([(1, ['iva21'], None)], post=False,
            change=change)
        self.assertIn(MSG + 'msg_too_many_lines', self.ids(facts))
        self.assertEqual(len(facts.lines), 13)
