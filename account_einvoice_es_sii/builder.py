# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""SII XML: requests written with lxml, answers read back.

Element order follows SuministroInformacion.xsd / SuministroLR.xsd /
ConsultaLR.xsd; nothing here talks to the database except through the
:class:`~.facts.SIIInvoice` it is given."""
import re
from decimal import Decimal

from lxml import etree

from trytond.modules.account_einvoice.exceptions import RecordError
from trytond.modules.account_einvoice.local_message import LocalMessage

from .facts import ZERO, sii_date

# what XML 1.0 cannot carry: control characters (but tab and line breaks),
# surrogates and the non-characters U+FFFE and U+FFFF
NOT_XML = re.compile(
    '[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')

BASE = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/ssii/fact/ws/')
NS_SII = BASE + 'SuministroInformacion.xsd'
NS_LR = BASE + 'SuministroLR.xsd'
NS_LRC = BASE + 'ConsultaLR.xsd'
NS_R = BASE + 'RespuestaSuministro.xsd'
NS_RC = BASE + 'RespuestaConsultaLR.xsd'
NSMAP = {'sii': NS_SII, 'siiLR': NS_LR}
NSMAP_C = {'sii': NS_SII, 'siiLRC': NS_LRC}
VERSION = '1.1'

BOOKS = {
    'emitidas': {
        'suministro': 'SuministroLRFacturasEmitidas',
        'registro': 'RegistroLRFacturasEmitidas',
        'factura': 'FacturaExpedida',
        'anulacion': 'AnulacionLRFacturasEmitidas',
        'baja': 'BajaLRFacturasEmitidas',
        'registro_baja': 'RegistroLRBajaExpedidas',
        'consulta': 'ConsultaLRFacturasEmitidas',
        'respuesta': 'RespuestaLRFacturasEmitidas',
        'respuesta_baja': 'RespuestaLRBajaFacturasEmitidas',
        'respuesta_consulta': 'RespuestaConsultaLRFacturasEmitidas',
        'item': 'RegistroRespuestaConsultaLRFacturasEmitidas',
        'datos': 'DatosFacturaEmitida',
        'wsdl': 'SuministroFactEmitidas',
        },
    'recibidas': {
        'suministro': 'SuministroLRFacturasRecibidas',
        'registro': 'RegistroLRFacturasRecibidas',
        'factura': 'FacturaRecibida',
        'anulacion': 'AnulacionLRFacturasRecibidas',
        'baja': 'BajaLRFacturasRecibidas',
        'registro_baja': 'RegistroLRBajaRecibidas',
        'consulta': 'ConsultaLRFacturasRecibidas',
        'respuesta': 'RespuestaLRFacturasRecibidas',
        'respuesta_baja': 'RespuestaLRBajaFacturasRecibidas',
        'respuesta_consulta': 'RespuestaConsultaLRFacturasRecibidas',
        'item': 'RegistroRespuestaConsultaLRFacturasRecibidas',
        'datos': 'DatosFacturaRecibida',
        'wsdl': 'SuministroFactRecibidas',
        },
    }


def S(name):
    return '{%s}%s' % (NS_SII, name)


def LR(name):
    return '{%s}%s' % (NS_LR, name)


def LRC(name):
    return '{%s}%s' % (NS_LRC, name)


def R(name):
    return '{%s}%s' % (NS_R, name)


def RC(name):
    return '{%s}%s' % (NS_RC, name)


_sub = etree.SubElement


def _text(parent, tag, value):
    """An element holding value, which identifies something (a number, a
    name): a character XML cannot carry refuses the record, naming the
    field, rather than sending another value than ours."""
    element = _sub(parent, tag)
    if value and NOT_XML.search(value):
        raise RecordError(LocalMessage(
                'account_einvoice_es_sii.msg_text_not_xml',
                field=_path(element),
                characters=', '.join(sorted({
                            'U+%04X' % ord(c)
                            for c in NOT_XML.findall(value)}))))
    element.text = value
    return element


def _free_text(parent, tag, value):
    """An element holding a free text (a description): the characters XML
    cannot carry, invisible anyway, are removed."""
    return _text(parent, tag, NOT_XML.sub('', value) if value else value)


def _path(element):
    "Parent/Tag of an element, the way the SII documents name fields"
    names = [etree.QName(e).localname for e in [element.getparent(), element]
        if e is not None and e.getparent() is not None]
    return '/'.join(names) or etree.QName(element).localname


def amount(value):
    return '%.2f' % (value or ZERO)


def rate(value):
    return '%.2f' % value


# -- header -----------------------------------------------------------------
def cabecera(parent, titular_name, titular_nif, tipo=None):
    header = _sub(parent, S('Cabecera'))
    _text(header, S('IDVersionSii'), VERSION)
    titular = _sub(header, S('Titular'))
    # the holder is identified by its NIF; a stray character in the
    # company's name must not refuse every record
    _free_text(titular, S('NombreRazon'), titular_name[:120])
    _text(titular, S('NIF'), titular_nif)
    if tipo:
        _text(header, S('TipoComunicacion'), tipo)
    return header


def periodo(parent, period, tag=None):
    element = _sub(parent, tag or S('PeriodoLiquidacion'))
    _text(element, S('Ejercicio'), period[0])
    _text(element, S('Periodo'), period[1])
    return element


def identification(parent, ident, name=None):
    "NombreRazon (when given) then NIF or IDOtro"
    if name is not None:
        _text(parent, S('NombreRazon'), (name or '-')[:120])
    if ident.nif:
        _text(parent, S('NIF'), ident.nif)
    else:
        other = _sub(parent, S('IDOtro'))
        if ident.country:
            _text(other, S('CodigoPais'), ident.country)
        _text(other, S('IDType'), ident.id_type)
        _text(other, S('ID'), ident.id)
    return parent


def id_factura(parent, facts, titular_nif, named=False):
    idf = _sub(parent, LR('IDFactura'))
    emisor = _sub(idf, S('IDEmisorFactura'))
    if facts.book == 'emitidas':
        _text(emisor, S('NIF'), titular_nif)
    else:
        identification(emisor, facts.counterpart,
            name=facts.invoice.party.name if named else None)
    _text(idf, S('NumSerieFacturaEmisor'), facts.number)
    _text(idf, S('FechaExpedicionFacturaEmisor'), sii_date(facts.date))
    return idf


# -- records ----------------------------------------------------------------
def registro(body, facts, titular_nif):
    book = BOOKS[facts.book]
    record = _sub(body, LR(book['registro']))
    periodo(record, facts.period)
    id_factura(record, facts, titular_nif)
    factura = _sub(record, LR(book['factura']))
    _text(factura, S('TipoFactura'), facts.type)
    if facts.type.startswith('R'):
        _text(factura, S('TipoRectificativa'),
            'S' if facts.substitution else 'I')
        rectified = facts.rectified
        if rectified:
            group = _sub(factura, S('FacturasRectificadas'))
            for number, date in rectified:
                item = _sub(group, S('IDFacturaRectificada'))
                _text(item, S('NumSerieFacturaEmisor'), number)
                _text(item, S('FechaExpedicionFacturaEmisor'), sii_date(date))
        if facts.rectified_amounts is not None:
            base, quota, re_quota = facts.rectified_amounts
            element = _sub(factura, S('ImporteRectificacion'))
            _text(element, S('BaseRectificada'), amount(base))
            _text(element, S('CuotaRectificada'), amount(quota))
            if re_quota is not None:
                _text(element, S('CuotaRecargoRectificado'),
                    amount(re_quota))
    if facts.operation_date:
        _text(factura, S('FechaOperacion'), sii_date(facts.operation_date))
    keys = facts.operation_keys
    _text(factura, S('ClaveRegimenEspecialOTrascendencia'), keys[0])
    for index, key in enumerate(keys[1:3], 1):
        _text(factura,
            S('ClaveRegimenEspecialOTrascendenciaAdicional%d' % index), key)
    _text(factura, S('ImporteTotal'), amount(facts.total))
    _free_text(factura, S('DescripcionOperacion'), facts.description)
    if facts.external_reference:
        _text(factura, S('RefExterna'), facts.external_reference)
    if facts.macrodato:
        _text(factura, S('Macrodato'), 'S')
    if facts.book == 'emitidas':
        _emitida(factura, facts)
    else:
        _recibida(factura, facts)
    return record


def _contraparte(parent, facts):
    contraparte = _sub(parent, S('Contraparte'))
    identification(contraparte, facts.counterpart,
        name=facts.counterpart_name)


def _sujeta(parent, block, services=False):
    if not (block.exempt or block.details):
        return
    sujeta = _sub(parent, S('Sujeta'))
    if block.exempt:
        exenta = _sub(sujeta, S('Exenta'))
        for cause, base in sorted(block.exempt.items()):
            detail = _sub(exenta, S('DetalleExenta'))
            _text(detail, S('CausaExencion'), cause)
            _text(detail, S('BaseImponible'), amount(base))
    if block.details:
        keys = block.subject_keys
        noexenta = _sub(sujeta, S('NoExenta'))
        _text(noexenta, S('TipoNoExenta'),
            'S3' if len(keys) > 1 else keys.pop())
        desglose = _sub(noexenta, S('DesgloseIVA'))
        for detail in block.details.values():
            item = _sub(desglose, S('DetalleIVA'))
            if detail.rate is not None:
                _text(item, S('TipoImpositivo'), rate(detail.rate))
            _text(item, S('BaseImponible'), amount(detail.base))
            _text(item, S('CuotaRepercutida'), amount(detail.quota))
            if detail.re_rate is not None and not services:
                _text(item, S('TipoRecargoEquivalencia'),
                    rate(detail.re_rate))
                _text(item, S('CuotaRecargoEquivalencia'),
                    amount(detail.re_quota))


def _no_sujeta(parent, block):
    if not (block.not_subject or block.location) and (
            block.exempt or block.details):
        return
    element = _sub(parent, S('NoSujeta'))
    if block.not_subject or not block.location:
        _text(element, S('ImportePorArticulos7_14_Otros'),
            amount(block.not_subject))
    if block.location:
        _text(element, S('ImporteTAIReglasLocalizacion'),
            amount(block.location))


def _emitida(factura, facts):
    if not facts.simplified:
        _contraparte(factura, facts)
    tipo = _sub(factura, S('TipoDesglose'))
    if not facts.split:
        block, = facts.blocks.values()
        desglose = _sub(tipo, S('DesgloseFactura'))
        _sujeta(desglose, block)
        _no_sujeta(desglose, block)
        return
    desglose = _sub(tipo, S('DesgloseTipoOperacion'))
    for category, tag in [('services', 'PrestacionServicios'),
            ('goods', 'Entrega')]:
        block = facts.blocks.get(category)
        if block is None:
            continue
        element = _sub(desglose, S(tag))
        _sujeta(element, block, services=category == 'services')
        _no_sujeta(element, block)


def _recibida(factura, facts):
    desglose = _sub(factura, S('DesgloseFactura'))
    isp, normal, other = [], [], ZERO
    for block in facts.blocks.values():
        for detail in block.details.values():
            (isp if detail.key == 'S2' else normal).append(detail)
        other += sum(block.exempt.values(), ZERO) + block.not_subject + (
            block.location)
    if isp:
        element = _sub(desglose, S('InversionSujetoPasivo'))
        for detail in isp:
            item = _sub(element, S('DetalleIVA'))
            _text(item, S('TipoImpositivo'), rate(detail.rate or ZERO))
            _text(item, S('BaseImponible'), amount(detail.base))
            _text(item, S('CuotaSoportada'), amount(detail.quota))
    if normal or other or not isp:
        element = _sub(desglose, S('DesgloseIVA'))
        for detail in normal:
            item = _sub(element, S('DetalleIVA'))
            if detail.rate is not None:
                _text(item, S('TipoImpositivo'), rate(detail.rate))
            _text(item, S('BaseImponible'), amount(detail.base))
            _text(item, S('CuotaSoportada'), amount(detail.quota))
            if detail.re_rate is not None:
                _text(item, S('TipoRecargoEquivalencia'),
                    rate(detail.re_rate))
                _text(item, S('CuotaRecargoEquivalencia'),
                    amount(detail.re_quota))
        if other or not normal:
            item = _sub(element, S('DetalleIVA'))
            _text(item, S('BaseImponible'), amount(other))
    _contraparte(factura, facts)
    _text(factura, S('FechaRegContable'), sii_date(facts.registration_date))
    _text(factura, S('CuotaDeducible'), amount(facts.deductible))


def registro_baja(body, facts, titular_nif):
    book = BOOKS[facts.book]
    record = _sub(body, LR(book['registro_baja']))
    periodo(record, facts.period)
    id_factura(record, facts, titular_nif, named=True)
    return record


# -- Consulta -----------------------------------------------------------------
def consulta(book, titular_name, titular_nif, period, facts=None,
        page_key=None):
    "A ConsultaLRFacturas* body for a period, one invoice or a page"
    conf = BOOKS[book]
    body = etree.Element(LRC(conf['consulta']), nsmap=NSMAP_C)
    cabecera(body, titular_name, titular_nif)
    filtro = _sub(body, LRC('FiltroConsulta'))
    periodo(filtro, period, tag=S('PeriodoLiquidacion'))
    if facts is not None:
        idf = _sub(filtro, LRC('IDFactura'))
        if book == 'recibidas':
            emisor = _sub(idf, S('IDEmisorFactura'))
            identification(emisor, facts.counterpart,
                name=facts.invoice.party.name)
        _text(idf, S('NumSerieFacturaEmisor'), facts.number)
        _text(idf, S('FechaExpedicionFacturaEmisor'), sii_date(facts.date))
    if page_key is not None:
        filtro.append(page_key)
    return body


def page_key(book, item):
    "ClavePaginacion after the Consulta answer item"
    key = etree.Element(LRC('ClavePaginacion'))
    idf = item.find(RC('IDFactura'))
    emisor = idf.find(S('IDEmisorFactura'))
    target = _sub(key, S('IDEmisorFactura'))
    if book == 'recibidas':
        name = item.findtext('%s/%s/%s' % (
                RC(BOOKS[book]['datos']), RC('Contraparte'), S('NombreRazon')))
        _text(target, S('NombreRazon'), name or '-')
    for child in emisor:
        target.append(_retag_tree(child))
    _text(key, S('NumSerieFacturaEmisor'),
        idf.findtext(S('NumSerieFacturaEmisor')))
    _text(key, S('FechaExpedicionFacturaEmisor'),
        idf.findtext(S('FechaExpedicionFacturaEmisor')))
    return key


def _retag_tree(element):
    from copy import deepcopy
    element = deepcopy(element)
    for node in element.iter():
        if isinstance(node.tag, str):
            node.tag = S(etree.QName(node).localname)
    return element


# -- reading answers ----------------------------------------------------------
def record_key(emitter, number, date):
    return '%s|%s|%s' % (emitter, (number or '').strip(),
        (date or '').strip())


def answer_key(idf):
    "The key of an IDFactura element of an answer"
    emitter = None
    emisor = idf.find(S('IDEmisorFactura'))
    if emisor is not None:
        emitter = emisor.findtext(S('NIF'))
        if emitter is None:
            emitter = emisor.findtext('%s/%s' % (S('IDOtro'), S('ID')))
    return record_key((emitter or '').strip(),
        idf.findtext(S('NumSerieFacturaEmisor')),
        idf.findtext(S('FechaExpedicionFacturaEmisor')))


# leaves compared to decide whether the held invoice is ours
FINGERPRINT_LEAVES = frozenset([
        'TipoFactura', 'ClaveRegimenEspecialOTrascendencia', 'ImporteTotal',
        'NIF', 'ID', 'IDType', 'CodigoPais', 'TipoNoExenta',
        'CausaExencion', 'TipoImpositivo', 'BaseImponible',
        'CuotaRepercutida', 'CuotaSoportada', 'TipoRecargoEquivalencia',
        'CuotaRecargoEquivalencia', 'ImportePorArticulos7_14_Otros',
        'ImporteTAIReglasLocalizacion', 'CuotaDeducible'])


def fingerprint(factura):
    """A comparable summary of a FacturaExpedida/Recibida (as sent) or of
    the DatosFactura* of a Consulta answer (namespaces differ, amounts may
    be written differently)."""
    items = []
    for node in factura.iter():
        if not isinstance(node.tag, str) or len(node):
            continue
        name = etree.QName(node).localname
        if name not in FINGERPRINT_LEAVES:
            continue
        value = (node.text or '').strip()
        try:
            value = str(Decimal(value).quantize(Decimal('0.01')))
        except Exception:
            pass
        items.append((name, value))
    return tuple(sorted(items))
