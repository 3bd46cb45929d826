# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Cash criterion (RECC, key 07): the collections of issued invoices and
the payments of received invoices, reported to the SII's
``SuministroLRCobrosEmitidas`` / ``SuministroLRPagosRecibidas`` as records
without invoice, one per move line paying the invoice."""
import datetime as dt
from decimal import Decimal

from lxml import etree

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.modules.account_einvoice.local_message import LocalMessage
from trytond.modules.account_einvoice.service import Outcome
from trytond.modules.account_invoice.account import _invoices_to_process
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access

from . import answers
from .builder import LR, LRC, NSMAP, NSMAP_C, RC, R, S, _sub, _text, amount
from .facts import number_of, sii_date
from .identification import identify

COLLECTION = 'sii_collection'
PAYMENT = 'sii_payment'
CASH_KEY = '07'
#: kind -> the book, operations and tags of its requests
CASH = {
    COLLECTION: {
        'book': 'emitidas',
        'invoice_type': 'out',
        'operation': 'SuministroLRCobrosEmitidas',
        'registro': 'RegistroLRCobros',
        'group': 'Cobros',
        'item': 'Cobro',
        'respuesta': 'RespuestaLRCobrosEmitidas',
        'consulta': 'ConsultaCobros',
        'filtro': 'FiltroConsultaCobros',
        'respuesta_consulta': 'RespuestaConsultaCobros',
        'held': 'RegistroRespuestaConsultaCobros',
        'datos': 'DatosCobro',
        'wsdl': 'SuministroCobrosEmitidas',
        'path': '/wlpl/SSII-FACT/ws/fe/SiiFactCOBV1SOAP',
        },
    PAYMENT: {
        'book': 'recibidas',
        'invoice_type': 'in',
        'operation': 'SuministroLRPagosRecibidas',
        'registro': 'RegistroLRPagos',
        'group': 'Pagos',
        'item': 'Pago',
        'respuesta': 'RespuestaLRPagosRecibidas',
        'consulta': 'ConsultaPagos',
        'filtro': 'FiltroConsultaPagos',
        'respuesta_consulta': 'RespuestaConsultaPagos',
        'held': 'RegistroRespuestaConsultaPagos',
        'datos': 'DatosPago',
        'wsdl': 'SuministroPagosRecibidas',
        'path': '/wlpl/SSII-FACT/ws/fr/SiiFactPAGV1SOAP',
        },
    }
# the official addresses (SuministroCobrosEmitidas.wsdl,
# SuministroPagosRecibidas.wsdl: ports without and with "Pruebas")
HOSTS = {
    'production': 'https://www1.agenciatributaria.gob.es',
    'staging': 'https://prewww1.aeat.es',
    }
MEANS = [
    ('01', "01 - Transfer"),
    ('02', "02 - Cheque"),
    ('03', "03 - Not collected or paid (deadline, insolvency)"),
    ('04', "04 - Other means"),
    ('05', "05 - Direct debit"),
    ]


def is_cash_criterion(invoice):
    "The invoice's SII regime key is 07 (the invoice's, else its taxes')"
    if invoice.sii_operation_key:
        return invoice.sii_operation_key == CASH_KEY
    for tax_line in invoice.taxes:
        if tax_line.tax and tax_line.tax.sii_operation_key:
            return tax_line.tax.sii_operation_key == CASH_KEY
    return False


def _sign(invoice):
    "+1 when a debit increases what is owed to us (issued invoices)"
    return 1 if invoice.type == 'out' else -1


def owed(invoice):
    "The invoice total in company currency, from its lines to pay"
    sign = _sign(invoice)
    return sum((sign * (l.debit - l.credit) for l in invoice.lines_to_pay),
        Decimal(0))


class Journal(metaclass=PoolMeta):
    __name__ = 'account.journal'
    sii_payment_means = fields.Selection(MEANS, "SII Payment Means",
        sort=False,
        help="How the collections and payments booked in this journal are "
        "reported to the SII (cash criterion).")
    sii_payment_account = fields.Char("SII Account or Means",
        help="The bank account (IBAN) or other means reported with the "
        "collections and payments of this journal (cash criterion).")

    @classmethod
    def default_sii_payment_means(cls):
        return '04'


class CashMovement(ModelSQL, ModelView):
    __name__ = 'account.einvoice.sii.cash'
    __string__ = "SII Collection or Payment"

    line = fields.Many2One('account.move.line', "Move Line", required=True,
        readonly=True, ondelete='RESTRICT')
    invoice = fields.Many2One('account.invoice', "Invoice", required=True,
        readonly=True, ondelete='RESTRICT')
    record = fields.Many2One('account.einvoice.record', "Record",
        required=True, readonly=True, ondelete='RESTRICT')
    date = fields.Date("Date", required=True, readonly=True)
    amount = fields.Numeric("Amount", digits=(16, 2), required=True,
        readonly=True)
    means = fields.Selection(MEANS, "Means", required=True, readonly=True,
        sort=False)
    account = fields.Char("Account or Means", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('line_unique', Unique(t, t.line),
                'account_einvoice_es_sii.msg_cash_line_unique'),
            ]
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    @classmethod
    def report(cls, invoices):
        """Queue a record for each line paying a cash-criterion invoice
        that was not reported yet"""
        pool = Pool()
        Submission = pool.get('account.einvoice.submission')
        Record = pool.get('account.einvoice.record')
        invoices = [i for i in invoices
            if i.type in {'out', 'in'} and i.move and is_cash_criterion(i)]
        if not invoices:
            return []
        submissions = {s.invoice.id: s for s in Submission.search([
                    ('invoice', 'in', [i.id for i in invoices]),
                    ])}
        known = {c.line.id for c in cls.search([
                    ('invoice', 'in', [i.id for i in invoices]),
                    ])}
        to_create = []
        with without_check_access():
            for invoice in invoices:
                submission = submissions.get(invoice.id)
                if submission is None:
                    continue
                for line in payment_lines(invoice):
                    if line.id in known:
                        continue
                    known.add(line.id)
                    to_create.append(cls._movement(
                            submission.configuration, invoice, line, Record))
            return cls.create(to_create)

    @classmethod
    def _movement(cls, configuration, invoice, line, Record):
        kind = COLLECTION if invoice.type == 'out' else PAYMENT
        journal = line.move.journal
        means = journal.sii_payment_means or '04'
        account = journal.sii_payment_account or None
        value = (line.credit - line.debit) * _sign(invoice)
        identification = identify(invoice.party, '')
        facts = {
            'invoice': invoice.id,
            'line': line.id,
            'number': number_of(invoice),
            'issue_date': sii_date(invoice.invoice_date),
            'name': invoice.party.name,
            'nif': identification.nif if identification else None,
            'other': ([identification.country, identification.id_type,
                    identification.id]
                if identification and not identification.nif else None),
            'date': sii_date(line.date),
            'amount': amount(value),
            'means': means,
            'account': account,
            }
        record = Record.report(configuration, kind, facts,
            description=f"{number_of(invoice)} {line.date}",
            date=dt.datetime.combine(line.date, dt.time()))
        return {
            'line': line.id,
            'invoice': invoice.id,
            'record': record.id,
            'date': line.date,
            'amount': value,
            'means': means,
            'account': account,
            }


def payment_lines(invoice):
    """The lines paying the invoice: its payment lines and the lines
    reconciled with its lines to pay, other invoices' moves excepted"""
    own = set(invoice.move.lines)
    lines = list(invoice.payment_lines)
    for line in invoice.lines_to_pay:
        if line.reconciliation:
            lines.extend(line.reconciliation.lines)
    result, seen = [], set()
    for line in lines:
        if line in own or line.id in seen:
            continue
        origin = line.move.origin
        if (getattr(origin, '__name__', None) == 'account.invoice'
                and origin.move == line.move):
            # a credit note set off against it: not a collection
            continue
        seen.add(line.id)
        result.append(line)
    return result


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    sii_cash_movements = fields.One2Many('account.einvoice.sii.cash',
        'invoice', "SII Collections and Payments", readonly=True)

    @classmethod
    def add_payment_lines(cls, payments):
        super().add_payment_lines(payments)
        Pool().get('account.einvoice.sii.cash').report(
            cls.browse([i.id for i in payments]))


class Reconciliation(metaclass=PoolMeta):
    __name__ = 'account.move.reconciliation'

    @classmethod
    def on_modification(cls, mode, reconciliations, field_names=None):
        super().on_modification(
            mode, reconciliations, field_names=field_names)
        if mode == 'create':
            Pool().get('account.einvoice.sii.cash').report(
                list(_invoices_to_process(reconciliations)))


# -- the service's part ---------------------------------------------------
def batch_key(kind, needs_query):
    return (kind, 'Consulta' if needs_query else 'cash')


def check(submissions):
    """Refuse a collection or payment that, with those reported before,
    would exceed the invoice's total"""
    pool = Pool()
    Movement = pool.get('account.einvoice.sii.cash')
    result = {}
    for submission in submissions:
        movement, = Movement.search([('record', '=', submission.record.id)])
        invoice = movement.invoice
        total = owed(invoice)
        before = Movement.search([
                ('invoice', '=', invoice.id),
                ('id', '<', movement.id),
                ('record.submissions.state', 'not in',
                    ['rejected', 'cancelled']),
                ])
        reported = sum((m.amount for m in before), Decimal(0))
        if abs(reported + movement.amount) > abs(total):
            result[submission.id] = LocalMessage(
                'account_einvoice_es_sii.msg_cash_overpaid',
                invoice=invoice.rec_name, amount=str(movement.amount),
                reported=str(reported), total=str(total))
    return result


def _id_factura(parent, tag, facts, kind, titular_nif):
    idf = _sub(parent, tag)
    emisor = _sub(idf, S('IDEmisorFactura'))
    if kind == COLLECTION:
        _text(emisor, S('NIF'), titular_nif)
    else:
        _text(emisor, S('NombreRazon'), (facts['name'] or '-')[:120])
        if facts['nif']:
            _text(emisor, S('NIF'), facts['nif'])
        else:
            country, id_type, id_ = facts['other']
            other = _sub(emisor, S('IDOtro'))
            if country:
                _text(other, S('CodigoPais'), country)
            _text(other, S('IDType'), id_type)
            _text(other, S('ID'), id_)
    _text(idf, S('NumSerieFacturaEmisor'), facts['number'])
    _text(idf, S('FechaExpedicionFacturaEmisor'), facts['issue_date'])
    return idf


def _datos(parent, tag, facts):
    item = _sub(parent, tag)
    _text(item, S('Fecha'), facts['date'])
    _text(item, S('Importe'), facts['amount'])
    _text(item, S('Medio'), facts['means'])
    if facts.get('account'):
        _text(item, S('Cuenta_O_Medio'), facts['account'][:34])
    return item


def emitter(facts, kind, titular_nif):
    if kind == COLLECTION:
        return titular_nif
    return facts['nif'] or facts['other'][2]


def key_of(facts, kind, titular_nif):
    "(emitter|number|date|payment date|amount|means): what AEAT holds"
    return '|'.join([emitter(facts, kind, titular_nif), facts['number'],
            facts['issue_date'], facts['date'], facts['amount'],
            facts['means']])


def _header(body, name, nif):
    header = _sub(body, S('Cabecera'))
    _text(header, S('IDVersionSii'), '1.1')
    titular = _sub(header, S('Titular'))
    _text(titular, S('NombreRazon'), name[:120])
    _text(titular, S('NIF'), nif)


def build_request(service, submissions):
    nif, name = service.titular()
    kind = submissions[0].record.kind
    conf = CASH[kind]
    body = etree.Element(LR(conf['operation']), nsmap=NSMAP)
    _header(body, name, nif)
    records, ids = {}, {}
    for submission in submissions:
        facts = submission.record.facts
        registro = _sub(body, LR(conf['registro']))
        _id_factura(registro, LR('IDFactura'), facts, kind, nif)
        group = _sub(registro, LR(conf['group']))
        _datos(group, S(conf['item']), facts)
        records[submission.id] = registro
        ids.setdefault(_answer_prefix(facts, kind, nif), []).append(
            submission.id)
    return _request(service, kind, conf['operation'], body, records,
        {'ids': ids, 'kind': kind}, 'SuministroLR.xsd')


def _answer_prefix(facts, kind, nif):
    return '|'.join([emitter(facts, kind, nif), facts['number'],
            facts['issue_date']])


def build_query(service, submissions):
    "ConsultaCobros / ConsultaPagos of the invoice of one record"
    nif, name = service.titular()
    submission, = submissions
    kind = submission.record.kind
    conf = CASH[kind]
    facts = submission.record.facts
    body = etree.Element(LRC(conf['consulta']), nsmap=NSMAP_C)
    _header(body, name, nif)
    filtro = _sub(body, LRC(conf['filtro']))
    _id_factura(filtro, LRC('IDFactura'), facts, kind, nif)
    return _request(service, kind, 'ConsultaLR' + conf['operation'][12:],
        body, {}, {
            'query': True, 'kind': kind, 'id': submission.id,
            'expected': [facts['date'], facts['amount'], facts['means']],
            }, 'ConsultaLR.xsd')


def _request(service, kind, operation, body, records, context, xsd):
    from trytond.modules.account_einvoice.service import Request

    from .service import OFFICIAL
    context['cash'] = True
    return Request(
        operation=operation, body=body, records=records,
        service_name='siiService', port_name=CASH[kind]['wsdl'],
        schema=f'es_sii/{xsd}', schema_url=OFFICIAL + xsd,
        context=context)


def address(service, request):
    environment = service.configuration.environment
    url = HOSTS.get(environment, HOSTS['staging']) + CASH[
        request.context['kind']]['path']
    return service.override_url(url), ''


def _line_prefix(line):
    idf = line.find(R('IDFactura'))
    emisor = idf.find(S('IDEmisorFactura'))
    value = emisor.findtext(S('NIF'))
    if value is None:
        value = emisor.findtext('%s/%s' % (S('IDOtro'), S('ID')))
    return '|'.join([(value or '').strip(),
            idf.findtext(S('NumSerieFacturaEmisor')),
            idf.findtext(S('FechaExpedicionFacturaEmisor'))])


def parse_response(request, response):
    from trytond.modules.account_einvoice.exceptions import ServiceFailure
    body = response.body
    conf = CASH[request.context['kind']]
    if body.tag != R(conf['respuesta']):
        raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
    csv = body.findtext(R('CSV'))
    ids = request.context['ids']
    found = {}
    for line in body.iterfind(R('RespuestaLinea')):
        found.setdefault(_line_prefix(line), []).append(
            answers.line_outcome(line, csv, {
                    'cancel': False, 'modify': False}))
    outcomes = {}
    for prefix, submission_ids in ids.items():
        lines = found.get(prefix, [])
        if len(lines) == len(submission_ids):
            # lines come in the order of the records
            outcomes.update(zip(submission_ids, lines))
        elif lines:
            outcomes.update((i, answers.agreed(lines))
                for i in submission_ids)
    return outcomes


def parse_query(request, response):
    "held: accepted; otherwise not held (sent again)"
    from trytond.modules.account_einvoice.exceptions import ServiceFailure
    body = response.body
    context = request.context
    conf = CASH[context['kind']]
    if body.tag != RC(conf['respuesta_consulta']):
        raise ServiceFailure('unknown', f"unexpected answer {body.tag}")
    expected = context['expected']
    for item in body.iterfind(RC(conf['held'])):
        datos = item.find(RC(conf['datos']))
        if datos is None:
            continue
        held = [datos.findtext(S('Fecha')), datos.findtext(S('Importe')),
            datos.findtext(S('Medio'))]
        if held == expected:
            csv = item.findtext('%s/%s' % (
                    RC('DatosPresentacion'), S('CSV')))
            return {context['id']: Outcome('accepted', reference=csv)}
    if body.findtext(RC('IndicadorPaginacion')) == 'S':
        return {context['id']: Outcome('unknown', message=gettext(
                    'account_einvoice_es_sii.msg_query_unread'))}
    return {context['id']: Outcome('not_found')}
