"""Framework: a company reporting through two units (two configurations of
one company, e.g. two devices), each with its own chain at the authority,
sent by two processes at the same time; which unit reports an invoice is
the service's decision (by journal by default)."""
import time
from collections import Counter

from tests import tools
from tests.chain_case import ChainTestCase

COUNT = 25


class UnitsTest(ChainTestCase):
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
