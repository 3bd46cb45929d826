# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The test authority's chained REST/JSON variant (sandbox ``test_chain``).

Every record is a JSON document generated once, chained to the previous
one by the SHA-256 of its bytes and sent as stored.  The authority has no
query: a lost answer is recovered by re-sending the same bytes, which it
answers "already held"."""
import base64
import datetime as dt
import hashlib
import json
from decimal import Decimal

from trytond import config

from ..certificate import secret
from ..document import Draft
from ..exceptions import ServiceFailure
from ..service import EinvoiceService, Outcome, Request
from .service_onboarding import OnboardingMixin

PATH = '/test-chain/v1/documents'
KINDS = {
    'register': 'record',
    'modify': 'correction',
    'cancel': 'cancellation',
    }
STATES = {
    'Accepted': 'accepted',
    'Rejected': 'rejected',
    'Cancelled': 'cancelled',
    }
MAX_NUMBER = 40


class TestChainService(OnboardingMixin, EinvoiceService):
    name = "Test Chain Authority"
    batch_limit = 1000
    documents = True
    generate_on = 'claim'
    recovery = 'resend'
    wait_exempt_batch = 1000

    def issuer(self):
        for identifier in self.configuration.company.party.identifiers:
            return identifier.code
        return self.certificate.serial_number

    def chain_key(self, submission):
        # each reporting unit keeps its own chain at the authority
        unit = self.configuration.unit
        return f'{self.issuer()}/{unit}' if unit else self.issuer()

    @staticmethod
    def record_id(submission):
        if submission.record:
            return f'REC-{submission.record.id}'
        return f'INV-{submission.invoice.id}'

    def reschedule_operation(self, submission):
        if submission.operation == 'cancel':
            return 'cancel'
        # a rejected record is corrected by a new document of the chain
        return 'modify' if submission.state == 'rejected' else 'register'

    def generate_documents(self, submission, link):
        content = self.document_content(submission, link)
        data = json.dumps(content, separators=(',', ':')).encode()
        return [Draft(content['kind'], data, hashlib.sha256(data).hexdigest(),
                filename=f"{content['id']}-{content['sequence']}.json")]

    def document_content(self, submission, link):
        "The JSON document of the submission, linked to the end of its chain"
        if submission.record:
            # a record without invoice: a system event of the chain
            record = submission.record
            number, date, amount = (f'{record.kind}-{record.id}',
                record.date.date(), 0)
        else:
            invoice = submission.invoice
            number = invoice.number
            if invoice.description:
                number = f'{number}-{invoice.description}'
            date, amount = invoice.invoice_date, invoice.total_amount
        content = {
            'id': self.record_id(submission),
            'chain': self.chain_key(submission),
            'sequence': link.sequence + 1,
            'previous': link.digest,
            'kind': KINDS[submission.operation],
            'number': number,
            'date': date.isoformat(),
            'amount': str(amount),
            'generated': dt.datetime.now().isoformat(timespec='seconds'),
            }
        return content

    def check_documents(self, submission, drafts):
        for draft in drafts:
            content = json.loads(draft.data)
            if len(content['number']) > MAX_NUMBER:
                return (f"Number: longer than {MAX_NUMBER} characters "
                    f"({content['number']})")
            if Decimal(content['amount']).as_tuple().exponent < -2:
                return "Amount: more than 2 decimals"
        return None

    def document_digest(self, document, data):
        return hashlib.sha256(data).hexdigest()

    def document_previous_digest(self, document, data):
        return json.loads(data)['previous']

    def deadline(self, invoice):
        seconds = config.getint(
            'account_einvoice_test', 'deadline_seconds', default=0)
        if seconds:
            return dt.datetime.now() + dt.timedelta(seconds=seconds)
        return None

    def build_request(self, submissions, operation):
        documents = self.current_documents(submissions)
        items, ids = [], {}
        for submission in sorted(
                submissions, key=lambda s: s.chain_sequence or 0):
            for document in documents[submission.id]:
                items.append({'content': base64.b64encode(
                            document.data).decode('ascii')})
                ids[document.digest] = submission.id
        payload = json.dumps({'issuer': self.issuer(), 'documents': items},
            separators=(',', ':')).encode()
        return Request(
            operation='POST documents', protocol='json', method='POST',
            url=self.configuration.override_url(
                'https://test-chain.invalid' + PATH),
            headers={'Content-Type': 'application/json'},
            payload=payload, body=None, records={}, wsdl=None,
            context={'ids': ids})

    def before_call(self, request):
        credentials = secret(
            self.configuration.certificate_name, 'basic_auth')
        if credentials:
            token = base64.b64encode(credentials.encode()).decode('ascii')
            request.headers['Authorization'] = f'Basic {token}'
            request.secret_headers = set(request.secret_headers or ()) | {
                'Authorization'}

    def wait_after(self, request, response):
        body = response.body if isinstance(response.body, dict) else {}
        wait = body.get('wait')
        if isinstance(wait, (int, float)) and wait > 0:
            return float(wait)
        return super().wait_after(request, response)

    def parse_response(self, request, response):
        body = response.body
        if not isinstance(body, dict) or not isinstance(
                body.get('results'), list):
            raise ServiceFailure('unknown', "unexpected answer")
        ids = request.context['ids']
        outcomes = {}
        for result in body['results']:
            if not isinstance(result, dict):
                continue
            submission_id = ids.get(result.get('digest'))
            if submission_id is None:
                continue
            status = result.get('status')
            if status == 'AlreadyHeld':
                # a resend: the authority's held state is the outcome
                status = result.get('held') or 'Accepted'
            state = STATES.get(status)
            if state is None:
                raise ServiceFailure(
                    'unknown', f"unexpected status {status!r}")
            code = result.get('code')
            outcomes[submission_id] = Outcome(
                state=state, code=str(code) if code is not None else None,
                message=result.get('message'),
                reference=result.get('reference'))
        return outcomes
