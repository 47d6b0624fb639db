//! c360: a GraphQL customer-360 hub for banks.
//!
//! # Layout
//! - [`config`]: layered configuration; the only reader of the environment.
//! - [`domain`]: canonical banking types (money as `rust_decimal`), no I/O.
//! - [`connectors`]: the `Connector` trait and the declarative REST runtime driven by
//!   `connectors/*.toml`.
//! - [`upstream`]: typed reads over the connectors (customers, accounts, cards, …).

pub mod config;
pub mod connectors;
pub mod domain;
