# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The *declaración responsable* of the billing system (Real Decreto
1007/2023 art. 13, Orden HAC/1177/2024 art. 15): the producer's statement
that the system complies, which every company using it can show.

The text is Spanish (as the regulation requires) and lives in
``declaration.fodt``; the values come from :mod:`.system`, the same ones
every record's SistemaInformatico block carries. The producer's postal
address is optional configuration::

    [account_einvoice_es_verifactu]
    producer_address = Calle Ejemplo 1, 28001 Madrid, España
"""
from types import SimpleNamespace

import trytond
from trytond import config
from trytond.i18n import gettext
from trytond.modules import get_module_info
from trytond.modules.account_einvoice.exceptions import ConfigurationError
from trytond.report import Report

from . import system

#: the Tryton modules the system is made of, as the template lists them
COMPONENTS = [
    'account_einvoice_es_verifactu', 'account_einvoice_es_sii',
    'account_einvoice', 'account_invoice', 'account']


def declaration(configuration):
    "The values the declaración responsable states for configuration"
    if configuration.service != 'es_verifactu':
        raise ConfigurationError(gettext(
                'account_einvoice_es_verifactu.msg_declaration_not_verifactu',
                configuration=configuration.rec_name))
    identity = system.identity(configuration)
    versions = {n: (get_module_info(n) or {}).get('version', '')
        for n in COMPONENTS}
    versions['trytond'] = trytond.__version__
    address = (config.get(system.SECTION, 'producer_address', default='')
        or '').strip()
    return SimpleNamespace(
        system_name=system.SYSTEM_NAME,
        system_id=system.SYSTEM_ID,
        version=system.VERSION,
        installation=identity['NumeroInstalacion'],
        producer_name=identity['NombreRazon'],
        producer_nif=identity['NIF'],
        producer_address=address,
        test_only=system.producer() is None,
        only_verifactu=identity['TipoUsoPosibleSoloVerifactu'] == 'S',
        multiple_issuers=identity['TipoUsoPosibleMultiOT'] == 'S',
        versions=SimpleNamespace(**versions),
        company=configuration.company.rec_name,
        environment=configuration.environment,
        )


class DeclarationReport(Report):
    __name__ = 'account.einvoice.es_verifactu.declaration'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['declaration'] = declaration(context['record'])
        return context
