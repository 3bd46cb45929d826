# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The test authority over SOAP 1.2 (sandbox ``/test-authority/v2``), its
records generated once when the invoice is posted and sent as stored."""
import os

from lxml import etree

from ..document import Draft
from ..schema import parse_untrusted
from .service import SCHEMAS, TestAuthorityService


class TestAuthority12Service(TestAuthorityService):
    name = "Test Authority (SOAP 1.2)"
    documents = True
    generate_on = 'queue'

    def _request(self, operation, body, records, context):
        request = super()._request(operation, body, records, context)
        request.protocol = 'soap12'
        request.wsdl = os.path.join(SCHEMAS, 'TestAuthority12.wsdl')
        request.service_name = 'TestAuthorityService12'
        request.port_name = 'TestAuthorityPort12'
        return request

    def generate_documents(self, submission, link):
        record = self.record_element(submission)
        data = etree.tostring(record, encoding='UTF-8')
        return [Draft('record', data,
                filename=f'{self.record_id(submission)}.xml')]

    def build_request(self, submissions, operation):
        documents = self.current_documents(submissions)
        elements = {s.id: [parse_untrusted(d.data) for d in documents[s.id]]
            for s in submissions}
        return self.assemble(submissions, operation, elements)
