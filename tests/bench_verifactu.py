"""Benchmark of the VERI*FACTU module (prints figures, asserts nothing).

    python -m tests.bench_verifactu [--invoices 10000] [--round 100]
        [--profile]

1. Posting overhead: ``--invoices`` real customer invoices (lines, taxes,
   national, EU and surcharge customers) posted with the company's
   VERI*FACTU configuration active -- the records are generated, hashed,
   chained and stored at posting -- and as many posted with it inactive
   (what plain ``account_invoice`` does), in alternating rounds of
   ``--round`` invoices in the same database.  The ratio of the times per
   invoice is the cost of VERI*FACTU on ``Invoice.post`` (goal <= 1.10).
   ``--profile`` prints where the active postings spend their time.
2. Sending: the cron, in a fresh process, sends the generated records to
   the sandbox AEAT (separate process, no latency, no wait between
   requests: 1,000 records per request); records/s and its peak RSS.

The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_verifactu``.
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
KINDS = [
    ('es', [('100', ['iva21'], 'service'), ('40', ['iva10'], 'goods')]),
    ('eu', [('300', ['intra'], 'goods')]),
    ('es', [('100', ['iva21_re', 're52'], 'goods')]),
    ('es', [('20', ['iva21'], 'goods')]),
    ]


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def send(state):
    "Child process: one cron run; print JSON figures"
    tools.start_pool(state['config'])
    from trytond.pool import Pool
    rss_before = rss_mib()
    started = time.perf_counter()
    tools.run_cron(state['company'])
    elapsed = time.perf_counter() - started

    def count():
        Submission = Pool().get('account.einvoice.submission')
        return Submission.search_count([('state', '=', 'accepted')])
    print(json.dumps({
                'elapsed': elapsed,
                'accepted': tools.call(count, commit=False),
                'rss_before': rss_before,
                'rss_after': rss_mib(),
                }))


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--invoices', type=int, default=10000,
        help="invoices posted with VERI*FACTU (as many without)")
    parser.add_argument('--round', type=int, default=100)
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    tools.bench_database('bench_verifactu')
    if options.child:
        with open(options.child) as fp:
            send(json.load(fp))
        return 0

    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from tests.sii_case import create_invoice, create_sii_base
    from tests.verifactu_case import SERVICE, setup_configuration
    from trytond.pool import Pool

    rounds = max(options.invoices // options.round, 1)
    count = rounds * options.round
    print(f"VERI*FACTU benchmark: {count} invoices posted with the records "
        f"generated, {count} without, then the {count} records sent")
    test_tryton.drop_db()
    test_tryton.activate_module(['account_einvoice_es_verifactu'])
    sandbox = Sandbox([SERVICE], subprocess=True)
    sandbox.start()
    try:
        config_path = tools.configure(sandbox, {'sii': 'es_company'})
        titular = sandbox.identity('es_company').tax_id
        base = tools.call(create_sii_base, titular)
        company = base['company']
        configuration = tools.call(setup_configuration, base, sandbox,
            company=company)
        sandbox.set_option(SERVICE, 'wait', 0)

        def set_active(active):
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(configuration)],
                {'active': active})

        def post(start, count, profiler=None):
            Invoice = Pool().get('account.invoice')
            invoices = []
            for i in range(start, start + count):
                party, lines = KINDS[i % len(KINDS)]
                invoices.append(
                    create_invoice(base, lines, party, post=False))
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            Invoice.post(invoices)
            if profiler:
                profiler.disable()
            return time.perf_counter() - started

        profiler = cProfile.Profile() if options.profile else None
        timings = {True: 0.0, False: 0.0}
        # warm-up (caches, and the sequences' locks taken once)
        tools.call(post, 0, 10, company=company)
        tools.call(set_active, False)
        tools.call(post, 0, 10, company=company)
        started = time.perf_counter()
        for index in range(rounds):
            for active in (False, True):
                tools.call(set_active, active)
                timings[active] += tools.call(post, index * options.round,
                    options.round, profiler if active else None,
                    company=company)
            if (index + 1) % max(rounds // 10, 1) == 0:
                print(f"  {index + 1}/{rounds} rounds, "
                    f"{time.perf_counter() - started:.0f} s")
        without = timings[False] / count
        with_ = timings[True] / count
        print(f"post, VERI*FACTU inactive: {count} invoices, "
            f"{without * 1000:.1f} ms/invoice")
        print(f"post, VERI*FACTU active:   {count} invoices, "
            f"{with_ * 1000:.1f} ms/invoice (records generated)")
        print(f"posting overhead ratio:    {with_ / without:.3f} "
            "(goal <= 1.10)")
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats('cumulative').print_stats(
                r'account_einvoice|modelstorage.py.*\(save\)', 40)
            stats.sort_stats('tottime').print_stats(25)
            print(out.getvalue())

        def records():
            Document = Pool().get('account.einvoice.document')
            return Document.search_count([])
        generated = tools.call(records, commit=False)
        with tempfile.NamedTemporaryFile('w', suffix='.json',
                delete=False) as fp:
            json.dump({'config': config_path, 'company': company}, fp)
        result = subprocess.run(
            [sys.executable, '-m', 'tests.bench_verifactu', '--child',
                fp.name], env=dict(os.environ), capture_output=True,
            text=True)
        os.unlink(fp.name)
        if result.returncode:
            print(result.stderr[-3000:])
            return 1
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        requests = len(sandbox.received(SERVICE, 'RegFactuSistemaFacturacion'))
        state = sandbox.state(SERVICE)
        print(f"cron: {generated} records sent in {figures['elapsed']:.1f} s "
            f"= {generated / figures['elapsed']:.0f} records/s "
            f"({requests} requests, {figures['accepted']} accepted; sandbox: "
            f"{len(state['chain_breaks'])} chain breaks, "
            f"{len(state['huella_errors'])} huella errors)")
        print(f"cron peak RSS: {figures['rss_before']:.0f} MiB before, "
            f"{figures['rss_after']:.0f} MiB after "
            f"(posting process: {rss_mib():.0f} MiB)")
    finally:
        sandbox.stop()
        test_tryton.drop_db()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
