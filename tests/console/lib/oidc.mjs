// A local OpenID provider (panva's oidc-provider) for the production sign-in: the
// bank's identity provider as the console meets it. Authorization code with PKCE for
// one public client (no secret), RS256 access tokens in JWT format for the audience
// `c360` carrying the claims the hub requires (src/auth/token.rs: iss, aud, exp, sub,
// role; staff_id and branch_id scope a member of staff), keys generated at start and
// published at the JWKS URI the hub is configured with.
//
// The login and consent pages are this module's own, not oidc-provider's development
// interactions: those import a web font from the internet, and the test fails on any
// request that leaves this machine.
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

/** The resource indicator of the hub's API; tokens for it name the audience `c360`. */
export const RESOURCE = 'urn:c360:graphql';
export const AUDIENCE = 'c360';
export const CLIENT_ID = 'c360-console';
/** What the console asks for: OpenID plus the hub's API scope. */
export const SCOPES = 'openid c360';

const page = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><main><h1>${title}</h1>${body}</main></body></html>`;

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      data += c;
      if (data.length > 10_000) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(data))));
    req.on('error', reject);
  });
}

/**
 * Listens on 127.0.0.1, port 0, so that the issuer (http://127.0.0.1:<port>) and its
 * JWKS URI are known before the hub starts; `configure` then sets the provider up for
 * the hub's origin (the client's redirect URI and the CORS origin), which is known only
 * once the hub runs. Until then every request is answered 503.
 */
export async function openProvider() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const requests = [];
  let handler = (_req, res) => res.writeHead(503).end('not configured yet');
  server.on('request', (req, res) => {
    requests.push(`${req.method} ${req.url.replace(/([?&](code|code_verifier|code_challenge|state)=)[^&]*/g, '$1…')}`);
    handler(req, res);
  });
  return {
    issuer,
    // oidc-provider's default route; `configure` checks discovery says the same.
    jwksUri: `${issuer}/jwks`,
    clientId: CLIENT_ID,
    scopes: SCOPES,
    requests,
    /**
     * @param {{hubOrigin: string, accounts: Record<string, {role: string, staff_id?: string, branch_id?: string, cif?: string}>}} opts
     *   `accounts`: login name -> the claims its access tokens carry.
     */
    async configure({ hubOrigin, accounts }) {
      handler = await providerHandler(issuer, { hubOrigin, accounts });
      const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
      if (discovery.jwks_uri !== this.jwksUri) throw new Error(`the provider's jwks_uri is ${discovery.jwks_uri}, not ${this.jwksUri}`);
      this.discovery = discovery;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

async function providerHandler(issuer, { hubOrigin, accounts }) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `e2e-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        application_type: 'web',
        token_endpoint_auth_method: 'none', // public client: the console holds no secret
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`${hubOrigin}/console/`],
      },
    ],
    jwks: { keys: [jwk] },
    pkce: { required: () => true },
    scopes: ['openid', 'c360'],
    claims: { openid: ['sub'] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    ttl: { AccessToken: 3600, AuthorizationCode: 120, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
    findAccount: async (_ctx, id) => (accounts[id] ? { accountId: id, claims: async () => ({ sub: id }) } : undefined),
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: 'c360',
            audience: AUDIENCE,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: async (_ctx, token) => {
      if (token.kind !== 'AccessToken') return undefined;
      const claims = accounts[token.accountId];
      return claims ? { ...claims } : undefined;
    },
    // The console on the hub's origin calls the token endpoint from the browser.
    clientBasedCORS: (_ctx, origin) => origin === hubOrigin,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<pre id="oidc-error">${Object.entries(out).map(([k, v]) => `${k}: ${String(v).replace(/</g, '&lt;')}`).join('\n')}</pre>`);
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));

  const callback = provider.callback();
  return async (req, res) => {
    const m = req.url.match(/^\/interaction\/([\w-]+)(\/(login|confirm))?/);
    if (!m) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const send = (html) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(html);
      };
      if (req.method === 'GET' && details.prompt.name === 'login') {
        return send(
          page(
            'Bank staff sign-in',
            `<form method="post" action="/interaction/${details.uid}/login">
  <p><label for="login">User name</label> <input id="login" name="login" autocomplete="username" required></p>
  <p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
  <p><button id="signin" type="submit">Sign in</button></p></form>`,
          ),
        );
      }
      if (req.method === 'GET' && details.prompt.name === 'consent') {
        return send(
          page(
            'Allow c360 console',
            `<p>The c360 console asks to act for you (scopes: ${details.params.scope}).</p>
<form method="post" action="/interaction/${details.uid}/confirm"><button id="allow" type="submit">Allow</button></form>`,
          ),
        );
      }
      if (req.method === 'POST' && m[3] === 'login') {
        const form = await readForm(req);
        if (!accounts[form.login] || !form.password) {
          return send(page('Bank staff sign-in', `<p role="alert">Unknown user ${String(form.login).replace(/</g, '&lt;')}</p>`));
        }
        return provider.interactionFinished(req, res, { login: { accountId: form.login } }, { mergeWithLastSubmission: false });
      }
      if (req.method === 'POST' && m[3] === 'confirm') {
        await readForm(req);
        const { prompt, params, session } = details;
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
        const d = prompt.details;
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
        const grantId = await grant.save();
        return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
      res.writeHead(405).end();
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${e.message}`);
    }
  };
}
