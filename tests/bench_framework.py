"""Benchmark of the framework (prints figures, asserts nothing).

    python -m tests.bench_framework [--invoices 400] [--pending 5000]

1. Posting overhead: the same invoices posted with the company's e-invoice
   configuration inactive and active, alternating rounds; the ratio of the
   times is the cost the framework adds to ``Invoice.post``.
2. Cron throughput: pending submissions reported through the test
   authority of the sandbox (separate process, zero latency).

The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_einvoice``.
"""
import argparse
import resource
import sys
import threading
import time

from tests import tools


def say(text):
    print(text, flush=True)


class Phase:
    """Print a phase when it starts and ends, and every `every` seconds in
    between with `status()` (a count so far) when given"""

    def __init__(self, text, status=None, every=15):
        self.text = text
        self.status = status
        self.every = every
        self.stopped = threading.Event()

    def __enter__(self):
        self.started = time.monotonic()
        say(f'- {self.text}...')
        self.ticker = threading.Thread(target=self.tick, daemon=True)
        self.ticker.start()
        return self

    def tick(self):
        while not self.stopped.wait(self.every):
            extra = ''
            if self.status:
                try:
                    extra = f', {self.status()}'
                except Exception:  # the figure is only a hint
                    pass
            say(f'  ... {self.elapsed():.0f} s{extra}')

    def elapsed(self):
        return time.monotonic() - self.started

    def __exit__(self, kind, value, traceback):
        self.stopped.set()
        self.ticker.join()
        say(f'  {"done" if kind is None else "failed"} '
            f'({self.elapsed():.1f} s)')


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--invoices', type=int, default=400)
    parser.add_argument('--round', type=int, default=50)
    parser.add_argument('--pending', type=int, default=5000)
    parser.add_argument('--profile', action='store_true',
        help="print where the cron spends its time")
    options = parser.parse_args(argv)
    tools.bench_database('bench_einvoice')
    rounds = max(options.invoices // (2 * options.round), 1)
    say(f"Framework benchmark: {2 * rounds * options.round} invoices "
        f"posted, then {options.pending} pending submissions reported "
        "(a few minutes)")

    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from trytond.pool import Pool

    with Phase("Creating the database with account_einvoice"):
        test_tryton.drop_db()
        test_tryton.activate_module(['account_einvoice'])
    sandbox = Sandbox(subprocess=True)
    sandbox.start()
    try:
        with Phase("Company, books and e-invoice configuration"):
            tools.configure(sandbox, {'test': 'test_company'})
            base = tools.call(tools.create_base)
            company = base['company']
            configuration = tools.call(lambda: tools.setup_configuration(
                    base, endpoint_host=sandbox.url).id, company=company)

        def set_active(active):
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write(
                Configuration.search([('active', 'in', [True, False])]),
                {'active': active})

        def post(count):
            Invoice = Pool().get('account.invoice')
            invoices = [tools.create_invoice(base, post=False)
                for _ in range(count)]
            started = time.perf_counter()
            Invoice.post(invoices)
            return time.perf_counter() - started

        timings = {True: 0.0, False: 0.0}
        posted = {True: 0, False: 0}
        with Phase(f"Posting: {rounds} rounds of {options.round} invoices "
                "with the framework inactive, then active"):
            tools.call(post, 10, company=company)  # warm-up
            for index in range(1, rounds + 1):
                for active in (False, True):
                    tools.call(set_active, active)
                    timings[active] += tools.call(
                        post, options.round, company=company)
                    posted[active] += options.round
                say(f'  round {index}/{rounds}: '
                    f'{posted[False] + posted[True]} invoices posted')
            tools.call(set_active, True)
        without = timings[False] / posted[False]
        with_ = timings[True] / posted[True]
        print(f"post, framework inactive: {posted[False]} invoices, "
            f"{without * 1000:.1f} ms/invoice")
        print(f"post, framework active:   {posted[True]} invoices, "
            f"{with_ * 1000:.1f} ms/invoice")
        print(f"posting overhead ratio:   {with_ / without:.3f} "
            "(goal <= 1.10)")

        def requests():
            return (f"{len(sandbox.received('test_authority', 'Submit'))} "
                "requests received by the sandbox")

        # Report what the first part queued, then measure the pending ones
        with Phase(f"Reporting the {sum(posted.values()) + 10} posted "
                "invoices", requests):
            tools.run_cron(company)
        with Phase(f"Creating {options.pending} pending submissions"):
            tools.call(tools.bulk_submissions, base, configuration,
                options.pending, company=company)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        profiler = None
        if options.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        with Phase(f"Cron: reporting the {options.pending} pending "
                "submissions (measured)", requests):
            started = time.perf_counter()
            tools.run_cron(company)
            elapsed = time.perf_counter() - started
        if profiler:
            import pstats
            profiler.disable()
            pstats.Stats(profiler).sort_stats('cumulative').print_stats(30)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        def states():
            Submission = Pool().get('account.einvoice.submission')
            accepted = Submission.search_count([('state', '=', 'accepted')])
            return accepted, Submission.search_count([])
        accepted, total = tools.call(states, commit=False)
        requests = len(sandbox.received('test_authority', 'Submit'))
        print(f"cron: {options.pending} pending reported in {elapsed:.1f} s "
            f"= {options.pending / elapsed:.0f} submissions/s "
            f"({requests} requests in all; {accepted}/{total} accepted)")
        print(f"peak RSS: {rss_before / 1024:.0f} MiB before the cron, "
            f"{rss_after / 1024:.0f} MiB after")
    finally:
        sandbox.stop()
        test_tryton.drop_db()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
