// Hash routes: #/search, #/customer/<cif>[/insights|/timeline|/contact], #/book, #/audit.
import { useEffect, useState } from 'preact/hooks';

export type Tab = 'overview' | 'insights' | 'timeline' | 'contact';
export type Route =
  | { name: 'home' }
  | { name: 'search' }
  | { name: 'customer'; cif: string; tab: Tab }
  | { name: 'book' }
  | { name: 'audit' }
  | { name: 'unknown'; hash: string };

const TABS: Tab[] = ['overview', 'insights', 'timeline', 'contact'];

export function parse(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const parts = h.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  if (parts.length === 0) return { name: 'home' };
  switch (parts[0]) {
    case 'search':
      return { name: 'search' };
    case 'book':
      return { name: 'book' };
    case 'audit':
      return { name: 'audit' };
    case 'customer':
      if (parts[1]) {
        const tab = (TABS as string[]).includes(parts[2] ?? '') ? (parts[2] as Tab) : 'overview';
        return { name: 'customer', cif: parts[1], tab };
      }
  }
  return { name: 'unknown', hash };
}

export function href(r: Route): string {
  switch (r.name) {
    case 'customer':
      return `#/customer/${encodeURIComponent(r.cif)}${r.tab === 'overview' ? '' : '/' + r.tab}`;
    case 'unknown':
      return r.hash;
    case 'home':
      return '#/';
    default:
      return `#/${r.name}`;
  }
}

export function go(r: Route | string, replace = false): void {
  const h = typeof r === 'string' ? r : href(r);
  if (replace) {
    history.replaceState(history.state, '', location.pathname + location.search + h);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else if (location.hash !== h) {
    location.hash = h;
  }
}

export function useRoute(): Route {
  const [r, set] = useState<Route>(() => parse(location.hash));
  useEffect(() => {
    const f = () => set(parse(location.hash));
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  return r;
}
