// Teaching cases in a real browser (issue 17): a GP of the demo practice opens the demo's
// teaching case from the menu; its photos load, the page shows no patient identifier, axe clean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, newReport, check } from '../lib.mjs';

let server;
let browser;
const report = newReport();

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  for (const v of report.axe) console.log(`  axe ${v.impact} ${v.id} on ${v.page}: ${v.help} [${v.nodes.join(', ')}]`);
});

test('a GP opens the teaching case from the menu, without the patient being named', async () => {
  const page = await newPage(browser, server.base, report);
  const { email, password } = server.creds.referrer;
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/sign-in'));

  await page.getByRole('link', { name: 'Teaching cases', exact: true }).click();
  await page.getByRole('heading', { name: 'Teaching cases', level: 1 }).waitFor();
  assert.equal(await page.locator('[data-teaching-case]').count(), 1, 'the demo has one teaching case');
  await check(page, report, 'teaching-list');
  await page.getByRole('link', { name: 'Asteatotic eczema' }).click();
  await page.getByRole('heading', { name: 'Asteatotic eczema', level: 1 }).waitFor();
  assert.match(await page.locator('[data-teaching-note]').innerText(), /crazy paving/);
  const photos = page.locator('img[data-teaching-photo]');
  assert.equal(await photos.count(), 3);
  for (let i = 0; i < 3; i++) {
    await photos.nth(i).scrollIntoViewIfNeeded();
    const loaded = await photos.nth(i).evaluate((img) => img.complete && img.naturalWidth > 0);
    assert.ok(loaded, `photo ${i + 1} loads`);
  }
  // The demo patient is Ellen Morris, born 20 January 1950: neither appears.
  const text = await page.locator('main').innerText();
  for (const id of ['Ellen', 'Morris', '1950', 'N16 7UX', '612']) assert.ok(!text.includes(id), `the page shows ${id}`);
  await check(page, report, 'teaching-case');
  await page.close();
});

test('teaching pages: no serious or critical accessibility violations, nothing loaded from outside', () => {
  const bad = report.axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], 'axe serious/critical violations');
  assert.deepEqual(report.external, [], 'requests outside the deployment');
  assert.deepEqual(report.consoleErrors, [], 'console errors');
});
