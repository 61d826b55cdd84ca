// Outcome letters in the browser (issue 13, "Letters"): the HTML letters keep their style under the
// site's Content-Security-Policy, so the large-print letter reads at 16 pt or more, as its PDF does.
// The demo's answered referral (Ellen Morris) is opened from the GP's case page.
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

/** The smallest computed font size (CSS px) of any element in the letter's body that has text of its own. */
async function smallestTextPx(page) {
  return page.evaluate(() => {
    const sizes = [];
    for (const el of document.body.querySelectorAll('*')) {
      const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== '');
      if (own) sizes.push(parseFloat(getComputedStyle(el).fontSize));
    }
    return Math.min(...sizes);
  });
}

test('the large-print HTML letter is at least 16 pt in a real browser', async () => {
  const page = await newPage(browser, server.base, report);
  const { email, password } = server.creds.referrer;
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/sign-in'));

  await page.goto(`${server.base}/referrals`);
  await page.getByRole('link', { name: 'Read the outcome for Ellen Morris' }).click();
  const patientLetter = await page.getByRole('link', { name: 'Letter to the patient', exact: true }).getAttribute('href');
  assert.match(patientLetter, /\/letters\/patient\?format=html$/);

  // 16 pt is 21.33 CSS px (1 pt = 4/3 px). Unstyled, every paragraph would be the browser's 16 px (12 pt).
  await page.goto(`${server.base}${patientLetter.replace('/letters/patient?', '/letters/patient-large-print?')}`);
  await page.getByRole('heading', { name: /large print/ }).waitFor();
  const dear = await page.getByText(/^Dear Ellen Morris/).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.ok(dear >= 16 * 4 / 3 - 0.01, `large-print body text is ${dear}px (${(dear * 0.75).toFixed(1)} pt)`);
  const smallest = await smallestTextPx(page);
  assert.ok(smallest >= 16 * 4 / 3 - 0.01, `the smallest large-print text is ${smallest}px (${(smallest * 0.75).toFixed(1)} pt)`);
  await check(page, report, 'letter-patient-large-print');

  // The standard letter's own style applies too: its body is 10.5 pt (14 px), not the browser's default.
  await page.goto(`${server.base}${patientLetter}`);
  const standard = await page.getByText(/^Dear Ellen Morris/).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.equal(standard, 14, `standard letter body text is ${standard}px`);

  // No style was refused by the Content-Security-Policy (it would be a console error).
  assert.deepEqual(report.consoleErrors, [], 'browser console errors');
  assert.deepEqual(report.external, [], 'requests outside the deployment');
  await page.context().close();
});
