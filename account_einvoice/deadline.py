# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Tell staff about submissions whose deadline is near or has passed.

A service gives a submission a deadline (e.g. ZATCA: simplified invoices
reported within 24 hours); retries are never scheduled past it, and the
company's accounting administrators are notified once when it is near
(``deadline_notice`` seconds before) and once when it has passed."""
import datetime as dt

from sql import Null

from trytond.i18n import gettext
from trytond.pool import Pool

SHOWN = 10


def _names(submissions):
    names = ', '.join(s.rec_name for s in submissions[:SHOWN])
    if len(submissions) > SHOWN:
        names += ', …'
    return names


def notify_deadlines(configuration, now=None):
    "Notify the deadlines near or passed of configuration's submissions"
    Submission = Pool().get('account.einvoice.submission')
    now = now or dt.datetime.now()
    service = configuration.get_service()
    notice = dt.timedelta(seconds=service.deadline_notice)
    table = Submission.__table__()
    base = ((table.configuration == configuration.id)
        & (table.state == 'pending')
        & (table.deadline != Null))
    missed = Submission.search([
            ('id', 'in', table.select(table.id, where=base
                    & (table.deadline <= now)
                    & ((table.deadline_notice == Null)
                        | (table.deadline_notice != 'missed')))),
            ], order=[('deadline', 'ASC'), ('id', 'ASC')])
    near = Submission.search([
            ('id', 'in', table.select(table.id, where=base
                    & (table.deadline > now)
                    & (table.deadline <= now + notice)
                    & (table.deadline_notice == Null))),
            ], order=[('deadline', 'ASC'), ('id', 'ASC')])
    for submissions, notice_state, message in [
            (missed, 'missed', 'msg_deadline_missed'),
            (near, 'warned', 'msg_deadline_near')]:
        if not submissions:
            continue
        configuration.notify_accountants(
            gettext(f'account_einvoice.{message}_label',
                service=service.name, count=len(submissions)),
            gettext(f'account_einvoice.{message}',
                invoices=_names(submissions),
                deadline=submissions[0].deadline.replace(microsecond=0)),
            records=submissions)
        Submission.write(submissions, {'deadline_notice': notice_state})
    return near, missed
