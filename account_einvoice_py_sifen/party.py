# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The identity documents SIFEN asks of a receiver who has no RUC."""
from trytond.modules.account_einvoice.identifier import add_identifier_types
from trytond.pool import PoolMeta

#: party identifier type -> SIFEN's iTipIDRec (a RUC is Tryton's py_vat)
IDENTITY_DOCUMENTS = {
    'py_ci': 1,
    'py_pas': 2,
    'py_cie': 3,
    'py_cr': 4,
    'py_dip': 6,
    }
IDENTIFIER_TYPES = [
    ('py_ci', "Paraguay Identity Card"),
    ('py_pas', "Passport (Paraguay SIFEN)"),
    ('py_cie', "Foreign Identity Card (Paraguay SIFEN)"),
    ('py_cr', "Paraguay Residence Card"),
    ('py_dip', "Paraguay Diplomatic Card"),
    ]


class Configuration(metaclass=PoolMeta):
    __name__ = 'party.configuration'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        add_identifier_types(cls, IDENTIFIER_TYPES)
