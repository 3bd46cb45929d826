"""What the SIFEN document tests share (no database): the modules, a
throw-away signing identity with SIFEN's RUC serialNumber, SET's samples,
and a DocumentData of each kind (FE cash, FE credit in USD with a partly
taxed line, FE to an anonymous receiver, NC, ND)."""
import datetime as dt
import glob
import os
import re
import unittest
from dataclasses import replace
from decimal import Decimal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from tests import tools

SIFEN = 'http://ekuatia.set.gov.py/sifen/xsd'
DS = 'http://www.w3.org/2000/09/xmldsig#'
NS = {'s': SIFEN, 'ds': DS}
SAMPLES = os.path.join(tools.SCHEMAS, 'py_sifen', 'samples')
SET_SAMPLES = sorted(glob.glob(os.path.join(SAMPLES, 'set_2019', '*.xml')))
BROKEN = sorted(glob.glob(os.path.join(SAMPLES, 'broken', '*.xml')))
CSC_ID, CSC = '0001', 'ABCD0000000000000000000000000000'
NOW = dt.datetime(2026, 3, 10, 12, 0, 0)
D = Decimal
MODULE = os.path.join(tools.ROOT, 'account_einvoice_py_sifen')
PLACEHOLDER = re.compile(r'%\((\w+)\)s')


def modules():
    from trytond.modules.account_einvoice_py_sifen import (
        amounts, cdc, de, document, events, invoice_data, lot, qr, rules)
    return amounts, cdc, de, document, events, invoice_data, lot, qr, rules


def signing():
    from trytond.modules.account_einvoice import signing
    return signing


def identity():
    "A throw-away RSA key and certificate with SIFEN's RUC serialNumber"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, 'PY'),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, 'RUC80013884-8'),
            x509.NameAttribute(NameOID.COMMON_NAME, 'BANCARD S.A.')])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256()))
    return key, certificate


def parse(data):
    from trytond.modules.account_einvoice.schema import parse_untrusted
    return parse_untrusted(data)


def sample_rde(path):
    "The rDE of a sample file, without the blanks of its pretty-printing"
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True,
        resolve_entities=False, no_network=True)
    root = etree.parse(path, parser).getroot()
    return next(root.iter(f'{{{SIFEN}}}rDE'))


def invoice_data(**values):
    "An FE (cash, PYG) with a 10 %, a 5 % and an exempt line"
    I = modules()[5]
    issuer = I.IssuerData(
        name='BANCARD S.A.', ruc='80013884', ruc_dv='8', taxpayer_type=2,
        address='Avenida Brasilia', house_number='765', department=1,
        department_name='CAPITAL', city=1, city_name='ASUNCION (DISTRITO)',
        phone='0214161000', email='contabilidad@example.com.py',
        activity_code='64990', activity_name='OTRAS ACTIVIDADES FINANCIERAS',
        district=1, district_name='ASUNCION (DISTRITO)',
        timbrado='12557209', timbrado_start=dt.date(2025, 10, 1),
        sources={'ruc': ('party.identifier', 'code')})
    receiver = I.ReceiverData(
        name='BANCO DEL PARAGUAY S.A.', nature=1, operation_type=1,
        taxpayer_type=2, ruc='80002201', ruc_dv='7',
        address='Yegros y Mcal. López', house_number='123')
    lines = [
        I.LineData(code='SRV-1', description='Servicio de procesamiento',
            quantity=D(3), unit=77, unit_name='UNI', unit_price=D(110000),
            total=D(330000), affectation=I.TAXED, rate=D(10),
            base=D(300000), tax=D(30000)),
        I.LineData(code='MED-1', description='Medicamento',
            quantity=D(2), unit=77, unit_name='UNI', unit_price=D(10500),
            total=D(21000), affectation=I.TAXED, rate=D(5),
            base=D(20000), tax=D(1000)),
        I.LineData(code='LIB-1', description='Libro escolar',
            quantity=D(1), unit=77, unit_name='UNI', unit_price=D(50000),
            total=D(50000), affectation=I.EXEMPT, rate=D(0)),
        ]
    data = I.DocumentData(
        type=I.INVOICE, number='0000001', issued=NOW, issuer=issuer,
        receiver=receiver, lines=lines, total=D(401000),
        tax_total=D(31000), reference='INV/1')
    return replace(data, **values)


class SifenDataCase(unittest.TestCase):
    "The modules, the identity, the data of each kind, the messages"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        (cls.amounts, cls.cdc, cls.de, cls.document, cls.events,
            cls.I, cls.lot, cls.qr, cls.rules) = modules()
        cls.key, cls.certificate = identity()
        cls.cert_pem = cls.certificate.public_bytes(serialization.Encoding.PEM)
        I = cls.I
        fe = invoice_data()
        cls.fe = fe
        cls.fe_credit = replace(fe, number='0000002', condition=2,
            currency='USD', currency_name='US Dollar', rate=D('7350.5'),
            lines=[replace(fe.lines[0], unit_price=D('110.00'),
                    quantity=D('2.5'), total=D('270.00'), base=D('245.45'),
                    tax=D('24.55')),
                I.LineData(code='P-1', description='Producto parcial',
                    quantity=D(1), unit=77, unit_name='UNI',
                    unit_price=D('100.00'), total=D('100.00'),
                    affectation=I.PARTLY_TAXED, rate=D(10),
                    proportion=D(30), base=D('27.27'), tax=D('2.73'),
                    exempt_base=D('70.00'))],
            instalments=[I.InstalmentData(D('185.00'), dt.date(2026, 4, 9)),
                I.InstalmentData(D('185.00'), dt.date(2026, 5, 9))],
            total=D('370.00'), tax_total=D('27.28'))
        cls.fe_innominate = replace(fe, number='0000003',
            receiver=I.ReceiverData(name='Sin Nombre', nature=2,
                operation_type=2, id_type=5), condition=2, credit_days=30)
        cls.nc_associated = '01800138848001001000000122026031012345678904'
        cls.nc_associated = cls.nc_associated[:-1] + str(
            cls.cdc.check_digit(cls.nc_associated[:-1]))
        cls.nc = replace(fe, type=I.CREDIT_NOTE, number='0000001',
            associated_cdc=cls.nc_associated, reason=2,
            lines=fe.lines[:1], total=D(330000), tax_total=D(30000))
        cls.nd = replace(cls.nc, type=I.DEBIT_NOTE, reason=8)
        cls.messages = {
            record.get('id'): record.findtext('field')
            for record in etree.parse(
                os.path.join(MODULE, 'message.xml')).iter('record')
            if record.get('model') == 'ir.message'}
