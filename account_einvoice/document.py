# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Documents generated once: what a submission sends, kept byte for byte.

Authorities whose records are hashed, chained or signed get them generated
once (when the work is queued, or at claim time under the chain's lock)
and every request is assembled from the stored bytes, so a resend is the
same document.  Rescheduling or cancelling supersedes them: the next claim
generates the new ones (appended to the chain).
"""
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sql import Null

from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from . import rows
from .exceptions import RecordError
from .isolation import isolate, refusal
from .submission import OPERATIONS


@dataclass
class Draft:
    """A document as a service generates it.

    ``digest`` is what the next document of the chain links to (the
    service's own algorithm, e.g. the hex SHA-256 of ``data``);
    ``anchor`` what else the next one must repeat of it (e.g. the
    identity of the record, as a text), kept on the chain."""
    kind: str
    data: bytes
    digest: str = None
    filename: str = None
    values: dict = field(default_factory=dict)
    anchor: str = None


@dataclass(frozen=True)
class Link:
    "The end of a chain a new document is appended to"
    sequence: int
    digest: str
    anchor: str = None


class Document(ModelSQL, ModelView):
    __name__ = 'account.einvoice.document'
    __string__ = "E-Invoice Document"

    submission = fields.Many2One(
        'account.einvoice.submission', "Submission", required=True,
        readonly=True, ondelete='CASCADE')
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    kind = fields.Char("Kind", readonly=True,
        help="What the document is for the authority (a record, a "
        "cancellation, a correction, the signed invoice...).")
    operation = fields.Selection(OPERATIONS, "Operation", readonly=True)
    chain = fields.Many2One(
        'account.einvoice.chain', "Chain", readonly=True,
        ondelete='RESTRICT')
    chain_sequence = fields.Integer("Chain Sequence", readonly=True)
    previous = fields.Many2One(
        'account.einvoice.document', "Previous", readonly=True,
        ondelete='RESTRICT',
        help="The document this one is chained to.")
    digest = fields.Char("Digest", readonly=True)
    generated = fields.Timestamp("Generated", readonly=True)
    current = fields.Boolean("Current", readonly=True,
        help="Sent by the submission's requests; a rescheduled or "
        "cancelled submission gets new documents.")
    returned = fields.Boolean("Returned by the Authority", readonly=True,
        help="The authority's own copy (e.g. the stamped copy of a cleared "
        "invoice): kept, never sent nor chained.")
    data = fields.Binary(
        "Document", filename='filename', file_id='data_id',
        store_prefix='account_einvoice', readonly=True)
    data_id = fields.Char("Document ID", readonly=True)
    filename = fields.Char("File Name", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('submission', 'DESC'), ('id', 'ASC')]
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.submission, Index.Range()),
                    where=t.current == True),  # noqa: E712
                Index(t, (t.chain, Index.Equality()),
                    (t.chain_sequence, Index.Range())),
                })

    def get_rec_name(self, name):
        label = f'{self.submission.rec_name} {self.kind}'
        if self.chain_sequence:
            label += f' #{self.chain_sequence}'
        return label

    @classmethod
    def current_of(cls, submissions):
        "{submission id: [current documents in order]}"
        result = defaultdict(list)
        ids = [s.id for s in submissions]
        for sub_ids in grouped_slice(ids, rows.IN_SLICE):
            for document in cls.search([
                        ('submission', 'in', list(sub_ids)),
                        ('current', '=', True),
                        ], order=[('id', 'ASC')]):
                result[document.submission.id].append(document)
        return result

    @classmethod
    def default_returned(cls):
        return False

    @classmethod
    def keep_returned(cls, company_id, returned):
        """Keep the documents the authority returned: returned is a list of
        (submission id, operation, Draft).  Called in the transaction that
        records the answer."""
        if not returned:
            return []
        Submission = Pool().get('account.einvoice.submission')
        now = dt.datetime.now()
        vlist = []
        for submission_id, operation, draft in returned:
            values = {
                'submission': submission_id,
                'company': company_id,
                'kind': draft.kind,
                'operation': operation,
                'digest': draft.digest,
                'generated': now,
                'current': False,
                'returned': True,
                'data': draft.data,
                'filename': draft.filename,
                }
            values.update(draft.values)
            vlist.append(values)
        documents = cls.create(vlist)
        # whether the answer was written before or after them, the accepted
        # invoices print what the returned documents carry
        accepted = [s for s in rows.browse(
                Submission, sorted({s for s, _, _ in returned}))
            if s.state in {'accepted', 'accepted_with_errors'}]
        if accepted:
            Submission._update_invoice_qr(accepted)
        return documents

    @classmethod
    def supersede(cls, submission_ids):
        "Keep the documents for the history; the next claim makes new ones"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for sub_ids in grouped_slice(submission_ids, rows.IN_SLICE):
            cursor.execute(*table.update(
                    [table.current], [False],
                    where=reduce_ids(table.submission, sub_ids)
                    & (table.current == True)))  # noqa: E712

    # -- Generation ------------------------------------------------------
    @classmethod
    def generate(cls, configuration, service, submissions):
        """Generate, check and store the documents of submissions, chained
        under each chain's lock in the order given.

        Return {submission id: message} for the submissions refused: their
        documents are not stored and their chain does not move."""
        pool = Pool()
        Chain = pool.get('account.einvoice.chain')
        Submission = pool.get('account.einvoice.submission')
        by_chain = defaultdict(list)
        refused = {}
        for submission in submissions:
            try:
                key = service.chain_key(submission)
            except Exception as exception:
                refused[submission.id] = refusal(
                    submission, exception, 'build')
                continue
            by_chain[key].append(submission)
        now = dt.datetime.now()
        vlist, written = [], []
        for key in sorted(by_chain, key=lambda k: (k is not None, k or '')):
            chain = Chain.lock(configuration.id, key) if key else None
            members = cls._still_to_generate(by_chain[key])
            link = (Link(chain.last_sequence or 0, chain.last_digest,
                    chain.last_anchor) if chain else None)
            for submission in members:
                drafts, message = cls._drafts(service, submission, link)
                if message is not None:
                    refused[submission.id] = message
                    continue
                for draft in drafts:
                    values = {
                        'submission': submission.id,
                        'company': configuration.company.id,
                        'kind': draft.kind,
                        'operation': submission.operation,
                        'digest': draft.digest,
                        'generated': now,
                        'current': True,
                        'data': draft.data,
                        'filename': draft.filename,
                        }
                    if chain:
                        link = Link(
                            link.sequence + 1, draft.digest, draft.anchor)
                        values.update(
                            chain=chain.id, chain_sequence=link.sequence)
                    values.update(draft.values)
                    vlist.append(values)
                written.extend(([submission], {
                            'generated': True,
                            'chain': chain.id if chain else None,
                            'chain_sequence': link.sequence if chain else None,
                            }))
            if chain:
                chain.last_sequence = link.sequence
                chain.last_digest = link.digest
                chain.last_anchor = link.anchor
                chain.save()
        documents = cls.create(vlist) if vlist else []
        cls._link(documents)
        for document in documents:
            if document.chain and (
                    document.chain_sequence
                    == document.chain.last_sequence):
                Chain.write([document.chain], {'last_document': document.id})
        if written:
            Submission.write(*written)
        return refused

    @classmethod
    def generate_unless_busy(cls, configuration, service, submissions):
        """Generate as ``generate`` does, inside the caller's transaction
        (posting, cancelling, rescheduling), unless a chain was changed by
        a concurrent transaction (a worker sending): then nothing is
        generated and None is returned; the next claim generates them.
        The caller's work is kept: it is not started again for that."""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        cursor.execute('SAVEPOINT einvoice_generate')
        try:
            refused = cls.generate(configuration, service, submissions)
        except backend.DatabaseOperationalError:
            cursor.execute('ROLLBACK TO SAVEPOINT einvoice_generate')
            for cache in transaction.cache.values():
                cache.clear()
            return None
        cursor.execute('RELEASE SAVEPOINT einvoice_generate')
        return refused

    @classmethod
    def _still_to_generate(cls, submissions):
        """The submissions still without documents for their operation, read
        again under the chain's lock: another process may have generated
        them (or changed their operation) since they were read"""
        Submission = Pool().get('account.einvoice.submission')
        table = Submission.__table__()
        cursor = Transaction().connection.cursor()
        fresh = {}
        ids = [s.id for s in submissions]
        for sub_ids in grouped_slice(ids, rows.IN_SLICE):
            cursor.execute(*table.select(
                    table.id, table.operation,
                    where=reduce_ids(table.id, sub_ids)
                    & (table.state == 'pending')
                    & (table.generated != True)))  # noqa: E712
            fresh.update(cursor)
        return [s for s in submissions
            if fresh.get(s.id) == s.operation]

    @classmethod
    def _drafts(cls, service, submission, link):
        "(drafts, None) or (None, the message refusing the submission)"
        results, failures = isolate(
            lambda part: service.generate_documents(part[0], link),
            [submission])
        if failures:
            return None, refusal(submission, failures[submission.id], 'build')
        drafts, = results
        message = service.check_documents(submission, drafts)
        if message is not None:
            return None, refusal(submission, RecordError(message), 'build')
        return drafts, None

    @classmethod
    def _link(cls, documents):
        "Point every chained document at its predecessor"
        table = cls.__table__()
        previous = cls.__table__()
        cursor = Transaction().connection.cursor()
        chains = {d.chain.id for d in documents if d.chain}
        for chain_id in chains:
            first = min(d.chain_sequence for d in documents
                if d.chain and d.chain.id == chain_id)
            cursor.execute(*table.update(
                    [table.previous],
                    [previous.select(previous.id,
                            where=(previous.chain == chain_id)
                            & (previous.chain_sequence
                                == table.chain_sequence - 1))],
                    where=(table.chain == chain_id)
                    & (table.chain_sequence >= first)
                    & (table.chain_sequence > 1)
                    & (table.previous == Null)))
