"""The test authority: our own small protocol exercising what a real
authority does (used by the framework's country-neutral tests).

WSDL ``schemas/test_authority/TestAuthority.wsdl`` served at
``/test-authority/v1`` (service ``TestAuthorityService``, port
``TestAuthorityPort``, namespace ``urn:einvoice-sandbox:test-authority:1``),
operations ``Submit`` and ``Query``.  The same over SOAP 1.2:
``schemas/test_authority/TestAuthority12.wsdl`` at ``/test-authority/v2``
(service ``TestAuthorityService12``, port ``TestAuthorityPort12``; faults
``env:Sender``/``env:Receiver`` with the same ``Codigo[N]`` reason texts,
HTTP 400 for Sender faults).  Each port takes only its own SOAP version
(else a ``VersionMismatch`` fault in the envelope's version).

Rules (state held per Issuer + Id):

* body not valid against TestAuthority.xsd: Fault ``Client``
  ``Codigo[4102].Schema violation: <message>``;
* a plain-text HTTP 503 (fault ``http_503``) is answered by the front end
  before the request is read: the request was certainly not processed
  (clients may send it again without asking).  Any other failed answer
  may come after processing;
* option ``busy`` (or injected fault kind ``busy``): Fault ``Server``
  ``Codigo[5000].Service busy, retry later``;
* Issuer != certificate id: Fault ``Client``
  ``Codigo[4114].The certificate holder is not the issuer``;
* more records than option ``batch_limit`` (1000): Fault ``Client``
  ``Codigo[4107].Too many records: N > limit``;
* per record, in order: Amount < 0 (unless option allow_negative):
  Rejected 1100; register of a held,
  not cancelled Id: Rejected 3000 (with the existing Reference); modify or
  cancel of an unknown Id: Rejected 3002; cancel (or modify) of a cancelled
  Id: Rejected 3001; Number containing ``WARN`` (register/modify):
  AcceptedWithErrors 2000; else Accepted.  Every accepted operation gets a
  new Reference ``TA-<12 hex>``, which becomes the held Reference;
* Status: Accepted if every record was accepted (with or without errors),
  PartiallyAccepted if mixed, Rejected if none; the whole-request
  ``Reference`` is present unless Rejected.

Inspection summary of each request: ``issuer``, ``operation_type``,
``keys`` (the Ids), ``pairs`` ([Operation, Id]); after processing also
``accepted`` (Ids accepted, with or without errors), ``registered`` (Ids
accepted by a register) and ``rejected``.  So::

    sb.count('test_authority', 'Submit', 'INV-1')                 # received
    sb.count('test_authority', 'Submit', 'INV-1', 'registered')   # accepted
"""
import os
import secrets
from decimal import Decimal, InvalidOperation

from .core import SOAP11_NS, SOAP12_NS, E, SandboxService, SoapFault

NS = 'urn:einvoice-sandbox:test-authority:1'
T = E.ns(NS)
HERE = os.path.dirname(os.path.abspath(__file__))


def _q(tag):
    return '{%s}%s' % (NS, tag)


def _new_reference():
    return 'TA-' + secrets.token_hex(6).upper()


class TestAuthorityService(SandboxService):
    __test__ = False  # not a test case (pytest)
    name = 'test_authority'
    wsdl = {'/test-authority/v1': os.path.join(HERE, 'schemas',
            'test_authority', 'TestAuthority.wsdl'),
        '/test-authority/v2': os.path.join(HERE, 'schemas',
            'test_authority', 'TestAuthority12.wsdl')}
    #: SOAP version each port takes
    port_versions = {'TestAuthorityPort': SOAP11_NS,
        'TestAuthorityPort12': SOAP12_NS}
    schema = os.path.join(HERE, 'schemas', 'test_authority',
        'TestAuthority.xsd')
    default_options = {'batch_limit': 1000, 'busy': False,
        'allow_negative': False}

    def __init__(self):
        super().__init__()
        self.records = {}

    def reset(self):
        self.records = {}

    def state(self):
        result = {}
        for (issuer, id_), value in self.records.items():
            result.setdefault(issuer, {})[id_] = dict(value)
        return result

    def custom_fault_kinds(self):
        return ('busy',)

    def custom_fault(self, kind, params, operation, ctx):
        if kind == 'busy':
            raise self._busy()
        return super().custom_fault(kind, params, operation, ctx)

    def _busy(self):
        return SoapFault('Server', 'Codigo[5000].Service busy, retry later')

    def schema_fault(self, operation, message, ctx):
        return SoapFault('Client', 'Codigo[4102].Schema violation: %s'
            % message)

    def protocol_fault(self, kind, message, ctx):
        return SoapFault('Client', 'Codigo[4102].%s' % message)

    def summarize(self, operation, body, caller, ctx):
        issuer = body.findtext('%s/%s' % (_q('Header'), _q('Issuer')))
        if operation == 'Submit':
            op = body.findtext('%s/%s' % (_q('Header'), _q('Operation')))
            ids = [r.findtext(_q('Id')) for r in body.iterfind(_q('Record'))]
            return {'issuer': issuer, 'operation_type': op, 'keys': ids,
                'pairs': [[op, i] for i in ids]}
        if operation == 'Query':
            return {'issuer': issuer,
                'keys': [i.text for i in body.iterfind(_q('Id'))]}
        return {}

    def handle(self, operation, body, caller, ctx):
        expected = self.port_versions.get(ctx.port)
        if expected and ctx.soap_ns != expected:
            raise SoapFault('VersionMismatch', 'Codigo[4102].This endpoint '
                'takes SOAP %s' % ('1.2' if expected == SOAP12_NS else '1.1'))
        if operation == 'Submit':
            return self.submit(body, caller, ctx)
        if operation == 'Query':
            return self.query(body, caller, ctx)
        raise SoapFault('Client', 'Unknown operation %s' % operation)

    def _check_header(self, body, caller):
        if self.options.get('busy'):
            raise self._busy()
        issuer = body.findtext('%s/%s' % (_q('Header'), _q('Issuer')))
        if issuer != caller.tax_id:
            raise SoapFault('Client',
                'Codigo[4114].The certificate holder is not the issuer')
        return issuer

    def submit(self, body, caller, ctx):
        issuer = self._check_header(body, caller)
        op = body.findtext('%s/%s' % (_q('Header'), _q('Operation')))
        records = body.findall(_q('Record'))
        limit = int(self.options.get('batch_limit') or 0)
        if limit and len(records) > limit:
            raise SoapFault('Client', 'Codigo[4107].Too many records: '
                '%d > %d' % (len(records), limit))
        results, accepted, registered, rejected = [], [], [], []
        for record in records:
            id_ = record.findtext(_q('Id'))
            number = record.findtext(_q('Number'))
            date = record.findtext(_q('Date'))
            try:
                amount = Decimal(record.findtext(_q('Amount')))
            except (InvalidOperation, TypeError):
                amount = Decimal('NaN')
            status, code, message, reference = self._apply(issuer, op, id_,
                number, date, amount)
            if status == 'Rejected':
                rejected.append(id_)
            else:
                accepted.append(id_)
                if op == 'register':
                    registered.append(id_)
            results.append(T('Result', T('Id', id_), T('Status', status),
                    T('Code', code) if code is not None else None,
                    T('Message', message) if message else None,
                    T('Reference', reference) if reference else None))
        if not accepted:
            whole = 'Rejected'
        elif rejected:
            whole = 'PartiallyAccepted'
        else:
            whole = 'Accepted'
        ctx.note(accepted=accepted, registered=registered, rejected=rejected,
            status=whole)
        return T('SubmitResponse', T('Status', whole),
            None if whole == 'Rejected' else T('Reference',
                secrets.token_hex(8).upper()),
            results)

    def _apply(self, issuer, op, id_, number, date, amount):
        key = (issuer, id_)
        held = self.records.get(key)
        if amount.is_nan() or (
                amount < 0 and not self.options.get('allow_negative')):
            return 'Rejected', 1100, 'Amount must not be negative', None
        if op == 'register':
            if held and held['status'] != 'Cancelled':
                return ('Rejected', 3000, 'Duplicate: already registered',
                    held['reference'])
        elif held is None:
            return 'Rejected', 3002, 'Not found', None
        elif held['status'] == 'Cancelled':
            return 'Rejected', 3001, 'Already cancelled', None
        reference = _new_reference()
        if op == 'cancel':
            held['status'] = 'Cancelled'
            held['reference'] = reference
            held['history'].append(op)
            return 'Accepted', None, None, reference
        warn = 'WARN' in (number or '')
        status = 'AcceptedWithErrors' if warn else 'Accepted'
        history = (held['history'] if held else []) + [op]
        self.records[key] = {'status': status, 'reference': reference,
            'number': number, 'date': date,
            'amount': str(amount.quantize(Decimal('0.01'))),
            'history': history}
        if warn:
            return (status, 2000, 'Accepted with warnings: number format',
                reference)
        return status, None, None, reference

    def query(self, body, caller, ctx):
        issuer = self._check_header(body, caller)
        found = []
        for id_el in body.iterfind(_q('Id')):
            held = self.records.get((issuer, id_el.text))
            if held is None:
                continue
            found.append(T('Found', T('Id', id_el.text),
                    T('Status', held['status']),
                    T('Reference', held['reference']),
                    T('Number', held['number']),
                    T('Amount', held['amount'])))
        ctx.note(found=[f.findtext(_q('Id')) for f in found])
        return T('QueryResponse', found)
