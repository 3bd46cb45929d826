"""Tests of the AFIP/ARCA services of the authority sandbox (WSAA + WSFEv1),
driven by zeep clients built from the official WSDLs.

Run: .venv/bin/python -m unittest tests.test_sandbox_afip -v
"""
import base64
import datetime
import os
import time
import unittest

import requests
import zeep
import zeep.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from lxml import etree
from stdnum.ar import cuit as stdcuit
from zeep.transports import Transport

from tests.sandbox import Sandbox
from tests.sandbox.afip import AR_TZ, AXIS_NS, voucher_key
from tests.sandbox.afip_wsaa import CMSError, verify_cms
from tests.sandbox.core import SOAP11_NS, load_schema, schema_dir
from tests.sandbox.server import FAULT_KINDS

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
        naive=False):
    now = datetime.datetime.now(AR_TZ).replace(microsecond=0)

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


def to_ber(der):
    """Re-encode a DER SignedData as OpenSSL's streaming BER does:
    indefinite lengths down to eContent, itself a chunked OCTET STRING"""
    from tests.sandbox.afip_wsaa import Node
    eoc = b'\x00\x00'

    def indef(first_byte, parts):
        return bytes([first_byte]) + b'\x80' + b''.join(parts) + eoc
    root = Node(der, 0)
    oid, explicit = root.children
    signed = explicit.children[0]
    items = signed.children
    encap = items[2]
    ctype, econtent = encap.children
    value = econtent.children[0].content
    chunks = [value[:10], value[10:]]
    octets = indef(0x24, [b'\x04' + bytes([len(c)]) + c if len(c) < 128
            else b'\x04\x81' + bytes([len(c)]) + c if len(c) < 256
            else b'\x04\x82' + len(c).to_bytes(2, 'big') + c
            for c in chunks])
    encap_ber = indef(0x30, [ctype.raw, indef(0xa0, [octets])])
    signed_ber = indef(0x30, [items[0].raw, items[1].raw, encap_ber]
        + [i.raw for i in items[3:]])
    return indef(0x30, [oid.raw, indef(0xa0, [signed_ber])])


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
        return result.FeDetResp.FECAEDetResponse


class WSAATest(AfipTestCase):

    def test_login_then_already_authenticated(self):
        auth = self.login()
        self.assertTrue(auth['Token'] and auth['Sign'])
        header = self.ta.find('header')
        gen = datetime.datetime.fromisoformat(
            header.findtext('generationTime'))
        exp = datetime.datetime.fromisoformat(
            header.findtext('expirationTime'))
        self.assertEqual(exp - gen, datetime.timedelta(hours=12))
        self.assertTrue(header.findtext('expirationTime').endswith('-03:00'))
        self.assertIn(self.ar.tax_id, header.findtext('destination'))
        fault = self.assertWSAAFault('coe.alreadyAuthenticated')
        self.assertEqual(fault.message, 'El CEE ya posee un TA valido para '
            'el acceso al WSN solicitado')
        self.assertEqual(self.sb.count('afip_wsaa', 'loginCms',
                self.ar.tax_id), 2)
        self.assertEqual(self.sb.count('afip_wsaa', 'loginCms',
                self.ar.tax_id, field='issued'), 1)
        # once the ticket expired, a new login is accepted
        self.sb.set_option('afip_wsaa', 'expire_tickets', self.ar.tax_id)
        self.assertNotEqual(self.login()['Token'], auth['Token'])

    def test_untrusted_and_expired_certificates(self):
        fault = self.assertWSAAFault('cms.cert.untrusted', 'unknown_ca')
        self.assertEqual(fault.message,
            'Certificado no emitido por AC de confianza')
        fault = self.assertWSAAFault('cms.cert.expired', 'expired')
        self.assertEqual(fault.message, 'Certificado expirado')

    def test_fault_envelope_declares_ns1(self):
        cms = sign_cms(make_tra(), self.sb.identity('unknown_ca'))
        envelope = ('<soapenv:Envelope xmlns:soapenv="%s"><soapenv:Body>'
            '<loginCms xmlns="http://wsaa.view.sua.dvadac.desein.afip.gov">'
            '<in0>%s</in0></loginCms></soapenv:Body></soapenv:Envelope>' % (
                SOAP11_NS, base64.b64encode(cms).decode()))
        response = self.session.post(self.sb.url + '/ws/services/LoginCms',
            data=envelope.encode(), headers={'SOAPAction': '""',
                'Content-Type': 'text/xml; charset=utf-8'}, timeout=10)
        self.assertEqual(response.status_code, 500)
        code = etree.fromstring(response.content).find('.//faultcode')
        self.assertEqual(code.text, 'ns1:cms.cert.untrusted')
        self.assertEqual(code.nsmap['ns1'], AXIS_NS)

    def test_time_window_and_service(self):
        self.assertWSAAFault('xml.generationTime.invalid',
            tra=make_tra(generation=3600, expiration=7200))
        self.assertWSAAFault('xml.generationTime.invalid',
            tra=make_tra(generation=-25 * 3600, expiration=600))
        self.assertWSAAFault('xml.expirationTime.invalid',
            tra=make_tra(generation=-60, expiration=-30))
        self.assertWSAAFault('xml.expirationTime.invalid',
            tra=make_tra(generation=-60, expiration=25 * 3600))
        self.assertWSAAFault('coe.notAuthorized',
            tra=make_tra(service='wsfex'))
        # small skew is tolerated; naive times are Argentine time
        self.login(tra=make_tra(generation=120, naive=True))

    def test_tampered_content_and_garbage(self):
        cms = sign_cms(make_tra(), self.ar)
        tampered = cms.replace(b'<service>wsfe', b'<service>wsfx')
        self.assertNotEqual(cms, tampered)
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            self.wsaa.loginCms(in0=base64.b64encode(tampered).decode())
        self.assertEqual(cm.exception.code, 'ns1:cms.sign.invalid')
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            self.wsaa.loginCms(in0=base64.b64encode(b'\x30\x03garbage')
                .decode())
        self.assertEqual(cm.exception.code, 'ns1:cms.bad')
        detached = (pkcs7.PKCS7SignatureBuilder().set_data(make_tra())
            .add_signer(*self._cert_key(), hashes.SHA256())
            .sign(serialization.Encoding.DER, [
                    pkcs7.PKCS7Options.Binary,
                    pkcs7.PKCS7Options.DetachedSignature]))
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            self.wsaa.loginCms(in0=base64.b64encode(detached).decode())
        self.assertEqual(cm.exception.code, 'ns1:cms.bad')

    def _cert_key(self):
        with open(self.ar.cert_path, 'rb') as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        with open(self.ar.key_path, 'rb') as fh:
            key = serialization.load_pem_private_key(fh.read(), None)
        return cert, key

    def test_verify_cms_ber_and_rsa(self):
        # RSA signer (as real AFIP certificates) re-encoded as BER with
        # indefinite lengths and a chunked eContent (OpenSSL streaming)
        from cryptography.hazmat.primitives.asymmetric import rsa

        from tests.sandbox.pki import PKI
        with open(self.sb.ca_path, 'rb') as fh:
            ca = x509.load_pem_x509_certificate(fh.read())
        content, signer = verify_cms(sign_cms(make_tra(), self.ar), [ca])
        self.assertIn(b'<service>wsfe</service>', content)
        self.assertEqual(signer, self._cert_key()[0])
        pki = PKI.load(self.sb.pki.directory)
        pki._load_ca()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rsa_cert = (x509.CertificateBuilder()
            .subject_name(signer.subject).issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(signer.not_valid_before_utc)
            .not_valid_after(signer.not_valid_after_utc)
            .sign(pki._ca[1], hashes.SHA256()))
        tra = make_tra()
        der = (pkcs7.PKCS7SignatureBuilder().set_data(tra)
            .add_signer(rsa_cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
        ber = to_ber(der)
        self.assertNotEqual(ber, der)
        content, signer = verify_cms(ber, [ca])
        self.assertEqual((content, signer), (tra, rsa_cert))
        with self.assertRaises(CMSError) as cm:
            verify_cms(ber, [])
        self.assertEqual(cm.exception.code, 'cms.cert.untrusted')
        self.login()
        self.assertEqual(self.sb.count('afip_wsaa', 'loginCms',
                self.ar.tax_id, 'issued'), 1)
        self.sb.set_option('afip_wsaa', 'expire_tickets', '*')
        self.wsaa.loginCms(in0=base64.b64encode(to_ber(sign_cms(
                        make_tra(), self.ar))).decode())

    def test_alternative_namespace_accepted(self):
        cms = sign_cms(make_tra(), self.ar)
        ns = 'https://wsaahomo.afip.gov.ar/ws/services/LoginCms'
        envelope = ('<soapenv:Envelope xmlns:soapenv="%s"><soapenv:Body>'
            '<loginCms xmlns="%s"><in0>%s</in0></loginCms></soapenv:Body>'
            '</soapenv:Envelope>' % (SOAP11_NS, ns,
                base64.b64encode(cms).decode()))
        response = self.session.post(self.sb.url + '/ws/services/LoginCms',
            data=envelope.encode(), headers={'SOAPAction': '""',
                'Content-Type': 'text/xml; charset=utf-8'}, timeout=10)
        self.assertEqual(response.status_code, 200, response.text)
        ret = etree.fromstring(response.content).find('.//{%s}'
            'loginCmsReturn' % ns)
        self.assertIn('<token>', ret.text)


class WSFETest(AfipTestCase):

    def setUp(self):
        super().setUp()
        self.auth = self.login()

    def test_dummy_and_tables(self):
        result = self.wsfe.FEDummy()
        self.assertEqual((result.AppServer, result.DbServer,
                result.AuthServer), ('OK', 'OK', 'OK'))
        self.assertEqual(self.wsfe.FECompTotXRequest(Auth=self.auth).RegXReq,
            250)
        tipos = {t.Id: t.Desc for t in self.wsfe.FEParamGetTiposCbte(
                Auth=self.auth).ResultGet.CbteTipo}
        self.assertEqual(tipos[1], 'Factura A')
        self.assertEqual(tipos[13], 'Nota de Crédito C')
        ivas = {t.Id: t.Desc for t in self.wsfe.FEParamGetTiposIva(
                Auth=self.auth).ResultGet.IvaTipo}
        self.assertEqual(ivas['5'], '21%')
        docs = {t.Id for t in self.wsfe.FEParamGetTiposDoc(
                Auth=self.auth).ResultGet.DocTipo}
        self.assertTrue({80, 86, 96, 99} <= docs)
        mons = {t.Id for t in self.wsfe.FEParamGetTiposMonedas(
                Auth=self.auth).ResultGet.Moneda}
        self.assertTrue({'PES', 'DOL', '060'} <= mons)
        conds = self.wsfe.FEParamGetCondicionIvaReceptor(Auth=self.auth,
            ClaseCmp='A').ResultGet.CondicionIvaReceptor
        self.assertEqual({c.Id for c in conds}, {1, 6, 13, 16})
        conds = self.wsfe.FEParamGetCondicionIvaReceptor(
            Auth=self.auth).ResultGet.CondicionIvaReceptor
        self.assertEqual({c.Id: c.Cmp_Clase for c in conds}[5], 'B/C')
        self.assertEqual(len(self.wsfe.FEParamGetTiposConcepto(
                    Auth=self.auth).ResultGet.ConceptoTipo), 3)
        self.assertTrue(self.wsfe.FEParamGetTiposTributos(
                Auth=self.auth).ResultGet.TributoTipo)
        self.assertTrue(self.wsfe.FEParamGetPtosVenta(
                Auth=self.auth).ResultGet.PtoVenta)
        cot = self.wsfe.FEParamGetCotizacion(Auth=self.auth, MonId='DOL')
        self.assertGreater(cot.ResultGet.MonCotiz, 0)
        self.assertEqual(self.wsfe.FEParamGetCotizacion(Auth=self.auth,
                MonId='XXX').Errors.Err[0].Code, 602)

    def test_authorize_and_query(self):
        self.assertEqual(self.last(self.auth), 0)
        result = self.solicitar(self.auth, [invoice(1), invoice(2)])
        self.assertEqual(result.FeCabResp.Resultado, 'A')
        self.assertEqual(result.FeCabResp.Cuit, self.cuit)
        for det, nro in zip(self.dets(result), (1, 2)):
            self.assertEqual(det.Resultado, 'A')
            self.assertEqual(det.CbteDesde, nro)
            self.assertRegex(det.CAE, r'^\d{14}$')
            self.assertEqual(det.CAEFchVto, (datetime.datetime.strptime(
                        today(), '%Y%m%d') + datetime.timedelta(days=10)
                    ).strftime('%Y%m%d'))
        self.assertEqual(self.last(self.auth), 2)
        cae = self.dets(result)[0].CAE
        got = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 1, 'PtoVta': PTO})
        self.assertIsNone(got.Errors)
        res = got.ResultGet
        self.assertEqual(res.CodAutorizacion, cae)
        self.assertEqual((res.Resultado, res.EmisionTipo), ('A', 'CAE'))
        self.assertEqual((res.PtoVta, res.CbteTipo, res.CbteDesde),
            (PTO, 1, 1))
        self.assertEqual((res.ImpTotal, res.ImpIVA, res.DocNro),
            (121.0, 21.0, int(CUSTOMER)))
        self.assertEqual(res.Iva.AlicIva[0].Id, 5)
        self.assertEqual(res.CondicionIVAReceptorId, 1)
        missing = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 99, 'PtoVta': PTO})
        self.assertEqual(missing.Errors.Err[0].Code, 602)
        key = voucher_key(self.cuit, PTO, 1, 1)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar', key),
            1)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar', key,
                field='authorized'), 1)
        state = self.sb.state('afip_wsfe')
        self.assertEqual(state['caes'][key], 1)
        self.assertEqual(state['series']['%d:%d:1' % (self.cuit, PTO)][
                'last'], 2)

    def test_sequence_gap_and_external_bump(self):
        result = self.solicitar(self.auth, [invoice(2)])
        self.assertEqual(result.FeCabResp.Resultado, 'R')
        det = self.dets(result)[0]
        self.assertEqual(det.Resultado, 'R')
        self.assertEqual(self.obs_codes(det), [10016])
        self.assertIn('FECompUltimoAutorizado', det.Observaciones.Obs[0].Msg)
        self.assertFalse(det.CAE)
        self.assertEqual(self.last(self.auth), 0)
        # another system authorizes number 1 meanwhile
        self.sb.set_option('afip_wsfe', 'authorize_external', {
                'cuit': self.cuit, 'pto_vta': PTO, 'cbte_tipo': 1})
        det = self.dets(self.solicitar(self.auth, [invoice(1)]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        self.assertEqual(self.last(self.auth), 1)
        det = self.dets(self.solicitar(self.auth, [invoice(2)]))[0]
        self.assertEqual(det.Resultado, 'A')
        # the date may not go back before the last authorized one
        self.sb.set_option('afip_wsfe', 'authorize_external', {
                'cuit': self.cuit, 'pto_vta': PTO, 'cbte_tipo': 1,
                'date': today(2)})
        det = self.dets(self.solicitar(self.auth, [invoice(4)]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        det = self.dets(self.solicitar(self.auth, [invoice(4,
                        CbteFch=today(6))]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        det = self.dets(self.solicitar(self.auth, [invoice(4,
                        CbteFch=today(3))]))[0]
        self.assertEqual(det.Resultado, 'A')

    def test_bad_cuit_in_batch(self):
        # AFIP processes details in order: the rejected #2 does not consume
        # its number, so #3 then fails with 10016
        result = self.solicitar(self.auth, [invoice(1),
                invoice(2, DocNro=int(BAD_CUIT)), invoice(3)])
        self.assertEqual(result.FeCabResp.Resultado, 'P')
        one, two, three = self.dets(result)
        self.assertEqual(one.Resultado, 'A')
        self.assertEqual(two.Resultado, 'R')
        self.assertEqual(self.obs_codes(two), [10015])
        self.assertEqual(two.Observaciones.Obs[0].Msg,
            'El campo DocNro es invalido.')
        self.assertEqual(self.obs_codes(three), [10016])
        self.assertEqual(self.last(self.auth), 1)
        det = self.dets(self.solicitar(self.auth, [invoice(2, DocTipo=96,
                        DocNro=12345678)]))[0]
        self.assertEqual(self.obs_codes(det), [10013])
        result = self.solicitar(self.auth, [invoice(2), invoice(3)])
        self.assertEqual(result.FeCabResp.Resultado, 'A')
        rejected = self.sb.count('afip_wsfe', 'FECAESolicitar',
            voucher_key(self.cuit, PTO, 1, 3), field='rejected')
        self.assertEqual(rejected, 1)

    def test_condicion_iva_receptor(self):
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CondicionIVAReceptorId=None)]))[0]
        self.assertEqual(self.obs_codes(det), [10246])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CondicionIVAReceptorId=5)]))[0]
        self.assertEqual(self.obs_codes(det), [10242])
        self.sb.set_option('afip_wsfe', 'condicion_iva_required', False)
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CondicionIVAReceptorId=None)]))[0]
        self.assertEqual(det.Resultado, 'A')
        self.assertEqual(self.obs_codes(det), [10246])

    def test_credit_note(self):
        self.solicitar(self.auth, [invoice(1)])
        asoc = {'CbteAsoc': [{'Tipo': 1, 'PtoVta': PTO, 'Nro': 1,
                    'Cuit': str(self.cuit), 'CbteFch': today()}]}
        det = self.dets(self.solicitar(self.auth, [invoice(1)], tipo=3))[0]
        self.assertEqual(self.obs_codes(det), [10040])
        det = self.dets(self.solicitar(self.auth, [invoice(1, CbtesAsoc={
                            'CbteAsoc': [{'Tipo': 1, 'PtoVta': PTO,
                                    'Nro': 7}]})], tipo=3))[0]
        self.assertEqual(self.obs_codes(det), [10041])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CbtesAsoc=asoc)], tipo=3))[0]
        self.assertEqual(det.Resultado, 'A')
        res = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 3, 'CbteNro': 1, 'PtoVta': PTO}).ResultGet
        self.assertEqual(res.CbtesAsoc.CbteAsoc[0].Nro, 1)

    def test_amounts_currency_and_services(self):
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        ImpTotal=122.0)]))[0]
        self.assertEqual(self.obs_codes(det), [10048])
        det = self.dets(self.solicitar(self.auth, [invoice(1, ImpIVA=20.0,
                        ImpTotal=120.0)]))[0]
        self.assertEqual(self.obs_codes(det), [10051])
        det = self.dets(self.solicitar(self.auth, [invoice(1, Iva={
                            'AlicIva': [{'Id': 4, 'BaseImp': 100.0,
                                    'Importe': 21.0}]})]))[0]
        self.assertEqual(self.obs_codes(det), [10061])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        MonId='DOL', MonCotiz=1000.0)]))[0]
        self.assertEqual(self.obs_codes(det), [10239])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        Concepto=2)]))[0]
        self.assertEqual(self.obs_codes(det), [10035, 10036, 10037])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CbteFch=today(-6))]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        det = self.dets(self.solicitar(self.auth, [invoice(1, Concepto=2,
                        CbteFch=today(-6), FchServDesde=today(-30),
                        FchServHasta=today(-1), FchVtoPago=today(10),
                        MonId='DOL', MonCotiz=1000.0,
                        CanMisMonExt='N')]))[0]
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))
        # class C: no VAT
        det = self.dets(self.solicitar(self.auth, [invoice(1, ImpIVA=0,
                        ImpTotal=100.0, Iva=None)], tipo=11))[0]
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))

    def test_header_errors(self):
        result = self.solicitar(self.auth, [invoice(1)], cant=2)
        self.assertEqual(result.Errors.Err[0].Code, 10001)
        self.assertEqual(result.FeCabResp.Resultado, 'R')
        self.sb.set_option('afip_wsfe', 'reg_x_req', 1)
        self.assertEqual(self.wsfe.FECompTotXRequest(Auth=self.auth).RegXReq,
            1)
        result = self.solicitar(self.auth, [invoice(1), invoice(2)])
        self.assertEqual(result.Errors.Err[0].Code, 10002)
        self.assertEqual(self.last(self.auth), 0)

    def test_token_errors(self):
        other = dict(self.auth, Cuit=int(CUSTOMER))
        result = self.solicitar(other, [invoice(1)])
        self.assertEqual(result.Errors.Err[0].Code, 601)
        self.assertEqual(result.Errors.Err[0].Msg,
            'CUIT representada no incluida en Token')
        self.assertIsNone(result.FeDetResp)
        bad = dict(self.auth, Token='AAAA')
        self.assertEqual(self.wsfe.FECompUltimoAutorizado(Auth=bad,
                PtoVta=PTO, CbteTipo=1).Errors.Err[0].Code, 600)
        self.sb.set_option('afip_wsaa', 'expire_tickets', '*')
        result = self.solicitar(self.auth, [invoice(1)])
        self.assertEqual(result.Errors.Err[0].Code, 600)
        self.assertIn('No validaron las fechas', result.Errors.Err[0].Msg)
        self.assertEqual(self.sb.state('afip_wsfe')['caes'], {})
        # short-lived tickets
        self.sb.set_option('afip_wsaa', 'ticket_lifetime', 1)
        auth = self.login()
        self.assertEqual(self.last(auth), 0)
        time.sleep(1.1)
        self.assertEqual(self.wsfe.FECompUltimoAutorizado(Auth=auth,
                PtoVta=PTO, CbteTipo=1).Errors.Err[0].Code, 600)
        self.login()

    def test_header_info_and_clock_offset(self):
        def fecha():
            envelope = ('<soap:Envelope xmlns:soap="%s"><soap:Body>'
                '<FEDummy xmlns="%s"/></soap:Body></soap:Envelope>' % (
                    SOAP11_NS, FEV1))
            response = self.session.post(self.sb.url
                + '/wsfev1/service.asmx', data=envelope.encode(), headers={
                    'SOAPAction': '"%sFEDummy"' % FEV1,
                    'Content-Type': 'text/xml; charset=utf-8'}, timeout=10)
            root = etree.fromstring(response.content)
            info = root.find('{%s}Header/{%s}FEHeaderInfo' % (SOAP11_NS,
                    FEV1))
            self.assertEqual(info.findtext('{%s}id' % FEV1), '6.1.0.0')
            return datetime.datetime.fromisoformat(
                info.findtext('{%s}fecha' % FEV1))
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((fecha() - now).total_seconds()), 5)
        self.sb.set_option('afip_wsfe', 'clock_offset_seconds', 3600)
        self.assertLess(abs((fecha() - now).total_seconds() - 3600), 5)

    def test_schema_violation(self):
        envelope = ('<soap:Envelope xmlns:soap="%s"><soap:Body>'
            '<FECompUltimoAutorizado xmlns="%s"><PtoVta>x</PtoVta>'
            '</FECompUltimoAutorizado></soap:Body></soap:Envelope>' % (
                SOAP11_NS, FEV1))
        response = self.session.post(self.sb.url + '/wsfev1/service.asmx',
            data=envelope.encode(), headers={
                'SOAPAction': '"%sFECompUltimoAutorizado"' % FEV1,
                'Content-Type': 'text/xml; charset=utf-8'}, timeout=10)
        self.assertEqual(response.status_code, 500)
        self.assertIn(b'Server was unable to read request', response.content)

    def test_injected_faults(self):
        # drop_after: processed (number consumed), the client gets nothing
        self.sb.add_fault('afip_wsfe', 'FECAESolicitar', 'drop_after')
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.solicitar(self.auth, [invoice(1)])
        self.assertEqual(self.last(self.auth), 1)
        key = voucher_key(self.cuit, PTO, 1, 1)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar', key,
                field='authorized'), 1)
        # the client recovers the CAE with FECompConsultar
        res = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 1, 'PtoVta': PTO}).ResultGet
        self.assertEqual(res.CodAutorizacion,
            self.sb.state('afip_wsfe')['series']['%d:%d:1' % (
                    self.cuit, PTO)]['vouchers']['1']['cae'])
        nro = 1
        for kind in ('http_500', 'http_503', 'html', 'soap_fault',
                'truncated', 'malformed', 'entities'):
            with self.subTest(kind=kind):
                self.sb.add_fault('afip_wsfe', 'FECAESolicitar', kind)
                with self.assertRaises(Exception):
                    self.solicitar(self.auth, [invoice(nro + 1)])
                if FAULT_KINDS[kind]:
                    nro += 1
                self.assertEqual(self.last(self.auth), nro)
        self.sb.add_fault('afip_wsfe', 'FECAESolicitar', 'latency',
            seconds=0.2)
        start = time.time()
        self.solicitar(self.auth, [invoice(nro + 1)])
        self.assertGreaterEqual(time.time() - start, 0.2)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar',
                voucher_key(self.cuit, PTO, 1, nro + 1),
                field='authorized'), 1)


class SubprocessTest(unittest.TestCase):

    def test_subprocess_mode(self):
        with Sandbox(SERVICES, subprocess=True) as sb:
            session = sb.session('ar_company')
            self.addCleanup(session.close)
            transport = Transport(session=session, timeout=10)
            wsaa = zeep.Client(WSAA_WSDL, transport=transport).create_service(
                WSAA_BINDING, sb.url + '/ws/services/LoginCms')
            cms = sign_cms(make_tra(), sb.identity('ar_company'))
            ta = etree.fromstring(wsaa.loginCms(
                    in0=base64.b64encode(cms).decode()).encode())
            wsfe = zeep.Client(WSFE_WSDL, transport=transport).create_service(
                WSFE_BINDING, sb.url + '/wsfev1/service.asmx')
            auth = {'Token': ta.findtext('credentials/token'),
                'Sign': ta.findtext('credentials/sign'),
                'Cuit': int(sb.identity('ar_company').tax_id)}
            result = wsfe.FECompUltimoAutorizado(Auth=auth, PtoVta=1,
                CbteTipo=1)
            self.assertIsNone(result.Errors)
            self.assertEqual(result.CbteNro, 0)


if __name__ == '__main__':
    unittest.main()
