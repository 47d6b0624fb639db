// Insight reasons in Chinese sentences, from the rule code and the values the rule saw (every
// number in `inputs` is a string; amounts are CNY decimal strings, formatted without floats).
// English uses the hub's own sentence (`detail`); a rule without a template falls back to it too.
import { money } from './format';
import { label } from './labels';

type In = Record<string, unknown>;
const s = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const m = (v: unknown): string => money(s(v), 'CNY');
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const payroll = (i: In) =>
  `近 12 个月有 ${s(i.payrollMonths12m)} 个月代发工资入账，但近 ${s(i.gapDays)} 天未到账（最后一次 ${s(i.lastPayrollOn)}）。`;
const pts = (i: In) => (i.points ? `+${s(i.points)} 分：` : '');

const ZH: Record<string, (i: In) => string> = {
  AUM_MONTHLY_AVERAGE: (i) =>
    `AUM 为 ${m(i.aum)}，即近三个月日均存款余额的平均值` +
    (list(i.monthlyAverageBalances).length ? `（${list(i.monthlyAverageBalances).map(m).join('、')}）。` : '。'),
  TIER_BY_AUM: (i) => `AUM ${m(i.aum)} 达到${label('tier', s(i.tier))}等级门槛 ${m(i.threshold)}。`,
  TIER_DOWNGRADE_PENDING: (i) =>
    `保留${label('tier', s(i.heldTier))}等级：近三个月平均低于 ${m(i.threshold)}，但并非每个月都低于门槛。`,
  TIER_DOWNGRADE: (i) => `连续三个月低于 ${m(i.threshold)}，由${label('tier', s(i.heldTier))}等级下调。`,
  RFM_SCORES: (i) =>
    (i.daysSinceLastTransaction === null || i.daysSinceLastTransaction === undefined
      ? '近期没有主动交易'
      : `距上次交易 ${s(i.daysSinceLastTransaction)} 天`) +
    `，近 12 个月主动交易 ${s(i.transactions12m)} 笔，${label('tier', s(i.tier))}客户，AUM ${m(i.aum)}。`,
  RFM_SEGMENT: (i) => `按 R ${s(i.recency)}、F ${s(i.frequency)}、M ${s(i.monetary)} 评分归入价值分群。`,
  SATISFACTION_SCORES: (i) =>
    s(i.responses) === '0'
      ? `近 ${s(i.windowDays)} 天没有客户评价。`
      : `近 ${s(i.windowDays)} 天 ${s(i.responses)} 次评价，平均 ${s(i.averageScore)} 分` +
        (i.csatPct ? `，满意率 ${s(i.csatPct)}%。` : '。'),
  LIFECYCLE_STABILITY: (i) =>
    `建立关系 ${s(i.tenureDays)} 天，持有 ${s(i.productCount)} 条产品线；近三个月 AUM 变化 ${s(i.aumChange3mPct)}%。`,
  LIFECYCLE_FORMATION: (i) =>
    `不满足其他阶段条件：建立关系 ${s(i.tenureDays)} 天，${s(i.productCount)} 条产品线，AUM ${m(i.aum)}。`,
  LIFECYCLE_EXPLORATION_NEW: (i) => `新客户：建立关系仅 ${s(i.tenureDays)} 天。`,
  LIFECYCLE_DECLINE_AUM: (i) =>
    `最近月均资产 ${m(i.latest)}，较六个月平均 ${m(i.average)} 下降 ${s(i.fallPct)}%（阈值 ${s(i.thresholdPct)}%）。`,
  LIFECYCLE_DECLINE_NO_LOGIN: (i) => `已 ${s(i.daysSinceLogin)} 天未登录网上银行。`,
  LIFECYCLE_DECLINE_PAYROLL: payroll,
  LIFECYCLE_DECLINE_TRANSACTIONS: (i) =>
    `近 90 天交易 ${s(i.transactions90d)} 笔，之前 90 天 ${s(i.transactionsPrior90d)} 笔，减少 ${s(i.fallPct)}%。`,
  LIFECYCLE_DECLINE_MORTGAGE_CLOSED: (i) => `按揭贷款 ${s(i.loan)} 已结清（原定 ${s(i.maturityDate)} 到期）。`,
  LIFECYCLE_CHURNED_IDLE: (i) => `长期没有主动交易，AUM ${m(i.aum)} 低于 ${m(i.maxAum)}。`,
  LIFECYCLE_CHURNED_CLOSED: () => '客户记录已关闭。',
  CHURN_AUM_DROP_3M: (i) =>
    `${pts(i)}近三个月月均资产下降 ${s(i.fallPct)}%，由 ${m(i.before)} 降至 ${m(i.now)}（阈值 ${s(i.thresholdPct)}%）。`,
  CHURN_CARD_IDLE: (i) => `${pts(i)}信用卡自 ${s(i.cardLastUsedOn)} 起未再使用。`,
  CHURN_NO_LOGIN: (i) => `${pts(i)}已 ${s(i.daysSinceLogin)} 天未登录网上银行。`,
  CHURN_PAYROLL_STOPPED: (i) => `${pts(i)}${payroll(i)}`,
  CHURN_LOAN_PREPAID: (i) => `${pts(i)}${list(i.loans).length} 笔贷款在到期前全部还清。`,
  CHURN_OUTBOUND_TRANSFERS: (i) =>
    `${pts(i)}30 天内向他行转出 ${m(i.outboundTransfers30d)}，超过 AUM ${m(i.aum)} 的 ${s(i.thresholdPct)}%。`,
  CHURN_RM_TASK: (i) => `${label('tier', s(i.tier))}客户流失风险高（${s(i.score)} 分）：请客户经理跟进。`,
  NBO_GATE_NO_CONSENT: (i) =>
    `暂不推荐：客户从未在${list(i.neverAsked).map((c) => label('contactChannel', s(c))).join('、')}上同意营销（个人信息保护法要求单独同意）。`,
  NBO_GATE_OVERDUE: (i) =>
    `暂不推荐：${list(i.loans).length} 笔贷款逾期（最长 ${list(i.overdueDays).map(s).sort((a, b) => b.length - a.length || (a < b ? 1 : -1))[0] ?? ''} 天）。`,
  NBO_GATE_CREDIT: (i) =>
    `暂不推荐信贷产品：${list(i.loans).length} 笔贷款分类为关注或更差，${list(i.cards).length} 张信用卡逾期。`,
  FX_CONVERSION: (i) => {
    const rates = i.rates && typeof i.rates === 'object' ? Object.entries(i.rates as In) : [];
    return `外币金额按 ${s(i.fxAsOf)} 的汇率折算为人民币` + (rates.length ? `（${rates.map(([c, r]) => `${c} ${s(r)}`).join('，')}）。` : '。');
  },
};

/** The Chinese sentence for a reason, or null when there is no template (or it cannot be filled). */
export function reasonZh(rule: string, inputs: unknown): string | null {
  const f = ZH[rule];
  if (!f || !inputs || typeof inputs !== 'object') return null;
  try {
    return f(inputs as In);
  } catch {
    return null;
  }
}
