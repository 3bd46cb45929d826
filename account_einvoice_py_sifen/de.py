# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The unsigned ``rDE`` of a DocumentData (DE_v150.xsd, in its order).

SIFEN's namespace is the default one (a prefix is refused with 0106) and
nothing separates the tags (0105): :func:`serialize` writes what SIFEN
reads.  Codes come with their descriptions (``dDes…``), which the XSD
checks against its enumerations."""
from decimal import Decimal

from lxml import etree

from . import amounts
from .invoice_data import (
    CREDIT_NOTE, DEBIT_NOTE, EXEMPT, EXEMPT_EXONERATED, INVOICE, PARTLY_TAXED,
    TAXED, TYPES)

NS = 'http://ekuatia.set.gov.py/sifen/xsd'
XSI = 'http://www.w3.org/2001/XMLSchema-instance'
SCHEMA_LOCATION = f'{NS} siRecepDE_v150.xsd'
VERSION = '150'
DATETIME = '%Y-%m-%dT%H:%M:%S'

EMISSION_TYPES = {1: 'Normal', 2: 'Contingencia'}
TRANSACTION_TYPES = {
    1: 'Venta de mercadería', 2: 'Prestación de servicios',
    3: 'Mixto (Venta de mercadería y servicios)', 4: 'Venta de activo fijo',
    5: 'Venta de divisas', 6: 'Compra de divisas',
    7: 'Promoción o entrega de muestras', 8: 'Donación', 9: 'Anticipo',
    10: 'Compra de productos', 11: 'Compra de servicios',
    12: 'Venta de crédito fiscal',
    13: 'Muestras médicas (Art. 3 RG 24/2014)',
    }
PRESENCE = {
    1: 'Operación presencial', 2: 'Operación electrónica',
    3: 'Operación telemarketing', 4: 'Venta a domicilio',
    5: 'Operación bancaria', 6: 'Operación cíclica',
    }
RECEIVER_ID_TYPES = {
    1: 'Cédula paraguaya', 2: 'Pasaporte', 3: 'Cédula extranjera',
    4: 'Carnet de residencia', 5: 'Innominado',
    6: 'Tarjeta Diplomática de exoneración fiscal',
    9: 'Otro documento de identidad',
    }
INNOMINATE = 5
REASONS = {
    1: 'Devolución y Ajuste de precios', 2: 'Devolución', 3: 'Descuento',
    4: 'Bonificación', 5: 'Crédito incobrable', 6: 'Recupero de costo',
    7: 'Recupero de gasto', 8: 'Ajuste de precio',
    }
CONDITIONS = {1: 'Contado', 2: 'Crédito'}
AFFECTATIONS = {
    TAXED: 'Gravado IVA',
    EXEMPT_EXONERATED: 'Exonerado (Art. 100 - Ley 6380/2019)',
    EXEMPT: 'Exento',
    PARTLY_TAXED: 'Gravado parcial (Grav- Exento)',
    }
#: the payment of a cash sale (gPaConEIni): 1 Efectivo
CASH = 1
CASH_NAME = 'Efectivo'


def _tag(name):
    return f'{{{NS}}}{name}'


def _add(parent, name, value=None):
    "Append the element name (with value as text when not None)"
    element = etree.SubElement(parent, _tag(name))
    if value is not None:
        element.text = value if isinstance(value, str) else str(value)
    return element


def _optional(parent, name, value):
    if value not in {None, ''}:
        _add(parent, name, value)


def _date(value):
    return value.strftime(DATETIME)


def build(data, cdc, signed_at):
    "The unsigned rDE of data whose CDC is cdc, signed (dFecFirma) at"
    rde = etree.Element(_tag('rDE'), nsmap={None: NS, 'xsi': XSI})
    rde.set(f'{{{XSI}}}schemaLocation', SCHEMA_LOCATION)
    _add(rde, 'dVerFor', VERSION)
    de = _add(rde, 'DE')
    de.set('Id', cdc)
    _add(de, 'dDVId', cdc[-1])
    _add(de, 'dFecFirma', _date(signed_at))
    _add(de, 'dSisFact', 1)
    operation = _add(de, 'gOpeDE')
    _add(operation, 'iTipEmi', data.emission_type)
    _add(operation, 'dDesTipEmi', EMISSION_TYPES[data.emission_type])
    _add(operation, 'dCodSeg', data.security_code)
    _timbrado(de, data)
    general = _add(de, 'gDatGralOpe')
    _add(general, 'dFeEmiDE', _date(data.issued))
    _commercial(general, data)
    _issuer(general, data.issuer)
    _receiver(general, data.receiver)
    specific = _add(de, 'gDtipDE')
    if data.type == INVOICE:
        invoice = _add(specific, 'gCamFE')
        _add(invoice, 'iIndPres', data.presence)
        _add(invoice, 'dDesIndPres', PRESENCE[data.presence])
    elif data.type in {CREDIT_NOTE, DEBIT_NOTE}:
        note = _add(specific, 'gCamNCDE')
        _add(note, 'iMotEmi', data.reason)
        _add(note, 'dDesMotEmi', REASONS[data.reason])
    totals = amounts.totals(data)
    if data.type == INVOICE:
        _condition(specific, data, totals)
    for line in data.lines:
        _item(specific, data, line)
    total = _add(de, 'gTotSub')
    for name, value in totals.items():
        _add(total, name, amounts.text(value))
    if data.type in {CREDIT_NOTE, DEBIT_NOTE}:
        associated = _add(de, 'gCamDEAsoc')
        _add(associated, 'iTipDocAso', 1)
        _add(associated, 'dDesTipDocAso', 'Electrónico')
        _add(associated, 'dCdCDERef', data.associated_cdc)
    return rde


def _timbrado(de, data):
    issuer = data.issuer
    timbrado = _add(de, 'gTimb')
    _add(timbrado, 'iTiDE', data.type)
    _add(timbrado, 'dDesTiDE', TYPES[data.type])
    _add(timbrado, 'dNumTim', issuer.timbrado)
    _add(timbrado, 'dEst', issuer.establishment)
    _add(timbrado, 'dPunExp', issuer.point)
    _add(timbrado, 'dNumDoc', data.number)
    _add(timbrado, 'dFeIniT', issuer.timbrado_start.isoformat())


def _commercial(general, data):
    commercial = _add(general, 'gOpeCom')
    if data.type == INVOICE:
        _add(commercial, 'iTipTra', data.transaction_type)
        _add(commercial, 'dDesTipTra',
            TRANSACTION_TYPES[data.transaction_type])
    _add(commercial, 'iTImp', 1)
    _add(commercial, 'dDesTImp', 'IVA')
    _add(commercial, 'cMoneOpe', data.currency)
    _add(commercial, 'dDesMoneOpe', data.currency_name)
    if data.currency != 'PYG':
        # 1: one rate for the whole document
        _add(commercial, 'dCondTiCam', 1)
        _add(commercial, 'dTiCam',
            amounts.text(data.rate, amounts.RATE_DIGITS))


def _issuer(general, issuer):
    element = _add(general, 'gEmis')
    _add(element, 'dRucEm', issuer.ruc)
    _add(element, 'dDVEmi', issuer.ruc_dv)
    _add(element, 'iTipCont', issuer.taxpayer_type)
    _add(element, 'dNomEmi', issuer.name)
    _optional(element, 'dNomFanEmi', issuer.trade_name)
    _add(element, 'dDirEmi', issuer.address)
    _add(element, 'dNumCas', issuer.house_number or '0')
    _add(element, 'cDepEmi', issuer.department)
    _add(element, 'dDesDepEmi', issuer.department_name)
    if issuer.district:
        _add(element, 'cDisEmi', issuer.district)
        _add(element, 'dDesDisEmi', issuer.district_name)
    _add(element, 'cCiuEmi', issuer.city)
    _add(element, 'dDesCiuEmi', issuer.city_name)
    _add(element, 'dTelEmi', issuer.phone)
    _add(element, 'dEmailE', issuer.email)
    activity = _add(element, 'gActEco')
    _add(activity, 'cActEco', issuer.activity_code)
    _add(activity, 'dDesActEco', issuer.activity_name)


def _receiver(general, receiver):
    element = _add(general, 'gDatRec')
    _add(element, 'iNatRec', receiver.nature)
    _add(element, 'iTiOpe', receiver.operation_type)
    _add(element, 'cPaisRec', receiver.country)
    _add(element, 'dDesPaisRe', receiver.country_name)
    if receiver.nature == 1:
        _add(element, 'iTiContRec', receiver.taxpayer_type)
        _add(element, 'dRucRec', receiver.ruc)
        _add(element, 'dDVRec', receiver.ruc_dv)
    else:
        _add(element, 'iTipIDRec', receiver.id_type)
        _add(element, 'dDTipIDRec', RECEIVER_ID_TYPES[receiver.id_type])
        number = receiver.id_number
        if receiver.id_type == INNOMINATE and not number:
            number = '0'
        _add(element, 'dNumIDRec', number)
    _add(element, 'dNomRec', receiver.name)
    if receiver.address:
        _add(element, 'dDirRec', receiver.address)
        _add(element, 'dNumCasRec', receiver.house_number or '0')
    _optional(element, 'dTelRec', receiver.phone)
    _optional(element, 'dEmailRec', receiver.email)


def _condition(specific, data, totals):
    condition = _add(specific, 'gCamCond')
    _add(condition, 'iCondOpe', data.condition)
    _add(condition, 'dDCondOpe', CONDITIONS[data.condition])
    places = amounts.digits(data.currency)
    if data.condition == 1:
        payment = _add(condition, 'gPaConEIni')
        _add(payment, 'iTiPago', CASH)
        _add(payment, 'dDesTiPag', CASH_NAME)
        _add(payment, 'dMonTiPag', amounts.text(totals.dTotGralOpe, places))
        _add(payment, 'cMoneTiPag', data.currency)
        _add(payment, 'dDMoneTiPag', data.currency_name)
        if data.currency != 'PYG':
            _add(payment, 'dTiCamTiPag',
                amounts.text(data.rate, amounts.RATE_DIGITS))
        return
    credit = _add(condition, 'gPagCred')
    if data.instalments:
        _add(credit, 'iCondCred', 2)
        _add(credit, 'dDCondCred', 'Cuota')
        _add(credit, 'dCuotas', len(data.instalments))
        for instalment in data.instalments:
            element = _add(credit, 'gCuotas')
            _add(element, 'cMoneCuo', data.currency)
            _add(element, 'dDMoneCuo', data.currency_name)
            _add(element, 'dMonCuota',
                amounts.text(instalment.amount, places))
            if instalment.due_date:
                _add(element, 'dVencCuo', instalment.due_date.isoformat())
    else:
        _add(credit, 'iCondCred', 1)
        _add(credit, 'dDCondCred', 'Plazo')
        _add(credit, 'dPlazoCre', f'{int(data.credit_days or 0)} días')


def _item(specific, data, line):
    currency = data.currency
    places = amounts.digits(currency)
    item = _add(specific, 'gCamItem')
    _add(item, 'dCodInt', line.code)
    _add(item, 'dDesProSer', line.description)
    _add(item, 'cUniMed', line.unit)
    _add(item, 'dDesUniMed', line.unit_name)
    _add(item, 'dCantProSer', amounts.text(line.quantity))
    value = _add(item, 'gValorItem')
    _add(value, 'dPUniProSer', amounts.text(
            amounts.round_to(line.unit_price, amounts.PRICE_DIGITS)))
    _add(value, 'dTotBruOpeItem', amounts.text(
            amounts.gross(line, currency), places))
    rest = _add(value, 'gValorRestaItem')
    discount = amounts.unit_discount(line, currency)
    if discount:
        _add(rest, 'dDescItem', amounts.text(discount))
        _add(rest, 'dPorcDesIt', amounts.text(amounts.round_to(
                    discount * 100 / Decimal(line.unit_price), 8)))
    _add(rest, 'dTotOpeItem', amounts.text(line.total, places))
    if currency != 'PYG':
        _add(rest, 'dTotOpeGs', amounts.text(
                Decimal(line.total) * Decimal(data.rate), 0))
    tax = _add(item, 'gCamIVA')
    _add(tax, 'iAfecIVA', line.affectation)
    _add(tax, 'dDesAfecIVA', AFFECTATIONS[line.affectation])
    _add(tax, 'dPropIVA', amounts.text(amounts.proportion(line)))
    _add(tax, 'dTasaIVA', amounts.text(amounts.rate(line), 0))
    exempt = line.affectation in {EXEMPT, EXEMPT_EXONERATED}
    _add(tax, 'dBasGravIVA',
        amounts.text(0 if exempt else line.base, places))
    _add(tax, 'dLiqIVAItem', amounts.text(0 if exempt else line.tax, places))
    _add(tax, 'dBasExe', amounts.text(
            line.exempt_base if line.affectation == PARTLY_TAXED else 0,
            places))


def serialize(element):
    "UTF-8 bytes, no XML declaration, nothing between the tags"
    return etree.tostring(element, encoding='UTF-8', xml_declaration=False)
