//! The document a request runs: the one it sent, the one an automatic persisted
//! query's hash (Apollo's protocol) stands for, or, for a caller the allowlist
//! covers, only one of the persisted-query manifest's. The same rules for every
//! transport: a WebSocket `subscribe` message carries the same parameters.

use serde_json::Value;

use super::protocol::Params;
use super::AppState;
use crate::cache::PersistedQueryError;
use crate::errors::{ApiError, ErrorCode};

/// The document of a request: sent, or found by its persisted-query hash.
pub(super) async fn document(
    state: &AppState,
    params: &mut Params,
    role: &str,
) -> Result<String, ApiError> {
    let persisted = params
        .extensions
        .as_ref()
        .and_then(|e| e.get("persistedQuery"))
        .and_then(Value::as_object);
    if let Some(allowlist) = state.allowlist.as_ref().filter(|l| l.applies_to(role)) {
        let id = persisted
            .and_then(|p| p.get("sha256Hash"))
            .and_then(Value::as_str);
        return match allowlist.find(id, params.query.as_deref()) {
            Some(document) => Ok(document),
            None => {
                state
                    .metrics
                    .refused
                    .with_label_values(&["not_allowlisted"])
                    .inc();
                Err(ApiError::new(
                    ErrorCode::OperationNotAllowed,
                    "only the operations of the persisted-query manifest may run for this caller",
                ))
            }
        };
    }
    let Some(persisted) = persisted else {
        return params
            .query
            .take()
            .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "`query` is missing"));
    };
    let hash = persisted
        .get("sha256Hash")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = persisted.get("version").and_then(Value::as_i64);
    match state
        .persisted
        .resolve(params.query.take(), version, hash)
        .await
    {
        Ok(query) => Ok(query),
        // Apollo clients look for this exact message, then resend with the document.
        Err(PersistedQueryError::NotFound) => Err(ApiError::new(
            ErrorCode::PersistedQueryNotFound,
            "PersistedQueryNotFound",
        )),
        Err(PersistedQueryError::HashMismatch) => Err(ApiError::new(
            ErrorCode::BadRequest,
            "persistedQuery.sha256Hash does not match the query",
        )),
        Err(PersistedQueryError::Invalid(problem)) => {
            Err(ApiError::new(ErrorCode::BadRequest, problem))
        }
    }
}
