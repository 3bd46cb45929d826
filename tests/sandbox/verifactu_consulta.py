"""VERI*FACTU sandbox: ConsultaFactuSistemaFacturacion (filters, pages,
the items rebuilt from the last accepted record; see
:mod:`tests.sandbox.verifactu`)."""
import copy

from lxml import etree

from .core import SoapFault
from .verifactu_xml import (
    NS_LRRC, NS_SF, OBLIGADO_NIF, RC, C, S, _kids, _txt, copy_children, retag,
    sub)

# RespuestaDatosRegistroFacturacionType, in schema order, as found in the
# records (NifRepresentante, FechaFinVeriFactu and Incidencia come from
# the header of the request that brought the record)
DATOS = ('NombreRazonEmisor', 'RefExterna', 'Subsanacion', 'RechazoPrevio',
    'SinRegistroPrevio', 'GeneradoPor', 'Generador', 'TipoFactura',
    'TipoRectificativa', 'FacturasRectificadas', 'FacturasSustituidas',
    'ImporteRectificacion', 'FechaOperacion', 'DescripcionOperacion',
    'FacturaSimplificadaArt7273', 'FacturaSinIdentifDestinatarioArt61d',
    'Macrodato', 'EmitidaPorTerceroODestinatario', 'Tercero',
    'Destinatarios', 'Cupon', 'Desglose', 'CuotaTotal', 'ImporteTotal',
    'Encadenamiento', 'SistemaInformatico', 'FechaHoraHusoGenRegistro',
    'NumRegistroAcuerdoFacturacion', 'IdAcuerdoSistemaInformatico',
    'TipoHuella', 'Huella')
# elements whose (anonymous) content type is local to the answer schema:
# their children change namespace too
_ANONYMOUS = frozenset(('FacturasRectificadas', 'FacturasSustituidas',
        'Destinatarios', 'Encadenamiento'))
_STATE = {'Correcta': 'Correcto', 'AceptadaConErrores': 'AceptadoConErrores',
    'Anulada': 'Anulado'}


def _period(date):
    "(Ejercicio, Periodo) of a dd-mm-yyyy date"
    return date[6:10], date[3:5]


class ConsultaMixin:
    "ConsultaFactuSistemaFacturacion of the VERI*FACTU sandbox"

    def consulta(self, body, caller, ctx):
        cab = body.find(C['Cabecera'])
        nif = _txt(cab.find(OBLIGADO_NIF))
        if nif is None:
            raise SoapFault('Server', 'Codigo[9999].Consulta por '
                'Destinatario no disponible en el entorno de pruebas local')
        self._check_issuer(nif, None, caller, consulta=True)
        self.consultas += 1
        filtro = body.find(C['FiltroConsulta'])
        periodo = _kids(_kids(filtro).get('PeriodoImputacion'))
        ejercicio = _txt(periodo.get('Ejercicio'))
        month = _txt(periodo.get('Periodo'))
        number = _txt(filtro.find(C['NumSerieFactura']))
        clave = filtro.find(C['ClavePaginacion'])
        clave_key = None
        if clave is not None:
            clave_key = '|'.join(_txt(clave.find(S(n))) or '' for n in (
                    'IDEmisorFactura', 'NumSerieFactura',
                    'FechaExpedicionFactura'))

        invoices = self.issuers.get(nif, {}).get('invoices', {})
        matches = sorted((inv for inv in invoices.values()
                if _period(inv['date']) == (ejercicio, month)
                and (number is None or inv['number'] == number)),
            key=lambda inv: inv['_order'])
        if clave_key is not None:
            for i, inv in enumerate(matches):
                if inv['key'] == clave_key:
                    matches = matches[i + 1:]
                    break
            else:
                matches = []
        page_size = max(1, min(int(self.options.get('page_size') or 10000),
                10000))
        more = len(matches) > page_size
        page = matches[:page_size]

        response = etree.Element(
            RC['RespuestaConsultaFactuSistemaFacturacion'],
            nsmap={'sfLRRC': NS_LRRC, 'sf': NS_SF})
        copy_children(sub(response, RC['Cabecera']), cab)
        per = sub(response, RC['PeriodoImputacion'])
        sub(per, RC['Ejercicio'], ejercicio)
        sub(per, RC['Periodo'], month)
        sub(response, RC['IndicadorPaginacion'], 'S' if more else 'N')
        sub(response, RC['ResultadoConsulta'],
            'ConDatos' if page else 'SinDatos')
        for inv in page:
            self._item(response, inv)
        if more:
            key = sub(response, RC['ClavePaginacion'])
            self._idfactura(key, page[-1])
        ctx.note(period=[ejercicio, month], number=number,
            found=[inv['key'] for inv in page], paginated=more)
        return response

    @staticmethod
    def _idfactura(parent, inv):
        sub(parent, S('IDEmisorFactura'), inv['key'].split('|', 1)[0])
        sub(parent, S('NumSerieFactura'), inv['number'])
        sub(parent, S('FechaExpedicionFactura'), inv['date'])

    def _item(self, response, inv):
        item = sub(response,
            RC['RegistroRespuestaConsultaFactuSistemaFacturacion'])
        self._idfactura(sub(item, RC['IDFactura']), inv)
        datos = sub(item, RC['DatosRegistroFacturacion'])
        kids = _kids(inv['_element'])
        for name in DATOS:
            child = kids.get(name)
            if child is None:
                continue
            new = retag(copy.deepcopy(child), NS_LRRC)
            if name in _ANONYMOUS:
                for grandchild in new:
                    if isinstance(grandchild.tag, str):
                        retag(grandchild, NS_LRRC)
            datos.append(new)
        request = inv['_request']
        if request.get('representative'):
            sub(datos, RC['NifRepresentante'], request['representative'])
        if request.get('fecha_fin'):
            sub(datos, RC['FechaFinVeriFactu'], request['fecha_fin'])
        if request.get('incidencia'):
            sub(datos, RC['Incidencia'], request['incidencia'])
        pres = sub(item, RC['DatosPresentacion'])
        sub(pres, S('NIFPresentador'), inv['presenter'])
        sub(pres, S('TimestampPresentacion'), inv['modified_at'])
        sub(pres, S('IdPeticion'), inv['id_peticion'])
        estado = sub(item, RC['EstadoRegistro'])
        sub(estado, RC['TimestampUltimaModificacion'], inv['modified_at'])
        sub(estado, RC['EstadoRegistro'], _STATE[inv['state']])
        if inv['code'] is not None:
            sub(estado, RC['CodigoErrorRegistro'], inv['code'])
            sub(estado, RC['DescripcionErrorRegistro'], inv['description'])
