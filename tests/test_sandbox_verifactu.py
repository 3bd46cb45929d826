"""Tests of the VERI*FACTU service of the authority sandbox: the official
huella vectors, RegFactuSistemaFacturacion (chains, per-record codes,
duplicates, waits, representatives, faults) and
ConsultaFactuSistemaFacturacion (filters, pages).

Run: .venv/bin/python -m unittest tests.test_sandbox_verifactu -v
"""
import datetime
import unittest

import requests
from lxml import etree

from tests.sandbox.verifactu import PATH
from tests.sandbox.verifactu_xml import (
    ALTA_FIELDS, ANULACION_FIELDS, NS_LRRC, NS_SF, Record, huella, huella_text)
from tests.sandbox_verifactu_case import (
    DATE, SERVICE, VerifactuTestCase, alta, consulta_envelope, envelope,
    now_text)

THIRD_NIF = 'A58818501'
NSMAP = {'sf': NS_SF, 'sfLRRC': NS_LRRC}


class HuellaTest(unittest.TestCase):
    "AEAT hash specification v0.1.2 §6 and the text rules"

    VECTOR_1 = ('3C464DAF61ACB827C65FDA19F352A4E3BDC2C640E9E9FC4CC058073F38F'
        '12F60')
    VECTOR_2 = ('F7B94CFD8924EDFF273501B01EE5153E4CE8F259766F88CF6ACB8935802'
        'A2B97')
    VECTOR_3 = ('177547C0D57AC74748561D054A9CEC14B4C4EA23D1BEFD6F2E69E3A388F'
        '90C68')

    def alta_values(self, number, previous, generated):
        return {'IDEmisorFactura': '89890001K', 'NumSerieFactura': number,
            'FechaExpedicionFactura': '01-01-2024', 'TipoFactura': 'F1',
            'CuotaTotal': '12.35', 'ImporteTotal': '123.45',
            'Huella': previous, 'FechaHoraHusoGenRegistro': generated}

    def test_official_vectors(self):
        text_1 = huella_text(self.alta_values('12345678/G33', '',
                '2024-01-01T19:20:30+01:00'), ALTA_FIELDS)
        self.assertEqual(text_1, 'IDEmisorFactura=89890001K&NumSerieFactura='
            '12345678/G33&FechaExpedicionFactura=01-01-2024&TipoFactura=F1&'
            'CuotaTotal=12.35&ImporteTotal=123.45&Huella=&'
            'FechaHoraHusoGenRegistro=2024-01-01T19:20:30+01:00')
        self.assertEqual(huella(text_1), self.VECTOR_1)
        self.assertEqual(huella(huella_text(self.alta_values('12345679/G34',
                        self.VECTOR_1, '2024-01-01T19:20:35+01:00'),
                    ALTA_FIELDS)), self.VECTOR_2)
        self.assertEqual(huella(huella_text({
                        'IDEmisorFacturaAnulada': '89890001K',
                        'NumSerieFacturaAnulada': '12345679/G34',
                        'FechaExpedicionFacturaAnulada': '01-01-2024',
                        'Huella': self.VECTOR_2,
                        'FechaHoraHusoGenRegistro':
                        '2024-01-01T19:20:40+01:00'}, ANULACION_FIELDS)),
            self.VECTOR_3)

    def test_record_texts(self):
        "Recomputed from the element texts: trimmed, & and accents as is"
        built = alta('89890001K', 'A & B/ñ 1', tipo='F1', cuota='2.10',
            importe='12.30', generated='2024-01-01T19:20:30+01:00')
        element = etree.fromstring(built.data)
        number = element.find('{%s}IDFactura/{%s}NumSerieFactura' % (
                NS_SF, NS_SF))
        number.text = '  A & B/ñ 1 '
        record = Record(element)
        self.assertEqual(record.text, 'IDEmisorFactura=89890001K&'
            'NumSerieFactura=A & B/ñ 1&FechaExpedicionFactura=%s&'
            'TipoFactura=F1&CuotaTotal=2.10&ImporteTotal=12.30&Huella=&'
            'FechaHoraHusoGenRegistro=2024-01-01T19:20:30+01:00' % DATE)
        self.assertEqual(record.computed, built.huella)
        # the amount is hashed as written: 12.3 is another huella
        self.assertNotEqual(built.huella, alta('89890001K', 'A & B/ñ 1',
                cuota='2.10', importe='12.3',
                generated='2024-01-01T19:20:30+01:00').huella)


class RegistroTest(VerifactuTestCase):

    def test_chain_accepted(self):
        first, second = self.chain.alta('A-1'), self.chain.alta('A-2')
        cancel = self.chain.anulacion('A-1')
        answer = self.send([first, second, cancel])
        self.assertEqual(answer.text('sfR:EstadoEnvio'), 'Correcto')
        self.assertRegex(answer.text('sfR:CSV'), r'^[A-Z0-9]{16}$')
        self.assertEqual(answer.text('sfR:TiempoEsperaEnvio'), '0')
        self.assertEqual(answer.text(
                'sfR:DatosPresentacion/sf:NIFPresentador'), self.nif)
        self.assertEqual(answer.text('sfR:Cabecera/sf:ObligadoEmision/sf:NIF'),
            self.nif)
        self.assertEqual(answer.lines(), [('A-1', 'Correcto', None),
                ('A-2', 'Correcto', None), ('A-1', 'Correcto', None)])
        self.assertEqual([o.text for o in answer.findall(
                        'sfR:RespuestaLinea/sfR:Operacion/sf:TipoOperacion')],
            ['Alta', 'Alta', 'Anulacion'])
        held = self.held()
        self.assertEqual([(r['kind'], r['number'], r['first'], r['link_ok'],
                    r['huella_ok'], r['status']) for r in held['records']],
            [('alta', 'A-1', True, True, True, 'Correcto'),
                ('alta', 'A-2', False, True, True, 'Correcto'),
                ('anulacion', 'A-1', False, True, True, 'Correcto')])
        self.assertEqual(held['records'][1]['previous'], first.huella)
        self.assertEqual(held['records'][2]['previous'], second.huella)
        invoices = held['invoices']
        self.assertEqual(invoices[first.key]['state'], 'Anulada')
        self.assertEqual(invoices[first.key]['huella'], cancel.huella)
        self.assertEqual(invoices[second.key]['state'], 'Correcta')
        state = self.state()
        self.assertEqual((state['requests'], state['records']), (1, 3))
        self.assertEqual(state['received'], {first.huella: 1,
                second.huella: 1, cancel.huella: 1})
        self.assertEqual((state['violations'], state['chain_breaks'],
                state['huella_errors']), ([], [], []))
        entry, = self.sb.received(SERVICE, 'RegFactuSistemaFacturacion')
        self.assertEqual(entry['summary']['keys'], [first.key, second.key,
                first.key])
        self.assertEqual(entry['summary']['cancelled'], [first.key])
        self.assertEqual(self.sb.count(SERVICE, 'RegFactuSistemaFacturacion',
                second.huella, field='huellas'), 1)

    def test_schema_fault_names_field(self):
        built = self.chain.alta('S-1')
        answer = self.post(envelope([built], 'B1234567'))
        self.assertFault(answer, 4102)
        self.assertIn('El XML no cumple el esquema', answer.fault)
        self.assertIn("Element 'NIF'", answer.fault)
        self.assertNotIn('{', answer.fault)
        # IdSistemaInformatico of 3 characters: the XSD allows 2 at most
        answer = self.post(envelope([alta(self.nif, 'S-2',
                        system_id='TSX')], self.nif))
        self.assertFault(answer, 4102)
        self.assertIn('IdSistemaInformatico', answer.fault)
        self.assertEqual(self.state()['requests'], 0)
        self.assertEqual(self.held()['records'], [])

    def test_census_4104(self):
        self.sb.set_option(SERVICE, 'unidentified_nifs', [self.nif])
        answer = self.post(envelope([self.chain.alta('C-1')], self.nif))
        self.assertFault(answer, 4104)
        self.assertEqual(self.held()['records'], [])

    def test_certificate_and_representatives(self):
        built = alta(self.nif, 'R-1')
        # the certificate of another company, no Representante
        self.assertFault(self.post(envelope([built], self.nif), 'es_other'),
            4114)
        # named as Representante but not allowed for this issuer
        self.assertFault(self.post(envelope([built], self.nif,
                    representative=self.other_nif), 'es_other'), 4114)
        # the Representante of the header must be the certificate's
        self.sb.set_option(SERVICE, 'representatives',
            {self.other_nif: [self.nif, THIRD_NIF]})
        self.assertFault(self.post(envelope([built], self.nif,
                    representative=THIRD_NIF), 'es_other'), 4114)
        self.assertEqual(self.held()['records'], [])
        # allowed: one certificate for two companies
        answer = self.send([built], 'es_other',
            representative=self.other_nif)
        self.assertEqual(answer.lines(), [('R-1', 'Correcto', None)])
        self.assertEqual(answer.text(
                'sfR:DatosPresentacion/sf:NIFPresentador'), self.other_nif)
        third = alta(THIRD_NIF, 'R-1')
        answer = self.send([third], 'es_other', nif=THIRD_NIF,
            representative=self.other_nif)
        self.assertEqual(answer.lines(), [('R-1', 'Correcto', None)])
        self.assertEqual(len(self.held(THIRD_NIF)['records']), 1)
        self.assertEqual(len(self.held()['records']), 1)
        # the issuer's own certificate needs no option
        self.sb.set_option(SERVICE, 'representatives', {})
        built = alta(self.nif, 'R-2', previous=built.link)
        self.assertEqual(self.send([built]).lines(),
            [('R-2', 'Correcto', None)])
        # Consulta: the representative allowed, another refused
        self.assertFault(self.post(consulta_envelope(self.nif), 'es_other'),
            4114)
        self.sb.set_option(SERVICE, 'representatives',
            {self.other_nif: [self.nif]})
        self.assertEqual(len(self.consulta('es_other').findall(
                    'sfLRRC:RegistroRespuestaConsultaFactuSistemaFacturacion'
                    )), 2)

    def test_resend_is_duplicate(self):
        built = self.chain.alta('D-1')
        first = self.send([built])
        id_peticion = self.held()['records'][0]['id_peticion']
        answer = self.send([built])
        self.assertEqual(answer.text('sfR:EstadoEnvio'), 'Incorrecto')
        self.assertIsNone(answer.find('sfR:CSV'))
        self.assertEqual(answer.lines(), [('D-1', 'Incorrecto', 3000)])
        dup = answer.find('sfR:RespuestaLinea/sfR:RegistroDuplicado')
        self.assertEqual(dup.findtext('sf:IdPeticionRegistroDuplicado',
                namespaces={'sf': NS_SF}), id_peticion)
        self.assertEqual(dup.findtext('sf:EstadoRegistroDuplicado',
                namespaces={'sf': NS_SF}), 'Correcta')
        self.assertIsNotNone(first.text('sfR:CSV'))
        self.assertEqual(len(self.held()['records']), 1)
        self.assertEqual(self.state()['received'], {built.huella: 2})
        second = self.sb.received(SERVICE)[-1]['summary']
        self.assertEqual(second['duplicates'], [built.key])
        # the resend broke nothing: the next record links to it
        self.assertEqual(self.send([self.chain.alta('D-2')]).lines(),
            [('D-2', 'Correcto', None)])
        self.assertEqual(self.state()['chain_breaks'], [])

    def test_resend_of_refused_record_repeats_refusal(self):
        self.sb.set_option(SERVICE, 'reject_numbers', ['D-9'])
        built = self.chain.alta('D-9')
        self.assertEqual(self.send([built]).lines(),
            [('D-9', 'Incorrecto', 1100)])
        answer = self.send([built])
        self.assertEqual(answer.lines(), [('D-9', 'Incorrecto', 1100)])
        self.assertEqual(answer.text(
                'sfR:RespuestaLinea/sfR:DescripcionErrorRegistro'),
            'Valor o tipo incorrecto del campo: NumSerieFactura')
        self.assertIsNone(answer.find('sfR:RespuestaLinea/'
                'sfR:RegistroDuplicado'))
        self.assertEqual(len(self.held()['records']), 1)
        self.assertEqual(self.held()['invoices'], {})

    def test_alta_of_registered_invoice(self):
        first = self.chain.alta('D-3')
        self.send([first])
        again = self.chain.alta('D-3', importe='242.00', cuota='42.00')
        answer = self.send([again])
        self.assertEqual(answer.lines(), [('D-3', 'Incorrecto', 3000)])
        self.assertEqual(answer.text('sfR:RespuestaLinea/sfR:'
                'RegistroDuplicado/sf:EstadoRegistroDuplicado'), 'Correcta')
        records = self.held()['records']
        self.assertEqual([(r['status'], r['code'], r['link_ok'])
                for r in records], [('Correcto', None, True),
                ('Incorrecto', 3000, True)])
        self.assertEqual(self.held()['invoices'][first.key]['huella'],
            first.huella)
        # its resend: the same answer, not held again
        answer = self.send([again])
        self.assertEqual(answer.lines(), [('D-3', 'Incorrecto', 3000)])
        self.assertIsNotNone(answer.find('sfR:RespuestaLinea/'
                'sfR:RegistroDuplicado'))
        self.assertEqual(len(self.held()['records']), 2)

    def test_huella_error_held_and_linked(self):
        bad = self.chain.alta('H-1', wrong_huella=True)
        answer = self.send([bad])
        self.assertEqual(answer.lines(), [('H-1', 'AceptadoConErrores',
                    2000)])
        self.assertEqual(answer.text('sfR:EstadoEnvio'),
            'ParcialmenteCorrecto')
        self.assertEqual(answer.text(
                'sfR:RespuestaLinea/sfR:DescripcionErrorRegistro'),
            'El cálculo de la huella suministrada es incorrecta.')
        error, = self.state()['huella_errors']
        self.assertEqual(error['huella'], bad.huella)
        self.assertEqual(error['key'], bad.key)
        invoice = self.held()['invoices'][bad.key]
        self.assertEqual((invoice['state'], invoice['code']),
            ('AceptadaConErrores', 2000))
        # linked as sent
        self.assertEqual(self.send([self.chain.alta('H-2')]).lines(),
            [('H-2', 'Correcto', None)])

    def test_chain_breaks(self):
        self.send([self.chain.alta('B-1')])
        # a second PrimerRegistro
        answer = self.send([alta(self.nif, 'B-2')])
        self.assertEqual(answer.lines(), [('B-2', 'AceptadoConErrores',
                    2010)])
        # a link to a record that is not the last one held
        stale = self.chain.alta('B-3')
        answer = self.send([stale])
        self.assertEqual(answer.lines(), [('B-3', 'AceptadoConErrores',
                    2010)])
        breaks = self.state()['chain_breaks']
        self.assertEqual([(b['key'], b['first']) for b in breaks],
            [(self.nif + '|B-2|' + DATE, True),
                (self.nif + '|B-3|' + DATE, False)])
        held = self.held()['records']
        self.assertEqual(breaks[1]['expected'], held[1]['huella'])
        self.assertEqual([r['link_ok'] for r in held], [True, False, False])
        # the right huella with another identity of the previous record
        wrong_id = alta(self.nif, 'B-5', previous=(self.nif, 'B-2', DATE,
                stale.huella))
        self.assertEqual(self.send([wrong_id]).lines(),
            [('B-5', 'AceptadoConErrores', 2010)])
        self.assertEqual(self.state()['chain_breaks'][-1]['expected_key'],
            stale.key)
        # a refused record is a link too; so is a chain per installation
        self.assertEqual(self.send([alta(self.nif, 'B-4', installation='2')]
                ).lines(), [('B-4', 'Correcto', None)])

    def test_corrections(self):
        # Subsanacion of an invoice not registered
        self.assertEqual(self.send([self.chain.alta('C-1',
                        flags=[('Subsanacion', 'S')])]).lines(),
            [('C-1', 'Incorrecto', 3002)])
        # refused (negative F1), then alta por rechazo
        refused = self.chain.alta('C-2', importe='-121.00')
        answer = self.send([refused])
        self.assertEqual(answer.lines(), [('C-2', 'Incorrecto', 1100)])
        self.assertEqual(answer.text(
                'sfR:RespuestaLinea/sfR:DescripcionErrorRegistro'),
            'Valor o tipo incorrecto del campo: ImporteTotal')
        self.assertNotIn(refused.key, self.held()['invoices'])
        fixed = self.chain.alta('C-2', flags=[('Subsanacion', 'S'),
                ('RechazoPrevio', 'S')])
        answer = self.send([fixed])
        self.assertEqual(answer.lines(), [('C-2', 'Correcto', None)])
        self.assertEqual([o.text for o in answer.find(
                    'sfR:RespuestaLinea/sfR:Operacion')],
            ['Alta', 'S', 'S'])
        self.assertEqual(self.held()['invoices'][fixed.key]['huella'],
            fixed.huella)
        # RechazoPrevio when the last record was accepted
        self.assertEqual(self.send([self.chain.alta('C-2', flags=[
                            ('Subsanacion', 'S'), ('RechazoPrevio', 'S')])]
                ).lines(), [('C-2', 'Incorrecto', 3002)])
        # Subsanacion of a registered invoice replaces its record
        sub = self.chain.alta('C-2', flags=[('Subsanacion', 'S')],
            importe='120.00')
        self.assertEqual(self.send([sub]).lines(),
            [('C-2', 'Correcto', None)])
        invoice = self.held()['invoices'][fixed.key]
        self.assertEqual((invoice['huella'], invoice['state']),
            (sub.huella, 'Correcta'))
        self.assertEqual([r['flags'] for r in self.held()['records']][-1],
            {'Subsanacion': 'S'})
        self.assertEqual(self.state()['chain_breaks'], [])

    def test_anulaciones(self):
        self.assertEqual(self.send([self.chain.anulacion('N-1')]).lines(),
            [('N-1', 'Incorrecto', 3002)])
        self.assertEqual(self.send([self.chain.anulacion('N-1', flags=[
                            ('SinRegistroPrevio', 'S')])]).lines(),
            [('N-1', 'Correcto', None)])
        self.assertEqual(self.send([self.chain.anulacion('N-1')]).lines(),
            [('N-1', 'Incorrecto', 3001)])
        self.send([self.chain.alta('N-2', importe='-1.00')])
        answer = self.send([self.chain.anulacion('N-2', flags=[
                        ('RechazoPrevio', 'S')])])
        self.assertEqual(answer.lines(), [('N-2', 'Correcto', None)])
        self.assertEqual([o.text for o in answer.find(
                    'sfR:RespuestaLinea/sfR:Operacion')],
            ['Anulacion', 'S'])
        invoices = self.held()['invoices']
        self.assertEqual([invoices[self.nif + '|%s|%s' % (n, DATE)]['state']
                for n in ('N-1', 'N-2')], ['Anulada', 'Anulada'])
        # a plain alta registers a cancelled invoice again
        self.assertEqual(self.send([self.chain.alta('N-1')]).lines(),
            [('N-1', 'Correcto', None)])
        self.assertEqual(self.state()['chain_breaks'], [])

    def test_system_id_1177(self):
        self.sb.set_option(SERVICE, 'refuse_system', ['TS'])
        answer = self.send([self.chain.alta('I-1'),
                self.chain.alta('I-2', system_id='OK'),
                self.chain.alta('I-3', system_id='X')])
        self.assertEqual(answer.lines(), [('I-1', 'Incorrecto', 1177),
                ('I-2', 'Correcto', None), ('I-3', 'Incorrecto', 1177)])
        self.assertEqual(len(self.held()['records']), 3)

    def test_bad_record_refused_alone(self):
        self.sb.set_option(SERVICE, 'reject_numbers', ['P-2'])
        answer = self.send([self.chain.alta('P-%d' % i)
                for i in range(1, 4)])
        self.assertEqual(answer.text('sfR:EstadoEnvio'),
            'ParcialmenteCorrecto')
        self.assertIsNotNone(answer.text('sfR:CSV'))
        self.assertEqual(answer.lines(), [('P-1', 'Correcto', None),
                ('P-2', 'Incorrecto', 1100), ('P-3', 'Correcto', None)])
        self.assertEqual(sorted(i['number']
                for i in self.held()['invoices'].values()), ['P-1', 'P-3'])
        summary = self.sb.received(SERVICE)[-1]['summary']
        self.assertEqual(summary['rejected'], [self.nif + '|P-2|' + DATE])

    def test_late_records_2004(self):
        late = self.chain.alta('L-1', generated=now_text(-300))
        self.assertEqual(self.send([late]).lines(),
            [('L-1', 'AceptadoConErrores', 2004)])
        flagged = self.chain.alta('L-2', generated=now_text(-300))
        self.assertEqual(self.send([flagged], incidencia='S').lines(),
            [('L-2', 'Correcto', None)])
        self.assertEqual(self.held()['records'][1]['incidencia'], 'S')
        # the record's own offset counts: now, written in UTC-05:00 (an
        # earlier wall-clock time than Madrid's)
        moment = datetime.datetime.now(datetime.timezone(
                datetime.timedelta(hours=-5))).replace(microsecond=0)
        self.assertEqual(self.send([self.chain.alta('L-3',
                        generated=moment.isoformat())]).lines(),
            [('L-3', 'Correcto', None)])
        # the sandbox clock decides
        self.sb.set_clock(offset=300)
        self.assertEqual(self.send([self.chain.alta('L-4')]).lines(),
            [('L-4', 'AceptadoConErrores', 2004)])

    def test_wait_and_violations(self):
        self.sb.set_option(SERVICE, 'wait', 60)
        self.sb.set_clock(frozen='2025-01-01T10:00:00Z')
        answer = self.send([self.chain.alta('W-1')])
        self.assertEqual(answer.text('sfR:TiempoEsperaEnvio'), '60')
        self.sb.set_clock(advance=59)
        self.send([self.chain.alta('W-2')])
        violation, = self.state()['violations']
        self.assertEqual(violation['issuer'], self.nif)
        self.assertEqual(violation['received_at'],
            '2025-01-01T10:00:59+00:00')
        self.assertEqual(violation['not_before'],
            '2025-01-01T10:01:00+00:00')
        self.assertEqual((violation['early_by'], violation['records']),
            (1.0, 1))
        self.assertTrue(self.sb.received(SERVICE)[-1]['summary'][
                'violation'])
        # processed anyway; after the wait nothing is counted
        self.assertEqual(len(self.held()['records']), 2)
        self.sb.set_clock(advance=60)
        self.send([self.chain.alta('W-3')])
        # another issuer has its own wait
        self.sb.set_option(SERVICE, 'representatives',
            {self.other_nif: [THIRD_NIF]})
        self.send([alta(THIRD_NIF, 'W-1')], 'es_other', nif=THIRD_NIF,
            representative=self.other_nif)
        self.assertEqual(len(self.state()['violations']), 1)
        # a full request of 1,000 records may go at once
        self.send([self.chain.alta('X-%d' % i, generated=now_text())
                for i in range(1000)])
        self.assertEqual(len(self.state()['violations']), 1)
        self.assertEqual(self.held()['not_before'],
            '2025-01-01T10:02:59+00:00')

    def test_internal_error(self):
        self.sb.add_fault(SERVICE, 'RegFactuSistemaFacturacion',
            'internal_error')
        built = self.chain.alta('E-1')
        answer = self.post(envelope([built], self.nif))
        self.assertFault(answer, 20009, 'env:Server')
        self.assertEqual(answer.fault, 'Codigo[20009].Error interno')
        self.assertEqual(self.held()['records'], [])
        entry, = self.sb.received(SERVICE)
        self.assertFalse(entry['processed'])
        self.assertEqual(self.send([built]).lines(),
            [('E-1', 'Correcto', None)])

    def test_common_faults(self):
        built = self.chain.alta('F-1')
        self.sb.add_fault(SERVICE, 'RegFactuSistemaFacturacion', 'drop_after')
        with self.assertRaises(requests.ConnectionError):
            self.post(envelope([built], self.nif))
        # the lost answer: processed, held
        self.assertEqual(self.state()['received'], {built.huella: 1})
        self.assertEqual(len(self.held()['records']), 1)
        session = self.session('es_company')
        for kind, status in (('html', 200), ('http_503', 503)):
            self.sb.add_fault(SERVICE, '*', kind)
            response = session.post(self.sb.url + PATH,
                data=envelope([self.chain.alta('F-2')], self.nif),
                headers={'Content-Type': 'text/xml; charset=utf-8'})
            self.assertEqual(response.status_code, status)
        self.assertEqual(len(self.held()['records']), 1)

    def test_wsdl_and_schemas_served(self):
        session = self.session('es_company')
        response = session.get(self.sb.url + PATH + '?wsdl')
        self.assertEqual(response.status_code, 200)
        wsdl = etree.fromstring(response.content)
        addresses = {port.get('name'): port[0].get('location')
            for port in wsdl.iter('{http://schemas.xmlsoap.org/wsdl/}port')}
        for port in ('SistemaVerifactu', 'SistemaVerifactuPruebas',
                'SistemaVerifactuSello', 'SistemaVerifactuSelloPruebas'):
            self.assertEqual(addresses[port], self.sb.url + PATH)
        xsd = session.get(self.sb.url + PATH.rsplit('/', 1)[0]
            + '/SuministroLR.xsd')
        self.assertEqual(xsd.status_code, 200)
        self.assertIn(b'RegFactuSistemaFacturacion', xsd.content)
        # NO-VERI*FACTU (Requerimiento) is not simulated
        answer = self.post(envelope([self.chain.alta('Q-1')], self.nif),
            path=PATH.replace('VerifactuSOAP', 'RequerimientoSOAP'))
        self.assertFault(answer, 9999, 'env:Server')

    def test_control_state_http(self):
        built = self.chain.alta('K-1')
        self.send([built])
        response = self.session('es_company').get(
            self.sb.url + '/control/verifactu/state')
        self.assertEqual(response.status_code, 200)
        state = response.json()
        self.assertEqual(state['issuers'][self.nif]['records'][0]['huella'],
            built.huella)
        self.assertEqual(state['received'], {built.huella: 1})


class ConsultaTest(VerifactuTestCase):

    def items(self, answer):
        ns = 'sfLRRC:RegistroRespuestaConsultaFactuSistemaFacturacion'
        return [(item.findtext('sfLRRC:IDFactura/sf:NumSerieFactura',
                    namespaces=NSMAP),
                item.findtext('sfLRRC:EstadoRegistro/sfLRRC:EstadoRegistro',
                    namespaces=NSMAP),
                item.findtext('sfLRRC:DatosRegistroFacturacion/sfLRRC:Huella',
                    namespaces=NSMAP))
            for item in answer.findall(ns)]

    def test_filters_states_and_huella(self):
        self.sb.set_option(SERVICE, 'reject_numbers', ['Q-R'])
        q1, q2 = self.chain.alta('Q-1'), self.chain.alta('Q-2')
        rejected = self.chain.alta('Q-R')
        june = self.chain.alta('Q-J', date='01-06-2024')
        bad = self.chain.alta('Q-3', wrong_huella=True)
        cancel = self.chain.anulacion('Q-2')
        self.send([q1, q2, rejected, june, bad, cancel])
        answer = self.consulta()
        self.assertEqual(answer.text('sfLRRC:ResultadoConsulta'), 'ConDatos')
        self.assertEqual(answer.text('sfLRRC:IndicadorPaginacion'), 'N')
        self.assertEqual(self.items(answer), [
                ('Q-1', 'Correcto', q1.huella),
                ('Q-2', 'Anulado', cancel.huella),
                ('Q-3', 'AceptadoConErrores', bad.huella)])
        item = answer.findall(
            'sfLRRC:RegistroRespuestaConsultaFactuSistemaFacturacion')[2]
        self.assertEqual(item.findtext('sfLRRC:EstadoRegistro/'
                'sfLRRC:CodigoErrorRegistro', namespaces=NSMAP), '2000')
        self.assertEqual(item.findtext('sfLRRC:DatosRegistroFacturacion/'
                'sfLRRC:ImporteTotal', namespaces=NSMAP), '121.00')
        self.assertEqual(item.findtext('sfLRRC:DatosPresentacion/'
                'sf:IdPeticion', namespaces=NSMAP),
            self.held()['records'][0]['id_peticion'])
        self.assertEqual(self.items(self.consulta(number='Q-1')),
            [('Q-1', 'Correcto', q1.huella)])
        self.assertEqual(self.items(self.consulta(period=('2024', '06'))),
            [('Q-J', 'Correcto', june.huella)])
        empty = self.consulta(period=('2024', '07'))
        self.assertEqual(empty.text('sfLRRC:ResultadoConsulta'), 'SinDatos')
        self.assertEqual(self.sb.received(SERVICE)[-1]['summary']['found'],
            [])

    def test_representative_and_incidencia_echoed(self):
        self.sb.set_option(SERVICE, 'representatives',
            {self.other_nif: [self.nif]})
        built = self.chain.alta('Q-5')
        self.send([built], 'es_other', representative=self.other_nif,
            incidencia='S')
        datos = self.consulta().find(
            'sfLRRC:RegistroRespuestaConsultaFactuSistemaFacturacion/'
            'sfLRRC:DatosRegistroFacturacion')
        self.assertEqual(datos.findtext('sfLRRC:NifRepresentante',
                namespaces=NSMAP), self.other_nif)
        self.assertEqual(datos.findtext('sfLRRC:Incidencia',
                namespaces=NSMAP), 'S')

    def test_paging(self):
        self.sb.set_option(SERVICE, 'page_size', 2)
        built = [self.chain.alta('G-%d' % i) for i in range(5)]
        self.send(built)
        numbers, clave, pages = [], None, 0
        while True:
            answer = self.consulta(clave=clave)
            pages += 1
            numbers += [n for n, _, _ in self.items(answer)]
            if answer.text('sfLRRC:IndicadorPaginacion') == 'N':
                self.assertIsNone(answer.find('sfLRRC:ClavePaginacion'))
                break
            clave = [answer.text('sfLRRC:ClavePaginacion/sf:' + n) for n in (
                    'IDEmisorFactura', 'NumSerieFactura',
                    'FechaExpedicionFactura')]
            self.assertEqual(clave[1], numbers[-1])
        self.assertEqual(numbers, ['G-%d' % i for i in range(5)])
        self.assertEqual(pages, 3)
        # an unknown key: nothing
        self.assertEqual(self.items(self.consulta(
                    clave=[self.nif, 'NOPE', DATE])), [])
        self.assertEqual(self.state()['consultas'], 4)
