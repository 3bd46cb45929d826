# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A SIFEN reporting unit: one point of issue of one establishment, with
its timbrado, the issuer's location and the CSC of its QR codes."""
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

TAXPAYER_TYPES = [
    (None, ""),
    ('1', "Natural Person"),
    ('2', "Legal Person"),
    ]
SENDING = [
    ('lots', "In Lots (asynchronous)"),
    ('single', "One by One (synchronous)"),
    ]
#: Departamentos_v141.xsd
DEPARTMENTS = [(None, "")] + [(str(c), n) for c, n in [
        (1, "CAPITAL"), (2, "CONCEPCION"), (3, "SAN PEDRO"),
        (4, "CORDILLERA"), (5, "GUAIRA"), (6, "CAAGUAZU"), (7, "CAAZAPA"),
        (8, "ITAPUA"), (9, "MISIONES"), (10, "PARAGUARI"),
        (11, "ALTO PARANA"), (12, "CENTRAL"), (13, "NEEMBUCU"),
        (14, "AMAMBAY"), (15, "PTE. HAYES"), (16, "BOQUERON"),
        (17, "ALTO PARAGUAY"), (18, "CANINDEYU"), (19, "CHACO"),
        (20, "NUEVA ASUNCION")]]


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    _states = {
        'invisible': Eval('service') != 'py_sifen',
        'required': Eval('service') == 'py_sifen',
        }
    _optional = {
        'invisible': Eval('service') != 'py_sifen',
        }
    sifen_timbrado = fields.Char("Timbrado", size=8, states=_states,
        help="The number of the timbrado (stamp) SET authorized for the "
        "electronic documents of this establishment (8 digits).")
    sifen_timbrado_start = fields.Date("Timbrado Valid From", states=_states,
        help="The first day of validity of the timbrado: no document may "
        "be dated before it.")
    sifen_establishment = fields.Char("Establishment", size=3,
        states=_states,
        help="The establishment code (dEst, 3 digits, e.g. 001).")
    sifen_point = fields.Char("Point of Issue", size=3, states=_states,
        help="The point of issue (dPunExp, 3 digits, e.g. 001): each point "
        "numbers its documents of each type from 1.")
    sifen_taxpayer_type = fields.Selection(TAXPAYER_TYPES,
        "Taxpayer Type", states=_states,
        help="Whether the issuer is a natural or a legal person (part of "
        "the CDC).")
    sifen_department = fields.Selection(DEPARTMENTS, "Department",
        sort=False, states=_states,
        help="The department of the establishment's address.")
    sifen_district = fields.Integer("District Code", states=_optional,
        help="SET's code of the district (optional).")
    sifen_district_name = fields.Char("District", states=_optional)
    sifen_city = fields.Integer("City Code", states=_states,
        help="SET's code of the city of the establishment (e.g. 1 for "
        "Asunción).")
    sifen_city_name = fields.Char("City", states=_states)
    sifen_activity_code = fields.Char("Economic Activity Code",
        states=_states,
        help="The code of the issuer's main economic activity as "
        "registered with SET (cActEco).")
    sifen_activity_name = fields.Char("Economic Activity", states=_states)
    sifen_csc_id = fields.Char("CSC ID", size=4, states=_states,
        help="The identifier of the security code (CSC) of the QR codes, "
        "e.g. 0001. The code itself is a secret: declare it in the trytond "
        "configuration as <certificate>.sifen_csc.")
    sifen_sending = fields.Selection(SENDING, "Sending", states=_states,
        help="In lots: up to 50 documents per call, their results asked "
        "later (for volume). One by one: each document sent alone and "
        "answered at once (for urgent documents, e.g. at a counter).")
    del _states, _optional

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.service.selection.append(
            ('py_sifen', "Paraguay: SIFEN (e-Kuatia)"))

    @classmethod
    def default_sifen_sending(cls):
        return 'lots'

    @classmethod
    def default_sifen_establishment(cls):
        return '001'

    @classmethod
    def default_sifen_point(cls):
        return '001'

    @classmethod
    def default_sifen_csc_id(cls):
        return '0001'

    def get_service(self):
        if self.service == 'py_sifen':
            from .service import SifenService
            return SifenService(self)
        return super().get_service()
