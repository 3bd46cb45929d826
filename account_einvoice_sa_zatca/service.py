# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The ZATCA (Fatoora) service: reporting and clearance (placeholder)."""
from trytond.modules.account_einvoice.service import EinvoiceService


class ZatcaService(EinvoiceService):
    name = "ZATCA (Fatoora)"
