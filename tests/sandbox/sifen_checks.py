"""The checks of one DE (``rDE``) by the SIFEN sandbox.

:func:`check_de` returns a :class:`Checked`: the CDC, what the service
keeps of the document, and every problem found as ``(code, message)``
(several ``gResProc``); ``observations`` are codes of an approval with
observation (1005).  Codes (Manual Técnico v150 §12; * = sandbox-only):

0105 whitespace between tags, 0106 namespace prefix, 0100 schema
(siRecepDE_v150.xsd, the libxml2 message), 0140 no signature or its
certificate not issued by the sandbox CA, 0141 signature invalid, 0142
certificate RUC (subject serialNumber ``RUC<ruc>-<dv>``) != dRucEm, 1003
CDC check digit, 1000 CDC part != the XML (or dDVId), 2501 cHashQR, 2502*
QR parameter != the XML, 1150 / 1151 dFeEmiDE more than 720 h past / 120 h
future, 1004 dFecFirma in the future, 1101 timbrado unknown / not started /
establishment-point not allowed, 1104 number voided, 2401-2409* totals.
"""
import base64
import binascii
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from .sifen_xml import (
    DS, NS, check_digit, de_schema, local_time, qr_hash, qualify, text)

__all__ = ['Checked', 'check_de', 'certificate_ruc', 'signature_certificate',
    'layout_problems']

HOUR = 3600
TOTALS = [
    # code, field, what is summed
    ('2401', 'dSubExe', 'dTotOpeItem of exempt items (iAfecIVA 3) and '
        'dBasExe'),
    ('2402', 'dSub5', 'dTotOpeItem of items at 5 %'),
    ('2403', 'dSub10', 'dTotOpeItem of items at 10 %'),
    ('2404', 'dTotGralOpe', 'dTotOpeItem of all items'),
    ('2405', 'dIVA5', 'dLiqIVAItem of items at 5 %'),
    ('2406', 'dIVA10', 'dLiqIVAItem of items at 10 %'),
    ('2407', 'dTotIVA', 'dLiqIVAItem of all items'),
    ('2408', 'dBaseGrav5', 'dBasGravIVA of items at 5 %'),
    ('2409', 'dBaseGrav10', 'dBasGravIVA of items at 10 %'),
    ]


@dataclass
class Checked:
    cdc: str = None
    ruc: str = None
    type: str = None
    timbrado: str = None
    establishment: str = None
    point: str = None
    number: int = None
    digest: str = None
    issued_at: float = None
    problems: list = field(default_factory=list)
    observations: list = field(default_factory=list)

    def add(self, code, message):
        self.problems.append((code, message))

    @property
    def series(self):
        "What numbers are counted in: (ruc, timbrado, est, point, type)"
        return (self.ruc, self.timbrado, self.establishment, self.point,
            self.type)


def layout_problems(rde):
    "0106 / 0105 of an element and its descendants"
    problems = []
    if any(el.prefix for el in rde.iter(etree.Element)):
        problems.append(('0106', 'XML con prefijo en el namespace: no se '
                'admiten prefijos'))
    blank = any(
        (len(el) and el.text and not el.text.strip())
        or (el is not rde and el.tail and not el.tail.strip())
        for el in rde.iter(etree.Element))
    if blank:
        problems.append(('0105', 'XML con espacios en blanco, saltos de '
                'línea o tabulaciones entre etiquetas'))
    return problems


def certificate_ruc(certificate):
    "(ruc, dv) of a certificate's subject serialNumber ``RUC<ruc>-<dv>``"
    names = certificate.subject.get_attributes_for_oid(
        NameOID.SERIAL_NUMBER)
    serial = names[0].value.strip().upper() if names else ''
    if serial.startswith('RUC'):
        serial = serial[3:]
    ruc, _, dv = serial.partition('-')
    return ruc, dv


def signature_certificate(signature, ca_certificate):
    "The KeyInfo certificate of a Signature if the sandbox CA issued it"
    if signature is None:
        return None, 'sin firma digital'
    b64 = signature.findtext('{%s}KeyInfo/{%s}X509Data/{%s}X509Certificate'
        % (DS, DS, DS))
    try:
        certificate = x509.load_der_x509_certificate(
            base64.b64decode(''.join((b64 or '').split()), validate=True))
    except (ValueError, binascii.Error):
        return None, 'certificado ilegible en KeyInfo'
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except Exception:
        return None, 'certificado no emitido por un PSC habilitado'
    return certificate, None


def _verify(data, certificate, reference_id):
    from trytond.modules.account_einvoice.signing import verify_enveloped
    try:
        verify_enveloped(data, certificate, reference_id)
    except Exception as e:
        return str(e)
    return None


def check_signature(checked, holder, signed, reference_id, ca_certificate,
        ruc):
    """0140/0141/0142 of the Signature child of holder over signed; returns
    the DigestValue text"""
    signature = holder.find('{%s}Signature' % DS)
    certificate, error = signature_certificate(signature, ca_certificate)
    if certificate is None:
        checked.add('0140', 'Firma digital no estándar: %s' % error)
        return None
    error = _verify(etree.tostring(holder), certificate, reference_id)
    if error:
        checked.add('0141', 'Valor de la firma (SignatureValue) diferente '
            'del calculado por el PKI: %s' % error)
    cert_ruc, cert_dv = certificate_ruc(certificate)
    if cert_ruc != ruc:
        checked.add('0142', 'RUC del certificado (%s-%s) no corresponde al '
            'RUC del emisor (%s)' % (cert_ruc, cert_dv, ruc))
    return signature.findtext('{%s}SignedInfo/{%s}Reference/{%s}DigestValue'
        % (DS, DS, DS))


def _decimal(value):
    try:
        return Decimal(value or '0')
    except InvalidOperation:
        return Decimal(0)


def check_totals(checked, de):
    sums = {name: Decimal(0) for _, name, _ in TOTALS}
    for item in de.iterfind(qualify('gDtipDE/gCamItem')):
        amount = _decimal(text(item, 'gValorItem/gValorRestaItem/'
                'dTotOpeItem'))
        affected = text(item, 'gCamIVA/iAfecIVA')
        rate = text(item, 'gCamIVA/dTasaIVA')
        tax = _decimal(text(item, 'gCamIVA/dLiqIVAItem'))
        base = _decimal(text(item, 'gCamIVA/dBasGravIVA'))
        sums['dTotGralOpe'] += amount
        sums['dTotIVA'] += tax
        exempt = _decimal(text(item, 'gCamIVA/dBasExe'))
        sums['dSubExe'] += exempt
        if affected == '3':
            sums['dSubExe'] += amount
        elif affected in ('1', '4') and rate in ('5', '10'):
            # a partly taxed item: its exempt part is in dSubExe
            sums['dSub' + rate] += amount - exempt
            sums['dIVA' + rate] += tax
            sums['dBaseGrav' + rate] += base
    for code, name, what in TOTALS:
        value = text(de, 'gTotSub/' + name)
        if value is None and not sums[name]:
            continue
        if abs(_decimal(value) - sums[name]) > 1:
            checked.add(code, 'Total %s (%s) no corresponde a la suma de %s '
                '(%s)' % (name, value, what, sums[name]))


def check_qr(checked, rde, de, digest, cscs):
    url = text(rde, 'gCamFuFD/dCarQR') or ''
    query = url.partition('?')[2]
    parameters, _, sent = query.partition('&cHashQR=')
    values = dict(p.partition('=')[::2] for p in parameters.split('&'))
    csc = cscs.get(values.get('IdCSC'))
    if not sent or csc is None or qr_hash(parameters, csc) != sent.lower():
        checked.add('2501', 'cHashQR inválido')
        return
    expected = {'Id': checked.cdc,
        'dFeEmiDE': (text(de, 'gDatGralOpe/dFeEmiDE') or '').encode().hex(),
        'DigestValue': (digest or '').encode().hex(),
        'cItems': str(len(de.findall(qualify('gDtipDE/gCamItem'))))}
    wrong = [k for k, v in expected.items()
        if unquote(values.get(k, '')).lower() != v.lower()]
    if wrong:
        checked.add('2502', 'Parámetros del QR que no corresponden al DE: '
            '%s' % ', '.join(wrong))


def check_cdc(checked, de, cdc):
    if check_digit(cdc[:43]) != cdc[43]:
        checked.add('1003', 'DV del CDC inválido')
    parts = [
        ('iTiDE', cdc[0:2], text(de, 'gTimb/iTiDE'), 2),
        ('dRucEm', cdc[2:10], text(de, 'gDatGralOpe/gEmis/dRucEm'), 8),
        ('dDVEmi', cdc[10], text(de, 'gDatGralOpe/gEmis/dDVEmi'), 1),
        ('dEst', cdc[11:14], text(de, 'gTimb/dEst'), 3),
        ('dPunExp', cdc[14:17], text(de, 'gTimb/dPunExp'), 3),
        ('dNumDoc', cdc[17:24], text(de, 'gTimb/dNumDoc'), 7),
        ('iTipCont', cdc[24], text(de, 'gDatGralOpe/gEmis/iTipCont'), 1),
        ('dFeEmiDE', cdc[25:33], (text(de, 'gDatGralOpe/dFeEmiDE')
                or '')[:10].replace('-', ''), 8),
        ('iTipEmi', cdc[33], text(de, 'gOpeDE/iTipEmi'), 1),
        ('dCodSeg', cdc[34:43], text(de, 'gOpeDE/dCodSeg'), 9),
        ('dDVId', cdc[43], text(de, 'dDVId'), 1),
        ]
    wrong = [name for name, part, value, width in parts
        if part != (value or '').zfill(width)]
    if wrong:
        checked.add('1000', 'CDC no corresponde con las informaciones del '
            'XML: %s' % ', '.join(wrong))


def check_dates(checked, de, now, options):
    hours = float(options.get('time_zone_hours', -3))
    try:
        issued = local_time(text(de, 'gDatGralOpe/dFeEmiDE'), hours)
        signed = local_time(text(de, 'dFecFirma'), hours)
    except (TypeError, ValueError):
        return
    checked.issued_at = issued
    if issued < now - 720 * HOUR:
        checked.add('1150', 'Fecha de emisión del DE con más de 720 horas '
            'de atraso')
    elif issued > now + 120 * HOUR:
        checked.add('1151', 'Fecha de emisión del DE con más de 120 horas '
            'de adelanto')
    if signed > now + float(options.get('future_tolerance', 120)):
        checked.add('1004', 'Fecha y hora de la firma digital posterior a '
            'la fecha y hora de recepción')
    late = options.get('late_hours')
    if ((late is not None and signed < now - float(late) * HOUR)
            or checked.cdc in (options.get('observe_cdcs') or ())):
        checked.observations.append(('1005', 'Transmisión extemporánea del '
                'DE'))


def check_timbrado(checked, de, options, voided):
    timbrados = options.get('timbrados')
    if timbrados is not None:
        found = [t for t in timbrados.get(checked.ruc, [])
            if str(t.get('number')) == checked.timbrado]
        point = '%s-%s' % (checked.establishment, checked.point)
        emitted = (text(de, 'gDatGralOpe/dFeEmiDE') or '')[:10]
        if not found:
            checked.add('1101', 'Número de timbrado inexistente o no '
                'vigente para el RUC %s' % checked.ruc)
        elif str(found[0].get('start') or '') > emitted:
            checked.add('1101', 'Timbrado %s no vigente a la fecha de '
                'emisión %s' % (checked.timbrado, emitted))
        elif found[0].get('points') and point not in found[0]['points']:
            checked.add('1101', 'Establecimiento-punto %s no habilitado '
                'para el timbrado %s' % (point, checked.timbrado))
    for start, end in voided.get(checked.series, ()):
        if checked.number is not None and start <= checked.number <= end:
            checked.add('1104', 'Número de documento inutilizado')
            break


def check_de(rde, now, options, ca_certificate, voided):
    """Check one rDE element (see the module docstring).  ``voided``:
    {series: [(first, last)]} of the numbers voided by events."""
    checked = Checked()
    problems = layout_problems(rde)
    error = de_schema().validate(rde)
    if error:
        problems.append(('0100', 'XML no cumple con el esquema: %s' % error))
    de = rde.find('{%s}DE' % NS)
    if de is not None:
        checked.cdc = de.get('Id')
    if problems:
        checked.problems = problems
        return checked
    cdc = checked.cdc
    checked.ruc = text(de, 'gDatGralOpe/gEmis/dRucEm')
    checked.type = text(de, 'gTimb/iTiDE')
    checked.timbrado = text(de, 'gTimb/dNumTim')
    checked.establishment = text(de, 'gTimb/dEst')
    checked.point = text(de, 'gTimb/dPunExp')
    checked.number = int(text(de, 'gTimb/dNumDoc'))
    checked.digest = check_signature(checked, rde, de, cdc, ca_certificate,
        checked.ruc)
    check_cdc(checked, de, cdc)
    check_qr(checked, rde, de, checked.digest, options.get('cscs') or {})
    check_dates(checked, de, now, options)
    check_timbrado(checked, de, options, voided)
    check_totals(checked, de)
    return checked
