// #/book: the book of a branch manager or relationship manager (customerBook) with its
// filters and paging, and the segment charts (segmentSummary by branch and tier,
// lifecycle stage, churn level) as hand-made SVG bar charts with a table fallback.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { gql, isForbidden, SessionExpired } from '../api';
import type { GqlError } from '../api';
import { t, useLang } from '../i18n';
import { dateTime, money } from '../format';
import { mayRead, useViewer } from '../session';
import { ErrorBanner, Forbidden, Loading, Problems } from '../ui';
import { enumOptions, failure, label } from './timeline';
import type { Labels } from './timeline';
import './ops.css';

const TIER: Labels = {
  MASS: ['普通', 'Mass'],
  GOLD: ['金卡', 'Gold'],
  PLATINUM: ['白金', 'Platinum'],
  DIAMOND: ['钻石', 'Diamond'],
  PRIVATE: ['私人银行', 'Private banking'],
};
const STAGE: Labels = {
  EXPLORATION: ['考察期', 'Exploration'],
  FORMATION: ['形成期', 'Formation'],
  STABILITY: ['稳定期', 'Stability'],
  DECLINE: ['退化期', 'Decline'],
  CHURNED: ['已流失', 'Churned'],
};
const CHURN: Labels = {
  LOW: ['低', 'Low'],
  MEDIUM: ['中', 'Medium'],
  HIGH: ['高', 'High'],
};
/** Folded small segments (pseudonymous roles) and customers without a home branch. */
const SPECIAL: Labels = { OTHER: ['其他', 'Other'], NONE: ['无', 'None'] };

interface MoneyV {
  amount: string | null;
  currency: string;
  band?: string;
}

interface Entry {
  customer: { id: string; name: string | null; branch: string | null };
  tier: string;
  lifecycleStage: string;
  churnLevel: string;
  aum: MoneyV;
  asOf: string;
}

interface BookData {
  customerBook: {
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    resumeAfter: string | null;
    nodes: Entry[];
  } | null;
}

interface Segment {
  key: string[];
  count: number;
  aum: MoneyV;
  isOther: boolean;
  foldedGroups: number;
  asOf: string;
}

type SegmentsData = Record<'tier' | 'lifecycle' | 'churn', Segment[] | null>;

interface Filters {
  tier: string;
  lifecycleStage: string;
  churnLevel: string;
  branch: string;
}

const PAGE = 50;

const BOOK = `query ConsoleBook($filter: BookFilter, $first: Int, $after: String) {
  customerBook(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } resumeAfter
    nodes { customer { id name branch } tier lifecycleStage churnLevel aum { amount currency band } asOf }
  }
}`;

const SEG = 'key count aum { amount currency band } isOther foldedGroups asOf';
const SEGMENTS = `query ConsoleSegments($filter: BookFilter) {
  tier: segmentSummary(groupBy: [BRANCH, TIER], filter: $filter) { ${SEG} }
  lifecycle: segmentSummary(groupBy: [BRANCH, LIFECYCLE_STAGE], filter: $filter) { ${SEG} }
  churn: segmentSummary(groupBy: [BRANCH, CHURN_LEVEL], filter: $filter) { ${SEG} }
}`;

function bookFilter(f: Filters): Record<string, unknown> {
  return {
    tier: f.tier || null,
    lifecycleStage: f.lifecycleStage || null,
    churnLevel: f.churnLevel || null,
    branch: f.branch || null,
  };
}

function showMoney(m: MoneyV | null | undefined): string {
  if (!m) return '—';
  // a role that sees amounts in bands gets amount null (FORBIDDEN) and reads the band
  if (m.amount === null || m.amount === undefined) return m.band ? `${m.band} ${m.currency}` : '—';
  return money(m.amount, m.currency);
}

export function Book(): JSX.Element {
  useLang();
  const viewer = useViewer();
  const [filters, setFilters] = useState<Filters>({ tier: '', lifecycleStage: '', churnLevel: '', branch: '' });
  const [rows, setRows] = useState<Entry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<GqlError | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [segments, setSegments] = useState<SegmentsData | null>(null);
  const [segErrors, setSegErrors] = useState<GqlError[]>([]);
  const [segLoading, setSegLoading] = useState(true);
  const [branches, setBranches] = useState<string[]>([]);
  const seq = useRef(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const offered = mayRead('Query.customerBook');

  async function load(after: string | null): Promise<void> {
    const my = ++seq.current;
    setLoading(true);
    setFailed(null);
    try {
      const r = await gql<BookData>(BOOK, { filter: bookFilter(filtersRef.current), first: PAGE, after });
      if (my !== seq.current) return;
      const conn = r.data?.customerBook;
      if (!conn) {
        setError(r.errors[0] ?? { message: 'no answer' });
        if (!after) setRows([]);
        setNext(null);
        return;
      }
      setError(null);
      setRows((old) => (after ? [...old, ...conn.nodes] : conn.nodes));
      // resumeAfter is where the scan stopped, even on a page that found nothing; it is set
      // whenever there is more to look through
      setNext(conn.resumeAfter ?? (conn.pageInfo.hasNextPage ? conn.pageInfo.endCursor : null));
    } catch (e) {
      if (my === seq.current && !(e instanceof SessionExpired)) setFailed(failure(e));
    } finally {
      if (my === seq.current) setLoading(false);
    }
  }

  useEffect(() => {
    if (!offered) return;
    void load(null);
  }, [filters.tier, filters.lifecycleStage, filters.churnLevel, filters.branch, viewer?.subject]);

  // the charts follow the branch filter only: a chart of tiers filtered to one tier says nothing
  useEffect(() => {
    if (!offered || !mayRead('Query.segmentSummary')) {
      setSegLoading(false);
      return;
    }
    let live = true;
    setSegLoading(true);
    gql<SegmentsData>(SEGMENTS, { filter: filters.branch ? { branch: filters.branch } : null })
      .then((r) => {
        if (!live) return;
        setSegments(r.data);
        setSegErrors(r.errors);
        if (!filters.branch) {
          const seen = new Set<string>();
          for (const s of r.data?.tier ?? []) if (!s.isOther && s.key[0] && s.key[0] !== 'NONE') seen.add(s.key[0]);
          setBranches([...seen].sort());
        }
      })
      .catch((e) => {
        if (live && !(e instanceof SessionExpired)) setSegErrors([{ message: failure(e) }]);
      })
      .finally(() => live && setSegLoading(false));
    return () => {
      live = false;
    };
  }, [filters.branch, viewer?.subject]);

  if (!offered) {
    return (
      <section class="ops-screen" aria-labelledby="book-h">
        <h1 id="book-h">{t('客户名单', 'Customer book')}</h1>
        <Forbidden />
      </section>
    );
  }

  const set = (k: keyof Filters) => (e: Event) => {
    const v = (e.currentTarget as HTMLSelectElement).value;
    setFilters((f) => ({ ...f, [k]: v }));
  };
  const anyAsOf = rows.length ? rows[0].asOf : null;

  return (
    <section class="ops-screen" aria-labelledby="book-h" data-testid="book">
      <h1 id="book-h">{t('客户名单', 'Customer book')}</h1>
      <p class="ops-muted">
        {viewer?.branchId ? t(`网点 ${viewer.branchId}`, `Branch ${viewer.branchId}`) : null}
        {viewer?.staffId ? ` · ${t('员工', 'Staff')} ${viewer.staffId}` : null}
      </p>

      <section class="ops-card" aria-labelledby="seg-h">
        <h2 id="seg-h">{t('客户分群', 'Segments')}</h2>
        {segLoading && !segments ? <Loading /> : null}
        <div class="ops-charts">
          <SegmentChart id="tier" title={t('按等级', 'By tier')} labels={TIER} rows={segments?.tier ?? null} errors={segErrors} />
          <SegmentChart id="lifecycle" title={t('按生命周期阶段', 'By lifecycle stage')} labels={STAGE} rows={segments?.lifecycle ?? null} errors={segErrors} />
          <SegmentChart id="churn" title={t('按流失风险', 'By churn risk')} labels={CHURN} rows={segments?.churn ?? null} errors={segErrors} />
        </div>
      </section>

      <section class="ops-card" aria-labelledby="book-list-h">
        <h2 id="book-list-h">{t('客户', 'Customers')}</h2>
        <div class="ops-filters" role="group" aria-label={t('筛选', 'Filters')}>
          <div class="field">
            <label for="book-filter-tier">{t('等级', 'Tier')}</label>
            <select id="book-filter-tier" data-testid="book-filter-tier" value={filters.tier} onChange={set('tier')}>
              <option value="">{t('全部', 'All')}</option>
              {enumOptions(TIER)}
            </select>
          </div>
          <div class="field">
            <label for="book-filter-stage">{t('生命周期阶段', 'Lifecycle stage')}</label>
            <select id="book-filter-stage" data-testid="book-filter-stage" value={filters.lifecycleStage} onChange={set('lifecycleStage')}>
              <option value="">{t('全部', 'All')}</option>
              {enumOptions(STAGE)}
            </select>
          </div>
          <div class="field">
            <label for="book-filter-churn">{t('流失风险', 'Churn risk')}</label>
            <select id="book-filter-churn" data-testid="book-filter-churn" value={filters.churnLevel} onChange={set('churnLevel')}>
              <option value="">{t('全部', 'All')}</option>
              {enumOptions(CHURN)}
            </select>
          </div>
          {branches.length > 1 || filters.branch ? (
            <div class="field">
              <label for="book-filter-branch">{t('网点', 'Branch')}</label>
              <select id="book-filter-branch" data-testid="book-filter-branch" value={filters.branch} onChange={set('branch')}>
                <option value="">{t('全部可见网点', 'Every branch you may see')}</option>
                {branches.map((b) => (
                  <option key={b} value={b}>
                    {b}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
        </div>
        <Problems error={error} failed={failed} />
        <div class="ops-scroll">
          <table class="ops-table" data-testid="book-table">
            <caption>
              {t(`名单中的客户（已显示 ${rows.length} 位）`, `Customers in the book (${rows.length} shown)`)}
              {anyAsOf ? <span class="ops-muted"> · {t('数据截至', 'as of')} {dateTime(anyAsOf)}</span> : null}
            </caption>
            <thead>
              <tr>
                <th scope="col">{t('客户号', 'CIF')}</th>
                <th scope="col">{t('姓名', 'Name')}</th>
                <th scope="col">{t('网点', 'Branch')}</th>
                <th scope="col">{t('等级', 'Tier')}</th>
                <th scope="col">{t('阶段', 'Stage')}</th>
                <th scope="col">{t('流失风险', 'Churn risk')}</th>
                <th scope="col" class="ops-num">
                  {t('资产管理规模', 'AUM')}
                </th>
                <th scope="col">{t('截至', 'As of')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.customer.id} data-testid="book-row" data-cif={r.customer.id}>
                  <td>
                    <a href={`#/customer/${encodeURIComponent(r.customer.id)}`}>{r.customer.id}</a>
                  </td>
                  <td>{r.customer.name ?? '—'}</td>
                  <td>{r.customer.branch ?? '—'}</td>
                  <td>{label(TIER, r.tier)}</td>
                  <td>{label(STAGE, r.lifecycleStage)}</td>
                  <td>
                    <span class={`ops-churn ops-churn-${r.churnLevel.toLowerCase()}`}>{label(CHURN, r.churnLevel)}</span>
                  </td>
                  <td class="ops-num">{showMoney(r.aum)}</td>
                  <td>{dateTime(r.asOf)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {!loading && !error && rows.length === 0 ? (
          <p class="ops-empty">{next ? t('这一段没有符合条件的客户', 'No match in this stretch of the book') : t('没有符合条件的客户', 'No customer matches')}</p>
        ) : null}
        {loading ? <Loading /> : null}
        {next && !loading ? (
          <button type="button" class="btn ops-more" data-testid="book-next" onClick={() => void load(next)}>
            {rows.length ? t('加载更多', 'Load more') : t('继续查找', 'Keep looking')}
          </button>
        ) : null}
      </section>
    </section>
  );
}

// ---- charts ----

const ROW_H = 22;
const GROUP_H = 24;
const LABEL_W = 120;
const BAR_W = 240;
const WIDTH = 560;

function SegmentChart(p: {
  id: 'tier' | 'lifecycle' | 'churn';
  title: string;
  labels: Labels;
  rows: Segment[] | null;
  errors: GqlError[];
}): JSX.Element {
  const err = p.errors.find((e) => e.path && e.path[0] === p.id) ?? p.errors.find((e) => !e.path);
  const testid = `chart-${p.id}`;
  if (err && !p.rows) {
    return (
      <figure class="ops-chart" data-testid={testid}>
        <figcaption>{p.title}</figcaption>
        {isForbidden(err) ? <Forbidden /> : <ErrorBanner error={err} />}
      </figure>
    );
  }
  if (!p.rows) return <figure class="ops-chart" data-testid={testid} aria-busy="true"><figcaption>{p.title}</figcaption></figure>;

  const catLabel = (k: string) => label(p.labels[k] ? p.labels : SPECIAL, k);
  // branches, then each category in the schema's order (folded OTHER last)
  const branches = [...new Set(p.rows.map((r) => r.key[0]))].sort();
  const order = Object.keys(p.labels);
  const rank = (k: string) => (order.indexOf(k) < 0 ? order.length : order.indexOf(k));
  const groups = branches.map((b) => ({
    branch: b,
    rows: p.rows!.filter((r) => r.key[0] === b).sort((a, c) => rank(a.key[1]) - rank(c.key[1])),
  }));
  // Bar lengths come from the customer counts (integers, safe as numbers); the AUM next to
  // each bar is the hub's decimal string formatted as text, never parsed into a number.
  const max = Math.max(1, ...p.rows.map((r) => r.count));
  const total = p.rows.reduce((s, r) => s + r.count, 0);
  const height = groups.reduce((h, g) => h + GROUP_H + g.rows.length * ROW_H, 0) + 4;
  const branchName = (b: string) => (b === 'OTHER' || b === 'NONE' ? catLabel(b) : t(`网点 ${b}`, `Branch ${b}`));
  const desc = groups
    .map(
      (g) =>
        `${branchName(g.branch)}: ` +
        g.rows.map((r) => `${catLabel(r.key[1])} ${r.count}${t(' 人', ' customers')}, AUM ${showMoney(r.aum)}`).join('; '),
    )
    .join('. ');
  const asOf = p.rows.reduce<string | null>((m, r) => (m === null || r.asOf < m ? r.asOf : m), null);
  let y = 0;
  return (
    <figure class="ops-chart" data-testid={testid}>
      <figcaption>
        {p.title}
        <span class="ops-muted">
          {' '}
          · {t(`共 ${total} 人`, `${total} customers`)}
          {asOf ? ` · ${t('截至', 'as of')} ${dateTime(asOf)}` : ''}
        </span>
      </figcaption>
      {p.rows.length === 0 ? (
        <p class="ops-empty">{t('暂无数据', 'No data')}</p>
      ) : (
        <svg
          viewBox={`0 0 ${WIDTH} ${height}`}
          width="100%"
          role="img"
          aria-labelledby={`${testid}-title ${testid}-desc`}
          data-testid={`${testid}-svg`}
          class="ops-svg"
        >
          <title id={`${testid}-title`}>{`${p.title} — ${t('客户数与资产管理规模', 'customers and AUM')}`}</title>
          <desc id={`${testid}-desc`}>{desc}</desc>
          {groups.map((g) => {
            const top = y;
            y += GROUP_H;
            const bars = g.rows.map((r) => {
              const by = y;
              y += ROW_H;
              const w = r.count === 0 ? 0 : Math.max(2, Math.round((r.count / max) * BAR_W));
              return (
                <g key={r.key.join('/')} class={`ops-bar ops-bar-${r.key[1].toLowerCase()}`}>
                  <text x={LABEL_W - 6} y={by + 15} text-anchor="end" class="ops-svg-label">
                    {catLabel(r.key[1])}
                  </text>
                  <rect x={LABEL_W} y={by + 4} width={w} height={ROW_H - 8} rx="2" />
                  <text x={LABEL_W + w + 6} y={by + 15} class="ops-svg-value">
                    {`${r.count} · ${showMoney(r.aum)}`}
                  </text>
                </g>
              );
            });
            return (
              <g key={g.branch}>
                <text x="0" y={top + 17} class="ops-svg-group">
                  {branchName(g.branch)}
                </text>
                {bars}
              </g>
            );
          })}
        </svg>
      )}
      {p.rows.length ? (
        <details class="ops-details">
          <summary>{t('数据表', 'Data table')}</summary>
          <table class="ops-table" data-testid={`${testid}-table`}>
            <caption>{p.title}</caption>
            <thead>
              <tr>
                <th scope="col">{t('网点', 'Branch')}</th>
                <th scope="col">{t('分群', 'Segment')}</th>
                <th scope="col" class="ops-num">
                  {t('客户数', 'Customers')}
                </th>
                <th scope="col" class="ops-num">
                  {t('资产管理规模', 'AUM')}
                </th>
              </tr>
            </thead>
            <tbody>
              {groups.flatMap((g) =>
                g.rows.map((r) => (
                  <tr key={r.key.join('/')}>
                    <th scope="row">{branchName(g.branch)}</th>
                    <td>
                      {catLabel(r.key[1])}
                      {r.isOther && r.foldedGroups ? t(`（合并 ${r.foldedGroups} 组）`, ` (${r.foldedGroups} groups folded)`) : ''}
                    </td>
                    <td class="ops-num">{String(r.count)}</td>
                    <td class="ops-num">{showMoney(r.aum)}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </details>
      ) : null}
    </figure>
  );
}
