//! GraphQL over HTTP, done to the specification: what `GET` and `POST /graphql` accept
//! and how their answers are written.
//!
//! async-graphql's stock axum integration answers `application/graphql-response+json`
//! even to `Accept: application/json`, returns 200 for parse and validation errors and
//! executes POSTs without a JSON content type. These handlers instead:
//! - negotiate the media type (`application/graphql-response+json` when accepted,
//!   else `application/json`; 406 when neither is acceptable);
//! - refuse a POST that is not `application/json` with 415 before anything runs (a
//!   `text/plain` form post is the CSRF route into a GraphQL API);
//! - refuse mutations over GET with 405;
//! - with `application/graphql-response+json`, answer request errors (bad JSON,
//!   invalid parameters, parse and validation failures) with 400 and no `data` entry;
//! - bound the body size (and, in [`super::execute`], the time) of each request, with
//!   a JSON error body.
//!
//! The `GET` and `POST` handlers that use these are in [`super::endpoint`]; a
//! well-formed request is authenticated by [`super::caller`] and run through the
//! stages of [`super::pipeline`], framed by [`super::execute`].

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::errors::{ApiError, ErrorCode};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub(super) const APPLICATION_JSON: &str = "application/json";

/// The media type an answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaType {
    GraphqlResponse,
    Json,
}

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }

    /// Picks the answer's media type from `Accept`: the client's most preferred of the
    /// two, `application/json` when the header is absent (legacy clients), `None`
    /// when neither is acceptable.
    pub(super) fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(MediaType::Json);
        };
        let mut best: Option<(f32, u8, MediaType)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .next()
                .unwrap_or(1.0);
            let candidate = match essence.as_str() {
                GRAPHQL_RESPONSE_JSON => Some((2, MediaType::GraphqlResponse)),
                APPLICATION_JSON => Some((1, MediaType::Json)),
                "*/*" | "application/*" => Some((0, MediaType::Json)),
                _ => None,
            };
            if let Some((specificity, media)) = candidate {
                if q > 0.0 && best.is_none_or(|(bq, bs, _)| q > bq || (q == bq && specificity > bs))
                {
                    best = Some((q, specificity, media));
                }
            }
        }
        best.map(|(_, _, media)| media)
    }
}

/// A request error answered before execution: a status, a message and a stable code.
pub(super) fn request_error(media: MediaType, error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// A request that is not a well-formed GraphQL-over-HTTP request: 400 whatever the
/// media type (the specification's 200-for-everything applies only to well-formed
/// requests under legacy `application/json`).
pub(super) fn invalid_request(media: MediaType, message: impl Into<String>) -> Response {
    request_error(media, ApiError::new(ErrorCode::BadRequest, message))
}

/// The parameters of a GraphQL-over-HTTP request, checked.
pub(super) struct Params {
    /// Absent when a persisted query's hash stands in for it.
    pub(super) query: Option<String>,
    pub(super) operation_name: Option<String>,
    pub(super) variables: Option<Map<String, Value>>,
    pub(super) extensions: Option<Map<String, Value>>,
}

impl Params {
    pub(super) fn from_json(value: Value) -> Result<Params, String> {
        let Value::Object(mut body) = value else {
            return Err("request body must be a JSON object with a `query`".into());
        };
        let query = match body.remove("query") {
            Some(Value::String(query)) => Some(query),
            None | Some(Value::Null) => None,
            Some(_) => return Err("`query` must be a string".into()),
        };
        let operation_name = match body.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => return Err("`operationName` must be a string or null".into()),
        };
        let variables = object_param(body.remove("variables"), "variables")?;
        let extensions = object_param(body.remove("extensions"), "extensions")?;
        Ok(Params {
            query,
            operation_name,
            variables,
            extensions,
        })
    }

    pub(super) fn from_query(pairs: Vec<(String, String)>) -> Result<Params, String> {
        let mut query = None;
        let mut operation_name = None;
        let mut variables = None;
        let mut extensions = None;
        for (key, value) in pairs {
            match key.as_str() {
                "query" => query = Some(value),
                "operationName" if !value.is_empty() => operation_name = Some(value),
                "variables" if !value.is_empty() => {
                    variables = Some(parse_json_param(&value, "variables")?)
                }
                "extensions" if !value.is_empty() => {
                    extensions = Some(parse_json_param(&value, "extensions")?)
                }
                _ => {}
            }
        }
        Ok(Params {
            query,
            operation_name,
            variables: object_param(variables, "variables")?,
            extensions: object_param(extensions, "extensions")?,
        })
    }
}

fn parse_json_param(raw: &str, name: &str) -> Result<Value, String> {
    serde_json::from_str(raw).map_err(|_| format!("`{name}` must be a JSON object"))
}

fn object_param(value: Option<Value>, name: &str) -> Result<Option<Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("`{name}` must be a JSON object or null")),
    }
}

/// The method a request came by: over GET only queries may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
}

/// Checks made on the parsed document before execution: the operation may run over
/// this method (`None`: a transport without methods), and every required variable is
/// given; `Some` is the refusal. A missing variable is a request error (no `data`),
/// which async-graphql would otherwise report as a field error.
pub(super) fn preflight(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
    variables: Option<&Map<String, Value>>,
    method: Option<Method>,
    media: MediaType,
) -> Option<ApiError> {
    let operation = match operation_name {
        Some(name) => document
            .operations
            .iter()
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
            .map(|(_, op)| op),
        None => document.operations.iter().next().map(|(_, op)| op),
    };
    let operation = operation?;
    if method == Some(Method::Get) && operation.node.ty != OperationType::Query {
        return Some(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "mutations and subscriptions are not allowed over GET; use POST",
        ));
    }
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        let given = variables
            .and_then(|v| v.get(name))
            .is_some_and(|v| !v.is_null());
        if !definition.var_type.node.nullable && definition.default_value.is_none() && !given {
            let status = match media {
                MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
                MediaType::Json => StatusCode::OK,
            };
            return Some(
                ApiError::new(
                    ErrorCode::BadUserInput,
                    format!(
                        "variable ${name} of type {} is required but was not given",
                        definition.var_type.node
                    ),
                )
                .with_status(status),
            );
        }
    }
    None
}

/// A GraphQL answer already written to text, in the negotiated media type.
pub(super) fn graphql_body(status: StatusCode, media: MediaType, body: Bytes) -> Response {
    let mut http = (status, body).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    http
}
