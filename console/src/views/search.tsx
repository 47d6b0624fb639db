// Search by name prefix, ID number or mobile; masked results as the hub returns them; paging.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { gql, SessionExpired } from '../api';
import type { GqlError } from '../api';
import { t, useLang } from '../i18n';
import { label } from '../labels';
import { go } from '../router';
import { clearDraft, loadDraft, saveDraft } from '../session';
import { ErrorBanner, Field, Loading } from '../ui';
import { select } from '../query';

interface Criteria {
  name: string;
  idNumber: string;
  mobile: string;
}
interface Row {
  id: string;
  name: string | null;
  kind: string;
  idDocument: { type: string; number: string } | null;
  mobile: string | null;
  branch: string | null;
  status: string;
}
interface Page {
  rows: Row[];
  hasNext: boolean;
  endCursor: string | null;
}

const PAGE = 20;
const DRAFT = 'search';

function query(): string {
  const node = select('Customer', [
    'id', 'name', 'kind', ['idDocument', 'IdDocument', ['type', 'number']], 'mobile', 'branch', 'status',
  ]);
  return `query Search($name: String, $idNumber: String, $mobile: String, $first: Int, $after: String) {
  searchCustomers(name: $name, idNumber: $idNumber, mobile: $mobile, first: $first, after: $after) {
    nodes ${node} pageInfo { hasNextPage endCursor }
  }
}`;
}

export function Search(): JSX.Element {
  useLang();
  const saved = loadDraft<{ c: Criteria; cursors?: (string | null)[] }>(DRAFT);
  const [c, setC] = useState<Criteria>(saved?.c ?? { name: '', idNumber: '', mobile: '' });
  const [formError, setFormError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<GqlError | null>(null);
  const [busy, setBusy] = useState(false);
  const [page, setPage] = useState<Page | null>(null);
  // cursors[i] is the `after` of page i (null for the first)
  const [cursors, setCursors] = useState<(string | null)[]>(saved?.cursors ?? []);
  // the criteria of the page shown (paging keeps them even when the fields were edited since)
  const [ran, setRan] = useState<Criteria>(saved?.c ?? c);
  const results = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    // back from a customer, or signed in again: show the same page of results
    if (saved?.cursors?.length && (saved.c.name || saved.c.idNumber || saved.c.mobile)) {
      run(saved.c, saved.cursors, false);
    }
  }, []);

  function update(k: keyof Criteria, v: string) {
    const next = { ...c, [k]: v };
    setC(next);
    saveDraft(DRAFT, { c: next });
  }

  async function run(crit: Criteria, cur: (string | null)[], focus = true) {
    const name = crit.name.trim();
    const idNumber = crit.idNumber.trim();
    const mobile = crit.mobile.trim();
    if (!name && !idNumber && !mobile) {
      setFormError(t('请至少填写一项：姓名、证件号码或手机号。', 'Enter at least one: name, ID number or mobile.'));
      setPage(null);
      return;
    }
    setFormError(null);
    setFieldErrors({});
    setError(null);
    setBusy(true);
    try {
      const r = await gql<{ searchCustomers: { nodes: Row[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
        query(),
        {
          name: name || null,
          idNumber: idNumber || null,
          mobile: mobile || null,
          first: PAGE,
          after: cur[cur.length - 1] ?? null,
        },
      );
      const conn = r.data?.searchCustomers;
      if (!conn) {
        const fe: Record<string, string> = {};
        for (const e of r.errors) {
          const f = e.extensions?.field;
          if (typeof f === 'string' && ['name', 'idNumber', 'mobile'].includes(f)) fe[`search-${f}`] = e.message;
        }
        if (Object.keys(fe).length) setFieldErrors(fe);
        else setError(r.errors[0] ?? { message: t('查询失败', 'The search failed') });
        setPage(null);
      } else {
        setPage({ rows: conn.nodes, hasNext: conn.pageInfo.hasNextPage, endCursor: conn.pageInfo.endCursor });
        setCursors(cur);
        setRan(crit);
        saveDraft(DRAFT, { c: crit, cursors: cur });
        if (focus) setTimeout(() => results.current?.focus(), 0);
      }
    } catch (e) {
      if (!(e instanceof SessionExpired)) setError({ message: (e as Error).message });
    } finally {
      setBusy(false);
    }
  }

  function submit(e: Event) {
    e.preventDefault();
    run(c, [null]);
  }

  function clear() {
    setC({ name: '', idNumber: '', mobile: '' });
    setPage(null);
    setCursors([]);
    setFormError(null);
    setFieldErrors({});
    clearDraft(DRAFT);
  }

  const pageNo = cursors.length;
  return (
    <section class="page search" aria-labelledby="search-h">
      <h1 id="search-h">{t('客户查询', 'Customer search')}</h1>
      <form class="search-form card" onSubmit={submit} noValidate aria-describedby={formError ? 'search-form-error' : undefined}>
        <div class="search-fields">
          <Field id="search-name" label={t('姓名（前缀）', 'Name')} error={fieldErrors['search-name']}>
            <input type="text" name="name" autocomplete="off" value={c.name} placeholder={t('如：王', 'e.g. Wang')}
              onInput={(e) => update('name', (e.target as HTMLInputElement).value)} />
          </Field>
          <Field id="search-idNumber" label={t('证件号码', 'ID number')} error={fieldErrors['search-idNumber']}>
            <input type="text" name="idNumber" autocomplete="off" inputMode="text" value={c.idNumber}
              onInput={(e) => update('idNumber', (e.target as HTMLInputElement).value)} />
          </Field>
          <Field id="search-mobile" label={t('手机号', 'Mobile')} error={fieldErrors['search-mobile']}>
            <input type="tel" name="mobile" autocomplete="off" value={c.mobile}
              onInput={(e) => update('mobile', (e.target as HTMLInputElement).value)} />
          </Field>
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" data-testid="search-submit" disabled={busy}>
            {t('查询', 'Search')}
          </button>
          <button type="button" class="btn" onClick={clear}>
            {t('清空', 'Clear')}
          </button>
        </div>
        {formError ? (
          <p id="search-form-error" class="field-error" role="alert" data-testid="search-error">
            {formError}
          </p>
        ) : null}
      </form>
      {error ? <ErrorBanner error={error} /> : null}
      {busy ? <Loading /> : null}
      {page && !busy ? (
        <div class="card results">
          <h2 id="results-h" tabIndex={-1} ref={results}>
            {page.rows.length
              ? t(`查询结果（第 ${pageNo} 页）`, `Results (page ${pageNo})`)
              : t('没有找到符合条件的客户', 'No customer matches')}
          </h2>
          {page.rows.length ? (
            <table class="table table-hover" data-testid="search-results" aria-labelledby="results-h">
              <thead>
                <tr>
                  <th scope="col">{t('客户号', 'CIF')}</th>
                  <th scope="col">{t('姓名', 'Name')}</th>
                  <th scope="col">{t('类型', 'Kind')}</th>
                  <th scope="col">{t('证件', 'ID document')}</th>
                  <th scope="col">{t('手机号', 'Mobile')}</th>
                  <th scope="col">{t('网点', 'Branch')}</th>
                  <th scope="col">{t('状态', 'Status')}</th>
                </tr>
              </thead>
              <tbody>
                {page.rows.map((row) => (
                  <tr key={row.id} data-testid="search-result" data-cif={row.id}
                    onClick={() => go({ name: 'customer', cif: row.id, tab: 'overview' })}>
                    <th scope="row">
                      <a href={`#/customer/${encodeURIComponent(row.id)}`}>{row.id}</a>
                    </th>
                    <td>{row.name ?? '—'}</td>
                    <td>{label('kind', row.kind)}</td>
                    <td>{row.idDocument ? <><span class="muted">{label('idType', row.idDocument.type)}</span> <span class="mono">{row.idDocument.number}</span></> : '—'}</td>
                    <td class="mono">{row.mobile ?? '—'}</td>
                    <td>{row.branch ?? '—'}</td>
                    <td>{label('customerStatus', row.status)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <div class="pager">
            <button type="button" class="btn" data-testid="search-prev" disabled={pageNo <= 1 || busy}
              onClick={() => run(ran, cursors.slice(0, -1))}>
              {t('上一页', 'Previous')}
            </button>
            <button type="button" class="btn" data-testid="search-next" disabled={!page.hasNext || busy}
              onClick={() => run(ran, [...cursors, page.endCursor])}>
              {t('下一页', 'Next')}
            </button>
          </div>
        </div>
      ) : null}
    </section>
  );
}
