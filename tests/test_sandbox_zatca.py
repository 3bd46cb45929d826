"""Tests of the ZATCA sandbox service (``zatca``): onboarding, compliance
checks, reporting and clearance, the invoice checks, the chain per unit,
the statuses and faults.  No database.

Run: .venv/bin/python -m tests.run tests.test_sandbox_zatca
"""
import base64
import os
import unittest
import uuid

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.x509.oid import NameOID
from lxml import etree

from tests.sandbox.zatca_onboarding import build_csr, token_certificate
from tests.sandbox_zatca_case import (
    FIRST_PIH, KINDS, NS, OTHER_VAT, SERVICE, VAT, Document, Unit,
    ZatcaSandboxCase, b64, qr_element, qr_tags, set_text, untlv)


class ZatcaSandboxTestCase(ZatcaSandboxCase):

    def test_onboarding(self):
        "CSR -> compliance -> checks of each type -> production -> renewal"
        pem, key = build_csr(vat=VAT, title='1100')
        refusals = [
            ({'OTP': '111111'}, pem, 'invalid OTP'),
            ({'OTP': '123345'}, build_csr(portal='core')[0],
                "template name 'ZATCA-Code-Signing' is not "
                "'TSTZATCA-Code-Signing' (portal developer-portal)"),
            ({'OTP': '123345'}, build_csr(vat='312345678901234')[0],
                'SAN UID must be a VAT number of 15 digits starting and '
                'ending with 3'),
            ({'OTP': '123345'}, build_csr(title='0001')[0],
                'SAN title must be 1000, 0100 or 1100'),
            ({'OTP': '123345'}, build_csr(serial_name='EGS-1')[0],
                'SAN SN must be 1-…|2-…|3-…'),
            ({'OTP': '123345'}, build_csr(omit=('OU',))[0],
                'subject OU missing'),
            ({'OTP': '123345'}, build_csr(
                    omit=('businessCategory',))[0],
                'SAN businessCategory missing'),
            ({'OTP': '123345'}, build_csr(omit=('template',))[0],
                'template name extension (1.3.6.1.4.1.311.20.2) missing'),
            ({'OTP': '123345'}, build_csr(curve=ec.SECP256R1())[0],
                'key must be EC secp256k1'),
            ]
        for headers, csr, error in refusals:
            response = self.post('compliance', {'csr': b64(csr)},
                headers=headers)
            self.assertEqual((response.status_code, response.json()[
                        'error']), (400, error))
        # the simulation portal wants its own template
        response = self.post('compliance', {'csr': b64(build_csr(
                        portal='simulation')[0])}, portal='simulation',
            headers={'OTP': '123345'})
        self.assertEqual(response.status_code, 200, response.text)

        response = self.post('compliance', {'csr': b64(pem)},
            headers={'OTP': '123345'})
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        self.assertEqual((answer['dispositionMessage'], answer['errors']),
            ('ISSUED', []))
        unit = Unit(answer['binarySecurityToken'], answer['secret'], key,
            token_certificate(answer['binarySecurityToken']), VAT)
        san = unit.certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName)
        request = {'compliance_request_id': answer['requestID']}
        response = self.post('production/csids', request, unit)
        self.assertEqual(response.status_code, 400)
        self.assertIn('compliance checks not passed: standard-388',
            response.json()['error'])
        # a compliance credential cannot report
        response = self.report(unit, self.make(unit))
        self.assertEqual(response.status_code, 401)

        for kind in KINDS:
            document = self.make(unit, kind, icv=7)
            response = self.post('compliance/invoices',
                self.body(document), unit)
            self.assertEqual(response.status_code, 200, response.text)
            status = ('reportingStatus' if kind.startswith('simplified')
                else 'clearanceStatus')
            self.assertEqual(response.json()[status], 'REPORTED'
                if status == 'reportingStatus' else 'CLEARED')
        compliance, = [c for c in self.sb.state(SERVICE)['compliance']
            .values() if c['request_id'] == answer['requestID']]
        self.assertEqual(sorted(compliance['passed']), sorted(KINDS))
        self.assertEqual(self.sb.state(SERVICE)['units'], {})

        response = self.post('production/csids', {
                'compliance_request_id': '1'}, unit)
        self.assertEqual(response.status_code, 400)
        response = self.post('production/csids', request, unit)
        self.assertEqual(response.status_code, 200, response.text)
        production = response.json()
        certificate = token_certificate(production['binarySecurityToken'])
        self.assertEqual(certificate.subject, unit.certificate.subject)
        self.assertEqual(certificate.extensions.get_extension_for_oid(
                san.oid), san)
        self.assertNotEqual(certificate.serial_number,
            unit.certificate.serial_number)
        self.assertEqual(certificate.public_key(),
            unit.certificate.public_key())
        live = Unit(production['binarySecurityToken'], production['secret'],
            key, certificate, VAT)
        response = self.report(live, self.make(live))
        self.assertEqual(response.status_code, 200, response.text)

        # renewal: OTP + a CSR of the same VAT and serial
        serial = san.value.get_values_for_type(x509.DirectoryName)[
            0].get_attributes_for_oid(NameOID.SURNAME)[0].value
        renewal_pem, _ = build_csr(vat=VAT, serial_name=serial)
        response = self.post('production/csids', {'csr': b64(renewal_pem)},
            live, method='PATCH')
        self.assertEqual(response.json()['error'], 'invalid OTP')
        response = self.post('production/csids', {'csr': b64(build_csr(
                        vat=VAT)[0])}, live, method='PATCH',
            headers={'OTP': '123345'})
        self.assertEqual(response.status_code, 400)
        response = self.post('production/csids', {'csr': b64(renewal_pem)},
            live, method='PATCH', headers={'OTP': '123345'})
        self.assertEqual(response.status_code, 200, response.text)
        state = self.sb.state(SERVICE)
        self.assertEqual(len(state['production']), 2)
        self.assertEqual({p['unit'] for p in state['production']},
            {'%s|%s' % (VAT, serial)})
        self.assertEqual(state['calls'], {'compliance': 2,
                'compliance_invoices': 6, 'production': 1, 'renewal': 1,
                'reporting': 1})

    def test_title_limits_types(self):
        "A simplified-only unit needs the three simplified types"
        unit, request_id = self.onboard_compliance(title='0100')
        response = self.post('compliance/invoices',
            self.body(self.make(unit, 'standard-388')), unit)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.codes(response), ['invalid-invoice-type'])
        for kind in ('simplified-388', 'simplified-381'):
            self.post('compliance/invoices', self.body(self.make(unit,
                        kind)), unit)
        request = {'compliance_request_id': request_id}
        response = self.post('production/csids', request, unit)
        self.assertEqual(response.json()['error'],
            'compliance checks not passed: simplified-383')
        self.post('compliance/invoices', self.body(self.make(unit,
                    'simplified-383')), unit)
        response = self.post('production/csids', request, unit)
        self.assertEqual(response.status_code, 200, response.text)

    # -- reporting, chain, statuses --
    def test_reporting_chain(self):
        unit = self.production_unit()
        first = self.make(unit, icv=1)
        response = self.report(unit, first)
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        self.assertEqual((answer['reportingStatus'],
                answer['validationResults']['status'],
                answer['validationResults']['errorMessages']),
            ('REPORTED', 'PASS', []))
        second = self.make(unit, icv=2, pih=first.hash)
        self.assertEqual(self.report(unit, second).status_code, 200)
        # the same document again: already reported, held once
        response = self.report(unit, second)
        self.assertEqual((response.status_code,
                response.json()['reportingStatus']), (409, 'REPORTED'))
        # the same uuid with another hash; refused, yet ICV 3 of the chain
        duplicate = self.make(unit, icv=3, pih=second.hash, uid=second.uuid)
        response = self.report(unit, duplicate)
        self.assertEqual((response.status_code, self.codes(response),
                response.json()['reportingStatus']),
            (400, ['duplicate-uuid'], 'NOT_REPORTED'))
        # a standard invoice is cleared, not reported
        standard = self.make(unit, 'standard-388', icv=4,
            pih=duplicate.hash)
        response = self.report(unit, standard)
        self.assertEqual((response.status_code, self.codes(response)),
            (400, ['invalid-invoice-type']))
        stale = self.make(unit, icv=4, pih=duplicate.hash)
        self.assertEqual(self.codes(self.report(unit, stale)),
            ['invalid-icv'])
        broken = self.make(unit, icv=5, pih=duplicate.hash)
        self.assertEqual(self.codes(self.report(unit, broken)),
            ['invalid-pih'])
        fifth = self.make(unit, icv=5, pih=standard.hash)
        self.assertEqual(self.report(unit, fifth).status_code, 200)
        # a gap: accepted with a warning
        gap = self.make(unit, icv=9, pih=b64(os.urandom(32)))
        response = self.report(unit, gap)
        self.assertEqual((response.status_code, self.codes(response,
                    'warningMessages')), (202, ['icv-gap']))
        self.assertEqual(self.documents(unit), [
                ('1', first.uuid, 'REPORTED', True),
                ('2', second.uuid, 'REPORTED', True),
                ('3', second.uuid, 'NOT_REPORTED', True),
                ('4', standard.uuid, 'NOT_REPORTED', True),
                ('4', stale.uuid, 'NOT_REPORTED', False),
                ('5', broken.uuid, 'NOT_REPORTED', False),
                ('5', fifth.uuid, 'REPORTED', True),
                ('9', gap.uuid, 'REPORTED', True)])
        state = self.sb.state(SERVICE)
        (held,) = state['units'].values()
        self.assertEqual(held['last_icv'], 9)
        self.assertEqual([(d['pih'], d['hash'], d['type'])
                for d in held['documents'][:2]],
            [(FIRST_PIH, first.hash, 'simplified-388'),
                (first.hash, second.hash, 'simplified-388')])
        self.assertEqual(state['accepted'], {first.uuid: 1, second.uuid: 1,
                fifth.uuid: 1, gap.uuid: 1})
        self.assertEqual(self.sb.count(SERVICE, 'reporting', second.uuid,
                'accepted'), 1)
        self.assertEqual(self.sb.count(SERVICE, 'reporting', second.uuid),
            3)
        # a second unit has a chain of its own
        other_unit = self.production_unit(vat=OTHER_VAT)
        self.assertEqual(self.report(other_unit,
                self.make(other_unit)).status_code, 200)
        self.assertEqual(len(self.sb.state(SERVICE)['units']), 2)

    def test_clearance(self):
        unit = self.production_unit()
        document = self.make(unit, 'standard-388')
        response = self.clear(unit, document)
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        self.assertEqual(answer['clearanceStatus'], 'CLEARED')
        cleared = base64.b64decode(answer['clearedInvoice'])
        root = etree.fromstring(cleared)
        from trytond.modules.account_einvoice.signing_zatca import (
            zatca_invoice_hash)
        self.assertEqual(zatca_invoice_hash(cleared), document.hash)
        tags = untlv(qr_element(root).text)
        sent = qr_tags(etree.fromstring(document.xml), unit.certificate,
            False)
        self.assertEqual({k: tags[k] for k in range(1, 8)},
            {k: v.encode() if isinstance(v, str) else v
                for k, v in sent.items() if k < 8})
        stamp = self.sb.state(SERVICE)['stamp_public_key']
        self.assertEqual(b64(tags[8]), stamp)
        load_der_public_key(tags[8]).verify(tags[9],
            base64.b64decode(document.hash), ec.ECDSA(hashes.SHA256()))
        # again: 409 with the copy held
        response = self.clear(unit, document)
        self.assertEqual((response.status_code,
                response.json()['clearanceStatus'],
                response.json()['clearedInvoice']),
            (409, 'CLEARED', answer['clearedInvoice']))
        self.assertEqual(self.sb.state(SERVICE)['accepted'],
            {document.uuid: 1})
        # a simplified invoice is reported, not cleared
        simplified = self.make(unit, icv=2, pih=document.hash)
        response = self.clear(unit, simplified)
        self.assertEqual((response.status_code,
                response.json()['clearanceStatus'], self.codes(response)),
            (400, 'NOT_CLEARED', ['invalid-invoice-type']))
        # clearance switched off: 303, nothing processed; reported instead
        self.sb.set_option(SERVICE, 'clearance_off', True)
        second = self.make(unit, 'standard-381', icv=3, pih=simplified.hash)
        response = self.clear(unit, second, allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        entry = self.sb.received(SERVICE, 'clearance')[-1]
        self.assertEqual((entry['processed'], entry['status']),
            (False, 303))
        response = self.report(unit, second)
        self.assertEqual((response.status_code,
                response.json()['reportingStatus']), (200, 'REPORTED'))

    # -- each check --
    def test_checks(self):
        "Every check's error on the compliance route (no chain)"
        unit, request_id = self.onboard_compliance()
        intruder = self.production_unit(vat=OTHER_VAT)

        def edit(path, value):
            return lambda root: set_text(root, path, value)

        def amount(path, value):
            return edit('cac:LegalMonetaryTotal/cbc:' + path, value)

        def drop(path):
            def remove(root):
                element = root.find(path, NS)
                element.getparent().remove(element)
            return remove

        def usd(root):
            set_text(root, 'cbc:DocumentCurrencyCode', 'USD')
            root.find('cac:TaxTotal/cbc:TaxAmount', NS).set(
                'currencyID', 'USD')

        line = 'cac:InvoiceLine/'
        subtotal = 'cac:TaxTotal/cac:TaxSubtotal/'
        standard = {'kind': 'standard-388'}
        cases = [
            (dict(standard, edit=amount('LineExtensionAmount', '4.10')),
                ['BR-CO-10', 'BR-CO-13']),
            (dict(standard, edit=amount('TaxExclusiveAmount', '4.10')),
                ['BR-CO-13', 'BR-CO-15']),
            (dict(standard, edit=edit('cac:TaxTotal[2]/cbc:TaxAmount',
                        '0.61')), ['BR-CO-14', 'BR-CO-15']),
            (dict(standard, edit=amount('TaxInclusiveAmount', '4.61')),
                ['BR-CO-15']),
            (dict(standard, edit=lambda root: (
                        set_text(root, subtotal + 'cbc:TaxAmount', '0.61'),
                        set_text(root, 'cac:TaxTotal[2]/cbc:TaxAmount',
                            '0.61'))), ['BR-S-09', 'BR-CO-15']),
            (dict(standard, edit=edit(
                        line + 'cac:TaxTotal/cbc:RoundingAmount', '4.59')),
                ['BR-KSA-51']),
            (dict(standard, edit=usd), ['BR-53']),
            ({'kind': 'standard-381', 'edit': drop('cac:BillingReference')},
                ['BR-KSA-56']),
            (dict(kind='simplified-381', edit=drop(
                        'cac:PaymentMeans/cbc:InstructionNote')),
                ['BR-KSA-17']),
            ({'edit': edit('cbc:ProfileID', 'clearance:1.0')},
                ['BR-KSA-EN16931-01']),
            ({'vat': OTHER_VAT}, ['BR-KSA-39']),
            ({'signer': intruder},
                ['invalid-signing-certificate', 'QRCODE_INVALID']),
            ({'qr_edit': lambda tags: tags.update({4: '4.61'})},
                ['QRCODE_INVALID']),
            ({'qr_edit': lambda tags: tags.update(
                        {3: '2022-01-01T00:00:00'})},
                ['invoiceTimeStamp_QRCODE_INVALID']),
            ({'qr_edit': lambda tags: tags.pop(9)}, ['QRCODE_INVALID']),
            ({'pih': 'not a hash'}, ['BR-KSA-26']),
            ]
        for values, codes in cases:
            with self.subTest(codes=codes):
                document = self.make(unit, **values)
                response = self.post('compliance/invoices',
                    self.body(document), unit)
                self.assertEqual((response.status_code,
                        self.codes(response)), (400, codes))
                self.assertEqual(response.json()['clearanceStatus'
                        if 'standard' in values.get('kind', '')
                        else 'reportingStatus'],
                    'NOT_CLEARED' if 'standard' in values.get('kind', '')
                    else 'NOT_REPORTED')

        good = self.make(unit)
        signed = etree.fromstring(good.xml)
        set_text(signed, './/ds:SignatureValue', b64(intruder.key.sign(
                    base64.b64decode(good.hash), ec.ECDSA(hashes.SHA256()))))
        forged = Document(etree.tostring(signed), good.hash, good.uuid)
        tampered = Document(good.xml.replace(b'>231.15<', b'>231.16<'),
            good.hash, good.uuid)
        no_qr = etree.fromstring(good.xml)
        qr = no_qr.xpath("cac:AdditionalDocumentReference[cbc:ID='QR']",
            namespaces=NS)[0]
        qr.getparent().remove(qr)
        doctype = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "a">]>'
            + good.xml.split(b'?>', 1)[1])
        bodies = [
            (self.body(good, invoiceHash=b64(b'0' * 32)),
                ['invalid-invoice-hash']),
            (self.body(good, uuid=str(uuid.uuid4())), ['invalid-uuid']),
            (self.body(forged), ['invalid-signature', 'QRCODE_INVALID']),
            # TaxInclusiveAmount and PayableAmount changed after signing
            (self.body(tampered), ['invalid-invoice-hash',
                    'invalid-signature', 'QRCODE_INVALID', 'BR-CO-15']),
            (self.body(Document(etree.tostring(no_qr), good.hash,
                        good.uuid)), ['BR-KSA-27']),
            ({'uuid': good.uuid, 'invoice': b64(good.xml)},
                ['invalid-request']),
            (self.body(good, invoice='@@@'), ['invalid-request']),
            (self.body(good, invoice=b64(b'<Invoice>')),
                ['XSD_ZATCA_INVALID']),
            (self.body(good, invoice=b64(doctype)), ['XSD_ZATCA_INVALID']),
            (self.body(good, invoice=b64(good.xml.replace(
                            b'<cbc:ProfileID>', b'<cbc:Note>x</cbc:Note>'
                            b'<cbc:ProfileID>'))),
                ['XSD_ZATCA_INVALID']),
            ]
        for body, codes in bodies:
            with self.subTest(codes=codes):
                response = self.post('compliance/invoices', body, unit)
                self.assertEqual((response.status_code,
                        self.codes(response)), (400, codes))
        response = self.post('compliance/invoices', self.body(good), unit,
            headers={'Accept-Version': 'V1'})
        self.assertEqual((response.status_code, response.json()['error']),
            (400, 'header Accept-Version: V2 required'))
        self.assertNotIn('validationResults', response.json())
        self.assertEqual(self.sb.state(SERVICE)['compliance'][request_id][
                'passed'], [])

    def test_warnings_and_options(self):
        unit = self.production_unit()
        self.sb.set_clock(offset=25 * 3600)
        first = self.make(unit)
        response = self.report(unit, first)
        self.assertEqual((response.status_code, self.codes(response,
                    'warningMessages'), response.json()['validationResults'][
                    'status'], response.json()['reportingStatus']),
            (202, ['BR-KSA-98'], 'WARNING', 'REPORTED'))
        self.sb.set_clock()
        self.sb.set_option(SERVICE, 'force_warning', 'be warned')
        second = self.make(unit, icv=2, pih=first.hash)
        response = self.report(unit, second)
        self.assertEqual((response.status_code, response.json()[
                    'validationResults']['warningMessages']), (202, [{
                        'type': 'WARNING', 'code': 'SANDBOX-WARNING',
                        'category': 'SANDBOX', 'message': 'be warned',
                        'status': 'WARNING'}]))
        self.sb.set_option(SERVICE, 'force_warning', None)
        third = self.make(unit, icv=3, pih=second.hash)
        self.sb.set_option(SERVICE, 'refuse_uuids', [third.uuid])
        response = self.report(unit, third)
        self.assertEqual((response.status_code, self.codes(response)),
            (400, ['SANDBOX-REFUSED']))
        self.assertEqual(response.json()['validationResults']['errorMessages'
                ][0], {'type': 'ERROR', 'code': 'SANDBOX-REFUSED',
                'category': 'SANDBOX', 'message': 'refused by the sandbox '
                '(option refuse_uuids)', 'status': 'ERROR'})

    def test_faults(self):
        unit = self.production_unit()
        first = self.make(unit)
        # wrong credentials, then injected 401/429/503: nothing processed
        response = self.report(unit._replace(secret='wrong'), first)
        self.assertEqual(response.status_code, 401)
        self.sb.add_fault(SERVICE, 'reporting', 'http_401')
        self.assertEqual(self.report(unit, first).status_code, 401)
        self.sb.add_fault(SERVICE, 'reporting', 'http_429', seconds=7)
        response = self.report(unit, first)
        self.assertEqual((response.status_code,
                response.headers['Retry-After']), (429, '7'))
        self.sb.add_fault(SERVICE, 'reporting', 'http_503')
        self.assertEqual(self.report(unit, first).status_code, 503)
        self.sb.add_fault(SERVICE, 'reporting', 'hang', seconds=1)
        with self.assertRaises(requests.exceptions.Timeout):
            self.report(unit, first, timeout=0.5)
        self.assertEqual(self.sb.state(SERVICE)['accepted'], {})
        # a lost answer: processed, then the resend is "already reported"
        self.sb.add_fault(SERVICE, 'reporting', 'drop_after')
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.report(unit, first)
        self.assertEqual(self.sb.state(SERVICE)['accepted'],
            {first.uuid: 1})
        response = self.report(unit, first)
        self.assertEqual((response.status_code,
                response.json()['reportingStatus']), (409, 'REPORTED'))
        self.assertEqual(self.sb.count(SERVICE, 'reporting', first.uuid,
                'accepted'), 1)
        self.assertEqual(self.sb.state(SERVICE)['calls'], {'reporting': 2})


if __name__ == '__main__':
    unittest.main()
