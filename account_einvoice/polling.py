# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Submit now, result later: what the Processor does with the answers of
an authority that processes lots on its own time.

An answer "received, ask later" (``Outcome('processing', reference=
ticket)``) puts the submission in state *processing* with the ticket; the
claim groups the due ones by ticket into *poll* exchanges
(``service.build_poll`` / ``parse_poll``) every ``service.poll_delay``
seconds.  Past ``service.poll_deadline`` the company's accounting
administrators are told once.  A lot the authority does not know (or an
answer that does not say) sends its submissions back to *outcome unknown*:
each document is queried, never sent again blindly.
"""
import datetime as dt

from trytond.i18n import gettext
from trytond.pool import Pool


def processing_values(service, submission, outcome, now, ticket=None):
    """The values of a submission the authority is processing: asked again
    after poll_delay, with a poll deadline from the first answer; past it,
    Last Error says so (staff are told by notify_late_lots)"""
    ticket = outcome.reference or ticket
    values = {
        'state': 'processing',
        'ticket': ticket,
        'exchange': None,
        'needs_query': False,
        'attempts': 0,
        'last_error': None,
        'next_attempt': now + dt.timedelta(seconds=service.poll_delay),
        }
    deadline = submission.poll_deadline
    if submission.state != 'processing' or not deadline:
        values.update(poll_notified=False, poll_deadline=(
                now + dt.timedelta(seconds=service.poll_deadline)))
    elif deadline <= now:
        values['last_error'] = gettext(
            'account_einvoice.msg_poll_deadline_passed',
            ticket=ticket or '-', date=deadline.replace(microsecond=0))
    return values


def notify_late_lots(configuration, now=None):
    """Tell the company's accounting administrators, once per lot, about
    the lots still processed past their poll deadline (whether the polls
    answer or fail); called at the start of each run"""
    Submission = Pool().get('account.einvoice.submission')
    now = now or dt.datetime.now()
    late = Submission.search([
            ('configuration', '=', configuration.id),
            ('state', '=', 'processing'),
            ('poll_deadline', '<=', now),
            ('poll_notified', '=', False),
            ], order=[('id', 'ASC')])
    by_ticket = {}
    for submission in late:
        by_ticket.setdefault(submission.ticket, []).append(submission)
    for ticket, submissions in by_ticket.items():
        configuration.notify_accountants(
            gettext('account_einvoice.msg_poll_deadline_label',
                service=configuration.service_string),
            gettext('account_einvoice.msg_poll_deadline_passed_count',
                ticket=ticket or '-', count=len(submissions)),
            records=submissions)
    if late:
        Submission.write_rows(late, {'poll_notified': True})
    return late
