# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import re

from trytond.model import fields
from trytond.modules.account_einvoice import rows
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import afip

SERVICE = 'ar_afip'


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    ar_pos = fields.Many2One('account.einvoice.ar.pos', "Point of Sale",
        domain=[('company', '=', Eval('company', -1))],
        states={'invisible': Eval('service') != SERVICE},
        help="The default point of sale of the company's invoices.")
    ar_authorize_on_post = fields.Boolean("Authorize on Post",
        states={'invisible': Eval('service') != SERVICE},
        help="Ask for the CAE while posting (point of sale use); when AFIP "
        "does not answer in time the invoice stays queued.")
    ar_post_timeout = fields.Float("Post Timeout (s)",
        states={
            'invisible': ~Eval('ar_authorize_on_post'),
            },
        help="How long posting waits for AFIP's answer.")
    ar_caea = fields.Boolean("CAEA",
        states={'invisible': Eval('service') != SERVICE},
        help="Ask AFIP for the CAEA of each fortnight ahead (contingency and "
        "CAEA points of sale), inform the points of sale without movement.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.service.selection.append((SERVICE, "AFIP/ARCA WSFEv1"))

    @classmethod
    def default_ar_authorize_on_post(cls):
        return False

    @classmethod
    def default_ar_post_timeout(cls):
        return 5.0

    @classmethod
    def default_ar_caea(cls):
        return False

    def get_service(self):
        if self.service == SERVICE:
            from .service import WSFEService
            service = WSFEService(self)
            timeout = Transaction().context.get('ar_einvoice_timeout')
            if timeout:
                service.timeout = timeout
            return service
        return super().get_service()

    def ar_cuit(self):
        "The company's CUIT (from its party, else from the certificate)"
        for identifier in self.company.party.identifiers:
            if identifier.type in afip.CUIT_TYPES:
                return re.sub(r'\D', '', identifier.code)
        if self.certificate_name:
            serial = self.get_certificate().serial_number or ''
            digits = re.sub(r'\D', '', serial)
            if len(digits) == 11:
                return digits
        return None


class Submission(metaclass=PoolMeta):
    __name__ = 'account.einvoice.submission'

    ar_cae_due_date = fields.Date("CAE Due Date", readonly=True,
        states={'invisible': Eval('service') != SERVICE})
    ar_resync = fields.Boolean("Resynchronise", readonly=True,
        states={'invisible': Eval('service') != SERVICE},
        help="Ask AFIP for the last number before numbering it again.")
    ar_retries = fields.Integer("Renumbered", readonly=True,
        states={'invisible': Eval('service') != SERVICE})

    @classmethod
    def default_ar_resync(cls):
        return False

    @classmethod
    def default_ar_retries(cls):
        return 0

    @classmethod
    def _values_written(cls, args):
        super()._values_written(args)
        changed = []
        actions = iter(args)
        for records, values in zip(actions, actions):
            if values.keys() & {'state', 'reference', 'ar_cae_due_date'}:
                changed.extend(int(r) for r in records)
        if changed:
            cls._ar_update_invoices(rows.browse(cls, changed))

    @classmethod
    def _ar_update_invoices(cls, submissions):
        "Copy the CAE (or the loss of the number) onto the invoices"
        Invoice = Pool().get('account.invoice')
        to_write = []
        for submission in submissions:
            if submission.configuration.service != SERVICE:
                continue
            invoice = submission.invoice
            if submission.state in {'accepted', 'accepted_with_errors'}:
                if not submission.reference:
                    continue
                values = {
                    'ar_cae': submission.reference,
                    'ar_cae_due_date': submission.ar_cae_due_date,
                    'ar_authorization': invoice.ar_authorization or 'CAE',
                    'invoice_report_cache': None,
                    'invoice_report_format': None,
                    }
            elif submission.state == 'rejected' and not invoice.ar_cae:
                # AFIP did not take the number: it is not this invoice's
                values = {'ar_voucher_number': None}
            else:
                continue
            to_write.extend(([invoice], values))
        if to_write:
            rows.update(Invoice, *to_write)
