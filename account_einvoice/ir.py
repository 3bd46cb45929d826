# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import PoolMeta


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('account.einvoice.submission|send_pending',
                    "Report Pending E-Invoices"),
                ('account.einvoice.configuration|check_certificates',
                    "Check E-Invoice Certificates"),
                ])
