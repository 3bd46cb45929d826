# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Huella, records and QR without a database: the AEAT's official vectors,
every record variant against the official schema, and reading records
back."""
import datetime as dt
import hashlib
import os
import re
import unittest
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from lxml import etree

from trytond.modules.account_einvoice import schema
from trytond.modules.account_einvoice.exceptions import (
    RecordError, SchemaError)
from trytond.modules.account_einvoice_es_sii.identification import (
    Identification)
from trytond.modules.account_einvoice_es_verifactu import facts as facts_
from trytond.modules.account_einvoice_es_verifactu.facts import (
    BreakdownLine, InvoiceId)
from trytond.modules.account_einvoice_es_verifactu.huella import (
    alta_text, anulacion_text, format_amount, format_timestamp,
    generation_time, huella)
from trytond.modules.account_einvoice_es_verifactu.qr import qr_url
from trytond.modules.account_einvoice_es_verifactu.records import (
    SF, record_fields, record_identity, registro_alta, registro_anulacion)

LR = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/tike/cont/ws/SuministroLR.xsd')
MADRID = ZoneInfo('Europe/Madrid')
VECTOR_1 = '3C464DAF61ACB827C65FDA19F352A4E3BDC2C640E9E9FC4CC058073F38F12F60'
VECTOR_2 = 'F7B94CFD8924EDFF273501B01EE5153E4CE8F259766F88CF6ACB8935802A2B97'
VECTOR_3 = '177547C0D57AC74748561D054A9CEC14B4C4EA23D1BEFD6F2E69E3A388F90C68'
ISSUER = '89890001K'
CUSTOMER = '12345678Z'
SYSTEM = {
    'NombreRazon': 'Productor Ejemplo SL',
    'NIF': 'B12345674',
    'NombreSistemaInformatico': 'Tryton account_einvoice',
    'IdSistemaInformatico': 'TE',
    'Version': '8.0',
    'NumeroInstalacion': '1',
    'TipoUsoPosibleSoloVerifactu': 'S',
    'TipoUsoPosibleMultiOT': 'S',
    'IndicadorMultiplesOT': 'N',
    }
PLAIN = {'subsanacion': False, 'rechazo_previo': None}


def madrid(*args):
    return dt.datetime(*args, tzinfo=MADRID)


def facts(number='12345678/G33', date=dt.date(2024, 1, 1), type_='F1',
        lines=None, counterpart=Identification(nif=CUSTOMER), **values):
    "What records.py reads of a VerifactuInvoice"
    if lines is None:
        lines = [BreakdownLine('01', 'S1', rate=Decimal(21),
                base=Decimal('111.10'), quota=Decimal('12.35'))]
    result = SimpleNamespace(
        issuer_nif=ISSUER, issuer_name='Empresa Emisora SL', number=number,
        date=date, type=type_, rectification_type=None, rectified=[],
        substituted=[], rectification_amounts=None, operation_date=None,
        description='Servicios', macrodato=False,
        destinatario=None if type_ in {'F2', 'R5'} else counterpart,
        counterpart_name='Cliente SA', lines=lines)
    result.cuota_total = sum((l.quota or 0) + (l.re_quota or 0)
        for l in lines)
    result.importe_total = result.cuota_total + sum(l.base for l in lines)
    for name, value in values.items():
        setattr(result, name, value)
    return result


class HuellaTest(unittest.TestCase):
    "The texts hashed and their SHA-256"

    def alta(self, **values):
        fields = {
            'IDEmisorFactura': ISSUER,
            'NumSerieFactura': '12345678/G33',
            'FechaExpedicionFactura': '01-01-2024',
            'TipoFactura': 'F1',
            'CuotaTotal': '12.35',
            'ImporteTotal': '123.45',
            'Huella': '',
            'FechaHoraHusoGenRegistro': '2024-01-01T19:20:30+01:00',
            }
        fields.update(values)
        return alta_text(fields)

    def test_official_vectors(self):
        "The three vectors of the AEAT's specification"
        first = huella(self.alta())
        self.assertEqual(first, VECTOR_1)
        second = huella(self.alta(NumSerieFactura='12345679/G34',
                Huella=first,
                FechaHoraHusoGenRegistro='2024-01-01T19:20:35+01:00'))
        self.assertEqual(second, VECTOR_2)
        third = huella(anulacion_text({
                    'IDEmisorFacturaAnulada': ISSUER,
                    'NumSerieFacturaAnulada': '12345679/G34',
                    'FechaExpedicionFacturaAnulada': '01-01-2024',
                    'Huella': second,
                    'FechaHoraHusoGenRegistro': '2024-01-01T19:20:40+01:00',
                    }))
        self.assertEqual(third, VECTOR_3)

    def test_text(self):
        "Values stripped at both ends only, not escaped nor encoded"
        text = self.alta(NumSerieFactura='  A 1&B/é  ', Huella=None)
        self.assertEqual(text,
            'IDEmisorFactura=89890001K&NumSerieFactura=A 1&B/é'
            '&FechaExpedicionFactura=01-01-2024&TipoFactura=F1'
            '&CuotaTotal=12.35&ImporteTotal=123.45&Huella='
            '&FechaHoraHusoGenRegistro=2024-01-01T19:20:30+01:00')
        self.assertEqual(huella(text),
            hashlib.sha256(text.encode('utf-8')).hexdigest().upper())
        self.assertNotEqual(huella(text),
            hashlib.sha256(text.encode('latin-1')).hexdigest().upper())
        self.assertRegex(huella(text), r'^[0-9A-F]{64}$')

    def test_amount(self):
        "Amounts: 2 decimals, sign kept, no separators; 12.3 is not 12.30"
        for value, text in [
                (Decimal('12.3'), '12.30'), (Decimal('-5'), '-5.00'),
                (Decimal('1234567.891'), '1234567.89'),
                (Decimal('0.006'), '0.01'), (Decimal('-0.001'), '0.00'),
                (Decimal(0), '0.00'), (None, '0.00'), ('7', '7.00'),
                (Decimal('999999999999.99'), '999999999999.99')]:
            with self.subTest(value=value):
                self.assertEqual(format_amount(value), text)
        self.assertNotEqual(huella(self.alta(CuotaTotal='12.3')),
            huella(self.alta(CuotaTotal='12.30')))

    def test_timestamp(self):
        "Local time of Madrid with its offset, no fraction"
        self.assertEqual(format_timestamp(madrid(2024, 1, 1, 19, 20, 30, 99)),
            '2024-01-01T19:20:30+01:00')
        self.assertEqual(format_timestamp(madrid(2024, 7, 1, 9, 5, 1)),
            '2024-07-01T09:05:01+02:00')
        with self.assertRaises(ValueError):
            format_timestamp(dt.datetime(2024, 1, 1))

    def test_generation_time(self):
        "Generation time: Madrid's, truncated to the second"
        utc = dt.datetime(2024, 7, 1, 10, 0, 0, 654321, tzinfo=dt.timezone.utc)
        generated = generation_time(utc)
        self.assertEqual(format_timestamp(generated),
            '2024-07-01T12:00:00+02:00')
        self.assertEqual(generation_time(utc.replace(tzinfo=None)),
            generated)
        self.assertEqual(format_timestamp(generation_time(
                    dt.datetime(2024, 12, 31, 23, 30))),
            '2025-01-01T00:30:00+01:00')
        now = generation_time()
        self.assertEqual(now.microsecond, 0)
        self.assertIn(now.utcoffset(),
            {dt.timedelta(hours=1), dt.timedelta(hours=2)})


class RecordsTest(unittest.TestCase):
    "Records built, validated against the official schema and read back"

    @classmethod
    def setUpClass(cls):
        try:
            location = schema.locate('es_verifactu/SuministroLR.xsd')
        except SchemaError:
            raise unittest.SkipTest("the official schemas are not available")
        cls.xsd = schema.xml_schema(location)

    def assertValid(self, data):
        "data is a stored record: one element, UTF-8, no declaration"
        self.assertTrue(data.startswith(b'<sf:Registro'), data[:40])
        self.assertIn(b' xmlns:sf="%s"' % SF.encode(), data[:300])
        self.assertNotIn(b'\n', data)
        body = etree.Element(
            '{%s}RegFactuSistemaFacturacion' % LR, nsmap={'sfLR': LR})
        cabecera = etree.SubElement(body, '{%s}Cabecera' % LR)
        obligado = etree.SubElement(cabecera, '{%s}ObligadoEmision' % SF)
        etree.SubElement(obligado, '{%s}NombreRazon' % SF).text = 'Empresa'
        etree.SubElement(obligado, '{%s}NIF' % SF).text = ISSUER
        wrapper = etree.SubElement(body, '{%s}RegistroFactura' % LR)
        wrapper.append(etree.fromstring(data))
        if not self.xsd.validate(body):
            self.fail('\n'.join(e.message for e in self.xsd.error_log))
        fields = record_fields(data)
        self.assertEqual(huella(fields['text']), fields['Huella'])
        return fields

    def test_official_chain(self):
        "The records of the official vectors give the official huellas"
        first = registro_alta(facts(), None, madrid(2024, 1, 1, 19, 20, 30),
            SYSTEM, PLAIN)
        fields = self.assertValid(first)
        self.assertEqual(fields['Huella'], VECTOR_1)
        self.assertIsNone(fields['previous'])
        self.assertIsNone(fields['previous_identity'])
        self.assertIn(b'<sf:PrimerRegistro>S</sf:PrimerRegistro>', first)
        self.assertEqual(fields['kind'], 'alta')
        self.assertEqual(fields['ImporteTotal'], '123.45')
        self.assertEqual(fields['CuotaTotal'], '12.35')

        second_facts = facts(number='12345679/G34')
        second = registro_alta(second_facts, record_identity(first),
            madrid(2024, 1, 1, 19, 20, 35), SYSTEM, PLAIN)
        fields = self.assertValid(second)
        self.assertEqual(fields['Huella'], VECTOR_2)
        self.assertEqual(fields['previous'], VECTOR_1)
        self.assertEqual(fields['previous_identity'], {
                'IDEmisorFactura': ISSUER,
                'NumSerieFactura': '12345678/G33',
                'FechaExpedicionFactura': '01-01-2024',
                'Huella': VECTOR_1,
                })

        cancel = registro_anulacion(second_facts, record_identity(second),
            madrid(2024, 1, 1, 19, 20, 40), SYSTEM,
            {'rechazo_previo': False, 'sin_registro_previo': False})
        fields = self.assertValid(cancel)
        self.assertEqual(fields['kind'], 'anulacion')
        self.assertEqual(fields['Huella'], VECTOR_3)
        self.assertEqual(fields['previous'], VECTOR_2)
        self.assertEqual(fields['flags'], {})
        self.assertEqual(record_identity(cancel), {
                'IDEmisorFactura': ISSUER,
                'NumSerieFactura': '12345679/G34',
                'FechaExpedicionFactura': '01-01-2024',
                'Huella': VECTOR_3,
                })

    def test_variants(self):
        "Every kind of record the module writes follows the schema"
        previous = {'IDEmisorFactura': ISSUER, 'NumSerieFactura': 'A-1',
            'FechaExpedicionFactura': '31-12-2023', 'Huella': VECTOR_1}
        original = InvoiceId(ISSUER, 'A-1', dt.date(2023, 12, 31))
        ticket = InvoiceId(ISSUER, 'T-7', dt.date(2023, 12, 30))
        mixed = [
            BreakdownLine('01', 'S1', rate=Decimal(21), base=Decimal(100),
                quota=Decimal(21), re_rate=Decimal('5.2'),
                re_quota=Decimal('5.20')),
            BreakdownLine('01', 'S1', rate=Decimal(10), base=Decimal(10),
                quota=Decimal(1)),
            BreakdownLine('01', 'S2', rate=Decimal(0), base=Decimal(50),
                quota=Decimal(0)),
            BreakdownLine('01', exemption='E1', base=Decimal(7)),
            BreakdownLine('02', exemption='E2', base=Decimal(8)),
            BreakdownLine('01', 'N1', base=Decimal(3)),
            BreakdownLine('01', 'N2', base=Decimal(4)),
            ]
        negative = [BreakdownLine('01', 'S1', rate=Decimal(21),
                base=Decimal(-100), quota=Decimal(-21))]
        variants = {
            'F1 mixed': (facts(lines=mixed), PLAIN),
            'F1 foreign': (facts(counterpart=Identification(
                        country='DE', id_type='02', id='DE136695976')),
                PLAIN),
            'F1 passport without country': (facts(
                    counterpart=Identification(id_type='03', id='X1')),
                PLAIN),
            'F2': (facts(type_='F2'), PLAIN),
            'F3': (facts(type_='F3', substituted=[ticket]), PLAIN),
            'R1 by differences': (facts(type_='R1', lines=negative,
                    rectification_type='I', rectified=[original]), PLAIN),
            'R4 substitution': (facts(type_='R4', lines=mixed,
                    rectification_type='S', rectified=[original],
                    rectification_amounts=(Decimal(100), Decimal(21),
                        Decimal('5.2'))), PLAIN),
            'R1 substitution without surcharge': (facts(type_='R1',
                    rectification_type='S', rectified=[original],
                    rectification_amounts=(Decimal(1), Decimal(0), None)),
                PLAIN),
            'R5': (facts(type_='R5', lines=negative, rectification_type='I',
                    rectified=[ticket]), PLAIN),
            'operation date, macrodato': (facts(
                    operation_date=dt.date(2023, 12, 1), macrodato=True,
                    lines=[BreakdownLine('01', 'S1', rate=Decimal(21),
                            base=Decimal('100000000'),
                            quota=Decimal('21000000'))]), PLAIN),
            'no tax': (facts(lines=[BreakdownLine('01', 'N1')]), PLAIN),
            'subsanacion': (facts(),
                {'subsanacion': True, 'rechazo_previo': None}),
            'rechazo previo': (facts(),
                {'subsanacion': True, 'rechazo_previo': 'S'}),
            'never received': (facts(),
                {'subsanacion': True, 'rechazo_previo': 'X'}),
            'texts': (facts(number=' Serie A&B/ñ 1 ',
                    description='Línea <1> & "dos"\x07',
                    issuer_name='Émisora & Cía', counterpart_name='Ñu <SL>'),
                PLAIN),
            }
        for name, (values, flags) in variants.items():
            for link in [None, previous]:
                with self.subTest(variant=name, first=link is None):
                    data = registro_alta(values, link,
                        madrid(2024, 1, 2, 3, 4, 5), SYSTEM, flags)
                    fields = self.assertValid(data)
                    self.assertEqual(fields['TipoFactura'], values.type)
                    self.assertEqual(fields['previous'],
                        link and link['Huella'])
                    expected = {}
                    if flags['subsanacion']:
                        expected['Subsanacion'] = 'S'
                    if flags['rechazo_previo']:
                        expected['RechazoPrevio'] = flags['rechazo_previo']
                    self.assertEqual(fields['flags'], expected)
        for flags, expected in [
                ({'rechazo_previo': True, 'sin_registro_previo': False},
                    {'RechazoPrevio': 'S'}),
                ({'rechazo_previo': False, 'sin_registro_previo': True},
                    {'SinRegistroPrevio': 'S'})]:
            with self.subTest(anulacion=expected):
                data = registro_anulacion(facts(), previous,
                    madrid(2024, 1, 2, 3, 4, 5), SYSTEM, flags)
                fields = self.assertValid(data)
                self.assertEqual(fields['flags'], expected)

    def test_written_as_given(self):
        """Texts written as given (UTF-8, escaped as XML needs) and hashed
        stripped; a description loses what XML cannot carry"""
        data = registro_alta(facts(number=' Serie A&B/ñ 1 ',
                description='Línea\x07 uno', counterpart_name='Ñu'),
            None, madrid(2024, 1, 2, 3, 4, 5), SYSTEM, PLAIN)
        self.assertIn('<sf:NumSerieFactura> Serie A&amp;B/ñ 1 '
            '</sf:NumSerieFactura>'.encode('utf-8'), data)
        self.assertIn('<sf:DescripcionOperacion>Línea uno<'.encode(), data)
        self.assertIn('<sf:NombreRazon>Ñu</sf:NombreRazon>'.encode(), data)
        self.assertIn(b'<sf:FechaHoraHusoGenRegistro>'
            b'2024-01-02T03:04:05+01:00<', data)
        fields = record_fields(data)
        self.assertEqual(fields['NumSerieFactura'], 'Serie A&B/ñ 1')
        self.assertIn('&NumSerieFactura=Serie A&B/ñ 1&', fields['text'])
        self.assertEqual(fields['identity']['NumSerieFactura'],
            'Serie A&B/ñ 1')

    def test_identifier_not_xml(self):
        "An identifier holding what XML cannot carry refuses the record"
        with self.assertRaises(RecordError) as context:
            registro_alta(facts(number='A\x01B'), None,
                madrid(2024, 1, 2, 3, 4, 5), SYSTEM, PLAIN)
        self.assertEqual(dict(context.exception.reason.params), {
                'field': 'NumSerieFactura', 'characters': 'U+0001'})

    def test_tampered(self):
        "A record changed after generation no longer matches its huella"
        data = registro_alta(facts(), None, madrid(2024, 1, 1, 19, 20, 30),
            SYSTEM, PLAIN)
        fields = record_fields(data.replace(b'>123.45<', b'>123.46<'))
        self.assertEqual(fields['Huella'], VECTOR_1)
        self.assertNotEqual(huella(fields['text']), VECTOR_1)


class QRTest(unittest.TestCase):
    "The ValidarQR address"

    def test_hosts(self):
        self.assertEqual(
            qr_url('staging', ISSUER, '12345678/G33', dt.date(2024, 1, 1),
                Decimal('241.4')),
            'https://prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR?nif=89890001K'
            '&numserie=12345678%2FG33&fecha=01-01-2024&importe=241.40')
        self.assertEqual(
            qr_url('production', ISSUER, 'A1', '01-01-2024', '-5.00'),
            'https://www2.agenciatributaria.gob.es/wlpl/TIKE-CONT/ValidarQR'
            '?nif=89890001K&numserie=A1&fecha=01-01-2024&importe=-5.00')

    def test_encoding(self):
        "Every value is URL-encoded"
        url = qr_url('staging', ISSUER, '12345678&G33', '01-01-2024',
            '12.30')
        self.assertIn('&numserie=12345678%26G33&', url)
        url = qr_url('staging', ISSUER, 'Sé 1?=#+', '01-01-2024', '1.00')
        self.assertIn('&numserie=S%C3%A9+1%3F%3D%23%2B&', url)


class MessagesTest(unittest.TestCase):
    "The local checks' messages are declared"

    def test_declared(self):
        directory = os.path.dirname(facts_.__file__)
        declared = {r.get('id') for r in etree.parse(
                os.path.join(directory, 'message.xml')).iter('record')}
        used = {'msg_text_not_xml'} | {
            m.split('.', 1)[1] for m in facts_.SII_MESSAGES.values()}
        with open(facts_.__file__) as fp:
            used |= set(re.findall(r"msg\('(msg_\w+)'", fp.read()))
        self.assertGreater(len(used), 10)
        self.assertLessEqual(used, declared)
