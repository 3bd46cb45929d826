"""Benchmark of the AFIP module (prints figures, asserts nothing).

    python -m tests.bench_ar [--invoices 1000] [--round 100] [--profile]

Invoices are posted in rounds (Tryton's ``Invoice.post``, AFIP data fixed
at posting, submissions queued), then the scheduler authorizes them all
through WSAA + WSFEv1 of the sandbox running in a separate process:
invoices per second, the client's CPU time per voucher and the ratio
*authorization time / posting time*.

The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_einvoice_ar``.
"""
import argparse
import cProfile
import pstats
import sys
import time
from collections import Counter

from tests import tools


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--invoices', type=int, default=1000)
    parser.add_argument('--round', type=int, default=100)
    parser.add_argument('--profile', action='store_true',
        help="print the top of the profile of the cron")
    options = parser.parse_args(argv)
    tools.bench_database('bench_einvoice_ar')

    from tests import ar_case
    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from trytond.pool import Pool

    test_tryton.drop_db()
    test_tryton.activate_module(['account_einvoice_ar'])
    sandbox = Sandbox(subprocess=True)
    sandbox.start()
    try:
        tools.configure(sandbox, {'afip': 'ar_company'})
        base = tools.call(ar_case.create_base)
        company = base['company']
        tools.call(ar_case.setup_configuration, base, sandbox.url,
            company=company)

        def post(count, offset):
            Invoice = Pool().get('account.invoice')
            parties = ['final', 'ri']
            invoices = [Invoice(ar_case.create_invoice(
                        base, party=parties[(offset + i) % 2], post=False))
                for i in range(count)]
            started = time.perf_counter()
            Invoice.post(invoices)
            return time.perf_counter() - started

        posting = 0.0
        done = 0
        while done < options.invoices:
            count = min(options.round, options.invoices - done)
            posting += tools.call(post, count, done, company=company)
            done += count
        print(f"post: {done} invoices in {posting:.1f} s = "
            f"{posting / done * 1000:.1f} ms/invoice")

        profiler = cProfile.Profile() if options.profile else None
        started = time.perf_counter()
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        tools.run_cron(company)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu
        elapsed = time.perf_counter() - started

        def states():
            Submission = Pool().get('account.einvoice.submission')
            return Counter(s.state for s in Submission.search([]))
        counts = tools.call(states, commit=False)
        requests = Counter(r['operation'] for r in sandbox.received())
        print(f"cron: {done} invoices authorized in {elapsed:.1f} s = "
            f"{done / elapsed:.0f} invoices/s ({dict(counts)})")
        print(f"calls: {dict(requests)}")
        print(f"client CPU: {cpu:.2f} s = {cpu / done * 1000:.2f} "
            "ms/voucher (the sandbox runs in its own process; goal <= 0.5)")
        if profiler:
            pstats.Stats(profiler).sort_stats('cumulative').print_stats(40)
        print(f"authorization time / posting time: {elapsed / posting:.2f}")
        caes = sandbox.state('afip_wsfe')['caes']
        print(f"CAEs: {len(caes)} vouchers, at most "
            f"{max(caes.values()) if caes else 0} per voucher")
    finally:
        sandbox.stop()
        test_tryton.drop_db()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
