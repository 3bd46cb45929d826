"""A separate trytond process for the tests (like trytond-cron).

    python -m tests.worker --company ID             # the e-invoice cron job
    python -m tests.worker --cron                   # ir.cron.run, once
    python -m tests.worker --company ID --configuration ID  # one unit

The database is DB_NAME; the configuration file is TRYTOND_CONFIG.
"""
import argparse
import os
import sys
import time


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--company', type=int)
    parser.add_argument('--cron', action='store_true')
    parser.add_argument('--configuration', type=int)
    options = parser.parse_args(argv)

    from tests import tools
    database, pool = tools.start_pool(os.environ['TRYTOND_CONFIG'])
    if options.cron:
        from trytond import backend
        from trytond.transaction import Transaction
        with Transaction().start(database, 0, readonly=True):
            Cron = pool.get('ir.cron')
        # trytond-cron calls this every minute and logs what fails; a
        # concurrent update of the cron row is simply tried again.
        for _ in range(20):
            try:
                Cron.run(database)
                break
            except backend.DatabaseOperationalError:
                time.sleep(0.1)
    elif options.configuration:
        def run():
            Submission = pool.get('account.einvoice.submission')
            Configuration = pool.get('account.einvoice.configuration')
            Submission._run(Configuration(options.configuration))
        tools.call(run, company=options.company)
    else:
        tools.run_cron(options.company)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
