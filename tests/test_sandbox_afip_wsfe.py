"""Tests of the AFIP/ARCA WSFEv1 service of the authority sandbox (CAE
authorization, numbering, checks, queries, tables, injected faults).

Run: .venv/bin/python -m unittest tests.test_sandbox_afip_wsfe -v
"""
import datetime
import time
import unittest

import requests
from lxml import etree

from tests.sandbox.afip import AR_TZ, voucher_key
from tests.sandbox.afip_wsfe_tables import MSG
from tests.sandbox.core import SOAP11_NS
from tests.sandbox.server import FAULT_KINDS
from tests.sandbox_afip_case import (
    BAD_CUIT, CUSTOMER, FEV1, PTO, AfipTestCase, invoice, today)

#: a valid CBU (both check digits)
CBU = '2850590940090418135201'


class WSFETest(AfipTestCase):

    def setUp(self):
        super().setUp()
        self.auth = self.login()

    def test_dummy_and_tables(self):
        result = self.wsfe.FEDummy()
        self.assertEqual((result.AppServer, result.DbServer,
                result.AuthServer), ('OK', 'OK', 'OK'))
        self.assertEqual(self.wsfe.FECompTotXRequest(Auth=self.auth).RegXReq,
            250)
        tipos = {t.Id: t.Desc for t in self.wsfe.FEParamGetTiposCbte(
                Auth=self.auth).ResultGet.CbteTipo}
        self.assertEqual(tipos[1], 'Factura A')
        self.assertEqual(tipos[13], 'Nota de Crédito C')
        ivas = {t.Id: t.Desc for t in self.wsfe.FEParamGetTiposIva(
                Auth=self.auth).ResultGet.IvaTipo}
        self.assertEqual(ivas['5'], '21%')
        docs = {t.Id for t in self.wsfe.FEParamGetTiposDoc(
                Auth=self.auth).ResultGet.DocTipo}
        self.assertTrue({80, 86, 96, 99} <= docs)
        mons = {t.Id for t in self.wsfe.FEParamGetTiposMonedas(
                Auth=self.auth).ResultGet.Moneda}
        self.assertTrue({'PES', 'DOL', '060'} <= mons)
        conds = self.wsfe.FEParamGetCondicionIvaReceptor(Auth=self.auth,
            ClaseCmp='A').ResultGet.CondicionIvaReceptor
        self.assertEqual({c.Id for c in conds}, {1, 6, 13, 16})
        conds = self.wsfe.FEParamGetCondicionIvaReceptor(
            Auth=self.auth).ResultGet.CondicionIvaReceptor
        self.assertEqual({c.Id: c.Cmp_Clase for c in conds}[5], 'B/C')
        self.assertEqual(len(self.wsfe.FEParamGetTiposConcepto(
                    Auth=self.auth).ResultGet.ConceptoTipo), 3)
        self.assertTrue(self.wsfe.FEParamGetTiposTributos(
                Auth=self.auth).ResultGet.TributoTipo)
        self.assertTrue(self.wsfe.FEParamGetPtosVenta(
                Auth=self.auth).ResultGet.PtoVenta)
        cot = self.wsfe.FEParamGetCotizacion(Auth=self.auth, MonId='DOL')
        self.assertGreater(cot.ResultGet.MonCotiz, 0)
        self.assertEqual(self.wsfe.FEParamGetCotizacion(Auth=self.auth,
                MonId='XXX').Errors.Err[0].Code, 602)

    def test_authorize_and_query(self):
        self.assertEqual(self.last(self.auth), 0)
        result = self.solicitar(self.auth, [invoice(1), invoice(2)])
        self.assertEqual(result.FeCabResp.Resultado, 'A')
        self.assertEqual(result.FeCabResp.Cuit, self.cuit)
        for det, nro in zip(self.dets(result), (1, 2)):
            self.assertEqual(det.Resultado, 'A')
            self.assertEqual(det.CbteDesde, nro)
            self.assertRegex(det.CAE, r'^\d{14}$')
            self.assertEqual(det.CAEFchVto, (datetime.datetime.strptime(
                        today(), '%Y%m%d') + datetime.timedelta(days=10)
                    ).strftime('%Y%m%d'))
        self.assertEqual(self.last(self.auth), 2)
        cae = self.dets(result)[0].CAE
        got = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 1, 'PtoVta': PTO})
        self.assertIsNone(got.Errors)
        res = got.ResultGet
        self.assertEqual(res.CodAutorizacion, cae)
        self.assertEqual((res.Resultado, res.EmisionTipo), ('A', 'CAE'))
        self.assertEqual((res.PtoVta, res.CbteTipo, res.CbteDesde),
            (PTO, 1, 1))
        self.assertEqual((res.ImpTotal, res.ImpIVA, res.DocNro),
            (121.0, 21.0, int(CUSTOMER)))
        self.assertEqual(res.Iva.AlicIva[0].Id, 5)
        self.assertEqual(res.CondicionIVAReceptorId, 1)
        missing = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 99, 'PtoVta': PTO})
        self.assertEqual(missing.Errors.Err[0].Code, 602)
        key = voucher_key(self.cuit, PTO, 1, 1)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar', key),
            1)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar', key,
                field='authorized'), 1)
        state = self.sb.state('afip_wsfe')
        self.assertEqual(state['caes'][key], 1)
        self.assertEqual(state['series']['%d:%d:1' % (self.cuit, PTO)][
                'last'], 2)

    def test_sequence_gap_and_external_bump(self):
        result = self.solicitar(self.auth, [invoice(2)])
        self.assertEqual(result.FeCabResp.Resultado, 'R')
        det = self.dets(result)[0]
        self.assertEqual(det.Resultado, 'R')
        self.assertEqual(self.obs_codes(det), [10016])
        self.assertIn('FECompUltimoAutorizado', det.Observaciones.Obs[0].Msg)
        self.assertFalse(det.CAE)
        self.assertEqual(self.last(self.auth), 0)
        # another system authorizes number 1 meanwhile
        self.sb.set_option('afip_wsfe', 'authorize_external', {
                'cuit': self.cuit, 'pto_vta': PTO, 'cbte_tipo': 1})
        det = self.dets(self.solicitar(self.auth, [invoice(1)]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        self.assertEqual(self.last(self.auth), 1)
        det = self.dets(self.solicitar(self.auth, [invoice(2)]))[0]
        self.assertEqual(det.Resultado, 'A')
        # the date may not go back before the last authorized one
        self.sb.set_option('afip_wsfe', 'authorize_external', {
                'cuit': self.cuit, 'pto_vta': PTO, 'cbte_tipo': 1,
                'date': today(2)})
        det = self.dets(self.solicitar(self.auth, [invoice(4)]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        det = self.dets(self.solicitar(self.auth, [invoice(4,
                        CbteFch=today(6))]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        det = self.dets(self.solicitar(self.auth, [invoice(4,
                        CbteFch=today(3))]))[0]
        self.assertEqual(det.Resultado, 'A')

    def test_bad_cuit_in_batch(self):
        # AFIP processes details in order: the rejected #2 does not consume
        # its number, so #3 then fails with 10016
        result = self.solicitar(self.auth, [invoice(1),
                invoice(2, DocNro=int(BAD_CUIT)), invoice(3)])
        self.assertEqual(result.FeCabResp.Resultado, 'P')
        one, two, three = self.dets(result)
        self.assertEqual(one.Resultado, 'A')
        self.assertEqual(two.Resultado, 'R')
        self.assertEqual(self.obs_codes(two), [10015])
        self.assertEqual(two.Observaciones.Obs[0].Msg,
            'El campo DocNro es invalido.')
        self.assertEqual(self.obs_codes(three), [10016])
        self.assertEqual(self.last(self.auth), 1)
        det = self.dets(self.solicitar(self.auth, [invoice(2, DocTipo=96,
                        DocNro=12345678)]))[0]
        self.assertEqual(self.obs_codes(det), [10013])
        result = self.solicitar(self.auth, [invoice(2), invoice(3)])
        self.assertEqual(result.FeCabResp.Resultado, 'A')
        rejected = self.sb.count('afip_wsfe', 'FECAESolicitar',
            voucher_key(self.cuit, PTO, 1, 3), field='rejected')
        self.assertEqual(rejected, 1)

    def test_condicion_iva_receptor(self):
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CondicionIVAReceptorId=None)]))[0]
        self.assertEqual(self.obs_codes(det), [10246])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CondicionIVAReceptorId=5)]))[0]
        self.assertEqual(self.obs_codes(det), [10242])
        self.sb.set_option('afip_wsfe', 'condicion_iva_required', False)
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CondicionIVAReceptorId=None)]))[0]
        self.assertEqual(det.Resultado, 'A')
        self.assertEqual(self.obs_codes(det), [10246])

    def test_credit_note(self):
        self.solicitar(self.auth, [invoice(1)])
        asoc = {'CbteAsoc': [{'Tipo': 1, 'PtoVta': PTO, 'Nro': 1,
                    'Cuit': str(self.cuit), 'CbteFch': today()}]}
        det = self.dets(self.solicitar(self.auth, [invoice(1)], tipo=3))[0]
        self.assertEqual(self.obs_codes(det), [10040])
        det = self.dets(self.solicitar(self.auth, [invoice(1, CbtesAsoc={
                            'CbteAsoc': [{'Tipo': 1, 'PtoVta': PTO,
                                    'Nro': 7}]})], tipo=3))[0]
        self.assertEqual(self.obs_codes(det), [10041])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CbtesAsoc=asoc)], tipo=3))[0]
        self.assertEqual(det.Resultado, 'A')
        res = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 3, 'CbteNro': 1, 'PtoVta': PTO}).ResultGet
        self.assertEqual(res.CbtesAsoc.CbteAsoc[0].Nro, 1)

    def test_amounts_currency_and_services(self):
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        ImpTotal=122.0)]))[0]
        self.assertEqual(self.obs_codes(det), [10048])
        det = self.dets(self.solicitar(self.auth, [invoice(1, ImpIVA=20.0,
                        ImpTotal=120.0)]))[0]
        self.assertEqual(self.obs_codes(det), [10051])
        det = self.dets(self.solicitar(self.auth, [invoice(1, Iva={
                            'AlicIva': [{'Id': 4, 'BaseImp': 100.0,
                                    'Importe': 21.0}]})]))[0]
        self.assertEqual(self.obs_codes(det), [10061])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        MonId='DOL', MonCotiz=1000.0)]))[0]
        self.assertEqual(self.obs_codes(det), [10239])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        Concepto=2)]))[0]
        self.assertEqual(self.obs_codes(det), [10035, 10036, 10037])
        det = self.dets(self.solicitar(self.auth, [invoice(1,
                        CbteFch=today(-6))]))[0]
        self.assertEqual(self.obs_codes(det), [10016])
        det = self.dets(self.solicitar(self.auth, [invoice(1, Concepto=2,
                        CbteFch=today(-6), FchServDesde=today(-30),
                        FchServHasta=today(-1), FchVtoPago=today(10),
                        MonId='DOL', MonCotiz=1000.0,
                        CanMisMonExt='N')]))[0]
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))
        # class C: no VAT
        det = self.dets(self.solicitar(self.auth, [invoice(1, ImpIVA=0,
                        ImpTotal=100.0, Iva=None)], tipo=11))[0]
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))

    def test_header_errors(self):
        result = self.solicitar(self.auth, [invoice(1)], cant=2)
        self.assertEqual(result.Errors.Err[0].Code, 10001)
        self.assertEqual(result.FeCabResp.Resultado, 'R')
        self.sb.set_option('afip_wsfe', 'reg_x_req', 1)
        self.assertEqual(self.wsfe.FECompTotXRequest(Auth=self.auth).RegXReq,
            1)
        result = self.solicitar(self.auth, [invoice(1), invoice(2)])
        self.assertEqual(result.Errors.Err[0].Code, 10002)
        self.assertEqual(self.last(self.auth), 0)

    def test_token_errors(self):
        other = dict(self.auth, Cuit=int(CUSTOMER))
        result = self.solicitar(other, [invoice(1)])
        self.assertEqual(result.Errors.Err[0].Code, 601)
        self.assertEqual(result.Errors.Err[0].Msg,
            'CUIT representada no incluida en Token')
        self.assertIsNone(result.FeDetResp)
        bad = dict(self.auth, Token='AAAA')
        self.assertEqual(self.wsfe.FECompUltimoAutorizado(Auth=bad,
                PtoVta=PTO, CbteTipo=1).Errors.Err[0].Code, 600)
        self.sb.set_option('afip_wsaa', 'expire_tickets', '*')
        result = self.solicitar(self.auth, [invoice(1)])
        self.assertEqual(result.Errors.Err[0].Code, 600)
        self.assertIn('No validaron las fechas', result.Errors.Err[0].Msg)
        self.assertEqual(self.sb.state('afip_wsfe')['caes'], {})
        # short-lived tickets
        self.sb.set_option('afip_wsaa', 'ticket_lifetime', 1)
        auth = self.login()
        self.assertEqual(self.last(auth), 0)
        time.sleep(1.1)
        self.assertEqual(self.wsfe.FECompUltimoAutorizado(Auth=auth,
                PtoVta=PTO, CbteTipo=1).Errors.Err[0].Code, 600)
        self.login()

    def test_header_info_and_clock_offset(self):
        def fecha():
            envelope = ('<soap:Envelope xmlns:soap="%s"><soap:Body>'
                '<FEDummy xmlns="%s"/></soap:Body></soap:Envelope>' % (
                    SOAP11_NS, FEV1))
            response = self.session.post(self.sb.url
                + '/wsfev1/service.asmx', data=envelope.encode(), headers={
                    'SOAPAction': '"%sFEDummy"' % FEV1,
                    'Content-Type': 'text/xml; charset=utf-8'}, timeout=10)
            root = etree.fromstring(response.content)
            info = root.find('{%s}Header/{%s}FEHeaderInfo' % (SOAP11_NS,
                    FEV1))
            self.assertEqual(info.findtext('{%s}id' % FEV1), '6.1.0.0')
            return datetime.datetime.fromisoformat(
                info.findtext('{%s}fecha' % FEV1))
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((fecha() - now).total_seconds()), 5)
        self.sb.set_option('afip_wsfe', 'clock_offset_seconds', 3600)
        self.assertLess(abs((fecha() - now).total_seconds() - 3600), 5)

    def test_schema_violation(self):
        envelope = ('<soap:Envelope xmlns:soap="%s"><soap:Body>'
            '<FECompUltimoAutorizado xmlns="%s"><PtoVta>x</PtoVta>'
            '</FECompUltimoAutorizado></soap:Body></soap:Envelope>' % (
                SOAP11_NS, FEV1))
        response = self.session.post(self.sb.url + '/wsfev1/service.asmx',
            data=envelope.encode(), headers={
                'SOAPAction': '"%sFECompUltimoAutorizado"' % FEV1,
                'Content-Type': 'text/xml; charset=utf-8'}, timeout=10)
        self.assertEqual(response.status_code, 500)
        self.assertIn(b'Server was unable to read request', response.content)

    def test_injected_faults(self):
        # drop_after: processed (number consumed), the client gets nothing
        self.sb.add_fault('afip_wsfe', 'FECAESolicitar', 'drop_after')
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.solicitar(self.auth, [invoice(1)])
        self.assertEqual(self.last(self.auth), 1)
        key = voucher_key(self.cuit, PTO, 1, 1)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar', key,
                field='authorized'), 1)
        # the client recovers the CAE with FECompConsultar
        res = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 1, 'PtoVta': PTO}).ResultGet
        self.assertEqual(res.CodAutorizacion,
            self.sb.state('afip_wsfe')['series']['%d:%d:1' % (
                    self.cuit, PTO)]['vouchers']['1']['cae'])
        nro = 1
        for kind in ('http_500', 'http_503', 'html', 'soap_fault',
                'truncated', 'malformed', 'entities'):
            with self.subTest(kind=kind):
                self.sb.add_fault('afip_wsfe', 'FECAESolicitar', kind)
                with self.assertRaises(Exception):
                    self.solicitar(self.auth, [invoice(nro + 1)])
                if FAULT_KINDS[kind]:
                    nro += 1
                self.assertEqual(self.last(self.auth), nro)
        self.sb.add_fault('afip_wsfe', 'FECAESolicitar', 'latency',
            seconds=0.2)
        start = time.time()
        self.solicitar(self.auth, [invoice(nro + 1)])
        self.assertGreaterEqual(time.time() - start, 0.2)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAESolicitar',
                voucher_key(self.cuit, PTO, 1, nro + 1),
                field='authorized'), 1)

    # -- CAEA (contingency) --
    def fortnight(self):
        "(first day, last day) of the first fortnight in two months"
        first = datetime.datetime.now(AR_TZ).date().replace(day=1)
        month = first.month + 1
        first = first.replace(year=first.year + month // 12,
            month=month % 12 + 1)
        return first, first.replace(day=15)

    def at(self, date):
        return self.travel(datetime.datetime.combine(date,
                datetime.time(12), AR_TZ))

    def caea_request(self, auth, periodo, orden=1, operation='Solicitar'):
        return getattr(self.wsfe, 'FECAEA' + operation)(Auth=auth,
            Periodo=int(periodo), Orden=orden)

    def caea_invoice(self, nro, caea, date, **values):
        return invoice(nro, CbteFch=date.strftime('%Y%m%d'), CAEA=caea,
            CbteFchHsGen=date.strftime('%Y%m%d') + '093000', **values)

    def test_caea_request_and_query(self):
        desde, hasta = self.fortnight()
        periodo = desde.strftime('%Y%m')
        auth = self.at(desde - datetime.timedelta(days=6))
        result = self.caea_request(auth, periodo)
        self.assertIsNone(result.ResultGet)
        self.assertEqual([(e.Code, e.Msg) for e in result.Errors.Err],
            [(15007, MSG[15007])])
        self.assertIn('fuera del plazo de solicitud', MSG[15007])
        self.assertEqual(self.caea_request(auth, periodo,
                operation='Consultar').Errors.Err[0].Code, 602)
        self.assertEqual(self.caea_request(auth, periodo, 3).Errors.Err[
                0].Code, 15006)

        auth = self.at(desde - datetime.timedelta(days=5))
        got = self.caea_request(auth, periodo).ResultGet
        self.assertRegex(got.CAEA, r'^\d{14}$')
        tope = hasta + datetime.timedelta(days=8)
        self.assertEqual((got.Periodo, got.Orden, got.FchVigDesde,
                got.FchVigHasta, got.FchTopeInf), (int(periodo), 1,
                desde.strftime('%Y%m%d'), hasta.strftime('%Y%m%d'),
                tope.strftime('%Y%m%d')))
        # the fortnight of the previous month has ended; the second one of
        # the previous month is in progress
        previous = desde - datetime.timedelta(days=1)
        self.assertEqual(self.caea_request(auth, previous.strftime(
                    '%Y%m'), 1).Errors.Err[0].Code, 15007)
        other = self.caea_request(auth, previous.strftime('%Y%m'),
            2).ResultGet
        self.assertEqual(other.FchVigHasta, previous.strftime('%Y%m%d'))
        self.assertNotEqual(other.CAEA, got.CAEA)

        # a second request: 15008, then FECAEAConsultar gives it
        auth = self.at(hasta)
        result = self.caea_request(auth, periodo)
        self.assertEqual([(e.Code, e.Msg) for e in result.Errors.Err],
            [(15008, 'Ya existe un CAEA otorgado para el periodo y orden; '
                'consultar con FECAEAConsultar')])
        again = self.caea_request(auth, periodo, operation='Consultar')
        self.assertIsNone(again.Errors)
        self.assertEqual((again.ResultGet.CAEA, again.ResultGet.FchProceso),
            (got.CAEA, got.FchProceso))
        key = 'caea:%d:%s:1' % (self.cuit, periodo)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAEASolicitar', key),
            3)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAEASolicitar', key,
                field='granted'), 1)
        caeas = self.sb.state('afip_wsfe')['caeas']
        self.assertEqual(caeas[got.CAEA]['periodo'], int(periodo))
        self.assertEqual(len(caeas), 2)

    def test_caea_inform(self):
        self.sb.set_option('afip_wsfe', 'puntos_venta', [1, 2,
                {'nro': PTO, 'emision_tipo': 'CAEA'}])
        desde, hasta = self.fortnight()
        auth = self.at(desde - datetime.timedelta(days=2))
        caea = self.caea_request(auth, desde.strftime('%Y%m')).ResultGet.CAEA
        day = desde + datetime.timedelta(days=1)
        auth = self.at(day)
        fch = day.strftime('%Y%m%d')
        self.assertEqual(self.dets(self.solicitar(auth, [invoice(1,
                            CbteFch=fch)]))[0].Resultado, 'A')
        # number 2 generated with the CAEA and informed
        result = self.inform(auth, [self.caea_invoice(2, caea, day)])
        self.assertEqual(result.FeCabResp.Resultado, 'A')
        det, = self.dets(result)
        self.assertEqual((det.Resultado, det.CAEA, det.CbteDesde,
                det.Observaciones), ('A', caea, 2, None))
        res = self.wsfe.FECompConsultar(Auth=auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 2, 'PtoVta': PTO}).ResultGet
        self.assertEqual((res.EmisionTipo, res.CodAutorizacion, res.FchVto,
                res.ImpTotal), ('CAEA', caea, hasta.strftime('%Y%m%d'),
                121.0))
        key = voucher_key(self.cuit, PTO, 1, 2)
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAEARegInformativo',
                key, field='authorized'), 1)
        state = self.sb.state('afip_wsfe')
        self.assertEqual((state['informed'], state['caes'][key]),
            ({key: 1}, 1))
        self.assertEqual(state['caeas'][caea]['informed'], [key])
        self.assertEqual(state['series']['%d:%d:1' % (self.cuit, PTO)][
                'vouchers']['2']['cbte_fch_hs_gen'], fch + '093000')
        # the series counter is shared with CAE
        self.assertEqual(self.last(auth), 2)
        self.assertEqual(self.dets(self.solicitar(auth, [invoice(3,
                            CbteFch=fch)]))[0].Resultado, 'A')

        after = hasta + datetime.timedelta(days=1)
        for label, dets, pto, codes in [
                ('unknown CAEA', [self.caea_invoice(4, '31234567890123',
                            day)], PTO, [1501]),
                ('outside the fortnight', [self.caea_invoice(4, caea,
                            after)], PTO, [1502]),
                ('not the next number', [self.caea_invoice(5, caea, day)],
                    PTO, [10016]),
                ('CAE point of sale', [self.caea_invoice(1, caea, day)], 2,
                    [1503]),
                ('voucher checks', [self.caea_invoice(4, caea, day,
                            ImpTotal=122.0)], PTO, [10048]),
                ]:
            with self.subTest(label):
                result = self.inform(auth, dets, pto=pto)
                self.assertEqual(result.FeCabResp.Resultado, 'R')
                det, = self.dets(result)
                self.assertEqual(self.obs_codes(det), codes)
                self.assertEqual(det.CAEA, dets[0]['CAEA'])
        self.assertEqual(self.last(auth), 3)
        # a batch: the second one is not the next number
        result = self.inform(auth, [self.caea_invoice(4, caea, day),
                self.caea_invoice(6, caea, day)])
        self.assertEqual(result.FeCabResp.Resultado, 'P')
        self.assertEqual(self.sb.count('afip_wsfe', 'FECAEARegInformativo',
                voucher_key(self.cuit, PTO, 1, 6), field='rejected'), 1)

        # informed after FchTopeInf: accepted with an observation
        auth = self.at(hasta + datetime.timedelta(days=9))
        det, = self.dets(self.inform(auth, [self.caea_invoice(5, caea,
                        hasta)]))
        self.assertEqual(det.Resultado, 'A')
        self.assertEqual([(o.Code, o.Msg) for o in det.Observaciones.Obs],
            [(1504, MSG[1504])])
        self.assertEqual(self.sb.state('afip_wsfe')['caeas'][caea][
                'informed'], [key, voucher_key(self.cuit, PTO, 1, 4),
                voucher_key(self.cuit, PTO, 1, 5)])

    def test_caea_without_movement(self):
        self.sb.set_option('afip_wsfe', 'puntos_venta', [
                {'nro': PTO, 'emision_tipo': 'CAEA'},
                {'nro': 4, 'emision_tipo': 'CAEA'}])
        desde, hasta = self.fortnight()
        auth = self.at(desde)
        caea = self.caea_request(auth, desde.strftime('%Y%m')).ResultGet.CAEA
        self.assertEqual(self.dets(self.inform(auth, [self.caea_invoice(1,
                            caea, desde)]))[0].Resultado, 'A')

        def informar(pto, code=caea):
            return self.wsfe.FECAEASinMovimientoInformar(Auth=auth,
                PtoVta=pto, CAEA=code)

        def consultar(pto, code=caea):
            return self.wsfe.FECAEASinMovimientoConsultar(Auth=auth,
                CAEA=code, PtoVta=pto)

        def codes(result):
            return (result.Resultado, [e.Code for e in result.Errors.Err]
                if result.Errors else [])
        self.assertEqual(codes(informar(4)), ('R', [1507]))
        auth = self.at(hasta + datetime.timedelta(days=1))
        self.assertEqual(codes(informar(4, '31234567890123')), ('R', [1501]))
        self.assertEqual(codes(informar(PTO)), ('R', [1505]))
        self.assertEqual(consultar(4).Errors.Err[0].Code, 602)
        result = informar(4)
        self.assertEqual((result.CAEA, result.PtoVta, codes(result)),
            (caea, 4, ('A', [])))
        self.assertRegex(result.FchProceso, r'^\d{14}$')
        self.assertEqual(codes(informar(4)), ('R', [1506]))
        found = consultar(4).ResultGet.FECAEASinMov
        self.assertEqual([(f.CAEA, f.PtoVta, f.FchProceso) for f in found],
            [(caea, 4, result.FchProceso)])
        self.assertEqual(len(consultar(0, '').ResultGet.FECAEASinMov), 1)
        self.assertEqual(consultar(PTO).Errors.Err[0].Code, 602)
        key = 'sinmov:%d:4:%s' % (self.cuit, caea)
        self.assertEqual(self.sb.count('afip_wsfe',
                'FECAEASinMovimientoInformar', key), 3)
        self.assertEqual(self.sb.count('afip_wsfe',
                'FECAEASinMovimientoInformar', key, field='accepted'), 1)
        self.assertEqual(self.sb.state('afip_wsfe')['sin_movimiento'],
            {key: result.FchProceso})

    # -- parameter tables, optional fields, FCE --
    def test_points_of_sale_activities_optionals(self):
        pos = self.wsfe.FEParamGetPtosVenta(Auth=self.auth).ResultGet
        self.assertEqual([(p.Nro, p.EmisionTipo) for p in pos.PtoVenta],
            [(1, 'CAE'), (2, 'CAE'), (3, 'CAE')])
        self.sb.set_option('afip_wsfe', 'puntos_venta', [3, {'nro': 4,
                    'emision_tipo': 'CAEA', 'bloqueado': 'S',
                    'fch_baja': '20250101'}])
        pos = self.wsfe.FEParamGetPtosVenta(Auth=self.auth).ResultGet
        self.assertEqual([(p.Nro, p.EmisionTipo, p.Bloqueado, p.FchBaja)
                for p in pos.PtoVenta], [(3, 'CAE', 'N', 'NULL'),
                (4, 'CAEA', 'S', '20250101')])
        acts = self.wsfe.FEParamGetActividades(Auth=self.auth).ResultGet
        self.assertEqual([(a.Id, a.Orden, a.Desc)
                for a in acts.ActividadesTipo], [(620100, 1,
                    'Servicios de consultores en informática')])
        self.sb.set_option('afip_wsfe', 'actividades', [[620100, 1, 'A'],
                [631100, 2, 'B']])
        acts = self.wsfe.FEParamGetActividades(Auth=self.auth).ResultGet
        self.assertEqual([a.Id for a in acts.ActividadesTipo],
            [620100, 631100])
        opcionales = {o.Id: o.Desc for o in self.wsfe.FEParamGetTiposOpcional(
                Auth=self.auth).ResultGet.OpcionalTipo}
        self.assertEqual((opcionales['2101'], opcionales['2102'],
                opcionales['22'], opcionales['23'], opcionales['27']),
            ('CBU del Emisor', 'Alias del Emisor', 'Anulación',
                'Referencia Comercial', 'Transferencia'))

    def test_request_fields(self):
        two = {'Comprador': [
                {'DocTipo': 80, 'DocNro': int(CUSTOMER), 'Porcentaje': 60},
                {'DocTipo': 80, 'DocNro': self.cuit, 'Porcentaje': 40}]}
        fields = {'Opcionales': {'Opcional': [{'Id': '23',
                        'Valor': 'OC-1234'}]},
            'Compradores': two, 'Actividades': {'Actividad': [
                    {'Id': 620100}]}}
        for label, values, codes in [
                ('opcional', {'Opcionales': {'Opcional': [{'Id': '999',
                                'Valor': 'x'}]}}, [10151]),
                ('porcentaje', {'Compradores': {'Comprador': [dict(
                                two['Comprador'][0], Porcentaje=90)]}},
                    [10152]),
                ('comprador', {'Compradores': {'Comprador': [dict(
                                two['Comprador'][0], Porcentaje=100,
                                DocNro=int(BAD_CUIT))]}}, [10015]),
                ('actividad', {'Actividades': {'Actividad': [
                                {'Id': 999999}]}}, [10155]),
                ]:
            with self.subTest(label):
                det, = self.dets(self.solicitar(self.auth, [invoice(1,
                                **values)]))
                self.assertEqual(self.obs_codes(det), codes)
        det, = self.dets(self.solicitar(self.auth, [invoice(1, **fields)]))
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))
        res = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 1, 'CbteNro': 1, 'PtoVta': PTO}).ResultGet
        self.assertEqual([c.Porcentaje for c in res.Compradores.Comprador],
            [60.0, 40.0])
        self.assertEqual(res.Opcionales.Opcional[0].Valor, 'OC-1234')
        self.assertEqual(res.Actividades.Actividad[0].Id, 620100)

        # credit notes for a period
        asoc = {'CbteAsoc': [{'Tipo': 1, 'PtoVta': PTO, 'Nro': 1,
                    'Cuit': str(self.cuit), 'CbteFch': today()}]}
        for label, periodo, extra, codes in [
                ('desde > hasta', (-1, -2), {}, [10153]),
                ('hasta > CbteFch', (-2, 1), {}, [10153]),
                ('bad date', ('2024', -1), {}, [10153]),
                ('with CbtesAsoc', (-2, -1), {'CbtesAsoc': asoc}, [10154]),
                ]:
            with self.subTest(label):
                periodo = {'FchDesde': periodo[0] if isinstance(
                        periodo[0], str) else today(periodo[0]),
                    'FchHasta': today(periodo[1])}
                det, = self.dets(self.solicitar(self.auth, [invoice(1,
                                PeriodoAsoc=periodo, **extra)], tipo=3))
                self.assertEqual(self.obs_codes(det), codes)
        det, = self.dets(self.solicitar(self.auth, [invoice(1, PeriodoAsoc={
                            'FchDesde': today(-30), 'FchHasta': today()})],
                tipo=3))
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))
        res = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 3, 'CbteNro': 1, 'PtoVta': PTO}).ResultGet
        self.assertEqual(res.PeriodoAsoc.FchDesde, today(-30))

    def test_fce(self):
        self.sb.set_option('afip_wsfe', 'fce_receivers', [CUSTOMER])
        big = {'ImpTotal': 4840000.0, 'ImpNeto': 4000000.0,
            'ImpIVA': 840000.0, 'Iva': {'AlicIva': [{'Id': 5,
                        'BaseImp': 4000000.0, 'Importe': 840000.0}]}}

        def fce(nro, opcionales=(('2101', CBU), ('27', 'SCA')), **values):
            det = dict(big, FchVtoPago=today(30), Opcionales={'Opcional': [
                        {'Id': i, 'Valor': v} for i, v in opcionales]})
            det.update(values)
            return invoice(nro, **det)
        for label, det, codes in [
                ('FchVtoPago', fce(1, FchVtoPago=None), [10160]),
                ('no CBU', fce(1, [('27', 'SCA')]), [10161]),
                ('bad CBU', fce(1, [('2101', CBU[:-1] + '0'),
                            ('27', 'ADC')]), [10161]),
                ('bad alias', fce(1, [('2102', 'mi alias'),
                            ('27', 'ADC')]), [10161]),
                ('no transfer', fce(1, [('2101', CBU)]), [10162]),
                ('bad transfer', fce(1, [('2101', CBU), ('27', 'XXX')]),
                    [10162]),
                ('below the threshold', fce(1, ImpTotal=121.0, ImpNeto=100.0,
                        ImpIVA=21.0, Iva=invoice(1)['Iva']), [10164]),
                ('unknown Opcional', fce(1, [('2101', CBU), ('27', 'SCA'),
                            ('2199', 'x')]), [10151]),
                ]:
            with self.subTest(label):
                det, = self.dets(self.solicitar(self.auth, [det], tipo=201))
                self.assertEqual(self.obs_codes(det), codes)
        det, = self.dets(self.solicitar(self.auth, [fce(1)], tipo=201))
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))
        res = self.wsfe.FECompConsultar(Auth=self.auth, FeCompConsReq={
                'CbteTipo': 201, 'CbteNro': 1, 'PtoVta': PTO}).ResultGet
        self.assertEqual({o.Id: o.Valor for o in res.Opcionales.Opcional},
            {'2101': CBU, '27': 'SCA'})
        det, = self.dets(self.solicitar(self.auth, [fce(2, [
                            ('2102', 'mi.alias-01'), ('27', 'ADC')])],
                tipo=201))
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))
        # a common invoice to an obliged receiver at the threshold
        det, = self.dets(self.solicitar(self.auth, [invoice(1, **big)]))
        self.assertEqual(self.obs_codes(det), [10165])
        det, = self.dets(self.solicitar(self.auth, [invoice(1)]))
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))
        # a receiver not obliged
        self.sb.set_option('afip_wsfe', 'fce_receivers', [])
        det, = self.dets(self.solicitar(self.auth, [fce(3)], tipo=201))
        self.assertEqual(self.obs_codes(det), [10164])

        # notes: Opcional 22 and the original's Cuit and CbteFch
        asoc = {'Tipo': 201, 'PtoVta': PTO, 'Nro': 1, 'Cuit': str(self.cuit),
            'CbteFch': today()}

        def note(opcionales, asoc=asoc):
            return invoice(1, Opcionales={'Opcional': [{'Id': i, 'Valor': v}
                        for i, v in opcionales]} if opcionales else None,
                CbtesAsoc={'CbteAsoc': [asoc]})
        for label, det, codes in [
                ('no 22', note([]), [10163]),
                ('bad 22', note([('22', 'X')]), [10163]),
                ('no Cuit', note([('22', 'N')], dict(asoc, Cuit=None)),
                    [10166]),
                ]:
            with self.subTest(label):
                det, = self.dets(self.solicitar(self.auth, [det], tipo=203))
                self.assertEqual(self.obs_codes(det), codes)
        det, = self.dets(self.solicitar(self.auth, [note([('22', 'S')])],
                tipo=203))
        self.assertEqual(det.Resultado, 'A', self.obs_codes(det))


if __name__ == '__main__':
    unittest.main()
