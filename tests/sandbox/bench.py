"""Throughput of the sandbox: one N-record Submit to the test authority.

    python -m tests.sandbox.bench [--records 10000] [--subprocess]

Prints (does not assert) request size, wall time and records/s.
"""
import argparse
import time
import uuid

from lxml import etree

from .core import SOAP11_NS
from .server import Sandbox

TA = 'urn:einvoice-sandbox:test-authority:1'


def build_request(issuer, n):
    prefix = uuid.uuid4().hex[:8]
    records = ''.join(
        '<ta:Record><ta:Id>%s-%06d</ta:Id><ta:Number>F-%06d</ta:Number>'
        '<ta:Date>2024-05-01</ta:Date><ta:Amount>%d.%02d</ta:Amount>'
        '</ta:Record>' % (prefix, i, i, i, i % 100) for i in range(n))
    return ('<?xml version="1.0" encoding="utf-8"?>'
        '<soapenv:Envelope xmlns:soapenv="%s" xmlns:ta="%s"><soapenv:Body>'
        '<ta:SubmitRequest><ta:Header><ta:Issuer>%s</ta:Issuer>'
        '<ta:Operation>register</ta:Operation></ta:Header>%s'
        '</ta:SubmitRequest></soapenv:Body></soapenv:Envelope>' % (
            SOAP11_NS, TA, issuer, records)).encode()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--records', type=int, default=10000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--subprocess', action='store_true')
    args = parser.parse_args(argv)
    with Sandbox(['test_authority'], subprocess=args.subprocess) as sb:
        sb.set_option('test_authority', 'batch_limit', args.records)
        session = sb.session('test_company')
        url = sb.url + '/test-authority/v1'
        for i in range(args.rounds):
            data = build_request('TEST0001', args.records)
            start = time.perf_counter()
            response = session.post(url, data=data, timeout=120,
                headers={'Content-Type': 'text/xml; charset=utf-8'})
            elapsed = time.perf_counter() - start
            root = etree.fromstring(response.content)
            status = root.findtext('.//{%s}Status' % TA)
            print('%s: %d records, request %.1f MB, response %.1f MB, '
                'HTTP %d %s: %.2f s = %.0f records/s' % (
                    'subprocess' if args.subprocess else 'in-process',
                    args.records, len(data) / 1e6,
                    len(response.content) / 1e6, response.status_code,
                    status, elapsed, args.records / elapsed))


if __name__ == '__main__':
    main()
