//! The one place where failures become GraphQL errors, with a stable
//! `extensions.code` (and `extensions.source` for upstream failures). Upstream bodies
//! never reach the client; the details were logged where the call failed.

use async_graphql::{Context, Error};

use crate::connectors::ConnectorError;
use crate::errors::{ApiError, ErrorCode};

/// A failed upstream read, for the field it degrades.
pub fn upstream(error: &ConnectorError) -> Error {
    let mut api = ApiError::new(error.kind.code(), error.client_message())
        .with("source", error.system.as_str());
    if let Some(path) = &error.path {
        api = api.with("path", path.as_str());
    }
    api.into()
}

/// Bad input from the client, naming the argument and the problem.
pub fn bad_input(field: &str, problem: impl std::fmt::Display) -> Error {
    ApiError::new(ErrorCode::BadUserInput, format!("{field}: {problem}"))
        .with("field", field)
        .into()
}

/// An input field that breaks a domain rule.
pub fn invalid(error: crate::domain::InvalidField) -> Error {
    bad_input(error.field, error.problem)
}

pub fn not_found(what: impl std::fmt::Display) -> Error {
    ApiError::new(ErrorCode::NotFound, format!("{what} not found")).into()
}

/// Degrades a nullable field: on error, records it at this field's path and answers
/// null, so the failure costs this field and nothing around it (a sibling, the
/// parent object, or a whole list of them).
pub fn degrade<T>(ctx: &Context<'_>, result: async_graphql::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
            None
        }
    }
}

/// A failed operation on the hub's own database. The cause is logged here, once; the
/// client sees the code and a safe message, never SQL.
pub fn store(error: &crate::store::StoreError) -> Error {
    use crate::store::StoreError;
    let message = match error {
        StoreError::Unavailable(_) => {
            tracing::warn!(error = %error, "store unavailable");
            "the hub's database is unavailable; nothing was written, try again later".to_owned()
        }
        StoreError::Conflict { .. } | StoreError::NotFound { .. } => error.to_string(),
        _ => {
            tracing::error!(error = %error, "store failure");
            "internal error in the hub's database".to_owned()
        }
    };
    ApiError::new(error.code(), message).into()
}

/// A referenced record that does not exist, naming the input field that referenced it.
pub fn not_found_field(field: &str, what: impl std::fmt::Display) -> Error {
    ApiError::new(ErrorCode::NotFound, format!("{field}: {what} not found"))
        .with("field", field)
        .into()
}

/// A marketing contact the customer has refused (`reason`: `CONSENT_WITHDRAWN` or
/// `DO_NOT_CONTACT`).
pub fn consent_withdrawn(reason: crate::domain::ContactReason, channel: &str) -> Error {
    let message = match reason {
        crate::domain::ContactReason::DoNotContact => {
            "the customer asked not to be contacted for marketing".to_owned()
        }
        _ => format!("the customer withdrew marketing consent on {channel}"),
    };
    ApiError::new(ErrorCode::ConsentWithdrawn, message)
        .with("reason", reason.as_str())
        .into()
}

/// Outside what the caller's role and scope allow: [`ApiError::forbidden`].
pub fn forbidden(what: impl std::fmt::Display) -> Error {
    ApiError::forbidden(what).into()
}

/// [`forbidden`] about one input field, named in `extensions.field` as
/// [`bad_input`] names it, so a client can point at what it must not send.
pub fn forbidden_field(field: &str, what: impl std::fmt::Display) -> Error {
    ApiError::forbidden(what).with("field", field).into()
}

/// [`forbidden`] because the token lacks a claim the operation needs, named in
/// `extensions.claim`.
pub fn forbidden_claim(claim: &str, what: impl std::fmt::Display) -> Error {
    ApiError::forbidden(what).with("claim", claim).into()
}

/// What a de-identified (pseudonymous) role may not have, naming the field or
/// argument and why: `FORBIDDEN`, like any other refusal by role.
pub fn deidentified(field: &str, why: impl std::fmt::Display) -> Error {
    ApiError::new(ErrorCode::Forbidden, format!("{field}: {why}"))
        .with("field", field)
        .into()
}
