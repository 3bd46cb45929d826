# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What a VERI*FACTU RegistroAlta says about one customer invoice.

Built on the SII's view of the invoice (:mod:`account_einvoice_es_sii.facts`)
so both read the same AEAT keys on taxes: the SII tax key gives the
CalificacionOperacion (S1, S2; NS and NL become N1 and N2) or the
OperacionExenta (E1-E6), the SII operation key the ClaveRegimen.  Unlike
the SII, the breakdown is never split into goods and services.

``errors`` holds the local checks: messages naming the invoice and the
field, so that the AEAT's refusal is the exception."""
from dataclasses import dataclass
from decimal import Decimal

from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.modules.account_einvoice_es_sii.facts import (
    CENT, MAX_AMOUNT, ZERO, SIIInvoice, number_of, round2)
from trytond.modules.account_einvoice_es_sii.identification import company_nif
from trytond.pool import Pool

MODULE = 'account_einvoice_es_verifactu'
SIMPLIFIED = {'F2', 'R5'}
# Destinatarios must be given for these, must not for F2 and R5
IDENTIFIED = {'F1', 'F3', 'R1', 'R2', 'R3', 'R4'}
MAX_LINES = 12
MAX_NUMBER = 60
# ClaveRegimen values of SuministroInformacion.xsd (VERI*FACTU)
REGIMES = {
    '01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '14',
    '15', '17', '18', '19', '20', '21'}
NOT_SUBJECT = {'NS': 'N1', 'NL': 'N2'}
MACRODATO = Decimal('100000000')
# SII messages of the shared breakdown computation told for VERI*FACTU
SII_MESSAGES = {
    'account_einvoice_es_sii.msg_tax_line_without_tax':
        MODULE + '.msg_tax_line_without_tax',
    'account_einvoice_es_sii.msg_tax_key_missing':
        MODULE + '.msg_tax_key_missing',
    'account_einvoice_es_sii.msg_surcharge_alone':
        MODULE + '.msg_surcharge_alone',
    }


def msg(name, **params):
    return LocalMessage(f'{MODULE}.{name}', **params)


@dataclass
class BreakdownLine:
    "One DetalleDesglose; None leaves the element out"
    regime: str
    qualification: str = None
    exemption: str = None
    rate: Decimal = None
    base: Decimal = ZERO
    quota: Decimal = None
    re_rate: Decimal = None
    re_quota: Decimal = None
    tax: str = '01'


@dataclass
class InvoiceId:
    "IDFacturaRectificada / IDFacturaSustituida"
    nif: str
    number: str
    date: object


class VerifactuInvoice(SIIInvoice):
    "The VERI*FACTU view of one customer invoice"

    def __init__(self, invoice):
        super().__init__(invoice)
        self.errors = [self._told(e) for e in self.errors]
        self._breakdown_errors = bool(self.errors)
        self.issuer_nif = company_nif(invoice.company)
        self.issuer_name = (invoice.company.party.name or '-')[:120]
        self.counterpart_name = (invoice.party.name or '-')[:120]
        self._originals = self._origin_invoices()
        self.type = self._invoice_type()
        self.rectification_type = None
        self._rectified, self.substituted = [], []
        self.rectification_amounts = None
        if self.type.startswith('R'):
            self.rectification_type = getattr(
                invoice, 'verifactu_rectification_type', None) or 'I'
            self._rectified = self._ids(self._originals)
            if self.rectification_type == 'S':
                self.rectification_amounts = self._rectified_amounts()
        elif self.type == 'F3':
            self.substituted = self._ids(self._originals)
        operation_date = getattr(invoice, 'verifactu_operation_date', None)
        self.operation_date = (operation_date
            if operation_date and operation_date != self.date else None)
        self.lines = self._lines()
        self.cuota_total = sum(((l.quota or ZERO) + (l.re_quota or ZERO)
                for l in self.lines), ZERO)
        self.importe_total = sum(((l.quota or ZERO) + (l.re_quota or ZERO)
                + l.base for l in self.lines), ZERO)
        self.macrodato = abs(self.importe_total) >= MACRODATO
        self._check_verifactu()

    @property
    def split(self):
        return False

    @property
    def rectified(self):
        "The InvoiceIds of FacturasRectificadas"
        return self._rectified

    @property
    def name(self):
        "How the messages name the invoice"
        return self.invoice.rec_name

    @property
    def destinatario(self):
        "The counterpart identified in Destinatarios (None for F2 and R5)"
        if self.type in SIMPLIFIED:
            return None
        return self.counterpart

    def _told(self, error):
        if isinstance(error, LocalMessage) and error.id in SII_MESSAGES:
            return LocalMessage(SII_MESSAGES[error.id], invoice=self.name,
                **dict(error.params))
        return error

    def _check(self):
        "Replaced by _check_verifactu, run once everything is known"

    # -- type and related invoices ------------------------------------------
    def _origin_invoices(self):
        "The other invoices the lines come from (credited, substituted)"
        Line = Pool().get('account.invoice.line')
        result = []
        for line in self.invoice.lines:
            origin = getattr(line, 'origin', None)
            if isinstance(origin, Line) and origin.invoice:
                original = origin.invoice
                if original != self.invoice and original not in result:
                    result.append(original)
        return result

    def _invoice_type(self):
        type_ = self.type
        simplified = [o for o in self._originals
            if o.sii_invoice_type in SIMPLIFIED]
        if type_.startswith('R'):
            if simplified:
                return 'R5'
        elif type_ == 'F1' and simplified and len(simplified) == len(
                self._originals):
            # a complete invoice issued in place of simplified ones
            return 'F3'
        return type_

    def _ids(self, invoices):
        return [InvoiceId(self.issuer_nif, number_of(i), i.invoice_date)
            for i in invoices if number_of(i) and i.invoice_date]

    def _rectified_amounts(self):
        "(BaseRectificada, CuotaRectificada, CuotaRecargoRectificado)"
        base = quota = surcharge = ZERO
        for original in self._originals:
            for line in VerifactuInvoice(original).lines:
                base += line.base
                quota += line.quota or ZERO
                surcharge += line.re_quota or ZERO
        return base, quota, surcharge if surcharge else None

    # -- breakdown ---------------------------------------------------------
    def _lines(self):
        regime = self.operation_key
        lines = []
        for block in self.blocks.values():
            for detail in block.details.values():
                if detail.key == 'S2':
                    # the customer accounts for the VAT (reverse charge)
                    lines.append(BreakdownLine(regime, 'S2', rate=ZERO,
                            base=detail.base, quota=ZERO))
                    continue
                lines.append(BreakdownLine(regime, detail.key,
                        rate=detail.rate, base=detail.base,
                        quota=detail.quota, re_rate=detail.re_rate,
                        re_quota=detail.re_quota))
            for cause, base in sorted(block.exempt.items()):
                lines.append(BreakdownLine(regime, exemption=cause,
                        base=base))
            for key, base in [('NS', block.not_subject),
                    ('NL', block.location)]:
                if base:
                    lines.append(BreakdownLine(regime, NOT_SUBJECT[key],
                            base=base))
        if not lines:
            lines.append(BreakdownLine(regime, 'N1'))
        return lines

    # -- local checks ------------------------------------------------------
    def _check_verifactu(self):
        errors, name = self.errors, self.name
        if not self.issuer_nif:
            errors.append(msg('msg_issuer_nif_missing', invoice=name,
                    company=self.invoice.company.rec_name))
        if not self.number:
            errors.append(msg('msg_number_missing', invoice=name))
        elif len(self.number) > MAX_NUMBER:
            errors.append(msg('msg_number_too_long', invoice=name,
                    number=self.number, length=len(self.number)))
        counterpart = self.counterpart
        if self.type in IDENTIFIED:
            if counterpart is None:
                errors.append(msg('msg_counterpart_missing', invoice=name,
                        party=self.invoice.party.rec_name, type=self.type))
            elif counterpart.error:
                errors.append(msg('msg_counterpart_invalid', invoice=name,
                        error=counterpart.error))
        if self.type.startswith('R') and not self.rectified:
            errors.append(msg('msg_rectified_missing', invoice=name,
                    type=self.type))
        if self.operation_key not in REGIMES:
            errors.append(msg('msg_regime_not_allowed', invoice=name,
                    key=self.operation_key))
        charged = [d for b in self.blocks.values()
            for d in b.details.values() if d.key == 'S2' and d.quota]
        for detail in charged:
            errors.append(msg('msg_reverse_charge_quota', invoice=name,
                    quota=detail.quota, rate=detail.rate))
        if len(self.lines) > MAX_LINES:
            errors.append(msg('msg_too_many_lines', invoice=name,
                    count=len(self.lines)))
        if abs(self.importe_total) > MAX_AMOUNT:
            errors.append(msg('msg_amount_too_large', invoice=name,
                    amount=self.importe_total))
            return
        if charged or self._breakdown_errors:
            # the breakdown is known to be incomplete
            return
        expected = self._converter(self.invoice.total_amount) - (
            self.excluded_amount)
        tolerance = CENT if self._converter is round2 else Decimal(1)
        if abs(expected - self.importe_total) > tolerance:
            errors.append(msg('msg_total_mismatch', invoice=name,
                    breakdown=self.importe_total, total=expected))
