# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Onboarding of the test services with the sandbox's onboarding authority
(``onboarding_ca``): an EC key and a CSR, a compliance credential for a
one-time password, a compliance check, then the production credential,
kept as ``basic_auth`` for the service's calls."""
import base64
import datetime as dt
import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trytond.i18n import gettext

from ..exceptions import OnboardingError, ServiceFailure
from ..service import Request

ONBOARDING = 'https://onboarding.invalid/onboarding/v1'
#: members of the authority's answers never stored
SECRET_FIELDS = ('binarySecurityToken', 'secret')


def _not_after(token):
    "The expiry (naive UTC) of the certificate a token carries, or None"
    try:
        certificate = x509.load_der_x509_certificate(
            base64.b64decode(base64.b64decode(token)))
    except ValueError:
        return None
    return certificate.not_valid_after_utc.replace(tzinfo=None)


def _basic(token, secret):
    credentials = base64.b64encode(f'{token}:{secret}'.encode())
    return 'Basic ' + credentials.decode('ascii')


class OnboardingMixin:

    def onboarding_steps(self):
        return [
            ('key', "Generate the key and the CSR"),
            ('compliance', "Obtain the compliance credential"),
            ('check', "Run the compliance checks"),
            ('production', "Obtain the production credential"),
            ]

    def onboarding_inputs(self, step):
        return {'otp'} if step == 'compliance' else set()

    def run_onboarding_step(self, runner, step, data):
        getattr(self, f'_onboard_{step}')(runner, data)

    def _onboarding_request(self, operation, path, payload, headers=None,
            method='POST'):
        headers = dict(headers or {})
        secret = {h for h in headers if h in {'Authorization', 'OTP'}}
        headers['Content-Type'] = 'application/json'
        return Request(
            operation=operation, protocol='json', method=method,
            url=self.configuration.override_url(ONBOARDING + path),
            headers=headers, secret_headers=secret,
            payload=json.dumps(payload).encode())

    @staticmethod
    def _credential(runner, response):
        body = response.body if isinstance(response.body, dict) else {}
        for name in ('requestID', 'binarySecurityToken', 'secret'):
            if not body.get(name):
                raise OnboardingError(gettext(
                        'account_einvoice.msg_onboarding_answer_invalid',
                        field=name))
        runner.keep_secret(body['binarySecurityToken'])
        runner.keep_secret(body['secret'])
        return (str(body['requestID']), body['binarySecurityToken'],
            body['secret'])

    def _onboard_key(self, runner, data):
        key = ec.generate_private_key(ec.SECP256K1())
        company = self.configuration.company
        subject = x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                    company.rec_name[:64]),
                x509.NameAttribute(NameOID.COMMON_NAME,
                    self.issuer()[:64]),
                ])
        csr = (x509.CertificateSigningRequestBuilder()
            .subject_name(subject).sign(key, hashes.SHA256()))
        runner.store_secret('private_key', key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        runner.store_secret('csr',
            csr.public_bytes(serialization.Encoding.PEM))

    def _onboard_compliance(self, runner, data):
        otp = data.get('otp')
        if not otp:
            raise OnboardingError(gettext(
                    'account_einvoice.msg_onboarding_otp_missing'))
        csr = runner.secret('csr').encode()
        request = self._onboarding_request('POST compliance', '/compliance',
            {'csr': base64.b64encode(csr).decode('ascii')}, {'OTP': otp})
        try:
            response = runner.call(request, SECRET_FIELDS)
        except ServiceFailure as failure:
            if failure.code in {'400', '401'}:
                raise OnboardingError(gettext(
                        'account_einvoice.msg_onboarding_otp_refused',
                        detail=failure.message)) from None
            raise
        request_id, token, secret = self._credential(runner, response)
        expires = _not_after(token)
        runner.store_secret('compliance_token', token, expires=expires)
        runner.store_secret('compliance_secret', secret, expires=expires)
        runner.store_secret('compliance_request_id', request_id)

    def _compliance_auth(self, runner):
        return {'Authorization': _basic(runner.secret('compliance_token'),
                runner.secret('compliance_secret'))}

    def _onboard_check(self, runner, data):
        sample = json.dumps({'id': 'COMPLIANCE-1', 'amount': '1.00'}).encode()
        request = self._onboarding_request('POST compliance/checks',
            '/compliance/checks', {
                'invoiceHash': base64.b64encode(
                    hashlib.sha256(sample).digest()).decode(),
                'uuid': 'compliance-1',
                'invoice': base64.b64encode(sample).decode(),
                }, self._compliance_auth(runner))
        response = runner.call(request, SECRET_FIELDS)
        body = response.body if isinstance(response.body, dict) else {}
        status = (body.get('validationResults') or {}).get('status')
        if status not in {'PASS', 'WARNING'}:
            raise OnboardingError(gettext(
                    'account_einvoice.msg_onboarding_check_failed',
                    detail=status))

    def _onboard_production(self, runner, data):
        request = self._onboarding_request('POST production/csids',
            '/production/csids', {
                'compliance_request_id': runner.secret(
                    'compliance_request_id'),
                }, self._compliance_auth(runner))
        response = runner.call(request, SECRET_FIELDS)
        _, token, secret = self._credential(runner, response)
        runner.store_secret('basic_auth', f'{token}:{secret}',
            expires=_not_after(token) or dt.datetime.utcnow()
            + dt.timedelta(days=365))
