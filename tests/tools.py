"""Helpers for the cross-module tests: a database with the modules
activated and a company set up, the sandbox, and the trytond configuration
pointing at both."""
import datetime as dt
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import contextmanager
from decimal import Decimal
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def official_schemas():
    """../shared/schemas beside the repository, else the cache that
    `make schemas` fills (schema_download.default_directory)"""
    shared = os.path.normpath(os.path.join(ROOT, '..', 'shared', 'schemas'))
    if os.path.isdir(shared):
        return shared
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(cache, 'tryton-einvoice', 'schemas')


SCHEMAS = os.environ.get(
    'TRYTOND_ACCOUNT_EINVOICE__SCHEMA_DIRECTORY', official_schemas())
os.environ.setdefault('EINVOICE_SCHEMA_DIR', SCHEMAS)


def trytond_setup():
    "Import trytond's test machinery with test-only classes registered"
    from trytond.pool import Pool
    from trytond.tests import test_tryton
    Pool.test = True
    return test_tryton


def sqlite_database_bytes():
    """The bytes of the test SQLite database and its journals, or None
    on another backend

    Read by another process: closing a descriptor of the database file in
    this one would drop the POSIX locks SQLite's connections hold on it,
    and those connections then fail with "disk I/O error"."""
    from trytond import backend, config
    from trytond.tests.test_tryton import DB_NAME
    if backend.name != 'sqlite':
        return None
    filename = os.path.join(config.get('database', 'path'),
        DB_NAME + '.sqlite')
    names = [n for n in [filename, filename + '-wal', filename + '-journal']
        if os.path.exists(n)]
    return subprocess.run(['cat', *names], check=True,
        stdout=subprocess.PIPE).stdout


def start_pool(config_path):
    """In a process of its own (a worker, a benchmark's child): read the
    trytond configuration file, start the pool of the database DB_NAME;
    return (database name, pool)"""
    from trytond import config
    config.update_etc(config_path)
    trytond_setup()
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    database = os.environ['DB_NAME']
    Pool.start()
    pool = Pool(database)
    with Transaction().start(database, 0, readonly=True):
        pool.init()
    return database, pool


def is_postgresql():
    from trytond import backend
    return backend.name == 'postgresql'


def configure(sandbox, certificates=None, secrets=None, sections=None,
        **options):
    """Point the trytond configuration at the sandbox; return the path of
    an equivalent configuration file for worker processes.

    The sandbox's host is the allowed endpoint host (any port: tests also
    point at closed ports); each certificate is declared for the companies
    whose party holds the tax identifier of one of the identities named in
    certificates (the companies of the test class)."""
    from trytond import config
    values = {
        'account_einvoice': {
            'ca_bundle': sandbox.ca_path,
            'schema_directory': SCHEMAS,
            'timeout': '5',
            'connect_timeout': '2',
            'retry_delay': '60',
            'allowed_hosts': urlsplit(sandbox.url).hostname,
            },
        'account_einvoice_certificate': {},
        }
    values['account_einvoice'].update({k: str(v) for k, v in options.items()})
    identities = {name: sandbox.pki.identities[identity]
        for name, identity in (certificates or {}).items()}
    companies = ', '.join(sorted({i.tax_id for i in identities.values()}))
    for name, identity in identities.items():
        values['account_einvoice_certificate'].update({
                f'{name}.certificate': identity.cert_path,
                f'{name}.private_key': identity.key_path,
                f'{name}.companies': companies,
                })
    for name, items in (secrets or {}).items():
        values['account_einvoice_certificate'].update({
                f'{name}.{key}': value for key, value in items.items()})
    for section, items in (sections or {}).items():
        values.setdefault(section, {}).update(items)
    lines = []
    for section, items in values.items():
        if not config.has_section(section):
            config.add_section(section)
        lines.append(f'[{section}]')
        for option, value in items.items():
            config.set(section, option, value)
            lines.append(f'{option} = {value}')
    for section in ['database']:
        lines.append(f'[{section}]')
        for option in config.options(section):
            value = config.get(section, option)
            if value is not None:
                lines.append(f'{option} = {value}')
    fd, path = tempfile.mkstemp(prefix='einvoice-', suffix='.conf')
    with os.fdopen(fd, 'w') as fp:
        fp.write('\n'.join(lines) + '\n')
    return path


def declare_company(company_id):
    """Declare every certificate of the configuration for company_id too
    (by id: tests may change the company's tax identifier)"""
    from trytond import config
    section = 'account_einvoice_certificate'
    for option in config.options(section):
        if option.endswith('.companies'):
            value = config.get(section, option)
            config.set(section, option, f'{value}, {company_id}')


@contextmanager
def transaction(user=0, company=None, commit=True, **context):
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction
    if company is not None:
        context['company'] = company
    with Transaction().start(DB_NAME, user, context=context) as t:
        yield t
        if commit:
            t.commit()


#: records a transaction of this process had to lock (invoice sequences)
_LOCKED_RECORDS = {}


def call(func, *args, user=0, company=None, commit=True, context=None,
        **kwargs):
    """Run func in a transaction the way trytond's entry points do: start
    again with the needed locks when asked to.

    The records locked once (the sequences of posted invoices) are locked
    from the start by the next calls: on PostgreSQL, creating and posting
    a hundred invoices would otherwise be done twice."""
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction, TransactionError
    context = dict(context or {})
    if company is not None:
        context['company'] = company
    extras = {'_lock_records': {
            table: list(ids) for table, ids in _LOCKED_RECORDS.items()}}
    while True:
        with Transaction().start(
                DB_NAME, user, context=context, **extras) as t:
            try:
                result = func(*args, **kwargs)
            except TransactionError as exception:
                t.rollback()
                exception.fix(extras)
                for table, ids in extras.get('_lock_records', {}).items():
                    _LOCKED_RECORDS.setdefault(table, set()).update(ids)
                continue
            if commit:
                t.commit()
            else:
                t.rollback()
            return result


def setup_books(company):
    """Give company a chart of accounts with taxes and this year's fiscal
    year (sequences and periods), the admin user working in it; return its
    revenue and expense accounts"""
    from trytond.modules.account.tests import create_chart, get_fiscalyear
    from trytond.modules.account_invoice.tests import set_invoice_sequences
    from trytond.modules.company.tests import set_company
    from trytond.pool import Pool
    pool = Pool()
    User = pool.get('res.user')
    Account = pool.get('account.account')
    admin, = User.search([('login', '=', 'admin')])
    User.write([admin], {
            'companies': [('add', [company.id])],
            'company': company.id,
            })
    with set_company(company):
        create_chart(company, tax=True)
        fiscalyear = set_invoice_sequences(get_fiscalyear(company))
        fiscalyear.save()
        fiscalyear.create_period([fiscalyear])
        accounts = {}
        for kind in ['revenue', 'expense']:
            accounts[kind], = Account.search([
                    ('type.' + kind, '=', True), ('closed', '!=', True),
                    ('company', '=', company.id)], limit=1)
    return accounts


def create_base(company_name="Sandbox Test Co", tax_id='TEST0001'):
    "Create a company with a chart, fiscal year, party, tax and product"
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    pool = Pool()
    Tax = pool.get('account.tax')
    Party = pool.get('party.party')
    PaymentTerm = pool.get('account.invoice.payment_term')
    Configuration = pool.get('account.configuration')

    company = create_company(name=company_name)
    company.party.identifiers = [{'code': tax_id}]
    company.party.save()
    declare_company(company.id)
    accounts = setup_books(company)
    revenue, expense = accounts['revenue'], accounts['expense']
    with set_company(company):
        tax, = Tax.search([('company', '=', company.id)], limit=1)
        party = Party(name="Customer", addresses=[{}])
        party.save()
        term = PaymentTerm(name="Now", lines=[{}])
        term.save()
        configuration = Configuration(1)
        configuration.save()
    return {
        'company': company.id,
        'revenue': revenue.id,
        'expense': expense.id,
        'tax': tax.id,
        'party': party.id,
        'term': term.id,
        }


def create_invoice(base, amount=Decimal('100'), type_='out',
        description=None, post=True, date=None, quantity=1):
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Party = pool.get('party.party')
    party = Party(base['party'])
    invoice = Invoice(
        type=type_,
        company=base['company'],
        party=party,
        invoice_address=party.address_get(),
        payment_term=base['term'],
        invoice_date=date or dt.date.today(),
        description=description,
        lines=[{
                'type': 'line',
                'account': base['revenue' if type_ == 'out' else 'expense'],
                'description': "Service",
                'quantity': quantity,
                'unit_price': amount,
                'taxes': [base['tax']],
                }])
    invoice.on_change_type()
    invoice.save()
    if post:
        Invoice.post([invoice])
    return invoice


def create_lines_invoice(base, lines, party, currency, journal, term,
        line_text, post=True, **values):
    """A customer invoice of a country base (parties, currencies,
    journals, product, unit, revenue, taxes by name); lines: [(unit
    price, [tax names])] or [(unit price, quantity, [tax names])], each
    described by line_text; values:
    other invoice fields; posted unless post is False; return its id"""
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Party = pool.get('party.party')
    party = Party(base['parties'].get(party, party))
    invoice = Invoice(
        type='out', company=base['company'], party=party,
        invoice_address=party.address_get(), payment_term=term,
        currency=base['currencies'][currency],
        journal=base['journals'][journal],
        invoice_date=values.pop('invoice_date', dt.date.today()),
        lines=[{
                'type': 'line', 'account': base['revenue'],
                'currency': base['currencies'][currency],
                'product': base['product'], 'unit': base['unit'],
                'description': line_text,
                'quantity': line[1] if len(line) == 3 else 1,
                'unit_price': Decimal(line[0]),
                'taxes': [base['taxes'][t] for t in line[-1]],
                } for line in lines],
        **values)
    invoice.on_change_type()
    invoice.journal = base['journals'][journal]
    invoice.save()
    if post:
        Invoice.post([invoice])
    return invoice.id


def bulk_submissions(base, configuration, count):
    """Create count numbered invoices with pending submissions quickly
    (posting is not what is measured); return the invoice ids"""
    import datetime as dt

    from sql.operators import Concat

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Party = pool.get('party.party')
    Submission = pool.get('account.einvoice.submission')
    party = Party(base['party'])
    account = party.account_receivable_used
    invoices = Invoice.create([{
                'type': 'out',
                'company': base['company'],
                'party': party.id,
                'invoice_address': party.address_get().id,
                'account': account.id,
                'invoice_date': dt.date.today(),
                } for _ in range(count)])
    table = Invoice.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.update(
            [table.number], [Concat('B-', table.id)],
            where=table.id.in_([i.id for i in invoices])))
    Submission.create([{
                'invoice': i.id,
                'company': base['company'],
                'configuration': configuration,
                } for i in invoices])
    return [i.id for i in invoices]


def setup_configuration(base, certificate='test', **values):
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    configuration = Configuration(
        company=base['company'],
        service='test_authority',
        environment='staging',
        start_date=dt.date.today() - dt.timedelta(days=30),
        certificate_name=certificate,
        **values)
    configuration.save()
    return configuration


def run_cron(company):
    "Run the cron method the way ir.cron does: in its own transaction"
    from trytond.pool import Pool
    call(lambda: Pool().get('account.einvoice.submission').send_pending(),
        company=company)


def run_queue():
    "Run the tasks queued by the last transactions (no worker configured)"
    from trytond.pool import Pool
    from trytond.worker import run_task
    with transaction() as t:
        Queue = Pool().get('ir.queue')
        ids = [q.id for q in Queue.search([('dequeued_at', '=', None)])]
        pool = Pool()
        t.commit()
    for task_id in ids:
        run_task(pool, task_id)


def bench_database(name):
    """Use a database of its own for a benchmark: named name, without the
    tests' cache, in a temporary folder on SQLite"""
    os.environ.setdefault('TRYTOND_DATABASE_URI', 'sqlite://')
    os.environ['DB_NAME'] = name
    os.environ.pop('DB_CACHE', None)
    if os.environ['TRYTOND_DATABASE_URI'].startswith('sqlite'):
        os.environ.setdefault(
            'TRYTOND_DATABASE__PATH', tempfile.mkdtemp(prefix=name + '-'))


def worker(config_path, *args, wait=True, **kwargs):
    "Run tests.worker in another process"
    from trytond.tests.test_tryton import DB_NAME
    env = dict(os.environ, TRYTOND_CONFIG=config_path, DB_NAME=DB_NAME)
    command = [sys.executable, '-m', 'tests.worker', *args]
    if wait:
        return subprocess.run(command, cwd=ROOT, env=env, **kwargs)
    return subprocess.Popen(command, cwd=ROOT, env=env, **kwargs)


def requires_sqlite(test):
    return unittest.skipIf(
        os.environ.get('TRYTOND_DATABASE_URI', '').startswith('postgresql'),
        "SQLite only: its write lock is taken by the first write, where "
        "PostgreSQL locks the row when it is read (FOR UPDATE)")(test)


def requires_postgresql(test):
    return unittest.skipUnless(
        os.environ.get('TRYTOND_DATABASE_URI', '').startswith('postgresql'),
        "needs PostgreSQL (row locks shared by several processes)")(test)
