//! Small constructors for the rules' unit tests: one customer's world, as of
//! 2026-03-31, that each test bends to the case it computes by hand.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::{
    Account, AccountStatus, AccountType, Activity, Card, CardKind, CardStatus, Cif, Consent,
    ConsentPurpose, ContactChannel, ContactPreferences, Customer, CustomerKind, CustomerStatus,
    IdDocument, IdType, Interaction, InteractionChannel, InteractionDirection, InteractionOutcome,
    InteractionType, Loan, LoanClass, LoanProduct, LoanStatus, Money, OnlineUser, OnlineUserStatus,
};

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Noon in Beijing on `d`.
pub fn noon(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(4, 0, 0).unwrap())
}

pub fn as_of() -> NaiveDate {
    day(2026, 3, 31)
}

pub fn d(v: &str) -> Decimal {
    v.parse().unwrap()
}

pub fn money(amount: &str, currency: &str) -> Money {
    Money {
        amount: d(amount),
        currency: currency.to_owned(),
        group_size: None,
    }
}

fn cif() -> Cif {
    Cif::parse("1000000001").unwrap()
}

pub fn customer() -> Customer {
    Customer {
        id: cif(),
        kind: CustomerKind::Individual,
        name: "张三".into(),
        id_document: IdDocument {
            id_type: IdType::ResidentId,
            number: "110101199005010011".into(),
        },
        mobile: None,
        email: None,
        birth_date: Some(day(1990, 5, 1)),
        gender: None,
        address: None,
        occupation: None,
        branch: Some("B01".into()),
        relationship_manager: None,
        onboarded_at: Some(day(2023, 1, 1)),
        status: CustomerStatus::Active,
    }
}

pub fn account(kind: AccountType, amount: &str, currency: &str) -> Account {
    Account {
        number: format!("6222{}", fastrand::u64(100_000_000..999_999_999)),
        customer_id: cif(),
        account_type: kind,
        currency: currency.to_owned(),
        balance: money(amount, currency),
        available_balance: None,
        status: AccountStatus::Active,
        opened_at: Some(day(2023, 1, 1)),
        maturity_date: None,
        interest_rate: None,
    }
}

pub fn credit_card(limit: &str, used: &str) -> Card {
    Card {
        id: format!("C{}", fastrand::u32(..)),
        number: "6225880000000000".into(),
        customer_id: cif(),
        kind: CardKind::Credit,
        product: None,
        level: None,
        status: CardStatus::Active,
        issued_at: Some(day(2024, 1, 1)),
        linked_account: None,
        credit_limit: Some(money(limit, "CNY")),
        available_credit: None,
        outstanding: Some(money(used, "CNY")),
        days_past_due: Some(0),
        statement: None,
    }
}

pub fn debit_card() -> Card {
    Card {
        kind: CardKind::Debit,
        credit_limit: None,
        outstanding: None,
        days_past_due: None,
        ..credit_card("0", "0")
    }
}

pub fn loan(product: LoanProduct, outstanding: &str, rate: Option<&str>) -> Loan {
    Loan {
        id: format!("L{}", fastrand::u32(..)),
        customer_id: cif(),
        product,
        principal: money(outstanding, "CNY"),
        outstanding: money(outstanding, "CNY"),
        rate: rate.map(d),
        term_months: Some(360),
        start_date: Some(day(2020, 1, 1)),
        maturity_date: Some(day(2050, 1, 1)),
        next_payment: None,
        overdue_days: 0,
        classification: LoanClass::Normal,
        status: LoanStatus::Active,
    }
}

/// Monthly average balances in CNY, oldest first; a quiet but active customer.
pub fn activity(balances: &[i64]) -> Activity {
    Activity {
        customer_id: cif(),
        as_of: as_of(),
        monthly_average_balances: balances.iter().map(|b| Decimal::from(*b)).collect(),
        transactions_12m: 60,
        transactions_90d: 15,
        transactions_prior_90d: 15,
        last_transaction_on: Some(day(2026, 3, 20)),
        payroll_months_12m: 0,
        last_payroll_on: None,
        inflow_90d: Decimal::ZERO,
        outbound_transfers_30d: Decimal::ZERO,
        current_min_balance_90d: Decimal::ZERO,
        card_last_used_on: None,
    }
}

pub fn online() -> OnlineUser {
    OnlineUser {
        user_id: "U1".into(),
        customer_id: cif(),
        status: OnlineUserStatus::Active,
        registered_at: Some(noon(day(2023, 1, 2))),
        last_login_at: Some(noon(day(2026, 3, 30))),
        preferred_channel: None,
        devices: Vec::new(),
    }
}

pub fn interaction(
    kind: InteractionType,
    channel: InteractionChannel,
    on: NaiveDate,
) -> Interaction {
    Interaction {
        id: Uuid::now_v7(),
        customer_id: cif(),
        channel,
        kind,
        direction: InteractionDirection::Inbound,
        occurred_at: noon(on),
        recorded_at: noon(on),
        staff_id: "S001".into(),
        branch_id: "B01".into(),
        subject: "contact".into(),
        notes: None,
        outcome: Some(InteractionOutcome::Resolved),
        satisfaction: None,
        follow_up_at: None,
        products: Vec::new(),
        updated_at: noon(on),
        revision: 0,
        recorded_by: None,
    }
}

pub fn consent(channel: ContactChannel, granted: bool) -> Consent {
    Consent {
        id: Uuid::now_v7(),
        customer_id: cif(),
        purpose: ConsentPurpose::Marketing,
        channel,
        granted,
        recorded_at: noon(day(2025, 1, 1)),
        source: InteractionChannel::Branch,
        evidence: None,
        staff_id: None,
    }
}

pub fn preferences(do_not_contact: bool) -> ContactPreferences {
    ContactPreferences {
        id: Uuid::now_v7(),
        customer_id: cif(),
        preferred_channel: None,
        quiet_hours: None,
        do_not_contact,
        recorded_at: noon(day(2025, 1, 1)),
        source: InteractionChannel::Branch,
        staff_id: None,
    }
}

/// One customer's records, owned, so that a test can change any of them.
pub type World = super::Records;

/// A GOLD customer of three years: one current account of 80,000 CNY with six
/// steady months, online banking used yesterday, app-push marketing consented.
pub fn world() -> World {
    World {
        as_of: as_of(),
        customer: customer(),
        accounts: vec![account(AccountType::Current, "80000", "CNY")],
        cards: Vec::new(),
        loans: Vec::new(),
        online: Some(online()),
        activity: Some(activity(&[80_000; 6])),
        interactions: Vec::new(),
        consents: vec![consent(ContactChannel::AppPush, true)],
        preferences: None,
        household_best_tier: None,
    }
}

impl World {
    pub fn activity_mut(&mut self) -> &mut Activity {
        self.activity.as_mut().unwrap()
    }
}
