"""Local authority sandbox: HTTPS + mutual TLS + SOAP 1.1, requests validated
against the official XSDs.  See :mod:`tests.sandbox.core` (plug-in
interface) and :mod:`tests.sandbox.server` (Python API; faults in
:mod:`tests.sandbox.faults`)."""
from .core import SandboxService, SoapFault, SoapResponse  # noqa: F401
from .pki import PKI  # noqa: F401
from .server import Sandbox, SandboxProcess  # noqa: F401

__all__ = ['SandboxService', 'SoapFault', 'SoapResponse', 'PKI', 'Sandbox',
    'SandboxProcess']
