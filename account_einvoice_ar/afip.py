# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""AFIP/ARCA tables and pure helpers (no database, no network)."""
import base64
import datetime as dt
import json
from decimal import Decimal

from lxml.builder import ElementMaker

#: Argentina's civil time (no daylight saving time since 2009)
AR_TZ = dt.timezone(dt.timedelta(hours=-3), 'ART')

IVA_CONDITIONS = [
    (None, ""),
    ('1', "IVA Responsable Inscripto"),
    ('4', "IVA Sujeto Exento"),
    ('5', "Consumidor Final"),
    ('6', "Responsable Monotributo"),
    ('7', "Sujeto No Categorizado"),
    ('8', "Proveedor del Exterior"),
    ('9', "Cliente del Exterior"),
    ('10', "IVA Liberado - Ley N° 19.640"),
    ('13', "Monotributista Social"),
    ('15', "IVA No Alcanzado"),
    ('16', "Monotributo Trabajador Independiente Promovido"),
    ]
#: receiver conditions allowed on class A vouchers (RG 5616 table)
CLASS_A_RECEIVERS = {'1', '6', '13', '16'}
#: issuer conditions that issue class C vouchers
CLASS_C_ISSUERS = {'4', '6', '13', '16'}

IVA_RATES = [
    (None, ""),
    ('3', "0 %"),
    ('9', "2.5 %"),
    ('8', "5 %"),
    ('4', "10.5 %"),
    ('5', "21 %"),
    ('6', "27 %"),
    ]
IVA_RATE_VALUES = {
    '3': Decimal('0'), '9': Decimal('0.025'), '8': Decimal('0.05'),
    '4': Decimal('0.105'), '5': Decimal('0.21'), '6': Decimal('0.27'),
    }
TRIBUTES = [
    (None, ""),
    ('1', "Impuestos nacionales"),
    ('2', "Impuestos provinciales"),
    ('3', "Impuestos municipales"),
    ('4', "Impuestos Internos"),
    ('5', "IIBB"),
    ('6', "Percepción de IVA"),
    ('7', "Percepción de IIBB"),
    ('8', "Percepciones por Impuestos Municipales"),
    ('9', "Otras Percepciones"),
    ('13', "Percepción de IVA a no Categorizado"),
    ('99', "Otro"),
    ]
TAX_KINDS = [
    (None, ""),
    ('iva', "IVA"),
    ('exempt', "Exempt (IVA)"),
    ('not_taxed', "Not Taxed (IVA)"),
    ('tribute', "Other Tribute"),
    ]
CONCEPTS = [
    (None, ""),
    ('1', "Products"),
    ('2', "Services"),
    ('3', "Products and Services"),
    ]
VOUCHER_TYPES = [
    (None, ""),
    ('1', "Factura A"), ('2', "Nota de Débito A"), ('3', "Nota de Crédito A"),
    ('6', "Factura B"), ('7', "Nota de Débito B"), ('8', "Nota de Crédito B"),
    ('11', "Factura C"), ('12', "Nota de Débito C"),
    ('13', "Nota de Crédito C"),
    ('201', "Factura de Crédito electrónica MiPyMEs (FCE) A"),
    ('202', "Nota de Débito electrónica MiPyMEs (FCE) A"),
    ('203', "Nota de Crédito electrónica MiPyMEs (FCE) A"),
    ('206', "Factura de Crédito electrónica MiPyMEs (FCE) B"),
    ('207', "Nota de Débito electrónica MiPyMEs (FCE) B"),
    ('208', "Nota de Crédito electrónica MiPyMEs (FCE) B"),
    ('211', "Factura de Crédito electrónica MiPyMEs (FCE) C"),
    ('212', "Nota de Débito electrónica MiPyMEs (FCE) C"),
    ('213', "Nota de Crédito electrónica MiPyMEs (FCE) C"),
    ]
# (class, kind, FCE MiPyME) -> CbteTipo
VOUCHER_CODES = {
    ('A', 'invoice', False): 1, ('A', 'debit_note', False): 2,
    ('A', 'credit_note', False): 3,
    ('B', 'invoice', False): 6, ('B', 'debit_note', False): 7,
    ('B', 'credit_note', False): 8,
    ('C', 'invoice', False): 11, ('C', 'debit_note', False): 12,
    ('C', 'credit_note', False): 13,
    ('A', 'invoice', True): 201, ('A', 'debit_note', True): 202,
    ('A', 'credit_note', True): 203,
    ('B', 'invoice', True): 206, ('B', 'debit_note', True): 207,
    ('B', 'credit_note', True): 208,
    ('C', 'invoice', True): 211, ('C', 'debit_note', True): 212,
    ('C', 'credit_note', True): 213,
    }
#: CbteTipo -> (class, kind, FCE MiPyME)
VOUCHER_KEYS = {c: k for k, c in VOUCHER_CODES.items()}
VOUCHER_CLASS = {c: k[0] for c, k in VOUCHER_KEYS.items()}
NOTES = {c for c, k in VOUCHER_KEYS.items() if k[1] != 'invoice'}
#: Factura de Crédito Electrónica MiPyME (RG 4367): invoices and notes
FCE_TYPES = {c for c, k in VOUCHER_KEYS.items() if k[2]}
FCE_INVOICES = FCE_TYPES - NOTES
FCE_NOTES = FCE_TYPES & NOTES
#: total in pesos from which an FCE is due to an obliged receiver
FCE_THRESHOLD = Decimal('3958316')
#: Opcionales (FEParamGetTiposOpcional) of the FCE
OPTIONAL_CBU = '2101'
OPTIONAL_ALIAS = '2102'
OPTIONAL_CANCELLATION = '22'
OPTIONAL_TRANSFER = '27'
TRANSFER_SYSTEMS = [
    (None, ""),
    ('SCA', "Open Circulation System (SCA)"),
    ('ADC', "Collective Deposit Agent (ADC)"),
    ]
#: Comprador DocTipo (FEParamGetTiposDoc)
BUYER_DOCUMENT_TYPES = [
    ('80', "CUIT"), ('86', "CUIL"), ('87', "CDI"), ('89', "LE"),
    ('90', "LC"), ('91', "CI Extranjera"), ('94', "Pasaporte"),
    ('96', "DNI"),
    ]
#: ISO 4217 -> AFIP currency code (FEParamGetTiposMonedas)
CURRENCIES = {
    'ARS': 'PES', 'USD': 'DOL', 'EUR': '060', 'BRL': '012', 'GBP': '021',
    'JPY': '019', 'CAD': '018', 'CHF': '009', 'UYU': '011', 'CLP': '033',
    'PYG': '029', 'BOB': '031', 'MXN': '010', 'CNY': '064',
    }
#: party identifier type -> AFIP DocTipo
DOCUMENT_TYPES = {'ar_vat': 80, 'ar_cuit': 80, 'ar_dni': 96}
#: party identifier types holding a CUIT/CUIL
CUIT_TYPES = ['ar_vat', 'ar_cuit']
WITHOUT_DOCUMENT = (99, 0)

QR_URL = 'https://www.afip.gob.ar/fe/qr/?p='

#: namespace of the WSFEv1 messages, and their element maker
WSFE_NS = 'http://ar.gov.afip.dif.FEV1/'
E = ElementMaker(namespace=WSFE_NS, nsmap={None: WSFE_NS})

ENDPOINTS = {
    # homologation host (in the official WSDLs) -> production host
    'wsaahomo.afip.gov.ar': 'wsaa.afip.gov.ar',
    'wswhomo.afip.gov.ar': 'servicios1.afip.gov.ar',
    }


def wsfe_tag(name):
    "The qualified name of a WSFEv1 element"
    return f'{{{WSFE_NS}}}{name}'


def voucher_class(issuer_condition, receiver_condition):
    "A, B or C from the IVA conditions of the issuer and the receiver"
    if issuer_condition in CLASS_C_ISSUERS:
        return 'C'
    if receiver_condition in CLASS_A_RECEIVERS:
        return 'A'
    return 'B'


def voucher_type(issuer_condition, receiver_condition, kind, fce=False):
    return VOUCHER_CODES[
        (voucher_class(issuer_condition, receiver_condition), kind, fce)]


def fce_type(code):
    "The FCE MiPyME counterpart of a voucher type (itself when FCE)"
    klass, kind, _ = VOUCHER_KEYS[int(code)]
    return VOUCHER_CODES[(klass, kind, True)]


def format_number(point_of_sale, number):
    "The printed voucher number: 00003-00000012"
    if not point_of_sale or not number:
        return None
    return f'{int(point_of_sale):05d}-{int(number):08d}'


def afip_date(date):
    return date.strftime('%Y%m%d') if date else None


def parse_afip_date(text):
    text = (text or '').strip()
    if len(text) != 8 or text == 'NULL':
        return None
    return dt.datetime.strptime(text, '%Y%m%d').date()


def amount(value):
    "Decimal as AFIP wants it: two decimals, dot, no exponent"
    return f'{Decimal(value).quantize(Decimal("0.01")):f}'


def qr_data(issuer_cuit, point_of_sale, voucher_type, fields, cae,
        authorization='CAE'):
    """The RG 4892 QR JSON of a voucher from the FECAEDetRequest fields
    AFIP authorized (Voucher.fields()); the receiver's document only when
    the receiver is identified (not DocTipo 99); tipoCodAut A for a voucher
    authorized with a CAEA, else E"""
    data = {
        'ver': 1,
        'fecha': parse_afip_date(fields['CbteFch']).isoformat(),
        'cuit': int(issuer_cuit),
        'ptoVta': int(point_of_sale),
        'tipoCmp': int(voucher_type),
        'nroCmp': int(fields['CbteDesde']),
        'importe': float(Decimal(fields['ImpTotal'])),
        'moneda': fields['MonId'],
        'ctz': float(Decimal(fields['MonCotiz'])),
        }
    if int(fields['DocTipo']) != WITHOUT_DOCUMENT[0]:
        data['tipoDocRec'] = int(fields['DocTipo'])
        data['nroDocRec'] = int(fields['DocNro'])
    data['tipoCodAut'] = 'A' if authorization == 'CAEA' else 'E'
    data['codAut'] = int(cae)
    return data


def qr_url(data):
    "The URL of AFIP's QR page for the JSON data, base64 encoded"
    payload = json.dumps(data, separators=(',', ':')).encode()
    return QR_URL + base64.b64encode(payload).decode()
