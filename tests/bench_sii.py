"""Benchmark of the SII module (prints figures, asserts nothing).

    python -m tests.bench_sii [--invoices 2000] [--pending 10000 50000]
        [--profile]
    python -m tests.bench_sii --peer [--pending 10000] [--runs 4]
        [--profile]

1. Posting vs reporting: ``--invoices`` real invoices (lines, taxes,
   national, EU and simplified customers) are posted, timing
   ``Invoice.post``; then the cron reports them to the sandbox (separate
   process, zero latency).  The ratio reporting time / posting time is
   the share of the SII on top of posting (goal <= 0.2).
2. Throughput and memory: for each ``--pending`` count, that many
   submissions are created in bulk and reported by the cron in a fresh
   process; its peak RSS is printed (goal: about flat, the work is done
   10,000 records at a time).

``--profile`` prints the top functions of the reporting of part 1 and of
the cron of each child process (whose cProfile is written to
$BENCH_PROFILE); BENCH_PYFLAGS are flags given to the child processes'
python.

``--peer``: ours side by side with the SII module of the Tryton community
(``trytoncommunity-account-es-sii``), see tests/bench_sii_peer.py.

The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_sii``.
"""
import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial

from tests import tools

print = partial(print, flush=True)


#: the invoices of part 1 and the templates of --peer, in turn:
#: (party, [(amount, [tax names], product)])
KINDS = [
    ('es', [('100', ['iva21'], 'service'),
            ('40', ['iva10'], 'goods')]),
    ('plain', [('20', ['iva21'], 'goods')]),
    ('eu', [('300', ['intra'], 'goods'),
            ('50', ['intra_service'], 'service')]),
    ('es', [('100', ['iva21_re', 're52'], 'goods')]),
    ]


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_service_tax(base):
    """The intra-community tax again for services (the peer tells goods
    from services by the tax's group)"""
    from trytond.pool import Pool
    Tax = Pool().get('account.tax')
    tax, = Tax.copy([Tax(base['taxes']['intra'])],
        {'name': 'intra_service', 'description': 'intra_service'})
    return tax.id


@contextlib.contextmanager
def sii_database(modules, sections=None):
    """A new database with modules, the SII company configured for the
    sandbox started; yield (sandbox, configuration file path, base,
    configuration id).  sections(identity) gives the extra sections of the
    trytond configuration for the company's identity."""
    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from tests.sii_case import create_sii_base, setup_configuration

    test_tryton.drop_db()
    test_tryton.activate_module(modules)
    sandbox = Sandbox(['sii'], subprocess=True)
    sandbox.start()
    try:
        identity = sandbox.identity('es_company')
        config_path = tools.configure(sandbox, {'sii': 'es_company'},
            sections=sections(identity) if sections else None)
        base = tools.call(create_sii_base, identity.tax_id)
        company = base['company']
        configuration = tools.call(setup_configuration, base, sandbox,
            company=company)
        base['taxes']['intra_service'] = tools.call(
            add_service_tax, base, company=company)
        yield sandbox, config_path, base, configuration
    finally:
        sandbox.stop()
        test_tryton.drop_db()


def report_pending(state):
    "Child process: bulk pending submissions, one cron run; print JSON"
    tools.start_pool(state['config'])
    from tests.sii_case import bulk_submissions
    from trytond.pool import Pool
    company = state['company']
    prepared = time.perf_counter()
    # with what posting prepares (the records), as posted invoices have
    ids = tools.call(bulk_submissions, state['base'], state['configuration'],
        state['pending'], company=company, prepare=True)
    prepared = time.perf_counter() - prepared
    rss_before = rss_mib()
    elapsed, cpu = profiled(partial(tools.run_cron, company), state)

    def accepted():
        Submission = Pool().get('account.einvoice.submission')
        return Submission.search_count([
                ('invoice', 'in', ids), ('state', '=', 'accepted')])
    print(json.dumps({
                'elapsed': elapsed,
                'cpu': cpu,
                'prepared': prepared,
                'accepted': tools.call(accepted, commit=False),
                'rss_before': rss_before,
                'rss_after': rss_mib(),
                }))


def profiled(func, state):
    """Run func, profiled when asked (cProfile written to $BENCH_PROFILE,
    its top to stderr); return its (wall, CPU) time"""
    profiler = cProfile.Profile() if state.get('profile') else None
    started = time.perf_counter()
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    func()
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu
    elapsed = time.perf_counter() - started
    if profiler:
        profiler.dump_stats(os.environ.get('BENCH_PROFILE', os.devnull))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(
            'tottime').print_stats(45)
        sys.stderr.write(out.getvalue())
    return elapsed, cpu


def child_command(state_path):
    return [sys.executable, *os.environ.get('BENCH_PYFLAGS', '').split(),
        '-m', 'tests.bench_sii', '--child', state_path]


def run_child(state):
    "Run a child process with state; return its JSON figures or None"
    with tempfile.NamedTemporaryFile('w', suffix='.json',
            delete=False) as fp:
        json.dump(state, fp)
    try:
        result = subprocess.run(child_command(fp.name),
            capture_output=True, text=True)
    finally:
        os.unlink(fp.name)
    if result.returncode:
        print(result.stderr[-3000:])
        return None
    if state.get('profile'):
        print(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--invoices', type=int, default=2000)
    parser.add_argument('--pending', type=int, nargs='*')
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--peer', action='store_true',
        help="compare with account_es_sii (trytoncommunity-account-es-sii)")
    parser.add_argument('--runs', type=int, default=4,
        help="--peer: runs of each side")
    parser.add_argument('--child', help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    tools.bench_database('bench_sii')
    if options.child:
        with open(options.child) as fp:
            state = json.load(fp)
        if 'side' in state:
            from tests.bench_sii_peer import report_side
            report_side(state)
        else:
            report_pending(state)
        return 0
    if options.peer:
        from tests.bench_sii_peer import compare
        return compare(options.pending[0] if options.pending else 10000,
            options.runs, options.profile)
    if options.pending is None:
        options.pending = [10000, 50000]

    with sii_database(['account_einvoice_es_sii']) as (
            sandbox, config_path, base, configuration):
        from tests.sii_case import create_invoice
        from trytond.pool import Pool
        company = base['company']

        def post(start, count):
            Invoice = Pool().get('account.invoice')
            invoices = [create_invoice(base, *_kind(start + i), post=False)
                for i in range(count)]
            started = time.perf_counter()
            Invoice.post(invoices)
            return time.perf_counter() - started

        def _kind(i):
            party, lines = KINDS[i % len(KINDS)]
            return lines, party

        posting = 0.0
        chunk = 200
        for start in range(0, options.invoices, chunk):
            posting += tools.call(post, start,
                min(chunk, options.invoices - start), company=company)
        print(f"post: {options.invoices} invoices in {posting:.1f} s "
            f"({options.invoices / posting:.0f} invoices/s)")

        profiler = cProfile.Profile() if options.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        tools.run_cron(company)
        if profiler:
            profiler.disable()
        reporting = time.perf_counter() - started

        def states():
            Submission = Pool().get('account.einvoice.submission')
            return Submission.search_count([('state', '=', 'accepted')]), (
                Submission.search_count([]))
        accepted, total = tools.call(states, commit=False)
        print(f"report: {options.invoices} invoices in {reporting:.1f} s "
            f"({options.invoices / reporting:.0f} invoices/s; "
            f"{accepted}/{total} accepted)")
        print(f"reporting / posting: {reporting / posting:.3f} "
            "(goal <= 0.2)")
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(
                'cumulative').print_stats(40)
            print(out.getvalue())

        for pending in options.pending:
            figures = run_child({'config': config_path, 'company': company,
                    'base': base, 'configuration': configuration,
                    'pending': pending, 'profile': options.profile})
            if figures is None:
                continue
            print(f"cron, {pending} pending: {figures['elapsed']:.1f} s, "
                f"CPU {figures['cpu']:.1f} s "
                f"= {pending / figures['cpu']:.0f} invoices per CPU second, "
                f"{figures['accepted']} accepted (records prepared as at "
                f"posting in {figures['prepared']:.0f} s before); peak RSS "
                f"{figures['rss_before']:.0f} MiB before the cron, "
                f"{figures['rss_after']:.0f} MiB after")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
