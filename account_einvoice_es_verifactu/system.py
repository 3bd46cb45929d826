# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The billing system (*sistema informático de facturación*) as the AEAT
knows it: one place for the SistemaInformatico block of every record.

The producer is whoever distributes this system to the companies using
it; an integrator declares itself in the trytond configuration::

    [account_einvoice_es_verifactu]
    producer_name = Integrador Ejemplo SL
    producer_nif = B12345678
    installation_number = 1

Without a declared producer, records may be generated for the AEAT's test
environment only."""
from trytond import config
from trytond.i18n import gettext
from trytond.pool import Pool

SECTION = 'account_einvoice_es_verifactu'
SYSTEM_NAME = 'Tryton account_einvoice'
#: IdSistemaInformatico: two characters, as the AEAT requires (code 1177)
SYSTEM_ID = 'TE'
VERSION = '8.0'
TEST_PRODUCER = ('Tryton account_einvoice (pruebas)', '89890001K')
# per-record codes caused by how the system is declared, with the advice
# given to staff (message ids)
ADVICE = {
    '1177': 'msg_advice_system_id',
    '4104': 'msg_advice_issuer',
    '4109': 'msg_advice_issuer',
    '4114': 'msg_advice_certificate',
    '4102': 'msg_advice_schema',
    }


def installation_number():
    return (config.get(SECTION, 'installation_number', default='1')
        or '1').strip()


def producer():
    "(name, NIF) of the producer declared, or None"
    name = (config.get(SECTION, 'producer_name', default='') or '').strip()
    nif = (config.get(SECTION, 'producer_nif', default='') or '').strip()
    if name and nif:
        return name[:120], nif.upper()
    return None


def problem(configuration):
    "Why records may not be generated for configuration, or None"
    if configuration.environment == 'production' and not producer():
        return gettext('account_einvoice_es_verifactu.msg_producer_missing')
    return None


def several_issuers():
    "Whether this system keeps the records of more than one issuer"
    Configuration = Pool().get('account.einvoice.configuration')
    return Configuration.search_count(
        [('service', '=', 'es_verifactu')]) > 1


def identity(configuration):
    "The SistemaInformatico values, in the XSD's order"
    name, nif = producer() or TEST_PRODUCER
    return {
        'NombreRazon': name,
        'NIF': nif,
        'NombreSistemaInformatico': SYSTEM_NAME,
        'IdSistemaInformatico': SYSTEM_ID,
        'Version': VERSION,
        'NumeroInstalacion': installation_number(),
        'TipoUsoPosibleSoloVerifactu': 'S',
        'TipoUsoPosibleMultiOT': 'S',
        'IndicadorMultiplesOT': 'S' if several_issuers() else 'N',
        }


def advice(code):
    "What an administrator should fix for an AEAT code, or ''"
    message = ADVICE.get(code or '')
    if not message:
        return ''
    return gettext(f'account_einvoice_es_verifactu.{message}',
        section=SECTION)
