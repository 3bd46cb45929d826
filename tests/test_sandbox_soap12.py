"""Tests of the SOAP 1.2 test authority (``/test-authority/v2``) and of the
new fault kinds on SOAP routes.  No database.

Run: .venv/bin/python -m unittest tests.test_sandbox_soap12 -v
"""
import time
import unittest

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from tests.sandbox import Sandbox
from tests.sandbox.core import SOAP11_NS, SOAP12_NS
from tests.test_sandbox_core import TA, record, submit_xml, ta, uid

SERVICE = 'test_authority'
V1, V2 = '/test-authority/v1', '/test-authority/v2'
SOAP12_TYPE = 'application/soap+xml; charset=utf-8; action="%s#%s"'


def soap12(data):
    "A SOAP 1.1 request of test_sandbox_core turned into SOAP 1.2"
    return data.replace(SOAP11_NS.encode(), SOAP12_NS.encode())


def query_xml(issuer, ids, soap_ns=SOAP12_NS):
    return ('<e:Envelope xmlns:e="%s" xmlns:ta="%s"><e:Body>'
        '<ta:QueryRequest><ta:Header><ta:Issuer>%s</ta:Issuer></ta:Header>'
        '%s</ta:QueryRequest></e:Body></e:Envelope>' % (soap_ns, TA, issuer,
            ''.join('<ta:Id>%s</ta:Id>' % i for i in ids))).encode()


def fault12(root):
    "(Code/Value, Reason/Text) of a SOAP 1.2 fault"
    fault = root.find('{%s}Body/{%s}Fault' % (SOAP12_NS, SOAP12_NS))
    return (fault.findtext('{%s}Code/{%s}Value' % (SOAP12_NS, SOAP12_NS)),
        fault.findtext('{%s}Reason/{%s}Text' % (SOAP12_NS, SOAP12_NS)))


class Soap12TestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox([SERVICE]).start()
        cls.session = cls.sb.session('test_company')

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()

    def post12(self, data, operation='Submit', path=V2, **kwargs):
        kwargs.setdefault('timeout', 10)
        return self.session.post(self.sb.url + path, data=data,
            headers={'Content-Type': SOAP12_TYPE % (TA, operation)},
            **kwargs)

    def submit12(self, records, issuer='TEST0001', operation='register'):
        return self.post12(soap12(submit_xml(issuer, operation, records)))


class Soap12Test(Soap12TestCase):

    def test_wsdl(self):
        url = self.sb.wsdl_url(SERVICE, 1)
        self.assertTrue(url.endswith(V2 + '?wsdl'))
        root = etree.fromstring(self.session.get(url, timeout=10).content)
        address, = root.iter(
            '{http://schemas.xmlsoap.org/wsdl/soap12/}address')
        self.assertEqual(address.get('location'), self.sb.url + V2)
        port, = root.iter('{http://schemas.xmlsoap.org/wsdl/}port')
        self.assertEqual(port.get('name'), 'TestAuthorityPort12')
        # both WSDLs are served next to the shared XSD
        for name in ['TestAuthority.wsdl', 'TestAuthority12.wsdl',
                'TestAuthority.xsd']:
            response = self.session.get(self.sb.url + '/test-authority/'
                + name, timeout=10)
            self.assertEqual(response.status_code, 200, name)
        self.assertIn(self.sb.url.encode(), self.session.get(
                self.sb.url + '/test-authority/TestAuthority.wsdl',
                timeout=10).content)

    def test_submit_and_query(self):
        id1, id2 = uid(), uid()
        response = self.submit12([record(id1), record(id2, 'W-WARN')])
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.headers['Content-Type'].startswith(
                'application/soap+xml'))
        root = etree.fromstring(response.content)
        self.assertEqual(root.tag, '{%s}Envelope' % SOAP12_NS)
        self.assertEqual(root.findtext('.//' + ta('Status')), 'Accepted')
        response = self.post12(query_xml('TEST0001', [id1, id2]), 'Query')
        found = etree.fromstring(response.content).findall('.//' + ta('Found'))
        self.assertEqual({f.findtext(ta('Id')): f.findtext(ta('Status'))
                for f in found},
            {id1: 'Accepted', id2: 'AcceptedWithErrors'})
        entry = self.sb.received(SERVICE, 'Submit')[0]
        self.assertEqual((entry['protocol'], entry['port'],
                entry['soap_action'], entry['path']),
            ('soap12', 'TestAuthorityPort12', TA + '#Submit', V2))
        self.assertEqual(self.sb.count(SERVICE, 'Submit', id1,
                'registered'), 1)

    def test_faults(self):
        tax_id = self.sb.identity('es_company').tax_id
        cases = [
            (dict(records=[record(uid())], issuer=tax_id), 400,
                'env:Sender', 'Codigo[4114].The certificate holder is not '
                'the issuer'),
            (dict(records=[record(uid(), amount='1.234')]), 400,
                'env:Sender', 'Codigo[4102].Schema violation: '),
            ]
        for kwargs, status, code, text in cases:
            with self.subTest(text=text):
                response = self.submit12(**kwargs)
                self.assertEqual(response.status_code, status)
                self.assertTrue(response.headers['Content-Type'].startswith(
                        'application/soap+xml'))
                value, reason = fault12(etree.fromstring(response.content))
                self.assertEqual(value, code)
                self.assertTrue(reason.startswith(text), reason)
        self.sb.set_option(SERVICE, 'busy', True)
        response = self.submit12([record(uid())])
        self.assertEqual(response.status_code, 500)
        self.assertEqual(fault12(etree.fromstring(response.content)),
            ('env:Receiver', 'Codigo[5000].Service busy, retry later'))
        self.assertEqual(self.sb.state(SERVICE), {})

    def test_version_mismatch(self):
        response = self.session.post(self.sb.url + V2, data=submit_xml(
                'TEST0001', 'register', [record(uid())]), timeout=10,
            headers={'Content-Type': 'text/xml; charset=utf-8',
                'SOAPAction': '"%s#Submit"' % TA})
        root = etree.fromstring(response.content)
        self.assertEqual(root.findtext('.//faultcode'), 'env:VersionMismatch')
        response = self.post12(soap12(submit_xml('TEST0001', 'register',
                    [record(uid())])), path=V1)
        self.assertEqual(fault12(etree.fromstring(response.content))[0],
            'env:VersionMismatch')
        self.assertEqual(self.sb.state(SERVICE), {})

    def test_zeep_both_versions(self):
        "zeep reads both WSDLs; v1 (SOAP 1.1) works as before"
        for index, ns in [(0, SOAP11_NS), (1, SOAP12_NS)]:
            with self.subTest(index=index):
                client = zeep.Client(self.sb.wsdl_url(SERVICE, index),
                    transport=Transport(session=self.session, timeout=10))
                id_ = uid()
                result = client.service.Submit(
                    Header={'Issuer': 'TEST0001', 'Operation': 'register'},
                    Record=[{'Id': id_, 'Number': 'F-1',
                            'Date': '2024-05-01', 'Amount': '1.00'}])
                self.assertEqual(result.Status, 'Accepted')
                found = client.service.Query(Header={'Issuer': 'TEST0001'},
                    Id=[id_])
                self.assertEqual(found[0].Reference,
                    result.Result[0].Reference)
                self.assertEqual(self.sb.received(SERVICE)[-1]['protocol'],
                    'soap11' if ns == SOAP11_NS else 'soap12')
                with self.assertRaises(zeep.exceptions.Fault) as cm:
                    client.service.Submit(Header={'Issuer': 'OTHER',
                            'Operation': 'register'}, Record=[{'Id': uid(),
                                'Number': '1', 'Date': '2024-01-01',
                                'Amount': '1'}])
                self.assertTrue(cm.exception.message.startswith(
                        'Codigo[4114].'))


class NewFaultsOnSoapTest(Soap12TestCase):

    def held(self, id_):
        return id_ in self.sb.state(SERVICE).get('TEST0001', {})

    def test_http_429(self):
        self.sb.add_fault(SERVICE, 'Submit', 'http_429', seconds=12)
        id_ = uid()
        response = self.submit12([record(id_)])
        self.assertEqual((response.status_code,
                response.headers['Retry-After']), (429, '12'))
        self.assertFalse(self.held(id_))

    def test_redirect_303(self):
        self.sb.add_fault(SERVICE, 'Submit', 'redirect_303',
            location='https://elsewhere.invalid/x')
        id_ = uid()
        response = self.post12(soap12(submit_xml('TEST0001', 'register',
                    [record(id_)])), allow_redirects=False)
        self.assertEqual((response.status_code, response.headers['Location']),
            (303, 'https://elsewhere.invalid/x'))
        self.assertTrue(self.held(id_))

    def test_slow_ack(self):
        self.sb.add_fault(SERVICE, 'Submit', 'slow_ack', seconds=0.4)
        id_ = uid()
        start = time.monotonic()
        response = self.submit12([record(id_)])
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(self.held(id_))
        self.sb.add_fault(SERVICE, 'Submit', 'slow_ack', seconds=1)
        id_ = uid()
        with self.assertRaises(requests.exceptions.Timeout):
            self.post12(soap12(submit_xml('TEST0001', 'register',
                        [record(id_)])), timeout=0.3)
        self.assertTrue(self.held(id_))
