// Issue 15, measured: a GP sends one referral with three photos, counting what it costs them:
// page loads (main-frame navigations after the start page), inputs (fields filled, options
// chosen, files attached) and clicks (buttons and links). Figures are printed and written to
// e2e/screenshots/gp-effort.json; docs/ui.md quotes them. axe runs on every page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, newPage, newReport, check, makePhotos, nhsNumber, screenshotDir } from '../lib.mjs';

let server;
let browser;
let photos;
const report = newReport();

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

test('a GP sends a referral with three photos: page loads, inputs and clicks counted', async () => {
  const page = await newPage(browser, server.base, report);
  const { email, password } = server.creds.referrer;
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/referrals$/);

  const effort = { page_loads: 0, inputs: 0, clicks: 0 };
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) effort.page_loads += 1; });
  const fill = async (label, value) => { effort.inputs += 1; await page.getByLabel(label, { exact: true }).fill(value); };
  const choose = async (name, value) => { effort.inputs += 1; await page.locator(`input[name="${name}"][value="${value}"]`).check(); };
  const click = async (role, name) => { effort.clicks += 1; await page.getByRole(role, { name }).click(); };

  // Page 1: the GP opens the new referral form (counted), then patient and service.
  await page.goto(`${server.base}/referrals/new`);
  await fill('NHS number', nhsNumber(737373));
  await fill('First name', 'Iris');
  await fill('Last name', 'Okafor');
  await fill('Day', '9');
  await fill('Month', '7');
  await fill('Year', '1984');
  await choose('sex', 'female');
  await fill('Postcode', 'E8 1DY');
  await page.locator('[data-fit-for="hackney-rash"]').getByText('Suits this patient').waitFor();
  await choose('service', 'hackney-rash');
  assert.ok(await page.locator('[data-route-question]').isHidden(), 'Hackney offers one route: not asked');
  await check(page, report, 'effort-1-start');
  await click('button', 'Save and continue');
  await page.waitForURL(/\/eligibility$/);

  // Page 2: the checklist, only the questions that can matter for this adult.
  await choose('condition', 'rash');
  await choose('body_sites', 'arm');
  const asked = await page.locator('input[type=radio][value=no]').evaluateAll((els) => [...new Set(els.map((e) => e.name))]);
  assert.ok(!asked.includes('face_identifiable_in_images') && !asked.includes('known_chronic_inflammatory_condition'), 'child-only questions are not asked');
  const yes = new Set(['imaging_practical', 'has_capacity_to_consent', 'consent_given', 'seen_face_to_face']);
  for (const name of asked) await choose(name, yes.has(name) ? 'yes' : 'no');
  await page.locator('[data-decision-panel]').getByText('Eligible', { exact: true }).waitFor();
  await check(page, report, 'effort-2-eligibility');
  await click('button', 'Save and continue');
  await page.waitForURL(/\/details$/);

  // Page 3: consent and history.
  await choose('given_by', 'patient');
  await choose('method', 'verbal');
  await choose('direct_care', 'yes');
  await choose('teaching', 'no');
  await choose('research', 'no');
  await fill('Presenting complaint', 'Itchy annular plaques on both forearms for 2 months, not settling with emollients.');
  await fill('How long has it been present?', '2 months');
  await click('button', 'Save and continue');
  await page.waitForURL(/\/photos/);

  // Page 4: all three photos at once, sorted by what Hackney needs. All pass and complete the
  // service's photos, so page 5 is the review, saying so and showing each photo's check.
  effort.inputs += 1;
  await page.locator('input[type=file]').setInputFiles([photos.sharp1, photos.sharp2, photos.sharp3]);
  await click('button', 'Upload and check photos');
  await page.waitForURL(/\/review\?checked=3$/);
  await check(page, report, 'effort-5-review-photos-checked');

  // Send; page 6 is the list saying it was sent.
  await click('button', 'Send referral');
  await page.getByText('Referral sent.').waitFor();

  const figures = { ...effort, targets: { page_loads: 5, inputs: 30 } };
  console.log('GP referral effort:', JSON.stringify(figures));
  mkdirSync(screenshotDir, { recursive: true });
  writeFileSync(join(screenshotDir, 'gp-effort.json'), JSON.stringify(figures, null, 2));
  assert.ok(effort.inputs <= 30, `inputs ${effort.inputs} within the target of 30`);
  assert.deepEqual(report.axe.filter((v) => v.impact === 'serious' || v.impact === 'critical'), []);
  assert.deepEqual(report.external, [], 'no request leaves the deployment');
});
