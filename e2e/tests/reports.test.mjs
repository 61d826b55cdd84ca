// Reports in a real browser (issue 17): each report page reached from the role's menu, its charts
// drawn as SVG without JavaScript, axe clean, with screenshots of the charts.
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

async function signIn(page, who) {
  const { email, password } = server.creds[who];
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/sign-in'));
}

test('a GP opens their practice report from the menu', async () => {
  const page = await newPage(browser, server.base, report);
  await signIn(page, 'referrer');
  await page.getByRole('link', { name: 'Reports', exact: true }).click();
  await page.getByRole('heading', { name: 'Reports', level: 1 }).waitFor();
  await check(page, report, 'reports-gp-index');
  await page.locator('[data-report-link="practice-quality"]').click();
  await page.getByRole('heading', { name: 'Referral quality by practice' }).waitFor();
  // The demo practice's own figures, beside the service, with the chart and its table.
  assert.equal(await page.locator('[data-practice]').count(), 1);
  assert.ok(await page.locator('svg.app-chart').count() >= 1, 'a chart');
  assert.ok(await page.locator('table[data-table="practice-figures"] tbody tr').count() >= 10);
  await check(page, report, 'reports-gp-practice-quality');
  await page.close();
});

test('a service admin opens the dashboard, equity and practice reports', async () => {
  const page = await newPage(browser, server.base, report);
  await signIn(page, 'service_admin');
  await page.getByRole('link', { name: 'Reports', exact: true }).click();
  await page.getByRole('heading', { name: 'Reports', level: 1 }).waitFor();
  await check(page, report, 'reports-admin-index');

  const dashboard = page.locator('a[data-report-link="service"][href*="hackney-rash"]');
  await dashboard.click();
  await page.getByRole('heading', { name: /^Service dashboard/ }).waitFor();
  assert.equal(await page.locator('svg.app-chart').count(), await page.locator('figure[data-chart] svg').count());
  assert.ok(await page.locator('svg.app-chart').count() >= 3, 'volumes, within target and turnaround at least');
  assert.ok(await page.locator('table[data-table="weeks"] tbody tr').count() >= 12, 'a row per week of the 90 days');
  // The CSV of a chart downloads.
  const csv = await page.evaluate(async (href) => (await fetch(href)).text(), await page.locator('a[data-csv="turnaround"]').getAttribute('href'));
  assert.match(csv, /^working_days,referrals\r\n0,/);
  await check(page, report, 'reports-service-dashboard');

  await page.goto(`${server.base}/reports`);
  await page.locator('a[data-report-link="equity"][href*="hackney-rash"]').click();
  await page.getByRole('heading', { name: /^Equity monitoring/ }).waitFor();
  assert.ok(await page.locator('[data-method]').count() === 1, 'the method is explained on the page');
  await check(page, report, 'reports-equity');

  await page.goto(`${server.base}/reports`);
  await page.locator('a[data-report-link="practice-quality"]').click();
  await page.getByRole('heading', { name: 'Referral quality by practice' }).waitFor();
  assert.ok(await page.locator('table[data-table="practices"] tbody tr[data-practice-row]').count() >= 1);
  await check(page, report, 'reports-admin-practices');
  await page.close();
});

test('report pages: no serious or critical accessibility violations, nothing loaded from outside', () => {
  const bad = report.axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], 'axe serious/critical violations');
  assert.deepEqual(report.external, [], 'requests outside the deployment');
  assert.deepEqual(report.consoleErrors, [], 'console errors');
});
