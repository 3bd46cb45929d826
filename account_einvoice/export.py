# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Export the stored documents for the authority (e.g. when it asks for the
records a local-only service kept): a zip of the bytes as they are stored,
in chain order, and a manifest with each chain's verification."""
import datetime as dt
import hashlib
import io
import json
import re
import zipfile

from trytond import config
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import ExportError

MANIFEST = 'manifest.json'
UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


def export_limit():
    "The most documents one export holds"
    return config.getint('account_einvoice', 'export_limit', default=10000)


def safe_name(text):
    "text as a portable file name part"
    return UNSAFE.sub('_', text or '').strip('_.') or '_'


class ExportStart(ModelView):
    __name__ = 'account.einvoice.export.start'
    __string__ = "E-Invoice Export"

    configuration = fields.Many2One(
        'account.einvoice.configuration', "Configuration", required=True)
    chain = fields.Many2One(
        'account.einvoice.chain', "Chain",
        domain=[
            ('configuration', '=', Eval('configuration', -1)),
            ('key', '!=', ''),
            ],
        help="Export only this chain; every document of the configuration "
        "when empty.")
    from_date = fields.Date("From Date", required=True,
        help="The first day the documents were generated.")
    to_date = fields.Date("To Date", required=True,
        help="The last day the documents were generated.")

    @classmethod
    def default_to_date(cls):
        return dt.date.today()

    @classmethod
    def default_from_date(cls):
        return dt.date.today().replace(day=1)


class ExportResult(ModelView):
    __name__ = 'account.einvoice.export.result'
    __string__ = "E-Invoice Export Result"

    file = fields.Binary("File", filename='filename', readonly=True)
    filename = fields.Char("File Name", readonly=True)
    count = fields.Integer("Documents", readonly=True)
    verification = fields.Text("Verification", readonly=True)


class Export(Wizard):
    "Export the documents of a period for the authority"
    __name__ = 'account.einvoice.export'

    start = StateView('account.einvoice.export.start',
        'account_einvoice.export_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'export', 'tryton-ok', default=True),
            ])
    export = StateTransition()
    result = StateView('account.einvoice.export.result',
        'account_einvoice.export_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        values = {}
        if self.model and self.record:
            if self.model.__name__ == 'account.einvoice.chain':
                values['configuration'] = self.record.configuration.id
                if self.record.key:
                    values['chain'] = self.record.id
            elif self.model.__name__ == 'account.einvoice.configuration':
                values['configuration'] = self.record.id
        return values

    def transition_export(self):
        start = self.start
        # the wizard runs without access checks: what is chosen must be
        # readable by the user (the record rules of the companies)
        with check_access():
            start.configuration.__class__.read(
                [start.configuration.id], ['id'])
            if start.chain:
                start.chain.__class__.read([start.chain.id], ['id'])
        data, manifest = self.archive(start.configuration,
            start.from_date, start.to_date,
            [start.chain] if start.chain else None)
        self.result.file = data
        self.result.filename = self.archive_name(start.configuration,
            start.from_date, start.to_date, start.chain)
        self.result.count = len(manifest['documents'])
        self.result.verification = '\n'.join(
            f"{c['key']}: {c['verification']}" for c in manifest['chains'])
        return 'result'

    def default_result(self, fields):
        values = {
            'file': self.result.file,
            'filename': self.result.filename,
            'count': self.result.count,
            'verification': self.result.verification,
            }
        # shown once, not kept in the wizard's session
        self.result.file = None
        return values

    @staticmethod
    def archive_name(configuration, from_date, to_date, chain=None):
        parts = [configuration.company.rec_name, configuration.service]
        if chain:
            parts.append(chain.key)
        parts += [from_date.isoformat(), to_date.isoformat()]
        return '-'.join(safe_name(p) for p in parts) + '.zip'

    @classmethod
    def archive(cls, configuration, from_date, to_date, chains=None):
        """(zip bytes, manifest) of the documents of configuration (of the
        chains given) generated from from_date to to_date, inclusive: the
        stored bytes, in chain order, each chain verified"""
        pool = Pool()
        Chain = pool.get('account.einvoice.chain')
        Document = pool.get('account.einvoice.document')
        domain = [
            ('submission.configuration', '=', configuration.id),
            ('generated', '>=', dt.datetime.combine(from_date, dt.time())),
            ('generated', '<', dt.datetime.combine(
                    to_date + dt.timedelta(days=1), dt.time())),
            ]
        if chains is not None:
            domain.append(('chain', 'in', [c.id for c in chains]))
        count = Document.search_count(domain)
        limit = export_limit()
        if count > limit:
            raise ExportError(gettext('account_einvoice.msg_export_too_many',
                    count=count, limit=limit))
        documents = sorted(Document.search(domain), key=lambda d: (
                d.chain is None, d.chain.key if d.chain else '',
                d.chain_sequence or 0, d.id))
        if chains is None:
            chains = Chain.browse(
                sorted({d.chain.id for d in documents if d.chain}))
        results = Chain.verify_chains(chains)

        manifest = {
            'company': configuration.company.rec_name,
            'service': configuration.service,
            'environment': configuration.environment,
            'from': from_date.isoformat(),
            'to': to_date.isoformat(),
            'exported': dt.datetime.now().isoformat(timespec='seconds'),
            'chains': [{
                    'key': c.key,
                    'last_sequence': c.last_sequence or 0,
                    'holds': results[c.id] is None,
                    'verification': c.verification,
                    } for c in chains],
            'documents': [],
            }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
            for document in documents:
                data = bytes(document.data or b'')
                name = cls.member_name(document)
                member = zipfile.ZipInfo(
                    name, document.generated.timetuple()[:6])
                member.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(member, data)
                manifest['documents'].append(
                    cls.manifest_entry(document, name, data))
            archive.writestr(MANIFEST, json.dumps(
                    manifest, indent=1, ensure_ascii=False).encode())
        return buffer.getvalue(), manifest

    @staticmethod
    def member_name(document):
        "Its file name in the zip: chain key and zero-padded sequence"
        name = safe_name(document.filename or f'{document.kind}.bin')
        if document.chain:
            return (f'chains/{safe_name(document.chain.key)}/'
                f'{document.chain_sequence:06d}-{name}')
        return f'unchained/{document.id:08d}-{name}'

    @staticmethod
    def manifest_entry(document, name, data):
        previous = document.previous
        invoice = document.submission.invoice
        record = document.submission.record
        return {
            'file': name,
            'chain': document.chain.key if document.chain else None,
            'sequence': document.chain_sequence,
            'kind': document.kind,
            'operation': document.operation,
            'invoice': invoice.number if invoice else None,
            'record': record.rec_name if record else None,
            'digest': document.digest,
            'previous_digest': previous.digest if previous else None,
            'generated': document.generated.isoformat(),
            'current': document.current,
            'sha256': hashlib.sha256(data).hexdigest(),
            }
