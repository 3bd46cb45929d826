"""Tests of the authority sandbox core and of the test authority service.

Run: .venv/bin/python -m unittest tests.test_sandbox_core -v
"""
import datetime
import os
import time
import unittest
import uuid

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from tests.sandbox import PKI, Sandbox
from tests.sandbox.__main__ import parse_fault
from tests.sandbox.core import (
    SOAP11_NS, XMLError, load_schema, parse_xml, schema_dir)

TA = 'urn:einvoice-sandbox:test-authority:1'
SERVICE = 'test_authority'
PATH = '/test-authority/v1'


def uid(prefix='INV'):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:12])


def submit_xml(issuer, operation, records):
    rec = ''.join(
        '<ta:Record><ta:Id>%s</ta:Id><ta:Number>%s</ta:Number>'
        '<ta:Date>%s</ta:Date><ta:Amount>%s</ta:Amount></ta:Record>' % r
        for r in records)
    return ('<?xml version="1.0" encoding="utf-8"?>'
        '<soapenv:Envelope xmlns:soapenv="%s" xmlns:ta="%s">'
        '<soapenv:Body><ta:SubmitRequest><ta:Header>'
        '<ta:Issuer>%s</ta:Issuer><ta:Operation>%s</ta:Operation>'
        '</ta:Header>%s</ta:SubmitRequest></soapenv:Body>'
        '</soapenv:Envelope>' % (SOAP11_NS, TA, issuer, operation, rec)
        ).encode()


def record(id_, number='N-1', date='2024-05-01', amount='100.00'):
    return (id_, number, date, amount)


def ta(tag):
    return '{%s}%s' % (TA, tag)


class SandboxTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox().start()
        cls.session = cls.sb.session('test_company')
        cls.url = cls.sb.url + PATH

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()

    def post(self, data, session=None, **kwargs):
        kwargs.setdefault('timeout', 10)
        return (session or self.session).post(self.url, data=data,
            headers={'Content-Type': 'text/xml; charset=utf-8',
                'SOAPAction': '"%s#Submit"' % TA}, **kwargs)

    def submit(self, operation, records, issuer='TEST0001', session=None):
        response = self.post(submit_xml(issuer, operation, records), session)
        root = etree.fromstring(response.content)
        return response, root

    def results(self, root):
        return {r.findtext(ta('Id')): r for r in root.iter(ta('Result'))}

    def zeep_client(self, identity='test_company'):
        session = self.sb.session(identity)
        self.addCleanup(session.close)
        return zeep.Client(self.sb.wsdl_url(SERVICE),
            transport=Transport(session=session, timeout=10))


class PKITest(unittest.TestCase):

    def test_identities(self):
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import pkcs12
        from stdnum.ar import cuit
        from stdnum.es import nif
        start = time.time()
        pki = PKI.create()
        self.addCleanup(pki.cleanup)
        self.assertLess(time.time() - start, 2)
        ids = pki.identities
        self.assertTrue(nif.is_valid(ids['es_company'].tax_id))
        self.assertTrue(nif.is_valid(ids['es_other'].tax_id))
        self.assertNotEqual(ids['es_company'].tax_id, ids['es_other'].tax_id)
        self.assertTrue(cuit.is_valid(ids['ar_company'].tax_id))
        self.assertEqual(ids['test_company'].tax_id, 'TEST0001')
        with open(ids['es_company'].cert_path, 'rb') as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        serial = cert.subject.get_attributes_for_oid(
            x509.oid.NameOID.SERIAL_NUMBER)[0].value
        self.assertEqual(serial, 'IDCES-' + ids['es_company'].tax_id)
        with open(ids['expired'].cert_path, 'rb') as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        self.assertLess(cert.not_valid_after_utc,
            datetime.datetime.now(datetime.timezone.utc))
        with open(ids['es_company'].p12_path, 'rb') as fh:
            key, cert, extra = pkcs12.load_key_and_certificates(fh.read(),
                ids['es_company'].p12_password.encode())
        self.assertIsNotNone(key)
        for name in ('ca.crt.pem', 'server.crt.pem'):
            self.assertTrue(os.path.exists(os.path.join(pki.directory, name)))
        # extensible + reloadable
        pki.add_identity('extra', 'X123', serial_prefix='VATES-')
        loaded = PKI.load(pki.directory)
        self.assertEqual(loaded.identities['extra'].tax_id, 'X123')


class UtilitiesTest(unittest.TestCase):

    def test_parse_xml_rejects_doctype(self):
        from tests.sandbox.server import HOSTILE_XML
        with self.assertRaises(XMLError):
            parse_xml(HOSTILE_XML)
        with self.assertRaises(XMLError):
            parse_xml(b'<a><b></a>')

    @unittest.skipUnless(os.path.exists(os.path.join(schema_dir(), 'ar_afip',
                'wsaa.wsdl')), 'official schemas not available')
    def test_embedded_wsdl_schemas(self):
        schema = load_schema('ar_afip/wsaa.wsdl')
        self.assertIs(schema, load_schema('ar_afip/wsaa.wsdl'))
        ns = 'http://wsaa.view.sua.dvadac.desein.afip.gov'
        el = etree.Element('{%s}loginCms' % ns)
        etree.SubElement(el, '{%s}in0' % ns).text = 'abc'
        self.assertIsNone(schema.validate(el))
        self.assertIn('in0', schema.validate(etree.Element(
                    '{%s}loginCms' % ns)))

    def test_parse_fault_cli(self):
        self.assertEqual(parse_fault('test_authority:Submit:http_503:2'),
            {'service': 'test_authority', 'operation': 'Submit',
                'kind': 'http_503', 'count': 2})
        self.assertEqual(parse_fault('x:*:latency:1:seconds=2')['seconds'],
            '2')


class MutualTLSTest(SandboxTestCase):

    def assertRefused(self, session):
        with self.assertRaises(requests.exceptions.ConnectionError):
            session.get(self.sb.url + '/_sandbox/info', timeout=10)

    def test_no_client_certificate(self):
        self.assertRefused(self.sb.session(None))

    def test_expired_certificate(self):
        self.assertRefused(self.sb.session('expired'))

    def test_unknown_ca(self):
        self.assertRefused(self.sb.session('unknown_ca'))

    def test_accepts_es_company(self):
        session = self.sb.session('es_company')
        self.addCleanup(session.close)
        tax_id = self.sb.identity('es_company').tax_id
        response, root = self.submit('register', [record(uid())],
            issuer=tax_id, session=session)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(root.findtext('.//' + ta('Status')), 'Accepted')
        entry, = self.sb.received(SERVICE, 'Submit')
        self.assertEqual(entry['caller'], tax_id)
        self.assertTrue(self.sb.info()['tls_failures'] >= 0)


class WSDLTest(SandboxTestCase):

    def test_wsdl_rewritten(self):
        response = self.session.get(self.url + '?wsdl', timeout=10)
        self.assertEqual(response.status_code, 200)
        root = etree.fromstring(response.content)
        locations = [a.get('location') for a in root.iter(
                '{http://schemas.xmlsoap.org/wsdl/soap/}address')]
        self.assertEqual(locations, [self.url])
        xsd = self.session.get(self.sb.url + '/test-authority/'
            'TestAuthority.xsd', timeout=10)
        self.assertEqual(xsd.status_code, 200)
        self.assertIn(b'SubmitRequest', xsd.content)
        missing = self.session.get(self.sb.url + '/test-authority/'
            '..%2F..%2Fetc%2Fpasswd', timeout=10)
        self.assertEqual(missing.status_code, 404)

    def test_zeep_submit_and_query(self):
        client = self.zeep_client()
        id1, id2 = uid(), uid()
        result = client.service.Submit(
            Header={'Issuer': 'TEST0001', 'Operation': 'register'},
            Record=[
                {'Id': id1, 'Number': 'F-1', 'Date': datetime.date(2024, 5,
                        1), 'Amount': '121.00'},
                {'Id': id2, 'Number': 'F-2-WARN', 'Date': '2024-05-02',
                    'Amount': '10.5'},
                ])
        self.assertEqual(result.Status, 'Accepted')
        self.assertTrue(result.Reference)
        self.assertEqual([r.Status for r in result.Result],
            ['Accepted', 'AcceptedWithErrors'])
        self.assertEqual(result.Result[1].Code, 2000)
        self.assertRegex(result.Result[0].Reference, r'^TA-[0-9A-F]{12}$')
        found = client.service.Query(Header={'Issuer': 'TEST0001'},
            Id=[id1, id2, 'UNKNOWN'])
        self.assertEqual({f.Id: f.Status for f in found},
            {id1: 'Accepted', id2: 'AcceptedWithErrors'})
        self.assertEqual(found[0].Reference, result.Result[0].Reference)
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id1), 1)
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id1,
                'registered'), 1)
        entries = self.sb.received(SERVICE)
        self.assertEqual([e['operation'] for e in entries],
            ['Submit', 'Query'])
        self.assertEqual(entries[0]['summary']['pairs'],
            [['register', id1], ['register', id2]])
        self.assertEqual(entries[0]['soap_action'], TA + '#Submit')

    def test_zeep_with_local_wsdl_and_address_override(self):
        from tests.sandbox.test_authority import TestAuthorityService
        session = self.sb.session('test_company')
        self.addCleanup(session.close)
        client = zeep.Client(TestAuthorityService.wsdl[PATH],
            transport=Transport(session=session))
        service = client.create_service(
            '{%s}TestAuthorityBinding' % TA, self.url)
        found = service.Query(Header={'Issuer': 'TEST0001'}, Id=['X'])
        self.assertEqual(found, [])


class RulesTest(SandboxTestCase):

    def test_duplicate_and_reregister(self):
        id_ = uid()
        _, root = self.submit('register', [record(id_)])
        ref = self.results(root)[id_].findtext(ta('Reference'))
        _, root = self.submit('register', [record(id_)])
        result = self.results(root)[id_]
        self.assertEqual(root.find('.//' + ta('SubmitResponse')).findtext(
                ta('Status')), 'Rejected')
        self.assertIsNone(root.find('.//' + ta('SubmitResponse')).find(
                ta('Reference')))
        self.assertEqual(result.findtext(ta('Status')), 'Rejected')
        self.assertEqual(result.findtext(ta('Code')), '3000')
        self.assertEqual(result.findtext(ta('Reference')), ref)
        # cancel, then registering again is accepted
        self.submit('cancel', [record(id_)])
        _, root = self.submit('register', [record(id_)])
        self.assertEqual(self.results(root)[id_].findtext(ta('Status')),
            'Accepted')
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id_), 4)
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id_, 'registered'),
            2)

    def test_modify_and_cancel(self):
        id_, unknown = uid(), uid()
        self.submit('register', [record(id_, amount='10.00')])
        _, root = self.submit('modify', [record(id_, 'N-2', amount='20.00'),
                record(unknown)])
        res = self.results(root)
        self.assertEqual(root.find('.//' + ta('SubmitResponse')).findtext(
                ta('Status')), 'PartiallyAccepted')
        self.assertEqual(res[id_].findtext(ta('Status')), 'Accepted')
        self.assertEqual(res[unknown].findtext(ta('Code')), '3002')
        held = self.sb.state(SERVICE)['TEST0001'][id_]
        self.assertEqual((held['number'], held['amount']), ('N-2', '20.00'))
        _, root = self.submit('cancel', [record(id_), record(unknown)])
        res = self.results(root)
        self.assertEqual(res[id_].findtext(ta('Status')), 'Accepted')
        self.assertEqual(res[unknown].findtext(ta('Code')), '3002')
        self.assertEqual(self.sb.state(SERVICE)['TEST0001'][id_]['status'],
            'Cancelled')
        _, root = self.submit('cancel', [record(id_)])
        self.assertEqual(self.results(root)[id_].findtext(ta('Code')),
            '3001')
        _, root = self.submit('register', [record(uid(), amount='-1.00')])
        self.assertEqual(root.find('.//' + ta('Result')).findtext(
                ta('Code')), '1100')

    def test_issuer_mismatch(self):
        client = self.zeep_client('es_other')
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            client.service.Submit(
                Header={'Issuer': self.sb.identity('es_company').tax_id,
                    'Operation': 'register'},
                Record=[{'Id': uid(), 'Number': '1', 'Date': '2024-01-01',
                        'Amount': '1'}])
        self.assertTrue(cm.exception.message.startswith('Codigo[4114].'))
        self.assertEqual(cm.exception.code, 'env:Client')
        entry, = self.sb.received(SERVICE, 'Submit')
        self.assertEqual(entry['fault_string'], cm.exception.message)
        self.assertEqual(entry['summary'].get('registered'), None)

    def test_schema_violation(self):
        response = self.post(submit_xml('TEST0001', 'register',
                [record(uid(), amount='12.345')]))
        self.assertEqual(response.status_code, 500)
        root = etree.fromstring(response.content)
        self.assertEqual(root.findtext('.//faultcode'), 'env:Client')
        self.assertTrue(root.findtext('.//faultstring').startswith(
                'Codigo[4102].Schema violation: '))
        response = self.post(submit_xml('TEST0001', 'delete',
                [record(uid())]))
        self.assertIn('Codigo[4102]', response.text)
        self.assertEqual(self.sb.received()[0]['outcome'], 'schema_error')

    def test_doctype_request_rejected(self):
        data = submit_xml('TEST0001', 'register', [record('&e;')]).replace(
            b'?>', b'?><!DOCTYPE x [<!ENTITY e "e">]>', 1)
        response = self.post(data)
        self.assertEqual(response.status_code, 500)
        self.assertIn('DOCTYPE', response.text)
        self.assertEqual(self.sb.state(SERVICE), {})

    def test_too_many_records(self):
        self.sb.set_option(SERVICE, 'batch_limit', 3)
        response = self.post(submit_xml('TEST0001', 'register',
                [record(uid()) for i in range(4)]))
        self.assertEqual(response.status_code, 500)
        self.assertIn('Codigo[4107].Too many records: 4 &gt; 3',
            response.text)
        self.assertEqual(self.sb.state(SERVICE), {})

    def test_busy(self):
        self.sb.set_option(SERVICE, 'busy', True)
        response = self.post(submit_xml('TEST0001', 'register',
                [record(uid())]))
        self.assertIn('Codigo[5000]', response.text)
        self.assertIn('env:Server', response.text)
        self.sb.set_option(SERVICE, 'busy', False)
        self.sb.add_fault(SERVICE, 'Submit', 'busy')
        self.assertIn('Codigo[5000]', self.post(submit_xml('TEST0001',
                    'register', [record(uid())])).text)
        self.assertEqual(self.post(submit_xml('TEST0001', 'register',
                    [record(uid())])).status_code, 200)


class FaultsTest(SandboxTestCase):

    def submit_one(self, id_, **kwargs):
        return self.post(submit_xml('TEST0001', 'register', [record(id_)]),
            **kwargs)

    def held(self, id_):
        return id_ in self.sb.state(SERVICE).get('TEST0001', {})

    def test_latency(self):
        self.sb.add_fault(SERVICE, 'Submit', 'latency', seconds=0.5)
        id_ = uid()
        start = time.time()
        response = self.submit_one(id_)
        self.assertGreaterEqual(time.time() - start, 0.5)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(self.held(id_))
        self.assertEqual(self.sb.faults(), [])

    def test_latency_beyond_client_timeout_is_processed(self):
        self.sb.add_fault(SERVICE, '*', 'latency', seconds=1.5)
        id_ = uid()
        with self.assertRaises(requests.exceptions.Timeout):
            self.submit_one(id_, timeout=0.5)
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id_, 'registered'),
            1)

    def test_hang(self):
        self.sb.add_fault(SERVICE, 'Submit', 'hang', seconds=3)
        id_ = uid()
        with self.assertRaises(requests.exceptions.Timeout):
            self.submit_one(id_, timeout=1)
        self.assertFalse(self.held(id_))
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id_), 0)
        entry, = self.sb.received(SERVICE, 'Submit')
        self.assertEqual((entry['fault'], entry['processed']),
            ('hang', False))

    def test_drop_after(self):
        self.sb.add_fault(SERVICE, 'Submit', 'drop_after')
        id_ = uid()
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.submit_one(id_)
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id_), 1)
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id_, 'registered'),
            1)
        self.assertTrue(self.held(id_))
        # the retry is a duplicate
        root = etree.fromstring(self.submit_one(id_).content)
        self.assertEqual(root.findtext('.//' + ta('Code')), '3000')

    def test_http_errors_and_html(self):
        for kind, status, ctype in [('http_500', 500, 'text/plain'),
                ('http_503', 503, 'text/plain'), ('html', 200, 'text/html')]:
            with self.subTest(kind=kind):
                self.sb.add_fault(SERVICE, 'Submit', kind)
                id_ = uid()
                response = self.submit_one(id_)
                self.assertEqual(response.status_code, status)
                self.assertTrue(response.headers['Content-Type'].startswith(
                        ctype))
                self.assertFalse(self.held(id_))
                self.assertEqual(self.sb.count(SERVICE, 'Submit', id_), 0)

    def test_zeep_sees_html(self):
        self.sb.add_fault(SERVICE, '*', 'html')
        client = self.zeep_client()
        with self.assertRaises(Exception) as cm:
            client.service.Query(Header={'Issuer': 'TEST0001'}, Id=['A'])
        self.assertNotIsInstance(cm.exception, AssertionError)

    def test_soap_fault(self):
        self.sb.add_fault(SERVICE, 'Submit', 'soap_fault',
            faultcode='Server', faultstring='Codigo[9999].Injected')
        client = self.zeep_client()
        id_ = uid()
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            client.service.Submit(
                Header={'Issuer': 'TEST0001', 'Operation': 'register'},
                Record=[{'Id': id_, 'Number': '1', 'Date': '2024-01-01',
                        'Amount': '1'}])
        self.assertEqual(cm.exception.message, 'Codigo[9999].Injected')
        self.assertFalse(self.held(id_))

    def test_truncated(self):
        self.sb.add_fault(SERVICE, 'Submit', 'truncated')
        id_ = uid()
        with self.assertRaises((requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ConnectionError)):
            self.submit_one(id_)
        self.assertTrue(self.held(id_))

    def test_malformed(self):
        self.sb.add_fault(SERVICE, 'Submit', 'malformed')
        id_ = uid()
        response = self.submit_one(id_)
        self.assertEqual(response.status_code, 200)
        with self.assertRaises(etree.XMLSyntaxError):
            etree.fromstring(response.content)
        self.assertTrue(self.held(id_))

    def test_entities(self):
        self.sb.add_fault(SERVICE, 'Submit', 'entities')
        id_ = uid()
        response = self.submit_one(id_)
        self.assertEqual(response.status_code, 200)
        self.assertIn(b'<!ENTITY xxe SYSTEM "file:///etc/passwd">',
            response.content)
        parser = etree.XMLParser(resolve_entities=False, no_network=True,
            load_dtd=False)
        try:
            root = etree.fromstring(response.content, parser)
        except etree.XMLSyntaxError:
            pass    # recent libxml2 refuses the amplification outright
        else:
            text = etree.tostring(root)
            self.assertLess(len(text), 5000)   # not expanded
            self.assertNotIn(b'root:', text)
        self.assertFalse(self.held(id_))
        # zeep's default settings refuse every variant
        client = self.zeep_client()
        for variant in ('all', 'laughs', 'xxe'):
            with self.subTest(variant=variant):
                self.sb.add_fault(SERVICE, 'Submit', 'entities',
                    variant=variant)
                with self.assertRaises(zeep.exceptions.Error) as cm:
                    client.service.Submit(
                        Header={'Issuer': 'TEST0001',
                            'Operation': 'register'},
                        Record=[{'Id': uid(), 'Number': '1',
                                'Date': '2024-01-01', 'Amount': '1'}])
                self.assertNotIn('root:', str(cm.exception))
                if variant == 'xxe':
                    self.assertIsInstance(cm.exception,
                        zeep.exceptions.EntitiesForbidden)

    def test_fault_count_and_wildcard(self):
        self.sb.add_fault(SERVICE, '*', 'http_503', count=2)
        codes = [self.submit_one(uid()).status_code for i in range(3)]
        self.assertEqual(codes, [503, 503, 200])
        self.sb.add_fault(SERVICE, 'Query', 'http_500', count=None)
        self.assertEqual(self.submit_one(uid()).status_code, 200)
        self.assertEqual(len(self.sb.faults()), 1)
        self.sb.clear_faults()
        self.assertEqual(self.sb.faults(), [])
        with self.assertRaises(ValueError):
            self.sb.add_fault(SERVICE, 'Submit', 'no_such_kind')


class SubprocessTest(unittest.TestCase):

    def test_subprocess_mode(self):
        with Sandbox(subprocess=True) as sb:
            self.assertNotEqual(sb.pid, os.getpid())
            session = sb.session('test_company')
            self.addCleanup(session.close)
            url = sb.url + PATH
            headers = {'Content-Type': 'text/xml; charset=utf-8'}
            sb.add_fault(SERVICE, 'Submit', 'drop_after')
            self.assertEqual(len(sb.faults()), 1)
            id_ = uid()
            data = submit_xml('TEST0001', 'register', [record(id_)])
            with self.assertRaises(requests.exceptions.ConnectionError):
                session.post(url, data=data, headers=headers, timeout=10)
            self.assertEqual(sb.count(SERVICE, 'Submit', id_), 1)
            response = session.post(url, data=data, headers=headers,
                timeout=10)
            self.assertIn('3000', response.text)
            entries = sb.received(SERVICE, 'Submit')
            self.assertEqual([e['fault'] for e in entries],
                ['drop_after', None])
            self.assertIn(id_, sb.state(SERVICE)['TEST0001'])
            sb.set_option(SERVICE, 'batch_limit', 1)
            self.assertEqual(sb.options(SERVICE)['batch_limit'], 1)
            with self.assertRaises(ValueError):
                sb.add_fault('nope', 'x', 'html')
            sb.reset()
            self.assertEqual(sb.received(), [])
            client = zeep.Client(sb.wsdl_url(SERVICE),
                transport=Transport(session=session))
            self.assertEqual(client.service.Query(
                    Header={'Issuer': 'TEST0001'}, Id=[id_]), [])


if __name__ == '__main__':
    unittest.main()
