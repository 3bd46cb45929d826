# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The test authority's asynchronous REST/JSON variant (sandbox
``test_async``): submit now, result later, as SIFEN takes its lots.

A lot is answered "received" with its ticket; its result is polled for
later; a lost answer is recovered by querying each document (the
authority answers "not found" while the lot is processing, which the
framework does not believe before ``processing_time``).  The delays are
read from the ``[account_einvoice_test]`` section of the trytond
configuration (``poll_delay``, ``poll_deadline``, ``processing_time``,
seconds) so tests can shorten them."""
from trytond import config

from ..exceptions import RecordError, ServiceFailure
from ..service import EinvoiceService, Outcome, Request

HOST = 'https://test-async.invalid'
LOTS = '/test-async/v1/lots'
RESULT = '/test-async/v1/lots/result'
QUERY = '/test-async/v1/documents/query'
STATES = {
    'Accepted': 'accepted',
    'Rejected': 'rejected',
    }
RECEIVED, NOT_QUEUED = '0300', '0301'
UNKNOWN_LOT, PROCESSING, DONE = '0360', '0361', '0362'
DUPLICATE = '1001'


def _seconds(name, default):
    return config.getfloat('account_einvoice_test', name, default=default)


class TestAsyncService(EinvoiceService):
    name = "Test Asynchronous Authority"
    batch_limit = 50

    @property
    def poll_delay(self):
        return _seconds('poll_delay', 60)

    @property
    def poll_deadline(self):
        return _seconds('poll_deadline', 3600)

    @property
    def processing_time(self):
        # the sandbox processes a lot in 60 s by default
        return _seconds('processing_time', 120)

    def issuer(self):
        for identifier in self.configuration.company.party.identifiers:
            return identifier.code
        return self.certificate.serial_number

    @staticmethod
    def record_id(submission):
        return f'INV-{submission.invoice.id}'

    def reschedule_operation(self, submission):
        # the authority takes registrations only; a refused one is sent
        # again as a new registration
        return 'register'

    def _request(self, operation, path, payload, submissions, **context):
        context['ids'] = {self.record_id(s): s.id for s in submissions}
        return Request(
            operation=operation, protocol='json', method='POST',
            url=self.configuration.override_url(HOST + path),
            payload=payload, context=context)

    def build_request(self, submissions, operation):
        if operation != 'register':
            raise RecordError(
                f"Operation: {operation} is not taken by the authority")
        documents = []
        for submission in submissions:
            invoice = submission.invoice
            documents.append({
                    'id': self.record_id(submission),
                    'number': invoice.number,
                    'date': invoice.invoice_date.isoformat(),
                    'amount': str(invoice.total_amount),
                    })
        return self._request('POST lots', LOTS,
            {'issuer': self.issuer(), 'documents': documents}, submissions)

    def build_poll(self, ticket, submissions):
        return self._request('POST lots/result', RESULT,
            {'issuer': self.issuer(), 'lot': ticket}, submissions,
            ticket=ticket)

    def build_query(self, submissions):
        return self._request('POST documents/query', QUERY,
            {'issuer': self.issuer(),
                'ids': [self.record_id(s) for s in submissions]},
            submissions)

    @staticmethod
    def _body(response, *names):
        body = response.body
        if not isinstance(body, dict) or any(n not in body for n in names):
            raise ServiceFailure('unknown', "unexpected answer")
        return body

    def parse_response(self, request, response):
        body = self._body(response, 'code')
        ids = request.context['ids'].values()
        code, status = body['code'], body.get('status')
        if code == RECEIVED and isinstance(body.get('lot'), str):
            return {i: Outcome('processing', code=code, message=status,
                    reference=body['lot']) for i in ids}
        if code == NOT_QUEUED:
            # documented as "not queued", but each document is asked
            # about before it is sent again
            return {i: Outcome('unknown', code=code, message=status)
                for i in ids}
        raise ServiceFailure('unknown', f"unexpected answer {code!r}")

    def parse_poll(self, request, response):
        body = self._body(response, 'code')
        ids = request.context['ids']
        code, status = body['code'], body.get('status')
        ticket = request.context['ticket']
        if code == PROCESSING:
            return {i: Outcome('processing', code=code, message=status,
                    reference=ticket) for i in ids.values()}
        if code == UNKNOWN_LOT:
            return {i: Outcome('not_found', code=code, message=status)
                for i in ids.values()}
        if code != DONE or not isinstance(body.get('results'), list):
            raise ServiceFailure('unknown', f"unexpected answer {code!r}")
        # a document missing from the results stays unknown: queried
        outcomes = {}
        for result in body['results']:
            outcome = self._outcome(result)
            submission_id = ids.get(result.get('id'))
            if submission_id is not None and outcome:
                outcomes[submission_id] = outcome
        return outcomes

    def parse_query(self, request, response):
        body = self._body(response, 'results')
        ids = request.context['ids']
        outcomes = {}
        for result in body['results']:
            if not isinstance(result, dict):
                continue
            submission_id = ids.get(result.get('id'))
            if submission_id is None:
                continue
            if result.get('status') == 'NotFound':
                outcomes[submission_id] = Outcome('not_found')
            else:
                outcomes[submission_id] = self._outcome(result)
        return outcomes

    @staticmethod
    def _outcome(result):
        if not isinstance(result, dict):
            return None
        code = result.get('code')
        code = str(code) if code is not None else None
        if code == DUPLICATE:
            # another copy is held: its state is read by a query
            return Outcome('unknown', code=code,
                message=result.get('message'))
        state = STATES.get(result.get('status'))
        if state is None:
            raise ServiceFailure('unknown',
                f"unexpected status {result.get('status')!r}")
        return Outcome(state, code=code, message=result.get('message'),
            reference=result.get('reference'))
