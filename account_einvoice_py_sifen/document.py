# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A DE from its facts to the bytes sent (and back).

:func:`generate` composes the CDC, builds the rDE, signs its ``DE``, adds
the QR and validates the result against ``siRecepDE_v150.xsd``;
:func:`read` gives back what the service needs from a stored DE;
:func:`verify` lists what SIFEN would refuse in a DE without asking it
(schema, CDC check digit, CDC against the XML, QR, whitespace, and the
signature when a certificate is given)."""
import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

from lxml import etree

from trytond.modules.account_einvoice import schema, signing
from trytond.modules.account_einvoice.exceptions import (
    RecordError, SignatureError)

from . import cdc as cdc_
from . import de, qr

XSD = 'py_sifen/siRecepDE_v150.xsd'
NSMAP = qr.NSMAP


@dataclass(frozen=True)
class Generated:
    cdc: str
    data: bytes
    qr: str


def xml_schema():
    "The compiled siRecepDE_v150.xsd"
    return schema.xml_schema(schema.locate(XSD))


def schema_errors(rde):
    "The XSD's messages on rde (empty when valid)"
    validator = xml_schema()
    if validator.validate(rde):
        return []
    return [f'line {e.line}: {schema.short_message(e.message)}'
        for e in validator.error_log]


def generate(data, key, certificate, csc_id, csc, production, signed_at):
    """The signed DE of data (a DocumentData): Generated(cdc, data, qr).

    The security code is data's, else a new one.  Raise RecordError with
    the schema's messages when the result is not valid."""
    if not data.security_code:
        data = replace(data, security_code=cdc_.security_code())
    code = cdc_.compose(data)
    try:
        rde = de.build(data, code, signed_at)
    except (KeyError, TypeError, AttributeError, ValueError) as exception:
        raise RecordError(
            f'{data.reference or code}: cannot build the DE '
            f'({exception.__class__.__name__}: {exception})') from exception
    signed = signing.sign_enveloped(rde, key, certificate, code)
    url = qr.url(signed, csc_id, csc, production)
    qr.add(signed, url)
    errors = schema_errors(signed)
    if errors:
        raise RecordError('\n'.join(errors))
    return Generated(code, de.serialize(signed), url)


def rde_of(data):
    "The rDE of data (bytes, or an element): itself or the first inside"
    root = signing.xml_root(data) if isinstance(data, (bytes, str)) else data
    if etree.QName(root).localname == 'rDE':
        return root
    found = next(root.iter(f'{{{de.NS}}}rDE'), None)
    if found is None:
        raise ValueError('no rDE in the document')
    return found


def _text(element, path):
    found = element.find(path, NSMAP)
    return found.text if found is not None else None


def read(data):
    "What the service needs back from a stored DE"
    rde = rde_of(data)
    document = rde.find('s:DE', NSMAP)
    url = _text(rde, 's:gCamFuFD/s:dCarQR')

    def amount(path):
        value = _text(document, path)
        return Decimal(value) if value is not None else None
    issued = _text(document, 's:gDatGralOpe/s:dFeEmiDE')
    return {
        'cdc': document.get('Id'),
        'type': int(_text(document, 's:gTimb/s:iTiDE')),
        'number': _text(document, 's:gTimb/s:dNumDoc'),
        'establishment': _text(document, 's:gTimb/s:dEst'),
        'point': _text(document, 's:gTimb/s:dPunExp'),
        'timbrado': _text(document, 's:gTimb/s:dNumTim'),
        'security_code': _text(document, 's:gOpeDE/s:dCodSeg'),
        'issued': dt.datetime.strptime(issued, de.DATETIME),
        'signed': dt.datetime.strptime(
            _text(document, 's:dFecFirma'), de.DATETIME),
        'ruc': _text(document, 's:gDatGralOpe/s:gEmis/s:dRucEm'),
        'currency': _text(document, 's:gDatGralOpe/s:gOpeCom/s:cMoneOpe'),
        'total': amount('s:gTotSub/s:dTotGralOpe'),
        'tax': amount('s:gTotSub/s:dTotIVA'),
        'associated_cdc': _text(document, 's:gCamDEAsoc/s:dCdCDERef'),
        'qr': url,
        'digest_value': _text(rde,
            'ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestValue'),
        }


#: the CDC's parts and where the XML says them
CDC_PATHS = {
    'type': 's:gTimb/s:iTiDE',
    'ruc': 's:gDatGralOpe/s:gEmis/s:dRucEm',
    'ruc_dv': 's:gDatGralOpe/s:gEmis/s:dDVEmi',
    'establishment': 's:gTimb/s:dEst',
    'point': 's:gTimb/s:dPunExp',
    'number': 's:gTimb/s:dNumDoc',
    'taxpayer_type': 's:gDatGralOpe/s:gEmis/s:iTipCont',
    'emission_type': 's:gOpeDE/s:iTipEmi',
    'security_code': 's:gOpeDE/s:dCodSeg',
    }


def _cdc_problems(document):
    code = document.get('Id') or ''
    if not cdc_.valid(code):
        yield f'CDC {code!r}: not 44 digits with a right check digit'
    if len(code) != cdc_.LENGTH:
        return
    if _text(document, 's:dDVId') != code[-1]:
        yield (f'dDVId {_text(document, "s:dDVId")!r} differs from the '
            f'check digit of the CDC ({code[-1]})')
    parts = cdc_.parse(code)
    for name, path in CDC_PATHS.items():
        value = _text(document, path)
        expected = parts[name]
        if name == 'type' and value is not None:
            value = value.zfill(2)
        if name == 'ruc' and value is not None:
            value = value.lstrip('0')
        if value != expected:
            yield f'CDC {name} {expected!r} differs from the XML ({value!r})'
    issued = _text(document, 's:gDatGralOpe/s:dFeEmiDE') or ''
    if issued[:10].replace('-', '') != parts['date']:
        yield (f'CDC date {parts["date"]!r} differs from dFeEmiDE '
            f'({issued!r})')
    if parts['security_code'] == '0' * 9:
        yield 'dCodSeg is all zeros'


def _qr_problems(rde, code, csc):
    url = _text(rde, 's:gCamFuFD/s:dCarQR')
    if not url:
        yield 'no QR (gCamFuFD/dCarQR)'
        return
    parameters = qr.parameters(url)
    missing = [n for n in ('nVersion', 'Id', 'dFeEmiDE', 'dTotGralOpe',
            'dTotIVA', 'cItems', 'DigestValue', 'IdCSC', 'cHashQR')
        if n not in parameters]
    if missing:
        yield f'QR without {", ".join(missing)}'
        return
    if parameters['Id'] != code:
        yield f'QR Id {parameters["Id"]!r} differs from the CDC'
    digest = _text(rde,
        'ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestValue')
    if digest and parameters['DigestValue'] != digest.strip().encode(
            ).hex():
        yield 'QR DigestValue differs from the signature\'s'
    if csc is not None and not qr.valid_hash(url, csc):
        yield 'QR cHashQR does not match its parameters and the CSC'


def _whitespace_problems(rde):
    for element in rde.iter(etree.Element):
        if len(element) and element.text and not element.text.strip():
            yield f'whitespace inside {etree.QName(element).localname}'
            return
        if element.tail and not element.tail.strip() and element is not rde:
            yield f'whitespace after {etree.QName(element).localname}'
            return


def verify(data, certificate=None, csc=None):
    """The problems SIFEN would find in data (bytes): an empty list when
    none.  With a certificate, the signature is verified with it; with the
    CSC's secret, the QR's hash."""
    try:
        rde = rde_of(data)
    except (SignatureError, ValueError) as exception:
        return [f'unreadable DE: {exception}']
    problems = list(schema_errors(rde))
    problems += _whitespace_problems(rde)
    for element in rde.iter(etree.Element):
        if element.prefix:
            problems.append(f'namespace prefix on {element.tag}')
            break
    document = rde.find('s:DE', NSMAP)
    if document is None:
        return problems + ['no DE']
    code = document.get('Id') or ''
    problems += _cdc_problems(document)
    problems += _qr_problems(rde, code, csc)
    if certificate is not None:
        try:
            signing.verify_enveloped(
                etree.tostring(rde), certificate, code)
        except SignatureError as exception:
            problems.append(f'signature: {exception}')
    return problems
