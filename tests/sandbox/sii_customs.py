"""SII sandbox: AEAT's rules of the record types that are not suppliers'
invoices, F5 (imports, DUA), F6 (other accounting vouchers) and LC
(customs complementary settlement), checked on each Suministro record
(see the table in :mod:`tests.sandbox.sii`)."""
from .sii_xml import SII_CONTRAPARTE, SII_TIPO_FACTURA, S, _emitter, _txt

ERRORS = {
    1243: 'El tipo de factura %s solo puede informarse en el libro registro '
    'de facturas recibidas',
    1244: 'En las importaciones (%s) el NIF del bloque %s debe ser el del '
    'titular del libro registro',
    1245: 'En las importaciones (%s) no puede informarse %s',
    }
RECEIVED_ONLY = {'F5', 'F6', 'LC'}
CUSTOMS = {'F5', 'LC'}
# ClaveRegimenEspecialOTrascendencia 13: import without customs document
_KEYS = tuple(S(n) for n in ('ClaveRegimenEspecialOTrascendencia',
        'ClaveRegimenEspecialOTrascendenciaAdicional1',
        'ClaveRegimenEspecialOTrascendenciaAdicional2'))
_ISP = S('InversionSujetoPasivo')


def check(book, rec, factura, fkids, titular):
    """(code, text) of the first rule of these types that the record (a
    _Record; factura its Factura* element, fkids its children) breaks, or
    None"""
    tipo = _txt(fkids.get(SII_TIPO_FACTURA))
    if tipo not in RECEIVED_ONLY:
        return None
    if book != 'recibidas':
        return 1243, ERRORS[1243] % tipo
    if tipo not in CUSTOMS:
        return None
    _, counterpart = _emitter(fkids.get(SII_CONTRAPARTE))
    for block, nif in [('IDEmisorFactura', rec.emitter_nif),
            ('Contraparte', counterpart)]:
        if nif != titular:
            return 1244, ERRORS[1244] % (tipo, block)
    if '13' in {_txt(fkids.get(k)) for k in _KEYS}:
        return 1245, ERRORS[1245] % (tipo,
            'la clave de régimen 13 (importación sin DUA)')
    if next(factura.iter(_ISP), None) is not None:
        return 1245, ERRORS[1245] % (tipo, 'InversionSujetoPasivo')
    return None
