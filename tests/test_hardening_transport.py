"""Hardening of the transport (issue 9 items 3, 6 and 10) against a
hostile HTTPS server: bounded answers and calls, weak server keys, schema
downloads through the verified client."""
import os
import tempfile
import time
from contextlib import contextmanager

from tests import tools
from tests.framework_case import FrameworkTestCase
from tests.hostile_server import HostileServer

MiB = 2**20


@contextmanager
def options(**values):
    "Set [account_einvoice] options for the block"
    from trytond import config
    saved = {k: config.get('account_einvoice', k) for k in values}
    for key, value in values.items():
        config.set('account_einvoice', key, str(value))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                config._config.remove_option('account_einvoice', key)
                config._cache_clear()
            else:
                config.set('account_einvoice', key, value)


class TransportHardeningTest(FrameworkTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hostile = HostileServer(cls.sandbox.pki).start()
        cls.weak_dh = HostileServer(cls.sandbox.pki, 'weak_dh').start()
        cls.weak_key = HostileServer(cls.sandbox.pki, 'weak_key').start()

    @classmethod
    def tearDownClass(cls):
        for server in [cls.hostile, cls.weak_dh, cls.weak_key]:
            server.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.hostile.reset()

    def post(self, url, **kwargs):
        "transport.post to url; return the ServiceFailure it raises or None"
        from trytond.modules.account_einvoice import transport
        from trytond.modules.account_einvoice.exceptions import ServiceFailure
        with tools.transaction(commit=False):
            try:
                transport.parse(transport.post(
                        url, b'<request/>', 'Action', None, **kwargs))
            except ServiceFailure as failure:
                return failure

    # -- item 3: unbounded answers ---------------------------------------
    def assert_too_large(self, failure):
        from trytond.modules.account_einvoice.https import STORED_PREFIX
        self.assertEqual(failure.kind, 'unknown')
        self.assertIn('max_response_size', failure.message)
        self.assertIn(str(MiB), failure.message)
        self.assertTrue(failure.response.content.startswith(b'xxx'))
        self.assertLessEqual(len(failure.response.content), STORED_PREFIX)
        # Reading stopped: most of the answer was never even sent
        self.assertLess(self.hostile.sent, 40 * MiB)

    def test_huge_answer_refused(self):
        "An answer beyond max_response_size is refused, not read"
        with options(max_response_size=MiB):
            failure = self.post(self.hostile.url + f'/huge?size={200 * MiB}')
        self.assert_too_large(failure)

    def test_huge_chunked_answer_refused(self):
        "Without Content-Length the answer is counted while it streams"
        with options(max_response_size=MiB):
            failure = self.post(
                self.hostile.url + f'/huge?size={200 * MiB}&chunked=1')
        self.assert_too_large(failure)

    def test_answer_under_limit_read(self):
        with options(max_response_size=MiB):
            failure = self.post(self.hostile.url + '/soap')
        self.assertIsNone(failure)

    def test_trickled_answer_cut_at_deadline(self):
        "One byte every half second (each read in time) is cut at 2 s"
        started = time.monotonic()
        with options(call_deadline=2, timeout=5):
            failure = self.post(
                self.hostile.url + '/trickle?interval=0.5&size=30')
        self.assertEqual(failure.kind, 'unknown')
        self.assertIn('call_deadline', failure.message)
        self.assertLess(time.monotonic() - started, 4)

    def test_huge_answer_stored_as_prefix(self):
        "Through the scheduler: the exchange keeps only a bounded prefix"
        from trytond.modules.account_einvoice.https import STORED_PREFIX
        self.hostile.answer_posts(f'/huge?size={20 * MiB}')
        self.set_configuration(endpoint_host=self.hostile.url)
        try:
            invoice, = super().post()
            with options(max_response_size=MiB):
                self.cron()
        finally:
            self.set_configuration(endpoint_host=self.sandbox.url)
        exchange = self.exchanges()[-1]
        self.assertEqual(exchange['state'], 'unknown')
        self.assertIn('max_response_size', exchange['error'])
        self.assertTrue(0 < len(exchange['response']) <= STORED_PREFIX)
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'pending')
        self.assertTrue(submission['needs_query'])

    # -- item 6: weak server keys ----------------------------------------
    def test_weak_dh_names_the_setting(self):
        failure = self.post(self.weak_dh.url + '/soap')
        self.assertEqual(failure.kind, 'configuration')
        self.assertIn('DH_KEY_TOO_SMALL', failure.message)
        self.assertIn('tls_seclevel_1_hosts', failure.message)
        self.assertIn('"127.0.0.1"', failure.message)

    def test_weak_key_names_the_setting(self):
        failure = self.post(self.weak_key.url + '/soap')
        self.assertEqual(failure.kind, 'configuration')
        self.assertIn('tls_seclevel_1_hosts', failure.message)

    def test_seclevel_1_for_the_named_host_only(self):
        with options(tls_seclevel_1_hosts='localhost'):
            for server in [self.weak_dh, self.weak_key]:
                self.assertIsNone(self.post(server.localhost_url + '/soap'))
                # The same server under another name keeps level 2
                failure = self.post(server.url + '/soap')
                self.assertIn('tls_seclevel_1_hosts', failure.message)

    def test_seclevel_1_still_verifies(self):
        "The opt-in lowers the key sizes, never the certificate check"
        import certifi
        with options(tls_seclevel_1_hosts='localhost',
                ca_bundle=certifi.where()):
            failure = self.post(self.weak_dh.localhost_url + '/soap')
        self.assertEqual(failure.kind, 'configuration')
        self.assertIn('CERTIFICATE_VERIFY_FAILED', failure.message)

    # -- item 10: schema download ----------------------------------------
    def schema_url(self, relative):
        return f'{self.hostile.url}/schemas/{relative}?test={self.id()}'

    def test_schema_downloaded_with_ca_bundle(self):
        "Missing files come from https, verified with ca_bundle"
        from trytond.modules.account_einvoice import schema
        empty = tempfile.mkdtemp(prefix='einvoice-schemas-')
        with options(schema_directory=empty), \
                tools.transaction(commit=False):
            xsd = schema.locate('es_sii/SuministroLR.xsd',
                self.schema_url('es_sii/SuministroLR.xsd'))
            wsdl = schema.locate('es_sii/SuministroFactEmitidas.wsdl',
                self.schema_url('es_sii/SuministroFactEmitidas.wsdl'))
            self.assertTrue(xsd.startswith('https://'))
            self.assertIsNotNone(schema.xml_schema(xsd))
            address, _ = schema.endpoint(wsdl, 'siiService',
                'SuministroFactEmitidas', 'SuministroLRFacturasEmitidas')
        os.rmdir(empty)
        self.assertIn('/wlpl/SSII-FACT/', address)
        # The relative imports came through the same client
        self.assertIn('es_sii/SuministroInformacion.xsd',
            self.hostile.downloads)
        self.assertIn('es_sii/ConsultaLR.xsd', self.hostile.downloads)

    def test_schema_from_untrusted_server_refused(self):
        import certifi

        from trytond.modules.account_einvoice import schema
        from trytond.modules.account_einvoice.exceptions import SchemaError
        with options(ca_bundle=certifi.where()), \
                tools.transaction(commit=False):
            for load in [
                    lambda: schema.xml_schema(
                        self.schema_url('es_sii/SuministroLR.xsd')),
                    lambda: schema.wsdl_client(
                        self.schema_url('es_sii/SuministroFactEmitidas.wsdl')),
                    ]:
                with self.assertRaises(SchemaError) as raised:
                    load()
                self.assertIn(self.hostile.url, raised.exception.message)
                self.assertIn('CERTIFICATE_VERIFY_FAILED',
                    raised.exception.message)
        self.assertEqual(self.hostile.downloads, [])
