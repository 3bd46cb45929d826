# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The huella (SHA-256 fingerprint) of a VERI*FACTU record.

The AEAT hashes the texts of some elements of the record joined with
``&``, each value exactly as written in the XML but stripped at both ends:
no escaping, no URL-encoding, inner spaces kept.  So the texts written in
the record come from :func:`format_amount` and :func:`format_timestamp`
and the same texts are hashed."""
import datetime as dt
import hashlib
from decimal import Decimal
from zoneinfo import ZoneInfo

MADRID = ZoneInfo('Europe/Madrid')
CENT = Decimal('0.01')
TIPO_HUELLA = '01'

ALTA_FIELDS = (
    'IDEmisorFactura', 'NumSerieFactura', 'FechaExpedicionFactura',
    'TipoFactura', 'CuotaTotal', 'ImporteTotal', 'Huella',
    'FechaHoraHusoGenRegistro')
ANULACION_FIELDS = (
    'IDEmisorFacturaAnulada', 'NumSerieFacturaAnulada',
    'FechaExpedicionFacturaAnulada', 'Huella', 'FechaHoraHusoGenRegistro')


def format_amount(value):
    "The text of an amount: 2 decimals, sign kept, no thousands separator"
    value = Decimal(value or 0).quantize(CENT)
    if not value:
        value = abs(value)  # no "-0.00"
    return '%.2f' % value


def format_date(date):
    "dd-mm-yyyy, the dates of the records"
    return date.strftime('%d-%m-%Y')


def format_timestamp(moment):
    "YYYY-MM-DDThh:mm:ss+hh:mm of an aware datetime (no fraction)"
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an aware datetime is needed: %r" % moment)
    return moment.replace(microsecond=0).isoformat(timespec='seconds')


def generation_time(now=None):
    """The FechaHoraHusoGenRegistro of a record generated at now (default:
    the current time), in Madrid's time with its offset, to the second.
    A naive now is taken as UTC (Tryton's convention)."""
    if now is None:
        now = dt.datetime.now(dt.timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    return now.astimezone(MADRID).replace(microsecond=0)


def _text(names, fields):
    parts = []
    for name in names:
        value = fields.get(name)
        parts.append('%s=%s' % (name, '' if value is None
                else str(value).strip()))
    return '&'.join(parts)


def alta_text(fields):
    "The text hashed for a RegistroAlta; fields maps ALTA_FIELDS to texts"
    return _text(ALTA_FIELDS, fields)


def anulacion_text(fields):
    "The text hashed for a RegistroAnulacion (ANULACION_FIELDS)"
    return _text(ANULACION_FIELDS, fields)


def huella(text):
    "Uppercase hexadecimal SHA-256 of the UTF-8 text"
    return hashlib.sha256(text.encode('utf-8')).hexdigest().upper()
