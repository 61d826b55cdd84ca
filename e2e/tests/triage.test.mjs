// Issue 15, the consultant's half, in real Chromium: the case page's photo viewer (large view,
// true zoom, side by side, keyboard), body diagram, checklist warnings and timeline; saved phrases
// edited by a service admin; and a consultant triaging ten referrals in a row with "Record and open
// next case", counting the page loads and the inputs (clicks, keys, fields filled, options chosen)
// each case takes. axe-core runs on every page checked; screenshots go to e2e/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, newPage, newReport, check, makePhotos, nhsNumber, screenshotDir } from '../lib.mjs';

let server;
let browser;
let photos;
const report = newReport();
const CASES = 10;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  photos = await makePhotos(browser, mkdtempSync(join(tmpdir(), 'telederm-photos-')));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  console.log(`screenshots: ${report.screenshots.length} in e2e/screenshots/`);
  for (const v of report.axe) console.log(`  axe ${v.impact} ${v.id} on ${v.page}: ${v.help} [${v.nodes.join(', ')}]`);
});

function assertClean(name) {
  const serious = report.axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `${name}: no serious or critical axe violations`);
  assert.deepEqual(report.external, [], 'no request leaves the deployment');
  assert.deepEqual(report.consoleErrors, [], 'no console errors');
}

/** A signed-in API session for the GP (to send the referrals the consultant then triages). */
async function apiSession(who) {
  const { email, password } = server.creds[who];
  const r = await fetch(`${server.base}/api/v1/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  assert.equal(r.status, 200);
  const cookie = r.headers.get('set-cookie').split(';')[0];
  return async (method, path, body, form) => {
    const res = await fetch(`${server.base}/api/v1${path}`, {
      method,
      headers: { cookie, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : form,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

async function sendReferral(gp, n, overrides = {}) {
  const dob = '1968-09-21';
  const today = new Date().toISOString().slice(0, 10);
  const answers = {
    referral_date: today, patient: { date_of_birth: dob, postcode: 'E8 1DY' }, condition: 'rash', lesion_count: 0, body_sites: ['arm', 'trunk'],
    meets_2ww_criteria: false, extreme_psychological_distress: false, widespread: false, severe_or_systemic_or_urgent: false, imaging_practical: true,
    safeguarding_concerns: false, has_capacity_to_consent: true, best_interests_referral: false, consent_given: true,
    known_chronic_inflammatory_condition: false, face_identifiable_in_images: false, dermoscopic_images: false, images_taken_by: 'clinician', seen_face_to_face: true,
    ...overrides,
  };
  const created = await gp('POST', '/referrals', {
    service_id: 'hackney-rash', route: 'ras', priority: 'routine',
    patient: { nhs_number: nhsNumber(515000 + n * 37), given_name: `Triage${n}`, family_name: 'Patient', date_of_birth: dob, sex: n % 2 ? 'male' : 'female', postcode: 'E8 1DY', contact: { email: `triage${n}@example.org` } },
    history: { presenting_complaint: 'Itchy scaly plaques on the forearms and trunk for 3 months.', duration: '3 months', body_sites: [], treatments_tried: 'Emollients', relevant_history: '', medication: 'None', allergies: 'NKDA' },
    consent: { given_by: 'patient', method: 'verbal', direct_care: true, teaching: false, research: false },
    eligibility_answers: answers,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  for (const [kind, file] of [['locator', photos.sharp1], ['close_up', photos.sharp2], ['close_up', photos.sharp3]]) {
    const form = new FormData();
    form.append('kind', kind);
    form.append('file', new Blob([readFileSync(file)], { type: 'image/jpeg' }), 'photo.jpg');
    const up = await gp('POST', `/referrals/${id}/photos`, null, form);
    assert.equal(up.status, 201, JSON.stringify(up.body));
  }
  const sent = await gp('POST', `/referrals/${id}/submit`, {});
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  return id;
}

test('a service admin edits the saved phrases', async () => {
  const page = await newPage(browser, server.base, report, { viewport: { width: 1280, height: 900 } });
  const { email, password } = server.creds.service_admin;
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.goto(`${server.base}/admin/phrases`);
  await check(page, report, 'triage-admin-phrases');
  const form = page.locator('form[data-new-phrase="hackney-rash"]');
  await form.getByLabel('Used for').selectOption('plan');
  await form.getByLabel('Title').fill('Atopic eczema: step-up plan');
  await form.getByLabel('Text').fill('Emollients generously and often. For flares: clobetasone butyrate 0.05% once daily for up to 14 days. Review in 4 weeks.');
  await form.getByLabel('Order in the list').fill('0');
  await form.getByRole('button', { name: /Add phrase/ }).click();
  await page.getByText('The phrase was added.').waitFor();
  await check(page, report, 'triage-admin-phrase-added');
  await page.context().close();
  assertClean('admin phrases');
});

test('the case page: viewer, body diagram, warnings and timeline, with and without JavaScript', async () => {
  const gp = await apiSession('referrer');
  const id = await sendReferral(gp, 99, { images_taken_by: 'patient', seen_face_to_face: false, body_sites: ['face', 'hand'] });
  const page = await newPage(browser, server.base, report, { viewport: { width: 1280, height: 900 } });
  const { email, password } = server.creds.consultant;
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.goto(`${server.base}/referrals/${id}`);
  const viewer = page.locator('[data-viewer]');
  await viewer.waitFor();
  // The large view fills the content width (960 px at 1280) and fits the photo.
  const stage = page.locator('[data-pane="0"] [data-stage]');
  const box = await stage.boundingBox();
  assert.ok(box.width >= 900, `the viewer fills the content width: ${box.width}`);
  const pane = page.locator('[data-pane="0"]');
  assert.equal(await pane.getAttribute('data-photo-index'), '0');
  // 100% shows the photo's own pixels from the large preview; the keyboard moves and changes photos.
  await page.getByRole('button', { name: /^100%/ }).click();
  assert.equal(await pane.getAttribute('data-zoom'), '100');
  await page.waitForFunction(() => document.querySelector('[data-pane="0"] img').src.includes('size=4096'));
  await page.waitForFunction(() => document.querySelector('[data-pane="0"] img').complete);
  const natural = await page.locator('[data-pane="0"] img').evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(natural, [2400, 1800], 'the zoomed image has the original resolution');
  await stage.focus();
  await page.keyboard.press('ArrowDown');
  await check(page, report, 'triage-viewer-100-percent');
  await page.keyboard.press('0');
  await page.keyboard.press('ArrowRight');
  assert.equal(await pane.getAttribute('data-photo-index'), '1', 'right arrow: next photo');
  assert.match(await page.locator('[data-viewer-status]').innerText(), /Photo 2 of 3/);
  await page.getByRole('button', { name: 'Side by side' }).click();
  assert.equal(await page.getByRole('button', { name: 'Side by side' }).getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator('[data-pane="1"]').getAttribute('data-photo-index'), '2');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-stage-img]')].every((i) => i.complete && i.naturalWidth > 0));
  await check(page, report, 'triage-viewer-side-by-side');
  // Beside each photo: kind, who took it, when, dermoscopic or not, quality report.
  const info = page.locator('[data-pane="0"] [data-info]');
  assert.match(await info.innerText(), /Taken by[\s\S]*Added[\s\S]*Quality/);
  // The body diagram marks the two sites and lists them; the warnings are quoted.
  const marked = await page.locator('[data-body-map] .app-body__part--on').evaluateAll((els) => [...new Set(els.map((e) => e.dataset.site))]);
  assert.deepEqual(marked, ['hand', 'face']);
  await page.locator('[data-body-map]').scrollIntoViewIfNeeded();
  mkdirSync(screenshotDir, { recursive: true });
  await page.locator('.app-body-map').screenshot({ path: join(screenshotDir, 'triage-body-diagram.png') });
  await page.getByText('Photos taken by the patient, not a clinician').waitFor();
  await page.getByText('Not seen face to face').first().waitFor();
  await page.locator('[data-timeline]').getByText('Sent to the service').waitFor();
  // Full screen on request (where the browser grants it).
  await page.getByRole('button', { name: 'Full screen' }).click();
  await page.waitForTimeout(300);
  const full = await page.evaluate(() => document.fullscreenElement?.hasAttribute('data-viewer') ?? false);
  console.log(`full screen granted in headless Chromium: ${full}`);
  if (full) {
    assert.equal(await page.getByRole('button', { name: 'Full screen' }).getAttribute('aria-pressed'), 'true');
    await page.keyboard.press('f');
  }
  await page.context().close();

  // Without JavaScript: the viewer stays hidden; each photo links to its larger view and original.
  const bare = await newPage(browser, server.base, report, { javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  await bare.goto(`${server.base}/sign-in`);
  await bare.getByLabel('Email address').fill(email);
  await bare.getByLabel('Password').fill(password);
  await bare.getByRole('button', { name: 'Sign in' }).click();
  await bare.goto(`${server.base}/referrals/${id}`);
  assert.equal(await bare.locator('[data-viewer]').isVisible(), false);
  const larger = await bare.getByRole('link', { name: 'Larger view of photo 1' }).getAttribute('href');
  const res = await bare.request.get(`${server.base}${larger}`);
  assert.equal(res.status(), 200);
  assert.equal(res.headers()['content-type'], 'image/jpeg');
  // (axe runs in the page, so not here: the same markup is checked with JavaScript above.)
  mkdirSync(screenshotDir, { recursive: true });
  await bare.screenshot({ path: join(screenshotDir, 'triage-case-without-javascript.png'), fullPage: true });
  await bare.context().close();
  assertClean('case page');
});

test(`a consultant triages ${CASES} referrals in a row: page loads and inputs per case`, async () => {
  const gp = await apiSession('referrer');
  for (let n = 0; n < CASES; n++) await sendReferral(gp, n);
  const page = await newPage(browser, server.base, report, { viewport: { width: 1280, height: 900 } });
  const { email, password } = server.creds.consultant;
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/worklist$/);
  await check(page, report, 'triage-worklist-counts');
  assert.ok(await page.locator('[data-counts]').isVisible(), 'counts per service and status');

  // Every main-frame load, and every input the consultant makes, counted per case.
  let loads = 0;
  page.on('load', () => { loads += 1; });
  let inputs = 0;
  const input = async (fn) => { inputs += 1; await fn(); };
  const figures = [];
  const start = Date.now();
  // Case 1 is opened from the worklist: the first case the consultant can answer, in worklist order.
  await input(() => page.getByRole('link', { name: 'Open the next case' }).click());
  await page.waitForURL(/\/referrals\/[0-9a-f-]+$/);
  for (let n = 0; n < CASES; n++) {
    await page.waitForLoadState('load');
    const caseId = page.url().split('/referrals/')[1].split('?')[0];
    // Claim when nobody has (one POST and its redirect back to the case).
    const claim = page.getByRole('button', { name: 'Claim this referral' });
    if (await claim.count()) {
      await input(() => claim.click());
      await page.getByText('You have claimed this referral.').waitFor();
    }
    // View the photos: the next photo, then actual pixels.
    await page.locator('[data-viewer]').waitFor();
    await input(() => page.getByRole('button', { name: 'Next photo' }).click());
    await input(() => page.getByRole('button', { name: /^100%/ }).click());
    if (n === 0) await check(page, report, 'triage-case-viewer');
    // An advice outcome from the saved phrases, with a coded diagnosis.
    await input(() => page.getByLabel('Advice and management plan').check());
    await input(() => page.getByLabel('Diagnosis', { exact: true }).fill('Atopic dermatitis'));
    await page.getByText('Coded: SNOMED CT 24079001').waitFor();
    await input(() => page.locator('#plan-phrase').selectOption({ index: 1 }));
    await input(() => page.locator('#safety-phrase').selectOption({ index: 1 }));
    assert.ok((await page.getByRole('textbox', { name: 'Management plan' }).inputValue()).length > 40, 'the phrase is in the plan');
    if (n === 0) await check(page, report, 'triage-outcome-from-phrases');
    await input(() => page.getByRole('button', { name: 'Record and open next case' }).click());
    await page.waitForURL((u) => !u.pathname.endsWith(`/referrals/${caseId}`) || u.search.includes('done=outcome_next'));
    await page.waitForLoadState('load');
    const last = n === CASES - 1;
    if (!last) await page.getByText('This is the next case on your worklist.').waitFor();
    figures.push({ case: n + 1, loads, inputs });
    loads = 0;
    inputs = 0;
  }
  const seconds = (Date.now() - start) / 1000;
  await check(page, report, 'triage-after-ten');
  const maxLoads = Math.max(...figures.map((f) => f.loads));
  const maxInputs = Math.max(...figures.map((f) => f.inputs));
  const mean = (k) => (figures.reduce((s, f) => s + f[k], 0) / figures.length).toFixed(1);
  console.log(`triage of ${CASES} cases in ${seconds.toFixed(1)} s`);
  for (const f of figures) console.log(`  case ${f.case}: ${f.loads} page loads, ${f.inputs} inputs`);
  console.log(`per case: page loads mean ${mean('loads')} max ${maxLoads}; inputs mean ${mean('inputs')} max ${maxInputs}`);
  assert.ok(maxLoads <= 3, `at most 3 page loads a case (max ${maxLoads})`);
  assert.ok(maxInputs <= 12, `at most 12 inputs a case (max ${maxInputs})`);
  await page.context().close();
  assertClean('triage journey');
});
