# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The KuDE (Kuatia'i DE): the printed representation of an invoice's DE.

Every figure is read from the stored signed DE, not from the invoice: the
KuDE says what SIFEN holds.  The labels are Spanish in ``kude.fodt`` (the
report is not translated); amounts are written the Paraguayan way
(``1.100.000``, ``12,50``)."""
from decimal import Decimal
from types import SimpleNamespace

from trytond.i18n import gettext
from trytond.modules.account_einvoice import odf
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import without_check_access

from . import document as document_
from .de import NS
from .exceptions import SifenError
from .invoice_data import EXEMPT, EXEMPT_EXONERATED, PARTLY_TAXED

SERVICE = 'py_sifen'
QR_SIZE = '3.5cm'
#: where the receiver checks a DE, by the QR's host
CHECK_SITES = {
    True: 'https://ekuatia.set.gov.py/consultas-test/',
    False: 'https://ekuatia.set.gov.py/consultas/',
    }
CHECK_TEXT = ("Consulte la validez de esta {name} con el número de CDC "
    "impreso abajo en: {site}")


def q(name):
    return f'{{{NS}}}{name}'


def grouped(cdc):
    "The CDC in groups of four digits"
    cdc = cdc or ''
    return ' '.join(cdc[i:i + 4] for i in range(0, len(cdc), 4))


def figure(text):
    """A number of the DE the Paraguayan way, with the decimals the DE
    wrote (without trailing zeros beyond them)"""
    if text in {None, ''}:
        return ''
    value = Decimal(text)
    places = max(0, -value.as_tuple().exponent)
    formatted = f'{value:,.{places}f}'
    return formatted.translate(str.maketrans(',.', '.,'))


def date(text):
    "dd/mm/yyyy of an ISO date (or date and time)"
    if not text:
        return ''
    year, month, day = text[:10].split('-')
    return f'{day}/{month}/{year}'


def moment(text):
    "dd/mm/yyyy hh:mm:ss of an ISO date and time"
    if not text:
        return ''
    return f'{date(text)} {text[11:19]}'.strip()


def stored_de(invoice):
    "The bytes of the latest DE generated for invoice, or None"
    Document = Pool().get('account.einvoice.document')
    documents = Document.search([
            ('submission.invoice', '=', invoice.id),
            ('submission.configuration.service', '=', SERVICE),
            ('kind', '=', 'de'),
            ], order=[('current', 'DESC'), ('id', 'DESC')], limit=1)
    return documents[0].data if documents else None


class _Reader:
    "Texts of the DE's elements, '' when absent"

    def __init__(self, element):
        self.element = element

    def __call__(self, path, element=None):
        element = self.element if element is None else element
        found = element.find('/'.join(q(p) for p in path.split('/')))
        if found is None or found.text is None:
            return ''
        return found.text.strip()


def _issuer(text):
    gemis = 'gDatGralOpe/gEmis/'
    address = ' '.join(filter(None, [text(gemis + 'dDirEmi'),
                text(gemis + 'dNumCas') if text(gemis + 'dNumCas') != '0'
                else '']))
    activity = text(gemis + 'gActEco/dDesActEco')
    code = text(gemis + 'gActEco/cActEco')
    return SimpleNamespace(
        name=text(gemis + 'dNomEmi'),
        trade_name=text(gemis + 'dNomFanEmi'),
        ruc=f"{text(gemis + 'dRucEm')}-{text(gemis + 'dDVEmi')}",
        address=address,
        city=', '.join(filter(None, [text(gemis + 'dDesCiuEmi'),
                    text(gemis + 'dDesDepEmi')])),
        phone=text(gemis + 'dTelEmi'),
        email=text(gemis + 'dEmailE'),
        activity=f'{code} - {activity}' if code else activity,
        )


def _receiver(text):
    grec = 'gDatGralOpe/gDatRec/'
    if text(grec + 'iNatRec') == '1':
        label = 'RUC'
        identifier = f"{text(grec + 'dRucRec')}-{text(grec + 'dDVRec')}"
    else:
        label = text(grec + 'dDTipIDRec') or 'Documento de identidad'
        identifier = text(grec + 'dNumIDRec')
    number = text(grec + 'dNumCasRec')
    return SimpleNamespace(
        id_label=label,
        id=identifier,
        name=text(grec + 'dNomRec'),
        address=' '.join(filter(None, [text(grec + 'dDirRec'),
                    number if number != '0' else ''])),
        country=text(grec + 'dDesPaisRe'),
        phone=text(grec + 'dTelRec'),
        email=text(grec + 'dEmailRec'),
        )


def _condition(text, de):
    "(condition, credit term, instalments) of an invoice"
    condition = text('gDtipDE/gCamCond/dDCondOpe')
    credit = text('gDtipDE/gCamCond/gPagCred/dPlazoCre')
    instalments = []
    for index, element in enumerate(de.iterfind(
                f"{q('gDtipDE')}/{q('gCamCond')}/{q('gPagCred')}/"
                f"{q('gCuotas')}"), 1):
        instalments.append(SimpleNamespace(
                number=str(index),
                due=date(text('dVencCuo', element)),
                amount=figure(text('dMonCuota', element))))
    if instalments and not credit:
        credit = f'{len(instalments)} cuotas'
    return condition, credit, instalments


def _line(text, item):
    "The printed item: its sale value in the column of its IVA rate"
    total = Decimal(text('gValorItem/gValorRestaItem/dTotOpeItem', item)
        or 0)
    affectation = int(text('gCamIVA/iAfecIVA', item) or 0)
    rate = text('gCamIVA/dTasaIVA', item)
    exempt = taxed = Decimal(0)
    if affectation in {EXEMPT, EXEMPT_EXONERATED}:
        exempt = total
    elif affectation == PARTLY_TAXED:
        exempt = Decimal(text('gCamIVA/dBasExe', item) or 0)
        taxed = total - exempt
    else:
        taxed = total
    columns = {'exempt': exempt, '5': Decimal(0), '10': Decimal(0)}
    if taxed:
        columns[rate] = taxed
    places = max(0, -total.as_tuple().exponent)

    def column(value):
        return figure(str(value.quantize(Decimal(1).scaleb(-places))))
    return SimpleNamespace(
        code=text('dCodInt', item),
        description=text('dDesProSer', item),
        unit=text('dDesUniMed', item),
        quantity=figure(text('dCantProSer', item)),
        price=figure(text('gValorItem/dPUniProSer', item)),
        discount=figure(text('gValorItem/gValorRestaItem/dDescItem', item)
            or '0'),
        exempt=column(columns['exempt']),
        five=column(columns['5']),
        ten=column(columns['10']),
        )


def kude(data):
    "What the KuDE of the signed DE data (bytes) prints"
    rde = document_.rde_of(data)
    de = rde.find(q('DE'))
    text = _Reader(de)
    held = document_.read(data)
    url = held['qr'] or ''
    title = text('gTimb/dDesTiDE')
    note = bool(text('gCamDEAsoc/dCdCDERef'))
    condition, credit, instalments = _condition(text, de)
    currency = text('gDatGralOpe/gOpeCom/cMoneOpe')
    total = 'gTotSub/'
    return SimpleNamespace(
        title=title,
        number='-'.join([held['establishment'], held['point'],
                held['number']]),
        timbrado=held['timbrado'],
        timbrado_start=date(text('gTimb/dFeIniT')),
        issued=moment(text('gDatGralOpe/dFeEmiDE')),
        issuer=_issuer(text),
        receiver=_receiver(text),
        transaction=text('gDatGralOpe/gOpeCom/dDesTipTra'),
        condition=condition,
        credit=credit,
        instalments=instalments,
        currency=' - '.join(filter(None, [currency,
                    text('gDatGralOpe/gOpeCom/dDesMoneOpe')])),
        foreign=currency != 'PYG',
        rate=figure(text('gDatGralOpe/gOpeCom/dTiCam')),
        note=note,
        reason=text('gDtipDE/gCamNCDE/dDesMotEmi'),
        associated=grouped(text('gCamDEAsoc/dCdCDERef')),
        lines=[_line(text, item)
            for item in de.iterfind(f"{q('gDtipDE')}/{q('gCamItem')}")],
        sub_exempt=figure(str(Decimal(text(total + 'dSubExe') or 0)
                + Decimal(text(total + 'dSubExo') or 0))),
        sub_5=figure(text(total + 'dSub5') or '0'),
        sub_10=figure(text(total + 'dSub10') or '0'),
        total_operation=figure(text(total + 'dTotOpe')),
        total_discount=figure(text(total + 'dTotDesc') or '0'),
        total=figure(text(total + 'dTotGralOpe')),
        total_gs=figure(text(total + 'dTotalGs')),
        iva_5=figure(text(total + 'dIVA5') or '0'),
        iva_10=figure(text(total + 'dIVA10') or '0'),
        iva_total=figure(text(total + 'dTotIVA') or '0'),
        cdc=grouped(held['cdc']),
        check_text=CHECK_TEXT.format(
            name=' '.join(w.capitalize() if len(w) > 2 else w
                for w in title.split()),
            site=CHECK_SITES['consultas-test' in url]),
        qr=url,
        qr_image=(odf.qr_png(url), 'image/png', QR_SIZE, QR_SIZE,
            'sifen_qr') if url else None,
        )


def invoice_kude(invoice):
    "The KuDE of invoice; SifenError when it has no DE yet"
    with without_check_access():
        data = stored_de(invoice)
    if data is None:
        raise SifenError(gettext(
                'account_einvoice_py_sifen.msg_kude_no_de',
                invoice=invoice.rec_name))
    return kude(data)


class KudeReport(Report):
    __name__ = 'account.invoice.sifen_kude'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['kude'] = invoice_kude(context['record'])
        return context
