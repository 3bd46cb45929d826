# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Chains: ordered series of documents (or numbers) kept per configuration.

A chain row is the lock taken while a document is appended (its number and
the digest of its predecessor are read and moved under it) and where the
authority's flow control is kept: no request for the chain before
``not_before``.  The key '' is the configuration's own chain, used for the
waits of services whose documents are not chained.
"""
import datetime as dt

from sql import Conflict

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

CONFIGURATION_KEY = ''


class Chain(ModelSQL, ModelView):
    __name__ = 'account.einvoice.chain'
    __string__ = "E-Invoice Chain"

    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", required=True,
        readonly=True, ondelete='CASCADE')
    company = fields.Function(
        fields.Many2One('company.company', "Company"), 'get_company',
        searcher='search_company')
    key = fields.Char("Key", readonly=True,
        help="What the authority chains by (e.g. the issuer, the device or "
        "the point of sale and document type); empty for the "
        "configuration as a whole.")
    last_sequence = fields.Integer("Last Sequence", readonly=True)
    last_document = fields.Many2One(
        'account.einvoice.document', "Last Document", readonly=True,
        ondelete='RESTRICT')
    last_digest = fields.Char("Last Digest", readonly=True)
    last_anchor = fields.Text("Last Anchor", readonly=True,
        help="What the next document repeats of the last one, besides its "
        "digest (e.g. its identity).")
    not_before = fields.Timestamp("No Request Before", readonly=True,
        help="The authority asked for no new request before this time.")
    last_wait = fields.Float("Last Wait", readonly=True,
        help="The last wait (in seconds) the authority asked for: kept "
        "after an answer lost, which may have asked for it again.")
    documents = fields.One2Many(
        'account.einvoice.document', 'chain', "Documents", readonly=True,
        order=[('chain_sequence', 'ASC')])
    verified = fields.Timestamp("Verified", readonly=True)
    verification = fields.Text("Verification", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('key_unique', Unique(t, t.configuration, t.key),
                'account_einvoice.msg_chain_key_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.configuration, Index.Equality()),
                (t.key, Index.Equality())))
        cls._order = [
            ('configuration', 'ASC'), ('key', 'ASC'), ('id', 'ASC')]
        cls._buttons.update({
                'verify': {},
                })

    @classmethod
    def default_last_sequence(cls):
        return 0

    def get_rec_name(self, name):
        return self.key or gettext('account_einvoice.msg_chain_whole')

    def get_company(self, name):
        return self.configuration.company.id

    @classmethod
    def search_company(cls, name, clause):
        return [('configuration.company',) + tuple(clause[1:])]

    # -- Locking ---------------------------------------------------------
    @classmethod
    def _ensure(cls, configuration_id, key):
        "Create the row of a chain unless it exists (no error if it does)"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        now = dt.datetime.now()
        cursor.execute(*table.insert(
                [table.configuration, table.key, table.last_sequence,
                    table.create_uid, table.create_date],
                [[configuration_id, key, 0, Transaction().user, now]],
                on_conflict=Conflict(table, indexed_columns=[
                        table.configuration, table.key])))

    @classmethod
    def lock(cls, configuration_id, key):
        """Return the chain row, locked until the transaction ends.

        The UPDATE takes the row lock on PostgreSQL (a concurrent locker
        waits, then fails to serialize and starts again from a newer
        snapshot) and the database write lock on SQLite."""
        key = key or CONFIGURATION_KEY
        cls._ensure(configuration_id, key)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.write_date], [dt.datetime.now()],
                where=(table.configuration == configuration_id)
                & (table.key == key)))
        chain, = cls.search([
                ('configuration', '=', configuration_id),
                ('key', '=', key),
                ], limit=1)
        return chain

    @classmethod
    def find(cls, configuration_id, keys):
        "{key: chain} of the existing chains among keys (no lock)"
        keys = {k or CONFIGURATION_KEY for k in keys}
        return {c.key: c for c in cls.search([
                    ('configuration', '=', configuration_id),
                    ('key', 'in', list(keys)),
                    ])}

    # -- Flow control ----------------------------------------------------
    @classmethod
    def hold(cls, configuration_id, keys, until, wait=None):
        """No request for these chains before until (later holds win,
        earlier ones never shorten a wait); wait: the seconds the
        authority asked for, remembered as the last wait"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for key in sorted({k or CONFIGURATION_KEY for k in keys}):
            cls._ensure(configuration_id, key)
            if wait:
                cursor.execute(*table.update(
                        [table.last_wait], [wait],
                        where=(table.configuration == configuration_id)
                        & (table.key == key)))
            cursor.execute(*table.update(
                    [table.not_before], [until],
                    where=(table.configuration == configuration_id)
                    & (table.key == key)
                    & ((table.not_before == None)  # noqa: E711
                        | (table.not_before < until))))

    @classmethod
    def last_wait_of(cls, configuration_id, keys):
        "The longest last wait of these chains (seconds), or None"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.last_wait,
                where=(table.configuration == configuration_id)
                & table.key.in_(sorted({k or CONFIGURATION_KEY
                            for k in keys}))))
        return max((w for w, in cursor if w), default=None)

    def waiting(self, now=None):
        "Tell whether the authority asked to wait before the next request"
        now = now or dt.datetime.now()
        return bool(self.not_before and self.not_before > now)

    # -- Verification ----------------------------------------------------
    @classmethod
    @ModelView.button
    def verify(cls, chains):
        cls.verify_chains(chains)

    @classmethod
    def verify_chains(cls, chains):
        """Recompute every digest and link of the chains, store and return
        {chain id: the first break (a text) or None}"""
        results = {}
        now = dt.datetime.now()
        for chain in chains:
            problem = chain.first_break()
            results[chain.id] = problem
            chain.verified = now
            chain.verification = problem or gettext(
                'account_einvoice.msg_chain_verified',
                count=chain.last_sequence or 0)
        cls.save(chains)
        return results

    def first_break(self):
        "The first document whose digest or link does not hold, or None"
        Document = Pool().get('account.einvoice.document')
        service = self.configuration.get_service()
        previous = None
        expected = 1
        for document in Document.search([('chain', '=', self.id)],
                order=[('chain_sequence', 'ASC'), ('id', 'ASC')]):
            name = document.rec_name
            if document.chain_sequence != expected:
                return gettext('account_einvoice.msg_chain_break_sequence',
                    document=name, expected=expected,
                    found=document.chain_sequence)
            if (document.previous and document.previous.id) != (
                    previous and previous.id):
                return gettext('account_einvoice.msg_chain_break_link',
                    document=name)
            data = document.data or b''
            digest = service.document_digest(document, data)
            if digest != document.digest:
                return gettext('account_einvoice.msg_chain_break_digest',
                    document=name, stored=document.digest, computed=digest)
            pointed = service.document_previous_digest(document, data)
            if pointed != (previous.digest if previous else None):
                return gettext(
                    'account_einvoice.msg_chain_break_previous',
                    document=name, pointed=pointed or '-',
                    expected=previous.digest if previous else '-')
            previous = document
            expected += 1
        last = previous.chain_sequence if previous else 0
        if last != (self.last_sequence or 0) or (
                (previous and previous.id) != (
                    self.last_document and self.last_document.id)):
            return gettext('account_einvoice.msg_chain_break_head',
                chain=self.rec_name, last=self.last_sequence or 0,
                found=last)
        return None
