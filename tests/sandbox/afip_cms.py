"""CMS (PKCS#7) SignedData verification for the WSAA sandbox
(:mod:`tests.sandbox.afip_wsaa`): a minimal DER/BER reader, the signer's
chain to the sandbox CA and the signature over the TRA."""
import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .pki import tax_id_from_serial

__all__ = ['CMSError', 'Node', 'parse_cms', 'verify_cms', 'certificate_cuit',
    'CMS_MESSAGES']

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

#: WSAA fault texts of the CMS checks
CMS_MESSAGES = {
    'cms.bad': 'CMS no es valido',
    'cms.cert.untrusted': 'Certificado no emitido por AC de confianza',
    'cms.cert.expired': 'Certificado expirado',
    'cms.sign.invalid': 'Firma inválida o algoritmo no soportado',
    }


# -- a minimal DER/BER reader -------------------------------------------------

class CMSError(ValueError):
    "The CMS cannot be used: ``code`` is the WSAA fault (without ``ns1:``)"

    def __init__(self, code, message=None):
        super().__init__(message or CMS_MESSAGES[code])
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
