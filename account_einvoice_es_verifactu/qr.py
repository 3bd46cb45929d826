# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The content of the AEAT's QR code (ValidarQR) printed on invoices."""
import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

from .huella import format_amount, format_date

HOSTS = {
    'production': 'https://www2.agenciatributaria.gob.es',
    'staging': 'https://prewww2.aeat.es',
    }
PATH = '/wlpl/TIKE-CONT/ValidarQR'


def qr_url(environment, nif, number, date, amount):
    """The ValidarQR URL of an invoice; date is a date or its dd-mm-yyyy
    text, amount a Decimal or its text in the record (ImporteTotal).
    Every value is URL-encoded (a number ``A&B`` is ``A%26B``)."""
    if isinstance(date, (dt.date, dt.datetime)):
        date = format_date(date)
    if isinstance(amount, (Decimal, int)):
        amount = format_amount(amount)
    query = urlencode([
            ('nif', nif.strip()),
            ('numserie', number.strip()),
            ('fecha', date.strip()),
            ('importe', amount.strip()),
            ])
    return f'{HOSTS[environment]}{PATH}?{query}'
