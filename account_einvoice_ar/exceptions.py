# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class VoucherCancelError(AccessError):
    pass


class FCEConfigurationError(ValidationError):
    pass


class CaeaMissingError(UserError):
    pass
