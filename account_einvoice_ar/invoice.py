# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Invoices: what AFIP needs, fixed when posting, and the CAE it gives.

Tryton's own number stays the internal number of the invoice; the legal
number is AFIP's ``PtoVta-Nro`` (``ar_legal_number``), given out when the
invoice is sent and kept once AFIP authorized it with a CAE.
"""
import logging
from decimal import Decimal

from sql import Null

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction, without_check_access

from . import afip, contingency
from .configuration import SERVICE
from .exceptions import VoucherCancelError

logger = logging.getLogger(__name__)
AR_POSTED = {'ar_voucher_number', 'ar_cae', 'ar_cae_due_date',
    'ar_authorization', 'ar_caea_generated'}


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    ar_pos = fields.Many2One('account.einvoice.ar.pos', "Point of Sale",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            })
    ar_voucher_type = fields.Selection(
        afip.VOUCHER_TYPES, "Voucher Type", readonly=True,
        help="Set when posting from the IVA conditions of both parties.")
    ar_voucher_number = fields.Integer("Voucher Number", readonly=True)
    ar_legal_number = fields.Function(
        fields.Char("Legal Number",
            help="The number AFIP authorized: point of sale - number."),
        'get_ar_legal_number', searcher='search_ar_legal_number')
    ar_debit_note = fields.Boolean("Debit Note",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="Report this invoice as a debit note of the associated one.")
    ar_associated_invoice = fields.Many2One(
        'account.invoice', "Associated Voucher",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('type', '=', 'out'),
            ('ar_cae', '!=', None),
            ],
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="The voucher a credit or debit note corrects (CbtesAsoc); "
        "taken from the credited lines when empty.")
    ar_concept = fields.Selection(afip.CONCEPTS, "AFIP Concept",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="Products, services or both; from the products when empty.")
    ar_service_start = fields.Date("Service From",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': ~Eval('ar_concept').in_(['2', '3']),
            })
    ar_service_end = fields.Date("Service To",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': ~Eval('ar_concept').in_(['2', '3']),
            })
    ar_payment_due_date = fields.Date("Payment Due Date",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': ~Eval('ar_concept').in_(['2', '3']),
            })
    ar_receiver_condition = fields.Selection(
        afip.IVA_CONDITIONS, "Receiver IVA Condition",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="From the party when empty.")
    ar_document_type = fields.Char("Document Type", readonly=True)
    ar_document_number = fields.Char("Document Number", readonly=True)
    ar_currency_rate = fields.Numeric("Currency Rate", digits=(16, 6),
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="Pesos per unit of the invoice currency (MonCotiz); from the "
        "currency rates when empty.")
    ar_paid_in_currency = fields.Boolean("Paid in Currency",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="Paid in the same foreign currency (CanMisMonExt).")
    ar_optionals = fields.One2Many(
        'account.einvoice.ar.invoice.optional', 'invoice',
        "AFIP Optional Fields",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="Sent as Opcionales (FEParamGetTiposOpcional codes); the FCE "
        "ones are added when posting.")
    ar_buyers = fields.One2Many(
        'account.einvoice.ar.invoice.buyer', 'invoice', "Buyers",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="The buyers of a voucher issued to several (Compradores), "
        "their percentages adding up to 100.")
    ar_period_start = fields.Date("Associated Period From",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            'required': Bool(Eval('ar_period_end')),
            },
        help="A credit or debit note for a period (PeriodoAsoc) instead "
        "of an associated voucher.")
    ar_period_end = fields.Date("Associated Period To",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            'required': Bool(Eval('ar_period_start')),
            })
    ar_activity = fields.Integer("AFIP Activity",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('type') != 'out',
            },
        help="The issuer's economic activity (FEParamGetActividades Id, "
        "Actividades); from the configuration when empty.")
    ar_cae = fields.Char("CAE", readonly=True)
    ar_cae_due_date = fields.Date("CAE Due Date", readonly=True)
    ar_authorization = fields.Selection([
            (None, ""),
            ('CAE', "CAE"),
            ('CAEA', "CAEA"),
            ], "Authorization", readonly=True,
        help="CAE: authorized online by AFIP.  CAEA: authorized here with "
        "the fortnight's CAEA (in the CAE field), informed to AFIP after.")
    ar_caea_generated = fields.DateTime("Generated with CAEA", readonly=True,
        states={'invisible': Eval('ar_authorization') != 'CAEA'},
        help="When the voucher was authorized here (CbteFchHsGen).")
    ar_qr_url = fields.Function(fields.Char("QR Code URL",
            states={'invisible': ~Bool(Eval('ar_cae'))},
            help="The RG 4892 QR code data for the printed invoice."),
        'get_ar_qr_url')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._check_modify_exclude |= AR_POSTED

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        # The QR code URL moved to account_einvoice's einvoice_qr
        migrate_qr = table_h.column_exist('ar_qr_url')
        super().__register__(module)
        if migrate_qr:
            table = cls.__table__()
            Transaction().connection.cursor().execute(*table.update(
                    [table.einvoice_qr], [table.ar_qr_url],
                    where=(table.einvoice_qr == Null)
                    & (table.ar_qr_url != Null)))
            table_h.drop_column('ar_qr_url')

    @classmethod
    def default_ar_debit_note(cls):
        return False

    @classmethod
    def default_ar_paid_in_currency(cls):
        return False

    @fields.depends('party', 'ar_receiver_condition')
    def on_change_party(self):
        super().on_change_party()
        if self.party and self.party.ar_iva_condition:
            self.ar_receiver_condition = self.party.ar_iva_condition

    def get_ar_legal_number(self, name):
        if self.ar_cae and self.ar_pos:
            return afip.format_number(
                self.ar_pos.number, self.ar_voucher_number)

    @classmethod
    def search_ar_legal_number(cls, name, clause):
        _, operator, value = clause[:3]
        if isinstance(value, str) and '-' in value:
            pos, _, number = value.partition('-')
            if pos.isdigit() and number.isdigit():
                return [
                    ('ar_pos.number', '=', int(pos)),
                    ('ar_voucher_number', operator, int(number)),
                    ]
        if isinstance(value, str) and value.isdigit():
            return [('ar_voucher_number', operator, int(value))]
        return [('id', '=', -1)]

    @property
    def invoice_report_versioned(self):
        # A printed AFIP invoice must carry its CAE and QR code
        versioned = super().invoice_report_versioned
        if versioned and self.ar_voucher_type and not self.ar_cae:
            return False
        return versioned

    def get_ar_qr_url(self, name):
        return self.einvoice_qr if self.ar_voucher_type else None

    # -- posting ---------------------------------------------------------
    @classmethod
    def _ar_configuration(cls, company_id):
        Configuration = Pool().get('account.einvoice.configuration')
        config_id = Configuration.for_company(company_id)
        if config_id:
            configuration = Configuration(config_id)
            if configuration.service == SERVICE:
                return configuration
        return None

    @classmethod
    def _post(cls, invoices):
        to_save = []
        configurations = {}
        for invoice in invoices:
            if invoice.type != 'out' or invoice.ar_voucher_number:
                continue
            company = invoice.company.id
            if company not in configurations:
                configurations[company] = cls._ar_configuration(company)
            configuration = configurations[company]
            if configuration:
                invoice.ar_set_voucher_data(configuration)
                to_save.append(invoice)
        for company, configuration in configurations.items():
            if configuration:
                # numbered under the series' lock, the CAEA of their date
                contingency.authorize(configuration, [i for i in to_save
                        if i.company.id == company])
        if to_save:
            cls.save(to_save)
        super()._post(invoices)

    def ar_set_voucher_data(self, configuration):
        "Fix what AFIP is told, as it is when the invoice is posted"
        pool = Pool()
        Date = pool.get('ir.date')
        if not self.ar_pos:
            self.ar_pos = configuration.ar_pos
        if not self.ar_receiver_condition:
            self.ar_receiver_condition = self.party.ar_condition()
        doc_type, doc_number = self.party.ar_document()
        self.ar_document_type = str(doc_type)
        self.ar_document_number = str(doc_number)
        if self.ar_debit_note:
            kind = 'debit_note'
        elif (self.total_amount or 0) < 0:
            kind = 'credit_note'
        else:
            kind = 'invoice'
        issuer = self.company.party.ar_iva_condition
        if issuer:
            self.ar_voucher_type = str(afip.voucher_type(
                    issuer, self.ar_receiver_condition, kind))
        period = self.ar_period_start or self.ar_period_end
        if (kind != 'invoice' and not self.ar_associated_invoice
                and not period):
            for line in self.lines:
                origin = getattr(line, 'origin', None)
                if (origin and origin.__name__ == 'account.invoice.line'
                        and origin.invoice.ar_voucher_type):
                    self.ar_associated_invoice = origin.invoice
                    break
        if not self.ar_concept:
            goods = services = False
            for line in self.lines:
                if line.type != 'line':
                    continue
                product = getattr(line, 'product', None)
                if product and product.type in {'goods', 'assets'}:
                    goods = True
                else:
                    services = True
            self.ar_concept = (
                '3' if goods and services else '1' if goods else '2')
        date = self.invoice_date or Date.today()
        if self.ar_concept in {'2', '3'}:
            if not self.ar_service_start:
                self.ar_service_start = date
            if not self.ar_service_end:
                self.ar_service_end = date
            if not self.ar_payment_due_date:
                self.ar_payment_due_date = self._ar_payment_due(date)
        if not self.ar_activity:
            self.ar_activity = configuration.ar_activity
        if (self.currency != self.company.currency
                and not self.ar_currency_rate
                # AFIP's rate is asked for before sending (rates.py), but
                # a CAEA voucher is final once posted
                and (configuration.ar_rate_source != 'afip'
                    or (self.ar_pos and self.ar_pos.emission_type == 'caea'))):
            self.ar_currency_rate = self._ar_tryton_rate(date)

    def _ar_tryton_rate(self, date):
        "Pesos per unit of the invoice currency on date, from Tryton's rates"
        Currency = Pool().get('currency.currency')
        with Transaction().set_context(date=date):
            rate = Currency.compute(
                self.currency, Decimal(1), self.company.currency, round=False)
        return rate.quantize(Decimal('0.000001'))

    def _ar_payment_due(self, date):
        "The last maturity date (FchVtoPago)"
        dates = [l.maturity_date for l in self.lines_to_pay
            if l.maturity_date] if self.move else []
        terms = []
        if not dates and self.payment_term:
            try:
                terms = [d for d, _ in self.payment_term.compute(
                        self.total_amount or 0, self.currency, date)]
            except Exception:
                terms = []
        return max(dates or terms or [date])

    @classmethod
    def post(cls, invoices):
        super().post(invoices)
        cls._ar_authorize_now(invoices)

    @classmethod
    def cancel(cls, invoices):
        # AFIP has no cancellation: an authorized voucher (or one that may
        # be) is undone by a credit note.
        for invoice in invoices:
            submission = (invoice.einvoice_submissions[0]
                if invoice.einvoice_submissions else None)
            if (submission
                    and submission.configuration.service == SERVICE
                    and (submission.registered or submission.exchange
                        or submission.needs_query or invoice.ar_cae)):
                raise VoucherCancelError(gettext(
                        'account_einvoice_ar.msg_cancel_reported',
                        invoice=invoice.rec_name))
        super().cancel(invoices)

    @classmethod
    def _ar_authorize_now(cls, invoices):
        """With "authorize on post": ask for the CAE now.  The posted
        invoices and their submissions are committed first; what AFIP does
        not answer in time stays queued for the scheduler."""
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        from trytond.modules.account_einvoice.processing import Processor
        by_configuration = {}
        for invoice in invoices:
            if invoice.type != 'out':
                continue
            configuration = cls._ar_configuration(invoice.company.id)
            if configuration and configuration.ar_authorize_on_post:
                by_configuration.setdefault(configuration, []).append(
                    invoice.id)
        if not by_configuration:
            return
        transaction = Transaction()
        user = transaction.user
        for configuration, ids in by_configuration.items():
            with without_check_access():
                submissions = Submission.search([
                        ('invoice', 'in', ids),
                        ('state', '=', 'pending'),
                        ])
            if not submissions:
                continue
            transaction.commit()
            submission_ids = [s.id for s in submissions]
            with transaction.set_user(0), without_check_access(), \
                    transaction.set_context(
                        ar_einvoice_timeout=configuration.ar_post_timeout
                        or 5.0, ar_posting_user=user):
                try:
                    Processor(configuration, ids=submission_ids).run()
                except Exception:
                    # Never lose the posting: the scheduler takes over.
                    logger.exception("authorize on post failed")
                    transaction.rollback()
                try:
                    # AFIP surely did not take them: the CAEA of the
                    # contingency point of sale
                    contingency.fall_back(configuration, submission_ids)
                except Exception:
                    logger.exception("CAEA contingency failed")
                    transaction.rollback()

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        for name in AR_POSTED | {'ar_voucher_type', 'ar_document_type',
                'ar_document_number'}:
            default.setdefault(name, None)
        default.setdefault('ar_optionals', cls._ar_copy_optionals)
        return super().copy(invoices, default=default)

    @classmethod
    def _ar_copy_optionals(cls, data):
        "The optional fields given by hand (the FCE ones follow posting)"
        Optional = Pool().get('account.einvoice.ar.invoice.optional')
        return [o.id for o in Optional.browse(data.get('ar_optionals') or [])
            if not o.automatic]
