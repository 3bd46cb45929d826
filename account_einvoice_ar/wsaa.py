# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""WSAA: the login ticket request (TRA), its CMS signature and loginCms.

The TRA is signed in-process with ``cryptography`` (CMS SignedData, content
embedded, binary mode so the XML is signed byte for byte, SHA-256); no
``openssl`` subprocess and no key ever written anywhere.
"""
import base64
import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from lxml import etree

from trytond.modules.account_einvoice import schema, transport
from trytond.modules.account_einvoice.exceptions import ServiceFailure

from .afip import AR_TZ

WSAA_NS = 'http://wsaa.view.sua.dvadac.desein.afip.gov'
WSDL = 'ar_afip/wsaa.wsdl'
WSDL_URL = 'https://wsaahomo.afip.gov.ar/ws/services/LoginCms?wsdl'
#: TRA generation time is put this far back (clock differences)
BACKDATE = dt.timedelta(minutes=5)
#: TRA expiration (WSAA decides the ticket's own lifetime, 12 h)
VALIDITY = dt.timedelta(hours=12)
CLOCK_FAULTS = {'xml.generationTime.invalid', 'xml.expirationTime.invalid'}


@dataclass
class LoginTicket:
    token: str
    sign: str
    generation: dt.datetime     # UTC, naive
    expiration: dt.datetime     # UTC, naive


def utc(value):
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def login_ticket_request(service, now):
    """The TRA for service; now is the (corrected) aware current time.
    Times carry an explicit UTC offset (Argentine time)."""
    now = now.astimezone(AR_TZ).replace(microsecond=0)
    root = etree.Element('loginTicketRequest', version='1.0')
    header = etree.SubElement(root, 'header')
    etree.SubElement(header, 'uniqueId').text = str(
        secrets.randbelow(2 ** 31 - 1) + 1)
    etree.SubElement(header, 'generationTime').text = (
        now - BACKDATE).isoformat()
    etree.SubElement(header, 'expirationTime').text = (
        now + VALIDITY).isoformat()
    etree.SubElement(root, 'service').text = service
    return etree.tostring(root, xml_declaration=True, encoding='UTF-8')


def sign(tra, certificate, private_key):
    "CMS SignedData (DER) of tra, content embedded, SHA-256, binary mode"
    return (pkcs7.PKCS7SignatureBuilder()
        .set_data(tra)
        .add_signer(certificate, private_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))


def login_body(cms):
    body = etree.Element(f'{{{WSAA_NS}}}loginCms', nsmap={None: WSAA_NS})
    etree.SubElement(body, f'{{{WSAA_NS}}}in0').text = (
        base64.b64encode(cms).decode())
    return body


def parse_login(body):
    "Return the LoginTicket of a loginCmsResponse body"
    text = body.findtext(f'{{{WSAA_NS}}}loginCmsReturn')
    if text is None:
        # some deployments answer in the port's namespace
        for child in body:
            if etree.QName(child).localname == 'loginCmsReturn':
                text = child.text
    if not text:
        raise ServiceFailure('unknown', "WSAA answered without a ticket")
    response = schema.parse_untrusted(text.strip().encode('utf-8'))
    header = response.find('header')
    credentials = response.find('credentials')
    try:
        return LoginTicket(
            token=credentials.findtext('token').strip(),
            sign=credentials.findtext('sign').strip(),
            generation=utc(dt.datetime.fromisoformat(
                    header.findtext('generationTime').strip())),
            expiration=utc(dt.datetime.fromisoformat(
                    header.findtext('expirationTime').strip())))
    except (AttributeError, ValueError) as exception:
        raise ServiceFailure(
            'unknown', f"unreadable WSAA ticket: {exception}")


def fault_code(response):
    "The WSAA fault code without its namespace prefix, or None"
    fault = transport.fault(response)
    if not fault:
        return None, None
    code, message = fault
    return code.rpartition(':')[2], message


def login(url, certificate, service, now, timeout=None):
    """Call loginCms; return (LoginTicket, None) or (None, (code, message))
    for a WSAA fault; network failures raise ServiceFailure."""
    tra = login_ticket_request(service, now)
    cms = sign(tra, certificate.certificate, certificate.private_key)
    data = transport.envelope(login_body(cms))
    response = transport.parse(transport.post(
            url, data, '', certificate, timeout=timeout))
    code, message = fault_code(response)
    if code:
        return None, (code, message)
    return parse_login(response.body), None
