"""Posting overhead of the framework and of each country module (prints
figures, asserts nothing).

    python -m tests.bench_posting [--invoices 250] [--round 50]
        [--profile {plain,sii,verifactu,plain_ar,afip}]

One database, with ``account_einvoice_es_sii``,
``account_einvoice_es_verifactu`` and ``account_einvoice_ar`` activated,
holds one company per kind of posting; they share everything else:

``plain``
    the SII test company (tests.sii_case) with no e-invoice configuration:
    ``account_invoice``'s posting, the framework's hook finding no
    configuration.  The baseline.
``sii``
    the same company configured for the SII (its record is prepared at
    posting).
``verifactu``
    the same company configured for VERI*FACTU (its record is generated,
    hashed and chained at posting).
``plain_ar``
    the AFIP test company (tests.ar_case: pesos, IVA taxes) with no
    configuration: the baseline of the AFIP invoices, which cannot be the
    Spanish ones.
``afip``
    the same company configured for AFIP (the voucher's data fixed at
    posting; "authorize on post" off: the CAE is asked by the scheduler).

Every kind posts the same invoice: a customer with a tax identifier, two
lines of 100 and 40 with 21 % and 10 % VAT (10.5 % IVA in Argentina).
``--invoices`` of each kind are posted in rounds of ``--round``: each round
creates the invoices of every kind (committed, not timed), then posts each
kind's with one ``Invoice.post`` in a transaction of its own, in the
company's context, timing the call (wall clock, and CPU with
``time.process_time``: the whole process, so SQLite's work too but not a
PostgreSQL server's).  The kinds take turns, each round starting with the
next one; a warm-up round (caches, sequence locks) is not counted.

Printed per kind: total posting time, ms per invoice (wall and CPU), the
ratio to ``plain`` (goal <= 1.05) with its range over the rounds (the
ratio of each round to the plain posting of the same round), and the
range of ms per invoice over the rounds.

``--profile KIND``: after the timed rounds, one more round of KIND is
posted under cProfile (not counted); the top 30 functions by cumulative
time are printed, then the top 30 of our modules (``account_einvoice*``
paths).

The sandbox (SII, VERI*FACTU, AFIP) runs and the configurations point at
it, but posting must not call it: the requests it received during the
benchmark are printed (0 expected).

The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_posting``.
"""
import argparse
import cProfile
import io
import platform
import pstats
import sys
import time

from tests import tools

MODULES = ['account_einvoice_es_sii', 'account_einvoice_es_verifactu',
    'account_einvoice_ar']
SERVICES = ['sii', 'verifactu', 'afip_wsaa', 'afip_wsfe']
KINDS = ['plain', 'sii', 'verifactu', 'plain_ar', 'afip']
#: the baseline of each kind
BASELINE = {
    'plain': 'plain',
    'sii': 'plain',
    'verifactu': 'plain',
    'plain_ar': 'plain',
    'afip': 'plain_ar',
    }
LABELS = {
    'plain': "plain",
    'sii': "SII",
    'verifactu': "VERI*FACTU",
    'plain_ar': "plain (AR)",
    'afip': "AFIP",
    }
ES_LINES = [('100', ['iva21'], 'service'), ('40', ['iva10'], 'goods')]
AR_LINES = [('100', ['iva21'], 1), ('40', ['iva105'], 1)]
GOAL = 1.05


def say(text=''):
    print(text, flush=True)


def setup_companies(sandbox):
    """Create the company of each kind; return {kind: base}.  The plain
    companies have the tax identifier of the configured ones: the
    certificates are declared for the configured ones by id."""
    from tests import ar_case, sii_case, verifactu_case
    titular = sandbox.identity('es_company').tax_id
    bases = {}
    for kind in ['plain', 'sii', 'verifactu']:
        bases[kind] = tools.call(sii_case.create_sii_base, titular)
    for kind in ['plain_ar', 'afip']:
        bases[kind] = tools.call(ar_case.create_base)
    for kind in ['sii', 'verifactu', 'afip']:
        tools.declare_company(bases[kind]['company'])
    tools.call(sii_case.setup_configuration, bases['sii'], sandbox,
        company=bases['sii']['company'])
    tools.call(verifactu_case.setup_configuration, bases['verifactu'],
        sandbox, company=bases['verifactu']['company'])
    tools.call(ar_case.setup_configuration, bases['afip'], sandbox.url,
        ar_authorize_on_post=False, company=bases['afip']['company'])
    return bases


def create_invoices(kind, base, count):
    """Create count draft invoices of kind: one by the tests' helper, the
    others copied from it (quicker); return their ids"""
    from tests import ar_case, sii_case
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    Date = Pool().get('ir.date')
    if kind in {'plain_ar', 'afip'}:
        ids = [ar_case.create_invoice(base, 'ri', AR_LINES, post=False)]
    else:
        ids = [sii_case.create_invoice(base, ES_LINES, 'es', post=False).id]
    while len(ids) < count:
        ids.extend(i.id for i in Invoice.copy(
                Invoice.browse(ids[:count - len(ids)]),
                default={'invoice_date': Date.today()}))
    return ids


def post(ids, profiler=None):
    "Post the invoices; return (wall, cpu) seconds of Invoice.post"
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    invoices = Invoice.browse(ids)
    if profiler:
        profiler.enable()
    started, cpu = time.perf_counter(), time.process_time()
    Invoice.post(invoices)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler:
        profiler.disable()
    return wall, cpu


def post_round(bases, kinds, count, profiler=None):
    "Create count invoices of each kind, then post them; {kind: (wall, cpu)}"
    ids = {}
    for kind in kinds:
        ids[kind] = tools.call(create_invoices, kind, bases[kind], count,
            company=bases[kind]['company'])
    return {kind: tools.call(post, ids[kind], profiler,
            company=bases[kind]['company']) for kind in kinds}


def outcome(bases):
    "What the posting left: {kind: (posted, submissions, documents)}"
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Submission = pool.get('account.einvoice.submission')
    Document = pool.get('account.einvoice.document')
    result = {}
    for kind, base in bases.items():
        company = ('company', '=', base['company'])
        result[kind] = (
            Invoice.search_count([company, ('state', '=', 'posted')]),
            Submission.search_count([company]),
            Submission.search_count([company, ('prepared', '!=', None)]),
            Document.search_count([company]))
    return result


def spread(values, scale=1):
    return f"{min(values) * scale:.2f}-{max(values) * scale:.2f}"


def report(timings, count):
    "Print the figures of each kind; timings: {kind: [(wall, cpu)]}"
    rounds = len(timings['plain'])
    say(f"{'kind':<11} {'post s':>7} {'ms/inv':>7} {'CPU ms':>7} "
        f"{'ratio':>6} {'CPU r.':>6}  {'ratio/round':>11}  "
        f"{'ms/inv/round':>13}  vs")
    for kind in KINDS:
        base = BASELINE[kind]
        wall = sum(w for w, _ in timings[kind])
        cpu = sum(c for _, c in timings[kind])
        base_wall = sum(w for w, _ in timings[base])
        base_cpu = sum(c for _, c in timings[base])
        per_round = [w / (count / rounds) for w, _ in timings[kind]]
        ratios = [timings[kind][i][0] / timings[base][i][0]
            for i in range(rounds)]
        say(f"{LABELS[kind]:<11} {wall:7.2f} {wall / count * 1000:7.2f} "
            f"{cpu / count * 1000:7.2f} {wall / base_wall:6.3f} "
            f"{cpu / base_cpu:6.3f}  {spread(ratios):>11}  "
            f"{spread(per_round, 1000):>13}  {LABELS[base]}")
    say(f"ratio: ms/invoice over the baseline's in the same run "
        f"(goal <= {GOAL}); CPU r.: the same for CPU time")
    verdicts = []
    for kind in ['sii', 'verifactu', 'afip']:
        base = BASELINE[kind]
        ratio = (sum(w for w, _ in timings[kind])
            / sum(w for w, _ in timings[base]))
        verdicts.append(f"{LABELS[kind]} {ratio:.3f} "
            f"{'<=' if ratio <= GOAL else '>'} {GOAL}")
    say("overhead: " + ", ".join(verdicts))
    ar_ratio = (sum(w for w, _ in timings['afip'])
        / sum(w for w, _ in timings['plain']))
    say(f"(AFIP vs the Spanish plain company: {ar_ratio:.3f}; plain (AR) "
        "vs plain shows how much the invoices themselves differ)")


def print_profile(profiler, kind):
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats('cumulative').print_stats(30)
    say(f"--- profile of the posting of {LABELS[kind]}: top 30 by "
        "cumulative time")
    say(out.getvalue())
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats('cumulative').print_stats(r'account_einvoice', 30)
    say(f"--- profile of the posting of {LABELS[kind]}: our modules "
        "(account_einvoice*), top 30 by cumulative time")
    say(out.getvalue())


def main(argv):
    parser = argparse.ArgumentParser(
        description="Posting overhead of the e-invoice modules")
    parser.add_argument('--invoices', type=int, default=250,
        help="invoices posted of each kind (default 250)")
    parser.add_argument('--round', type=int, default=50,
        help="invoices of each kind posted per round (default 50)")
    parser.add_argument('--profile', choices=KINDS,
        help="profile one more round of this kind's posting")
    options = parser.parse_args(argv)
    tools.bench_database('bench_posting')

    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from trytond import __version__, backend

    size = max(min(options.round, options.invoices), 1)
    rounds = max(options.invoices // size, 1)
    count = rounds * size
    say(f"Posting benchmark: {count} invoices of each kind "
        f"({', '.join(LABELS[k] for k in KINDS)}), {rounds} rounds of "
        f"{size}; trytond {__version__}, {backend.name}, "
        f"Python {platform.python_version()}")
    started = time.perf_counter()
    test_tryton.drop_db()
    test_tryton.activate_module(MODULES)
    sandbox = Sandbox(SERVICES, subprocess=True)
    sandbox.start()
    try:
        tools.configure(sandbox, {'sii': 'es_company', 'afip': 'ar_company'},
            sections={'account_einvoice_es_verifactu': {
                    'installation_number': '1'}})
        bases = setup_companies(sandbox)
        say(f"setup: {time.perf_counter() - started:.0f} s")
        before = len(sandbox.received())

        post_round(bases, KINDS, min(size, 10))
        timings = {kind: [] for kind in KINDS}
        started = time.perf_counter()
        for index in range(rounds):
            start = index % len(KINDS)
            order = KINDS[start:] + KINDS[:start]
            for kind, figures in post_round(bases, order, size).items():
                timings[kind].append(figures)
            say(f"  round {index + 1}/{rounds}: " + ", ".join(
                    f"{LABELS[k]} {timings[k][-1][0] / size * 1000:.2f}"
                    for k in KINDS)
                + f" ms/invoice ({time.perf_counter() - started:.0f} s)")
        say()
        report(timings, count)

        if options.profile:
            profiler = cProfile.Profile()
            post_round(bases, [options.profile], size, profiler)

        requests = sandbox.received()[before:]
        say(f"sandbox requests during posting: {len(requests)}"
            + (f" {sorted({r['operation'] for r in requests})}"
                if requests else " (none, as expected)"))
        states = tools.call(outcome, bases, commit=False)
        say("posted invoices, submissions (with the record prepared), "
            "documents per kind: " + "; ".join(
                f"{LABELS[k]} {p}, {s} ({r}), {d}"
                for k, (p, s, r, d) in states.items()))
        if options.profile:
            say()
            print_profile(profiler, options.profile)
    finally:
        sandbox.stop()
        test_tryton.drop_db()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
