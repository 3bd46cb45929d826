"""SII cash criterion (RECC, key 07): collections of issued invoices and
payments of received invoices, from Tryton's payments and
reconciliations, reported once to the sandbox AEAT."""
import datetime as dt
from decimal import Decimal

from tests import tools
from tests.sii_case import SIITestCase, create_invoice

COBROS = 'SuministroLRCobrosEmitidas'
PAGOS = 'SuministroLRPagosRecibidas'
IBAN = 'ES9121000418450200051332'


def setup_payment_method(base):
    "A bank journal (SII means 01, its IBAN) and its payment method"
    from trytond.pool import Pool
    pool = Pool()
    Journal = pool.get('account.journal')
    Method = pool.get('account.invoice.payment.method')
    Account = pool.get('account.account')
    # any account without party stands for the bank here
    cash = Account(base['expense'])
    journal = Journal(name="Bank", code='BANK', type='cash',
        sii_payment_means='01', sii_payment_account=IBAN)
    journal.save()
    method = Method(name="Bank", company=base['company'], journal=journal,
        credit_account=cash, debit_account=cash)
    method.save()
    return method.id


def post_recc(base, lines, **kwargs):
    "Post an invoice under the cash criterion (key 07)"
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    invoice = create_invoice(base, lines, post=False, **kwargs)
    invoice.sii_operation_key = '07'
    invoice.save()
    Invoice.post([invoice])
    return invoice.id


def pay(invoice_id, method_id, amount, date=None, reconcile=False):
    "Pay amount of the invoice (and reconcile it, when told)"
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Line = pool.get('account.move.line')
    Method = pool.get('account.invoice.payment.method')
    invoice = Invoice(invoice_id)
    invoice.pay_invoice(Decimal(amount), Method(method_id),
        date or dt.date.today())
    if reconcile:
        invoice = Invoice(invoice_id)
        Line.reconcile(list(invoice.lines_to_pay)
            + list(invoice.payment_lines))


def remove_payments(invoice_id):
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    Invoice.remove_payment_lines(list(Invoice(invoice_id).payment_lines))


class SIICashTest(SIITestCase):

    @classmethod
    def setUpData(cls):
        super().setUpData()
        cls.method = tools.call(setup_payment_method, cls.base,
            company=cls.base['company'])

    def post_recc(self, lines, **kwargs):
        return tools.call(lambda: post_recc(self.base, lines, **kwargs),
            company=self.company)

    def pay(self, invoice_id, amount, **kwargs):
        tools.call(lambda: pay(invoice_id, self.method, amount, **kwargs),
            company=self.company)

    def movements(self, invoice_id):
        "[(date, amount, means, state, code, message)] of its records"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Movement = Pool().get('account.einvoice.sii.cash')
            result = []
            for movement in Movement.search([('invoice', '=', invoice_id)]):
                submission, = movement.record.submissions
                result.append((movement.date, movement.amount,
                        movement.means, submission.state, submission.code,
                        submission.message))
            return result

    def cash_held(self, invoice_id):
        return [(c['fecha'], c['importe'], c['medio'], c['cuenta'])
            for c in (self.held(invoice_id) or {}).get('cash', [])]

    def test_collection_reported_once(self):
        "A RECC invoice paid and reconciled: its collection reported once"
        today = dt.date.today()
        invoice = self.post_recc([('100', ['iva21'], None)])
        other = self.post([('100', ['iva21'], None)])
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.pay(invoice, '121.00', reconcile=True)
        self.pay(other, '121.00', reconcile=True)
        self.cron()
        self.cron()
        self.assertEqual(self.movements(invoice), [
                (today, Decimal('121.00'), '01', 'accepted', None, None)])
        self.assertEqual(self.movements(other), [])
        self.assertEqual(self.cash_held(invoice), [
                (today.strftime('%d-%m-%Y'), '121.00', '01', IBAN)])
        requests = self.sandbox.received('sii', COBROS)
        self.assertEqual([r['summary']['keys'] for r in requests],
            [[self.key(invoice)]])
        self.assertEqual(requests[0]['summary']['estado_envio'], 'Correcto')
        self.assertRequestsValid()

    def test_partial_collections(self):
        "Two partial payments: two collections"
        first_date = dt.date.today()
        invoice = self.post_recc([('100', ['iva21'], None)])
        self.cron()
        self.pay(invoice, '50.00', date=first_date)
        self.cron()
        self.assertEqual(self.cash_held(invoice), [
                (first_date.strftime('%d-%m-%Y'), '50.00', '01', IBAN)])
        self.pay(invoice, '71.00', reconcile=True)
        self.cron()
        self.assertEqual([m[1:4] for m in self.movements(invoice)], [
                (Decimal('50.00'), '01', 'accepted'),
                (Decimal('71.00'), '01', 'accepted')])
        self.assertEqual([c[1] for c in self.cash_held(invoice)],
            ['50.00', '71.00'])
        self.assertEqual(len(self.sandbox.received('sii', COBROS)), 2)
        self.assertRequestsValid()

    def test_payment_of_received_invoice(self):
        "A received RECC invoice paid: the payment on the received book"
        invoice = self.post_recc([('200', ['iva21'], None)],
            party='supplier', type_='in', reference='PROV-77')
        self.cron()
        self.assertEqual(self.submission(invoice)['state'], 'accepted')
        self.pay(invoice, '242.00', reconcile=True)
        self.cron()
        self.assertEqual([m[1:4] for m in self.movements(invoice)], [
                (Decimal('242.00'), '01', 'accepted')])
        self.assertEqual([c[1] for c in self.cash_held(invoice)],
            ['242.00'])
        requests = self.sandbox.received('sii', PAGOS)
        self.assertEqual([r['summary']['keys'] for r in requests],
            [[self.key(invoice)]])
        self.assertRequestsValid()

    def test_overpayment_refused_locally(self):
        "Collections beyond the invoice total are refused before sending"
        invoice = self.post_recc([('100', ['iva21'], None)])
        self.cron()
        self.pay(invoice, '100.00')
        self.cron()
        # the payment line taken off the invoice after it was reported
        # (AEAT has no cancellation of a collection), another one added
        tools.call(remove_payments, invoice, company=self.company)
        self.pay(invoice, '121.00')
        self.cron()
        first, second = self.movements(invoice)
        self.assertEqual(first[1:4], (Decimal('100.00'), '01', 'accepted'))
        _, amount, _, state, code, message = second
        self.assertEqual((amount, state, code),
            (Decimal('121.00'), 'rejected', 'LOCAL'))
        self.assertIn('exceeds', message)
        self.assertIn('total 121.00, already reported 100.00', message)
        self.assertEqual(len(self.sandbox.received('sii', COBROS)), 1)
        self.assertEqual([c[1] for c in self.cash_held(invoice)],
            ['100.00'])

    def test_lost_answer_queried(self):
        "The answer to a collection lost: ConsultaCobros, never a resend"
        invoice = self.post_recc([('100', ['iva21'], None)])
        self.cron()
        self.pay(invoice, '121.00', reconcile=True)
        self.sandbox.add_fault('sii', COBROS, 'drop_after')
        self.cron()
        (_, _, _, state, _, _), = self.movements(invoice)
        self.assertEqual(state, 'pending')
        self.cron()
        self.cron()
        self.assertEqual([m[1:4] for m in self.movements(invoice)], [
                (Decimal('121.00'), '01', 'accepted')])
        self.assertEqual(self.sandbox.count('sii', COBROS,
                self.key(invoice)), 1)
        query, = self.sandbox.received('sii', 'ConsultaCobros')
        self.assertEqual(query['summary']['found'], 1)
        self.assertEqual([c[1] for c in self.cash_held(invoice)],
            ['121.00'])
