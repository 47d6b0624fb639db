//! The synthetic bank's records as plain Rust values. The HTTP handlers of each
//! simulated system serialise these into that system's own dialect, so the types here
//! follow the canonical model (DESIGN.md "Domain model"), not any wire format.
//! Money is `Decimal`; dates and times are Beijing (UTC+8) local values.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerKind {
    Individual,
    Corporate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    Male,
    Female,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdType {
    ResidentId,
    Uscc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerStatus {
    Active,
    Dormant,
    Closed,
}

/// One customer as the core banking system knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// 1-based customer number inside the sandbox; the CIF is `1_000_000_000 + index`.
    pub index: u64,
    pub cif: u64,
    pub kind: CustomerKind,
    pub name: String,
    pub id_type: IdType,
    pub id_number: String,
    pub mobile: String,
    pub email: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    pub address: String,
    /// Occupation for individuals, industry for corporates.
    pub occupation: String,
    /// Six-digit branch number (the branch's district code).
    pub branch: String,
    pub relationship_manager: Option<String>,
    pub onboarded_on: NaiveDate,
    pub status: CustomerStatus,
    /// Whether core has checked the ID number against the issuing authority (for
    /// resident IDs, the public-security identity check); only verified records may
    /// be merged into one party.
    pub id_verified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountType {
    Current,
    Savings,
    TimeDeposit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    Active,
    Dormant,
    Frozen,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 19-digit, Luhn-valid account number.
    pub number: String,
    pub cif: u64,
    pub kind: AccountType,
    pub currency: &'static str,
    pub balance: Decimal,
    pub available_balance: Decimal,
    pub status: AccountStatus,
    pub opened_on: NaiveDate,
    /// Time deposits only.
    pub maturity_date: Option<NaiveDate>,
    /// Percent per year.
    pub interest_rate: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreditDebit {
    Credit,
    Debit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionChannel {
    Counter,
    Atm,
    Pos,
    Mobile,
    Web,
    Wechat,
    Batch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: String,
    pub account_number: String,
    /// Booking time, Beijing local time.
    pub booked_at: NaiveDateTime,
    pub direction: CreditDebit,
    /// Always positive; `direction` carries the sign.
    pub amount: Decimal,
    pub currency: &'static str,
    /// The 摘要 printed on statements.
    pub description: &'static str,
    pub channel: TransactionChannel,
    pub counterparty: Option<String>,
}

/// Which transactions of an account to return: newest first, after `offset` matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionQuery {
    /// Inclusive lower bound on the booking time (Beijing local time).
    pub from: Option<NaiveDateTime>,
    /// Inclusive upper bound on the booking time (Beijing local time).
    pub to: Option<NaiveDateTime>,
    /// Number of matching transactions to skip, newest first.
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionPage {
    pub items: Vec<Transaction>,
    /// Offset of the next page, if there is one.
    pub next_offset: Option<u64>,
    /// Number of transactions matching the time filters.
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardType {
    Debit,
    Credit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardLevel {
    Standard,
    Gold,
    Platinum,
    Diamond,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatus {
    Inactive,
    Active,
    Frozen,
    Lost,
    Expired,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStatement {
    pub closing_date: NaiveDate,
    pub due_date: NaiveDate,
    pub minimum_payment: Decimal,
    pub balance: Decimal,
}

/// The credit side of a credit card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditLine {
    pub limit: Decimal,
    pub available: Decimal,
    /// Outstanding balance owed.
    pub outstanding: Decimal,
    pub days_past_due: u32,
    pub statement: CardStatement,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub id: String,
    /// Full 16-digit, Luhn-valid PAN; the hub masks it.
    pub number: String,
    pub cif: u64,
    pub kind: CardType,
    pub product_name: &'static str,
    pub level: CardLevel,
    pub status: CardStatus,
    pub issued_on: NaiveDate,
    /// Debit cards: the current account they draw on.
    pub linked_account: Option<String>,
    /// Credit cards only.
    pub credit: Option<CreditLine>,
    pub currency: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoanProduct {
    Mortgage,
    Consumer,
    Business,
    Auto,
    CreditLine,
}

/// The five-level loan classification (五级分类).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FiveLevelClass {
    Normal,
    SpecialMention,
    Substandard,
    Doubtful,
    Loss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoanStatus {
    Active,
    PaidOff,
    Restructured,
    WrittenOff,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loan {
    pub id: String,
    pub cif: u64,
    pub product: LoanProduct,
    pub original_principal: Decimal,
    pub outstanding: Decimal,
    /// Percent per year.
    pub interest_rate: Decimal,
    pub term_months: u32,
    pub start_date: NaiveDate,
    pub maturity_date: NaiveDate,
    /// Absent once the loan is paid off or written off.
    pub next_payment_date: Option<NaiveDate>,
    pub next_payment_amount: Option<Decimal>,
    pub overdue_days: u32,
    pub class: FiveLevelClass,
    pub status: LoanStatus,
    pub currency: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserState {
    Normal,
    Locked,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnlineChannel {
    App,
    Web,
    Wechat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub os: &'static str,
    pub model: &'static str,
    pub bound_at: NaiveDateTime,
    pub trusted: bool,
}

/// A registered internet/mobile banking user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineUser {
    /// The channel system's own user id, not the CIF.
    pub uid: String,
    pub cif: u64,
    pub state: UserState,
    pub registered_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub preferred_channel: OnlineChannel,
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Password,
    SmsOtp,
    Biometric,
    UsbKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginResult {
    Success,
    Failed,
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEvent {
    pub at: NaiveDateTime,
    pub channel: OnlineChannel,
    pub auth_method: AuthMethod,
    pub result: LoginResult,
    pub ip_region: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEventPage {
    pub items: Vec<LoginEvent>,
    pub next_offset: Option<u64>,
    pub total: u64,
}

/// How the related customer stands to this one, seen from this customer (the hub's
/// `RelationshipKind`): `Parent` means the related customer is this one's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelationKind {
    Spouse,
    Parent,
    Child,
    JointHolder,
    Guarantor,
    Guaranteed,
    LegalRepresentative,
    Represents,
    Shareholder,
    Holding,
}

impl RelationKind {
    /// The same relationship seen from the related customer.
    pub fn mirror(self) -> RelationKind {
        use RelationKind::*;
        match self {
            Spouse => Spouse,
            Parent => Child,
            Child => Parent,
            JointHolder => JointHolder,
            Guarantor => Guaranteed,
            Guaranteed => Guarantor,
            LegalRepresentative => Represents,
            Represents => LegalRepresentative,
            Shareholder => Holding,
            Holding => Shareholder,
        }
    }
}

/// One relationship of one customer, as core banking records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub cif: u64,
    pub related_cif: u64,
    pub kind: RelationKind,
    /// The loan guaranteed, or the account held jointly.
    pub reference: Option<String>,
    /// A shareholder's share in percent, two decimals.
    pub share: Option<Decimal>,
    pub since: NaiveDate,
}

/// The customer records core banking believes belong to one person: those sharing a
/// verified ID number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub cif: u64,
    pub id_verified: bool,
    /// CIFs, ascending, this customer's included.
    pub members: Vec<u64>,
}

/// Core banking's management-information view of a customer's last twelve months
/// (the hub's `Activity`). Amounts are CNY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySummary {
    pub cif: u64,
    pub as_of: NaiveDate,
    /// (first day of the month, monthly average daily deposit balance), oldest first,
    /// six months, the current month last.
    pub monthly_average_balances: Vec<(NaiveDate, Decimal)>,
    pub transactions_12m: u32,
    pub transactions_90d: u32,
    pub transactions_prior_90d: u32,
    pub last_transaction_on: Option<NaiveDate>,
    pub payroll_months_12m: u32,
    pub last_payroll_on: Option<NaiveDate>,
    pub inflow_90d: Decimal,
    pub outbound_transfers_30d: Decimal,
    pub current_min_balance_90d: Decimal,
    pub card_last_used_on: Option<NaiveDate>,
}
