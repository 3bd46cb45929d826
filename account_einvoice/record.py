# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Records reported without an invoice: the voiding of unused numbers
(SIFEN's *inutilización*), the events of a local-only system (VERI*FACTU),
the test invoices of compliance checks (ZATCA).  Each gets a submission
like an invoice does, and goes through the same claim, chains and history;
staff see them in the same lists."""
import datetime as dt
import json

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access


class Record(ModelSQL, ModelView):
    __name__ = 'account.einvoice.record'
    __string__ = "E-Invoice Record without Invoice"

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", required=True,
        readonly=True, ondelete='RESTRICT')
    kind = fields.Char("Kind", required=True, readonly=True,
        help="What the record tells the authority (the service's kind, "
        "e.g. voiding of numbers, system event).")
    description = fields.Char("Description", readonly=True)
    date = fields.DateTime("Date", required=True, readonly=True)
    data = fields.Text("Data", readonly=True,
        help="The facts of the record the service reports (JSON).")
    submissions = fields.One2Many(
        'account.einvoice.submission', 'record', "Submissions",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_date(cls):
        return dt.datetime.now()

    def get_rec_name(self, name):
        return ' '.join(filter(None, [self.kind, self.description]))

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('kind', operator, value),
            ('description', operator, value),
            ]

    @property
    def facts(self):
        "The decoded data"
        return json.loads(self.data) if self.data else {}

    @classmethod
    def report(cls, configuration, kind, facts, description=None, date=None):
        """Create a record of the configuration's service and queue it (in
        the caller's transaction, like posting an invoice); return it"""
        Submission = Pool().get('account.einvoice.submission')
        with without_check_access():
            record, = cls.create([{
                        'company': configuration.company.id,
                        'configuration': configuration.id,
                        'kind': kind,
                        'description': description,
                        'date': date or dt.datetime.now(),
                        'data': json.dumps(facts, sort_keys=True,
                            default=str),
                        }])
            Submission.create_for_records([record])
        return record

    @classmethod
    def delete(cls, records):
        Submission = Pool().get('account.einvoice.submission')
        with Transaction().set_context(_check_access=False):
            Submission.delete(Submission.search(
                    [('record', 'in', [r.id for r in records])]))
        super().delete(records)
