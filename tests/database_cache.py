"""Test databases built from smaller cached ones.

trytond's DB_CACHE keeps one database per list of modules, each built from
an empty database: about 90 s on PostgreSQL (25 s on SQLite), most of it
activating `account`.  Installed in a test process (tests.run does it), the
functions below derive instead:

- a database of our country modules from the framework's cached database,
  activating only what is missing (a few seconds);
- a scenario's database (modules and set-up functions, see
  trytond.tests.tools.activate_modules) from its modules' database;
- a database in another language from the English one, loading the
  language's translations as the client's "Load translations" button does.

The databases hold the same modules and data as when built from scratch.
Cache names carry EINVOICE_TEST_CACHE_KEY (the fingerprint of the modules'
sources) so that a cache never outlives the code that made it.  Processes
running at once (tests.run lanes) build each cache once: the first takes a
lock file in EINVOICE_TEST_LOCK_DIRECTORY, the others wait and restore."""
import fcntl
import hashlib
import os
from contextlib import contextmanager

#: the module every module of the suite depends on
FRAMEWORK = 'account_einvoice'
SUITE = {
    FRAMEWORK, 'account_einvoice_es_sii', 'account_einvoice_ar',
    'account_einvoice_es_verifactu', 'account_einvoice_sa_zatca',
    'account_einvoice_py_sifen'}


def _key(name):
    key = os.environ.get('EINVOICE_TEST_CACHE_KEY')
    return f'{name}@{key}' if key else name


#: the cache entries whose lock this process holds
_held = set()


@contextmanager
def _building(name):
    """Hold the lock of the cache entry name (no lock directory: no lock);
    a process already holding it goes on (a scenario's activate_modules
    builds the entry through activate_module, under the same name)"""
    directory = os.environ.get('EINVOICE_TEST_LOCK_DIRECTORY')
    if not directory or name in _held:
        yield
        return
    digest = hashlib.sha1(name.encode()).hexdigest()[:20]
    with open(os.path.join(directory, f'{digest}.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _held.add(name)
        try:
            yield
        finally:
            _held.discard(name)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _smaller(modules, lang):
    "The (modules, lang) the database is derived from, or None"
    if lang != 'en':
        return modules, 'en'
    if set(modules) <= SUITE and modules != [FRAMEWORK]:
        return [FRAMEWORK], 'en'
    return None


def activate_module(modules, lang='en'):
    "Replaces trytond.tests.test_tryton.activate_module"
    from trytond.tests import test_tryton
    if isinstance(modules, str):
        modules = [modules]
    modules = list(modules)
    name = '-'.join(modules) + ('' if lang == 'en' else f'--{lang}')
    name = _key(name)
    with _building(name):
        exists = test_tryton.db_exist(test_tryton.DB_NAME)
        if not exists and test_tryton.restore_db_cache(name):
            return
        smaller = _smaller(modules, lang)
        if not exists and smaller:
            activate_module(*smaller)
        else:
            test_tryton.create_db(lang=lang)
        _activate_missing(modules)
        if smaller and lang != 'en':
            _load_language(lang)
        test_tryton.backup_db_cache(name)


def _activate_missing(modules):
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction
    with Transaction().start(DB_NAME, 0, close=True) as transaction:
        pool = Pool()
        Module = pool.get('ir.module')
        found = Module.search([('name', 'in', modules)])
        missing = set(modules) - {m.name for m in found}
        assert not missing, f"Not found: {', '.join(sorted(missing))}"
        to_activate = [m for m in found if m.state != 'activated']
        if not to_activate:
            return
        Module.activate(to_activate)
        transaction.commit()
        ActivateUpgrade = pool.get(
            'ir.module.activate_upgrade', type='wizard')
        session_id, _, _ = ActivateUpgrade.create()
        transaction.commit()
        ActivateUpgrade(session_id).transition_upgrade()
        ActivateUpgrade.delete(session_id)
        transaction.commit()


def _load_language(code):
    "The language made the default, with its translations loaded"
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction
    with Transaction().start(DB_NAME, 0, close=True) as transaction:
        pool = Pool()
        Lang = pool.get('ir.lang')
        User = pool.get('res.user')
        Configuration = pool.get('ir.configuration')
        language, = Lang.search([('code', '=', code)])
        Lang.load_translations([language])
        configuration = Configuration.get_singleton() or Configuration()
        configuration.language = code
        configuration.save()
        User.write(User.search([('login', '!=', 'root')]), {
                'language': language.id,
                })
        transaction.commit()


def activate_modules(modules, *setup):
    "Replaces trytond.tests.tools.activate_modules (rst scenarios)"
    from trytond.tests import test_tryton, tools
    if isinstance(modules, str):
        modules = [modules]
    name = '-'.join(sorted(modules))
    if setup:
        name += '--' + '|'.join(tools._func_name(f) for f in setup)
    name = _key(name)
    with _building(name):
        if test_tryton.restore_db_cache(name):
            return tools._get_config()
        test_tryton.drop_db()
        activate_module(sorted(modules))
        config = tools._get_config()
        for function in setup:
            function(config=config)
        test_tryton.backup_db_cache(name)
        return config


def install():
    "Use the functions above in this process"
    from trytond.tests import test_tryton, tools
    test_tryton.activate_module = activate_module
    tools.activate_modules = activate_modules
