// People's words for the schema's codes (roles, enums, insight rules), in both languages.
import { t } from './i18n';

type Pair = [string, string];
const L: Record<string, Record<string, Pair>> = {
  role: {
    teller: ['柜员', 'Teller'],
    relationship_manager: ['客户经理', 'Relationship manager'],
    branch_manager: ['网点负责人', 'Branch manager'],
    risk_officer: ['风险管理岗', 'Risk officer'],
    customer: ['客户（网上银行）', 'Customer (online banking)'],
    auditor: ['审计员', 'Auditor'],
    admin: ['系统管理员', 'Administrator'],
    bi_analyst: ['数据分析师', 'BI analyst'],
  },
  kind: { INDIVIDUAL: ['个人', 'Individual'], CORPORATE: ['对公', 'Corporate'] },
  gender: { MALE: ['男', 'Male'], FEMALE: ['女', 'Female'] },
  customerStatus: { ACTIVE: ['正常', 'Active'], DORMANT: ['休眠', 'Dormant'], CLOSED: ['已销户', 'Closed'] },
  idType: {
    RESIDENT_ID: ['居民身份证', 'Resident ID card'],
    PASSPORT: ['护照', 'Passport'],
    HK_MO_TW_PERMIT: ['港澳台居民往来通行证', 'HK/Macao/Taiwan permit'],
    USCC: ['统一社会信用代码', 'Unified social credit code'],
  },
  accountType: { CURRENT: ['活期', 'Current'], SAVINGS: ['储蓄', 'Savings'], TIME_DEPOSIT: ['定期', 'Time deposit'] },
  accountStatus: { ACTIVE: ['正常', 'Active'], DORMANT: ['休眠', 'Dormant'], FROZEN: ['冻结', 'Frozen'], CLOSED: ['已销户', 'Closed'] },
  direction: { CREDIT: ['收入', 'Credit'], DEBIT: ['支出', 'Debit'] },
  txChannel: {
    COUNTER: ['柜面', 'Counter'], ATM: ['ATM', 'ATM'], POS: ['POS', 'POS'], MOBILE: ['手机银行', 'Mobile'],
    WEB: ['网上银行', 'Web'], WECHAT: ['微信', 'WeChat'], BATCH: ['批量', 'Batch'],
  },
  cardKind: { DEBIT: ['借记卡', 'Debit'], CREDIT: ['信用卡', 'Credit'] },
  cardLevel: { STANDARD: ['普卡', 'Standard'], GOLD: ['金卡', 'Gold'], PLATINUM: ['白金卡', 'Platinum'], DIAMOND: ['钻石卡', 'Diamond'] },
  cardStatus: {
    INACTIVE: ['未激活', 'Inactive'], ACTIVE: ['正常', 'Active'], FROZEN: ['冻结', 'Frozen'], LOST: ['挂失', 'Reported lost'],
    EXPIRED: ['已过期', 'Expired'], CLOSED: ['已销卡', 'Closed'],
  },
  loanProduct: {
    MORTGAGE: ['住房按揭', 'Mortgage'], CONSUMER: ['消费贷', 'Consumer loan'], BUSINESS: ['经营贷', 'Business loan'],
    AUTO: ['汽车贷', 'Auto loan'], CREDIT_LINE: ['授信额度', 'Credit line'],
  },
  loanClass: {
    NORMAL: ['正常', 'Normal'], SPECIAL_MENTION: ['关注', 'Special mention'], SUBSTANDARD: ['次级', 'Substandard'],
    DOUBTFUL: ['可疑', 'Doubtful'], LOSS: ['损失', 'Loss'],
  },
  loanStatus: { ACTIVE: ['正常', 'Active'], PAID_OFF: ['已结清', 'Paid off'], RESTRUCTURED: ['重组', 'Restructured'], WRITTEN_OFF: ['已核销', 'Written off'] },
  onlineStatus: { ACTIVE: ['正常', 'Active'], LOCKED: ['已锁定', 'Locked'], CLOSED: ['已注销', 'Closed'] },
  digitalChannel: { MOBILE_APP: ['手机银行', 'Mobile app'], WEB: ['网上银行', 'Web'], WECHAT: ['微信银行', 'WeChat'] },
  authMethod: { PASSWORD: ['密码', 'Password'], SMS_OTP: ['短信验证码', 'SMS code'], BIOMETRIC: ['生物识别', 'Biometric'], USB_KEY: ['U盾', 'USB key'] },
  loginResult: { SUCCESS: ['成功', 'Success'], FAILED: ['失败', 'Failed'], LOCKED: ['锁定', 'Locked'] },
  tier: { MASS: ['普通', 'Mass'], GOLD: ['金卡', 'Gold'], PLATINUM: ['白金', 'Platinum'], DIAMOND: ['钻石', 'Diamond'], PRIVATE: ['私人银行', 'Private banking'] },
  lifecycle: {
    EXPLORATION: ['考察期', 'Exploration'], FORMATION: ['形成期', 'Formation'], STABILITY: ['稳定期', 'Stability'],
    DECLINE: ['退化期', 'Decline'], CHURNED: ['已流失', 'Churned'],
  },
  churn: { LOW: ['低', 'Low'], MEDIUM: ['中', 'Medium'], HIGH: ['高', 'High'] },
  segment: {
    HIGH_VALUE_LOYAL: ['高价值忠诚', 'High value, loyal'], HIGH_VALUE_AT_RISK: ['高价值流失风险', 'High value, at risk'],
    NEW_TO_ACTIVATE: ['新客待激活', 'New, to activate'], POTENTIAL: ['潜力客户', 'Potential'], DORMANT: ['沉睡客户', 'Dormant'],
  },
  offer: {
    TIME_DEPOSIT_RENEWAL: ['定期存款续存', 'Time deposit renewal'], MOBILE_BANKING: ['开通手机银行', 'Mobile banking'],
    WEALTH_R1_R2: ['稳健型理财（R1–R2）', 'Low-risk wealth products (R1–R2)'], CREDIT_CARD: ['信用卡', 'Credit card'],
    TIER_UPGRADE_ADVICE: ['升级建议', 'Tier upgrade advice'], HOUSEHOLD_PROPOSITION: ['家庭综合方案', 'Household proposition'],
  },
  contactChannel: { SMS: ['短信', 'SMS'], PHONE: ['电话', 'Phone'], EMAIL: ['电子邮件', 'E-mail'], WECHAT: ['微信', 'WeChat'], APP_PUSH: ['App 推送', 'App push'] },
  relation: {
    SPOUSE: ['配偶', 'Spouse'], PARENT: ['父母', 'Parent'], CHILD: ['子女', 'Child'], JOINT_HOLDER: ['联名账户持有人', 'Joint holder'],
    GUARANTOR: ['担保人', 'Guarantor'], GUARANTEED: ['被担保人', 'Guaranteed party'], LEGAL_REPRESENTATIVE: ['法定代表人', 'Legal representative'],
    REPRESENTS: ['担任法定代表人', 'Represents'], SHAREHOLDER: ['股东', 'Shareholder'], HOLDING: ['持股企业', 'Holding'],
  },
  productLine: {
    DEPOSIT_CURRENT: ['活期存款', 'Current deposits'], DEPOSIT_SAVINGS: ['储蓄存款', 'Savings'], DEPOSIT_TIME: ['定期存款', 'Time deposits'],
    DEBIT_CARD: ['借记卡', 'Debit card'], CREDIT_CARD: ['信用卡', 'Credit card'], MORTGAGE: ['住房按揭', 'Mortgage'],
    CONSUMER_LOAN: ['消费贷', 'Consumer loan'], BUSINESS_LOAN: ['经营贷', 'Business loan'], AUTO_LOAN: ['汽车贷', 'Auto loan'],
    CREDIT_LINE: ['授信额度', 'Credit line'], E_BANKING: ['电子银行', 'E-banking'], PAYROLL: ['代发工资', 'Payroll'],
  },
  rule: {
    TIER_BY_AUM: ['按资产（AUM）定级', 'Tier set by assets under management'],
    TIER_DOWNGRADE: ['等级下调', 'Tier lowered'],
    TIER_DOWNGRADE_PENDING: ['等级待下调（观察期）', 'Tier to be lowered (grace period)'],
    AUM_MONTHLY_AVERAGE: ['AUM 取近三个月日均', 'AUM is the 3-month average of daily balances'],
    AUM_FROM_BALANCES: ['AUM 按当前余额估算', 'AUM estimated from current balances'],
    FX_CONVERSION: ['外币按汇率折算为人民币', 'Foreign currency converted to CNY'],
    FX_RATE_MISSING: ['缺少汇率，部分外币未计入', 'An exchange rate is missing; some currency left out'],
    LIFECYCLE_EXPLORATION_NEW: ['新开户客户', 'New customer'],
    LIFECYCLE_EXPLORATION_SHALLOW: ['持有产品较少', 'Few products held'],
    LIFECYCLE_FORMATION: ['关系在增长', 'The relationship is growing'],
    LIFECYCLE_STABILITY: ['关系稳定', 'A mature, anchored relationship'],
    LIFECYCLE_DECLINE_AUM: ['资产持续下降', 'Assets are falling'],
    LIFECYCLE_DECLINE_CARD_CLOSED: ['销卡', 'A card was closed'],
    LIFECYCLE_DECLINE_MORTGAGE_CLOSED: ['按揭结清', 'The mortgage was closed'],
    LIFECYCLE_DECLINE_NO_LOGIN: ['长期未登录网银', 'No online banking login for long'],
    LIFECYCLE_DECLINE_PAYROLL: ['代发工资停止', 'Payroll stopped'],
    LIFECYCLE_DECLINE_TRANSACTIONS: ['交易减少', 'Fewer transactions'],
    LIFECYCLE_CHURNED_ALL_CLOSED: ['全部产品已关闭', 'Every product closed'],
    LIFECYCLE_CHURNED_CLOSED: ['客户已销户', 'The customer closed the relationship'],
    LIFECYCLE_CHURNED_IDLE: ['长期无活动', 'No activity for long'],
    RFM_SCORES: ['RFM 评分', 'Recency, frequency and value scores'],
    RFM_SEGMENT: ['价值分群', 'Value segment'],
    RFM_NO_ACTIVITY: ['近期无主动交易', 'No customer-initiated activity'],
    CONTRIBUTION: ['年度贡献', 'Annual contribution'],
    CLV: ['客户终身价值', 'Customer lifetime value'],
    CHURN_AUM_DROP_3M: ['近三个月资产下降', 'Assets dropped over 3 months'],
    CHURN_CARD_IDLE: ['信用卡闲置', 'Credit card idle'],
    CHURN_COMPLAINT: ['有投诉', 'Complaint on record'],
    CHURN_COMPLAINT_OVERDUE: ['投诉逾期未处理', 'Complaint past its deadline'],
    CHURN_LOAN_PREPAID: ['贷款提前还款', 'Loan prepaid'],
    CHURN_MATURED_DEPOSIT_OUT: ['定期到期资金转出', 'Matured deposit moved out'],
    CHURN_NO_LOGIN: ['长期未登录', 'No recent login'],
    CHURN_OUTBOUND_TRANSFERS: ['大额资金转出', 'Large outbound transfers'],
    CHURN_PAYROLL_STOPPED: ['代发工资停止', 'Payroll stopped'],
    CHURN_RM_TASK: ['已生成客户经理跟进任务', 'Follow-up task for the relationship manager'],
    CHURN_SCORE_CAPPED: ['评分已封顶', 'Score capped'],
    SATISFACTION_SCORES: ['满意度评分', 'Satisfaction scores'],
    SATISFACTION_COMPLAINTS: ['投诉情况', 'Complaints'],
    COMPLAINT_SLA_BREACH: ['投诉超出监管时限', 'Complaint past the regulatory deadline'],
    NBO_TIME_DEPOSIT_MATURING: ['定期存款即将到期', 'A time deposit matures soon'],
    NBO_IDLE_BALANCE: ['活期闲置资金较多', 'Large idle current balance'],
    NBO_NEAR_NEXT_TIER: ['接近上一等级', 'Close to the next tier'],
    NBO_PAYROLL_NO_CREDIT_CARD: ['代发工资客户未持信用卡', 'Payroll customer without a credit card'],
    NBO_BRANCH_HEAVY: ['主要在网点办理业务', 'Mostly served at the branch'],
    NBO_HOUSEHOLD: ['家庭成员可综合服务', 'Household can be served together'],
    NBO_GATE_COMPLAINT: ['有未结投诉，暂不营销', 'Open complaint: no marketing'],
    NBO_GATE_CONSENT: ['营销同意已撤回', 'Marketing consent withdrawn'],
    NBO_GATE_NO_CONSENT: ['未取得营销同意', 'No marketing consent'],
    NBO_GATE_CONTACT_FREQUENCY: ['近期联系过于频繁', 'Contacted too often recently'],
    NBO_GATE_CREDIT: ['信用条件不符', 'Credit conditions not met'],
    NBO_GATE_DO_NOT_CONTACT: ['客户要求勿扰', 'The customer asked not to be contacted'],
    NBO_GATE_OVERDUE: ['有逾期，暂不营销', 'Overdue payments: no marketing'],
    PROSPECT_HIGH_INFLOW: ['资金流入较多', 'High inflow'],
    PROSPECT_IDLE_BALANCE: ['闲置余额', 'Idle balance'],
    PROSPECT_LOW_DEPTH: ['持有产品少', 'Few product lines'],
  },
};

/** The label of `code` in `group`, or the code itself when unknown. */
export function label(group: keyof typeof L | string, code: string | null | undefined): string {
  if (code === null || code === undefined) return '—';
  const p = L[group]?.[code];
  return p ? t(p[0], p[1]) : code;
}

export function hasLabel(group: string, code: string): boolean {
  return !!L[group]?.[code];
}
