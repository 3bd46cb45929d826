"""The demo (``make demo``): two Spanish companies (one on the SII, one on
VERI*FACTU), an Argentine one, a Saudi one (ZATCA) and a Paraguayan one
(SIFEN) reporting their
invoices to the local authority sandbox, then the Tryton web client to
look at the result.

    python -m tests.demo [--no-server] [--port N] [--directory DIR]
    python -m tests.demo cron [--directory DIR]   # run the cron again

Steps: start the sandbox (AEAT SII and VERI*FACTU, AFIP WSAA + WSFEv1,
ZATCA, SIFEN) in a child process, create a SQLite database in
``var/demo/`` with ``account_einvoice_es_sii``,
``account_einvoice_es_verifactu``, ``account_einvoice_ar``,
``account_einvoice_sa_zatca`` and ``account_einvoice_py_sifen``
activated, the five companies with their e-invoice configuration,
customers, suppliers, taxes with the authorities' codes and two users,
post invoices, run the cron and print what each run did and what the
authorities answered.  Two
invoices are not accepted: a Spanish customer's NIF has a wrong check
letter, so the module's own check refuses the invoice before sending it
(code ``LOCAL``), and AFIP rejects a Factura A for a CUIT it does not know
(the sandbox's ``unregistered_cuits``, AFIP code 10015).  The AEAT
rejects one VERI*FACTU invoice (the sandbox's ``reject_numbers``, code
1100); the demo then corrects it with *Reschedule*, which sends a new
record with ``Subsanacion`` and ``RechazoPrevio`` (see the submission's
*Documents* and *History*), and the AEAT accepts it.  The Saudi company's
EGS unit is onboarded with the sandbox portal's one-time password (key,
CSR, compliance credential and checks, production credential, kept in
``<directory>/secrets``); its standard invoice is cleared by ZATCA when it
is posted, its simplified invoices are reported by the cron, and a
standard invoice to a customer without national address is refused at
posting (ZATCA rule BR-KSA-10, left in draft).  The Paraguayan
company's invoices and credit note are signed with their CDC and QR when
posted and approved by SIFEN one by one; an invoice dated a week ahead is
refused at posting (beyond SIFEN's 120 hours) and an approved one is
cancelled, which sends SIFEN's cancellation event.  Then a Tryton
server with the web client (sao, installed by npm in ``var/node``) runs on
127.0.0.1 until Ctrl-C, with the sandbox still answering.

``--no-server`` (or ``DEMO_NO_SERVER=1``) stops after the table.
``--ready-file F`` writes the addresses and logins as JSON once the server
answers (used by ``tests/test_browser.py``).  The configuration is written
to ``<directory>/trytond.conf``; ``cron`` runs the e-invoice cron against
the database of a running demo (the sandbox lives in the demo process).
"""
import argparse
import json
import os
import shutil
import signal
import sys
import time

from tests.demo_data import (
    BAD_NIF, BAD_PARTY, GOOD_NIF, SA_PARTY_NAMES, correct_verifactu_invoice,
    create_argentina, create_saudi, create_spain, create_users,
    create_verifactu, draft_saudi_refused_invoice, invoice_number,
    onboard_saudi_unit, post_argentine_credit_note, post_argentine_invoices,
    post_refused, post_saudi_simplified_invoices, post_saudi_standard_invoice,
    post_spanish_invoices, post_verifactu_invoices, reject_unregistered_cuit,
    reject_verifactu_number)
from tests.demo_paraguay import (
    cancel_paraguayan_invoice, create_paraguay,
    draft_paraguayan_refused_invoice, post_paraguayan_documents)
from tests.demo_report import count_by_state, print_table, run_cron
from tests.demo_setup import (
    DATABASE, DIRECTORY, PASSWORDS, ROOT, SCHEMAS, SERVICES, Step,
    create_database, free_port, prepare_web_client, say, start_pool,
    start_server, stop_process, wait_http, write_configuration)


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
    say("E-invoice demo: Spain (AEAT SII and VERI*FACTU), Argentina "
        "(AFIP WSFEv1), Saudi Arabia (ZATCA) and Paraguay (SIFEN) against the "
        "local sandbox")
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
        with Step("VERI*FACTU company, configuration and taxes"):
            verifactu = tools.call(create_verifactu, sandbox, spain)
        with Step("Argentine company, point of sale 3, AFIP configuration"):
            argentina = tools.call(create_argentina, sandbox)
        with Step("Saudi company, EGS unit and taxes with ZATCA categories"):
            saudi = tools.call(create_saudi, sandbox)
        with Step("Onboarding the EGS unit with ZATCA (one-time password, "
                "compliance checks, production credential)"):
            tools.call(onboard_saudi_unit, saudi['configuration'],
                company=saudi['company'])
        with Step("Paraguayan company, point of issue 001-001, timbrado "
                "and SIFEN configuration"):
            paraguay = tools.call(create_paraguay, sandbox)
        companies = [
            spain['company'], verifactu['company'], argentina['company'],
            saudi['company'], paraguay['company']]
        with Step("Users chief and bookkeeper"):
            tools.call(create_users, companies)
        with Step("Posting Spanish invoices"):
            tools.call(post_spanish_invoices, spain,
                company=spain['company'])
        with Step("Posting VERI*FACTU invoices (records chained, QR codes)"):
            rejected, rejected_id = tools.call(post_verifactu_invoices,
                verifactu, company=verifactu['company'])
            reject_verifactu_number(sandbox, rejected)
        with Step("Posting Argentine invoices"):
            factura = tools.call(post_argentine_invoices, argentina,
                company=argentina['company'])
        with Step("Posting a Saudi standard invoice (cleared by ZATCA at "
                "posting)"):
            cleared = post_saudi_standard_invoice(saudi, DATABASE)
        say(f"    submission: {cleared}")
        with Step("Posting Saudi simplified invoices (signed, QR, to report "
                "within 24 h)"):
            tools.call(post_saudi_simplified_invoices, saudi,
                company=saudi['company'])
        with Step("Posting a Saudi standard invoice to "
                f"{SA_PARTY_NAMES['no_address']} (no national address)"):
            refused = tools.call(draft_saudi_refused_invoice, saudi,
                company=saudi['company'])
            refusal = tools.call(post_refused, refused,
                company=saudi['company'])
        say(f"    refused: {' '.join((refusal or 'not refused').split())}")
        with Step("Posting Paraguayan invoices and a credit note (CDC, "
                "signature and QR at posting)"):
            to_cancel = tools.call(post_paraguayan_documents, paraguay,
                company=paraguay['company'])
        with Step("Posting a Paraguayan invoice dated a week ahead"):
            refused = tools.call(draft_paraguayan_refused_invoice, paraguay,
                company=paraguay['company'])
            refusal = tools.call(post_refused, refused,
                company=paraguay['company'])
        say(f"    refused: {' '.join((refusal or 'not refused').split())}")
        say("  Running the cron (Report Pending E-Invoices):")
        rows = run_cron(companies)
        with Step("Posting an Argentine credit note for the first Factura A "
                "(it needs its CAE)"):
            tools.call(post_argentine_credit_note, factura,
                company=argentina['company'])
        with Step(f"Correcting VERI*FACTU invoice {rejected}, rejected by "
                "the AEAT: Reschedule (Subsanación, RechazoPrevio)"):
            sandbox.set_option('verifactu', 'reject_numbers', [])
            tools.call(correct_verifactu_invoice, rejected_id,
                company=verifactu['company'])
        with Step("Cancelling a Paraguayan invoice SIFEN approved "
                "(cancellation event)"):
            tools.call(cancel_paraguayan_invoice, to_cancel,
                company=paraguay['company'])
        say("  Running the cron again:")
        rows = run_cron([verifactu['company'], argentina['company'],
                paraguay['company']])
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
        say("In SANDBOX SAUDI COMPANY LLC (change the company in the "
            "preferences): Financial > Invoices > Customer Invoices, the "
            f"draft of {SA_PARTY_NAMES['no_address']} was refused at posting "
            "(ZATCA rules BR-KSA-10/63): give its address a street, "
            "building number, district, city and postal code, then post "
            "it: ZATCA clears it at once.")
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
                    'es': spain['company'], 'vf': verifactu['company'],
                    'ar': argentina['company'], 'sa': saudi['company'],
                    'py': paraguay['company']},
                # rejected by the AEAT, then corrected (Subsanación)
                'verifactu_corrected': rejected,
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
