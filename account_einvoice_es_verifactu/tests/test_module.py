# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import io
import zipfile

from lxml import etree

from trytond import config
from trytond.modules.account_einvoice.exceptions import ConfigurationError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

SECTION = 'account_einvoice_es_verifactu'
TEXT = 'urn:oasis:names:tc:opendocument:xmlns:text:1.0'
TEST_ONLY = 'sólo vale para el entorno de pruebas'


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
        "The paragraphs of the declaración responsable, as plain text"
        Declaration = Pool().get(
            'account.einvoice.es_verifactu.declaration', type='report')
        with set_company(configuration.company):
            extension, data, _, name = Declaration.execute(
                [configuration.id], {})
        self.assertEqual(extension, 'odt')
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            content = etree.fromstring(package.read('content.xml'))
        return [''.join(p.itertext())
            for p in content.iter(f'{{{TEXT}}}p')]

    def _set_producer(self, name, nif):
        if not config.has_section(SECTION):
            config.add_section(SECTION)
        for option, value in [('producer_name', name), ('producer_nif', nif)]:
            config.set(SECTION, option, value)
            self.addCleanup(config.set, SECTION, option, '')

    def assertItem(self, paragraphs, start, value):
        "The paragraph starting with start states value"
        found = [p for p in paragraphs if p.startswith(start)]
        self.assertEqual(found, [f'{start}: {value}'])

    @with_transaction()
    def test_declaration_test_producer(self):
        "Without a declared producer the declaration is for tests only"
        from trytond.modules.account_einvoice_es_verifactu import system
        configuration = self._configuration()
        paragraphs = self._declaration(configuration)

        name, nif = system.TEST_PRODUCER
        self.assertItem(paragraphs, 'a) Nombre del sistema informático',
            system.SYSTEM_NAME)
        self.assertItem(paragraphs, 'b) Código identificador del sistema '
            'informático (IdSistemaInformatico)', system.SYSTEM_ID)
        self.assertItem(paragraphs, 'c) Identificador completo de la versión',
            system.VERSION)
        self.assertItem(paragraphs, 'h) Razón social de la persona o entidad '
            'productora', name)
        self.assertItem(paragraphs, 'i) NIF de la persona o entidad '
            'productora', nif)
        text = '\n'.join(paragraphs)
        for value in ['Real Decreto 1007/2023', 'Orden HAC/1177/2024',
                'artículo 29.2.j)', 'account_einvoice_es_verifactu',
                TEST_ONLY]:
            self.assertIn(value, text)

    @with_transaction()
    def test_declaration_producer(self):
        "The producer declared by the server operator signs the declaration"
        from trytond.modules.account_einvoice_es_verifactu import system
        self._set_producer("Integrador Ejemplo SL", 'b12345678')
        configuration = self._configuration()
        paragraphs = self._declaration(configuration)

        self.assertItem(paragraphs, 'h) Razón social de la persona o entidad '
            'productora', "Integrador Ejemplo SL")
        self.assertItem(paragraphs, 'i) NIF de la persona o entidad '
            'productora', 'B12345678')
        self.assertItem(paragraphs, 'c) Identificador completo de la versión',
            system.VERSION)
        self.assertNotIn(TEST_ONLY, '\n'.join(paragraphs))

    @with_transaction()
    def test_declaration_other_service(self):
        "A configuration not on VERI*FACTU has no declaration to show"
        configuration = self._configuration(service='es_sii')
        with self.assertRaisesRegex(ConfigurationError,
                'does not report to VERI\\*FACTU'):
            self._declaration(configuration)


del ModuleTestCase
