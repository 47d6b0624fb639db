// Language of the console: zh-CN by default, English by the switch (or ?lang=en at load).
import { useEffect, useState } from 'preact/hooks';

export type Lang = 'zh-CN' | 'en';

const KEY = 'c360.lang';
const listeners = new Set<(l: Lang) => void>();

function parse(v: string | null | undefined): Lang | null {
  if (!v) return null;
  const s = v.toLowerCase();
  if (s === 'en' || s.startsWith('en-')) return 'en';
  if (s === 'zh' || s === 'zh-cn' || s.startsWith('zh-')) return 'zh-CN';
  return null;
}

function initial(): Lang {
  try {
    const fromUrl = parse(new URLSearchParams(location.search).get('lang'));
    if (fromUrl) {
      localStorage.setItem(KEY, fromUrl);
      return fromUrl;
    }
    return parse(localStorage.getItem(KEY)) ?? 'zh-CN';
  } catch {
    return 'zh-CN';
  }
}

let current: Lang = initial();
if (typeof document !== 'undefined') document.documentElement.lang = current;

/** Pick the string for the current language. */
export function t(zh: string, en: string): string {
  return current === 'en' ? en : zh;
}

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  if (l === current) return;
  current = l;
  try {
    localStorage.setItem(KEY, l);
  } catch {
    /* private mode: the switch still works for this page */
  }
  document.documentElement.lang = l;
  for (const f of [...listeners]) f(l);
}

/** Re-render the calling component when the language switches. */
export function useLang(): Lang {
  const [l, set] = useState<Lang>(current);
  useEffect(() => {
    const f = (x: Lang) => set(x);
    listeners.add(f);
    if (l !== current) set(current);
    return () => {
      listeners.delete(f);
    };
  }, []);
  return l;
}
