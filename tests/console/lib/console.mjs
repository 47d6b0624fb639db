// Driving the console through the hooks of the contract (/work/console-contract.md,
// "Test hooks"): sign-in, navigation, the 360 view.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { axeCheck, describeViolations, newSession, screenshot } from './browser.mjs';
import { Proc } from './proc.mjs';

export const tid = (id) => `[data-testid="${id}"]`;

/**
 * Where the console under test is served, for a hub at `hub`: the hub's own /console/
 * (what CI tests). While developing the UI: C360_CONSOLE_DEV=<a console/ folder> starts
 * its dev server (`node dev.mjs --hub <hub> --port 0`) in front of this hub, or
 * C360_CONSOLE_URL names a console served elsewhere.
 * @returns {Promise<{base: string, stop: () => Promise<void>}>}
 */
export async function consoleFor(hub) {
  const dev = process.env.C360_CONSOLE_DEV;
  if (dev) {
    const proc = new Proc('console dev server', process.execPath, ['dev.mjs', '--hub', hub, '--port', '0', '--host', '127.0.0.1'], { cwd: dev });
    try {
      const url = await proc.waitFor((out) => out.match(/c360 console dev: (http:\/\/\S+)/)?.[1], 'its URL', 30_000);
      return { base: url.endsWith('/') ? url : `${url}/`, stop: () => proc.kill() };
    } catch (e) {
      await proc.kill();
      throw e;
    }
  }
  const url = process.env.C360_CONSOLE_URL || `${hub}/console/`;
  return { base: url.endsWith('/') ? url : `${url}/`, stop: async () => {} };
}

/** The console at `route` (a hash route), in English. */
export function consoleUrl(base, route = '#/') {
  return `${base}?lang=en${route}`;
}

/** Opens the console and signs in with the demo role's button; waits for the header. */
export async function signIn(page, base, role, route = '#/') {
  await page.goto(consoleUrl(base, route));
  await page.locator(tid(`signin-role-${role}`)).click();
  await page.locator(tid('whoami')).waitFor();
  assert.match(await page.locator(tid('whoami')).innerText(), new RegExp(role.replace('_', '[ _]'), 'i'), `whoami names the role ${role}`);
}

/** Waits until the 360 view has every panel's answer. */
export async function waitReady(page, timeout = 20_000) {
  await page.locator(`${tid('view-360')}[data-ready="true"]`).waitFor({ timeout });
}

/** Opens customer `cif`'s 360 view by its route and waits until it is ready. */
export async function openCustomer(page, base, cif) {
  await page.goto(consoleUrl(base, `#/customer/${cif}`));
  await waitReady(page);
}

/** Whether `testid` is in the page and visible. */
export async function visible(page, testid) {
  return page.locator(tid(testid)).first().isVisible();
}

/**
 * Runs `fn(session)` in a fresh browser context; afterwards fails on any request that
 * left this machine. On failure, writes the screen to $TMPDIR/c360-e2e-<name>.png and
 * prints the page's errors.
 */
export async function inSession(browser, name, fn) {
  const s = await newSession(browser);
  try {
    await fn(s);
    const external = s.external();
    assert.deepEqual(external, [], `requests that left this machine:\n${external.join('\n')}`);
  } catch (e) {
    const shot = join(tmpdir(), `c360-e2e-${name.replace(/\W+/g, '-')}.png`);
    await s.page.screenshot({ path: shot }).catch(() => {});
    let body = '';
    try {
      body = (await s.page.locator('body').innerText()).slice(0, 2000);
    } catch {
      /* page gone */
    }
    writeFileSync(`${shot}.txt`, `${s.page.url()}\n${s.problems.join('\n')}\n---\n${body}\n---\nrequests:\n${s.requests.join('\n')}`);
    const note = `\n  (page ${s.page.url()}; screen saved to ${shot}, its text to ${shot}.txt; page errors: ${s.problems.slice(0, 5).join(' | ') || 'none'})`;
    e.message += note;
    if (typeof e.stack === 'string') e.stack = e.stack.replace(/\n/, `${note}\n`);
    throw e;
  } finally {
    await s.close();
  }
}

/**
 * The screenshot docs/console/<name>.png (with `show` scrolled into view when given) and
 * an axe-core audit of the whole page: no serious or critical violation.
 */
export async function capture(page, name, show) {
  if (show) await show.evaluate((e) => e.scrollIntoView({ block: 'center' }));
  await screenshot(page, name);
  const { bad } = await axeCheck(page, name);
  assert.equal(bad.length, 0, `axe-core: serious or critical violations on ${name}:\n${describeViolations(bad)}`);
}
