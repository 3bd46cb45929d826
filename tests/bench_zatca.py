"""Benchmark of the ZATCA module (prints figures, asserts nothing).

    python -m tests.bench_zatca [--invoices 1000] [--documents 2000]
        [--round 100]

Side by side, in one run, on a Saudi company whose EGS unit holds a
production credential of the sandbox (``zatca_case.grant_credentials``):

1. Documents on one core (this process, no database for the first):
   ``--documents`` synthetic simplified invoices (three lines, two VAT
   rates) through ``ubl.build`` and ``ubl.sign``; then the posted
   invoices through ``facts`` (Tryton invoice -> InvoiceData),
   ``ubl.build`` and ``ubl.sign``, as generation does.
2. Posting: ``--invoices`` simplified invoices posted in rounds of
   ``--round`` (``Invoice.post``: the rules checked, the document
   generated, signed, chained and stored), invoices/s; alternating with
   rounds posted with the unit inactive (plain ``account_invoice``).
3. Reporting: the cron, in a fresh process, reports them one request each
   to the sandbox (child process, no latency), invoices/s end to end;
   the sandbox's count of reported documents and of ICV/PIH errors.

The database is TRYTOND_DATABASE_URI (SQLite file by default), named
``bench_zatca``.
"""
import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from functools import partial

from tests import tools
from tests.bench_verifactu import send

print = partial(print, flush=True)
KINDS = [
    [('100', ['vat15'])],
    [('10.50', 3, ['vat15']), ('20', ['vat5'])],
    [('45.99', 2, ['vat15']), ('12', ['zero'])],
    ]


def synthetic(index, seller):
    "A simplified invoice of three lines, as facts would give it"
    from trytond.modules.account_einvoice_sa_zatca.invoice_data import (
        INVOICE, SIMPLIFIED, InvoiceData, LineData)
    lines = [
        LineData(id=str(n), name=f"Item {n}", quantity=Decimal(n),
            unit_code='PCE', price=Decimal('10.50'),
            amount=Decimal('10.50') * n, category='S',
            rate=Decimal(15 if n < 3 else 5))
        for n in range(1, 4)]
    return InvoiceData(
        number=f'SYN-{index}', uuid=f'00000000-0000-4000-8000-{index:012d}',
        issue_date=dt.date.today(), issue_time=dt.time(12, 0),
        transaction=SIMPLIFIED, type_code=INVOICE, currency='SAR',
        seller=seller, lines=lines, icv=index + 1,
        pih='NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5'
        'MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==')


def documents_per_second(configuration_id, count, invoices):
    """(synthetic documents/s, facts documents/s, facts count): build and
    sign in this process"""
    from trytond.modules.account_einvoice_sa_zatca import facts, ubl
    from trytond.modules.account_einvoice_sa_zatca.credentials import (
        credentials)
    from trytond.pool import Pool
    pool = Pool()
    Configuration = pool.get('account.einvoice.configuration')
    Invoice = pool.get('account.invoice')
    configuration = Configuration(configuration_id)
    credential = credentials(configuration)
    seller = facts.seller_data(configuration)
    started = time.perf_counter()
    for index in range(count):
        ubl.sign(ubl.build(synthetic(index, seller)), credential.key,
            credential.certificate)
    pure = count / (time.perf_counter() - started)
    records = Invoice.browse(invoices)
    started = time.perf_counter()
    for index, invoice in enumerate(records):
        data = facts.ZatcaInvoice(invoice, configuration).data
        data.uuid = f'00000000-0000-4000-9000-{index:012d}'
        data.issue_time = dt.time(12, 0)
        data.icv, data.pih = index + 1, 'x'
        ubl.sign(ubl.build(data), credential.key, credential.certificate)
    with_facts = len(records) / (time.perf_counter() - started)
    return pure, with_facts


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--invoices', type=int, default=1000,
        help="simplified invoices posted, then reported")
    parser.add_argument('--documents', type=int, default=2000,
        help="synthetic documents built and signed")
    parser.add_argument('--round', type=int, default=100)
    parser.add_argument('--child', help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    tools.bench_database('bench_zatca')
    if options.child:
        with open(options.child) as fp:
            send(json.load(fp))
        return 0

    test_tryton = tools.trytond_setup()
    from tests.sandbox import Sandbox
    from tests.zatca_case import (
        SERVICE, create_invoice, create_zatca_base, grant_credentials,
        setup_configuration)
    from trytond.pool import Pool

    rounds = max(options.invoices // options.round, 1)
    count = rounds * options.round
    print(f"ZATCA benchmark: {options.documents} documents built and "
        f"signed, {count} simplified invoices posted, then reported")
    test_tryton.drop_db()
    test_tryton.activate_module(['account_einvoice_sa_zatca'])
    secrets = tempfile.mkdtemp(prefix='bench-zatca-secrets-')
    sandbox = Sandbox([SERVICE], subprocess=True)
    sandbox.start()
    try:
        config_path = tools.configure(sandbox, {'zatca': 'sa_company'},
            secrets_path=secrets)
        base = tools.call(create_zatca_base,
            sandbox.identity('sa_company').tax_id)
        company = base['company']
        configuration = tools.call(setup_configuration, base, sandbox,
            certificate='zatca', company=company)
        tools.call(grant_credentials, sandbox, configuration)

        def post(start, count):
            Invoice = Pool().get('account.invoice')
            invoices = [Invoice(create_invoice(base, KINDS[i % len(KINDS)],
                        post=False)) for i in range(start, start + count)]
            started = time.perf_counter()
            Invoice.post(invoices)
            return time.perf_counter() - started, [i.id for i in invoices]

        def set_active(active):
            Configuration = Pool().get('account.einvoice.configuration')
            Configuration.write([Configuration(configuration)],
                {'active': active})

        tools.call(post, 0, 10, company=company)  # warm-up
        posting, plain, posted = 0.0, 0.0, []
        for index in range(rounds):
            # as many posted without ZATCA (the unit inactive): the base
            tools.call(set_active, False)
            plain += tools.call(post, index * options.round,
                options.round, company=company)[0]
            tools.call(set_active, True)
            elapsed, ids = tools.call(post, index * options.round,
                options.round, company=company)
            posting += elapsed
            posted += ids
        pure, with_facts = tools.call(documents_per_second, configuration,
            options.documents, posted, company=company, commit=False)
        print(f"documents, one core:  {pure:7.1f} documents/s "
            "(ubl.build + ubl.sign of InvoiceData)")
        print(f"                      {with_facts:7.1f} documents/s "
            "(facts + ubl.build + ubl.sign of posted invoices)")
        print(f"posting, one core:    {count / posting:7.1f} invoices/s "
            f"({count} simplified invoices, rules, document signed, "
            "chained and stored)")
        print(f"                      {count / plain:7.1f} invoices/s "
            f"without ZATCA (the unit inactive): ratio "
            f"{posting / plain:.2f}")

        with tempfile.NamedTemporaryFile('w', suffix='.json',
                delete=False) as fp:
            json.dump({'config': config_path, 'company': company}, fp)
        result = subprocess.run(
            [sys.executable, '-m', 'tests.bench_zatca', '--child', fp.name],
            env=dict(os.environ), capture_output=True, text=True)
        os.unlink(fp.name)
        if result.returncode:
            print(result.stderr[-3000:])
            return 1
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        state = sandbox.state(SERVICE)
        held = [d for unit in state['units'].values()
            for d in unit['documents']]
        reported = sum(1 for d in held if d['status'] == 'REPORTED')
        unlinked = sum(1 for d in held if not d['linked'])
        total = count + 10
        print(f"reporting (cron):     {total / figures['elapsed']:7.1f} "
            f"invoices/s end to end ({total} in {figures['elapsed']:.1f} s, "
            f"one request each; {figures['accepted']} accepted; sandbox: "
            f"{reported} reported, {unlinked} off the ICV/PIH chain)")
    finally:
        sandbox.stop()
        test_tryton.drop_db()
        shutil.rmtree(secrets, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
