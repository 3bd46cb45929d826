# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import re

from trytond.model import fields
from trytond.pool import PoolMeta

from . import afip


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    ar_iva_condition = fields.Selection(
        afip.IVA_CONDITIONS, "AFIP IVA Condition",
        help="The party's condition towards IVA (CondicionIVAReceptorId); "
        "for a company, its own condition decides the voucher class.")

    def ar_document(self):
        """(DocTipo, DocNro) from the party's identifiers (CUIT/CUIL before
        DNI, check digits validated by the identifier), else (99, 0)"""
        by_type = {}
        for identifier in self.identifiers:
            if identifier.type in afip.DOCUMENT_TYPES:
                by_type.setdefault(identifier.type, identifier.code)
        for type_ in afip.CUIT_TYPES + ['ar_dni']:
            if type_ in by_type:
                digits = re.sub(r'\D', '', by_type[type_])
                if digits:
                    return afip.DOCUMENT_TYPES[type_], int(digits)
        return afip.WITHOUT_DOCUMENT

    def ar_condition(self):
        "The IVA condition to report: Consumidor Final when not set"
        return self.ar_iva_condition or '5'
