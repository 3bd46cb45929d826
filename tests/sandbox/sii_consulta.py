"""SII sandbox: Consulta of the invoices held (filters, pages, the items
rebuilt from the last accepted record; see :mod:`tests.sandbox.sii`)."""
import copy

from lxml import etree

from .sii_xml import (
    BOOKS, LR_IDFACTURA, NS_LRRC, NS_SII, RC, SII_EJERCICIO, SII_EMISOR,
    SII_FECHA, SII_NUM, SII_PERIODO, SII_PERIODO_P, C, S, _copy_children,
    _emitter_id, _retag, _sub, invoice_key)

# elements of FacturaType & co. whose (anonymous) content type is local:
# in the Consulta answer their children change namespace too
_ANONYMOUS = frozenset(('FacturasAgrupadas', 'FacturasRectificadas',
        'DatosInmueble', 'TipoDesglose'))


class ConsultaMixin:
    "Consulta answers of :class:`tests.sandbox.sii.SIIService`"

    def consulta(self, book, body, cab, titular, env, caller, ctx):
        conf = BOOKS[book]
        filtro = body.find(C['FiltroConsulta'])
        period = filtro.find(SII_PERIODO)
        ejercicio = period.findtext(SII_EJERCICIO)
        periodo = period.findtext(SII_PERIODO_P)
        num = fecha = emitter = counter = None
        idf = filtro.find(C['IDFactura'])
        if idf is not None:
            num = idf.findtext(SII_NUM)
            fecha = idf.findtext(SII_FECHA)
            emitter = _emitter_id(idf.find(SII_EMISOR))
        contraparte = filtro.find(C['Contraparte'])
        if contraparte is not None:
            counter = _emitter_id(contraparte)
        clave = filtro.find(C['ClavePaginacion'])
        clave_key = invoice_key(clave) if clave is not None else None

        store = self.db.get(env, {}).get(book, {}).get(titular, {})
        matches = []
        for key, rec in store.items():
            if (rec['period']['Ejercicio'] != ejercicio
                    or rec['period']['Periodo'] != periodo):
                continue
            if num is not None and rec['number'] != num.strip():
                continue
            if fecha is not None and rec['date'] != fecha.strip():
                continue
            if emitter is not None and rec['emitter'] != emitter:
                continue
            if counter is not None and rec['counterparty'] != counter:
                continue
            matches.append(rec)
        matches.sort(key=lambda r: r['_seq'])
        if clave_key is not None:
            for i, rec in enumerate(matches):
                if rec['key'] == clave_key:
                    matches = matches[i + 1:]
                    break
            else:
                matches = []
        page_size = max(1, min(int(self.options.get('page_size') or 10000),
                10000))
        more = len(matches) > page_size
        page = matches[:page_size]

        response = etree.Element(conf['consulta_resp'],
            nsmap={'siiLRRC': NS_LRRC, 'sii': NS_SII})
        response.append(copy.deepcopy(cab))
        per = _sub(response, RC['PeriodoLiquidacion'])
        _sub(per, RC['Ejercicio'], ejercicio)
        _sub(per, RC['Periodo'], periodo)
        _sub(response, RC['IndicadorPaginacion'], 'S' if more else 'N')
        _sub(response, RC['ResultadoConsulta'],
            'ConDatos' if page else 'SinDatos')
        for rec in page:
            self._consulta_item(response, book, conf, rec)
        ctx.note(period=[ejercicio, periodo],
            found=[rec['key'] for rec in page], paginated=more)
        return response

    def _consulta_item(self, response, book, conf, rec):
        record = rec['_record']
        item = _sub(response, conf['consulta_item'])
        _copy_children(_sub(item, RC['IDFactura']),
            record.find(LR_IDFACTURA))
        datos = _sub(item, conf['datos'])
        factura = record.find(conf['factura'])
        for child in factura:
            if not isinstance(child.tag, str):
                continue
            new = _retag(copy.deepcopy(child), NS_LRRC)
            local = etree.QName(new).localname
            if local in _ANONYMOUS:
                for grandchild in new:
                    if isinstance(grandchild.tag, str):
                        _retag(grandchild, NS_LRRC)
            datos.append(new)
            if book == 'recibidas' and new.tag == RC['CuotaDeducible']:
                _sub(datos, RC['Pagos'], 'N')
        if book == 'emitidas':
            _sub(datos, RC['Cobros'], 'N')
        pres = _sub(item, RC['DatosPresentacion'])
        _sub(pres, S('NIFPresentador'), rec['presenter'])
        _sub(pres, S('TimestampPresentacion'), rec['modified_at'])
        _sub(pres, S('CSV'), rec['csv'])
        estado = _sub(item, RC['EstadoFactura'])
        _sub(estado, RC['TimestampUltimaModificacion'], rec['modified_at'])
        _sub(estado, RC['EstadoRegistro'], rec['state'])
        if rec['code'] is not None:
            _sub(estado, RC['CodigoErrorRegistro'], rec['code'])
            _sub(estado, RC['DescripcionErrorRegistro'], rec['description'])
