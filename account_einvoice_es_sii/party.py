# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.modules.account_einvoice.identifier import add_identifier_types
from trytond.pool import PoolMeta

# Identification documents the SII accepts for foreign counterparts
# (IDOtro/IDType) beyond tax numbers; "sii_" types have no check digit.
IDENTIFIER_TYPES = [
    ('sii_passport', "Passport"),
    ('sii_foreign_id', "Official ID in the Country of Residence"),
    ('sii_residence', "Certificate of Residence"),
    ('sii_other', "Other Supporting Document"),
    ]


class Configuration(metaclass=PoolMeta):
    __name__ = 'party.configuration'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        add_identifier_types(cls, IDENTIFIER_TYPES)
