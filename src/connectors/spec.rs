//! The connector spec: what `connectors/<system>.toml` may say, as serde types.
//!
//! Parsing only checks shape (unknown keys are refused with their line); meaning —
//! which endpoints the hub needs, whether each canonical field exists and takes that
//! kind of value — is checked by [`super::compile`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Per-call timeout when the spec gives none: the slowest realistic upstream (core
/// banking's p95 is 1.5 s) plus headroom, well under a screen's patience.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per idempotent call: one retry absorbs the occasional 5xx without doubling
/// the load a struggling upstream sees.
pub const DEFAULT_ATTEMPTS: u32 = 2;
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(50);
/// Keys per batch call; the sandbox and common ESBs cap at 100.
pub const DEFAULT_MAX_BATCH: usize = 100;
/// Largest upstream body read; a runaway answer must not take the hub's memory.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;
/// Pages followed for one batch call before giving up (a broken `next` pointer must not
/// loop forever).
pub const MAX_BATCH_PAGES: usize = 50;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `core`, `cards`, `loans` or `channels`; must match the file name.
    pub system: String,
    /// Base URL; `${VAR:-default}` references are expanded from the environment.
    pub base_url: String,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub max_batch: Option<usize>,
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    #[serde(default)]
    pub auth: AuthSpec,
    #[serde(default)]
    pub retry: RetrySpec,
    /// Circuit breaker, bulkhead and rate limit toward the system.
    #[serde(default)]
    pub resilience: super::guard::Resilience,
    #[serde(default)]
    pub errors: ErrorSpec,
    /// Cache policy of every endpoint of this system, unless the endpoint says.
    #[serde(default)]
    pub cache: CacheSpec,
    /// Extra headers sent on every call (values may use `${VAR}`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub endpoints: BTreeMap<String, EndpointSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthSpec {
    #[default]
    None,
    /// `Authorization: Bearer <token>`, the token from an environment variable.
    Bearer {
        token: String,
    },
    Basic {
        username: String,
        password: String,
    },
    /// Client certificate (PEM files); `ca` adds a private root for the upstream's
    /// certificate.
    Mtls {
        cert: PathBuf,
        key: PathBuf,
        #[serde(default)]
        ca: Option<PathBuf>,
    },
}

/// How long answers are fresh, and how long past that they may be served when the
/// system fails. A `ttl` of `"0s"` turns caching off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub stale: Option<Duration>,
}

/// Fresh time when a spec gives none: a minute keeps screens current and spares the
/// upstream repeated reads of one customer.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
/// Stale window when a spec gives none: a failing system's data stays visible (marked
/// stale) for ten minutes.
pub const DEFAULT_CACHE_STALE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Total tries for idempotent calls (1 = no retry).
    pub attempts: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub backoff: Option<Duration>,
}

/// Where the upstream puts its error code and message, and which codes mean what.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// JSON pointer to the error (or return) code.
    pub code: Option<String>,
    /// JSON pointer to the human-readable message (logged, never shown to clients).
    pub message: Option<String>,
    /// Codes that mean success on a 2xx answer. Set for ESB-style systems that answer
    /// HTTP 200 with a business error code; empty means every 2xx is a success.
    #[serde(default)]
    pub success: Vec<String>,
    /// Codes that mean "no such record" (an empty answer, not a failure).
    #[serde(default)]
    pub not_found: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// The canonical entity the items map onto.
    pub entity: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Path below the base URL; `{name}` inserts a parameter (URL-encoded).
    pub path: String,
    /// Query parameters; values are templates. `{keys}` is the comma-joined batch of
    /// keys; `{name?}` drops the parameter when `name` is not given.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSON body for POST; string values are templates, `"{keys[]}"` is the key list.
    #[serde(default)]
    pub body: Option<toml::Table>,
    /// Pointer to the array of items ("" when the answer is the array).
    pub items: String,
    /// For batch endpoints: pointer (within an item) to the key it answers for.
    pub key: Option<String>,
    #[serde(default)]
    pub paging: Option<PagingSpec>,
    /// Whether a POST may be retried; GETs always may.
    #[serde(default)]
    pub idempotent: bool,
    /// Overrides the system's cache policy for this endpoint.
    #[serde(default)]
    pub cache: Option<CacheSpec>,
    /// Reuse the `fields` of another endpoint of this file (same entity).
    #[serde(default)]
    pub fields_from: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
}

fn default_method() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingSpec {
    /// Query parameter carrying the page size.
    pub limit: String,
    /// Query parameter carrying the next-page key.
    pub key: String,
    /// Pointer to the next-page key in the answer; null, absent or "" ends paging.
    pub next: String,
    /// Pointer to the total count, where the upstream gives one.
    pub total: Option<String>,
    /// Largest page the upstream serves.
    pub max_limit: usize,
}

/// How one canonical field is read from an upstream item.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldSpec {
    /// Just a JSON pointer.
    Pointer(String),
    Full(Box<FullFieldSpec>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullFieldSpec {
    /// JSON pointer to the value.
    pub from: Option<String>,
    /// Upstream value → canonical enum name; `"*"` maps every other value.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// chrono format for dates and times, or `epoch_ms` / `epoch_s`.
    pub format: Option<String>,
    /// Offset of times given without one, e.g. `+08:00` for Beijing time.
    pub timezone: Option<String>,
    /// Used when the upstream gives nothing (absent or null).
    pub default: Option<toml::Value>,
    /// A constant; the upstream is not read.
    pub value: Option<toml::Value>,
    /// Money: pointer to the amount.
    pub amount: Option<String>,
    /// Money: pointer to the currency.
    pub currency: Option<String>,
    /// Money: currency when the upstream does not say.
    pub default_currency: Option<String>,
    /// List: the fields of each element, pointers relative to the element.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    /// List of plain values: pointer to the value inside each element (the element
    /// itself when absent), for upstreams that wrap values in repeating groups.
    pub each: Option<String>,
}

impl FieldSpec {
    pub fn full(&self) -> FullFieldSpec {
        match self {
            FieldSpec::Pointer(pointer) => FullFieldSpec {
                from: Some(pointer.clone()),
                ..FullFieldSpec::default()
            },
            FieldSpec::Full(full) => (**full).clone(),
        }
    }
}
