"""VERI*FACTU through the cron against the sandbox AEAT: records generated
at posting and chained, the QR before anything is sent, cancellation,
rejection and correction, one bad record alone, lost answers, the wait."""
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from tests.verifactu_case import SERVICE, SF, VerifactuTestCase


def text(record, name):
    return record.findtext(f'.//{{{SF}}}{name}')


class VerifactuFlowTest(VerifactuTestCase):

    def held(self, invoice_id):
        "What the sandbox AEAT holds for an invoice (or None)"
        number, date = self.invoice_values(
            invoice_id, 'number', 'invoice_date')
        key = f'{self.titular}|{number}|{date.strftime("%d-%m-%Y")}'
        return self.sandbox.verifactu(self.titular)['invoices'].get(key)

    def assertEachRecordOnce(self):
        received = self.sandbox.state(SERVICE)['received']
        self.assertTrue(received)
        self.assertEqual(
            {h: n for h, n in received.items() if n != 1}, {})

    def assertChainsSound(self):
        state = self.sandbox.state(SERVICE)
        self.assertEqual(state['chain_breaks'], [])
        self.assertEqual(state['huella_errors'], [])
        self.assertEqual(state['violations'], [])
        self.assertEqual(set(self.verify_chains().values()), {None})

    def test_post_generates_chained_record_and_qr_before_sending(self):
        "Posting stores the record and the QR; the cron sends it once"
        first = self.post([(100, ['iva21'], 'goods')])
        second = self.post([(Decimal('12.30'), ['iva10'], 'service')])
        documents = self.documents(first)
        self.assertEqual([d[0] for d in documents], ['alta'])
        kind, digest, data = documents[0]
        record = etree.fromstring(data)
        self.assertEqual(text(record, 'Huella'), digest)
        self.assertEqual(len(digest), 64)
        qr, legend, number = self.invoice_values(
            first, 'einvoice_qr', 'einvoice_print_text', 'number')
        url = urlsplit(qr)
        self.assertEqual(url.netloc, 'prewww2.aeat.es')
        query = parse_qs(url.query)
        self.assertEqual(query['nif'], [self.titular])
        self.assertEqual(query['numserie'], [number])
        self.assertEqual(query['importe'], ['121.00'])
        self.assertEqual(legend, 'VERI*FACTU')
        self.assertEqual(self.exchanges(), [])

        second_record = etree.fromstring(self.documents(second)[0][2])
        anterior = second_record.find(
            f'{{{SF}}}Encadenamiento/{{{SF}}}RegistroAnterior')
        self.assertEqual(anterior.findtext(f'{{{SF}}}Huella'), digest)
        self.assertEqual(
            anterior.findtext(f'{{{SF}}}NumSerieFactura'), number)

        self.cron()
        for invoice in (first, second):
            submission = self.submission(invoice)
            self.assertEqual(submission['state'], 'accepted')
            self.assertTrue(submission['reference'])
            self.assertEqual(self.held(invoice)['state'], 'Correcta')
        sent = self.sent_records()
        self.assertEqual(
            [etree.tostring(r) for r in sent],
            [etree.tostring(etree.fromstring(d[2]))
                for i in (first, second) for d in self.documents(i)])
        self.assertRequestsValid()
        self.assertEachRecordOnce()
        self.assertChainsSound()
