// Production sign-in: OpenID Connect authorization code with PKCE (S256), public client (no
// secret). State, nonce and verifier wait in sessionStorage across the redirect.
import * as oauth from 'oauth4webapi';
import { t } from './i18n';

export interface OidcConfig {
  issuer: string;
  clientId: string;
  scopes?: string;
  redirectPath?: string;
}

const KEY = 'c360.oidc';

function loopback(u: URL): boolean {
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

function opts(issuer: URL): Record<symbol, boolean> {
  // plain http is accepted only for an identity provider on this machine (tests, development)
  return loopback(issuer) ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(cfg: OidcConfig): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(cfg.issuer);
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...opts(issuer) });
  return oauth.processDiscoveryResponse(issuer, res);
}

export function redirectUri(cfg: OidcConfig): string {
  return location.origin + (cfg.redirectPath || '/console/');
}

/** Leaves for the identity provider; `route` is where to come back to. */
export async function start(cfg: OidcConfig, route: string): Promise<void> {
  // PKCE hashes with WebCrypto, which browsers give only to https pages and localhost: a hub
  // reached over plain http by another address cannot sign anyone in, so say so.
  if (!window.isSecureContext || !crypto.subtle) {
    throw new Error(t(
      '登录需要通过 https（或本机 localhost）打开控制台：当前地址是不安全的 http。',
      'Sign-in needs the console opened over https (or on localhost): this address is plain http.',
    ));
  }
  const as = await discover(cfg);
  if (!as.authorization_endpoint) throw new Error('the identity provider has no authorization endpoint');
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  sessionStorage.setItem(KEY, JSON.stringify({ verifier, state, nonce, route }));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', cfg.clientId);
  url.searchParams.set('redirect_uri', redirectUri(cfg));
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', cfg.scopes || 'openid');
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', state);
  url.searchParams.set('nonce', nonce);
  location.assign(url.href);
}

/** True when the page was opened as the redirect back from the identity provider. */
export function isCallback(): boolean {
  const p = new URLSearchParams(location.search);
  return (p.has('code') || p.has('error')) && p.has('state');
}

/** Exchanges the code for tokens; returns the access token and the route to go back to. Cleans
 * the URL whatever happens. */
export async function finish(cfg: OidcConfig): Promise<{ accessToken: string; route: string }> {
  const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as
    | { verifier: string; state: string; nonce: string; route: string }
    | null;
  sessionStorage.removeItem(KEY);
  const current = new URL(location.href);
  const clean = () => {
    const keep = new URLSearchParams(location.search);
    for (const k of ['code', 'state', 'session_state', 'iss', 'error', 'error_description', 'scope']) keep.delete(k);
    const q = keep.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + (saved?.route || location.hash || ''));
  };
  try {
    if (!saved) throw new Error('no sign-in was started in this tab');
    const as = await discover(cfg);
    const client: oauth.Client = { client_id: cfg.clientId };
    const params = oauth.validateAuthResponse(as, client, current, saved.state);
    const res = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.None(),
      params,
      redirectUri(cfg),
      saved.verifier,
      opts(new URL(cfg.issuer)),
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, {
      expectedNonce: saved.nonce,
      requireIdToken: true,
    });
    return { accessToken: tokens.access_token, route: saved.route || '' };
  } finally {
    clean();
  }
}
