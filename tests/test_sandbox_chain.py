"""Tests of the sandbox's REST/JSON routes, clock and the chained test
authority (``test_chain``).  No database.

Run: .venv/bin/python -m unittest tests.test_sandbox_chain -v
"""
import base64
import socket
import ssl
import time
import unittest
import uuid
from urllib.parse import urlsplit

import requests

from tests.sandbox import Sandbox
from tests.sandbox.clock import parse_time
from tests.sandbox.test_chain_authority import PATH, encode_document

SERVICE = 'test_chain'
ISSUER = 'TEST0001'
AUTH = ('TEST', 'secret')


def uid(prefix='INV'):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:12])


def document(id_, sequence, previous, kind='record', amount='10.00',
        chain='CHAIN-A'):
    "(content item, digest) of one chain document"
    data, digest = encode_document({'id': id_, 'chain': chain,
            'sequence': sequence, 'previous': previous, 'kind': kind,
            'number': 'F-%s' % id_, 'date': '2024-05-01', 'amount': amount,
            'generated': '2024-05-01T10:00:00+00:00'})
    return {'content': base64.b64encode(data).decode()}, digest


class ChainTestCase(unittest.TestCase):
    subprocess = False

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox([SERVICE], subprocess=cls.subprocess).start()
        # the open port: TLS without a client certificate
        cls.session = cls.sb.session(None)
        cls.url = cls.sb.open_endpoint(PATH)

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()

    def post(self, items, issuer=ISSUER, auth=AUTH, session=None, url=None,
            **kwargs):
        kwargs.setdefault('timeout', 10)
        return (session or self.session).post(url or self.url, auth=auth,
            json={'issuer': issuer, 'documents': items}, **kwargs)

    def send(self, *items, **kwargs):
        "Post documents; return (whole status, [result])"
        response = self.post(list(items), **kwargs)
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        return answer['status'], answer['results']

    def chain(self, chain='CHAIN-A'):
        return self.sb.chain(ISSUER, chain)

    def held_ids(self, chain='CHAIN-A'):
        return [(d['id'], d['status']) for d in self.chain(chain)]


class RulesTest(ChainTestCase):

    def test_first_document_and_link(self):
        id1, id2 = uid(), uid()
        doc1, digest1 = document(id1, 1, None)
        doc2, digest2 = document(id2, 2, digest1)
        status, (first,) = self.send(doc1)
        self.assertEqual(status, 'Accepted')
        self.assertEqual((first['id'], first['digest'], first['status'],
                first['code']), (id1, digest1, 'Accepted', None))
        self.assertRegex(first['reference'], r'^TC-[0-9A-F]{12}$')
        status, _ = self.send(doc2)
        self.assertEqual(status, 'Accepted')
        held = self.chain()
        self.assertEqual([(d['id'], d['sequence'], d['digest'],
                    d['previous'], d['kind'], d['status']) for d in held],
            [(id1, 1, digest1, None, 'record', 'Accepted'),
                (id2, 2, digest2, digest1, 'record', 'Accepted')])
        self.assertEqual(held[0]['reference'], first['reference'])
        entry = self.sb.received(SERVICE, 'documents')[0]
        self.assertEqual((entry['protocol'], entry['caller'],
                entry['summary']['keys'], entry['summary']['digests'],
                entry['summary']['auth_user']),
            ('json', None, [id1], [digest1], 'TEST'))
        self.assertEqual(self.sb.count(SERVICE, 'documents', id1,
                'accepted'), 1)

    def test_broken_link_not_held(self):
        id1 = uid()
        doc1, digest1 = document(id1, 1, None)
        bad_first, _ = document(uid(), 1, 'ab' * 32)
        status, (result,) = self.send(bad_first)
        self.assertEqual((status, result['status'], result['code'],
                result['message']), ('Rejected', 'Rejected', 4200,
                'chain broken: expected previous null sequence 1'))
        self.send(doc1)
        for broken in [document(uid(), 2, 'ab' * 32)[0],
                document(uid(), 3, digest1)[0]]:
            status, (result,) = self.send(broken)
            self.assertEqual((result['code'], result['message']), (4200,
                    'chain broken: expected previous %s sequence 2'
                    % digest1))
        self.assertEqual(self.held_ids(), [(id1, 'Accepted')])
        # another chain of the same issuer starts on its own
        other, _ = document(uid(), 1, None, chain='CHAIN-B')
        self.assertEqual(self.send(other)[0], 'Accepted')

    def test_rejected_link_held_then_corrected(self):
        id1, id2 = uid(), uid()
        doc1, digest1 = document(id1, 1, None, amount='-5.00')
        status, (result,) = self.send(doc1)
        self.assertEqual((status, result['code'], result['reference']),
            ('Rejected', 1100, None))
        # the rejected document is held: the next one links to it
        stray, digest2 = document(id2, 2, digest1, kind='correction')
        status, (result,) = self.send(stray)
        self.assertEqual((result['status'], result['code']),
            ('Rejected', 3002))
        fix, digest3 = document(id1, 3, digest2, kind='correction')
        status, (result,) = self.send(fix)
        self.assertEqual((status, result['status']), ('Accepted', 'Accepted'))
        again, digest4 = document(id1, 4, digest3)
        self.assertEqual(self.send(again)[1][0]['code'], 3001)
        self.assertEqual(self.held_ids(), [(id1, 'Rejected'),
                (id2, 'Rejected'), (id1, 'Accepted'), (id1, 'Rejected')])
        self.assertEqual(self.sb.state(SERVICE)['ids'][ISSUER],
            {id1: 'registered'})
        # option allow_negative: a negative amount is a plain record
        self.sb.set_option(SERVICE, 'allow_negative', True)
        negative, _ = document(id2, 5, digest4, amount='-1.00')
        self.assertEqual(self.send(negative)[0], 'Accepted')

    def test_cancellation(self):
        id1 = uid()
        doc1, digest1 = document(id1, 1, None)
        unknown, digest_u = document(uid(), 2, digest1, kind='cancellation')
        cancel, _ = document(id1, 3, digest_u, kind='cancellation',
            amount='-10.00')
        status, results = self.send(doc1, unknown, cancel)
        self.assertEqual(status, 'PartiallyAccepted')
        self.assertEqual([(r['status'], r['code']) for r in results],
            [('Accepted', None), ('Rejected', 3002), ('Accepted', None)])
        self.assertEqual(self.sb.state(SERVICE)['ids'][ISSUER][id1],
            'cancelled')

    def test_already_held_resend(self):
        id1, id2 = uid(), uid()
        doc1, digest1 = document(id1, 1, None)
        doc2, digest2 = document(id2, 2, digest1, amount='-1.00')
        _, results = self.send(doc1, doc2)
        reference = results[0]['reference']
        status, results = self.send(doc1, doc2)
        self.assertEqual(status, 'PartiallyAccepted')
        self.assertEqual([(r['status'], r['code'], r['reference'],
                    r['held'], r['held_code']) for r in results],
            [('AlreadyHeld', 3000, reference, 'Accepted', None),
                ('AlreadyHeld', 3000, None, 'Rejected', 1100)])
        self.assertEqual(len(self.chain()), 2)
        entry = self.sb.received(SERVICE)[-1]
        self.assertEqual(entry['summary']['already_held'], [id1, id2])


class RefusalsTest(ChainTestCase):

    def assertNothingHeld(self):
        self.assertEqual(self.sb.state(SERVICE)['chains'], {})
        self.assertFalse(any(e['processed'] for e in self.sb.received()))

    def test_basic_auth(self):
        doc, _ = document(uid(), 1, None)
        for auth in [None, ('TEST', 'wrong'), ('OTHER', 'secret')]:
            response = self.post([doc], auth=auth)
            self.assertEqual(response.status_code, 401)
            self.assertEqual(response.json(), {'error': 'unauthorized'})
            self.assertIn('Basic', response.headers['WWW-Authenticate'])
        self.assertNothingHeld()
        self.assertEqual([e['outcome'] for e in self.sb.received()],
            ['unauthorized'] * 3)
        self.sb.set_option(SERVICE, 'basic_auth', None)
        self.assertEqual(self.post([doc], auth=None).status_code, 200)

    def test_too_many_documents(self):
        self.sb.set_option(SERVICE, 'batch_limit', 2)
        items = [document(uid(), 1, None)[0] for _ in range(3)]
        response = self.post(items)
        self.assertEqual((response.status_code, response.json()),
            (413, {'error': 'too many documents'}))
        self.assertNothingHeld()

    def test_body_size_cap(self):
        service = self.sb.core.services[SERVICE]
        service.max_json_body = 500
        self.addCleanup(delattr, service, 'max_json_body')
        response = self.post([document(uid(), 1, None)[0]] * 3)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()['error'], 'too_large')
        self.assertNothingHeld()

    def test_malformed(self):
        doc, _ = document(uid(), 1, None)
        missing = base64.b64encode(b'{"id": "X", "chain": "C"}').decode()
        cases = [
            (b'{"issuer": "TEST0001", "documents": [', 'Expecting'),
            (b'{"issuer": "A", "issuer": "B", "documents": []}', 'duplicate'),
            (b'{"issuer": "TEST0001", "documents": [{"content": "%s"}]}'
                % missing.encode(), 'missing field'),
            (b'{"issuer": "TEST0001", "documents": [{"content": "@@"}]}',
                'base64'),
            (b'{"issuer": "TEST0001", "documents": []}', 'non-empty'),
            (b'[' * 100 + b']' * 100, 'nested'),
            (b'{"x": NaN}', 'NaN'),
            ]
        for body, detail in cases:
            with self.subTest(detail=detail):
                response = self.session.post(self.url, data=body, auth=AUTH,
                    headers={'Content-Type': 'application/json'}, timeout=10)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.json()['error'], 'malformed')
                self.assertIn(detail, response.json()['detail'])
        response = self.session.post(self.url, data=b'<x/>', auth=AUTH,
            headers={'Content-Type': 'text/xml'}, timeout=10)
        self.assertEqual(response.status_code, 415)
        self.assertNothingHeld()
        self.assertTrue(self.post([doc]).ok)

    def test_client_gone_mid_body(self):
        host, port = urlsplit(self.sb.open_url)[1].split(':')
        context = ssl.create_default_context(cafile=self.sb.ca_path)
        with socket.create_connection((host, int(port)), 10) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\n'
                    b'Authorization: Basic VEVTVDpzZWNyZXQ=\r\n'
                    b'Content-Type: application/json\r\n'
                    b'Content-Length: 1000\r\n\r\n{"issuer": "T'
                    % PATH.encode())
        for _ in range(100):
            entries = self.sb.received()
            if entries and entries[0]['outcome']:
                break
            time.sleep(0.02)
        self.assertEqual((entries[0]['outcome'], entries[0]['status']),
            ('incomplete', None))
        self.assertNothingHeld()

    def test_certificates(self):
        "Optional on the open port, recorded when given, required elsewhere"
        doc, _ = document(uid(), 1, None)
        session = self.sb.session('test_company')
        self.addCleanup(session.close)
        self.assertEqual(self.post([doc], session=session).status_code, 200)
        mtls = self.sb.endpoint(PATH)
        doc2, _ = document(uid(), 1, None, chain='CHAIN-B')
        self.assertEqual(self.post([doc2], session=session,
                url=mtls).status_code, 200)
        self.assertEqual([e['caller'] for e in self.sb.received()],
            [self.sb.identity('test_company').tax_id] * 2)
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.post([doc], url=mtls)
        expired = self.sb.session('expired')
        self.addCleanup(expired.close)
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.post([doc], session=expired)
        # the open port serves the optional-certificate routes only
        for path in ['/_sandbox/info', '/control/clock']:
            self.assertEqual(session.get(self.sb.open_url + path,
                    timeout=10).status_code, 404)


class WaitTest(ChainTestCase):

    def setUp(self):
        super().setUp()
        self.sb.set_option(SERVICE, 'wait', 30)
        self.sb.set_clock(frozen='2025-03-01T10:00:00Z')
        self.doc1, self.digest1 = document(uid(), 1, None)

    def test_violation_recorded(self):
        status, _ = self.send(self.doc1)
        self.assertEqual(self.post([self.doc1]).json()['wait'], 30)
        self.sb.set_clock(advance=30)
        self.send(document(uid(), 2, self.digest1)[0])
        violation, = self.sb.state(SERVICE)['violations']
        self.assertEqual((violation['issuer'], violation['received_at'],
                violation['not_before'], violation['early_by'],
                violation['enforced']),
            (ISSUER, '2025-03-01T10:00:00+00:00',
                '2025-03-01T10:00:30+00:00', 30, False))
        self.assertEqual([e['summary'].get('violation')
                for e in self.sb.received()], [None, True, None])
        self.assertEqual(self.sb.state(SERVICE)['not_before'][ISSUER],
            '2025-03-01T10:01:00+00:00')

    def test_enforced_wait(self):
        self.sb.set_option(SERVICE, 'enforce_wait', True)
        self.send(self.doc1)
        self.sb.set_clock(advance=10.5)
        doc2, _ = document(uid(), 2, self.digest1)
        response = self.post([doc2])
        self.assertEqual(response.status_code, 429)
        self.assertEqual(response.headers['Retry-After'], '20')
        self.assertEqual(len(self.chain()), 1)
        self.assertTrue(self.sb.state(SERVICE)['violations'][0]['enforced'])
        self.assertFalse(self.sb.received()[-1]['processed'])
        self.sb.set_clock(advance=20)
        self.assertEqual(self.send(doc2)[0], 'Accepted')

    def test_full_batch_exempt(self):
        self.sb.set_option(SERVICE, 'enforce_wait', True)
        self.sb.set_option(SERVICE, 'wait_exempt_batch', 3)
        self.send(self.doc1)
        previous, items = self.digest1, []
        for sequence in (2, 3, 4):
            item, previous = document(uid(), sequence, previous)
            items.append(item)
        self.assertEqual(self.post(items[:2]).status_code, 429)
        self.assertEqual(self.send(*items)[0], 'Accepted')
        self.assertEqual(len(self.sb.state(SERVICE)['violations']), 1)


class FaultsTest(ChainTestCase):

    def test_http_429(self):
        self.sb.add_fault(SERVICE, 'documents', 'http_429', seconds=7)
        doc, _ = document(uid(), 1, None)
        response = self.post([doc])
        self.assertEqual((response.status_code,
                response.headers['Retry-After']), (429, '7'))
        self.assertEqual(self.chain(), [])
        self.assertEqual(self.post([doc]).status_code, 200)

    def test_redirect_303(self):
        self.sb.add_fault(SERVICE, '*', 'redirect_303')
        doc, _ = document(uid(), 1, None)
        response = self.post([doc], allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertIn('/moved', response.headers['Location'])
        self.assertEqual(len(self.chain()), 1)

    def test_slow_ack(self):
        self.sb.add_fault(SERVICE, 'documents', 'slow_ack', seconds=1)
        doc, _ = document(uid(), 1, None)
        with self.assertRaises(requests.exceptions.Timeout):
            self.post([doc], timeout=0.3)
        self.assertEqual(len(self.chain()), 1)

    def test_latency_option(self):
        self.sb.set_option(SERVICE, 'latency', 0.3)
        start = time.monotonic()
        self.send(document(uid(), 1, None)[0])
        self.assertGreaterEqual(time.monotonic() - start, 0.3)

    def test_drop_after_then_resend(self):
        self.sb.add_fault(SERVICE, 'documents', 'drop_after')
        doc, _ = document(uid(), 1, None)
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.post([doc])
        self.assertEqual(len(self.chain()), 1)
        self.assertEqual(self.send(doc)[1][0]['status'], 'AlreadyHeld')

    def test_common_kinds(self):
        cases = [('http_503', 503, False), ('html', 200, False),
            ('http_500', 500, False), ('latency', 200, True),
            ('hold', 200, True), ('soap_fault', 500, False)]
        for kind, status, processed in cases:
            with self.subTest(kind=kind):
                self.sb.reset()
                self.sb.add_fault(SERVICE, '*', kind, seconds=0.2)
                response = self.post([document(uid(), 1, None)[0]])
                self.assertEqual(response.status_code, status)
                self.assertEqual(len(self.chain()), int(processed))
                self.assertEqual(self.sb.received()[0]['fault'], kind)
        for kind, error in [('truncated', requests.exceptions.
                    ChunkedEncodingError), ('malformed', ValueError)]:
            with self.subTest(kind=kind):
                self.sb.reset()
                self.sb.add_fault(SERVICE, '*', kind)
                with self.assertRaises(error):
                    self.post([document(uid(), 1, None)[0]]).json()
                self.assertEqual(len(self.chain()), 1)


class ClockTest(ChainTestCase):

    def test_offset_and_frozen(self):
        clock = self.sb.set_clock(offset=3600)
        self.assertAlmostEqual(clock['timestamp'], time.time() + 3600,
            delta=5)
        self.send(document(uid(), 1, None)[0])
        entry, = self.sb.received()
        self.assertAlmostEqual(parse_time(entry['received_at']),
            time.time() + 3600,
            delta=5)
        self.assertEqual(entry['summary']['received_at'],
            entry['received_at'])
        self.sb.set_clock(frozen='2025-01-02T03:04:05')
        self.assertEqual(self.sb.clock()['now'], '2025-01-02T03:04:05+00:00')
        self.sb.set_clock(advance=1.5)
        self.assertEqual(self.sb.clock()['timestamp'],
            1735787045 + 1.5)
        self.sb.reset()
        self.assertEqual((self.sb.clock()['offset'],
                self.sb.clock()['frozen']), (0, None))

    def test_control_http(self):
        session = self.sb.session('test_company')
        self.addCleanup(session.close)
        answer = session.post(self.sb.url + '/control/clock',
            json={'frozen': '2025-06-01T00:00:00Z'}, timeout=10).json()
        self.assertEqual(answer['now'], '2025-06-01T00:00:00+00:00')
        self.send(document(uid(), 1, None)[0])
        state = session.get(self.sb.url + '/control/test_chain/state',
            timeout=10).json()
        held, = state['chains'][ISSUER]['CHAIN-A']
        self.assertEqual(held['received_at'], '2025-06-01T00:00:00+00:00')
        self.assertEqual(state['violations'], [])


class SubprocessTest(ChainTestCase):
    subprocess = True

    def test_open_port_and_clock(self):
        self.sb.set_clock(offset=-60)
        self.assertEqual(self.send(document(uid(), 1, None)[0])[0],
            'Accepted')
        entry, = self.sb.received(SERVICE)
        self.assertAlmostEqual(parse_time(entry['received_at']),
            time.time() - 60,
            delta=5)
