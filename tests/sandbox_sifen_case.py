"""Base class and builders of the tests of the SIFEN sandbox service
(tests/test_sandbox_sifen.py).

The DEs are SET's FE sample (``set_2019/FE_v150_20190910.xml``) with new
CDC parts, consistent items and totals, signed with
``account_einvoice.signing.sign_enveloped`` for a sandbox identity and
given the QR of the test CSC.
"""
import base64
import datetime
import hashlib
import io
import os
import secrets
import unittest
import zipfile

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree

from tests import tools
from tests.sandbox import Sandbox
from tests.sandbox.sifen_xml import DS, NS, check_digit, qualify, wsdl_schema

SERVICE = 'sifen'
SAMPLE = os.path.join(tools.SCHEMAS, 'py_sifen', 'samples', 'set_2019',
    'FE_v150_20190910.xml')
SOAP12 = 'http://www.w3.org/2003/05/soap-envelope'
PARAGUAY = datetime.timezone(datetime.timedelta(hours=-3))
CSC = {'0001': 'ABCD0000000000000000000000000000'}
TIMBRADO = '12557209'
RECIBE = '/de/ws/sync/recibe.wsdl'
LOTE = '/de/ws/async/recibe-lote.wsdl'
CONSULTA_LOTE = '/de/ws/consultas/consulta-lote.wsdl'
CONSULTA = '/de/ws/consultas/consulta.wsdl'
CONSULTA_RUC = '/de/ws/consultas/consulta-ruc.wsdl'
EVENTO = '/de/ws/eventos/evento.wsdl'
#: (iAfecIVA, dTasaIVA, dTotOpeItem, dBasGravIVA, dLiqIVAItem) per item
ITEMS = [('1', '10', 1100000, 1000000, 100000),
    ('1', '5', 105000, 100000, 5000)]


def signing():
    from trytond.modules.account_einvoice import signing
    return signing


def load_identity(identity):
    with open(identity.key_path, 'rb') as fp:
        key = load_pem_private_key(fp.read(), None)
    with open(identity.cert_path, 'rb') as fp:
        certificate = x509.load_pem_x509_certificate(fp.read())
    return key, certificate


def find(root, path):
    return root.find(qualify(path))


def set_text(root, path, value):
    find(root, path).text = str(value)


def _sample_rde():
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True,
        resolve_entities=False, no_network=True)
    with open(SAMPLE, 'rb') as fp:
        rde = etree.fromstring(fp.read(), parser).find('.//{%s}rDE' % NS)
    for signature in rde.findall('{%s}Signature' % DS):
        rde.remove(signature)
    # the text of dDesActEco spans lines
    for el in rde.iter(etree.Element):
        if el.text and len(el) == 0:
            el.text = ' '.join(el.text.split())
    return etree.fromstring(etree.tostring(rde), parser)


def qr_url(rde, csc_id='0001', csc=None):
    "dCarQR of a signed rDE (iNatRec 1: dRucRec)"
    de = find(rde, 'DE')
    digest = rde.findtext('{%s}Signature/{%s}SignedInfo/{%s}Reference/'
        '{%s}DigestValue' % (DS, DS, DS, DS))
    parameters = '&'.join([
        'nVersion=150', 'Id=' + de.get('Id'),
        'dFeEmiDE=' + find(de, 'gDatGralOpe/dFeEmiDE').text.encode().hex(),
        'dRucRec=' + find(de, 'gDatGralOpe/gDatRec/dRucRec').text,
        'dTotGralOpe=' + find(de, 'gTotSub/dTotGralOpe').text,
        'dTotIVA=' + find(de, 'gTotSub/dTotIVA').text,
        'cItems=%d' % len(de.findall(qualify('gDtipDE/gCamItem'))),
        'DigestValue=' + digest.encode().hex(), 'IdCSC=' + csc_id])
    digest = hashlib.sha256((parameters + (csc or CSC['0001'])).encode())
    return ('https://ekuatia.set.gov.py/consultas-test/qr?' + parameters
        + '&cHashQR=' + digest.hexdigest())


def build_de(key, certificate, number=1, issued=None, signed=None,
        type_='1', establishment='001', point='001', timbrado=TIMBRADO,
        ruc='80013884', dv='8', spoil=None, csc=None, alter_cdc=None):
    """A signed rDE element.  ``issued``/``signed``: aware datetimes
    (default: now); ``spoil(de)`` changes the DE before the CDC is
    computed and it is signed, ``alter_cdc(cdc)`` the CDC written."""
    issued = (issued or datetime.datetime.now(PARAGUAY)).astimezone(
        PARAGUAY)
    signed = (signed or issued).astimezone(PARAGUAY)
    rde = _sample_rde()
    de = find(rde, 'DE')
    values = {'gTimb/iTiDE': type_, 'gTimb/dNumTim': timbrado,
        'gTimb/dEst': establishment, 'gTimb/dPunExp': point,
        'gTimb/dNumDoc': '%07d' % number,
        'gDatGralOpe/dFeEmiDE': issued.strftime('%Y-%m-%dT%H:%M:%S'),
        'dFecFirma': signed.strftime('%Y-%m-%dT%H:%M:%S'),
        'gDatGralOpe/gEmis/dRucEm': ruc, 'gDatGralOpe/gEmis/dDVEmi': dv,
        'gOpeDE/dCodSeg': '%09d' % secrets.randbelow(10 ** 9)}
    for path, value in values.items():
        set_text(de, path, value)
    totals = dict.fromkeys(['dSubExe', 'dSubExo', 'dSub5', 'dSub10',
            'dTotOpe', 'dTotGralOpe', 'dIVA5', 'dIVA10', 'dTotIVA',
            'dBaseGrav5', 'dBaseGrav10', 'dTBasGraIVA'], 0)
    for item, (affected, rate, amount, base, tax) in zip(
            de.iterfind(qualify('gDtipDE/gCamItem')), ITEMS):
        set_text(item, 'gValorItem/gValorRestaItem/dTotOpeItem', amount)
        set_text(item, 'gCamIVA/iAfecIVA', affected)
        set_text(item, 'gCamIVA/dTasaIVA', rate)
        set_text(item, 'gCamIVA/dBasGravIVA', base)
        set_text(item, 'gCamIVA/dLiqIVAItem', tax)
        # dBasExe: added by Nota Técnica 13, absent from the 2019 sample
        etree.SubElement(find(item, 'gCamIVA'), '{%s}dBasExe' % NS).text = (
            '0')
        totals['dSub' + rate] += amount
        totals['dIVA' + rate] += tax
        totals['dBaseGrav' + rate] += base
        for name, value in [('dTotOpe', amount), ('dTotGralOpe', amount),
                ('dTotIVA', tax), ('dTBasGraIVA', base)]:
            totals[name] += value
    for name, value in totals.items():
        set_text(de, 'gTotSub/' + name, value)
    if spoil:
        spoil(de)
    cdc = compose_cdc(de)
    if alter_cdc:
        cdc = alter_cdc(cdc)
    de.set('Id', cdc)
    set_text(de, 'dDVId', cdc[-1])
    rde = signing().sign_enveloped(rde, key, certificate, cdc)
    set_text(rde, 'gCamFuFD/dCarQR', qr_url(rde, csc=csc))
    return rde


def compose_cdc(de):
    text = lambda path: find(de, path).text  # noqa: E731
    digits = (text('gTimb/iTiDE').zfill(2)
        + text('gDatGralOpe/gEmis/dRucEm').zfill(8)
        + text('gDatGralOpe/gEmis/dDVEmi') + text('gTimb/dEst')
        + text('gTimb/dPunExp') + text('gTimb/dNumDoc')
        + text('gDatGralOpe/gEmis/iTipCont')
        + text('gDatGralOpe/dFeEmiDE')[:10].replace('-', '')
        + text('gOpeDE/iTipEmi') + text('gOpeDE/dCodSeg'))
    return digits + check_digit(digits)


def envelope(body):
    return ('<soap:Envelope xmlns:soap="%s"><soap:Header/><soap:Body>%s'
        '</soap:Body></soap:Envelope>' % (SOAP12, body)).encode('utf-8')


def xml(element):
    return etree.tostring(element, encoding='unicode')


def lot_xde(rdes, extra=None):
    "base64 of a zip holding <rLoteDE> with the rDEs"
    content = ('<rLoteDE>%s</rLoteDE>' % ''.join(xml(r) for r in rdes))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('lote.xml', content)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return base64.b64encode(buffer.getvalue()).decode()


def event(key, certificate, event_id, group, signed=None):
    "rGesEve (signed rEve) of a gGroupTiEvt child given as XML text"
    signed = (signed or datetime.datetime.now(PARAGUAY)).astimezone(PARAGUAY)
    ges = etree.fromstring(
        '<rGesEve xmlns="%s"><rEve Id="%s"><dFecFirma>%s</dFecFirma>'
        '<dVerFor>150</dVerFor><gGroupTiEvt>%s</gGroupTiEvt></rEve>'
        '</rGesEve>' % (NS, event_id, signed.strftime('%Y-%m-%dT%H:%M:%S'),
            group))
    return signing().sign_enveloped(ges, key, certificate, str(event_id))


class SifenSandboxCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox([SERVICE]).start()
        cls.session = cls.sb.session('py_company')
        cls.key, cls.certificate = load_identity(cls.sb.pki['py_company'])

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.sb.stop()

    def setUp(self):
        self.sb.reset()
        self.number = 0

    def de(self, **kwargs):
        if 'number' not in kwargs:
            self.number += 1
            kwargs['number'] = self.number
        return build_de(self.key, self.certificate, **kwargs)

    def post(self, path, body, session=None, raw=None):
        response = (session or self.session).post(self.sb.url + path,
            data=raw if raw is not None else envelope(body), headers={
                'Content-Type': 'application/soap+xml; charset=utf-8'},
            timeout=30)
        return response

    def answer(self, path, body, session=None, raw=None):
        "The body element of a SOAP 1.2 answer (HTTP 200)"
        response = self.post(path, body, session, raw)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertTrue(response.headers['Content-Type'].startswith(
                'application/soap+xml'))
        root = etree.fromstring(response.content)
        answer = root.find('{%s}Body' % SOAP12)[0]
        # the answers are valid against the WSDL's schema too
        self.assertIsNone(wsdl_schema(path).validate(answer))
        return answer

    @staticmethod
    def codes(element):
        "[(dCodRes, dMsgRes)] of the gResProc below element"
        return [(g.findtext('{%s}dCodRes' % NS), g.findtext(
                    '{%s}dMsgRes' % NS))
            for g in element.iter('{%s}gResProc' % NS)]

    def recibe(self, rde, **kwargs):
        return self.answer(RECIBE, '<rEnviDe xmlns="%s"><dId>1</dId><xDE>%s'
            '</xDE></rEnviDe>' % (NS, xml(rde)), **kwargs)

    def send_lot(self, rdes=None, xde=None, **kwargs):
        return self.answer(LOTE, '<rEnvioLote xmlns="%s"><dId>1</dId>'
            '<xDE>%s</xDE></rEnvioLote>' % (NS, xde or lot_xde(rdes)),
            **kwargs)

    def lot_result(self, ticket, **kwargs):
        return self.answer(CONSULTA_LOTE, '<rEnviConsLoteDe xmlns="%s">'
            '<dId>1</dId><dProtConsLote>%s</dProtConsLote>'
            '</rEnviConsLoteDe>' % (NS, ticket), **kwargs)

    def consulta(self, cdc, **kwargs):
        return self.answer(CONSULTA, '<rEnviConsDeRequest xmlns="%s">'
            '<dId>1</dId><dCDC>%s</dCDC></rEnviConsDeRequest>' % (NS, cdc),
            **kwargs)

    def send_events(self, *ges, **kwargs):
        return self.answer(EVENTO, '<rEnviEventoDe xmlns="%s"><dId>1</dId>'
            '<dEvReg><gGroupGesEve>%s</gGroupGesEve></dEvReg>'
            '</rEnviEventoDe>' % (NS, ''.join(xml(g) for g in ges)),
            **kwargs)

    def cancel_event(self, event_id, cdc, key=None, certificate=None):
        return event(key or self.key, certificate or self.certificate,
            event_id, '<rGeVeCan><Id>%s</Id><mOtEve>Error en el precio'
            '</mOtEve></rGeVeCan>' % cdc)

    def void_event(self, event_id, first, last, type_='1'):
        return event(self.key, self.certificate, event_id,
            '<rGeVeInu><dNumTim>%s</dNumTim><dEst>001</dEst>'
            '<dPunExp>001</dPunExp><dNumIn>%07d</dNumIn><dNumFin>%07d'
            '</dNumFin><iTiDE>%s</iTiDE><mOtEve>Números no usados'
            '</mOtEve></rGeVeInu>' % (TIMBRADO, first, last, type_))
