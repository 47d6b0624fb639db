//! What can go wrong when calling an upstream, in terms a client can act on.

use crate::domain::System;
use crate::errors::ErrorCode;

/// How an upstream call failed. Each kind has a stable GraphQL error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Connection refused or reset, 5xx, 429: the system is down or overloaded.
    Unavailable,
    /// No answer within the connector's timeout.
    Timeout,
    /// An answer we cannot read: not JSON, wrong shape, a value the mapping refuses.
    BadResponse,
    /// The upstream refused the call (4xx or a business error code).
    Rejected,
}

impl ErrorKind {
    pub fn code(self) -> ErrorCode {
        match self {
            ErrorKind::Unavailable => ErrorCode::UpstreamUnavailable,
            ErrorKind::Timeout => ErrorCode::UpstreamTimeout,
            ErrorKind::BadResponse => ErrorCode::UpstreamBadResponse,
            ErrorKind::Rejected => ErrorCode::UpstreamRejected,
        }
    }

    /// Whether trying again may help (idempotent reads only).
    pub fn retryable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

/// A failed upstream call. `detail` is for logs and operators: it never holds an
/// upstream body or personal data, only status, codes, pointers and field names.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{system} {endpoint}: {kind:?}: {detail}")]
pub struct ConnectorError {
    pub system: System,
    pub endpoint: String,
    pub kind: ErrorKind,
    /// HTTP status, when one came back.
    pub status: Option<u16>,
    /// The upstream's own error code, when it gave one.
    pub upstream_code: Option<String>,
    /// For bad responses: the item, canonical field and JSON pointer that failed.
    pub path: Option<String>,
    pub detail: String,
}

impl ConnectorError {
    pub fn new(system: System, endpoint: &str, kind: ErrorKind, detail: impl Into<String>) -> Self {
        ConnectorError {
            system,
            endpoint: endpoint.to_owned(),
            kind,
            status: None,
            upstream_code: None,
            path: None,
            detail: detail.into(),
        }
    }

    /// What a client may read: the kind and the system, nothing from the upstream's body.
    pub fn client_message(&self) -> String {
        match self.kind {
            ErrorKind::Unavailable => format!("{} is unavailable", self.system),
            ErrorKind::Timeout => format!("{} did not answer in time", self.system),
            ErrorKind::BadResponse => format!(
                "{} answered something the hub cannot read{}",
                self.system,
                self.path
                    .as_ref()
                    .map(|p| format!(" at {p}"))
                    .unwrap_or_default()
            ),
            ErrorKind::Rejected => format!(
                "{} refused the request{}",
                self.system,
                self.upstream_code
                    .as_ref()
                    .map(|c| format!(" (code {c})"))
                    .unwrap_or_default()
            ),
        }
    }
}
