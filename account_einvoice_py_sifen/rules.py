# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The local checks of a DocumentData before posting: what SIFEN would
refuse and local data decides (Manual Técnico v150).

:func:`check` needs no database and returns Violations: ``code`` is
SIFEN's rejection code when SIFEN has one for it (1150, 1151, 1101, 1003…)
else a short name; ``field`` the source of the value (from the data's
``sources``, a line's ``source``, else a path such as ``issuer.ruc``);
``text`` the ir.message ``msg_rule_*`` of the module with its parameters
(a LocalMessage, rendered in the reader's language when str() is called
in a transaction: :func:`text` needs a pool, :func:`check` does not)."""
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from trytond.modules.account_einvoice.local_message import (
    LocalMessage, field_label)

from . import amounts
from . import cdc as cdc_
from .de import INNOMINATE, PRESENCE, REASONS, RECEIVER_ID_TYPES
from .invoice_data import (
    CREDIT_NOTE, DEBIT_NOTE, EXEMPT, EXEMPT_EXONERATED, INVOICE, PARTLY_TAXED,
    TAXED, TYPES)

MODULE = 'account_einvoice_py_sifen'
RUC = re.compile(r'[1-9][0-9]{1,6}[0-9A-D]')
DIGITS = {3: re.compile(r'[0-9]{3}'), 7: re.compile(r'[0-9]{7}'),
    8: re.compile(r'[0-9]{8}'), 9: re.compile(r'[0-9]{9}')}
ID_NUMBER = re.compile(r'[0-9A-Za-z\-]{1,20}')
EMAIL = re.compile(
    r'[0-9a-zA-Z][0-9a-zA-Z.\-_]*@([0-9a-zA-Z][0-9a-zA-Z\-_]*\.)+'
    r'[a-zA-Z]{2,9}')
CURRENCY = re.compile(r'[A-Z]{3}')
#: SIFEN's emission window around its reception
PAST = dt.timedelta(hours=720)
FUTURE = dt.timedelta(hours=120)
#: Paraguay's time (UTC-3), for a now with a time zone
PARAGUAY = dt.timezone(dt.timedelta(hours=-3))
RATES = (Decimal(5), Decimal(10))
#: the messages of the checks shared by both parties
PARTY_MESSAGES = {
    'issuer': {
        'name': 'msg_rule_issuer_name',
        'ruc': 'msg_rule_issuer_ruc',
        'ruc_dv': 'msg_rule_issuer_ruc_dv',
        },
    'receiver': {
        'name': 'msg_rule_receiver_name',
        'ruc': 'msg_rule_receiver_ruc',
        'ruc_dv': 'msg_rule_receiver_ruc_dv',
        },
    }
#: the issuer's 3-digit codes
ISSUER_CODES = (
    ('establishment', 'msg_rule_establishment'),
    ('point', 'msg_rule_point'),
    )
#: the issuer's required texts
ISSUER_TEXTS = (
    ('address', 'msg_rule_issuer_address'),
    ('department_name', 'msg_rule_issuer_department'),
    ('city_name', 'msg_rule_issuer_city'),
    ('activity_code', 'msg_rule_issuer_activity_code'),
    ('activity_name', 'msg_rule_issuer_activity_name'),
    )


@dataclass(frozen=True)
class Violation:
    code: str
    field: object  # a source: (model, field name) or a label/path
    text: LocalMessage  # account_einvoice_py_sifen.msg_rule_*


def _value(value):
    "A value as the messages quote it"
    return '' if value is None else str(value)


def _values(values):
    return ', '.join(str(v) for v in sorted(values))


def _datetime(value):
    return f'{value:%Y-%m-%d %H:%M}'


class _Checker:
    def __init__(self, data, now):
        self.data = data
        if now.tzinfo is not None:
            now = now.astimezone(PARAGUAY).replace(tzinfo=None)
        self.now = now
        self.violations = []
        self.unit = Decimal(1).scaleb(-amounts.digits(data.currency))

    def add(self, code, field, message, **params):
        if isinstance(field, str):
            field = self.data.sources.get(field) or field
        self.violations.append(Violation(
                code, field, LocalMessage(f'{MODULE}.{message}', **params)))

    def add_line(self, code, field, message, index, line, **params):
        "A violation of a line, named by its position and description"
        self.add(code, field, message, line=index,
            description=_value(line.description or line.code), **params)

    def source(self, party, role, name):
        sources = getattr(party, 'sources', None) or {}
        return sources.get(name) or f'{role}.{name}'

    def name(self, party, role):
        field = self.source(party, role, 'name')
        if not party.name or not 4 <= len(party.name.strip()) <= 255:
            self.add('NAME', field, PARTY_MESSAGES[role]['name'],
                name=_value(party.name))

    def ruc(self, party, role):
        messages = PARTY_MESSAGES[role]
        ruc_field = self.source(party, role, 'ruc')
        ruc = (party.ruc or '').strip()
        if not RUC.fullmatch(ruc):
            self.add('RUC', ruc_field, messages['ruc'],
                ruc=_value(party.ruc))
            return
        expected = cdc_.ruc_check_digit(ruc)
        if str(party.ruc_dv or '').strip() != str(expected):
            self.add('RUC_DV', self.source(party, role, 'ruc_dv'),
                messages['ruc_dv'], ruc=ruc, expected=str(expected),
                dv=_value(party.ruc_dv))

    # The document

    def document(self):
        data = self.data
        if data.type not in TYPES:
            self.add('TYPE', 'type', 'msg_rule_type',
                type=_value(data.type), types=_values(TYPES))
        # at posting the number is not given yet (the chain gives it)
        if data.number is not None and (
                not DIGITS[7].fullmatch(data.number) or not int(
                    data.number)):
            self.add('NUMBER', 'number', 'msg_rule_number',
                number=_value(data.number))
        if not CURRENCY.fullmatch(data.currency or ''):
            self.add('CURRENCY', 'currency', 'msg_rule_currency',
                currency=_value(data.currency))
        elif data.currency != 'PYG' and not (data.rate and data.rate > 0):
            self.add('RATE', 'rate', 'msg_rule_rate', currency=data.currency)
        if data.security_code is not None and not (
                DIGITS[9].fullmatch(data.security_code)
                and int(data.security_code)):
            self.add('SECURITY_CODE', 'security_code',
                'msg_rule_security_code', code=_value(data.security_code))
        self.dates()
        if data.type == INVOICE:
            self.invoice()
        elif data.type in {CREDIT_NOTE, DEBIT_NOTE}:
            self.note()

    def dates(self):
        data = self.data
        issued = data.issued
        if issued is None:
            self.add('DATE', 'issued', 'msg_rule_date_missing')
            return
        if issued < self.now - PAST:
            self.add('1150', 'issued', 'msg_rule_date_past',
                date=_datetime(issued), hours=PAST // dt.timedelta(hours=1))
        elif issued > self.now + FUTURE:
            self.add('1151', 'issued', 'msg_rule_date_future',
                date=_datetime(issued),
                hours=FUTURE // dt.timedelta(hours=1))

    def invoice(self):
        data = self.data
        if data.presence not in PRESENCE:
            self.add('PRESENCE', 'presence', 'msg_rule_presence',
                presence=_value(data.presence), values=_values(PRESENCE))
        if data.condition not in {1, 2}:
            self.add('CONDITION', 'condition', 'msg_rule_condition',
                condition=_value(data.condition))
        elif data.condition == 2 and data.instalments:
            instalments = sum(Decimal(i.amount) for i in data.instalments)
            total = amounts.totals(data).dTotGralOpe
            if abs(instalments - total) > self.unit * len(
                    data.instalments):
                self.add('INSTALMENTS', 'instalments',
                    'msg_rule_instalments_total',
                    instalments=str(instalments), total=str(total))
            if len(data.instalments) > 999:
                self.add('INSTALMENTS', 'instalments',
                    'msg_rule_instalments_count')
        elif data.condition == 2 and not (
                data.credit_days and data.credit_days > 0):
            self.add('CREDIT', 'credit_days', 'msg_rule_credit')

    def note(self):
        data = self.data
        if not data.associated_cdc:
            self.add('ASSOCIATED', 'associated_cdc', 'msg_rule_associated')
        elif not cdc_.valid(data.associated_cdc):
            self.add('1003', 'associated_cdc', 'msg_rule_associated_cdc',
                cdc=_value(data.associated_cdc))
        if data.reason not in REASONS:
            self.add('REASON', 'reason', 'msg_rule_reason',
                reason=_value(data.reason), reasons=_values(REASONS))

    # The parties

    def issuer(self):
        issuer = self.data.issuer
        role = 'issuer'
        self.name(issuer, role)
        self.ruc(issuer, role)
        if issuer.taxpayer_type not in {1, 2}:
            self.add('TAXPAYER_TYPE', self.source(
                    issuer, role, 'taxpayer_type'),
                'msg_rule_issuer_taxpayer_type',
                type=_value(issuer.taxpayer_type))
        for name, message in ISSUER_CODES:
            value = getattr(issuer, name)
            if not DIGITS[3].fullmatch(value or ''):
                self.add(name.upper(), self.source(issuer, role, name),
                    message, value=_value(value))
        for name, message in ISSUER_TEXTS:
            if not (getattr(issuer, name) or '').strip():
                self.add('ISSUER', self.source(issuer, role, name), message)
        if not 6 <= len((issuer.phone or '').strip()) <= 15:
            self.add('ISSUER', self.source(issuer, role, 'phone'),
                'msg_rule_issuer_phone', phone=_value(issuer.phone))
        if not EMAIL.fullmatch(issuer.email or ''):
            self.add('ISSUER', self.source(issuer, role, 'email'),
                'msg_rule_issuer_email', email=_value(issuer.email))
        self.timbrado()

    def timbrado(self):
        issuer = self.data.issuer
        field = self.source(issuer, 'issuer', 'timbrado')
        if not DIGITS[8].fullmatch(issuer.timbrado or '') or not int(
                issuer.timbrado or '0'):
            self.add('1101', field, 'msg_rule_timbrado',
                timbrado=_value(issuer.timbrado))
        start = issuer.timbrado_start
        start_field = self.source(issuer, 'issuer', 'timbrado_start')
        if start is None:
            self.add('1101', start_field, 'msg_rule_timbrado_start_missing')
        elif self.data.issued and start > self.data.issued.date():
            self.add('1101', start_field, 'msg_rule_timbrado_start',
                start=f'{start:%Y-%m-%d}',
                date=f'{self.data.issued:%Y-%m-%d}')

    def receiver(self):
        receiver = self.data.receiver
        role = 'receiver'
        self.name(receiver, role)
        if not CURRENCY.fullmatch(receiver.country or ''):
            self.add('COUNTRY', self.source(receiver, role, 'country'),
                'msg_rule_receiver_country',
                country=_value(receiver.country))
        operation = self.source(receiver, role, 'operation_type')
        if receiver.operation_type not in {1, 2, 3, 4}:
            self.add('OPERATION', operation, 'msg_rule_operation_type',
                type=_value(receiver.operation_type))
        if receiver.nature == 1:
            self.ruc(receiver, role)
            if receiver.taxpayer_type not in {1, 2}:
                self.add('TAXPAYER_TYPE', self.source(
                        receiver, role, 'taxpayer_type'),
                    'msg_rule_receiver_taxpayer_type',
                    type=_value(receiver.taxpayer_type))
            if receiver.operation_type == 4:
                self.add('OPERATION', operation, 'msg_rule_taxpayer_b2f')
        elif receiver.nature == 2:
            if receiver.id_type not in RECEIVER_ID_TYPES:
                self.add('RECEIVER_ID', self.source(
                        receiver, role, 'id_type'),
                    'msg_rule_receiver_id_type',
                    type=_value(receiver.id_type),
                    types=_values(RECEIVER_ID_TYPES))
            elif receiver.id_type != INNOMINATE and not ID_NUMBER.fullmatch(
                    receiver.id_number or ''):
                self.add('RECEIVER_ID', self.source(
                        receiver, role, 'id_number'),
                    'msg_rule_receiver_id_number',
                    number=_value(receiver.id_number))
            if receiver.operation_type == 1:
                self.add('OPERATION', operation, 'msg_rule_b2b_taxpayer')
        else:
            self.add('NATURE', self.source(receiver, role, 'nature'),
                'msg_rule_receiver_nature', nature=_value(receiver.nature))
        if receiver.operation_type == 4 and not (
                receiver.address or '').strip():
            self.add('ADDRESS', self.source(receiver, role, 'address'),
                'msg_rule_receiver_address')
        if receiver.email and not EMAIL.fullmatch(receiver.email):
            self.add('EMAIL', self.source(receiver, role, 'email'),
                'msg_rule_receiver_email', email=receiver.email)

    # The lines and totals

    def lines(self):
        data = self.data
        if not data.lines:
            self.add('LINES', 'lines', 'msg_rule_no_lines')
        if len(data.lines) > 999:
            self.add('LINES', 'lines', 'msg_rule_lines_count')
        for index, line in enumerate(data.lines, 1):
            self.line(index, line)
        self.totals()

    def line(self, index, line):
        field = line.source or f'lines[{index}]'

        def add(code, message, **params):
            self.add_line(code, field, message, index, line, **params)
        rate = Decimal(line.rate or 0)
        proportion = Decimal(
            100 if line.proportion is None else line.proportion)
        if not (line.code or '').strip() or not (
                line.description or '').strip():
            add('LINE', 'msg_rule_line_code')
        if not line.quantity or line.quantity <= 0:
            add('QUANTITY', 'msg_rule_line_quantity',
                quantity=_value(line.quantity))
        if any(Decimal(v) < 0 for v in (line.unit_price, line.total,
                    line.base, line.tax, line.exempt_base)):
            add('AMOUNT', 'msg_rule_line_negative')
        if line.affectation == TAXED:
            if rate not in RATES:
                add('TAX_RATE', 'msg_rule_line_taxed_rate', rate=str(rate))
        elif line.affectation == PARTLY_TAXED:
            if rate not in RATES:
                add('TAX_RATE', 'msg_rule_line_partly_taxed_rate',
                    rate=str(rate))
            if not 0 < proportion < 100:
                add('PROPORTION', 'msg_rule_line_proportion',
                    proportion=str(proportion))
        elif line.affectation in {EXEMPT, EXEMPT_EXONERATED}:
            if rate:
                add('TAX_RATE', 'msg_rule_line_exempt_rate', rate=str(rate))
            return
        else:
            add('AFFECTATION', 'msg_rule_line_affectation',
                affectation=_value(line.affectation))
            return
        base, tax = Decimal(line.base), Decimal(line.tax)
        exempt = (Decimal(line.exempt_base)
            if line.affectation == PARTLY_TAXED else Decimal(0))
        if abs(base + tax + exempt - Decimal(line.total)) > self.unit:
            add('LINE_TOTAL', 'msg_rule_line_total', base=str(base),
                tax=str(tax), exempt=str(exempt), total=str(line.total))
        if rate in RATES and abs(base * rate / 100 - tax) > self.unit:
            add('LINE_TAX', 'msg_rule_line_tax', tax=str(tax),
                rate=str(rate), base=str(base))

    def totals(self):
        data = self.data
        if not data.lines:
            return
        totals = amounts.totals(data)
        tolerance = self.unit * len(data.lines)
        if data.total is not None and abs(
                totals.dTotGralOpe - Decimal(data.total)) > tolerance:
            self.add('TOTAL', 'total', 'msg_rule_total',
                lines=str(totals.dTotGralOpe), total=str(data.total))
        if data.tax_total is not None and abs(
                totals.dTotIVA - Decimal(data.tax_total)) > tolerance:
            self.add('TAX_TOTAL', 'tax_total', 'msg_rule_tax_total',
                lines=str(totals.dTotIVA), tax=str(data.tax_total))


def check(data, now):
    """The Violations of data (a DocumentData) when sent at now (naive:
    Paraguay's time, like data.issued; aware: converted)"""
    checker = _Checker(data, now)
    checker.document()
    checker.issuer()
    checker.receiver()
    checker.lines()
    return checker.violations


def text(violation):
    "One line: the field and what is wrong, in the reader's language"
    return f'{field_label(violation.field)}: {violation.text}'


def texts(violations):
    "One line per violation"
    return '\n'.join(text(v) for v in violations)
