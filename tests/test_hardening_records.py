"""Hardening (issue 9, items 1 and 7): one bad record, or one broken
configuration, never halts reporting; our own messages are read in the
reader's language."""
from tests import tools
from tests.framework_case import FrameworkTestCase
from tests.sii_case import SIITestCase, create_invoice, create_sii_base
from tests.sii_case import setup_configuration as setup_sii_configuration

CONTROL = '\x01'


def run_cron_over_companies():
    "Run the e-invoice cron as ir.cron does, over its companies"
    from trytond.pool import Pool

    def run():
        pool = Pool()
        Cron = pool.get('ir.cron')
        ModelData = pool.get('ir.model.data')
        Cron(ModelData.get_id(
                'account_einvoice', 'cron_send_pending')).run_once()
    tools.call(run)


class PoisonedRecordSIITest(SIITestCase):
    "Two Spanish companies, each with its configuration"

    @classmethod
    def setUpData(cls):
        from trytond.pool import Pool
        super().setUpData()
        cls.other_titular = cls.sandbox.identity('es_other').tax_id
        cls.other = tools.call(create_sii_base, cls.other_titular)
        cls.other_configuration = tools.call(
            setup_sii_configuration, cls.other, cls.sandbox,
            certificate='other', company=cls.other['company'])

        def setup():
            pool = Pool()
            Cron = pool.get('ir.cron')
            ModelData = pool.get('ir.model.data')
            Lang = pool.get('ir.lang')
            cron = Cron(ModelData.get_id(
                    'account_einvoice', 'cron_send_pending'))
            # the first company first: what breaks there must not stop
            # the second one
            cron.companies = [cls.base['company'], cls.other['company']]
            cron.save()
            Lang.load_translations(Lang.search([('code', '=', 'es')]))
        tools.call(setup)

    def tearDown(self):
        from trytond.pool import Pool
        super().tearDown()
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write(
                [Configuration(self.other_configuration)],
                {'last_failure': None, 'last_failure_date': None})

    # -- helpers -----------------------------------------------------------
    def cron(self):
        self.make_due()
        run_cron_over_companies()

    def post_other(self, lines, **kwargs):
        "Post an invoice of the second company; return its id"
        return tools.call(lambda: create_invoice(
                self.other, lines, **kwargs).id,
            company=self.other['company'])

    def poisoned(self):
        """Post an invoice to a new customer whose name holds a control
        character (posting never fails on it: the record cannot be
        prepared, the claim refuses it); return (invoice, party) ids"""
        party = self.new_party(f"Cliente {CONTROL}Raro SL",
            ('es_vat', '00000000T'))
        invoice = self.post([('100', ['iva21'], None)], party=party)
        return invoice, party

    def new_party(self, name, *identifiers):
        from trytond.pool import Pool

        def create():
            Party = Pool().get('party.party')
            party = Party(name=name, addresses=[{}],
                identifiers=[{'type': t, 'code': c} for t, c in identifiers])
            party.save()
            return party.id
        return tools.call(create)

    def number(self, invoice_id):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            return Pool().get('account.invoice')(invoice_id).number

    def read(self, invoice_id, language):
        "(submission message, outcome messages) read in language"
        from trytond.pool import Pool
        with tools.transaction(commit=False, language=language):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice_id)])
            return submission.message, [
                o.message for o in submission.outcomes]

    # -- tests -------------------------------------------------------------
    def test_poisoned_record_refused_alone_over_two_companies(self):
        "A name XML cannot carry refuses its invoice alone, every company"
        good = self.post([('100', ['iva21'], None)])
        poisoned, party = self.poisoned()
        other = self.post_other([('200', ['iva21'], None)])

        self.cron()

        self.assertEqual(self.submission(good)['state'], 'accepted')
        self.assertEqual(self.submission(other)['state'], 'accepted')
        refused = self.submission(poisoned)
        self.assertEqual(refused['state'], 'rejected')
        self.assertEqual(refused['code'], 'LOCAL')
        self.assertEqual(refused['outcomes'], [('local', 'rejected', 'LOCAL')])
        message = refused['message']
        self.assertIn(self.number(poisoned), message)
        self.assertIn('Contraparte/NombreRazon', message)
        self.assertIn('U+0001', message)
        self.assertNotIn('XML compatible', message)
        self.assertIsNone(self.held(poisoned))
        self.assertIsNotNone(self.held(good))
        self.assertRequestsValid()

        # the name corrected, the invoice goes
        from trytond.pool import Pool

        def correct():
            Party = Pool().get('party.party')
            Party.write([Party(party)], {'name': "Cliente Raro SL"})
        tools.call(correct)
        self.reschedule(poisoned)
        self.cron()
        self.assertEqual(self.submission(poisoned)['state'], 'accepted')

    def test_configuration_crash_does_not_stop_the_others(self):
        "An unexpected error of one configuration is recorded on it only"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        first = self.post([('100', ['iva21'], None)])
        other = self.post_other([('200', ['iva21'], None)])
        with tools.transaction():
            Configuration = Pool().get('account.einvoice.configuration')
            table = Configuration.__table__()
            cursor = Transaction().connection.cursor()
            # e.g. the module of its service was removed
            cursor.execute(*table.update([table.service], ['removed'],
                    where=table.id == self.configuration))
        try:
            self.cron()
        finally:
            with tools.transaction():
                cursor = Transaction().connection.cursor()
                cursor.execute(*table.update([table.service], ['es_sii'],
                        where=table.id == self.configuration))

        self.assertEqual(self.submission(other)['state'], 'accepted')
        self.assertEqual(self.submission(first)['state'], 'pending')
        with tools.transaction(commit=False):
            pool = Pool()
            Configuration = pool.get('account.einvoice.configuration')
            Notification = pool.get('res.notification')
            broken = Configuration(self.configuration)
            self.assertIn('internal error', broken.last_failure)
            self.assertIn('removed', broken.last_failure)
            self.assertIsNone(
                Configuration(self.other_configuration).last_failure)
            self.assertTrue(Notification.search(
                    [('description', '=', broken.last_failure)]))

    def test_post_with_control_character(self):
        "Posting never fails because of reporting; free text is cleaned"
        invoice = self.post([('100', ['iva21'], None)],
            description=f"Bad {CONTROL}description")
        self.assertEqual(self.submission(invoice)['state'], 'pending')
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        description = self.record_xml(invoice).findtext(
            './/{*}DescripcionOperacion')
        self.assertEqual(description, "Bad description")

    def test_preview_of_poisoned_record(self):
        "The record as it would be sent is shown with the reason it cannot"
        from trytond.pool import Pool
        poisoned, _ = self.poisoned()
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', poisoned)])
            self.assertIn('Contraparte/NombreRazon', submission.sii_payload)

    def test_local_refusal_in_reader_language(self):
        "A local refusal written by the cron is read in Spanish in Spanish"
        poisoned, _ = self.poisoned()
        self.cron()
        english, english_history = self.read(poisoned, 'en')
        spanish, spanish_history = self.read(poisoned, 'es')
        number = self.number(poisoned)
        self.assertEqual(english,
            f"Invoice {number} cannot be sent: the value of "
            "Contraparte/NombreRazon holds characters that XML cannot "
            "carry (U+0001); correct it and reschedule.")
        self.assertEqual(spanish,
            f"La factura {number} no se puede enviar: el valor de "
            "Contraparte/NombreRazon contiene caracteres que XML no admite "
            "(U+0001); corríjalo y reprograme.")
        self.assertEqual(english_history, [english])
        self.assertEqual(spanish_history, [spanish])

        from trytond.pool import Pool
        with tools.transaction(commit=False, language='es'):
            Submission = Pool().get('account.einvoice.submission')
            # searching still works, on the text as it was stored
            self.assertEqual(Submission.search(
                    [('message', '=', english)]),
                Submission.search([('invoice', '=', poisoned)]))

    def test_local_check_in_reader_language(self):
        "The SII local checks are read in the reader's language too"
        invoice = self.post([('100', ['untagged0'], None)])
        self.cron()
        english, _ = self.read(invoice, 'en')
        spanish, history = self.read(invoice, 'es')
        self.assertEqual(english, 'The tax "untagged0" has no SII tax key: '
            'set one on the tax, or mark it excluded from SII.')
        self.assertEqual(spanish, 'El impuesto "untagged0" no tiene clave '
            'SII: indíquela en el impuesto o márquelo como excluido del '
            'SII.')
        self.assertEqual(history, [spanish])


class PoisonedRecordFrameworkTest(FrameworkTestCase):
    "A service without local checks whose builder raises for one record"

    def test_build_error_refuses_that_record_alone(self):
        "An exception building one record refuses it; the others are sent"
        from trytond.pool import Pool
        first, second = self.post(2)
        poisoned, = self.post(description=f"X{CONTROL}")
        self.cron()
        states = [s['state'] for s in self.submissions(
                [first, second, poisoned])]
        self.assertEqual(states, ['accepted', 'accepted', 'rejected'])
        refused, = self.submissions([poisoned])
        with tools.transaction(commit=False):
            number = Pool().get('account.invoice')(poisoned).number
        self.assertIn(number, refused['message'])
        self.assertIn('prepared for sending', refused['message'])
        self.assertIn('ValueError', refused['message'])
        self.assertNotIn('XML compatible', refused['message'])
