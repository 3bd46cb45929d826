# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The onboarding of an EGS unit with ZATCA, in the framework's steps
(``account_einvoice.onboarding``): a key and a CSR, the compliance
credential for a one-time password, one compliance check per document type
the unit may issue, the production credential; then, when the production
credential expires within 30 days or staff asked for it, its renewal.

A renewal is one more step, named after the certificate it replaces
(``renew-<serial>``): a finished onboarding run again does only the steps
not done yet, so each production certificate is renewed once.  The
compliance checks are chained among themselves (ICV from 1, the first PIH
ZATCA defines), never in the unit's chain."""
import base64
import datetime as dt
import json
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.modules.account_einvoice import secret_store
from trytond.modules.account_einvoice.exceptions import (
    OnboardingError, ServiceFailure)
from trytond.modules.account_einvoice.service import Request
from trytond.modules.account_einvoice.signing_zatca import FIRST_PIH

from . import credentials as zatca_credentials
from .csr import build_csr, csr_pem, key_pem, load_key, new_key
from .invoice_data import (
    CREDIT_NOTE, DEBIT_NOTE, INVOICE, SIMPLIFIED, STANDARD, InvoiceData,
    LineData, PartyData)

BASE_URL = 'https://gw-fatoora.zatca.gov.sa/e-invoicing/'
#: members of ZATCA's answers never stored
SECRET_FIELDS = ('binarySecurityToken', 'secret')
#: the documents checked per invoice types of the unit (CSR title)
TRANSACTIONS = {
    '1000': [STANDARD],
    '0100': [SIMPLIFIED],
    '1100': [STANDARD, SIMPLIFIED],
    }
TYPES = [INVOICE, CREDIT_NOTE, DEBIT_NOTE]
MODULE = 'account_einvoice_sa_zatca'
RENEW = 'renew-'
RIYADH = ZoneInfo('Asia/Riyadh')


def document_label(transaction, type_code):
    "'standard credit note', … in the reader's language"
    kind = 'standard' if transaction == STANDARD else 'simplified'
    return gettext(f'{MODULE}.msg_document_{kind}_{type_code}')


def zatca_errors(response):
    """ZATCA's messages in an answer (validation results, errors), as one
    text 'code: message; …', or None"""
    body = getattr(response, 'body', None)
    if not isinstance(body, dict):
        return None
    items = []
    results = body.get('validationResults')
    if isinstance(results, dict):
        items += results.get('errorMessages') or []
    items += body.get('errors') or []
    texts = []
    for item in items:
        if isinstance(item, dict):
            code, message = item.get('code'), item.get('message')
            texts.append(': '.join(str(v) for v in (code, message) if v))
        elif item:
            texts.append(str(item))
    for key in ('message', 'error'):
        if not texts and isinstance(body.get(key), str):
            texts.append(body[key])
    code = body.get('code')
    if isinstance(code, str) and code and len(texts) == 1 and (
            code not in texts[0]):
        texts = [f'{code}: {texts[0]}']
    return '; '.join(t for t in texts if t) or None


def compliance_buyer():
    "A Saudi VAT-registered buyer for the standard compliance documents"
    return PartyData(name='ZATCA Compliance Check Buyer',
        vat='399999999800003', street='King Fahd Road', building='1234',
        additional_number='5678', district='Al Olaya', city='Riyadh',
        postal_code='12211', subdivision='Riyadh', country='SA')


def compliance_documents(configuration, seller, now=None):
    """The InvoiceData of the compliance checks of the unit: for each
    transaction it may issue, an invoice, a credit note and a debit note
    (chain fields left to the caller)"""
    # written as the unit's invoices are: Riyadh time
    now = now or dt.datetime.now(RIYADH).replace(tzinfo=None)
    documents = []
    for transaction in TRANSACTIONS[configuration.zatca_invoice_types]:
        invoice_number = None
        for type_code in TYPES:
            number = f'CHECK-{len(documents) + 1}'
            data = InvoiceData(
                number=number, uuid=str(uuid.uuid4()),
                issue_date=now.date(),
                issue_time=now.time().replace(microsecond=0),
                transaction=transaction, type_code=type_code,
                currency='SAR', seller=seller,
                buyer=compliance_buyer() if transaction == STANDARD
                else None,
                lines=[LineData(id='1', name='Compliance check',
                        quantity=Decimal('1'), unit_code='PCE',
                        price=Decimal('100.00'), amount=Decimal('100.00'),
                        category='S', rate=Decimal('15'))],
                supply_date=now.date() if transaction == STANDARD
                else None)
            if type_code == INVOICE:
                invoice_number = number
            else:
                data.billing_references = [invoice_number]
                data.reason = 'Compliance check of the correction'
            documents.append(data)
    return documents


class ZatcaOnboardingMixin:
    "The onboarding of ZatcaService"

    def onboarding_steps(self):
        steps = [
            ('key', gettext(f'{MODULE}.msg_step_key')),
            ('compliance', gettext(f'{MODULE}.msg_step_compliance')),
            ('checks', gettext(f'{MODULE}.msg_step_checks')),
            ('production', gettext(f'{MODULE}.msg_step_production')),
            ]
        renewal = self._renewal_step()
        if renewal:
            steps.append(renewal)
        return steps

    def onboarding_inputs(self, step):
        if step == 'compliance' or step.startswith(RENEW):
            return {'otp'}
        return set()

    def run_onboarding_step(self, runner, step, data):
        if step.startswith(RENEW):
            return self._onboard_renewal(runner, data)
        return getattr(self, f'_onboard_{step}')(runner, data)

    # -- helpers ----------------------------------------------------------
    def _renewal_step(self):
        "(name, label) of the renewal due, or None"
        configuration = self.configuration
        if not configuration.certificate_name:
            return None
        try:
            secret_store.check_name(configuration.certificate_name)
            if not zatca_credentials.renewal_due(configuration):
                return None
            value = zatca_credentials.stored(configuration, 'production')
            certificate = zatca_credentials.token_certificate(value['token'])
        except (UserError, ValueError, TypeError, KeyError):
            # not listed: the run's own checks tell what is wrong
            return None
        expires = zatca_credentials.not_after(certificate)
        return (f'{RENEW}{certificate.serial_number:x}',
            gettext(f'{MODULE}.msg_step_renewal',
                date=expires.isoformat(' ', 'minutes')))

    def _onboarding_request(self, operation, path, payload, headers=None,
            method='POST'):
        headers = dict(headers or {})
        secret = {h for h in headers if h in {'Authorization', 'OTP'}}
        headers.update({
                'Accept': 'application/json',
                'Accept-Language': 'en',
                'Accept-Version': 'V2',
                'Content-Type': 'application/json',
                })
        url = BASE_URL + self.configuration.zatca_portal + path
        return Request(operation=operation, protocol='json', method=method,
            url=self.configuration.override_url(url), headers=headers,
            secret_headers=secret, payload=json.dumps(payload).encode())

    @staticmethod
    def _credential(runner, response):
        "{request_id, token, secret} of ZATCA's answer; its expiry"
        body = response.body if isinstance(response.body, dict) else {}
        for name in ('requestID', 'binarySecurityToken', 'secret'):
            if not body.get(name):
                raise OnboardingError(gettext(
                        'account_einvoice.msg_onboarding_answer_invalid',
                        field=name))
        token = runner.keep_secret(str(body['binarySecurityToken']))
        secret = runner.keep_secret(str(body['secret']))
        try:
            certificate = zatca_credentials.token_certificate(token)
        except ValueError:
            raise OnboardingError(gettext(
                    'account_einvoice.msg_onboarding_answer_invalid',
                    field='binarySecurityToken')) from None
        return ({'request_id': str(body['requestID']), 'token': token,
                'secret': secret},
            zatca_credentials.not_after(certificate))

    def _call_with_otp(self, runner, request):
        """runner.call(request) telling ZATCA's refusal of the one-time
        password or of the CSR"""
        try:
            return runner.call(request, SECRET_FIELDS)
        except ServiceFailure as failure:
            if failure.code not in {'400', '401'}:
                raise
            detail = zatca_errors(failure.response) or failure.message
            if 'otp' in detail.lower() or failure.code == '401':
                raise OnboardingError(gettext(
                        'account_einvoice.msg_onboarding_otp_refused',
                        detail=detail)) from None
            raise OnboardingError(gettext(f'{MODULE}.msg_request_refused',
                    detail=detail)) from None

    @staticmethod
    def _otp(data):
        otp = (data or {}).get('otp')
        if not otp:
            raise OnboardingError(gettext(
                    'account_einvoice.msg_onboarding_otp_missing'))
        return otp

    @staticmethod
    def _csr_payload(pem):
        return {'csr': base64.b64encode(pem.encode('ascii')).decode('ascii')}

    def _store(self, runner, stage, value, expires):
        runner.store_secret(stage, json.dumps(value, sort_keys=True),
            expires=expires)

    def _credential_of(self, runner, stage):
        """The Credential of stage; refuse (OnboardingError) when it is
        missing (the step before it must be run again)"""
        try:
            credential = zatca_credentials.credentials(
                self.configuration, stage)
        except ServiceFailure as failure:
            raise OnboardingError(failure.message) from None
        value = zatca_credentials.stored(self.configuration, stage)
        runner.keep_secret(value['token'])
        runner.keep_secret(value['secret'])
        runner.keep_secret(credential.authorization)
        return credential

    # -- steps ------------------------------------------------------------
    def _onboard_key(self, runner, data):
        key = new_key()
        csr = build_csr(key, self.configuration)
        runner.store_secret('egs_key', key_pem(key))
        runner.store_secret('egs_csr', csr_pem(csr))

    def _onboard_compliance(self, runner, data):
        otp = self._otp(data)
        # built again: the unit may have been corrected since the key step
        key = load_key(runner.secret('egs_key'))
        pem = csr_pem(build_csr(key, self.configuration))
        runner.store_secret('egs_csr', pem)
        request = self._onboarding_request('POST compliance', '/compliance',
            self._csr_payload(pem), {'OTP': otp})
        response = self._call_with_otp(runner, request)
        value, expires = self._credential(runner, response)
        self._store(runner, 'compliance', value, expires)

    def _onboard_checks(self, runner, data):
        from . import ubl
        from .facts import seller_data
        configuration = self.configuration
        credential = self._credential_of(runner, 'compliance')
        previous = FIRST_PIH
        documents = compliance_documents(
            configuration, seller_data(configuration))
        for icv, document in enumerate(documents, 1):
            document.icv, document.pih = icv, previous
            signed = ubl.sign(ubl.build(document), credential.key,
                credential.certificate)
            previous = signed.invoice_hash
            label = document_label(document.transaction, document.type_code)
            request = self._onboarding_request('POST compliance/invoices',
                '/compliance/invoices', {
                    'invoiceHash': signed.invoice_hash,
                    'uuid': document.uuid,
                    'invoice': base64.b64encode(signed.xml).decode('ascii'),
                    }, {'Authorization': credential.authorization})
            try:
                response = runner.call(request, SECRET_FIELDS)
            except ServiceFailure as failure:
                if failure.code == '400' and zatca_errors(failure.response):
                    raise OnboardingError(gettext(
                            f'{MODULE}.msg_check_failed', document=label,
                            detail=zatca_errors(failure.response))) from None
                raise
            self._check_passed(response, document, label)

    @staticmethod
    def _check_passed(response, document, label):
        body = response.body if isinstance(response.body, dict) else {}
        results = body.get('validationResults') or {}
        status = results.get('status') if isinstance(results, dict) else None
        if document.transaction == STANDARD:
            outcome, expected = body.get('clearanceStatus'), 'CLEARED'
        else:
            outcome, expected = body.get('reportingStatus'), 'REPORTED'
        if status not in {'PASS', 'WARNING'} or outcome != expected:
            raise OnboardingError(gettext(f'{MODULE}.msg_check_failed',
                    document=label, detail=zatca_errors(response)
                    or f'{status} {outcome}'))

    def _onboard_production(self, runner, data):
        credential = self._credential_of(runner, 'compliance')
        request = self._onboarding_request('POST production/csids',
            '/production/csids',
            {'compliance_request_id': credential.request_id},
            {'Authorization': credential.authorization})
        response = runner.call(request, SECRET_FIELDS)
        value, expires = self._credential(runner, response)
        value['key'] = runner.secret('egs_key')
        self._store(runner, 'production', value, expires)

    def _onboard_renewal(self, runner, data):
        otp = self._otp(data)
        credential = self._credential_of(runner, 'production')
        # kept until renewed: a failed renewal is run again with this key
        pem = runner.secret('renewal_key')
        if pem:
            key = load_key(pem)
        else:
            key = new_key()
            pem = key_pem(key)
            runner.store_secret('renewal_key', pem)
        csr = csr_pem(build_csr(key, self.configuration))
        runner.store_secret('renewal_csr', csr)
        request = self._onboarding_request('PATCH production/csids',
            '/production/csids', self._csr_payload(csr),
            {'Authorization': credential.authorization, 'OTP': otp},
            method='PATCH')
        response = self._call_with_otp(runner, request)
        value, expires = self._credential(runner, response)
        value['key'] = pem
        self._store(runner, 'production', value, expires)
        for key in ('renewal_key', 'renewal_csr', 'renewal_requested'):
            runner.delete_secret(key)
