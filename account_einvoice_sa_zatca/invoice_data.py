# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The facts of one ZATCA document, independent of Tryton's records.

:mod:`.facts` reads them from a posted invoice, onboarding builds them for
the compliance checks; :mod:`.ubl` writes them, :mod:`.amounts` totals
them and :mod:`.rules` checks them.  Amounts are Decimals as they are
written (2 decimals; quantities and prices as given), always positive on
credit notes (the document type says what they mean)."""
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

STANDARD = '0100000'
SIMPLIFIED = '0200000'
INVOICE = '388'
CREDIT_NOTE = '381'
DEBIT_NOTE = '383'
CATEGORIES = ('S', 'Z', 'E', 'O')


@dataclass
class PartyData:
    "A seller or a buyer, with its national address"
    name: str
    vat: str = None  # 15 digits, starting and ending with 3
    #: (scheme, value): CRN, MOM, MLS, 700, SAG, OTH (seller) or
    #: TIN, CRN, MOM, MLS, 700, SAG, NAT, GCC, IQA, PAS, OTH (buyer)
    other_id: tuple = None
    street: str = None
    additional_street: str = None
    building: str = None  # 4 digits in Saudi Arabia
    additional_number: str = None  # PlotIdentification
    district: str = None  # CitySubdivisionName
    city: str = None
    postal_code: str = None  # 5 digits in Saudi Arabia
    subdivision: str = None  # CountrySubentity
    country: str = 'SA'
    #: the record and field each value comes from, for the messages
    #: ({'vat': ('party.party', 'tax_identifier')}, …)
    sources: dict = field(default_factory=dict)


@dataclass
class LineData:
    "One invoice line, net of its own discounts"
    id: str
    name: str
    quantity: Decimal
    unit_code: str  # UN/ECE rec 20, e.g. PCE
    price: Decimal  # net unit price (PriceAmount)
    amount: Decimal  # LineExtensionAmount, 2 decimals
    category: str  # S, Z, E, O
    rate: Decimal  # percent, e.g. Decimal('15')
    exemption_code: str = None  # VATEX-SA-…
    exemption_reason: str = None
    #: where the line comes from, for the messages
    source: str = None


@dataclass
class AllowanceData:
    "A document-level allowance (discount)"
    reason: str
    amount: Decimal
    category: str
    rate: Decimal
    exemption_code: str = None
    exemption_reason: str = None
    source: str = None


@dataclass
class InvoiceData:
    number: str
    uuid: str
    issue_date: dt.date
    issue_time: dt.time
    transaction: str  # STANDARD or SIMPLIFIED
    type_code: str  # INVOICE, CREDIT_NOTE or DEBIT_NOTE
    currency: str
    seller: PartyData
    buyer: PartyData = None
    lines: list = field(default_factory=list)
    allowances: list = field(default_factory=list)
    #: SAR per unit of currency (for the tax total in SAR)
    rate_to_sar: Decimal = Decimal(1)
    supply_date: dt.date = None  # ActualDeliveryDate
    supply_end_date: dt.date = None  # LatestDeliveryDate
    #: the numbers of the invoices a credit/debit note corrects
    billing_references: list = field(default_factory=list)
    reason: str = None  # InstructionNote of credit/debit notes
    payment_means: str = '10'  # UNTDID 4461: 10 cash, 30 credit, 42, 48
    note: str = None
    #: the figures the posted invoice holds (untaxed, tax, total, in the
    #: invoice currency, positive on credit notes): the document must
    #: agree with them (see rules.py); None for synthetic documents
    posted_untaxed: Decimal = None
    posted_tax: Decimal = None
    posted_total: Decimal = None
    #: Tryton's tax amount of each tax of the posted invoice, as
    #: [(category, rate, amount, source)] (source: the record and field or
    #: a label, for the messages); rules.py compares it with each VAT
    #: category's tax (BR-S-09); None: not compared
    posted_taxes: list = None
    #: set when the document joins its unit's chain
    icv: int = None
    pih: str = None
    #: the record and field of invoice-level values, for the messages
    sources: dict = field(default_factory=dict)
