"""AFIP CAEA: the fortnight's code asked for ahead (exactly once), a point
of sale invoicing through an AFIP outage with it, the vouchers informed
afterwards (exactly once, lost answers included), points of sale without
movement, deadlines and the printed voucher."""
import base64
import datetime as dt
import json

from tests import tools
from tests.ar_case import COMPANY_CUIT, POS, ArTestCase
from tests.sandbox.afip import voucher_key
from tests.sandbox.afip_wsfe_caea import caea_key, sinmov_key

CAEA_POS = 4
IDLE_POS = 5
QR_PREFIX = 'https://www.afip.gob.ar/fe/qr/?p='


def ar_today():
    from trytond.modules.account_einvoice_ar.afip import AR_TZ
    return dt.datetime.now(AR_TZ).date()


class ArCaeaTest(ArTestCase):

    @classmethod
    def setUpData(cls):
        super().setUpData()

        def setup():
            from trytond.pool import Pool
            pool = Pool()
            PointOfSale = pool.get('account.einvoice.ar.pos')
            Configuration = pool.get('account.einvoice.configuration')
            caea_pos, idle = PointOfSale.create([{
                        'company': cls.base['company'],
                        'number': n,
                        'name': name,
                        'emission_type': 'caea',
                        } for n, name in [
                        (CAEA_POS, "Contingency"), (IDLE_POS, "Idle")]])
            PointOfSale.write([PointOfSale(cls.base['pos'])],
                {'contingency_pos': caea_pos.id})
            Configuration.write([Configuration(cls.configuration)],
                {'ar_caea': True})
            return caea_pos.id, idle.id
        cls.caea_pos, cls.idle_pos = tools.call(
            setup, company=cls.base['company'])

    def setUp(self):
        super().setUp()
        self.sandbox.set_option('afip_wsfe', 'puntos_venta', [1, 2, POS] + [
                {'nro': n, 'emision_tipo': 'CAEA', 'bloqueado': 'N',
                    'fch_baja': None} for n in [CAEA_POS, IDLE_POS]])

    # -- helpers ---------------------------------------------------------
    def run_caea(self, today=None):
        from trytond.pool import Pool

        def run():
            pool = Pool()
            Caea = pool.get('account.einvoice.ar.caea')
            Configuration = pool.get('account.einvoice.configuration')
            if today is None:
                Caea.run_contingency()
            else:
                Caea.run_configuration(
                    Configuration(self.configuration), today=today)
        tools.call(run, company=self.company)

    def caeas(self):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Caea = Pool().get('account.einvoice.ar.caea')
            return {(c.period, int(c.order)): {
                        'id': c.id, 'code': c.code, 'state': c.state,
                        'valid_to': c.valid_to,
                        'deadline': c.report_deadline,
                        'notified': c.notified, 'closed': c.closed,
                        'reports': {r.pos.number: r.state
                            for r in c.reports},
                        } for c in Caea.search([])}

    def current(self):
        from trytond.modules.account_einvoice_ar import caea
        return self.caeas()[caea.fortnight(ar_today())]

    def ensure_caea(self):
        if self.caeas().get(self.fortnight(), {}).get('state') != 'granted':
            self.run_caea()
        self.assertEqual(self.current()['state'], 'granted')
        return self.current()

    @staticmethod
    def fortnight():
        from trytond.modules.account_einvoice_ar import caea
        return caea.fortnight(ar_today())

    def details(self, ids):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Invoice = Pool().get('account.invoice')
            return [{
                    'pos': i.ar_pos.number,
                    'authorization': i.ar_authorization,
                    'generated': i.ar_caea_generated,
                    'deadline': i.einvoice_submissions[0].deadline,
                    'reference': i.einvoice_reference,
                    'print': i.einvoice_print_text,
                    } for i in Invoice.browse(ids)]

    def caea_count(self, operation, key):
        return self.sandbox.count('afip_wsfe', operation, key)

    # -- tests -----------------------------------------------------------
    def test_caea_contingency(self):
        "CAEA asked once; an outage: CAEA numbers at posting, informed once"
        from trytond.modules.account_einvoice_ar import caea
        period, order = self.fortnight()
        key = caea_key(COMPANY_CUIT, period, order)
        # the answer to FECAEASolicitar is lost: consulted, not asked again
        self.sandbox.add_fault('afip_wsfe', 'FECAEASolicitar', 'drop_after')
        self.run_caea()
        self.assertEqual(self.current()['state'], 'requested')
        self.run_caea()
        granted = self.current()
        self.assertEqual(granted['state'], 'granted')
        self.assertEqual(self.caea_count('FECAEASolicitar', key), 1)
        self.assertEqual(self.caea_count('FECAEAConsultar', key), 1)
        held = self.sandbox.state('afip_wsfe')['caeas']
        self.assertIn(granted['code'], held)
        _, end = caea.fortnight_dates(period, order)
        self.assertEqual(granted['valid_to'], end)
        self.assertEqual(granted['deadline'], end + dt.timedelta(days=8))
        operations = [(e['kind'], e['remote_operation'], e['state'])
            for e in self.exchanges()]
        self.assertIn(('ar_caea', 'FECAEASolicitar', 'unknown'), operations)
        self.assertIn(('ar_caea', 'FECAEAConsultar', 'done'), operations)
        for exchange in self.exchanges():
            # the stored requests never hold the credentials
            self.assertIn(b'<Token>@@AFIP-TOKEN@@</Token>',
                exchange['request'])

        # granted elsewhere (our record lost): 15008, then consulted
        tools.call(lambda: self._delete_caea(granted['id']))
        self.run_caea()
        again = self.current()
        self.assertEqual(again['code'], granted['code'])
        self.assertEqual(self.caea_count('FECAEASolicitar', key), 2)
        self.assertEqual(self.sandbox.count(
                'afip_wsfe', 'FECAEASolicitar', key, field='granted'), 1)
        self.assertEqual(self.caea_count('FECAEAConsultar', key), 2)

        # AFIP down for CAE requests: the invoices posted get CAEA numbers
        self.set_configuration(ar_authorize_on_post=True, ar_post_timeout=1)
        self.sandbox.add_fault(
            'afip_wsfe', 'FECAESolicitar', 'soap_fault', count=None)
        try:
            ids = [self.post(party='final')[0] for _ in range(3)]
        finally:
            self.set_configuration(ar_authorize_on_post=False)
            self.sandbox.clear_faults()
        infos = self.invoices(ids)
        first = infos[0]['nro']
        self.assertEqual([i['nro'] for i in infos],
            list(range(first, first + 3)))
        for info, detail in zip(infos, self.details(ids)):
            self.assertEqual(detail['pos'], CAEA_POS)
            self.assertEqual(detail['authorization'], 'CAEA')
            self.assertEqual(info['cae'], granted['code'])
            self.assertEqual(info['state'], 'pending')
            self.assertEqual(info['legal'],
                f"{CAEA_POS:05d}-{info['nro']:08d}")
            self.assertEqual(detail['deadline'],
                caea.end_of_day(granted['deadline']))
            self.assertEqual(detail['print'].splitlines()[0],
                f"CAEA: {granted['code']}")
            data = json.loads(base64.b64decode(info['qr'][len(QR_PREFIX):]))
            self.assertEqual(data['tipoCodAut'], 'A')
            self.assertEqual(data['codAut'], int(granted['code']))
            self.assertEqual(data['ptoVta'], CAEA_POS)
            self.assertEqual(data['nroCmp'], info['nro'])
            # AFIP's refusal of the CAE request, then the contingency
            self.assertEqual(sorted(info['outcomes']), [
                    ('local', 'pending', 'CAEA'),
                    ('send', 'pending', 'env:Server')])
            # nothing was authorized online on the CAE point of sale
            self.assertEqual(self.caes().get(voucher_key(
                        COMPANY_CUIT, POS, 6, info['nro'])), None)

        # after the outage, informed; the first answer is lost
        self.sandbox.add_fault(
            'afip_wsfe', 'FECAEARegInformativo', 'drop_after')
        self.cron()
        for info in self.invoices(ids):
            self.assertEqual(info['state'], 'pending')
            self.assertTrue(info['needs_query'])
        self.make_due()
        self.cron()
        informed = self.sandbox.state('afip_wsfe')['informed']
        for info, detail in zip(self.invoices(ids), self.details(ids)):
            voucher = voucher_key(COMPANY_CUIT, CAEA_POS, 6, info['nro'])
            self.assertEqual(info['state'], 'accepted', info)
            self.assertEqual(info['cae'], granted['code'])
            self.assertEqual(detail['reference'], granted['code'])
            self.assertEqual(informed[voucher], 1)
            self.assertEqual(self.caea_count(
                    'FECAEARegInformativo', voucher), 1)
            self.assertEqual(self.caea_count('FECompConsultar', voucher), 1)
        self.cron()
        self.assertEqual(
            self.caea_count('FECAEARegInformativo', voucher), 1)

    def _delete_caea(self, caea_id):
        from trytond.pool import Pool
        Caea = Pool().get('account.einvoice.ar.caea')
        Caea.delete([Caea(caea_id)])

    def test_fortnights(self):
        "The CAEA of the next fortnight is asked for from 5 days before"
        from trytond.modules.account_einvoice_ar import caea
        self.assertEqual(caea.fortnights_to_request(dt.date(2026, 12, 5)),
            [(202612, 1)])
        self.assertEqual(caea.fortnights_to_request(dt.date(2026, 12, 11)),
            [(202612, 1), (202612, 2)])
        self.assertEqual(caea.fortnights_to_request(dt.date(2026, 12, 27)),
            [(202612, 2), (202701, 1)])
        self.assertEqual(caea.fortnight_dates(202402, 2),
            (dt.date(2024, 2, 16), dt.date(2024, 2, 29)))

    def test_posting_without_caea_refused(self):
        "A CAEA point of sale cannot post a date without CAEA"
        from trytond.modules.account_einvoice_ar import caea
        from trytond.modules.account_einvoice_ar.exceptions import (
            CaeaMissingError)
        self.ensure_caea()
        today = ar_today()
        # a day of this fiscal year in a fortnight without CAEA
        held = set(caea.fortnights_to_request(today)) | set(self.caeas())
        other = min((dt.date(today.year, m, d) for m in range(1, 13)
                for d in [1, 16] if caea.fortnight(
                    dt.date(today.year, m, d)) not in held),
            key=lambda d: (d < today, abs((d - today).days)))
        with self.assertRaises(CaeaMissingError) as context:
            self.post(party='final', ar_pos=self.idle_pos,
                invoice_date=other)
        self.assertIn(other.strftime('%d/%m/%Y'), context.exception.message)

    def test_unknown_outcome_does_not_fall_back(self):
        "AFIP may have given a CAE: no CAEA, queried, one CAE"
        self.ensure_caea()
        self.set_configuration(ar_authorize_on_post=True, ar_post_timeout=1)
        self.sandbox.add_fault(
            'afip_wsfe', 'FECAESolicitar', 'hang', seconds=3)
        try:
            invoice, = self.post(party='final')
        finally:
            self.set_configuration(ar_authorize_on_post=False)
        info = self.invoice(invoice)
        detail, = self.details([invoice])
        self.assertEqual(detail['pos'], POS)
        self.assertIsNone(detail['authorization'])
        self.assertIsNone(info['cae'])
        self.assertTrue(info['needs_query'])
        self.assertEqual(self.notifications("AFIP's answer is unknown"), 1)
        self.sandbox.clear_faults()
        self.make_due()
        self.cron()
        info = self.invoice(invoice)
        self.assertEqual(info['state'], 'accepted')
        self.assertEqual(self.caes()[self.key(info)], 1)
        detail, = self.details([invoice])
        self.assertEqual(detail['authorization'], 'CAE')

    def notifications(self, label):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Notification = Pool().get('res.notification')
            return Notification.search_count([('label', '=', label)])

    def test_without_movement(self):
        "After the fortnight, the idle CAEA point of sale informed once"
        from trytond.modules.account_einvoice_ar import caea
        granted = self.ensure_caea()
        # a voucher authorized at posting on the CAEA point of sale
        invoice, = self.post(party='final', ar_pos=self.caea_pos)
        detail, = self.details([invoice])
        self.assertEqual(detail['authorization'], 'CAEA')
        self.assertEqual(self.invoice(invoice)['cae'], granted['code'])
        _, end = caea.fortnight_dates(*self.fortnight())
        after = end + dt.timedelta(days=1)
        offset = (dt.datetime.combine(after, dt.time(12))
            - dt.datetime.combine(ar_today(), dt.time(12))).total_seconds()
        self.sandbox.set_option('afip_wsfe', 'clock_offset_seconds', offset)
        self.sandbox.set_option('afip_wsfe', 'accept_any_token', True)
        self.sandbox.add_fault(
            'afip_wsfe', 'FECAEASinMovimientoInformar', 'drop_after')
        # the next fortnight cannot be had: staff are told
        self.sandbox.add_fault('afip_wsfe', 'FECAEASolicitar', 'soap_fault',
            count=None)
        try:
            self.run_caea(today=after)
            self.assertEqual(self.current()['reports'],
                {IDLE_POS: 'requested'})
            self.run_caea(today=after)
        finally:
            self.sandbox.set_option('afip_wsfe', 'clock_offset_seconds', 0)
            self.sandbox.set_option('afip_wsfe', 'accept_any_token', False)
            self.sandbox.clear_faults()
        record = self.caeas()[self.fortnight()]
        self.assertEqual(record['reports'], {IDLE_POS: 'done'})
        self.assertTrue(record['closed'])
        key = sinmov_key(COMPANY_CUIT, IDLE_POS, granted['code'])
        self.assertEqual(self.caea_count(
                'FECAEASinMovimientoInformar', key), 1)
        self.assertEqual(self.caea_count(
                'FECAEASinMovimientoConsultar', key), 1)
        self.assertIn(key, self.sandbox.state('afip_wsfe')['sin_movimiento'])
        following = self.caeas()[caea.fortnight(after)]
        if caea.fortnight(after) not in caea.fortnights_to_request(
                ar_today()):
            # asked for (and refused) only on the shifted day
            self.assertEqual(following['state'], 'requested')
            self.assertTrue(following['notified'])
