// End-to-end journeys in real Chromium: GP referral with photos, consultant outcome, GP reads it,
// patient upload link on a phone, patient status link in two browsers, admin dashboard. axe-core runs on every page; screenshots go to
// e2e/screenshots/; no request may leave the deployment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, newPage, newReport, check, makePhotos, nhsNumber } from '../lib.mjs';

let server;
let browser;
let photos;
const report = newReport();
const timings = {};
const shared = {};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  photos = await makePhotos(browser, mkdtempSync(join(tmpdir(), 'telederm-photos-')));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  console.log('timings (s):', JSON.stringify(timings));
  console.log(`screenshots: ${report.screenshots.length} in e2e/screenshots/`);
  const byImpact = {};
  for (const v of report.axe) byImpact[v.impact] = (byImpact[v.impact] || 0) + 1;
  console.log('axe violations by impact:', JSON.stringify(byImpact));
  for (const v of report.axe) console.log(`  axe ${v.impact} ${v.id} on ${v.page}: ${v.help} [${v.nodes.join(', ')}]`);
});

async function timed(name, fn) {
  const t = Date.now();
  await fn();
  timings[name] = (Date.now() - t) / 1000;
}

async function signIn(page, who) {
  const { email, password } = server.creds[who];
  await page.goto(`${server.base}/`);
  await page.waitForURL(/\/sign-in/);
  await check(page, report, `${who}-sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
}

async function answerYesNo(page, name, value) {
  await page.locator(`input[name="${name}"][value="${value}"]`).check();
}

async function dashboardCount(page, label) {
  return Number(await page.locator(`[data-status-count="${label}"]`).innerText());
}

test('admin sees the dashboard (baseline)', async () => {
  await timed('admin-baseline', async () => {
    const page = await newPage(browser, server.base, report);
    await signIn(page, 'system_admin');
    await page.waitForURL(/\/admin$/);
    await check(page, report, 'admin-dashboard-before');
    shared.answeredBefore = await dashboardCount(page, 'Answered');
    shared.submittedBefore = await dashboardCount(page, 'Submitted');
    await page.goto(`${server.base}/admin/users`);
    await check(page, report, 'admin-users');
    await page.goto(`${server.base}/admin/services`);
    await check(page, report, 'admin-services');
    await page.goto(`${server.base}/admin/jobs`);
    await check(page, report, 'admin-jobs');
    await page.goto(`${server.base}/admin/audit?action=referral.read`);
    await check(page, report, 'admin-audit');
    shared.adminPage = page;
  });
});

test('GP completes a referral with three photos, replacing a blurred one, and submits', async () => {
  await timed('gp-referral', async () => {
    const page = await newPage(browser, server.base, report);
    shared.gp = page;
    await signIn(page, 'referrer');
    await page.waitForURL(/\/referrals$/);
    await check(page, report, 'gp-my-referrals');
    await page.getByRole('link', { name: 'Start a new referral' }).click();

    // Step 1: patient and service. The NHS number is checked as you type.
    const nhs = nhsNumber(424242);
    await page.getByLabel('NHS number').fill(nhs.slice(0, 9) + String((Number(nhs[9]) + 1) % 10));
    await assert.doesNotReject(page.getByText(/check digit does not match|not a real NHS number/).waitFor());
    await page.getByLabel('NHS number').fill(nhs);
    await page.getByText('Valid NHS number.').waitFor();
    await page.getByLabel('First name').fill('Rosa');
    await page.getByLabel('Last name').fill('Lindqvist');
    await page.getByLabel('Day').fill('14');
    await page.getByLabel('Month').fill('3');
    await page.getByLabel('Year').fill('1979');
    await page.getByLabel('Female').check();
    await page.getByLabel('Postcode').fill('E9 6SR');
    // Each service says whether it takes this patient (age and postcode), with the reason.
    await page.locator('[data-fit-for="west-herts-paediatric"]').getByText('Not for this patient').waitFor();
    await page.locator('[data-fit-for="clinical-partnership"]').getByText('Suits this patient').waitFor();
    await page.locator('input[name="service"][value="clinical-partnership"]').check();
    // The service offers one route: it is not asked.
    assert.ok(await page.locator('[data-route-question]').isHidden(), 'the route question is hidden for a one-route service');
    await check(page, report, 'gp-step1-patient-service');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.waitForURL(/\/eligibility$/);
    shared.referralUrl = page.url().replace(/\/eligibility$/, '');

    // Step 2: eligibility, first with an answer left out (error summary links to the field).
    await page.locator('input[name="condition"][value="rash"]').check();
    await page.locator('input[name="body_sites"][value="arm"]').check();
    const answers = {
      meets_2ww_criteria: 'no', extreme_psychological_distress: 'no', widespread: 'no', severe_or_systemic_or_urgent: 'no',
      imaging_practical: 'yes', safeguarding_concerns: 'no', has_capacity_to_consent: 'yes', best_interests_referral: 'no',
      consent_given: 'yes', dermoscopic_images: 'no',
    };
    // The child-only questions are not asked about an adult.
    assert.equal(await page.locator('input[type=radio][name="face_identifiable_in_images"]').count(), 0);
    assert.equal(await page.locator('input[type=radio][name="known_chronic_inflammatory_condition"]').count(), 0);
    for (const [k, v] of Object.entries(answers)) await answerYesNo(page, k, v);
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.locator('.nhsuk-error-summary').waitFor();
    await check(page, report, 'gp-step2-eligibility-errors');
    await page.locator('.nhsuk-error-summary a[href="#seen-face-to-face"]').click();
    await answerYesNo(page, 'seen_face_to_face', 'yes');
    // The live decision (JavaScript) shows before saving.
    await page.locator('[data-decision-panel]').getByText('Eligible', { exact: true }).waitFor();
    await check(page, report, 'gp-step2-eligibility-live');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.waitForURL(/\/details$/);

    // Step 3: consent and history.
    await page.locator('input[name="given_by"][value="patient"]').check();
    await page.locator('input[name="method"][value="verbal"]').check();
    await answerYesNo(page, 'direct_care', 'yes');
    await answerYesNo(page, 'teaching', 'no');
    await answerYesNo(page, 'research', 'no');
    await page.getByLabel('Presenting complaint').fill('Itchy erythematous plaques on the left forearm for 6 weeks, not settling with emollients.');
    await page.getByLabel('How long has it been present?').fill('6 weeks');
    await check(page, report, 'gp-step3-consent-history');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.waitForURL(/\/photos/);
    await check(page, report, 'gp-step4-photos-empty');

    // Step 4: photos, two at once, sorted by what the service needs (locator first, then a
    // close-up). The blurred close-up is flagged at once with the retake advice.
    const upload = async (kind, files) => {
      await page.locator(`input[name="kind"][value="${kind}"]`).check();
      await page.locator('input[type=file]').setInputFiles(files);
      await page.getByRole('button', { name: 'Upload and check photos' }).click();
      await page.locator('#photo-check').waitFor();
    };
    await upload('auto', [photos.sharp1, photos.blurred]);
    const checks = page.locator('.app-photo-check');
    assert.equal(await checks.count(), 2, 'each photo of the upload is checked');
    await checks.nth(0).getByText('Photo 1: Locator').waitFor();
    assert.equal(await checks.nth(0).locator('[data-verdict]').getAttribute('data-verdict'), 'accept');
    await checks.nth(1).getByText('Photo 2: Close-up').waitFor();
    assert.notEqual(await checks.nth(1).locator('[data-verdict]').getAttribute('data-verdict'), 'accept');
    await checks.nth(1).getByText(/out of focus/i).first().waitFor();
    await check(page, report, 'gp-step4-photo-blurred-warning');
    // Replace it: remove the flagged photo, then upload a sharp one.
    const flagged = page.locator('.nhsuk-card[data-photo]').filter({ has: page.locator('[data-verdict="reject"], [data-verdict="warn"]') });
    await flagged.getByRole('button', { name: /Remove/ }).click();
    await page.waitForLoadState('load');
    assert.equal(await page.locator('.nhsuk-card[data-photo]').count(), 1);
    await upload('close_up', photos.sharp2);
    // The last one completes the service's photos and passes: on to the review, which says so.
    await page.locator('input[name="kind"][value="close_up"]').check();
    await page.locator('input[type=file]').setInputFiles(photos.sharp3);
    await page.getByRole('button', { name: 'Upload and check photos' }).click();

    // Step 5: review and send.
    await page.waitForURL(/\/review\?checked=1$/);
    await page.locator('[data-photos-checked="1"]').waitFor();
    await check(page, report, 'gp-step5-review');
    await page.getByRole('button', { name: 'Send referral' }).click();
    await page.getByText('Referral sent.').waitFor();
    await check(page, report, 'gp-referral-sent');
  });
});

test('consultant opens it from the worklist, zooms a photo and records an outcome', async () => {
  await timed('consultant-outcome', async () => {
    const page = await newPage(browser, server.base, report);
    await signIn(page, 'consultant');
    await page.waitForURL(/\/worklist$/);
    await check(page, report, 'consultant-worklist');
    await page.getByLabel('Service').selectOption('clinical-partnership');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('link', { name: 'Rosa Lindqvist', exact: true }).click();
    await page.getByRole('button', { name: 'Claim this referral' }).click();
    await page.getByText('You have claimed this referral.').waitFor();
    // The case page's viewer (issue 15): zoomed to actual pixels, moved with the keyboard.
    const pane = page.locator('[data-pane="0"]');
    const fitted = Number(await pane.getAttribute('data-zoom'));
    await page.getByRole('button', { name: 'Zoom in' }).click();
    await page.getByRole('button', { name: 'Zoom in' }).click();
    assert.ok(Number(await pane.getAttribute('data-zoom')) > fitted * 2, 'photo zoomed');
    await pane.locator('[data-stage]').focus();
    await page.keyboard.press('ArrowLeft');
    await check(page, report, 'consultant-case-zoomed');
    const first = page.locator('.app-photo').first();
    const original = await first.getByRole('link', { name: /Full-resolution original/ }).getAttribute('href');
    const res = await page.request.get(`${server.base}${original}`);
    assert.equal(res.status(), 200);
    // Typing is kept if the consultant navigates away and comes back.
    await page.locator('input[name="code"][value="advice_management_plan"]').check();
    await page.getByLabel('Diagnosis', { exact: true }).fill('Discoid eczema');
    await page.getByRole('textbox', { name: 'Management plan' }).fill('Potent topical steroid ointment once daily for 2 weeks, then emollients; review in 6 weeks.');
    await page.goto(`${server.base}/worklist`);
    await page.goBack();
    await page.waitForLoadState('load');
    assert.match(await page.getByRole('textbox', { name: 'Management plan' }).inputValue(), /Potent topical steroid/);
    await page.getByRole('button', { name: 'Record outcome' }).click();
    await page.getByText('The outcome has been recorded').waitFor();
    await check(page, report, 'consultant-outcome-recorded');
  });
});

test('GP sees the outcome', async () => {
  await timed('gp-sees-outcome', async () => {
    const page = shared.gp;
    await page.goto(`${server.base}/referrals`);
    const row = page.locator('tr').filter({ hasText: 'Rosa Lindqvist' });
    await row.getByText('Answered').waitFor();
    await check(page, report, 'gp-my-referrals-answered');
    await row.getByRole('link', { name: 'Read the outcome for Rosa Lindqvist' }).click();
    await page.locator('[data-outcome]').getByText(/advice/i).waitFor();
    await page.getByText('Potent topical steroid ointment').waitFor();
    const letter = await page.getByRole('link', { name: 'Letter to the GP', exact: true }).getAttribute('href');
    assert.equal((await page.request.get(`${server.base}${letter}`)).status(), 200, 'GP letter opens');
    await check(page, report, 'gp-outcome');
  });
});

test('GP copies a returned referral into a new one, keeping the patient, history and photos', async () => {
  await timed('gp-copies-returned', async () => {
    const page = shared.gp;
    await page.goto(`${server.base}/referrals`);
    // The demo's returned referral links to what to do next from the list.
    const row = page.locator('tr').filter({ has: page.getByRole('link', { name: /^See why and what to do next/ }) }).first();
    await row.waitFor();
    const patient = (await row.locator('td').first().locator('a').innerText()).trim();
    await row.getByRole('link', { name: `See why and what to do next for ${patient}` }).click();
    await page.locator('#next-steps').waitFor();
    await check(page, report, 'gp-returned-next-steps');
    const original = new URL(page.url()).pathname;
    await page.getByRole('button', { name: 'Copy into a new referral' }).click();
    await page.waitForURL(/\/referrals\/[^/]+\/start\?copied=1$/);
    assert.notEqual(new URL(page.url()).pathname, `${original}/start`, 'a new draft, not the original');
    await page.locator('[data-copied]').waitFor();
    const [given] = patient.split(' ');
    assert.equal(await page.getByLabel('First name').inputValue(), given, 'the patient came with it');
    await check(page, report, 'gp-copied-referral-start');
    // Its photos came too: the photos step lists them.
    const draft = new URL(page.url()).pathname.replace(/\/start$/, '');
    await page.goto(`${server.base}${draft}/photos`);
    assert.ok((await page.locator('[data-photo]').count()) >= 1, 'the photos were copied');
  });
});

test('patient opens an upload link on a phone, fails the date of birth once, passes, uploads two photos', async () => {
  await timed('patient-upload', async () => {
    const gp = shared.gp;
    // The GP starts a draft and creates a secure link for it.
    await gp.goto(`${server.base}/referrals/new`);
    await gp.getByLabel('NHS number').fill(nhsNumber(515151));
    await gp.getByLabel('First name').fill('Omar');
    await gp.getByLabel('Last name').fill('Haddad');
    await gp.getByLabel('Day').fill('2');
    await gp.getByLabel('Month').fill('11');
    await gp.getByLabel('Year').fill('1990');
    await gp.getByLabel('Male', { exact: true }).check();
    await gp.getByLabel('Postcode').fill('N1 5HZ');
    await gp.locator('input[name="service"][value="clinical-partnership"]').check();
    await gp.getByRole('button', { name: 'Save and continue' }).click();
    await gp.waitForURL(/\/eligibility$/);
    const draftUrl = gp.url().replace(/\/eligibility$/, '');
    await gp.goto(draftUrl);
    await gp.getByRole('button', { name: /secure upload link/ }).click();
    const href = await gp.locator('[data-patient-link]').getAttribute('href');
    assert.match(href, /^\/p\/[0-9a-f]{64}$/);
    await check(gp, report, 'gp-patient-link-created');

    const phone = await newPage(browser, server.base, report, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await phone.goto(`${server.base}${href}`);
    await check(phone, report, 'patient-verify');
    await phone.getByLabel('Day').fill('3');
    await phone.getByLabel('Month').fill('11');
    await phone.getByLabel('Year').fill('1990');
    await phone.getByRole('button', { name: 'Continue' }).click();
    await phone.locator('.nhsuk-error-summary').getByText(/does not match/).waitFor();
    await check(phone, report, 'patient-verify-failed');
    await phone.getByLabel('Day').fill('2');
    await phone.getByRole('button', { name: 'Continue' }).click();
    await phone.getByRole('heading', { name: 'Send photos of your skin' }).waitFor();
    await check(phone, report, 'patient-upload');
    assert.equal(await phone.getByText('Haddad').count(), 0, 'the patient page shows nothing about the referral');
    for (const [kind, file] of [['locator', photos.sharp4], ['close_up', photos.sharp5]]) {
      await phone.locator(`input[name="kind"][value="${kind}"]`).check();
      await phone.locator('input[type=file]').setInputFiles(file);
      await phone.getByRole('button', { name: 'Send this photo' }).click();
      await phone.locator('#photo-check [data-verdict="accept"]').waitFor();
    }
    await check(phone, report, 'patient-photos-checked');
    await phone.getByLabel(/I agree to send these photos/).check();
    await phone.getByRole('button', { name: 'I have finished' }).click();
    await phone.getByText('Thank you. Your photos have been sent to your GP practice.').waitFor();
    await check(phone, report, 'patient-status');

    // The GP sees the patient's photos on the draft.
    await gp.goto(`${draftUrl}/photos`);
    assert.equal(await gp.locator('.nhsuk-card[data-photo]').count(), 2);
  });
});

/** Signs in through the JSON API (as a GP system would); returns a fetch bound to the session. */
async function apiAs(who) {
  const { email, password } = server.creds[who];
  const r = await fetch(`${server.base}/api/v1/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  assert.equal(r.status, 200);
  const cookie = r.headers.get('set-cookie').split(';')[0];
  return async (path, init = {}) => {
    const res = await fetch(`${server.base}/api/v1${path}`, { ...init, headers: { ...(init.headers || {}), cookie } });
    const body = await res.json();
    assert.ok(res.ok, `${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
}

test('patient opens the status page in a second browser after verifying in a first', async () => {
  await timed('patient-status', async () => {
    // A referral for a patient with an email address, sent through the API with three photos.
    const api = await apiAs('referrer');
    const json = (body) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const dob = '1985-07-09';
    const draft = await api('/referrals', json({
      service_id: 'hackney-rash', route: 'ras', priority: 'routine',
      patient: { nhs_number: nhsNumber(616161), given_name: 'Nadia', family_name: 'Okafor', date_of_birth: dob, sex: 'female', postcode: 'E8 1DY', contact: { email: 'nadia@example.org' } },
      history: { presenting_complaint: 'Itchy rash on both forearms', duration: '2 months', body_sites: ['arm'], treatments_tried: 'Emollients', relevant_history: '', medication: 'None', allergies: 'NKDA' },
      consent: { given_by: 'patient', method: 'verbal', direct_care: true, teaching: false, research: false },
      eligibility_answers: {
        referral_date: new Date().toISOString().slice(0, 10), patient: { date_of_birth: dob, postcode: 'E8 1DY' },
        condition: 'rash', lesion_count: 0, body_sites: ['arm'], meets_2ww_criteria: false, extreme_psychological_distress: false,
        widespread: false, severe_or_systemic_or_urgent: false, imaging_practical: true, safeguarding_concerns: false,
        has_capacity_to_consent: true, best_interests_referral: false, consent_given: true, known_chronic_inflammatory_condition: false,
        face_identifiable_in_images: false, dermoscopic_images: false, images_taken_by: 'clinician', seen_face_to_face: true,
      },
    }));
    for (const [kind, file] of [['locator', photos.sharp1], ['close_up', photos.sharp2], ['close_up', photos.sharp3]]) {
      const form = new FormData();
      form.append('kind', kind);
      form.append('file', new Blob([readFileSync(file)], { type: 'image/jpeg' }), 'photo.jpg');
      await api(`/referrals/${draft.id}/photos`, { method: 'POST', body: form });
    }
    await api(`/referrals/${draft.id}/submit`, json({}));
    // The message to the patient waits in the outbox (no notifier here) with its link.
    const link = execFileSync('sqlite3', [join(server.dataDir, 'telederm.db'),
      `SELECT link FROM outbox WHERE referral_id = '${draft.id}' AND template = 'patient_referral_sent'`]).toString().trim();
    assert.match(link, new RegExp(`^${server.base}/p/[0-9a-f]{64}$`));

    const sent = 'Your request has been sent to a skin specialist';
    const verify = async (page, name) => {
      await page.goto(link);
      await page.getByRole('heading', { name: 'See how your skin review is going' }).waitFor();
      await check(page, report, `${name}-verify`);
      assert.equal(await page.getByText('Okafor').count(), 0, 'nothing about the patient before the date of birth');
      await page.getByLabel('Day').fill('9');
      await page.getByLabel('Month').fill('7');
      await page.getByLabel('Year').fill('1985');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('heading', { name: sent }).waitFor();
      await check(page, report, `${name}-status`);
    };
    // The phone passes the check, then a laptop (another browser context: no shared cookies) does too.
    const phone = await newPage(browser, server.base, report, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await verify(phone, 'patient-status-phone');
    const laptop = await newPage(browser, server.base, report);
    await verify(laptop, 'patient-status-laptop');
    // The phone's visit is still open.
    await phone.reload();
    await phone.getByRole('heading', { name: sent }).waitFor();

    // Rosa Lindqvist gave no email or mobile number: her GP is told to tell her themselves.
    const gp = shared.gp;
    await gp.goto(`${server.base}/referrals`);
    await gp.locator('tr').filter({ hasText: 'Rosa Lindqvist' }).getByText('Patient cannot be contacted by Telederm: tell them yourself').waitFor();
    assert.equal(await gp.locator('tr').filter({ hasText: 'Nadia Okafor' }).locator('[data-patient-unreachable]').count(), 0);
    await check(gp, report, 'gp-my-referrals-unreachable-tag');
  });
});

test('admin sees the dashboard counts change', async () => {
  await timed('admin-after', async () => {
    const page = shared.adminPage;
    await page.goto(`${server.base}/admin`);
    const answered = await dashboardCount(page, 'Answered');
    assert.equal(answered, shared.answeredBefore + 1, 'one more answered referral');
    await check(page, report, 'admin-dashboard-after');
  });
});

test('no serious or critical accessibility violations, and nothing loaded from outside', () => {
  const bad = report.axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], 'axe serious/critical violations');
  assert.deepEqual(report.external, [], 'requests outside the deployment');
  assert.deepEqual(report.consoleErrors, [], 'browser console errors');
  assert.ok(report.screenshots.length >= 20, `screenshots taken: ${report.screenshots.length}`);
});
