"""Framework: a local-only service (like VERI*FACTU's "NO VERI*FACTU" mode)
keeps its chained records, *recorded*, never sent; they verify and export."""
import datetime as dt
import hashlib
import io
import json
import zipfile
from contextlib import contextmanager

from tests import tools
from tests.chain_case import ChainTestCase


class LocalTest(ChainTestCase):

    @classmethod
    def setUpData(cls):
        super().setUpData()
        cls.set_service('test_local')

    # -- helpers -----------------------------------------------------------
    @staticmethod
    @contextmanager
    def option(section, name, value, after):
        "The trytond configuration's option set to value, then to after"
        from trytond import config
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, name, value)
        try:
            yield
        finally:
            config.set(section, name, after)

    def assertNothingSent(self):
        self.assertEqual(self.exchanges(), [])
        self.assertEqual(self.sandbox.received('test_chain'), [])

    def send_now(self, invoice_ids):
        from trytond.pool import Pool

        def send_now():
            Submission = Pool().get('account.einvoice.submission')
            Submission.send_now(
                Submission.search([('invoice', 'in', invoice_ids)]))
        tools.call(send_now, company=self.company)
        tools.run_queue()

    def export(self, from_date, to_date, model=None, active_id=None,
            chain=None):
        """Run the export wizard from a form (model, active_id); return
        (the start defaults, the result values)"""
        from trytond.pool import Pool
        model = model or 'account.einvoice.configuration'
        active_id = active_id or self.configuration

        def run():
            Export = Pool().get('account.einvoice.export', type='wizard')
            session_id, _, _ = Export.create()
            start = Export.execute(session_id, {}, 'start')
            result = Export.execute(session_id, {'start': {
                        'configuration': self.configuration,
                        'chain': chain,
                        'from_date': from_date,
                        'to_date': to_date,
                        }}, 'export')
            Export.delete(session_id)
            return (start['view']['defaults'],
                result['view']['defaults'])
        return tools.call(run, company=self.company, context={
                'active_model': model, 'active_id': active_id,
                'active_ids': [active_id]})

    @staticmethod
    def unzip(data):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: archive.read(n) for n in archive.namelist()}

    def set_generated(self, document_id, when):
        from trytond.pool import Pool
        from trytond.transaction import Transaction

        def backdate():
            table = Pool().get('account.einvoice.document').__table__()
            Transaction().connection.cursor().execute(*table.update(
                    [table.generated], [when],
                    where=table.id == document_id))
        tools.call(backdate)

    # -- tests -------------------------------------------------------------
    def test_recorded_at_posting_chained_never_sent(self):
        "Posted: recorded at once, chained; the cron and Send Now send none"
        from trytond.pool import Pool
        from trytond.pyson import PYSONDecoder, PYSONEncoder
        with self.option('account_einvoice_test', 'deadline_seconds',
                '60', '0'):
            invoices = self.post(3)
        for submission in self.submissions(invoices):
            self.assertEqual(submission['state'], 'recorded')
            self.assertTrue(submission['registered'])
            self.assertEqual(submission['outcomes'],
                [('local', 'recorded', None, None)])
        documents = self.documents()
        self.assertEqual([d['sequence'] for d in documents], [1, 2, 3])
        self.assertEqual([d['invoice'] for d in documents], invoices)
        self.assertEqual([d['previous'] for d in documents],
            [None, documents[0]['id'], documents[1]['id']])
        self.assertEqual([json.loads(d['data'])['previous']
                for d in documents],
            [None, documents[0]['digest'], documents[1]['digest']])
        self.cron()
        self.send_now(invoices)
        self.assertEqual({s['state'] for s in self.submissions(invoices)},
            {'recorded'})
        self.assertEqual(len(self.documents()), 3)
        self.assertNothingSent()
        self.assertEqual(self.verify_chain(), {self.issuer: None})

        with tools.transaction(commit=False):
            pool = Pool()
            Invoice = pool.get('account.invoice')
            Submission = pool.get('account.einvoice.submission')
            self.assertEqual(
                {i.einvoice_state for i in Invoice.browse(invoices)},
                {'recorded'})
            for state, found in [('recorded', invoices), ('pending', [])]:
                self.assertEqual(sorted(i.id for i in Invoice.search([
                                ('id', 'in', invoices),
                                ('einvoice_state', '=', state)])),
                    sorted(found))
            submissions = Submission.search([('invoice', 'in', invoices)])
            # no deadline: nothing is to be sent
            self.assertEqual({s.deadline for s in submissions}, {None})
            for name in ['reschedule', 'send_now']:
                invisible = PYSONEncoder().encode(
                    Submission._buttons[name]['invisible'])
                self.assertTrue(PYSONDecoder(
                        {'state': 'recorded', 'exchange': None}).decode(
                        invisible), name)

    def test_tampered_document_breaks_the_chain(self):
        "A recorded document altered in the database: Verify names it"
        from trytond.pool import Pool
        self.post(3)
        second = self.documents()[1]

        def tamper():
            Document = Pool().get('account.einvoice.document')
            Document.write([Document(second['id'])], {
                    'data': second['data'].replace(b'"amount"', b'"Amount"')})
        tools.call(tamper)
        result = self.verify_chain()[self.issuer]
        self.assertIn('#2', result)
        self.assertIn('digest', result)

    def test_cancel_recorded_appends_cancellation(self):
        "Cancelling a recorded invoice: a cancellation document, cancelled"
        invoice, = self.post(1, type_='in')
        self.cancel_invoices([invoice])
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'cancelled')
        self.assertFalse(submission['registered'])
        self.assertEqual([(o[0], o[1]) for o in submission['outcomes']],
            [('local', 'recorded'), ('local', 'recorded')])
        record, cancellation = self.documents()
        self.assertEqual(
            [(d['kind'], d['sequence'], d['current'])
                for d in (record, cancellation)],
            [('record', 1, False), ('cancellation', 2, True)])
        self.assertEqual(cancellation['previous'], record['id'])
        self.cron()
        self.assertNothingSent()
        self.assertEqual(self.verify_chain(), {self.issuer: None})

    def test_export(self):
        "The zip: the stored bytes in chain order, a manifest that links"
        from trytond.modules.account_einvoice.exceptions import ExportError
        from trytond.pool import Pool
        invoices = self.post(3)
        documents = self.documents()
        today = dt.date.today()
        self.set_generated(documents[0]['id'],
            dt.datetime.now() - dt.timedelta(days=40))
        with tools.transaction(commit=False):
            Chain = Pool().get('account.einvoice.chain')
            chain, = Chain.search([
                    ('configuration', '=', self.configuration),
                    ('key', '=', self.issuer)])
            chain_id = chain.id
            company = chain.configuration.company.rec_name

        start, result = self.export(
            today - dt.timedelta(days=60), today,
            model='account.einvoice.chain', active_id=chain_id)
        self.assertEqual((start['configuration'], start['chain']),
            (self.configuration, chain_id))
        self.assertEqual(result['count'], 3)
        self.assertEqual(result['filename'],
            '-'.join([company.replace(' ', '_'), 'test_local',
                    (today - dt.timedelta(days=60)).isoformat(),
                    today.isoformat()]) + '.zip')
        files = self.unzip(result['file'])
        manifest = json.loads(files.pop('manifest.json'))
        self.assertEqual(sorted(files), [e['file']
                for e in manifest['documents']])
        self.assertEqual([files[e['file']] for e in manifest['documents']],
            [d['data'] for d in documents])
        self.assertEqual(
            [(e['chain'], e['sequence'], e['kind'])
                for e in manifest['documents']],
            [(self.issuer, 1, 'record'), (self.issuer, 2, 'record'),
                (self.issuer, 3, 'record')])
        with tools.transaction(commit=False):
            Invoice = Pool().get('account.invoice')
            self.assertEqual([e['invoice'] for e in manifest['documents']],
                [i.number for i in Invoice.browse(invoices)])
        previous = None
        for entry in manifest['documents']:
            self.assertEqual(entry['digest'],
                hashlib.sha256(files[entry['file']]).hexdigest())
            self.assertEqual(entry['previous_digest'], previous)
            previous = entry['digest']
        chain_entry, = manifest['chains']
        self.assertEqual((chain_entry['key'], chain_entry['holds']),
            (self.issuer, True))
        self.assertIn(self.issuer, result['verification'])

        # the date range is the generation time: the first is left out
        start, result = self.export(today - dt.timedelta(days=5), today)
        self.assertEqual(start['configuration'], self.configuration)
        self.assertEqual(start.get('chain'), None)
        files = self.unzip(result['file'])
        manifest = json.loads(files.pop('manifest.json'))
        self.assertEqual([e['sequence'] for e in manifest['documents']],
            [2, 3])
        self.assertEqual([files[e['file']] for e in manifest['documents']],
            [d['data'] for d in documents[1:]])
        self.assertEqual(manifest['documents'][0]['previous_digest'],
            documents[0]['digest'])
        _, result = self.export(
            today - dt.timedelta(days=60), today - dt.timedelta(days=39))
        self.assertEqual(result['count'], 1)

        with self.option('account_einvoice', 'export_limit', '2', '10000'), \
                self.assertRaises(ExportError) as raised:
            self.export(today - dt.timedelta(days=60), today)
        self.assertIn('3 documents', str(raised.exception))
        self.assertIn('the 2 one export', str(raised.exception))

    def test_event_log(self):
        "System events recorded in the chain with the invoices, exported"
        from trytond.pool import Pool

        def event():
            pool = Pool()
            Record = pool.get('account.einvoice.record')
            Configuration = pool.get('account.einvoice.configuration')
            return Record.report(Configuration(self.configuration), 'event',
                {'event': 'restart'}, description="System restarted").id
        first, = self.post()
        record = tools.call(event, company=self.company)
        second, = self.post()
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('record', '=', record)])
            self.assertEqual(
                (submission.state, submission.chain_sequence), ('recorded', 2))
        self.assertEqual(self.verify_chain(), {self.issuer: None})
        today = dt.date.today()
        _, result = self.export(today - dt.timedelta(days=1), today)
        manifest = json.loads(self.unzip(result['file'])['manifest.json'])
        self.assertEqual(
            [(e['sequence'], e['record']) for e in manifest['documents']],
            [(1, None), (2, "event System restarted"), (3, None)])
        self.assertEqual(self.sandbox.received('test_chain'), [])

    def test_generated_at_claim(self):
        "generate_on = 'claim': Send Now and the cron record, send none"
        from trytond.modules.account_einvoice.tests.service_local import (
            TestLocalService)
        TestLocalService.generate_on = 'claim'
        try:
            invoices = self.post(2)
            self.assertEqual(
                {s['state'] for s in self.submissions(invoices)},
                {'pending'})
            self.assertEqual(self.documents(), [])
            self.send_now(invoices[:1])
            self.assertEqual(
                [s['state'] for s in self.submissions(invoices)],
                ['recorded', 'pending'])
            self.cron()
        finally:
            TestLocalService.generate_on = 'queue'
        for submission in self.submissions(invoices):
            self.assertEqual(submission['state'], 'recorded')
            self.assertEqual(submission['outcomes'],
                [('local', 'recorded', None, None)])
        self.assertEqual(
            [(d['invoice'], d['sequence']) for d in self.documents()],
            [(invoices[0], 1), (invoices[1], 2)])
        self.assertNothingSent()
        self.assertEqual(self.verify_chain(), {self.issuer: None})
