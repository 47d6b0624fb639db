// Live updates over WebSocket: `graphql-transport-ws` on /graphql/ws (graphql-ws client).
//
// One client for the page, lazy (it connects on the first subscription and closes after
// the last one), with a bounded number of reconnection attempts. The access token goes in
// connection_init's payload (browsers cannot set headers on a WebSocket) and is read at
// each (re)connection, so a reconnect after signing in again uses the new token.
//
// The hub closes the socket with 4403 when the token expires; 4401 is graphql-transport-ws's
// "unauthorized"; a connection_init the hub refuses (expired or invalid token) is closed by
// async-graphql with 1002 and the reason ("the token's signature is invalid", ...). Each
// means the session ended: session.expired() shows sign-in again (drafts kept) and the
// client is dropped, so that no retry runs with the dead token.
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import { PURPOSE } from './api';
import type { GqlError } from './api';
import * as session from './session';

/** What a live view shows: connecting (or reconnecting), open, closed (gave up / ended). */
export type LiveState = 'connecting' | 'open' | 'closed';

const SESSION_ENDED = [4401, 4403];
const RETRY_ATTEMPTS = 5;
/** graphql-transport-ws has no acknowledgement of a `subscribe` message: the server starts
 * the stream once it has read it. A subscription reports `open` this long after the
 * connection is acknowledged, by which time the subscribe message, sent right after the
 * ack, has been read; a contact logged after `open` is then delivered. */
const OPEN_SETTLE_MS = 150;

let client: Client | null = null;
let clientToken: string | null = null;
let state: LiveState = 'closed';
const stateListeners = new Set<(s: LiveState) => void>();

function setState(s: LiveState): void {
  state = s;
  for (const f of [...stateListeners]) f(s);
}

export function wsUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/graphql/ws`;
}

function sessionEnded(e: unknown): boolean {
  const code = closeCode(e);
  if (code === undefined) return false;
  if (SESSION_ENDED.includes(code)) return true;
  const reason = e && typeof e === 'object' && 'reason' in e ? String((e as { reason: unknown }).reason) : '';
  return code === 1002 && /token|bearer|authenticat|expired|signature/i.test(reason);
}

function closeCode(e: unknown): number | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'number') {
    return (e as { code: number }).code;
  }
  return undefined;
}

function drop(): void {
  const c = client;
  client = null;
  clientToken = null;
  if (c) void c.dispose();
  setState('closed');
}

function ensureClient(): Client | null {
  const tok = session.token();
  if (!tok) return null;
  if (client && clientToken === tok) return client;
  if (client) drop();
  const c = createClient({
    url: wsUrl(),
    lazy: true,
    lazyCloseTimeout: 1000,
    retryAttempts: RETRY_ATTEMPTS,
    keepAlive: 20_000,
    connectionParams: () => {
      const now = session.token();
      // The purpose goes with the token: a browser cannot set WebSocket headers.
      return now ? { Authorization: `Bearer ${now}`, 'X-C360-Purpose': PURPOSE } : {};
    },
    // retry on dropped connections, never once the hub said the session is over
    shouldRetry: (e) => !sessionEnded(e),
    on: {
      connecting: () => {
        if (client === c) setState('connecting');
      },
      connected: () => {
        if (client === c) setState('open');
      },
      closed: (e) => {
        if (client !== c) return;
        if (sessionEnded(e)) {
          drop();
          session.expired();
          return;
        }
        setState('closed');
      },
    },
  });
  client = c;
  clientToken = tok;
  return c;
}

// Signing out or in again: the connection belongs to the old token.
session.subscribe(() => {
  if (client && session.token() !== clientToken) drop();
});

/** The connection's state right now. */
export function liveState(): LiveState {
  return state;
}

/**
 * Starts a subscription. `onNext` gets each result's data with its errors (a field the
 * role may not read comes as null with a FORBIDDEN error at its path); `onState` follows
 * the connection (immediately called with the current state). Returns the function that
 * stops it.
 */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  onNext: (data: T, errors: GqlError[]) => void,
  onState?: (s: LiveState, error?: GqlError) => void,
): () => void {
  const c = ensureClient();
  if (!c) {
    onState?.('closed');
    return () => {};
  }
  let stopped = false;
  let settle: ReturnType<typeof setTimeout> | undefined;
  const report = (s: LiveState) => {
    if (stopped) return;
    if (settle) clearTimeout(settle);
    settle = undefined;
    if (s === 'open') {
      onState?.('connecting');
      settle = setTimeout(() => {
        settle = undefined;
        if (!stopped && state === 'open') onState?.('open');
      }, OPEN_SETTLE_MS);
    } else {
      onState?.(s);
    }
  };
  stateListeners.add(report);
  report(state === 'closed' ? 'connecting' : state);
  const stop = c.subscribe<T>(
    { query, variables },
    {
      next: (r) => {
        if (stopped) return;
        const errors = (r.errors ?? []) as unknown as GqlError[];
        if (r.data) onNext(r.data as T, errors);
        else if (errors.length) {
          // the operation was refused (FORBIDDEN, UNAUTHENTICATED...): it will not stream
          if (errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) session.expired();
          stateListeners.delete(report);
          onState?.('closed', errors[0]);
        }
      },
      error: (e) => {
        if (stopped) return;
        stateListeners.delete(report);
        if (settle) clearTimeout(settle);
        const list = Array.isArray(e) ? (e as GqlError[]) : [];
        onState?.('closed', list[0]);
      },
      complete: () => {
        if (stopped) return;
        stateListeners.delete(report);
        if (settle) clearTimeout(settle);
        onState?.('closed');
      },
    },
  );
  return () => {
    stopped = true;
    if (settle) clearTimeout(settle);
    stateListeners.delete(report);
    stop();
  };
}
