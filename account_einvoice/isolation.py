# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Charge an exception raised for a batch to the records that cause it,
so one bad record is refused alone and the others are sent."""
import logging

from trytond import backend
from trytond.transaction import TransactionError

from .exceptions import RecordError, ServiceFailure
from .local_message import LocalMessage

logger = logging.getLogger(__name__)
# failures of the batch as a whole (retried or reported by the caller),
# never the fault of one record
NOT_RECORD_FAULTS = (
    ServiceFailure, TransactionError, backend.DatabaseIntegrityError,
    backend.DatabaseOperationalError, backend.DatabaseDataError,
    backend.DatabaseTimeoutError)


def isolate(attempt, submissions):
    """Call attempt(submissions); when it raises, split the submissions in
    halves until each exception is charged to one submission.

    Return (results, failures): the results of the calls that succeeded
    and {submission id: exception}."""
    results, failures = [], {}
    parts = [list(submissions)]
    while parts:
        part = parts.pop()
        try:
            results.append(attempt(part))
        except NOT_RECORD_FAULTS:
            raise
        except Exception as exception:
            if len(part) == 1:
                failures[part[0].id] = exception
            else:
                middle = len(part) // 2
                parts.extend([part[middle:], part[:middle]])
    return results, failures


def refusal(submission, exception, step):
    """The readable message refusing submission for exception, naming the
    invoice (and the field, which a RecordError names)"""
    invoice = submission.rec_name
    if isinstance(exception, RecordError):
        return LocalMessage('account_einvoice.msg_record_refused',
            invoice=invoice, reason=exception.reason)
    logger.error("e-invoice submission %s refused: the %s step failed",
        submission.id, step, exc_info=exception)
    return LocalMessage('account_einvoice.msg_record_crashed',
        invoice=invoice,
        step=LocalMessage(f'account_einvoice.msg_step_{step}'),
        error=exception.__class__.__name__)
