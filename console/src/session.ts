// Who is signed in: the access token (sessionStorage 'c360.token'), the hub's `viewer`, drafts
// of what the user typed (kept across a session expiry), and the route to return to.
import { useEffect, useState } from 'preact/hooks';

export interface Viewer {
  subject: string;
  role: string;
  staffId: string | null;
  branchId: string | null;
  customerId: string | null;
  capabilities: string[];
  deniedClasses: string[];
  deniedFields: string[];
  pseudonymous: boolean;
  expiresAt: string;
}

const TOKEN = 'c360.token';
const RETURN = 'c360.return';
const ENDED = 'c360.ended';
const DRAFT = 'c360.draft.';

export type SessionState = { token: string | null; viewer: Viewer | null; ended: boolean };

const listeners = new Set<() => void>();
let currentViewer: Viewer | null = null;
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

function ss(): Storage | null {
  try {
    return sessionStorage;
  } catch {
    return null;
  }
}

function notify(): void {
  for (const f of [...listeners]) f();
}

export function token(): string | null {
  return ss()?.getItem(TOKEN) ?? null;
}

export function viewer(): Viewer | null {
  return currentViewer;
}

/** Re-renders on sign-in, sign-out and expiry. */
export function useViewer(): Viewer | null {
  const [, tick] = useState(0);
  useEffect(() => subscribe(() => tick((n) => n + 1)), []);
  return currentViewer;
}

/** Listen to session changes; returns the unsubscribe function. */
export function subscribe(f: () => void): () => void {
  listeners.add(f);
  return () => {
    listeners.delete(f);
  };
}

export function mayRead(coordinate: string): boolean {
  return !(currentViewer?.deniedFields ?? []).includes(coordinate);
}

export function denied(cls: string): boolean {
  return (currentViewer?.deniedClasses ?? []).includes(cls);
}

export function hasCapability(cap: string): boolean {
  return (currentViewer?.capabilities ?? []).includes(cap);
}

export function saveDraft(form: string, value: unknown): void {
  try {
    ss()?.setItem(DRAFT + form, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the draft lives only in the form */
  }
}

export function loadDraft<T>(form: string): T | null {
  const raw = ss()?.getItem(DRAFT + form);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

export function clearDraft(form: string): void {
  ss()?.removeItem(DRAFT + form);
}

/** True when the last session ended by expiry (the sign-in screen says so). */
export function sessionEnded(): boolean {
  return ss()?.getItem(ENDED) === '1';
}

/** The route to go back to after signing in again, if any (consumed). */
export function takeReturnRoute(): string | null {
  const r = ss()?.getItem(RETURN) ?? null;
  ss()?.removeItem(RETURN);
  return r;
}

export function rememberRoute(route: string): void {
  ss()?.setItem(RETURN, route);
}

/** Keep the access token; the shell then loads the viewer. */
export function setToken(tok: string): void {
  ss()?.setItem(TOKEN, tok);
  ss()?.removeItem(ENDED);
  notify();
}

/** The viewer loaded after sign-in; schedules expiry at expiresAt. */
export function setViewer(v: Viewer | null): void {
  currentViewer = v;
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
  if (v?.expiresAt) {
    const ms = new Date(v.expiresAt).getTime() - Date.now();
    if (!isNaN(ms)) {
      if (ms <= 0) {
        expired();
        return;
      }
      // setTimeout caps at 2^31-1 ms; a longer token is checked again on the next request
      if (ms < 2 ** 31 - 1) expiryTimer = setTimeout(expired, ms);
    }
  }
  notify();
}

/** The session has ended (401 from the hub, or expiresAt passed): keep drafts and the route,
 * forget the token, show sign-in again. */
export function expired(): void {
  const s = ss();
  if (!s) return;
  if (s.getItem(TOKEN) === null && currentViewer === null) return; // already signed out
  if (!s.getItem(RETURN)) s.setItem(RETURN, location.hash || '#/');
  s.setItem(ENDED, '1');
  s.removeItem(TOKEN);
  currentViewer = null;
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
  notify();
}

/** Sign out on purpose: drop the token, the drafts and the return route. */
export function signOut(): void {
  const s = ss();
  if (s) {
    for (let i = s.length - 1; i >= 0; i--) {
      const k = s.key(i);
      if (k && k.startsWith('c360.')) s.removeItem(k);
    }
  }
  currentViewer = null;
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
  notify();
}
