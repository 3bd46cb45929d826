"""The onboarding authority (``onboarding_ca``): a sandbox CA issuing
credentials from a CSR, in the shape of ZATCA's onboarding (compliance
credential from a one-time password, compliance checks, production
credential), without ZATCA's specifics.

Routes (JSON, served on ``sb.url`` and, client certificate optional, on
``sb.open_url``):

``POST /onboarding/v1/compliance`` (operation ``compliance``)
   Header ``OTP`` (option ``otp``, default ``'123345'``; missing or wrong
   -> 400 ``{"error": "invalid OTP", "errors": [...]}``, not processed),
   body ``{"csr": base64(PEM)}``: the CSR's signature is verified (400
   ``invalid CSR``); a certificate for its subject and key, signed by the
   sandbox CA, valid option ``validity_days`` (365), is the compliance
   credential: ``{"requestID", "dispositionMessage": "ISSUED",
   "binarySecurityToken": base64(base64 DER), "secret", "errors": []}``.
``POST /onboarding/v1/compliance/checks`` (``compliance_checks``)
   Basic auth ``token:secret`` of a compliance credential (else 401), any
   JSON object: ``{"validationResults": {"status": "PASS"}}``; option
   ``check_status`` answers another status (``ERROR``: 400).
``POST /onboarding/v1/production/csids`` (``production``)
   Basic auth of a compliance credential, ``{"compliance_request_id"}``
   equal to its ``requestID`` (else 400) and, with option
   ``require_checks`` (True), at least one passed check (else 400): the
   production credential, same shape as the compliance one.
``PATCH /onboarding/v1/production/csids`` (``renewal``)
   Basic auth of a production credential, header ``OTP``, ``{"csr"}``: a
   new production credential (the old one stays valid).

Inspection: ``state()`` gives ``compliance`` (by request id: token,
secret, subject, checks, not_after), ``production`` (list of token,
secret, request id, not_after) and ``calls`` (processed calls by
operation); summaries carry ``keys`` (the request id, or ``csr:<sha256>``
for a CSR).
"""
import base64
import binascii
import datetime
import hashlib
import hmac
import secrets
from collections import Counter

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .core import SandboxService
from .pki import _issue
from .rest import JsonResponse, JsonRoute

__all__ = ['OnboardingCAService', 'PREFIX', 'decode_token']

PREFIX = '/onboarding/v1'


def decode_token(token):
    "The certificate of a binarySecurityToken"
    return x509.load_der_x509_certificate(
        base64.b64decode(base64.b64decode(token)))


def _refused(status, error, **extra):
    return JsonResponse(status, dict({'error': error, 'errors': [error]},
            **extra))


class OnboardingCAService(SandboxService):
    __test__ = False  # not a test case (pytest)
    name = 'onboarding_ca'
    client_certificate = 'optional'
    json_routes = (
        JsonRoute('POST', PREFIX + '/compliance', 'compliance',
            'issue_compliance'),
        JsonRoute('POST', PREFIX + '/compliance/checks', 'compliance_checks',
            'run_check'),
        JsonRoute('POST', PREFIX + '/production/csids', 'production',
            'issue_production'),
        JsonRoute('PATCH', PREFIX + '/production/csids', 'renewal',
            'renew'),
        )
    default_options = {'otp': '123345', 'validity_days': 365,
        'require_checks': True, 'check_status': 'PASS'}

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self.compliance = {}    # request id -> credential
        self.production = []    # credentials
        self.calls = Counter()

    def state(self):
        return {'compliance': {k: dict(v) for k, v in
                self.compliance.items()},
            'production': [dict(p) for p in self.production],
            'calls': dict(self.calls)}

    # -- helpers --
    def _ca(self):
        pki = self.core.pki
        if pki._ca is None:
            pki._load_ca()
        return pki._ca

    def _issue(self, csr):
        now = datetime.datetime.now(datetime.timezone.utc)
        not_after = now + datetime.timedelta(
            days=float(self.options.get('validity_days') or 365))
        cert = _issue(*self._ca(), csr.subject, csr.public_key(),
            not_after=not_after)
        der = cert.public_bytes(serialization.Encoding.DER)
        return {
            'request_id': str(secrets.randbelow(10 ** 12)).zfill(12),
            'token': base64.b64encode(base64.b64encode(der)).decode(),
            'secret': secrets.token_urlsafe(24),
            'subject': csr.subject.rfc4514_string(),
            'not_after': not_after.isoformat(timespec='seconds'),
            'checks': 0,
            }

    @staticmethod
    def _answer(credential):
        return JsonResponse(200, {
                'requestID': credential['request_id'],
                'dispositionMessage': 'ISSUED',
                'binarySecurityToken': credential['token'],
                'secret': credential['secret'],
                'errors': []})

    def _otp_problem(self, request):
        expected = str(self.options.get('otp') or '')
        given = request.header('OTP') or ''
        if not (expected and hmac.compare_digest(
                    given.encode(), expected.encode())):
            return _refused(400, 'invalid OTP')
        return None

    @staticmethod
    def _csr(request):
        "The CSR of the body, or the JsonResponse refusing it"
        body = request.body if isinstance(request.body, dict) else {}
        try:
            pem = base64.b64decode(body.get('csr') or '', validate=True)
            csr = x509.load_pem_x509_csr(pem)
        except (binascii.Error, ValueError, TypeError):
            return None, _refused(400, 'invalid CSR')
        if not csr.is_signature_valid:
            return None, _refused(400, 'invalid CSR signature')
        return csr, None

    def _caller(self, request, credentials):
        "The credential of the Basic auth among credentials, or None"
        given = request.basic_auth()
        if given is None:
            return None
        for credential in credentials:
            if (hmac.compare_digest(given[0].encode(),
                        credential['token'].encode())
                    and hmac.compare_digest(given[1].encode(),
                        credential['secret'].encode())):
                return credential
        return None

    @staticmethod
    def _unauthorized():
        return JsonResponse(401, {'error': 'unauthorized'},
            {'WWW-Authenticate': 'Basic realm="onboarding"'})

    def summarize_json(self, operation, request):
        body = request.body if isinstance(request.body, dict) else {}
        if body.get('csr'):
            digest = hashlib.sha256(str(body['csr']).encode()).hexdigest()
            return {'keys': ['csr:' + digest]}
        if body.get('compliance_request_id'):
            return {'keys': [str(body['compliance_request_id'])]}
        return {'keys': []}

    # -- routes --
    def issue_compliance(self, request):
        refused = self._otp_problem(request)
        if refused:
            return refused
        csr, refused = self._csr(request)
        if refused:
            return refused
        credential = self._issue(csr)
        self.compliance[credential['request_id']] = credential
        self.calls['compliance'] += 1
        request.ctx.note(request_id=credential['request_id'])
        return self._answer(credential)

    def run_check(self, request):
        credential = self._caller(request, self.compliance.values())
        if credential is None:
            return self._unauthorized()
        self.calls['compliance_checks'] += 1
        status = self.options.get('check_status') or 'PASS'
        if status == 'ERROR':
            return JsonResponse(400, {'validationResults': {
                        'status': 'ERROR', 'errorMessages': [{
                                'code': 'sandbox-check',
                                'message': 'compliance check failed'}]}})
        credential['checks'] += 1
        return JsonResponse(200, {'validationResults': {
                    'status': status, 'errorMessages': []}})

    def issue_production(self, request):
        credential = self._caller(request, self.compliance.values())
        if credential is None:
            return self._unauthorized()
        body = request.body if isinstance(request.body, dict) else {}
        if body.get('compliance_request_id') != credential['request_id']:
            return _refused(400, 'unknown compliance_request_id')
        if self.options.get('require_checks') and not credential['checks']:
            return _refused(400, 'compliance checks not passed')
        issued = self._issue(x509.load_der_x509_certificate(base64.b64decode(
                    base64.b64decode(credential['token']))))
        self.production.append(issued)
        self.calls['production'] += 1
        return self._answer(issued)

    def renew(self, request):
        if self._caller(request, self.production) is None:
            return self._unauthorized()
        refused = self._otp_problem(request)
        if refused:
            return refused
        csr, refused = self._csr(request)
        if refused:
            return refused
        issued = self._issue(csr)
        self.production.append(issued)
        self.calls['renewal'] += 1
        return self._answer(issued)
