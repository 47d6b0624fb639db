//! Compiling a connector spec: the parsed file checked against what the hub calls
//! ([`super::CONTRACTS`]), its `${VAR}` references expanded, its credentials read and
//! its mappings built, into the [`CompiledSpec`] that [`super::RestConnector`] runs.
//! Every problem is collected with its file and key, so one pass over a file reports
//! them all; [`super::load`] gathers them across the four files.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Method;
use serde_json::Value;
use url::Url;

use super::answer::Shape;
use super::mapping::Mapping;
use super::spec::{self, AuthSpec, ErrorSpec, PagingSpec, Spec};
use super::template::{collect_body_templates, placeholders};
use super::tree::Pointer;
use super::Freshness;
use super::{EndpointContract, EndpointKind, CONTRACTS};
use crate::config::{expand_env, ConnectorsConfig};
use crate::domain::fields::Entity;
use crate::domain::System;

/// One problem in one spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: String,
    /// Dotted TOML key, e.g. `endpoints.cards.fields.kind.map.D`; empty for the file.
    pub key: String,
    pub problem: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.problem)
        }
    }
}

/// Credentials, resolved. Debug output never shows a secret.
#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    Mtls {
        identity_pem: Vec<u8>,
        ca_pem: Option<Vec<u8>>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Auth::Mtls { .. } => f.write_str("Mtls(***)"),
        }
    }
}

/// A spec after every check: what [`super::RestConnector`] runs.
#[derive(Debug, Clone)]
pub struct CompiledSpec {
    pub system: System,
    pub file: String,
    pub base_url: Url,
    pub timeout: Duration,
    pub max_batch: usize,
    pub max_body: usize,
    pub attempts: u32,
    pub backoff: Duration,
    pub resilience: super::guard::Resilience,
    pub auth: Auth,
    pub errors: ErrorSpec,
    /// `errors.code`, split once.
    pub code: Option<Pointer>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub endpoints: HashMap<String, Endpoint>,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    pub kind: EndpointKind,
    pub entity: Entity,
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub items: Pointer,
    pub key: Option<Pointer>,
    pub paging: Option<PagingSpec>,
    /// `paging.next` and `paging.total`, split once.
    pub next: Option<Pointer>,
    pub total: Option<Pointer>,
    pub idempotent: bool,
    pub mapping: Mapping,
    /// What reading an answer keeps: the system's error code, each item's key and
    /// mapped fields, the paging members.
    pub answer: Shape,
    pub cache: Freshness,
}

/// Parses and checks one spec, collecting every problem.
pub fn compile(
    system: System,
    file: &str,
    text: &str,
    config: &ConnectorsConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<CompiledSpec, Vec<SpecError>> {
    let mut errors = Vec::new();
    let mut problem = |key: &str, text: String| {
        errors.push(SpecError {
            file: file.to_owned(),
            key: key.to_owned(),
            problem: text,
        })
    };
    let spec: Spec = match toml::from_str(text) {
        Ok(spec) => spec,
        Err(e) => {
            problem("", e.to_string().trim().replace('\n', " "));
            return Err(errors);
        }
    };
    if spec.system != system.as_str() {
        problem(
            "system",
            format!("says '{}' but the file is for '{system}'", spec.system),
        );
    }
    let overrides = config.override_for(system);
    let expand = |key: &str, raw: &str, problem: &mut dyn FnMut(&str, String)| -> Option<String> {
        expand_env(raw, lookup)
            .map_err(|e| problem(key, e.to_string()))
            .ok()
    };

    let base_url = match &overrides.base_url {
        Some(url) => Some(url.clone()),
        None => expand("base_url", &spec.base_url, &mut problem),
    }
    .and_then(|raw| match Url::parse(raw.trim_end_matches('/')) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        Ok(url) => {
            problem(
                "base_url",
                format!("scheme '{}' is not http or https", url.scheme()),
            );
            None
        }
        Err(e) => {
            problem("base_url", format!("not a URL: {e}"));
            None
        }
    });

    let auth = match &spec.auth {
        AuthSpec::None => Some(Auth::None),
        AuthSpec::Bearer { token } => expand("auth.token", token, &mut problem).map(Auth::Bearer),
        AuthSpec::Basic { username, password } => {
            let username = expand("auth.username", username, &mut problem);
            let password = expand("auth.password", password, &mut problem);
            username
                .zip(password)
                .map(|(username, password)| Auth::Basic { username, password })
        }
        AuthSpec::Mtls { cert, key, ca } => {
            let mut read = |key_name: &str, path: &Path| match std::fs::read(path) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    problem(key_name, format!("cannot read {}: {e}", path.display()));
                    None
                }
            };
            let cert = read("auth.cert", cert);
            let key = read("auth.key", key);
            let ca = ca.as_ref().map(|ca| read("auth.ca", ca));
            match (cert, key, ca) {
                (Some(mut cert), Some(key), ca) if !matches!(ca, Some(None)) => {
                    cert.push(b'\n');
                    cert.extend(key);
                    Some(Auth::Mtls {
                        identity_pem: cert,
                        ca_pem: ca.flatten(),
                    })
                }
                _ => None,
            }
        }
    };

    let mut headers = Vec::new();
    for (name, value) in &spec.headers {
        let key = format!("headers.{name}");
        let Some(value) = expand(&key, value, &mut problem) else {
            continue;
        };
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value),
        ) {
            (Ok(name), Ok(value)) => headers.push((name, value)),
            _ => problem(&key, "not a valid HTTP header".into()),
        }
    }

    let max_batch = spec.max_batch.unwrap_or(spec::DEFAULT_MAX_BATCH);
    if max_batch == 0 {
        problem("max_batch", "must be at least 1".into());
    }
    let timeout = overrides
        .timeout
        .or(spec.timeout)
        .unwrap_or(spec::DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        problem("timeout", "must be more than 0".into());
    }
    let attempts = overrides
        .retry_attempts
        .or(spec.retry.attempts)
        .unwrap_or(spec::DEFAULT_ATTEMPTS);
    if attempts == 0 {
        problem(
            "retry.attempts",
            "must be at least 1 (1 means no retry)".into(),
        );
    }
    if !spec.errors.success.is_empty() && spec.errors.code.is_none() {
        problem(
            "errors.code",
            "`success` codes need `code` (where the code is)".into(),
        );
    }

    let mut endpoints = HashMap::new();
    for contract in CONTRACTS.iter().filter(|c| c.system == system) {
        match spec.endpoints.get(contract.name) {
            Some(endpoint) => {
                let mut endpoint = endpoint.clone();
                if let Some(source) = endpoint.fields_from.clone() {
                    match spec.endpoints.get(&source) {
                        Some(other) if endpoint.fields.is_empty() && other.fields_from.is_none() => {
                            endpoint.fields = other.fields.clone();
                        }
                        Some(_) => problem(
                            &format!("endpoints.{}.fields_from", contract.name),
                            "give either `fields` or `fields_from`, and point at an endpoint with its own `fields`".into(),
                        ),
                        None => problem(
                            &format!("endpoints.{}.fields_from", contract.name),
                            format!("no endpoint '{source}' in this file"),
                        ),
                    }
                }
                let policy = Freshness {
                    ttl: overrides
                        .cache_ttl
                        .or(endpoint
                            .cache
                            .as_ref()
                            .and_then(|c| c.ttl)
                            .or(spec.cache.ttl))
                        .unwrap_or(spec::DEFAULT_CACHE_TTL),
                    stale: overrides
                        .cache_stale
                        .or(endpoint
                            .cache
                            .as_ref()
                            .and_then(|c| c.stale)
                            .or(spec.cache.stale))
                        .unwrap_or(spec::DEFAULT_CACHE_STALE),
                };
                if let Some(mut endpoint) = compile_endpoint(contract, &endpoint, &mut problem) {
                    endpoint.cache = policy;
                    if let Some(code) = spec.errors.code.as_deref() {
                        endpoint.answer.keep(&Pointer::new(code));
                    }
                    endpoints.insert(contract.name.to_owned(), endpoint);
                }
            }
            None => problem(
                &format!("endpoints.{}", contract.name),
                format!(
                    "missing: the hub calls this {} endpoint for {}",
                    kind_name(contract.kind),
                    contract.entity
                ),
            ),
        }
    }
    for (key, text) in spec.resilience.problems() {
        problem(&format!("resilience.{key}"), text);
    }
    for name in spec.endpoints.keys() {
        if !CONTRACTS
            .iter()
            .any(|c| c.system == system && c.name == name)
        {
            let known: Vec<_> = CONTRACTS
                .iter()
                .filter(|c| c.system == system)
                .map(|c| c.name)
                .collect();
            problem(
                &format!("endpoints.{name}"),
                format!("the hub never calls it (it calls {})", known.join(", ")),
            );
        }
    }

    match (base_url, auth, errors.is_empty()) {
        (Some(base_url), Some(auth), true) => Ok(CompiledSpec {
            system,
            file: file.to_owned(),
            base_url,
            timeout,
            max_batch,
            max_body: spec.max_body_bytes.unwrap_or(spec::DEFAULT_MAX_BODY),
            attempts,
            backoff: spec.retry.backoff.unwrap_or(spec::DEFAULT_BACKOFF),
            resilience: spec.resilience.clone(),
            auth,
            code: spec.errors.code.as_deref().map(Pointer::new),
            errors: spec.errors,
            headers,
            endpoints,
        }),
        _ => Err(errors),
    }
}

fn kind_name(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Batch => "batch",
        EndpointKind::List => "list",
    }
}

fn compile_endpoint(
    contract: &EndpointContract,
    spec: &spec::EndpointSpec,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Endpoint> {
    let prefix = format!("endpoints.{}", contract.name);
    let mut ok = true;
    let mut fail = |key: &str, text: String, ok: &mut bool| {
        *ok = false;
        problem(&format!("{prefix}{key}"), text);
    };
    if spec.entity != contract.entity.as_str() {
        fail(
            ".entity",
            format!(
                "must be '{}' for this endpoint, not '{}'",
                contract.entity, spec.entity
            ),
            &mut ok,
        );
    }
    let method = match spec.method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        other => {
            fail(
                ".method",
                format!("'{other}' is not supported (GET or POST)"),
                &mut ok,
            );
            Method::GET
        }
    };
    if !spec.path.starts_with('/') {
        fail(".path", "must start with '/'".into(), &mut ok);
    }
    for (key, pointer) in [(".items", Some(&spec.items)), (".key", spec.key.as_ref())] {
        if let Some(pointer) = pointer {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                fail(key, format!("'{pointer}' is not a JSON pointer"), &mut ok);
            }
        }
    }
    // Placeholders: batch endpoints must use {keys} somewhere; list endpoints may use
    // only the parameters the hub passes.
    let mut templates: Vec<(String, String)> = vec![(".path".into(), spec.path.clone())];
    templates.extend(
        spec.query
            .iter()
            .map(|(k, v)| (format!(".query.{k}"), v.clone())),
    );
    let body = spec
        .body
        .as_ref()
        .map(|b| serde_json::to_value(b).unwrap_or(Value::Null));
    if let Some(body) = &body {
        collect_body_templates(body, ".body", &mut templates);
    }
    let mut uses_keys = false;
    for (key, template) in &templates {
        match placeholders(template) {
            Ok(names) => {
                for name in names {
                    let bare = name.trim_end_matches('?').trim_end_matches("[]");
                    match (contract.kind, bare) {
                        (EndpointKind::Batch, "keys") => uses_keys = true,
                        (EndpointKind::List, p) if contract.params.contains(&p) => {}
                        _ => {
                            let allowed = match contract.kind {
                                EndpointKind::Batch => "{keys}".to_owned(),
                                EndpointKind::List => contract
                                    .params
                                    .iter()
                                    .map(|p| format!("{{{p}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            };
                            fail(key, format!("unknown placeholder {{{name}}} (this endpoint takes {allowed})"), &mut ok);
                        }
                    }
                }
            }
            Err(text) => fail(key, text, &mut ok),
        }
    }
    match contract.kind {
        EndpointKind::Batch => {
            if !uses_keys {
                fail(
                    "",
                    "a batch endpoint must put {keys} in its path, query or body".into(),
                    &mut ok,
                );
            }
            if spec.key.is_none() {
                fail(
                    ".key",
                    "a batch endpoint needs `key`: the pointer to the key each item answers for"
                        .into(),
                    &mut ok,
                );
            }
        }
        EndpointKind::List => {
            if spec.paging.is_none() {
                fail(
                    ".paging",
                    "a list endpoint needs `paging` (limit, key, next, max_limit)".into(),
                    &mut ok,
                );
            }
        }
    }
    if let Some(paging) = &spec.paging {
        if paging.max_limit == 0 {
            fail(".paging.max_limit", "must be at least 1".into(), &mut ok);
        }
        for (key, pointer) in [
            (".paging.next", Some(&paging.next)),
            (".paging.total", paging.total.as_ref()),
        ] {
            if let Some(pointer) = pointer {
                if !pointer.starts_with('/') {
                    fail(key, format!("'{pointer}' is not a JSON pointer"), &mut ok);
                }
            }
        }
    }
    let mut field_problems = Vec::new();
    let mapping = Mapping::compile(contract.entity.fields(), &spec.fields, &mut field_problems);
    for (key, text) in field_problems {
        fail(&format!(".fields.{key}"), text, &mut ok);
    }
    if !ok {
        return None;
    }
    let items = Pointer::new(&spec.items);
    let key = spec.key.as_deref().map(Pointer::new);
    let next = spec.paging.as_ref().map(|p| Pointer::new(&p.next));
    let total = spec
        .paging
        .as_ref()
        .and_then(|p| p.total.as_deref())
        .map(Pointer::new);
    let mut answer = Shape::default();
    if let Some(item) = answer.each(&items) {
        item.keep_mapped(&mapping);
        if let Some(key) = &key {
            item.keep(key);
        }
    }
    for pointer in [&next, &total].into_iter().flatten() {
        answer.keep(pointer);
    }
    Some(Endpoint {
        name: contract.name.to_owned(),
        kind: contract.kind,
        entity: contract.entity,
        method,
        path: spec.path.clone(),
        query: spec
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body,
        items,
        key,
        paging: spec.paging.clone(),
        next,
        total,
        idempotent: spec.idempotent || spec.method.eq_ignore_ascii_case("GET"),
        mapping,
        answer,
        cache: Freshness::NONE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::embedded_specs;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn base_url_comes_from_the_environment_or_an_override() {
        let lookup =
            |name: &str| (name == "C360_CORE_URL").then(|| "https://esb.bank/core".to_owned());
        let core = embedded_specs()[0].1;
        let spec = compile(
            System::Core,
            "core.toml",
            core,
            &ConnectorsConfig::default(),
            &lookup,
        )
        .unwrap();
        assert_eq!(spec.base_url.as_str(), "https://esb.bank/core");
        let mut config = ConnectorsConfig::default();
        config.core.base_url = Some("http://127.0.0.1:9/core/v1".into());
        let spec = compile(System::Core, "core.toml", core, &config, &lookup).unwrap();
        assert_eq!(spec.base_url.as_str(), "http://127.0.0.1:9/core/v1");
    }

    #[test]
    fn spec_errors_name_file_key_and_problem() {
        let broken = embedded_specs()[1]
            .1
            .replace(
                "kind = \"/cardType\"",
                "kind = { from = \"/cardType\", map = { D = \"DEBT\" } }",
            )
            .replace(
                "query = { customerId = \"{keys}\" }",
                "query = { customerId = \"{cif}\" }",
            )
            .replace(
                "[auth]\ntype = \"none\"",
                "[auth]\ntype = \"bearer\"\ntoken = \"${CARDS_TOKEN}\"",
            );
        let errors = compile(
            System::Cards,
            "connectors/cards.toml",
            &broken,
            &ConnectorsConfig::default(),
            &no_env,
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(has("connectors/cards.toml: endpoints.cards.fields.kind.map.D: 'DEBT' is not one of DEBIT, CREDIT"), "{text:#?}");
        assert!(has("connectors/cards.toml: endpoints.cards.query.customerId: unknown placeholder {cif}"), "{text:#?}");
        assert!(
            has("connectors/cards.toml: auth.token: environment variable CARDS_TOKEN is not set"),
            "{text:#?}"
        );
    }

    #[test]
    fn unknown_keys_and_missing_endpoints_are_reported() {
        let broken = embedded_specs()[2]
            .1
            .replace("timeout = \"3s\"", "timout = \"3s\"");
        let errors = compile(
            System::Loans,
            "loans.toml",
            &broken,
            &ConnectorsConfig::default(),
            &no_env,
        )
        .unwrap_err();
        assert!(
            errors[0].to_string().contains("unknown field `timout`"),
            "{errors:?}"
        );
        let without = "system = \"loans\"\nbase_url = \"http://x\"\n[endpoints]\n";
        let errors = compile(
            System::Loans,
            "loans.toml",
            without,
            &ConnectorsConfig::default(),
            &no_env,
        )
        .unwrap_err();
        assert_eq!(errors[0].key, "endpoints.loans");
    }
}
