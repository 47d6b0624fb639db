// The shell: configuration, sign-in (demo roles or OpenID Connect), the viewer, header and routes.
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { gql, HubError, SessionExpired } from './api';
import { lang, setLang, t, useLang } from './i18n';
import { label } from './labels';
import * as oidc from './oidc';
import { go, href, parse, useRoute } from './router';
import type { Route } from './router';
import * as session from './session';
import type { Viewer } from './session';
import { Loading } from './ui';
import { Search } from './views/search';
import { Customer360 } from './views/customer';
import { Book } from './screens/book';
import { Audit } from './screens/audit';

interface Config {
  profile: 'demo' | 'production' | string;
  oidc: oidc.OidcConfig | null;
  demoTokens?: { role: string; token: string }[];
}

const VIEWER_QUERY =
  'query Viewer { viewer { subject role staffId branchId customerId capabilities deniedClasses deniedFields pseudonymous expiresAt } }';

/** Until the hub has `viewer`: what the token says, with the denials of config/policies.toml the
 * console needs to decide what to offer. The hub still enforces everything. */
const FALLBACK_DENIED: Record<string, string[]> = {
  teller: ['insights'],
  risk_officer: ['deposits', 'channels', 'contact_history', 'consents'],
  customer: ['insights', 'staff'],
};

function decodeJwt(tok: string): Record<string, unknown> {
  const part = tok.split('.')[1] ?? '';
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4);
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function viewerFromToken(tok: string): Viewer {
  const c = decodeJwt(tok);
  const s = (k: string) => (typeof c[k] === 'string' ? (c[k] as string) : null);
  const role = s('role') ?? 'unknown';
  const exp = typeof c.exp === 'number' ? new Date(c.exp * 1000).toISOString() : new Date(Date.now() + 3600e3).toISOString();
  return {
    subject: s('sub') ?? '',
    role,
    staffId: s('staff_id'),
    branchId: s('branch_id'),
    customerId: s('cif'),
    capabilities: role === 'auditor' ? ['read_audit'] : [],
    deniedClasses: FALLBACK_DENIED[role] ?? [],
    deniedFields: [],
    pseudonymous: role === 'bi_analyst',
    expiresAt: exp,
  };
}

async function loadViewer(): Promise<Viewer> {
  const r = await gql<{ viewer: Viewer }>(VIEWER_QUERY);
  if (r.data?.viewer) return r.data.viewer;
  const validation = r.errors.some(
    (e) => /viewer/i.test(e.message) || e.extensions?.code === 'GRAPHQL_VALIDATION_FAILED' || e.extensions?.code === 'BAD_REQUEST',
  );
  const tok = session.token();
  if (validation && tok) return viewerFromToken(tok);
  throw new Error(r.errors[0]?.message ?? 'viewer');
}

/** What the viewer may use. */
export function offers(v: Viewer | null) {
  const may = session.mayRead;
  return {
    search: !!v && v.role !== 'customer' && may('Query.searchCustomers') && v.role !== 'auditor',
    book: !!v && ['branch_manager', 'relationship_manager'].includes(v.role) && may('Query.customerBook') && !v.deniedClasses.includes('insights'),
    audit: !!v && v.capabilities.includes('read_audit') && may('Query.accessAudit'),
  };
}

function homeFor(v: Viewer): string {
  if (v.role === 'customer' && v.customerId) return href({ name: 'customer', cif: v.customerId, tab: 'overview' });
  const o = offers(v);
  if (o.search) return '#/search';
  if (o.audit) return '#/audit';
  if (o.book) return '#/book';
  return '#/search';
}

export function App(): JSX.Element {
  useLang();
  const v = session.useViewer();
  const [config, setConfig] = useState<Config | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState<boolean>(true);

  // configuration, the OIDC callback, or a token left from before a reload
  useEffect(() => {
    (async () => {
      let cfg: Config;
      try {
        const res = await fetch('/console/config.json', { headers: { accept: 'application/json' } });
        if (!res.ok) throw new HubError(res.status, `config.json: HTTP ${res.status}`);
        cfg = await res.json();
      } catch (e) {
        setFailure(t('无法读取控制台配置：', 'Cannot read the console configuration: ') + (e as Error).message);
        setBusy(false);
        return;
      }
      setConfig(cfg);
      try {
        if (cfg.oidc && oidc.isCallback()) {
          const { accessToken, route } = await oidc.finish(cfg.oidc);
          if (route) session.rememberRoute(route);
          session.setToken(accessToken);
        }
        if (session.token()) await signedIn();
      } catch (e) {
        if (!(e instanceof SessionExpired)) setFailure(t('登录失败：', 'Sign-in failed: ') + (e as Error).message);
      }
      setBusy(false);
    })();
  }, []);

  async function signedIn(): Promise<void> {
    const viewer = await loadViewer();
    session.setViewer(viewer);
    const back = session.takeReturnRoute();
    const target = back && back !== '#/' && parse(back).name !== 'home' ? back : null;
    if (target) go(target, true);
    else if (parse(location.hash).name === 'home' || parse(location.hash).name === 'unknown') go(homeFor(viewer), true);
    else if (viewer.role === 'customer') go(homeFor(viewer), true);
  }

  async function signInWith(tok: string): Promise<void> {
    setFailure(null);
    setBusy(true);
    session.setToken(tok);
    try {
      await signedIn();
    } catch (e) {
      if (!(e instanceof SessionExpired)) setFailure(t('登录失败：', 'Sign-in failed: ') + (e as Error).message);
    }
    setBusy(false);
  }

  async function signInOidc(): Promise<void> {
    if (!config?.oidc) return;
    setFailure(null);
    setBusy(true);
    try {
      const back = session.takeReturnRoute() ?? location.hash;
      await oidc.start(config.oidc, back || '');
    } catch (e) {
      setFailure(t('无法连接身份认证服务：', 'Cannot reach the identity provider: ') + (e as Error).message);
      setBusy(false);
    }
  }

  if (!v) {
    return (
      <div class="shell">
        <Header viewer={null} />
        <main id="main" class="main main-signin" tabIndex={-1}>
          {busy && !failure ? (
            <Loading />
          ) : (
            <SignIn config={config} failure={failure} onToken={signInWith} onOidc={signInOidc} />
          )}
        </main>
      </div>
    );
  }
  return (
    <div class="shell">
      <Header viewer={v} />
      <main id="main" class="main" tabIndex={-1}>
        <Routes viewer={v} />
      </main>
    </div>
  );
}

function Routes(p: { viewer: Viewer }): JSX.Element {
  const r: Route = useRoute();
  const o = offers(p.viewer);
  useEffect(() => {
    document.title = `${titleOf(r)} · c360`;
  }, [r.name, r.name === 'customer' ? r.cif : '', lang()]);
  switch (r.name) {
    case 'search':
      return o.search ? <Search /> : <NotOffered />;
    case 'customer':
      if (p.viewer.role === 'customer' && p.viewer.customerId && r.cif !== p.viewer.customerId) return <NotOffered />;
      return <Customer360 cif={r.cif} tab={r.tab} />;
    case 'book':
      return o.book ? <Book /> : <NotOffered />;
    case 'audit':
      return o.audit ? <Audit /> : <NotOffered />;
    case 'home':
      return <Redirect to={homeFor(p.viewer)} />;
    default:
      return (
        <section class="page">
          <h1>{t('页面不存在', 'Page not found')}</h1>
          <p>
            <a href={homeFor(p.viewer)}>{t('返回首页', 'Back to the start page')}</a>
          </p>
        </section>
      );
  }
}

function titleOf(r: Route): string {
  switch (r.name) {
    case 'search':
      return t('客户查询', 'Customer search');
    case 'customer':
      return `${t('客户视图', 'Customer 360')} ${r.cif}`;
    case 'book':
      return t('客户名单', 'Book');
    case 'audit':
      return t('访问审计', 'Access audit');
    default:
      return t('客户360控制台', 'Customer 360 console');
  }
}

function Redirect(p: { to: string }): JSX.Element {
  useEffect(() => go(p.to, true), [p.to]);
  return <Loading />;
}

function NotOffered(): JSX.Element {
  return (
    <section class="page">
      <h1>{t('无权访问此页面', 'Not available for your role')}</h1>
      <p data-testid="forbidden">{t('您的角色无法使用此功能。', 'Your role cannot use this screen.')}</p>
      <p>
        {t('可通过 GraphQL 接口查询您的角色可见的数据：', 'What your role may read is available over GraphQL: ')}
        <a href="/graphql">GraphiQL</a>
      </p>
    </section>
  );
}

function Header(p: { viewer: Viewer | null }): JSX.Element {
  const l = useLang();
  const v = p.viewer;
  const o = offers(v);
  const r = useRoute();
  const cur = (name: string) => (r.name === name ? { 'aria-current': 'page' as const } : {});
  return (
    <header class="top">
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        {t('跳到正文', 'Skip to content')}
      </a>
      <div class="brand">
        <span class="logo" aria-hidden="true">c360</span>
        <span class="product">{t('客户360控制台', 'Customer 360 console')}</span>
      </div>
      {v ? (
        <nav class="nav" aria-label={t('主导航', 'Main')}>
          <ul>
            {o.search ? (
              <li><a href="#/search" data-testid="nav-search" {...cur('search')}>{t('客户查询', 'Search')}</a></li>
            ) : null}
            {v.role === 'customer' && v.customerId ? (
              <li><a href={href({ name: 'customer', cif: v.customerId, tab: 'overview' })} {...cur('customer')}>{t('我的账户', 'My accounts')}</a></li>
            ) : null}
            {o.book ? (
              <li><a href="#/book" data-testid="nav-book" {...cur('book')}>{t('客户名单', 'Book')}</a></li>
            ) : null}
            {o.audit ? (
              <li><a href="#/audit" data-testid="nav-audit" {...cur('audit')}>{t('访问审计', 'Audit')}</a></li>
            ) : null}
            <li><a href="/graphql" data-testid="nav-graphiql">GraphiQL</a></li>
          </ul>
        </nav>
      ) : <span class="nav" />}
      <div class="tools">
        {v ? (
          <span class="whoami" data-testid="whoami" data-role={v.role} title={v.subject}>
            <span class="whoami-role">{label('role', v.role)}</span>{' '}
            <span class="whoami-code">({v.role})</span>
            {v.staffId ? <span class="whoami-item">{t('工号', 'Staff')} {v.staffId}</span> : null}
            {v.branchId ? <span class="whoami-item">{t('网点', 'Branch')} {v.branchId}</span> : null}
            {v.customerId && v.role === 'customer' ? <span class="whoami-item">CIF {v.customerId}</span> : null}
          </span>
        ) : null}
        <button
          type="button"
          class="btn btn-quiet"
          data-testid="lang-switch"
          lang={l === 'en' ? 'zh-CN' : 'en'}
          aria-label={l === 'en' ? '切换到中文' : 'Switch to English'}
          onClick={() => setLang(l === 'en' ? 'zh-CN' : 'en')}
        >
          {l === 'en' ? '中文' : 'English'}
        </button>
        {v ? (
          <button type="button" class="btn btn-quiet" data-testid="signout" onClick={() => { session.signOut(); go('#/', true); }}>
            {t('退出', 'Sign out')}
          </button>
        ) : null}
      </div>
    </header>
  );
}

function SignIn(p: {
  config: Config | null;
  failure: string | null;
  onToken: (tok: string) => void;
  onOidc: () => void;
}): JSX.Element {
  const ended = session.sessionEnded();
  const cfg = p.config;
  return (
    <section class="signin" aria-labelledby="signin-h">
      <h1 id="signin-h">{t('登录', 'Sign in')}</h1>
      {ended ? (
        <p class="banner banner-warn" role="status" data-testid="session-ended">
          {t('会话已结束，请重新登录。您输入的内容已保留。', 'Your session ended. Sign in again; what you typed is kept.')}
        </p>
      ) : null}
      {p.failure ? (
        <p class="banner banner-error" role="alert">
          {p.failure}
        </p>
      ) : null}
      {cfg?.oidc ? (
        <div class="signin-oidc">
          <button type="button" class="btn btn-primary btn-large" data-testid="signin-oidc" onClick={p.onOidc}>
            {t('使用银行统一身份认证登录', "Sign in with the bank's identity provider")}
          </button>
        </div>
      ) : null}
      {cfg?.demoTokens?.length ? (
        <div class="signin-demo">
          <h2>{t('演示环境：选择角色', 'Demo: pick a role')}</h2>
          <ul class="role-list">
            {cfg.demoTokens.map((d) => (
              <li key={d.role}>
                <button type="button" class="btn btn-role" data-testid={`signin-role-${d.role}`} onClick={() => p.onToken(d.token)}>
                  <span class="role-name">{label('role', d.role)}</span>
                  <span class="role-code">{d.role}</span>
                </button>
              </li>
            ))}
          </ul>
          <p class="hint">{t('演示令牌仅用于开发环境。', 'Demo tokens are for development only.')}</p>
        </div>
      ) : null}
      {cfg && !cfg.oidc && !cfg.demoTokens?.length ? (
        <p>{t('未配置登录方式（[console] issuer, client_id）。', 'No sign-in is configured ([console] issuer, client_id).')}</p>
      ) : null}
    </section>
  );
}
