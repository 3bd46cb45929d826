"""The first configuration steps of doc/install.rst, done with proteus in
a database where the modules were activated by trytond-admin (run by
tests/install_check.py with the Python of the clean installation)::

    python install_setup.py CONFIG DATABASE setup NIF ENDPOINT CERTIFICATE
    python install_setup.py CONFIG DATABASE check

``setup``: a Spanish company (party NIF), its chart of accounts, fiscal
year and invoice sequences, an SII-coded tax, a customer, the company's
E-Invoice Authority record (AEAT SII, staging, through ENDPOINT) and one
posted customer invoice.  ``check``: exit 0 when that invoice's
submission was accepted by the authority, 1 otherwise.
"""
import datetime as dt
import sys
from decimal import Decimal

from proteus import Model
from proteus import config as pconfig

from trytond.modules.account.tests.tools import (
    create_chart, create_fiscalyear, create_tax, get_accounts)
from trytond.modules.account_invoice.tests.tools import (
    create_payment_term, set_fiscalyear_invoice_sequences)
from trytond.modules.company.tests.tools import create_company, get_company

CUSTOMER_NIF = '12345678Z'


def setup(nif, endpoint, certificate):
    Currency = Model.get('currency.currency')
    Country = Model.get('country.country')
    Party = Model.get('party.party')
    Invoice = Model.get('account.invoice')
    Authority = Model.get('account.einvoice.configuration')

    euro = Currency(name="Euro", code='EUR', symbol='€', rounding=Decimal(
            '0.01'))
    euro.save()
    spain = Country(code='ES', name="Spain")
    spain.save()
    party = Party(name="EMPRESA DE PRUEBA SL")
    party.addresses[0].country = spain
    party.identifiers.new(type='es_vat', code=nif)
    party.save()
    create_company(party, euro)
    company = get_company()

    create_chart(company)
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company))
    fiscalyear.click('create_period')
    accounts = get_accounts(company)
    tax = create_tax(Decimal('0.21'))
    tax.name = tax.description = "IVA 21%"
    tax.sii_tax_key = 'S1'
    tax.save()
    term = create_payment_term()
    term.save()

    customer = Party(name="Cliente Nacional SA")
    customer.addresses[0].country = spain
    customer.identifiers.new(type='es_vat', code=CUSTOMER_NIF)
    customer.save()

    authority = Authority(company=company)
    authority.service = 'es_sii'
    authority.sii_authority = 'aeat'
    authority.environment = 'staging'
    authority.start_date = dt.date.today() - dt.timedelta(days=30)
    authority.certificate_name = certificate
    authority.endpoint_host = endpoint
    authority.save()

    invoice = Invoice(type='out', party=customer, payment_term=term)
    invoice.invoice_date = dt.date.today()
    line = invoice.lines.new()
    line.account = accounts['revenue']
    line.description = "Consulting"
    line.quantity = 1
    line.unit_price = Decimal('100')
    line.taxes.append(tax)
    invoice.click('post')
    print(f"Posted invoice {invoice.number}, total {invoice.total_amount}")


def check():
    Submission = Model.get('account.einvoice.submission')
    submissions = Submission.find([])
    for submission in submissions:
        print(f"{submission.invoice.number}: {submission.state} "
            f"{submission.reference or ''} {submission.message or ''}")
    if len(submissions) == 1 and submissions[0].state == 'accepted':
        return 0
    print("expected one accepted submission", file=sys.stderr)
    return 1


def main(config_file, database, command, *args):
    pconfig.set_trytond(database, config_file=config_file)
    if command == 'setup':
        return setup(*args)
    return check()


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
