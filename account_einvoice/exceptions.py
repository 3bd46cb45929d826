# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError


class EinvoiceError(UserError):
    pass


class CertificateError(EinvoiceError):
    pass


class EndpointError(EinvoiceError):
    pass


class SchemaError(EinvoiceError):
    pass


class SubmissionError(EinvoiceError):
    pass


class PostingError(EinvoiceError):
    pass


class ClearanceError(EinvoiceError):
    "The invoice cannot be shared before the authority clears it"


class ConfigurationError(EinvoiceError):
    pass


class ExportError(EinvoiceError):
    pass


class SecretError(EinvoiceError):
    pass


class OnboardingError(EinvoiceError):
    pass


class ServiceFailure(Exception):
    """A call to an authority failed as a whole.

    `kind` tells what the framework does with the batch:
    - 'not_sent': the request never reached the authority; retry later;
    - 'unknown': the authority may have processed it; query before resending;
    - 'transient': the authority refused it for now (busy); retry later;
    - 'configuration': our setup is wrong (certificate, credentials);
      retry later and notify the accounting staff.

    `retry_at` (a datetime) replaces the backoff when the service knows
    when trying again makes sense.
    """
    KINDS = {'not_sent', 'unknown', 'transient', 'configuration'}

    def __init__(self, kind, message, code=None, response=None,
            retry_at=None):
        assert kind in self.KINDS, kind
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        self.response = response
        self.retry_at = retry_at


class RecordError(Exception):
    """One record cannot be sent as it is (e.g. a value XML cannot carry).

    Raised while checking or building, it refuses that record alone;
    `reason` (a text or a LocalMessage) says which field and why."""

    def __init__(self, reason):
        super().__init__(str(reason))
        self.reason = reason


class SignatureError(Exception):
    "An XML signature does not verify (or cannot be read)"
