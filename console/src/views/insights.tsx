// Insights, holdings, household and party of one customer: each figure with its reasons in words.
import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren, JSX } from 'preact';
import { errorAt, errorsUnder, gql, isForbidden, SessionExpired } from '../api';
import type { GqlError } from '../api';
import { date } from '../format';
import { lang, t, useLang } from '../i18n';
import { reasonZh } from '../reasons';
import { hasLabel, label } from '../labels';
import { moneySel, REASON, select } from '../query';
import type { Sel } from '../query';
import { href } from '../router';
import { denied, mayRead } from '../session';
import { ErrorBanner, Forbidden, Loading } from '../ui';
import { Amount } from './customer';
import type { MoneyV } from './customer';

interface Reason {
  rule: string;
  detail: string | null;
  inputs: unknown;
}
interface InsightsV {
  tier?: string;
  lifecycleStage?: string;
  value?: {
    recency: number; frequency: number; monetary: number; segment: string | null;
    annualContribution: MoneyV; clv: MoneyV; reasons: Reason[];
  };
  churnRisk?: { score: number; level: string; reasons: Reason[] };
  satisfaction?: {
    averageScore: string | null; responses: number; csat: string | null; complaints12m: number;
    openComplaints: number; overdueComplaints: number; reasons: Reason[];
  };
  nextBestOffers?: { product: string; channel: string; score: number; reasons: Reason[] }[];
  reasons?: Reason[];
}
interface HoldingsV {
  aum?: MoneyV | null;
  deposits?: MoneyV | null;
  loansOutstanding?: MoneyV;
  creditLimit?: MoneyV;
  creditUsed?: MoneyV;
  fxAsOf?: string;
  productCount?: number | null;
  productsByLine?: { line: string; count: number }[] | null;
  byCurrency?: { currency: string; deposits: MoneyV; loansOutstanding: MoneyV; creditLimit: MoneyV; creditUsed: MoneyV }[] | null;
}
interface Mini {
  id: string;
  name?: string | null;
  kind?: string;
  branch?: string | null;
}
interface Data {
  insights?: InsightsV | null;
  holdings?: HoldingsV | null;
  household?: { members: { relation: string; customer: Mini | null }[]; holdings?: HoldingsV | null; membersWithheld?: number | null } | null;
  party?: { id: string; customers: (Mini | null)[]; holdings?: HoldingsV | null; customersWithheld?: number | null } | null;
  relationships?: { kind: string; relatedId: string; related?: Mini | null; reference?: string | null; share?: string | null; since?: string | null }[] | null;
}

function holdingsSel(): Sel {
  const m = moneySel();
  return [
    ['aum', 'Money', m], ['deposits', 'Money', m], ['loansOutstanding', 'Money', m], ['creditLimit', 'Money', m],
    ['creditUsed', 'Money', m], 'fxAsOf', 'productCount', ['productsByLine', 'ProductLine', ['line', 'count']],
    ['byCurrency', 'CurrencyHoldings', ['currency', ['deposits', 'Money', m], ['loansOutstanding', 'Money', m], ['creditLimit', 'Money', m], ['creditUsed', 'Money', m]]],
  ];
}

function query(): string {
  const m = moneySel();
  const mini: Sel = ['id', 'name', 'kind', 'branch'];
  const sel: Sel = [];
  if (!denied('insights')) {
    sel.push(['insights', 'Insights', [
      'tier', 'lifecycleStage',
      ['value', 'CustomerValue', ['recency', 'frequency', 'monetary', 'segment', ['annualContribution', 'Money', m], ['clv', 'Money', m], ['reasons', 'InsightReason', REASON]]],
      ['churnRisk', 'ChurnRisk', ['score', 'level', ['reasons', 'InsightReason', REASON]]],
      ['satisfaction', 'Satisfaction', ['averageScore', 'responses', 'csat', 'complaints12m', 'openComplaints', 'overdueComplaints', ['reasons', 'InsightReason', REASON]]],
      ['nextBestOffers', 'Offer', ['product', 'channel', 'score', ['reasons', 'InsightReason', REASON]]],
      ['reasons', 'InsightReason', REASON],
    ]]);
  }
  sel.push(['holdings', 'Holdings', holdingsSel()]);
  if (!denied('relationships')) {
    sel.push(['household', 'Household', [['members', 'HouseholdMember', ['relation', ['customer', 'Customer', mini]]], ['holdings', 'Holdings', holdingsSel()], 'membersWithheld']]);
    sel.push(['party', 'Party', ['id', ['customers', 'Customer', mini], ['holdings', 'Holdings', holdingsSel()], 'customersWithheld']]);
    sel.push(['relationships', 'Relationship', ['kind', 'relatedId', ['related', 'Customer', mini], 'reference', 'share', 'since']]);
  }
  return `query CustomerInsights($id: ID!) { customer(id: $id) ${select('Customer', sel) || '{ id }'} }`;
}

/** One reason for a person: the rule in words, and a sentence with the numbers (Chinese from the
 * values the rule saw where the console knows the rule; otherwise the hub's own sentence). */
function ReasonText(p: { r: Reason }): JSX.Element {
  const known = hasLabel('rule', p.r.rule);
  const zh = lang() === 'zh-CN' ? reasonZh(p.r.rule, p.r.inputs) : null;
  const sentence = zh ?? p.r.detail;
  return (
    <li class="reason">
      {known ? <span class="reason-title">{label('rule', p.r.rule)}</span> : null}
      {sentence ? <span class="reason-detail">{known ? t('：', ': ') : ''}{sentence}</span> : known ? null : <span>{p.r.rule}</span>}
      <span class="reason-code" aria-hidden="true">{p.r.rule}</span>
    </li>
  );
}

function Reasons(p: { reasons?: Reason[] | null; title?: string }): JSX.Element | null {
  if (!p.reasons?.length) return null;
  return (
    <div class="reasons">
      <p class="reasons-h">{p.title ?? t('依据', 'Why')}</p>
      <ul>
        {p.reasons.map((r, i) => <ReasonText key={i} r={r} />)}
      </ul>
    </div>
  );
}

function Section(p: { id: string; title: string; children: ComponentChildren }): JSX.Element {
  return (
    <section class="card panel" data-testid={`panel-${p.id}`} aria-labelledby={`h-${p.id}`}>
      <div class="panel-head"><h2 id={`h-${p.id}`}>{p.title}</h2></div>
      {p.children}
    </section>
  );
}

export function Insights(p: { cif: string; onReady?: (ready: boolean) => void }): JSX.Element {
  useLang();
  const [state, setState] = useState<{ data: Data | null; errors: GqlError[] } | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    p.onReady?.(false);
    setState(null);
    gql<{ customer: Data | null }>(query(), { id: p.cif })
      .then((r) => {
        if (!live) return;
        setState({ data: r.data?.customer ?? null, errors: r.errors });
        p.onReady?.(true);
      })
      .catch((e) => {
        if (!live || e instanceof SessionExpired) return;
        setFailure((e as Error).message);
        p.onReady?.(true);
      });
    return () => {
      live = false;
    };
  }, [p.cif]);
  if (failure) return <ErrorBanner error={{ message: failure }} />;
  if (!state) return <Loading />;
  const d = state.data ?? {};
  const errs = state.errors;
  const blocked = (field: string) => !mayRead(`Customer.${field}`) || isForbidden(errorAt(errs, ['customer', field]));
  const failedAt = (field: string) => errorsUnder(errs, ['customer', field]).find((e) => !isForbidden(e));
  return (
    <div class="panels">
      {denied('insights') || !mayRead('Customer.insights') ? null : (
        <Section id="insights" title={t('客户洞察', 'Insights')}>
          {blocked('insights') ? <Forbidden /> : failedAt('insights') && !d.insights ? (
            <ErrorBanner error={failedAt('insights')!} />
          ) : d.insights ? (
            <InsightsBody i={d.insights} errs={errs} />
          ) : <p class="muted">—</p>}
        </Section>
      )}
      <Section id="holdings" title={t('资产与负债', 'Holdings')}>
        {blocked('holdings') ? <Forbidden /> : failedAt('holdings') && !d.holdings ? (
          <ErrorBanner error={failedAt('holdings')!} />
        ) : d.holdings ? (
          <HoldingsBody h={d.holdings} errs={errs} path={['customer', 'holdings']} />
        ) : <p class="muted">—</p>}
      </Section>
      {denied('relationships') ? null : (
        <Section id="household" title={t('家庭与关联关系', 'Household and party')}>
          <Household d={d} errs={errs} cif={p.cif} />
        </Section>
      )}
    </div>
  );
}

function Stat(p: { k: string; children: ComponentChildren; testid?: string }): JSX.Element {
  return (
    <div class="stat" data-testid={p.testid}>
      <dt>{p.k}</dt>
      <dd>{p.children}</dd>
    </div>
  );
}

function InsightsBody(p: { i: InsightsV; errs: GqlError[] }): JSX.Element {
  const i = p.i;
  const level = i.churnRisk?.level;
  return (
    <>
      <dl class="stats">
        <Stat k={t('客户等级', 'Tier')} testid="insight-tier"><span class={`tier tier-${(i.tier ?? '').toLowerCase()}`}>{label('tier', i.tier)}</span></Stat>
        <Stat k={t('生命周期', 'Lifecycle stage')} testid="insight-lifecycle">{label('lifecycle', i.lifecycleStage)}</Stat>
        <Stat k={t('流失风险', 'Churn risk')} testid="insight-churn">
          {i.churnRisk ? (
            <span class={`risk risk-${(level ?? '').toLowerCase()}`}>
              {label('churn', level)} · {i.churnRisk.score}/100
            </span>
          ) : '—'}
        </Stat>
        <Stat k={t('价值分群', 'Value segment')} testid="insight-value">
          {i.value ? (i.value.segment ? label('segment', i.value.segment) : t('一般', 'Middle of the book')) : '—'}
        </Stat>
        <Stat k={t('年度贡献', 'Annual contribution')}><Amount v={i.value?.annualContribution} /></Stat>
        <Stat k={t('客户终身价值', 'Lifetime value')}><Amount v={i.value?.clv} /></Stat>
        <Stat k={t('满意度', 'Satisfaction')} testid="insight-satisfaction">
          {i.satisfaction
            ? i.satisfaction.averageScore
              ? `${i.satisfaction.averageScore} / 5 · ${t(`${i.satisfaction.responses} 次评价`, `${i.satisfaction.responses} responses`)}`
              : t('暂无评价', 'No responses')
            : '—'}
        </Stat>
        <Stat k={t('投诉（12个月）', 'Complaints (12 months)')}>
          {i.satisfaction ? (
            <>
              {i.satisfaction.complaints12m}
              {i.satisfaction.openComplaints ? t(`，未结 ${i.satisfaction.openComplaints}`, `, ${i.satisfaction.openComplaints} open`) : ''}
              {i.satisfaction.overdueComplaints ? <span class="warn-text">{t(`，超时 ${i.satisfaction.overdueComplaints}`, `, ${i.satisfaction.overdueComplaints} overdue`)}</span> : ''}
            </>
          ) : '—'}
        </Stat>
      </dl>
      <div class="reason-grid">
        <Reasons reasons={i.reasons} title={t('等级与生命周期依据', 'Why this tier and stage')} />
        {i.value ? (
          <Reasons reasons={i.value.reasons}
            title={`${t('价值', 'Value')}（R${i.value.recency} F${i.value.frequency} M${i.value.monetary}）`} />
        ) : null}
        <Reasons reasons={i.churnRisk?.reasons} title={t('流失风险依据', 'Why this churn risk')} />
        <Reasons reasons={i.satisfaction?.reasons} title={t('满意度依据', 'Satisfaction')} />
      </div>
      <h3 class="sub">{t('下一步最佳建议', 'Next best offers')}</h3>
      {i.nextBestOffers?.length ? (
        <ol class="offers" data-testid="offers">
          {i.nextBestOffers.map((o, k) => (
            <li key={k} class="offer">
              <div class="item-head">
                <span class="strong">{label('offer', o.product)}</span>
                <span class="pill">{t('渠道', 'via')} {label('contactChannel', o.channel)}</span>
                <span class="score" aria-label={t(`评分 ${o.score}`, `score ${o.score}`)}>
                  <span class="meter" aria-hidden="true"><span style={{ width: `${Math.max(0, Math.min(100, o.score))}%` }} /></span>
                  {o.score}
                </span>
              </div>
              <Reasons reasons={o.reasons} />
            </li>
          ))}
        </ol>
      ) : (
        <p class="muted">{t('暂无建议。', 'No offer for now.')}</p>
      )}
    </>
  );
}

function HoldingsBody(p: { h: HoldingsV; errs: GqlError[]; path: (string | number)[] }): JSX.Element {
  const h = p.h;
  const f = (field: string, v: MoneyV | null | undefined) =>
    !mayRead(`Holdings.${field}`) || isForbidden(errorAt(p.errs, [...p.path, field])) ? <Forbidden /> : <Amount v={v} />;
  return (
    <>
      <dl class="stats">
        <Stat k={t('资产（AUM，三个月日均）', 'AUM (3-month average)')}>{f('aum', h.aum)}</Stat>
        <Stat k={t('存款余额', 'Deposits')}>{f('deposits', h.deposits)}</Stat>
        <Stat k={t('贷款余额', 'Loans outstanding')}>{f('loansOutstanding', h.loansOutstanding)}</Stat>
        <Stat k={t('信用额度', 'Credit limit')}>{f('creditLimit', h.creditLimit)}</Stat>
        <Stat k={t('已用额度', 'Credit used')}>{f('creditUsed', h.creditUsed)}</Stat>
        <Stat k={t('产品线数', 'Product lines')}>
          {!mayRead('Holdings.productCount') || isForbidden(errorAt(p.errs, [...p.path, 'productCount'])) ? <Forbidden /> : h.productCount ?? '—'}
        </Stat>
      </dl>
      {h.productsByLine?.length ? (
        <ul class="chips" aria-label={t('持有产品', 'Products held')}>
          {h.productsByLine.map((x) => (
            <li key={x.line} class="chip">{label('productLine', x.line)} × {x.count}</li>
          ))}
        </ul>
      ) : null}
      {h.byCurrency && h.byCurrency.length > 1 ? (
        <table class="table table-compact">
          <caption>{t('分币种（原币）', 'By currency (unconverted)')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('币种', 'Currency')}</th>
              <th scope="col" class="num">{t('存款', 'Deposits')}</th>
              <th scope="col" class="num">{t('贷款余额', 'Loans')}</th>
              <th scope="col" class="num">{t('信用额度', 'Credit limit')}</th>
              <th scope="col" class="num">{t('已用额度', 'Credit used')}</th>
            </tr>
          </thead>
          <tbody>
            {h.byCurrency.map((c) => (
              <tr key={c.currency}>
                <th scope="row">{c.currency}</th>
                <td class="num"><Amount v={c.deposits} /></td>
                <td class="num"><Amount v={c.loansOutstanding} /></td>
                <td class="num"><Amount v={c.creditLimit} /></td>
                <td class="num"><Amount v={c.creditUsed} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {h.fxAsOf ? <p class="hint">{t('人民币合计按汇率日', 'CNY totals at exchange rates of')} {date(h.fxAsOf)}</p> : null}
    </>
  );
}

function CustomerLink(p: { c: Mini | null | undefined; id?: string }): JSX.Element {
  if (!p.c) return p.id ? <span class="mono">{p.id} · <Forbidden /></span> : <Forbidden />;
  return (
    <a href={href({ name: 'customer', cif: p.c.id, tab: 'overview' })}>
      {p.c.name ?? p.c.id} <span class="mono muted">{p.c.id}</span>
    </a>
  );
}

function Household(p: { d: Data; errs: GqlError[]; cif: string }): JSX.Element {
  const { d, errs } = p;
  const hh = d.household;
  const party = d.party;
  const rel = d.relationships;
  const fail = (f: string) => errorsUnder(errs, ['customer', f]).find((e) => !isForbidden(e) && e.path?.length === 2);
  return (
    <div class="household">
      <h3 class="sub">{t('家庭', 'Household')}</h3>
      {isForbidden(errorAt(errs, ['customer', 'household'])) ? <Forbidden /> : fail('household') ? <ErrorBanner error={fail('household')!} /> : hh ? (
        <>
          <table class="table table-compact">
            <caption class="sr-only">{t('家庭成员', 'Household members')}</caption>
            <thead><tr><th scope="col">{t('关系', 'Relation')}</th><th scope="col">{t('客户', 'Customer')}</th></tr></thead>
            <tbody>
              {hh.members.map((m, i) => (
                <tr key={i}><th scope="row">{label('relation', m.relation)}</th><td><CustomerLink c={m.customer} /></td></tr>
              ))}
            </tbody>
          </table>
          {hh.membersWithheld ? <p class="hint">{t(`${hh.membersWithheld} 位成员不在您的权限范围内，未计入合计。`, `${hh.membersWithheld} member(s) outside your scope are left out of the totals.`)}</p> : null}
          {hh.holdings ? (
            <>
              <h4 class="sub2">{t('家庭合计', 'Household totals')}</h4>
              <HoldingsBody h={hh.holdings} errs={errs} path={['customer', 'household', 'holdings']} />
            </>
          ) : null}
        </>
      ) : <p class="muted">{t('没有家庭成员记录。', 'No household on record.')}</p>}

      <h3 class="sub">{t('同一客户（多个客户号）', 'The person behind this CIF')}</h3>
      {isForbidden(errorAt(errs, ['customer', 'party'])) ? <Forbidden /> : fail('party') ? <ErrorBanner error={fail('party')!} /> : party ? (
        <>
          <p>
            {t('当事人编号', 'Party')} <span class="mono">{party.id}</span> ·{' '}
            {t(`${party.customers.length} 个客户号`, `${party.customers.length} customer record(s)`)}
          </p>
          <ul class="plain">
            {party.customers.map((c, i) => (
              <li key={i}>
                {c && c.id === p.cif ? <span>{c.name ?? c.id} <span class="mono muted">{c.id}</span> ({t('当前', 'this record')})</span> : <CustomerLink c={c} />}
                {c?.branch ? <span class="muted"> · {t('网点', 'branch')} {c.branch}</span> : null}
              </li>
            ))}
          </ul>
          {party.customersWithheld ? <p class="hint">{t(`${party.customersWithheld} 个客户号不在您的权限范围内。`, `${party.customersWithheld} record(s) outside your scope.`)}</p> : null}
          {party.customers.length > 1 && party.holdings ? (
            <>
              <h4 class="sub2">{t('当事人合计', 'Totals for the person')}</h4>
              <HoldingsBody h={party.holdings} errs={errs} path={['customer', 'party', 'holdings']} />
            </>
          ) : null}
        </>
      ) : <p class="muted">—</p>}

      <h3 class="sub">{t('关联关系', 'Relationships')}</h3>
      {isForbidden(errorAt(errs, ['customer', 'relationships'])) ? <Forbidden /> : fail('relationships') ? <ErrorBanner error={fail('relationships')!} /> : rel?.length ? (
        <table class="table table-compact">
          <caption class="sr-only">{t('关联关系', 'Relationships')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('关系', 'Relation')}</th>
              <th scope="col">{t('关联客户', 'Related customer')}</th>
              <th scope="col">{t('业务参考', 'Reference')}</th>
              <th scope="col" class="num">{t('持股比例', 'Share')}</th>
              <th scope="col">{t('起始日', 'Since')}</th>
            </tr>
          </thead>
          <tbody>
            {rel.map((r, i) => (
              <tr key={i}>
                <th scope="row">{label('relation', r.kind)}</th>
                <td><CustomerLink c={r.related} id={r.relatedId} /></td>
                <td class="mono">{r.reference ?? '—'}</td>
                <td class="num">{r.share ? `${r.share}%` : '—'}</td>
                <td>{date(r.since)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : <p class="muted">{t('没有关联关系。', 'No relationships on record.')}</p>}
    </div>
  );
}
