//! Who is calling: the bearer token verified, the role looked up, the stated purpose
//! read. Runs before any GraphQL work, on every HTTP request (cache hit or not) and
//! on every WebSocket connection; what follows, rate limits included, is the
//! pipeline's ([`super::pipeline`]), the same for both transports.

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::protocol::{request_error, MediaType};
use super::AppState;
use crate::auth::{Identity, Purpose, Viewer};
use crate::errors::{ApiError, ErrorCode};

/// The header a staff member's front end states the purpose of a read in.
pub const PURPOSE_HEADER: &str = "x-c360-purpose";

/// A caller whose token was verified: what every operation it sends starts from,
/// over HTTP (one request) or WebSocket (a whole connection).
#[derive(Clone)]
pub struct Session {
    pub identity: Identity,
    /// When the token stops being accepted; a WebSocket connection ends then.
    pub expires: SystemTime,
    pub purpose: Option<Purpose>,
    pub peer: Option<SocketAddr>,
    /// The W3C trace id of the request (the caller's, else a new one), which the
    /// access audit records so that a read can be matched to logs and traces.
    pub trace_id: String,
    /// The caller's `tracestate`, for the upstream calls made for the request.
    pub trace_state: opentelemetry::trace::TraceState,
}

/// 401, with the GraphQL error body the issue asks for and the `WWW-Authenticate`
/// challenge RFC 6750 asks for.
pub fn unauthenticated(media: MediaType, message: impl Into<String>) -> Response {
    let mut response = request_error(media, ApiError::new(ErrorCode::Unauthenticated, message));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"c360\", error=\"invalid_token\""),
    );
    response
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Result<&str, &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("missing bearer token: send Authorization: Bearer <JWT>")?
        .to_str()
        .map_err(|_| "the Authorization header is not readable text")?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or("the Authorization header must be: Bearer <JWT>")?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err("the Authorization header must be: Bearer <JWT>");
    }
    Ok(token.trim())
}

/// Why a token was refused: 401, or 503 while the identity provider's keys cannot
/// be fetched (the caller's token may be fine).
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

/// Verifies a token and finds its role: the identity and when the token expires, or
/// why not.
pub async fn identify(state: &AppState, token: &str) -> Result<(Identity, SystemTime), Refusal> {
    let (identity, expires) = state
        .verifier
        .verify_until(token)
        .await
        .map_err(|e| Refusal {
            status: e.status(),
            message: e.to_string(),
        })?;
    if state.policies.current().role(&identity.role).is_none() {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            message: format!(
                "role '{}' is not defined in the hub's policies",
                identity.role
            ),
        });
    }
    Ok((identity, expires))
}

/// The HTTP answer to a refused token, counted in the hub's metrics.
pub fn refused(state: &AppState, media: MediaType, refusal: Refusal) -> Response {
    state
        .metrics
        .refused
        .with_label_values(&["unauthenticated"])
        .inc();
    if refusal.status == StatusCode::UNAUTHORIZED {
        unauthenticated(media, refusal.message)
    } else {
        request_error(
            media,
            ApiError::new(ErrorCode::KeysUnavailable, refusal.message).with_status(refusal.status),
        )
    }
}

/// The viewer an identity gets, with its purpose and client; `None` when its role is
/// no longer defined (the policies were reloaded since the token was checked).
pub fn viewer_for(
    state: &AppState,
    identity: Identity,
    purpose: Option<Purpose>,
    peer: Option<SocketAddr>,
) -> Option<Viewer> {
    let policy = state.policies.current().role(&identity.role).cloned()?;
    Some(
        Viewer::new(identity, policy, purpose, peer.map(|p| p.ip().to_string()))
            .with_deidentify(state.deidentify.clone()),
    )
}

/// The purpose a caller stated (`X-C360-Purpose`, or the same key in a WebSocket's
/// `connection_init`), if any; a value that names none is refused, never ignored.
pub fn stated_purpose(raw: Option<&str>) -> Result<Option<Purpose>, String> {
    match raw {
        None => Ok(None),
        Some(raw) => Purpose::parse(raw).map(Some).ok_or_else(|| {
            format!(
                "X-C360-Purpose must be one of {}",
                Purpose::NAMES.join(", ")
            )
        }),
    }
}

/// Authenticates an HTTP request (of trace `trace`): its token and stated purpose.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    media: MediaType,
    trace: super::trace::RequestTrace,
) -> Result<Session, Response> {
    let token = bearer(headers).map_err(|m| {
        refused(
            state,
            media,
            Refusal {
                status: StatusCode::UNAUTHORIZED,
                message: m.to_owned(),
            },
        )
    })?;
    let (identity, expires) = identify(state, token)
        .await
        .map_err(|r| refused(state, media, r))?;
    let purpose = stated_purpose(
        headers
            .get(PURPOSE_HEADER)
            .map(|v| v.to_str().unwrap_or("")),
    )
    .map_err(|problem| request_error(media, ApiError::new(ErrorCode::BadRequest, problem)))?;
    Ok(Session {
        identity,
        expires,
        purpose,
        peer,
        trace_id: trace.trace_id,
        trace_state: trace.trace_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_standard_header_only() {
        let mut headers = HeaderMap::new();
        assert!(bearer(&headers).is_err());
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&headers).is_err());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer a.b.c"),
        );
        assert_eq!(bearer(&headers).unwrap(), "a.b.c");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(bearer(&headers).is_err());
    }
}
