# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"ConsultaFactuSistemaFacturacion: what the AEAT holds for a month"
from lxml import etree

BASE = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/tike/cont/ws/')
SF = BASE + 'SuministroInformacion.xsd'
LRC = BASE + 'ConsultaLR.xsd'
NSMAP = {'sf': SF, 'sfLRC': LRC}
VERSION = '1.0'


def _add(parent, namespace, tag, text=None):
    element = etree.SubElement(parent, f'{{{namespace}}}{tag}')
    if text is not None:
        element.text = text
    return element


def consulta(nif, name, period, number=None, page_key=None,
        representative=False):
    """The query of the records of issuer nif for period (year, month),
    one invoice number or, for the next page, after page_key (an
    IDFactura element of the last answer)"""
    root = etree.Element(
        f'{{{LRC}}}ConsultaFactuSistemaFacturacion', nsmap=NSMAP)
    cabecera = _add(root, LRC, 'Cabecera')
    _add(cabecera, SF, 'IDVersion', VERSION)
    obligado = _add(cabecera, SF, 'ObligadoEmision')
    _add(obligado, SF, 'NombreRazon', name)
    _add(obligado, SF, 'NIF', nif)
    if representative:
        _add(cabecera, SF, 'IndicadorRepresentante', 'S')
    filtro = _add(root, LRC, 'FiltroConsulta')
    periodo = _add(filtro, LRC, 'PeriodoImputacion')
    year, month = period
    _add(periodo, SF, 'Ejercicio', str(year))
    _add(periodo, SF, 'Periodo', '%02d' % month)
    if number:
        _add(filtro, LRC, 'NumSerieFactura', number)
    if page_key is not None:
        clave = _add(filtro, LRC, 'ClavePaginacion')
        for tag in ('IDEmisorFactura', 'NumSerieFactura',
                'FechaExpedicionFactura'):
            value = None
            for child in page_key:
                if etree.QName(child).localname == tag:
                    value = (child.text or '').strip()
            _add(clave, SF, tag, value or '')
    return root
