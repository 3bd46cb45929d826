"""Copies of posted invoices made in SQL, for the benchmarks: thousands of
real invoices (lines, taxes, accounting moves) without the time of
posting them through the ORM.

The copies are inserted with explicit ids above the current maximum of
each table (the sequences are moved past them on PostgreSQL); every column
is copied as it is but the identifiers of the copied records and the
references between them, which are remapped, and the numbers, which are
new and unique."""
import datetime as dt

from sql import Column, Table
from sql.aggregate import Max

#: the tables copied, in the order of insertion: (table, column holding
#: the parent's id, parent table); the parent is copied first
CHAIN = [
    ('account_move', None, None),
    ('account_invoice', 'move', 'account_move'),
    ('account_invoice_line', 'invoice', 'account_invoice'),
    ('account_invoice_line-account_tax', 'line', 'account_invoice_line'),
    ('account_invoice_tax', 'invoice', 'account_invoice'),
    ('account_move_line', 'move', 'account_move'),
    ('account_tax_line', 'move_line', 'account_move_line'),
    ]
#: the reference columns ('model,id') pointing at copied records
REFERENCES = {
    'account_move': ['origin'],
    'account_invoice_line': ['origin'],
    'account_move_line': ['origin'],
    'account_tax_line': ['origin'],
    }
#: the columns of numbers: a new one for each copy
NUMBERS = {
    'account_invoice': ['number'],
    'account_move': ['number', 'post_number'],
    }
#: the model of each table (for the references)
MODELS = {
    'account_move': 'account.move',
    'account_invoice': 'account.invoice',
    'account_invoice_line': 'account.invoice.line',
    'account_invoice_tax': 'account.invoice.tax',
    'account_move_line': 'account.move.line',
    'account_tax_line': 'account.tax.line',
    }
CHUNK = 200


def _rows(cursor, name, where_column, ids):
    "The rows of table name whose where_column is in ids, as dicts"
    table = Table(name)
    if not ids:
        return [], []
    cursor.execute(*table.select(
            where=Column(table, where_column).in_(sorted(ids)),
            order_by=[table.id.asc]))
    names = [d[0] for d in cursor.description]
    return names, [dict(zip(names, r)) for r in cursor]


def _max_id(cursor, name):
    table = Table(name)
    cursor.execute(*table.select(Max(table.id)))
    return cursor.fetchone()[0] or 0


def clone_invoices(template_ids, count, prefix='CL'):
    """Insert count copies of the posted invoices template_ids, one of each
    template in turn (so count // len(template_ids) copies of each, one
    more for the first count % len(template_ids)); return the ids of the
    new invoices in the order of their creation.

    Copied: the invoice, its lines with their taxes, its taxes, its move
    (origin: the copy), the move's lines and their tax lines.  The numbers
    of the invoice and of its move are prefix-<new invoice id>."""
    from trytond.transaction import Transaction
    transaction = Transaction()
    connection = transaction.connection
    database = transaction.database
    cursor = connection.cursor()
    template_ids = list(template_ids)

    # the records of the templates, table by table, by parent
    _, invoices = _rows(cursor, 'account_invoice', 'id', template_ids)
    move_ids = {r['move'] for r in invoices}
    assert len(invoices) == len(template_ids) and None not in move_ids, (
        "templates must be posted invoices")
    columns, records = {}, {}
    columns['account_move'], moves = _rows(
        cursor, 'account_move', 'id', move_ids)
    records['account_move'] = {r['id']: [r] for r in moves}
    for name, parent_column, parent in CHAIN[1:]:
        parent_ids = {r['id'] for rows in records[parent].values()
            for r in rows}
        columns[name], rows = _rows(cursor, name, parent_column, parent_ids)
        records[name] = {}
        for row in rows:
            records[name].setdefault(row[parent_column], []).append(row)
    # the records of each template, by table
    move_of = {r['id']: r['move'] for r in invoices}

    def descendants(template):
        result = {'account_move': records['account_move'][move_of[template]]}
        for name, parent_column, parent in CHAIN[1:]:
            result[name] = [r for p in result[parent]
                for r in records[name].get(p['id'], [])]
        result['account_invoice'] = [
            r for r in result['account_invoice'] if r['id'] == template]
        return result
    per_template = {t: descendants(t) for t in template_ids}

    next_ids = {name: _max_id(cursor, name) + 1 for name, _, _ in CHAIN}
    values = {name: [] for name, _, _ in CHAIN}
    created = []
    for index in range(count):
        template = template_ids[index % len(template_ids)]
        tables = per_template[template]
        mapping = {}
        for name, _, _ in CHAIN:
            for row in tables[name]:
                mapping[name, row['id']] = next_ids[name]
                next_ids[name] += 1
        references = {f"{MODELS[n]},{i}": f"{MODELS[n]},{new}"
            for (n, i), new in mapping.items() if n in MODELS}
        invoice_id = mapping['account_invoice', template]
        created.append(invoice_id)
        number = f'{prefix}-{invoice_id}'
        for name, parent_column, parent in CHAIN:
            for row in tables[name]:
                row = dict(row, id=mapping[name, row['id']])
                if parent_column:
                    row[parent_column] = mapping[
                        parent, row[parent_column]]
                for column in REFERENCES.get(name, []):
                    if row.get(column):
                        row[column] = references.get(
                            row[column], row[column])
                for column in NUMBERS.get(name, []):
                    if row.get(column) is not None:
                        row[column] = number
                values[name].append([row[c] for c in columns[name]])

    for name, _, _ in CHAIN:
        table = Table(name)
        insert_columns = [Column(table, c) for c in columns[name]]
        rows = values[name]
        for start in range(0, len(rows), CHUNK):
            cursor.execute(*table.insert(
                    insert_columns, rows[start:start + CHUNK]))
        if rows:
            database.setnextid(connection, name, next_ids[name])
    return created


def peer_pending(invoice_ids):
    """Create the pending rows of the peer module (account_es_sii's
    account.invoice.sii) for invoice_ids, those that have none"""
    from trytond.transaction import Transaction
    cursor = Transaction().connection.cursor()
    table = Table('account_invoice_sii')
    cursor.execute(*table.select(table.invoice))
    existing = {i for i, in cursor}
    now = dt.datetime.now()
    rows = [[i, 'pending', 0, now] for i in invoice_ids if i not in existing]
    for start in range(0, len(rows), 500):
        cursor.execute(*table.insert(
                [table.invoice, table.state, table.create_uid,
                    table.create_date], rows[start:start + 500]))
    return len(rows)


def our_pending(invoice_ids, chunk=CHUNK):
    """Create our pending submissions for invoice_ids the way posting does
    (its hook, which also prepares what is reported later), chunk by
    chunk; return how many were created"""
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Submission = pool.get('account.einvoice.submission')
    created = 0
    for start in range(0, len(invoice_ids), chunk):
        created += len(Submission.create_for_invoices(
                Invoice.browse(invoice_ids[start:start + chunk])))
    return created
