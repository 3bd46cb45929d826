# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import logging

from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.account_einvoice.exceptions import RecordError
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import authorities
from .service import SIIService, authority_addresses

logger = logging.getLogger(__name__)


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    sii_authority = fields.Selection('get_sii_authorities', "SII Authority",
        states={
            'invisible': Eval('service') != 'es_sii',
            'required': Eval('service') == 'es_sii',
            },
        help="Where the SII books are kept: the AEAT or a foral treasury "
        "(Araba, Bizkaia, Gipuzkoa, Navarra), at its official address for "
        "the environment; others can be declared in the "
        "[account_einvoice_es_sii] section of the trytond configuration.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.service.selection.append(('es_sii', "Spain: SII (AEAT)"))

    @classmethod
    def default_sii_authority(cls):
        return 'aeat'

    @classmethod
    def get_sii_authorities(cls):
        built_in = authorities.labels()
        known = {n for n, _ in built_in}
        declared = [(n, l) for n, l in sorted(authority_addresses().items())
            if n not in known and n != 'aeat']
        return [('aeat', "AEAT")] + built_in + declared

    def get_service(self):
        if self.service == 'es_sii':
            return SIIService(self)
        return super().get_service()


class Submission(metaclass=PoolMeta):
    __name__ = 'account.einvoice.submission'

    sii_payload = fields.Function(fields.Text("SII Record",
            states={
                'invisible': ~Eval('sii_payload'),
                }),
        'get_sii_payload')

    def get_sii_payload(self, name):
        if self.configuration.service != 'es_sii':
            return None
        # shown only: a record that cannot be built must not stop reading
        # (or creating) its submission
        try:
            return self.get_service().payload(self)
        except RecordError as exception:
            error = str(exception.reason)
        except Exception as exception:
            logger.exception("SII record of submission %s", self.id)
            error = f'{exception.__class__.__name__}: {exception}'
        return gettext(
            'account_einvoice_es_sii.msg_payload_unavailable', error=error)
