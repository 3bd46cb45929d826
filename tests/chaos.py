"""What the chaos tests share: the bookkeeper's transactions started again
when they fail to serialize, the worker processes running the e-invoice
cron until killed, and which of them has a request in the authority's
hands."""
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter

from tests import tools

RETRIES = 200


def retrying(func, *args, company=None, **kwargs):
    """tools.call, started again when the transaction fails to serialize
    with a concurrent one (as trytond's dispatcher does, but with more
    patience); return (result, the number of retries)"""
    from trytond import backend
    for attempt in range(RETRIES):
        try:
            return tools.call(func, *args, company=company, **kwargs), attempt
        except backend.DatabaseOperationalError as exception:
            error = exception
            if os.environ.get('CHAOS_DEBUG'):
                import traceback
                frames = [f for f in traceback.extract_tb(
                        exception.__traceback__) if 'site-packages' not in
                    f.filename or 'account_invoice' in f.filename]
                print(f'{func.__name__} started again: {exception}'.strip(),
                    [f'{f.filename.rpartition("/")[2]}:{f.lineno}'
                        for f in frames[-3:]], flush=True)
            time.sleep(random.uniform(0.05, 0.5))
    raise AssertionError(
        f"{func.__name__} failed {RETRIES} times, last: {error}")


def post(ids):
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    invoices = Invoice.browse(ids)
    Invoice.post(invoices)
    return {i.id: i.number for i in invoices}


def work(company):
    "A worker: run the e-invoice cron until killed"
    tools.start_pool(os.environ['TRYTOND_CONFIG'])
    while True:
        try:
            tools.run_cron(company)
        except Exception:
            # trytond-cron logs what fails and runs the job again
            import traceback
            traceback.print_exc()
        time.sleep(0.1)


def spawn(module, case):
    "A worker process of the test module running case's company cron"
    from trytond.tests.test_tryton import DB_NAME
    return subprocess.Popen(
        [sys.executable, '-m', module, '--worker', str(case.company)],
        cwd=tools.ROOT, env=dict(os.environ,
            TRYTOND_CONFIG=case.config_path, DB_NAME=DB_NAME))


def in_flight_workers():
    "The pids of the workers whose request is in the authority's hands"
    from trytond.pool import Pool
    with tools.transaction(commit=False):
        Exchange = Pool().get('account.einvoice.exchange')
        return {int(e.worker.rpartition(':')[2])
            for e in Exchange.search([
                    ('state', '=', 'in_flight'),
                    ('sent', '!=', None),
                    ]) if e.worker}


def copy_invoice(template_id, count):
    """[template_id] and the ids of count - 1 copies of that draft invoice
    with its lines and taxes, made in SQL (the documents are generated when
    they are posted, not here)"""
    from sql import Column

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    cursor = Transaction().connection.cursor()

    def rows(table, where):
        cursor.execute(*table.select(where=where, order_by=[table.id.asc]))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r)) for r in cursor.fetchall()]

    def insert(table, values):
        if not values:
            return
        names = [n for n in values[0] if n != 'id']
        for start in range(0, len(values), 200):
            cursor.execute(*table.insert([Column(table, n) for n in names],
                    [[v[n] for n in names]
                        for v in values[start:start + 200]]))

    def copies(table, parent, original, parents):
        "Copy the rows of table under original to each of parents"
        originals = rows(table, Column(table, parent) == original)
        insert(table, [dict(o, **{parent: p}) for p in parents
                for o in originals])

    invoice = pool.get('account.invoice').__table__()
    line = pool.get('account.invoice.line').__table__()
    first, = rows(invoice, invoice.id == template_id)
    insert(invoice, [first] * (count - 1))
    cursor.execute(*invoice.select(invoice.id,
            where=invoice.id > template_id, order_by=[invoice.id.asc]))
    ids = [i for i, in cursor]
    assert len(ids) == count - 1, (len(ids), count)
    copies(line, 'invoice', template_id, ids)
    copies(pool.get('account.invoice.tax').__table__(), 'invoice',
        template_id, ids)
    template_line, = rows(line, line.invoice == template_id)
    cursor.execute(*line.select(line.id, where=line.invoice.in_(ids)))
    copies(pool.get('account.invoice.line-account.tax').__table__(), 'line',
        template_line['id'], [i for i, in cursor])
    return [template_id] + ids


class Poster(threading.Thread):
    "The bookkeeper posting the drafts in batches, as fast as it can"

    def __init__(self, company, batches):
        super().__init__(daemon=True)
        self.company = company
        self.batches = batches
        self.numbers = {}
        self.retries = 0
        self.error = None
        self.lock = threading.Lock()

    def run(self):
        try:
            for batch in self.batches:
                numbers, retries = retrying(post, batch, company=self.company)
                with self.lock:
                    self.numbers.update(numbers)
                    self.retries += retries
        except Exception as exception:
            self.error = exception

    def posted(self):
        with self.lock:
            return dict(self.numbers)


def submission_states():
    "{invoice id: submission state}, read in SQL"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with tools.transaction(commit=False):
        table = Pool().get('account.einvoice.submission').__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.invoice, table.state))
        return dict(cursor)


def run(case, module, drafts, *, kills, faults, processes=3, deadline=900,
        seed=20261204, post_batch=None, debug=None):
    """Post drafts in batches while worker processes of module report
    them; SIGKILL kills workers (preferably while the authority has their
    request) and add each of faults [(service, operation, fault)] as the
    posting passes a fraction of drafts; stop once every submission is
    accepted and all kills and faults are done.  Print a summary; return
    (states, poster, kills done, faults added)."""
    started = time.monotonic()
    rng = random.Random(seed)
    post_batch = post_batch or (100 if tools.is_postgresql() else 50)
    batches = [drafts[i:i + post_batch]
        for i in range(0, len(drafts), post_batch)]
    poster = Poster(case.company, batches)
    workers = [spawn(module, case) for _ in range(processes)]
    poster.start()
    killed = added = 0
    stop_at = time.monotonic() + deadline
    next_kill = time.monotonic() + rng.uniform(2, 5)
    states, posted = {}, {}
    try:
        while time.monotonic() < stop_at:
            time.sleep(0.3)
            if poster.error:
                raise poster.error
            now = time.monotonic()
            if killed < kills and now >= next_kill:
                pids = in_flight_workers()
                victims = [p for p in workers
                    if p.pid in pids and p.poll() is None]
                if victims or (now >= next_kill + 5 and poster.posted()):
                    victim = rng.choice(victims or workers)
                    if victim.poll() is None:
                        victim.kill()
                        killed += 1
                        next_kill = now + rng.uniform(2, 6)
            for i, process in enumerate(workers):
                if process.poll() is not None:
                    process.wait()
                    workers[i] = spawn(module, case)
            posted = poster.posted()
            if added < len(faults) and len(posted) >= (
                    (added + 1) * len(drafts) // (len(faults) + 1)):
                case.sandbox.add_fault(*faults[added])
                added += 1
            states = submission_states()
            if debug and os.environ.get(debug):
                print(f'{now - started:.0f} s {len(posted)} posted '
                    f'{dict(Counter(states.values()))} {killed} kills',
                    flush=True)
            if (not poster.is_alive() and len(posted) == len(drafts)
                    and killed == kills and added == len(faults)
                    and not case.sandbox.faults()
                    and set(states.values()) == {'accepted'}):
                break
    finally:
        for process in workers:
            process.kill()
            process.wait()
        poster.join(timeout=60)
    print(f"\n  {time.monotonic() - started:.0f} s: {len(posted)} posted "
        f"({poster.retries} postings started again), {killed} kills, "
        f"{added} answers lost", flush=True)
    return states, poster, killed, added
