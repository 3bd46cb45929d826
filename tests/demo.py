"""The demo (``make demo``): a Spanish and an Argentine company reporting
their invoices to the local authority sandbox, then the Tryton web client
to look at the result.

    python -m tests.demo [--no-server] [--port N] [--directory DIR]
    python -m tests.demo cron [--directory DIR]   # run the cron again

Steps: start the sandbox (AEAT SII, AFIP WSAA + WSFEv1) in a child
process, create a SQLite database in ``var/demo/`` with
``account_einvoice_es_sii`` and ``account_einvoice_ar`` activated, the two
companies with their e-invoice configuration, customers, suppliers,
taxes with the authorities' codes and two users, post invoices, run the
cron and print what each run did and what the authorities answered.  Two
invoices are not accepted: a Spanish customer's NIF has a wrong check
letter, so the module's own check refuses the invoice before sending it
(code ``LOCAL``), and AFIP rejects a Factura A for a CUIT it does not know
(the sandbox's ``unregistered_cuits``, AFIP code 10015).  Then a Tryton
server with the web client (sao, installed by npm in ``var/node``) runs on
127.0.0.1 until Ctrl-C, with the sandbox still answering.

``--no-server`` (or ``DEMO_NO_SERVER=1``) stops after the table.
``--ready-file F`` writes the addresses and logins as JSON once the server
answers (used by ``tests/test_browser.py``).  The configuration is written
to ``<directory>/trytond.conf``; ``cron`` runs the e-invoice cron against
the database of a running demo (the sandbox lives in the demo process).
"""
import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from urllib.parse import urlsplit

from tests import tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRECTORY = os.path.join(ROOT, 'var', 'demo')
SAO = os.path.join(ROOT, 'var', 'node', 'node_modules', 'tryton-sao')
SCHEMAS = os.environ.get(
    'TRYTOND_ACCOUNT_EINVOICE__SCHEMA_DIRECTORY', tools.official_schemas())
DATABASE = 'demo'
SERVICES = ['sii', 'afip_wsaa', 'afip_wsfe']
#: certificate name in the trytond configuration -> sandbox identity
CERTIFICATES = {'sii': 'es_company', 'afip': 'ar_company'}
PASSWORDS = {
    'admin': 'demo-admin',
    'chief': 'demo-chief',
    'bookkeeper': 'demo-bookkeeper',
    }
USERS = {
    # login: (name, accounting administrator)
    'chief': ("Chief Accountant", True),
    'bookkeeper': ("Bookkeeper", False),
    }
#: the customer whose NIF the SII check refuses (a wrong check letter),
#: and the NIF it should have
BAD_PARTY = "Cliente Con Error SL"
BAD_NIF = '23456789X'
GOOD_NIF = '23456789D'
#: the code of the submissions refused before sending, by the local checks
LOCAL = 'LOCAL'
TAX_NAMES = {
    'iva21': "IVA 21%",
    'iva10': "IVA 10%",
    're52': "Recargo de equivalencia 5.2%",
    'exempt': "IVA exento (art. 20)",
    'intra': "IVA 0% entrega intracomunitaria",
    'export': "IVA 0% exportación",
    'ns': "No sujeto (reglas de localización)",
    'irpf': "Retención IRPF 15%",
    'isp21': "IVA 21% inversión del sujeto pasivo",
    'isp21_neg': "IVA 21% ISP (deducible)",
    'untagged0': "IVA 0%",
    'iva21_re': "IVA 21% + recargo de equivalencia",
    }
#: AFIP voucher types (CbteTipo) shown in the table
AR_VOUCHERS = {
    '1': "FC A", '2': "ND A", '3': "NC A", '6': "FC B", '7': "ND B",
    '8': "NC B", '11': "FC C", '12': "ND C", '13': "NC C"}
AR_PARTY_NAMES = {
    'ri': "Distribuidora del Sur SA",
    'mono': "Taller Ramírez (monotributo)",
    'unregistered': "Comercial Fantasma SRL",
    'final': "Consumidor Final",
    'dni': "María González",
    }


def say(text='', end='\n'):
    print(text, end=end, flush=True)


class Step:
    "Print what is being done, then how long it took"

    def __init__(self, text):
        self.text = text

    def __enter__(self):
        self.started = time.monotonic()
        say(f'  {self.text}...', end='')
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            say(f' done ({time.monotonic() - self.started:.1f} s)')
        else:
            say(' failed')


def clean_environment():
    "The environment of trytond processes: only the demo's configuration"
    env = {k: v for k, v in os.environ.items()
        if not k.startswith('TRYTOND_') and k not in {
            'DB_NAME', 'DB_CACHE', 'TRYTONPASSFILE'}}
    env['TRYTOND_ACCOUNT_EINVOICE__SCHEMA_DIRECTORY'] = SCHEMAS
    env.setdefault('EINVOICE_SCHEMA_DIR', SCHEMAS)
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


def free_port(preferred=None):
    "preferred when it is free, otherwise any free port"
    for port in [preferred, 0] if preferred else [0]:
        with socket.socket() as sock:
            # as the server will (connections closing keep the port busy)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


def write_configuration(directory, sandbox, port):
    "The trytond configuration of the demo: database, web, authorities"
    root = SAO if os.path.exists(os.path.join(SAO, 'index.html')) else None
    sections = {
        'database': {
            'uri': 'sqlite://',
            'path': directory,
            },
        'web': {
            'listen': f'127.0.0.1:{port}',
            'root': root or os.path.join(directory, 'no-web-client'),
            },
        'session': {
            # the browser test logs in several times from one address
            'max_attempt': '50',
            },
        'account_einvoice': {
            'ca_bundle': sandbox.ca_path,
            'schema_directory': SCHEMAS,
            'timeout': '10',
            'connect_timeout': '5',
            'retry_delay': '60',
            # the only host an endpoint override may point at
            'allowed_hosts': urlsplit(sandbox.url).netloc,
            },
        'account_einvoice_certificate': {},
        }
    for name, identity in CERTIFICATES.items():
        identity = sandbox.identity(identity)
        sections['account_einvoice_certificate'].update({
                f'{name}.certificate': identity.cert_path,
                f'{name}.private_key': identity.key_path,
                # the company whose party holds the certificate's tax id
                f'{name}.companies': identity.tax_id,
                })
    path = os.path.join(directory, 'trytond.conf')
    with open(path, 'w') as fp:
        fp.write('# Written by tests/demo.py\n')
        for section, options in sections.items():
            fp.write(f'\n[{section}]\n')
            for option, value in options.items():
                fp.write(f'{option} = {value}\n')
    return path, root


def prepare_web_client():
    """sao's index.html loads node_modules/... next to itself: npm hoisted
    its dependencies one level up, so link them there"""
    if not os.path.exists(os.path.join(SAO, 'index.html')):
        return False
    link = os.path.join(SAO, 'node_modules')
    if not os.path.lexists(link):
        os.symlink('..', link)
    return os.path.exists(
        os.path.join(link, 'jquery', 'dist', 'jquery.js'))


def create_database(directory, config_path):
    "An empty SQLite database with the two country modules activated"
    open(os.path.join(directory, DATABASE + '.sqlite'), 'wb').close()
    passfile = os.path.join(directory, 'admin-password')
    with open(passfile, 'w') as fp:
        fp.write(PASSWORDS['admin'] + '\n')
    env = clean_environment()
    env['TRYTONPASSFILE'] = passfile
    log_path = os.path.join(directory, 'trytond-admin.log')
    with open(log_path, 'wb') as log:
        process = subprocess.run([
                os.path.join(os.path.dirname(sys.executable), 'trytond-admin'),
                '-c', config_path, '-d', DATABASE,
                '-u', 'account_einvoice_es_sii', 'account_einvoice_ar',
                '--activate-dependencies'],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            # no e-mail for admin (--email would check the domain's DNS)
            input=b'\n')
    os.unlink(passfile)
    if process.returncode:
        with open(log_path, errors='replace') as log:
            say('\n' + log.read()[-3000:])
        raise RuntimeError(f"trytond-admin failed, see {log_path}")


def start_pool(config_path):
    "Load the configuration and the pool of the demo database here"
    os.environ['DB_NAME'] = DATABASE
    os.environ['TRYTOND_ACCOUNT_EINVOICE__SCHEMA_DIRECTORY'] = SCHEMAS
    os.environ.setdefault('EINVOICE_SCHEMA_DIR', SCHEMAS)
    from trytond import config
    config.update_etc(config_path)
    # The books helpers of the tests live in the modules' test packages,
    # whose import asks for the test models: the demo database has none.
    import trytond.tests.test_tryton  # noqa: F401
    from trytond.pool import Pool
    Pool.test = False
    Pool.start()
    pool = Pool(DATABASE)
    pool.init()
    return pool


# -- data -------------------------------------------------------------------

def number_invoices(company, prefix):
    "Readable invoice numbers: <prefix>-<year>-0001"
    from trytond.pool import Pool
    pool = Pool()
    FiscalYear = pool.get('account.fiscalyear')
    Sequence = pool.get('ir.sequence.strict')
    sequences = set()
    for fiscalyear in FiscalYear.search([('company', '=', company)]):
        for line in fiscalyear.invoice_sequences:
            sequences.update([line.out_invoice_sequence,
                    line.out_credit_note_sequence, line.in_invoice_sequence,
                    line.in_credit_note_sequence])
    Sequence.write(list(sequences), {
            'prefix': prefix + '-${year}-', 'padding': 4})


def create_spain(sandbox):
    "The Spanish company, its SII configuration and books"
    from tests import sii_case
    from trytond.pool import Pool
    pool = Pool()
    Currency = pool.get('currency.currency')
    Tax = pool.get('account.tax')
    euro, = Currency.create([{
                'name': "Euro", 'code': 'EUR', 'symbol': '€',
                'rates': [('create', [{
                                'date': dt.date(2000, 1, 1),
                                'rate': Decimal(1)}])],
                }])
    nif = sandbox.identity('es_company').tax_id
    base = sii_case.create_sii_base(nif, currency=euro)
    Identifier = pool.get('party.identifier')
    Identifier.write(
        Identifier.search([('party', '=', base['parties']['bad'])]),
        {'code': BAD_NIF})
    for name, tax_id in base['taxes'].items():
        Tax.write([Tax(tax_id)], {
                'name': TAX_NAMES.get(name, name),
                'description': TAX_NAMES.get(name, name),
                })
    number_invoices(base['company'], 'ES')
    base['configuration'] = sii_case.setup_configuration(base, sandbox)
    return base


def create_argentina(sandbox):
    "The Argentine company, its point of sale and AFIP configuration"
    from tests import ar_case
    from trytond.pool import Pool
    Party = Pool().get('party.party')
    base = ar_case.create_base()
    for key, name in AR_PARTY_NAMES.items():
        Party.write([Party(base['parties'][key])], {'name': name})
    number_invoices(base['company'], 'AR')
    base['configuration'] = ar_case.setup_configuration(base, sandbox.url)
    return base


def create_users(companies):
    from trytond.pool import Pool
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    account = ModelData.get_id('account', 'group_account')
    admin = ModelData.get_id('account', 'group_account_admin')
    for login, (name, administrator) in USERS.items():
        User.create([{
                    'login': login,
                    'name': name,
                    'password': PASSWORDS[login],
                    'groups': [('add',
                            [account, admin] if administrator else [account])],
                    'companies': [('add', companies)],
                    'company': companies[0],
                    }])
    # the Tryton administrator works in the Spanish company too
    admin_user, = User.search([('login', '=', 'admin')])
    User.write([admin_user], {'company': companies[0]})


def post_spanish_invoices(base):
    "Customer invoices of every kind, a refused one, a credit note, a bill"
    from tests import ar_case, sii_case

    def post(lines, **kwargs):
        return sii_case.create_invoice(base, lines, **kwargs).id
    consulting = post([('1200', ['iva21'], 'service'),
            ('350', ['iva10'], 'goods')], party='es',
        description="Implantación y materiales")
    post([('45.50', ['iva21'], 'goods')], party='plain',
        description="Venta en tienda (factura simplificada)")
    post([('2400', ['intra'], 'goods')], party='eu',
        description="Entrega intracomunitaria")
    post([('980', ['export'], 'goods')], party='foreign',
        description="Exportación")
    post([('600', ['iva21'], 'service')], party='bad',
        description="Mantenimiento mensual")
    ar_case.credit_invoice(consulting)
    post([('800', ['iva21'], 'goods')], party='supplier', type_='in',
        reference='PROV-2025/0042', description="Compra de material")


def post_argentine_invoices(base):
    "Facturas A and B, one in dollars; return the first one's id"
    from tests import ar_case

    def post(party, lines, **values):
        return ar_case.create_invoice(base, party=party, lines=[
                (Decimal(amount), taxes, quantity)
                for amount, taxes, quantity in lines], **values)
    first = post('ri', [('150000', ['iva21'], 1)],
        description="Consultoría")
    post('ri', [('80000', ['iva105'], 2), ('5000', ['iva21'], 1)],
        description="Equipos")
    post('mono', [('25000', ['iva21'], 1)], description="Servicio técnico")
    post('final', [('12000', ['iva21'], 1)], description="Venta mostrador")
    post('dni', [('30000', ['iva21'], 1)], description="Curso")
    post('ri', [('1200', ['iva21'], 1)], currency=base['usd'],
        description="Licencia anual (USD)")
    # AFIP does not know this CUIT (see reject_unregistered_cuit)
    post('unregistered', [('40000', ['iva21'], 1)],
        description="Asesoramiento")
    return first


def reject_unregistered_cuit(sandbox):
    "AFIP rejects the vouchers of this customer: its CUIT is not registered"
    from tests.ar_case import CUSTOMERS
    sandbox.set_option('afip_wsfe', 'unregistered_cuits',
        [CUSTOMERS['unregistered'][1]])


def invoice_number(invoice_id):
    from trytond.pool import Pool
    return Pool().get('account.invoice')(invoice_id).number


def post_argentine_credit_note(invoice_id):
    "A credit note refers to an authorized voucher (with its CAE)"
    from tests import ar_case
    return ar_case.credit_invoice(invoice_id)


def submissions_table(company=None):
    "Rows (company, invoice, party, authority, state, reference, message)"
    from trytond.pool import Pool
    pool = Pool()
    Submission = pool.get('account.einvoice.submission')
    domain = [('company', '=', company)] if company else []
    states = dict(Submission.fields_get(['state'])['state']['selection'])
    rows = []
    for submission in Submission.search(domain,
            order=[('company', 'ASC'), ('id', 'ASC')]):
        invoice = submission.invoice
        configuration = submission.configuration
        authority = {
            'es_sii': "AEAT SII",
            'ar_afip': "AFIP WSFEv1",
            }.get(configuration.service, configuration.service)
        number = invoice.number or ''
        legal = getattr(invoice, 'ar_legal_number', None)
        if legal:
            kind = AR_VOUCHERS.get(invoice.ar_voucher_type, '')
            number = f'{number} ({kind} {legal})'
        if invoice.type == 'in':
            number = f'{number} ({invoice.reference})'
        state = states.get(submission.state, submission.state)
        if submission.state == 'rejected' and submission.code == LOCAL:
            state = "Refused before sending"
        rows.append({
                'company': submission.company.rec_name,
                'invoice': number,
                'party': invoice.party.rec_name,
                'authority': authority,
                'state': state,
                'code': submission.code or '',
                'reference': submission.reference or '',
                'message': submission.message or '',
                'amount': str(invoice.total_amount),
                'currency': invoice.currency.code,
                })
    return rows


def print_table(rows):
    "One line per submission; the message (last) is not cut"
    columns = [
        ('invoice', "Invoice", 34), ('party', "Party", 24),
        ('total', "Total", 16), ('authority', "Authority", 11),
        ('state', "State", 22), ('reference', "Reference (CSV / CAE)", 21),
        ('code', "Code", 6), ('message', "Message", 0)]

    def cut(text, size):
        text = ' '.join(str(text).split())
        if not size:
            return text
        return text if len(text) <= size else text[:size - 1] + '…'
    header = '  '.join(title.ljust(size) for _, title, size in columns)
    say(header.rstrip())
    say('-' * (len(header) + 20))
    company = None
    for row in rows:
        if row['company'] != company:
            company = row['company']
            say(f'{company}')
        row = dict(row, total=f"{row['amount']} {row['currency']}")
        say('  '.join(
                (cut(row[key], size).rjust(size) if key == 'total'
                    else cut(row[key], size).ljust(size))
                for key, _, size in columns).rstrip())


def count_by_state(rows):
    "Totals of the table, e.g. '13 accepted, 1 refused before sending'"
    counts = {}
    for row in rows:
        state = row['state'].lower()
        if state == 'rejected':
            state = "rejected by the authority"
        counts[state] = counts.get(state, 0) + 1
    return ', '.join(f'{n} {state}' for state, n in counts.items())


def last_outcome(company):
    "The id of the company's last outcome (what a run adds comes after)"
    from trytond.pool import Pool
    Outcome = Pool().get('account.einvoice.exchange.outcome')
    outcomes = Outcome.search([('submission.company', '=', company)],
        order=[('id', 'DESC')], limit=1)
    return outcomes[0].id if outcomes else 0


def run_summary(company, after):
    """What a run did, from the outcomes it recorded: the invoices sent,
    the requests, and what the authority answered, or the local refusals
    (no request)"""
    from trytond.pool import Pool
    Outcome = Pool().get('account.einvoice.exchange.outcome')
    outcomes = Outcome.search([
            ('submission.company', '=', company),
            ('id', '>', after),
            ], order=[('id', 'ASC')])
    sent = {o.submission.id for o in outcomes if o.exchange}
    requests = {o.exchange.id for o in outcomes if o.exchange}
    answers, refused = {}, 0
    for outcome in outcomes:
        if not outcome.exchange:
            refused += 1
            continue
        if outcome.state == 'rejected':
            key = "rejected by the authority"
        elif outcome.state in {'not_found', 'pending', 'unknown'}:
            key = "to send again"
        else:
            key = outcome.state.replace('_', ' ')
        answers[key] = answers.get(key, 0) + 1
    text = (f"{len(sent)} sent in {len(requests)} "
        f"request{'s' if len(requests) != 1 else ''}")
    if answers:
        text += ': ' + ', '.join(f'{n} {key}' for key, n in answers.items())
    if refused:
        text += f'; {refused} refused before sending (code {LOCAL})'
    return text


def run_cron(companies=None):
    """Run the e-invoice cron the way ir.cron does, one company at a time,
    showing the progress; return the table rows"""
    from tests import tools
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(DATABASE, 0, readonly=True):
        pool = Pool()
        Company = pool.get('company.company')
        Submission = pool.get('account.einvoice.submission')
        todo = []
        for company in Company.browse(companies) if companies else \
                Company.search([]):
            pending = Submission.search_count([
                    ('company', '=', company.id),
                    ('state', '=', 'pending'),
                    ])
            todo.append((company.id, company.rec_name, pending))
    for index, (company, name, pending) in enumerate(todo, 1):
        say(f'  [{index}/{len(todo)}] {name}: {pending} pending', end='')
        started = time.monotonic()
        with Transaction().start(DATABASE, 0, readonly=True):
            after = last_outcome(company)
        tools.call(lambda: Pool().get(
                'account.einvoice.submission').send_pending(),
            company=company)
        with Transaction().start(DATABASE, 0, readonly=True):
            done = run_summary(company, after)
        say(f' -> {done} ({time.monotonic() - started:.1f} s)')
    with Transaction().start(DATABASE, 0, readonly=True):
        return submissions_table()


# -- server -----------------------------------------------------------------

def wait_http(url, process, timeout=60):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped ({process.returncode})")
        try:
            with opener.open(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def start_server(directory, config_path):
    log = open(os.path.join(directory, 'trytond.log'), 'wb')
    process = subprocess.Popen([
            os.path.join(os.path.dirname(sys.executable), 'trytond'),
            '-c', config_path, '-d', DATABASE],
        env=clean_environment(), cwd=ROOT, stdout=log,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return process


def stop_process(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _terminate(signum, frame):
    raise KeyboardInterrupt


# -- commands ---------------------------------------------------------------

def demo(options):
    from tests.sandbox import Sandbox
    directory = os.path.abspath(options.directory)
    started = time.monotonic()
    if not os.path.isdir(os.path.join(SCHEMAS, 'es_sii')):
        say(f"The official schemas are not in {SCHEMAS}: run `make "
            "schemas` or set TRYTOND_ACCOUNT_EINVOICE__SCHEMA_DIRECTORY")
        return 1
    say("E-invoice demo: Spain (AEAT SII) and Argentina (AFIP WSFEv1) "
        "against the local sandbox")
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory)
    port = free_port(options.port)
    sandbox = Sandbox(SERVICES, pki_dir=os.path.join(directory, 'pki'),
        subprocess=True)
    server = None
    try:
        with Step("Starting the authority sandbox"):
            sandbox.start()
            reject_unregistered_cuit(sandbox)
        config_path, web_root = write_configuration(
            directory, sandbox, port)
        with Step(f"Creating the database {DATABASE} "
                f"({os.path.relpath(directory, ROOT)}/{DATABASE}.sqlite)"):
            create_database(directory, config_path)
            start_pool(config_path)
        from tests import tools
        with Step("Spanish company, SII configuration, taxes and parties"):
            spain = tools.call(create_spain, sandbox)
        with Step("Argentine company, point of sale 3, AFIP configuration"):
            argentina = tools.call(create_argentina, sandbox)
        companies = [spain['company'], argentina['company']]
        with Step("Users chief and bookkeeper"):
            tools.call(create_users, companies)
        with Step("Posting Spanish invoices"):
            tools.call(post_spanish_invoices, spain,
                company=spain['company'])
        with Step("Posting Argentine invoices"):
            factura = tools.call(post_argentine_invoices, argentina,
                company=argentina['company'])
        say("  Running the cron (Report Pending E-Invoices):")
        rows = run_cron(companies)
        with Step("Posting an Argentine credit note for the first Factura A "
                "(it needs its CAE)"):
            tools.call(post_argentine_credit_note, factura,
                company=argentina['company'])
        say("  Running the cron again:")
        rows = run_cron([argentina['company']])
        say()
        print_table(rows)
        say()
        say(f"In all: {count_by_state(rows)}.")
        say(f"Set up in {time.monotonic() - started:.0f} s.  "
            f"Configuration: {os.path.relpath(config_path, ROOT)}")
        if options.no_server:
            return 0
        if web_root is None or not prepare_web_client():
            say("The web client is not installed (make node, or npm ci "
                "--prefix var/node): the server answers Tryton's desktop "
                "client only.")
        server = start_server(directory, config_path)
        url = f'http://127.0.0.1:{port}/'
        wait_http(url, server)
        say()
        say(f"Tryton is running: {url}  (database: {DATABASE})")
        for login in ['chief', 'bookkeeper', 'admin']:
            role = {
                'chief': "accounting administrator: can Reschedule",
                'bookkeeper': "accounting user: reads, cannot Reschedule",
                'admin': "Tryton administrator",
                }[login]
            say(f"  {login:<11} password {PASSWORDS[login]:<16} {role}")
        say("To try, as chief: Financial > Invoices > E-Invoice "
            f"Submissions, tab Rejected: the invoice of {BAD_PARTY} was "
            "refused before sending (code LOCAL): read why; in Parties > "
            "Parties, "
            f"{BAD_PARTY}, tab Identifiers: {BAD_NIF} -> {GOOD_NIF}; back "
            "on the submission: Reschedule (or Send Now), or run the cron "
            "again with:")
        say(f"  {os.path.relpath(sys.executable, ROOT)} -m tests.demo cron"
            + ('' if directory == DIRECTORY
                else f" --directory {directory}"))
        say("Ctrl-C stops the server and the sandbox.")
        if options.ready_file:
            ready = {
                'url': url,
                'port': port,
                'database': DATABASE,
                'directory': directory,
                'config': config_path,
                'sqlite': os.path.join(directory, DATABASE + '.sqlite'),
                'python': sys.executable,
                'passwords': PASSWORDS,
                'web_client': web_root is not None,
                'bad_party': {
                    'name': BAD_PARTY, 'nif': BAD_NIF, 'fix': GOOD_NIF},
                'companies': {
                    'es': spain['company'], 'ar': argentina['company']},
                # an authorized Factura A (its AFIP tab has the CAE)
                'afip_invoice': tools.call(invoice_number, factura),
                'sandbox': sandbox.url,
                }
            with open(options.ready_file + '.tmp', 'w') as fp:
                json.dump(ready, fp)
            os.replace(options.ready_file + '.tmp', options.ready_file)
        while server.poll() is None:
            time.sleep(0.5)
        say(f"The server stopped ({server.returncode}); see "
            f"{os.path.relpath(directory, ROOT)}/trytond.log")
        return 1
    except KeyboardInterrupt:
        say("\nStopping.")
        return 0
    finally:
        if server is not None:
            stop_process(server)
        sandbox.stop()


def cron(options):
    directory = os.path.abspath(options.directory)
    config_path = os.path.join(directory, 'trytond.conf')
    if not os.path.exists(config_path):
        say(f"No demo in {directory}: run make demo first")
        return 1
    start_pool(config_path)
    say("Running the cron (Report Pending E-Invoices):")
    rows = run_cron()
    say()
    print_table(rows)
    if any(row['state'] == 'Pending' for row in rows):
        say("\nStill pending: is the demo (with its sandbox) running?")
    if options.json:
        with open(options.json, 'w') as fp:
            json.dump(rows, fp, indent=1)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.demo',
        description=__doc__.split('\n\n')[0])
    parser.add_argument('command', nargs='?', default='demo',
        choices=['demo', 'cron'])
    parser.add_argument('--directory', default=DIRECTORY,
        help="where the database, configuration and logs go "
        "(default var/demo, emptied first)")
    parser.add_argument('--port', type=int,
        default=int(os.environ.get('DEMO_PORT') or 8000),
        help="port of the Tryton server (default 8000 when free, else any)")
    parser.add_argument('--no-server', action='store_true',
        default=os.environ.get('DEMO_NO_SERVER', '') not in {'', '0'},
        help="stop after the table (also DEMO_NO_SERVER=1)")
    parser.add_argument('--ready-file',
        help="write the server's address and logins there (JSON)")
    parser.add_argument('--json', help="cron: write the table there")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if options.command == 'cron':
        return cron(options)
    return demo(options)


if __name__ == '__main__':
    sys.exit(main())
