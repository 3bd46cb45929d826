# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""XML signatures the authorities ask for, built on signxml (lxml and
cryptography underneath): no canonicalisation is written here.

- ``sign_enveloped``/``verify_enveloped``: enveloped XMLDSig, RSA-SHA256,
  exclusive C14N, one Reference to an ``Id`` (SIFEN's ``DE`` and ``rEve``).
- ``sign_xades``/``verify_xades``: enveloped XAdES-EPES (XAdES-BES without
  a policy), VERI*FACTU's NO-VERI*FACTU (local) mode.
- ZATCA has its own hash and signature layout: see signing_zatca.py.

Keys and certificates are cryptography objects (``certificate.load_
certificate`` gives them).  XML received as bytes is parsed with
``schema.parse_untrusted``; signxml verifies with the same safe parser and
dereferences same-document URIs only (no ``uri_resolver`` is ever given),
so a signature pointing outside the document is refused, never fetched.
What the verifiers return (the signed element, as verified) is what to
trust, not the rest of the document.
"""
from dataclasses import dataclass

from lxml import etree
from signxml import (
    DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLSigner,
    XMLVerifier)
from signxml.exceptions import SignXMLException
from signxml.util import namespaces as signxml_namespaces
from signxml.util import xades_tag
from signxml.xades import (
    XAdESDataObjectFormat, XAdESSignatureConfiguration, XAdESSignaturePolicy,
    XAdESSigner, XAdESVerifier)

from .exceptions import SignatureError
from .schema import parse_untrusted, safe_parser

DS = 'http://www.w3.org/2000/09/xmldsig#'
EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#'
C14N = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315'
ID_ATTRIBUTES = ('Id', 'ID', 'id')


@dataclass(frozen=True)
class SignaturePolicy:
    "The XAdES-EPES signature policy (SignaturePolicyIdentifier)"
    identifier: str
    digest_value: str
    digest_method: str = 'http://www.w3.org/2000/09/xmldsig#sha1'
    url: str = None
    description: str = ''


#: "Política de firma electrónica y de certificados de la Administración
#: General del Estado" (AGE v1.9): the policy of the AEAT examples of
#: signed VERI*FACTU records and of AutoFirma (hash of the PDF, SHA-1).
AGE_POLICY = SignaturePolicy(
    identifier='urn:oid:2.16.724.1.3.1.1.2.1.9',
    digest_value='G7roucf600+f03r/o0bAOQ6WAs0=',
    url='https://sede.administracion.gob.es/politica_de_firma_anexo_1.pdf')


def xml_root(data):
    "An lxml element from bytes (untrusted) or an element"
    if isinstance(data, (bytes, str)):
        if isinstance(data, str):
            data = data.encode('utf-8')
        try:
            return parse_untrusted(data)
        except etree.XMLSyntaxError as exception:
            raise SignatureError(f'unreadable XML: {exception}')
    return data


def _detached_copy(element):
    "The element alone (ancestors' namespaces kept), the caller's untouched"
    return parse_untrusted(etree.tostring(element))


def _with_id(root, reference_id):
    found = [e for e in root.iter(etree.Element)
        if any(e.get(a) == reference_id for a in ID_ATTRIBUTES)]
    if len(found) != 1:
        raise ValueError(
            f'{len(found)} elements have the Id {reference_id!r}')
    return found[0]


def _signed(signer, root, key, certificate, reference_uri):
    try:
        signed = signer.sign(
            root, key=key, cert=[certificate], reference_uri=reference_uri)
    except SignXMLException as exception:
        raise ValueError(f'cannot sign: {exception}') from exception
    # With the xmldsig namespace as default, signxml creates the children
    # of Signature without a namespace: right once written, wrong in
    # memory; read back what is written.
    return parse_untrusted(etree.tostring(signed))


def sign_enveloped(element, key, certificate, reference_id):
    """Return a signed copy of element (an lxml element, kept unchanged).

    The element whose ``Id`` is reference_id (element itself or a
    descendant) is signed: RSA-SHA256, SHA-256 digest, transforms
    enveloped-signature + exclusive C14N, exclusive C14N of SignedInfo,
    KeyInfo/X509Data with the certificate.  The ``Signature`` (default
    namespace, no prefix: SIFEN refuses prefixes) goes right after the
    referenced element, or last in element when it is the one signed."""
    root = _detached_copy(element)
    target = _with_id(root, reference_id)
    placeholder = etree.Element(
        f'{{{DS}}}Signature', nsmap={None: DS}, Id='placeholder')
    if target is root:
        root.append(placeholder)
    else:
        target.addnext(placeholder)
    signer = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256, c14n_algorithm=EXC_C14N)
    signer.namespaces = {None: DS}
    return _signed(signer, root, key, certificate, f'#{reference_id}')


def _verified(verifier, data, certificate, config):
    try:
        return verifier.verify(
            xml_root(data), x509_cert=certificate, parser=safe_parser(),
            expect_config=config)
    except (SignXMLException, etree.Error, ValueError) as exception:
        raise SignatureError(
            f'{exception.__class__.__name__}: {exception}') from exception


def verify_enveloped(data, certificate, reference_id=None):
    """Verify the one enveloped signature of data (bytes or an element)
    with certificate; return the signed element (as signxml verified it).

    With reference_id, the signature must cover the element having that Id
    (not another part of the document).  Raise SignatureError otherwise."""
    config = SignatureConfiguration(
        require_x509=True, expect_references=1,
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}))
    result = _verified(XMLVerifier(), data, certificate, config)
    if reference_id is not None and not any(
            result.signed_xml.get(a) == reference_id
            for a in ID_ATTRIBUTES):
        raise SignatureError(
            f'the signature does not cover the element {reference_id!r}')
    return result.signed_xml


class _Signer(XAdESSigner):
    "signxml's XAdES signer, with the policy's URL (SPURI) when given"

    def __init__(self, policy_url=None, **kwargs):
        self.policy_url = policy_url
        super().__init__(**kwargs)

    def add_signature_policy_identifier(
            self, properties, sig_root, signing_settings):
        super().add_signature_policy_identifier(
            properties, sig_root, signing_settings)
        if self.signature_policy is None or not self.policy_url:
            return
        policy_id = properties.find(
            'xades:SignaturePolicyIdentifier/xades:SignaturePolicyId',
            namespaces=signxml_namespaces)
        qualifiers = etree.SubElement(
            policy_id, xades_tag('SigPolicyQualifiers'))
        qualifier = etree.SubElement(
            qualifiers, xades_tag('SigPolicyQualifier'))
        etree.SubElement(qualifier, xades_tag('SPURI')).text = (
            self.policy_url)


def sign_xades(element, key, certificate, policy=AGE_POLICY,
        reference_id=None, c14n_algorithm=C14N,
        description='Registro de facturación'):
    """Return a signed copy of element with an enveloped XAdES signature.

    RSA-SHA256 and SHA-256 digests; three References (the data, the
    SignedProperties, the KeyInfo); SignedProperties with SigningTime (now,
    UTC), SigningCertificateV2 and, when policy is given (default: the AGE
    policy of the AEAT examples), SignaturePolicyIdentifier (XAdES-EPES;
    policy=None gives XAdES-BES).  The data reference is ``URI=""`` (the
    whole element) or ``#reference_id``; the ``ds:Signature`` is the last
    child of element."""
    root = _detached_copy(element)
    if reference_id is not None:
        _with_id(root, reference_id)
    xades_policy = None
    if policy is not None:
        xades_policy = XAdESSignaturePolicy(
            Identifier=policy.identifier, Description=policy.description,
            DigestMethod=DigestAlgorithm(policy.digest_method),
            DigestValue=policy.digest_value)
    signer = _Signer(
        policy_url=policy.url if policy else None,
        signature_policy=xades_policy,
        data_object_format=XAdESDataObjectFormat(
            Description=description, MimeType='text/xml'),
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=c14n_algorithm)
    return _signed(
        signer, root, key, certificate,
        f'#{reference_id}' if reference_id is not None else None)


def verify_xades(data, certificate):
    """Verify the enveloped XAdES signature of data (bytes or an element)
    with certificate: the three references, SigningCertificate digests.
    Return the signed data element; raise SignatureError otherwise."""
    config = XAdESSignatureConfiguration(
        require_x509=True,
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}))
    results = _verified(XAdESVerifier(), data, certificate, config)
    return results[0].signed_xml
