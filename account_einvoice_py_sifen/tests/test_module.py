# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class AccountEinvoicePySifenTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Account E-Invoice Paraguay SIFEN module"
    module = 'account_einvoice_py_sifen'


del ModuleTestCase
