"""The peer comparison of the SII benchmark (``python -m tests.bench_sii
--peer [--pending 10000] [--runs 4] [--profile]``).

Ours side by side with the SII module of the Tryton community
(``trytoncommunity-account-es-sii`` 8.0, module ``account_es_sii``, which
this benchmark does not install: ``pip install
'trytoncommunity-account-es-sii>=8.0,<8.1'``; without it only ours runs).
One database with both modules gets one posted invoice of each kind of
part 1 of tests.bench_sii and ``--pending`` (the first count, 10,000 by
default) pending invoices in all, the others copied in SQL
(tests.bench_clone) with the pending rows of both modules (ours through
its posting hook, whose time is printed apart).  Then ``--runs`` times
each, alternately ours and the peer, a fresh process reports them all to
the sandbox on a copy of that database, ours with its cron, the peer with
``account.invoice.sii.send`` (its WSDL read from the official copy in the
schema directory and bound to the sandbox).  Each run prints wall and CPU
time of the reporting, the peak RSS of the process, what was accepted and
the requests the sandbox got; the summary gives the ranges and the ratios
peer / ours.
"""
import importlib.util
import json
import os
import sqlite3
import statistics
import time
from functools import partial
from urllib.parse import urlsplit

from tests import tools
from tests.bench_sii import KINDS, profiled, rss_mib, run_child, sii_database

print = partial(print, flush=True)

PEER = 'account_es_sii'
SIDES = ['ours', 'peer']


def peer_installed():
    return importlib.util.find_spec('trytond.modules.' + PEER) is not None


def setup_peer(base):
    """What the peer needs to report the invoices of KINDS: the invoices
    of every period sent, its keys and groups on the taxes, the SII URL
    and environment of the company"""
    from trytond.pool import Pool
    pool = Pool()
    Tax = pool.get('account.tax')
    Period = pool.get('account.period')
    ModelData = pool.get('ir.model.data')
    Configuration = pool.get('account.configuration')
    Period.write(Period.search([
                ('fiscalyear.company', '=', base['company']),
                ('type', '=', 'standard')]),
        {'es_sii_send_invoices': True})
    goods = ModelData.get_id('account_es', 'tax_group_sale')
    services = ModelData.get_id('account_es', 'tax_group_sale_service')
    taxes = base['taxes']
    to_write = []
    for name, key, group in [
            ('iva21', 'S1', goods), ('iva10', 'S1', goods),
            ('iva21_re', 'S1', goods), ('intra', 'E5', goods),
            ('intra_service', 'E5', services)]:
        to_write.extend(([Tax(taxes[name])], {
                    'es_sii_tax_key': key,
                    'es_sii_operation_key': '01',
                    'group': group,
                    }))
    to_write.extend(([Tax(taxes['re52'])], {
                'es_reported_with': taxes['iva21_re'],
                'group': goods,
                }))
    Tax.write(*to_write)
    configuration = Configuration(1)
    configuration.set_multivalue(
        'es_sii_url', 'aeat', company=base['company'])
    configuration.set_multivalue(
        'es_sii_environment', 'staging', company=base['company'])


def bind_peer(sandbox_url):
    """Make the peer build its SOAP client from the official WSDL of the
    schema directory and bind its port to the sandbox (it downloads the
    WSDL from AEAT and talks to AEAT otherwise)"""
    from requests import Session
    from zeep import Client
    from zeep.transports import Transport

    from trytond import config
    from trytond.pool import Pool
    CredentialSII = Pool().get('account.credential.sii')

    def get_client(cls, endpoint, **pattern):
        Configuration = Pool().get('account.configuration')
        environment = Configuration(1).get_multivalue(
            'es_sii_environment', **pattern)
        session = Session()
        session.cert = (
            config.get('account_es_sii', 'certificate'),
            config.get('account_es_sii', 'privatekey'))
        # REQUESTS_CA_BUNDLE and the like would override verify
        session.trust_env = False
        session.verify = config.get('account_einvoice', 'ca_bundle')
        client = Client(
            os.path.join(tools.SCHEMAS, 'es_sii', endpoint + '.wsdl'),
            transport=Transport(session=session))
        staging = environment == 'staging'
        port = client.wsdl.services['siiService'].ports[
            endpoint + ('Pruebas' if staging else '')]
        path = urlsplit(port.binding_options['address']).path
        return client.create_service(str(port.binding.name),
            sandbox_url + ('/pruebas' if staging else '') + path)
    CredentialSII.get_client = classmethod(get_client)


def report_side(state):
    """Child process of --peer: report what is pending on the database
    DB_NAME with one side (ours: the cron; peer: its send); print JSON"""
    os.environ['DB_NAME'] = state['database']
    tools.start_pool(state['config'])
    from trytond.pool import Pool
    company = state['company']
    if state['side'] == 'ours':
        def run():
            tools.run_cron(company)

        def outcome():
            Submission = Pool().get('account.einvoice.submission')
            states = {}
            for submission in Submission.search([]):
                states[submission.state] = states.get(
                    submission.state, 0) + 1
            return states, None
    else:
        def run():
            tools.call(
                lambda: Pool().get('account.invoice.sii').send(),
                company=company)

        def outcome():
            InvoiceSII = Pool().get('account.invoice.sii')
            states, error = {}, None
            for record in InvoiceSII.search([]):
                states[record.state] = states.get(record.state, 0) + 1
                if record.error_description and not error:
                    error = (f'{record.error_code}: '
                        f'{record.error_description}')[:300]
            return states, error
        tools.call(bind_peer, state['sandbox_url'])
    rss_before = rss_mib()
    elapsed, cpu = profiled(run, state)
    states, error = tools.call(outcome, commit=False)
    print(json.dumps({
                'elapsed': elapsed,
                'cpu': cpu,
                'states': states,
                'error': error,
                'rss_before': rss_before,
                'rss': rss_mib(),
                }))


class DatabaseCopies:
    """Copies of the database name: on SQLite a backup of its file (which
    includes what is committed but still in its write-ahead log), on
    PostgreSQL a database created from it as template"""

    def __init__(self, name):
        from trytond import backend, config
        self.name = name
        self.postgresql = backend.name == 'postgresql'
        self.directory = config.get('database', 'path')

    def _admin(self, query):
        "Execute query outside a transaction (PostgreSQL)"
        from trytond import backend
        database = backend.Database().connect()
        connection = database.get_connection(autocommit=True)
        try:
            connection.cursor().execute(query)
        finally:
            database.put_connection(connection)

    def _file(self, name):
        return os.path.join(self.directory, name + '.sqlite')

    def create(self, copy):
        if self.postgresql:
            from trytond import backend

            # a template must have no connection
            backend.Database(self.name).close()
            self._admin(f'CREATE DATABASE "{copy}" TEMPLATE "{self.name}"')
        else:
            source = sqlite3.connect(self._file(self.name))
            target = sqlite3.connect(self._file(copy))
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()

    def drop(self, copy):
        if self.postgresql:
            self._admin(f'DROP DATABASE IF EXISTS "{copy}"')
        else:
            for suffix in ['', '-wal', '-shm']:
                if os.path.exists(self._file(copy) + suffix):
                    os.unlink(self._file(copy) + suffix)


def seen(sandbox):
    """(requests, records of each registering request, faults) received by
    the sandbox's SII since its last reset"""
    received = sandbox.received('sii')
    records = [len(e['summary'].get('keys') or []) for e in received
        if (e['operation'] or '').startswith('SuministroLR')]
    faults = [e['fault_string'] for e in received if e.get('fault_string')]
    return len(received), records, faults


def peer_sections(identity):
    "The peer's certificate: the company's identity"
    return {'account_es_sii': {
            'certificate': identity.cert_path,
            'privatekey': identity.key_path}}


def compare(pending, runs, profile):
    """--peer: ours and the peer on copies of one database, alternately"""
    with_peer = peer_installed()
    modules = ['account_einvoice_es_sii']
    if with_peer:
        modules.append(PEER)
        sides = SIDES
    else:
        print(f"peer: {PEER} (trytoncommunity-account-es-sii>=8.0,<8.1) is "
            "not installed: running ours only")
        sides = ['ours']
    with sii_database(modules, peer_sections) as (
            sandbox, config_path, base, _):
        from tests import bench_clone
        from tests.sii_case import create_invoice
        from trytond.pool import Pool
        copies = DatabaseCopies(os.environ['DB_NAME'])
        company = base['company']
        if with_peer:
            tools.call(setup_peer, base, company=company)

        def post_templates():
            Invoice = Pool().get('account.invoice')
            invoices = [create_invoice(base, lines, party, post=False)
                for party, lines in KINDS]
            Invoice.post(invoices)
            return [i.id for i in invoices]
        templates = tools.call(post_templates, company=company)
        count = max(pending - len(templates), 0)
        started = time.perf_counter()
        clones = tools.call(bench_clone.clone_invoices, templates, count,
            company=company)
        print(f"setup: {len(templates)} invoices posted, {count} copied "
            f"in SQL in {time.perf_counter() - started:.1f} s")
        if with_peer:
            tools.call(bench_clone.peer_pending, clones, company=company)
        started = time.perf_counter()
        for start in range(0, len(clones), 1000):
            tools.call(bench_clone.our_pending, clones[start:start + 1000],
                company=company)
        print(f"posting-time work of ours: {len(clones)} invoices in "
            f"{time.perf_counter() - started:.1f} s (not in the figures "
            "below)")

        def count_pending():
            pool = Pool()
            Submission = pool.get('account.einvoice.submission')
            result = {'ours': Submission.search_count(
                    [('state', '=', 'pending')])}
            if with_peer:
                result['peer'] = pool.get('account.invoice.sii').search_count(
                    [('state', '=', 'pending')])
            return result
        counts = tools.call(count_pending, commit=False)
        print("pending: " + ", ".join(
                f"{side} {counts[side]}" for side in sides)
            + ("" if all(counts[s] == pending for s in sides)
                else f" (expected {pending} each)"))

        figures = {side: [] for side in sides}
        for run in range(runs):
            for side in sides:
                name = f"{os.environ['DB_NAME']}_{side}"
                copies.drop(name)
                copies.create(name)
                sandbox.reset(options=False)
                try:
                    result = run_child({'config': config_path,
                            'company': company, 'side': side,
                            'database': name, 'profile': profile,
                            'sandbox_url': sandbox.url})
                finally:
                    copies.drop(name)
                if result is None:
                    print(f"run {run + 1} {side}: failed")
                    continue
                requests, records, faults = seen(sandbox)
                done = result['states'].get(
                    'accepted' if side == 'ours' else 'sent', 0)
                result.update(requests=requests, records=records)
                figures[side].append(result)
                per_request = (f"{min(records)}-{max(records)}"
                    if records else "-")
                states = ", ".join(f"{k} {v}" for k, v in sorted(
                        result['states'].items()))
                print(f"run {run + 1} {side}: wall {result['elapsed']:.2f} s, "
                    f"CPU {result['cpu']:.2f} s, peak RSS "
                    f"{result['rss']:.0f} MiB; {done}/{pending} "
                    f"{'accepted' if side == 'ours' else 'sent'} ({states}); "
                    f"{requests} requests, {len(records)} registering, "
                    f"{per_request} records each")
                for fault in faults[:3]:
                    print(f"    fault: {fault[:300]}")
                if result.get('error'):
                    print(f"    first error: {result['error']}")

        def span(values, unit, digits=2):
            return f"{min(values):.{digits}f}-{max(values):.{digits}f} {unit}"
        for side in sides:
            results = figures[side]
            if not results:
                continue
            print(f"{side}: wall {span([r['elapsed'] for r in results], 's')}"
                f", CPU {span([r['cpu'] for r in results], 's')}, peak RSS "
                f"{span([r['rss'] for r in results], 'MiB', 0)} "
                f"({len(results)} runs)")
        if with_peer and figures['ours'] and figures['peer']:
            def ratio(key):
                peer = statistics.median(r[key] for r in figures['peer'])
                ours = statistics.median(r[key] for r in figures['ours'])
                best = (min(r[key] for r in figures['peer'])
                    / min(r[key] for r in figures['ours']))
                return f"{peer / ours:.2f} (best runs {best:.2f})"
            print(f"peer / ours (medians): wall {ratio('elapsed')}, "
                f"CPU {ratio('cpu')}, peak RSS {ratio('rss')}")
    return 0
