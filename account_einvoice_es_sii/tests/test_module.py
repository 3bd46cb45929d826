# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from decimal import Decimal

from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


class AccountEinvoiceEsSiiTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Account E-Invoice Spain SII module"
    module = 'account_einvoice_es_sii'

    def _update_chart(self, company):
        pool = Pool()
        Account = pool.get('account.account')
        UpdateChart = pool.get('account.update_chart', type='wizard')
        root, = Account.search([
                ('parent', '=', None), ('company', '=', company.id)])
        session_id, _, _ = UpdateChart.create()
        update = UpdateChart(session_id)
        update.start.account = root
        update.transition_update()

    @with_transaction()
    def test_tax_codes_propagated_from_templates(self):
        "SII codes and the surcharge link follow the templates"
        from trytond.modules.account.tests import create_chart
        pool = Pool()
        TaxTemplate = pool.get('account.tax.template')
        Tax = pool.get('account.tax')
        company = create_company()
        with set_company(company):
            create_chart(company, tax=True)
            with Transaction().set_user(0):
                vat, = TaxTemplate.search([('name', '=', '20% VAT')])
                surcharge = TaxTemplate(name="RE", description="RE",
                    type='percentage', rate=Decimal('0.052'),
                    account=vat.account, invoice_account=vat.invoice_account,
                    credit_note_account=vat.credit_note_account)
                surcharge.save()
                TaxTemplate.write([vat], {
                        'sii_tax_key': 'S1',
                        'sii_operation_key': '01',
                        'sii_surcharge_tax': surcharge.id,
                        })
                withholding = TaxTemplate(name="IRPF", description="IRPF",
                    type='percentage', rate=Decimal('-0.15'),
                    account=vat.account, invoice_account=vat.invoice_account,
                    credit_note_account=vat.credit_note_account,
                    sii_excluded=True)
                withholding.save()
            self._update_chart(company)

            tax, = Tax.search([('template', '=', vat.id)])
            self.assertEqual(tax.sii_tax_key, 'S1')
            self.assertEqual(tax.sii_operation_key, '01')
            self.assertEqual(tax.sii_surcharge_tax.template, surcharge)
            irpf, = Tax.search([('template', '=', withholding.id)])
            self.assertTrue(irpf.sii_excluded)
            self.assertEqual(irpf.sii_key(), '')

            with Transaction().set_user(0):
                TaxTemplate.write([vat], {
                        'sii_tax_key': 'E1',
                        'sii_surcharge_tax': None,
                        })
            self._update_chart(company)
            tax = Tax(tax.id)
            self.assertEqual(tax.sii_tax_key, 'E1')
            self.assertIsNone(tax.sii_surcharge_tax)

            Tax.write([tax], {'template_override': True, 'sii_tax_key': 'S2'})
            self._update_chart(company)
            self.assertEqual(Tax(tax.id).sii_tax_key, 'S2')

    @with_transaction()
    def test_identification(self):
        "NIF, EU VAT and documents become NIF or IDOtro; errors are named"
        from trytond.modules.account_einvoice_es_sii.identification import (
            identify)
        pool = Pool()
        Party = pool.get('party.party')
        Country = pool.get('country.country')
        us = Country(code='US', name="United States")
        us.save()

        def party(*identifiers, country=None):
            party = Party(name="Test",
                addresses=[{'country': country.id if country else None}],
                identifiers=[{'type': t, 'code': c} for t, c in identifiers])
            party.save()
            return identify(party, 'customer')

        result = party(('es_vat', '12345678Z'))
        self.assertEqual((result.nif, result.error), ('12345678Z', None))
        result = party(('eu_vat', 'ES12345678Z'))
        self.assertEqual(result.nif, '12345678Z')
        result = party(('eu_vat', 'DE136695976'))
        self.assertEqual((result.country, result.id_type, result.id),
            ('DE', '02', 'DE136695976'))
        result = party(('eu_vat', 'EL094259216'))
        self.assertEqual(result.country, 'GR')
        result = party(('sii_passport', 'X123'), country=us)
        self.assertEqual((result.country, result.id_type), ('US', '03'))
        result = party(('sii_passport', 'X123'))
        self.assertIn('no country', result.error)
        result = party((None, '12345678X'))
        self.assertEqual(result.error,
            "The customer's tax identifier 12345678X is not a valid "
            "Spanish NIF (wrong check letter or digit).")
        result = party((None, 'B1234567'))
        self.assertIsNone(result)
        self.assertIsNone(party())


del ModuleTestCase
