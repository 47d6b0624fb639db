#!/usr/bin/env node
// Dev server for the console, no dependencies: serves dist/ under /console/, proxies /graphql
// (HTTP and the /graphql/ws WebSocket upgrade) to a running hub, and answers
// /console/config.json itself when the hub does not serve it (404).
//
//   node dev.mjs --hub http://127.0.0.1:8080 [--port 0] [--host 127.0.0.1]
//                [--oidc-issuer http://127.0.0.1:PORT --oidc-client ID]   (production sign-in)
//
// Demo tokens for the synthesised config: C360_DEMO_TOKENS_JSON ('[{"role":"teller","token":"..."}]'
// or '{"teller":"..."}'), else `$C360_BIN token --role R` per role (C360_BIN defaults to `c360`).
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : fallback;
}

const hub = new URL(arg('hub', process.env.C360_HUB || 'http://127.0.0.1:8080'));
const port = Number(arg('port', process.env.PORT || '5173'));
const host = arg('host', '127.0.0.1');
// production-style sign-in against an identity provider (e.g. a local test provider)
const oidcIssuer = arg('oidc-issuer', process.env.C360_OIDC_ISSUER || '');
const oidcClient = arg('oidc-client', process.env.C360_OIDC_CLIENT_ID || 'c360-console');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self' data:; connect-src 'self' ws: wss: http://127.0.0.1:* http://localhost:*; " +
  "form-action 'self' http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'; base-uri 'none'";

const ROLES = ['teller', 'relationship_manager', 'branch_manager', 'risk_officer', 'customer', 'auditor', 'admin'];
let demoTokens = null;
function tokens() {
  if (demoTokens) return demoTokens;
  const env = process.env.C360_DEMO_TOKENS_JSON;
  if (env) {
    const v = JSON.parse(env);
    demoTokens = Array.isArray(v) ? v : Object.entries(v).map(([role, token]) => ({ role, token }));
    return demoTokens;
  }
  const bin = process.env.C360_BIN || 'c360';
  demoTokens = [];
  for (const role of ROLES) {
    const args = ['token', '--role', role, '--ttl', '8h'];
    if (role === 'customer') args.push('--customer', '1000000001');
    const r = spawnSync(bin, args, { encoding: 'utf8', env: { C360_PROFILE: 'demo', ...process.env } });
    const tok = (r.stdout || '').trim().split('\n').pop();
    if (r.status === 0 && tok) demoTokens.push({ role, token: tok });
    else console.error(`dev: ${bin} token --role ${role} failed: ${(r.stderr || r.error || '').toString().trim()}`);
  }
  return demoTokens;
}

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function serveFile(req, res, rel) {
  const file = normalize(join(dist, rel));
  if (!file.startsWith(dist + sep) || !existsSync(file) || !statSync(file).isFile()) return send(res, 404, 'not found');
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] || 'application/octet-stream',
    'cache-control': 'no-cache',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).pipe(res);
}

function proxy(req, res, onStatus) {
  const headers = { ...req.headers, host: hub.host };
  const up = http.request(
    { hostname: hub.hostname, port: hub.port || 80, method: req.method, path: req.url, headers },
    (ur) => {
      if (onStatus && onStatus(ur)) return;
      res.writeHead(ur.statusCode || 502, ur.headers);
      ur.pipe(res);
    },
  );
  up.on('error', (e) => send(res, 502, `hub unreachable: ${e.message}`));
  req.pipe(up);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url || '/', 'http://x');
  const p = url.pathname;
  if (p === '/' || p === '/console') {
    res.writeHead(302, { location: '/console/' + url.search });
    return res.end();
  }
  if (p === '/graphql' || p.startsWith('/graphql/')) {
    // the GraphiQL page: the hub's own when it has it
    return proxy(req, res);
  }
  if (p === '/console/config.json' && oidcIssuer) {
    const body = { profile: 'production', oidc: { issuer: oidcIssuer, clientId: oidcClient, scopes: 'openid profile', redirectPath: '/console/' } };
    return send(res, 200, JSON.stringify(body), 'application/json');
  }
  if (p === '/console/config.json') {
    return proxy(req, res, (ur) => {
      if (ur.statusCode !== 404) return false;
      ur.resume();
      const body = oidcIssuer
        ? { profile: 'production', oidc: { issuer: oidcIssuer, clientId: oidcClient, scopes: 'openid profile', redirectPath: '/console/' } }
        : { profile: 'demo', oidc: null, demoTokens: tokens() };
      send(res, 200, JSON.stringify(body), 'application/json');
      return true;
    });
  }
  if (p === '/console/') return serveFile(req, res, 'index.html');
  if (p.startsWith('/console/')) return serveFile(req, res, decodeURIComponent(p.slice('/console/'.length)));
  send(res, 404, 'not found');
});

// WebSocket upgrade (graphql-transport-ws on /graphql/ws): pipe the raw sockets.
server.on('upgrade', (req, socket, head) => {
  const up = net.connect(Number(hub.port || 80), hub.hostname, () => {
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i];
      lines.push(`${k}: ${k.toLowerCase() === 'host' ? hub.host : req.rawHeaders[i + 1]}`);
    }
    up.write(lines.join('\r\n') + '\r\n\r\n');
    if (head && head.length) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  });
  const close = () => {
    up.destroy();
    socket.destroy();
  };
  up.on('error', close);
  socket.on('error', close);
  up.on('close', () => socket.destroy());
  socket.on('close', () => up.destroy());
});

server.listen(port, host, () => {
  const a = server.address();
  console.log(`c360 console dev: http://${host}:${a.port}/console/  (hub ${hub.origin})`);
});
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => server.close(() => process.exit(0)));
