# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""SII codes on tax templates and taxes.

The codes do not depend on any Spanish chart: set them on the taxes (or
the templates) of whatever chart the company uses.  The chart update
propagates them from the templates like Tryton's own tax fields, the
surcharge link included (it is a template to template link mapped to the
company's taxes)."""
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval

TAX_KEYS = [
    (None, ""),
    ('S1', "S1 - Subject, not exempt"),
    ('S2', "S2 - Subject, reverse charge"),
    ('E1', "E1 - Exempt (art. 20)"),
    ('E2', "E2 - Exempt (art. 21, exports)"),
    ('E3', "E3 - Exempt (art. 22)"),
    ('E4', "E4 - Exempt (art. 23 and 24)"),
    ('E5', "E5 - Exempt (art. 25, intra-EU deliveries)"),
    ('E6', "E6 - Exempt (other)"),
    ('NS', "NS - Not subject (art. 7, 14, other)"),
    ('NL', "NL - Not subject by location rules (art. 69: services to "
        "EU businesses)"),
    ]
OPERATION_KEYS = [
    (None, ""),
    ('01', "01 - General regime"),
    ('02', "02 - Export / compensations (REAGYP)"),
    ('03', "03 - Used goods, art and antiques"),
    ('04', "04 - Investment gold"),
    ('05', "05 - Travel agencies"),
    ('06', "06 - Groups of entities (advanced)"),
    ('07', "07 - Cash criterion"),
    ('08', "08 - IPSI / IGIC operations"),
    ('09', "09 - Travel agency on behalf of others / intra-EU acquisitions"),
    ('10', "10 - Collections on behalf of third parties"),
    ('11', "11 - Business premises lease subject to withholding"),
    ('12', "12 - Business premises lease not subject to withholding"),
    ('13', "13 - Premises lease (with and without withholding) / "
        "import without DUA"),
    ('14', "14 - Public works certifications (pending VAT)"),
    ('15', "15 - Successive tract supplies (pending VAT)"),
    ('16', "16 - First half of 2017 and invoices before joining the SII"),
    ('17', "17 - OSS / IOSS"),
    ]
EXEMPT_KEYS = {'E1', 'E2', 'E3', 'E4', 'E5', 'E6'}
NOT_SUBJECT_KEYS = {'NS', 'NL'}


class _SIIMixin:
    __slots__ = ()
    sii_tax_key = fields.Selection(TAX_KEYS, "SII Tax Key", sort=False,
        help="How the SII reports the base and amount of this tax.\n"
        "Empty: subject (S1) for a positive rate, left out for a negative "
        "one (withholding).")
    sii_operation_key = fields.Selection(OPERATION_KEYS,
        "SII Operation Key", sort=False,
        help="The special regime or transcendence key "
        "(ClaveRegimenEspecialOTrascendencia) of the invoices using this "
        "tax; empty for the general regime (01).")
    sii_excluded = fields.Boolean("Excluded from SII",
        help="Leave this tax out of the SII breakdown "
        "(e.g. income tax withholding, reverse charge counterpart).")


class TaxTemplate(_SIIMixin, metaclass=PoolMeta):
    __name__ = 'account.tax.template'

    sii_surcharge_tax = fields.Many2One(
        'account.tax.template', "SII Equivalence Surcharge",
        domain=[('account', '=', Eval('account', -1))],
        help="The equivalence surcharge (recargo de equivalencia) tax "
        "charged together with this tax.")

    @classmethod
    def default_sii_excluded(cls):
        return False

    def _get_tax_value(self, tax=None):
        values = super()._get_tax_value(tax=tax)
        for name in ['sii_tax_key', 'sii_operation_key', 'sii_excluded']:
            if not tax or getattr(tax, name) != getattr(self, name):
                values[name] = getattr(self, name)
        return values

    @classmethod
    def create_tax(cls, account_id, company_id, template2account,
            template2tax=None):
        if template2tax is None:
            template2tax = {}
        super().create_tax(
            account_id, company_id, template2account, template2tax)
        Pool().get('account.tax').sii_link_surcharges(
            company_id, template2tax)


class Tax(_SIIMixin, metaclass=PoolMeta):
    __name__ = 'account.tax'

    sii_surcharge_tax = fields.Many2One(
        'account.tax', "SII Equivalence Surcharge",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': (Bool(Eval('template', -1))
                & ~Eval('template_override', False)),
            },
        help="The equivalence surcharge (recargo de equivalencia) tax "
        "charged together with this tax.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for name in ['sii_tax_key', 'sii_operation_key', 'sii_excluded']:
            field = getattr(cls, name)
            field.states = dict(field.states or {})
            field.states['readonly'] = (Bool(Eval('template', -1))
                & ~Eval('template_override', False))

    @classmethod
    def default_sii_excluded(cls):
        return False

    @classmethod
    def update_tax(cls, company_id, template2account, template2tax=None):
        if template2tax is None:
            template2tax = {}
        super().update_tax(company_id, template2account, template2tax)
        cls.sii_link_surcharges(company_id, template2tax)

    @classmethod
    def sii_link_surcharges(cls, company_id, template2tax):
        "Map the surcharge links of the templates onto the company's taxes"
        taxes = cls.search([
                ('company', '=', company_id),
                ('template', '!=', None),
                ('template_override', '=', False),
                ])
        to_write = []
        for tax in taxes:
            surcharge = tax.template.sii_surcharge_tax
            target = template2tax.get(surcharge.id) if surcharge else None
            current = (tax.sii_surcharge_tax.id
                if tax.sii_surcharge_tax else None)
            if target != current:
                to_write.extend(([tax], {'sii_surcharge_tax': target}))
        if to_write:
            cls.write(*to_write)

    def sii_key(self):
        "The effective SII key of the tax ('' when left out)"
        if self.sii_excluded:
            return ''
        if self.sii_tax_key:
            return self.sii_tax_key
        if self.type == 'percentage' and self.rate is not None:
            if self.rate > 0:
                return 'S1'
            if self.rate < 0:
                return ''
        return None
