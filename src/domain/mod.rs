//! Canonical banking types: what the hub means by a customer, an account, a card, a
//! loan and an online-banking user, whatever the upstream system calls them.
//!
//! No HTTP and no SQL here. Connectors map each upstream's JSON onto these types (the
//! mapping lives in `connectors/*.toml` and is checked against [`fields`]); the GraphQL
//! layer exposes them. Money is always [`Money`] (a `rust_decimal::Decimal` and an ISO
//! 4217 currency), never a float. Interactions, consents and contact preferences are
//! the hub's own records (see [`crate::store`]).

mod account;
mod activity;
mod card;
mod channel;
mod classes;
mod consent;
mod customer;
pub mod dates;
pub mod fields;
mod ids;
mod interaction;
mod loan;
mod money;
mod page;
mod relationship;

pub use account::{
    Account, AccountStatus, AccountType, CreditDebit, Transaction, TransactionChannel,
};
pub use activity::Activity;
pub use card::{Card, CardKind, CardLevel, CardStatus, Statement};
pub use channel::{
    AuthMethod, Device, DigitalChannel, LoginEvent, LoginResult, OnlineUser, OnlineUserStatus,
};
pub use classes::{ClassSet, DataClass};
pub use consent::{
    bank_time_zone, consent_state, current_consents, marketing_refusal, may_contact, Consent,
    ConsentPurpose, ConsentState, ContactChannel, ContactDecision, ContactPreferences,
    ContactReason, NewConsent, NewContactPreferences, QuietHours, DEFAULT_QUIET_HOURS,
};
pub use customer::{Customer, CustomerKind, CustomerStatus, Gender, IdDocument, IdType};
pub use ids::{Cif, IdError, System};
pub use interaction::{
    code as parse_code, optional_notes, to_micros, Interaction, InteractionChange,
    InteractionChannel, InteractionDimension, InteractionDirection, InteractionOutcome,
    InteractionType, InteractionUpdate, InvalidField, NewInteraction, RawInteraction, UnknownCode,
};
pub use loan::{Loan, LoanClass, LoanProduct, LoanStatus, NextPayment};
pub use money::{to_fen, Money};
pub use page::Page;
pub use relationship::{PartyMembers, Relationship, RelationshipKind};
