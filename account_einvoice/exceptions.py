# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError


class EinvoiceError(UserError):
    pass


class CertificateError(EinvoiceError):
    pass


class SchemaError(EinvoiceError):
    pass


class SubmissionError(EinvoiceError):
    pass


class ServiceFailure(Exception):
    """A call to an authority failed as a whole.

    `kind` tells what the framework does with the batch:
    - 'not_sent': the request never reached the authority; retry later;
    - 'unknown': the authority may have processed it; query before resending;
    - 'transient': the authority refused it for now (busy); retry later;
    - 'configuration': our setup is wrong (certificate, credentials);
      retry later and notify the accounting staff.
    """
    KINDS = {'not_sent', 'unknown', 'transient', 'configuration'}

    def __init__(self, kind, message, code=None, response=None):
        assert kind in self.KINDS, kind
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        self.response = response
