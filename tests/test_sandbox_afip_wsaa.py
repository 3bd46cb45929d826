"""Tests of the AFIP/ARCA WSAA service of the authority sandbox (CMS
checks, access tickets, faults) and of both AFIP services in a child
process.

Run: .venv/bin/python -m unittest tests.test_sandbox_afip_wsaa -v
"""
import base64
import datetime
import unittest

import zeep
import zeep.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from lxml import etree
from zeep.transports import Transport

from tests.sandbox import Sandbox
from tests.sandbox.afip import AXIS_NS
from tests.sandbox.afip_wsaa import CMSError, verify_cms
from tests.sandbox.core import SOAP11_NS
from tests.sandbox_afip_case import (
    SERVICES, WSAA_BINDING, WSAA_WSDL, WSFE_BINDING, WSFE_WSDL, AfipTestCase,
    make_tra, sign_cms)


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
