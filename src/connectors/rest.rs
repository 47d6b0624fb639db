//! The declarative REST runtime: one [`Connector`] for any upstream, driven by its
//! compiled spec.
//!
//! Each call: fill the templates, send with the system's timeout and credentials,
//! read at most `max_body` bytes, sort the answer into success, not-found or an error
//! kind using the system's own error envelope, then map each item. Idempotent calls
//! are retried with jittered exponential backoff on unavailability and timeouts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use foldhash::{HashMap, HashMapExt, HashSet};
use futures::future::join_all;
use http::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{StatusCode, Uri};
use hyper_util::client::proxy::matcher::Matcher;
use serde_json::Value;
use tracing::Instrument;

use super::address::BaseUrl;
use super::answer::{Answer, ItemsError};
use super::compile::{Auth, CompiledSpec, Endpoint};
use super::spec::MAX_BATCH_PAGES;
use super::template::render;
use super::transport::{CallError, Route, Transport, TransportSettings};
use super::tree::{Kept, Node, Pointer};
use super::{BatchResult, Connector, ConnectorError, ErrorKind, PageRequest, Params, Record};
use crate::domain::{Page, System};
use crate::metrics::Metrics;
use crate::telemetry::TraceContext;

/// Connections kept open per upstream: a 2-core hub rarely has more calls in flight
/// toward one system, and reusing connections saves a TLS handshake per call.
const IDLE_CONNECTIONS_PER_HOST: usize = 64;
/// Connecting must not eat the whole call timeout; a refused or black-holed host is
/// reported quickly.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The wait between retries stops doubling at this multiple of the spec's backoff (six
/// doublings), so that a spec with many attempts never sleeps past any sane deadline.
const MAX_BACKOFF_FACTOR: u32 = 64;

pub struct RestConnector {
    spec: CompiledSpec,
    base: BaseUrl,
    transport: Transport,
    guard: super::guard::Guard,
    /// The waits between the tries of one call: the spec's backoff, doubled per retry,
    /// plus a random jitter of up to the wait again, so that the calls that failed
    /// together do not all retry together.
    backoff: ExponentialBuilder,
    /// Where its calls, their latency and its circuit state are counted.
    metrics: Arc<Metrics>,
    /// The series every call touches, looked up once: finding a series by its labels
    /// hashes them each time, about 200 instructions a lookup.
    series: Series,
}

/// A connector's own series of [`Metrics`].
struct Series {
    circuit: prometheus::IntGauge,
    /// Per endpoint, its successful calls and its latency.
    endpoints: HashMap<String, (prometheus::IntCounter, prometheus::Histogram)>,
}

impl RestConnector {
    /// A connector for `spec`, routed by the proxy variables of the environment.
    pub fn new(spec: CompiledSpec, metrics: Arc<Metrics>) -> Result<RestConnector, ConnectorError> {
        RestConnector::with_proxies(spec, metrics, &Matcher::from_env())
    }

    /// A connector for `spec`; its calls take the route `proxies` give its base URL.
    pub(super) fn with_proxies(
        spec: CompiledSpec,
        metrics: Arc<Metrics>,
        proxies: &Matcher,
    ) -> Result<RestConnector, ConnectorError> {
        let system = spec.system;
        let setup =
            |detail: String| ConnectorError::new(system, "setup", ErrorKind::Unavailable, detail);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in &spec.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("c360/", env!("CARGO_PKG_VERSION"))),
        );
        let mut tls = (None, None);
        match &spec.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| setup("the bearer token is not a valid header value".into()))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            Auth::Basic { username, password } => {
                use base64::Engine;
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
                    .map_err(|_| setup("basic credentials are not a valid header value".into()))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            Auth::Mtls {
                identity_pem,
                ca_pem,
            } => tls = (Some(identity_pem.as_slice()), ca_pem.as_deref()),
        }
        let base_url =
            Uri::try_from(spec.base_url.as_str()).map_err(|e| setup(format!("base URL: {e}")))?;
        let transport = Transport::new(TransportSettings {
            base_url: &base_url,
            connect_timeout: spec.timeout.min(MAX_CONNECT_TIMEOUT),
            idle_per_host: IDLE_CONNECTIONS_PER_HOST,
            headers,
            identity_pem: tls.0,
            ca_pem: tls.1,
            proxies,
        })
        .map_err(|e| setup(e.to_string()))?;
        if let Route::Tunnel { proxy } | Route::Forward { proxy } = transport.route() {
            tracing::info!(%system, %proxy, "upstream calls go through a proxy (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; NO_PROXY exempts)");
        }
        let guard = super::guard::Guard::new(spec.resilience.clone());
        let backoff = ExponentialBuilder::new()
            .with_min_delay(spec.backoff)
            .with_max_delay(spec.backoff.saturating_mul(MAX_BACKOFF_FACTOR))
            .with_factor(2.0)
            .with_jitter();
        let label = system.as_str();
        let series = Series {
            circuit: metrics.upstream_circuit.with_label_values(&[label]),
            endpoints: spec
                .endpoints
                .keys()
                .map(|name| {
                    let ok =
                        metrics
                            .upstream_calls
                            .with_label_values(&[label, name.as_str(), "ok"]);
                    let latency = metrics
                        .upstream_latency
                        .with_label_values(&[label, name.as_str()]);
                    (name.clone(), (ok, latency))
                })
                .collect(),
        };
        Ok(RestConnector {
            series,
            base: BaseUrl::new(spec.base_url.clone()),
            spec,
            transport,
            guard,
            backoff,
            metrics,
        })
    }

    fn circuit_gauge(&self) {
        self.series.circuit.set(self.guard.state().as_gauge());
    }

    fn endpoint(&self, name: &str) -> Result<&Endpoint, ConnectorError> {
        self.spec.endpoints.get(name).ok_or_else(|| {
            ConnectorError::new(
                self.spec.system,
                name,
                ErrorKind::BadResponse,
                "no such endpoint in the spec",
            )
        })
    }

    fn error(
        &self,
        endpoint: &Endpoint,
        kind: ErrorKind,
        detail: impl Into<String>,
    ) -> ConnectorError {
        ConnectorError::new(self.spec.system, &endpoint.name, kind, detail)
    }

    /// One call with retries. `Ok(None)` is the upstream's "not found".
    async fn call(
        &self,
        endpoint: &Endpoint,
        values: &BTreeMap<String, String>,
        keys: &[String],
        paging: &[(String, String)],
    ) -> Result<Option<Answer>, ConnectorError> {
        let attempts = if endpoint.idempotent {
            self.spec.attempts
        } else {
            1
        };
        let mut attempt = 1;
        // Built at the first failure: most calls never need it.
        let mut waits = None;
        self.guard.attempted();
        let system = self.spec.system.as_str();
        let first_started = Instant::now();
        let series = self.series.endpoints.get(endpoint.name.as_str());
        let record = |outcome: &str| {
            match series {
                Some((ok, _)) if outcome == "ok" => ok.inc(),
                _ => self
                    .metrics
                    .upstream_calls
                    .with_label_values(&[system, endpoint.name.as_str(), outcome])
                    .inc(),
            }
            let elapsed = first_started.elapsed().as_secs_f64();
            match series {
                Some((_, latency)) => latency.observe(elapsed),
                None => self
                    .metrics
                    .upstream_latency
                    .with_label_values(&[system, endpoint.name.as_str()])
                    .observe(elapsed),
            }
        };
        loop {
            let started = Instant::now();
            let result = match self.guard.admit().await {
                Ok(permit) => {
                    let result = self
                        .call_once(endpoint, values, keys, paging, attempt)
                        .await;
                    let failed = result.as_ref().is_err_and(|e| e.kind.retryable());
                    self.guard.finish(permit, failed);
                    self.circuit_gauge();
                    result
                }
                Err(refused) => {
                    self.circuit_gauge();
                    let detail = match refused {
                        super::guard::Refused::CircuitOpen => {
                            "circuit open: the system failed too often just now; not called"
                        }
                        super::guard::Refused::Saturated => {
                            "the hub's concurrency or rate limit toward the system is reached; not called"
                        }
                    };
                    // Failing fast is the point: no retry against a guard that refused.
                    let error = self.error(endpoint, ErrorKind::Unavailable, detail);
                    record(error.kind.code().as_str());
                    return Err(error);
                }
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(answer) => {
                    tracing::debug!(system = %self.spec.system, endpoint = %endpoint.name, elapsed_ms, "upstream call");
                    record("ok");
                    return Ok(answer);
                }
                Err(error) => {
                    tracing::warn!(
                        system = %self.spec.system,
                        endpoint = %endpoint.name,
                        code = error.kind.code().as_str(),
                        status = error.status,
                        upstream_code = error.upstream_code.as_deref(),
                        attempt,
                        elapsed_ms,
                        detail = %error.detail,
                        "upstream call failed"
                    );
                    // The schedule ends after `attempts - 1` waits; the budget is asked
                    // last, so that only a retry about to be made is taken from it.
                    let wait = if error.kind.retryable() {
                        waits
                            .get_or_insert_with(|| {
                                self.backoff
                                    .with_max_times(attempts.saturating_sub(1) as usize)
                                    .build()
                            })
                            .next()
                    } else {
                        None
                    };
                    match wait {
                        Some(wait) if self.guard.may_retry() => {
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        _ => {
                            record(error.kind.code().as_str());
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// One HTTP attempt, as an `upstream.call` span under the request's resolver group
    /// (or whatever span is current when the call is not made for a request).
    async fn call_once(
        &self,
        endpoint: &Endpoint,
        values: &BTreeMap<String, String>,
        keys: &[String],
        paging: &[(String, String)],
        attempt: u32,
    ) -> Result<Option<Answer>, ConnectorError> {
        let trace = super::current_trace();
        let parent = trace
            .as_ref()
            .map_or_else(tracing::Span::current, |t| t.span.clone());
        let system = self.spec.system.as_str();
        // The endpoint's name, never its URL: paths and query strings carry CIFs.
        let span = tracing::info_span!(
            parent: &parent,
            "upstream.call",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            upstream.system = system,
            upstream.endpoint = %endpoint.name,
            upstream.attempt = attempt,
            upstream.outcome = tracing::field::Empty,
            upstream.duration_ms = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .exchange(endpoint, values, keys, paging, &span, trace.as_ref())
            .instrument(span.clone())
            .await;
        span.record("upstream.duration_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(_) => span.record("upstream.outcome", "ok"),
            Err(error) => {
                if let Some(status) = error.status {
                    span.record("http.response.status_code", status);
                }
                span.record("otel.status_code", "ERROR");
                span.record("upstream.outcome", error.kind.code().as_str())
            }
        };
        result
    }

    async fn exchange(
        &self,
        endpoint: &Endpoint,
        values: &BTreeMap<String, String>,
        keys: &[String],
        paging: &[(String, String)],
        span: &tracing::Span,
        trace: Option<&TraceContext>,
    ) -> Result<Option<Answer>, ConnectorError> {
        let bad_request = |detail: String| self.error(endpoint, ErrorKind::Rejected, detail);
        let path = render(&endpoint.path, values, true)
            .map_err(bad_request)?
            .ok_or_else(|| bad_request("an optional placeholder in the path is absent".into()))?;
        let mut filled = Vec::with_capacity(endpoint.query.len());
        for (name, template) in &endpoint.query {
            if let Some(value) = render(template, values, false).map_err(bad_request)? {
                filled.push((name.as_str(), value));
            }
        }
        let pairs: Vec<(&str, &str)> = filled
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain(
                paging
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            )
            .collect();
        let uri = Uri::try_from(self.base.call(&path, &pairs))
            .map_err(|e| bad_request(format!("the filled URL is not valid: {e}")))?;
        let body = match &endpoint.body {
            Some(body) => {
                let body = fill_body(body, values, keys).map_err(bad_request)?;
                Some(serde_json::to_vec(&body).map_err(|e| bad_request(e.to_string()))?)
            }
            None => None,
        };
        let has_body = body.is_some();
        // Written into the request's own headers, after the system's.
        let headers = |headers: &mut HeaderMap| {
            crate::telemetry::inject(span, trace, headers);
            if has_body {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        };
        // One timer covers sending and reading the whole body.
        let deadline = self.spec.timeout;
        let exchange = self.transport.exchange(
            endpoint.method.clone(),
            uri,
            headers,
            body,
            self.spec.max_body,
        );
        let (status, body) = tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| {
                self.error(
                    endpoint,
                    ErrorKind::Timeout,
                    format!("no answer within {deadline:?}"),
                )
            })?
            .map_err(|e| self.transport_error(endpoint, e))?;
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        self.classify(endpoint, status, &body)
    }

    /// Transport failures name their cause, never the URL (paths and queries carry
    /// CIFs).
    fn transport_error(&self, endpoint: &Endpoint, error: CallError) -> ConnectorError {
        let kind = match error {
            CallError::ConnectTimeout(_) => ErrorKind::Timeout,
            CallError::TooLarge(_) => ErrorKind::BadResponse,
            CallError::Connect { .. } | CallError::Connection => ErrorKind::Unavailable,
        };
        self.error(endpoint, kind, error.to_string())
    }

    /// Sorts an answer by status and the system's error envelope.
    fn classify(
        &self,
        endpoint: &Endpoint,
        status: StatusCode,
        body: &[u8],
    ) -> Result<Option<Answer>, ConnectorError> {
        let errors = &self.spec.errors;
        let json = Answer::parse(body, &endpoint.answer);
        let code = self
            .spec
            .code
            .as_ref()
            .and_then(|pointer| json.as_ref()?.value(pointer))
            .and_then(text);
        let with_codes = |mut error: ConnectorError| {
            error.status = Some(status.as_u16());
            error.upstream_code = code.clone();
            error
        };
        if !status.is_success() {
            let not_found_code = code.as_ref().is_some_and(|c| errors.not_found.contains(c));
            if status == StatusCode::NOT_FOUND && (errors.not_found.is_empty() || not_found_code) {
                return Ok(None);
            }
            let kind = match status.as_u16() {
                408 | 504 => ErrorKind::Timeout,
                429 | 500..=599 => ErrorKind::Unavailable,
                _ => ErrorKind::Rejected,
            };
            return Err(with_codes(self.error(
                endpoint,
                kind,
                format!("HTTP {status}"),
            )));
        }
        let Some(json) = json else {
            return Err(with_codes(self.error(
                endpoint,
                ErrorKind::BadResponse,
                "answer is not JSON",
            )));
        };
        if !errors.success.is_empty() {
            match &code {
                Some(c) if errors.success.contains(c) => {}
                Some(c) if errors.not_found.contains(c) => return Ok(None),
                Some(_) => {
                    return Err(with_codes(self.error(
                        endpoint,
                        ErrorKind::Rejected,
                        "business error code",
                    )))
                }
                None => {
                    return Err(with_codes(self.error(
                        endpoint,
                        ErrorKind::BadResponse,
                        format!(
                            "no return code at {}",
                            errors.code.as_deref().unwrap_or_default()
                        ),
                    )))
                }
            }
        }
        Ok(Some(json))
    }

    fn items(&self, endpoint: &Endpoint, answer: &mut Answer) -> Result<Vec<Kept>, ConnectorError> {
        answer
            .take_items(&endpoint.items)
            .map_err(|ItemsError::NotAList| {
                self.bad_shape(
                    endpoint,
                    endpoint.items.as_str(),
                    "expected a list of items",
                )
            })
    }

    fn bad_shape(&self, endpoint: &Endpoint, pointer: &str, problem: &str) -> ConnectorError {
        let mut error = self.error(
            endpoint,
            ErrorKind::BadResponse,
            format!("{pointer}: {problem}"),
        );
        error.path = Some(pointer.to_owned());
        error
    }

    fn map_item(
        &self,
        endpoint: &Endpoint,
        index: usize,
        item: &Kept,
    ) -> Result<Record, ConnectorError> {
        endpoint.mapping.apply(item).map_err(|e| {
            let mut error = self.error(
                endpoint,
                ErrorKind::BadResponse,
                format!("item {index}: {e}"),
            );
            error.path = Some(format!(
                "{}/{index}{} ({})",
                endpoint.items, e.pointer, e.field
            ));
            error
        })
    }

    /// Maps each item of one batch answer into `result` under its key. One item that
    /// cannot be mapped fails its own key, not the neighbours in the batch.
    fn sort_items(
        &self,
        endpoint: &Endpoint,
        chunk: &[String],
        mut answer: Answer,
        result: &mut BatchResult,
    ) -> Result<(), ConnectorError> {
        let asked: HashSet<&str> = chunk.iter().map(String::as_str).collect();
        for (index, item) in self.items(endpoint, &mut answer)?.into_iter().enumerate() {
            let node = Node::from(&item);
            let key = match &endpoint.key {
                Some(pointer) => node.find(pointer),
                None => Some(node),
            };
            let Some(key) = key.and_then(Node::value).and_then(text) else {
                let pointer = endpoint.key.as_ref().map(Pointer::as_str);
                return Err(self.bad_shape(
                    endpoint,
                    pointer.unwrap_or_default(),
                    "an item carries no key",
                ));
            };
            if !asked.contains(key.as_str()) {
                tracing::warn!(system = %self.spec.system, endpoint = %endpoint.name, "upstream answered an item for a key it was not asked for; ignored");
                continue;
            }
            let mapped = self.map_item(endpoint, index, &item);
            let entry = result.entry(key).or_insert_with(|| Ok(Vec::new()));
            match (entry, mapped) {
                (Ok(items), Ok(value)) => items.push(value),
                (entry @ Ok(_), Err(error)) => *entry = Err(error),
                (Err(_), _) => {}
            }
        }
        Ok(())
    }

    /// Reads the body of one successful batch answer for `keys` exactly as a call to
    /// [`Connector::batch`] does once the bytes have arrived: the system's envelope,
    /// then every item sorted by key and mapped. Public, but hidden, so that
    /// `benches/hot_paths.rs` can time this work without a network in the way.
    #[doc(hidden)]
    pub fn read_batch_answer(
        &self,
        endpoint: &str,
        keys: &[String],
        body: &[u8],
    ) -> Result<BatchResult, ConnectorError> {
        let endpoint = self.endpoint(endpoint)?;
        let mut result = HashMap::new();
        if let Some(answer) = self.classify(endpoint, StatusCode::OK, body)? {
            self.sort_items(endpoint, keys, answer, &mut result)?;
        }
        Ok(result)
    }

    async fn batch_chunk(
        &self,
        endpoint: &Endpoint,
        chunk: &[String],
    ) -> Result<BatchResult, ConnectorError> {
        let mut values = BTreeMap::new();
        values.insert("keys".to_owned(), chunk.join(","));
        let mut result: BatchResult = HashMap::new();
        let mut page_key: Option<String> = None;
        for _ in 0..MAX_BATCH_PAGES {
            let paging = match &endpoint.paging {
                Some(p) => {
                    let mut params = vec![(p.limit.clone(), p.max_limit.to_string())];
                    if let Some(key) = &page_key {
                        params.push((p.key.clone(), key.clone()));
                    }
                    params
                }
                None => Vec::new(),
            };
            let Some(answer) = self.call(endpoint, &values, chunk, &paging).await? else {
                return Ok(result);
            };
            page_key = endpoint
                .next
                .as_ref()
                .and_then(|next| answer.value(next))
                .and_then(text)
                .filter(|k| !k.is_empty());
            self.sort_items(endpoint, chunk, answer, &mut result)?;
            if page_key.is_none() {
                return Ok(result);
            }
        }
        Err(self.error(
            endpoint,
            ErrorKind::BadResponse,
            format!("more than {MAX_BATCH_PAGES} pages for one batch"),
        ))
    }
}

/// A JSON scalar as text (keys and codes come as strings or numbers).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn fill_body(
    template: &Value,
    values: &BTreeMap<String, String>,
    keys: &[String],
) -> Result<Value, String> {
    Ok(match template {
        Value::String(s) if s == "{keys[]}" => Value::from(keys.to_vec()),
        Value::String(s) => Value::String(render(s, values, false)?.unwrap_or_default()),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_body(v, values, keys))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill_body(v, values, keys)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[async_trait]
impl Connector for RestConnector {
    fn system(&self) -> System {
        self.spec.system
    }

    fn circuit(&self) -> super::guard::BreakerState {
        self.guard.state()
    }

    fn freshness(&self, endpoint: &str) -> super::Freshness {
        self.spec
            .endpoints
            .get(endpoint)
            .map(|e| e.cache)
            .unwrap_or(super::Freshness::NONE)
    }

    async fn batch(&self, endpoint: &str, keys: &[String]) -> Result<BatchResult, ConnectorError> {
        let endpoint = self.endpoint(endpoint)?;
        let mut unique: Vec<String> = keys.to_vec();
        unique.sort();
        unique.dedup();
        let chunks = unique.chunks(self.spec.max_batch.max(1));
        let answers = join_all(chunks.map(|chunk| self.batch_chunk(endpoint, chunk))).await;
        let mut merged = HashMap::new();
        for answer in answers {
            merged.extend(answer?);
        }
        Ok(merged)
    }

    async fn list(
        &self,
        endpoint: &str,
        params: &Params,
        page: PageRequest,
    ) -> Result<Page<Record>, ConnectorError> {
        let endpoint = self.endpoint(endpoint)?;
        let paging_spec = endpoint.paging.as_ref().ok_or_else(|| {
            self.error(
                endpoint,
                ErrorKind::BadResponse,
                "list endpoint without paging",
            )
        })?;
        let mut paging = vec![(
            paging_spec.limit.clone(),
            page.limit.clamp(1, paging_spec.max_limit).to_string(),
        )];
        if let Some(key) = &page.key {
            paging.push((paging_spec.key.clone(), key.clone()));
        }
        let Some(mut answer) = self.call(endpoint, params, &[], &paging).await? else {
            return Ok(Page {
                items: Vec::new(),
                next_page_key: None,
                total: Some(0),
            });
        };
        let items = self
            .items(endpoint, &mut answer)?
            .into_iter()
            .enumerate()
            .map(|(index, item)| self.map_item(endpoint, index, &item))
            .collect::<Result<Vec<_>, _>>()?;
        let read = |pointer: &Option<Pointer>| answer.value(pointer.as_ref()?).and_then(text);
        Ok(Page {
            items,
            next_page_key: read(&endpoint.next).filter(|k| !k.is_empty()),
            total: read(&endpoint.total).and_then(|t| t.parse().ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use axum::{Json, Router};
    use serde_json::json;

    use super::*;
    use crate::config::ConnectorsConfig;
    use crate::connectors::compile::compile;

    /// What the fake upstream saw and how it should answer.
    #[derive(Default)]
    struct Fake {
        calls: AtomicUsize,
        failures_before_success: AtomicUsize,
        authorization: Mutex<Vec<String>>,
        batch_sizes: Mutex<Vec<usize>>,
        mode: Mutex<String>,
        /// `traceparent` and `tracestate` of each call, empty when absent.
        trace: Mutex<Vec<(String, String)>>,
    }

    async fn cards(
        State(fake): State<Arc<Fake>>,
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> (StatusCode, Json<Value>) {
        fake.calls.fetch_add(1, Ordering::SeqCst);
        let header = |name: &str| {
            headers
                .get(name)
                .map_or("", |v| v.to_str().unwrap())
                .to_owned()
        };
        fake.trace
            .lock()
            .unwrap()
            .push((header("traceparent"), header("tracestate")));
        if let Some(auth) = headers.get("authorization") {
            fake.authorization
                .lock()
                .unwrap()
                .push(auth.to_str().unwrap().to_owned());
        }
        if fake.failures_before_success.load(Ordering::SeqCst) > 0 {
            fake.failures_before_success.fetch_sub(1, Ordering::SeqCst);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"code": "503", "message": "busy"})),
            );
        }
        let mode = fake.mode.lock().unwrap().clone();
        match mode.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(500)).await,
            "business-error" => {
                return (
                    StatusCode::OK,
                    Json(json!({"code": "E42", "message": "no"})),
                )
            }
            "not-found-code" => {
                return (
                    StatusCode::OK,
                    Json(json!({"code": "NF", "message": "none"})),
                )
            }
            "http-404" => return (StatusCode::NOT_FOUND, Json(json!({"code": "404"}))),
            "http-404-nf" => return (StatusCode::NOT_FOUND, Json(json!({"code": "NF"}))),
            "big" => {
                return (
                    StatusCode::OK,
                    Json(json!({"code": "0", "items": ["x".repeat(4096)]})),
                )
            }
            _ => {}
        }
        let keys: Vec<&str> = query["ids"].split(',').collect();
        fake.batch_sizes.lock().unwrap().push(keys.len());
        let items: Vec<Value> = keys
            .iter()
            .filter(|k| !k.ends_with('9'))
            .map(|k| json!({"id": format!("C{k}"), "pan": "6222000011112222", "cif": k, "type": "DEBIT", "status": "ACTIVE"}))
            .collect();
        (StatusCode::OK, Json(json!({"code": "0", "items": items})))
    }

    const SPEC: &str = r#"
        system = "cards"
        base_url = "${FAKE_URL}"
        timeout = "200ms"
        max_batch = 2
        max_body_bytes = 1024
        [auth]
        type = "bearer"
        token = "${FAKE_TOKEN}"
        [retry]
        attempts = 2
        backoff = "1ms"
        [errors]
        code = "/code"
        message = "/message"
        success = ["0"]
        not_found = ["NF"]
        [endpoints.cards]
        entity = "card"
        path = "/cards"
        query = { ids = "{keys}" }
        items = "/items"
        key = "/cif"
        [endpoints.cards.fields]
        id = "/id"
        number = "/pan"
        customer_id = "/cif"
        kind = "/type"
        status = "/status"
    "#;

    async fn connector() -> (RestConnector, Arc<Fake>) {
        connector_with(SPEC).await
    }

    async fn connector_with(spec: &str) -> (RestConnector, Arc<Fake>) {
        let fake = Arc::new(Fake::default());
        let app = Router::new()
            .route("/v1/cards", get(cards))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let lookup = move |name: &str| match name {
            "FAKE_URL" => Some(url.clone()),
            "FAKE_TOKEN" => Some("s3cret".to_owned()),
            _ => None,
        };
        let spec = compile(
            System::Cards,
            "fake.toml",
            spec,
            &ConnectorsConfig::default(),
            &lookup,
        )
        .unwrap();
        (RestConnector::new(spec, Arc::default()).unwrap(), fake)
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    #[tokio::test]
    async fn batches_are_split_sent_with_credentials_and_grouped_by_key() {
        let (connector, fake) = connector().await;
        let answer = connector
            .batch(
                "cards",
                &keys(&[
                    "1000000001",
                    "1000000002",
                    "1000000003",
                    "1000000009",
                    "1000000001",
                ]),
            )
            .await
            .unwrap();
        let mut sizes = fake.batch_sizes.lock().unwrap().clone();
        sizes.sort();
        assert_eq!(sizes, vec![2, 2], "four distinct keys in batches of two");
        assert_eq!(answer.len(), 3, "unknown keys are absent");
        assert_eq!(
            serde_json::to_value(&answer["1000000002"].as_ref().unwrap()[0]).unwrap()["id"],
            "C1000000002"
        );
        assert!(fake
            .authorization
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "Bearer s3cret"));
    }

    #[tokio::test]
    async fn the_callers_tracestate_reaches_the_upstream_call() {
        let (connector, fake) = connector().await;
        let mut request = HeaderMap::new();
        request.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        request.insert(
            "tracestate",
            HeaderValue::from_static("bank=teller-desktop,vendor=opaque"),
        );
        let caller = crate::telemetry::extract(&request).unwrap();
        let span = tracing::Span::none();
        let trace = crate::telemetry::TraceContext {
            trace_id: crate::telemetry::join(&span, Some(&caller)),
            trace_state: caller.trace_state().clone(),
            span,
        };
        let cif = keys(&["1000000001"]);
        crate::connectors::with_trace(Some(trace), connector.batch("cards", &cif))
            .await
            .unwrap();
        let seen = fake.trace.lock().unwrap().clone();
        let [(traceparent, tracestate)] = seen.as_slice() else {
            panic!("one call: {seen:?}");
        };
        assert!(
            traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{traceparent}"
        );
        assert!(
            !traceparent.contains("00f067aa0ba902b7"),
            "a span of its own"
        );
        assert_eq!(tracestate, "bank=teller-desktop,vendor=opaque");
    }

    #[tokio::test]
    async fn unavailability_is_retried_once() {
        let (connector, fake) = connector().await;
        fake.failures_before_success.store(1, Ordering::SeqCst);
        let answer = connector
            .batch("cards", &keys(&["1000000001"]))
            .await
            .unwrap();
        assert_eq!(answer.len(), 1);
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);

        fake.failures_before_success.store(5, Ordering::SeqCst);
        let error = connector
            .batch("cards", &keys(&["1000000001"]))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unavailable);
        assert_eq!(error.status, Some(503));
        assert_eq!(
            fake.calls.load(Ordering::SeqCst),
            4,
            "two attempts, then the error"
        );
    }

    #[tokio::test]
    async fn a_batch_answer_read_without_a_call_is_grouped_by_key_and_mapped() {
        let (connector, fake) = connector().await;
        let body = json!({"code": "0", "items": [
            {"id": "C1", "pan": "6222000011112222", "cif": "1000000001", "type": "DEBIT", "status": "ACTIVE"},
            {"id": "C2", "pan": "6222000011113333", "cif": "1000000001", "type": "CREDIT", "status": "ACTIVE"},
            {"id": "C3", "pan": "6222000011114444", "cif": "1000000002", "type": "DEBIT", "status": "ACTIVE"},
            {"id": "C4", "pan": "6222000011115555", "cif": "1000000003", "type": "DEBIT", "status": "ACTIVE"}
        ]})
        .to_string();
        let answer = connector
            .read_batch_answer(
                "cards",
                &keys(&["1000000001", "1000000002"]),
                body.as_bytes(),
            )
            .unwrap();
        assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
        let first = answer["1000000001"].as_ref().unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(
            serde_json::to_value(&first[1]).unwrap()["number"],
            "6222000011113333"
        );
        assert_eq!(answer["1000000002"].as_ref().unwrap().len(), 1);
        assert!(
            !answer.contains_key("1000000003"),
            "a key that was not asked for is ignored"
        );
        let refused = connector
            .read_batch_answer("cards", &keys(&["1000000001"]), br#"{"code":"E42"}"#)
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Rejected);
    }

    #[tokio::test]
    async fn business_codes_and_404_are_told_apart() {
        let (connector, fake) = connector().await;
        *fake.mode.lock().unwrap() = "business-error".into();
        let error = connector
            .batch("cards", &keys(&["1000000001"]))
            .await
            .unwrap_err();
        assert_eq!(
            (error.kind, error.upstream_code.as_deref()),
            (ErrorKind::Rejected, Some("E42"))
        );
        assert_eq!(
            fake.calls.load(Ordering::SeqCst),
            1,
            "a refusal is not retried"
        );

        for mode in ["not-found-code", "http-404-nf"] {
            *fake.mode.lock().unwrap() = mode.into();
            let answer = connector
                .batch("cards", &keys(&["1000000001"]))
                .await
                .unwrap();
            assert!(answer.is_empty(), "{mode} means no such record");
        }
        // A 404 without a declared not-found code is a wrong path, not an empty answer.
        *fake.mode.lock().unwrap() = "http-404".into();
        let error = connector
            .batch("cards", &keys(&["1000000001"]))
            .await
            .unwrap_err();
        assert_eq!((error.kind, error.status), (ErrorKind::Rejected, Some(404)));
    }

    #[tokio::test]
    async fn slow_and_oversized_answers_fail_cleanly() {
        let (connector, fake) = connector().await;
        *fake.mode.lock().unwrap() = "slow".into();
        let started = Instant::now();
        let error = connector
            .batch("cards", &keys(&["1000000001"]))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Timeout);
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "two 200 ms attempts: {:?}",
            started.elapsed()
        );

        *fake.mode.lock().unwrap() = "big".into();
        let error = connector
            .batch("cards", &keys(&["1000000001"]))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadResponse);
        assert!(
            error.detail.contains("larger than 1024 bytes"),
            "{}",
            error.detail
        );
    }

    #[tokio::test]
    async fn a_trial_call_cut_short_leaves_the_system_reachable() {
        // One trial call at a time: a probe that were never given back would cut the
        // system off for good.
        let spec = format!(
            "{SPEC}\n[resilience]\nmin_calls = 2\nfailure_ratio = 0.5\nopen_for = \"50ms\"\nprobes = 1\n"
        );
        let (connector, fake) = connector_with(&spec).await;
        let cif = keys(&["1000000001"]);
        fake.failures_before_success.store(2, Ordering::SeqCst);
        connector.batch("cards", &cif).await.unwrap_err();
        assert_eq!(
            connector.circuit(),
            crate::connectors::guard::BreakerState::Open
        );

        tokio::time::sleep(Duration::from_millis(60)).await;
        *fake.mode.lock().unwrap() = "slow".into();
        let cut_short =
            tokio::time::timeout(Duration::from_millis(50), connector.batch("cards", &cif)).await;
        assert!(cut_short.is_err(), "the caller gave up on the trial call");

        *fake.mode.lock().unwrap() = String::new();
        let answer = connector
            .batch("cards", &cif)
            .await
            .expect("the next trial call is made");
        assert_eq!(answer.len(), 1);
        assert_eq!(
            connector.circuit(),
            crate::connectors::guard::BreakerState::Closed
        );
    }
}
