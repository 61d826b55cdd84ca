// Helpers for the browser journeys: start `telederm demo` on a free port with a fresh data dir,
// launch Debian's Chromium through playwright-core, run axe-core on each page, take screenshots,
// and fail on any request that leaves the deployment.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, mkdirSync, existsSync, rmSync, cpSync, statSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const screenshotDir = join(here, 'screenshots');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function telederm() {
  const bin = process.env.TELEDERM_BIN || join(here, '..', 'target', 'debug', 'telederm');
  if (!existsSync(bin)) throw new Error(`no telederm binary at ${bin}: build it (cargo build -p telederm) or set TELEDERM_BIN`);
  return bin;
}

/**
 * A data directory `telederm demo` seeded and then stopped, shared by the journeys of one build of
 * the binary on one UTC day: each journey starts from a copy, the same demo data without paying
 * for the seeding (about 10 s of photo processing) again. The test files run one at a time
 * (--test-concurrency=1); the template still appears by an atomic rename.
 */
async function demoTemplate() {
  const bin = telederm();
  const { mtimeMs, size } = statSync(bin);
  const root = join(tmpdir(), 'telederm-e2e-templates');
  const dir = join(root, `${Math.round(mtimeMs)}-${size}-${new Date().toISOString().slice(0, 10)}`);
  if (existsSync(join(dir, 'ready'))) return dir;
  mkdirSync(root, { recursive: true });
  const partial = join(root, `partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  const seeding = await startDemo(partial);
  await seeding.stop({ keep: true });
  writeFileSync(join(partial, 'ready'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return dir;
}

/** `telederm demo` on a fresh copy of the demo's seeded data. */
export async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), 'telederm-e2e-'));
  cpSync(await demoTemplate(), dataDir, { recursive: true, filter: (src) => !src.endsWith('/ready') });
  return startDemo(dataDir);
}

async function startDemo(dataDir) {
  const bin = telederm();
  const port = await freePort();
  const child = spawn(bin, ['demo'], {
    env: { ...process.env, TELEDERM_DATA_DIR: dataDir, TELEDERM_BIND: `127.0.0.1:${port}`, RUST_LOG: process.env.RUST_LOG || 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`telederm demo exited early:\n${log}`);
    try { if ((await fetch(`${base}/healthz`)).ok && existsSync(join(dataDir, 'demo-credentials.txt'))) break; } catch { /* not yet */ }
    if (Date.now() - started > 120_000) throw new Error(`telederm demo did not start in 120 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const creds = {};
  for (const line of readFileSync(join(dataDir, 'demo-credentials.txt'), 'utf8').split('\n')) {
    const [role, email, password] = line.trim().split(/\s+/);
    if (role && password) creds[role] = { email, password };
  }
  return {
    base, creds, dataDir, log: () => log,
    async stop({ keep = false } = {}) {
      if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

/** A page that records every request leaving the deployment, and every page's axe results. */
export async function newPage(browser, base, report, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(base) && !url.startsWith('data:') && !url.startsWith('blob:')) report.external.push(url);
  });
  // A 422 re-render of a form with its errors is expected; any other console error is not.
  page.on('console', (msg) => { if (msg.type() === 'error' && !/status of 422/.test(msg.text())) report.consoleErrors.push(`${page.url()}: ${msg.text()}`); });
  page.on('pageerror', (err) => report.consoleErrors.push(`${page.url()}: ${err.message}`));
  return page;
}

export function newReport() {
  return { external: [], consoleErrors: [], axe: [], screenshots: [] };
}

/** Runs axe-core (WCAG 2.x A/AA rules) and takes a full-page screenshot named `name`. */
export async function check(page, report, name) {
  await page.waitForLoadState('load');
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  for (const v of result) report.axe.push({ page: name, ...v });
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${String(report.screenshots.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  report.screenshots.push(path);
}

/** Test photos drawn in the browser: skin-toned texture with sharp detail, optionally blurred. */
export async function makePhotos(browser, dir) {
  const page = await browser.newPage();
  const make = async (name, blur, seed) => {
    const dataUrl = await page.evaluate(({ blur, seed }) => {
      let s = seed;
      const rnd = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
      const c = document.createElement('canvas');
      c.width = 2400; c.height = 1800;
      const g = c.getContext('2d');
      g.fillStyle = '#d9a47f'; g.fillRect(0, 0, 2400, 1800);
      for (let i = 0; i < 5000; i++) {
        g.fillStyle = `rgb(${150 + rnd() * 90},${80 + rnd() * 70},${60 + rnd() * 60})`;
        g.fillRect(rnd() * 2400, rnd() * 1800, 2 + rnd() * 10, 2 + rnd() * 10);
      }
      g.strokeStyle = '#7a3b2e'; g.lineWidth = 3;
      for (let i = 0; i < 300; i++) { g.beginPath(); g.moveTo(rnd() * 2400, rnd() * 1800); g.lineTo(rnd() * 2400, rnd() * 1800); g.stroke(); }
      g.fillStyle = '#a0442f'; g.beginPath(); g.ellipse(1200, 900, 380, 260, 0.3, 0, Math.PI * 2); g.fill();
      if (blur) {
        const c2 = document.createElement('canvas'); c2.width = 2400; c2.height = 1800;
        const g2 = c2.getContext('2d'); g2.filter = 'blur(14px)'; g2.drawImage(c, 0, 0);
        return c2.toDataURL('image/jpeg', 0.9);
      }
      return c.toDataURL('image/jpeg', 0.9);
    }, { blur, seed });
    const { writeFileSync } = await import('node:fs');
    const path = join(dir, name);
    writeFileSync(path, Buffer.from(dataUrl.split(',')[1], 'base64'));
    return path;
  };
  const photos = {
    sharp1: await make('sharp-1.jpg', false, 11),
    sharp2: await make('sharp-2.jpg', false, 22),
    sharp3: await make('sharp-3.jpg', false, 33),
    sharp4: await make('sharp-4.jpg', false, 44),
    sharp5: await make('sharp-5.jpg', false, 55),
    blurred: await make('blurred.jpg', true, 66),
  };
  await page.close();
  return photos;
}

/** A valid NHS number (Modulus 11) from a seed, for patients the tests create. */
export function nhsNumber(seed) {
  for (let n = seed; ; n++) {
    const nine = String(100000000 + (n % 800000000)).slice(0, 9);
    let sum = 0;
    for (let i = 0; i < 9; i++) sum += Number(nine[i]) * (10 - i);
    let check = 11 - (sum % 11);
    if (check === 11) check = 0;
    if (check !== 10 && !/^(\d)\1+$/.test(nine)) return nine + check;
  }
}
