# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import io
import zipfile

from trytond import config
from trytond.modules.account_einvoice.exceptions import ConfigurationError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

SECTION = 'account_einvoice_es_verifactu'


class AccountEinvoiceEsVerifactuTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Account E-Invoice Spain VERI*FACTU module"
    module = 'account_einvoice_es_verifactu'

    def _configuration(self, service='es_verifactu'):
        Configuration = Pool().get('account.einvoice.configuration')
        company = create_company()
        configuration = Configuration(company=company, service=service,
            environment='staging')
        configuration.save()
        return configuration

    def _declaration(self, configuration):
        "The text content of the declaración responsable"
        Declaration = Pool().get(
            'account.einvoice.es_verifactu.declaration', type='report')
        with set_company(configuration.company):
            extension, data, _, name = Declaration.execute(
                [configuration.id], {})
        self.assertEqual(extension, 'odt')
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            return package.read('content.xml').decode('utf-8')

    def _set_producer(self, name, nif):
        for option, value in [('producer_name', name), ('producer_nif', nif)]:
            config.set(SECTION, option, value)
            self.addCleanup(config.set, SECTION, option, '')

    @with_transaction()
    def test_declaration_test_producer(self):
        "Without a declared producer the declaration is for tests only"
        from trytond.modules.account_einvoice_es_verifactu import system
        configuration = self._configuration()
        content = self._declaration(configuration)

        name, nif = system.TEST_PRODUCER
        for value in [system.SYSTEM_NAME, system.VERSION, name, nif,
                'Real Decreto 1007/2023', 'Orden HAC/1177/2024',
                'artículo 29.2.j)',
                'sólo vale para el entorno de pruebas']:
            self.assertIn(value, content)
        self.assertIn(
            f'(IdSistemaInformatico): </text:span>'
            f'{system.SYSTEM_ID}', content.replace(
                '<text:span text:style-name="Strong">', ''))

    @with_transaction()
    def test_declaration_producer(self):
        "The producer declared by the server operator signs the declaration"
        from trytond.modules.account_einvoice_es_verifactu import system
        if not config.has_section(SECTION):
            config.add_section(SECTION)
        self._set_producer("Integrador Ejemplo SL", 'b12345678')
        configuration = self._configuration()
        content = self._declaration(configuration)

        self.assertIn("Integrador Ejemplo SL", content)
        self.assertIn('B12345678', content)
        self.assertIn(system.VERSION, content)
        self.assertNotIn(system.TEST_PRODUCER[1], content)
        self.assertNotIn('sólo vale para el entorno de pruebas', content)

    @with_transaction()
    def test_declaration_other_service(self):
        "A configuration not on VERI*FACTU has no declaration to show"
        configuration = self._configuration(service='es_sii')
        with self.assertRaisesRegex(ConfigurationError,
                'does not report to VERI\\*FACTU'):
            self._declaration(configuration)


del ModuleTestCase
