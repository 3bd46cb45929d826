# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Record rules of the e-invoice models: the companies the user was given.

trytond's ``companies`` rule context comes from the current company of the
user's preferences, which ``res.user.set_preferences`` stores without
checking it against the user's companies.  The rules of this module use
``einvoice_companies``: those companies that are also among the user's
companies (``res.user`` "Companies")."""
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

PREFIX = 'account.einvoice.'


def _ours(model_names):
    return any(n.startswith(PREFIX) for n in model_names)


def einvoice_companies():
    "The rule context's companies the user was given"
    pool = Pool()
    User = pool.get('res.user')
    UserCompany = pool.get('res.user-company.company')
    transaction = Transaction()
    companies = User.get_companies()
    if not companies:
        return ()
    table = UserCompany.__table__()
    cursor = transaction.connection.cursor()
    cursor.execute(*table.select(
            table.company, where=table.user == transaction.user))
    given = {c for c, in cursor}
    return tuple(c for c in companies if c in given)


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _get_context(cls, model_name):
        context = super()._get_context(model_name)
        if _ours([model_name]):
            context['einvoice_companies'] = einvoice_companies()
        return context

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        if _ours(model_names):
            key = (*key, einvoice_companies())
        return key
