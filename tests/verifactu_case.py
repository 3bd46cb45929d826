"""Base of the VERI*FACTU tests: the SII test company (the NIF of the
sandbox's ``es_company`` certificate, AEAT-coded taxes) reporting to the
sandbox's VERI*FACTU service in its staging state."""
import datetime as dt

from lxml import etree

from tests import tools
from tests.sii_case import SIITestCase, create_sii_base

SERVICE = 'verifactu'
BASE = ('https://www2.agenciatributaria.gob.es/static_files/common/'
    'internet/dep/aplicaciones/es/aeat/tike/cont/ws/')
SF = BASE + 'SuministroInformacion.xsd'
LR = BASE + 'SuministroLR.xsd'
SOAP = 'http://schemas.xmlsoap.org/soap/envelope/'


def setup_configuration(base, sandbox, certificate='sii', **values):
    from trytond.pool import Pool
    Configuration = Pool().get('account.einvoice.configuration')
    values.setdefault('environment', 'staging')
    values.setdefault('endpoint_host', sandbox.url)
    configuration = Configuration(
        company=base['company'],
        service='es_verifactu',
        start_date=dt.date.today() - dt.timedelta(days=60),
        certificate_name=certificate,
        **values)
    configuration.save()
    return configuration.id


class VerifactuTestCase(SIITestCase):
    modules = ['account_einvoice_es_verifactu']
    sandbox_services = [SERVICE]
    certificates = {'sii': 'es_company', 'other': 'es_other'}
    config_sections = {
        'account_einvoice_es_verifactu': {'installation_number': '1'}}

    @classmethod
    def setUpData(cls):
        cls.titular = cls.sandbox.identity('es_company').tax_id
        cls.base = tools.call(create_sii_base, cls.titular)
        cls.configuration = tools.call(
            setup_configuration, cls.base, cls.sandbox,
            company=cls.base['company'])
        cls.xsd_lr = cls.xsd('SuministroLR.xsd')
        cls.xsd_consulta = cls.xsd('ConsultaLR.xsd')

    @staticmethod
    def xsd(name):
        import os
        return etree.XMLSchema(etree.parse(
                os.path.join(tools.SCHEMAS, 'es_verifactu', name)))

    def setUp(self):
        super().setUp()
        self.sandbox.set_option(SERVICE, 'wait', 0)
        # the sandbox forgot its chains: so does the client
        tools.call(self.forget_chains)

    @staticmethod
    def forget_chains():
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        pool = Pool()
        cursor = Transaction().connection.cursor()
        chain = pool.get('account.einvoice.chain').__table__()
        document = pool.get('account.einvoice.document').__table__()
        submission = pool.get('account.einvoice.submission').__table__()
        cursor.execute(*chain.update([chain.last_document], [None]))
        cursor.execute(*submission.update(
                [submission.chain], [None]))
        cursor.execute(*document.update([document.previous], [None]))
        cursor.execute(*document.delete())
        cursor.execute(*chain.delete())

    def configuration_defaults(self):
        return {
            'batch_size': None,
            'last_failure': None,
            'certificate_name': 'sii',
            'environment': 'staging',
            'endpoint_host': self.sandbox.url,
            }

    # -- what the client stored ----------------------------------------------
    def documents(self, invoice_id, current=None):
        "[(kind, digest, data)] of an invoice's documents, oldest first"
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            Document = Pool().get('account.einvoice.document')
            domain = [('submission.invoice', '=', invoice_id)]
            if current is not None:
                domain.append(('current', '=', current))
            return [(d.kind, d.digest, d.data) for d in Document.search(
                    domain, order=[('id', 'ASC')])]

    def invoice_values(self, invoice_id, *names):
        from trytond.pool import Pool
        with tools.transaction(commit=False):
            invoice = Pool().get('account.invoice')(invoice_id)
            return tuple(getattr(invoice, n) for n in names)

    def sent_records(self, exchanges=None):
        "The records (elements) of every send request, in order"
        result = []
        for exchange in exchanges or self.exchanges():
            if exchange['kind'] != 'send' or not exchange['request']:
                continue
            root = etree.fromstring(exchange['request'])
            body = root.find(f'{{{SOAP}}}Body')[0]
            for wrapper in body.iterfind(f'{{{LR}}}RegistroFactura'):
                result.append(wrapper[0])
        return result

    def assertRequestsValid(self, exchanges=None):
        for exchange in exchanges or self.exchanges():
            if not exchange['request']:
                continue
            root = etree.fromstring(exchange['request'])
            body = root.find(f'{{{SOAP}}}Body')[0]
            schema = (self.xsd_consulta if exchange['kind'] == 'query'
                else self.xsd_lr)
            self.assertTrue(schema.validate(body),
                f"{exchange['remote_operation']}: {schema.error_log}")
