# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The test authority's clearance variant (sandbox ``test_clearance``).

Invoices to customers with a tax identifier (B2B) must be cleared before
they are shared: they are sent at once after posting and the authority's
stamped copy is kept and printed (its QR code).  Each invoice is a JSON
document generated when it is posted and chained like ``test_chain``'s;
one invoice per request; no query: a resend of a cleared invoice is
answered with the copy held (409), read as cleared."""
import base64
import binascii
import hashlib
import json

from trytond.pool import Pool

from ..document import Draft
from ..exceptions import ServiceFailure
from ..service import Outcome, Request
from .service_chain import TestChainService

PATH = '/test-clearance/v1/invoices'
#: the authority's rule a credit note without its reason breaks
REASON_RULE = 'CLR-2003'


class TestClearanceService(TestChainService):
    name = "Test Clearance Authority"
    batch_limit = 1
    generate_on = 'queue'

    def needs_clearance(self, invoice):
        return invoice.type == 'out' and bool(
            invoice.party_tax_identifier or invoice.party.tax_identifier)

    def check_posting(self, invoices):
        Invoice = Pool().get('account.invoice')
        messages = {}
        for invoice in invoices:
            if (invoice.type == 'out' and invoice.total_amount < 0
                    and not (invoice.description or '').strip()):
                field = Invoice.fields_get(
                    ['description'])['description']['string']
                messages[invoice.id] = (f"{field}: a credit note must give "
                    f"its reason (rule {REASON_RULE})")
        return messages

    def document_content(self, submission, link):
        content = super().document_content(submission, link)
        invoice = submission.invoice
        if invoice:
            # the number as it is; the reason of a credit note on its own
            content['number'] = invoice.number
            if invoice.description:
                content['reason'] = invoice.description
        return content

    def build_request(self, submissions, operation):
        submission, = submissions
        document, = self.current_documents(submissions)[submission.id]
        payload = json.dumps({
                'invoice': base64.b64encode(document.data).decode('ascii'),
                'hash': document.digest,
                }, separators=(',', ':')).encode()
        return Request(
            operation='POST invoices', protocol='json', method='POST',
            url=self.configuration.override_url(
                'https://test-clearance.invalid' + PATH),
            headers={'Content-Type': 'application/json'},
            payload=payload, body=None, records={}, wsdl=None,
            context={'submission': submission.id,
                'id': self.record_id(submission)})

    def classify_response(self, response):
        # a refusal of the invoice and "already cleared" are answers about
        # the invoice, not refusals of the request
        body = response.body
        if (response.status in {400, 409} and isinstance(body, dict)
                and body.get('status') in {
                    'NOT_CLEARED', 'ALREADY_CLEARED'}):
            return None
        return super().classify_response(response)

    def parse_response(self, request, response):
        body = response.body
        if not isinstance(body, dict):
            raise ServiceFailure('unknown', "unexpected answer")
        submission_id = request.context['submission']
        status = body.get('status')
        if status == 'NOT_CLEARED':
            errors = [e for e in body.get('errors') or []
                if isinstance(e, dict)]
            return {submission_id: Outcome('rejected',
                    code=str(errors[0].get('code')) if errors else None,
                    message='\n'.join(f"{e.get('code')}: {e.get('message')}"
                        for e in errors))}
        if status not in {'CLEARED', 'ALREADY_CLEARED'}:
            raise ServiceFailure('unknown', f"unexpected status {status!r}")
        try:
            data = base64.b64decode(body.get('cleared') or '', validate=True)
            copy = json.loads(data)
        except (binascii.Error, ValueError):
            raise ServiceFailure('unknown', "unreadable cleared copy")
        if not isinstance(copy, dict) or copy.get('id') != request.context[
                'id'] or not isinstance(copy.get('stamp'), dict):
            raise ServiceFailure('unknown', "cleared copy of another invoice")
        return {submission_id: Outcome('accepted',
                message=("Already cleared"
                    if status == 'ALREADY_CLEARED' else None),
                reference=copy['stamp'].get('reference'),
                document=Draft('cleared', data,
                    hashlib.sha256(data).hexdigest(),
                    filename=f"{copy['id']}-cleared.json"))}

    @staticmethod
    def cleared_copy(submission):
        "The stamped copy the authority returned, as a dict, or None"
        Document = Pool().get('account.einvoice.document')
        documents = Document.search([
                ('submission', '=', submission.id),
                ('returned', '=', True),
                ], order=[('id', 'DESC')], limit=1)
        if not documents:
            return None
        return json.loads(documents[0].data)

    def qr_content(self, submission):
        copy = self.cleared_copy(submission)
        return copy.get('qr') if copy else None

    def print_text(self, submission):
        if submission.state not in {'accepted', 'accepted_with_errors'}:
            return None
        copy = self.cleared_copy(submission)
        if not copy:
            return None
        stamp = copy['stamp']
        return (f"Cleared: {stamp.get('reference')}\n"
            f"Cleared at: {stamp.get('cleared_at')}")
