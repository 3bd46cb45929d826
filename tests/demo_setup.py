"""The demo's environment (:mod:`tests.demo`): paths, trytond
configuration, database, pool and the Tryton server process, and the
progress output."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

from tests import tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRECTORY = os.path.join(ROOT, 'var', 'demo')
SAO = os.path.join(ROOT, 'var', 'node', 'node_modules', 'tryton-sao')
SCHEMAS = os.environ.get(
    'TRYTOND_ACCOUNT_EINVOICE__SCHEMA_DIRECTORY', tools.official_schemas())
DATABASE = 'demo'
SERVICES = ['sii', 'verifactu', 'afip_wsaa', 'afip_wsfe', 'zatca', 'sifen']
#: certificate name in the trytond configuration -> sandbox identity
CERTIFICATES = {
    'sii': 'es_company', 'verifactu': 'es_other', 'afip': 'ar_company',
    'zatca': 'sa_company', 'sifen': 'py_company'}
PASSWORDS = {
    'admin': 'demo-admin',
    'chief': 'demo-chief',
    'bookkeeper': 'demo-bookkeeper',
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
            # what onboarding obtains (the ZATCA unit's key and tokens)
            'secrets_path': os.path.join(directory, 'secrets'),
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
    # the security code of SIFEN's QR codes (the sandbox's test CSC 0001)
    from tests.sifen_case import CSC
    sections['account_einvoice_certificate']['sifen.sifen_csc'] = CSC
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
    "An empty SQLite database with the country modules activated"
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
                '-u', 'account_einvoice_es_sii',
                'account_einvoice_es_verifactu', 'account_einvoice_ar',
                'account_einvoice_sa_zatca', 'account_einvoice_py_sifen',
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
