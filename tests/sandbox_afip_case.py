"""Base class and helpers of the tests of the AFIP/ARCA services of the
authority sandbox (tests/test_sandbox_afip_*.py), driven by zeep clients
built from the official WSDLs."""
import base64
import datetime
import os
import time
import unittest

import zeep
import zeep.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from lxml import etree
from stdnum.ar import cuit as stdcuit
from zeep.transports import Transport

from tests.sandbox import Sandbox
from tests.sandbox.afip import AR_TZ
from tests.sandbox.core import SOAP11_NS, load_schema, schema_dir

AR_DIR = os.path.join(schema_dir(), 'ar_afip')
WSAA_WSDL = os.path.join(AR_DIR, 'wsaa.wsdl')
WSFE_WSDL = os.path.join(AR_DIR, 'wsfev1.wsdl')
WSAA_BINDING = ('{https://wsaahomo.afip.gov.ar/ws/services/LoginCms}'
    'LoginCmsSoapBinding')
WSFE_BINDING = '{http://ar.gov.afip.dif.FEV1/}ServiceSoap'
FEV1 = 'http://ar.gov.afip.dif.FEV1/'
SERVICES = ['afip_wsaa', 'afip_wsfe']
PTO = 3

CUSTOMER = '2012345678' + stdcuit.calc_check_digit('2012345678')
BAD_CUIT = CUSTOMER[:-1] + str((int(CUSTOMER[-1]) + 1) % 10)


def today(days=0):
    return (datetime.datetime.now(AR_TZ).date()
        + datetime.timedelta(days=days)).strftime('%Y%m%d')


def make_tra(service='wsfe', generation=-300, expiration=600,
        naive=False, offset=0):
    "A TRA; ``offset``: seconds added to the real time (a moved clock)"
    now = (datetime.datetime.now(AR_TZ) + datetime.timedelta(
            seconds=offset)).replace(microsecond=0)

    def fmt(delta):
        value = now + datetime.timedelta(seconds=delta)
        if naive:
            value = value.replace(tzinfo=None)
        return value.isoformat()
    return ('<?xml version="1.0" encoding="UTF-8"?>'
        '<loginTicketRequest version="1.0"><header>'
        '<uniqueId>%d</uniqueId><generationTime>%s</generationTime>'
        '<expirationTime>%s</expirationTime></header>'
        '<service>%s</service></loginTicketRequest>' % (
            int(time.time()), fmt(generation), fmt(expiration), service)
        ).encode()


def sign_cms(tra, identity):
    with open(identity.cert_path, 'rb') as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    with open(identity.key_path, 'rb') as fh:
        key = serialization.load_pem_private_key(fh.read(), None)
    return (pkcs7.PKCS7SignatureBuilder().set_data(tra)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))


def invoice(nro, **values):
    "A Factura A detail: 100 + 21% VAT"
    det = {'Concepto': 1, 'DocTipo': 80, 'DocNro': int(CUSTOMER),
        'CbteDesde': nro, 'CbteHasta': nro, 'CbteFch': today(),
        'ImpTotal': 121.0, 'ImpTotConc': 0, 'ImpNeto': 100.0, 'ImpOpEx': 0,
        'ImpTrib': 0, 'ImpIVA': 21.0, 'MonId': 'PES', 'MonCotiz': 1,
        'CondicionIVAReceptorId': 1,
        'Iva': {'AlicIva': [{'Id': 5, 'BaseImp': 100.0, 'Importe': 21.0}]}}
    for key, value in values.items():
        if value is None:
            det.pop(key, None)
        else:
            det[key] = value
    return det


class SchemaCheck(zeep.Plugin):
    "Validate every response body against the WSDL's embedded schema"

    def __init__(self, wsdl):
        self.schema = load_schema(wsdl)
        self.errors = []

    def ingress(self, envelope, http_headers, operation):
        body = envelope.find('{%s}Body' % SOAP11_NS)
        for child in body:
            if child.tag != '{%s}Fault' % SOAP11_NS:
                error = self.schema.validate(child)
                if error:
                    self.errors.append('%s: %s' % (operation.name, error))
        return envelope, http_headers


class AfipTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox(SERVICES).start()
        cls.ar = cls.sb.identity('ar_company')
        cls.cuit = int(cls.ar.tax_id)
        cls.session = cls.sb.session('ar_company')
        transport = Transport(session=cls.session, timeout=10)
        cls.checks = [SchemaCheck(WSAA_WSDL), SchemaCheck(WSFE_WSDL)]
        cls.wsaa_client = zeep.Client(WSAA_WSDL, transport=transport,
            plugins=[cls.checks[0]])
        cls.wsaa = cls.wsaa_client.create_service(WSAA_BINDING,
            cls.sb.url + '/ws/services/LoginCms')
        cls.wsfe_client = zeep.Client(WSFE_WSDL, transport=transport,
            plugins=[cls.checks[1]])
        cls.wsfe = cls.wsfe_client.create_service(WSFE_BINDING,
            cls.sb.url + '/wsfev1/service.asmx')

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()
        for check in self.checks:
            check.errors = []
        self.addCleanup(self.check_responses)

    def check_responses(self):
        errors = [e for c in self.checks for e in c.errors]
        self.assertEqual(errors, [], 'responses not valid for the WSDL')

    # -- helpers --
    def login_raw(self, identity='ar_company', tra=None):
        cms = sign_cms(tra or make_tra(), self.sb.identity(identity))
        return self.wsaa.loginCms(in0=base64.b64encode(cms).decode())

    def login(self, identity='ar_company', tra=None):
        ta = etree.fromstring(self.login_raw(identity, tra).encode())
        self.ta = ta
        return {'Token': ta.findtext('credentials/token'),
            'Sign': ta.findtext('credentials/sign'),
            'Cuit': self.cuit}

    def assertWSAAFault(self, code, identity='ar_company', tra=None):
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            self.login_raw(identity, tra)
        self.assertEqual(cm.exception.code, 'ns1:' + code)
        return cm.exception

    def travel(self, when):
        """Move the clocks of both AFIP services to ``when`` (an aware
        datetime) and log in again at that time; return the new Auth"""
        offset = when.timestamp() - time.time()
        for service in SERVICES:
            self.sb.set_option(service, 'clock_offset_seconds', offset)
        self.sb.set_option('afip_wsaa', 'expire_tickets', '*')
        return self.login(tra=make_tra(offset=offset))

    def inform(self, auth, dets, tipo=1, pto=PTO):
        "FECAEARegInformativo of FECAEADetRequest dicts"
        return self.wsfe.FECAEARegInformativo(Auth=auth, FeCAEARegInfReq={
                'FeCabReq': {'CantReg': len(dets), 'PtoVta': pto,
                    'CbteTipo': tipo},
                'FeDetReq': {'FECAEADetRequest': dets}})

    def solicitar(self, auth, dets, tipo=1, pto=PTO, cant=None):
        return self.wsfe.FECAESolicitar(Auth=auth, FeCAEReq={
                'FeCabReq': {'CantReg': len(dets) if cant is None else cant,
                    'PtoVta': pto, 'CbteTipo': tipo},
                'FeDetReq': {'FECAEDetRequest': dets}})

    def last(self, auth, tipo=1, pto=PTO):
        return self.wsfe.FECompUltimoAutorizado(Auth=auth, PtoVta=pto,
            CbteTipo=tipo).CbteNro

    def obs_codes(self, det):
        if det.Observaciones is None:
            return []
        return [o.Code for o in det.Observaciones.Obs]

    def dets(self, result):
        "FECAEDetResponse (or FECAEADetResponse) list"
        resp = result.FeDetResp
        if 'FECAEADetResponse' in resp:
            return resp.FECAEADetResponse
        return resp.FECAEDetResponse
