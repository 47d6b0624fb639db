//! Where spans are exported: the standard OpenTelemetry environment variables
//! (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`), read here because this module is
//! the only reader of the environment. They are not part of the TOML layers: a
//! collector is a property of the deployment, set the same way for every service in it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The service name spans carry when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "c360";

/// The OTLP path of the traces signal, appended to `OTEL_EXPORTER_OTLP_ENDPOINT` as
/// the OTLP/HTTP specification asks (the per-signal variable is used as it is).
const TRACES_PATH: &str = "/v1/traces";

/// How spans are encoded on the wire. gRPC is left out on purpose: it would pull a
/// second HTTP stack (tonic) into a binary that already has reqwest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// `http/protobuf`, the OTLP default.
    HttpProtobuf,
    /// `http/json`, readable by anything that parses JSON.
    HttpJson,
}

/// An OTLP/HTTP trace exporter's settings; present only when an endpoint is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtlpConfig {
    /// The full URL spans are posted to (`…/v1/traces`).
    pub traces_endpoint: String,
    pub protocol: OtlpProtocol,
    /// `service.name` of the exported resource.
    pub service_name: String,
}

impl OtlpConfig {
    /// The exporter's settings from the environment, `None` when no endpoint is set
    /// (then nothing is exported and no exporter exists).
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Option<OtlpConfig>, ConfigError> {
        let set = |name: &str| {
            vars.get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let traces_endpoint = match (
            set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            set("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(traces), _) => traces,
            (None, Some(base)) => format!("{}{TRACES_PATH}", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        let parsed = url::Url::parse(&traces_endpoint).map_err(|e| {
            ConfigError::Invalid(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT is not a URL ({e}); write e.g. http://collector:4318"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, not {}://",
                parsed.scheme()
            )));
        }
        let protocol = match set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            None | Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
            Some("http/json") => OtlpProtocol::HttpJson,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported; use http/protobuf or http/json"
                )))
            }
        };
        Ok(Some(OtlpConfig {
            traces_endpoint,
            protocol,
            service_name: set("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.into()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_endpoint_means_no_exporter() {
        assert_eq!(OtlpConfig::from_vars(&vars(&[])).unwrap(), None);
        assert_eq!(
            OtlpConfig::from_vars(&vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])).unwrap(),
            None
        );
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_defaults() {
        let otlp = OtlpConfig::from_vars(&vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318/",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(otlp.traces_endpoint, "http://collector:4318/v1/traces");
        assert_eq!(otlp.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(otlp.service_name, "c360");
    }

    #[test]
    fn the_traces_endpoint_protocol_and_service_name_are_taken_as_given() {
        let otlp = OtlpConfig::from_vars(&vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c:443/traces"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "c360-eu"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(otlp.traces_endpoint, "https://c:443/traces");
        assert_eq!(otlp.protocol, OtlpProtocol::HttpJson);
        assert_eq!(otlp.service_name, "c360-eu");
    }

    #[test]
    fn grpc_and_malformed_endpoints_are_refused_with_the_variable_named() {
        let grpc = OtlpConfig::from_vars(&vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(grpc.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"), "{grpc}");
        let bad = OtlpConfig::from_vars(&vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector")]))
            .unwrap_err()
            .to_string();
        assert!(bad.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{bad}");
    }
}
