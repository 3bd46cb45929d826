"""AFIP/ARCA WSAA (authentication) for the authority sandbox.

``loginCms(in0)`` at ``/ws/services/LoginCms`` (WSDL ``ar_afip/wsaa.wsdl``,
body validated against its embedded schema; the ``loginCms`` element is
also accepted in the ``https://wsaahomo.afip.gov.ar/ws/services/LoginCms``
namespace, as the real service does).

``in0`` is the base64 of a CMS SignedData (DER or BER) with the TRA embedded
as eContent.  Checks, in order (SOAP 1.1 faults, ``faultcode`` in the Axis
namespace ``ns1`` = ``http://xml.apache.org/axis/``):

================================ =============================================
``ns1:cms.bad``                  not base64 / not a CMS SignedData / no
                                 embedded content / signer certificate absent
``ns1:cms.cert.untrusted``       signer certificate not issued by the sandbox
                                 CA (or option ``trusted_ca``)
``ns1:cms.cert.expired``         signer certificate outside its validity
``ns1:cms.sign.invalid``         messageDigest != digest(eContent), content
                                 type mismatch, or bad signature
``ns1:xml.bad``                  TRA not parsable / fields missing
``ns1:xml.generationTime.invalid`` generationTime more than
                                 ``max_skew_seconds`` (600) in the future or
                                 older than 24 h
``ns1:xml.expirationTime.invalid`` expirationTime not after now / not after
                                 generationTime / more than 24 h after it
``ns1:coe.notAuthorized``        service not in option ``services``
``ns1:coe.alreadyAuthenticated`` a ticket for the same CUIT and service is
                                 still valid
================================ =============================================

Times without an offset are read as Argentine time (-03:00).  The CUIT is
taken from the signer certificate's subject ``serialNumber`` (``CUIT n``).

Success: ``loginCmsReturn`` = the XML text of a ``loginTicketResponse``
(``-03:00`` times, expiration = now + option ``ticket_lifetime`` seconds,
default 12 h; random base64 token and sign).

Options: ``ticket_lifetime`` (43200), ``services`` (``['wsfe']``),
``max_skew_seconds`` (600), ``clock_offset_seconds`` (0: the server clock),
``trusted_ca`` (PEM path or list; default: the sandbox CA),
``environment`` (``homologacion``).  Actions through ``set_option`` (not
stored): ``expire_tickets`` = CUIT, list of CUITs or ``'*'`` (the tickets
expire now: WSFEv1 answers 600 and a new login is allowed).

Summary: ``keys`` = ``[signer CUIT]``, ``issued`` = ``[CUIT]`` on success,
``fault`` = the fault code otherwise.

CMS verification uses a small DER/BER reader of our own (no asn1crypto):
ContentInfo -> SignedData -> certificates, encapContentInfo/eContent,
SignerInfo (sid, digestAlgorithm, signedAttrs, signature).  The signature is
checked with ``cryptography`` over the DER of the signedAttrs re-tagged as a
SET (or over eContent when there are no signed attributes); RSA PKCS#1 v1.5,
ECDSA and Ed25519 signer keys are supported.
"""
import base64
import datetime
import secrets
import threading
import time

from cryptography import x509
from lxml import etree

from .afip import AR_TZ, AXIS_NS, CoreAware
from .afip_cms import (
    CMS_MESSAGES, CMSError, Node, _signer_certificate, certificate_cuit,
    parse_cms, verify_cms)
from .core import (
    SOAP11_NS, SandboxService, SoapFault, SoapResponse, XMLError, parse_xml)

__all__ = ['WSAAService', 'TicketStore', 'CMSError', 'parse_cms',
    'verify_cms', 'Node']

WSAA_NS = 'http://wsaa.view.sua.dvadac.desein.afip.gov'
WSAA_ALT_NS = 'https://wsaahomo.afip.gov.ar/ws/services/LoginCms'

MESSAGES = dict(CMS_MESSAGES, **{
    'xml.bad': 'No se ha podido interpretar el XML contra el SCHEMA',
    'xml.generationTime.invalid': ('El campo generationTime posee una fecha '
        'en el futuro o con mas de 24 horas de antiguedad'),
    'xml.expirationTime.invalid': ('El campo expirationTime posee una fecha '
        'de vencimiento en el pasado o en mas de 24 horas'),
    'coe.notAuthorized': 'Computador no autorizado a acceder al servicio',
    'coe.alreadyAuthenticated': ('El CEE ya posee un TA valido para el '
        'acceso al WSN solicitado'),
    })

SOURCE_DN = 'CN=wsaahomo, O=AFIP, C=AR, SERIALNUMBER=CUIT 33693450239'


# -- tickets ------------------------------------------------------------------

class TicketStore:
    """Issued access tickets, shared with the WSFEv1 service.  Times are
    epoch seconds of the issuing service's clock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.tickets = {}       # token -> dict

    def add(self, ticket):
        with self.lock:
            self.tickets[ticket['token']] = ticket

    def get(self, token):
        with self.lock:
            ticket = self.tickets.get(token)
            return dict(ticket) if ticket else None

    def valid_for(self, env, cuit, service, now):
        with self.lock:
            return [dict(t) for t in self.tickets.values()
                if t['env'] == env and t['cuit'] == cuit
                and t['service'] == service and t['expiration'] > now]

    def expire(self, cuits, now):
        with self.lock:
            for ticket in self.tickets.values():
                if cuits == '*' or ticket['cuit'] in cuits:
                    ticket['expiration'] = min(ticket['expiration'], now - 1)

    def clear(self):
        with self.lock:
            self.tickets = {}

    def dump(self):
        with self.lock:
            return [dict(t) for t in self.tickets.values()]


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, AR_TZ).isoformat(
        timespec='milliseconds')


def _parse_time(text):
    text = (text or '').strip()
    if text.endswith('Z'):
        text = text[:-1] + '+00:00'
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=AR_TZ)
    return value.timestamp()


class WSAAService(CoreAware, SandboxService):
    name = 'afip_wsaa'
    wsdl = {'/ws/services/LoginCms': 'ar_afip/wsaa.wsdl'}
    schema = 'ar_afip/wsaa.wsdl'
    default_options = {
        'ticket_lifetime': 12 * 3600,
        'services': ['wsfe'],
        'max_skew_seconds': 600,
        'clock_offset_seconds': 0,
        'trusted_ca': None,
        'environment': 'homologacion',
        }

    def __init__(self):
        super().__init__()
        self.tickets = TicketStore()
        self._ca_cache = {}

    # -- plumbing --
    def now(self):
        return time.time() + float(
            self.options.get('clock_offset_seconds') or 0)

    @property
    def environment(self):
        return self.options.get('environment') or 'homologacion'

    def set_option(self, name, value):
        if name == 'expire_tickets':
            cuits = value if value == '*' else [str(c) for c in (
                    value if isinstance(value, (list, tuple)) else [value])]
            self.tickets.expire(cuits, self.now())
            return
        super().set_option(name, value)

    def reset(self):
        self.tickets.clear()

    def state(self):
        return {'tickets': self.tickets.dump()}

    def operation_for(self, body, ctx):
        if body.tag == '{%s}loginCms' % WSAA_ALT_NS:
            return 'loginCms'
        return super().operation_for(body, ctx)

    def validate_body(self, operation, body):
        if body.tag == '{%s}loginCms' % WSAA_ALT_NS:
            # accepted by WSAA: validate as the WSDL's namespace
            body = etree.fromstring(etree.tostring(body))
            for el in body.iter():
                if isinstance(el.tag, str) and el.tag.startswith(
                        '{%s}' % WSAA_ALT_NS):
                    el.tag = '{%s}%s' % (WSAA_NS, etree.QName(el).localname)
        return super().validate_body(operation, body)

    def schema_fault(self, operation, message, ctx):
        return SoapFault('Server.userException',
            'org.xml.sax.SAXException: %s' % message)

    def protocol_fault(self, kind, message, ctx):
        return SoapFault('Server.userException',
            'org.xml.sax.SAXException: %s' % message)

    def trusted_cas(self):
        paths = self.options.get('trusted_ca')
        if not paths:
            core = self._ensure_attached()
            pki = getattr(core, 'pki', None)
            paths = [pki.ca_path] if pki is not None else []
        elif isinstance(paths, str):
            paths = [paths]
        result = []
        for path in paths:
            cert = self._ca_cache.get(path)
            if cert is None:
                with open(path, 'rb') as fh:
                    cert = self._ca_cache[path] = (
                        x509.load_pem_x509_certificate(fh.read()))
            result.append(cert)
        return result

    def fault(self, code, ctx, message=None):
        """A WSAA fault answer (the core's SoapFault cannot declare the
        ``ns1`` prefix, so the Fault element is built here)"""
        ctx.note(fault='ns1:' + code)
        text = message or MESSAGES[code]
        if ctx.soap_ns != SOAP11_NS:
            return SoapFault('Receiver', '%s: %s' % (code, text))
        fault = etree.Element('{%s}Fault' % SOAP11_NS)
        etree.SubElement(fault, 'faultcode',
            nsmap={'ns1': AXIS_NS}).text = 'ns1:' + code
        etree.SubElement(fault, 'faultstring').text = text
        detail = etree.SubElement(fault, 'detail')
        etree.SubElement(detail, '{%s}exceptionName' % AXIS_NS,
            nsmap={'ns2': AXIS_NS}).text = (
            'gov.afip.desein.dvadac.sua.view.wsaa.LoginFault')
        etree.SubElement(detail, '{%s}hostname' % AXIS_NS,
            nsmap={'ns3': AXIS_NS}).text = 'wsaa.sandbox.invalid'
        return SoapResponse(fault, status=500)

    # -- processing --
    def _in0(self, body):
        for child in body:
            if isinstance(child.tag, str) and etree.QName(
                    child).localname == 'in0':
                return child.text or ''
        return ''

    def _decode(self, body):
        text = ''.join(self._in0(body).split())
        try:
            return base64.b64decode(text, validate=True)
        except (ValueError, TypeError) as e:
            raise CMSError('cms.bad', 'CMS no es valido: base64') from e

    def summarize(self, operation, body, caller, ctx):
        try:
            cms = parse_cms(self._decode(body))
            cuit = certificate_cuit(_signer_certificate(cms))
        except (CMSError, ValueError):
            return {'keys': []}
        return {'keys': [cuit] if cuit else []}

    def handle(self, operation, body, caller, ctx):
        if operation != 'loginCms':
            raise SoapFault('Server.userException',
                'No such operation %s' % operation)
        now = self.now()
        try:
            data = self._decode(body)
            content, cert = verify_cms(data, self.trusted_cas(),
                datetime.datetime.fromtimestamp(now, datetime.timezone.utc))
        except CMSError as e:
            return self.fault(e.code, ctx, str(e))
        cuit = certificate_cuit(cert)
        try:
            tra = parse_xml(content)
            if etree.QName(tra).localname != 'loginTicketRequest':
                raise XMLError('not a loginTicketRequest')
            header = tra.find('header')
            unique_id = int(header.findtext('uniqueId'))
            gen_text = header.findtext('generationTime')
            exp_text = header.findtext('expirationTime')
            service = (tra.findtext('service') or '').strip()
            if not (gen_text and exp_text and service):
                raise XMLError('missing fields')
        except (XMLError, AttributeError, TypeError, ValueError):
            return self.fault('xml.bad', ctx)
        try:
            generation = _parse_time(gen_text)
        except ValueError:
            return self.fault('xml.generationTime.invalid', ctx)
        try:
            expiration = _parse_time(exp_text)
        except ValueError:
            return self.fault('xml.expirationTime.invalid', ctx)
        skew = float(self.options.get('max_skew_seconds') or 0)
        if generation > now + skew or generation < now - 24 * 3600:
            return self.fault('xml.generationTime.invalid', ctx)
        if (expiration <= now or expiration <= generation
                or expiration - generation > 24 * 3600):
            return self.fault('xml.expirationTime.invalid', ctx)
        if service not in (self.options.get('services') or []):
            return self.fault('coe.notAuthorized', ctx)
        env = self.environment
        if self.tickets.valid_for(env, cuit, service, now):
            return self.fault('coe.alreadyAuthenticated', ctx)
        lifetime = float(self.options.get('ticket_lifetime') or 0)
        ticket = {
            'env': env, 'cuit': cuit, 'service': service,
            'dn': cert.subject.rfc4514_string(),
            'token': base64.b64encode(secrets.token_bytes(48)).decode(),
            'sign': base64.b64encode(secrets.token_bytes(24)).decode(),
            'unique_id': unique_id, 'generation': now,
            'expiration': now + lifetime,
            }
        self.tickets.add(ticket)
        ctx.note(issued=[cuit])
        E = etree.Element
        response = E('loginTicketResponse', version='1.0')
        head = etree.SubElement(response, 'header')
        for tag, value in (('source', SOURCE_DN),
                ('destination', ticket['dn']),
                ('uniqueId', str(secrets.randbelow(2 ** 31))),
                ('generationTime', _iso(now)),
                ('expirationTime', _iso(ticket['expiration']))):
            etree.SubElement(head, tag).text = value
        creds = etree.SubElement(response, 'credentials')
        etree.SubElement(creds, 'token').text = ticket['token']
        etree.SubElement(creds, 'sign').text = ticket['sign']
        text = etree.tostring(response, xml_declaration=True,
            encoding='UTF-8', standalone=True).decode('utf-8')
        ns = etree.QName(body).namespace or WSAA_NS
        result = E('{%s}loginCmsResponse' % ns, nsmap={None: ns})
        etree.SubElement(result, '{%s}loginCmsReturn' % ns).text = text
        return result
