"""Tests of the SII sandbox: Suministro and Anulación of emitidas (codes,
duplicates, schema and titular refusals, the served WSDL) and the
production / Pruebas environments.

Run: .venv/bin/python -m unittest tests.test_sandbox_sii_suministro -v
"""
import unittest

import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from tests.sandbox.core import schema_path
from tests.sandbox.sii import EMITIDAS_PATH, NS_SII
from tests.sandbox_sii_case import (
    BAD_NIF, EMITIDAS_BINDING, GOOD_NIF, PERIOD, SERVICE, UNIDENTIFIED_NIF,
    SIITestCase, uid)


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


if __name__ == '__main__':
    unittest.main()
