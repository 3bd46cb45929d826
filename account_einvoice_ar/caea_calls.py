# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The CAEA calls of one configuration, each kept as an exchange of kind
*CAEA* (request with placeholders instead of the credentials, answer,
failure).

Exactly once: the record a call is about (the CAEA of a fortnight, a point
of sale without movement) is committed in state *requested* before the
call; a record found *requested* is consulted (``FECAEAConsultar``,
``FECAEASinMovimientoConsultar``) and only asked again when AFIP answers
602 (it holds nothing)."""
import datetime as dt
import logging

from sql import Null

from trytond.i18n import gettext
from trytond.modules.account_einvoice.exceptions import ServiceFailure
from trytond.modules.account_einvoice.recorded_call import recorded_call
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

from . import afip, answers, caea
from .afip import E, wsfe_tag

logger = logging.getLogger(__name__)
#: CAEA granted for that period and order already: consult it
ALREADY_GRANTED = '15008'
#: "no data": AFIP holds nothing of what was consulted
NOT_HELD = '602'
#: without movement informed already
ALREADY_INFORMED = '1506'


class CaeaCalls:

    def __init__(self, configuration):
        self.configuration_id = configuration.id

    @property
    def configuration(self):
        return Pool().get('account.einvoice.configuration')(
            self.configuration_id)

    # -- the calls -------------------------------------------------------
    def call(self, operation, label, *children):
        """Call operation as an exchange of kind CAEA; return its Result
        element and its errors [(code, message)]; raise ServiceFailure"""
        configuration = self.configuration
        configuration.check_sending()
        service = configuration.get_service()
        request = service._request(operation,
            E(wsfe_tag(operation), service.auth(), *children))

        def read(response):
            result = response.body.find(wsfe_tag(f'{operation}Result'))
            if result is None:
                raise ServiceFailure('unknown',
                    f"unexpected answer {response.body.tag}")
            errors = answers.header_errors(result)
            return (result, errors), answers.message_text(errors) or 'OK'
        return recorded_call(configuration, request, caea.EXCHANGE_KIND,
            label, read=read, authenticate=True)

    # -- the run ---------------------------------------------------------
    def run(self, today):
        Caea = Pool().get('account.einvoice.ar.caea')
        for period, order in caea.fortnights_to_request(today):
            record = Caea.of_fortnight(
                self.configuration, period, order, create=True)
            Transaction().commit()
            if record.state != 'granted':
                self.obtain(record)
        current = Caea.of_fortnight(self.configuration, *caea.fortnight(
                today))
        if current.state != 'granted':
            current.notify_missing()
            Transaction().commit()
        self.without_movement(today)

    def obtain(self, record):
        """Ask for the CAEA of record; consult it first when an earlier
        request's answer is unknown"""
        Caea = Pool().get('account.einvoice.ar.caea')
        record_id = record.id
        children = [E.Periodo(str(record.period)), E.Orden(record.order)]
        try:
            if record.state == 'requested' and record.message is not None:
                # asked before, the answer is unknown (message set by the
                # failure): AFIP may have granted it
                result, errors = self.call('FECAEAConsultar',
                    f'{record.label} consult', *children)
                if self.apply(record_id, result, errors):
                    return
                if not any(c == NOT_HELD for c, _ in errors):
                    return
            self._write(Caea, record_id, state='requested',
                message=gettext('account_einvoice_ar.msg_caea_asked'))
            result, errors = self.call('FECAEASolicitar',
                f'{record.label} request', *children)
            if self.apply(record_id, result, errors):
                return
            if any(c == ALREADY_GRANTED for c, _ in errors):
                result, errors = self.call('FECAEAConsultar',
                    f'{record.label} consult', *children)
                if self.apply(record_id, result, errors):
                    return
            self._write(Caea, record_id, state='refused',
                message=answers.message_text(errors))
        except ServiceFailure as failure:
            Transaction().rollback()
            # whatever the failure, the request may have been taken:
            # consulted next time (message set)
            self._write(Caea, record_id, message=failure.message or (
                    failure.kind))

    def apply(self, record_id, result, errors):
        "Keep the CAEA of an answer; True when it holds one"
        Caea = Pool().get('account.einvoice.ar.caea')
        found = result.find(wsfe_tag('ResultGet'))
        code = (found.findtext(wsfe_tag('CAEA')) or '').strip() if (
            found is not None) else ''
        if not (len(code) == 14 and code.isdigit()):
            return False
        valid_from = afip.parse_afip_date(
            found.findtext(wsfe_tag('FchVigDesde')))
        valid_to = afip.parse_afip_date(
            found.findtext(wsfe_tag('FchVigHasta')))
        deadline = afip.parse_afip_date(
            found.findtext(wsfe_tag('FchTopeInf')))
        record = Caea(record_id)
        start, end = caea.fortnight_dates(record.period, record.order)
        observations = answers.coded_messages(found, answers.OBSERVATIONS)
        self._write(Caea, record_id, state='granted', code=code,
            valid_from=valid_from or start, valid_to=valid_to or end,
            report_deadline=deadline or (
                (valid_to or end) + dt.timedelta(days=caea.REPORT_DAYS)),
            processed=(found.findtext(wsfe_tag('FchProceso')) or '').strip()
            or None,
            message=answers.message_text(observations))
        return True

    @staticmethod
    def _write(Model, record_id, **values):
        with without_check_access():
            Model.write([Model(record_id)], values)
        Transaction().commit()

    # -- without movement ------------------------------------------------
    def without_movement(self, today):
        """Inform, once the fortnight ended, each CAEA point of sale that
        issued nothing with its CAEA"""
        pool = Pool()
        Caea = pool.get('account.einvoice.ar.caea')
        Report = pool.get('account.einvoice.ar.caea.report')
        PointOfSale = pool.get('account.einvoice.ar.pos')
        configuration = self.configuration
        with without_check_access():
            ended = Caea.search([
                    ('configuration', '=', configuration.id),
                    ('state', '=', 'granted'),
                    ('closed', '=', False),
                    ('valid_to', '<', today),
                    ])
            points = PointOfSale.search([
                    ('company', '=', configuration.company.id),
                    ('emission_type', '=', 'caea'),
                    ])
        for record in ended:
            pending = False
            for pos in points:
                if self._issued(pos, record.code):
                    continue
                with without_check_access():
                    reports = Report.search([
                            ('caea', '=', record.id),
                            ('pos', '=', pos.id),
                            ], limit=1)
                    if not reports:
                        reports = Report.create([{
                                    'caea': record.id,
                                    'pos': pos.id,
                                    }])
                Transaction().commit()
                report, = reports
                if report.state == 'requested':
                    self.inform(report)
                    if Report(report.id).state == 'requested':
                        pending = True
            if not pending:
                self._write(Caea, record.id, closed=True)

    @staticmethod
    def _issued(pos, code):
        Invoice = Pool().get('account.invoice')
        table = Invoice.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id,
                where=(table.ar_pos == pos.id) & (table.ar_cae == code)
                & (table.ar_voucher_number != Null),
                limit=1))
        return cursor.fetchone() is not None

    def inform(self, report):
        Report = Pool().get('account.einvoice.ar.caea.report')
        report_id = report.id
        code, number = report.caea.code, report.pos.number
        label = f'{report.caea.label} {number}'
        try:
            if report.message is not None:
                result, errors = self.call('FECAEASinMovimientoConsultar',
                    f'{label} consult', E.CAEA(code), E.PtoVta(str(number)))
                held = [item for item in result.iterfind(
                        f'{wsfe_tag("ResultGet")}/{wsfe_tag("FECAEASinMov")}')
                    if (item.findtext(wsfe_tag('CAEA')) or '').strip() == code
                    and (item.findtext(wsfe_tag('PtoVta')) or '').strip()
                    == str(number)]
                if held:
                    self._write(Report, report_id, state='done',
                        processed=(held[0].findtext(wsfe_tag('FchProceso'))
                            or '').strip() or None,
                        message=None)
                    return
                if not any(c == NOT_HELD for c, _ in errors):
                    return
            self._write(Report, report_id, message=gettext(
                    'account_einvoice_ar.msg_caea_asked'))
            result, errors = self.call('FECAEASinMovimientoInformar',
                f'{label} inform', E.PtoVta(str(number)), E.CAEA(code))
            outcome = (result.findtext(wsfe_tag('Resultado')) or '').strip()
            errors = errors or answers.coded_messages(
                result, answers.ERRORS)
            codes = {c for c, _ in errors}
            if outcome == 'A' or ALREADY_INFORMED in codes:
                self._write(Report, report_id, state='done',
                    processed=(result.findtext(wsfe_tag('FchProceso'))
                        or '').strip() or None,
                    message=answers.message_text(errors))
            elif outcome == 'R' or errors:
                self._write(Report, report_id, state='refused',
                    message=answers.message_text(errors))
        except ServiceFailure as failure:
            Transaction().rollback()
            self._write(Report, report_id, message=failure.message or (
                    failure.kind))
