// Browser storage (issue 11, part 2): typing kept in the browser never reaches another user or
// another patient's record, and is gone after sign-out; but within one session drafts still never
// lose typing. Also: NHS.UK frontend initialises (the error summary takes focus).
//
// Every journey here runs in ONE browser tab, as people sharing a practice computer would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, newReport, check, nhsNumber } from '../lib.mjs';

let server;
let browser;
const report = newReport();
// Second users, created through the admin pages: another GP at the practice, another consultant.
const extra = {};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const admin = await newPage(browser, server.base, report);
  await signIn(admin, server.creds.system_admin);
  extra.gp = await addUser(admin, 'Dr Gwen Hughes', 'gp2@demo.telederm.nhs.uk', 'referrer', 'Nuttall Street Practice (demo)');
  extra.consultant = await addUser(admin, 'Dr Imran Qureshi', 'consultant2@demo.telederm.nhs.uk', 'consultant', 'Demo Dermatology Provider', ['clinical-partnership']);
  await admin.context().close();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  for (const v of report.axe) console.log(`  axe ${v.impact} ${v.id} on ${v.page}: ${v.help} [${v.nodes.join(', ')}]`);
});

async function signIn(page, { email, password }) {
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/sign-in'));
}

/** Signs out with the header button; returns the sign-out response's headers. */
async function signOut(page) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/sign-out') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
  await page.waitForURL(/\/sign-in/);
  await page.waitForLoadState('load');
  return res.allHeaders();
}

async function addUser(admin, name, email, role, organisation, services = []) {
  const password = `e2e-${Math.random().toString(36).slice(2)}-Pw-${Date.now()}`;
  await admin.goto(`${server.base}/admin/users`);
  await admin.getByLabel('Name', { exact: true }).fill(name);
  await admin.getByLabel('Email address').fill(email);
  await admin.locator(`input[name="role"][value="${role}"]`).check();
  await admin.getByLabel(organisation).check();
  for (const s of services) await admin.locator(`input[name="services"][value="${s}"]`).check();
  await admin.getByLabel('First password').fill(password);
  await admin.getByRole('button', { name: 'Add user' }).click();
  await admin.getByText('The account has been created.').waitFor();
  return { email, password };
}

/** Every key this site holds in local or session storage (drafts are `telederm:` keys). */
function storedKeys(page) {
  return page.evaluate(() => [...Object.keys(localStorage), ...Object.keys(sessionStorage)]);
}

async function typeNewPatient(page, p) {
  await page.getByLabel('NHS number').fill(p.nhs);
  await page.getByLabel('First name').fill(p.given);
  await page.getByLabel('Last name').fill(p.family);
  await page.getByLabel('Day').fill(p.day);
  await page.getByLabel('Month').fill(p.month);
  await page.getByLabel('Year').fill(p.year);
  await page.getByLabel('Postcode').fill(p.postcode);
}

const startFields = ['nhs_number', 'given_name', 'family_name', 'dob_day', 'dob_month', 'dob_year', 'postcode', 'email', 'phone'];
async function startValues(page) {
  const out = {};
  for (const f of startFields) out[f] = await page.locator(`form [name="${f}"]`).inputValue();
  return out;
}

test('NHS.UK frontend initialises: the error summary takes focus', async () => {
  const page = await newPage(browser, server.base, report);
  await signIn(page, server.creds.referrer);
  await page.goto(`${server.base}/referrals/new`);
  assert.ok(await page.evaluate(() => document.body.classList.contains('nhsuk-frontend-supported')), 'body has nhsuk-frontend-supported');
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await page.locator('.nhsuk-error-summary').waitFor();
  await page.waitForFunction(() => document.activeElement?.classList.contains('nhsuk-error-summary'), null, { timeout: 5000 });
  assert.ok(await page.locator('.nhsuk-error-summary[data-nhsuk-error-summary-init]').count(), 'the error summary module ran');
  assert.ok(await page.locator('.nhsuk-header[data-nhsuk-header-init]').count(), 'the header module ran');
  await check(page, report, 'storage-error-summary-focused');
  await page.context().close();
});

test("a new referral's typing is kept in the session but never written onto another patient's draft", async () => {
  const page = await newPage(browser, server.base, report);
  await signIn(page, server.creds.referrer);

  // Bob's draft: saved at step 1 with no email or mobile number.
  await page.goto(`${server.base}/referrals/new`);
  await typeNewPatient(page, { nhs: nhsNumber(616161), given: 'Bob', family: 'Brennan', day: '5', month: '6', year: '1970', postcode: 'E8 3PN' });
  await page.getByLabel('Male', { exact: true }).check();
  await page.locator('input[name="service"][value="clinical-partnership"]').check();
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await page.waitForURL(/\/eligibility$/);
  const bobId = page.url().match(/\/referrals\/([^/]+)\/eligibility$/)[1];
  const bobBefore = (await (await page.request.get(`${server.base}/api/v1/referrals/${bobId}`)).json()).referral.patient;
  assert.deepEqual(bobBefore.contact, {}, "Bob's draft starts with no contact details");

  // A new referral for Alice: her contact details typed, not yet saved.
  await page.goto(`${server.base}/referrals/new`);
  await page.getByLabel("Patient's email address").fill('alice@example.org');
  await page.getByLabel("Patient's mobile number").fill('07700 900123');
  await page.getByLabel('First name').fill('Alice');

  // The promise: navigate away and back in the same session, and the typing is still there.
  await page.goto(`${server.base}/referrals`);
  await page.goto(`${server.base}/referrals/new`);
  const kept = await startValues(page);
  assert.equal(kept.email, 'alice@example.org', 'new referral keeps its typing');
  assert.equal(kept.phone, '07700 900123');
  assert.equal(kept.given_name, 'Alice');
  const keys = await storedKeys(page);

  // Bob's step 1 shows Bob's record only, and saving it leaves his contact details alone.
  await page.goto(`${server.base}/referrals/${bobId}/start`);
  const shown = await startValues(page);
  await check(page, report, 'storage-bob-step1');
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await page.waitForURL(/\/eligibility$/);
  const bobAfter = (await (await page.request.get(`${server.base}/api/v1/referrals/${bobId}`)).json()).referral.patient;
  assert.deepEqual(bobAfter.contact, {}, "Bob's record on the server has no one else's contact details");
  assert.equal(bobAfter.given_name, 'Bob');
  assert.equal(shown.email, '', "Alice's email is not put into Bob's form");
  assert.equal(shown.phone, '', "Alice's mobile is not put into Bob's form");
  assert.equal(shown.given_name, 'Bob');
  for (const k of keys.filter((key) => key.startsWith('telederm:'))) {
    assert.match(k, /^telederm:draft:[0-9a-f]{32}:[a-z-]+:[0-9a-z-]+$/, 'drafts are keyed by session, form and record');
  }
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), [], 'nothing in localStorage');

  // The promise on an existing draft too: typing in Bob's step 3 survives leaving and coming back.
  await page.goto(`${server.base}/referrals/${bobId}/details`);
  await page.getByLabel('Presenting complaint').fill('Scaly patches on both shins for 3 months.');
  await page.goto(`${server.base}/referrals`);
  await page.goBack();
  await page.waitForLoadState('load');
  assert.match(await page.getByLabel('Presenting complaint').inputValue(), /Scaly patches on both shins/);
  // ...and Alice's new referral still has hers.
  await page.goto(`${server.base}/referrals/new`);
  assert.equal(await page.getByLabel("Patient's email address").inputValue(), 'alice@example.org');
  await page.context().close();
});

test('GP A types a new patient and signs out; GP B in the same browser sees empty fields', async () => {
  const page = await newPage(browser, server.base, report);
  await signIn(page, server.creds.referrer);
  await page.goto(`${server.base}/referrals/new`);
  await typeNewPatient(page, { nhs: nhsNumber(737373), given: 'Carla', family: 'Moreno', day: '9', month: '10', year: '1985', postcode: 'N16 8JH' });
  await page.getByLabel("Patient's email address").fill('carla@example.org');
  assert.ok((await storedKeys(page)).some((k) => k.startsWith('telederm:draft:')), 'the typing is kept while signed in');

  const headers = await signOut(page);
  const left = (await storedKeys(page)).filter((k) => k.startsWith('telederm:'));

  await signIn(page, extra.gp);
  await page.goto(`${server.base}/referrals/new`);
  const seen = await startValues(page);
  assert.deepEqual(seen, Object.fromEntries(startFields.map((f) => [f, ''])), "GP B sees none of GP A's patient");
  assert.equal(await page.getByText('Carla').count(), 0);
  assert.deepEqual(left, [], 'no draft left after sign-out');
  assert.equal(headers['clear-site-data'], '"storage"', 'sign-out asks the browser to clear storage');
  assert.match(headers['content-security-policy'] || '', /default-src 'self'/, 'the other security headers are still sent');
  await check(page, report, 'storage-gp-b-new-referral');
  await page.context().close();
});

test('a new session in the same tab never sees the last one\'s drafts, even without the sign-in page', async () => {
  // GP A's session is replaced without passing through the sign-in page (as when another user's
  // cookie arrives from another tab): the page's scope differs, so A's drafts are dropped unread.
  const page = await newPage(browser, server.base, report);
  await signIn(page, server.creds.referrer);
  await page.goto(`${server.base}/referrals/new`);
  await page.getByLabel('First name').fill('Dara');
  await page.getByLabel('Postcode').fill('E2 7QB');
  // The API sign-in shares this tab's cookie jar: GP B's session cookie replaces GP A's.
  const res = await page.request.post(`${server.base}/api/v1/auth/sign-in`, { data: extra.gp });
  assert.equal(res.status(), 200);
  await page.goto(`${server.base}/referrals/new`);
  assert.equal(await page.getByLabel('First name').inputValue(), '');
  assert.equal(await page.getByLabel('Postcode').inputValue(), '');
  assert.deepEqual((await storedKeys(page)).filter((k) => k.startsWith('telederm:')), [], "the earlier session's draft is deleted");

  // The API's sign-out clears site storage as the page's does.
  const out = await page.request.post(`${server.base}/api/v1/auth/sign-out`);
  assert.equal(out.status(), 204);
  assert.equal(out.headers()['clear-site-data'], '"storage"');
  await page.context().close();
});

test("consultant A's unsent management plan is not shown to consultant B", async () => {
  const page = await newPage(browser, server.base, report);
  await signIn(page, server.creds.consultant);
  await page.goto(`${server.base}/worklist`);
  await page.getByRole('link', { name: 'Priya Shah', exact: true }).click();
  await page.locator('#outcome-form').waitFor();
  const caseUrl = page.url().split('?')[0];
  await page.getByLabel('Diagnosis', { exact: true }).fill('Chronic plaque psoriasis');
  await page.getByRole('textbox', { name: 'Management plan' }).fill('Calcipotriol and betamethasone gel daily for 4 weeks; refer for phototherapy if no better.');
  // Kept for A in this session...
  await page.goto(`${server.base}/worklist`);
  await page.goto(caseUrl);
  assert.match(await page.getByRole('textbox', { name: 'Management plan' }).inputValue(), /Calcipotriol/);

  // ...but not after A signs out and B signs in at the same computer.
  await signOut(page);
  const left = (await storedKeys(page)).filter((k) => k.startsWith('telederm:'));
  await signIn(page, extra.consultant);
  await page.goto(caseUrl);
  await page.locator('#outcome-form').waitFor();
  assert.equal(await page.getByRole('textbox', { name: 'Management plan' }).inputValue(), '', "B does not see A's plan");
  assert.equal(await page.getByLabel('Diagnosis', { exact: true }).inputValue(), '');
  assert.deepEqual(left, [], 'no draft left after sign-out');
  await check(page, report, 'storage-consultant-b-case');
  await page.context().close();
});

test('no serious accessibility violations, nothing from outside, no console errors', () => {
  const bad = report.axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], 'axe serious/critical violations');
  assert.deepEqual(report.external, [], 'requests outside the deployment');
  assert.deepEqual(report.consoleErrors, [], 'browser console errors');
});
