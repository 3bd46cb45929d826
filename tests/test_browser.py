"""The staff workflow in a real browser: the demo (data and Tryton server
with the sao web client) runs in a child process and
``tests/browser/staff_workflow.mjs`` drives headless Chromium through it
with Playwright.

Needs ``/usr/bin/chromium`` (or ``CHROMIUM``), ``node`` and the npm
packages of ``tests/browser/package.json`` installed in ``var/node``
(``make node``).  Without them the test is skipped, except in CI
(``CI=true``) where it fails.  It runs on SQLite only (skipped when
``TRYTOND_DATABASE_URI`` names PostgreSQL).  Screenshots of the key screens
are saved in ``var/screenshots/``; every figure of the documentation
(``doc/_static/screenshots/``) must be among them: ``make screenshots``
runs this test and copies them there.
"""
import glob
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.environ.get('NODE_DIR', os.path.join(ROOT, 'var', 'node'))
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
DIRECTORY = os.path.join(ROOT, 'var', 'browser-demo')
SCREENSHOTS = os.path.join(ROOT, 'var', 'screenshots')
SCRIPT = os.path.join(ROOT, 'tests', 'browser', 'staff_workflow.mjs')
DOC = os.path.join(ROOT, 'doc')
IN_CI = os.environ.get('CI', '').lower() in {'1', 'true', 'yes'}


def doc_figures():
    "The screenshots the documentation shows, by name"
    names = set()
    for path in glob.glob(os.path.join(DOC, '**', '*.rst'), recursive=True):
        with open(path) as fp:
            names.update(re.findall(
                    r'_static/screenshots/([\w.-]+)\.png', fp.read()))
    return sorted(names)


def missing():
    "What the test needs and is not installed (None when all is there)"
    if not (os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not shutil.which('node'):
        return "no node (apt-get install nodejs)"
    for package in ['playwright-core', 'tryton-sao']:
        if not os.path.exists(os.path.join(
                    NODE_DIR, 'node_modules', package, 'package.json')):
            return f"npm package {package} not in {NODE_DIR} (make node)"
    return None


ON_POSTGRESQL = os.environ.get('TRYTOND_DATABASE_URI', '').startswith(
    'postgresql')
MISSING = missing()


@unittest.skipIf(ON_POSTGRESQL, "runs once, on SQLite (the demo's)")
@unittest.skipIf(MISSING and not IN_CI, MISSING)
class StaffWorkflowBrowserTest(unittest.TestCase):
    "Rejected, read, fixed, rescheduled, accepted: in the web client"

    def start_demo(self):
        "The demo in a child process, until its server answers"
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
        os.makedirs(DIRECTORY, exist_ok=True)
        self.ready_path = os.path.join(ROOT, 'var', 'browser-demo.json')
        if os.path.exists(self.ready_path):
            os.unlink(self.ready_path)
        env = {k: v for k, v in os.environ.items()
            if not k.startswith('TRYTOND_') and k not in {
                'DB_NAME', 'DB_CACHE', 'DEMO_NO_SERVER'}}
        self.log_path = os.path.join(ROOT, 'var', 'browser-demo.log')
        self.log = open(self.log_path, 'wb')
        self.demo = subprocess.Popen([sys.executable, '-m', 'tests.demo',
                '--directory', DIRECTORY, '--port', '0',
                '--ready-file', self.ready_path],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        self.addCleanup(self.stop_demo)
        deadline = time.monotonic() + 300
        while not os.path.exists(self.ready_path):
            if self.demo.poll() is not None or time.monotonic() > deadline:
                self.fail("the demo did not start:\n" + self.demo_log())
            time.sleep(0.5)
        with open(self.ready_path) as fp:
            return json.load(fp)

    def stop_demo(self):
        "Ctrl-C for the demo: it stops its server and the sandbox"
        if self.demo.poll() is None:
            self.demo.send_signal(signal.SIGTERM)
            try:
                self.demo.wait(30)
            except subprocess.TimeoutExpired:
                self.demo.kill()
                self.demo.wait()
        self.log.close()

    def demo_log(self):
        self.log.flush()
        with open(self.log_path, 'rb') as fp:
            return fp.read().decode(errors='replace')[-5000:]

    def query(self, sql, *args):
        connection = sqlite3.connect(self.ready['sqlite'], timeout=30)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()

    def test_staff_workflow(self):
        if MISSING:
            self.fail(f"CI must run the browser test: {MISSING}")
        self.ready = self.start_demo()
        env = dict(os.environ, NODE_DIR=NODE_DIR, CHROMIUM=CHROMIUM)
        run = subprocess.run(['node', SCRIPT, self.ready_path, SCREENSHOTS],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        try:
            result = json.loads(run.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.fail(f"no JSON from the browser script "
                f"({run.returncode}):\n{run.stdout}\n{run.stderr}")
        self.assertTrue(result['ok'], "failed at %r: %s\n%s\n%s" % (
                result.get('step'), result.get('error'), run.stderr,
                self.demo_log()))
        bad = self.ready['bad_party']

        # The bookkeeper sees the rejected submission and the button
        # disabled; the server refuses the call
        bookkeeper = result['bookkeeper']
        self.assertTrue(bookkeeper['reschedule_visible'])
        self.assertTrue(bookkeeper['reschedule_disabled'])
        self.assertIn('reschedule', bookkeeper['error'])
        self.assertIn('not allowed', bookkeeper['error'])
        self.assertEqual(bookkeeper['submission'], result['submission'])

        # The chief accountant reads the reason in the Rejected tab
        self.assertEqual(result['rejected_count'], 1)
        self.assertEqual(result['state_before'], 'Rejected')
        self.assertIn(bad['nif'], result['message'])
        self.assertIn('not a valid Spanish NIF', result['message'])
        # fixes, reschedules; the cron sends it; it is accepted
        self.assertEqual(result['state_rescheduled'], 'Pending')
        self.assertIn('1 pending', result['cron_output'])
        self.assertEqual(result['state_after'], 'Accepted')
        self.assertRegex(result['reference'], r'^[A-Z0-9]{16}$')
        self.assertEqual(result['console_errors'], [])

        # The database agrees
        (state, reference, operation), = self.query(
            'SELECT state, reference, operation '
            'FROM account_einvoice_submission WHERE id = ?',
            result['submission'])
        self.assertEqual((state, reference, operation),
            ('accepted', result['reference'], 'register'))
        # refused by the local check (no exchange), then sent once
        outcomes = self.query(
            'SELECT exchange IS NOT NULL, state '
            'FROM account_einvoice_exchange_outcome '
            'WHERE submission = ? ORDER BY id', result['submission'])
        self.assertEqual(outcomes, [(0, 'rejected'), (1, 'accepted')])
        codes = self.query(
            'SELECT i.code FROM party_identifier i '
            'JOIN party_party p ON p.id = i.party WHERE p.name = ?',
            bad['name'])
        self.assertEqual(codes, [(bad['fix'],)])
        states = dict(self.query(
            'SELECT state, COUNT(*) FROM account_einvoice_submission '
            'GROUP BY state'))
        # the invoice AFIP rejects stays rejected, with AFIP's code; the
        # one the VERI*FACTU sandbox rejected was corrected by the demo;
        # 3 of the accepted are the Saudi company's (ZATCA), 3 the
        # Paraguayan one's (SIFEN), whose cancelled invoice is cancelled
        self.assertEqual(states,
            {'accepted': 25, 'rejected': 1, 'cancelled': 1})
        self.assertEqual(self.query(
                'SELECT code FROM account_einvoice_submission '
                "WHERE state = 'rejected'"), [('10015',)])

        # The screens of the documentation show what their captions say
        self.assertIn('RegistroLRFacturasEmitidas', result['sii_record'])
        self.assertIn(bad['fix'], result['sii_record'])
        self.assertEqual(result['invoice_einvoice_state'], 'Accepted')
        self.assertEqual(
            result['invoice_einvoice_reference'], result['reference'])
        self.assertRegex(result['afip_cae'], r'^\d{14}$')
        self.assertRegex(result['afip_legal_number'], r'^00003-\d{8}$')
        # the VERI*FACTU invoice rejected, then corrected by the demo
        self.assertEqual(result['verifactu_state'], 'Accepted')
        self.assertIn('prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR?nif=',
            result['verifactu_qr'])
        self.assertIn(self.ready['verifactu_corrected'],
            result['verifactu_qr'])
        self.assertIn('VERI*FACTU', result['verifactu_text'])

        figures = doc_figures()
        self.assertGreaterEqual(len(figures), 5)
        for name in ['03-bookkeeper-access-error', '11-chief-accepted'] \
                + figures:
            path = os.path.join(SCREENSHOTS, name + '.png')
            self.assertTrue(os.path.exists(path), f"not produced: {path}")
            self.assertTrue(os.path.getsize(path) > 10000, path)


if __name__ == '__main__':
    unittest.main()
