# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Informing AFIP of the vouchers authorized here with a CAEA
(``FECAEARegInformativo``), for :class:`.service.WSFEService`.

Their number is legal already: it is never given again.  They are informed
in number order (AFIP refuses with 10016 a voucher that is not the next of
its series); a 10016 leaves the outcome unknown and ``FECompConsultar``
decides: AFIP holds our voucher (same fields, emission type CAEA, our
CAEA): accepted; else it is rejected with AFIP's text, for staff.  A lost
answer is resolved by the same query (602: not held, informed again)."""
import datetime as dt
from collections import defaultdict

from trytond.i18n import gettext
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice.service import Outcome
from trytond.pool import Pool

from . import afip, answers
from .afip import E, wsfe_tag
from .voucher import Voucher

NOT_NEXT = '10016'


def is_caea(submission):
    invoice = submission.invoice
    return bool(invoice and invoice.ar_authorization == 'CAEA')


def prepare(service, submissions):
    """The submissions to inform now, in number order: those before the
    first earlier voucher of the series still waiting elsewhere"""
    Submission = Pool().get('account.einvoice.submission')
    ready = sorted(submissions, key=lambda s: s.invoice.ar_voucher_number)
    invoice = ready[0].invoice
    waiting = Submission.search([
            ('configuration', '=', service.configuration.id),
            ('invoice.ar_pos', '=', invoice.ar_pos.id),
            ('invoice.ar_voucher_type', '=', invoice.ar_voucher_type),
            ('invoice.ar_authorization', '=', 'CAEA'),
            ('state', '=', 'pending'),
            ('id', 'not in', [s.id for s in ready]),
            ('invoice.ar_voucher_number', '<',
                ready[-1].invoice.ar_voucher_number),
            ], order=[('invoice.ar_voucher_number', 'ASC')], limit=1)
    if waiting:
        first = waiting[0].invoice.ar_voucher_number
        ready = [s for s in ready if s.invoice.ar_voucher_number < first]
    return ready


def generated(invoice):
    "CbteFchHsGen: when the voucher was generated, Argentina's time"
    moment = invoice.ar_caea_generated or dt.datetime.combine(
        invoice.invoice_date, dt.time(12))
    return moment.astimezone(afip.AR_TZ).strftime('%Y%m%d%H%M%S')


def build_request(service, submissions):
    submissions = sorted(
        submissions, key=lambda s: s.invoice.ar_voucher_number)
    first = submissions[0].invoice
    details, records, numbers, caeas, due = [], {}, {}, {}, {}
    for submission in submissions:
        invoice = submission.invoice
        voucher = Voucher(invoice, service.cuit)
        element = voucher.element()
        element.tag = wsfe_tag('FECAEADetRequest')
        element.append(E.CAEA(invoice.ar_cae))
        element.append(E.CbteFchHsGen(generated(invoice)))
        details.append(element)
        records[submission.id] = element
        numbers[str(voucher.number)] = submission.id
        caeas[submission.id] = invoice.ar_cae
        due[submission.id] = afip.afip_date(invoice.ar_cae_due_date)
    body = service.batch_body(
        'FECAEARegInformativo', 'FeCAEARegInfReq', first, details)
    return service._request('FECAEARegInformativo', body, records, {
            'numbers': numbers,
            'caeas': caeas,
            'due': due,
            })


def _accepted(caea, due, observations):
    return Outcome('accepted',
        code=','.join(c for c, _ in observations) or None,
        message=answers.message_text(observations),
        reference=caea,
        values={'ar_cae_due_date': afip.parse_afip_date(due)})


def outcomes(request, body):
    "{submission id: Outcome} from the FECAEARegInformativo answer"
    result = body.find(wsfe_tag('FECAEARegInformativoResult'))
    if result is None:
        raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
    errors = answers.header_errors(result)
    details = result.findall(
        f'{wsfe_tag("FeDetResp")}/{wsfe_tag("FECAEADetResponse")}')
    if not details:
        raise ServiceFailure('configuration', answers.message_text(errors)
            or "FECAEARegInformativo answered no detail",
            code=','.join(c for c, _ in errors) or None)
    context = request.context
    found = defaultdict(list)
    for detail in details:
        number = (detail.findtext(wsfe_tag('CbteDesde')) or '').strip()
        submission_id = context['numbers'].get(number)
        if submission_id is None:
            continue
        observations = answers.coded_messages(detail, answers.OBSERVATIONS)
        codes = {c for c, _ in observations}
        result_code = (detail.findtext(wsfe_tag('Resultado')) or '').strip()
        caea = context['caeas'][submission_id]
        if result_code == 'A':
            outcome = _accepted(
                caea, context['due'][submission_id], observations)
        elif result_code == 'R' and codes == {NOT_NEXT}:
            # AFIP may hold it already: FECompConsultar decides
            outcome = Outcome('unknown', code=NOT_NEXT,
                message=answers.message_text(observations + errors))
        elif result_code == 'R':
            outcome = Outcome('rejected', code=','.join(sorted(codes))
                or None, message=answers.message_text(
                    observations + errors))
        else:
            outcome = Outcome('unknown', message=gettext(
                    'account_einvoice_ar.msg_answer_incomplete',
                    missing='Resultado'))
        found[submission_id].append(outcome)
    return {i: answers.agreed_outcome(o) for i, o in found.items()}


def refused_before(submission):
    """The last request informing it was answered 10016 (a query answer
    "not held" is then final)"""
    Outcome_ = Pool().get('account.einvoice.exchange.outcome')
    last = Outcome_.search([
            ('submission', '=', submission.id),
            ('exchange.kind', '=', 'send'),
            ], order=[('id', 'DESC')], limit=1)
    return bool(last) and last[0].state == 'unknown' and (
        last[0].code == NOT_NEXT)


def query_context(submission):
    invoice = submission.invoice
    return {
        'caea': invoice.ar_cae,
        'due': afip.afip_date(invoice.ar_cae_due_date),
        'refused': refused_before(submission),
        }


def consultar_outcome(context, found, differences):
    """The Outcome of FECompConsultar for a CAEA voucher (found: the
    ResultGet or None)"""
    caea = context['caea']
    if found is not None and not differences:
        emission = (found.findtext(wsfe_tag('EmisionTipo')) or '').strip()
        code = (found.findtext(wsfe_tag('CodAutorizacion')) or '').strip()
        if (emission.upper() == 'CAEA' and code == caea
                and (found.findtext(wsfe_tag('Resultado')) or '').strip()
                == 'A'):
            return _accepted(caea, context['due'], answers.coded_messages(
                    found, answers.OBSERVATIONS))
        differences = [f'EmisionTipo: {emission}', f'CodAutorizacion: {code}']
    if not context['refused']:
        # our request was lost: AFIP does not hold it, it is informed again
        return Outcome('not_found', message=gettext(
                'account_einvoice_ar.msg_caea_not_held'))
    message = gettext('account_einvoice_ar.msg_caea_inform_refused',
        differences='; '.join(differences) or '602')
    return Outcome('rejected', code=NOT_NEXT, message=message, final=True)


def consultar_outcomes(request, body):
    "{submission id: Outcome} from FECompConsultar about a CAEA voucher"
    context = request.context
    result = body.find(wsfe_tag('FECompConsultarResult'))
    if result is None:
        raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
    errors = answers.header_errors(result)
    found = result.find(wsfe_tag('ResultGet'))
    if found is None and not any(c == '602' for c, _ in errors):
        raise ServiceFailure('transient', answers.message_text(errors)
            or "FECompConsultar answered nothing")
    differences = []
    if found is not None:
        expected = context['expected']
        for name in answers.COMPARED:
            held = found.findtext(wsfe_tag(name))
            if not answers.same_value(name, expected.get(name), held):
                differences.append(f'{name}: {held} != {expected.get(name)}')
    return {context['submission']: consultar_outcome(
            context, found, differences)}
