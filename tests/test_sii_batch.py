"""SII: batches of up to 10,000 records, environments and foral
authorities, per-record schema refusals."""
import time

from tests import tools
from tests.sii_case import SIITestCase, bulk_submissions

EMITIDAS = 'SuministroLRFacturasEmitidas'


class SIIBatchTest(SIITestCase):

    def test_10001_pending_two_requests(self):
        "10,001 pending invoices go in two requests: 10,000 and 1"
        started = time.monotonic()
        ids = tools.call(bulk_submissions, self.base, self.configuration,
            10001, company=self.company)
        print(f"\nbulk set-up {time.monotonic() - started:.1f} s", flush=True)
        started = time.monotonic()
        self.cron()
        elapsed = time.monotonic() - started
        requests = self.sandbox.received('sii', EMITIDAS)
        self.assertEqual(sorted(len(r['summary']['keys']) for r in requests),
            [1, 10000])
        self.assertEqual({r['summary']['estado_envio'] for r in requests},
            {'Correcto'})
        exchanges = self.exchanges()
        self.assertEqual(sorted(e['records'] for e in exchanges), [1, 10000])
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            self.assertEqual(Submission.search_count([
                        ('invoice', 'in', ids),
                        ('state', '=', 'accepted')]), 10001)
        self.assertRequestsValid(exchanges)
        print(f"\n10,001 reported in {elapsed:.1f} s", flush=True)

    def test_new_and_modified_never_share_a_request(self):
        "A0 and A1 records of the same book go in separate requests"
        party = self.new_party("Cliente No Censado Dos SL",
            ('es_vat', '11111111H'))
        warned = self.post([('100', ['iva21'], None)], party=party)
        self.cron()
        self.reschedule(warned)
        fresh = self.post([('100', ['iva21'], None)])
        self.cron()
        requests = self.sandbox.received('sii', EMITIDAS)
        self.assertEqual([(r['summary']['tipo_comunicacion'],
                    len(r['summary']['keys'])) for r in requests[1:]],
            [('A1', 1), ('A0', 1)] if requests[1]['summary'][
                'tipo_comunicacion'] == 'A1' else [('A0', 1), ('A1', 1)])
        self.assertEqual(self.submission(fresh)['state'], 'accepted')

    def test_environments_are_separate(self):
        "Production and staging (Pruebas) reach separate AEAT states"
        staging = self.post([('100', ['iva21'], None)])
        self.cron()
        self.set_configuration(environment='production',
            endpoint_host=self.sandbox.url)
        production = self.post([('100', ['iva21'], None)])
        self.cron()
        self.assertIsNotNone(self.held(staging, 'staging'))
        self.assertIsNone(self.held(staging, 'production'))
        self.assertIsNotNone(self.held(production, 'production'))
        self.assertIsNone(self.held(production, 'staging'))
        first, second = self.exchanges()
        self.assertTrue(first['endpoint'].startswith(
                self.sandbox.url + '/pruebas/wlpl/SSII-FACT/ws/fe/'))
        self.assertEqual(second['endpoint'],
            self.sandbox.url + '/wlpl/SSII-FACT/ws/fe/SiiFactFEV1SOAP')

    def test_foral_authority_from_configuration(self):
        """A treasury not built in is an address per book in the trytond
        config"""
        from trytond import config
        section = 'account_einvoice_es_sii'
        if not config.has_section(section):
            config.add_section(section)
        url = (self.sandbox.url
            + '/pruebas/wlpl/SSII-FACT/ws/fr/SiiFactFRV1SOAP')
        config.set(section, 'other_treasury.recibidas.staging', url)
        config.set(section, 'other_treasury.name', "Other Treasury")
        try:
            from trytond.pool import Pool
            with tools.transaction(commit=False):
                Configuration = Pool().get('account.einvoice.configuration')
                self.assertIn(('other_treasury', "Other Treasury"),
                    Configuration.get_sii_authorities())
            self.set_configuration(sii_authority='other_treasury',
                endpoint_host=None)
            received = self.post([('10', ['iva21'], None)], type_='in',
                party='supplier', reference='FORAL-1')
            issued = self.post([('10', ['iva21'], None)])
            self.cron()
            self.assertEqual(self.submission(received)['state'], 'accepted')
            issued = self.submission(issued)
            self.assertEqual(issued['state'], 'pending')
            self.assertIn('other_treasury.emitidas.staging',
                issued['last_error'])
            endpoints = {e['endpoint'] for e in self.exchanges()}
            self.assertIn(url, endpoints)
        finally:
            config.set(section, 'other_treasury.recibidas.staging', '')

    def test_schema_error_rejects_only_its_record(self):
        "A record the XSD refuses is rejected locally, the rest is sent"
        long = self.post([('10', ['iva21'], None)], type_='in',
            party='supplier', reference='R' * 61)
        good = self.post([('10', ['iva21'], None)], type_='in',
            party='supplier', reference='OK-1')
        self.cron()
        submission = self.submission(long)
        self.assertEqual(submission['state'], 'rejected')
        self.assertIn('NumSerieFacturaEmisor', submission['message'])
        self.assertEqual(self.submission(good)['state'], 'accepted')
        exchange, = self.exchanges()
        self.assertEqual(exchange['records'], 1)
