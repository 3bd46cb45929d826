"""Framework: a company reporting through two units (two configurations of
one company, e.g. two devices), each with its own chain at the authority,
sent by two processes at the same time; which unit reports an invoice is
the service's decision (by journal by default).  Records without an
invoice (voiding of numbers, system events) go through the same claim,
chain and history as invoices and are listed with them."""
import time
from collections import Counter

from tests import tools
from tests.chain_case import ChainTestCase

COUNT = 25


class UnitsAndRecordsTest(ChainTestCase):
    config_options = {'in_flight_margin': 1, 'retry_delay': 1,
        'retry_delay_max': 2}

    @classmethod
    def setUpData(cls):
        super().setUpData()
        from trytond.pool import Pool

        def units():
            pool = Pool()
            Configuration = pool.get('account.einvoice.configuration')
            Journal = pool.get('account.journal')
            till, = Journal.copy(Journal.search(
                    [('type', '=', 'revenue')], limit=1),
                {'name': "Till 2", 'code': 'TILL2'})
            first = Configuration(cls.configuration)
            first.unit = 'A'
            first.save()
            second, = Configuration.copy([first], {'unit': 'B'})
            second.journals = [till]
            second.save()
            return till.id, second.id
        cls.till, cls.second = tools.call(units, company=cls.base['company'])

    def post_in(self, journal=None):
        from trytond.pool import Pool

        def post():
            Invoice = Pool().get('account.invoice')
            invoice = tools.create_invoice(self.base, post=False)
            if journal:
                invoice.journal = journal
                invoice.save()
            Invoice.post([invoice])
            return invoice.id
        return tools.call(post, company=self.company)

    def configurations(self, invoice_ids):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            return {s.invoice.id: s.configuration.id for s in
                Submission.search([('invoice', 'in', invoice_ids)])}

    def states(self, invoice_ids):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            return Counter(s.state for s in
                Submission.search([('invoice', 'in', invoice_ids)]))

    def test_journal_chooses_the_unit(self):
        "The unit listing the invoice's journal reports it, else the other"
        first = self.post_in()
        second = self.post_in(self.till)
        self.assertEqual(self.configurations([first, second]),
            {first: self.configuration, second: self.second})

    def test_units_send_concurrently_with_their_own_chains(self):
        "Two processes, one per unit, each chain complete at the authority"
        a = [self.post_in() for _ in range(COUNT)]
        b = [self.post_in(self.till) for _ in range(COUNT)]
        processes = [tools.worker(self.config_path,
                '--company', str(self.company),
                '--configuration', str(configuration), wait=False)
            for configuration in [self.configuration, self.second]]
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline:
                if self.states(a + b) == Counter({'accepted': 2 * COUNT}):
                    break
                for i, process in enumerate(processes):
                    if process.poll() is not None:
                        process.wait()
                        processes[i] = tools.worker(self.config_path,
                            '--company', str(self.company),
                            '--configuration',
                            str([self.configuration, self.second][i]),
                            wait=False)
                time.sleep(0.2)
        finally:
            for process in processes:
                process.kill()
                process.wait()
        self.assertEqual(
            self.states(a + b), Counter({'accepted': 2 * COUNT}))
        for unit, ids in [('A', a), ('B', b)]:
            held = self.sandbox.chain(self.issuer, f'{self.issuer}/{unit}')
            self.assertEqual([h['sequence'] for h in held],
                list(range(1, COUNT + 1)))
            self.assertEqual(sorted(h['id'] for h in held),
                sorted(f'INV-{i}' for i in ids))
        self.assertEqual(Counter(self.received_digests().values()),
            Counter({1: 2 * COUNT}))
        from trytond.pool import Pool
        with tools.transaction():
            Chain = Pool().get('account.einvoice.chain')
            chains = Chain.search([('key', '!=', '')])
            self.assertEqual(
                {(c.configuration.id, c.key, c.last_sequence)
                    for c in chains},
                {(self.configuration, f'{self.issuer}/A', COUNT),
                    (self.second, f'{self.issuer}/B', COUNT)})
            self.assertEqual(set(Chain.verify_chains(chains).values()),
                {None})
        workers = {e['worker'] for e in self.exchanges()}
        self.assertEqual(len(workers), 2, workers)

    def test_unit_rules(self):
        "Units of a company: distinct names, one authority, a journal each"
        from trytond.exceptions import UserError
        from trytond.pool import Pool

        def add(values):
            Configuration = Pool().get('account.einvoice.configuration')
            values = dict(values)
            journals = values.pop('journals', None)
            new, = Configuration.copy(
                [Configuration(self.configuration)], values)
            if journals:
                Configuration.write([new], {'journals': journals})
        for values, text in [
                ({'unit': 'B'}, 'two configurations for the reporting '
                    'unit "B"'),
                ({'unit': 'C', 'service': 'test_authority'},
                    'must report to the same authority'),
                ({'unit': 'C', 'journals': [('add', [self.till])]},
                    'Journal "Till 2'),
                ]:
            with self.subTest(values=values):
                with self.assertRaises(UserError) as context:
                    tools.call(add, values, company=self.company)
                self.assertIn(text, context.exception.message)

    def report_event(self, description):
        from trytond.pool import Pool

        def report():
            pool = Pool()
            Record = pool.get('account.einvoice.record')
            Configuration = pool.get('account.einvoice.configuration')
            return Record.report(Configuration(self.configuration), 'event',
                {'event': 'start', 'note': description},
                description=description).id
        return tools.call(report, company=self.company)

    def submission_of_record(self, record_id):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('record', '=', record_id)])
            return {
                'state': submission.state,
                'invoice': submission.invoice,
                'rec_name': submission.rec_name,
                'sequence': submission.chain_sequence,
                'outcomes': [(o.kind, o.state) for o in submission.outcomes],
                }

    def test_record_chained_and_sent_with_invoices(self):
        "An event between two invoices: one chain, each held once"
        first, = self.post()
        record = self.report_event("System started")
        second, = self.post()
        self.cron()
        submission = self.submission_of_record(record)
        self.assertEqual(submission['state'], 'accepted')
        self.assertIsNone(submission['invoice'])
        self.assertEqual(submission['rec_name'], "event System started")
        self.assertEqual(submission['outcomes'], [('send', 'accepted')])
        held = self.sandbox.chain(self.issuer, f'{self.issuer}/A')
        self.assertEqual([h['id'] for h in held],
            [f'INV-{first}', f'REC-{record}', f'INV-{second}'])
        self.assertEqual([h['sequence'] for h in held], [1, 2, 3])
        self.assertEqual(set(self.received_digests().values()), {1})
        self.assertEqual(self.verify_chain(), {f'{self.issuer}/A': None})

    def test_records_listed_with_invoices(self):
        "Staff find records and invoices in the same list, by name"
        from trytond.pool import Pool
        invoice, = self.post()
        record = self.report_event("Voiding 001-001 5..9")
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            found = Submission.search([('rec_name', 'ilike', '%voiding%')])
            self.assertEqual([s.record.id for s in found], [record])
            listed = Submission.search([('state', '=', 'pending')])
            self.assertEqual(
                {(s.invoice and s.invoice.id, s.record and s.record.id)
                    for s in listed},
                {(invoice, None), (None, record)})
