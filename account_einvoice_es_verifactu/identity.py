# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Who sends: the issuer (ObligadoEmision) and, when the certificate
belongs to someone else, the representative named by the server operator.

The trytond configuration declares the holder of a certificate that acts
for several companies (a *colaborador social*, an adviser)::

    [account_einvoice_es_verifactu]
    <certificate name>.representative = B12345678 Asesores Ejemplo SL

Which companies may use that certificate is the operator's
``[account_einvoice_certificate] <name>.companies`` (see account_einvoice).
"""
from trytond import config
from trytond.i18n import gettext
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice_es_sii.identification import company_nif

SECTION = 'account_einvoice_es_verifactu'
NAME_LIMIT = 120


def issuer(company):
    "(NIF, name) of the company issuing the invoices"
    nif = company_nif(company)
    if not nif:
        raise ServiceFailure('configuration', gettext(
                'account_einvoice_es_verifactu.msg_issuer_missing',
                company=company.rec_name))
    return nif, company.party.name[:NAME_LIMIT]


def representative(configuration):
    "(NIF, name) of the holder of the certificate acting for the company"
    name = configuration.certificate_name
    if not name:
        return None
    value = config.get(SECTION, f'{name}.representative', default='')
    value = (value or '').strip()
    if not value:
        return None
    nif, _, holder = value.partition(' ')
    return nif.strip().upper(), (holder.strip() or nif)[:NAME_LIMIT]
