// #/audit: who read which customer's data (accessAudit), newest first, for auditors, with
// the filters AccessAuditFilter offers (customer, actor, from/to) and keyset paging.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { gql, SessionExpired } from '../api';
import type { GqlError } from '../api';
import { t, useLang } from '../i18n';
import { dateTime } from '../format';
import { useViewer } from '../session';
import { Field, Loading, Problems } from '../ui';
import { failure } from './timeline';
import './ops.css';

interface AccessRecord {
  id: string;
  at: string;
  actor: string;
  actingFor: string | null;
  rowCount: number | null;
  role: string;
  branch: string | null;
  customerId: string;
  operation: string | null;
  fieldsRevealed: string[];
  purpose: string | null;
  client: string | null;
  traceId: string;
}

interface AuditData {
  accessAudit: {
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    nodes: AccessRecord[];
  } | null;
}

interface Filters {
  customerId: string;
  actor: string;
  from: string;
  to: string;
}

const EMPTY: Filters = { customerId: '', actor: '', from: '', to: '' };
const PAGE = 50;

const QUERY = `query ConsoleAudit($filter: AccessAuditFilter, $first: Int, $after: String) {
  accessAudit(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id at actor actingFor rowCount role branch customerId operation fieldsRevealed purpose client traceId }
  }
}`;

/** A datetime-local value read as Beijing time, as RFC 3339. */
function beijing(local: string): string | null {
  if (!local) return null;
  return `${local.length === 16 ? `${local}:00` : local}+08:00`;
}

const ROLES: Record<string, [string, string]> = {
  teller: ['柜员', 'Teller'],
  relationship_manager: ['客户经理', 'Relationship manager'],
  branch_manager: ['网点负责人', 'Branch manager'],
  risk_officer: ['风险管理岗', 'Risk officer'],
  bi_analyst: ['数据分析师', 'BI analyst'],
  customer: ['客户本人', 'Customer'],
  admin: ['系统管理员', 'Administrator'],
  auditor: ['审计员', 'Auditor'],
};

function roleName(r: string): string {
  const n = ROLES[r];
  return n ? t(n[0], n[1]) : r;
}

export function Audit(): JSX.Element {
  useLang();
  const viewer = useViewer();
  const [form, setForm] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [rows, setRows] = useState<AccessRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasNext, setHasNext] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<GqlError | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [failed, setFailed] = useState<string | null>(null);
  const seq = useRef(0);

  async function load(f: Filters, after: string | null): Promise<void> {
    const my = ++seq.current;
    setLoading(true);
    setFailed(null);
    try {
      const filter = {
        customerId: f.customerId.trim() || null,
        actor: f.actor.trim() || null,
        from: beijing(f.from),
        to: beijing(f.to),
      };
      const r = await gql<AuditData>(QUERY, { filter, first: PAGE, after });
      if (my !== seq.current) return;
      const conn = r.data?.accessAudit;
      if (!conn) {
        const e = r.errors[0] ?? { message: 'no answer' };
        const field = typeof e.extensions?.field === 'string' ? e.extensions.field.replace(/^filter\./, '') : '';
        if (field && field in EMPTY) {
          setFieldErrors({ [field]: e.message });
          setError(null);
        } else {
          setError(e);
        }
        if (!after) setRows([]);
        setHasNext(false);
        return;
      }
      setError(null);
      setFieldErrors({});
      setRows((old) => (after ? [...old, ...conn.nodes] : conn.nodes));
      setCursor(conn.pageInfo.endCursor);
      setHasNext(conn.pageInfo.hasNextPage);
    } catch (e) {
      if (my === seq.current && !(e instanceof SessionExpired)) setFailed(failure(e));
    } finally {
      if (my === seq.current) setLoading(false);
    }
  }

  useEffect(() => {
    void load(applied, null);
  }, [applied, viewer?.subject]);

  const on = (k: keyof Filters) => (e: Event) => {
    const v = (e.currentTarget as HTMLInputElement).value;
    setForm((f) => ({ ...f, [k]: v }));
  };
  const submit = (e: Event) => {
    e.preventDefault();
    setApplied({ ...form });
  };
  const reset = () => {
    setForm(EMPTY);
    setApplied(EMPTY);
  };

  return (
    <section class="ops-screen" aria-labelledby="audit-h" data-testid="audit">
      <h1 id="audit-h">{t('访问审计', 'Access audit')}</h1>
      <p class="ops-muted">{t('谁在何时出于何种目的读取了哪位客户的数据，最新在前。时间为北京时间。', 'Who read which customer’s data, when and why; newest first. Times in Beijing time.')}</p>
      <form class="ops-filters ops-form" onSubmit={submit} role="search" aria-label={t('筛选审计记录', 'Filter the audit')} data-testid="audit-filters">
        <Field id="audit-filter-customer" label={t('客户号', 'Customer (CIF)')} error={fieldErrors.customerId}>
          <input type="text" value={form.customerId} onInput={on('customerId')} inputMode="numeric" autoComplete="off" />
        </Field>
        <Field id="audit-filter-actor" label={t('操作者（令牌主体）', 'Actor (token subject)')} error={fieldErrors.actor}>
          <input type="text" value={form.actor} onInput={on('actor')} autoComplete="off" />
        </Field>
        <Field id="audit-filter-from" label={t('起始（北京时间）', 'From (Beijing time)')} error={fieldErrors.from}>
          <input type="datetime-local" value={form.from} onInput={on('from')} />
        </Field>
        <Field id="audit-filter-to" label={t('截止（北京时间）', 'To (Beijing time)')} error={fieldErrors.to}>
          <input type="datetime-local" value={form.to} onInput={on('to')} />
        </Field>
        <div class="ops-actions">
          <button type="submit" class="btn btn-primary" data-testid="audit-submit">
            {t('查询', 'Search')}
          </button>
          <button type="button" class="btn" onClick={reset} data-testid="audit-reset">
            {t('清除', 'Clear')}
          </button>
        </div>
      </form>
      <Problems error={error} failed={failed} />
      <div class="ops-scroll">
        <table class="ops-table ops-audit" data-testid="audit-table">
          <caption>{t(`访问记录（已显示 ${rows.length} 条）`, `Access records (${rows.length} shown)`)}</caption>
          <thead>
            <tr>
              <th scope="col">{t('时间', 'Time')}</th>
              <th scope="col">{t('操作者', 'Actor')}</th>
              <th scope="col">{t('角色', 'Role')}</th>
              <th scope="col">{t('网点', 'Branch')}</th>
              <th scope="col">{t('客户', 'Customer')}</th>
              <th scope="col">{t('操作', 'Operation')}</th>
              <th scope="col">{t('明文显示的数据类', 'Classes revealed')}</th>
              <th scope="col">{t('目的', 'Purpose')}</th>
              <th scope="col">{t('代办', 'Acting for')}</th>
              <th scope="col">{t('客户端', 'Client')}</th>
              <th scope="col">{t('追踪号', 'Trace id')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid="audit-row" data-id={r.id} data-customer={r.customerId}>
                <td>
                  <time dateTime={r.at}>{dateTime(r.at)}</time>
                </td>
                <td>{r.actor}</td>
                <td>{roleName(r.role)}</td>
                <td>{r.branch ?? '—'}</td>
                <td>
                  {r.customerId}
                  {r.rowCount !== null && r.rowCount !== undefined ? (
                    <span class="ops-muted"> {t(`（批量 ${r.rowCount} 行）`, ` (bulk, ${r.rowCount} rows)`)}</span>
                  ) : null}
                </td>
                <td>{r.operation ?? '—'}</td>
                <td>{r.fieldsRevealed.length ? r.fieldsRevealed.join(', ') : t('（全部遮蔽）', '(all masked)')}</td>
                <td>{r.purpose ?? '—'}</td>
                <td>{r.actingFor ?? '—'}</td>
                <td>{r.client ?? '—'}</td>
                <td>
                  <code class="ops-trace">{r.traceId}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!loading && !error && rows.length === 0 ? <p class="ops-empty">{t('没有符合条件的记录', 'No record matches')}</p> : null}
      {loading ? <Loading /> : null}
      {hasNext && !loading ? (
        <button type="button" class="btn ops-more" data-testid="audit-next" onClick={() => void load(applied, cursor)}>
          {t('加载更多', 'Load more')}
        </button>
      ) : null}
    </section>
  );
}
