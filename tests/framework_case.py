"""Base class of the framework tests: the test authority service
configured for one company."""
from tests import tools
from tests.case import SandboxTestCase


class FrameworkTestCase(SandboxTestCase):
    modules = ['account_einvoice']
    sandbox_services = ['test_authority']
    certificates = {'test': 'test_company'}

    @classmethod
    def setUpData(cls):
        cls.base = tools.call(tools.create_base)
        cls.configuration = tools.call(
            lambda: tools.setup_configuration(
                cls.base, endpoint_host=cls.sandbox.url).id,
            company=cls.base['company'])

    def configuration_defaults(self):
        return dict(super().configuration_defaults(), certificate_name='test')

    # -- helpers -----------------------------------------------------------
    def post(self, count=1, **kwargs):
        "Post count invoices; return their ids"
        return tools.call(lambda: [
                tools.create_invoice(self.base, **kwargs).id
                for _ in range(count)], company=self.company)

    def submissions(self, invoice_ids):
        "Return the submissions of invoices as plain dicts, in order"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Submission = Pool().get('account.einvoice.submission')
            records = Submission.search([('invoice', 'in', invoice_ids)])
            by_invoice = {s.invoice.id: s for s in records}
            return [self._as_dict(by_invoice[i]) if i in by_invoice else None
                for i in invoice_ids]

    @staticmethod
    def _as_dict(submission):
        return {
            'id': submission.id,
            'invoice': submission.invoice.id,
            'state': submission.state,
            'operation': submission.operation,
            'registered': submission.registered,
            'needs_query': submission.needs_query,
            'exchange': submission.exchange.id if submission.exchange
            else None,
            'attempts': submission.attempts,
            'next_attempt': submission.next_attempt,
            'reference': submission.reference,
            'code': submission.code,
            'message': submission.message,
            'last_error': submission.last_error,
            'outcomes': [(o.kind, o.state, o.code, o.message)
                for o in submission.outcomes],
            }

    def submission(self, invoice_id):
        return self.submissions([invoice_id])[0]

    def key(self, invoice_id):
        return f'INV-{invoice_id}'

    def sent_count(self, invoice_id, operation='Submit'):
        return self.sandbox.count(
            'test_authority', operation, self.key(invoice_id))
