"""Spanish translations: the locale/es.po files are complete, load with the
modules, and the client reads the labels, selections and messages in
Spanish.  The Arabic ones of ZATCA's module (locale/ar.po) are complete."""
import glob
import os
import re
import unittest

import polib
from lxml import etree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = [
    'account_einvoice', 'account_einvoice_es_sii', 'account_einvoice_ar',
    'account_einvoice_es_verifactu', 'account_einvoice_sa_zatca',
    'account_einvoice_py_sifen']
#: modules also translated to Arabic (locale/ar.po)
ARABIC_MODULES = ['account_einvoice_sa_zatca']
PLACEHOLDER = re.compile(r'%\(\w+\)[sdr]')
# translation types created for the source language when a module loads
LOADED_TYPES = {'field', 'help', 'selection', 'model'}
# registered only for tests (trytond's test machinery sets Pool.test)
TEST_ONLY = {
    ('selection', 'account.einvoice.configuration,service', name)
    for name in ['Test Authority', 'Test Authority (SOAP 1.2)',
        'Test Chain Authority', 'Test Clearance Authority',
        'Test Local Records', 'Test Asynchronous Authority']
    }


def po_path(module, lang='es'):
    return os.path.join(ROOT, module, 'locale', f'{lang}.po')


class PoFilesTest(unittest.TestCase):
    "The files themselves, without a database"

    def test_complete(self):
        "Every entry is translated, not fuzzy, with the same placeholders"
        for module in MODULES:
            for entry in polib.pofile(po_path(module)):
                with self.subTest(module=module, context=entry.msgctxt):
                    self.assertTrue(entry.msgstr, entry.msgid)
                    self.assertNotIn('fuzzy', entry.flags)
                    self.assertEqual(
                        sorted(PLACEHOLDER.findall(entry.msgstr)),
                        sorted(PLACEHOLDER.findall(entry.msgid)))

    def test_arabic(self):
        "locale/ar.po is complete and translates what the Spanish one does"
        for module in ARABIC_MODULES:
            arabic = polib.pofile(po_path(module, 'ar'))
            for entry in arabic:
                with self.subTest(module=module, context=entry.msgctxt):
                    self.assertTrue(entry.msgstr, entry.msgid)
                    self.assertNotIn('fuzzy', entry.flags)
                    self.assertEqual(
                        sorted(PLACEHOLDER.findall(entry.msgstr)),
                        sorted(PLACEHOLDER.findall(entry.msgid)))
            keys = {(e.msgctxt, e.msgid) for e in arabic}
            self.assertEqual([(e.msgctxt, e.msgid)
                    for e in polib.pofile(po_path(module))
                    if (e.msgctxt, e.msgid) not in keys], [])

    def test_view_strings(self):
        "Every string attribute of the views has an entry"
        for module in MODULES:
            entries = {e.msgid for e in polib.pofile(po_path(module))
                if e.msgctxt.startswith('view:')}
            for path in glob.glob(os.path.join(ROOT, module, 'view', '*.xml')):
                for element in etree.parse(path).iter():
                    for name in ['string', 'sum', 'confirm', 'help']:
                        value = element.get(name)
                        if value:
                            with self.subTest(module=module,
                                    view=os.path.basename(path)):
                                self.assertIn(value, entries)


class SpanishClientTest(unittest.TestCase):
    "The three modules activated in a Spanish database"
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        from trytond.tests import test_tryton
        cls.test_tryton = test_tryton
        test_tryton.drop_db()
        test_tryton.activate_module(MODULES, lang='es')

    def transaction(self):
        from trytond.transaction import Transaction
        return Transaction().start(
            self.test_tryton.DB_NAME, 0, context={'language': 'es'})

    def test_nothing_untranslated(self):
        "Each string of the modules has its Spanish translation loaded"
        from trytond.pool import Pool
        with self.transaction():
            Translation = Pool().get('ir.translation')

            def keys(lang):
                return {(t.module, t.type, t.name, t.res_id, t.src)
                    for t in Translation.search([
                            ('lang', '=', lang),
                            ('module', 'in', MODULES),
                            ('type', 'in', list(LOADED_TYPES)),
                            ])
                    if (t.type, t.name, t.src) not in TEST_ONLY}
            source, spanish = keys('en'), keys('es')
            self.assertTrue(source)
            self.assertEqual(sorted(source - spanish), [])

    def test_fields_and_selections(self):
        "Field labels and selection values read in Spanish"
        from trytond.pool import Pool
        with self.transaction():
            pool = Pool()
            Submission = pool.get('account.einvoice.submission')
            Tax = pool.get('account.tax')
            Invoice = pool.get('account.invoice')
            Party = pool.get('party.party')

            fields = Submission.fields_get(['state', 'registered'])
            self.assertEqual(fields['state']['string'], "Estado")
            self.assertEqual(fields['registered']['string'],
                "Registrada en la administración")
            states = dict(fields['state']['selection'])
            self.assertEqual(states['accepted_with_errors'],
                "Aceptada con errores")
            self.assertEqual(states['cancelled'], "Anulada")

            fields = Tax.fields_get(['sii_operation_key', 'ar_iva_id'])
            self.assertEqual(fields['sii_operation_key']['string'],
                "Clave de régimen SII")
            self.assertEqual(dict(fields['ar_iva_id']['selection'])['4'],
                "10,5 %")

            fields = Invoice.fields_get(['sii_invoice_type', 'ar_pos'])
            self.assertEqual(dict(fields['sii_invoice_type']['selection'])[
                    'F2'], "F2 - Factura simplificada")
            self.assertEqual(fields['ar_pos']['string'], "Punto de venta")

            fields = Party.fields_get(['ar_iva_condition'])
            self.assertEqual(fields['ar_iva_condition']['string'],
                "Condición frente al IVA")

    def test_messages(self):
        "ir.message texts are given in the user's language"
        from trytond.i18n import gettext
        with self.transaction():
            self.assertEqual(
                gettext('account_einvoice.msg_submission_copy'),
                "Las presentaciones no se pueden copiar.")
            self.assertEqual(
                gettext('account_einvoice.msg_certificate_status_expiring',
                    days=12),
                "Caduca en 12 días")
            self.assertEqual(
                gettext('account_einvoice_es_sii.msg_too_many_rates',
                    count=7),
                "La factura tiene 7 tipos de IVA distintos; el SII admite "
                "como máximo 6 por factura.")
            self.assertIn("CUIT",
                gettext('account_einvoice_ar.msg_company_cuit'))
            self.assertTrue(gettext('account_einvoice_ar.msg_company_cuit')
                .startswith("La empresa no tiene CUIT"))

    def test_menus_actions_buttons_views(self):
        "Menus, tabs of the action, buttons and view strings"
        from trytond.pool import Pool
        with self.transaction():
            pool = Pool()
            ModelData = pool.get('ir.model.data')
            Menu = pool.get('ir.ui.menu')
            Domain = pool.get('ir.action.act_window.domain')
            Button = pool.get('ir.model.button')
            Submission = pool.get('account.einvoice.submission')

            def record(Model, module, fs_id):
                return Model(ModelData.get_id(module, fs_id))

            self.assertEqual(
                record(Menu, 'account_einvoice', 'menu_submission_form').name,
                "Presentaciones de factura electrónica")
            self.assertEqual(
                record(Menu, 'account_einvoice_ar', 'menu_pos_form').name,
                "Puntos de venta AFIP")
            self.assertEqual(record(Domain, 'account_einvoice',
                    'act_submission_form_domain_rejected').name, "Rechazada")
            self.assertEqual(record(Button, 'account_einvoice',
                    'submission_reschedule_button').string, "Reprogramar")
            self.assertEqual(record(Button, 'account_einvoice',
                    'submission_send_now_button').string, "Enviar ahora")

            arch = Submission.fields_view_get(view_type='form')['arch']
            self.assertIn('string="Entrega"', arch)
            self.assertIn('string="Registro SII"', arch)


if __name__ == '__main__':
    unittest.main()
