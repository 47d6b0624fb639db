// The 360 view: identity, one panel per system with its freshness, tabs for insights, timeline
// and contact. The overview is ONE GraphQL request that selects only what the viewer may read.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren, JSX } from 'preact';
import { errorAt, errorsUnder, gql, isForbidden, SessionExpired } from '../api';
import type { GqlError } from '../api';
import { date, dateTime, money, percent } from '../format';
import { t, useLang } from '../i18n';
import { label } from '../labels';
import { moneySel, select } from '../query';
import { go } from '../router';
import type { Tab } from '../router';
import { denied, mayRead, useViewer } from '../session';
import { Badge, ErrorBanner, Forbidden, Loading, systemName } from '../ui';
import { Insights } from './insights';
import { Timeline } from '../screens/timeline';
import { ContactPanel } from '../screens/contact';

export interface MoneyV {
  amount: string | null;
  currency: string;
  band?: string;
}
interface Source {
  system: string;
  fetchedAt: string;
  fromCache: boolean;
  stale: boolean;
  error: string | null;
}
interface Txn {
  id: string | null;
  postedAt: string;
  direction: string;
  amount: MoneyV;
  description: string | null;
  channel: string | null;
  counterparty: string | null;
}
interface Account {
  number: string | null;
  type: string;
  currency: string;
  balance: MoneyV;
  availableBalance: MoneyV | null;
  status: string;
  openedAt: string | null;
  maturityDate: string | null;
  interestRate: string | null;
  transactions?: { nodes: Txn[]; pageInfo: { hasNextPage: boolean } } | null;
}
interface Card {
  id: string;
  number: string | null;
  kind: string;
  product: string | null;
  level: string | null;
  status: string;
  issuedAt: string | null;
  linkedAccount: string | null;
  creditLimit: MoneyV | null;
  availableCredit: MoneyV | null;
  outstanding: MoneyV | null;
  daysPastDue: number | null;
  statement: { closingDate: string | null; dueDate: string | null; minimumDue: MoneyV | null; balance: MoneyV | null } | null;
}
interface Loan {
  id: string;
  product: string;
  principal: MoneyV;
  outstanding: MoneyV;
  rate: string | null;
  termMonths: number | null;
  startDate: string | null;
  maturityDate: string | null;
  nextPayment: { date: string | null; amount: MoneyV | null } | null;
  overdueDays: number;
  classification: string;
  status: string;
}
interface Online {
  userId: string;
  status: string;
  registeredAt: string | null;
  lastLoginAt: string | null;
  preferredChannel: string | null;
  devices: { id: string; os: string | null; model: string | null; boundAt: string | null; trusted: boolean | null }[];
  recentLogins: { at: string; channel: string | null; authMethod: string | null; result: string; ipRegion: string | null }[] | null;
}
interface Cust {
  id: string;
  kind?: string;
  name?: string | null;
  idDocument?: { type: string; number: string } | null;
  mobile?: string | null;
  email?: string | null;
  birthDate?: string | null;
  gender?: string | null;
  address?: string | null;
  occupation?: string | null;
  branch?: string | null;
  relationshipManager?: string | null;
  onboardedAt?: string | null;
  status?: string;
  accounts?: Account[] | null;
  cards?: Card[] | null;
  loans?: Loan[] | null;
  onlineBanking?: Online | null;
  sources?: Source[];
}

/** The panels of the overview: the field that holds them, the system that answers, the class. */
const PANELS = [
  { key: 'accounts', field: 'accounts', system: 'core', cls: 'deposits' },
  { key: 'cards', field: 'cards', system: 'cards', cls: 'cards' },
  { key: 'loans', field: 'loans', system: 'loans', cls: 'loans' },
  { key: 'channels', field: 'onlineBanking', system: 'channels', cls: 'channels' },
] as const;

function panelAllowed(p: (typeof PANELS)[number]): boolean {
  return !denied(p.cls) && mayRead(`Customer.${p.field}`);
}

function overviewQuery(): string {
  const m = moneySel();
  const sel = select('Customer', [
    'id', 'kind', 'name', ['idDocument', 'IdDocument', ['type', 'number']], 'mobile', 'email', 'birthDate', 'gender',
    'address', 'occupation', 'branch', 'relationshipManager', 'onboardedAt', 'status',
    ...(panelAllowed(PANELS[0])
      ? [['accounts', 'Account', [
          'number', 'type', 'currency', ['balance', 'Money', m], ['availableBalance', 'Money', m], 'status', 'openedAt',
          'maturityDate', 'interestRate',
          ['transactions(first: 5)', 'TransactionConnection', [
            ['nodes', 'Transaction', ['id', 'postedAt', 'direction', ['amount', 'Money', m], 'description', 'channel', 'counterparty']],
            ['pageInfo', 'PageInfo', ['hasNextPage']],
          ]],
        ]] as [string, string, never]]
      : []),
    ...(panelAllowed(PANELS[1])
      ? [['cards', 'Card', [
          'id', 'number', 'kind', 'product', 'level', 'status', 'issuedAt', 'linkedAccount', ['creditLimit', 'Money', m],
          ['availableCredit', 'Money', m], ['outstanding', 'Money', m], 'daysPastDue',
          ['statement', 'Statement', ['closingDate', 'dueDate', ['minimumDue', 'Money', m], ['balance', 'Money', m]]],
        ]] as [string, string, never]]
      : []),
    ...(panelAllowed(PANELS[2])
      ? [['loans', 'Loan', [
          'id', 'product', ['principal', 'Money', m], ['outstanding', 'Money', m], 'rate', 'termMonths', 'startDate', 'maturityDate',
          ['nextPayment', 'NextPayment', ['date', ['amount', 'Money', m]]], 'overdueDays', 'classification', 'status',
        ]] as [string, string, never]]
      : []),
    ...(panelAllowed(PANELS[3])
      ? [['onlineBanking', 'OnlineBanking', [
          'userId', 'status', 'registeredAt', 'lastLoginAt', 'preferredChannel',
          ['devices', 'Device', ['id', 'os', 'model', 'boundAt', 'trusted']],
          ['recentLogins(first: 5)', 'LoginEvent', ['at', 'channel', 'authMethod', 'result', 'ipRegion']],
        ]] as [string, string, never]]
      : []),
    ['sources', 'SourceStatus', ['system', 'fetchedAt', 'fromCache', 'stale', 'error']],
  ]);
  return `query Customer360($id: ID!) { customer(id: $id) ${sel} }`;
}

export function sourceState(s: Source | undefined): 'live' | 'cache' | 'stale' | 'error' | null {
  if (!s) return null;
  if (s.stale) return 'stale';
  if (s.error) return 'error';
  if (s.fromCache) return 'cache';
  return 'live';
}

const STATE_LABEL: Record<string, [string, string]> = {
  live: ['实时', 'Live'],
  cache: ['缓存', 'From cache'],
  stale: ['数据过期', 'Stale'],
  error: ['获取失败', 'Failed'],
};

function SourceBadge(p: { system: string; source?: Source; testid?: boolean }): JSX.Element | null {
  const st = sourceState(p.source);
  if (!st || !p.source) return null;
  const [zh, en] = STATE_LABEL[st];
  const when = dateTime(p.source.fetchedAt);
  const text = `${t(zh, en)} · ${when}`;
  return (
    <span class="source" {...(p.testid ? { 'data-testid': `source-${p.system}`, 'data-state': st } : {})}
      title={`${systemName(p.system)}: ${t(zh, en)}${p.source.error ? ' (' + p.source.error + ')' : ''}, ${t('获取于', 'fetched')} ${when} ${t('北京时间', 'Beijing time')}`}>
      <Badge kind={st} label={text} />
    </span>
  );
}

export function Amount(p: { v: MoneyV | null | undefined }): JSX.Element {
  const v = p.v;
  if (!v) return <span>—</span>;
  if (v.amount === null || v.amount === undefined) return <span class="num">{v.band ? `${v.currency} ${v.band}` : '—'}</span>;
  return <span class={v.amount.startsWith('-') ? 'num neg' : 'num'}>{money(v.amount, v.currency)}</span>;
}

interface Loaded {
  cif: string;
  data: Cust | null;
  errors: GqlError[];
  ms: number;
}

export function Customer360(p: { cif: string; tab: Tab }): JSX.Element {
  useLang();
  const viewer = useViewer();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  // which visit of the insights tab has its answer (a stale "ready" must never show for a new visit)
  const [insightsReady, setInsightsReady] = useState<string | null>(null);
  const visit = useRef({ cif: p.cif, tab: p.tab, n: 0 });
  if (visit.current.cif !== p.cif || visit.current.tab !== p.tab) {
    visit.current = { cif: p.cif, tab: p.tab, n: visit.current.n + 1 };
  }
  const visitKey = `${p.cif}:${visit.current.n}`;
  const started = useRef(0);

  useEffect(() => {
    let live = true;
    setLoaded(null);
    setFailure(null);
    started.current = performance.now();
    gql<{ customer: Cust | null }>(overviewQuery(), { id: p.cif })
      .then((r) => {
        if (live) setLoaded({ cif: p.cif, data: r.data?.customer ?? null, errors: r.errors, ms: performance.now() - started.current });
      })
      .catch((e) => {
        if (live && !(e instanceof SessionExpired)) setFailure((e as Error).message);
      });
    return () => {
      live = false;
    };
  }, [p.cif, viewer?.subject, viewer?.role]);

  const tabs: { id: Tab; zh: string; en: string }[] = [{ id: 'overview', zh: '概览', en: 'Overview' }];
  // Holdings and household are offered to roles denied the insights (a teller, the customer).
  const insightsOk = !denied('insights') && mayRead('Customer.insights');
  const holdingsOk = mayRead('Customer.holdings') || (!denied('relationships') && mayRead('Customer.household'));
  if (insightsOk) tabs.push({ id: 'insights', zh: '洞察与资产', en: 'Insights' });
  else if (holdingsOk) tabs.push({ id: 'insights', zh: '资产与关系', en: 'Holdings' });
  if (!denied('contact_history') && mayRead('Customer.interactions')) tabs.push({ id: 'timeline', zh: '接触历史', en: 'Timeline' });
  if (!(denied('contact_history') && denied('consents'))) tabs.push({ id: 'contact', zh: '联系与同意', en: 'Contact' });
  const tab = tabs.some((x) => x.id === p.tab) ? p.tab : 'overview';

  const current = loaded && loaded.cif === p.cif ? loaded : null; // never the previous customer's answer
  const cust = current?.data ?? null;
  const errors = current?.errors ?? [];
  const rootErr = errorAt(errors, ['customer']);
  const ready = !!current || !!failure ? (tab === 'insights' ? insightsReady === visitKey : true) : false;

  return (
    <section class="page view-360" data-testid="view-360" data-ready={ready ? 'true' : 'false'}
      data-render-ms={current ? String(Math.round(current.ms)) : undefined} aria-labelledby="c360-h" aria-busy={!ready}>
      <div class="c360-head">
        <h1 id="c360-h">
          {cust?.name ?? (current ? t('客户', 'Customer') : t('客户视图', 'Customer 360'))}{' '}
          <span class="cif">CIF {p.cif}</span>
        </h1>
        {cust ? (
          <p class="c360-sub">
            {cust.kind ? <span class="pill">{label('kind', cust.kind)}</span> : null}
            {cust.status ? <span class={`pill pill-status-${cust.status.toLowerCase()}`}>{label('customerStatus', cust.status)}</span> : null}
            {cust.branch ? <span>{t('开户网点', 'Home branch')} {cust.branch}</span> : null}
          </p>
        ) : null}
      </div>
      <Tabs tabs={tabs} current={tab} onSelect={(id) => go({ name: 'customer', cif: p.cif, tab: id }, true)} />
      <div role="tabpanel" id={`tabpanel-${tab}`} aria-labelledby={`tab-${tab}`} class="tabpanel" tabIndex={0}>
        {failure ? (
          <ErrorBanner error={{ message: failure }} />
        ) : !current ? (
          <Loading />
        ) : !cust ? (
          <CustomerMissing error={rootErr} />
        ) : tab === 'overview' ? (
          <Overview c={cust} errors={errors} />
        ) : tab === 'insights' ? (
          <Insights key={visitKey} cif={p.cif} onReady={(r) => setInsightsReady(r ? visitKey : null)} />
        ) : tab === 'timeline' ? (
          <Timeline cif={p.cif} />
        ) : (
          <ContactPanel cif={p.cif} />
        )}
      </div>
    </section>
  );
}

function CustomerMissing(p: { error?: GqlError }): JSX.Element {
  if (isForbidden(p.error)) {
    return (
      <div class="card">
        <Forbidden />
      </div>
    );
  }
  if (p.error?.extensions?.code === 'NOT_FOUND') {
    return <p class="banner banner-warn" role="status">{t('没有这个客户号。', 'There is no customer with this CIF.')}</p>;
  }
  if (p.error?.extensions?.source) {
    return (
      <div data-testid={`panel-error-${p.error.extensions.source}`} role="alert">
        <ErrorBanner error={p.error} />
      </div>
    );
  }
  return <ErrorBanner error={p.error ?? { message: t('无法读取客户', 'Cannot read the customer') }} />;
}

/** A proper tablist: arrow keys move between tabs, Home/End to the ends. */
function Tabs(p: { tabs: { id: Tab; zh: string; en: string }[]; current: Tab; onSelect: (t: Tab) => void }): JSX.Element {
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  function key(e: KeyboardEvent, i: number) {
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % p.tabs.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + p.tabs.length) % p.tabs.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = p.tabs.length - 1;
    if (j < 0) return;
    e.preventDefault();
    const id = p.tabs[j].id;
    p.onSelect(id);
    setTimeout(() => refs.current[id]?.focus(), 0);
  }
  return (
    <div role="tablist" class="tabs" aria-label={t('客户视图', 'Customer 360')}>
      {p.tabs.map((x, i) => (
        <button key={x.id} type="button" role="tab" id={`tab-${x.id}`} data-testid={`tab-${x.id}`}
          aria-selected={x.id === p.current} aria-controls={`tabpanel-${x.id}`} tabIndex={x.id === p.current ? 0 : -1}
          ref={(el) => { refs.current[x.id] = el; }}
          onClick={() => p.onSelect(x.id)} onKeyDown={(e) => key(e as unknown as KeyboardEvent, i)}>
          {t(x.zh, x.en)}
        </button>
      ))}
    </div>
  );
}

function Panel(p: {
  id: string;
  title: string;
  source?: Source;
  system?: string;
  sourceTestid?: boolean;
  wide?: boolean;
  children: ComponentChildren;
}): JSX.Element {
  return (
    <section class={p.wide ? 'card panel panel-wide' : 'card panel'} data-testid={`panel-${p.id}`} aria-labelledby={`h-${p.id}`}>
      <div class="panel-head">
        <h2 id={`h-${p.id}`}>{p.title}</h2>
        {p.system ? <SourceBadge system={p.system} source={p.source} testid={p.sourceTestid} /> : null}
      </div>
      {p.children}
    </section>
  );
}

function Overview(p: { c: Cust; errors: GqlError[] }): JSX.Element {
  const { c, errors } = p;
  const src = (s: string) => c.sources?.find((x) => x.system === s);
  /** The banner for a failed system, on its panel only. */
  function failed(system: string, field: string): JSX.Element | null {
    const errs = errors.filter(
      (e) => !isForbidden(e) && e.extensions?.code !== 'STALE_DATA' && (e.extensions?.source === system || (e.path && errorsUnder([e], ['customer', field]).length > 0)),
    );
    const s = src(system);
    const e = errs[0] ?? (s?.error && !s.stale ? { message: s.error, extensions: { code: s.error, source: system } } : undefined);
    if (!e) return null;
    return (
      <div data-testid={`panel-error-${system}`} role="alert" class="panel-error">
        <ErrorBanner error={{ ...e, extensions: { ...e.extensions, source: e.extensions?.source ?? system } }} />
      </div>
    );
  }
  const forbiddenAt = (path: (string | number)[]) => isForbidden(errorAt(errors, path));
  const v = (field: string, value: unknown, show?: (x: any) => ComponentChildren): ComponentChildren => {
    if (!mayRead(`Customer.${field}`) || forbiddenAt(['customer', field])) return <Forbidden />;
    if (value === null || value === undefined || value === '') return '—';
    return show ? show(value) : String(value);
  };
  const staleNote = (system: string) =>
    src(system)?.stale ? (
      <p class="banner banner-warn" role="status">
        {t('该系统暂时无法访问，以下为缓存数据，可能已过期。', 'This system is unavailable: what follows is cached and may be out of date.')}
      </p>
    ) : null;
  // A system whose class the role is denied is not offered at all; a field the hub still
  // refuses shows "not available for your role" in place.
  return (
    <div class="panels">
      <Panel id="identity" title={t('客户信息', 'Identity')} system="core" source={src('core')} sourceTestid wide>
        {staleNote('core')}
        <dl class="facts">
          <Fact k={t('姓名', 'Name')}>{v('name', c.name)}</Fact>
          <Fact k={t('客户类型', 'Kind')}>{v('kind', c.kind, (x) => label('kind', x))}</Fact>
          <Fact k={t('证件', 'ID document')}>
            {v('idDocument', c.idDocument, (x) => <><span class="muted">{label('idType', x.type)}</span> <span class="mono">{x.number}</span></>)}
          </Fact>
          <Fact k={t('手机号', 'Mobile')}>{v('mobile', c.mobile, (x) => <span class="mono">{x}</span>)}</Fact>
          <Fact k={t('电子邮件', 'E-mail')}>{v('email', c.email)}</Fact>
          <Fact k={t('出生日期', 'Date of birth')}>{v('birthDate', c.birthDate)}</Fact>
          <Fact k={t('性别', 'Gender')}>{v('gender', c.gender, (x) => label('gender', x))}</Fact>
          <Fact k={t('地址', 'Address')}>{v('address', c.address)}</Fact>
          <Fact k={t('职业', 'Occupation')}>{v('occupation', c.occupation)}</Fact>
          <Fact k={t('开户网点', 'Home branch')}>{v('branch', c.branch)}</Fact>
          <Fact k={t('客户经理', 'Relationship manager')}>{v('relationshipManager', c.relationshipManager)}</Fact>
          <Fact k={t('建立关系日期', 'Customer since')}>{v('onboardedAt', c.onboardedAt, date)}</Fact>
          <Fact k={t('客户状态', 'Status')}>{v('status', c.status, (x) => label('customerStatus', x))}</Fact>
        </dl>
      </Panel>
      {panelAllowed(PANELS[0]) ? (
        <Panel id="accounts" title={t('存款账户', 'Accounts')} system="core" source={src('core')} wide>
          {forbiddenAt(['customer', 'accounts']) ? <Forbidden /> : (
            <>
              {failed('core', 'accounts')}
              {staleNote('core')}
              {c.accounts ? <Accounts accounts={c.accounts} errors={errors} /> : null}
            </>
          )}
        </Panel>
      ) : null}
      {panelAllowed(PANELS[1]) ? (
        <Panel id="cards" title={t('银行卡', 'Cards')} system="cards" source={src('cards')} sourceTestid>
          {forbiddenAt(['customer', 'cards']) ? <Forbidden /> : (
            <>
              {failed('cards', 'cards')}
              {staleNote('cards')}
              {c.cards ? <Cards cards={c.cards} /> : null}
            </>
          )}
        </Panel>
      ) : null}
      {panelAllowed(PANELS[2]) ? (
        <Panel id="loans" title={t('贷款', 'Loans')} system="loans" source={src('loans')} sourceTestid>
          {forbiddenAt(['customer', 'loans']) ? <Forbidden /> : (
            <>
              {failed('loans', 'loans')}
              {staleNote('loans')}
              {c.loans ? <Loans loans={c.loans} /> : null}
            </>
          )}
        </Panel>
      ) : null}
      {panelAllowed(PANELS[3]) ? (
        <Panel id="channels" title={t('网上银行', 'Online banking')} system="channels" source={src('channels')} sourceTestid>
          {forbiddenAt(['customer', 'onlineBanking']) ? <Forbidden /> : (
            <>
              {failed('channels', 'onlineBanking')}
              {staleNote('channels')}
              {c.onlineBanking === null && !errorsUnder(errors, ['customer', 'onlineBanking']).length && !src('channels')?.error ? (
                <p class="muted">{t('未开通网上银行。', 'Not enrolled in online banking.')}</p>
              ) : c.onlineBanking ? (
                <OnlinePanel o={c.onlineBanking} />
              ) : null}
            </>
          )}
        </Panel>
      ) : null}
    </div>
  );
}

function Fact(p: { k: string; children: ComponentChildren }): JSX.Element {
  return (
    <div class="fact">
      <dt>{p.k}</dt>
      <dd>{p.children}</dd>
    </div>
  );
}

function Empty(p: { zh: string; en: string }): JSX.Element {
  return <p class="muted">{t(p.zh, p.en)}</p>;
}

function Accounts(p: { accounts: Account[]; errors: GqlError[] }): JSX.Element {
  if (!p.accounts.length) return <Empty zh="没有存款账户。" en="No deposit accounts." />;
  return (
    <>
      <table class="table">
        <caption class="sr-only">{t('存款账户', 'Deposit accounts')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('账号', 'Account')}</th>
            <th scope="col">{t('类型', 'Type')}</th>
            <th scope="col" class="num">{t('余额', 'Balance')}</th>
            <th scope="col" class="num">{t('可用余额', 'Available')}</th>
            <th scope="col">{t('状态', 'Status')}</th>
            <th scope="col">{t('开户日', 'Opened')}</th>
            <th scope="col">{t('到期日', 'Maturity')}</th>
            <th scope="col" class="num">{t('年利率', 'Rate')}</th>
          </tr>
        </thead>
        <tbody>
          {p.accounts.map((a, i) => (
            <tr key={a.number ?? i}>
              <th scope="row" class="mono">{a.number ?? (mayRead('Account.number') ? '—' : <Forbidden />)}</th>
              <td>{label('accountType', a.type)}{a.currency !== 'CNY' ? <span class="pill">{a.currency}</span> : null}</td>
              <td class="num"><Amount v={a.balance} /></td>
              <td class="num"><Amount v={a.availableBalance} /></td>
              <td><span class={`status status-${a.status.toLowerCase()}`}>{label('accountStatus', a.status)}</span></td>
              <td>{date(a.openedAt)}</td>
              <td>{date(a.maturityDate)}</td>
              <td class="num">{percent(a.interestRate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3 class="sub">{t('最近交易', 'Latest transactions')}</h3>
      {p.accounts.map((a, i) => (
        <details key={a.number ?? i} class="txns" open={i === 0}>
          <summary>
            <span class="mono">{a.number ?? '—'}</span> · {label('accountType', a.type)}
          </summary>
          <Transactions a={a} error={errorAt(p.errors, ['customer', 'accounts', i, 'transactions'])} />
        </details>
      ))}
    </>
  );
}

function Transactions(p: { a: Account; error?: GqlError }): JSX.Element {
  if (p.error) return isForbidden(p.error) ? <Forbidden /> : <ErrorBanner error={p.error} />;
  if (!mayRead('Account.transactions')) return <Forbidden />;
  const rows = p.a.transactions?.nodes ?? [];
  if (!rows.length) return <Empty zh="没有交易。" en="No transactions." />;
  return (
    <table class="table table-compact">
      <caption class="sr-only">{t('最近交易', 'Latest transactions')} {p.a.number ?? ''}</caption>
      <thead>
        <tr>
          <th scope="col">{t('记账时间', 'Posted')}</th>
          <th scope="col">{t('摘要', 'Description')}</th>
          <th scope="col">{t('对方', 'Counterparty')}</th>
          <th scope="col">{t('渠道', 'Channel')}</th>
          <th scope="col" class="num">{t('金额', 'Amount')}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((x, i) => (
          <tr key={x.id ?? i}>
            <td class="nowrap">{dateTime(x.postedAt)}</td>
            <td>{x.description ?? '—'}</td>
            <td>{x.counterparty ?? '—'}</td>
            <td>{label('txChannel', x.channel)}</td>
            <td class="num">
              <span class={x.direction === 'DEBIT' ? 'neg' : 'pos'}>
                <span class="sr-only">{label('direction', x.direction)} </span>
                {x.amount.amount?.startsWith('-') ? '' : x.direction === 'DEBIT' ? '−' : '+'}
                <Amount v={x.amount} />
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Cards(p: { cards: Card[] }): JSX.Element {
  if (!p.cards.length) return <Empty zh="没有银行卡。" en="No cards." />;
  return (
    <ul class="items">
      {p.cards.map((c) => (
        <li key={c.id} class="item">
          <div class="item-head">
            <span class="mono strong">{c.number ?? '—'}</span>
            <span class="pill">{label('cardKind', c.kind)}</span>
            {c.level ? <span class="pill">{label('cardLevel', c.level)}</span> : null}
            <span class={`status status-${c.status.toLowerCase()}`}>{label('cardStatus', c.status)}</span>
          </div>
          <dl class="facts facts-compact">
            {c.product ? <Fact k={t('产品', 'Product')}>{c.product}</Fact> : null}
            {c.kind === 'CREDIT' ? (
              <>
                <Fact k={t('信用额度', 'Credit limit')}><Amount v={c.creditLimit} /></Fact>
                <Fact k={t('可用额度', 'Available credit')}><Amount v={c.availableCredit} /></Fact>
                <Fact k={t('欠款', 'Outstanding')}><Amount v={c.outstanding} /></Fact>
                {c.daysPastDue ? (
                  <Fact k={t('逾期天数', 'Days past due')}><span class="warn-text">{c.daysPastDue}</span></Fact>
                ) : null}
                {c.statement ? (
                  <Fact k={t('最近账单', 'Last statement')}>
                    <Amount v={c.statement.balance} /> · {t('最低还款', 'minimum')} <Amount v={c.statement.minimumDue} /> ·{' '}
                    <span class="nowrap">{t('到期还款日', 'due')} {date(c.statement.dueDate)}</span>
                  </Fact>
                ) : null}
              </>
            ) : (
              <Fact k={t('关联账户', 'Linked account')}><span class="mono">{c.linkedAccount ?? '—'}</span></Fact>
            )}
            <Fact k={t('发卡日', 'Issued')}>{date(c.issuedAt)}</Fact>
          </dl>
        </li>
      ))}
    </ul>
  );
}

const CLASS_SEVERITY: Record<string, number> = { NORMAL: 0, SPECIAL_MENTION: 1, SUBSTANDARD: 2, DOUBTFUL: 3, LOSS: 4 };

export function LoanClassBadge(p: { c: string }): JSX.Element {
  const sev = CLASS_SEVERITY[p.c] ?? 0;
  return (
    <span class={`lclass lclass-${sev}`} data-testid="loan-class" data-class={p.c}>
      <span aria-hidden="true">{['✓', '!', '!!', '✕', '✕✕'][sev]} </span>
      <span class="sr-only">{t('五级分类：', 'Five-level classification: ')}</span>
      {label('loanClass', p.c)}
    </span>
  );
}

function Loans(p: { loans: Loan[] }): JSX.Element {
  if (!p.loans.length) return <Empty zh="没有贷款。" en="No loans." />;
  return (
    <ul class="items">
      {p.loans.map((l) => (
        <li key={l.id} class={`item item-loan sev-${CLASS_SEVERITY[l.classification] ?? 0}`}>
          <div class="item-head">
            <span class="strong">{label('loanProduct', l.product)}</span>
            <LoanClassBadge c={l.classification} />
            <span class={`status status-${l.status.toLowerCase()}`}>{label('loanStatus', l.status)}</span>
          </div>
          <dl class="facts facts-compact">
            <Fact k={t('贷款本金', 'Principal')}><Amount v={l.principal} /></Fact>
            <Fact k={t('贷款余额', 'Outstanding')}><Amount v={l.outstanding} /></Fact>
            <Fact k={t('年利率', 'Rate')}>{percent(l.rate)}</Fact>
            <Fact k={t('期限', 'Term')}>{l.termMonths ? t(`${l.termMonths} 个月`, `${l.termMonths} months`) : '—'}</Fact>
            <Fact k={t('下次还款', 'Next payment')}>
              {l.nextPayment ? <><Amount v={l.nextPayment.amount} /> · <span class="nowrap">{date(l.nextPayment.date)}</span></> : '—'}
            </Fact>
            <Fact k={t('逾期天数', 'Days overdue')}>
              <span class={l.overdueDays > 0 ? 'warn-text' : ''}>{l.overdueDays}</span>
            </Fact>
            <Fact k={t('到期日', 'Maturity')}>{date(l.maturityDate)}</Fact>
          </dl>
        </li>
      ))}
    </ul>
  );
}

function OnlinePanel(p: { o: Online }): JSX.Element {
  const o = p.o;
  return (
    <>
      <dl class="facts facts-compact">
        <Fact k={t('用户号', 'User id')}><span class="mono">{o.userId}</span></Fact>
        <Fact k={t('状态', 'Status')}><span class={`status status-${o.status.toLowerCase()}`}>{label('onlineStatus', o.status)}</span></Fact>
        <Fact k={t('注册时间', 'Registered')}>{dateTime(o.registeredAt)}</Fact>
        <Fact k={t('最近登录', 'Last login')}>{dateTime(o.lastLoginAt)}</Fact>
        <Fact k={t('常用渠道', 'Preferred channel')}>{label('digitalChannel', o.preferredChannel)}</Fact>
        <Fact k={t('绑定设备', 'Devices')}>
          {o.devices.length
            ? o.devices.map((d) => `${d.model ?? d.os ?? d.id}${d.trusted ? ' ✓' : ''}`).join('，')
            : '—'}
        </Fact>
      </dl>
      {o.recentLogins?.length ? (
        <table class="table table-compact">
          <caption>{t('最近登录记录', 'Recent logins')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('时间', 'Time')}</th>
              <th scope="col">{t('渠道', 'Channel')}</th>
              <th scope="col">{t('认证方式', 'Method')}</th>
              <th scope="col">{t('结果', 'Result')}</th>
              <th scope="col">{t('地区', 'Region')}</th>
            </tr>
          </thead>
          <tbody>
            {o.recentLogins.map((x, i) => (
              <tr key={i}>
                <td class="nowrap">{dateTime(x.at)}</td>
                <td>{label('digitalChannel', x.channel)}</td>
                <td>{label('authMethod', x.authMethod)}</td>
                <td class={x.result === 'SUCCESS' ? '' : 'warn-text'}>{label('loginResult', x.result)}</td>
                <td>{x.ipRegion ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}
