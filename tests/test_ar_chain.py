"""AFIP numbering on the framework's chains: the counter of a series is its
chain's last sequence, the lock is the chain's, upgraded databases keep
their counters."""
from tests import tools
from tests.ar_case import COMPANY_CUIT, POS, ArTestCase


def chain_key(pos, voucher_type):
    from trytond.modules.account_einvoice_ar.series import chain_key
    return chain_key(pos, voucher_type)


class ArChainTest(ArTestCase):

    def chain_and_series(self, voucher_type):
        "(chain last sequence, series last number, series chain is it)"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            pool = Pool()
            Chain = pool.get('account.einvoice.chain')
            Series = pool.get('account.einvoice.ar.series')
            chains = Chain.search([
                    ('configuration', '=', self.configuration),
                    ('key', '=', chain_key(POS, voucher_type)),
                    ])
            series, = Series.search([
                    ('pos', '=', self.base['pos']),
                    ('voucher_type', '=', voucher_type),
                    ])
            chain = chains[0] if chains else None
            return (chain.last_sequence if chain else None,
                series.last_number,
                series.chain == chain)

    def afip_last(self, voucher_type):
        series = self.sandbox.state('afip_wsfe')['series']
        return series.get(f'{COMPANY_CUIT}:{POS}:{voucher_type}', {}).get(
            'last', 0)

    def test_numbered_on_the_chain(self):
        "The chain of each series holds its last number; AFIP agrees"
        from trytond.pool import Pool
        b1, b2, a = self.post(party='final') + self.post(party='final') \
            + self.post(party='ri')
        self.cron()
        b1, b2, a = self.invoices([b1, b2, a])
        for info in [b1, b2, a]:
            self.assertEqual(info['state'], 'accepted', info)
        self.assertEqual(b2['nro'], b1['nro'] + 1)
        self.assertEqual(self.chain_and_series('6'),
            (b2['nro'], b2['nro'], True))
        self.assertEqual(self.chain_and_series('1'),
            (a['nro'], a['nro'], True))
        self.assertEqual(self.afip_last('6'), b2['nro'])
        # vouchers are not chained documents: the framework's chained
        # claim never sees them
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            self.assertEqual(
                {s.chain for s in Submission.search([
                            ('invoice', 'in', [b1['id'], b2['id'],
                                    a['id']])])},
                {None})

    @tools.requires_postgresql
    def test_chain_lock_blocks_numbering(self):
        "A chain lock held elsewhere holds the numbering of the series"
        import time

        from trytond.pool import Pool
        invoice, = self.post(party='final')
        afip_last = self.afip_last('6')
        with tools.transaction() as transaction:
            Chain = Pool().get('account.einvoice.chain')
            Chain.lock(self.configuration, chain_key(POS, '6'))
            cursor = transaction.connection.cursor()
            worker = tools.worker(self.config_path, '--company',
                str(self.company), wait=False)
            try:
                waiting = 0
                deadline = time.monotonic() + 60
                while not waiting and time.monotonic() < deadline:
                    time.sleep(0.1)
                    cursor.execute('SELECT pg_stat_clear_snapshot()')
                    cursor.execute('SELECT count(*) FROM pg_stat_activity '
                        'WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))')
                    waiting, = cursor.fetchone()
                self.assertTrue(waiting)
                self.assertIsNone(worker.poll())
                self.assertEqual(self.afip_last('6'), afip_last)
            except BaseException:
                worker.kill()
                worker.wait()
                raise
        self.assertEqual(worker.wait(timeout=120), 0)
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted', info)
        self.assertEqual(info['nro'], afip_last + 1)
        self.assertEqual(self.chain_and_series('6')[:2],
            (info['nro'], info['nro']))

    def test_upgrade_moves_counters(self):
        "A database from before the chains: counters move onto chains"
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction():
            pool = Pool()
            Series = pool.get('account.einvoice.ar.series')
            Chain = pool.get('account.einvoice.chain')
            cursor = Transaction().connection.cursor()
            Chain.delete(Chain.search([
                        ('configuration', '=', self.configuration),
                        ('key', 'in', [chain_key(POS, t)
                                for t in ['12', '13']]),
                        ]))
            table = Series.__table__()
            cursor.execute('ALTER TABLE "account_einvoice_ar_series" '
                'ADD COLUMN "last_number" INTEGER')
            for voucher_type, number in [('12', 0), ('13', 41)]:
                cursor.execute(*table.update(
                        [table.last_number], [number],
                        where=(table.pos == self.base['pos'])
                        & (table.voucher_type == voucher_type)))
            Series.__register__('account_einvoice_ar')
            self.assertFalse(Series.__table_handler__(
                    'account_einvoice_ar').column_exist('last_number'))
        self.assertEqual(self.chain_and_series('13'), (41, 41, True))
        self.assertEqual(self.chain_and_series('12'), (None, 0, True))

    def test_verify_series(self):
        "Verify chain checks the vouchers authorized in the series"
        from trytond.pool import Pool
        first, second = self.post(2, party='final')
        self.cron()
        first, second = self.invoices([first, second])
        with tools.transaction(commit=False):
            pool = Pool()
            Chain = pool.get('account.einvoice.chain')
            Invoice = pool.get('account.invoice')
            chain, = Chain.search([
                    ('configuration', '=', self.configuration),
                    ('key', '=', chain_key(POS, '6')),
                    ])
            self.assertEqual(Chain.verify_chains([chain]), {chain.id: None})
            Chain.write([chain], {'last_sequence': first['nro']})
            problem, = Chain.verify_chains([chain]).values()
            self.assertEqual(problem, f'The series "{chain.key}" has '
                f'voucher {second["nro"]} authorized beyond its last '
                f'number {first["nro"]}.')
            Invoice.write([Invoice(second['id'])],
                {'ar_voucher_number': first['nro']})
            problem, = Chain.verify_chains([chain]).values()
            self.assertEqual(problem, f'The series "{chain.key}" has '
                f'voucher {first["nro"]} authorized twice.')
