# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The FECAEDetRequest of one invoice: what WSFEv1 is told about it."""
import re
from collections import defaultdict
from decimal import Decimal

from lxml import etree

from trytond.i18n import gettext

from . import afip
from .afip import E, wsfe_tag


class Voucher:
    "What AFIP is told about one invoice (amounts in its currency)"

    def __init__(self, invoice, cuit, number=None):
        self.invoice = invoice
        self.cuit = cuit
        self.number = number or invoice.ar_voucher_number
        self.errors = []
        self.compute()

    def compute(self):
        invoice = self.invoice
        sign = -1 if invoice.total_amount < 0 else 1
        self.sign = sign
        self.type = int(invoice.ar_voucher_type or 0)
        self.klass = afip.VOUCHER_CLASS.get(self.type)
        neto = iva = exempt = not_taxed = tributes_total = Decimal(0)
        ivas = defaultdict(lambda: [Decimal(0), Decimal(0)])
        tributes = defaultdict(lambda: [Decimal(0), Decimal(0), None])
        for line in invoice.taxes:
            tax = line.tax
            kind = tax.ar_kind if tax else None
            base, value = line.base * sign, line.amount * sign
            if kind == 'iva':
                if not tax.ar_iva_id:
                    self.errors.append(gettext(
                            'account_einvoice_ar.msg_tax_iva_id',
                            tax=tax.rec_name))
                    continue
                ivas[tax.ar_iva_id][0] += base
                ivas[tax.ar_iva_id][1] += value
                neto += base
                iva += value
            elif kind == 'exempt':
                exempt += base
            elif kind == 'not_taxed':
                not_taxed += base
            elif kind == 'tribute':
                rate = (tax.rate or Decimal(0)) * 100
                key = (tax.ar_tribute_id or '99', rate)
                tributes[key][0] += base
                tributes[key][1] += value
                tributes[key][2] = tax.name
                tributes_total += value
            else:
                self.errors.append(gettext(
                        'account_einvoice_ar.msg_tax_kind',
                        tax=tax.rec_name if tax else line.description))
        untaxed = invoice.untaxed_amount * sign
        total = invoice.total_amount * sign
        # lines carrying no IVA tax at all are not taxed
        not_taxed += untaxed - neto - exempt - not_taxed
        if self.klass == 'C':
            if iva:
                self.errors.append(gettext(
                        'account_einvoice_ar.msg_class_c_iva'))
            neto, iva, exempt, not_taxed = untaxed, Decimal(0), 0, 0
            ivas = {}
        self.amounts = {
            'ImpTotal': total,
            'ImpTotConc': not_taxed,
            'ImpNeto': neto,
            'ImpOpEx': exempt,
            'ImpTrib': tributes_total,
            'ImpIVA': iva,
            }
        self.ivas = sorted(ivas.items())
        self.tributes = sorted(tributes.items())

    @property
    def document(self):
        invoice = self.invoice
        if invoice.ar_document_type:
            return int(invoice.ar_document_type), int(
                invoice.ar_document_number or 0)
        return afip.WITHOUT_DOCUMENT

    def currency(self):
        invoice = self.invoice
        code = afip.CURRENCIES.get(invoice.currency.code)
        if code == 'PES':
            return code, Decimal(1)
        return code, invoice.ar_currency_rate or Decimal(0)

    def service_dates(self):
        invoice = self.invoice
        if invoice.ar_concept in {'2', '3'}:
            due = invoice.ar_payment_due_date or invoice.invoice_date
            return (
                invoice.ar_service_start or invoice.invoice_date,
                invoice.ar_service_end or invoice.invoice_date,
                due)
        if self.type in afip.FCE_INVOICES:
            # FCE MiPyME: FchVtoPago whatever the concept
            return None, None, invoice.ar_payment_due_date
        return None, None, None

    def fields(self):
        "The scalar fields, as strings, in the WSDL's order"
        invoice = self.invoice
        doc_type, doc_number = self.document
        start, end, due = self.service_dates()
        currency, rate = self.currency()
        values = {
            'Concepto': invoice.ar_concept or '1',
            'DocTipo': str(doc_type),
            'DocNro': str(doc_number),
            'CbteDesde': str(self.number or 0),
            'CbteHasta': str(self.number or 0),
            'CbteFch': afip.afip_date(invoice.invoice_date),
            }
        for name in ['ImpTotal', 'ImpTotConc', 'ImpNeto', 'ImpOpEx',
                'ImpTrib', 'ImpIVA']:
            values[name] = afip.amount(self.amounts[name])
        values.update({
                'FchServDesde': afip.afip_date(start),
                'FchServHasta': afip.afip_date(end),
                'FchVtoPago': afip.afip_date(due),
                'MonId': currency,
                'MonCotiz': f'{Decimal(rate).normalize():f}' if rate else '0',
                'CanMisMonExt': None if currency == 'PES' else (
                    'S' if invoice.ar_paid_in_currency else 'N'),
                'CondicionIVAReceptorId': invoice.ar_receiver_condition,
                })
        return values

    def associated(self):
        original = self.invoice.ar_associated_invoice
        if not original or not original.ar_voucher_number:
            return None
        return {
            'Tipo': original.ar_voucher_type,
            'PtoVta': str(original.ar_pos.number),
            'Nro': str(original.ar_voucher_number),
            'Cuit': self.cuit,
            'CbteFch': afip.afip_date(original.invoice_date),
            }

    def optionals(self):
        "[(Id, Valor)] of Opcionales"
        return [(o.code, o.value) for o in self.invoice.ar_optionals]

    def buyers(self):
        "[(DocTipo, DocNro, Porcentaje)] of Compradores"
        return [(b.document_type, re.sub(r'\D', '', b.document_number or '')
                or '0', afip.amount(b.percentage))
            for b in self.invoice.ar_buyers]

    def period(self):
        "(FchDesde, FchHasta) of PeriodoAsoc, or None"
        invoice = self.invoice
        if invoice.ar_period_start or invoice.ar_period_end:
            return (afip.afip_date(invoice.ar_period_start),
                afip.afip_date(invoice.ar_period_end))
        return None

    def activities(self):
        "[Id] of Actividades"
        activity = self.invoice.ar_activity
        return [str(activity)] if activity else []

    def element(self):
        values = self.fields()
        detail = E.FECAEDetRequest()
        for name, value in values.items():
            if value is not None:
                etree.SubElement(detail, wsfe_tag(name)).text = value
        associated = self.associated()
        if associated:
            detail.append(E.CbtesAsoc(E.CbteAsoc(*[
                            E(wsfe_tag(name), value)
                            for name, value in associated.items()])))
        if self.tributes:
            detail.append(E.Tributos(*[
                        E.Tributo(
                            E.Id(code),
                            E.Desc((desc or '')[:80]),
                            E.BaseImp(afip.amount(base)),
                            E.Alic(afip.amount(rate)),
                            E.Importe(afip.amount(value)))
                        for (code, rate), (base, value, desc)
                        in self.tributes]))
        if self.ivas:
            detail.append(E.Iva(*[
                        E.AlicIva(
                            E.Id(code),
                            E.BaseImp(afip.amount(base)),
                            E.Importe(afip.amount(value)))
                        for code, (base, value) in self.ivas]))
        optionals = self.optionals()
        if optionals:
            detail.append(E.Opcionales(*[
                        E.Opcional(E.Id(code), E.Valor(value))
                        for code, value in optionals]))
        buyers = self.buyers()
        if buyers:
            detail.append(E.Compradores(*[
                        E.Comprador(E.DocTipo(doc_type),
                            E.DocNro(doc_number), E.Porcentaje(percentage))
                        for doc_type, doc_number, percentage in buyers]))
        period = self.period()
        if period:
            start, end = period
            period_element = E.PeriodoAsoc()
            if start:
                period_element.append(E.FchDesde(start))
            if end:
                period_element.append(E.FchHasta(end))
            detail.append(period_element)
        activities = self.activities()
        if activities:
            detail.append(E.Actividades(*[
                        E.Actividad(E.Id(code)) for code in activities]))
        return detail
