# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""SOAP 1.1 over HTTPS with a client certificate.

Failures are translated into ServiceFailure kinds; the decisive question is
whether the authority may have processed the request ('unknown') or
certainly did not ('not_sent').
"""
import time
from dataclasses import dataclass

import requests
from lxml import etree

from trytond.i18n import gettext

from . import https
from .exceptions import ServiceFailure
from .schema import parse_untrusted

SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/'
# Texts of TLS failures caused by keys weaker than the security level
WEAK_KEY_ERRORS = ('DH_KEY_TOO_SMALL', 'EE_KEY_TOO_SMALL', 'CA_KEY_TOO_SMALL',
    'KEY_TOO_SMALL', 'key too weak', 'key too small')


@dataclass
class Response:
    status: int
    content_type: str
    content: bytes
    duration: float
    body: object = None  # first child of soap:Body when parsed


def envelope(body, header=None):
    "Wrap body (an lxml element) in a SOAP 1.1 envelope and serialize it"
    root = etree.Element(
        f'{{{SOAP_ENV}}}Envelope', nsmap={'soapenv': SOAP_ENV})
    soap_header = etree.SubElement(root, f'{{{SOAP_ENV}}}Header')
    if header is not None:
        soap_header.append(header)
    etree.SubElement(root, f'{{{SOAP_ENV}}}Body').append(body)
    return etree.tostring(root, xml_declaration=True, encoding='UTF-8')


def _describe(exception):
    text = str(exception)
    return f'{exception.__class__.__name__}: {text}' if text else (
        exception.__class__.__name__)


def post(url, data, soap_action, certificate, timeout=None):
    """POST a SOAP request; return Response or raise ServiceFailure.

    timeout (seconds to wait for the answer) replaces the configured one."""
    headers = {
        'Content-Type': 'text/xml; charset=utf-8',
        'SOAPAction': f'"{soap_action}"',
        }
    started = time.monotonic()
    try:
        reply, content, duration = https.request(
            'POST', url, certificate, timeout=timeout, data=data,
            headers=headers)
    except https.TooLarge as exception:
        # The authority answered, so it may have processed the request:
        # retried later as 'unknown' (queried before any resend), never as
        # 'transient' which would send it again.
        raise ServiceFailure('unknown', gettext(
                'account_einvoice.msg_response_too_large',
                size=exception.limit), response=Response(
                status=exception.reply.status_code,
                content_type=exception.reply.headers.get('Content-Type', ''),
                content=exception.prefix,
                duration=time.monotonic() - started))
    except https.DeadlineExceeded as exception:
        raise ServiceFailure('unknown', gettext(
                'account_einvoice.msg_call_deadline',
                seconds=round(exception.args[0], 1)))
    except requests.exceptions.SSLError as exception:
        # The TLS handshake failed: the request was not processed, and it
        # is our certificate or trust setup that has to be fixed.
        if any(t in str(exception) for t in WEAK_KEY_ERRORS):
            raise ServiceFailure('configuration', gettext(
                    'account_einvoice.msg_tls_weak_server_key',
                    host=https.host(url), error=_describe(exception)))
        raise ServiceFailure('configuration', _describe(exception))
    except (requests.exceptions.ConnectTimeout,
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema) as exception:
        raise ServiceFailure('not_sent', _describe(exception))
    except requests.exceptions.ConnectionError as exception:
        if _refused(exception):
            raise ServiceFailure('not_sent', _describe(exception))
        raise ServiceFailure('unknown', _describe(exception))
    except requests.exceptions.RequestException as exception:
        raise ServiceFailure('unknown', _describe(exception))
    return Response(
        status=reply.status_code,
        content_type=reply.headers.get('Content-Type', ''),
        content=content,
        duration=duration)


def _refused(exception):
    "True when the connection could not even be opened"
    from urllib3.exceptions import NameResolutionError, NewConnectionError
    cause = exception.args[0] if exception.args else None
    reason = getattr(cause, 'reason', cause)
    return isinstance(reason, (NewConnectionError, NameResolutionError))


def parse(response):
    """Return the first child of the SOAP Body, raise ServiceFailure for
    anything that is not a SOAP answer.  A SOAP Fault is returned as a
    ServiceFailure of kind 'fault' for the service to classify."""
    if 'html' in response.content_type.lower():
        raise ServiceFailure('unknown', (
                f"HTTP {response.status}: the authority answered a web page "
                "instead of SOAP"), response=response)
    try:
        root = parse_untrusted(response.content)
    except etree.XMLSyntaxError as exception:
        raise ServiceFailure('unknown', (
                f"HTTP {response.status}: unreadable response "
                f"({exception})"), response=response)
    body = root.find(f'{{{SOAP_ENV}}}Body')
    if root.tag != f'{{{SOAP_ENV}}}Envelope' or body is None or not len(body):
        raise ServiceFailure('unknown', (
                f"HTTP {response.status}: the response is not a SOAP "
                "envelope"), response=response)
    response.body = body[0]
    if response.body.tag == f'{{{SOAP_ENV}}}Fault':
        return response
    if response.status >= 400:
        raise ServiceFailure('unknown', (
                f"HTTP {response.status} from the authority"),
            response=response)
    return response


def fault(response):
    "Return (faultcode, faultstring) when response is a SOAP Fault"
    body = response.body
    if body is None or body.tag != f'{{{SOAP_ENV}}}Fault':
        return None
    return (body.findtext('faultcode') or '').strip(), (
        body.findtext('faultstring') or '').strip()
