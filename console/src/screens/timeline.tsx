// The customer's contact history (Customer.interactions), newest first, filtered by type,
// channel and outcome, paged with the hub's keyset cursor ("load more"), and updated live
// over `interactionLogged(customerId)`: a contact logged elsewhere appears at the top.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { gql, isForbidden, SessionExpired, HubError } from '../api';
import type { GqlError } from '../api';
import { t, useLang } from '../i18n';
import { dateTime } from '../format';
import { mayRead, token, useViewer } from '../session';
import { ErrorBanner, Forbidden, Loading } from '../ui';
import { subscribe } from '../live';
import type { LiveState } from '../live';
import './ops.css';

// ---- enum labels shared by the timeline and the contact forms (schema/customer360.graphql) ----

export type Labels = Record<string, [string, string]>;

export const INTERACTION_CHANNEL: Labels = {
  BRANCH: ['网点', 'Branch'],
  CALL_CENTER: ['客服中心', 'Call centre'],
  MOBILE_APP: ['手机银行', 'Mobile app'],
  INTERNET_BANKING: ['网上银行', 'Internet banking'],
  WECHAT: ['微信', 'WeChat'],
  EMAIL: ['电子邮件', 'Email'],
  SMS: ['短信', 'SMS'],
  VISIT: ['上门拜访', 'Visit'],
};
export const INTERACTION_TYPE: Labels = {
  INQUIRY: ['咨询', 'Inquiry'],
  SERVICE: ['服务', 'Service'],
  COMPLAINT: ['投诉', 'Complaint'],
  SALE: ['销售', 'Sale'],
  MARKETING: ['营销', 'Marketing'],
  ADVICE: ['顾问建议', 'Advice'],
  FOLLOW_UP: ['跟进', 'Follow-up'],
  SURVEY: ['调查', 'Survey'],
};
export const INTERACTION_DIRECTION: Labels = {
  INBOUND: ['客户发起', 'Inbound (customer)'],
  OUTBOUND: ['银行发起', 'Outbound (bank)'],
};
export const INTERACTION_OUTCOME: Labels = {
  RESOLVED: ['已解决', 'Resolved'],
  PENDING: ['待处理', 'Pending'],
  ESCALATED: ['已升级', 'Escalated'],
  SOLD: ['已成交', 'Sold'],
  DECLINED: ['已拒绝', 'Declined'],
  NO_RESPONSE: ['无回应', 'No response'],
};

/** The label of an enum value in the current language (the value itself when unknown). */
export function label(map: Labels, v: string | null | undefined): string {
  if (v === null || v === undefined) return '—';
  const p = map[v];
  return p ? t(p[0], p[1]) : v;
}

/** <option>s for every value of an enum, in schema order. */
export function enumOptions(map: Labels): JSX.Element[] {
  return Object.keys(map).map((k) => (
    <option key={k} value={k}>
      {label(map, k)}
    </option>
  ));
}

/** A user-facing message for a failed call that is not a GraphQL error. */
export function failure(e: unknown): string {
  if (e instanceof HubError) {
    return e.status
      ? t(`集线器返回 HTTP ${e.status}：${e.message}`, `The hub answered HTTP ${e.status}: ${e.message}`)
      : t('无法连接集线器，请稍后重试', 'Cannot reach the hub; try again');
  }
  return e instanceof Error ? e.message : String(e);
}

// ---- the timeline ----

interface Interaction {
  id: string;
  channel: string;
  type: string;
  direction: string;
  occurredAt: string;
  staffId: string | null;
  branchId: string | null;
  subject?: string | null;
  notes?: string | null;
  outcome: string | null;
  satisfaction: number | null;
  followUpAt: string | null;
  products?: string[];
  revision: number;
}

interface Item {
  n: Interaction;
  /** Fields the hub answered FORBIDDEN for this record. */
  forbidden: string[];
  live?: boolean;
}

interface Filters {
  type: string;
  channel: string;
  outcome: string;
}

const PAGE = 20;

/** Fields every role that reads the timeline may read; the others are asked only when the
 * viewer does not deny them (and shown as "not available for your role" otherwise). */
const ALWAYS = ['id', 'channel', 'type', 'direction', 'occurredAt', 'revision'];
const OPTIONAL = ['staffId', 'branchId', 'subject', 'notes', 'outcome', 'satisfaction', 'followUpAt', 'products'];

/** The selection, leaving out what the role may not read at all (not offered). */
function fields(): string {
  return [...ALWAYS, ...OPTIONAL.filter((f) => mayRead(`Interaction.${f}`))].join(' ');
}

function filterInput(f: Filters): Record<string, unknown> {
  return {
    types: f.type ? [f.type] : [],
    channels: f.channel ? [f.channel] : [],
    outcome: f.outcome || null,
  };
}

function matches(n: Interaction, f: Filters): boolean {
  return (!f.type || n.type === f.type) && (!f.channel || n.channel === f.channel) && (!f.outcome || n.outcome === f.outcome);
}

/** FORBIDDEN fields per record, from errors under `prefix` + index + field. */
function forbiddenAt(errors: GqlError[], prefix: (string | number)[], index: number | null): string[] {
  const out: string[] = [];
  for (const e of errors) {
    if (!isForbidden(e) || !e.path) continue;
    const p = e.path;
    if (p.length < prefix.length + (index === null ? 1 : 2)) continue;
    if (!prefix.every((x, i) => p[i] === x)) continue;
    if (index !== null && p[prefix.length] !== index) continue;
    const field = p[prefix.length + (index === null ? 0 : 1)];
    if (typeof field === 'string') out.push(field);
  }
  return out;
}

interface TimelineData {
  customer: {
    id: string;
    interactions: {
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      nodes: Interaction[];
    } | null;
  } | null;
}

const QUERY = (sel: string) => `query ConsoleTimeline($cif: ID!, $first: Int, $after: String, $filter: TimelineFilter) {
  customer(id: $cif) { id interactions(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor } nodes { ${sel} } } }
}`;

const LIVE = (sel: string) => `subscription ConsoleTimelineLive($cif: ID!) {
  interactionLogged(customerId: $cif) { ${sel} }
}`;

export function Timeline(p: { cif: string }): JSX.Element {
  useLang();
  const viewer = useViewer();
  const [filters, setFilters] = useState<Filters>({ type: '', channel: '', outcome: '' });
  const [items, setItems] = useState<Item[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasNext, setHasNext] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<GqlError | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [live, setLive] = useState<LiveState>('connecting');
  const [liveError, setLiveError] = useState<GqlError | null>(null);
  const [announce, setAnnounce] = useState('');
  const [reconnect, setReconnect] = useState(0);
  const seq = useRef(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const itemsRef = useRef(items);
  itemsRef.current = items;

  async function load(after: string | null): Promise<void> {
    const my = ++seq.current;
    setLoading(true);
    setFailed(null);
    try {
      const r = await gql<TimelineData>(QUERY(fields()), {
        cif: p.cif,
        first: PAGE,
        after,
        filter: filterInput(filtersRef.current),
      });
      if (my !== seq.current) return;
      const conn = r.data?.customer?.interactions ?? null;
      if (!conn) {
        const e =
          r.errors.find((x) => x.path && x.path[x.path.length - 1] === 'interactions') ??
          r.errors.find((x) => !x.path || x.path.length <= 1) ??
          r.errors[0] ??
          null;
        if (isForbidden(e ?? undefined)) setForbidden(true);
        else setError(e);
        if (!after) setItems([]);
        setHasNext(false);
        return;
      }
      setForbidden(false);
      setError(null);
      const prefix = ['customer', 'interactions', 'nodes'];
      const page: Item[] = conn.nodes.map((n, i) => ({ n, forbidden: forbiddenAt(r.errors, prefix, i) }));
      setItems((old) => {
        if (!after) return page;
        const seen = new Set(old.map((x) => x.n.id));
        return [...old, ...page.filter((x) => !seen.has(x.n.id))];
      });
      setCursor(conn.pageInfo.endCursor);
      setHasNext(conn.pageInfo.hasNextPage);
    } catch (e) {
      if (my !== seq.current) return;
      if (!(e instanceof SessionExpired)) setFailed(failure(e));
    } finally {
      if (my === seq.current) setLoading(false);
    }
  }

  /** After a (re)connection: what was logged while the socket was not listening. */
  async function catchUp(): Promise<void> {
    try {
      const r = await gql<TimelineData>(QUERY(fields()), {
        cif: p.cif,
        first: PAGE,
        filter: filterInput(filtersRef.current),
      });
      const conn = r.data?.customer?.interactions;
      if (!conn) return;
      const prefix = ['customer', 'interactions', 'nodes'];
      setItems((old) => {
        const top = old.reduce((m, x) => (x.n.id > m ? x.n.id : m), '');
        const seen = new Set(old.map((x) => x.n.id));
        // UUIDv7 ids sort by creation time: keep what was created after the newest we hold
        const fresh = conn.nodes
          .map((n, i) => ({ n, forbidden: forbiddenAt(r.errors, prefix, i), live: true }))
          .filter((x) => !seen.has(x.n.id) && x.n.id > top);
        return fresh.length ? [...fresh, ...old] : old;
      });
    } catch {
      /* the next event or a reload shows it */
    }
  }

  useEffect(() => {
    if (!viewer) return;
    setItems([]);
    setCursor(null);
    void load(null);
  }, [p.cif, filters.type, filters.channel, filters.outcome, viewer?.subject]);

  useEffect(() => {
    if (!viewer) return;
    if (!mayRead('Subscription.interactionLogged')) {
      setLive('closed');
      return;
    }
    let wasOpen = false;
    setLiveError(null);
    const stop = subscribe<{ interactionLogged: Interaction }>(
      LIVE(fields()),
      { cif: p.cif },
      (data, errors) => {
        const n = data.interactionLogged;
        if (!n || !matches(n, filtersRef.current)) return;
        const item: Item = { n, forbidden: forbiddenAt(errors, ['interactionLogged'], null), live: true };
        setItems((old) => (old.some((x) => x.n.id === n.id) ? old : [item, ...old]));
        setAnnounce(
          t(
            `新接触记录：${label(INTERACTION_TYPE, n.type)}，${label(INTERACTION_CHANNEL, n.channel)}`,
            `New contact: ${label(INTERACTION_TYPE, n.type)}, ${label(INTERACTION_CHANNEL, n.channel)}`,
          ),
        );
      },
      (s, err) => {
        setLive(s);
        if (err) setLiveError(err);
        if (s === 'open') {
          if (wasOpen) void catchUp();
          wasOpen = true;
        }
      },
    );
    return stop;
    // a new token (signed in again after expiry) needs a new connection
  }, [p.cif, viewer?.subject, token(), reconnect]);

  const set = (k: keyof Filters) => (e: Event) => {
    const v = (e.currentTarget as HTMLSelectElement).value;
    setFilters((f) => ({ ...f, [k]: v }));
  };

  const liveText =
    live === 'open'
      ? t('实时更新已连接', 'Live updates on')
      : live === 'connecting'
        ? t('正在连接实时更新…', 'Connecting live updates…')
        : t('实时更新已断开', 'Live updates off');

  return (
    <section class="ops-timeline" aria-labelledby="timeline-h" data-testid="timeline">
      <div class="ops-head">
        <h2 id="timeline-h">{t('接触记录', 'Contact history')}</h2>
        <p
          class={`ops-live ops-live-${live}`}
          data-testid="live-status"
          data-state={live === 'open' ? 'open' : 'closed'}
          data-phase={live}
          role="status"
        >
          <span class="ops-dot" aria-hidden="true" />
          {liveText}
          {live === 'closed' && viewer ? (
            <button type="button" class="ops-link" onClick={() => setReconnect((n) => n + 1)}>
              {t('重新连接', 'Reconnect')}
            </button>
          ) : null}
        </p>
      </div>
      {liveError && !isForbidden(liveError) ? <ErrorBanner error={liveError} /> : null}
      <div class="ops-filters" role="group" aria-label={t('筛选', 'Filters')}>
        <div class="field">
          <label for="timeline-filter-type">{t('类型', 'Type')}</label>
          <select id="timeline-filter-type" data-testid="timeline-filter-type" value={filters.type} onChange={set('type')}>
            <option value="">{t('全部类型', 'All types')}</option>
            {enumOptions(INTERACTION_TYPE)}
          </select>
        </div>
        <div class="field">
          <label for="timeline-filter-channel">{t('渠道', 'Channel')}</label>
          <select
            id="timeline-filter-channel"
            data-testid="timeline-filter-channel"
            value={filters.channel}
            onChange={set('channel')}
          >
            <option value="">{t('全部渠道', 'All channels')}</option>
            {enumOptions(INTERACTION_CHANNEL)}
          </select>
        </div>
        <div class="field">
          <label for="timeline-filter-outcome">{t('结果', 'Outcome')}</label>
          <select
            id="timeline-filter-outcome"
            data-testid="timeline-filter-outcome"
            value={filters.outcome}
            onChange={set('outcome')}
          >
            <option value="">{t('全部结果', 'All outcomes')}</option>
            {enumOptions(INTERACTION_OUTCOME)}
          </select>
        </div>
      </div>
      <div class="ops-sr" aria-live="polite">
        {announce}
      </div>
      {forbidden ? (
        <p>
          <Forbidden />
        </p>
      ) : error ? (
        <ErrorBanner error={error} />
      ) : null}
      {failed ? (
        <div class="banner banner-error" role="alert">
          {failed}
        </div>
      ) : null}
      {!forbidden && !error && !loading && items.length === 0 ? (
        <p class="ops-empty">{t('没有符合条件的接触记录', 'No contacts match')}</p>
      ) : null}
      <ol class="ops-items" aria-label={t('接触记录，最新在前', 'Contacts, newest first')}>
        {items.map((x) => (
          <TimelineItem key={x.n.id} item={x} />
        ))}
      </ol>
      {loading ? <Loading /> : null}
      {hasNext && !loading ? (
        <button type="button" class="btn ops-more" data-testid="timeline-more" onClick={() => void load(cursor)}>
          {t('加载更多', 'Load more')}
        </button>
      ) : null}
    </section>
  );
}

function Value(p: { item: Item; field: string; children: JSX.Element | string | null }): JSX.Element {
  if (p.item.forbidden.includes(p.field) || !mayRead(`Interaction.${p.field}`)) return <Forbidden />;
  return <>{p.children ?? '—'}</>;
}

function TimelineItem(p: { item: Item }): JSX.Element {
  const { n } = p.item;
  const subjectOffered = mayRead('Interaction.subject');
  return (
    <li class={p.item.live ? 'ops-item ops-item-new' : 'ops-item'} data-testid="timeline-item" data-id={n.id}>
      <div class="ops-item-head">
        <span class={`ops-type ops-type-${n.type.toLowerCase()}`}>{label(INTERACTION_TYPE, n.type)}</span>
        <span>{label(INTERACTION_CHANNEL, n.channel)}</span>
        <span class="ops-muted">{label(INTERACTION_DIRECTION, n.direction)}</span>
        <time dateTime={n.occurredAt}>{dateTime(n.occurredAt)}</time>
        {p.item.live ? <span class="ops-new">{t('新', 'New')}</span> : null}
      </div>
      {subjectOffered ? (
        <p class="ops-subject">
          <Value item={p.item} field="subject">
            {n.subject ?? null}
          </Value>
        </p>
      ) : null}
      <dl class="ops-dl">
        <div>
          <dt>{t('员工', 'Staff')}</dt>
          <dd>
            <Value item={p.item} field="staffId">
              {n.staffId ? `${n.staffId}${n.branchId ? ` · ${n.branchId}` : ''}` : null}
            </Value>
          </dd>
        </div>
        <div>
          <dt>{t('结果', 'Outcome')}</dt>
          <dd>
            <Value item={p.item} field="outcome">
              {n.outcome ? label(INTERACTION_OUTCOME, n.outcome) : null}
            </Value>
          </dd>
        </div>
        <div>
          <dt>{t('满意度', 'Satisfaction')}</dt>
          <dd>
            <Value item={p.item} field="satisfaction">
              {n.satisfaction !== null && n.satisfaction !== undefined ? `${n.satisfaction} / 5` : null}
            </Value>
          </dd>
        </div>
        <div>
          <dt>{t('跟进', 'Follow-up')}</dt>
          <dd>
            <Value item={p.item} field="followUpAt">
              {n.followUpAt ? dateTime(n.followUpAt) : null}
            </Value>
          </dd>
        </div>
        {n.products?.length ? (
          <div>
            <dt>{t('产品', 'Products')}</dt>
            <dd>{n.products.join(', ')}</dd>
          </div>
        ) : null}
        {n.revision > 0 ? (
          <div>
            <dt>{t('修订', 'Revisions')}</dt>
            <dd>{String(n.revision)}</dd>
          </div>
        ) : null}
      </dl>
      <div class="ops-notes">
        <span class="ops-muted">{t('备注：', 'Notes: ')}</span>
        <Value item={p.item} field="notes">
          {n.notes ?? null}
        </Value>
      </div>
    </li>
  );
}
