"""Tests of the SIFEN sandbox service (``sifen``): the six WSDLs and their
schemas, the checks of a DE, sync and lots, consulta, events, consulta-ruc,
refusals of whole requests and faults.  No database.

Run: .venv/bin/python -m tests.run tests.test_sandbox_sifen
"""
import datetime
import html

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from tests.sandbox.sifen_xml import NS, WSDLS, check_digit, wsdl_schema
from tests.sandbox_sifen_case import (
    CONSULTA, CONSULTA_LOTE, CONSULTA_RUC, EVENTO, LOTE, PARAGUAY, RECIBE,
    TIMBRADO, SifenSandboxCase, build_de, envelope, find, load_identity,
    lot_xde, set_text, xml)

HOUR = datetime.timedelta(hours=1)


def now():
    return datetime.datetime.now(PARAGUAY)


def s(path):
    return '/'.join('{%s}%s' % (NS, p) for p in path.split('/'))


class SifenSandboxTestCase(SifenSandboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ruc = '80000001'
        cls.other_ruc = ruc
        identity = cls.sb.pki.add_identity('py_other',
            '%s-%s' % (ruc, check_digit(ruc)), serial_prefix='RUC',
            rsa=True)
        cls.other_key, cls.other_certificate = load_identity(identity)
        cls.other_session = cls.sb.session('py_other')

    @classmethod
    def tearDownClass(cls):
        cls.other_session.close()
        super().tearDownClass()

    def rejected(self, rde, code, text=None):
        answer = self.recibe(rde)
        self.assertEqual(answer.findtext(s('rProtDe/dEstRes')), 'Rechazado')
        codes = self.codes(answer)
        self.assertIn(code, [c for c, _ in codes], codes)
        if text:
            self.assertIn(text, dict(codes)[code])
        return codes

    def test_wsdl_schemas(self):
        "Each WSDL's import is mapped to its XSD: bodies validated"
        bodies = dict([
            (RECIBE, '<rEnviDe xmlns="%s"><dId>1</dId><xDE><rDE/></xDE>'
                '</rEnviDe>'),
            (LOTE, '<rEnvioLote xmlns="%s"><dId>1</dId><xDE>UEsFBg=='
                '</xDE></rEnvioLote>'),
            (CONSULTA_LOTE, '<rEnviConsLoteDe xmlns="%s"><dId>1</dId>'
                '<dProtConsLote>1</dProtConsLote></rEnviConsLoteDe>'),
            (CONSULTA, '<rEnviConsDeRequest xmlns="%s"><dId>1</dId><dCDC>'
                '01800138848001001123456412018121817819792239</dCDC>'
                '</rEnviConsDeRequest>'),
            (CONSULTA_RUC, '<rEnviConsRUC xmlns="%s"><dId>1</dId>'
                '<dRUCCons>80013884</dRUCCons></rEnviConsRUC>'),
            (EVENTO, '<rEnviEventoDe xmlns="%s"><dId>1</dId><dEvReg>'
                '<gGroupGesEve/></dEvReg></rEnviEventoDe>'),
            ])
        self.assertEqual(set(bodies), set(WSDLS))
        for path, body in bodies.items():
            with self.subTest(path=path):
                element = etree.fromstring(body % NS)
                error = wsdl_schema(path).validate(element)
                if path == EVENTO:  # gGroupGesEve needs an rGesEve
                    self.assertIn('rGesEve', error)
                else:
                    self.assertIsNone(error)
                element.remove(element[0])
                self.assertIn('dId', wsdl_schema(path).validate(element))
                response = self.session.get(self.sb.url + path + '?wsdl')
                self.assertEqual(response.status_code, 200)
                self.assertIn(self.sb.url + path, response.text)
        # through the service: 0100 with libxml2's message
        answer = self.answer(CONSULTA_RUC, '<rEnviConsRUC xmlns="%s">'
            '<dId>1</dId></rEnviConsRUC>' % NS)
        self.assertEqual(answer.findtext(s('dCodRes')), '0100')
        self.assertIn('dRUCCons', answer.findtext(s('dMsgRes')))

    def test_sync(self):
        "Approved once (0260, dProtAut), then 1001; consulta holds it"
        rde = self.de()
        cdc = find(rde, 'DE').get('Id')
        answer = self.recibe(rde)
        self.assertEqual(answer.findtext(s('rProtDe/Id')), cdc)
        self.assertEqual(answer.findtext(s('rProtDe/dEstRes')), 'Aprobado')
        self.assertTrue(answer.findtext(s('rProtDe/dProtAut')).isdigit())
        self.assertEqual(self.codes(answer), [
                ('0260', 'Autorización del DE satisfactoria')])
        self.assertEqual(answer.findtext(s('rProtDe/dDigVal')), rde.findtext(
                './/{http://www.w3.org/2000/09/xmldsig#}DigestValue'))
        self.assertEqual(self.codes(self.recibe(rde)),
            [('1001', 'CDC duplicado')])
        answer = self.consulta(cdc)
        self.assertEqual(answer.findtext(s('dCodRes')), '0422')
        content = etree.fromstring(answer.findtext(s('xContenDE')))
        self.assertEqual(content.find(s('rDE/DE')).get('Id'), cdc)
        self.assertEqual(content.findtext(s('dEstRes')), 'Aprobado')
        self.assertEqual(self.consulta(
                cdc[:-1] + str((int(cdc[-1]) + 1) % 10)).findtext(
                s('dCodRes')), '0420')
        state = self.sb.state('sifen')
        self.assertEqual(state['received'], {cdc: 2})
        self.assertEqual(state['held'][cdc]['state'], 'approved')
        self.assertEqual(state['duplicates'], [{'cdc': cdc, 'lot': None}])
        self.assertEqual(state['calls']['recibe'], 2)
        self.assertEqual(state['asked']['consulta'][cdc], 1)

    def test_de_rules(self):
        "Each rule of a DE: its code and text"
        def remove(path):
            def spoil(de):
                element = find(de, path)
                element.getparent().remove(element)
            return spoil

        def change(path, value):
            return lambda de: set_text(de, path, value)

        def wrong_dv(cdc):
            return cdc[:-1] + str((int(cdc[-1]) + 1) % 10)

        def wrong_part(cdc):
            digits = cdc[:34] + '000000000'
            return digits + check_digit(digits)

        self.rejected(self.de(spoil=remove('dSisFact')), '0100',
            "Expected is ( {%s}dSisFact )" % NS)
        self.rejected(self.de(alter_cdc=wrong_dv), '1003',
            'DV del CDC inválido')
        self.rejected(self.de(alter_cdc=wrong_part), '1000',
            'CDC no corresponde con las informaciones del XML: dCodSeg')
        self.rejected(self.de(csc='EFGH0000000000000000000000000000'),
            '2501', 'cHashQR inválido')
        self.rejected(self.de(issued=now() - 721 * HOUR), '1150',
            'más de 720 horas de atraso')
        self.rejected(self.de(issued=now() + 121 * HOUR, signed=now()),
            '1151', 'más de 120 horas de adelanto')
        self.rejected(self.de(signed=now() + HOUR), '1004',
            'Fecha y hora de la firma digital posterior')
        self.rejected(self.de(spoil=change('gTotSub/dSub10', 1)), '2403',
            'Total dSub10 (1) no corresponde a la suma de dTotOpeItem of '
            'items at 10 % (1100000)')
        # several problems: every code
        codes = self.rejected(self.de(spoil=lambda de: (
                    change('gTotSub/dTotIVA', 7)(de),
                    change('gTotSub/dTotGralOpe', 7)(de))), '2407')
        self.assertEqual([c for c, _ in codes], ['2404', '2407'])
        self.assertIn('Total dTotIVA (7) no corresponde a la suma de '
            'dLiqIVAItem of all items (105000)', dict(codes)['2407'])

        # layout: prefix, whitespace
        text = xml(self.de())
        prefixed = text.replace('<dVerFor>150</dVerFor>',
            '<x:dVerFor xmlns:x="%s">150</x:dVerFor>' % NS)
        blank = text.replace('<dVerFor>150</dVerFor>',
            '<dVerFor>150</dVerFor>\n  ')
        for data, code in [(prefixed, '0106'), (blank, '0105')]:
            self.rejected(etree.fromstring(data), code)

        # signature: tampered, another RUC, a CA unknown to SIFEN
        rde = self.de()
        set_text(rde, 'DE/gDatGralOpe/gEmis/dNomEmi', 'OTRA S.A.')
        self.rejected(rde, '0141', 'Valor de la firma')
        rde = build_de(self.other_key, self.other_certificate, number=90)
        self.rejected(rde, '0142', 'RUC del certificado (%s-%s) no '
            'corresponde al RUC del emisor (80013884)' % (
                self.other_ruc, check_digit(self.other_ruc)))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER,
                    'RUC80013884-8')])
        certificate = (x509.CertificateBuilder().subject_name(name)
            .issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now() - 24 * HOUR)
            .not_valid_after(now() + 24 * HOUR).sign(key, hashes.SHA256()))
        self.rejected(build_de(key, certificate, number=91), '0140',
            'certificado no emitido por un PSC habilitado')

        # timbrado
        self.sb.set_option('sifen', 'timbrados', {'80013884': [{
                        'number': TIMBRADO, 'start': '2018-10-12',
                        'points': ['001-001']}]})
        self.rejected(self.de(timbrado='12345678'), '1101',
            'Número de timbrado inexistente')
        self.rejected(self.de(point='002'), '1101',
            'Establecimiento-punto 001-002 no habilitado')
        self.assertEqual(self.codes(self.recibe(self.de()))[0][0], '0260')

        # late: approved with observation (1005), by rule or option
        answer = self.recibe(self.de(issued=now() - 73 * HOUR))
        self.assertEqual(answer.findtext(s('rProtDe/dEstRes')),
            'Aprobado con observación')
        self.assertEqual(self.codes(answer),
            [('1005', 'Transmisión extemporánea del DE')])
        rde = self.de()
        self.sb.set_option('sifen', 'observe_cdcs', [find(rde, 'DE').get(
                    'Id')])
        self.assertEqual(self.codes(self.recibe(rde))[0][0], '1005')
        state = self.sb.state('sifen')
        self.assertEqual(len(state['held']), 3)
        # the prefixed and blank copies share a CDC
        self.assertEqual(len(state['rejected']), 15)

    def test_lots(self):
        "0300, 0361 then 0362 per DE; consulta 0420 while processing"
        bad = self.de(spoil=lambda de: set_text(de, 'gTotSub/dTotIVA', 1))
        good = [self.de(), self.de()]
        answer = self.send_lot([good[0], bad, good[1]])
        self.assertEqual(answer.findtext(s('dCodRes')), '0300')
        self.assertEqual(answer.findtext(s('dTpoProces')), '60')
        ticket = answer.findtext(s('dProtConsLote'))
        cdcs = [find(r, 'DE').get('Id') for r in (good[0], bad, good[1])]

        answer = self.lot_result(ticket)
        self.assertEqual(answer.findtext(s('dCodResLot')), '0361')
        self.assertEqual(answer.findall(s('gResProcLote')), [])
        self.assertEqual(self.consulta(cdcs[0]).findtext(s('dCodRes')),
            '0420')
        self.assertEqual(self.lot_result(ticket, session=self.other_session)
            .findtext(s('dCodResLot')), '0340')
        self.assertEqual(self.lot_result('999').findtext(s('dCodResLot')),
            '0360')
        # a copy sent while the first lot is processing: duplicate
        answer = self.send_lot([good[0]])
        second = answer.findtext(s('dProtConsLote'))

        self.sb.set_clock(advance=61)
        answer = self.lot_result(ticket)
        self.assertEqual(answer.findtext(s('dCodResLot')), '0362')
        results = answer.findall(s('gResProcLote'))
        self.assertEqual([r.findtext(s('id')) for r in results], cdcs)
        self.assertEqual([r.findtext(s('dEstRes')) for r in results],
            ['Aprobado', 'Rechazado', 'Aprobado'])
        self.assertEqual([self.codes(r)[0][0] for r in results],
            ['0260', '2407', '0260'])
        self.assertIsNone(results[1].find(s('dProtAut')))
        self.assertEqual(self.consulta(cdcs[0]).findtext(s('dCodRes')),
            '0422')
        self.assertEqual(self.consulta(cdcs[1]).findtext(s('dCodRes')),
            '0420')
        self.assertEqual(self.codes(self.lot_result(second)),
            [('1001', 'CDC duplicado')])
        state = self.sb.state('sifen')
        self.assertEqual(state['lots'][ticket]['documents'], cdcs)
        self.assertTrue(state['lots'][ticket]['processed'])
        self.assertEqual(state['held'][cdcs[0]]['lot'], ticket)
        self.assertEqual(state['duplicates'], [{'cdc': cdcs[0],
                    'lot': second}])
        self.assertEqual(state['asked']['consulta-lote'][ticket], 3)

    def test_lot_refusals(self):
        "0363, 0301, 0270, 0160: the whole lot refused, nothing kept"
        rde = self.de()
        note = etree.fromstring(xml(rde))
        set_text(note, 'DE/gTimb/iTiDE', '5')
        cases = [
            (lot_xde([rde] * 51), '0363', 'Lote con 51 DE'),
            (lot_xde([rde, note]), '0363', 'tipos distintos: 1, 5'),
            (lot_xde([rde], extra={'other.xml': '<a/>'}), '0160',
                'one file'),
            ('bm90IGEgemlw', '0160', 'XML Mal Formado'),
            ]
        for xde, code, text in cases:
            answer = self.send_lot(xde=xde)
            self.assertEqual(answer.findtext(s('dCodRes')), code)
            self.assertIn(text, answer.findtext(s('dMsgRes')))
        self.sb.set_option('sifen', 'not_queued', True)
        answer = self.send_lot([rde])
        self.assertEqual((answer.findtext(s('dCodRes')), answer.findtext(
                    s('dMsgRes'))), ('0301', 'Lote no encolado para '
                'procesamiento'))
        self.sb.set_option('sifen', 'not_queued', False)
        self.sb.set_option('sifen', 'max_lot_kb', 1)
        self.assertEqual(self.send_lot([rde]).findtext(s('dCodRes')), '0270')
        state = self.sb.state('sifen')
        self.assertEqual((state['lots'], state['held']), ({}, {}))

    def test_events(self):
        "Cancellation (4001-4003, 0600) and voiding of ranges (4010, 1104)"
        rde = self.de(number=5)
        cdc = find(rde, 'DE').get('Id')
        self.recibe(rde)
        answer = self.send_events(self.cancel_event(1, cdc),
            self.cancel_event(2, '0' * 44))
        results = answer.findall(s('gResProcEVe'))
        self.assertEqual([(r.findtext(s('id')), r.findtext(s('dEstRes')))
                for r in results], [('1', 'Aprobado'), ('2', 'Rechazado')])
        self.assertTrue(results[0].findtext(s('dProtAut')).isdigit())
        self.assertEqual(self.codes(results[0]),
            [('0600', 'Evento registrado correctamente')])
        self.assertEqual(self.codes(results[1])[0][0], '4001')
        content = self.consulta(cdc).findtext(s('xContenDE'))
        self.assertEqual(etree.fromstring(content).findtext(s('dEstRes')),
            'Cancelado')
        self.assertEqual(self.codes(self.send_events(
                    self.cancel_event(3, cdc)))[0],
            ('4002', 'CDC %s ya cancelado' % cdc))
        # another issuer's signature; the window (48 h for an FE)
        other = self.de(number=6)
        other_cdc = find(other, 'DE').get('Id')
        self.recibe(other)
        self.assertIn('0142', [c for c, _ in self.codes(self.send_events(
                        self.cancel_event(4, other_cdc, self.other_key,
                            self.other_certificate)))])
        self.sb.set_clock(advance=49 * 3600)
        self.assertEqual(self.codes(self.send_events(
                    self.cancel_event(5, other_cdc)))[0][0], '4003')
        self.sb.set_clock()

        # voiding: a range with an approved number, then a free one
        answer = self.send_events(self.void_event(6, 3, 6))
        self.assertEqual(self.codes(answer)[0], ('4010', 'Rango a '
                'inutilizar con números ya utilizados: 0000005, 0000006'))
        answer = self.send_events(self.void_event(7, 10, 12))
        self.assertEqual(self.codes(answer)[0][0], '0600')
        self.rejected(self.de(number=11), '1104', 'Número de documento '
            'inutilizado')
        self.assertEqual(self.codes(self.recibe(self.de(number=13)))[0][0],
            '0260')
        state = self.sb.state('sifen')
        self.assertEqual(state['voided'], [{'series': ['80013884', TIMBRADO,
                        '001', '001', '1'], 'ranges': [[10, 12]]}])
        self.assertEqual([(e['id'], e['status']) for e in state['events']],
            [('1', 'Aprobado'), ('2', 'Rechazado'), ('3', 'Rechazado'),
                ('4', 'Rechazado'), ('5', 'Rechazado'), ('6', 'Rechazado'),
                ('7', 'Aprobado')])
        self.assertEqual(state['held'][cdc]['state'], 'cancelled')

    def test_consulta_ruc(self):
        self.sb.set_option('sifen', 'rucs', {'80013884': 'BANCARD S.A.'})
        body = ('<rEnviConsRUC xmlns="%s"><dId>1</dId><dRUCCons>%%s'
            '</dRUCCons></rEnviConsRUC>' % NS)
        answer = self.answer(CONSULTA_RUC, body % '80013884')
        self.assertEqual(answer.findtext(s('dCodRes')), '0502')
        self.assertEqual(answer.findtext(s('xContRUC/dRazCons')),
            'BANCARD S.A.')
        self.assertEqual(self.answer(CONSULTA_RUC, body % '80000001')
            .findtext(s('dCodRes')), '0500')

    def test_requests_refused_and_faults(self):
        "0160 (malformed, wrong path), 0107, the BIG-IP page, lost answers"
        answer = self.answer(RECIBE, None, raw=b'<soap:Envelope><broken')
        self.assertEqual(etree.QName(answer).localname, 'rRetEnviDe')
        self.assertEqual(self.codes(answer)[0][0], '0160')
        answer = self.answer(RECIBE, '<rEnviConsRUC xmlns="%s"><dId>1</dId>'
            '<dRUCCons>80013884</dRUCCons></rEnviConsRUC>' % NS)
        self.assertEqual(self.codes(answer)[0][0], '0160')
        latin = envelope('<rEnviConsRUC xmlns="%s"><dId>1</dId><dRUCCons>'
            '80013884</dRUCCons></rEnviConsRUC>' % NS).replace(
            b'<soap:', b'<?xml version="1.0" encoding="ISO-8859-1"?><soap:',
            1)
        answer = self.answer(CONSULTA_RUC, None, raw=latin)
        self.assertEqual(answer.findtext(s('dCodRes')), '0107')

        self.sb.add_fault('sifen', '*', 'html')
        response = self.post(CONSULTA_RUC, '<rEnviConsRUC xmlns="%s"><dId>1'
            '</dId><dRUCCons>80013884</dRUCCons></rEnviConsRUC>' % NS)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.headers['Content-Type'].startswith(
                'text/html'))
        self.assertIn('BIG-IP logout page', html.unescape(response.text))

        # the answer lost, the DE kept: consulta finds it, once
        rde = self.de()
        cdc = find(rde, 'DE').get('Id')
        self.sb.add_fault('sifen', 'rEnviDe', 'drop_after')
        with self.assertRaises(requests.ConnectionError):
            self.recibe(rde)
        self.assertEqual(self.consulta(cdc).findtext(s('dCodRes')), '0422')
        self.assertEqual(self.sb.count('sifen', 'rEnviDe', cdc), 1)
        self.assertEqual(self.sb.state('sifen')['received'], {cdc: 1})

    def test_module_documents(self):
        "DEs, a lot and an event of account_einvoice_py_sifen are approved"
        from tests.sifen_document_case import invoice_data
        from trytond.modules.account_einvoice_py_sifen import (
            document, events, lot)
        issued = now().replace(tzinfo=None, microsecond=0)
        generated = [document.generate(invoice_data(
                    number='%07d' % n, issued=issued), self.key,
                self.certificate, '0001', 'ABCD0000000000000000000000000000',
                False, issued) for n in (1, 2, 3)]
        answer = self.recibe(etree.fromstring(generated[0].data))
        self.assertEqual(self.codes(answer), [
                ('0260', 'Autorización del DE satisfactoria')])
        ticket = self.send_lot(xde=lot.pack(
                [g.data for g in generated[1:]])).findtext(
            s('dProtConsLote'))
        self.sb.set_clock(advance=60)
        results = self.lot_result(ticket).findall(s('gResProcLote'))
        self.assertEqual([self.codes(r)[0][0] for r in results],
            ['0260', '0260'])
        request = events.request(1, [events.sign(events.cancellation(
                        generated[0].cdc, 'Error en los datos del cliente',
                        issued, 1), self.key, self.certificate)])
        answer = self.answer(EVENTO, xml(request))
        self.assertEqual(self.codes(answer)[0][0], '0600')
        self.assertEqual(self.sb.state('sifen')['held'][generated[0].cdc][
                'state'], 'cancelled')
