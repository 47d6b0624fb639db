//! The `GET` and `POST /graphql` handlers: each negotiates the media type, reads and
//! checks the request by the rules of [`super::protocol`], authenticates the caller
//! ([`super::caller`]) and hands the operation to [`super::execute`].

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;

use super::execute::execute;
use super::protocol::{
    invalid_request, request_error, MediaType, Method, Params, APPLICATION_JSON,
};
use super::{caller, trace, AppState};
use crate::errors::{ApiError, ErrorCode};

fn not_acceptable() -> Response {
    request_error(
        MediaType::Json,
        ApiError::new(
            ErrorCode::NotAcceptable,
            "Accept must allow application/graphql-response+json or application/json",
        ),
    )
}

/// `POST /graphql`: a JSON body, refused before it is read when it is not JSON.
pub(super) async fn graphql_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Extension(trace): Extension<trace::RequestTrace>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    if let Err(problem) = json_content_type(&headers) {
        return request_error(
            media,
            ApiError::new(ErrorCode::UnsupportedMediaType, problem),
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("request body larger than {} bytes", state.body_limit),
                )
            } else {
                ApiError::new(ErrorCode::BadRequest, "request body could not be read")
                    .with_status(status)
            };
            return request_error(media, error);
        }
    };
    if body.is_empty() {
        return invalid_request(media, "request body is empty; send {\"query\": \"…\"}");
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return invalid_request(media, format!("request body is not valid JSON: {e}")),
    };
    let params = match Params::from_json(value) {
        Ok(params) => params,
        Err(problem) => return invalid_request(media, problem),
    };
    let session = match caller::authenticate(&state, &headers, Some(peer), media, trace).await {
        Ok(session) => session,
        Err(refused) => return refused,
    };
    // Boxed: the request's state, about 8.8 KB, would otherwise be moved whole from
    // one of the router's wrappers to the next.
    Box::pin(execute(&state, media, params, Method::Post, session)).await
}

/// `GET /graphql`: parameters in the query string; GraphiQL for a browser when it is
/// on and no query is given.
pub(super) async fn graphql_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Extension(trace): Extension<trace::RequestTrace>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if state.graphiql && wants_html && !pairs.iter().any(|(k, _)| k == "query") {
        return super::console::graphiql(&state);
    }
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let params = match Params::from_query(pairs) {
        Ok(params) => params,
        Err(problem) => return invalid_request(media, problem),
    };
    let session = match caller::authenticate(&state, &headers, Some(peer), media, trace).await {
        Ok(session) => session,
        Err(refused) => return refused,
    };
    // Boxed, as for `POST`.
    Box::pin(execute(&state, media, params, Method::Get, session)).await
}

/// `Content-Type` must be `application/json`, in UTF-8 if a charset is given.
fn json_content_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("Content-Type is missing; send application/json".into());
    };
    let value = value
        .to_str()
        .map_err(|_| "Content-Type is not readable".to_owned())?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != APPLICATION_JSON {
        return Err(format!(
            "Content-Type {essence} is not supported; send application/json"
        ));
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("charset")
                && !charset
                    .trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case("utf-8")
            {
                return Err("only UTF-8 request bodies are supported".into());
            }
        }
    }
    Ok(())
}
