"""Tests of the AFIP/ARCA WSFEv1 service of the authority sandbox (CAE
authorization, numbering, checks, queries, tables, injected faults).

Run: .venv/bin/python -m unittest tests.test_sandbox_afip_wsfe -v
"""
import datetime
import time
import unittest

import requests
from lxml import etree

from tests.sandbox.afip import voucher_key
from tests.sandbox.core import SOAP11_NS
from tests.sandbox.server import FAULT_KINDS
from tests.sandbox_afip_case import (
    BAD_CUIT, CUSTOMER, FEV1, PTO, AfipTestCase, invoice, today)


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


if __name__ == '__main__':
    unittest.main()
