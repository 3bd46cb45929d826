"""Base class and helpers of the tests of the SII (AEAT) service of the
authority sandbox (tests/test_sandbox_sii_*.py).

Requests are built by zeep from the official WSDLs of the schema dir
(address replaced by the sandbox's), once from the WSDL served by the
sandbox, and as raw XML for the schema violation and the 10,000-record
batch.  Every answer is checked against the official response XSDs.
"""
import unittest
import uuid

import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

from tests.sandbox import Sandbox
from tests.sandbox.core import SOAP11_NS, load_schema, schema_path
from tests.sandbox.sii import EMITIDAS_PATH, RECIBIDAS_PATH

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
