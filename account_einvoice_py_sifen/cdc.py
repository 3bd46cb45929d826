# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The CDC (Código de Control) of a DE: 44 digits that identify it.

iTiDE (2), dRucEm (8, zero-padded), dDVEmi (1), dEst (3), dPunExp (3),
dNumDoc (7), iTipCont (1), dFeEmiDE as AAAAMMDD (8), iTipEmi (1), dCodSeg
(9) and the check digit dDVId (1): mod 11 with weights 2…11 from the
right, the same algorithm as the RUC's check digit."""
import datetime as dt
import re
import secrets

LENGTH = 44
#: the parts in order: (name, width)
PARTS = (
    ('type', 2), ('ruc', 8), ('ruc_dv', 1), ('establishment', 3),
    ('point', 3), ('number', 7), ('taxpayer_type', 1), ('date', 8),
    ('emission_type', 1), ('security_code', 9), ('check_digit', 1))
#: the XSD's tCDC (a RUC may end with a letter A-D)
PATTERN = re.compile(r'[0-9]{2}[0-9]{7}[0-9A-D][0-9]{34}')


def check_digit(digits, base=11):
    """The mod 11 check digit of digits: letters count as their ASCII
    codes, weights 2…base cycle from the right; 11 - remainder, 0 when the
    remainder is 0 or 1."""
    text = ''.join(
        c if c.isdigit() else str(ord(c.upper())) for c in str(digits))
    total, weight = 0, 2
    for char in reversed(text):
        total += int(char) * weight
        weight = weight + 1 if weight < base else 2
    remainder = total % 11
    return 11 - remainder if remainder > 1 else 0


def ruc_check_digit(ruc):
    "The check digit (DV) of a RUC"
    return check_digit(str(ruc).strip())


def security_code():
    "dCodSeg: 9 random digits, never all zeros"
    while True:
        code = f'{secrets.randbelow(10 ** 9):09d}'
        if int(code):
            return code


def compose(data):
    "The CDC of a DocumentData (its security_code must be set)"
    issuer = data.issuer
    if not data.security_code:
        raise ValueError('the security code (dCodSeg) is not set')
    ruc = str(issuer.ruc).strip()
    parts = [
        f'{int(data.type):02d}', ruc.zfill(8), str(issuer.ruc_dv),
        issuer.establishment, issuer.point, data.number,
        str(issuer.taxpayer_type), data.issued.strftime('%Y%m%d'),
        str(data.emission_type), data.security_code]
    for (name, width), value in zip(PARTS, parts):
        if len(value) != width:
            raise ValueError(f'{name} {value!r} is not {width} characters')
    reference = ''.join(parts)
    return reference + str(check_digit(reference))


def parse(cdc):
    """The parts of cdc: strings (as written), plus 'issued' (a date,
    None when not a valid date)"""
    if len(cdc) != LENGTH:
        raise ValueError(f'a CDC has {LENGTH} characters, not {len(cdc)}')
    parts, position = {}, 0
    for name, width in PARTS:
        parts[name] = cdc[position:position + width]
        position += width
    parts['ruc'] = parts['ruc'].lstrip('0')
    try:
        parts['issued'] = dt.datetime.strptime(
            parts['date'], '%Y%m%d').date()
    except ValueError:
        parts['issued'] = None
    return parts


def valid(cdc):
    "Whether cdc is 44 digits with its right check digit"
    if not isinstance(cdc, str) or not PATTERN.fullmatch(cdc):
        return False
    return check_digit(cdc[:-1]) == int(cdc[-1])
