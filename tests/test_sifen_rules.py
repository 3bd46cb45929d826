"""The SIFEN local rules (issue 17 item 8): what SIFEN would refuse and
local data decides, each violation an ir.message translated to Spanish.
No database."""
import datetime as dt
import os
import re
from dataclasses import replace

import polib

from tests.sifen_document_case import (
    MODULE, NOW, PLACEHOLDER, D, SifenDataCase)


class SifenRulesTest(SifenDataCase):
    "The violations of each rule, their messages and translations"

    def check(self, data, now=NOW):
        "The violations of data, each with an ir.message and its params"
        violations = self.rules.check(data, now)
        for violation in violations:
            module, id_ = violation.text.id.split('.')
            self.assertEqual(module, 'account_einvoice_py_sifen')
            self.assertEqual(set(PLACEHOLDER.findall(self.messages[id_])),
                set(dict(violation.text.params)), violation)
        return violations

    def codes(self, data, now=NOW):
        return sorted(v.code for v in self.check(data, now))

    def render(self, violation):
        "The English text, as ir.message renders it"
        return self.messages[violation.text.id.split('.')[1]] % dict(
            violation.text.params)

    def test_rules(self):
        from trytond.modules.account_einvoice.local_message import LocalMessage
        I, fe = self.I, self.fe
        for name in ('fe', 'fe_credit', 'fe_innominate', 'nc', 'nd'):
            self.assertEqual(self.rules.check(getattr(self, name), NOW), [],
                name)
        violations = self.check(replace(fe, issuer=replace(
                    fe.issuer, ruc_dv='3')))
        self.assertEqual(violations, [self.rules.Violation(
                    'RUC_DV', 'issuer.ruc_dv', LocalMessage(
                        'account_einvoice_py_sifen.msg_rule_issuer_ruc_dv',
                        ruc='80013884', expected='8', dv='3'))])
        self.assertEqual(self.render(violations[0]), 'The check digit of the '
            'issuer RUC 80013884 is 8, not "3".')
        violation, = self.check(replace(fe, issuer=replace(
                    fe.issuer, ruc='0123')))
        self.assertEqual(self.render(violation), 'The issuer RUC "0123" '
            'must be 3 to 8 digits without the check digit.')
        # without a database gettext gives the message id
        self.assertEqual(self.rules.text(violation), 'party.identifier.code: '
            'account_einvoice_py_sifen.msg_rule_issuer_ruc')
        self.assertEqual(self.codes(replace(fe, receiver=replace(
                        fe.receiver, ruc_dv='1'))), ['RUC_DV'])
        self.assertEqual(self.codes(replace(fe, receiver=replace(
                        fe.receiver, ruc=None))), ['RUC'])
        self.assertEqual(self.codes(replace(fe, receiver=I.ReceiverData(
                        name='Juan Pérez', nature=2, operation_type=2,
                        id_type=1))), ['RECEIVER_ID'])
        self.assertEqual(self.codes(replace(fe, receiver=I.ReceiverData(
                        name='Juan Pérez', nature=2, operation_type=1,
                        id_type=1, id_number='1234567'))), ['OPERATION'])
        self.assertEqual(self.codes(replace(fe, receiver=I.ReceiverData(
                        name='ACME Corp', nature=2, operation_type=4,
                        country='USA', country_name='Estados Unidos',
                        id_type=2, id_number='X123'))), ['ADDRESS'])
        # SIFEN's emission window
        self.assertEqual(self.codes(fe, NOW + dt.timedelta(hours=721)),
            ['1150'])
        self.assertEqual(self.codes(fe, NOW + dt.timedelta(hours=719)), [])
        self.assertEqual(self.codes(fe, NOW - dt.timedelta(hours=121)),
            ['1151'])
        self.assertEqual(self.codes(fe, dt.datetime(
                    2026, 3, 10, 15, 0, tzinfo=dt.timezone.utc)), [])
        # timbrado
        self.assertEqual(self.codes(replace(fe, issuer=replace(
                        fe.issuer, timbrado_start=dt.date(2026, 3, 11)))),
            ['1101'])
        self.assertEqual(self.codes(replace(fe, issuer=replace(
                        fe.issuer, timbrado=None))), ['1101'])
        # lines and totals
        line = fe.lines[0]
        for changed, code in (
                (replace(line, rate=D(0)), 'TAX_RATE'),
                (replace(line, affectation=I.EXEMPT), 'TAX_RATE'),
                (replace(line, affectation=I.PARTLY_TAXED, proportion=D(100),
                        exempt_base=D(0)), 'PROPORTION'),
                (replace(line, tax=D(31000), base=D(299000)), 'LINE_TAX'),
                (replace(line, quantity=D(0)), 'QUANTITY')):
            with self.subTest(code=code):
                self.assertIn(code, self.codes(replace(
                            fe, lines=[changed] + fe.lines[1:])))
        self.assertEqual(self.codes(replace(fe, total=D(401005))), ['TOTAL'])
        self.assertEqual(self.codes(replace(fe, total=D(401002))), [])
        self.assertEqual(self.codes(replace(fe, tax_total=D(30000))),
            ['TAX_TOTAL'])
        self.assertEqual(self.codes(replace(self.fe_credit,
                    instalments=self.fe_credit.instalments[:1])),
            ['INSTALMENTS'])
        # notes
        self.assertEqual(self.codes(replace(self.nc, associated_cdc=None)),
            ['ASSOCIATED'])
        self.assertEqual(self.codes(replace(self.nc,
                    associated_cdc=self.nc_associated[:-1] + str(
                        (int(self.nc_associated[-1]) + 1) % 10))), ['1003'])
        self.assertEqual(self.codes(replace(self.nd, reason=None)),
            ['REASON'])
        self.assertEqual(self.codes(replace(fe, number='123')), ['NUMBER'])
        self.assertEqual(self.codes(replace(fe, currency='USD')), ['RATE'])
        violation, = self.check(replace(fe, total=D(401005)))
        self.assertEqual(self.render(violation), 'The lines add up to '
            '401000, not to the posted total 401005.')
        violation, = self.check(fe, NOW + dt.timedelta(hours=721))
        self.assertEqual(self.render(violation), 'The emission date '
            '2026-03-10 12:00 is more than 720 hours before now: SIFEN '
            'refuses it.')
        violation, = [v for v in self.check(replace(fe, lines=[replace(
                            fe.lines[0], tax=D(31000), base=D(299000))]
                    + fe.lines[1:])) if v.code == 'LINE_TAX']
        self.assertEqual(self.render(violation), 'Line 1 (Servicio de '
            'procesamiento): the IVA 31000 is not 10% of the base 299000.')

    def test_rule_messages(self):
        "Every message of rules.py exists and is translated to Spanish"
        with open(os.path.join(MODULE, 'rules.py')) as fp:
            used = set(re.findall(r"'(msg_rule_\w+)'", fp.read()))
        self.assertGreater(len(used), 50)
        translated = {entry.msgctxt.split(':')[-1]: entry
            for entry in polib.pofile(os.path.join(MODULE, 'locale', 'es.po'))
            if entry.msgstr}
        for message in sorted(used):
            with self.subTest(message=message):
                self.assertIn(message, self.messages)
                self.assertEqual(translated[message].msgid,
                    self.messages[message])
