"""Tests of the SII (AEAT) service of the authority sandbox.

Run: .venv/bin/python -m unittest tests.test_sandbox_sii -v

Requests are built by zeep from the official WSDLs of the schema dir
(address replaced by the sandbox's), once from the WSDL served by the
sandbox, and as raw XML for the schema violation and the 10,000-record
batch.  Every answer is checked against the official response XSDs.
"""
import copy
import os
import time
import unittest
import uuid

import zeep
import zeep.exceptions
from lxml import etree
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

from tests.sandbox import Sandbox
from tests.sandbox.core import SOAP11_NS, load_schema, schema_path
from tests.sandbox.sii import (
    EMITIDAS_PATH, NS_LR, NS_R, NS_SII, RECIBIDAS_PATH)

SERVICE = 'sii'
WSDL_NS = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/ssii/fact/ws/')
EMITIDAS_BINDING = '{%sSuministroFactEmitidas.wsdl}siiBinding' % WSDL_NS
RECIBIDAS_BINDING = '{%sSuministroFactRecibidas.wsdl}siiBinding' % WSDL_NS
GOOD_NIF = '12345678Z'
BAD_NIF = '12345678A'        # wrong check digit
UNIDENTIFIED_NIF = '11111111H'  # the default of option unidentified_nifs
DATE = '15-05-2024'
PERIOD = {'Ejercicio': '2024', 'Periodo': '05'}


def uid(prefix='F'):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:10].upper())


def body_of(envelope):
    return envelope.find('{%s}Body' % SOAP11_NS)[0]


def assert_valid(testcase, element, xsd):
    error = load_schema('es_sii/' + xsd).validate(element)
    testcase.assertIsNone(error, etree.tostring(element)[:2000])


class SIITestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox([SERVICE]).start()
        cls.nif = cls.sb.identity('es_company').tax_id
        cls.other_nif = cls.sb.identity('es_other').tax_id
        cls.session = cls.sb.session('es_company')
        cls.history = HistoryPlugin()
        transport = Transport(session=cls.session, timeout=60)
        cls.emitidas_client = zeep.Client(
            schema_path('es_sii/SuministroFactEmitidas.wsdl'),
            transport=transport, plugins=[cls.history])
        cls.recibidas_client = zeep.Client(
            schema_path('es_sii/SuministroFactRecibidas.wsdl'),
            transport=transport, plugins=[cls.history])
        cls.emitidas = cls.emitidas_client.create_service(EMITIDAS_BINDING,
            cls.sb.url + EMITIDAS_PATH)
        cls.emitidas_pruebas = cls.emitidas_client.create_service(
            EMITIDAS_BINDING, cls.sb.url + '/pruebas' + EMITIDAS_PATH)
        cls.recibidas = cls.recibidas_client.create_service(
            RECIBIDAS_BINDING, cls.sb.url + RECIBIDAS_PATH)

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()

    # -- helpers --
    def cabecera(self, tipo='A0', nif=None):
        cab = {'IDVersionSii': '1.1',
            'Titular': {'NombreRazon': 'SANDBOX EMPRESA SL',
                'NIF': nif or self.nif}}
        if tipo:
            cab['TipoComunicacion'] = tipo
        return cab

    def emitida(self, number, counterpart=GOOD_NIF, total='121.00',
            base='100.00', cuota='21.00', period=None, date=DATE,
            description='Venta de mercaderías'):
        return {
            'PeriodoLiquidacion': period or PERIOD,
            'IDFactura': {'IDEmisorFactura': {'NIF': self.nif},
                'NumSerieFacturaEmisor': number,
                'FechaExpedicionFacturaEmisor': date},
            'FacturaExpedida': {
                'TipoFactura': 'F1',
                'ClaveRegimenEspecialOTrascendencia': '01',
                'ImporteTotal': total,
                'DescripcionOperacion': description,
                'Contraparte': {'NombreRazon': 'Cliente SA',
                    'NIF': counterpart},
                'TipoDesglose': {'DesgloseFactura': {'Sujeta': {'NoExenta': {
                                'TipoNoExenta': 'S1',
                                'DesgloseIVA': {'DetalleIVA': [{
                                            'TipoImpositivo': '21.00',
                                            'BaseImponible': base,
                                            'CuotaRepercutida': cuota}]},
                                }}}},
                },
            }

    def id_baja(self, number, date=DATE):
        return {'PeriodoLiquidacion': PERIOD,
            'IDFactura': {'IDEmisorFactura': {'NIF': self.nif},
                'NumSerieFacturaEmisor': number,
                'FechaExpedicionFacturaEmisor': date}}

    def key(self, number, date=DATE, emitter=None):
        return '%s|%s|%s' % (emitter or self.nif, number, date)

    def last_body(self):
        return body_of(self.history.last_received['envelope'])

    def send(self, records, tipo='A0', service=None):
        service = service or self.emitidas
        response = service.SuministroLRFacturasEmitidas(
            self.cabecera(tipo), records)
        assert_valid(self, self.last_body(), 'RespuestaSuministro.xsd')
        return response

    def anular(self, numbers, service=None):
        service = service or self.emitidas
        response = service.AnulacionLRFacturasEmitidas(
            self.cabecera(None), [self.id_baja(n) for n in numbers])
        assert_valid(self, self.last_body(), 'RespuestaSuministro.xsd')
        return response

    def consulta(self, service=None, **filters):
        service = service or self.emitidas
        filtro = {'PeriodoLiquidacion': filters.pop('period', PERIOD)}
        filtro.update(filters)
        response = service.ConsultaLRFacturasEmitidas(self.cabecera(None),
            filtro)
        assert_valid(self, self.last_body(), 'RespuestaConsultaLR.xsd')
        return response

    def held(self, number, env='production', book='emitidas'):
        return self.sb.state(SERVICE)[env][book][self.nif][self.key(number)]

    def post_raw(self, data, path=EMITIDAS_PATH):
        return self.session.post(self.sb.url + path, data=data, timeout=120,
            headers={'Content-Type': 'text/xml; charset=utf-8',
                'SOAPAction': '""'})


class SuministroEmitidasTest(SIITestCase):

    def test_a0_correcto(self):
        number = uid()
        response = self.send([self.emitida(number)])
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        self.assertRegex(response.CSV, r'^[A-Z0-9]{16}$')
        self.assertEqual(response.DatosPresentacion.NIFPresentador, self.nif)
        self.assertRegex(response.DatosPresentacion.TimestampPresentacion,
            r'^\d\d-\d\d-\d{4} \d\d:\d\d:\d\d$')
        self.assertEqual(response.Cabecera.Titular.NIF, self.nif)
        self.assertEqual(response.Cabecera.TipoComunicacion, 'A0')
        line, = response.RespuestaLinea
        self.assertEqual(line.EstadoRegistro, 'Correcto')
        self.assertIsNone(line.CodigoErrorRegistro)
        self.assertEqual(line.IDFactura.NumSerieFacturaEmisor, number)
        held = self.held(number)
        self.assertEqual(held['state'], 'Correcta')
        self.assertEqual(held['csv'], response.CSV)
        self.assertEqual(held['importe_total'], '121.00')
        self.assertEqual(held['tipo_factura'], 'F1')
        self.assertEqual(held['counterparty'], GOOD_NIF)
        self.assertEqual(held['period'], PERIOD)
        self.assertIn(number, held['xml'])
        key = self.key(number)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key), 1)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key, 'registered'), 1)
        entry, = self.sb.received(SERVICE)
        self.assertEqual(entry['summary']['entries'],
            [['SuministroLRFacturasEmitidas', key, 'A0']])
        self.assertEqual(entry['summary']['environment'], 'production')

    def test_duplicate_a0(self):
        number = uid()
        first = self.send([self.emitida(number)])
        response = self.send([self.emitida(number)])
        self.assertEqual(response.EstadoEnvio, 'Incorrecto')
        self.assertIsNone(response.CSV)
        line, = response.RespuestaLinea
        self.assertEqual(line.EstadoRegistro, 'Incorrecto')
        self.assertEqual(line.CodigoErrorRegistro, 3000)
        self.assertEqual(line.DescripcionErrorRegistro, 'Factura duplicada')
        self.assertEqual(line.CSV, first.CSV)
        self.assertEqual(line.RegistroDuplicado.EstadoRegistro, 'Correcta')
        key = self.key(number)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key), 2)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key, 'registered'), 1)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key, 'rejected'), 1)

    def test_duplicate_of_accepted_with_errors(self):
        number = uid()
        self.send([self.emitida(number, counterpart=UNIDENTIFIED_NIF)])
        line, = self.send([self.emitida(number)]).RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 3000)
        dup = line.RegistroDuplicado
        self.assertEqual(dup.EstadoRegistro, 'AceptadaConErrores')
        self.assertEqual(dup.CodigoErrorRegistro, 1117)
        self.assertTrue(dup.DescripcionErrorRegistro)

    def test_a1_modifies(self):
        number = uid()
        self.send([self.emitida(number)])
        response = self.send([self.emitida(number, total='242.00',
                    base='200.00', cuota='42.00', description='Corregida')],
            tipo='A1')
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        held = self.held(number)
        self.assertEqual(held['importe_total'], '242.00')
        self.assertEqual(held['csv'], response.CSV)
        self.assertEqual([h['operation'] for h in held['history']],
            ['A0', 'A1'])
        self.assertIn('Corregida', held['xml'])
        key = self.key(number)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key, 'modified'), 1)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', key, 'registered'), 1)
        # A4 is a modification too
        response = self.send([self.emitida(number)], tipo='A4')
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        # unknown invoice
        line, = self.send([self.emitida(uid())], tipo='A1').RespuestaLinea
        self.assertEqual(line.EstadoRegistro, 'Incorrecto')
        self.assertEqual(line.CodigoErrorRegistro, 3002)

    def test_anulacion(self):
        number = uid()
        alta = self.send([self.emitida(number)])
        response = self.anular([number])
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        self.assertRegex(response.CSV, r'^[A-Z0-9]{16}$')
        self.assertNotIn('TipoComunicacion', response.Cabecera)
        line, = response.RespuestaLinea
        self.assertEqual(line.EstadoRegistro, 'Correcto')
        self.assertEqual(self.held(number)['state'], 'Anulada')
        # again: already cancelled
        response = self.anular([number])
        self.assertEqual(response.EstadoEnvio, 'Incorrecto')
        line, = response.RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 3001)
        self.assertNotEqual(line.CSV, alta.CSV)
        # unknown
        line, = self.anular([uid()]).RespuestaLinea
        self.assertEqual(line.EstadoRegistro, 'Incorrecto')
        self.assertEqual(line.CodigoErrorRegistro, 3002)
        # A1 of a cancelled invoice
        line, = self.send([self.emitida(number)], tipo='A1').RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 3001)
        # a cancelled invoice may be registered again
        response = self.send([self.emitida(number)])
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        self.assertEqual(self.held(number)['state'], 'Correcta')
        self.assertEqual(self.sb.count(SERVICE,
                'AnulacionLRFacturasEmitidas', self.key(number),
                'cancelled'), 1)

    def test_reregister_cancelled_option(self):
        number = uid()
        self.send([self.emitida(number)])
        self.anular([number])
        self.sb.set_option(SERVICE, 'reregister_cancelled', False)
        line, = self.send([self.emitida(number)]).RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 3000)
        self.assertEqual(line.RegistroDuplicado.EstadoRegistro, 'Anulada')

    def test_batch_with_wrong_nif(self):
        numbers = [uid() for _ in range(3)]
        response = self.send([self.emitida(numbers[0]),
                self.emitida(numbers[1], counterpart=BAD_NIF),
                self.emitida(numbers[2])])
        self.assertEqual(response.EstadoEnvio, 'ParcialmenteCorrecto')
        self.assertTrue(response.CSV)
        lines = response.RespuestaLinea
        self.assertEqual([l.IDFactura.NumSerieFacturaEmisor for l in lines],
            numbers)
        self.assertEqual([l.EstadoRegistro for l in lines],
            ['Correcto', 'Incorrecto', 'Correcto'])
        self.assertEqual(lines[1].CodigoErrorRegistro, 1104)
        self.assertIn('Contraparte', lines[1].DescripcionErrorRegistro)
        held = self.sb.state(SERVICE)['production']['emitidas'][self.nif]
        self.assertEqual(sorted(held),
            sorted([self.key(numbers[0]), self.key(numbers[2])]))
        summary = self.sb.received(SERVICE)[-1]['summary']
        self.assertEqual(summary['rejected'], [self.key(numbers[1])])
        self.assertEqual(len(summary['registered']), 2)

    def test_unidentified_nif(self):
        number = uid()
        response = self.send([self.emitida(number,
                    counterpart=UNIDENTIFIED_NIF)])
        self.assertEqual(response.EstadoEnvio, 'ParcialmenteCorrecto')
        self.assertTrue(response.CSV)
        line, = response.RespuestaLinea
        self.assertEqual(line.EstadoRegistro, 'AceptadoConErrores')
        self.assertEqual(line.CodigoErrorRegistro, 1117)
        held = self.held(number)
        self.assertEqual(held['state'], 'AceptadaConErrores')
        self.assertEqual(held['code'], 1117)
        self.assertEqual(self.sb.count(SERVICE,
                'SuministroLRFacturasEmitidas', self.key(number),
                'registered'), 1)
        # configurable
        self.sb.set_option(SERVICE, 'unidentified_nifs', [GOOD_NIF])
        line, = self.send([self.emitida(uid())]).RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 1117)

    def test_period_and_totals(self):
        line, = self.send([self.emitida(uid(),
                    period={'Ejercicio': '2024', 'Periodo': '04'})]
            ).RespuestaLinea
        self.assertEqual((line.EstadoRegistro, line.CodigoErrorRegistro),
            ('Incorrecto', 1108))
        line, = self.send([self.emitida(uid(),
                    period={'Ejercicio': '2023', 'Periodo': '0A'})]
            ).RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 1108)
        for period in ('2T', '0A', '06'):
            line, = self.send([self.emitida(uid(),
                        period={'Ejercicio': '2024', 'Periodo': period})]
                ).RespuestaLinea
            self.assertEqual(line.EstadoRegistro, 'Correcto', period)
        line, = self.send([self.emitida(uid(), total='150.00')]
            ).RespuestaLinea
        self.assertEqual((line.EstadoRegistro, line.CodigoErrorRegistro),
            ('AceptadoConErrores', 1231))
        line, = self.send([self.emitida(uid(), total='121.50')]
            ).RespuestaLinea
        self.assertEqual(line.EstadoRegistro, 'Correcto')

    def test_titular_not_certificate_holder(self):
        session = self.sb.session('es_other')
        self.addCleanup(session.close)
        client = zeep.Client(
            schema_path('es_sii/SuministroFactEmitidas.wsdl'),
            transport=Transport(session=session, timeout=30))
        service = client.create_service(EMITIDAS_BINDING,
            self.sb.url + EMITIDAS_PATH)
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            service.SuministroLRFacturasEmitidas(self.cabecera('A0'),
                [self.emitida(uid())])
        self.assertTrue(cm.exception.message.startswith('Codigo[4114].'),
            cm.exception.message)
        self.assertEqual(cm.exception.code, 'env:Client')
        self.assertEqual(self.sb.state(SERVICE), {})
        entry, = self.sb.received(SERVICE)
        self.assertEqual(entry['caller'], self.other_nif)
        self.assertIsNone(entry['summary'].get('registered'))

    def test_schema_violation(self):
        number = uid()
        self.send([self.emitida(number)])
        data = self.history.last_sent['envelope']
        data = etree.tostring(data)
        # IDVersionSii 1.0 and a missing DescripcionOperacion
        bad = data.replace(b'>1.1<', b'>1.0<')
        response = self.post_raw(bad)
        self.assertEqual(response.status_code, 500)
        root = etree.fromstring(response.content)
        self.assertEqual(root.findtext('.//faultcode'), 'env:Client')
        self.assertTrue(root.findtext('.//faultstring').startswith(
                'Codigo[4102].El XML no cumple el esquema. '))
        self.assertEqual(self.sb.received(SERVICE)[-1]['outcome'],
            'schema_error')
        root = etree.fromstring(data)
        desc = root.find('.//{%s}DescripcionOperacion' % NS_SII)
        desc.getparent().remove(desc)
        response = self.post_raw(etree.tostring(root))
        self.assertEqual(response.status_code, 500)
        self.assertIn('Codigo[4102]', response.text)
        self.assertIn('DescripcionOperacion', response.text)

    def test_wsdl_from_sandbox(self):
        session = self.sb.session('es_company')
        self.addCleanup(session.close)
        wsdl = self.sb.wsdl_url(SERVICE)
        self.assertTrue(wsdl.endswith(EMITIDAS_PATH + '?wsdl'), wsdl)
        client = zeep.Client(wsdl,
            transport=Transport(session=session, timeout=30))
        number = uid()
        # default port = production
        response = client.service.SuministroLRFacturasEmitidas(
            self.cabecera('A0'), [self.emitida(number)])
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        # the Pruebas port of the served WSDL points at /pruebas/...
        pruebas = client.bind('siiService', 'SuministroFactEmitidasPruebas')
        self.assertEqual(pruebas._binding_options['address'],
            self.sb.url + '/pruebas' + EMITIDAS_PATH)
        response = pruebas.SuministroLRFacturasEmitidas(
            self.cabecera('A0'), [self.emitida(number)])
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        state = self.sb.state(SERVICE)
        self.assertEqual(set(state), {'production', 'staging'})


class EnvironmentTest(SIITestCase):

    def test_pruebas_separate_state(self):
        number = uid()
        response = self.send([self.emitida(number)],
            service=self.emitidas_pruebas)
        self.assertEqual(response.EstadoEnvio, 'Correcto')
        self.assertEqual(self.sb.received(SERVICE)[-1]['summary'][
                'environment'], 'staging')
        self.assertEqual(self.held(number, 'staging')['state'], 'Correcta')
        self.assertNotIn('production', self.sb.state(SERVICE))
        # production knows nothing about it
        self.assertEqual(self.consulta().ResultadoConsulta, 'SinDatos')
        self.assertEqual(self.send([self.emitida(number)]).EstadoEnvio,
            'Correcto')
        self.assertEqual(self.consulta(
                service=self.emitidas_pruebas).ResultadoConsulta, 'ConDatos')
        # cancel in production only
        self.anular([number])
        self.assertEqual(self.held(number)['state'], 'Anulada')
        self.assertEqual(self.held(number, 'staging')['state'], 'Correcta')

    def test_default_environment_option(self):
        number = uid()
        self.send([self.emitida(number)], service=self.emitidas_pruebas)
        self.sb.set_option(SERVICE, 'default_environment', 'staging')
        # official path now reaches the staging state: duplicate
        line, = self.send([self.emitida(number)]).RespuestaLinea
        self.assertEqual(line.CodigoErrorRegistro, 3000)
        self.assertEqual(set(self.sb.state(SERVICE)), {'staging'})


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
