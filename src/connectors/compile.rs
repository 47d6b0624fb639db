//! Loading connector specs: files (or the copies built into the binary), environment
//! expansion, and every check that can be made before the first call.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::mapping::{Mapping, Pointer};
use super::spec::{self, AuthSpec, ErrorSpec, PagingSpec, Spec};
use super::{EndpointContract, EndpointKind, CONTRACTS};
use crate::cache::CachePolicy;
use crate::config::{expand_env, ConnectorsConfig};
use crate::domain::fields::Entity;
use crate::domain::System;

/// The specs shipped in `connectors/`, built into the binary so that `c360 demo` runs
/// from anywhere.
pub fn embedded_specs() -> [(System, &'static str); 4] {
    [
        (System::Core, include_str!("../../connectors/core.toml")),
        (System::Cards, include_str!("../../connectors/cards.toml")),
        (System::Loans, include_str!("../../connectors/loans.toml")),
        (
            System::Channels,
            include_str!("../../connectors/channels.toml"),
        ),
    ]
}

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

/// Every problem found, so an operator fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
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
    pub cache: CachePolicy,
}

/// Loads the four specs from `config.dir`, or the built-in ones when that folder does
/// not exist and is the default. `lookup` resolves `${VAR}` references.
pub fn load(
    config: &ConnectorsConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<CompiledSpec>, SpecErrors> {
    let sources: Vec<(System, String, String)> = if config.dir.is_dir() {
        read_dir(&config.dir)?
    } else if config.dir == ConnectorsConfig::default().dir {
        tracing::info!(dir = %config.dir.display(), "connector folder not found; using the built-in connector specs");
        embedded_specs()
            .into_iter()
            .map(|(system, text)| (system, format!("<built-in>/{system}.toml"), text.to_owned()))
            .collect()
    } else {
        return Err(SpecErrors(vec![SpecError {
            file: config.dir.display().to_string(),
            key: String::new(),
            problem: "connector folder does not exist".into(),
        }]));
    };
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for (system, file, text) in sources {
        match compile(system, &file, &text, config, lookup) {
            Ok(spec) => specs.push(spec),
            Err(mut problems) => errors.append(&mut problems),
        }
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(SpecErrors(errors))
    }
}

fn read_dir(dir: &Path) -> Result<Vec<(System, String, String)>, SpecErrors> {
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        SpecErrors(vec![SpecError {
            file: dir.display().to_string(),
            key: String::new(),
            problem: format!("cannot read the folder: {e}"),
        }])
    })?;
    let mut seen = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let file = path.display().to_string();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match stem.parse::<System>() {
            Ok(system) => match std::fs::read_to_string(&path) {
                Ok(text) => {
                    seen.push(system);
                    sources.push((system, file, text));
                }
                Err(e) => errors.push(SpecError {
                    file,
                    key: String::new(),
                    problem: format!("cannot read: {e}"),
                }),
            },
            Err(e) => errors.push(SpecError {
                file,
                key: String::new(),
                problem: format!("{e}: connector files are named after their system"),
            }),
        }
    }
    for system in System::ALL.into_iter().filter(|s| !seen.contains(s)) {
        errors.push(SpecError {
            file: dir.join(format!("{system}.toml")).display().to_string(),
            key: String::new(),
            problem: "missing: every system needs its connector file".into(),
        });
    }
    sources.sort_by_key(|(system, _, _)| *system);
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(SpecErrors(errors))
    }
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
                let policy = CachePolicy {
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
    ok.then(|| Endpoint {
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
        items: Pointer::new(&spec.items),
        key: spec.key.as_deref().map(Pointer::new),
        paging: spec.paging.clone(),
        next: spec.paging.as_ref().map(|p| Pointer::new(&p.next)),
        total: spec
            .paging
            .as_ref()
            .and_then(|p| p.total.as_deref())
            .map(Pointer::new),
        idempotent: spec.idempotent || spec.method.eq_ignore_ascii_case("GET"),
        mapping,
        cache: CachePolicy::NONE,
    })
}

fn collect_body_templates(value: &Value, key: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((key.to_owned(), s.clone())),
        Value::Object(map) => {
            for (k, v) in map {
                collect_body_templates(v, &format!("{key}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_body_templates(v, &format!("{key}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The `{name}` placeholders of a template.
pub fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in '{template}'"))?;
        let name = &after[..end];
        if name.is_empty() {
            return Err(format!("empty placeholder in '{template}'"));
        }
        names.push(name.to_owned());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// Fills `{name}` placeholders; `None` when an optional (`{name?}`) one is absent,
/// an error naming a required one that is absent.
pub fn render(
    template: &str,
    values: &BTreeMap<String, String>,
    encode: bool,
) -> Result<Option<String>, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}').unwrap_or(after.len());
        let raw = &after[..end];
        let (name, optional) = match raw.strip_suffix('?') {
            Some(name) => (name, true),
            None => (raw, false),
        };
        match values.get(name) {
            Some(value) if encode => {
                out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()))
            }
            Some(value) => out.push_str(value),
            None if optional => return Ok(None),
            None => return Err(format!("parameter '{name}' is required")),
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn shipped_specs_compile_from_the_folder_and_built_in() {
        let config = ConnectorsConfig {
            dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors"),
            ..ConnectorsConfig::default()
        };
        let specs = load(&config, &no_env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(specs.len(), 4);
        for (system, text) in embedded_specs() {
            compile(
                system,
                "built-in",
                text,
                &ConnectorsConfig::default(),
                &no_env,
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        }
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

    #[test]
    fn templates_render_and_encode() {
        let mut values = BTreeMap::new();
        values.insert("account".to_owned(), "62 17/1".to_owned());
        assert_eq!(
            render("/accounts/{account}/t", &values, true)
                .unwrap()
                .unwrap(),
            "/accounts/62+17%2F1/t"
        );
        assert_eq!(render("{from?}", &values, false).unwrap(), None);
        assert!(render("{from}", &values, false).is_err());
    }
}
