# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import PoolMeta

from .service import VerifactuService


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.service.selection.append(
            ('es_verifactu', "Spain: VERI*FACTU (AEAT)"))

    def get_service(self):
        if self.service == 'es_verifactu':
            return VerifactuService(self)
        return super().get_service()
