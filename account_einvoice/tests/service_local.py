# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A local-only variant of the chained test service: its records are
generated, chained and kept (*recorded*), never sent, like VERI*FACTU's
"NO VERI*FACTU" mode."""
from .service_chain import TestChainService


class TestLocalService(TestChainService):
    name = "Test Local Records"
    sends = False
    generate_on = 'queue'
