"""XML vocabulary of the VERI*FACTU sandbox (:mod:`tests.sandbox.verifactu`):
AEAT namespaces and tags, the huella (written here independently of the
client module) and the reading of one record of a request."""
import datetime
import hashlib

from lxml import etree

_BASE = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/tike/cont/ws/')
NS_SF = _BASE + 'SuministroInformacion.xsd'
NS_LR = _BASE + 'SuministroLR.xsd'
NS_R = _BASE + 'RespuestaSuministro.xsd'
NS_LRC = _BASE + 'ConsultaLR.xsd'
NS_LRRC = _BASE + 'RespuestaConsultaLR.xsd'

try:
    from zoneinfo import ZoneInfo
    MADRID = ZoneInfo('Europe/Madrid')
except Exception:  # pragma: no cover
    MADRID = datetime.timezone(datetime.timedelta(hours=1))


def _t(ns, *names):
    "Clark path of ``names`` in namespace ``ns``"
    return '/'.join('{%s}%s' % (ns, n) for n in names)


def S(*names):
    return _t(NS_SF, *names)


REG_FACTU = _t(NS_LR, 'RegFactuSistemaFacturacion')
LR_CABECERA = _t(NS_LR, 'Cabecera')
LR_REGISTRO = _t(NS_LR, 'RegistroFactura')
ALTA = S('RegistroAlta')
ANULACION = S('RegistroAnulacion')
OBLIGADO_NIF = S('ObligadoEmision', 'NIF')
OBLIGADO_NOMBRE = S('ObligadoEmision', 'NombreRazon')
REPRESENTANTE_NIF = S('Representante', 'NIF')
INCIDENCIA = S('RemisionVoluntaria', 'Incidencia')
FECHA_FIN = S('RemisionVoluntaria', 'FechaFinVeriFactu')
CONSULTA = _t(NS_LRC, 'ConsultaFactuSistemaFacturacion')

R = {n: _t(NS_R, n) for n in ('RespuestaRegFactuSistemaFacturacion', 'CSV',
        'DatosPresentacion', 'Cabecera', 'TiempoEsperaEnvio', 'EstadoEnvio',
        'RespuestaLinea', 'IDFactura', 'Operacion', 'RefExterna',
        'EstadoRegistro', 'CodigoErrorRegistro', 'DescripcionErrorRegistro',
        'RegistroDuplicado')}
C = {n: _t(NS_LRC, n) for n in ('Cabecera', 'FiltroConsulta',
        'NumSerieFactura', 'ClavePaginacion')}
RC = {n: _t(NS_LRRC, n) for n in (
        'RespuestaConsultaFactuSistemaFacturacion', 'Cabecera',
        'PeriodoImputacion', 'Ejercicio', 'Periodo', 'IndicadorPaginacion',
        'ResultadoConsulta',
        'RegistroRespuestaConsultaFactuSistemaFacturacion',
        'IDFactura', 'DatosRegistroFacturacion', 'DatosPresentacion',
        'EstadoRegistro', 'TimestampUltimaModificacion',
        'CodigoErrorRegistro', 'DescripcionErrorRegistro', 'ClavePaginacion',
        'NifRepresentante', 'FechaFinVeriFactu', 'Incidencia')}

# -- huella (AEAT "Especificaciones técnicas para la generación de la huella")

ALTA_FIELDS = ('IDEmisorFactura', 'NumSerieFactura', 'FechaExpedicionFactura',
    'TipoFactura', 'CuotaTotal', 'ImporteTotal', 'Huella',
    'FechaHoraHusoGenRegistro')
ANULACION_FIELDS = ('IDEmisorFacturaAnulada', 'NumSerieFacturaAnulada',
    'FechaExpedicionFacturaAnulada', 'Huella', 'FechaHoraHusoGenRegistro')


def huella_text(values, fields):
    """``name=value&...`` of ``values`` (dict) in the order of ``fields``:
    values trimmed at both ends, nothing escaped or encoded"""
    return '&'.join('%s=%s' % (name, (values.get(name) or '').strip())
        for name in fields)


def huella(text):
    "Uppercase hex SHA-256 of the UTF-8 ``text``"
    return hashlib.sha256(text.encode('utf-8')).hexdigest().upper()


# -- reading a record ---------------------------------------------------------

def _txt(el):
    return None if el is None else (el.text or '').strip()


def _kids(el):
    "{local name: first child} of an element"
    result = {}
    if el is not None:
        for child in el:
            if isinstance(child.tag, str):
                result.setdefault(etree.QName(child).localname, child)
    return result


def parse_generated(text):
    """Aware datetime of a FechaHoraHusoGenRegistro text (no offset: Madrid
    time), or None when it cannot be read"""
    try:
        moment = datetime.datetime.fromisoformat(
            (text or '').strip().replace('Z', '+00:00'))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MADRID)
    return moment


class Record:
    """What the rules need from one RegistroAlta / RegistroAnulacion,
    read in one pass"""

    def __init__(self, element):
        self.element = element
        self.alta = element.tag == ALTA
        self.kind = 'alta' if self.alta else 'anulacion'
        kids = self.kids = _kids(element)
        ids = _kids(kids.get('IDFactura'))
        suffix = '' if self.alta else 'Anulada'
        self.nif = _txt(ids.get('IDEmisorFactura' + suffix)) or ''
        self.number = _txt(ids.get('NumSerieFactura' + suffix)) or ''
        self.date = _txt(ids.get('FechaExpedicionFactura' + suffix)) or ''
        self.key = '%s|%s|%s' % (self.nif, self.number, self.date)
        self.flags = {name: _txt(kids.get(name)) for name in (
                'Subsanacion', 'RechazoPrevio', 'SinRegistroPrevio')
            if kids.get(name) is not None}
        self.tipo_factura = _txt(kids.get('TipoFactura'))
        self.importe_total = _txt(kids.get('ImporteTotal'))
        self.ref = _txt(kids.get('RefExterna'))
        chain = _kids(kids.get('Encadenamiento'))
        self.first = chain.get('PrimerRegistro') is not None
        previous = _kids(chain.get('RegistroAnterior'))
        self.previous = _txt(previous.get('Huella'))
        self.previous_key = None
        if not self.first:
            self.previous_key = '%s|%s|%s' % tuple(_txt(previous.get(n))
                or '' for n in ('IDEmisorFactura', 'NumSerieFactura',
                    'FechaExpedicionFactura'))
        system = _kids(kids.get('SistemaInformatico'))
        self.system_id = _txt(system.get('IdSistemaInformatico'))
        self.installation = _txt(system.get('NumeroInstalacion')) or ''
        self.generated = _txt(kids.get('FechaHoraHusoGenRegistro')) or ''
        self.huella = _txt(kids.get('Huella')) or ''
        values = {name: _txt(kids.get(name)) for name in (
                'TipoFactura', 'CuotaTotal', 'ImporteTotal')}
        values.update({
                'IDEmisorFactura' + suffix: self.nif,
                'NumSerieFactura' + suffix: self.number,
                'FechaExpedicionFactura' + suffix: self.date,
                'Huella': self.previous or '',
                'FechaHoraHusoGenRegistro': self.generated})
        self.text = huella_text(values,
            ALTA_FIELDS if self.alta else ANULACION_FIELDS)
        self.computed = huella(self.text)


def sub(parent, tag, text=None):
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def copy_children(target, source):
    import copy
    for child in source:
        if isinstance(child.tag, str):
            target.append(copy.deepcopy(child))
    return target


def retag(el, ns):
    el.tag = '{%s}%s' % (ns, etree.QName(el).localname)
    return el
