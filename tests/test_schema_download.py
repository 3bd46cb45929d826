"""``einvoice-schemas`` (issue 11 item 1) against a local HTTPS mirror that
serves the official files under their official paths."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from urllib.parse import urlsplit

from tests import tools
from tests.hostile_server import HostileServer
from tests.sandbox.pki import PKI

COMMAND = [sys.executable, '-m',
    'trytond.modules.account_einvoice.schema_command']
SII_XSD = 'es_sii/SuministroLR.xsd'


def schema_download():
    from trytond.modules.account_einvoice import schema_download
    return schema_download


def published(folder, name):
    """The file as the authority publishes it: the shared copy with the
    local imports of remote standard schemas pointing back at them"""
    module = schema_download()
    with open(os.path.join(tools.SCHEMAS, folder, name), 'rb') as fp:
        content = fp.read()
    for other, url in module.SOURCES[folder].urls.items():
        if other.endswith('.xsd'):
            content = content.replace(
                f'schemaLocation="{other}"'.encode(),
                f'schemaLocation="{url.replace("https:", "http:")}"'.encode())
    return content


def mirror_files():
    "{official path and query: content} of every pinned file"
    module = schema_download()
    files = {}
    for folder, source in module.SOURCES.items():
        for name in module.digests(folder):
            url = urlsplit(source.url(name))
            path = url.path + (f'?{url.query}' if url.query else '')
            files[path] = published(folder, name)
    return files


@unittest.skipUnless(os.path.isdir(tools.SCHEMAS), "no official schemas")
class SchemaDownloadTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = PKI.create(identities=[])
        cls.mirror = HostileServer(cls.pki).start()
        cls.files = mirror_files()

    @classmethod
    def tearDownClass(cls):
        cls.mirror.stop()
        cls.pki.cleanup()
        super().tearDownClass()

    def setUp(self):
        self.mirror.reset()
        self.mirror.files.clear()
        self.mirror.files.update(self.files)
        self.directory = tempfile.mkdtemp(prefix='einvoice-schemas-')
        self.addCleanup(shutil.rmtree, self.directory)

    def run_command(self, *arguments, ca_bundle=True):
        "Run the command against the mirror; return (status, output)"
        env = {k: v for k, v in os.environ.items()
            if not k.startswith('TRYTOND_ACCOUNT_EINVOICE__')}
        command = COMMAND + ['--directory', self.directory,
            '--base-url', self.mirror.url] + list(arguments)
        if ca_bundle:
            command += ['--ca-bundle', self.pki.ca_path]
        process = subprocess.run(command, env=env, capture_output=True,
            text=True, timeout=120)
        return process.returncode, process.stdout + process.stderr

    def cached(self, relative):
        return os.path.join(self.directory, relative)

    def test_download_matches_digests(self):
        "Every folder is downloaded, localized and equal to the shared copy"
        status, output = self.run_command()
        self.assertEqual(status, 0, output)
        module = schema_download()
        for folder in module.SOURCES:
            for name, digest in module.digests(folder).items():
                with open(self.cached(f'{folder}/{name}'), 'rb') as fp:
                    content = fp.read()
                self.assertEqual(
                    hashlib.sha256(content).hexdigest(), digest, name)
                with open(os.path.join(tools.SCHEMAS, folder, name),
                        'rb') as fp:
                    self.assertEqual(content, fp.read(), name)
        # the AFIP WSDLs come from their ?WSDL addresses
        self.assertIn('/ws/services/LoginCms?wsdl', self.mirror.downloads)
        self.assertIn(
            '/wsfev1/service.asmx?WSDL', self.mirror.downloads)

        # cached files are not downloaded again
        self.mirror.reset()
        status, output = self.run_command()
        self.assertEqual(status, 0, output)
        self.assertEqual(self.mirror.downloads, [])

    def test_tampered_file_refused(self):
        "A file one byte off its digest is refused and nothing is written"
        path = urlsplit(schema_download().SOURCES['es_sii'].url(
                'SuministroLR.xsd')).path
        content = self.files[path]
        tampered = content.replace(b'"10000"', b'"90000"', 1)
        self.assertNotEqual(tampered, content)
        self.mirror.files[path] = tampered

        status, output = self.run_command('es_sii', 'ar_afip')

        self.assertEqual(status, 1, output)
        self.assertIn(f"Refused: {SII_XSD}: SHA-256", output)
        self.assertFalse(os.path.exists(self.cached(SII_XSD)))
        self.assertFalse(os.path.exists(self.cached('es_sii')))
        # the other folder is still written
        self.assertTrue(os.path.exists(self.cached('ar_afip/wsaa.wsdl')))

    def test_untrusted_certificate_refused(self):
        "A server whose certificate the CA bundle does not trust is refused"
        status, output = self.run_command('es_sii', ca_bundle=False)

        self.assertEqual(status, 1, output)
        self.assertIn('certificate verify failed', output)
        self.assertEqual(self.mirror.downloads, [])
        self.assertFalse(os.path.exists(self.cached('es_sii')))
