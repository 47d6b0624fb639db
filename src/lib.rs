//! c360: a GraphQL customer-360 hub for banks.

pub mod sandbox;
