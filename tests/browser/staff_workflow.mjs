// The staff workflow of the demo in the Tryton web client (sao), driven in
// headless Chromium by Playwright:
//
//   node tests/browser/staff_workflow.mjs READY_JSON SCREENSHOT_DIR
//
// READY_JSON is the file `python -m tests.demo --ready-file` writes once
// its server answers.  The bookkeeper (accounting user) opens the rejected
// submission: Reschedule is disabled and the server refuses the call.  The
// chief accountant opens the Rejected tab, reads the authority's message,
// fixes the customer's NIF, reschedules, the cron runs (`python -m
// tests.demo cron`) and the submission is shown Accepted.  Then the
// screens the documentation shows: the SII record of the submission, the
// E-Invoice tab of its invoice and, in the Argentine company, the AFIP tab
// of an authorized invoice.
//
// Prints one JSON object on stdout: {ok, steps, screenshots, ...}; exits
// non-zero when a step failed (the JSON then has `error` and `step`).
// Environment: CHROMIUM (default /usr/bin/chromium), NODE_DIR (where npm
// installed playwright-core, default <repo>/var/node), DEBUG=1 to save the
// HTML next to each screenshot.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..',
    '..');
const NODE_DIR = process.env.NODE_DIR || path.join(ROOT, 'var', 'node');
const require = createRequire(path.join(NODE_DIR, 'package.json'));
const { chromium } = require('playwright-core');

const [readyPath, shotDir] = process.argv.slice(2);
const ready = JSON.parse(fs.readFileSync(readyPath, 'utf8'));
// the customer whose NIF was refused, and the NIF it should have
const BAD_PARTY = ready.bad_party.name;
const BAD_NIF = ready.bad_party.nif;
const GOOD_NIF = ready.bad_party.fix;
const TIMEOUT = 20000;

const result = { ok: false, steps: [], screenshots: [], console_errors: [] };
let step = 'start';
let browser = null;
const userDataDirs = [];

function log(text) {
  process.stderr.write(`[browser] ${text}\n`);
}

function begin(name) {
  step = name;
  result.steps.push(name);
  log(name);
}

async function shot(page, name) {
  fs.mkdirSync(shotDir, { recursive: true });
  const file = path.join(shotDir, `${name}.png`);
  await page.waitForTimeout(300);  // let animations (modal fade) end
  await page.screenshot({ path: file });
  if (process.env.DEBUG) {
    fs.writeFileSync(path.join(shotDir, `${name}.html`), await page.content());
  }
  result.screenshots.push(file);
}

async function launch() {
  // a new, empty profile for each user
  const userDataDir = fs.mkdtempSync(
    path.join(os.tmpdir(), 'einvoice-chromium-'));
  userDataDirs.push(userDataDir);
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
    locale: 'en-US',
  });
}

async function newPage(context) {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (error) => {
    result.console_errors.push(String(error));
    log(`page error: ${error}`);
  });
  return page;
}

// sao shows everything it is busy with in a "Processing" alert; wait for
// it to go
async function idle(page) {
  await page.waitForFunction(() => {
    const busy = document.querySelector('#processing');
    return !busy || busy.style.display === 'none'
        || busy.offsetParent === null;
  }, null, { timeout: TIMEOUT }).catch(() => {});
  await page.waitForTimeout(200);
}

async function login(page, user, password) {
  await page.goto(ready.url);
  await page.locator('.login-dialog input#login').fill(user);
  await page.locator('.login-dialog button[type=submit]').click();
  const entry = page.locator('.ask-dialog input[type=password]');
  await entry.fill(password);
  await page.locator('.ask-dialog button.btn-primary').click();
  await page.locator('#menu .column-char', { hasText: 'Financial' })
    .waitFor();
  await idle(page);
}

function menuRow(page, text) {
  return page.locator('#menu tr').filter({
    has: page.locator('.column-char', { hasText: new RegExp(`^${text}$`) }),
  }).first();
}

async function openSubmissions(page) {
  for (const text of ['Financial', 'Invoices']) {
    const row = menuRow(page, text);
    await row.waitFor();
    if (!(await menuRow(page, text === 'Financial' ? 'Invoices'
        : 'E-Invoice Submissions').isVisible())) {
      await row.locator('.expander').click();
    }
  }
  await menuRow(page, 'E-Invoice Submissions').locator('.column-char')
    .click();
  await page.locator('#tablist a', { hasText: 'E-Invoice Submissions' })
    .waitFor();
  await currentTab(page).locator('.tab-domain a[role=tab]').first()
    .waitFor();
  await idle(page);
}

function currentTab(page) {
  return page.locator('#tabcontent > .tab-pane.active');
}

function domainTabLink(page, name) {
  return currentTab(page).locator('.tab-domain a[role=tab]', {
    // the label, then the count badge (digits or a blank)
    hasText: new RegExp(`^\\s*${name}\\s*\\d*\\s*$`),
  });
}

async function domainTab(page, name) {
  await domainTabLink(page, name).click();
  await idle(page);
}

// The count shown on a tab (null when it shows none); sao loads the counts
// after the list: wait (up to a few seconds) for at least `atLeast`
async function badge(page, name, atLeast = 0) {
  const element = domainTabLink(page, name).locator('.badge');
  let count = null;
  for (let tries = 0; tries < 50; tries++) {
    const title = await element.getAttribute('title');
    count = title === null || title === '' ? null : Number(title);
    if (count !== null && count >= atLeast) break;
    await page.waitForTimeout(100);
  }
  return count;
}

function listRow(page, text) {
  return currentTab(page).locator('.treeview tbody tr', { hasText: text })
    .first();
}

// The value shown by a form field of the current tab, by its field name
function readField(el) {
  if (!el) return null;
  if (el.tagName === 'SELECT') {
    return el.selectedIndex >= 0 ? el.options[el.selectedIndex].text : '';
  }
  return el.value;
}

async function fieldValue(page, name) {
  return currentTab(page).locator(`.form [name="${name}"]`).first()
    .evaluate(readField);
}

// Wait until the form field shows text
async function waitField(page, name, text) {
  await page.waitForFunction(([name, text, reader]) => {
    const read = new Function(`return (${reader})`)();
    const el = document.querySelector(
      `#tabcontent > .tab-pane.active .form [name="${name}"]`);
    const value = read(el);
    return value !== null && value.includes(text);
  }, [name, text, readField.toString()]);
}

function formButton(page, label) {
  return currentTab(page).locator('.form button', { hasText: label }).first();
}

async function openRejected(page, prefix) {
  await openSubmissions(page);
  await page.locator('[data-toggle="menu"]').first().click();  // hide menu
  await domainTab(page, 'Rejected');
  const row = listRow(page, BAD_PARTY);
  await row.waitFor();
  const count = await badge(page, 'Rejected', 1);
  await shot(page, `${prefix}-rejected-tab`);
  await row.locator('td').nth(3).dblclick();
  await currentTab(page).locator('.form').first().waitFor();
  await idle(page);
  return count;
}

async function submissionId(page) {
  // sao keeps the model and the id of the current record in the address
  const hash = decodeURIComponent(new URL(page.url()).hash);
  const match = hash.match(/account\.einvoice\.submission\/(\d+)/);
  return match ? Number(match[1]) : null;
}

async function bookkeeper() {
  const context = await launch();
  browser = context;
  const page = await newPage(context);
  begin('bookkeeper: log in');
  await login(page, 'bookkeeper', ready.passwords.bookkeeper);
  begin('bookkeeper: open the rejected submission');
  await openRejected(page, '01-bookkeeper');
  const button = formButton(page, 'Reschedule');
  await button.waitFor();
  result.bookkeeper = {
    reschedule_visible: await button.isVisible(),
    reschedule_disabled: await button.isDisabled(),
  };
  await shot(page, '02-bookkeeper-reschedule-disabled');
  begin('bookkeeper: call reschedule anyway');
  const id = await submissionId(page);
  result.bookkeeper.submission = id;
  // What the button would call: the server must refuse it
  await page.evaluate((id) => {
    Sao.rpc({
      method: 'model.account.einvoice.submission.reschedule',
      params: [[id], {}],
    }, Sao.Session.current_session);
  }, id);
  const dialog = page.locator('.modal.in .modal-body', {
    hasText: /permission|access|not allowed/i,
  }).first();
  await dialog.waitFor();
  result.bookkeeper.error = (await dialog.innerText()).trim();
  await shot(page, '03-bookkeeper-access-error');
  await context.close();
  browser = null;
}

async function chief() {
  const context = await launch();
  browser = context;
  const page = await newPage(context);
  begin('chief: log in');
  await login(page, 'chief', ready.passwords.chief);
  await shot(page, '04-chief-menu');
  begin('chief: open the Rejected tab and the submission');
  result.rejected_count = await openRejected(page, '05-chief');
  result.message = await fieldValue(page, 'message');
  result.state_before = await fieldValue(page, 'state');
  result.submission = await submissionId(page);
  await shot(page, '06-chief-rejected-message');

  begin("chief: fix the customer's NIF");
  // the party of the invoice, opened from the submission's party field
  await fixParty(page);

  begin('chief: reschedule');
  await formButton(page, 'Reschedule').click();
  await idle(page);
  await waitField(page, 'state', 'Pending');
  result.state_rescheduled = await fieldValue(page, 'state');
  await shot(page, '10-chief-rescheduled');

  begin('cron: python -m tests.demo cron');
  result.cron_output = execFileSync(ready.python,
    ['-m', 'tests.demo', 'cron', '--directory', ready.directory],
    { cwd: ROOT, encoding: 'utf8', timeout: 120000 });

  begin('chief: reload and see it accepted');
  await currentTab(page).locator('button[title^="Reload"]').first().click();
  await idle(page);
  await waitField(page, 'state', 'Accepted');
  result.state_after = await fieldValue(page, 'state');
  result.reference = await fieldValue(page, 'reference');
  result.message_after = await fieldValue(page, 'message');
  await shot(page, '11-chief-accepted');
  begin('chief: the Accepted tab');
  await currentTab(page).locator('button[title="Switch"]').first().click();
  await idle(page);
  await domainTab(page, 'Accepted');
  await listRow(page, BAD_PARTY).waitFor();
  await shot(page, '12-chief-accepted-tab');

  begin('chief: the SII record of the submission');
  await listRow(page, BAD_PARTY).locator('td').nth(3).dblclick();
  const form = currentTab(page).locator('.form').first();
  await form.waitFor();
  await idle(page);
  await form.locator('.nav-tabs a', { hasText: 'SII Record' }).click();
  await page.waitForFunction(() => {
    const el = document.querySelector(
      '#tabcontent > .tab-pane.active .form [name="sii_payload"]');
    return el && (el.value || el.textContent || '').includes('Suministro');
  });
  result.sii_record = await fieldValue(page, 'sii_payload');
  const invoice = await fieldValue(page, 'invoice');
  // show more of the record than the field's few lines
  await currentTab(page).locator('.form [name="sii_payload"]').first()
    .evaluate((el) => { el.style.height = '230px'; });
  await shot(page, '13-chief-sii-record');

  begin('chief: the E-Invoice tab of the invoice');
  await openCustomerInvoice(page, invoice);
  await waitField(page, 'einvoice_state', 'Accepted');
  result.invoice_einvoice_state = await fieldValue(page, 'einvoice_state');
  result.invoice_einvoice_reference = await fieldValue(
    page, 'einvoice_reference');
  await shot(page, '14-chief-invoice-einvoice-tab');

  begin('chief: the Argentine company');
  // what the company selection of the preferences does
  await page.evaluate((company) => Sao.rpc({
    method: 'model.res.user.set_preferences',
    params: [{ company }, {}],
  }, Sao.Session.current_session), ready.companies.ar);
  await context.close();
  browser = null;
  await argentineChief();
}

async function argentineChief() {
  const context = await launch();
  browser = context;
  const page = await newPage(context);
  await login(page, 'chief', ready.passwords.chief);
  begin('chief: the AFIP tab of an authorized invoice');
  await openCustomerInvoice(page, ready.afip_invoice, 'AFIP');
  await page.waitForFunction(() => {
    const el = document.querySelector(
      '#tabcontent > .tab-pane.active .form [name="ar_cae"]');
    return el && /^\d{14}$/.test(el.value);
  });
  result.afip_cae = await fieldValue(page, 'ar_cae');
  result.afip_legal_number = await fieldValue(page, 'ar_legal_number');
  await shot(page, '15-chief-afip-invoice');
  begin('chief: the VERI*FACTU company');
  await page.evaluate((company) => Sao.rpc({
    method: 'model.res.user.set_preferences',
    params: [{ company }, {}],
  }, Sao.Session.current_session), ready.companies.vf);
  await context.close();
  browser = null;
  await verifactuChief();
}

// The invoice the AEAT rejected, corrected by the demo (Subsanación): its
// QR code address and legend, accepted
async function verifactuChief() {
  const context = await launch();
  browser = context;
  const page = await newPage(context);
  await login(page, 'chief', ready.passwords.chief);
  begin('chief: the E-Invoice tab of a corrected VERI*FACTU invoice');
  await openCustomerInvoice(page, ready.verifactu_corrected);
  await waitField(page, 'einvoice_state', 'Accepted');
  result.verifactu_state = await fieldValue(page, 'einvoice_state');
  result.verifactu_qr = await fieldValue(page, 'einvoice_qr');
  result.verifactu_text = await fieldValue(page, 'einvoice_print_text');
  await shot(page, '16-chief-verifactu-invoice');
  await context.close();
  browser = null;
}

// Financial > Invoices > Customer Invoices, tab Posted, the one invoice
// found by `text`, opened on its notebook page `page_`
async function openCustomerInvoice(page, text, page_ = 'E-Invoice') {
  if (!(await menuRow(page, 'Financial').isVisible())) {
    await page.locator('[data-toggle="menu"]').first().click();  // show menu
  }
  for (const name of ['Financial', 'Invoices']) {
    const row = menuRow(page, name);
    await row.waitFor();
    const child = name === 'Financial' ? 'Invoices' : 'Customer Invoices';
    if (!(await menuRow(page, child).isVisible())) {
      await row.locator('.expander').click();
    }
  }
  await menuRow(page, 'Customer Invoices').locator('.column-char').click();
  await page.locator('#tablist li.active a', { hasText: 'Customer Invoices' })
    .waitFor();
  await idle(page);
  await page.locator('[data-toggle="menu"]').first().click();  // hide menu
  await domainTab(page, 'Posted');
  const search = currentTab(page).locator('.filter-box input').first();
  await search.fill(text);
  await search.press('Enter');
  await idle(page);
  await page.waitForFunction((text) => {
    const rows = document.querySelectorAll(
      '#tabcontent > .tab-pane.active .treeview tbody tr');
    return rows.length === 1 && rows[0].textContent.includes(text);
  }, text);
  // select the row, then switch to the form (as for the party)
  const rows = currentTab(page).locator('.treeview tbody tr');
  await rows.first().locator('td:visible', { hasText: text }).first()
    .click();
  await currentTab(page).locator('button[title="Switch"]').first().click();
  const form = currentTab(page).locator('.form').first();
  await form.waitFor();
  await idle(page);
  await form.locator('.nav-tabs a', { hasText: new RegExp(`^${page_}$`) })
    .first().click();
  await idle(page);
}

async function fixParty(page) {
  // The party of the submission opens read-only (a posted invoice's
  // party): staff fix it from Parties > Parties
  await page.locator('[data-toggle="menu"]').first().click();  // show menu
  const parties = page.locator('#menu tr').filter({
    has: page.locator('.column-char', { hasText: /^Parties$/ }),
  });
  if (await parties.count() < 2) {
    await parties.first().locator('.expander').click();
  }
  await parties.nth(1).locator('.column-char').click();
  await page.locator('#tablist li.active a', { hasText: 'Parties' })
    .waitFor();
  await idle(page);
  await page.locator('[data-toggle="menu"]').first().click();  // hide menu
  const search = currentTab(page).locator('.filter-box input').first();
  await search.fill(BAD_PARTY);
  await search.press('Enter');
  await idle(page);
  const rows = currentTab(page).locator('.treeview tbody tr');
  await page.waitForFunction(() => document.querySelectorAll(
    '#tabcontent > .tab-pane.active .treeview tbody tr').length === 1);
  // select the row, then switch to the form
  await rows.first().locator('td', { hasText: BAD_PARTY }).click();
  await currentTab(page).locator('button[title="Switch"]').first().click();
  const form = currentTab(page).locator('.form').first();
  await form.waitFor();
  await idle(page);
  await form.locator('.nav-tabs a', { hasText: 'Identifiers' }).click();
  const cell = form.locator('.treeview tbody td', { hasText: BAD_NIF })
    .first();
  await cell.waitFor();
  await shot(page, '07-chief-party');
  // the identifiers list opens each identifier in a dialog
  await cell.dblclick();
  const dialog = page.locator('.modal.in').last();
  const code = dialog.locator('.form input[name="code"]');
  await code.waitFor();
  await code.fill(GOOD_NIF);
  await shot(page, '08-chief-identifier-fixed');
  await dialog.locator('.modal-footer button.btn-primary').last().click();
  await dialog.waitFor({ state: 'detached' }).catch(() => {});
  await idle(page);
  await currentTab(page).locator('button[title="Save"]').first().click();
  await idle(page);
  await form.locator('.treeview tbody td', { hasText: GOOD_NIF }).first()
    .waitFor();
  await shot(page, '09-chief-party-saved');
  await page.locator('#tablist a', { hasText: 'E-Invoice Submissions' })
    .click();
  await idle(page);
}

async function main() {
  try {
    await bookkeeper();
    await chief();
    result.ok = true;
  } catch (error) {
    result.error = String(error && error.stack || error);
    result.step = step;
    if (browser) {
      try {
        const page = browser.pages()[0];
        if (page) await shot(page, 'failure');
      } catch (ignored) { /* the browser may be gone */ }
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    for (const dir of userDataDirs) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

await main();
