// The hubs under test: `c360 demo` (sandbox and hub in one process, a token per role)
// and the production pair `c360 sandbox` + `c360 serve` for the OpenID Connect sign-in.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { Proc, waitForHttp } from './proc.mjs';

/** The repository's root: the hub reads config/ and connectors/ from its working directory. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The c360 binary: $C360_BIN, else the debug build in $CARGO_TARGET_DIR. */
export function c360Bin() {
  const target = process.env.CARGO_TARGET_DIR || '/root/.cache/c360/target';
  const bin = process.env.C360_BIN || join(target, 'debug', 'c360');
  if (!existsSync(bin)) {
    throw new Error(`the c360 binary ${bin} does not exist: build it (cargo build) or set C360_BIN`);
  }
  return bin;
}

/** Keys the production profile refuses to start without (the values of tests/api/common). */
export const AUDIT_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
export const PSEUDONYM_KEY = 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=';

/** This process's environment without what would change a hub's profile, logging or stores. */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('C360_') || k.startsWith('OTEL_') || ['RUST_LOG', 'DATABASE_URL', 'REDIS_URL'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', RUST_LOG: 'warn', ...extra };
}

/** What `c360 demo` prints: hub and sandbox URLs and a token per role (src/demo/commands.rs). */
export function parseDemoBanner(stdout) {
  if (!/^\s*-d '/m.test(stdout)) return null; // the banner ends with the curl example's -d line
  const hub = stdout.match(/^\s*GraphQL:\s+(http:\/\/\S+)\/graphql/m);
  const sandbox = stdout.match(/^\s*Sandbox:\s+(http:\/\/[^/\s]+)\//m);
  if (!hub || !sandbox) throw new Error(`unexpected demo banner:\n${stdout}`);
  const tokens = {};
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => /^\s*Tokens\b/.test(l));
  for (const line of lines.slice(start + 1)) {
    const m = line.match(/^\s{3,}([a-z_]+)\s+(ey[\w-]+\.[\w-]+\.[\w-]+)\s*$/);
    if (!m) break;
    tokens[m[1]] = m[2];
  }
  if (Object.keys(tokens).length === 0) throw new Error(`no tokens in the demo banner:\n${stdout}`);
  return { hub: hub[1], sandbox: sandbox[1], tokens };
}

/**
 * `c360 demo` on port 0 with 2,000 customers and a scratch SQLite database.
 * @returns {Promise<{hub: string, sandbox: string, tokens: Record<string,string>, proc: Proc, stop: () => Promise<void>}>}
 */
export async function startDemo({ customers = 2000 } = {}) {
  const bin = c360Bin();
  const data = mkdtempSync(join(tmpdir(), 'c360-console-e2e-'));
  const proc = new Proc('c360 demo', bin, ['demo', '--port', '0', '--sandbox-port', '0', '--customers', String(customers), '--data-dir', data], {
    cwd: REPO,
    env: cleanEnv({}),
  });
  const stop = async () => {
    await proc.kill();
    rmSync(data, { recursive: true, force: true });
  };
  try {
    const banner = await proc.waitFor(parseDemoBanner, 'its banner (hub URL, sandbox URL, tokens)', 60_000);
    await waitForHttp(`${banner.hub}/readyz`, proc, 60_000);
    return { ...banner, proc, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** `c360 sandbox` on port 0 (the four systems alone, for a production hub). */
export async function startSandbox({ customers = 2000 } = {}) {
  const proc = new Proc('c360 sandbox', c360Bin(), ['sandbox', '--port', '0', '--customers', String(customers)], {
    cwd: REPO,
    env: cleanEnv({}),
  });
  try {
    const url = await proc.waitFor((out) => out.match(/^c360 sandbox: (http:\/\/[^/\s]+)\//m)?.[1], 'its banner', 60_000);
    return { url, proc, stop: () => proc.kill() };
  } catch (e) {
    await proc.kill();
    throw e;
  }
}

/**
 * `c360 serve` in the production profile: tokens from `issuer`'s JWKS, the systems at
 * `sandbox`, a scratch SQLite database, the console's OpenID Connect settings.
 * `serve --port 0` prints `c360 hub: http://ADDR/graphql` (src/commands.rs).
 */
export async function startProductionHub({ sandbox, issuer, jwksUrl, clientId, scopes }) {
  const data = mkdtempSync(join(tmpdir(), 'c360-console-e2e-prod-'));
  const env = cleanEnv({
    C360_PROFILE: 'production',
    // config/production.toml binds 0.0.0.0; the test stays on loopback, and a console
    // opened at http://0.0.0.0 is not a secure context (no crypto.subtle for PKCE).
    C360_SERVER__HOST: '127.0.0.1',
    C360_AUTH__ISSUER: issuer,
    C360_AUTH__AUDIENCE: 'c360',
    C360_AUTH__JWKS_URL: jwksUrl,
    C360_ACCESS__AUDIT_CHAIN_KEYS__K1: AUDIT_KEY,
    C360_BI__PSEUDONYM_KEY: PSEUDONYM_KEY,
    DATABASE_URL: `sqlite://${data}/c360.db`,
    C360_CONSOLE__ISSUER: issuer,
    C360_CONSOLE__CLIENT_ID: clientId,
    C360_CONSOLE__SCOPES: scopes,
  });
  for (const system of ['core', 'cards', 'loans', 'channels']) {
    env[`C360_CONNECTORS__${system.toUpperCase()}__BASE_URL`] = `${sandbox}/${system}/v1`;
  }
  const proc = new Proc('c360 serve (production)', c360Bin(), ['serve', '--port', '0'], { cwd: REPO, env });
  const stop = async () => {
    await proc.kill();
    rmSync(data, { recursive: true, force: true });
  };
  try {
    const hub = await proc.waitFor((out) => out.match(/^c360 hub: (http:\/\/\S+)\/graphql/m)?.[1], 'its banner (c360 hub: URL)', 60_000);
    await waitForHttp(`${hub}/readyz`, proc, 60_000);
    return { hub, proc, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** `c360 token --role ROLE --ttl TTL` in the demo profile: a development token. */
export function mintToken(args) {
  const out = spawnSync(c360Bin(), ['token', ...args], { cwd: REPO, env: cleanEnv({ C360_PROFILE: 'demo' }), encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`c360 token ${args.join(' ')} failed:\n${out.stderr}`);
  return out.stdout.trim();
}

/** POST /graphql as the console does (bearer token, purpose SERVICE). */
export async function gql(hub, token, query, variables) {
  const res = await fetch(`${hub}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${token}`,
      'x-c360-purpose': 'SERVICE',
    },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`POST /graphql answered ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, ...body, errors: body.errors ?? [] };
}

/** The sandbox's core record of a customer (docs/sandbox.md): name, ID number, mobile, branch, RM. */
export async function coreCustomer(sandbox, cif) {
  const res = await fetch(`${sandbox}/core/v1/customers/${cif}`);
  const body = await res.json();
  if (body?.header?.retCode !== '000000') throw new Error(`sandbox core: customer ${cif}: ${JSON.stringify(body)}`);
  return body.body;
}

/** A gauge or counter of the hub's /metrics (the sum over its label sets). */
export async function metric(hub, name) {
  const text = await (await fetch(`${hub}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = line.match(/^(\w+)(\{[^}]*\})?\s+(\S+)$/);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/** Polls /metrics until `predicate(value)` holds for `name`; fails after `timeoutMs`. */
export async function waitForMetric(hub, name, predicate, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let value;
  while (Date.now() < deadline) {
    value = await metric(hub, name);
    if (predicate(value)) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: ${name} is still ${value} after ${timeoutMs / 1000} s`);
}

/** The sandbox's core accounts of a customer (BAL, CCY... as decimal strings). */
export async function coreAccounts(sandbox, cif) {
  const body = await (await fetch(`${sandbox}/core/v1/customers/${cif}/accounts`)).json();
  if (body?.header?.retCode !== '000000') throw new Error(`sandbox core: accounts of ${cif}: ${JSON.stringify(body)}`);
  return body.body.ACCT_LIST;
}

/** A decimal string as the console shows CNY: "¥1,234,567.80" (no float on the way). */
export function cny(decimal) {
  const [int, frac = ''] = decimal.split('.');
  const f = frac.replace(/0+$/, '').padEnd(2, '0');
  return `¥${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`;
}

/** An RFC 3339 instant as "YYYY-MM-DD HH:mm" in Beijing time (UTC+8, no daylight saving). */
export function beijing(rfc3339) {
  return new Date(new Date(rfc3339).getTime() + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');
}

/** Sets (or with `null` clears) the sandbox's faults: POST/DELETE /_sandbox/faults. */
export async function sandboxFault(sandbox, fault) {
  const res = fault
    ? await fetch(`${sandbox}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fault) })
    : await fetch(`${sandbox}/_sandbox/faults`, { method: 'DELETE' });
  if (!res.ok) throw new Error(`sandbox faults: HTTP ${res.status} ${await res.text()}`);
}

/** The claims of a JWT (no verification: to read what the hub was given). */
export function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}
