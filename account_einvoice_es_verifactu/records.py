# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The records (RegistroAlta, RegistroAnulacion) as stored and sent.

A record is one element declaring the ``sf`` namespace, UTF-8, without XML
declaration nor indentation, its children in the order of
SuministroInformacion.xsd.  Its huella is computed from the texts read
back from the element itself (:func:`huella_fields`), the same reading
that checks a stored record: what is hashed is what is written."""
import re

from lxml import etree

from trytond.modules.account_einvoice.exceptions import RecordError
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.modules.account_einvoice.schema import parse_untrusted

from .huella import (
    ALTA_FIELDS, ANULACION_FIELDS, TIPO_HUELLA, alta_text, anulacion_text,
    format_amount, format_date, format_timestamp, huella)

SF = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/tike/cont/ws/SuministroInformacion.xsd')
NSMAP = {'sf': SF}
VERSION = '1.0'
SYSTEM_FIELDS = (
    'NombreRazon', 'NIF', 'IDOtro', 'NombreSistemaInformatico',
    'IdSistemaInformatico', 'Version', 'NumeroInstalacion',
    'TipoUsoPosibleSoloVerifactu', 'TipoUsoPosibleMultiOT',
    'IndicadorMultiplesOT')
LINK_FIELDS = (
    'IDEmisorFactura', 'NumSerieFactura', 'FechaExpedicionFactura', 'Huella')
# what XML 1.0 cannot carry: control characters (but tab and line breaks),
# surrogates and the non-characters U+FFFE and U+FFFF
NOT_XML = re.compile(
    '[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _q(name):
    return '{%s}%s' % (SF, name)


def _text(parent, name, value):
    """A child holding value, which identifies something: a character XML
    cannot carry refuses the record naming the field, rather than sending
    another value than ours."""
    element = etree.SubElement(parent, _q(name))
    value = '' if value is None else str(value)
    if NOT_XML.search(value):
        raise RecordError(LocalMessage(
                'account_einvoice_es_verifactu.msg_text_not_xml',
                field=name, characters=', '.join(sorted({
                            'U+%04X' % ord(c)
                            for c in NOT_XML.findall(value)}))))
    element.text = value
    return element


def _free_text(parent, name, value):
    "A child holding a description: what XML cannot carry is left out"
    return _text(parent, name, NOT_XML.sub('', value or ''))


def _id_factura(parent, tag, invoice_id):
    element = etree.SubElement(parent, _q(tag))
    _text(element, 'IDEmisorFactura', invoice_id.nif)
    _text(element, 'NumSerieFactura', invoice_id.number)
    _text(element, 'FechaExpedicionFactura', format_date(invoice_id.date))


def _persona(parent, tag, name, identification):
    element = etree.SubElement(parent, _q(tag))
    _free_text(element, 'NombreRazon', (name or '-')[:120])
    if identification.nif:
        _text(element, 'NIF', identification.nif)
    else:
        other = etree.SubElement(element, _q('IDOtro'))
        if identification.country:
            _text(other, 'CodigoPais', identification.country)
        _text(other, 'IDType', identification.id_type)
        _text(other, 'ID', identification.id)


def _encadenamiento(parent, previous):
    element = etree.SubElement(parent, _q('Encadenamiento'))
    if previous is None:
        _text(element, 'PrimerRegistro', 'S')
        return
    link = etree.SubElement(element, _q('RegistroAnterior'))
    for name in LINK_FIELDS:
        _text(link, name, previous[name])


def _sistema(parent, system):
    element = etree.SubElement(parent, _q('SistemaInformatico'))
    for name in SYSTEM_FIELDS:
        value = system.get(name)
        if value is None:
            continue
        if name == 'IDOtro':
            other = etree.SubElement(element, _q('IDOtro'))
            for key in ('CodigoPais', 'IDType', 'ID'):
                if value.get(key):
                    _text(other, key, value[key])
        else:
            _text(element, name, value)


def _desglose(parent, lines):
    desglose = etree.SubElement(parent, _q('Desglose'))
    for line in lines:
        item = etree.SubElement(desglose, _q('DetalleDesglose'))
        _text(item, 'Impuesto', line.tax)
        if line.regime:
            _text(item, 'ClaveRegimen', line.regime)
        if line.exemption:
            _text(item, 'OperacionExenta', line.exemption)
        else:
            _text(item, 'CalificacionOperacion', line.qualification)
        if line.rate is not None:
            _text(item, 'TipoImpositivo', format_amount(line.rate))
        _text(item, 'BaseImponibleOimporteNoSujeto', format_amount(line.base))
        if line.quota is not None:
            _text(item, 'CuotaRepercutida', format_amount(line.quota))
        if line.re_rate is not None:
            _text(item, 'TipoRecargoEquivalencia', format_amount(line.re_rate))
        if line.re_quota is not None:
            _text(item, 'CuotaRecargoEquivalencia',
                format_amount(line.re_quota))


def _seal(record, generated):
    "FechaHoraHusoGenRegistro, TipoHuella and the Huella of the record"
    _text(record, 'FechaHoraHusoGenRegistro', format_timestamp(generated))
    _text(record, 'TipoHuella', TIPO_HUELLA)
    element = _text(record, 'Huella', '')
    kind, fields = huella_fields(record)
    element.text = huella(_TEXTS[kind](fields))
    return etree.tostring(record, encoding='UTF-8', xml_declaration=False)


def registro_alta(facts, previous, generated, system, flags):
    """The RegistroAlta of the invoice of facts (a VerifactuInvoice), as
    bytes.  previous: None for the first record of the chain, else the
    identity and Huella of the previous record (LINK_FIELDS); generated:
    the aware datetime of generation; system: the SistemaInformatico
    values; flags: {'subsanacion': bool, 'rechazo_previo': None, 'S' or
    'X'}."""
    rechazo = flags.get('rechazo_previo')
    if rechazo not in {None, 'S', 'X'}:
        raise ValueError("RechazoPrevio: %r" % rechazo)
    record = etree.Element(_q('RegistroAlta'), nsmap=NSMAP)
    _text(record, 'IDVersion', VERSION)
    idf = etree.SubElement(record, _q('IDFactura'))
    _text(idf, 'IDEmisorFactura', facts.issuer_nif)
    _text(idf, 'NumSerieFactura', facts.number)
    _text(idf, 'FechaExpedicionFactura', format_date(facts.date))
    _free_text(record, 'NombreRazonEmisor', facts.issuer_name)
    if flags.get('subsanacion'):
        _text(record, 'Subsanacion', 'S')
    if rechazo:
        _text(record, 'RechazoPrevio', rechazo)
    _text(record, 'TipoFactura', facts.type)
    if facts.rectification_type:
        _text(record, 'TipoRectificativa', facts.rectification_type)
    for tag, item, ids in [
            ('FacturasRectificadas', 'IDFacturaRectificada', facts.rectified),
            ('FacturasSustituidas', 'IDFacturaSustituida',
                facts.substituted)]:
        if ids:
            group = etree.SubElement(record, _q(tag))
            for invoice_id in ids:
                _id_factura(group, item, invoice_id)
    if facts.rectification_amounts is not None:
        base, quota, surcharge = facts.rectification_amounts
        amounts = etree.SubElement(record, _q('ImporteRectificacion'))
        _text(amounts, 'BaseRectificada', format_amount(base))
        _text(amounts, 'CuotaRectificada', format_amount(quota))
        if surcharge is not None:
            _text(amounts, 'CuotaRecargoRectificado', format_amount(surcharge))
    if facts.operation_date:
        _text(record, 'FechaOperacion', format_date(facts.operation_date))
    _free_text(record, 'DescripcionOperacion', facts.description[:500])
    if facts.macrodato:
        _text(record, 'Macrodato', 'S')
    counterpart = facts.destinatario
    if counterpart is not None:
        group = etree.SubElement(record, _q('Destinatarios'))
        _persona(group, 'IDDestinatario', facts.counterpart_name, counterpart)
    _desglose(record, facts.lines)
    _text(record, 'CuotaTotal', format_amount(facts.cuota_total))
    _text(record, 'ImporteTotal', format_amount(facts.importe_total))
    _encadenamiento(record, previous)
    _sistema(record, system)
    return _seal(record, generated)


def registro_anulacion(facts, previous, generated, system, flags):
    """The RegistroAnulacion of the invoice of facts, as bytes (see
    registro_alta); flags: {'rechazo_previo': bool, 'sin_registro_previo':
    bool}."""
    record = etree.Element(_q('RegistroAnulacion'), nsmap=NSMAP)
    _text(record, 'IDVersion', VERSION)
    idf = etree.SubElement(record, _q('IDFactura'))
    _text(idf, 'IDEmisorFacturaAnulada', facts.issuer_nif)
    _text(idf, 'NumSerieFacturaAnulada', facts.number)
    _text(idf, 'FechaExpedicionFacturaAnulada', format_date(facts.date))
    if flags.get('sin_registro_previo'):
        _text(record, 'SinRegistroPrevio', 'S')
    if flags.get('rechazo_previo'):
        _text(record, 'RechazoPrevio', 'S')
    _encadenamiento(record, previous)
    _sistema(record, system)
    return _seal(record, generated)


# -- reading records back --------------------------------------------------
_TEXTS = {'alta': alta_text, 'anulacion': anulacion_text}
_KINDS = {'RegistroAlta': 'alta', 'RegistroAnulacion': 'anulacion'}


def _child_text(element, path):
    found = element.find('/'.join(_q(n) for n in path.split('/')))
    if found is None:
        return None
    return found.text or ''


def huella_fields(record):
    "(kind, {name: text}) of the fields of a record element its huella uses"
    kind = _KINDS.get(etree.QName(record).localname)
    if kind is None or etree.QName(record).namespace != SF:
        raise ValueError("not a VERI*FACTU record: %s" % record.tag)
    fields = {}
    names = ALTA_FIELDS if kind == 'alta' else ANULACION_FIELDS
    for name in names:
        if name == 'Huella':
            path = 'Encadenamiento/RegistroAnterior/Huella'
        elif name.startswith(('IDEmisor', 'NumSerie', 'FechaExpedicion')):
            path = 'IDFactura/' + name
        else:
            path = name
        value = _child_text(record, path)
        fields[name] = (value or '').strip()
    return kind, fields


def _identity(record, kind):
    suffix = 'Anulada' if kind == 'anulacion' else ''
    return {name: (_child_text(record, f'IDFactura/{name}{suffix}')
            or '').strip() for name in LINK_FIELDS[:3]}


def record_fields(data):
    """What a stored record (bytes) says for its huella and its chain:
    kind ('alta' or 'anulacion'); the huella fields by name (also under
    'fields'); 'text' (what is hashed); 'Huella' (as written); 'previous'
    (the previous record's Huella, None for the first); 'previous_identity'
    (its LINK_FIELDS or None); 'identity' (IDEmisorFactura,
    NumSerieFactura, FechaExpedicionFactura of the invoice); 'flags' (the
    correction elements present: Subsanacion, RechazoPrevio,
    SinRegistroPrevio)."""
    record = parse_untrusted(data)
    kind, fields = huella_fields(record)
    link = record.find('%s/%s' % (_q('Encadenamiento'),
            _q('RegistroAnterior')))
    previous_identity = None
    if link is not None:
        previous_identity = {name: (_child_text(link, name) or '').strip()
            for name in LINK_FIELDS}
    result = dict(fields)
    result.update({
            'kind': kind,
            'fields': fields,
            'text': _TEXTS[kind](fields),
            'Huella': (_child_text(record, 'Huella') or '').strip(),
            'previous': (previous_identity['Huella']
                if previous_identity else None),
            'previous_identity': previous_identity,
            'identity': _identity(record, kind),
            'flags': {name: _child_text(record, name) for name in [
                    'Subsanacion', 'RechazoPrevio', 'SinRegistroPrevio']
                if _child_text(record, name) is not None},
            })
    return result


def record_identity(data):
    "The previous value (LINK_FIELDS) of the record following this one"
    fields = record_fields(data)
    return dict(fields['identity'], Huella=fields['Huella'])
