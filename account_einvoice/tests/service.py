# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A test-only authority service speaking the sandbox's test protocol.

It is registered only when trytond runs its tests (``test_include_dirs``)
and shows, in a few lines, what a country module implements.
"""
import os
import subprocess
import sys

from lxml.builder import ElementMaker

from trytond import config
from trytond.pool import PoolMeta
from trytond.transaction import Transaction

from ..exceptions import ServiceFailure
from ..service import FAULT_CODE, EinvoiceService, Outcome, Request

NS = 'urn:einvoice-sandbox:test-authority:1'
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..'))
SCHEMAS = os.path.join(ROOT, 'tests', 'sandbox', 'schemas', 'test_authority')
#: test hook: the configuration file of a process that claims while this
#: one prepares the batch it read (once)
CONCURRENT_CLAIM = ('account_einvoice_test', 'concurrent_claim_config')
E = ElementMaker(namespace=NS, nsmap={'ta': NS})
STATES = {
    'Accepted': 'accepted',
    'AcceptedWithErrors': 'accepted_with_errors',
    'Rejected': 'rejected',
    'Cancelled': 'cancelled',
    }


class TestAuthorityService(EinvoiceService):
    name = "Test Authority"
    batch_limit = 1000
    # documented by the test authority: its front end answers a plain 503
    # before reading the request
    unprocessed_statuses = frozenset({503})
    #: when set, a bearer token sent with every request (the sandbox
    #: ignores it): how credentials go in headers never stored nor logged
    token = None

    def _request(self, operation, body, records, context):
        headers, secret = {}, set()
        if self.token:
            headers['Authorization'] = f'Bearer {self.token}'
            secret.add('Authorization')
        return Request(
            operation=operation, body=body, records=records,
            wsdl=os.path.join(SCHEMAS, 'TestAuthority.wsdl'),
            service_name='TestAuthorityService',
            port_name='TestAuthorityPort',
            schema=os.path.join(SCHEMAS, 'TestAuthority.xsd'),
            context=context, headers=headers, secret_headers=secret)

    def issuer(self):
        party = self.configuration.company.party
        for identifier in party.identifiers:
            return identifier.code
        return self.certificate.serial_number

    @staticmethod
    def record_id(submission):
        return f'INV-{submission.invoice.id}'

    @staticmethod
    def number(invoice):
        if invoice.description:
            return f'{invoice.number}-{invoice.description}'
        return invoice.number

    def record_element(self, submission):
        invoice = submission.invoice
        return E.Record(
            E.Id(self.record_id(submission)),
            E.Number(self.number(invoice)),
            E.Date(invoice.invoice_date.isoformat()),
            E.Amount(str(invoice.total_amount)))

    def prepare(self, submissions):
        path = config.get(*CONCURRENT_CLAIM, default=None)
        if path:
            # another process claims what this one read and has not
            # linked yet (the race a claim must lose cleanly)
            config.set(*CONCURRENT_CLAIM, '')
            subprocess.run([sys.executable, '-m', 'tests.worker',
                    '--company', str(self.configuration.company.id)],
                env=dict(os.environ, TRYTOND_CONFIG=path,
                    DB_NAME=Transaction().database.name),
                cwd=ROOT, check=True, timeout=300)
        return super().prepare(submissions)

    def build_request(self, submissions, operation):
        return self.assemble(submissions, operation, {
                s.id: [self.record_element(s)] for s in submissions})

    def assemble(self, submissions, operation, elements):
        "The Submit request carrying the record elements of submissions"
        body = E.SubmitRequest(
            E.Header(E.Issuer(self.issuer()), E.Operation(operation)))
        records, ids = {}, {}
        for submission in submissions:
            for record in elements[submission.id]:
                body.append(record)
                records[submission.id] = record
            ids[self.record_id(submission)] = submission.id
        return self._request('Submit', body, records, {'ids': ids})

    def build_query(self, submissions):
        body = E.QueryRequest(E.Header(E.Issuer(self.issuer())))
        records, ids, expected = {}, {}, {}
        for submission in submissions:
            record = E.Id(self.record_id(submission))
            body.append(record)
            records[submission.id] = record
            ids[self.record_id(submission)] = submission.id
            expected[submission.id] = (
                submission.operation, self.number(submission.invoice))
        return self._request('Query', body, records,
            {'ids': ids, 'expected': expected})

    def parse_response(self, request, response):
        body = response.body
        if body.tag != f'{{{NS}}}SubmitResponse':
            raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
        ids = request.context['ids']
        whole_reference = body.findtext(f'{{{NS}}}Reference')
        outcomes = {}
        for result in body.iterfind(f'{{{NS}}}Result'):
            submission_id = ids.get(result.findtext(f'{{{NS}}}Id'))
            if submission_id is None:
                continue
            code = result.findtext(f'{{{NS}}}Code')
            if code == '3000':
                # Already held: reconcile with what the authority holds.
                outcomes[submission_id] = Outcome(
                    'unknown', code=code,
                    message=result.findtext(f'{{{NS}}}Message'))
                continue
            outcomes[submission_id] = Outcome(
                state=STATES[result.findtext(f'{{{NS}}}Status')],
                code=code,
                message=result.findtext(f'{{{NS}}}Message'),
                reference=(result.findtext(f'{{{NS}}}Reference')
                    or whole_reference))
        return outcomes

    def parse_query(self, request, response):
        body = response.body
        ids = request.context['ids']
        expected = request.context['expected']
        outcomes = {i: Outcome('not_found') for i in ids.values()}
        for found in body.iterfind(f'{{{NS}}}Found'):
            submission_id = ids.get(found.findtext(f'{{{NS}}}Id'))
            if submission_id is None:
                continue
            operation, number = expected[submission_id]
            state = STATES[found.findtext(f'{{{NS}}}Status')]
            if operation == 'modify' and (
                    found.findtext(f'{{{NS}}}Number') != number):
                # The authority holds the old version: modify again.
                outcomes[submission_id] = Outcome('not_found')
                continue
            outcomes[submission_id] = Outcome(
                state=state,
                reference=found.findtext(f'{{{NS}}}Reference'))
        return outcomes

    def classify_fault(self, code, message):
        match = FAULT_CODE.match(message or '')
        number = match.group(1) if match else None
        if number == '5000':
            return ServiceFailure('transient', message, code=number)
        return ServiceFailure('configuration', message, code=number)


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.service.selection.extend([
                ('test_authority', "Test Authority"),
                ('test_authority_12', "Test Authority (SOAP 1.2)"),
                ('test_chain', "Test Chain Authority"),
                ('test_clearance', "Test Clearance Authority"),
                ('test_local', "Test Local Records"),
                ('test_async', "Test Asynchronous Authority"),
                ])

    def get_service(self):
        from .service_async import TestAsyncService
        from .service_chain import TestChainService
        from .service_clearance import TestClearanceService
        from .service_local import TestLocalService
        from .service_soap12 import TestAuthority12Service
        services = {
            'test_authority': TestAuthorityService,
            'test_authority_12': TestAuthority12Service,
            'test_chain': TestChainService,
            'test_clearance': TestClearanceService,
            'test_local': TestLocalService,
            'test_async': TestAsyncService,
            }
        if self.service in services:
            return services[self.service](self)
        return super().get_service()
