# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The facts of one SIFEN electronic document (DE), independent of Tryton's
records.

:mod:`.facts` reads them from a posted invoice; :mod:`.de` writes them,
:mod:`.amounts` totals them and :mod:`.rules` checks them.  Amounts are
Decimals in the document's currency, IVA included as SIFEN writes them
(0 decimals in PYG, up to 8 otherwise), always positive on credit notes
(the document type says what they mean)."""
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

#: iTiDE
INVOICE = 1
CREDIT_NOTE = 5
DEBIT_NOTE = 6
TYPES = {
    INVOICE: "Factura electrónica",
    CREDIT_NOTE: "Nota de crédito electrónica",
    DEBIT_NOTE: "Nota de débito electrónica",
    }
#: iAfecIVA
TAXED, EXEMPT_EXONERATED, EXEMPT, PARTLY_TAXED = 1, 2, 3, 4


@dataclass
class IssuerData:
    "The issuer (gEmis) and where it issues (gTimb)"
    name: str
    ruc: str  # without check digit, up to 8 digits
    ruc_dv: str  # its check digit
    taxpayer_type: int  # iTipCont: 1 natural person, 2 legal person
    address: str
    house_number: str  # dNumCas ('0' when none)
    department: int  # cDepEmi (Departamentos_v141.xsd)
    department_name: str
    city: int  # cCiuEmi
    city_name: str
    phone: str
    email: str
    activity_code: str  # cActEco
    activity_name: str
    district: int = None  # cDisEmi
    district_name: str = None
    trade_name: str = None
    #: timbrado: its number (8 digits) and first day of validity
    timbrado: str = None
    timbrado_start: dt.date = None
    establishment: str = '001'  # dEst, 3 digits
    point: str = '001'  # dPunExp, 3 digits
    #: the record and field each value comes from, for the messages
    sources: dict = field(default_factory=dict)


@dataclass
class ReceiverData:
    "The receiver (gDatRec)"
    name: str
    #: iNatRec: 1 taxpayer (with RUC), 2 not a taxpayer
    nature: int
    #: iTiOpe: 1 B2B, 2 B2C, 3 B2G, 4 B2F
    operation_type: int
    country: str = 'PRY'  # cPaisRec, ISO 3166 alpha-3
    country_name: str = 'Paraguay'
    taxpayer_type: int = None  # iTiContRec when nature is 1
    ruc: str = None  # when nature is 1
    ruc_dv: str = None
    #: iTipIDRec when nature is 2: 1 cédula paraguaya, 2 pasaporte,
    #: 3 cédula extranjera, 4 carnet de residencia, 5 innominado,
    #: 6 tarjeta diplomática, 9 otro
    id_type: int = None
    id_number: str = None
    address: str = None
    house_number: str = None
    phone: str = None
    email: str = None
    sources: dict = field(default_factory=dict)


@dataclass
class LineData:
    "One item (gCamItem)"
    code: str  # dCodInt
    description: str
    quantity: Decimal
    unit: int  # cUniMed (Unidades_Medida_v141.xsd), 77 = UNI
    unit_name: str  # dDesUniMed
    unit_price: Decimal  # IVA included
    total: Decimal  # dTotOpeItem: IVA included, after discounts
    affectation: int  # iAfecIVA
    rate: Decimal  # dTasaIVA: 10, 5 or 0
    proportion: Decimal = Decimal(100)  # dPropIVA
    #: the taxed base and IVA of the line as posted (dBasGravIVA,
    #: dLiqIVAItem) and the exempt part (dBasExe)
    base: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    exempt_base: Decimal = Decimal(0)
    source: str = None  # where it comes from, for the messages


@dataclass
class InstalmentData:
    "One instalment of a credit sale (gCuotas)"
    amount: Decimal
    due_date: dt.date = None


@dataclass
class DocumentData:
    "Everything one DE says"
    type: int  # iTiDE
    number: str  # dNumDoc, 7 digits
    issued: dt.datetime  # dFeEmiDE (Paraguay's time, no zone)
    issuer: IssuerData
    receiver: ReceiverData
    lines: list
    currency: str = 'PYG'
    currency_name: str = 'Guarani'
    rate: Decimal = None  # dTiCam, when the currency is not PYG
    #: iTipTra: 1 sale of goods, 2 services, 3 mixed…
    transaction_type: int = 1
    #: iCondOpe: 1 cash, 2 credit
    condition: int = 1
    #: the credit term in days, or the instalments
    credit_days: int = None
    instalments: list = field(default_factory=list)
    #: iIndPres (FE): 1 in person, 2 electronic…
    presence: int = 1
    #: NC/ND: the associated document's CDC and the reason (iMotEmi:
    #: 1 devolución y ajuste de precios, 2 devolución, 3 descuento,
    #: 4 bonificación, 5 crédito incobrable, 6 recupero de costo,
    #: 7 recupero de gasto, 8 ajuste de precio)
    associated_cdc: str = None
    reason: int = None
    security_code: str = None  # dCodSeg, 9 digits
    #: iTipEmi: 1 normal, 2 contingency
    emission_type: int = 1
    #: the Tryton invoice, for the messages
    reference: str = None
    total: Decimal = None  # the posted total, IVA included
    tax_total: Decimal = None  # the posted IVA
    #: the record and field each value comes from, for the messages
    sources: dict = field(default_factory=dict)
