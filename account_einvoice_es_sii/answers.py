# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What AEAT's answers say about each record: a RespuestaLinea of a
Suministro, a record held according to a Consulta."""
from trytond.i18n import gettext
from trytond.modules.account_einvoice.service import Outcome

from . import builder
from .builder import RC, R, S


def line_outcome(line, csv, context):
    "The Outcome of one RespuestaLinea"
    cancel = context['cancel']
    status = line.findtext(R('EstadoRegistro'))
    code = line.findtext(R('CodigoErrorRegistro'))
    message = line.findtext(R('DescripcionErrorRegistro'))
    if status in {'Correcto', 'AceptadoConErrores'}:
        if not csv:
            return Outcome('unknown', code, gettext(
                    'account_einvoice_es_sii.msg_answer_incomplete',
                    missing='CSV'))
        state = ('accepted' if status == 'Correcto'
            else 'accepted_with_errors')
        return Outcome(state, code, message, reference=csv)
    if status != 'Incorrecto':
        return Outcome('unknown', code, gettext(
                'account_einvoice_es_sii.msg_answer_incomplete',
                missing='EstadoRegistro'))
    if cancel and code in {'3001', '3002'}:
        # already cancelled, or AEAT does not hold it at all
        return Outcome('cancelled', code, message,
            reference=line.findtext(R('CSV')))
    if not cancel and code == '3000':
        # AEAT holds it already: ask what exactly
        return Outcome('unknown', code, message)
    if context['modify'] and code in {'3001', '3002'}:
        # nothing (valid) to modify: it must be registered again
        return Outcome('rejected', code, message,
            values={'registered': False})
    return Outcome('rejected', code, message)


def held_outcome(item, conf, operation, expected):
    "The outcome of one record AEAT holds"
    state = item.find(RC('EstadoFactura'))
    status = state.findtext(RC('EstadoRegistro')) if (
        state is not None) else None
    if status not in {'Correcta', 'AceptadaConErrores', 'Anulada'}:
        return Outcome('unknown', message=gettext(
                'account_einvoice_es_sii.msg_answer_incomplete',
                missing='EstadoRegistro'))
    code = state.findtext(RC('CodigoErrorRegistro'))
    message = state.findtext(RC('DescripcionErrorRegistro'))
    csv = item.findtext('%s/%s' % (RC('DatosPresentacion'), S('CSV')))
    if status == 'Anulada':
        return Outcome('cancelled', code, message, reference=csv)
    if operation == 'cancel':
        # still held: the cancellation was not applied
        return Outcome('not_found')
    held = builder.fingerprint(item.find(RC(conf['datos'])))
    if held != expected:
        # AEAT holds another version: (re)send ours as a modification
        return Outcome('not_found', values={
                'operation': 'modify', 'registered': True})
    state = ('accepted_with_errors' if status == 'AceptadaConErrores'
        else 'accepted')
    return Outcome(state, code, message, reference=csv)


def agreed(outcomes):
    """One Outcome from the answers AEAT gave for one record: answers that
    contradict each other leave it unknown (asked again)"""
    first = outcomes[0]
    if all((o.state, o.code, o.values) == (first.state, first.code,
                first.values) for o in outcomes[1:]):
        return first
    return Outcome('unknown', message=gettext(
            'account_einvoice_es_sii.msg_answer_contradictory',
            answers='; '.join(
                ' '.join(filter(None, [o.state, o.code]))
                for o in outcomes)))
