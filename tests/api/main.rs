//! The hub's integration tests: one binary, one module per feature, all sharing the
//! harness in `common` (a sandbox and a hub on port 0, over real HTTP).
//!
//! One binary rather than one per file: the harness and the hub compile once, and a
//! `cargo test` links one executable instead of thirty. The modules run as threads of
//! one process: a test keeps its state in its own hub, database and key prefix, and
//! sets no environment variable.
//!
//! Tests that need PostgreSQL, Redis or RabbitMQ are ignored (and say so) unless
//! `C360_TEST_DATABASE_URL` / `C360_TEST_REDIS_URL` / `C360_TEST_AMQP_URL` were set
//! when the tests were built; see `build.rs`. With the variable set, a missing service fails the test.
//!
//! `tests/soak.rs` stays a binary of its own (`cargo test --test soak`): it drives a
//! `c360 demo` process through half a minute of faults or more, and is run alone.

#[macro_use]
mod common;

mod access;
mod access_audit;
mod audit_chain;
mod audit_trail;
mod auth;
mod batching;
mod bench;
mod bi;
mod book;
mod cache;
mod cache_redis;
mod connector_specs;
mod consents;
mod console;
mod customer360;
mod data_classes;
mod export;
mod fail_closed;
mod feed;
mod fuzz;
mod http_protocol;
mod insights;
mod interactions;
mod module_edges;
mod no_pii_in_logs;
mod observability;
mod partial_failure;
mod party_data;
mod production_build;
mod reload;
mod resilience;
mod sandbox_determinism;
mod schema_snapshot;
mod search;
mod shutdown;
mod snapshot;
mod store_failures;
mod store_postgres;
mod subscriptions;
mod telemetry;
mod token_cli;
