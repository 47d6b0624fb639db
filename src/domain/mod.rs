//! Canonical banking types: what the hub means by a customer, an account, a card, a
//! loan and an online-banking user, whatever the upstream system calls them.
//!
//! No HTTP and no SQL here. Connectors map each upstream's JSON onto these types (the
//! mapping lives in `connectors/*.toml` and is checked against [`fields`]); the GraphQL
//! layer exposes them. Money is always [`Money`] (a `rust_decimal::Decimal` and an ISO
//! 4217 currency), never a float.

mod account;
mod card;
mod channel;
mod customer;
pub mod fields;
mod ids;
mod loan;
mod money;
mod page;

pub use account::{
    Account, AccountStatus, AccountType, CreditDebit, Transaction, TransactionChannel,
};
pub use card::{Card, CardKind, CardLevel, CardStatus, Statement};
pub use channel::{
    AuthMethod, Device, DigitalChannel, LoginEvent, LoginResult, OnlineUser, OnlineUserStatus,
};
pub use customer::{Customer, CustomerKind, CustomerStatus, Gender, IdDocument, IdType};
pub use ids::{Cif, IdError, System};
pub use loan::{Loan, LoanClass, LoanProduct, LoanStatus, NextPayment};
pub use money::Money;
pub use page::Page;
