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


class Polling:
    "Part of the Processor (it provides configuration_id)"

    def _service(self):
        if getattr(self, '_polling_service', None) is None:
            Configuration = Pool().get('account.einvoice.configuration')
            self._polling_service = Configuration(
                self.configuration_id).get_service()
        return self._polling_service

    def processing_values(self, submission, outcome, now, ticket=None):
        """The values of a submission the authority is processing: asked
        again after poll_delay, staff told once past the poll deadline"""
        service = self._service()
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
        deadline = getattr(submission, 'poll_deadline', None)
        if getattr(submission, 'state', None) != 'processing' or not deadline:
            deadline = now + dt.timedelta(seconds=service.poll_deadline)
            values.update(poll_deadline=deadline, poll_notified=False)
        elif deadline <= now:
            values['last_error'] = gettext(
                'account_einvoice.msg_poll_deadline_passed',
                ticket=ticket or '-',
                date=deadline.replace(microsecond=0))
        return values

    @staticmethod
    def lot_lost_values():
        """The authority does not know the lot (or did not say): ask it
        about each document before anything is sent again"""
        return {
            'state': 'pending',
            'exchange': None,
            'needs_query': True,
            'next_attempt': None,
            }


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
