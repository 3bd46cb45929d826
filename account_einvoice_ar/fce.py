# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Factura de Crédito Electrónica MiPyME (FCE, RG 4367).

An invoice to a large company obliged to receive FCE (``ar_fce_receiver``)
whose total in pesos reaches the threshold is issued as FCE (types 201,
206, 211) with the issuer's CBU or alias and the transfer system; its
credit and debit notes are FCE notes (202/203, 207/208, 212/213) saying
whether they cancel an FCE the buyer rejected.  Decided when posting."""
import re
from decimal import Decimal

from stdnum.ar import cbu as stdcbu

from trytond import config
from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from . import afip
from .configuration import SERVICE
from .exceptions import FCEConfigurationError

TRANSFER_CODES = {c for c, _ in afip.TRANSFER_SYSTEMS if c}


def default_threshold():
    "Option fce_threshold of [account_einvoice_ar], else RG 4367's amount"
    value = config.get('account_einvoice_ar', 'fce_threshold', default=None)
    return Decimal(value) if value else afip.FCE_THRESHOLD


def valid_alias(alias):
    "A CBU alias: 6 to 20 letters, digits, dots or hyphens"
    return bool(re.fullmatch(r'[A-Za-z0-9.\-]{6,20}', alias or ''))


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    ar_fce_receiver = fields.Boolean("Obliged to Receive FCE",
        help="A large company in AFIP's registry of FCE MiPyME receivers: "
        "its invoices from the FCE threshold are FCE MiPyME.")

    @classmethod
    def default_ar_fce_receiver(cls):
        return False


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    ar_fce_threshold = fields.Numeric("FCE Threshold", digits=(16, 2),
        states={'invisible': Eval('service') != SERVICE},
        help="Total in pesos from which an invoice to a party obliged to "
        "receive FCE is an FCE MiPyME.")
    ar_cbu = fields.Char("CBU", size=22,
        states={'invisible': Eval('service') != SERVICE},
        help="The bank account (22 digits) FCE MiPyME invoices are paid "
        "into (Opcional 2101).")
    ar_cbu_alias = fields.Char("CBU Alias", size=20,
        states={'invisible': Eval('service') != SERVICE},
        help="The alias of that account (Opcional 2102), sent when no CBU "
        "is set.")
    ar_transfer_system = fields.Selection(
        afip.TRANSFER_SYSTEMS, "Transfer System",
        states={'invisible': Eval('service') != SERVICE},
        help="Where the FCE MiPyME invoices are transferred (Opcional 27).")

    @classmethod
    def default_ar_fce_threshold(cls):
        return default_threshold()

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        if field_names & {'ar_cbu', 'ar_cbu_alias'}:
            for record in records:
                record.check_ar_cbu()

    def check_ar_cbu(self):
        if self.ar_cbu and not stdcbu.is_valid(self.ar_cbu):
            raise FCEConfigurationError(gettext(
                    'account_einvoice_ar.msg_cbu_invalid', cbu=self.ar_cbu))
        if self.ar_cbu_alias and not valid_alias(self.ar_cbu_alias):
            raise FCEConfigurationError(gettext(
                    'account_einvoice_ar.msg_cbu_alias_invalid',
                    alias=self.ar_cbu_alias))


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    ar_fce = fields.Boolean("FCE MiPyME",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="Factura de Crédito Electrónica MiPyME: set when posting an "
        "invoice to a party obliged to receive it from the threshold, and "
        "its notes; set it on a draft to force it.")
    ar_fce_cancellation = fields.Boolean("Cancels a Rejected FCE",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="An FCE MiPyME credit or debit note cancelling an FCE the "
        "buyer rejected (Opcional 22).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # FchVtoPago is required on FCE invoices, whatever the concept
        states = dict(cls.ar_payment_due_date.states)
        states['invisible'] = states['invisible'] & ~Eval('ar_fce')
        cls.ar_payment_due_date.states = states

    @classmethod
    def default_ar_fce(cls):
        return False

    @classmethod
    def default_ar_fce_cancellation(cls):
        return False

    def ar_set_voucher_data(self, configuration):
        super().ar_set_voucher_data(configuration)
        if not self.ar_voucher_type:
            return
        code = int(self.ar_voucher_type)
        if code in afip.NOTES:
            original = self.ar_associated_invoice
            fce = self.ar_fce or bool(original and int(
                    original.ar_voucher_type or 0) in afip.FCE_INVOICES)
        else:
            fce = self.ar_fce or self.ar_fce_due(configuration)
        if not fce:
            return
        self.ar_fce = True
        self.ar_voucher_type = str(afip.fce_type(code))
        optionals = []
        if code in afip.NOTES:
            optionals.append((afip.OPTIONAL_CANCELLATION,
                    'S' if self.ar_fce_cancellation else 'N'))
        else:
            if not self.ar_payment_due_date:
                Date = Pool().get('ir.date')
                self.ar_payment_due_date = self._ar_payment_due(
                    self.invoice_date or Date.today())
            if configuration.ar_cbu:
                optionals.append((afip.OPTIONAL_CBU, configuration.ar_cbu))
            elif configuration.ar_cbu_alias:
                optionals.append(
                    (afip.OPTIONAL_ALIAS, configuration.ar_cbu_alias))
            if configuration.ar_transfer_system:
                optionals.append((afip.OPTIONAL_TRANSFER,
                        configuration.ar_transfer_system))
        self._ar_add_optionals(optionals)
        if code not in afip.NOTES:
            self._ar_check_fce_account()

    def _ar_check_fce_account(self):
        """Refuse to post an FCE invoice that cannot name the account it is
        paid into nor the transfer system (fixed once posted)"""
        codes = {o.code for o in self.ar_optionals if (o.value or '').strip()}
        if (not codes & {afip.OPTIONAL_CBU, afip.OPTIONAL_ALIAS}
                or afip.OPTIONAL_TRANSFER not in codes):
            raise FCEConfigurationError(gettext(
                    'account_einvoice_ar.msg_fce_posting_account',
                    invoice=self.rec_name, party=self.party.rec_name))

    def ar_fce_due(self, configuration):
        "Whether the invoice must be an FCE: obliged receiver, threshold"
        if not self.party or not self.party.ar_fce_receiver:
            return False
        threshold = configuration.ar_fce_threshold
        if threshold is None:
            threshold = default_threshold()
        rate = Decimal(1)
        if self.currency != self.company.currency:
            rate = self.ar_currency_rate or Decimal(0)
        return abs(self.total_amount or 0) * rate >= threshold

    def _ar_add_optionals(self, optionals):
        "Add the automatic optional fields the user did not give"
        Optional = Pool().get('account.einvoice.ar.invoice.optional')
        present = {o.code for o in self.ar_optionals}
        if present & {afip.OPTIONAL_CBU, afip.OPTIONAL_ALIAS}:
            present |= {afip.OPTIONAL_CBU, afip.OPTIONAL_ALIAS}
        added = [Optional(code=code, value=value, automatic=True)
            for code, value in optionals if code not in present]
        if added:
            self.ar_optionals = list(self.ar_optionals) + added

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('ar_fce', False)
        return super().copy(invoices, default=default)


def check_fce(invoice):
    "The refusal of an FCE MiPyME voucher, or None"
    code = int(invoice.ar_voucher_type)
    if code not in afip.FCE_TYPES:
        return None
    optionals = {o.code: (o.value or '').strip()
        for o in invoice.ar_optionals}
    if code in afip.FCE_NOTES:
        original = invoice.ar_associated_invoice
        if not original or int(
                original.ar_voucher_type or 0) not in afip.FCE_INVOICES:
            return LocalMessage('account_einvoice_ar.msg_fce_note_original',
                invoice=invoice.rec_name,
                original=original.rec_name if original else '-')
        if optionals.get(afip.OPTIONAL_CANCELLATION) not in {'S', 'N'}:
            return LocalMessage('account_einvoice_ar.msg_fce_cancellation',
                invoice=invoice.rec_name)
        return None
    if not invoice.ar_payment_due_date:
        return LocalMessage('account_einvoice_ar.msg_fce_due_date',
            invoice=invoice.rec_name)
    cbu = optionals.get(afip.OPTIONAL_CBU)
    alias = optionals.get(afip.OPTIONAL_ALIAS)
    if not cbu and not alias:
        return LocalMessage('account_einvoice_ar.msg_fce_cbu_missing',
            invoice=invoice.rec_name)
    if cbu and not stdcbu.is_valid(cbu):
        return LocalMessage('account_einvoice_ar.msg_fce_cbu_wrong',
            invoice=invoice.rec_name, cbu=cbu)
    if alias and not valid_alias(alias):
        return LocalMessage('account_einvoice_ar.msg_fce_alias_wrong',
            invoice=invoice.rec_name, alias=alias)
    if optionals.get(afip.OPTIONAL_TRANSFER) not in TRANSFER_CODES:
        return LocalMessage('account_einvoice_ar.msg_fce_transfer_system',
            invoice=invoice.rec_name)
