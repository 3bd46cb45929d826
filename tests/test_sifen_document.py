"""The SIFEN document library (issue 17 items 2-5, 7, 8): CDC, amounts, the
rDE, signature, QR, events, lots and the local rules.  No database.

The CDC check digit is checked on SET's 2019 samples and refused on the
broken ones; SET's samples (adjusted for the schema changes since 2019)
and the FE/NC/ND generated from DocumentData are validated against
siRecepDE_v150.xsd; signatures are verified by python-xmlsec (libxmlsec1,
independent of signxml) as well as by signing.verify_enveloped; the QR
hash is compared with a value computed by hand."""
import base64
import datetime as dt
import hashlib
import io
import os
import re
import zipfile
from dataclasses import replace

from lxml import etree

from tests.sifen_document_case import (
    BROKEN, CSC, CSC_ID, DS, NOW, NS, SET_SAMPLES, SIFEN, D, SifenDataCase,
    identity, invoice_data, parse, sample_rde, signing)


class SifenDocumentTest(SifenDataCase):
    "CDC, amounts, rDE, signature, QR, events and lots"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.generated = {}
        for name in ('fe', 'fe_credit', 'fe_innominate', 'nc', 'nd'):
            cls.generated[name] = cls.document.generate(
                getattr(cls, name), cls.key, cls.certificate, CSC_ID, CSC,
                False, NOW + dt.timedelta(minutes=1))

    # CDC

    def test_cdc_samples(self):
        "SET's CDCs: check digit, dDVId, parts against the XML, compose"
        self.assertEqual(len(SET_SAMPLES), 5)
        for path in SET_SAMPLES:
            with self.subTest(path=os.path.basename(path)):
                de = sample_rde(path).find('s:DE', NS)
                code = de.get('Id')
                self.assertTrue(self.cdc.valid(code))
                self.assertEqual(
                    str(self.cdc.check_digit(code[:43])), code[43])
                self.assertEqual(de.findtext('s:dDVId', namespaces=NS),
                    code[43])
                parts = self.cdc.parse(code)
                self.assertEqual(parts['security_code'],
                    de.findtext('s:gOpeDE/s:dCodSeg', namespaces=NS))
                self.assertEqual(parts['number'],
                    de.findtext('s:gTimb/s:dNumDoc', namespaces=NS))
        # the CDC of SET's FE from its parts
        fe = replace(invoice_data(number='1234564',
                issued=dt.datetime(2018, 12, 18, 17, 44, 36),
                security_code='781979223'))
        fe = replace(fe, issuer=replace(fe.issuer, taxpayer_type=1))
        self.assertEqual(self.cdc.compose(fe),
            '01800138848001001123456412018121817819792239')
        self.assertEqual(self.cdc.parse(
                '01800138848001001123456412018121817819792239')['issued'],
            dt.date(2018, 12, 18))
        for code in ('0180013884800100112345641201812181781979223X',
                '1800138848001001123456412018121817819792239',
                '01800138848001001123456412018121817819792230'):
            self.assertFalse(self.cdc.valid(code))

    def test_cdc_broken(self):
        "Each broken sample: a wrong check digit, and refused by verify"
        self.assertEqual(len(BROKEN), 4)
        for path in BROKEN:
            with self.subTest(path=os.path.basename(path)), open(
                    path, 'rb') as fp:
                data = fp.read()
                code = sample_rde(path).find('s:DE', NS).get('Id')
                self.assertFalse(self.cdc.valid(code))
                problems = self.document.verify(data, self.certificate, CSC)
                self.assertTrue(any('check digit' in p for p in problems),
                    problems)
                self.assertTrue(any('dSisFact' in p for p in problems),
                    problems)
                self.assertTrue(any(p.startswith('signature')
                        for p in problems), problems)

    def test_ruc_check_digit(self):
        self.assertEqual(self.cdc.ruc_check_digit('80013884'), 8)
        self.assertEqual(self.cdc.ruc_check_digit('80002201'), 7)
        pairs = set()
        for path in SET_SAMPLES:
            rde = sample_rde(path)
            for ruc, dv in (('dRucEm', 'dDVEmi'), ('dRucRec', 'dDVRec')):
                for element in rde.iter(f'{{{SIFEN}}}{ruc}'):
                    pairs.add((element.text, element.getnext().text))
        self.assertGreaterEqual(len(pairs), 4)
        for ruc, dv in pairs:
            self.assertEqual(str(self.cdc.ruc_check_digit(ruc)), dv, ruc)
        for _ in range(50):
            code = self.cdc.security_code()
            self.assertRegex(code, r'^[0-9]{9}$')
            self.assertNotEqual(code, '000000000')

    # The XML

    def test_set_samples_schema(self):
        """SET's samples validate once adjusted for the XSD's changes since
        2019: dBasExe (NT 13), no dFeFinT, NRE's dDomFisc/dDirChof; the
        truncated signature and the QR replaced by real ones"""
        signing_ = signing()
        for path in SET_SAMPLES:
            with self.subTest(path=os.path.basename(path)):
                rde = sample_rde(path)
                for element in rde.iter(etree.Element):
                    if element.text and not len(element):
                        element.text = ' '.join(element.text.split())
                for element in rde.findall('ds:Signature', NS) + list(
                        rde.iter(f'{{{SIFEN}}}dFeFinT')):
                    element.getparent().remove(element)
                for iva in rde.iterfind('.//s:gCamIVA', NS):
                    if iva.find('s:dBasExe', NS) is None:
                        etree.SubElement(iva, f'{{{SIFEN}}}dBasExe').text = '0'
                for chauffeur in rde.iterfind('.//s:gCamTrans/s:dNomChof', NS):
                    for name, text in (('dDirChof', 'Calle 1'),
                            ('dDomFisc', 'Domicilio fiscal')):
                        element = etree.Element(f'{{{SIFEN}}}{name}')
                        element.text = text
                        chauffeur.addnext(element)
                code = rde.find('s:DE', NS).get('Id')
                signed = signing_.sign_enveloped(
                    rde, self.key, self.certificate, code)
                self.qr.add(signed, self.qr.url(signed, CSC_ID, CSC, False))
                self.assertEqual(self.document.schema_errors(signed), [])
                problems = self.document.verify(
                    etree.tostring(signed), self.certificate, CSC)
                if os.path.basename(path).startswith('AFE'):
                    # SET's AFE says iTipCont 1 in its XML, 2 in its CDC
                    self.assertEqual(problems, ["CDC taxpayer_type '2' "
                            "differs from the XML ('1')"])
                else:
                    self.assertEqual(problems, [])

    def test_generated_valid(self):
        "FE (cash, credit, innominate), NC, ND: XSD, CDC, QR, layout"
        for name, generated in self.generated.items():
            with self.subTest(name=name):
                data = getattr(self, name)
                self.assertEqual(self.document.verify(
                        generated.data, self.certificate, CSC), [])
                self.assertTrue(self.cdc.valid(generated.cdc))
                text = generated.data.decode('utf-8')
                self.assertTrue(text.startswith(
                        f'<rDE xmlns="{SIFEN}" xmlns:xsi='))
                self.assertIn('xsi:schemaLocation="http://ekuatia.set.gov.py'
                    '/sifen/xsd siRecepDE_v150.xsd"', text)
                self.assertNotRegex(text, r'>\s+<')
                self.assertNotRegex(text, r'<(?!/)[A-Za-z]+:')
                rde = parse(generated.data)
                self.assertEqual(
                    [etree.QName(c).localname for c in rde],
                    ['dVerFor', 'DE', 'Signature', 'gCamFuFD'])
                read = self.document.read(generated.data)
                self.assertEqual(read['cdc'], generated.cdc)
                self.assertEqual(read['type'], data.type)
                self.assertEqual(read['number'], data.number)
                self.assertEqual(read['timbrado'], '12557209')
                self.assertEqual((read['establishment'], read['point']),
                    ('001', '001'))
                self.assertEqual(read['issued'], NOW)
                self.assertEqual(read['total'], data.total)
                self.assertEqual(read['tax'], data.tax_total)
                self.assertEqual(read['qr'], generated.qr)
                self.assertEqual(read['associated_cdc'], data.associated_cdc)
                parts = self.cdc.parse(generated.cdc)
                self.assertEqual(parts['security_code'],
                    read['security_code'])
                self.assertEqual(parts['date'], '20260310')
        nc = parse(self.generated['nc'].data)
        self.assertEqual(nc.findtext(
                's:DE/s:gCamDEAsoc/s:dCdCDERef', namespaces=NS),
            self.nc_associated)
        self.assertEqual(nc.findtext(
                's:DE/s:gDtipDE/s:gCamNCDE/s:dDesMotEmi', namespaces=NS),
            'Devolución')
        self.assertIsNone(nc.find('s:DE/s:gDtipDE/s:gCamCond', NS))
        innominate = parse(self.generated['fe_innominate'].data)
        self.assertEqual(innominate.findtext(
                's:DE/s:gDatGralOpe/s:gDatRec/s:dNumIDRec', namespaces=NS),
            '0')
        self.assertEqual(innominate.findtext(
                's:DE/s:gDtipDE/s:gCamCond/s:gPagCred/s:dPlazoCre',
                namespaces=NS), '30 días')
        self.assertIn('&dNumIDRec=0&', self.generated['fe_innominate'].qr)

    def test_amounts(self):
        "gTotSub adds up with the posted lines, in PYG and USD"
        fe = parse(self.generated['fe'].data)
        totals = {e.tag.split('}')[1]: e.text
            for e in fe.find('s:DE/s:gTotSub', NS)}
        self.assertEqual({k: totals[k] for k in (
                    'dSubExe', 'dSub5', 'dSub10', 'dTotOpe', 'dTotGralOpe',
                    'dIVA5', 'dIVA10', 'dTotIVA', 'dBaseGrav5',
                    'dBaseGrav10', 'dTBasGraIVA')}, {
                'dSubExe': '50000', 'dSub5': '21000', 'dSub10': '330000',
                'dTotOpe': '401000', 'dTotGralOpe': '401000',
                'dIVA5': '1000', 'dIVA10': '30000', 'dTotIVA': '31000',
                'dBaseGrav5': '20000', 'dBaseGrav10': '300000',
                'dTBasGraIVA': '320000'})
        self.assertNotIn('dTotalGs', totals)
        usd = self.amounts.totals(self.fe_credit)
        self.assertEqual(usd.dTotGralOpe, D('370.00'))
        self.assertEqual(usd.dSubExe, D('70.00'))
        self.assertEqual(usd.dSub10, D('300.00'))
        self.assertEqual(
            usd.dSubExe + usd.dSubExo + usd.dSub5 + usd.dSub10, usd.dTotOpe)
        self.assertEqual(usd.dTotIVA, D('27.28'))
        self.assertEqual(usd.dTotalGs, D('2719685'))  # 370 × 7350.5
        credit = parse(self.generated['fe_credit'].data)
        item = credit.find('s:DE/s:gDtipDE/s:gCamItem', NS)
        self.assertEqual(item.findtext(
                's:gValorItem/s:gValorRestaItem/s:dTotOpeGs', namespaces=NS),
            '1984635')
        self.assertEqual(item.findtext('s:gValorItem/s:dTotBruOpeItem',
                namespaces=NS), '275.00')
        self.assertEqual(item.findtext(
                's:gValorItem/s:gValorRestaItem/s:dDescItem', namespaces=NS),
            '2')
        self.assertEqual(credit.findtext(
                's:DE/s:gDatGralOpe/s:gOpeCom/s:dTiCam', namespaces=NS),
            '7350.5000')
        self.assertEqual([e.text for e in credit.iterfind(
                    './/s:gCuotas/s:dMonCuota', NS)], ['185.00', '185.00'])
        partial = credit.findall('s:DE/s:gDtipDE/s:gCamItem', NS)[1]
        self.assertEqual([partial.findtext(f's:gCamIVA/s:{n}', namespaces=NS)
                for n in ('iAfecIVA', 'dPropIVA', 'dBasExe')],
            ['4', '30', '70.00'])
        self.assertEqual(self.amounts.round_to(D('0.125'), 2), D('0.13'))
        self.assertEqual(self.amounts.amount(D('1000.5'), 'PYG'), D(1001))

    def test_generate_refused(self):
        "A value the XSD refuses: RecordError naming the element"
        from trytond.modules.account_einvoice.exceptions import RecordError
        bad = replace(self.fe, issuer=replace(
                self.fe.issuer, email='not an email'))
        with self.assertRaisesRegex(RecordError, 'dEmailE'):
            self.document.generate(bad, self.key, self.certificate, CSC_ID,
                CSC, False, NOW)

    def test_verify_detects(self):
        "CDC against the XML, whitespace, prefixes, QR, signature"
        data = self.generated['fe'].data
        changed = data.replace(b'<dNumDoc>0000001<', b'<dNumDoc>0000009<')
        problems = self.document.verify(changed, self.certificate, CSC)
        self.assertIn("CDC number '0000001' differs from the XML "
            "('0000009')", problems)
        self.assertTrue(any('Digest mismatch' in p for p in problems))
        spaced = data.replace(b'<dVerFor>', b'\n  <dVerFor>', 1)
        self.assertTrue(any(p.startswith('whitespace') for p in
                self.document.verify(spaced)))
        prefixed = data.replace(f'<rDE xmlns="{SIFEN}"'.encode(),
            f'<ns2:rDE xmlns:ns2="{SIFEN}" xmlns="{SIFEN}"'.encode()).replace(
            b'</rDE>', b'</ns2:rDE>')
        self.assertTrue(any(p.startswith('namespace prefix') for p in
                self.document.verify(prefixed)))
        self.assertIn('QR cHashQR does not match its parameters and the CSC',
            self.document.verify(data, csc='EFGH0000000000000000000000000000'))
        no_qr = re.sub(rb'<gCamFuFD>.*</gCamFuFD>', b'', data)
        self.assertIn('no QR (gCamFuFD/dCarQR)',
            self.document.verify(no_qr))

    # Signature

    def xmlsec_verify(self, data, id_attribute='Id', reference_parent=None):
        "python-xmlsec's verification (libxmlsec1): raises when invalid"
        import xmlsec
        root = etree.fromstring(data)
        xmlsec.tree.add_ids(root, [id_attribute])
        signature = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(
            self.cert_pem, xmlsec.constants.KeyDataFormatCertPem)
        context.verify(signature)

    def test_signature_independent(self):
        "Every generated DE verifies with python-xmlsec and with signxml"
        import xmlsec
        for name, generated in self.generated.items():
            with self.subTest(name=name):
                self.xmlsec_verify(generated.data)
                verified = signing().verify_enveloped(
                    generated.data, self.certificate, generated.cdc)
                self.assertEqual(verified.get('Id'), generated.cdc)
                rde = parse(generated.data)
                signed_info = rde.find('ds:Signature/ds:SignedInfo', NS)
                self.assertEqual(signed_info.find(
                        'ds:Reference', NS).get('URI'), f'#{generated.cdc}')
                self.assertEqual(signed_info.find(
                        'ds:CanonicalizationMethod', NS).get('Algorithm'),
                    'http://www.w3.org/2001/10/xml-exc-c14n#')
        tampered = self.generated['fe'].data.replace(
            b'<dTotIVA>31000<', b'<dTotIVA>1<')
        with self.assertRaises(xmlsec.Error):
            self.xmlsec_verify(tampered)
        other_key, _ = identity()
        resigned = signing().sign_enveloped(
            parse(tampered), other_key, self.certificate,
            self.generated['fe'].cdc)
        with self.assertRaises(xmlsec.Error):
            self.xmlsec_verify(etree.tostring(resigned))

    # QR

    def test_qr_hash(self):
        "The hash reproduced by hand on a literal rDE with test CSCs"
        rde = parse((
            f'<rDE xmlns="{SIFEN}"><dVerFor>150</dVerFor>'
            '<DE Id="01800138848001001123456412018121817819792239">'
            '<gDatGralOpe><dFeEmiDE>2018-12-18T17:44:36</dFeEmiDE>'
            '<gDatRec><iNatRec>1</iNatRec><dRucRec>80002201</dRucRec>'
            '</gDatRec></gDatGralOpe><gDtipDE><gCamItem/><gCamItem/>'
            '</gDtipDE><gTotSub><dTotGralOpe>56633331</dTotGralOpe>'
            '<dTotIVA>5148485</dTotIVA></gTotSub></DE>'
            f'<Signature xmlns="{DS}"><SignedInfo><Reference><DigestValue>'
            'Nt2UmpjUHuu2DT6CJc2mtKhhqbq94LHSak1IsEOtuWk='
            '</DigestValue></Reference></SignedInfo></Signature>'
            '</rDE>').encode())
        parameters = ('nVersion=150'
            '&Id=01800138848001001123456412018121817819792239'
            '&dFeEmiDE=323031382d31322d31385431373a34343a3336'
            '&dRucRec=80002201&dTotGralOpe=56633331&dTotIVA=5148485'
            '&cItems=2&DigestValue=4e7432556d706a5548757532445436434a633'
            '26d744b686871627139344c4853616b314973454f7475576b3d'
            '&IdCSC=0001')
        expected = (
            '83495dced6120d4604bf9c3aac3563e04cc293a3f9d7cd4ad26f73c34c8725d4')
        self.assertEqual(hashlib.sha256(
                (parameters + CSC).encode()).hexdigest(), expected)
        url = self.qr.url(rde, '0001', CSC, False)
        self.assertEqual(url, 'https://ekuatia.set.gov.py/consultas-test/qr?'
            + parameters + '&cHashQR=' + expected)
        self.assertTrue(self.qr.url(rde, '0001', CSC, True).startswith(
                'https://ekuatia.set.gov.py/consultas/qr?nVersion=150&'))
        # not a taxpayer: dNumIDRec; CSC 0002
        receiver = rde.find('s:DE/s:gDatGralOpe/s:gDatRec', NS)
        receiver.find('s:iNatRec', NS).text = '2'
        receiver.remove(receiver.find('s:dRucRec', NS))
        etree.SubElement(receiver, f'{{{SIFEN}}}dNumIDRec').text = '1234567'
        url = self.qr.url(rde, '0002', 'EFGH0000000000000000000000000000',
            False)
        self.assertIn('&dNumIDRec=1234567&', url)
        self.assertTrue(url.endswith('&IdCSC=0002&cHashQR=53d6a62746fec73616'
                '52e0715c5e22349324aa205f757224c91f098e55d8c195'))
        # the generated FE's QR against its own XML
        generated = self.generated['fe']
        values = self.qr.parameters(generated.qr)
        rde = parse(generated.data)
        self.assertEqual(list(values), ['nVersion', 'Id', 'dFeEmiDE',
                'dRucRec', 'dTotGralOpe', 'dTotIVA', 'cItems', 'DigestValue',
                'IdCSC', 'cHashQR'])
        self.assertEqual(bytes.fromhex(values['DigestValue']).decode(),
            rde.findtext('.//ds:DigestValue', namespaces=NS))
        self.assertEqual(bytes.fromhex(values['dFeEmiDE']).decode(),
            '2026-03-10T12:00:00')
        self.assertEqual((values['dTotGralOpe'], values['dTotIVA'],
                values['cItems']), ('401000', '31000', '3'))
        self.assertEqual(values['cHashQR'], hashlib.sha256(
                (generated.qr.split('?')[1].split('&cHashQR=')[0]
                    + CSC).encode()).hexdigest())
        self.assertEqual(rde.findtext('s:gCamFuFD/s:dCarQR', namespaces=NS),
            generated.qr)

    # Events

    def test_events(self):
        "Cancellation and voiding: signed, XSD-valid, verified by xmlsec"
        events = self.events
        cancel = events.sign(events.cancellation(
                self.generated['fe'].cdc, 'Error en los datos del cliente',
                NOW, 1), self.key, self.certificate)
        void = events.sign(events.voiding(
                '12557209', '001', '002', 1, 15, 20,
                'Números no utilizados', NOW, 2), self.key, self.certificate)
        for holder in (cancel, void):
            self.assertEqual([etree.QName(c).localname for c in holder],
                ['rEve', 'Signature'])
            data = etree.tostring(holder)
            self.xmlsec_verify(data)
            verified = signing().verify_enveloped(
                data, self.certificate, holder[0].get('Id'))
            self.assertEqual(etree.QName(verified).localname, 'rEve')
        request = events.request(4711, [cancel, void])
        self.assertEqual(events.schema_errors(request), [])
        self.assertEqual(request.findtext(
                './/s:rGeVeInu/s:dNumIn', namespaces=NS), '0000015')
        self.assertEqual(request.findtext(
                './/s:rGeVeCan/s:Id', namespaces=NS),
            self.generated['fe'].cdc)
        self.assertNotRegex(etree.tostring(request).decode(), r'>\s+<')
        with self.assertRaisesRegex(ValueError, '1 to 15'):
            events.request(1, [cancel] * 16)
        with self.assertRaises(ValueError):
            events.cancellation(self.generated['fe'].cdc, 'Error', NOW, 0)
        short = events.request(1, [events.sign(events.cancellation(
                        self.generated['fe'].cdc, 'no', NOW, 3),
                    self.key, self.certificate)])
        self.assertTrue(any('mOtEve' in e
                for e in events.schema_errors(short)))

    # Lots

    def test_lot(self):
        documents = [g.data for g in self.generated.values()]
        text = self.lot.pack(documents)
        self.assertEqual(self.lot.unpack(text), documents)
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(text)))
        name, = archive.namelist()
        content = archive.read(name)
        self.assertTrue(content.startswith(b'<rLoteDE><rDE xmlns='))
        self.assertNotRegex(content.decode(), r'>\s+<')
        with self.assertRaisesRegex(ValueError, '1 to 50'):
            self.lot.pack(documents * 11)
        with self.assertRaisesRegex(ValueError, 'too large'):
            self.lot.unpack(text, limit=1000)
        bomb = io.BytesIO()
        with zipfile.ZipFile(bomb, 'w', zipfile.ZIP_DEFLATED) as archive:
            archive.writestr('lote.xml', b'<rLoteDE>' + b' ' * 10 ** 7
                + b'</rLoteDE>')
        with self.assertRaisesRegex(ValueError, 'too large'):
            self.lot.unpack(base64.b64encode(bomb.getvalue()).decode(),
                limit=10 ** 6)
        for bad, message in (('not base64!', 'base64'),
                (base64.b64encode(b'plain').decode(), 'zip')):
            with self.assertRaisesRegex(ValueError, message):
                self.lot.unpack(bad)
