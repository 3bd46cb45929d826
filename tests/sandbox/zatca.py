"""ZATCA (Saudi Arabia, Fatoora phase 2) sandbox service ``zatca``.

REST/JSON under ``/e-invoicing/<portal>/`` for the portals
``developer-portal``, ``simulation`` and ``core`` (the portal decides the
CSR template name), served on ``sb.url`` and ``sb.open_url`` (client
certificate optional); Basic auth ``binarySecurityToken:secret``.

Onboarding (:mod:`tests.sandbox.zatca_onboarding` checks the CSR):

``POST compliance`` (operation ``compliance``)
   Header ``OTP`` (option ``otp``, ``'123345'``), ``{"csr": base64(PEM)}``
   -> ``{requestID, dispositionMessage: "ISSUED", binarySecurityToken,
   secret, errors: []}``: a certificate of the sandbox CA for the CSR's
   key, subject and SAN.  Refusals: 400 ``{"code", "error", "errors":
   [error]}`` (``Invalid-OTP``, ``Invalid-CSR`` naming what is wrong).
``POST compliance/invoices`` (``compliance_invoices``)
   Compliance credential; the invoice checks (no chain); a passing
   document type (``standard-388`` … ``simplified-383``) is counted for
   the credential's request.
``POST production/csids`` (``production``)
   Compliance credential, ``{"compliance_request_id"}`` = its requestID;
   400 until every type the CSR ``title`` allows passed; the production
   credential (same subject and SAN, new serial).
``PATCH production/csids`` (``renewal``)
   Production credential, ``OTP``, ``{"csr"}`` of the same VAT and SN: a
   new production credential (the old one stays valid until it expires).

Invoices (production credential; header ``Accept-Version: V2`` else 400
without validationResults), body ``{invoiceHash, uuid, invoice}``:

``POST invoices/reporting/single`` (``reporting``; simplified only, or
   any with ``clearance_off``)
``POST invoices/clearance/single`` (``clearance``; standard only; option
   ``clearance_off`` -> 303, not processed)

Checks: :mod:`tests.sandbox.zatca_checks` (codes there) plus the chain of
the unit (the certificate's ``UID|SN``): ICV above the unit's last
(``invalid-icv``), PIH the hash of the unit's document ICV-1 whatever its
status, or the seed for ICV 1 (``invalid-pih``); a jump in ICV is the
warning ``icv-gap``.  A document failing the chain is not linked.
Answers: 200 (PASS), 202 (warnings), 400 (errors; ``NOT_REPORTED`` /
``NOT_CLEARED``); ``{validationResults: {infoMessages, warningMessages,
errorMessages, status}, reportingStatus | clearanceStatus,
clearedInvoice}``.  The same uuid and hash already accepted -> 409 with
its status (and the held clearedInvoice); the same uuid with another hash
-> 400 ``duplicate-uuid``.  The cleared invoice is the XML sent with
ZATCA's QR: tags 1-7 from the invoice, 8 the stamp's public key, 9 its
ECDSA-SHA256 signature of the hash digest (``state()['stamp_public_key']``).

Faults: the sandbox's (http_429, http_500, http_503, hang, drop_after…)
plus ``http_401`` (not processed).  Options: ``otp``, ``validity_days``,
``clearance_off``, ``refuse_uuids``, ``force_warning``,
``issue_time_zone_hours`` (3: IssueTime without offset is Saudi time).

Summaries: ``keys`` [uuid or requestID], ``hash``; after processing
``status``, ``codes``, ``unit``, ``accepted`` [uuid] when reported or
cleared.  Inspection: ``state()`` (see :meth:`ZatcaService.state`),
:meth:`ZatcaService.issue_production` / :func:`issue_production`.
"""
import base64
import datetime
import hashlib
import hmac
from collections import Counter

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .core import SandboxService
from .rest import JsonResponse, JsonRoute
from .zatca_checks import check_submission, item
from .zatca_document import FIRST_PIH, encode_qr, set_qr
from .zatca_onboarding import (
    SIMPLIFIED, STANDARD, TEMPLATES, TITLES, CSRError, issue_credential,
    read_csr)

__all__ = ['ZatcaService', 'issue_production', 'PORTALS', 'INSPECT_PATH']

PORTALS = tuple(TEMPLATES)
INSPECT_PATH = '/_sandbox/zatca/production'
_ROUTES = (
    ('POST', 'compliance', 'compliance', 'issue_compliance'),
    ('POST', 'compliance/invoices', 'compliance_invoices',
        'check_compliance'),
    ('POST', 'production/csids', 'production', 'production_csid'),
    ('PATCH', 'production/csids', 'renewal', 'renew'),
    ('POST', 'invoices/reporting/single', 'reporting', 'report'),
    ('POST', 'invoices/clearance/single', 'clearance', 'clear'),
    )
_PRIVATE = ('secret', 'certificate', 'fields')


def _refused(code, error, status=400):
    return JsonResponse(status, {'code': code, 'error': error,
            'errors': [error]})


def issue_production(sb, csr_pem, portal='developer-portal'):
    """(token, secret) of a production credential for csr_pem on the
    running sandbox sb (in-process or child process), without onboarding"""
    if isinstance(csr_pem, bytes):
        csr_pem = csr_pem.decode()
    if not sb.subprocess:
        return sb.core.services['zatca'].issue_production(csr_pem, portal)
    with sb.session('test_company') as session:
        response = session.post(sb.endpoint(INSPECT_PATH), timeout=30,
            json={'csr': csr_pem, 'portal': portal})
    response.raise_for_status()
    answer = response.json()
    return answer['binarySecurityToken'], answer['secret']


class ZatcaService(SandboxService):
    __test__ = False  # not a test case (pytest)
    name = 'zatca'
    client_certificate = 'optional'
    json_routes = tuple(
        JsonRoute(method, '/e-invoicing/%s/%s' % (portal, path), operation,
            handler)
        for portal in PORTALS
        for method, path, operation, handler in _ROUTES) + (
        JsonRoute('POST', INSPECT_PATH, 'inspect_production',
            'inspect_production'),)
    default_options = {'otp': '123345', 'validity_days': 365,
        'clearance_off': False, 'refuse_uuids': [], 'force_warning': None,
        'issue_time_zone_hours': 3, 'latency': 0}

    def __init__(self):
        super().__init__()
        self.stamp_key = ec.generate_private_key(ec.SECP256K1())
        self.reset()

    def reset(self):
        self.credentials = {}   # token -> credential
        self.units = {}         # unit -> chain
        self.accepted = Counter()
        self.calls = Counter()

    def custom_fault_kinds(self):
        return ('http_401',)

    def custom_fault(self, kind, params, operation, ctx):
        if kind == 'http_401':
            return JsonResponse(401, {'error': 'unauthorized'})
        return super().custom_fault(kind, params, operation, ctx)

    def state(self):
        """``units`` {unit: {last_icv, documents: [{uuid, icv, pih, hash,
        type, status, linked, operation, received_at}]}}, ``accepted``
        {uuid: times reported or cleared}, ``compliance`` {requestID:
        credential}, ``production`` [credential] (credentials without
        their secret: request_id, token, portal, unit, vat, title, serial,
        not_after, passed), ``calls`` {operation: processed calls},
        ``stamp_public_key`` (base64 DER)"""
        def public(credential):
            return {k: v for k, v in credential.items()
                if k not in _PRIVATE}
        credentials = list(self.credentials.values())
        return {
            'units': {name: {'last_icv': unit['last_icv'],
                    'documents': [dict(d) for d in unit['documents']]}
                for name, unit in self.units.items()},
            'accepted': dict(self.accepted),
            'compliance': {c['request_id']: public(c) for c in credentials
                if c['kind'] == 'compliance'},
            'production': [public(c) for c in credentials
                if c['kind'] == 'production'],
            'calls': dict(self.calls),
            'stamp_public_key': base64.b64encode(self._stamp_public_key()
                ).decode(),
            }

    # -- inspection --
    def issue_production(self, csr_pem, portal='developer-portal'):
        """(token, secret) of a production credential for the CSR (PEM),
        as if the unit had onboarded; raises CSRError"""
        with self.lock:
            csr, fields = read_csr(csr_pem, portal)
            credential = self._issue(csr, fields, portal, 'production')
            return credential['token'], credential['secret']

    def inspect_production(self, request):
        if request.caller is None:
            return JsonResponse(403, {'error': 'client certificate '
                    'required'})
        body = request.body if isinstance(request.body, dict) else {}
        portal = body.get('portal') or 'developer-portal'
        if portal not in PORTALS:
            return _refused('Invalid-Request', 'unknown portal')
        try:
            csr, fields = read_csr(body.get('csr') or '', portal)
        except CSRError as exception:
            return _refused('Invalid-CSR', str(exception))
        return self._answer(self._issue(csr, fields, portal, 'production'))

    # -- helpers --
    @staticmethod
    def _portal(request):
        return request.path.split('/')[2]

    def _ca(self):
        pki = self.core.pki
        if pki._ca is None:
            pki._load_ca()
        return pki._ca

    def _now(self):
        return datetime.datetime.fromtimestamp(self.core.now(),
            datetime.timezone.utc)

    def _issue(self, subject, fields, portal, kind, request_id=None):
        credential = issue_credential(self._ca(), subject, fields, portal,
            kind, self.options.get('validity_days') or 365, request_id)
        credential['fields'] = fields
        self.credentials[credential['token']] = credential
        return credential

    @staticmethod
    def _answer(credential):
        return JsonResponse(200, {'requestID': credential['request_id'],
                'dispositionMessage': 'ISSUED',
                'binarySecurityToken': credential['token'],
                'secret': credential['secret'], 'errors': []})

    def _caller(self, request, kind):
        "The credential of kind authenticating request on its portal"
        given = request.basic_auth()
        if given is None:
            return None
        credential = self.credentials.get(given[0])
        if (credential is None or credential['kind'] != kind
                or credential['portal'] != self._portal(request)
                or not hmac.compare_digest(given[1].encode(),
                    credential['secret'].encode())
                or datetime.datetime.fromisoformat(credential['not_after'])
                < self._now()):
            return None
        request.ctx.note(unit=credential['unit'])
        return credential

    @staticmethod
    def _unauthorized():
        return JsonResponse(401, {'error': 'unauthorized'},
            {'WWW-Authenticate': 'Basic realm="zatca"'})

    def _otp_problem(self, request):
        expected = str(self.options.get('otp') or '')
        given = request.header('OTP') or ''
        if not (expected and hmac.compare_digest(given.encode(),
                    expected.encode())):
            return _refused('Invalid-OTP', 'invalid OTP')
        return None

    def _csr(self, request):
        body = request.body if isinstance(request.body, dict) else {}
        try:
            return read_csr(body.get('csr') or '', self._portal(request))
        except CSRError as exception:
            raise _Refusal(_refused('Invalid-CSR', str(exception)))

    def _stamp_public_key(self):
        return self.stamp_key.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    def summarize_json(self, operation, request):
        body = request.body if isinstance(request.body, dict) else {}
        if operation in ('compliance', 'renewal', 'inspect_production'):
            csr = str(body.get('csr') or '')
            return {'keys': ['csr:' + hashlib.sha256(
                            csr.encode()).hexdigest()]}
        if operation == 'production':
            return {'keys': [str(body.get('compliance_request_id'))]}
        return {'keys': [str(body.get('uuid'))],
            'hash': str(body.get('invoiceHash'))}

    # -- onboarding routes --
    def issue_compliance(self, request):
        refused = self._otp_problem(request)
        if refused:
            return refused
        try:
            csr, fields = self._csr(request)
        except _Refusal as refusal:
            return refusal.response
        credential = self._issue(csr, fields, self._portal(request),
            'compliance')
        self.calls['compliance'] += 1
        request.ctx.note(request_id=credential['request_id'])
        return self._answer(credential)

    def check_compliance(self, request):
        credential = self._caller(request, 'compliance')
        if credential is None:
            return self._unauthorized()
        refused = self._version(request)
        if refused:
            return refused
        checked = self._check(request, credential,
            TITLES[credential['title']])
        self.calls['compliance_invoices'] += 1
        invoice = checked.invoice
        if (invoice is not None and not checked.errors
                and invoice.kind not in credential['passed']):
            credential['passed'].append(invoice.kind)
        operation = ('reporting' if invoice is not None
            and invoice.simplified else 'clearance')
        return self._result(request, operation, checked)

    def production_csid(self, request):
        credential = self._caller(request, 'compliance')
        if credential is None:
            return self._unauthorized()
        body = request.body if isinstance(request.body, dict) else {}
        if body.get('compliance_request_id') != credential['request_id']:
            return _refused('Invalid-Request',
                'unknown compliance_request_id')
        missing = [k for k in TITLES[credential['title']]
            if k not in credential['passed']]
        if missing:
            return _refused('Missing-Compliance-Steps',
                'compliance checks not passed: %s' % ', '.join(missing))
        certificate = x509.load_der_x509_certificate(
            credential['certificate'])
        issued = self._issue(certificate, credential['fields'],
            credential['portal'], 'production', credential['request_id'])
        self.calls['production'] += 1
        return self._answer(issued)

    def renew(self, request):
        credential = self._caller(request, 'production')
        if credential is None:
            return self._unauthorized()
        refused = self._otp_problem(request)
        if refused:
            return refused
        try:
            csr, fields = self._csr(request)
        except _Refusal as refusal:
            return refusal.response
        if fields['unit'] != credential['unit']:
            return _refused('Invalid-CSR', 'the CSR is not of the same VAT '
                'number and serial (SN) as the credential')
        issued = self._issue(csr, fields, credential['portal'], 'production',
            credential['request_id'])
        self.calls['renewal'] += 1
        return self._answer(issued)

    # -- invoice routes --
    def report(self, request):
        # with clearance switched off, standard invoices are reported
        return self._submit(request, 'reporting', SIMPLIFIED + (
                STANDARD if self.options.get('clearance_off') else ()))

    def clear(self, request):
        return self._submit(request, 'clearance', STANDARD)

    @staticmethod
    def _version(request):
        if (request.header('Accept-Version') or '').upper() != 'V2':
            return _refused('Invalid-Request', 'header Accept-Version: V2 '
                'required')
        return None

    def _check(self, request, credential, kinds):
        certificate = x509.load_der_x509_certificate(
            credential['certificate'])
        allowed = [k for k in kinds if k in TITLES[credential['title']]]
        return check_submission(request.body, certificate, credential,
            self.options, request.received_at, allowed)

    def _submit(self, request, operation, kinds):
        credential = self._caller(request, 'production')
        if credential is None:
            return self._unauthorized()
        refused = self._version(request)
        if refused:
            return refused
        if operation == 'clearance' and self.options.get('clearance_off'):
            request.ctx.note(status='CLEARANCE_OFF')
            return JsonResponse(303, {'message': 'Clearance is deactivated.'
                    ' Please use the /invoices/reporting/single endpoint '
                    'instead.'}, processed=False)
        self.calls[operation] += 1
        checked = self._check(request, credential, kinds)
        unit = self.units.setdefault(credential['unit'], {
                'last_icv': 0, 'documents': [], 'hashes': {}, 'held': {}})
        invoice = checked.invoice
        if invoice is None:
            return self._result(request, operation, checked)
        held = unit['held'].get(invoice.uuid)
        if held is not None and held['hash'] != invoice.hash:
            checked.error('duplicate-uuid', 'uuid %s already %s with '
                'another invoice hash' % (invoice.uuid, held['status']))
        elif held is not None and not any(
                e['code'] == 'invalid-invoice-hash' for e in checked.errors):
            return self._already(request, operation, held)
        linked = self._chain(unit, invoice, checked)
        accepted = not checked.errors
        status = {('reporting', True): 'REPORTED',
            ('reporting', False): 'NOT_REPORTED',
            ('clearance', True): 'CLEARED',
            ('clearance', False): 'NOT_CLEARED'}[operation, accepted]
        if linked:
            icv = int(invoice.icv)
            unit['last_icv'] = max(unit['last_icv'], icv)
            unit['hashes'][icv] = invoice.hash
        unit['documents'].append({'uuid': invoice.uuid, 'icv': invoice.icv,
                'pih': invoice.pih, 'hash': invoice.hash,
                'type': invoice.kind, 'status': status, 'linked': linked,
                'operation': operation,
                'received_at': request.ctx.summary.get('received_at')})
        response = self._result(request, operation, checked)
        if accepted:
            unit['held'][invoice.uuid] = {'hash': invoice.hash,
                'status': status,
                'cleared': response.body.get('clearedInvoice')}
            self.accepted[invoice.uuid] += 1
            request.ctx.note(accepted=[invoice.uuid])
        return response

    def _chain(self, unit, invoice, checked):
        "Check ICV/PIH against the unit; True if the document is linked"
        if not (invoice.icv or '').isdigit():
            return False
        icv = int(invoice.icv)
        if unit['hashes'].get(icv) == invoice.hash:
            return True     # the same document again, in its place
        last = unit['last_icv']
        if icv <= last:
            checked.error('invalid-icv', 'ICV %d is not after %d, the last '
                'of this unit' % (icv, last), 'CHAIN')
            return False
        if icv > last + 1:
            checked.warning('icv-gap', 'ICV jumps from %d to %d'
                % (last, icv), 'CHAIN')
        expected = FIRST_PIH if icv == 1 else unit['hashes'].get(icv - 1)
        if expected is not None and invoice.pih != expected:
            checked.error('invalid-pih', 'PIH is not the hash of the '
                'document ICV %d' % (icv - 1), 'CHAIN')
            return False
        return True

    def _cleared(self, invoice, xml):
        "The cleared invoice (base64): xml with the stamp's QR"
        digest = base64.b64decode(invoice.hash)
        qr = encode_qr({1: invoice.seller_name or '',
                2: invoice.seller_vat or '',
                3: '%sT%s' % (invoice.issue_date, invoice.issue_time),
                4: invoice.text('cac:LegalMonetaryTotal/cbc:PayableAmount')
                or '',
                5: invoice.text('cac:TaxTotal/cbc:TaxAmount') or '',
                6: invoice.hash, 7: invoice.signature_value or '',
                8: self._stamp_public_key(),
                9: self.stamp_key.sign(digest, ec.ECDSA(hashes.SHA256()))})
        return base64.b64encode(set_qr(xml, qr)).decode()

    def _result(self, request, operation, checked):
        errors, warnings = checked.errors, checked.warnings
        accepted = not errors
        results = {'infoMessages': [item('XSD_ZATCA_VALID', 'Complied with '
                    'UBL 2.1 standards in line with ZATCA specifications',
                    'XSD validation', 'INFO')] if checked.invoice else [],
            'warningMessages': warnings, 'errorMessages': errors,
            'status': 'ERROR' if errors else (
                'WARNING' if warnings else 'PASS')}
        body = {'validationResults': results}
        if operation == 'reporting':
            body['reportingStatus'] = (
                'REPORTED' if accepted else 'NOT_REPORTED')
        else:
            body['clearanceStatus'] = 'CLEARED' if accepted else 'NOT_CLEARED'
            body['clearedInvoice'] = (self._cleared(checked.invoice,
                    checked.xml) if accepted else None)
        request.ctx.note(status=results['status'],
            codes=[e['code'] for e in errors + warnings])
        status = 400 if errors else (202 if warnings else 200)
        return JsonResponse(status, body, processed=True)

    @staticmethod
    def _already(request, operation, held):
        body = {'validationResults': {'infoMessages': [],
                'warningMessages': [], 'errorMessages': [item(
                        'already-%s' % held['status'].lower(),
                        'invoice already %s' % held['status'].lower(),
                        'CHAIN', 'ERROR')],
                'status': 'ERROR'}}
        if operation == 'reporting':
            body['reportingStatus'] = held['status']
        else:
            body['clearanceStatus'] = held['status']
            body['clearedInvoice'] = held['cleared']
        request.ctx.note(status='ALREADY_' + held['status'], codes=[])
        return JsonResponse(409, body, processed=True)


class _Refusal(Exception):
    def __init__(self, response):
        self.response = response
