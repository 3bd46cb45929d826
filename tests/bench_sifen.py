"""Benchmark of the SIFEN module (prints figures, asserts nothing).

    python -m tests.bench_sifen [--invoices 1000] [--documents 2000]
        [--round 100]

Side by side, in one run, on the Paraguayan company of
``tests/sifen_case.py`` with one point of issue reporting to the sandbox:

1. Documents on one core, no database: ``--documents`` synthetic FEs
   (three lines, IVA 10 % and 5 %) through ``document.generate`` (CDC,
   rDE, signature, QR, XSD validation), then through ``document.verify``
   (schema, CDC, QR hash, signature).
2. Posting: ``--invoices`` invoices posted in rounds of ``--round``
   (``Invoice.post``: the rules checked, the DE numbered in its series
   under the chain lock, generated, signed and stored), invoices/s;
   alternating with rounds posted with the unit inactive (plain
   ``account_invoice``).
3. Sending: the cron, in a fresh process, run until every DE is approved:
   lots of 50 to the sandbox (child process, no latency, lots processed at
   once: ``processing_seconds`` 0; the service polls at once:
   ``poll_delay`` 0), documents/s end to end, the cron runs, lots and
   polls, and the sandbox's count of approved CDCs and duplicates.

The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_sifen``.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from decimal import Decimal
from functools import partial

from tests import tools

print = partial(print, flush=True)
KINDS = [
    [('110000', ['iva10'])],
    [('22000', 3, ['iva10']), ('10500', 2, ['iva5'])],
    [('45990', 2, ['iva10']), ('12600', ['iva5']), ('5000', ['iva10'])],
    ]
#: the service asks for a lot's results at once, and believes a "not
#: found" after 5 s
TIMES = {'poll_delay': '0', 'processing_time': '5', 'poll_deadline': '3600'}
#: cron runs the child makes at most per lot before giving up
RUNS_PER_LOT = 5


def synthetic(index):
    "An FE of three lines at 10 % and 5 % (cash, PYG)"
    from tests.sifen_document_case import invoice_data
    from trytond.modules.account_einvoice_py_sifen.invoice_data import (
        TAXED, LineData)
    D = Decimal
    lines = [
        LineData(code='YM-1', description='Yerba Mate 500 g',
            quantity=D(3), unit=77, unit_name='UNI', unit_price=D(22000),
            total=D(66000), affectation=TAXED, rate=D(10),
            base=D(60000), tax=D(6000)),
        LineData(code='AZ-1', description='Azúcar 1 kg',
            quantity=D(2), unit=77, unit_name='UNI', unit_price=D(10500),
            total=D(21000), affectation=TAXED, rate=D(5),
            base=D(20000), tax=D(1000)),
        LineData(code='SV-1', description='Servicio de entrega',
            quantity=D(1), unit=77, unit_name='UNI', unit_price=D(11000),
            total=D(11000), affectation=TAXED, rate=D(10),
            base=D(10000), tax=D(1000)),
        ]
    return replace(invoice_data(), number=f'{index % 9999999 + 1:07d}',
        issued=dt.datetime.now().replace(microsecond=0), lines=lines,
        total=D(98000), tax_total=D(8000), reference=f'SYN-{index}')


def documents_per_second(count):
    "(generated/s, verified/s): generate and verify in this process"
    from tests.sifen_case import CSC
    from tests.sifen_document_case import identity
    from trytond import config
    from trytond.modules.account_einvoice_py_sifen import document
    if not config.has_section('account_einvoice'):
        config.add_section('account_einvoice')
    config.set('account_einvoice', 'schema_directory', tools.SCHEMAS)
    key, certificate = identity()
    data = [synthetic(i) for i in range(count)]
    started = time.perf_counter()
    generated = [document.generate(d, key, certificate, '0001', CSC,
            False, d.issued) for d in data]
    generating = count / (time.perf_counter() - started)
    started = time.perf_counter()
    problems = sum(len(document.verify(g.data, certificate, CSC))
        for g in generated)
    verifying = count / (time.perf_counter() - started)
    return generating, verifying, problems


def send(state):
    "Child process: cron runs until every DE is approved; print JSON"
    tools.start_pool(state['config'])
    from trytond.pool import Pool

    def count():
        Submission = Pool().get('account.einvoice.submission')
        return Submission.search_count([('state', '=', 'accepted')])
    started = time.perf_counter()
    runs = accepted = 0
    limit = RUNS_PER_LOT * (state['total'] // 50 + 2)
    while accepted < state['total'] and runs < limit:
        tools.run_cron(state['company'])
        runs += 1
        accepted = tools.call(count, commit=False)
    print(json.dumps({
                'elapsed': time.perf_counter() - started,
                'accepted': accepted,
                'runs': runs,
                }))


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--invoices', type=int, default=1000,
        help="invoices posted with SIFEN (as many without), then sent")
    parser.add_argument('--documents', type=int, default=2000,
        help="synthetic DEs generated, signed and verified")
    parser.add_argument('--round', type=int, default=100)
    parser.add_argument('--child', help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    tools.bench_database('bench_sifen')
    if options.child:
        with open(options.child) as fp:
            send(json.load(fp))
        return 0

    rounds = max(options.invoices // options.round, 1)
    count = rounds * options.round
    print(f"SIFEN benchmark: {options.documents} DEs generated and "
        f"verified, {count} invoices posted with SIFEN ({count} without), "
        "then sent in lots")
    generating, verifying, problems = documents_per_second(options.documents)
    print(f"documents, one core:  {generating:7.1f} DEs/s generated "
        "(CDC, rDE, signature, QR, XSD validation)")
    print(f"                      {verifying:7.1f} DEs/s verified "
        f"(schema, CDC, QR hash, signature; {problems} problems)")

    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from tests.sifen_case import (
        CSC, SECTION, SERVICE, create_invoice, create_sifen_base,
        setup_configuration)
    from trytond.pool import Pool

    test_tryton.drop_db()
    test_tryton.activate_module(['account_einvoice_py_sifen'])
    sandbox = Sandbox([SERVICE], subprocess=True)
    sandbox.start()
    try:
        config_path = tools.configure(sandbox, {'sifen': 'py_company'},
            secrets={'sifen': {'sifen_csc': CSC}},
            sections={SECTION: TIMES})
        sandbox.set_option(SERVICE, 'processing_seconds', 0)
        base = tools.call(create_sifen_base,
            sandbox.identity('py_company').tax_id)
        company = base['company']
        configuration = tools.call(setup_configuration, base, sandbox,
            company=company)

        def post(start, count):
            Invoice = Pool().get('account.invoice')
            invoices = Invoice.browse([
                    create_invoice(base, KINDS[i % len(KINDS)], post=False)
                    for i in range(start, start + count)])
            started = time.perf_counter()
            Invoice.post(invoices)
            return time.perf_counter() - started

        def set_active(active):
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(configuration)],
                {'active': active})

        tools.call(post, 0, 10, company=company)  # warm-up
        posting, plain = 0.0, 0.0
        for index in range(rounds):
            tools.call(set_active, False)
            plain += tools.call(post, index * options.round,
                options.round, company=company)
            tools.call(set_active, True)
            posting += tools.call(post, index * options.round,
                options.round, company=company)
        print(f"posting, one core:    {count / posting:7.1f} invoices/s "
            "(rules, DE numbered, generated, signed, chained and stored)")
        print(f"                      {count / plain:7.1f} invoices/s "
            f"without SIFEN (the unit inactive): ratio "
            f"{posting / plain:.2f}")

        total = count + 10
        with tempfile.NamedTemporaryFile('w', suffix='.json',
                delete=False) as fp:
            json.dump({'config': config_path, 'company': company,
                    'total': total}, fp)
        result = subprocess.run(
            [sys.executable, '-m', 'tests.bench_sifen', '--child', fp.name],
            env=dict(os.environ), capture_output=True, text=True)
        os.unlink(fp.name)
        if result.returncode:
            print(result.stderr[-3000:])
            return 1
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        lots = len(sandbox.received(SERVICE, 'rEnvioLote'))
        polls = len(sandbox.received(SERVICE, 'rEnviConsLoteDe'))
        queries = len(sandbox.received(SERVICE, 'rEnviConsDeRequest'))
        state = sandbox.state(SERVICE)
        approved = sum(1 for held in state['held'].values()
            if held['state'] == 'approved')
        print(f"sending (cron):       {total / figures['elapsed']:7.1f} "
            f"DEs/s end to end ({total} in {figures['elapsed']:.1f} s, "
            f"{figures['runs']} cron runs, {lots} lots, {polls} polls, "
            f"{queries} CDC queries; {figures['accepted']} accepted; "
            f"sandbox: {approved} CDCs approved, "
            f"{len(state['duplicates'])} duplicates)")
    finally:
        sandbox.stop()
        test_tryton.drop_db()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
