"""WSFEv1 sandbox: the ``FEParamGet*`` operations (parameter tables)."""
from .afip_wsfe_tables import (
    ACTIVIDADES, CBTE_TIPOS, CONCEPTOS, CONDICION_IVA, DOC_TIPOS, FCH_DESDE,
    IVA_TIPOS, MONEDAS, MSG, OPCIONALES, PAISES, TRIBUTOS, F, _errors, _q)


class ParamTablesMixin:
    "Parameter tables of :class:`tests.sandbox.afip_wsfe.WSFEService`"

    def _param(self, errors, items):
        if errors:
            return [_errors(errors)]
        return [F('ResultGet', items)]

    def _typed(self, tag, rows):
        return [F(tag, F('Id', i), F('Desc', d), F('FchDesde', FCH_DESDE),
                F('FchHasta', 'NULL')) for i, d in rows]

    def op_FEParamGetTiposCbte(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('CbteTipo',
                [(i, d) for i, d, _ in CBTE_TIPOS]))

    def op_FEParamGetTiposIva(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('IvaTipo',
                [(i, d) for i, d, _ in IVA_TIPOS]))

    def op_FEParamGetTiposDoc(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('DocTipo', DOC_TIPOS))

    def op_FEParamGetTiposMonedas(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('Moneda', MONEDAS))

    def op_FEParamGetTiposConcepto(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('ConceptoTipo', CONCEPTOS))

    def op_FEParamGetTiposTributos(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('TributoTipo', TRIBUTOS))

    def op_FEParamGetTiposOpcional(self, body, cuit, errors, ctx):
        return self._param(errors, self._typed('OpcionalTipo', OPCIONALES))

    def op_FEParamGetTiposPaises(self, body, cuit, errors, ctx):
        return self._param(errors, [F('PaisTipo', F('Id', i), F('Desc', d))
                for i, d in PAISES])

    def op_FEParamGetCondicionIvaReceptor(self, body, cuit, errors, ctx):
        clase = (body.findtext(_q('ClaseCmp')) or '').strip().upper()
        rows = [(i, d, c) for i, d, c in CONDICION_IVA
            if not clase or clase in c.split('/')]
        return self._param(errors, [F('CondicionIvaReceptor', F('Id', i),
                    F('Desc', d), F('Cmp_Clase', c)) for i, d, c in rows])

    def points_of_sale(self):
        """Option ``puntos_venta`` as {Nro: {'emision_tipo', 'bloqueado',
        'fch_baja'}} (an int item is a CAE point of sale)"""
        result = {}
        for item in self.options.get('puntos_venta') or []:
            if not isinstance(item, dict):
                item = {'nro': item}
            result[int(item['nro'])] = {
                'emision_tipo': (item.get('emision_tipo') or 'CAE').upper(),
                'bloqueado': item.get('bloqueado') or 'N',
                'fch_baja': item.get('fch_baja')}
        return result

    def caea_point_of_sale(self, nro):
        pos = self.points_of_sale().get(int(nro))
        return bool(pos) and pos['emision_tipo'] == 'CAEA'

    def op_FEParamGetPtosVenta(self, body, cuit, errors, ctx):
        return self._param(errors, [F('PtoVenta', F('Nro', n),
                    F('EmisionTipo', p['emision_tipo']),
                    F('Bloqueado', p['bloqueado']),
                    F('FchBaja', p['fch_baja'] or 'NULL'))
                for n, p in sorted(self.points_of_sale().items())])

    def op_FEParamGetActividades(self, body, cuit, errors, ctx):
        rows = self.options.get('actividades')
        if rows is None:
            rows = ACTIVIDADES
        return self._param(errors, [F('ActividadesTipo', F('Id', int(i)),
                    F('Orden', int(o)), F('Desc', d)) for i, o, d in rows])

    def op_FEParamGetCotizacion(self, body, cuit, errors, ctx):
        if errors:
            return [_errors(errors)]
        mon = (body.findtext(_q('MonId')) or '').strip()
        fch = (body.findtext(_q('FchCotiz')) or '').strip() or (
            self.now_ar().strftime('%Y%m%d'))
        rates = self.options.get('cotizaciones') or {}
        if mon not in rates:
            return [_errors([(602, MSG[602])])]
        return [F('ResultGet', F('MonId', mon), F('MonCotiz', rates[mon]),
                F('FchCotiz', fch))]
