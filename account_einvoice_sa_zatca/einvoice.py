# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, PYSONEncoder

PORTALS = [
    ('developer-portal', "Developer Portal"),
    ('simulation', "Simulation"),
    ('core', "Production"),
    ]
INVOICE_TYPES = [
    ('1100', "Standard and Simplified"),
    ('1000', "Standard Only"),
    ('0100', "Simplified Only"),
    ]


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    _zatca_states = {
        'invisible': Eval('service') != 'sa_zatca',
        'required': Eval('service') == 'sa_zatca',
        }
    zatca_portal = fields.Selection([(None, "")] + PORTALS, "ZATCA Portal",
        states=_zatca_states,
        help="ZATCA's environment: the developer portal (tests), the "
        "simulation (pre-production) or production (core).")
    zatca_invoice_types = fields.Selection(
        [(None, "")] + INVOICE_TYPES, "ZATCA Invoice Types",
        states=_zatca_states,
        help="The invoices this device (EGS unit) issues: standard (B2B), "
        "simplified (B2C) or both.")
    zatca_solution_name = fields.Char("Solution Name",
        states=_zatca_states,
        help="The name of the solution in the device serial (SN 1-…).")
    zatca_model = fields.Char("Model",
        states=_zatca_states,
        help="The model or version of the device (SN 2-…).")
    zatca_serial = fields.Char("Serial Number",
        states=_zatca_states,
        help="The serial number of the device (SN 3-…), unique per "
        "taxpayer.")
    zatca_branch = fields.Char("Branch",
        states=_zatca_states,
        help="The branch (organization unit) of the certificate; for a VAT "
        "group, the 10-digit TIN of the member.")
    zatca_industry = fields.Char("Industry",
        states=_zatca_states,
        help="The business category of the certificate (e.g. Retail).")
    zatca_location = fields.Char("Location",
        states=_zatca_states,
        help="The registered address of the device (e.g. its short national "
        "address or city).")
    del _zatca_states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.service.selection.append(
            ('sa_zatca', "Saudi Arabia: ZATCA (Fatoora)"))
        cls._buttons.update({
                'zatca_renew': {
                    'invisible': Eval('service') != 'sa_zatca',
                    'depends': ['service'],
                    },
                })

    @classmethod
    @ModelView.button_action('account_einvoice.wizard_onboard')
    def zatca_renew(cls, configurations):
        "Renew the unit's production credential before it is due"
        from .credentials import request_renewal
        for configuration in configurations:
            request_renewal(configuration)

    @classmethod
    def default_zatca_solution_name(cls):
        return 'Tryton'

    @classmethod
    def default_zatca_model(cls):
        return '8.0'

    def get_service(self):
        if self.service == 'sa_zatca':
            from .service import ZatcaService
            return ZatcaService(self)
        return super().get_service()


class Submission(metaclass=PoolMeta):
    __name__ = 'account.einvoice.submission'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'zatca_correct': {
                    'invisible': ((Eval('state') != 'rejected')
                        | (Eval('service') != 'sa_zatca')),
                    'depends': ['state', 'service'],
                    },
                })

    @classmethod
    @ModelView.button
    def zatca_correct(cls, submissions):
        """Correct rejected invoices the ZATCA way: a draft credit note
        cancelling each (its reason filled in) and a draft copy to fix and
        post as the new invoice; open them"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Action = pool.get('ir.action')
        ModelData = pool.get('ir.model.data')
        invoices = [s.invoice for s in submissions
            if s.state == 'rejected' and s.invoice
            and s.invoice.state in {'posted', 'paid'}]
        if not invoices:
            return
        credits = Invoice.credit(invoices)
        for credit, invoice in zip(credits, invoices):
            credit.zatca_corrected_invoice = invoice
            credit.zatca_reason = gettext(
                'account_einvoice_sa_zatca.msg_correction_reason',
                invoice=invoice.number)
        Invoice.save(credits)
        copies = Invoice.copy(invoices)
        action = Action(ModelData.get_id(
                'account_invoice', 'act_invoice_out_form')).get_action_value()
        action['domain'] = PYSONEncoder().encode(
            [('id', 'in', [i.id for i in credits + copies])])
        action['name'] = gettext(
            'account_einvoice_sa_zatca.msg_correction_action')
        return action
