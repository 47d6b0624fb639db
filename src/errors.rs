//! The error catalogue: every `extensions.code` the hub can answer with, the HTTP
//! status that goes with it, and [`ApiError`], the one error value that renders both as
//! an HTTP response and as a GraphQL error. `docs/errors.md` is generated from
//! [`ErrorCode::ALL`]; a unit test fails when the two drift apart.
//!
//! A leaf: every layer may use it, it uses none of them, so a module can refuse a
//! request with a stable code without depending on the module that answers it.
//!
//! Causes are printed once across the crate's `thiserror` types: an error that is
//! shown on its own (logged with `%`, returned by `to_string`) carries its cause in its
//! message and does not also return it from `source()`; a wrapper that `main` prints
//! with anyhow's cause chain says what failed and leaves the why to `source()`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// Generates [`ErrorCode`] with its wire string, status and meaning side by side, so
/// that adding a code cannot forget one of them (or the docs, which list `ALL`).
macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $status:ident, $meaning:literal;)+) => {
        /// A stable `extensions.code`. Clients branch on these strings: a name, once
        /// shipped, is never changed or reused for another meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order of `docs/errors.md`.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The string clients see in `extensions.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The status of an HTTP response that this error ends. Codes reported
            /// beside `data` (field errors, warnings) answer 200, as every executed
            /// operation does.
            pub const fn http_status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }

            /// When the code is used, in one line (the "Meaning" of `docs/errors.md`).
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)+
                }
            }
        }
    };
}

catalogue! {
    // Request errors: the answer has no `data`, only this error.
    BadRequest = "BAD_REQUEST", BAD_REQUEST,
        "A malformed request: an unreadable or empty body, invalid JSON or parameters, an unknown `X-C360-Purpose`, a change event `POST /events` cannot read or whose `timestamp` is further than `events.max_age` from the hub's clock (with `extensions.field`).";
    NotAcceptable = "NOT_ACCEPTABLE", NOT_ACCEPTABLE,
        "`Accept` allows neither `application/graphql-response+json` nor `application/json`.";
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", UNSUPPORTED_MEDIA_TYPE,
        "A `POST /graphql` whose `Content-Type` is not `application/json`, refused before anything runs.";
    PayloadTooLarge = "PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE,
        "A request body over `server.body_limit`.";
    MethodNotAllowed = "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED,
        "A mutation or subscription sent over `GET` (the answer carries `Allow: POST`).";
    Unauthenticated = "UNAUTHENTICATED", UNAUTHORIZED,
        "No bearer token, or one that is invalid, expired or names an undefined role; for `POST /events`, a missing or wrong signature.";
    KeysUnavailable = "KEYS_UNAVAILABLE", SERVICE_UNAVAILABLE,
        "The identity provider's signing keys cannot be fetched, so no token can be checked; the token may be fine, retry later.";
    RateLimited = "RATE_LIMITED", TOO_MANY_REQUESTS,
        "Over the per-subject or per-client rate limit (the answer carries `Retry-After`).";
    OperationNotAllowed = "OPERATION_NOT_ALLOWED", FORBIDDEN,
        "Allowlist mode: the document is not in the persisted-query manifest for this caller's role.";
    PersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND", OK,
        "An automatic persisted query whose hash the hub does not know yet; the client resends it with the document.";
    GraphqlValidationFailed = "GRAPHQL_VALIDATION_FAILED", BAD_REQUEST,
        "A document that does not parse or validate, or variables that do not coerce (200 under legacy `application/json`).";
    TooManyAliases = "TOO_MANY_ALIASES", BAD_REQUEST,
        "A document with more aliases than `graphql.max_aliases`.";
    IntrospectionDisabled = "INTROSPECTION_DISABLED", FORBIDDEN,
        "`__schema` or `__type` asked by a caller whose role may not introspect.";
    RequestTimeout = "REQUEST_TIMEOUT", GATEWAY_TIMEOUT,
        "The request did not finish within `server.request_timeout`.";
    AuditUnavailable = "AUDIT_UNAVAILABLE", SERVICE_UNAVAILABLE,
        "A staff read the access audit could not record in time (its database is not taking writes, or the hub is stopping); nothing is answered.";
    EventsDisabled = "EVENTS_DISABLED", SERVICE_UNAVAILABLE,
        "`POST /events` while `events.secret` is not set.";
    EventsUnavailable = "EVENTS_UNAVAILABLE", SERVICE_UNAVAILABLE,
        "`POST /events` while Redis, which remembers the event ids every hub has received, does not answer: nothing was invalidated; send the same body again.";
    Internal = "INTERNAL", INTERNAL_SERVER_ERROR,
        "A fault in the hub (a response that cannot be written, a database failure retrying will not fix); as a field error, 200 beside `data`.";
    // Field errors: the field is null and the rest of the answer stands.
    BadUserInput = "BAD_USER_INPUT", BAD_REQUEST,
        "An argument or input field that breaks a rule (with `extensions.field`), answered 200 beside `data`; as a request error, a required variable not given (200 under legacy `application/json`).";
    NotFound = "NOT_FOUND", OK,
        "A customer or a referenced record that does not exist (with `extensions.field` when an input named it).";
    Forbidden = "FORBIDDEN", OK,
        "Outside what the caller's role and scope allow; says what was refused, never whether it exists.";
    Conflict = "CONFLICT", OK,
        "An idempotency key already used for a different request; for `POST /events` (answered 409, with `extensions.field`: `id`), an event id already received within `events.max_age`.";
    ConsentWithdrawn = "CONSENT_WITHDRAWN", OK,
        "A marketing contact the customer refused (`extensions.reason`: `CONSENT_WITHDRAWN` or `DO_NOT_CONTACT`).";
    StoreUnavailable = "STORE_UNAVAILABLE", OK,
        "The hub's database is down, locked or full: nothing was written, retry later; upstream data still answers unaudited reads.";
    UpstreamUnavailable = "UPSTREAM_UNAVAILABLE", OK,
        "An upstream system refused the connection, answered 5xx or 429, or its circuit is open (with `extensions.source`).";
    UpstreamTimeout = "UPSTREAM_TIMEOUT", OK,
        "An upstream system did not answer within its connector's timeout (with `extensions.source`).";
    UpstreamBadResponse = "UPSTREAM_BAD_RESPONSE", OK,
        "An upstream answer the connector cannot read or map (with `extensions.source` and `extensions.path`).";
    UpstreamRejected = "UPSTREAM_REJECTED", OK,
        "An upstream system refused the call with a 4xx or a business error code (with `extensions.source`).";
    // Warnings: in `extensions.warnings`, beside complete data.
    StaleData = "STALE_DATA", OK,
        "A warning, not an error: a failing system's data served from cache past its time to live (with `source`).";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the client sees it: a code from the catalogue, a safe message, and
/// the extensions that go with the code (`field`, `source`, `path`, `reason`).
///
/// It renders as an HTTP response (a GraphQL error body with the code's status) and
/// converts into an `async_graphql::Error` with the same extensions, so a module
/// below GraphQL can refuse with a code without knowing the transport.
///
/// It deliberately implements neither `Display` nor `std::error::Error`:
/// async-graphql converts any `Display` type into an error without extensions, and
/// `?` would then drop the code silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    /// Set where the GraphQL-over-HTTP specification decides the status (a request
    /// error under legacy `application/json` is 200), else the code's own.
    status: Option<StatusCode>,
    /// Extensions beside `code`, in the order they were added.
    extensions: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            status: None,
            extensions: Vec::new(),
        }
    }

    /// Outside what the caller's role and scope allow. Says what was refused, never
    /// whether the thing exists or what it holds.
    pub fn forbidden(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            ErrorCode::Forbidden,
            format!("{what}: not allowed for this caller"),
        )
    }

    /// Adds an extension beside `code` (`field`, `source`, `path`, `reason`).
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> ApiError {
        self.extensions.push((key, value.into()));
        self
    }

    /// Answers with `status` instead of the code's own.
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status of the HTTP response this error ends.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(self.code.http_status())
    }

    /// The GraphQL response body: `{"errors": [{"message", "extensions": {"code", …}}]}`.
    pub fn body(&self) -> Value {
        let mut extensions = Map::new();
        extensions.insert("code".into(), json!(self.code.as_str()));
        for (key, value) in &self.extensions {
            extensions.insert((*key).into(), json!(value));
        }
        json!({"errors": [{"message": self.message, "extensions": extensions}]})
    }

    /// The error as a whole GraphQL response's error (no location: it is about the
    /// request, not a place in the document).
    pub fn into_server_error(self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.message.clone(), None);
        error.extensions = Some(self.extension_values());
        error
    }

    fn extension_values(&self) -> async_graphql::ErrorExtensionValues {
        let mut values = async_graphql::ErrorExtensionValues::default();
        values.set("code", self.code.as_str());
        for (key, value) in &self.extensions {
            values.set(*key, value.as_str());
        }
        values
    }
}

impl IntoResponse for ApiError {
    /// The code's status (or the one set) and the GraphQL error body as
    /// `application/json`; the GraphQL endpoint replaces the media type with the one
    /// the client negotiated.
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> async_graphql::Error {
        let extensions = error.extension_values();
        let mut converted = async_graphql::Error::new(error.message);
        converted.extensions = Some(extensions);
        converted
    }
}

/// `docs/errors.md`, as the catalogue generates it.
pub fn catalogue_markdown() -> String {
    let mut text = String::from(
        "# Error codes\n\
         \n\
         <!-- Generated from `ErrorCode` in src/errors.rs; do not edit. Regenerate with\n\
         \x20    C360_UPDATE_DOCS=1 cargo test --lib errors:: -->\n\
         \n\
         Every error the hub answers with carries one of these codes in\n\
         `extensions.code`. A request error ends the response, which then has no `data`,\n\
         with the status below; a field error nulls its field and is reported in\n\
         `errors` beside the rest of the `data`, in a 200 response.\n\
         \n\
         | Code | HTTP status | Meaning |\n\
         |---|---|---|\n",
    );
    for code in ErrorCode::ALL {
        let status = code.http_status();
        text.push_str(&format!(
            "| `{}` | {} {} | {} |\n",
            code.as_str(),
            status.as_u16(),
            status.canonical_reason().unwrap_or_default(),
            code.description()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_screaming_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} is listed twice");
            assert!(
                text.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{text}"
            );
            assert!(!code.description().is_empty(), "{text}");
        }
    }

    #[test]
    fn http_bodies_are_a_graphql_error_with_the_code() {
        let error = ApiError::new(ErrorCode::TooManyAliases, "too many");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            error.body().to_string(),
            r#"{"errors":[{"message":"too many","extensions":{"code":"TOO_MANY_ALIASES"}}]}"#
        );
        let error = error.with_status(StatusCode::OK);
        assert_eq!(error.into_response().status(), StatusCode::OK);
    }

    #[test]
    fn graphql_errors_keep_the_code_and_the_extensions() {
        let error: async_graphql::Error = ApiError::new(ErrorCode::BadUserInput, "first: too big")
            .with("field", "first")
            .into();
        assert_eq!(error.message, "first: too big");
        let extensions = error.extensions.expect("extensions");
        assert_eq!(
            extensions.get("code"),
            Some(&async_graphql::Value::from("BAD_USER_INPUT"))
        );
        assert_eq!(
            extensions.get("field"),
            Some(&async_graphql::Value::from("first"))
        );
    }

    #[test]
    fn docs_errors_md_is_generated_from_the_catalogue() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md");
        let generated = catalogue_markdown();
        if std::env::var_os("C360_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &generated).expect("write docs/errors.md");
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            written == generated,
            "docs/errors.md differs from the ErrorCode catalogue in src/errors.rs; \
             regenerate it with: C360_UPDATE_DOCS=1 cargo test --lib errors::"
        );
    }
}
