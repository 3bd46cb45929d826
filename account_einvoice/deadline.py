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
    if missed:
        configuration.notify_accountants(
            gettext('account_einvoice.msg_deadline_missed_label',
                service=service.name, count=len(missed)),
            gettext('account_einvoice.msg_deadline_missed',
                invoices=_names(missed),
                deadline=missed[0].deadline.replace(microsecond=0)),
            records=missed)
        Submission.write(missed, {'deadline_notice': 'missed'})
    if near:
        configuration.notify_accountants(
            gettext('account_einvoice.msg_deadline_near_label',
                service=service.name, count=len(near)),
            gettext('account_einvoice.msg_deadline_near',
                invoices=_names(near),
                deadline=near[0].deadline.replace(microsecond=0)),
            records=near)
        Submission.write(near, {'deadline_notice': 'warned'})
    return near, missed
