"""AFIP: numbering races, lost answers, access tickets, authorize on post,
concurrent senders."""
import os
import subprocess
import sys
from collections import Counter

from tests import tools
from tests.ar_case import COMPANY_CUIT, POS, ArTestCase, create_invoice


class ArRecoveryTest(ArTestCase):

    def test_10016_after_external_number(self):
        "Someone else used the next number: resynchronised, renumbered"
        first, = self.post(party='final')
        self.cron()
        first = self.invoice(first)
        self.assertEqual(first['state'], 'accepted')
        self.sandbox.set_option('afip_wsfe', 'authorize_external', {
                'cuit': COMPANY_CUIT, 'pto_vta': POS, 'cbte_tipo': 6,
                'count': 2})
        second, third = self.post(2, party='final')
        self.cron()
        second, third = self.invoices([second, third])
        for info in [second, third]:
            self.assertEqual(info['state'], 'accepted', info)
            self.assertEqual(self.caes()[self.key(info)], 1)
        self.assertEqual(second['nro'], first['nro'] + 3)
        self.assertEqual(third['nro'], first['nro'] + 4)
        self.assertIn(('send', 'not_found', '10016'), second['outcomes'])
        self.assertEqual(max(self.caes().values()), 1)

    def test_lost_response(self):
        "The answer is lost: FECompConsultar finds it, one CAE only"
        self.sandbox.add_fault('afip_wsfe', 'FECAESolicitar', 'drop_after')
        invoice, = self.post(party='ri')
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'pending')
        self.assertTrue(info['needs_query'])
        self.make_due()
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted')
        self.assertEqual(self.caes()[self.key(info)], 1)
        self.assertEqual(self.sandbox.count(
                'afip_wsfe', 'FECAESolicitar', self.key(info)), 1)
        self.assertEqual(self.sandbox.count(
                'afip_wsfe', 'FECompConsultar', self.key(info)), 1)
        self.assertEqual(info['cae'], self.sandbox.state('afip_wsfe')[
                'series'][f'{COMPANY_CUIT}:{POS}:1']['vouchers'][
                str(info['nro'])]['cae'])
        self.assertEqual(
            [(e['remote_operation'], e['state']) for e in self.exchanges()],
            [('FECAESolicitar', 'unknown'), ('FECompConsultar', 'done')])

    def test_lost_request(self):
        "Nothing reached AFIP: the query says so and it is sent again"
        self.sandbox.add_fault('afip_wsfe', 'FECAESolicitar', 'http_503')
        invoice, = self.post(party='ri')
        self.cron()
        self.make_due()
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted')
        self.assertEqual(self.caes()[self.key(info)], 1)

    def test_ticket_shared_by_processes(self):
        "Two processes needing a ticket at once log in once"
        self.forget_tickets()
        self.sandbox.set_option('afip_wsaa', 'expire_tickets', '*')
        self.sandbox.set_option('afip_wsaa', 'latency', 0.5)
        before = self.logins()
        env = dict(os.environ, TRYTOND_CONFIG=self.config_path,
            DB_NAME=self.test_tryton.DB_NAME)
        try:
            processes = [subprocess.Popen(
                    [sys.executable, '-m', 'tests.ar_case', 'ticket'],
                    cwd=tools.ROOT, env=env, stdout=subprocess.PIPE)
                for _ in range(2)]
            tokens = [p.communicate(timeout=120)[0].strip()
                for p in processes]
        finally:
            self.sandbox.set_option('afip_wsaa', 'latency', 0)
        self.assertEqual([p.returncode for p in processes], [0, 0])
        self.assertEqual(tokens[0], tokens[1])
        self.assertEqual(self.logins(), before + 1)
        # and this process reuses it from the database
        invoice, = self.post(party='final')
        self.cron()
        self.assertEqual(self.invoice(invoice)['state'], 'accepted')
        self.assertEqual(self.logins(), before + 1)

    def test_expired_ticket_renewed(self):
        "AFIP expired the ticket: logged in again, the invoice goes"
        invoice, = self.post(party='final')
        self.cron()
        before = self.logins()
        self.sandbox.set_option('afip_wsaa', 'expire_tickets', COMPANY_CUIT)
        invoice, = self.post(party='final')
        self.cron()
        self.assertEqual(self.invoice(invoice)['state'], 'accepted')
        self.assertEqual(self.logins(), before + 1)

    def test_already_authenticated(self):
        "A ticket lost here: invoices wait, nothing is refused"
        invoice, = self.post(party='final')
        self.cron()
        self.forget_tickets()
        invoice, = self.post(party='ri')
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'pending')
        self.assertIn('ya posee un TA valido', info['last_error'])
        # once AFIP's ticket expires, the next run sends it
        self.sandbox.set_option('afip_wsaa', 'expire_tickets', COMPANY_CUIT)
        self.make_due()
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted')

    def test_clock_offset(self):
        "Our clock is 2 h ahead: the login uses AFIP's time"
        for service in ['afip_wsaa', 'afip_wsfe']:
            self.sandbox.set_option(service, 'clock_offset_seconds', -7200)
        try:
            self.forget_tickets()
            self.sandbox.set_option('afip_wsaa', 'expire_tickets', '*')
            invoice, = self.post(party='final')
            self.cron()
            info = self.invoice(invoice)
        finally:
            for service in ['afip_wsaa', 'afip_wsfe']:
                self.sandbox.set_option(service, 'clock_offset_seconds', 0)
            self.forget_tickets()
            self.sandbox.set_option('afip_wsaa', 'expire_tickets', '*')
        self.assertEqual(info['state'], 'accepted', info)

    def test_authorize_on_post(self):
        "Posting returns with the CAE; when AFIP is slow it stays queued"
        self.set_configuration(ar_authorize_on_post=True, ar_post_timeout=1)
        invoice, = self.post(party='final')
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted')
        self.assertTrue(info['cae'])

        self.sandbox.add_fault(
            'afip_wsfe', 'FECAESolicitar', 'latency', seconds=3)
        slow, = self.post(party='final')
        info = self.invoice(slow)
        self.assertEqual(info['state'], 'pending')
        self.assertIsNone(info['cae'])
        self.assertTrue(info['needs_query'])
        self.set_configuration(ar_authorize_on_post=False)
        self.make_due()
        self.cron()
        info = self.invoice(slow)
        self.assertEqual(info['state'], 'accepted')
        self.assertEqual(self.caes()[self.key(info)], 1)

    @tools.requires_postgresql
    def test_concurrent_senders(self):
        "Two processes, one point of sale: gap-free, one CAE each"
        from trytond.pool import Pool

        def post_all():
            # one post of the 80 (not 40 transactions): same invoices
            Invoice = Pool().get('account.invoice')
            invoices = []
            for _ in range(20):
                invoices += [create_invoice(self.base, party=party, post=False)
                    for party in ['final', 'final', 'final', 'ri']]
            Invoice.post(Invoice.browse(invoices))
            return invoices
        ids = tools.call(post_all, company=self.company)
        self.set_configuration(batch_size=7)
        self.sandbox.set_option('afip_wsfe', 'latency', 0.05)
        try:
            processes = [tools.worker(self.config_path, '--company',
                    str(self.company), wait=False) for _ in range(2)]
            for process in processes:
                self.assertEqual(process.wait(timeout=300), 0)
        finally:
            self.sandbox.set_option('afip_wsfe', 'latency', 0)
        infos = self.invoices(ids)
        self.assertEqual(Counter(i['state'] for i in infos),
            Counter({'accepted': len(ids)}), [
                (i['id'], i['state'], i['last_error'], i['outcomes'])
                for i in infos if i['state'] != 'accepted'])
        for voucher_type in ['1', '6']:
            numbers = sorted(i['nro'] for i in infos
                if i['type'] == voucher_type)
            self.assertEqual(numbers, list(range(
                        numbers[0], numbers[0] + len(numbers))))
        self.assertEqual(max(self.caes().values()), 1)
        self.assertNotIn('rejected', {i['state'] for i in infos})
