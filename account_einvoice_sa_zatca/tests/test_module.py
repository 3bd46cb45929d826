# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class AccountEinvoiceSaZatcaTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Account E-Invoice Saudi Arabia ZATCA module"
    module = 'account_einvoice_sa_zatca'


del ModuleTestCase
