# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The QR of a DE (``gCamFuFD/dCarQR``), read from the SIGNED rDE.

The parameters, in this order: nVersion, Id (the CDC), dFeEmiDE (hex of
its UTF-8 text), dRucRec (taxpayer receiver) or dNumIDRec, dTotGralOpe and
dTotIVA (their texts, 0 when absent), cItems (the number of gCamItem),
DigestValue (hex of the signature's base64 text) and IdCSC; then cHashQR,
the SHA-256 (hex) of those parameters joined with ``&`` followed by the
CSC's secret, nothing URL-encoded."""
import hashlib

from lxml import etree

from .de import NS

DS = 'http://www.w3.org/2000/09/xmldsig#'
HOSTS = {
    False: 'https://ekuatia.set.gov.py/consultas-test/qr?',
    True: 'https://ekuatia.set.gov.py/consultas/qr?',
    }
NSMAP = {'s': NS, 'ds': DS}


def _text(rde, path, default=None):
    element = rde.find(path, NSMAP)
    if element is None or element.text is None:
        return default
    return element.text


def _hex(text):
    return text.encode('utf-8').hex()


def query(rde, csc_id):
    "The parameters before cHashQR, as one string"
    de = rde.find('s:DE', NSMAP)
    receiver = de.find('s:gDatGralOpe/s:gDatRec', NSMAP)
    digest = _text(rde, 'ds:Signature/ds:SignedInfo/ds:Reference/'
        'ds:DigestValue')
    if digest is None:
        raise ValueError('the rDE is not signed: no DigestValue')
    pairs = [
        ('nVersion', _text(rde, 's:dVerFor')),
        ('Id', de.get('Id')),
        ('dFeEmiDE', _hex(_text(de, 's:gDatGralOpe/s:dFeEmiDE'))),
        ]
    ruc = _text(receiver, 's:dRucRec')
    if _text(receiver, 's:iNatRec') == '1' and ruc:
        pairs.append(('dRucRec', ruc))
    else:
        pairs.append(('dNumIDRec', _text(receiver, 's:dNumIDRec', '0')))
    pairs += [
        ('dTotGralOpe', _text(de, 's:gTotSub/s:dTotGralOpe', '0')),
        ('dTotIVA', _text(de, 's:gTotSub/s:dTotIVA', '0')),
        ('cItems', str(len(de.findall('s:gDtipDE/s:gCamItem', NSMAP)))),
        ('DigestValue', _hex(digest.strip())),
        ('IdCSC', csc_id),
        ]
    return '&'.join(f'{name}={value}' for name, value in pairs)


def hash_(parameters, csc):
    "cHashQR of the parameters (a query string) with the CSC's secret"
    return hashlib.sha256((parameters + csc).encode('utf-8')).hexdigest()


def url(rde, csc_id, csc, production):
    "The QR's URL for the signed rDE with the CSC (id, secret)"
    parameters = query(rde, csc_id)
    return (f'{HOSTS[bool(production)]}{parameters}'
        f'&cHashQR={hash_(parameters, csc)}')


def add(rde, url):
    "Append gCamFuFD/dCarQR (after the Signature) to rde; return rde"
    for old in rde.findall('s:gCamFuFD', NSMAP):
        rde.remove(old)
    element = etree.SubElement(rde, f'{{{NS}}}gCamFuFD')
    etree.SubElement(element, f'{{{NS}}}dCarQR').text = url
    return rde


def parameters(url):
    "The parameters of a QR's URL, in their order (cHashQR included)"
    _, _, text = url.partition('?')
    result = {}
    for pair in text.split('&'):
        name, _, value = pair.partition('=')
        if name:
            result[name] = value
    return result


def valid_hash(url, csc):
    "Whether the cHashQR of url matches its parameters with csc"
    _, _, text = url.partition('?')
    parameters, separator, received = text.rpartition('&cHashQR=')
    return bool(separator) and hash_(parameters, csc) == received
