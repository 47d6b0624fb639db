//! The built-in sandbox.
pub mod bank;
