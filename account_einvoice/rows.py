# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Thousands of framework rows at a time, at the cost of a few queries.

A batch holds up to 10,000 submissions.  Tryton's ``browse`` checks the
whole id list for every instance it makes (quadratic), and ``write``
validates, recomputes and re-reads every record: both cost more than
the exchange itself.  The framework's own bookkeeping (states, links to
exchanges, outcomes) is written here in bulk from trusted values."""
from collections import defaultdict, namedtuple

from sql import Column
from sql.functions import CurrentTimestamp

from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

#: ids per ``IN (...)`` list (Tryton 8 slices one by one without a size)
IN_SLICE = 500
#: instances made per browse: they prefetch together, and the ORM's
#: per-instance check of the id list stays cheap
BROWSE_SLICE = 100


def browse(Model, ids):
    "Model.browse(ids), in slices of BROWSE_SLICE"
    records = []
    for sub_ids in grouped_slice(list(ids), BROWSE_SLICE):
        records.extend(Model.browse(list(sub_ids)))
    return records


def read(Model, names, where):
    """[(id, *names)] of the rows where, as named tuples, in id order:
    plain values for loops over thousands (booleans may be 0/1)"""
    table = Model.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.select(table.id,
            *(Column(table, n) for n in names),
            where=where(table), order_by=[table.id.asc]))
    Row = namedtuple('Row', ['id', *names])
    return [Row(*r) for r in cursor]


def update(Model, *args):
    """Write (records or ids, values) pairs of trusted values: one UPDATE
    per pair and slice of ids, the pairs of one record each with one
    prepared statement per set of columns; without Tryton's validation,
    re-reading or access checks.  Where the administrator defined
    triggers on writing the model, they are honoured: Model.write."""
    pool = Pool()
    Trigger = pool.get('ir.trigger')
    if Trigger.get_triggers(Model.__name__, 'write'):
        records = []
        actions = iter(args)
        for items, values in zip(actions, actions):
            records.extend((browse(Model, [int(r) for r in items]), values))
        if records:
            Model.write(*records)
        return
    transaction = Transaction()
    cursor = transaction.connection.cursor()
    table = Model.__table__()
    singles = defaultdict(list)
    actions = iter(args)
    for records, values in zip(actions, actions):
        ids = [int(r) for r in records]
        if not ids:
            continue
        setters = {n: v for n, v in values.items()
            if hasattr(Model._fields[n], 'set')}
        for name, value in setters.items():
            # e.g. a Binary kept in the file store
            Model._fields[name].set(Model, name, ids, value)
        names = tuple(n for n in values if n not in setters)
        sql_values = [Model._fields[n].sql_format(values[n]) for n in names]
        if len(ids) == 1:
            singles[names].append(
                (transaction.user, *sql_values, ids[0]))
            continue
        columns = _columns(table, names)
        for sub_ids in grouped_slice(ids, IN_SLICE):
            cursor.execute(*table.update(columns,
                    [transaction.user, CurrentTimestamp(), *sql_values],
                    where=reduce_ids(table.id, sub_ids)))
    for names, params in singles.items():
        query, _ = tuple(table.update(_columns(table, names),
                [0, CurrentTimestamp(), *([None] * len(names))],
                where=table.id == 0))
        cursor.executemany(query, params)
    # the instances and the caches read before must not be believed
    transaction.counter += 1
    for cache in transaction.cache.values():
        cache.pop(Model.__name__, None)


def _columns(table, names):
    return [table.write_uid, table.write_date] + [
        Column(table, n) for n in names]
