"""Hardening (issue 9): answers that are incomplete or contradictory leave
the outcome unknown and are queried; AFIP's certain refusals are refused
locally with a readable message; SII identifiers (OSS) and schema
messages."""
import datetime as dt
from decimal import Decimal

from lxml import etree

from tests import tools
from tests.ar_case import COMPANY_CUIT, POS, ArTestCase
from tests.sii_case import NS_SII, SIITestCase

EMITIDAS = 'SuministroLRFacturasEmitidas'
CONSULTA = 'ConsultaLRFacturasEmitidas'


def set_date(invoice_id, date):
    """Date a posted invoice (Tryton numbers invoices in date order, so a
    late date cannot be posted after today's invoices)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with tools.transaction():
        Invoice = Pool().get('account.invoice')
        table = Invoice.__table__()
        Transaction().connection.cursor().execute(*table.update(
                [table.invoice_date], [date], where=table.id == invoice_id))


def next_attempt(invoice_id):
    from trytond.pool import Pool
    with tools.transaction(commit=False):
        Submission = Pool().get('account.einvoice.submission')
        submission, = Submission.search([('invoice', '=', invoice_id)])
        return submission.next_attempt


class ArAnswersTest(ArTestCase):

    def held(self, info):
        series = self.sandbox.state('afip_wsfe')['series']
        return series[f'{COMPANY_CUIT}:{POS}:{info["type"]}']['vouchers'][
            str(info['nro'])]

    def assertAuthorizedOnce(self, info):
        self.assertEqual(info['state'], 'accepted', info)
        self.assertEqual(info['cae'], self.held(info)['cae'])
        self.assertEqual(max(self.caes().values()), 1)

    def test_approval_without_cae_queried(self):
        "Resultado A without CAE: unknown, the query gets the CAE"
        self.sandbox.add_fault('afip_wsfe', 'FECAESolicitar', 'empty_cae')
        invoice, = self.post(party='final')
        self.cron()
        info = self.invoice(invoice)
        self.assertAuthorizedOnce(info)
        self.assertEqual([o[:2] for o in info['outcomes']],
            [('query', 'accepted'), ('send', 'unknown')])
        self.assertEqual(
            [e['remote_operation'] for e in self.exchanges()],
            ['FECAESolicitar', 'FECompConsultar'])

    def test_query_without_cae_asked_again(self):
        "A query answer claiming approval without CAE is not accepted"
        self.sandbox.add_fault('afip_wsfe', 'FECAESolicitar', 'drop_after')
        invoice, = self.post(party='final')
        self.cron()
        self.sandbox.add_fault('afip_wsfe', 'FECompConsultar', 'empty_cae')
        self.make_due()
        self.cron()
        info = self.invoice(invoice)
        self.assertAuthorizedOnce(info)
        self.assertEqual([o[:2] for o in info['outcomes']], [
                ('query', 'accepted'), ('query', 'unknown'),
                ('send', 'unknown')])
        self.assertIn('CAE', self.outcome_messages(invoice)[1])

    def test_contradictory_answer_queried(self):
        """The same voucher approved then refused in one answer: queried,
        never numbered and sent again (no second CAE)"""
        self.sandbox.add_fault(
            'afip_wsfe', 'FECAESolicitar', 'duplicate_result')
        invoice, = self.post(party='final')
        self.cron()
        info = self.invoice(invoice)
        self.assertAuthorizedOnce(info)
        self.assertEqual(
            [e['remote_operation'] for e in self.exchanges()],
            ['FECAESolicitar', 'FECompConsultar'])
        self.assertIn('10016', self.outcome_messages(invoice)[-1])

    def outcome_messages(self, invoice_id):
        "Messages of the outcomes, newest first"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            submission, = Submission.search([('invoice', '=', invoice_id)])
            return [o.message or '' for o in submission.outcomes]

    def test_date_outside_window_refused_locally(self):
        "A date AFIP refuses (10016) is refused before sending, explained"
        today = dt.date.today()
        services, = self.post(party='final')
        goods, = self.post(party='final', ar_concept='1')
        set_date(services, today - dt.timedelta(days=12))
        set_date(goods, today - dt.timedelta(days=7))
        self.cron()
        services, goods = self.invoices([services, goods])
        for info, days in [(services, 10), (goods, 5)]:
            self.assertEqual(info['state'], 'rejected', info)
            self.assertEqual(info['code'], 'LOCAL')
            self.assertIn(f'within {days} days', info['message'])
            self.assertIsNone(info['nro'])
        self.assertEqual(self.exchanges(), [])

    def test_date_before_last_voucher_refused_locally(self):
        "A date before the last authorized voucher of the series"
        first, = self.post(party='dni')
        self.cron()
        self.assertEqual(self.invoice(first)['state'], 'accepted')
        late, = self.post(party='dni')
        set_date(late, dt.date.today() - dt.timedelta(days=2))
        self.cron()
        info = self.invoice(late)
        self.assertEqual(info['state'], 'rejected', info)
        self.assertEqual(info['code'], 'LOCAL')
        self.assertIn('before the last voucher', info['message'])
        self.assertEqual(len(self.exchanges()), 1)

    def test_unidentified_consumer_above_threshold(self):
        "RG 5700: from 10,000,000 pesos the final consumer is identified"
        lines = [(Decimal('10000000'), ['iva21'], 1)]
        anonymous, = self.post(party='final', lines=lines)
        identified, = self.post(party='dni', lines=lines)
        small, = self.post(party='final')
        self.cron()
        anonymous, identified, small = self.invoices(
            [anonymous, identified, small])
        self.assertEqual(anonymous['state'], 'rejected')
        self.assertEqual(anonymous['code'], 'LOCAL')
        self.assertIn('12100000.00 pesos', anonymous['message'])
        self.assertIn('RG 5700', anonymous['message'])
        self.assertEqual(identified['state'], 'accepted', identified)
        self.assertEqual(small['state'], 'accepted', small)
        self.assertIsNone(anonymous['nro'])

    def test_same_currency_flag_only_in_foreign_currency(self):
        "CanMisMonExt is sent for foreign-currency vouchers only"
        pesos, = self.post(party='final')
        dollars, = self.post(party='final', currency=self.base['usd'])
        self.cron()
        pesos, dollars = self.invoices([pesos, dollars])
        self.assertIsNone(self.held(pesos)['fields']['CanMisMonExt'])
        self.assertEqual(self.held(dollars)['fields']['CanMisMonExt'], 'N')

    def test_already_authenticated_one_login_per_run(self):
        """A ticket held elsewhere: one login attempt in the run, retried
        when that ticket may have expired, not after the backoff"""
        first, = self.post(party='final')
        self.cron()
        self.assertEqual(self.invoice(first)['state'], 'accepted')
        self.forget_tickets()
        try:
            invoice, = self.post(party='final')
            before = self.login_attempts()
            started = dt.datetime.now()
            self.cron()
            self.assertEqual(self.login_attempts(), before + 1)
            info = self.invoice(invoice)
            self.assertEqual(info['state'], 'pending')
            self.assertIn('ya posee un TA valido', info['last_error'])
            # unknown expiration: tried again in an hour
            self.assertGreater(next_attempt(invoice),
                started + dt.timedelta(minutes=59))
        finally:
            self.sandbox.set_option(
                'afip_wsaa', 'expire_tickets', COMPANY_CUIT)
        self.make_due()
        self.cron()
        self.assertEqual(self.invoice(invoice)['state'], 'accepted')

    def test_already_authenticated_retry_at_ticket_expiry(self):
        """AFIP refuses our ticket yet holds it: retried once it expires"""
        invoice, = self.post(party='final')
        self.cron()
        self.assertEqual(self.invoice(invoice)['state'], 'accepted')
        expiration = self.spoil_ticket()
        try:
            invoice, = self.post(party='final')
            before = self.login_attempts()
            self.cron()
            self.assertEqual(self.login_attempts(), before + 1)
            self.assertEqual(self.invoice(invoice)['state'], 'pending')
            # expiration is UTC, next attempt local time
            offset = dt.datetime.now() - dt.datetime.utcnow()
            self.assertAlmostEqual(
                (next_attempt(invoice) - offset - expiration
                    ).total_seconds(), 60, delta=120)
        finally:
            self.forget_tickets()
            self.sandbox.set_option(
                'afip_wsaa', 'expire_tickets', COMPANY_CUIT)
        self.make_due()
        self.cron()
        self.assertEqual(self.invoice(invoice)['state'], 'accepted')

    def login_attempts(self):
        return self.sandbox.count('afip_wsaa', 'loginCms', COMPANY_CUIT)

    def spoil_ticket(self):
        """Replace the stored token by one AFIP does not know (AFIP still
        holds the real one); return the ticket's expiration (UTC)"""
        from trytond.modules.account_einvoice_ar import ticket
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        with tools.transaction():
            Ticket = Pool().get('account.einvoice.ar.ticket')
            table = Ticket.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update([table.token], ['spoiled']))
            cursor.execute(*table.select(table.expiration))
            expiration, = cursor.fetchone()
        ticket._memory.clear()
        if isinstance(expiration, str):
            expiration = dt.datetime.fromisoformat(expiration)
        return expiration


def S(name):
    return '{%s}%s' % (NS_SII, name)


class SIIAnswersTest(SIITestCase):

    def test_line_listed_twice_queried(self):
        "An answer listing an invoice twice, differently: queried"
        self.sandbox.add_fault('sii', EMITIDAS, 'duplicate_line')
        invoice = self.post([('100', ['iva21'], 'service')])
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted', submission)
        self.assertEqual(submission['reference'], self.held(invoice)['csv'])
        self.assertEqual([o[:2] for o in submission['outcomes']], [
                ('send', 'unknown'), ('query', 'accepted')])
        self.assertEqual(self.sandbox.count(
                'sii', EMITIDAS, self.key(invoice)), 1)

    def test_query_item_listed_twice_asked_again(self):
        "A query answer listing an invoice twice, differently: asked again"
        self.sandbox.add_fault('sii', EMITIDAS, 'drop_after')
        invoice = self.post([('100', ['iva21'], 'service')])
        self.cron()
        self.assertTrue(self.submission(invoice)['needs_query'])
        self.sandbox.add_fault('sii', CONSULTA, 'duplicate_line',
            position='after')
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted', submission)
        self.assertEqual([o[:2] for o in submission['outcomes']], [
                ('send', 'unknown'), ('query', 'unknown'),
                ('query', 'accepted')])
        self.assertEqual(self.held(invoice)['state'], 'Correcta')

    def test_oss_identifier_sent_as_other_id(self):
        "An OSS number (EU...) is IDOtro 04 with the address' country"
        party = self.new_party("OSS Seller Ltd",
            ('eu_vat', 'EU372022452'), country='US')
        invoice = self.post([('80', ['ns'], 'service')], party=party)
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'accepted', submission)
        record = self.record_xml(invoice)
        other, = record.iter(S('IDOtro'))
        self.assertEqual(
            [(etree.QName(e).localname, e.text) for e in other],
            [('CodigoPais', 'US'), ('IDType', '04'), ('ID', 'EU372022452')])
        self.assertRequestsValid()

    def test_schema_message_names_field_and_value(self):
        "A value outside a schema list: no enumeration in the message"
        from trytond.pool import Pool

        def create_country():
            Country = Pool().get('country.country')
            Country.create([{'code': 'ZZ', 'name': "Nowhere"}])
        tools.call(create_country, company=self.company)
        party = self.new_party("Nowhere Traveller",
            ('sii_passport', 'P1234567'), country='ZZ')
        invoice = self.post([('80', ['ns'], 'service')], party=party)
        self.cron()
        submission = self.submission(invoice)
        self.assertEqual(submission['state'], 'rejected')
        message = submission['message']
        self.assertIn("CodigoPais", message)
        self.assertIn("'ZZ'", message)
        self.assertNotIn("'AF'", message)
        self.assertNotIn('{https://', message)
        self.assertLess(len(message), 600)
