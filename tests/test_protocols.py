"""Protocols (issue 12 item 1): SOAP 1.2, HTTP/JSON and raw HTTP calls
against a small local HTTPS server, the service's classification of their
answers, what the exchange history keeps (status, headers, never the
secret ones) and the migration of its remote operation column."""
import datetime as dt
import email.utils
import json
import logging

from tests import tools
from tests.framework_case import FrameworkTestCase
from tests.hostile_server import HostileServer

SOAP12 = 'http://www.w3.org/2003/05/soap-envelope'
SOAP12_TYPE = 'application/soap+xml; charset=utf-8'
TA = 'urn:einvoice-sandbox:test-authority:1'
TOKEN = 'tok-S3CRET-0123'


def soap12(body):
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{SOAP12}"><env:Body>{body}'
        '</env:Body></env:Envelope>').encode()


def soap12_fault(code, reason):
    return soap12(
        f'<env:Fault><env:Code><env:Value>{code}</env:Value>'
        '<env:Subcode><env:Value>env:Detail</env:Value></env:Subcode>'
        '</env:Code><env:Reason>'
        f'<env:Text xml:lang="en">{reason}</env:Text>'
        '</env:Reason></env:Fault>')


def submit_response(invoice_id):
    "The test authority's answer accepting one invoice, in SOAP 1.1"
    return (
        '<soapenv:Envelope xmlns:soapenv='
        '"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        f'<ta:SubmitResponse xmlns:ta="{TA}"><ta:Status>Accepted</ta:Status>'
        '<ta:Reference>TA-0000000000AB</ta:Reference><ta:Result>'
        f'<ta:Id>INV-{invoice_id}</ta:Id><ta:Status>Accepted</ta:Status>'
        '<ta:Reference>TA-0000000000AB</ta:Reference></ta:Result>'
        '</ta:SubmitResponse></soapenv:Body></soapenv:Envelope>').encode()


class _Captured(logging.Handler):
    "Every log record of the block, formatted"

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


class ProtocolsTest(FrameworkTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = HostileServer(cls.sandbox.pki).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.server.reset()

    # -- helpers -----------------------------------------------------------
    def call(self, protocol, status, body, content_type, headers=None,
            request=None):
        """Send request (a service.Request, by default an empty one) to the
        server answering status, body and headers; return (response,
        failure): the failure transport.parse raises or the one the test
        authority service classifies the answer as"""
        from trytond.modules.account_einvoice import transport
        from trytond.modules.account_einvoice.exceptions import ServiceFailure
        from trytond.modules.account_einvoice.service import Request
        from trytond.modules.account_einvoice.tests.service import NS
        from trytond.pool import Pool
        self.server.reply(status, body, content_type, headers)
        if request is None:
            from lxml import etree
            request = Request(operation='Submit', protocol=protocol,
                body=etree.Element(f'{{{NS}}}Ping'), payload=b'{}')
        with tools.transaction(commit=False):
            Configuration = Pool().get('account.einvoice.configuration')
            service = Configuration(self.configuration).get_service()
            try:
                response = transport.parse(transport.send(
                        request.method, self.server.url + '/api',
                        service.serialize(request),
                        transport.protocol_headers(protocol, 'urn:Submit'),
                        None), protocol)
            except ServiceFailure as failure:
                return None, failure
            failure = service.classify_response(response)
            self.wait = service.wait_after(request, response)
            return response, failure

    def assert_retry_at(self, failure, expected, delta=2):
        self.assertIsNotNone(failure.retry_at)
        self.assertLessEqual(
            abs((failure.retry_at - expected).total_seconds()), delta)

    # -- SOAP 1.2 ----------------------------------------------------------
    def test_soap12_answer_parsed(self):
        "A SOAP 1.2 request is sent as such and its answer read"
        from lxml import etree
        response, failure = self.call('soap12', 200,
            soap12(f'<ta:SubmitResponse xmlns:ta="{TA}">'
                '<ta:Status>Accepted</ta:Status></ta:SubmitResponse>'),
            SOAP12_TYPE)
        self.assertIsNone(failure)
        self.assertEqual(response.body.tag, f'{{{TA}}}SubmitResponse')
        self.assertEqual(response.protocol, 'soap12')
        sent, = self.server.requests
        self.assertEqual(etree.fromstring(sent).tag, f'{{{SOAP12}}}Envelope')
        headers, = self.server.request_headers
        self.assertEqual(headers['Content-Type'],
            SOAP12_TYPE + '; action="urn:Submit"')
        self.assertNotIn('SOAPAction', headers)

    def test_soap12_fault_classified(self):
        "A SOAP 1.2 fault is read as (Code/Value, Reason/Text)"
        from trytond.modules.account_einvoice import transport
        reason = 'Codigo[4102].Schema violation: Amount'
        response, failure = self.call('soap12', 400,
            soap12_fault('env:Sender', reason), SOAP12_TYPE)
        self.assertEqual(transport.fault(response), ('env:Sender', reason))
        self.assertEqual(failure.kind, 'configuration')
        self.assertEqual(failure.code, '4102')
        self.assertEqual(failure.message, reason)
        self.assertIs(failure.response, response)
        _, failure = self.call('soap12', 500, soap12_fault(
                'env:Receiver', 'Codigo[5000].Service busy, retry later'),
            SOAP12_TYPE)
        self.assertEqual((failure.kind, failure.code), ('transient', '5000'))

    def test_soap11_request_answered_in_soap12(self):
        "A version mismatch fault in the other version is still read"
        from trytond.modules.account_einvoice import transport
        response, failure = self.call('soap11', 500,
            soap12_fault('env:VersionMismatch', 'SOAP 1.2 only'),
            SOAP12_TYPE)
        self.assertEqual(transport.fault(response),
            ('env:VersionMismatch', 'SOAP 1.2 only'))
        self.assertEqual(failure.kind, 'configuration')

    # -- HTTP/JSON ---------------------------------------------------------
    def test_json_answer_parsed(self):
        "The JSON value is the body; the headers are kept, any case"
        from trytond.modules.account_einvoice.service import Request
        request = Request(operation='POST documents', protocol='json',
            url='https://authority.invalid/documents',
            payload={'issuer': 'TEST0001', 'documents': ['ñ']})
        response, failure = self.call('json', 200,
            b'{"status": "Accepted", "results": [{"id": "INV-1"}]}',
            'application/json', {'X-Request-Id': 'req-7'}, request=request)
        self.assertIsNone(failure)
        self.assertEqual(response.body,
            {'status': 'Accepted', 'results': [{'id': 'INV-1'}]})
        self.assertEqual(response.header('x-request-id'), 'req-7')
        self.assertEqual(response.headers['X-Request-Id'], 'req-7')
        self.assertIsNone(self.wait)
        sent, = self.server.requests
        self.assertEqual(json.loads(sent),
            {'issuer': 'TEST0001', 'documents': ['ñ']})
        headers, = self.server.request_headers
        self.assertEqual(headers['Content-Type'], 'application/json')
        self.assertEqual(headers['Accept'], 'application/json')

    def test_json_429_retry_after_seconds(self):
        "429 + Retry-After in seconds: transient, retried then"
        response, failure = self.call('json', 429,
            b'{"error": "too many requests"}', 'application/json',
            {'Retry-After': '120'})
        self.assertEqual((failure.kind, failure.code), ('transient', '429'))
        self.assertIn('too many requests', failure.message)
        self.assert_retry_at(
            failure, dt.datetime.now() + dt.timedelta(seconds=120))
        self.assertAlmostEqual(self.wait, 120, delta=2)
        self.assertIs(failure.response, response)

    def test_json_429_retry_after_http_date(self):
        "429 + Retry-After as an HTTP-date (GMT): the same local time"
        when = (dt.datetime.now(dt.timezone.utc)
            + dt.timedelta(minutes=10)).replace(microsecond=0)
        _, failure = self.call('json', 429, b'', 'application/json',
            {'Retry-After': email.utils.format_datetime(when, usegmt=True)})
        self.assertEqual(failure.kind, 'transient')
        self.assertEqual(failure.retry_at,
            when.astimezone().replace(tzinfo=None))

    def test_json_503_without_retry_after(self):
        _, failure = self.call('json', 503, b'<html>busy</html>',
            'text/html')
        self.assertEqual(failure.kind, 'transient')
        self.assertIsNone(failure.retry_at)

    def test_json_401_and_400_refuse_the_request(self):
        _, failure = self.call('json', 401, b'{"error": "unauthorized"}',
            'application/json', {'WWW-Authenticate': 'Basic'})
        self.assertEqual((failure.kind, failure.code),
            ('configuration', '401'))
        self.assertIn('unauthorized', failure.message)
        self.assertIn('401', failure.message)
        _, failure = self.call('json', 400,
            b'{"error": "malformed", "detail": "documents"}',
            'application/json')
        self.assertEqual((failure.kind, failure.code),
            ('configuration', '400'))
        self.assertIn('malformed', failure.message)

    def test_json_redirect_and_server_error_unknown(self):
        "3xx and 5xx may follow processing; a redirection is not followed"
        for status in [303, 307, 500]:
            with self.subTest(status=status):
                self.server.reset()
                _, failure = self.call('json', status, b'',
                    'application/json',
                    {'Location': self.server.url + '/elsewhere'})
                self.assertEqual((failure.kind, failure.code),
                    ('unknown', str(status)))
                self.assertEqual(len(self.server.requests), 1)

    def test_json_request_answered_not_json(self):
        "A 200 that is not JSON may follow processing"
        for body, content_type in [
                (b'<html>Welcome</html>', 'text/html'),
                (b'', 'application/json'),
                (b'[' * 100000, 'application/json')]:
            with self.subTest(body=body[:10]):
                response, failure = self.call(
                    'json', 200, body, content_type)
                self.assertIsNone(response)
                self.assertEqual(failure.kind, 'unknown')
                self.assertIn('JSON', failure.message)
                self.assertEqual(failure.response.status, 200)

    def test_raw_http(self):
        "'http': the payload as is, the answer left to the service"
        from trytond.modules.account_einvoice.service import Request
        request = Request(operation='POST blob', protocol='http',
            payload=b'\x00raw')
        response, failure = self.call('http', 201, b'\x01answer',
            'application/octet-stream', request=request)
        self.assertIsNone(failure)
        self.assertIsNone(response.body)
        self.assertEqual(response.content, b'\x01answer')
        self.assertEqual(self.server.requests, [b'\x00raw'])

    # -- the exchange history ----------------------------------------------
    def exchange_row(self, exchange_id):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            exchange = Exchange(exchange_id)
            return {name: getattr(exchange, name) for name in [
                    'remote_operation', 'protocol', 'http_status',
                    'request_headers', 'response_headers', 'error',
                    'request_filename', 'response_filename', 'endpoint']}

    def test_secret_header_sent_never_stored(self):
        "Authorization reaches the authority, not the history nor the logs"
        from trytond.modules.account_einvoice.tests.service import (
            TestAuthorityService)
        invoice, = self.post()
        self.server.reply(200, submit_response(invoice),
            'text/xml; charset=utf-8', {
                'X-Request-Id': 'req-1',
                'Set-Cookie': f'session={TOKEN}',
                'Authorization': f'Bearer {TOKEN}',
                })
        self.set_configuration(endpoint_host=self.server.url)
        captured = _Captured()
        root = logging.getLogger()
        level = root.level
        root.addHandler(captured)
        root.setLevel(logging.DEBUG)
        TestAuthorityService.token = TOKEN
        try:
            self.cron()
        finally:
            TestAuthorityService.token = None
            root.removeHandler(captured)
            root.setLevel(level)
            self.set_configuration(endpoint_host=self.sandbox.url)
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        headers, = self.server.request_headers
        self.assertEqual(headers['Authorization'], f'Bearer {TOKEN}')

        exchange, = self.exchanges()
        row = self.exchange_row(exchange['id'])
        self.assertEqual((row['remote_operation'], row['protocol'],
                row['http_status']), ('Submit', 'soap11', 200))
        request_headers = json.loads(row['request_headers'])
        self.assertEqual(request_headers['SOAPAction'], f'"{TA}#Submit"')
        self.assertNotIn('Authorization', request_headers)
        response_headers = json.loads(row['response_headers'])
        self.assertEqual(response_headers['X-Request-Id'], 'req-1')
        self.assertNotIn('Set-Cookie', response_headers)
        self.assertNotIn('Authorization', response_headers)
        stored = json.dumps(row, default=str) + repr(exchange)
        self.assertNotIn(TOKEN, stored)
        self.assertTrue(captured.lines, "nothing was logged")
        self.assertFalse([line for line in captured.lines if TOKEN in line])

    def test_failed_answer_status_stored(self):
        "The status and headers of a failed answer are kept too"
        invoice, = self.post()
        self.server.reply(503, b'Service Unavailable', 'text/plain',
            {'Retry-After': '30'})
        self.set_configuration(endpoint_host=self.server.url)
        try:
            self.cron()
        finally:
            self.set_configuration(endpoint_host=self.sandbox.url)
        exchange, = self.exchanges()
        row = self.exchange_row(exchange['id'])
        self.assertEqual(row['http_status'], 503)
        self.assertEqual(
            json.loads(row['response_headers'])['Retry-After'], '30')
        self.assertEqual(row['request_filename'],
            f"send-{exchange['id']}-request.xml")
        # the test authority documents its plain 503 as not processed
        self.assertEqual(exchange['state'], 'failed')
        self.assertFalse(self.submission(invoice)['needs_query'])

    def test_json_exchange_file_names(self):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            exchange = Exchange(id=7, kind='send', protocol='json')
            self.assertEqual(exchange.get_filename('request_filename'),
                'send-7-request.json')

    def test_migration_renames_soap_operation(self):
        "A database of before keeps its operations under the new name"
        from sql import Table

        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction(commit=False):
            Exchange = Pool().get('account.einvoice.exchange')
            table_h = Exchange.__table_handler__('account_einvoice')
            # the table as it was
            table_h.column_rename('remote_operation', 'soap_operation')
            table_h.drop_column('protocol')
            cursor = Transaction().connection.cursor()
            old = Table(Exchange._table)
            cursor.execute(*old.insert(
                    [old.company, old.kind, old.soap_operation],
                    [[self.company, 'send', 'FECAESolicitar']]))
            cursor.execute(*old.select(old.id,
                    where=old.soap_operation == 'FECAESolicitar'))
            exchange_id, = cursor.fetchone()

            Exchange.__register__('account_einvoice')
            table = Exchange.__table__()
            cursor.execute(*table.select(
                    table.remote_operation, table.protocol,
                    where=table.id == exchange_id))
            self.assertEqual(cursor.fetchone(), ('FECAESolicitar', 'soap11'))
            table_h = Exchange.__table_handler__('account_einvoice')
            self.assertFalse(table_h.column_exist('soap_operation'))
