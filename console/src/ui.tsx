// Small shared pieces: "not available for your role", error banners, labelled fields, badges.
import { cloneElement, isValidElement, toChildArray } from 'preact';
import type { ComponentChildren, JSX, VNode } from 'preact';
import { isForbidden } from './api';
import type { GqlError } from './api';
import { t, useLang } from './i18n';

export function Forbidden(): JSX.Element {
  useLang();
  return (
    <span class="forbidden" data-testid="forbidden">
      {t('无权查看', 'Not available for your role')}
    </span>
  );
}

const SYSTEMS: Record<string, [string, string]> = {
  core: ['核心银行系统', 'Core banking'],
  cards: ['银行卡系统', 'The card system'],
  loans: ['贷款系统', 'The loan system'],
  channels: ['网银渠道系统', 'The online banking system'],
  crm: ['客户关系', 'CRM'],
};

/** The name of a source system for people. */
export function systemName(s: string): string {
  const n = SYSTEMS[s];
  return n ? t(n[0], n[1]) : s;
}

export function ErrorBanner(p: { error: GqlError }): JSX.Element {
  useLang();
  const ext = p.error.extensions ?? {};
  const src = typeof ext.source === 'string' ? ext.source : undefined;
  const code = typeof ext.code === 'string' ? ext.code : undefined;
  return (
    <div class="banner banner-error" role="alert">
      <strong>
        {src
          ? t(`${systemName(src)}暂时无法访问`, `${systemName(src)} is unavailable`)
          : t('请求失败', 'The request failed')}
      </strong>
      {code ? <code class="banner-code">{code}</code> : null}
      <span class="banner-msg">{p.error.message}</span>
    </div>
  );
}

/** A labelled control: <label for=id>, the error below it, aria-describedby/aria-invalid on the
 * control (the single child element is given id, aria-describedby and aria-invalid). */
export function Field(p: { id: string; label: string; error?: string; children: ComponentChildren }): JSX.Element {
  const errId = `${p.id}-error`;
  const kids = toChildArray(p.children).map((c) => {
    if (!isValidElement(c) || typeof (c as VNode).type !== 'string') return c;
    const v = c as VNode<Record<string, unknown>>;
    const extra: Record<string, unknown> = {};
    if (!v.props.id) extra.id = p.id;
    if (p.error) {
      extra['aria-describedby'] = [v.props['aria-describedby'], errId].filter(Boolean).join(' ');
      extra['aria-invalid'] = 'true';
    }
    return cloneElement(v, extra);
  });
  return (
    <div class={p.error ? 'field field-invalid' : 'field'}>
      <label for={p.id}>{p.label}</label>
      {kids}
      {p.error ? (
        <p id={errId} class="field-error" data-testid={`error-${p.id}`} role="alert">
          {p.error}
        </p>
      ) : null}
    </div>
  );
}

const BADGE_ICON: Record<string, string> = { live: '●', cache: '◐', stale: '▲', error: '✕' };

export function Badge(p: { kind: 'live' | 'cache' | 'stale' | 'error'; label: string }): JSX.Element {
  return (
    <span class={`badge badge-${p.kind}`}>
      <span aria-hidden="true">{BADGE_ICON[p.kind]} </span>
      {p.label}
    </span>
  );
}

export function Loading(): JSX.Element {
  useLang();
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {t('加载中…', 'Loading…')}
    </div>
  );
}

/** What went wrong with a screen's last request: a refusal in place, the hub's error, or a
 * failure that never reached GraphQL (the network, a 5xx). */
export function Problems(p: { error: GqlError | null; failed: string | null }): JSX.Element {
  return (
    <>
      {p.error ? isForbidden(p.error) ? <Forbidden /> : <ErrorBanner error={p.error} /> : null}
      {p.failed ? (
        <div class="banner banner-error" role="alert">
          {p.failed}
        </div>
      ) : null}
    </>
  );
}
