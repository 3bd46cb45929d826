# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A call to the authority outside the submissions (onboarding, a
country's authorization codes...), kept in the history as an exchange of
its own kind: the request, the answer, the failure."""
import datetime as dt
import logging
import time

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

from . import recovery
from .exceptions import ServiceFailure
from .exchange import worker_id

logger = logging.getLogger(__name__)


def _unmasked(data):
    return data


def recorded_call(configuration, request, kind, operation, read=None,
        mask=None, authenticate=False):
    """Send request (of the configuration's service) as an exchange of
    kind; return what read(response) gives.

    The exchange is committed in flight before the call (a live sender's
    one: recovery leaves it alone) and with the answer after it.
    ``read(response)`` returns (value, result text) and may raise
    ServiceFailure; without it the value is the response and the result
    its HTTP status.  ``mask(bytes)`` hides secrets in what is stored;
    ``authenticate`` runs the service's ``before_call`` first.  Raise
    ServiceFailure when the call fails (the exchange keeps it)."""
    Exchange = Pool().get('account.einvoice.exchange')
    transaction = Transaction()
    mask = mask or _unmasked
    service = configuration.get_service()
    data = service.serialize(request)
    url, headers = service.endpoint(request)
    with without_check_access():
        exchange = Exchange(
            company=configuration.company, configuration=configuration,
            service=configuration.service,
            environment=configuration.environment, kind=kind,
            operation=operation, remote_operation=request.operation,
            protocol=request.protocol, endpoint=url, request=mask(data),
            request_headers=Exchange.dump_headers(
                headers, request.secret_headers),
            started=dt.datetime.now(), state='in_flight',
            worker=worker_id(), record_count=0)
        exchange.save()
    exchange_id = exchange.id
    flying = (transaction.database.name, exchange_id)
    recovery.active.add(flying)
    response = failure = value = result = None
    started = time.monotonic()
    try:
        transaction.commit()
        table = Exchange.__table__()
        transaction.connection.cursor().execute(*table.update(
                [table.sent], [dt.datetime.now()],
                where=table.id == exchange_id))
        transaction.commit()
        started = time.monotonic()
        try:
            if authenticate:
                service.before_call(request)
            response = service.call(request, data)
            failure = service.classify_response(response)
            if not failure:
                value, result = (read(response) if read
                    else (response, str(response.status)))
        except ServiceFailure as exception:
            failure = exception
            response = response or exception.response
        except Exception as exception:
            logger.exception("e-invoice %s call %s failed", kind, exchange_id)
            failure = ServiceFailure('unknown', gettext(
                    'account_einvoice.msg_internal_error',
                    error=exception.__class__.__name__))
    finally:
        recovery.active.discard(flying)
    with without_check_access():
        exchange = Exchange(exchange_id)
        if response is not None:
            Exchange.store_answer(
                exchange_id, response, request.secret_headers)
            exchange.response = mask(response.content)
            exchange.duration = round(response.duration, 3)
        else:
            exchange.duration = round(time.monotonic() - started, 3)
        if failure:
            exchange.state = (
                'unknown' if failure.kind == 'unknown' else 'failed')
            exchange.failure = failure.kind
            exchange.result = gettext(
                f'account_einvoice.msg_failure_{failure.kind}')
            exchange.error = mask((failure.message or '').encode()).decode()
        else:
            exchange.state = 'done'
            exchange.result = result
        exchange.save()
    transaction.commit()
    if failure:
        raise failure
    return value
