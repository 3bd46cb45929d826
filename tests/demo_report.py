"""What the demo (:mod:`tests.demo`) shows: the cron runs, company by
company, and the table of the submissions."""
import re
import time

from tests.demo_setup import DATABASE, say

#: the code of the submissions refused before sending, by the local checks
LOCAL = 'LOCAL'
#: AFIP voucher types (CbteTipo) shown in the table
AR_VOUCHERS = {
    '1': "FC A", '2': "ND A", '3': "NC A", '6': "FC B", '7': "ND B",
    '8': "NC B", '11': "FC C", '12': "ND C", '13': "NC C"}

AUTHORITIES = {
    'es_sii': "AEAT SII",
    'es_verifactu': "VERI*FACTU",
    'ar_afip': "AFIP WSFEv1",
    'sa_zatca': "ZATCA",
    'py_sifen': "SIFEN",
    }


def submissions_table(company=None):
    "Rows (company, invoice, party, authority, state, reference, message)"
    from trytond.pool import Pool
    pool = Pool()
    Submission = pool.get('account.einvoice.submission')
    domain = [('company', '=', company)] if company else []
    states = dict(Submission.fields_get(['state'])['state']['selection'])
    rows = []
    for submission in Submission.search(domain,
            order=[('company', 'ASC'), ('id', 'ASC')]):
        invoice = submission.invoice
        configuration = submission.configuration
        authority = AUTHORITIES.get(
            configuration.service, configuration.service)
        number = invoice.number or ''
        legal = getattr(invoice, 'ar_legal_number', None)
        if legal:
            kind = AR_VOUCHERS.get(invoice.ar_voucher_type, '')
            number = f'{number} ({kind} {legal})'
        if invoice.type == 'in':
            number = f'{number} ({invoice.reference})'
        state = states.get(submission.state, submission.state)
        if submission.state == 'rejected' and submission.code == LOCAL:
            state = "Refused before sending"
        rows.append({
                'company': submission.company.rec_name,
                'invoice': number,
                'party': invoice.party.rec_name,
                'authority': authority,
                'state': state,
                'code': submission.code or '',
                'reference': submission.reference or '',
                'message': submission.message or '',
                'amount': str(invoice.total_amount),
                'currency': invoice.currency.code,
                })
    return rows


def refused_at_posting(company=None):
    """Rows of the customer invoices left in draft because posting them
    is refused (the service's checks, e.g. ZATCA's rules): the refusal
    is asked again, in a transaction rolled back"""
    from trytond.exceptions import UserError
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Configuration = pool.get('account.einvoice.configuration')
    Submission = pool.get('account.einvoice.submission')
    services = {c.company.id: c.service for c in Configuration.search([])}
    domain = [
        ('type', '=', 'out'), ('state', '=', 'draft'),
        ('company', 'in', [company] if company else list(services)),
        ]
    rows = []
    for invoice in Invoice.search(domain, order=[('id', 'ASC')]):
        with Transaction().set_context(company=invoice.company.id):
            try:
                Submission.check_posting([invoice])
            except UserError as error:
                message = error.message
            else:
                continue
        rule = re.search(r'\b(BR-[A-Z0-9-]+[0-9])\b', message)
        rows.append({
                'company': invoice.company.rec_name,
                'invoice': f'(draft {invoice.id})',
                'party': invoice.party.rec_name,
                'authority': AUTHORITIES.get(
                    services.get(invoice.company.id), ''),
                'state': "Refused at posting",
                'code': rule.group(1) if rule else '',
                'reference': '',
                'message': message,
                'amount': str(invoice.total_amount),
                'currency': invoice.currency.code,
                })
    return rows


def print_table(rows):
    "One line per submission; the message (last) is not cut"
    columns = [
        ('invoice', "Invoice", 34), ('party', "Party", 24),
        ('total', "Total", 16), ('authority', "Authority", 11),
        ('state', "State", 22),
        ('reference', "Reference (CSV/CAE/UUID)", 24), ('code', "Code", 10),
        ('message', "Message", 0)]

    def cut(text, size):
        text = ' '.join(str(text).split())
        if not size:
            return text
        return text if len(text) <= size else text[:size - 1] + '…'
    header = '  '.join(title.ljust(size) for _, title, size in columns)
    say(header.rstrip())
    say('-' * (len(header) + 20))
    company = None
    for row in rows:
        if row['company'] != company:
            company = row['company']
            say(f'{company}')
        row = dict(row, total=f"{row['amount']} {row['currency']}")
        say('  '.join(
                (cut(row[key], size).rjust(size) if key == 'total'
                    else cut(row[key], size).ljust(size))
                for key, _, size in columns).rstrip())


def count_by_state(rows):
    "Totals of the table, e.g. '13 accepted, 1 refused before sending'"
    counts = {}
    for row in rows:
        state = row['state'].lower()
        if state == 'rejected':
            state = "rejected by the authority"
        counts[state] = counts.get(state, 0) + 1
    return ', '.join(f'{n} {state}' for state, n in counts.items())


def last_outcome(company):
    "The id of the company's last outcome (what a run adds comes after)"
    from trytond.pool import Pool
    Outcome = Pool().get('account.einvoice.exchange.outcome')
    outcomes = Outcome.search([('submission.company', '=', company)],
        order=[('id', 'DESC')], limit=1)
    return outcomes[0].id if outcomes else 0


def run_summary(company, after):
    """What a run did, from the outcomes it recorded: the invoices sent,
    the requests, and what the authority answered, or the local refusals
    (no request)"""
    from trytond.pool import Pool
    Outcome = Pool().get('account.einvoice.exchange.outcome')
    outcomes = Outcome.search([
            ('submission.company', '=', company),
            ('id', '>', after),
            ], order=[('id', 'ASC')])
    sent = {o.submission.id for o in outcomes if o.exchange}
    requests = {o.exchange.id for o in outcomes if o.exchange}
    answers, refused = {}, 0
    for outcome in outcomes:
        if not outcome.exchange:
            refused += 1
            continue
        if outcome.state == 'rejected':
            key = "rejected by the authority"
        elif outcome.state in {'not_found', 'pending', 'unknown'}:
            key = "to send again"
        else:
            key = outcome.state.replace('_', ' ')
        answers[key] = answers.get(key, 0) + 1
    text = (f"{len(sent)} sent in {len(requests)} "
        f"request{'s' if len(requests) != 1 else ''}")
    if answers:
        text += ': ' + ', '.join(f'{n} {key}' for key, n in answers.items())
    if refused:
        text += f'; {refused} refused before sending (code {LOCAL})'
    return text


def run_cron(companies=None):
    """Run the e-invoice cron the way ir.cron does, one company at a time,
    showing the progress; return the table rows"""
    from tests import tools
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(DATABASE, 0, readonly=True):
        pool = Pool()
        Company = pool.get('company.company')
        Submission = pool.get('account.einvoice.submission')
        todo = []
        for company in Company.browse(companies) if companies else \
                Company.search([]):
            pending = Submission.search_count([
                    ('company', '=', company.id),
                    ('state', '=', 'pending'),
                    ])
            todo.append((company.id, company.rec_name, pending))
    for index, (company, name, pending) in enumerate(todo, 1):
        say(f'  [{index}/{len(todo)}] {name}: {pending} pending', end='')
        started = time.monotonic()
        with Transaction().start(DATABASE, 0, readonly=True):
            after = last_outcome(company)
        tools.call(lambda: Pool().get(
                'account.einvoice.submission').send_pending(),
            company=company)
        with Transaction().start(DATABASE, 0, readonly=True):
            done = run_summary(company, after)
        say(f' -> {done} ({time.monotonic() - started:.1f} s)')
    with Transaction().start(DATABASE, 0, readonly=True):
        rows = submissions_table()
    with Transaction().start(DATABASE, 0) as transaction:
        rows += refused_at_posting()
        transaction.rollback()
    # each company's refused drafts after its submissions
    order = {}
    for row in rows:
        order.setdefault(row['company'], len(order))
    return sorted(rows, key=lambda row: order[row['company']])
