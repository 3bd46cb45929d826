# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Calls to the authorities over HTTPS: SOAP 1.1, SOAP 1.2, HTTP with a
JSON body and answer ('json'), or a raw payload ('http').

Failures are translated into ServiceFailure kinds; the decisive question is
whether the authority may have processed the request ('unknown') or
certainly did not ('not_sent').
"""
import datetime as dt
import email.utils
import json
import time
from dataclasses import dataclass, field

import requests
from lxml import etree

from trytond.i18n import gettext

from . import https
from .exceptions import ServiceFailure
from .schema import parse_untrusted

SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/'
SOAP12_ENV = 'http://www.w3.org/2003/05/soap-envelope'
#: the envelope namespace of each SOAP protocol
ENVELOPES = {'soap11': SOAP_ENV, 'soap12': SOAP12_ENV}
PROTOCOLS = ('soap11', 'soap12', 'json', 'http')
#: headers never stored nor logged, whatever the service declares
SECRET_HEADERS = frozenset({
        'authorization', 'proxy-authorization', 'cookie', 'set-cookie'})
# Texts of TLS failures caused by keys weaker than the security level
WEAK_KEY_ERRORS = ('DH_KEY_TOO_SMALL', 'EE_KEY_TOO_SMALL', 'CA_KEY_TOO_SMALL',
    'KEY_TOO_SMALL', 'key too weak', 'key too small')


@dataclass
class Response:
    status: int
    content_type: str
    content: bytes
    duration: float
    #: the first child of the SOAP Body, the JSON value, or None
    body: object = None
    #: the HTTP headers, names as received (read them with header())
    headers: dict = field(default_factory=dict)
    protocol: str = 'soap11'

    def header(self, name, default=None):
        "The value of header name, whatever its case"
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return default


def envelope(body, header=None, protocol='soap11'):
    "Wrap body (an lxml element) in a SOAP envelope and serialize it"
    namespace = ENVELOPES[protocol]
    root = etree.Element(
        f'{{{namespace}}}Envelope', nsmap={'soapenv': namespace})
    soap_header = etree.SubElement(root, f'{{{namespace}}}Header')
    if header is not None:
        soap_header.append(header)
    etree.SubElement(root, f'{{{namespace}}}Body').append(body)
    return etree.tostring(root, xml_declaration=True, encoding='UTF-8')


def serialize(request):
    """The bytes to send for a service.Request: its SOAP envelope, or its
    payload (a JSON value is encoded for 'json')"""
    if request.protocol in ENVELOPES:
        return envelope(request.body, request.header, request.protocol)
    payload = request.payload
    if payload is None:
        return b''
    if request.protocol == 'json' and not isinstance(
            payload, (bytes, bytearray)):
        payload = json.dumps(payload, ensure_ascii=False).encode('utf-8')
    return bytes(payload)


def protocol_headers(protocol, action=None):
    "The HTTP headers a protocol requires (action: the SOAP action)"
    if protocol == 'soap11':
        return {
            'Content-Type': 'text/xml; charset=utf-8',
            'SOAPAction': f'"{action or ""}"',
            }
    if protocol == 'soap12':
        content_type = 'application/soap+xml; charset=utf-8'
        if action:
            content_type += f'; action="{action}"'
        return {'Content-Type': content_type}
    if protocol == 'json':
        return {
            'Content-Type': 'application/json',
            'Accept': 'application/json',
            }
    return {}


def public_headers(headers, secret=()):
    """headers without the secret ones (names in secret, any case, and
    SECRET_HEADERS): what may be stored or logged"""
    hidden = SECRET_HEADERS | {n.lower() for n in secret}
    return {k: v for k, v in (headers or {}).items()
        if k.lower() not in hidden}


def _describe(exception):
    text = str(exception)
    return f'{exception.__class__.__name__}: {text}' if text else (
        exception.__class__.__name__)


def send(method, url, data, headers, certificate, timeout=None):
    """Make an HTTPS call; return Response or raise ServiceFailure.

    timeout (seconds to wait for the answer) replaces the configured one."""
    started = time.monotonic()
    try:
        # A redirection is an answer: the request may have been processed
        # there, and following it would send it (and its credentials) on.
        reply, content, duration = https.request(
            method, url, certificate, timeout=timeout, data=data,
            headers=headers, allow_redirects=False)
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
                duration=time.monotonic() - started,
                headers=dict(exception.reply.headers)))
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
        duration=duration,
        headers=dict(reply.headers))


def post(url, data, soap_action, certificate, timeout=None):
    "POST a SOAP 1.1 request; return Response or raise ServiceFailure"
    return send('POST', url, data, protocol_headers('soap11', soap_action),
        certificate, timeout=timeout)


def _refused(exception):
    "True when the connection could not even be opened"
    from urllib3.exceptions import NameResolutionError, NewConnectionError
    cause = exception.args[0] if exception.args else None
    reason = getattr(cause, 'reason', cause)
    return isinstance(reason, (NewConnectionError, NameResolutionError))


def parse(response, protocol='soap11'):
    """Read the answer of a call made with protocol into response.body and
    return response; raise ServiceFailure('unknown') for an answer that
    cannot be read.

    SOAP: the first child of the Body (1.1 or 1.2 envelope); a Fault is
    returned as such for the service to classify.  'json': the decoded
    value (None for an empty or unreadable answer with an error status:
    the status tells).  'http': the body is left to the service."""
    response.protocol = protocol
    if protocol in ENVELOPES:
        return _parse_soap(response)
    if protocol == 'json':
        return _parse_json(response)
    return response


def _parse_soap(response):
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
    # A server may answer a version mismatch in the other version
    namespace = etree.QName(root).namespace
    body = root.find(f'{{{namespace}}}Body')
    if (namespace not in ENVELOPES.values()
            or root.tag != f'{{{namespace}}}Envelope'
            or body is None or not len(body)):
        raise ServiceFailure('unknown', (
                f"HTTP {response.status}: the response is not a SOAP "
                "envelope"), response=response)
    response.body = body[0]
    if response.body.tag == f'{{{namespace}}}Fault':
        return response
    if response.status >= 400:
        raise ServiceFailure('unknown', (
                f"HTTP {response.status} from the authority"),
            response=response)
    return response


def _parse_json(response):
    ok = 200 <= response.status < 300
    if response.status == 204 or (
            not ok and not response.content.strip()):
        return response
    try:
        response.body = json.loads(response.content)
    except (ValueError, RecursionError) as exception:
        if not ok:
            return response
        raise ServiceFailure('unknown', gettext(
                'account_einvoice.msg_answer_not_json',
                status=response.status, error=_describe(exception)[:200]),
            response=response)
    return response


def fault(response):
    "Return (code, reason) when response is a SOAP 1.1 or 1.2 Fault"
    body = response.body
    if not etree.iselement(body):
        return None
    if body.tag == f'{{{SOAP_ENV}}}Fault':
        return (body.findtext('faultcode') or '').strip(), (
            body.findtext('faultstring') or '').strip()
    if body.tag == f'{{{SOAP12_ENV}}}Fault':
        code = body.findtext(f'{{{SOAP12_ENV}}}Code/{{{SOAP12_ENV}}}Value')
        reason = body.findtext(
            f'{{{SOAP12_ENV}}}Reason/{{{SOAP12_ENV}}}Text')
        return (code or '').strip(), (reason or '').strip()
    return None


def retry_after(response, now=None):
    """The time the answer's Retry-After header (seconds or an HTTP-date)
    names, as a naive local datetime; None without a readable one"""
    value = (response.header('Retry-After') or '').strip()
    if not value:
        return None
    now = now or dt.datetime.now()
    try:
        if value.isdigit():
            return now + dt.timedelta(seconds=int(value))
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return max(now, when.astimezone().replace(tzinfo=None))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
