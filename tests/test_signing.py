"""Signing helpers (issue 12 item 7): SIFEN's enveloped XMLDSig, XAdES for
VERI*FACTU's local mode, ZATCA's hash and signature.  No database.

Signatures are checked by signxml and, independently, by ``xmlsec1``
(apt package xmlsec1); ZATCA against the five signed ZATCA SDK samples of
shared/schemas/sa_zatca/samples.
"""
import base64
import datetime as dt
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from tests import tools

SIFEN = 'http://ekuatia.set.gov.py/sifen/xsd'
DS = 'http://www.w3.org/2000/09/xmldsig#'
XADES = 'http://uri.etsi.org/01903/v1.3.2#'
SUM1 = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/tike/cont/ws/SuministroInformacion.xsd')
SIFEN_SAMPLE = os.path.join(
    tools.SCHEMAS, 'py_sifen', 'samples', 'set_2019', 'FE_v150_20190910.xml')
ZATCA_SAMPLES = sorted(glob.glob(
        os.path.join(tools.SCHEMAS, 'sa_zatca', 'samples', '*.xml')))
XMLSEC1 = shutil.which('xmlsec1')


def signing():
    from trytond.modules.account_einvoice import signing
    return signing


def zatca():
    from trytond.modules.account_einvoice import signing_zatca
    return signing_zatca


def SignatureError():
    from trytond.modules.account_einvoice.exceptions import SignatureError
    return SignatureError


def identity(key, common_name):
    "key and a self-signed certificate for it"
    name = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.COUNTRY_NAME, 'PY')])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256()))
    return key, certificate


def rsa_identity(common_name='Signer'):
    return identity(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        common_name)


def parse(data):
    from trytond.modules.account_einvoice.schema import parse_untrusted
    return parse_untrusted(data)


def sifen_rde():
    "SET's FE example: its rDE, without the (truncated) signature"
    with open(SIFEN_SAMPLE, 'rb') as fp:
        rde = parse(fp.read()).find(f'.//{{{SIFEN}}}rDE')
    for signature in rde.findall(f'{{{DS}}}Signature'):
        rde.remove(signature)
    return rde


def registro_alta():
    "A VERI*FACTU-like record (shape only)"
    return parse(
        f'<sum1:RegistroAlta xmlns:sum1="{SUM1}">'
        '<sum1:IDVersion>1.0</sum1:IDVersion>'
        '<sum1:IDFactura>'
        '<sum1:IDEmisorFactura>B00000034</sum1:IDEmisorFactura>'
        '<sum1:NumSerieFactura>F-1</sum1:NumSerieFactura>'
        '<sum1:FechaExpedicionFactura>01-01-2026'
        '</sum1:FechaExpedicionFactura></sum1:IDFactura>'
        '<sum1:ImporteTotal>121.00</sum1:ImporteTotal>'
        '</sum1:RegistroAlta>'.encode())


class Xmlsec1:
    "The independent verifier: xmlsec1 --verify with the certificate's key"

    def __init__(self, case):
        self.case = case

    def verify(self, data, certificate, id_attributes):
        if not XMLSEC1:
            self.case.skipTest(
                'xmlsec1 is not installed (apt-get install xmlsec1): '
                'the independent verification is not run')
        with tempfile.TemporaryDirectory() as directory:
            cert_path = os.path.join(directory, 'cert.pem')
            xml_path = os.path.join(directory, 'signed.xml')
            with open(cert_path, 'wb') as fp:
                fp.write(certificate.public_bytes(
                        serialization.Encoding.PEM))
            with open(xml_path, 'wb') as fp:
                fp.write(data)
            # the embedded certificate must be the trusted one: keys in
            # KeyValue are not taken
            command = [XMLSEC1, '--verify', '--trusted-pem', cert_path,
                '--enabled-key-data', 'x509',
                '--enabled-reference-uris', 'empty,same-doc']
            for attribute in id_attributes:
                command += ['--id-attr:Id', attribute]
            process = subprocess.run(
                command + [xml_path], capture_output=True, text=True,
                timeout=60)
        return process.returncode == 0, process.stdout + process.stderr

    def assert_valid(self, data, certificate, id_attributes):
        valid, output = self.verify(data, certificate, id_attributes)
        self.case.assertTrue(valid, output)

    def assert_invalid(self, data, certificate, id_attributes):
        valid, output = self.verify(data, certificate, id_attributes)
        self.case.assertFalse(valid, output)


@unittest.skipUnless(os.path.exists(SIFEN_SAMPLE), 'no SIFEN samples')
class EnvelopedTest(unittest.TestCase):
    "sign_enveloped / verify_enveloped on a SIFEN rDE"
    ID_ATTRIBUTES = [f'{SIFEN}:DE']

    @classmethod
    def setUpClass(cls):
        cls.key, cls.certificate = rsa_identity()
        cls.rde = sifen_rde()
        cls.cdc = cls.rde.find(f'{{{SIFEN}}}DE').get('Id')
        cls.signed = signing().sign_enveloped(
            cls.rde, cls.key, cls.certificate, cls.cdc)
        cls.data = etree.tostring(cls.signed)

    def setUp(self):
        self.xmlsec1 = Xmlsec1(self)

    def tampered(self, path, text):
        root = parse(self.data)
        root.find(path, {'s': SIFEN}).text = text
        return etree.tostring(root)

    def test_layout(self):
        "SIFEN's layout: Signature (no prefix) after DE, before gCamFuFD"
        self.assertEqual(
            [etree.QName(c).localname for c in self.signed],
            ['dVerFor', 'DE', 'Signature', 'gCamFuFD'])
        self.assertIn(
            b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">',
            self.data)
        ns = {'ds': DS}
        signed_info = self.signed.find('ds:Signature/ds:SignedInfo', ns)
        exc = 'http://www.w3.org/2001/10/xml-exc-c14n#'
        self.assertEqual(signed_info.find(
                'ds:CanonicalizationMethod', ns).get('Algorithm'), exc)
        self.assertEqual(
            signed_info.find('ds:SignatureMethod', ns).get('Algorithm'),
            'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256')
        reference, = signed_info.findall('ds:Reference', ns)
        self.assertEqual(reference.get('URI'), f'#{self.cdc}')
        self.assertEqual(
            [t.get('Algorithm') for t in reference.iterfind(
                    'ds:Transforms/ds:Transform', ns)],
            [f'{DS}enveloped-signature', exc])
        self.assertIsNotNone(self.signed.find(
                'ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate',
                ns))
        # the caller's element is left as it was
        self.assertIsNone(self.rde.find(f'{{{DS}}}Signature'))

    def test_verifies(self):
        verified = signing().verify_enveloped(
            self.data, self.certificate, self.cdc)
        self.assertEqual(verified.get('Id'), self.cdc)
        self.xmlsec1.assert_valid(
            self.data, self.certificate, self.ID_ATTRIBUTES)

    def test_tampered_refused(self):
        data = self.tampered('s:DE/s:gTotSub/s:dTotIVA', '1000')
        with self.assertRaisesRegex(SignatureError(), 'Digest mismatch'):
            signing().verify_enveloped(data, self.certificate, self.cdc)
        self.xmlsec1.assert_invalid(data, self.certificate, self.ID_ATTRIBUTES)

    def test_other_signer_refused(self):
        other_key, other_certificate = rsa_identity('Someone else')
        data = etree.tostring(signing().sign_enveloped(
                self.rde, other_key, other_certificate, self.cdc))
        with self.assertRaises(SignatureError()):
            signing().verify_enveloped(data, self.certificate, self.cdc)
        self.xmlsec1.assert_invalid(data, self.certificate, self.ID_ATTRIBUTES)

    def test_other_element_refused(self):
        "A valid signature over another element does not vouch for this one"
        with self.assertRaisesRegex(SignatureError(), 'does not cover'):
            signing().verify_enveloped(
                self.data, self.certificate, 'another-id')

    def test_unknown_id(self):
        with self.assertRaisesRegex(ValueError, '0 elements'):
            signing().sign_enveloped(
                self.rde, self.key, self.certificate, 'no-such-id')

    def test_samples_refused(self):
        "SET's truncated and the broken samples' placeholder signatures"
        paths = [SIFEN_SAMPLE] + sorted(glob.glob(os.path.join(
                    tools.SCHEMAS, 'py_sifen', 'samples', 'broken', '*.xml')))
        for path in paths:
            with self.subTest(path=path), open(path, 'rb') as fp:
                with self.assertRaises(SignatureError()):
                    signing().verify_enveloped(fp.read(), self.certificate)

    def test_external_reference_not_fetched(self):
        "A Reference outside the document is refused, never dereferenced"
        with socket.socket() as server:
            server.bind(('127.0.0.1', 0))
            server.listen()
            server.setblocking(False)
            url = 'http://127.0.0.1:%s/payload' % server.getsockname()[1]
            root = parse(self.data)
            # a signature by the right key, over an external reference
            signed_info = root.find(f'{{{DS}}}Signature/{{{DS}}}SignedInfo')
            signed_info.find(f'{{{DS}}}Reference').set('URI', url)
            root.find(f'.//{{{DS}}}SignatureValue').text = base64.b64encode(
                self.key.sign(
                    etree.tostring(
                        signed_info, method='c14n', exclusive=True),
                    padding.PKCS1v15(), hashes.SHA256())).decode()
            data = etree.tostring(root)
            with self.assertRaisesRegex(SignatureError(), 'External URI'):
                signing().verify_enveloped(data, self.certificate)
            with self.assertRaises(BlockingIOError):
                server.accept()
            self.xmlsec1.assert_invalid(data, self.certificate, [])
            with self.assertRaises(BlockingIOError):
                server.accept()

    def test_entities_refused(self):
        data = (b'<!DOCTYPE rDE [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + self.data.replace(b'<dVerFor>150', b'<dVerFor>&x;', 1))
        with self.assertRaisesRegex(SignatureError(), 'unreadable XML'):
            signing().verify_enveloped(data, self.certificate)


class XadesTest(unittest.TestCase):
    "sign_xades / verify_xades on a VERI*FACTU-like record"
    ID_ATTRIBUTES = [f'{XADES}:SignedProperties', f'{DS}:KeyInfo']

    @classmethod
    def setUpClass(cls):
        cls.key, cls.certificate = rsa_identity()
        cls.record = registro_alta()
        cls.signed = signing().sign_xades(
            cls.record, cls.key, cls.certificate)
        cls.data = etree.tostring(cls.signed)

    def setUp(self):
        self.xmlsec1 = Xmlsec1(self)

    def test_layout(self):
        "Enveloped (last child), three references, EPES with the AGE policy"
        ns = {'ds': DS, 'xades': XADES}
        signature = self.signed[-1]
        self.assertEqual(signature.tag, f'{{{DS}}}Signature')
        self.assertEqual(
            [r.get('URI')[:1] for r in signature.iterfind(
                    'ds:SignedInfo/ds:Reference', ns)], ['', '#', '#'])
        properties = signature.find('.//xades:SignedProperties', ns)
        self.assertIsNotNone(properties.find('.//xades:SigningTime', ns))
        policy = properties.find('.//xades:SignaturePolicyId', ns)
        self.assertEqual(
            policy.findtext('.//xades:Identifier', namespaces=ns),
            'urn:oid:2.16.724.1.3.1.1.2.1.9')
        self.assertEqual(
            policy.findtext('xades:SigPolicyHash/ds:DigestValue',
                namespaces=ns), 'G7roucf600+f03r/o0bAOQ6WAs0=')
        self.assertEqual(
            policy.findtext('.//xades:SPURI', namespaces=ns),
            'https://sede.administracion.gob.es/politica_de_firma_anexo_1.pdf')
        self.assertIsNone(self.record.find(f'{{{DS}}}Signature'))

    def test_verifies(self):
        verified = signing().verify_xades(self.data, self.certificate)
        self.assertEqual(etree.QName(verified).localname, 'RegistroAlta')
        self.xmlsec1.assert_valid(
            self.data, self.certificate, self.ID_ATTRIBUTES)

    def test_bes_verifies(self):
        data = etree.tostring(signing().sign_xades(
                self.record, self.key, self.certificate, policy=None))
        self.assertNotIn(b'SignaturePolicyIdentifier', data)
        signing().verify_xades(data, self.certificate)
        self.xmlsec1.assert_valid(data, self.certificate, self.ID_ATTRIBUTES)

    def test_tampered_refused(self):
        for old, new in [
                (b'121.00', b'12.10'),
                (b'politica_de_firma_anexo_1', b'politica_de_firma_anexo_2')]:
            with self.subTest(tampered=new):
                data = self.data.replace(old, new)
                self.assertNotEqual(data, self.data)
                with self.assertRaisesRegex(
                        SignatureError(), 'Digest mismatch'):
                    signing().verify_xades(data, self.certificate)
                self.xmlsec1.assert_invalid(
                    data, self.certificate, self.ID_ATTRIBUTES)

    def test_other_signer_refused(self):
        other_key, other_certificate = rsa_identity('Someone else')
        data = etree.tostring(signing().sign_xades(
                self.record, other_key, other_certificate))
        with self.assertRaises(SignatureError()):
            signing().verify_xades(data, self.certificate)
        self.xmlsec1.assert_invalid(data, self.certificate, self.ID_ATTRIBUTES)


@unittest.skipUnless(ZATCA_SAMPLES, 'no ZATCA SDK samples')
class ZatcaTest(unittest.TestCase):
    "ZATCA's invoice hash and signature against the SDK's signed samples"
    NS = {'ds': DS, 'xades': XADES}

    @classmethod
    def setUpClass(cls):
        cls.samples = {}
        for path in ZATCA_SAMPLES:
            with open(path, 'rb') as fp:
                cls.samples[os.path.basename(path)] = fp.read()
        cls.key, cls.certificate = identity(
            ec.generate_private_key(ec.SECP256K1()), 'TST-886431145')

    def value(self, data, path):
        return parse(data).find(path, self.NS).text

    def test_invoice_hash(self):
        for name, data in self.samples.items():
            with self.subTest(name):
                self.assertEqual(
                    zatca().zatca_invoice_hash(data), self.value(
                        data, './/ds:Reference[@Id="invoiceSignedData"]'
                        '/ds:DigestValue'))

    def test_invoice_hash_keeps_whitespace(self):
        "The text around the removed nodes stays in the hash"
        data = self.samples['Simplified_Invoice.xml']
        expected = zatca().zatca_invoice_hash(data)
        self.assertNotEqual(zatca().zatca_invoice_hash(data.replace(
                    b'</ext:UBLExtensions>\n', b'</ext:UBLExtensions>', 1)),
            expected)
        # inside the removed nodes, anything goes
        self.assertEqual(zatca().zatca_invoice_hash(data.replace(
                    b'<sac:SignatureInformation> ',
                    b'<sac:SignatureInformation>', 1)),
            expected)

    def test_signed_properties_digest(self):
        for name, data in self.samples.items():
            with self.subTest(name):
                root = parse(data)
                self.assertEqual(
                    zatca().zatca_signed_properties_digest(root.find(
                            './/xades:SignedProperties', self.NS)),
                    root.find('.//ds:Reference[@URI="#xadesSignedProperties"]'
                        '/ds:DigestValue', self.NS).text)

    def test_samples_verify(self):
        "Hash, digests and the ECDSA signature with the embedded cert"
        for name, data in self.samples.items():
            with self.subTest(name):
                certificate = zatca().zatca_verify(data)
                self.assertEqual(certificate.public_key().curve.name,
                    'secp256k1')
                with self.assertRaisesRegex(
                        SignatureError(), 'another certificate'):
                    zatca().zatca_verify(data, self.certificate)

    def test_block_reproduces_samples(self):
        """The signature block built from a sample's hash, signature value,
        certificate and signing time gives back the sample, byte for byte"""
        module = zatca()
        for name, data in self.samples.items():
            with self.subTest(name):
                root = parse(data)
                invoice_hash = root.find(
                    './/ds:Reference[@Id="invoiceSignedData"]/ds:DigestValue',
                    self.NS).text
                signature = root.find('.//ds:SignatureValue', self.NS).text
                signing_time = dt.datetime.strptime(root.find(
                        './/xades:SigningTime', self.NS).text,
                    '%Y-%m-%dT%H:%M:%S')
                certificate = module.zatca_verify(data)
                module.zatca_signature_block(
                    root, invoice_hash, signature, certificate, signing_time)
                self.assertEqual(
                    module.DECLARATION + etree.tostring(
                        root, encoding='UTF-8'), data)

    def test_resign(self):
        "Re-signed with a fresh secp256k1 key: same hash, valid signature"
        module = zatca()
        for name, data in self.samples.items():
            with self.subTest(name):
                signing_time = dt.datetime(2026, 1, 2, 3, 4, 5)
                signed = module.zatca_sign(
                    data, self.key, self.certificate, signing_time)
                self.assertEqual(
                    signed.invoice_hash, module.zatca_invoice_hash(data))
                self.assertEqual(
                    module.zatca_verify(signed.xml, self.certificate),
                    self.certificate)
                self.assertEqual(
                    self.value(signed.xml, './/ds:SignatureValue'),
                    signed.signature)
                self.assertEqual(
                    self.value(signed.xml, './/xades:SigningTime'),
                    '2026-01-02T03:04:05')
                self.certificate.public_key().verify(
                    base64.b64decode(signed.signature),
                    base64.b64decode(signed.invoice_hash),
                    ec.ECDSA(hashes.SHA256()))
                self.assertEqual(len(parse(signed.xml).findall(
                            './/ds:Signature', self.NS)), 1)

    def test_tampered_refused(self):
        module = zatca()
        data = self.samples['Standard_Invoice.xml']
        signed = module.zatca_sign(data, self.key, self.certificate).xml
        cases = {
            'invoice hash': (b'<cbc:ID>SME00', b'<cbc:ID>SME01'),
            'signed properties digest': (
                b'<xades:SigningTime>', b'<xades:SigningTime>1'),
            'certificate digest': (
                module.zatca_certificate_digest(self.certificate).encode(),
                module.zatca_certificate_digest(rsa_identity()[1]).encode()),
            'signature does not verify': (
                b'<ds:SignatureValue>', b'<ds:SignatureValue>AAAA'),
            }
        for message, (old, new) in cases.items():
            with self.subTest(message):
                self.assertIn(old, signed)
                with self.assertRaisesRegex(SignatureError(), message):
                    module.zatca_verify(signed.replace(old, new, 1))

    def test_wrong_key(self):
        module = zatca()
        data = self.samples['Standard_Invoice.xml']
        rsa_key, rsa_certificate = rsa_identity()
        with self.assertRaisesRegex(ValueError, 'secp256k1'):
            module.zatca_sign(data, rsa_key, rsa_certificate)
        other = ec.generate_private_key(ec.SECP256K1())
        with self.assertRaisesRegex(ValueError, 'not the certificate'):
            module.zatca_sign(data, other, self.certificate)

    def test_first_pih(self):
        self.assertEqual(zatca().FIRST_PIH,
            'NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5'
            'MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==')


if __name__ == '__main__':
    unittest.main()
