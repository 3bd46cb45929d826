"""Benchmark of the AFIP module (prints figures, asserts nothing).

    python -m tests.bench_ar [--invoices 1000] [--round 100] [--profile]
        [--caea]

Invoices are posted in rounds (Tryton's ``Invoice.post``, AFIP data fixed
at posting, submissions queued), then the scheduler authorizes them all
through WSAA + WSFEv1 of the sandbox running in a separate process:
invoices per second, the client's CPU time per voucher and the ratio
*authorization time / posting time*.  With ``--caea`` as many invoices
are then posted on a CAEA point of sale (authorized at posting with the
fortnight's CAEA) and informed by the scheduler
(``FECAEARegInformativo``): the figures side by side.

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
    parser.add_argument('--caea', action='store_true',
        help="also post on a CAEA point of sale and inform the vouchers")
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

        def post(count, offset, **values):
            Invoice = Pool().get('account.invoice')
            parties = ['final', 'ri']
            invoices = [Invoice(ar_case.create_invoice(
                        base, party=parties[(offset + i) % 2], post=False,
                        **values))
                for i in range(count)]
            started = time.perf_counter()
            Invoice.post(invoices)
            return time.perf_counter() - started

        def post_rounds(label, **values):
            posting = 0.0
            done = 0
            while done < options.invoices:
                count = min(options.round, options.invoices - done)
                posting += tools.call(
                    post, count, done, company=company, **values)
                done += count
            print(f"post ({label}): {done} invoices in {posting:.1f} s = "
                f"{posting / done * 1000:.1f} ms/invoice")
            return posting, done

        posting, done = post_rounds('CAE, queued')

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
        if options.caea:
            caea(sandbox, base, company, post_rounds)
    finally:
        sandbox.stop()
        test_tryton.drop_db()
    return 0


def caea(sandbox, base, company, post_rounds):
    "Post on a CAEA point of sale, inform the vouchers: the figures"
    from trytond.pool import Pool
    sandbox.set_option('afip_wsfe', 'puntos_venta',
        [1, 2, 3, {'nro': 4, 'emision_tipo': 'CAEA'}])

    def setup():
        pool = Pool()
        PointOfSale = pool.get('account.einvoice.ar.pos')
        Configuration = pool.get('account.einvoice.configuration')
        Caea = pool.get('account.einvoice.ar.caea')
        pos, = PointOfSale.create([{'company': company, 'number': 4,
                    'emission_type': 'caea'}])
        Configuration.write(Configuration.search([]), {'ar_caea': True})
        Caea.run_contingency()
        return pos.id
    pos = tools.call(setup, company=company)
    before = len(sandbox.received())
    posting, done = post_rounds('CAEA, authorized at posting', ar_pos=pos)
    started = time.perf_counter()
    tools.run_cron(company)
    elapsed = time.perf_counter() - started
    calls = Counter(r['operation'] for r in sandbox.received()[before:])
    informed = sandbox.state('afip_wsfe')['informed']
    print(f"cron: {done} CAEA vouchers informed in {elapsed:.1f} s = "
        f"{done / elapsed:.0f} vouchers/s; calls: {dict(calls)}")
    print(f"informed: {len(informed)} vouchers, at most "
        f"{max(informed.values()) if informed else 0} per voucher")


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
