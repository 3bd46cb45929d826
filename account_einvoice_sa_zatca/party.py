# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Saudi identifiers and the national address parts ZATCA asks for."""
from trytond.model import fields
from trytond.modules.account_einvoice.identifier import add_identifier_types
from trytond.pool import PoolMeta

#: the buyer and seller identification schemes of ZATCA (BR-KSA-08,
#: BR-KSA-14) as party identifier types
IDENTIFIER_TYPES = [
    ('sa_vat', "Saudi Arabia VAT Number"),
    ('sa_crn', "Saudi Arabia Commercial Registration Number"),
    ('sa_mom', "Saudi Arabia MOMRAH License"),
    ('sa_mls', "Saudi Arabia MHRSD License"),
    ('sa_700', "Saudi Arabia 700 Number"),
    ('sa_sag', "Saudi Arabia MISA License"),
    ('sa_nat', "Saudi Arabia National ID"),
    ('sa_gcc', "GCC ID"),
    ('sa_iqa', "Saudi Arabia Iqama Number"),
    ('sa_pas', "Passport ID"),
    ('sa_tin', "Saudi Arabia Tax Identification Number"),
    ('sa_oth', "Other ID (Saudi Arabia)"),
    ]


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    arabic_name = fields.Char("Name in Arabic",
        help="The registered name in Arabic: ZATCA documents and the tax "
        "invoice give it before the name (\"Arabic | Name\", as ZATCA's "
        "samples do).")

    @classmethod
    def tax_identifier_types(cls):
        return super().tax_identifier_types() + ['sa_vat']


class Configuration(metaclass=PoolMeta):
    __name__ = 'party.configuration'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        add_identifier_types(cls, IDENTIFIER_TYPES)


class Address(metaclass=PoolMeta):
    __name__ = 'party.address'

    district = fields.Char("District",
        help="The district (neighbourhood) of the national address.")
    additional_number = fields.Char("Additional Number",
        help="The 4-digit additional number of the national address.")
