"""WSFEv1 sandbox: ``FECAESolicitar`` and the checks of each voucher (see
the rules in :mod:`tests.sandbox.afip_wsfe`)."""
from decimal import Decimal

from .afip import voucher_key
from .afip_wsfe_tables import (
    CBTE_CLASS, CENT, CONDICION_CLASSES, DOC_IDS, IVA_RATES, MONEDA_IDS, MSG,
    NOTES, SCALARS, F, _cuit_valid, _date, _dec, _errors, _fields, _q, _text)


class CAEMixin:
    "CAE authorization of :class:`tests.sandbox.afip_wsfe.WSFEService`"

    def op_FECAESolicitar(self, body, cuit, errors, ctx):
        return self._authorize(body, cuit, errors, ctx, 'FeCAEReq',
            'FECAEDetRequest', self._detail)

    def _authorize(self, body, cuit, errors, ctx, req_tag, det_tag,
            process):
        """Answer of FECAESolicitar / FECAEARegInformativo: header checks,
        then ``process(cuit, pto, tipo, det, now)`` -> (response, ok, key)
        for each detail in order"""
        if errors:
            ctx.note(authorized=[], rejected=[])
            return [_errors(errors)]
        req = body.find(_q(req_tag))
        cab = req.find(_q('FeCabReq')) if req is not None else None
        details = [] if req is None else req.findall('%s/%s' % (
                _q('FeDetReq'), _q(det_tag)))
        if cab is None:
            return [_errors([(10001, MSG[10001])])]
        cab_f = _fields(cab)
        cant = int(_text(cab_f, 'CantReg'))
        pto = int(_text(cab_f, 'PtoVta'))
        tipo = int(_text(cab_f, 'CbteTipo'))
        now = self.now_ar()
        fch_proceso = now.strftime('%Y%m%d%H%M%S')

        def cab_resp(resultado):
            return F('FeCabResp', F('Cuit', cuit), F('PtoVta', pto),
                F('CbteTipo', tipo), F('FchProceso', fch_proceso),
                F('CantReg', cant), F('Resultado', resultado),
                F('Reproceso', 'N'))
        if cant != len(details):
            errors = [(10001, MSG[10001])]
        elif cant > int(self.options.get('reg_x_req') or 0):
            errors = [(10002, MSG[10002])]
        elif tipo not in CBTE_CLASS:
            errors = [(10007, MSG[10007])]
        if errors:
            ctx.note(authorized=[], rejected=[], resultado='R')
            return [cab_resp('R'), _errors(errors)]
        responses, authorized, rejected = [], [], []
        for det in details:
            response, ok, key = process(cuit, pto, tipo, det, now)
            responses.append(response)
            (authorized if ok else rejected).append(key)
        resultado = ('A' if not rejected else 'R' if not authorized
            else 'P')
        ctx.note(authorized=authorized, rejected=rejected,
            resultado=resultado)
        return [cab_resp(resultado), F('FeDetResp', responses)]

    def _detail(self, cuit, pto, tipo, det, now):
        f = _fields(det)
        head, codes, warnings = self._check(cuit, pto, tipo, f, now.date())
        key = voucher_key(cuit, pto, tipo, head[3])
        if codes:
            return self._det_response('FECAEDetResponse', head, codes, [],
                [F('CAE', ''), F('CAEFchVto', '')]), False, key
        extra = self.options.get('observation')
        if extra:
            warnings.append((int(extra['code']), extra.get('msg', '')))
        record = self._store(cuit, pto, tipo, head[3], self._values(f,
                head), det, head[5], warnings)
        return self._det_response('FECAEDetResponse', head, [], warnings,
            [F('CAE', record['cae']), F('CAEFchVto', record['cae_vto'])]
            ), True, key

    @staticmethod
    def _values(f, head):
        "The scalar fields stored for FECompConsultar"
        values = {name: _text(f, name) for name in SCALARS}
        values.update(CbteFch=head[5], MonId=_text(f, 'MonId') or 'PES',
            MonCotiz=values['MonCotiz'] or '1')
        return values

    @staticmethod
    def _det_response(tag, head, codes, warnings, tail):
        "A FE(CAE|CAEA)DetResponse: rejected when ``codes``"
        obs = [(c, MSG[c]) for c in codes] + list(warnings)
        names = ('Concepto', 'DocTipo', 'DocNro', 'CbteDesde', 'CbteHasta',
            'CbteFch')
        return F(tag, [F(n, v) for n, v in zip(names, head)],
            F('Resultado', 'R' if codes else 'A'),
            F('Observaciones', [F('Obs', F('Code', c), F('Msg', m))
                    for c, m in obs]) if obs else None, tail)

    def _check(self, cuit, pto, tipo, f, today, window=True):
        """Check a detail's fields: return (head, codes, warnings), head =
        (Concepto, DocTipo, DocNro, CbteDesde, CbteHasta, CbteFch).
        ``window``: CbteFch must be within today +-5/10 days (CAE)."""
        clase = CBTE_CLASS[tipo]
        try:
            concepto = int(_text(f, 'Concepto'))
            doc_tipo = int(_text(f, 'DocTipo'))
            doc_nro = int(_text(f, 'DocNro'))
            desde = int(_text(f, 'CbteDesde'))
            hasta = int(_text(f, 'CbteHasta'))
        except (TypeError, ValueError):
            concepto = doc_tipo = doc_nro = desde = hasta = 0
        fch = _text(f, 'CbteFch') or today.strftime('%Y%m%d')
        series = self._series(cuit, pto, tipo)
        codes = []          # rejecting

        def reject(code):
            if code not in codes:
                codes.append(code)
        warnings = []       # observations on an accepted voucher

        if concepto not in (1, 2, 3):
            reject(10023)
        if doc_tipo not in DOC_IDS:
            reject(10014)
        elif clase in ('A', 'M') and doc_tipo != 80:
            reject(10013)
        if doc_tipo in (80, 86) and (not _cuit_valid(doc_nro) or str(
                    doc_nro) in [str(c) for c in self.options.get(
                        'unregistered_cuits') or []]):
            reject(10015)
        if hasta != desde:
            reject(10011)
        if desde != series['last'] + 1:
            reject(10016)
        date = _date(fch)
        days = 5 if concepto == 1 else 10
        if (date is None or (window and abs((date - today).days) > days)
                or (series['last_date'] and fch < series['last_date'])):
            reject(10016)

        # amounts
        total = _dec(_text(f, 'ImpTotal'))
        parts = [_dec(_text(f, n)) for n in ('ImpTotConc', 'ImpNeto',
                'ImpOpEx', 'ImpTrib', 'ImpIVA')]
        neto, imp_trib, imp_iva = parts[1], parts[3], parts[4]
        if not all(v.is_finite() for v in parts + [total]):
            reject(10048)
        else:
            if abs(total - sum(parts)) > CENT:
                reject(10048)
            ivas = []
            if 'Iva' in f:
                for alic in f['Iva']:
                    if not isinstance(alic.tag, str):
                        continue
                    a = _fields(alic)
                    try:
                        ivas.append((int(_text(a, 'Id')),
                                _dec(_text(a, 'BaseImp')),
                                _dec(_text(a, 'Importe'))))
                    except (TypeError, ValueError):
                        reject(10019)
            if clase == 'C':
                if ivas or imp_iva != 0:
                    reject(10071)
            else:
                if neto > 0 and not ivas:
                    reject(10070)
                for id_, base, importe in ivas:
                    rate = IVA_RATES.get(id_)
                    if rate is None:
                        reject(10019)
                    elif not (base.is_finite() and importe.is_finite()) or (
                            abs(base * rate - importe)
                            > CENT + abs(base) * Decimal('0.001')):
                        reject(10061)
                if ivas and all(v[2].is_finite() for v in ivas) and abs(
                        sum(v[2] for v in ivas) - imp_iva) > CENT:
                    reject(10051)
            tributos = []
            if 'Tributos' in f:
                tributos = [_dec(_text(_fields(t), 'Importe'))
                    for t in f['Tributos'] if isinstance(t.tag, str)]
            if abs(sum(tributos, Decimal(0)) - imp_trib) > CENT:
                reject(10056)

        # currency
        mon = _text(f, 'MonId') or 'PES'
        cotiz = _dec(_text(f, 'MonCotiz'), '1')
        can = _text(f, 'CanMisMonExt')
        if mon not in MONEDA_IDS:
            reject(10038)
        elif not cotiz.is_finite() or (mon == 'PES' and cotiz != 1) or (
                mon != 'PES' and cotiz <= 0):
            reject(10119)
        if (mon != 'PES' or can is not None) and can not in ('S', 'N'):
            reject(10239)

        # receiver VAT condition (RG 5616)
        cond = _text(f, 'CondicionIVAReceptorId')
        if cond is None:
            if self.options.get('condicion_iva_required', True):
                reject(10246)
            else:
                warnings.append((10246, MSG[10246]))
        else:
            try:
                classes = CONDICION_CLASSES.get(int(cond))
            except ValueError:
                classes = None
            if not classes or clase not in classes:
                reject(10242)

        # services
        if concepto in (2, 3):
            for code, name in ((10035, 'FchServDesde'),
                    (10036, 'FchServHasta'), (10037, 'FchVtoPago')):
                if _date(_text(f, name)) is None:
                    reject(code)

        # notes
        if tipo in NOTES:
            asocs = [] if 'CbtesAsoc' not in f else [
                _fields(a) for a in f['CbtesAsoc'] if isinstance(a.tag, str)]
            if not asocs and 'PeriodoAsoc' not in f:
                reject(10040)
            for a in asocs:
                try:
                    a_cuit = int(_text(a, 'Cuit') or cuit)
                    a_key = (int(_text(a, 'PtoVta')), int(_text(a, 'Tipo')),
                        int(_text(a, 'Nro')))
                except (TypeError, ValueError):
                    reject(10041)
                    continue
                if str(a_cuit) == str(cuit) and a_key[2] not in self._series(
                        cuit, a_key[0], a_key[1])['vouchers']:
                    reject(10041)

        codes += [c for c in self._field_codes(cuit, tipo, f, fch)
            if c not in codes]
        head = (concepto, doc_tipo, doc_nro, desde, hasta, fch)
        return head, codes, warnings
