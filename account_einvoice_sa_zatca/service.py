# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The ZATCA (Fatoora) service: standard invoices cleared, simplified ones
reported, one signed UBL document per invoice.

Each document is generated once when the invoice is posted, chained per
EGS unit (ICV, PIH), signed with the unit's production credential and
stored; every send is those bytes.  ZATCA has no query: an unknown outcome
(a lost answer, a 5xx) is resolved by sending the same bytes again, and
its "already reported/cleared" answer (409) is read as accepted."""
import base64
import binascii
import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

from trytond.i18n import gettext
from trytond.modules.account_einvoice.document import Draft
from trytond.modules.account_einvoice.exceptions import (
    RecordError, ServiceFailure)
from trytond.modules.account_einvoice.service import (
    EinvoiceService, Outcome, Request)
from trytond.modules.account_einvoice.signing import xml_root
from trytond.modules.account_einvoice.signing_zatca import CBC, FIRST_PIH, NS
from trytond.pool import Pool

from . import rules, ubl
from .credentials import authorize, credentials
from .facts import ZatcaInvoice, transaction
from .invoice_data import STANDARD
from .onboarding import ZatcaOnboardingMixin

BASE = 'https://gw-fatoora.zatca.gov.sa/e-invoicing/'
RIYADH = ZoneInfo('Asia/Riyadh')
CLEARANCE = 'invoices/clearance/single'
REPORTING = 'invoices/reporting/single'
#: BR-KSA-98: simplified invoices are reported within 24 hours
REPORTING_HOURS = 24
DONE = {'REPORTED', 'CLEARED'}
NOT_DONE = {'NOT_REPORTED', 'NOT_CLEARED'}


def messages(results, kinds=('errorMessages', 'warningMessages')):
    "ZATCA's validation messages, one 'CODE: text' per line"
    lines = []
    for kind in kinds:
        for item in (results.get(kind) or []):
            if not isinstance(item, dict):
                continue
            code = str(item.get('code') or item.get('category') or '')
            text = str(item.get('message') or '')
            lines.append(f"{code}: {text}" if code else text)
    return lines


def first_code(results):
    for kind in ('errorMessages', 'warningMessages'):
        for item in (results.get(kind) or []):
            if isinstance(item, dict) and item.get('code'):
                return str(item['code'])[:64]
    return None


def embedded(data, identifier):
    """The text a ZATCA XML document embeds in its AdditionalDocumentReference
    of ID identifier (QR, PIH), or None"""
    found = xml_root(data).xpath(
        f"cac:AdditionalDocumentReference[cbc:ID='{identifier}']"
        "/cac:Attachment/cbc:EmbeddedDocumentBinaryObject/text()",
        namespaces=NS)
    return found[0].strip() if found else None


def qr_of(data):
    "The QR text of a ZATCA XML document, or None"
    return embedded(data, 'QR')


class ZatcaService(ZatcaOnboardingMixin, EinvoiceService):
    name = "ZATCA (Fatoora)"
    batch_limit = 1
    documents = True
    generate_on = 'queue'
    recovery = 'resend'
    qr_at_generation = True
    #: warn staff 6 hours before the 24 hours of a simplified invoice pass
    deadline_notice = 6 * 3600

    def __init__(self, configuration):
        super().__init__(configuration)
        self._facts = {}

    # -- selection and checks --------------------------------------------
    def applies_to(self, invoice):
        return invoice.type == 'out'

    def needs_clearance(self, invoice):
        return transaction(invoice) == STANDARD

    def facts(self, invoice):
        facts = self._facts.get(invoice.id)
        if facts is None:
            facts = self._facts[invoice.id] = ZatcaInvoice(
                invoice, self.configuration)
        return facts

    def credential_problem(self):
        "The message refusing to issue invoices from this unit, or None"
        try:
            credentials(self.configuration)
        except ServiceFailure as failure:
            return failure.message
        return None

    def check_posting(self, invoices):
        result = {}
        problem = self.credential_problem()
        for invoice in invoices:
            if problem:
                result[invoice.id] = problem
                continue
            facts = self.facts(invoice)
            found = [str(e) for e in facts.errors]
            today = self.issue_moment().date()
            if invoice.invoice_date and invoice.invoice_date > today:
                found.append(gettext(
                        'account_einvoice_sa_zatca.msg_issue_date_future',
                        date=invoice.invoice_date.isoformat(),
                        today=today.isoformat()))
            if not found:
                found = [rules.text(v) for v in rules.check(facts.data)]
            if found:
                result[invoice.id] = '\n'.join(found)
        return result

    def deadline(self, invoice):
        if transaction(invoice) == STANDARD:
            return None
        return dt.datetime.now() + dt.timedelta(hours=REPORTING_HOURS)

    def cancellation(self, submission):
        # ZATCA cancels nothing: an issued invoice is credited (the
        # invoice refuses the cancellation of what ZATCA may hold)
        return 'close'

    # -- documents and chain ---------------------------------------------
    def chain_key(self, submission):
        seller = self.configuration.company.party
        vat = next((i.code for i in seller.identifiers
                if i.type == 'sa_vat'), None) or seller.rec_name
        return f'{vat}/{self.configuration.unit or self.configuration.id}'

    def issue_moment(self):
        "Now, as written in the document (Riyadh time)"
        return dt.datetime.now(RIYADH).replace(microsecond=0)

    def issue_time(self, issue_date):
        """The IssueTime of an invoice dated issue_date issued now: the
        Riyadh time, or the end of its day when that day is over in Riyadh
        (the company's day may end later, e.g. in UTC: never written as
        issued more than 24 hours ago)"""
        moment = self.issue_moment()
        if issue_date < moment.date():
            return dt.time(23, 59, 59)
        return moment.time()

    def generate_documents(self, submission, link):
        invoice = submission.invoice
        facts = self.facts(invoice)
        if facts.errors:
            raise RecordError(str(facts.errors[0]))
        data = facts.data
        data.uuid = str(uuid.uuid4())
        data.issue_time = self.issue_time(data.issue_date)
        data.icv = link.sequence + 1
        data.pih = link.digest or FIRST_PIH
        credential = credentials(self.configuration)
        signed = ubl.sign(
            ubl.build(data), credential.key, credential.certificate)
        return [Draft('invoice', signed.xml, signed.invoice_hash,
                filename=f'{invoice.number}_{data.icv}.xml')]

    def document_digest(self, document, data):
        from trytond.modules.account_einvoice.signing_zatca import (
            zatca_invoice_hash)
        return zatca_invoice_hash(data)

    def document_previous_digest(self, document, data):
        value = embedded(data, 'PIH')
        return None if value == FIRST_PIH else value

    # -- requests --------------------------------------------------------
    def base_url(self):
        return BASE + (self.configuration.zatca_portal or 'core') + '/'

    def language(self):
        "ZATCA's messages in Arabic for a company working in Arabic"
        lang = self.configuration.company.party.lang
        return 'ar' if lang and lang.code.startswith('ar') else 'en'

    def build_request(self, submissions, operation):
        submission, = submissions
        document, = self.current_documents(submissions)[submission.id]
        root = xml_root(document.data)
        document_uuid = root.findtext(f'{{{CBC}}}UUID')
        type_code = root.find(f'{{{CBC}}}InvoiceTypeCode')
        standard = (type_code is not None
            and type_code.get('name', '').startswith('01'))
        clearance = standard
        path = CLEARANCE if clearance else REPORTING
        payload = json.dumps({
                'invoiceHash': document.digest,
                'uuid': document_uuid,
                'invoice': base64.b64encode(document.data).decode('ascii'),
                }, separators=(',', ':')).encode()
        return Request(
            operation='POST ' + path, protocol='json', method='POST',
            url=self.configuration.override_url(self.base_url() + path),
            headers={
                'Accept-Version': 'V2',
                'Accept-Language': self.language(),
                'Clearance-Status': '1' if clearance else '0',
                'Content-Type': 'application/json',
                },
            payload=payload,
            context={'submission': submission.id, 'uuid': document_uuid,
                'clearance': clearance, 'standard': standard})

    def before_call(self, request):
        authorize(request, self.configuration)

    def call(self, request, data):
        response = super().call(request, data)
        if request.context.get('clearance') and response.status == 303:
            # clearance switched off: nothing was processed, the same
            # bytes are reported at once (the answer read as reporting's)
            request.context.update(clearance=False, clearance_off=True)
            request.url = self.configuration.override_url(
                self.base_url() + REPORTING)
            request.headers['Clearance-Status'] = '0'
            response = super().call(request, data)
        return response

    # -- answers ---------------------------------------------------------
    def classify_response(self, response):
        status = response.status
        body = response.body
        if status == 409 or (status == 400 and isinstance(body, dict)
                and isinstance(body.get('validationResults'), dict)):
            return None
        return super().classify_response(response)

    def parse_response(self, request, response):
        body = response.body
        if not isinstance(body, dict):
            raise ServiceFailure('unknown', "unexpected answer")
        submission_id = request.context['submission']
        clearance = request.context['clearance']
        results = body.get('validationResults')
        results = results if isinstance(results, dict) else {}
        status = body.get(
            'clearanceStatus' if clearance else 'reportingStatus')
        if response.status == 409:
            return {submission_id: Outcome('accepted',
                    message=gettext(
                        'account_einvoice_sa_zatca.msg_already_held'),
                    reference=request.context['uuid'],
                    document=self._cleared(request, body))}
        if response.status == 400 or status in NOT_DONE:
            lines = messages(results)
            return {submission_id: Outcome('rejected',
                    code=first_code(results),
                    message='\n'.join(lines) or str(status))}
        if status not in DONE:
            raise ServiceFailure('unknown', f"unexpected status {status!r}")
        warnings = messages(results, ('warningMessages',))
        notes = [gettext('account_einvoice_sa_zatca.msg_clearance_off')
            ] if request.context.get('clearance_off') else []
        return {submission_id: Outcome(
                'accepted_with_errors' if warnings else 'accepted',
                code=first_code(results) if warnings else None,
                message='\n'.join(notes + warnings) or None,
                reference=request.context['uuid'],
                document=self._cleared(request, body))}

    def _cleared(self, request, body):
        "The cleared invoice ZATCA returned, as a returned document"
        text = body.get('clearedInvoice')
        if not request.context['clearance'] or not text:
            return None
        try:
            data = base64.b64decode(text, validate=True)
            root = xml_root(data)
        except (binascii.Error, ValueError, TypeError):
            raise ServiceFailure('unknown', "unreadable cleared invoice")
        if root.findtext(f'{{{CBC}}}UUID') != request.context['uuid']:
            raise ServiceFailure('unknown', "cleared copy of another invoice")
        return Draft('cleared', data, None,
            filename=f"{request.context['uuid']}-cleared.xml")

    # -- the printed invoice ---------------------------------------------
    @staticmethod
    def _documents(submission, returned):
        Document = Pool().get('account.einvoice.document')
        return Document.search([
                ('submission', '=', submission.id),
                ('returned', '=', returned),
                ], order=[('id', 'DESC')], limit=1)

    def qr_content(self, submission):
        if submission.invoice and self.needs_clearance(submission.invoice):
            documents = self._documents(submission, True)
        else:
            documents = self._documents(submission, False)
        if not documents:
            return None
        return qr_of(documents[0].data)

    def print_text(self, submission):
        if submission.state not in {'accepted', 'accepted_with_errors'}:
            return None
        return f"ZATCA UUID: {submission.reference}"
