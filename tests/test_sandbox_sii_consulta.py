"""Tests of the SII sandbox: Consulta (filters, pages, a 10,000-record
batch and page) and the recibidas book.

Run: .venv/bin/python -m unittest tests.test_sandbox_sii_consulta -v
"""
import copy
import os
import time
import unittest

import zeep.exceptions
from lxml import etree

from tests.sandbox.core import SOAP11_NS
from tests.sandbox.sii import NS_LR, NS_R, NS_SII
from tests.sandbox_sii_case import (
    BAD_NIF, DATE, GOOD_NIF, PERIOD, SERVICE, UNIDENTIFIED_NIF, SIITestCase,
    assert_valid, body_of, uid)


class ConsultaTest(SIITestCase):

    def test_consulta_emitidas(self):
        ok, warn, cancelled = uid('A'), uid('B'), uid('C')
        self.send([self.emitida(ok),
                self.emitida(warn, counterpart=UNIDENTIFIED_NIF),
                self.emitida(cancelled)])
        self.anular([cancelled])
        self.send([self.emitida(uid(), date='15-06-2024',
                    period={'Ejercicio': '2024', 'Periodo': '06'})])
        response = self.consulta()
        self.assertEqual(response.ResultadoConsulta, 'ConDatos')
        self.assertEqual(response.IndicadorPaginacion, 'N')
        self.assertEqual(response.Cabecera.Titular.NIF, self.nif)
        items = response.RegistroRespuestaConsultaLRFacturasEmitidas
        by_number = {i.IDFactura.NumSerieFacturaEmisor: i for i in items}
        self.assertEqual(list(by_number), [ok, warn, cancelled])
        self.assertEqual(by_number[ok].EstadoFactura.EstadoRegistro,
            'Correcta')
        self.assertEqual(by_number[warn].EstadoFactura.EstadoRegistro,
            'AceptadaConErrores')
        self.assertEqual(by_number[warn].EstadoFactura.CodigoErrorRegistro,
            1117)
        self.assertEqual(by_number[cancelled].EstadoFactura.EstadoRegistro,
            'Anulada')
        datos = by_number[ok].DatosFacturaEmitida
        self.assertEqual(datos.TipoFactura, 'F1')
        self.assertEqual(datos.ImporteTotal, '121.00')
        self.assertEqual(datos.Contraparte.NIF, GOOD_NIF)
        detalle = datos.TipoDesglose.DesgloseFactura.Sujeta.NoExenta \
            .DesgloseIVA.DetalleIVA[0]
        self.assertEqual(detalle.BaseImponible, '100.00')
        self.assertEqual(by_number[ok].DatosPresentacion.CSV,
            self.held(ok)['csv'])
        self.assertTrue(by_number[ok].EstadoFactura
            .TimestampUltimaModificacion)
        # filters
        response = self.consulta(IDFactura={'NumSerieFacturaEmisor': warn,
                'FechaExpedicionFacturaEmisor': DATE})
        items = response.RegistroRespuestaConsultaLRFacturasEmitidas
        self.assertEqual([i.IDFactura.NumSerieFacturaEmisor for i in items],
            [warn])
        response = self.consulta(Contraparte={'NombreRazon': 'X',
                'NIF': UNIDENTIFIED_NIF})
        self.assertEqual(len(
                response.RegistroRespuestaConsultaLRFacturasEmitidas), 1)
        response = self.consulta(period={'Ejercicio': '2023',
                'Periodo': '05'})
        self.assertEqual(response.ResultadoConsulta, 'SinDatos')
        self.assertFalse(response.RegistroRespuestaConsultaLRFacturasEmitidas)

    def test_consulta_pagination(self):
        numbers = [uid() for _ in range(5)]
        self.send([self.emitida(n) for n in numbers])
        self.sb.set_option(SERVICE, 'page_size', 2)
        seen = []
        clave = None
        while True:
            filters = {}
            if clave is not None:
                filters['ClavePaginacion'] = clave
            response = self.consulta(**filters)
            items = response.RegistroRespuestaConsultaLRFacturasEmitidas
            seen += [i.IDFactura.NumSerieFacturaEmisor for i in items]
            if response.IndicadorPaginacion == 'N':
                break
            self.assertEqual(len(items), 2)
            last = items[-1].IDFactura
            clave = {'IDEmisorFactura': {'NIF': last.IDEmisorFactura.NIF},
                'NumSerieFacturaEmisor': last.NumSerieFacturaEmisor,
                'FechaExpedicionFacturaEmisor':
                last.FechaExpedicionFacturaEmisor}
        self.assertEqual(seen, numbers)

    def test_consulta_titular_mismatch(self):
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            self.emitidas.ConsultaLRFacturasEmitidas(
                self.cabecera(None, nif=self.other_nif),
                {'PeriodoLiquidacion': PERIOD})
        self.assertTrue(cm.exception.message.startswith('Codigo[4114].'))


class RecibidasTest(SIITestCase):

    def recibida(self, number, supplier=GOOD_NIF, total='121.00'):
        return {
            'PeriodoLiquidacion': PERIOD,
            'IDFactura': {'IDEmisorFactura': {'NIF': supplier},
                'NumSerieFacturaEmisor': number,
                'FechaExpedicionFacturaEmisor': DATE},
            'FacturaRecibida': {
                'TipoFactura': 'F1',
                'ClaveRegimenEspecialOTrascendencia': '01',
                'ImporteTotal': total,
                'DescripcionOperacion': 'Compra de material',
                'DesgloseFactura': {'DesgloseIVA': {'DetalleIVA': [{
                                'TipoImpositivo': '21',
                                'BaseImponible': '100.00',
                                'CuotaSoportada': '21.00'}]}},
                'Contraparte': {'NombreRazon': 'Proveedor SL',
                    'NIF': supplier},
                'FechaRegContable': '20-05-2024',
                'CuotaDeducible': '21.00',
                },
            }

    def test_recibidas_alta_baja_consulta(self):
        number, bad = uid('P'), uid('P')
        response = self.recibidas.SuministroLRFacturasRecibidas(
            self.cabecera('A0'), [self.recibida(number),
                self.recibida(bad, supplier=BAD_NIF)])
        assert_valid(self, self.last_body(), 'RespuestaSuministro.xsd')
        self.assertEqual(response.EstadoEnvio, 'ParcialmenteCorrecto')
        lines = response.RespuestaLinea
        self.assertEqual([l.EstadoRegistro for l in lines],
            ['Correcto', 'Incorrecto'])
        self.assertEqual(lines[1].CodigoErrorRegistro, 1104)
        key = self.key(number, emitter=GOOD_NIF)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasRecibidas', key, 'registered'), 1)
        held = self.sb.state(SERVICE)['production']['recibidas'][self.nif]
        self.assertEqual(list(held), [key])
        # duplicate
        line, = self.recibidas.SuministroLRFacturasRecibidas(
            self.cabecera('A0'), [self.recibida(number)]).RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 3000)
        # Consulta
        response = self.recibidas.ConsultaLRFacturasRecibidas(
            self.cabecera(None), {'PeriodoLiquidacion': PERIOD})
        assert_valid(self, self.last_body(), 'RespuestaConsultaLR.xsd')
        item, = response.RegistroRespuestaConsultaLRFacturasRecibidas
        self.assertEqual(item.IDFactura.IDEmisorFactura.NIF, GOOD_NIF)
        self.assertEqual(item.DatosFacturaRecibida.CuotaDeducible, '21.00')
        self.assertEqual(item.DatosFacturaRecibida.Pagos, 'N')
        self.assertEqual(item.EstadoFactura.EstadoRegistro, 'Correcta')
        # Anulación (IDEmisorFactura with NombreRazon)
        response = self.recibidas.AnulacionLRFacturasRecibidas(
            self.cabecera(None), [{'PeriodoLiquidacion': PERIOD,
                    'IDFactura': {'IDEmisorFactura': {
                            'NombreRazon': 'Proveedor SL', 'NIF': GOOD_NIF},
                        'NumSerieFacturaEmisor': number,
                        'FechaExpedicionFacturaEmisor': DATE}}])
        assert_valid(self, self.last_body(), 'RespuestaSuministro.xsd')
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        response = self.recibidas.ConsultaLRFacturasRecibidas(
            self.cabecera(None), {'PeriodoLiquidacion': PERIOD,
                'IDFactura': {'IDEmisorFactura': {'NombreRazon': 'P',
                        'NIF': GOOD_NIF}, 'NumSerieFacturaEmisor': number}})
        assert_valid(self, self.last_body(), 'RespuestaConsultaLR.xsd')
        item, = response.RegistroRespuestaConsultaLRFacturasRecibidas
        self.assertEqual(item.EstadoFactura.EstadoRegistro, 'Anulada')


def big_request(nif, count, prefix):
    """SuministroLRFacturasEmitidas with ``count`` records, built with lxml
    (one record deep-copied)"""
    def lr(tag):
        return '{%s}%s' % (NS_LR, tag)

    def s(tag):
        return '{%s}%s' % (NS_SII, tag)

    def sub(parent, tag, text=None):
        el = etree.SubElement(parent, tag)
        el.text = text
        return el

    env = etree.Element('{%s}Envelope' % SOAP11_NS, nsmap={
            'soapenv': SOAP11_NS, 'siiLR': NS_LR, 'sii': NS_SII})
    body = sub(env, '{%s}Body' % SOAP11_NS)
    root = sub(body, lr('SuministroLRFacturasEmitidas'))
    cab = sub(root, s('Cabecera'))
    sub(cab, s('IDVersionSii'), '1.1')
    titular = sub(cab, s('Titular'))
    sub(titular, s('NombreRazon'), 'SANDBOX EMPRESA SL')
    sub(titular, s('NIF'), nif)
    sub(cab, s('TipoComunicacion'), 'A0')
    template = etree.Element(lr('RegistroLRFacturasEmitidas'))
    per = sub(template, s('PeriodoLiquidacion'))
    sub(per, s('Ejercicio'), '2024')
    sub(per, s('Periodo'), '05')
    idf = sub(template, lr('IDFactura'))
    sub(sub(idf, s('IDEmisorFactura')), s('NIF'), nif)
    sub(idf, s('NumSerieFacturaEmisor'), 'X')
    sub(idf, s('FechaExpedicionFacturaEmisor'), DATE)
    fac = sub(template, lr('FacturaExpedida'))
    sub(fac, s('TipoFactura'), 'F1')
    sub(fac, s('ClaveRegimenEspecialOTrascendencia'), '01')
    sub(fac, s('ImporteTotal'), '121.00')
    sub(fac, s('DescripcionOperacion'), 'Venta')
    contra = sub(fac, s('Contraparte'))
    sub(contra, s('NombreRazon'), 'Cliente SA')
    sub(contra, s('NIF'), GOOD_NIF)
    noexenta = sub(sub(sub(sub(fac, s('TipoDesglose')),
                s('DesgloseFactura')), s('Sujeta')), s('NoExenta'))
    sub(noexenta, s('TipoNoExenta'), 'S1')
    detalle = sub(sub(noexenta, s('DesgloseIVA')), s('DetalleIVA'))
    sub(detalle, s('TipoImpositivo'), '21')
    sub(detalle, s('BaseImponible'), '100.00')
    sub(detalle, s('CuotaRepercutida'), '21.00')
    num_path = '%s/%s' % (lr('IDFactura'), s('NumSerieFacturaEmisor'))
    for i in range(count):
        record = copy.deepcopy(template)
        record.find(num_path).text = '%s-%05d' % (prefix, i)
        root.append(record)
    return etree.tostring(env, xml_declaration=True, encoding='utf-8')


class BigBatchTest(SIITestCase):

    def test_10000_records(self):
        prefix = uid('B')
        data = big_request(self.nif, 10000, prefix)
        start = time.perf_counter()
        response = self.post_raw(data)
        elapsed = time.perf_counter() - start
        self.assertEqual(response.status_code, 200, response.text[:500])
        root = etree.fromstring(response.content)
        answer = body_of(root)
        self.assertEqual(answer.findtext('{%s}EstadoEnvio' % NS_R),
            'Correcto')
        lines = answer.findall('{%s}RespuestaLinea' % NS_R)
        self.assertEqual(len(lines), 10000)
        assert_valid(self, answer, 'RespuestaSuministro.xsd')
        if os.environ.get('SII_SANDBOX_TIMING'):
            print('\n10,000 records: request %.1f MB, response %.1f MB, '
                '%.2f s' % (len(data) / 1e6, len(response.content) / 1e6,
                    elapsed))
        self.assertLess(elapsed, 10)
        key = self.key('%s-%05d' % (prefix, 9999))
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key, 'registered'), 1)

        # Consulta of the full page
        start = time.perf_counter()
        response = self.emitidas.ConsultaLRFacturasEmitidas(
            self.cabecera(None), {'PeriodoLiquidacion': PERIOD})
        self.assertEqual(len(
                response.RegistroRespuestaConsultaLRFacturasEmitidas), 10000)
        self.assertEqual(response.IndicadorPaginacion, 'N')

        # 10,001 records: schema violation (maxOccurs 10000)
        data = big_request(self.nif, 10001, uid('B'))
        response = self.post_raw(data)
        self.assertEqual(response.status_code, 500)
        root = etree.fromstring(response.content)
        self.assertEqual(root.findtext('.//faultcode'), 'env:Client')
        self.assertTrue(root.findtext('.//faultstring').startswith(
                'Codigo[4102].'))
        self.assertEqual(len(self.sb.state(SERVICE)['production'][
                    'emitidas'][self.nif]), 10000)


if __name__ == '__main__':
    unittest.main()
