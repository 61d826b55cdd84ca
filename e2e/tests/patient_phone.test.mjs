// The patient on a phone (390x844, isMobile): on the upload link they remove a blurred photo,
// answer the symptom questions, confirm their consent and finish; the GP reads their answers on
// the case; after the outcome the status link asks for feedback, which the service admin sees on
// the dashboard. axe-core runs on every page (no serious or critical violations).
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
const phoneOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  photos = await makePhotos(browser, mkdtempSync(join(tmpdir(), 'telederm-photos-')));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  for (const v of report.axe) console.log(`  axe ${v.impact} ${v.id} on ${v.page}: ${v.help} [${v.nodes.join(', ')}]`);
});

async function signIn(page, who) {
  const { email, password } = server.creds[who];
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
}

/** Signs in through the JSON API; returns a fetch bound to the session. */
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

const json = (body) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function giveDob(page, [d, m, y]) {
  await page.getByLabel('Day').fill(d);
  await page.getByLabel('Month').fill(m);
  await page.getByLabel('Year').fill(y);
  await page.getByRole('button', { name: 'Continue' }).click();
}

test('on a phone the patient removes a blurred photo, answers the questions and consents; the GP reads the answers', async () => {
  const gpApi = await apiAs('referrer');
  const draft = await gpApi('/referrals', json({
    service_id: 'clinical-partnership', route: 'advice_and_guidance',
    patient: { nhs_number: nhsNumber(727272), given_name: 'Ines', family_name: 'Moreau', date_of_birth: '1991-04-12', sex: 'female', postcode: 'E8 1DY' },
  }));
  const gp = await newPage(browser, server.base, report);
  await signIn(gp, 'referrer');
  await gp.goto(`${server.base}/referrals/${draft.id}`);
  await gp.getByRole('button', { name: /secure upload link/ }).click();
  const href = await gp.locator('[data-patient-link]').getAttribute('href');

  const phone = await newPage(browser, server.base, report, phoneOptions);
  await phone.goto(`${server.base}${href}`);
  await giveDob(phone, ['12', '4', '1991']);
  await phone.getByRole('heading', { name: 'Send photos of your skin' }).waitFor();
  await phone.locator('[data-practice]').getByText(/has asked you for photos/).waitFor();
  await check(phone, report, 'phone-upload');

  // A blurred photo is flagged; the patient removes it and gets the place back.
  await phone.locator('input[name="kind"][value="close_up"]').check();
  await phone.locator('input[type=file]').setInputFiles(photos.blurred);
  await phone.getByRole('button', { name: 'Send this photo' }).click();
  await phone.locator('#photo-check').waitFor();
  assert.notEqual(await phone.locator('#photo-check [data-verdict]').getAttribute('data-verdict'), 'accept');
  await phone.getByText('You can send 4 more photos').waitFor();
  await check(phone, report, 'phone-blurred-photo');
  await phone.getByRole('button', { name: 'Remove photo 1' }).click();
  await phone.getByText('The photo has been removed').waitFor();
  await phone.getByText('You can send 5 more photos').waitFor();
  assert.equal(await phone.locator('[data-sent-photo]').count(), 0);
  await check(phone, report, 'phone-photo-removed');

  // Two good photos: their check never asks for them again.
  for (const [kind, file] of [['locator', photos.sharp4], ['close_up', photos.sharp5]]) {
    await phone.locator(`input[name="kind"][value="${kind}"]`).check();
    await phone.locator('input[type=file]').setInputFiles(file);
    await phone.getByRole('button', { name: 'Send this photo' }).click();
    await phone.locator('#photo-check [data-verdict="accept"]').waitFor();
    assert.doesNotMatch(await phone.locator('#photo-check').innerText(), /again/i);
  }
  assert.equal(await phone.locator('[data-sent-photo]').count(), 2);

  // The symptom questions, in the patient's own words.
  await phone.getByLabel('How long have you had it?').fill('About a month');
  await phone.getByLabel('Does it itch or hurt?').fill('Itchy in the evening');
  await phone.getByLabel('Is it changing?').fill('Spreading slowly');
  await phone.getByLabel('What have you tried for it?').fill('Moisturiser, a little better');
  await phone.getByRole('button', { name: 'Save my answers' }).click();
  await phone.getByText('Your answers have been saved').waitFor();
  await check(phone, report, 'phone-answers-saved');

  // Finishing without the consent box is refused, with the error linked to the box.
  await phone.getByRole('button', { name: 'I have finished' }).click();
  await phone.locator('.nhsuk-error-summary').getByText(/Confirm that you agree/).waitFor();
  await check(phone, report, 'phone-consent-missing');
  await phone.getByLabel(/I agree to send these photos/).check();
  await phone.getByRole('button', { name: 'I have finished' }).click();
  await phone.getByText('Thank you. Your photos have been sent to your GP practice.').waitFor();
  await check(phone, report, 'phone-finished');

  // The GP reads the answers on the case.
  await gp.goto(`${server.base}/referrals/${draft.id}`);
  const told = gp.locator('[data-patient-answers]');
  await told.getByText('Itchy in the evening').waitFor();
  await told.getByText('Moisturiser, a little better').waitFor();
  await check(gp, report, 'gp-case-patient-answers');
});

test('after the outcome the patient leaves feedback on a phone; the service admin sees it', async () => {
  const gpApi = await apiAs('referrer');
  const dob = '1979-10-03';
  const draft = await gpApi('/referrals', json({
    service_id: 'hackney-rash', route: 'ras', priority: 'routine',
    patient: { nhs_number: nhsNumber(828282), given_name: 'Tomasz', family_name: 'Nowak', date_of_birth: dob, sex: 'male', postcode: 'E8 1DY', contact: { email: 'tomasz@example.org' } },
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
    await gpApi(`/referrals/${draft.id}/photos`, { method: 'POST', body: form });
  }
  await gpApi(`/referrals/${draft.id}/submit`, json({}));
  const consultant = await apiAs('consultant');
  await consultant(`/referrals/${draft.id}/claim`, json({}));
  await consultant(`/referrals/${draft.id}/outcome`, json({ code: 'advice_management_plan', diagnosis: 'Contact dermatitis', management_plan: 'Emollients and avoid the trigger.', follow_up: 'None.' }));
  // The final message waits in the outbox (no notifier here) with the status link.
  const link = execFileSync('sqlite3', [join(server.dataDir, 'telederm.db'),
    `SELECT link FROM outbox WHERE referral_id = '${draft.id}' AND template = 'patient_response_ready'`]).toString().trim();
  assert.match(link, new RegExp(`^${server.base}/p/[0-9a-f]{64}$`));

  const phone = await newPage(browser, server.base, report, phoneOptions);
  await phone.goto(link);
  await giveDob(phone, ['3', '10', '1979']);
  await phone.getByRole('heading', { name: 'We would love to hear from you' }).waitFor();
  await check(phone, report, 'phone-feedback-form');
  // Sent without a rating: the error is shown and the comment kept.
  const comment = 'Quick answer and easy to follow';
  await phone.getByLabel('Tell us why you gave this answer (optional)').fill(comment);
  await phone.getByRole('button', { name: 'Send feedback' }).click();
  await phone.locator('.nhsuk-error-summary').getByText(/Choose how your experience/).waitFor();
  assert.equal(await phone.getByLabel('Tell us why you gave this answer (optional)').inputValue(), comment);
  await check(phone, report, 'phone-feedback-error');
  await phone.getByLabel('Very good').check();
  await phone.getByRole('button', { name: 'Send feedback' }).click();
  await phone.locator('[data-feedback-given]').getByText('Thank you for your feedback (Very good)').waitFor();
  assert.equal(await phone.getByRole('button', { name: 'Send feedback' }).count(), 0, 'asked once');
  await check(phone, report, 'phone-feedback-thanks');

  const admin = await newPage(browser, server.base, report);
  await signIn(admin, 'service_admin');
  await admin.goto(`${server.base}/admin`);
  assert.equal(await admin.locator('[data-feedback-count="Very good"]').innerText(), '1');
  await admin.locator('[data-feedback-comments]').getByText(comment).waitFor();
  await check(admin, report, 'admin-dashboard-feedback');
});

test('no serious or critical accessibility violations, nothing from outside, no console errors', () => {
  const bad = report.axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], 'axe serious/critical violations');
  assert.deepEqual(report.external, [], 'requests outside the deployment');
  assert.deepEqual(report.consoleErrors, [], 'browser console errors');
  assert.ok(report.screenshots.length >= 10, `screenshots taken: ${report.screenshots.length}`);
});
