"""WSFEv1 sandbox (:mod:`tests.sandbox.afip_wsfe`): code tables, error
texts and XML helpers shared by its operations."""
import datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from .core import E

NS = 'http://ar.gov.afip.dif.FEV1/'
F = E.ns(NS)

FCH_DESDE = '20100917'

# id, description, class
CBTE_TIPOS = [
    (1, 'Factura A', 'A'), (2, 'Nota de Débito A', 'A'),
    (3, 'Nota de Crédito A', 'A'), (4, 'Recibos A', 'A'),
    (5, 'Notas de Venta al contado A', 'A'),
    (6, 'Factura B', 'B'), (7, 'Nota de Débito B', 'B'),
    (8, 'Nota de Crédito B', 'B'), (9, 'Recibos B', 'B'),
    (10, 'Notas de Venta al contado B', 'B'),
    (11, 'Factura C', 'C'), (12, 'Nota de Débito C', 'C'),
    (13, 'Nota de Crédito C', 'C'), (15, 'Recibo C', 'C'),
    (49, 'Comprobante de Compra de Bienes Usados a Consumidor Final', 'B'),
    (51, 'Factura M', 'M'), (52, 'Nota de Débito M', 'M'),
    (53, 'Nota de Crédito M', 'M'), (54, 'Recibo M', 'M'),
    (201, 'Factura de Crédito electrónica MiPyMEs (FCE) A', 'A'),
    (202, 'Nota de Débito electrónica MiPyMEs (FCE) A', 'A'),
    (203, 'Nota de Crédito electrónica MiPyMEs (FCE) A', 'A'),
    (206, 'Factura de Crédito electrónica MiPyMEs (FCE) B', 'B'),
    (207, 'Nota de Débito electrónica MiPyMEs (FCE) B', 'B'),
    (208, 'Nota de Crédito electrónica MiPyMEs (FCE) B', 'B'),
    (211, 'Factura de Crédito electrónica MiPyMEs (FCE) C', 'C'),
    (212, 'Nota de Débito electrónica MiPyMEs (FCE) C', 'C'),
    (213, 'Nota de Crédito electrónica MiPyMEs (FCE) C', 'C'),
    ]
CBTE_CLASS = {i: c for i, _, c in CBTE_TIPOS}
NOTES = {2, 3, 7, 8, 12, 13, 52, 53, 202, 203, 207, 208, 212, 213}
IVA_TIPOS = [(3, '0%', Decimal('0')), (4, '10.5%', Decimal('0.105')),
    (5, '21%', Decimal('0.21')), (6, '27%', Decimal('0.27')),
    (8, '5%', Decimal('0.05')), (9, '2.5%', Decimal('0.025'))]
IVA_RATES = {i: r for i, _, r in IVA_TIPOS}
DOC_TIPOS = [(80, 'CUIT'), (86, 'CUIL'), (87, 'CDI'), (89, 'LE'),
    (90, 'LC'), (91, 'CI Extranjera'), (92, 'en trámite'),
    (93, 'Acta Nacimiento'), (94, 'Pasaporte'), (95, 'CI Bs. As. RNP'),
    (96, 'DNI'), (99, 'Doc. (Otro)')]
DOC_IDS = {i for i, _ in DOC_TIPOS}
CONDICION_IVA = [
    (1, 'IVA Responsable Inscripto', 'A/M/C'),
    (4, 'IVA Sujeto Exento', 'B/C'),
    (5, 'Consumidor Final', 'B/C'),
    (6, 'Responsable Monotributo', 'A/M/C'),
    (7, 'Sujeto No Categorizado', 'B/C'),
    (8, 'Proveedor del Exterior', 'B/C'),
    (9, 'Cliente del Exterior', 'B/C'),
    (10, 'IVA Liberado – Ley N° 19.640', 'B/C'),
    (13, 'Monotributista Social', 'A/M/C'),
    (15, 'IVA No Alcanzado', 'B/C'),
    (16, 'Monotributo Trabajador Independiente Promovido', 'A/M/C'),
    ]
CONDICION_CLASSES = {i: c.split('/') for i, _, c in CONDICION_IVA}
MONEDAS = [('PES', 'Pesos Argentinos'), ('DOL', 'Dólar Estadounidense'),
    ('060', 'Euro'), ('012', 'Real'), ('021', 'Libra Esterlina'),
    ('019', 'Yens'), ('018', 'Dólar Canadiense')]
MONEDA_IDS = {i for i, _ in MONEDAS}
CONCEPTOS = [(1, 'Producto'), (2, 'Servicios'),
    (3, 'Productos y Servicios')]
TRIBUTOS = [(1, 'Impuestos nacionales'), (2, 'Impuestos provinciales'),
    (3, 'Impuestos municipales'), (4, 'Impuestos Internos'),
    (5, 'IIBB'), (6, 'Percepción de IVA'), (7, 'Percepción de IIBB'),
    (8, 'Percepciones por Impuestos Municipales'),
    (9, 'Otras Percepciones'),
    (13, 'Percepción de IVA a no Categorizado'), (99, 'Otro')]
OPCIONALES = [('2', 'RG Empresas Promovidas - Identificador de proyecto'),
    ('10', 'RG 3668 Impuesto al Valor Agregado - Art.12'),
    ('27', 'Transferencia'), ('2101', 'CBU del Emisor'),
    ('2102', 'Alias del Emisor'), ('22', 'Anulación'),
    ('23', 'Referencia Comercial')]
OPCIONAL_IDS = {i for i, _ in OPCIONALES}
#: default of option ``actividades``: (Id, Orden, Desc)
ACTIVIDADES = [(620100, 1, 'Servicios de consultores en informática')]
#: Factura de Crédito Electrónica MiPyME: invoices and notes
FCE_INVOICES = {201, 206, 211}
FCE_NOTES = {202, 203, 207, 208, 212, 213}
#: common invoices an obliged receiver may not get at or above the threshold
COMMON_INVOICES = {1, 6, 11}
PAISES = [(200, 'ARGENTINA'), (203, 'BRASIL'), (208, 'CHILE'),
    (212, 'ESTADOS UNIDOS'), (225, 'URUGUAY'), (410, 'ESPAÑA')]

MSG = {
    600: 'ValidacionDeToken: No validó la firma digital.',
    601: 'CUIT representada no incluida en Token',
    602: ('No existen datos en nuestros registros para los parametros '
        'ingresados.'),
    10001: ('El numero de registros informados en CantReg no coincide con '
        'la cantidad de comprobantes enviados en FeDetReq.'),
    10002: ('La cantidad de registros informados en CantReg supera el '
        'maximo permitido por request (FECompTotXRequest).'),
    10007: ('El campo CbteTipo informado no es valido. Consultar metodo '
        'FEParamGetTiposCbte.'),
    10011: 'El campo CbteHasta debe ser igual a CbteDesde.',
    10013: ('Para comprobantes clase A y M el campo DocTipo debe ser igual '
        'a 80 (CUIT).'),
    10014: ('El campo DocTipo es invalido. Consultar metodo '
        'FEParamGetTiposDoc.'),
    10015: 'El campo DocNro es invalido.',
    10016: ('El numero o fecha del comprobante no se corresponde con el '
        'proximo a autorizar. Consultar metodo FECompUltimoAutorizado.'),
    10019: ('El Id de alicuota de IVA es invalido. Consultar metodo '
        'FEParamGetTiposIva.'),
    10023: ('El campo Concepto es invalido. Consultar metodo '
        'FEParamGetTiposConcepto.'),
    10035: ('Si el concepto es 2 o 3 el campo FchServDesde es obligatorio '
        '(yyyymmdd).'),
    10036: ('Si el concepto es 2 o 3 el campo FchServHasta es obligatorio '
        '(yyyymmdd).'),
    10037: ('Si el concepto es 2 o 3 el campo FchVtoPago es obligatorio '
        '(yyyymmdd).'),
    10038: ('El campo MonId es invalido. Consultar metodo '
        'FEParamGetTiposMonedas.'),
    10040: ('Para las notas de debito y credito es obligatorio informar '
        'CbtesAsoc o PeriodoAsoc.'),
    10041: ('El comprobante asociado informado en CbtesAsoc no se encuentra '
        'autorizado.'),
    10048: ('El campo ImpTotal debe ser igual a la suma de ImpTotConc + '
        'ImpNeto + ImpOpEx + ImpTrib + ImpIVA.'),
    10051: 'La suma de los importes de AlicIva debe ser igual a ImpIVA.',
    10056: 'La suma de los importes de Tributos debe ser igual a ImpTrib.',
    10061: ('El Importe de AlicIva no se corresponde con BaseImp por la '
        'alicuota informada.'),
    10070: 'Si ImpNeto es mayor a 0 el objeto IVA es obligatorio.',
    10071: ('Para comprobantes tipo C el objeto IVA no debe informarse y '
        'ImpIVA debe ser 0.'),
    10119: ('El campo MonCotiz es invalido: debe ser 1 para PES y mayor a 0 '
        'para otras monedas.'),
    10239: 'El campo CanMisMonExt es invalido: informar S o N.',
    10242: ('El campo CondicionIVAReceptorId es invalido para la clase de '
        'comprobante. Consultar metodo FEParamGetCondicionIvaReceptor.'),
    10246: ('Campo Condicion Frente al IVA del receptor obligatorio '
        'conforme lo reglamentado en la Resolución General N° 5616.'),
    # request fields and FCE (sandbox choices in AFIP's range)
    10151: ('El campo Id de Opcionales es invalido. Consultar metodo '
        'FEParamGetTiposOpcional.'),
    10152: 'La suma de los Porcentaje de Compradores debe ser igual a 100.',
    10153: ('PeriodoAsoc invalido: FchDesde debe ser menor o igual a '
        'FchHasta y FchHasta menor o igual a CbteFch.'),
    10154: 'No pueden informarse CbtesAsoc y PeriodoAsoc a la vez.',
    10155: ('El Id de Actividades no corresponde a las actividades del '
        'emisor. Consultar metodo FEParamGetActividades.'),
    10160: ('Para Facturas de Credito Electronica MiPyMEs el campo '
        'FchVtoPago es obligatorio (yyyymmdd).'),
    10161: ('Para Facturas de Credito Electronica MiPyMEs es obligatorio '
        'informar el Opcional 2101 (CBU del Emisor valido) o 2102 (Alias '
        'del Emisor).'),
    10162: ('Para Facturas de Credito Electronica MiPyMEs el Opcional 27 '
        '(Transferencia) debe ser SCA o ADC.'),
    10163: ('Para Notas de Debito y Credito Electronicas MiPyMEs el '
        'Opcional 22 (Anulacion) debe ser S o N.'),
    10164: ('El receptor no se encuentra obligado a recibir Facturas de '
        'Credito Electronica MiPyMEs o el importe es inferior al monto '
        'minimo.'),
    10165: ('El receptor se encuentra obligado a recibir Facturas de '
        'Credito Electronica MiPyMEs por el importe: corresponde emitir '
        'una Factura de Credito Electronica.'),
    10166: ('Para Notas de Debito y Credito Electronicas MiPyMEs CbtesAsoc '
        'debe informar Cuit y CbteFch del comprobante asociado.'),
    # CAEA (sandbox choices)
    1501: 'El CAEA informado no existe o no corresponde a la CUIT.',
    1502: ('El campo CbteFch no se encuentra dentro de la quincena del '
        'CAEA informado.'),
    1503: ('El punto de venta no es de emision CAEA. Consultar metodo '
        'FEParamGetPtosVenta.'),
    1504: ('Comprobante informado fuera de plazo: la fecha tope de '
        'informacion (FchTopeInf) del CAEA ha vencido.'),
    1505: ('Existen comprobantes informados con el CAEA para el punto de '
        'venta: no corresponde informarlo sin movimiento.'),
    1506: 'El CAEA ya fue informado sin movimiento para el punto de venta.',
    1507: 'La quincena del CAEA no ha finalizado.',
    15006: 'Los campos Periodo (yyyymm) u Orden (1 o 2) son invalidos.',
    15007: ('Fecha de solicitud fuera del plazo de solicitud del CAEA para '
        'el periodo y orden informados.'),
    15008: ('Ya existe un CAEA otorgado para el periodo y orden; consultar '
        'con FECAEAConsultar'),
    }

SCALARS = ['Concepto', 'DocTipo', 'DocNro', 'CbteDesde', 'CbteHasta',
    'CbteFch', 'ImpTotal', 'ImpTotConc', 'ImpNeto', 'ImpOpEx', 'ImpTrib',
    'ImpIVA', 'FchServDesde', 'FchServHasta', 'FchVtoPago', 'MonId',
    'MonCotiz', 'CanMisMonExt', 'CondicionIVAReceptorId']
COMPLEX = ['CbtesAsoc', 'Tributos', 'Iva', 'Opcionales', 'Compradores',
    'PeriodoAsoc', 'Actividades']
CENT = Decimal('0.01')


def _q(tag):
    return '{%s}%s' % (NS, tag)


def _local(el):
    return etree.QName(el).localname


def _fields(el):
    return {_local(c): c for c in el if isinstance(c.tag, str)}


def _text(fields, name):
    el = fields.get(name)
    if el is None or el.text is None:
        return None
    return el.text.strip()


def _dec(text, default='0'):
    try:
        value = Decimal(text if text not in (None, '') else default)
    except InvalidOperation:
        return Decimal('NaN')
    return value


def _date(text):
    try:
        if not text or len(text) != 8:
            raise ValueError
        return datetime.datetime.strptime(text, '%Y%m%d').date()
    except ValueError:
        return None


def _errors(errs):
    if not errs:
        return None
    return F('Errors', [F('Err', F('Code', c), F('Msg', m))
            for c, m in errs])


def _cuit_valid(number):
    from stdnum.ar import cuit
    return cuit.is_valid(str(number))
