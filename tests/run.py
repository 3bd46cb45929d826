"""Run every test of the suite: each module's unittest suite (rst scenarios
included) and the cross-module tests under tests/.

Each target runs in its own process (trytond keeps per-process state) and
the last line printed is ``N passed, N failed, N skipped``.

    python -m tests.run                # everything
    python -m tests.run tests.test_x   # only some targets (module names)

The database comes from TRYTOND_DATABASE_URI (SQLite by default).  The
targets that need no database (DATABASE_FREE) run whatever the database;
TESTS_DATABASE_FREE=skip leaves them out (a CI's second database pass),
TESTS_DATABASE_FREE=only runs nothing else.

TESTS_JOBS targets run at once (default: the number of processors, at most
4), each lane on its own database, the longest targets of the previous run
first; a target's output is printed whole when it ends, with its duration,
and the slowest targets and tests at the end.  Databases are derived from
cached ones (tests/database_cache.py).
"""
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = [
    'account_einvoice', 'account_einvoice_es_sii', 'account_einvoice_ar',
    'account_einvoice_es_verifactu', 'account_einvoice_sa_zatca',
    'account_einvoice_py_sifen']
#: targets testing only the sandbox: no trytond database
DATABASE_FREE = [
    'tests.test_sandbox_afip_wsaa', 'tests.test_sandbox_afip_wsfe',
    'tests.test_sandbox_core', 'tests.test_sandbox_sii_consulta',
    'tests.test_sandbox_sii_suministro', 'tests.test_signing',
    'tests.test_sandbox_chain', 'tests.test_sandbox_soap12',
    'tests.test_sandbox_verifactu', 'tests.test_zatca_document',
    'tests.test_sandbox_zatca', 'tests.test_sifen_document',
    'tests.test_sandbox_sifen', 'tests.test_sifen_rules']
SLOWEST = 10


def source_hash():
    "Fingerprint of the modules so cached databases follow their changes"
    digest = hashlib.sha1()
    for module in MODULES:
        for directory, _, files in sorted(os.walk(os.path.join(ROOT, module))):
            for name in sorted(files):
                if name.endswith(('.py', '.xml', '.cfg', '.po')):
                    with open(os.path.join(directory, name), 'rb') as fp:
                        digest.update(name.encode() + fp.read())
    return digest.hexdigest()[:10]


def setup_environment():
    env = os.environ
    fingerprint = source_hash()
    env.setdefault('TRYTOND_DATABASE_URI', 'sqlite://')
    env.setdefault('EINVOICE_TEST_CACHE_KEY', fingerprint)
    from tests.tools import official_schemas
    env.setdefault(
        'TRYTOND_ACCOUNT_EINVOICE__SCHEMA_DIRECTORY', official_schemas())
    if env['TRYTOND_DATABASE_URI'].startswith('postgresql'):
        env.setdefault('DB_CACHE', 'postgresql://')
        env.setdefault('DB_NAME', f'test_einvoice_{fingerprint}')
    else:
        # File databases: worker processes of the tests share them.
        cache = os.path.join(ROOT, 'var', 'db-cache', fingerprint)
        path = os.path.join(ROOT, 'var', 'db')
        os.makedirs(cache, exist_ok=True)
        os.makedirs(path, exist_ok=True)
        env.setdefault('DB_CACHE', cache)
        env.setdefault('TRYTOND_DATABASE__PATH', path)
        env.setdefault('DB_NAME', 'test_einvoice')
    locks = os.path.join(ROOT, 'var', 'db-cache-locks')
    os.makedirs(locks, exist_ok=True)
    env.setdefault('EINVOICE_TEST_LOCK_DIRECTORY', locks)
    env.setdefault('PYTHONWARNINGS', 'ignore::DeprecationWarning')


def targets():
    names = []
    for module in MODULES:
        tests = os.path.join(ROOT, module, 'tests')
        for name in sorted(os.listdir(tests)):
            if name.startswith('test_') and name.endswith('.py'):
                names.append(f'trytond.modules.{module}.tests.{name[:-3]}')
    for name in sorted(os.listdir(os.path.join(ROOT, 'tests'))):
        if name.startswith('test_') and name.endswith('.py'):
            names.append(f'tests.{name[:-3]}')
    choice = os.environ.get('TESTS_DATABASE_FREE', '').lower()
    if choice == 'skip':
        names = [n for n in names if n not in DATABASE_FREE]
    elif choice == 'only':
        names = [n for n in names if n in DATABASE_FREE]
    elif choice:
        raise SystemExit(f"TESTS_DATABASE_FREE={choice}: skip or only")
    return names


class TimedResult(unittest.TextTestResult):
    "Records how long each test took"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.durations = []

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.durations.append(
            (test.id(), time.monotonic() - self._started))


def run_one(target, report):
    from tests import database_cache
    database_cache.install()
    suite = unittest.defaultTestLoader.loadTestsFromName(target)
    result = unittest.TextTestRunner(
        verbosity=2, resultclass=TimedResult).run(suite)
    failed = len(result.failures) + len(result.errors) + len(
        result.unexpectedSuccesses)
    with open(report, 'w') as fp:
        json.dump({
                'run': result.testsRun,
                'failed': failed,
                'skipped': len(result.skipped),
                'durations': result.durations,
                }, fp)
    return 0 if result.wasSuccessful() else 1


def print_slowest(files, tests):
    print('\nslowest files:')
    for target, seconds in sorted(files, key=lambda f: -f[1])[:SLOWEST]:
        print(f'{seconds:7.1f}s  {target}')
    print('slowest tests:')
    for test, seconds in sorted(tests, key=lambda t: -t[1])[:SLOWEST]:
        print(f'{seconds:7.1f}s  {test}')


def durations_path():
    backend = os.environ['TRYTOND_DATABASE_URI'].split(':')[0]
    return os.path.join(ROOT, 'var', f'test-durations-{backend}.json')


def longest_first(selected):
    "The targets, the longest of the previous run first (new ones first)"
    try:
        with open(durations_path()) as fp:
            previous = json.load(fp)
    except (OSError, ValueError):
        previous = {}
    return sorted(selected, key=lambda t: -previous.get(t, float('inf')))


def run_target(target, lane):
    "Run target in its own process; return (code, counts, output)"
    env = dict(os.environ)
    if lane:
        env['DB_NAME'] = f"{env['DB_NAME']}_{lane}"
    with tempfile.NamedTemporaryFile(suffix='.json') as report, \
            tempfile.TemporaryFile() as output:
        code = subprocess.call(
            [sys.executable, '-m', 'tests.run', '--one', target,
                report.name], cwd=ROOT, env=env, stdout=output,
            stderr=subprocess.STDOUT)
        try:
            with open(report.name) as fp:
                counts = json.load(fp)
        except (OSError, ValueError):
            counts = {'run': 1, 'failed': 1, 'skipped': 0}
        output.seek(0)
        return code, counts, output.read().decode('utf-8', 'replace')


def jobs():
    value = os.environ.get('TESTS_JOBS')
    if value:
        return max(1, int(value))
    return max(1, min(4, os.cpu_count() or 1))


def main(argv):
    setup_environment()
    if argv[:1] == ['--one']:
        return run_one(argv[1], argv[2])
    selected = longest_first(argv or targets())
    totals = {'run': 0, 'failed': 0, 'skipped': 0}
    broken = []
    files, tests = [], []
    started = time.monotonic()
    pending = queue.Queue()
    for target in selected:
        pending.put(target)
    printing = threading.Lock()
    lanes = min(jobs(), len(selected))

    def lane(number):
        while True:
            try:
                target = pending.get_nowait()
            except queue.Empty:
                return
            target_started = time.monotonic()
            code, counts, output = run_target(
                target, number if lanes > 1 else None)
            seconds = time.monotonic() - target_started
            with printing:
                print(f'--- {target}\n{output}', end='')
                print(f'--- {target}: {seconds:.1f}s '
                    f'({"FAILED" if code else "ok"})', flush=True)
                files.append((target, seconds))
                tests.extend(counts.pop('durations', []))
                for key in totals:
                    totals[key] += counts[key]
                if code:
                    broken.append(target)

    print(f'{len(selected)} targets, {lanes} at a time', flush=True)
    threads = [threading.Thread(target=lane, args=(n + 1,))
        for n in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    save_durations(files)
    print_slowest(files, tests)
    passed = totals['run'] - totals['failed'] - totals['skipped']
    print(f'\n{os.environ["TRYTOND_DATABASE_URI"].split(":")[0]}: '
        f'{time.monotonic() - started:.0f}s; failing: {broken or "none"}')
    print(f'{passed} passed, {totals["failed"]} failed, '
        f'{totals["skipped"]} skipped')
    return 1 if broken or not totals['run'] else 0


def save_durations(files):
    try:
        with open(durations_path()) as fp:
            durations = json.load(fp)
    except (OSError, ValueError):
        durations = {}
    durations.update({target: round(seconds, 1) for target, seconds in files})
    with open(durations_path(), 'w') as fp:
        json.dump(durations, fp, indent=0, sort_keys=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
