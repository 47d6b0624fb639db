// Headless Chromium (Debian's package) through playwright-core, one browser for the
// suite, a fresh context per test; every request a page makes is recorded and checked
// to stay on this machine; screenshots go to docs/console/; axe-core audits a screen.
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO } from './hub.mjs';

export const CHROMIUM = process.env.C360_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = join(REPO, 'docs', 'console');
export const VIEWPORT = { width: 1280, height: 800 };

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Chromium for the whole suite. `chromium.launch` gives it a fresh user-data-dir of its
 * own (a new temporary profile, removed on close; playwright refuses --user-data-dir in
 * `args`), and each test gets an isolated context from `newSession`.
 */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set C360_CHROMIUM)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
    timeout: 60_000,
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
    },
  };
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a URL stays on this machine (data:, blob: and about: never leave it). */
export function isLocal(url) {
  const u = new URL(url);
  if (['data:', 'blob:', 'about:', 'chrome-error:'].includes(u.protocol)) return true;
  return LOCAL_HOSTS.has(u.hostname);
}

/**
 * A fresh context and page at 1280x800. `session.requests` lists every URL the page
 * asked for (HTTP and WebSocket); `session.external()` those that would leave the
 * machine; `session.problems` the page's uncaught errors and console errors.
 */
export async function newSession(browser, { lang = 'en' } = {}) {
  // The browser runs in UTC, not in Beijing: the console must show Beijing time itself.
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, locale: lang === 'en' ? 'en-US' : 'zh-CN', timezoneId: 'UTC' });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(30_000);
  const requests = [];
  const problems = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('websocket', (ws) => requests.push(ws.url()));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  return {
    context,
    page,
    requests,
    problems,
    external: () => requests.filter((u) => !isLocal(u)),
    async close() {
      await context.close().catch(() => {});
    },
  };
}

/** docs/console/<name>.png of the viewport (1280x800). */
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  // Nothing blinking or mid-transition in the picture.
  await page.evaluate(() => document.fonts?.ready).catch(() => {});
  await page.screenshot({ path: join(SHOTS, `${name}.png`), animations: 'disabled', caret: 'hide' });
}

/**
 * axe-core on the current screen. The console's CSP (script-src 'self') refuses an
 * inline <script>, so page.addScriptTag({content}) cannot load axe. We evaluate the
 * source through the DevTools protocol (page.evaluate), which CSP does not govern,
 * rather than opening the context with bypassCSP: the page audited keeps the policy
 * it has in production, so a screen that only works without its CSP is not hidden.
 * Returns the violations; serious and critical ones are the caller's failure.
 */
export async function axeCheck(page, label) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + (n.failureSummary ? ` — ${n.failureSummary.split('\n').slice(1).join(' ').trim()}` : '')),
    }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = result.filter((v) => !bad.includes(v));
  for (const v of minor) console.log(`axe [${label}] ${v.impact}: ${v.id} (${v.help}) ${v.nodes.join(' | ')}`);
  return { bad, minor, all: result };
}

/** A readable message for violations. */
export function describeViolations(vs) {
  return vs.map((v) => `${v.impact} ${v.id}: ${v.help}\n    ${v.nodes.join('\n    ')}`).join('\n');
}
