"""Benchmark of the SII module (prints figures, asserts nothing).

    python -m tests.bench_sii [--invoices 2000] [--pending 10000 50000]
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

``--profile`` prints the top functions of the reporting of part 1.
The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_sii``.
"""
import argparse
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


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report_pending(state):
    "Child process: bulk pending submissions, one cron run; print JSON"
    tools.start_pool(state['config'])
    from tests.sii_case import bulk_submissions
    from trytond.pool import Pool
    company = state['company']
    ids = tools.call(bulk_submissions, state['base'], state['configuration'],
        state['pending'], company=company)
    rss_before = rss_mib()
    started = time.perf_counter()
    tools.run_cron(company)
    elapsed = time.perf_counter() - started

    def accepted():
        Submission = Pool().get('account.einvoice.submission')
        return Submission.search_count([
                ('invoice', 'in', ids), ('state', '=', 'accepted')])
    print(json.dumps({
                'elapsed': elapsed,
                'accepted': tools.call(accepted, commit=False),
                'rss_before': rss_before,
                'rss_after': rss_mib(),
                }))


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--invoices', type=int, default=2000)
    parser.add_argument('--pending', type=int, nargs='*',
        default=[10000, 50000])
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    tools.bench_database('bench_sii')
    if options.child:
        with open(options.child) as fp:
            report_pending(json.load(fp))
        return 0

    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from tests.sii_case import create_invoice, create_sii_base
    from trytond.pool import Pool

    test_tryton.drop_db()
    test_tryton.activate_module(['account_einvoice_es_sii'])
    sandbox = Sandbox(['sii'], subprocess=True)
    sandbox.start()
    try:
        config_path = tools.configure(sandbox, {'sii': 'es_company'})
        titular = sandbox.identity('es_company').tax_id
        base = tools.call(create_sii_base, titular)
        company = base['company']

        def configure():
            from tests.sii_case import setup_configuration
            return setup_configuration(base, sandbox)
        configuration = tools.call(configure, company=company)

        kinds = [
            ('es', [('100', ['iva21'], 'service'),
                    ('40', ['iva10'], 'goods')]),
            ('plain', [('20', ['iva21'], 'goods')]),
            ('eu', [('300', ['intra'], 'goods'),
                    ('50', ['intra'], 'service')]),
            ('es', [('100', ['iva21_re', 're52'], 'goods')]),
            ]

        def post(start, count):
            Invoice = Pool().get('account.invoice')
            invoices = [create_invoice(base, *_kind(start + i), post=False)
                for i in range(count)]
            started = time.perf_counter()
            Invoice.post(invoices)
            return time.perf_counter() - started

        def _kind(i):
            party, lines = kinds[i % len(kinds)]
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
            with tempfile.NamedTemporaryFile('w', suffix='.json',
                    delete=False) as fp:
                json.dump({'config': config_path, 'company': company,
                        'base': base, 'configuration': configuration,
                        'pending': pending}, fp)
            env = dict(os.environ)
            result = subprocess.run(
                [sys.executable, '-m', 'tests.bench_sii', '--child',
                    fp.name], env=env, capture_output=True, text=True)
            os.unlink(fp.name)
            if result.returncode:
                print(result.stderr[-3000:])
                continue
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"cron, {pending} pending: {figures['elapsed']:.1f} s "
                f"= {pending / figures['elapsed']:.0f} invoices/s, "
                f"{figures['accepted']} accepted; peak RSS "
                f"{figures['rss_before']:.0f} MiB before the cron, "
                f"{figures['rss_after']:.0f} MiB after")
    finally:
        sandbox.stop()
        test_tryton.drop_db()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
