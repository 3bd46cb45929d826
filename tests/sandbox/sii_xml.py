"""XML vocabulary of the SII sandbox (:mod:`tests.sandbox.sii`): AEAT
namespaces, the operations and elements of each book, and the reading of
the records and invoice keys of a request."""
import copy

from lxml import etree

_BASE = ('https://www2.agenciatributaria.gob.es/static_files/common/internet/'
    'dep/aplicaciones/es/aeat/ssii/fact/ws/')
NS_SII = _BASE + 'SuministroInformacion.xsd'
NS_LR = _BASE + 'SuministroLR.xsd'
NS_R = _BASE + 'RespuestaSuministro.xsd'
NS_LRC = _BASE + 'ConsultaLR.xsd'
NS_LRRC = _BASE + 'RespuestaConsultaLR.xsd'


def _t(ns, *names):
    "Clark path of ``names`` in namespace ``ns``"
    return '/'.join('{%s}%s' % (ns, n) for n in names)


def S(*names):
    return _t(NS_SII, *names)


BOOKS = {
    'emitidas': {
        'alta_op': 'SuministroLRFacturasEmitidas',
        'baja_op': 'AnulacionLRFacturasEmitidas',
        'consulta_op': 'ConsultaLRFacturasEmitidas',
        'alta_record': _t(NS_LR, 'RegistroLRFacturasEmitidas'),
        'baja_record': _t(NS_LR, 'RegistroLRBajaExpedidas'),
        'factura': _t(NS_LR, 'FacturaExpedida'),
        'alta_resp': _t(NS_R, 'RespuestaLRFacturasEmitidas'),
        'baja_resp': _t(NS_R, 'RespuestaLRBajaFacturasEmitidas'),
        'consulta_resp': _t(NS_LRRC, 'RespuestaConsultaLRFacturasEmitidas'),
        'consulta_item': _t(NS_LRRC,
            'RegistroRespuestaConsultaLRFacturasEmitidas'),
        'datos': _t(NS_LRRC, 'DatosFacturaEmitida'),
        },
    'recibidas': {
        'alta_op': 'SuministroLRFacturasRecibidas',
        'baja_op': 'AnulacionLRFacturasRecibidas',
        'consulta_op': 'ConsultaLRFacturasRecibidas',
        'alta_record': _t(NS_LR, 'RegistroLRFacturasRecibidas'),
        'baja_record': _t(NS_LR, 'RegistroLRBajaRecibidas'),
        'factura': _t(NS_LR, 'FacturaRecibida'),
        'alta_resp': _t(NS_R, 'RespuestaLRFacturasRecibidas'),
        'baja_resp': _t(NS_R, 'RespuestaLRBajaFacturasRecibidas'),
        'consulta_resp': _t(NS_LRRC, 'RespuestaConsultaLRFacturasRecibidas'),
        'consulta_item': _t(NS_LRRC,
            'RegistroRespuestaConsultaLRFacturasRecibidas'),
        'datos': _t(NS_LRRC, 'DatosFacturaRecibida'),
        },
    }
OPERATIONS = {}
for _book, _conf in BOOKS.items():
    OPERATIONS[_conf['alta_op']] = (_book, 'alta')
    OPERATIONS[_conf['baja_op']] = (_book, 'baja')
    OPERATIONS[_conf['consulta_op']] = (_book, 'consulta')

# frequently used tags
LR_IDFACTURA = _t(NS_LR, 'IDFactura')
LR_REFEXTERNA = _t(NS_LR, 'RefExterna')
SII_CABECERA = S('Cabecera')
SII_PERIODO = S('PeriodoLiquidacion')
SII_EJERCICIO = S('Ejercicio')
SII_PERIODO_P = S('Periodo')
SII_EMISOR = S('IDEmisorFactura')
SII_NIF = S('NIF')
SII_IDOTRO = S('IDOtro')
SII_ID = S('ID')
SII_NUM = S('NumSerieFacturaEmisor')
SII_FECHA = S('FechaExpedicionFacturaEmisor')
SII_TIPO_FACTURA = S('TipoFactura')
SII_IMPORTE_TOTAL = S('ImporteTotal')
SII_REFEXTERNA = S('RefExterna')
SII_CONTRAPARTE = S('Contraparte')
SII_NOMBRE = S('NombreRazon')
TITULAR_NIF = S('Titular', 'NIF')
TITULAR_REPR = S('Titular', 'NIFRepresentante')
TITULAR_NOMBRE = S('Titular', 'NombreRazon')
TIPO_COMUNICACION = S('TipoComunicacion')

R = {n: _t(NS_R, n) for n in ('CSV', 'DatosPresentacion', 'Cabecera',
        'EstadoEnvio', 'RespuestaLinea', 'IDFactura', 'RefExterna',
        'EstadoRegistro', 'CodigoErrorRegistro', 'DescripcionErrorRegistro',
        'RegistroDuplicado')}
RC = {n: _t(NS_LRRC, n) for n in ('PeriodoLiquidacion', 'Ejercicio',
        'Periodo', 'IndicadorPaginacion', 'ResultadoConsulta', 'IDFactura',
        'DatosPresentacion', 'EstadoFactura', 'TimestampUltimaModificacion',
        'EstadoRegistro', 'CodigoErrorRegistro', 'DescripcionErrorRegistro',
        'Cobros', 'Pagos', 'CuotaDeducible')}
C = {n: _t(NS_LRC, n) for n in ('FiltroConsulta', 'IDFactura',
        'Contraparte', 'ClavePaginacion')}


def _sub(parent, tag, text=None):
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _kids(el):
    "{tag: first child} of an element (one pass; faster than find())"
    result = {}
    if el is not None:
        for child in el:
            result.setdefault(child.tag, child)
    return result


def _txt(el):
    return None if el is None else (el.text or '').strip()


class _Record:
    "What the rules need from one RegistroLR* element, read in one pass"
    __slots__ = ('element', 'kids', 'idf', 'key', 'emitter', 'emitter_nif',
        'number', 'date', 'ref')

    def __init__(self, element):
        self.element = element
        self.kids = kids = _kids(element)
        self.idf = idf = kids.get(LR_IDFACTURA)
        ikids = _kids(idf)
        self.emitter, self.emitter_nif = _emitter(ikids.get(SII_EMISOR))
        self.number = _txt(ikids.get(SII_NUM)) or ''
        self.date = _txt(ikids.get(SII_FECHA)) or ''
        self.key = '%s|%s|%s' % (self.emitter, self.number, self.date)
        self.ref = None


def _emitter(el):
    "(NIF or IDOtro/ID, NIF or None) of an IDEmisorFactura/Contraparte"
    if el is None:
        return None, None
    for child in el:
        if child.tag == SII_NIF:
            nif = (child.text or '').strip()
            return nif, nif
        if child.tag == SII_IDOTRO:
            for grandchild in child:
                if grandchild.tag == SII_ID:
                    return (grandchild.text or '').strip(), None
    return None, None


def _emitter_id(emisor):
    "NIF or IDOtro/ID of an IDEmisorFactura / Contraparte element"
    return _emitter(emisor)[0]


def invoice_key(idfactura):
    """``"<emitter id>|<NumSerie>|<FechaExpedicion>"`` of an IDFactura-like
    element (children in the SuministroInformacion namespace)"""
    return '%s|%s|%s' % (_emitter_id(idfactura.find(SII_EMISOR)),
        (idfactura.findtext(SII_NUM) or '').strip(),
        (idfactura.findtext(SII_FECHA) or '').strip())


def _copy_children(target, source):
    for child in source:
        if isinstance(child.tag, str):
            target.append(copy.deepcopy(child))
    return target


def _retag(el, ns):
    el.tag = '{%s}%s' % (ns, etree.QName(el).localname)
    return el
