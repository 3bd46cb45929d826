# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The Outcomes read from the FECAESolicitar and FECompConsultar answers."""
from collections import defaultdict
from decimal import Decimal

from trytond.i18n import gettext
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice.service import Outcome

from . import afip
from .afip import wsfe_tag

#: sends of one invoice refused with 10016 only before it is rejected
MAX_RESYNC = 4
#: fields of a voucher found by FECompConsultar that must be ours
COMPARED = ['Concepto', 'DocTipo', 'DocNro', 'CbteFch', 'ImpTotal',
    'ImpTotConc', 'ImpNeto', 'ImpOpEx', 'ImpTrib', 'ImpIVA', 'MonId',
    'MonCotiz']
ERRORS = f'{wsfe_tag("Errors")}/{wsfe_tag("Err")}'
OBSERVATIONS = f'{wsfe_tag("Observaciones")}/{wsfe_tag("Obs")}'


def coded_messages(parent, path):
    "The (code, message) pairs of the elements at path"
    result = []
    if parent is None:
        return result
    for item in parent.iterfind(path):
        result.append((
                (item.findtext(wsfe_tag('Code')) or '').strip(),
                (item.findtext(wsfe_tag('Msg')) or '').strip()))
    return result


def message_text(messages):
    return '\n'.join(f'{c}: {m}' for c, m in messages) or None


def header_errors(result):
    "The Errors of a result; a refused ticket is a transient failure"
    errors = coded_messages(result, ERRORS)
    codes = {c for c, _ in errors}
    if codes & {'600', '601'}:
        raise ServiceFailure('transient', message_text(errors),
            code=','.join(sorted(codes)))
    return errors


def same_value(name, expected, found):
    if expected is None or found is None:
        return (expected or None) == (found or None)
    if name.startswith('Imp') or name in {'MonCotiz', 'DocNro'}:
        try:
            return abs(Decimal(str(expected)) - Decimal(str(found))) < (
                Decimal('0.005'))
        except ArithmeticError:
            return False
    return str(expected).strip() == str(found).strip()


def authorized_outcome(cae, due, observations):
    """The Outcome of an approval: accepted only with a CAE and its due
    date, else unknown (asked again)"""
    cae = (cae or '').strip()
    due_date = afip.parse_afip_date(due)
    missing = [name for name, ok in [
            ('CAE', len(cae) == 14 and cae.isdigit()),
            ('CAEFchVto', due_date is not None)] if not ok]
    if missing:
        return Outcome('unknown', message=gettext(
                'account_einvoice_ar.msg_answer_incomplete',
                missing=', '.join(missing)))
    return Outcome(
        'accepted',
        code=','.join(c for c, _ in observations) or None,
        message=message_text(observations),
        reference=cae,
        values={
            'ar_cae_due_date': due_date,
            'ar_retries': 0,
            })


def agreed_outcome(outcomes):
    """One Outcome from the answers given for one voucher: answers that
    contradict each other leave it unknown (asked again)"""
    first = outcomes[0]
    if all((o.state, o.reference, o.code) == (
                first.state, first.reference, first.code)
            for o in outcomes[1:]):
        return first
    return Outcome('unknown', message=gettext(
            'account_einvoice_ar.msg_answer_contradictory',
            answers='; '.join(
                ' '.join(filter(None, [o.state, o.reference, o.code]))
                for o in outcomes)))


def solicitar_outcomes(request, body):
    "{submission id: Outcome} from the FECAESolicitar answer"
    result = body.find(wsfe_tag('FECAESolicitarResult'))
    if result is None:
        raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
    errors = header_errors(result)
    details = result.findall(
        f'{wsfe_tag("FeDetResp")}/{wsfe_tag("FECAEDetResponse")}')
    if not details:
        raise ServiceFailure('configuration', message_text(errors)
            or "FECAESolicitar answered no detail",
            code=','.join(c for c, _ in errors) or None)
    numbers = request.context['numbers']
    retries = request.context['retries']
    answers = defaultdict(list)
    for detail in details:
        number = (detail.findtext(wsfe_tag('CbteDesde')) or '').strip()
        submission_id = numbers.get(number)
        if submission_id is not None:
            answers[submission_id].append(
                detail_outcome(detail, errors,
                    retries.get(submission_id, 0)))
    return {i: agreed_outcome(outcomes) for i, outcomes in answers.items()}


def detail_outcome(detail, errors, retries):
    "The Outcome of one FECAEDetResponse"
    observations = coded_messages(detail, OBSERVATIONS)
    codes = [c for c, _ in observations]
    result = (detail.findtext(wsfe_tag('Resultado')) or '').strip()
    if result == 'A':
        return authorized_outcome(
            detail.findtext(wsfe_tag('CAE')),
            detail.findtext(wsfe_tag('CAEFchVto')),
            observations)
    if result != 'R':
        return Outcome('unknown', message=gettext(
                'account_einvoice_ar.msg_answer_incomplete',
                missing='Resultado'))
    messages = observations + errors
    if set(codes) == {'10016'} and retries < MAX_RESYNC:
        # Not the next number: number it again after asking AFIP.
        return Outcome(
            'not_found', code='10016', message=message_text(messages),
            values={
                'ar_resync': True,
                'ar_retries': retries + 1,
                })
    return Outcome(
        'rejected', code=','.join(codes) or None,
        message=message_text(messages), values={'ar_retries': 0})


def consultar_outcomes(request, body):
    "{submission id: Outcome} from the FECompConsultar answer"
    submission_id = request.context['submission']
    result = body.find(wsfe_tag('FECompConsultarResult'))
    if result is None:
        raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
    errors = header_errors(result)
    found = result.find(wsfe_tag('ResultGet'))
    if found is None:
        if any(c == '602' for c, _ in errors):
            return {submission_id: Outcome(
                    'not_found', code='602', message=message_text(errors),
                    values={'ar_resync': True})}
        raise ServiceFailure('transient', message_text(errors)
            or "FECompConsultar answered nothing")
    expected = request.context['expected']
    differences = []
    for name in COMPARED:
        held = found.findtext(wsfe_tag(name))
        if not same_value(name, expected.get(name), held):
            differences.append(f'{name}: {held} != {expected.get(name)}')
    if differences or (
            found.findtext(wsfe_tag('Resultado')) or '').strip() != 'A':
        # The number is held by another voucher: ours was not taken.
        return {submission_id: Outcome(
                'not_found', code='10016',
                message=gettext(
                    'account_einvoice_ar.msg_number_held_elsewhere',
                    differences='; '.join(differences)),
                values={'ar_resync': True})}
    observations = coded_messages(found, OBSERVATIONS)
    return {submission_id: authorized_outcome(
            found.findtext(wsfe_tag('CodAutorizacion')),
            found.findtext(wsfe_tag('FchVto')), observations)}
