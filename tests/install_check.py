"""Check doc/install.rst from a built wheel (run by .ci/run)::

    TRYTOND_DATABASE_URI=postgresql://USER@HOST:PORT/ \\
        python -m tests.install_check [--database NAME] [--keep]

Builds the wheel of the repository, installs it (with proteus) into a new
virtual environment, activates the modules with ``trytond-admin`` in a new
PostgreSQL database, starts the authority sandbox, writes
doc/trytond.conf.example adapted to the sandbox (database, schemas, CA,
allowed host, certificate), sets up a Spanish company and posts one invoice
(tests/install_setup.py, the client's first steps with proteus), runs
``trytond-cron --once`` and checks the invoice was accepted.  Also checks
that the example names every option the modules read.  Exits non-zero on
any failure; the work directory is kept then.
"""
import argparse
import configparser
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit, urlunsplit

from tests import tools

ROOT = tools.ROOT
EXAMPLE = os.path.join(ROOT, 'doc', 'trytond.conf.example')
MODULES = [
    'account_einvoice', 'account_einvoice_es_sii', 'account_einvoice_ar',
    'account_einvoice_es_verifactu', 'account_einvoice_sa_zatca',
    'account_einvoice_py_sifen']
CERTIFICATE = 'acme_es'
# config.get*(section, 'option') and option('name') in the modules' code,
# and the certificates' _option(name, 'key') (option NAME.key)
OPTION_READ = re.compile(
    r"""(?:config\.get\w*\(\s*[\w']+,\s*|\boption\(\s*)f?'([^']+)'""")
CERTIFICATE_READ = re.compile(r"""\b_option\(\s*\w+,\s*'(\w+)'""")


class Failed(Exception):
    pass


def step(text):
    print(f'  {text}...', end='', flush=True)
    return time.monotonic()


def done(started):
    print(f' done ({time.monotonic() - started:.1f} s)', flush=True)


def run(args, log, **kwargs):
    "Run args, output to log; Failed with the log's end when it fails"
    with open(log, 'ab') as fp:
        process = subprocess.run(args, stdout=fp, stderr=subprocess.STDOUT,
            **kwargs)
    if process.returncode:
        with open(log, errors='replace') as fp:
            tail = fp.read()[-4000:]
        raise Failed(f"{os.path.basename(args[0])} failed "
            f"({process.returncode}), see {log}:\n{tail}")


def missing_options():
    "Options the modules read that the example does not show"
    with open(EXAMPLE) as fp:
        example = {m.group(1) for m in re.finditer(
                r'^#?\s*([\w.]+)\s*=', fp.read(), re.MULTILINE)}
    missing = set()
    for path in glob.glob(os.path.join(ROOT, 'account_einvoice*', '*.py')):
        with open(path) as fp:
            code = fp.read()
            for name in OPTION_READ.findall(code) + [
                    '{name}.' + key for key in CERTIFICATE_READ.findall(code)]:
                pattern = re.sub(r'\\\{[^}]*\\\}', r'\\w+', re.escape(name))
                if not any(re.fullmatch(pattern, o) for o in example):
                    missing.add(name)
    return sorted(missing)


def clean_environment():
    env = {k: v for k, v in os.environ.items()
        if not k.startswith('TRYTOND') and k not in {
            'DB_NAME', 'DB_CACHE', 'PYTHONPATH', 'VIRTUAL_ENV'}}
    env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
    return env


def build_wheel(work, log):
    "The wheel of the repository's files (tracked or not ignored)"
    source = os.path.join(work, 'source')
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others',
            '--exclude-standard'], cwd=ROOT, check=True,
        capture_output=True).stdout.split(b'\0')
    for name in filter(None, (f.decode() for f in files)):
        if os.path.isfile(os.path.join(ROOT, name)):
            target = os.path.join(source, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), target)
    dist = os.path.join(work, 'dist')
    run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '-w', dist,
        source], log, env=clean_environment())
    wheel, = glob.glob(os.path.join(dist, '*.whl'))
    return wheel


def database_uri(uri, name):
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path='/' + name))


def create_database(uri, name):
    import psycopg
    with psycopg.connect(database_uri(uri, 'postgres'),
            autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(uri, name):
    import psycopg
    with psycopg.connect(database_uri(uri, 'postgres'),
            autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def start_sandbox(work, log):
    ready = os.path.join(work, 'sandbox.json')
    with open(log, 'ab') as fp:
        process = subprocess.Popen([sys.executable, '-m', 'tests.sandbox',
                '--pki-dir', os.path.join(work, 'pki'), '--ready-file', ready,
                '--quiet', '--service', 'sii'],
            cwd=ROOT, stdout=fp, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise Failed(f"the sandbox did not start, see {log}")
        time.sleep(0.1)
    with open(ready) as fp:
        return process, json.load(fp)


def write_configuration(work, uri, sandbox):
    "doc/trytond.conf.example with the sandbox's addresses and files"
    from tests.sandbox.pki import P12_PASSWORD, PKI
    pki = PKI.load(sandbox['pki_dir'])
    identity = pki.identities['es_company']
    config = configparser.ConfigParser(interpolation=None)
    config.read(EXAMPLE)
    config['database'].update(
        uri=uri, path=os.path.join(work, 'filestore'))
    config['account_einvoice'].update(
        schema_directory=tools.SCHEMAS,
        ca_bundle=pki.ca_path,
        allowed_hosts=urlsplit(sandbox['url']).netloc)
    config['account_einvoice_certificate'].update({
            f'{CERTIFICATE}.pkcs12': identity.p12_path,
            f'{CERTIFICATE}.password': P12_PASSWORD,
            f'{CERTIFICATE}.companies': identity.tax_id,
            })
    path = os.path.join(work, 'trytond.conf')
    with open(path, 'w') as fp:
        config.write(fp)
    return path, identity.tax_id


def check(work, uri, database):
    log = os.path.join(work, 'install-check.log')
    venv = os.path.join(work, 'venv')
    bin_ = os.path.join(venv, 'bin')
    env = clean_environment()

    missing = missing_options()
    if missing:
        raise Failed("doc/trytond.conf.example lacks the options "
            + ', '.join(missing))

    started = step("Building the wheel")
    wheel = build_wheel(work, log)
    done(started)

    started = step(f"Installing {os.path.basename(wheel)} and proteus "
        "into a new virtual environment")
    run([sys.executable, '-m', 'venv', '--without-pip', venv], log)
    python = os.path.join(bin_, 'python')
    run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
        wheel + '[postgresql]', 'proteus>=8.0,<8.1'], log, env=env)
    done(started)

    started = step("Starting the sandbox")
    sandbox, ready = start_sandbox(work, log)
    done(started)
    try:
        config_path, nif = write_configuration(work, uri, ready)
        started = step(f"Activating the modules in {database} (trytond-admin)")
        create_database(uri, database)
        passfile = os.path.join(work, 'admin-password')
        with open(passfile, 'w') as fp:
            fp.write('install-check\n')
        run([os.path.join(bin_, 'trytond-admin'), '-c', config_path, '-d',
            database, '-u', *MODULES, '--activate-dependencies'], log,
            env=dict(env, TRYTONPASSFILE=passfile), input=b'\n')
        done(started)

        setup = [python, '-I', os.path.join(ROOT, 'tests', 'install_setup.py'),
            config_path, database]
        started = step("Company, authority record and one posted invoice "
            "(proteus)")
        # trytond picks its database backend from TRYTOND_CONFIG at import
        env['TRYTOND_CONFIG'] = config_path
        run(setup + ['setup', nif, ready['url'] + '/pruebas', CERTIFICATE],
            log, env=env)
        done(started)

        started = step("trytond-cron --once")
        run([os.path.join(bin_, 'trytond-cron'), '-c', config_path, '-d',
            database, '--once', '-n', '1'], log, env=env)
        done(started)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    run(setup + ['check'], log, env=env)
    with open(log, errors='replace') as fp:
        print('  ' + fp.read().strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.install_check',
        description=__doc__.split('\n\n')[0])
    parser.add_argument('--database',
        default=os.environ.get('INSTALL_CHECK_DB', 'einvoice_install_check'))
    parser.add_argument('--keep', action='store_true',
        help="keep the database and the work directory")
    options = parser.parse_args(argv)
    uri = os.environ.get('TRYTOND_DATABASE_URI', '')
    if not uri.startswith('postgresql'):
        print("TRYTOND_DATABASE_URI must name a PostgreSQL server",
            file=sys.stderr)
        return 2
    os.umask(0o027)
    work = tempfile.mkdtemp(prefix='einvoice-install-')
    started = time.monotonic()
    print(f"Installation check (doc/install.rst) in {work}", flush=True)
    try:
        check(work, uri, options.database)
    except Failed as exception:
        print(f'\nFAILED: {exception}', file=sys.stderr)
        return 1
    print(f"Installation check passed in {time.monotonic() - started:.0f} s")
    if not options.keep:
        drop_database(uri, options.database)
        shutil.rmtree(work)
    return 0


if __name__ == '__main__':
    sys.exit(main())
