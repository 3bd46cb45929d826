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
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from lxml import etree

from .afip import AR_TZ, AXIS_NS, CoreAware
from .core import (
    SOAP11_NS, SandboxService, SoapFault, SoapResponse, XMLError, parse_xml)
from .pki import tax_id_from_serial

__all__ = ['WSAAService', 'TicketStore', 'CMSError', 'parse_cms',
    'verify_cms']

WSAA_NS = 'http://wsaa.view.sua.dvadac.desein.afip.gov'
WSAA_ALT_NS = 'https://wsaahomo.afip.gov.ar/ws/services/LoginCms'

OID_SIGNED_DATA = '1.2.840.113549.1.7.2'
OID_DATA = '1.2.840.113549.1.7.1'
OID_CONTENT_TYPE = '1.2.840.113549.1.9.3'
OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4'
DIGESTS = {
    '1.3.14.3.2.26': hashes.SHA1,
    '2.16.840.1.101.3.4.2.1': hashes.SHA256,
    '2.16.840.1.101.3.4.2.2': hashes.SHA384,
    '2.16.840.1.101.3.4.2.3': hashes.SHA512,
    '2.16.840.1.101.3.4.2.4': hashes.SHA224,
    }

MESSAGES = {
    'cms.bad': 'CMS no es valido',
    'cms.cert.untrusted': 'Certificado no emitido por AC de confianza',
    'cms.cert.expired': 'Certificado expirado',
    'cms.sign.invalid': 'Firma inválida o algoritmo no soportado',
    'xml.bad': 'No se ha podido interpretar el XML contra el SCHEMA',
    'xml.generationTime.invalid': ('El campo generationTime posee una fecha '
        'en el futuro o con mas de 24 horas de antiguedad'),
    'xml.expirationTime.invalid': ('El campo expirationTime posee una fecha '
        'de vencimiento en el pasado o en mas de 24 horas'),
    'coe.notAuthorized': 'Computador no autorizado a acceder al servicio',
    'coe.alreadyAuthenticated': ('El CEE ya posee un TA valido para el '
        'acceso al WSN solicitado'),
    }

SOURCE_DN = 'CN=wsaahomo, O=AFIP, C=AR, SERIALNUMBER=CUIT 33693450239'


# -- a minimal DER/BER reader -------------------------------------------------

class CMSError(ValueError):
    "The CMS cannot be used: ``code`` is the WSAA fault (without ``ns1:``)"

    def __init__(self, code, message=None):
        super().__init__(message or MESSAGES[code])
        self.code = code


class Node:
    """One TLV: ``cls`` (0 universal, 2 context), ``tag`` number,
    ``constructed``; ``raw`` (whole encoding), ``content``; ``children``"""
    __slots__ = ('data', 'cls', 'tag', 'constructed', 'start', 'cstart',
        'cend', 'end', '_children', 'depth')

    def __init__(self, data, pos, depth=0):
        if depth > 50:
            raise ValueError('ASN.1 nested too deeply')
        self.data = data
        self.depth = depth
        self.start = pos
        first = self._byte(pos)
        self.cls = first >> 6
        self.constructed = bool(first & 0x20)
        tag = first & 0x1f
        pos += 1
        if tag == 0x1f:
            tag = 0
            while True:
                b = self._byte(pos)
                pos += 1
                tag = (tag << 7) | (b & 0x7f)
                if not b & 0x80:
                    break
                if tag > 1 << 28:
                    raise ValueError('ASN.1 tag too large')
        self.tag = tag
        length = self._byte(pos)
        pos += 1
        self._children = None
        if length == 0x80:
            if not self.constructed:
                raise ValueError('Indefinite length on a primitive')
            self.cstart = pos
            children = []
            while self.data[pos:pos + 2] != b'\x00\x00':
                child = Node(data, pos, depth + 1)
                children.append(child)
                pos = child.end
                if pos >= len(data):
                    raise ValueError('Missing end-of-contents')
            self._children = children
            self.cend = pos
            self.end = pos + 2
            return
        if length & 0x80:
            n = length & 0x7f
            if n > 4:
                raise ValueError('ASN.1 length too large')
            length = int.from_bytes(data[pos:pos + n], 'big')
            pos += n
        self.cstart = pos
        self.cend = pos + length
        self.end = self.cend
        if self.end > len(data):
            raise ValueError('ASN.1 value truncated')

    def _byte(self, pos):
        if pos >= len(self.data):
            raise ValueError('ASN.1 value truncated')
        return self.data[pos]

    @property
    def raw(self):
        return self.data[self.start:self.end]

    @property
    def content(self):
        return self.data[self.cstart:self.cend]

    @property
    def children(self):
        if self._children is None:
            if not self.constructed:
                raise ValueError('Primitive value has no children')
            children, pos = [], self.cstart
            while pos < self.cend:
                child = Node(self.data, pos, self.depth + 1)
                children.append(child)
                pos = child.end
            if pos != self.cend:
                raise ValueError('ASN.1 children overflow')
            self._children = children
        return self._children

    def is_(self, cls, tag):
        return self.cls == cls and self.tag == tag

    def expect(self, tag, cls=0):
        if not self.is_(cls, tag):
            raise ValueError('Unexpected ASN.1 tag %d/%d (wanted %d/%d)' % (
                    self.cls, self.tag, cls, tag))
        return self

    def oid(self):
        self.expect(6)
        content = self.content
        if not content:
            raise ValueError('Empty OID')
        arcs, value = [], 0
        for b in content:
            value = (value << 7) | (b & 0x7f)
            if not b & 0x80:
                arcs.append(value)
                value = 0
        first = arcs[0]
        head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
        return '.'.join(str(a) for a in head + arcs[1:])

    def integer(self):
        self.expect(2)
        return int.from_bytes(self.content, 'big', signed=True)

    def octets(self):
        "Value of an OCTET STRING (primitive or constructed)"
        self.expect(4)
        if not self.constructed:
            return self.content
        return b''.join(c.octets() for c in self.children)


def parse_cms(data):
    """Parse a CMS SignedData.  Returns a dict: ``content`` (eContent
    bytes), ``content_type``, ``certificates`` (x509 list), ``signer``
    (dict: ``sid`` ('issuer_serial', issuer DER, serial) or ('ski', bytes),
    ``digest_oid``, ``signed_attrs`` (DER to verify or None), ``attrs``
    {oid: [value nodes]}, ``signature``).  Raises :class:`CMSError`
    (``cms.bad``)."""
    try:
        root = Node(data, 0).expect(16)
        if root.end != len(data):
            raise ValueError('Trailing data after the CMS')
        kids = root.children
        if kids[0].oid() != OID_SIGNED_DATA:
            raise ValueError('Not a SignedData')
        signed = kids[1].expect(0, cls=2).children[0].expect(16)
        items = signed.children
        encap = items[2].expect(16).children
        content_type = encap[0].oid()
        if len(encap) < 2:
            raise CMSError('cms.bad', 'El CMS no contiene el TRA (firma '
                'separada)')
        content = encap[1].expect(0, cls=2).children[0].octets()
        certificates, signer_infos = [], None
        for item in items[3:]:
            if item.is_(2, 0):
                for cert in item.children:
                    if cert.is_(0, 16):
                        certificates.append(
                            x509.load_der_x509_certificate(cert.raw))
            elif item.is_(0, 17):
                signer_infos = item.children
        if not signer_infos:
            raise ValueError('No SignerInfo')
        info = signer_infos[0].expect(16).children
        sid = info[1]
        if sid.is_(0, 16):
            issuer, serial = sid.children[:2]
            sid = ('issuer_serial', issuer.raw, serial.integer())
        elif sid.is_(2, 0):
            sid = ('ski', sid.content if not sid.constructed
                else sid.children[0].octets())
        else:
            raise ValueError('Unknown signer identifier')
        digest_oid = info[2].expect(16).children[0].oid()
        pos = 3
        signed_attrs, attrs = None, {}
        if info[pos].is_(2, 0):
            node = info[pos]
            # the signature covers the DER of the SET OF attributes
            raw = node.raw
            signed_attrs = b'\x31' + raw[1:]
            for attr in node.children:
                parts = attr.expect(16).children
                attrs[parts[0].oid()] = parts[1].expect(17).children
            pos += 1
        info[pos].expect(16)     # signatureAlgorithm
        signature = info[pos + 1].octets()
    except CMSError:
        raise
    except (ValueError, IndexError, TypeError) as e:
        raise CMSError('cms.bad', 'CMS no es valido: %s' % e) from e
    return {'content': content, 'content_type': content_type,
        'certificates': certificates, 'signer': {'sid': sid,
            'digest_oid': digest_oid, 'signed_attrs': signed_attrs,
            'attrs': attrs, 'signature': signature}}


def _signer_certificate(cms):
    sid = cms['signer']['sid']
    for cert in cms['certificates']:
        if sid[0] == 'issuer_serial':
            if (cert.serial_number == sid[2]
                    and cert.issuer.public_bytes() == sid[1]):
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(
                    x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid[1]:
                return cert
    raise CMSError('cms.bad', 'CMS no es valido: no contiene el '
        'certificado del firmante')


def _issued_by(cert, issuer):
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _verify_chain(cert, trusted, extra, now):
    chain, current = [cert], cert
    for _ in range(5):
        ca = next((ca for ca in trusted if _issued_by(current, ca)), None)
        if ca is not None:
            chain.append(ca)
            break
        inter = next((c for c in extra if c not in chain
                and _issued_by(current, c)), None)
        if inter is None:
            raise CMSError('cms.cert.untrusted')
        chain.append(inter)
        current = inter
    else:
        raise CMSError('cms.cert.untrusted')
    for item in chain:
        if not (item.not_valid_before_utc <= now
                <= item.not_valid_after_utc):
            raise CMSError('cms.cert.expired')


def _verify_signature(cert, signer, content, content_type):
    digest_cls = DIGESTS.get(signer['digest_oid'])
    if digest_cls is None:
        raise CMSError('cms.sign.invalid')
    if signer['signed_attrs'] is not None:
        attrs = signer['attrs']
        try:
            md = attrs[OID_MESSAGE_DIGEST][0].octets()
            ct = attrs.get(OID_CONTENT_TYPE)
            if ct is not None and ct[0].oid() != content_type:
                raise CMSError('cms.sign.invalid')
        except (KeyError, IndexError, ValueError) as e:
            raise CMSError('cms.sign.invalid') from e
        digest = hashes.Hash(digest_cls())
        digest.update(content)
        if digest.finalize() != md:
            raise CMSError('cms.sign.invalid')
        signed = signer['signed_attrs']
    else:
        signed = content
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signer['signature'], signed, padding.PKCS1v15(),
                digest_cls())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer['signature'], signed, ec.ECDSA(digest_cls()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signer['signature'], signed)
        else:
            raise CMSError('cms.sign.invalid')
    except (InvalidSignature, ValueError) as e:
        raise CMSError('cms.sign.invalid') from e


def verify_cms(data, trusted, now=None):
    """Verify a DER/BER CMS: returns ``(content bytes, signer x509)``;
    raises :class:`CMSError`.  ``trusted``: list of CA x509 certificates."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cms = parse_cms(data)
    if cms['content_type'] != OID_DATA:
        raise CMSError('cms.bad', 'CMS no es valido: el contenido no es '
            'de tipo data')
    cert = _signer_certificate(cms)
    _verify_chain(cert, trusted, cms['certificates'], now)
    _verify_signature(cert, cms['signer'], cms['content'],
        cms['content_type'])
    return cms['content'], cert


def certificate_cuit(cert):
    values = cert.subject.get_attributes_for_oid(
        x509.oid.NameOID.SERIAL_NUMBER)
    if values:
        return tax_id_from_serial(values[0].value)
    return None


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
