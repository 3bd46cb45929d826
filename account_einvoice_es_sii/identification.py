# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Who is who for the SII: Spanish NIF or IDOtro from party identifiers.

Check digits are validated locally with python-stdnum so that a mistyped
identifier is refused before sending, with a message naming it."""
import re
from dataclasses import dataclass

from stdnum import get_cc_module
from stdnum.es import nif as es_nif
from stdnum.eu import oss as eu_oss
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from trytond.i18n import gettext

EU_MEMBERS = {
    'AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR',
    'HR', 'HU', 'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO',
    'SE', 'SI', 'SK'}
# VAT prefixes that are not the ISO 3166 code of the country
VAT_PREFIX_COUNTRY = {'EL': 'GR', 'XI': 'GB'}
SPANISH_TYPES = {'es_nif', 'es_cif', 'es_dni', 'es_nie', 'es_vat'}
DOCUMENT_TYPES = {
    'sii_passport': '03',
    'sii_foreign_id': '04',
    'sii_residence': '05',
    'sii_other': '06',
    }
# the NIFType pattern of SuministroInformacion.xsd
NIF_SHAPE = re.compile(r'^([A-Z]\d{7}[A-Z]|\d{8}[A-Z]|[A-Z]\d{8})$')


@dataclass
class Identification:
    "NIF, or IDOtro (country, type, id); error is a message when unusable"
    nif: str = None
    country: str = None
    id_type: str = None
    id: str = None
    error: str = None

    @property
    def key(self):
        "The identifier AEAT keys records by (NIF or IDOtro/ID)"
        return self.nif or self.id

    @property
    def foreign(self):
        return self.nif is None


def compact(code):
    return re.sub(r'[\s.\-/]', '', code or '').upper()


def _reason(exception):
    if isinstance(exception, InvalidChecksum):
        return gettext('account_einvoice_es_sii.msg_reason_checksum')
    if isinstance(exception, InvalidLength):
        return gettext('account_einvoice_es_sii.msg_reason_length')
    return gettext('account_einvoice_es_sii.msg_reason_format')


def spanish_nif(code, role):
    "Identification for a Spanish NIF (with or without the ES prefix)"
    value = compact(code)
    if value.startswith('ES') and len(value) == 11:
        value = value[2:]
    try:
        value = es_nif.validate(value)
    except ValidationError as exception:
        return Identification(nif=value, error=gettext(
                'account_einvoice_es_sii.msg_nif_invalid',
                role=role, code=code, reason=_reason(exception)))
    return Identification(nif=value)


def _validate_vat(module, code, role):
    """(number, None) when the stdnum module validates code, else (code
    compacted, the Identification refusing it)"""
    value = compact(code)
    try:
        return module.validate(value), None
    except ValidationError as exception:
        return value, Identification(id=value, error=gettext(
                'account_einvoice_es_sii.msg_vat_invalid',
                role=role, code=code, reason=_reason(exception)))


def _eu_vat(code, role):
    value, refused = _validate_vat(eu_vat, code, role)
    if refused:
        return refused
    prefix = value[:2]
    if prefix == 'ES':
        return spanish_nif(value, role)
    return Identification(
        country=VAT_PREFIX_COUNTRY.get(prefix, prefix), id_type='02',
        id=value)


def _country_vat(type_, code, role):
    "A national tax number type such as de_vat, gb_vat, us_ein"
    country = type_.split('_', 1)[0].upper()
    value = compact(code)
    module = get_cc_module(*type_.split('_', 1))
    if module is not None:
        try:
            value = module.compact(value)
        except (ValidationError, AttributeError):
            pass
    if country in EU_MEMBERS or country == 'EL':
        prefix = 'EL' if country == 'GR' else country
        if not value.startswith(prefix):
            value = prefix + value
        return _eu_vat(value, role)
    return Identification(country=country, id_type='04', id=value[:20])


def is_oss(code):
    "An EU One Stop Shop number (EU + 9 digits): no country in it"
    return compact(code).startswith('EU')


def _oss(party, code, role):
    """IDOtro of an OSS number: type 04 (official document of the country
    of residence), the country of the party's address"""
    value, refused = _validate_vat(eu_oss, code, role)
    if refused:
        return refused
    return _in_party_country(party, '04', value, code, role)


def _in_party_country(party, id_type, value, code, role):
    "IDOtro in the country of the party's address, refused without one"
    country = party_country(party)
    result = Identification(country=country, id_type=id_type, id=value)
    if not country:
        result.error = gettext(
            'account_einvoice_es_sii.msg_foreign_country_missing',
            role=role, party=party.rec_name, code=code)
    return result


def party_country(party):
    for address in party.addresses:
        if address.country:
            return address.country.code
    return None


def identify(party, role):
    """Return the Identification of party or None when it has none.

    The first identifier (in their order) that the SII can use wins:
    Spanish numbers, EU VAT numbers (an OSS number ``EU...`` is sent as
    IDOtro with the country of the party's address), other countries' tax
    numbers, the SII document types and finally untyped codes shaped like
    a Spanish NIF."""
    from trytond.modules.party.party import TAX_IDENTIFIER_TYPES
    untyped = None
    for identifier in party.identifiers:
        type_, code = identifier.type, identifier.code
        if not code:
            continue
        if type_ in SPANISH_TYPES:
            return spanish_nif(code, role)
        if type_ == 'eu_vat':
            if is_oss(code):
                return _oss(party, code, role)
            return _eu_vat(code, role)
        if type_ in DOCUMENT_TYPES:
            return _in_party_country(party, DOCUMENT_TYPES[type_],
                compact(code)[:20], code, role)
        if type_ in TAX_IDENTIFIER_TYPES and '_' in type_:
            return _country_vat(type_, code, role)
        if not type_ and untyped is None:
            untyped = code
    if untyped is not None:
        value = compact(untyped)
        if value.startswith('ES') and len(value) == 11:
            value = value[2:]
        if NIF_SHAPE.match(value):
            return spanish_nif(untyped, role)
        if is_oss(value):
            return _oss(party, untyped, role)
        if len(value) > 2 and value[:2] in (EU_MEMBERS | {'EL'}):
            return _eu_vat(untyped, role)
    return None


def company_nif(company):
    "The NIF of the company (the Titular of its SII books) or None"
    identification = identify(company.party, 'company')
    if (identification is None or identification.error
            or identification.foreign):
        return None
    return identification.nif
