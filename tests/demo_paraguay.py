"""The demo's Paraguayan company (:mod:`tests.demo`): point of issue
001-001 reporting to SIFEN one document at a time, an invoice to a
company, one to a consumer, a credit note, one refused at posting and one
cancelled by an event."""
import datetime as dt

PY_PARTY_NAMES = {
    'b2b': "BANCO DEL PARAGUAY S.A.",
    'b2c': "Juan Pérez",
    }


def create_paraguay(sandbox):
    """The Paraguayan company (the RUC of the sandbox's py_company
    certificate), its IVA taxes, its customers and its point of issue"""
    from tests import sifen_case
    from tests.demo_data import number_invoices
    base = sifen_case.create_sifen_base(sandbox.identity('py_company').tax_id)
    number_invoices(base['company'], 'PY')
    # one by one: SIFEN answers each document at once
    base['configuration'] = sifen_case.setup_configuration(
        base, sandbox, point='001', sifen_sending='single')
    return base


def post_paraguayan_documents(base):
    """Two invoices and a credit note of the first: generated, signed and
    given their CDC and QR at posting; return the invoice to cancel"""
    from tests.sifen_case import create_invoice
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    first = create_invoice(base, [('110000', ['iva10']),
            ('52500', 2, ['iva5'])], party='b2b',
        description="Yerba mate al por mayor")
    create_invoice(base, [('27500', ['iva10']), ('8000', ['exempt'])],
        party='b2c', description="Venta de mostrador")
    to_cancel = create_invoice(base, [('55000', ['iva10'])], party='b2c',
        description="Venta anulada")
    credit, = Invoice.credit([Invoice(first)])
    credit.description = "Devolución parcial"
    credit.lines = credit.lines[:1]
    credit.save()
    Invoice.post([credit])
    return to_cancel


def draft_paraguayan_refused_invoice(base):
    """An invoice dated a week ahead: a draft (SIFEN takes no document
    more than 120 hours in the future; posting it is refused)"""
    from tests.sifen_case import create_invoice
    return create_invoice(base, [('11000', ['iva10'])], party='b2c',
        post=False, invoice_date=dt.date.today() + dt.timedelta(days=7),
        description="Pedido futuro")


def cancel_paraguayan_invoice(invoice_id):
    "Cancel an approved invoice: SIFEN's cancellation event is queued"
    from trytond.pool import Pool
    Invoice = Pool().get('account.invoice')
    invoice = Invoice(invoice_id)
    invoice.sifen_cancel_reason = "Venta anulada por el cliente"
    invoice.save()
    Invoice.cancel([invoice])
