# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The voiding of unused numbers (SIFEN's *inutilización*, ``rGeVeInu``).

A number of a series (timbrado, establishment, point of issue, document
type) is *used* once SIFEN approved a DE carrying it, *in flight* while
its DE waits to be sent or processed, and *unused* otherwise: its DE was
rejected, replaced by a later one, or closed before it was sent.  Only
unused numbers that no voiding holds yet may be voided; the wizard queues
a record (``sifen_voiding``) the service sends as a signed event."""
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import without_check_access
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from .exceptions import SifenError
from .invoice_data import CREDIT_NOTE, DEBIT_NOTE, INVOICE

SERVICE = 'py_sifen'
#: the record kind the service sends as rGeVeInu
VOIDING = 'sifen_voiding'
TYPES = [
    (str(INVOICE), "Electronic Invoice"),
    (str(CREDIT_NOTE), "Electronic Credit Note"),
    (str(DEBIT_NOTE), "Electronic Debit Note"),
    ]
ABBREVIATIONS = {INVOICE: 'FE', CREDIT_NOTE: 'NC', DEBIT_NOTE: 'ND'}
APPROVED = {'accepted', 'accepted_with_errors', 'cancelled'}
IN_FLIGHT = {'pending', 'processing'}
REASON_SIZE = (5, 500)


def series_key(configuration, type_):
    "The key of the chain numbering the documents of type_ of the unit"
    return '/'.join([
            configuration.company.party.rec_name,
            configuration.sifen_timbrado or '-',
            configuration.sifen_establishment or '001',
            configuration.sifen_point or '001',
            str(type_)])


def ranges(numbers):
    "'1, 3-5' of the sorted numbers"
    found = []
    for number in sorted(numbers):
        if found and found[-1][1] == number - 1:
            found[-1][1] = number
        else:
            found.append([number, number])
    return ', '.join(str(a) if a == b else f'{a}-{b}' for a, b in found)


class Series:
    "The state of each number given out in one series of a unit"

    def __init__(self, configuration, type_):
        self.configuration = configuration
        self.type = int(type_)
        self.last = 0
        self.approved = set()
        self.in_flight = set()
        self.voided = set()
        with without_check_access():
            self._read_documents()
            self._read_voidings()

    @property
    def name(self):
        configuration = self.configuration
        return (f'{configuration.sifen_establishment}-'
            f'{configuration.sifen_point} {ABBREVIATIONS[self.type]} '
            f'({configuration.sifen_timbrado})')

    def _read_documents(self):
        pool = Pool()
        Chain = pool.get('account.einvoice.chain')
        Document = pool.get('account.einvoice.document')
        Outcome = pool.get('account.einvoice.exchange.outcome')
        chains = Chain.search([
                ('configuration', '=', self.configuration.id),
                ('key', '=', series_key(self.configuration, self.type)),
                ], limit=1)
        if not chains:
            return
        chain, = chains
        self.last = chain.last_sequence or 0
        documents = Document.search([
                ('chain', '=', chain.id),
                ('kind', '=', 'de'),
                ])
        # what SIFEN approved: the CDCs its answers named
        held = set()
        submissions = list({d.submission.id for d in documents})
        for sub_ids in grouped_slice(submissions):
            held.update(o.reference for o in Outcome.search([
                        ('submission', 'in', list(sub_ids)),
                        ('state', 'in', list(APPROVED)),
                        ('reference', '!=', None),
                        ]))
        for document in documents:
            cdc = (document.filename or '').split('.')[0]
            number = document.chain_sequence
            if cdc in held:
                self.approved.add(number)
            elif (document.current
                    and document.submission.state in IN_FLIGHT):
                self.in_flight.add(number)

    def _read_voidings(self):
        Record = Pool().get('account.einvoice.record')
        configuration = self.configuration
        for record in Record.search([
                    ('configuration', '=', configuration.id),
                    ('kind', '=', VOIDING),
                    ]):
            facts = record.facts
            if (facts.get('timbrado'), facts.get('establishment'),
                    facts.get('point'), int(facts.get('type') or 0)) != (
                    configuration.sifen_timbrado,
                    configuration.sifen_establishment,
                    configuration.sifen_point, self.type):
                continue
            if all(s.state in {'rejected', 'cancelled'}
                    for s in record.submissions):
                continue
            self.voided.update(
                range(int(facts['first']), int(facts['last']) + 1))

    def unused(self):
        "The numbers SIFEN does not hold and no voiding holds yet"
        return sorted(set(range(1, self.last + 1))
            - self.approved - self.in_flight - self.voided)

    def check(self, first, last):
        "Raise SifenError when first…last may not be voided"
        if not first or not last or first < 1 or first > last:
            raise SifenError(gettext(
                    'account_einvoice_py_sifen.msg_void_range',
                    first=first or 0, last=last or 0))
        if last > self.last:
            raise SifenError(gettext(
                    'account_einvoice_py_sifen.msg_void_beyond',
                    series=self.name, last=last, number=self.last))
        numbers = set(range(first, last + 1))
        for found, message in [
                (self.approved, 'msg_void_approved'),
                (self.in_flight, 'msg_void_in_flight'),
                (self.voided, 'msg_void_voided'),
                ]:
            if numbers & found:
                raise SifenError(gettext(
                        f'account_einvoice_py_sifen.{message}',
                        series=self.name, numbers=ranges(numbers & found)))


class Configuration(metaclass=PoolMeta):
    __name__ = 'account.einvoice.configuration'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'sifen_void': {
                    'invisible': Eval('service') != SERVICE,
                    'depends': ['service'],
                    },
                })

    @classmethod
    @ModelView.button_action('account_einvoice_py_sifen.wizard_void')
    def sifen_void(cls, configurations):
        "Void unused numbers of the unit's series"


class VoidStart(ModelView):
    __name__ = 'account.einvoice.sifen.void.start'
    __string__ = "Void Unused SIFEN Numbers"

    configuration = fields.Many2One(
        'account.einvoice.configuration', "Unit", required=True,
        domain=[('service', '=', SERVICE)],
        help="The point of issue whose numbers are voided.")
    type = fields.Selection(TYPES, "Document Type", required=True)
    first = fields.Integer("First Number", required=True)
    last = fields.Integer("Last Number", required=True)
    reason = fields.Char("Reason", required=True, size=REASON_SIZE[1],
        help="Why the numbers were not used, sent to SIFEN (5 to 500 "
        "characters).")
    last_number = fields.Integer("Last Number Given", readonly=True,
        help="The last number given out in the series.")
    unused = fields.Text("Unused Numbers", readonly=True,
        help="The numbers of the series SIFEN does not hold and that are "
        "not voided yet.")

    @fields.depends('configuration', 'type')
    def on_change_configuration(self):
        self.propose()

    @fields.depends('configuration', 'type')
    def on_change_type(self):
        self.propose()

    @fields.depends('configuration', 'type')
    def propose(self):
        "Fill the first run of unused numbers of the series"
        self.last_number = self.unused = None
        if not self.configuration or not self.type:
            return
        series = Series(self.configuration, self.type)
        unused = series.unused()
        self.last_number = series.last
        self.unused = ranges(unused) or None
        self.first = self.last = None
        if unused:
            self.first = self.last = unused[0]
            while self.last + 1 in unused:
                self.last += 1


class Void(Wizard):
    __name__ = 'account.einvoice.sifen.void'
    __string__ = "Void Unused SIFEN Numbers"

    start = StateView('account.einvoice.sifen.void.start',
        'account_einvoice_py_sifen.void_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Propose", 'propose', 'tryton-refresh'),
            Button("Void", 'void', 'tryton-ok', default=True),
            ])
    propose = StateTransition()
    void = StateTransition()
    open_ = StateAction('account_einvoice.act_record_form')

    def default_start(self, fields):
        values = {'type': str(INVOICE)}
        if (self.model and self.model.__name__
                == 'account.einvoice.configuration' and self.record
                and self.record.service == SERVICE):
            view = self.start.__class__(
                configuration=self.record, type=str(INVOICE))
            view.propose()
            values.update(configuration=self.record.id,
                first=view.first, last=view.last,
                last_number=view.last_number, unused=view.unused)
        return values

    def transition_propose(self):
        self.start.propose()
        self._proposed = True
        return 'start'

    def value_start(self, fields):
        "The proposal, shown in the start view again"
        if not getattr(self, '_proposed', False):
            return {}
        start = self.start
        return {
            'configuration': start.configuration.id,
            'type': start.type,
            'first': start.first,
            'last': start.last,
            'reason': start.reason,
            'last_number': start.last_number,
            'unused': start.unused,
            }

    def transition_void(self):
        Record = Pool().get('account.einvoice.record')
        start = self.start
        configuration = start.configuration
        reason = (start.reason or '').strip()
        if not REASON_SIZE[0] <= len(reason) <= REASON_SIZE[1]:
            raise SifenError(gettext(
                    'account_einvoice_py_sifen.msg_void_reason',
                    minimum=REASON_SIZE[0], maximum=REASON_SIZE[1]))
        type_ = int(start.type)
        Series(configuration, type_).check(start.first, start.last)
        description = (f'{configuration.sifen_establishment}-'
            f'{configuration.sifen_point} {ABBREVIATIONS[type_]} '
            f'{start.first:07d}-{start.last:07d}')
        self._voiding = Record.report(configuration, VOIDING, {
                'timbrado': configuration.sifen_timbrado,
                'establishment': configuration.sifen_establishment,
                'point': configuration.sifen_point,
                'type': type_,
                'first': start.first,
                'last': start.last,
                'reason': reason,
                }, description=description)
        return 'open_'

    def do_open_(self, action):
        action['res_id'] = [self._voiding.id]
        action['views'].reverse()
        return action, {}
