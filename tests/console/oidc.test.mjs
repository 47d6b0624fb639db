// Production sign-in: `c360 serve` in the production profile, trusting a local OpenID
// provider's RS256 keys through its JWKS, with the console's [console] issuer and
// client id; the console signs in with authorization code + PKCE (a public client, no
// secret) and loads a 360 view with the provider's access token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { coreCustomer, jwtClaims, startProductionHub, startSandbox } from './lib/hub.mjs';
import { openProvider } from './lib/oidc.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { capture, inSession, tid, waitReady } from './lib/console.mjs';

const SHOWCASE = '1000000001';

let sandbox;
let idp;
let hub;
let chrome;
let showcase;

before(async () => {
  sandbox = await startSandbox();
  idp = await openProvider();
  hub = await startProductionHub({ sandbox: sandbox.url, issuer: idp.issuer, jwksUrl: idp.jwksUri, clientId: idp.clientId, scopes: idp.scopes });
  // The relationship manager of the showcase customer, at its branch (the sandbox's own record).
  showcase = await coreCustomer(sandbox.url, SHOWCASE);
  await idp.configure({
    hubOrigin: new URL(hub.hub).origin,
    accounts: { 'rm.zhang': { role: 'relationship_manager', staff_id: showcase.RM_NO ?? 'S0001', branch_id: showcase.BRCH_NO } },
  });
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  await hub?.stop();
  await idp?.stop();
  await sandbox?.stop();
});

test('the production hub tells the console to sign in through the identity provider', async () => {
  const res = await fetch(`${hub.hub}/console/config.json`);
  assert.equal(res.status, 200, `GET /console/config.json answered ${res.status}`);
  const config = await res.json();
  assert.equal(config.profile, 'production');
  assert.equal(config.oidc?.issuer, idp.issuer);
  assert.equal(config.oidc?.clientId, idp.clientId);
  assert.equal(config.oidc?.scopes, idp.scopes);
  assert.ok(!('demoTokens' in config) || config.demoTokens == null, 'no demo tokens in production');
  assert.ok(!JSON.stringify(config).match(/secret/i), 'the console is given no client secret');
  const page = await fetch(`${hub.hub}/console/`);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, new RegExp(`connect-src[^;]*${idp.issuer.replace(/[.:/]/g, '\\$&')}`), `CSP lets the console reach the provider: ${csp}`);
});

test('sign-in through the local OpenID provider (code + PKCE), then a 360 view with its RS256 token', () =>
  inSession(chrome.browser, 'oidc', async ({ page }) => {
    await page.goto(`${hub.hub}/console/?lang=en#/customer/${SHOWCASE}`);
    await page.locator(tid('signin-oidc')).click();
    // The provider's login form, then its consent page.
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    await page.getByLabel('User name').fill('rm.zhang');
    await page.getByLabel('Password').fill('any password');
    await page.locator('#signin').click();
    await page.locator('#allow').click();
    // Back on the console, signed in, at the route asked for.
    await page.waitForURL((u) => u.href.startsWith(`${hub.hub}/console/`));
    await page.locator(tid('whoami')).waitFor({ timeout: 20_000 });
    assert.ok(!page.url().includes('code='), `the console cleans the code from the URL: ${page.url()}`);
    if (!/#\/customer\//.test(page.url())) await page.goto(`${hub.hub}/console/?lang=en#/customer/${SHOWCASE}`);
    await waitReady(page);
    assert.ok(await page.locator(tid('panel-identity')).isVisible(), 'panel-identity');
    assert.ok((await page.locator(tid('panel-identity')).innerText()).includes(showcase.CUST_NM), 'the RM sees the name (purpose SERVICE)');
    const token = await page.evaluate(() => sessionStorage.getItem('c360.token'));
    const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
    const claims = jwtClaims(token);
    assert.equal(header.alg, 'RS256');
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.aud, 'c360');
    assert.equal(claims.role, 'relationship_manager');
    assert.ok(idp.requests.some((r) => r.startsWith('POST /token')), 'the console exchanged the code at the token endpoint');
    assert.ok(idp.requests.some((r) => r.startsWith('GET /jwks')), 'the hub fetched the provider\'s keys');
    await capture(page, 'production-360');
  }));
