//! Query-parameter parsing shared by the four simulated systems. Every problem becomes
//! a [`ParamError`] naming the parameter; each system renders it in its own error
//! dialect. Parsing never fails on odd input: bad percent-encoding or unknown
//! parameters are tolerated, only the parameters a handler asks for are checked.

use std::collections::HashMap;

/// At most this many keys per batch call (docs/sandbox.md "Common behaviour").
pub(crate) const MAX_BATCH_KEYS: usize = 100;
/// Upper bound on page sizes; larger requests are clamped, as real systems do.
pub(crate) const MAX_PAGE_SIZE: u64 = 200;

/// A query parameter that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamError {
    pub(crate) parameter: String,
    pub(crate) message: String,
}

impl ParamError {
    pub(crate) fn new(parameter: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            parameter: parameter.to_string(),
            message: message.into(),
        }
    }
}

/// The decoded query string of a request (the last value wins for repeated names).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Params {
        let map = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Params(map)
    }

    /// The parameter if present and not blank.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, ParamError> {
        self.get(name)
            .ok_or_else(|| ParamError::new(name, format!("parameter `{name}` is required")))
    }

    /// A required comma-separated key list of 1 to `MAX_BATCH_KEYS` keys.
    pub(crate) fn keys(&self, name: &str) -> Result<Vec<String>, ParamError> {
        let keys: Vec<String> = self
            .required(name)?
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect();
        check_batch(name, keys)
    }

    /// A page size: `default` when absent, clamped to `MAX_PAGE_SIZE`, at least 1.
    pub(crate) fn limit(&self, name: &str, default: u64) -> Result<u64, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => {
                let value = parse_count(text).ok_or_else(|| {
                    ParamError::new(
                        name,
                        format!("parameter `{name}` must be a positive integer, got `{text}`"),
                    )
                })?;
                if value == 0 {
                    return Err(ParamError::new(
                        name,
                        format!("parameter `{name}` must be at least 1"),
                    ));
                }
                Ok(value.min(MAX_PAGE_SIZE))
            }
        }
    }

    /// A page key previously returned by the same endpoint (an opaque offset); 0 when absent.
    pub(crate) fn page_key(&self, name: &str) -> Result<u64, ParamError> {
        match self.get(name) {
            None => Ok(0),
            Some(text) => text.parse::<u64>().map_err(|_| {
                ParamError::new(
                    name,
                    format!("parameter `{name}` is not a page key issued by this system: `{text}`"),
                )
            }),
        }
    }
}

/// Checks a batch of keys: at least one, at most `MAX_BATCH_KEYS`.
pub(crate) fn check_batch(name: &str, keys: Vec<String>) -> Result<Vec<String>, ParamError> {
    if keys.is_empty() {
        return Err(ParamError::new(
            name,
            format!("parameter `{name}` must list at least one key"),
        ));
    }
    if keys.len() > MAX_BATCH_KEYS {
        return Err(ParamError::new(
            name,
            format!(
                "parameter `{name}` lists {} keys; at most {MAX_BATCH_KEYS} are allowed per call",
                keys.len()
            ),
        ));
    }
    Ok(keys)
}

/// A non-negative decimal integer; values beyond `u64` saturate (they are clamped anyway).
fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_limits_and_page_keys_are_checked_with_the_parameter_named() {
        let params = Params::parse(Some(
            "ids=1,%202,,3&limit=99999999999999999999999&pageKey=x&zero=0&bad=-1",
        ));
        assert_eq!(
            params.keys("ids"),
            Ok(vec!["1".into(), "2".into(), "3".into()])
        );
        assert_eq!(params.limit("limit", 20), Ok(MAX_PAGE_SIZE));
        assert_eq!(params.limit("absent", 20), Ok(20));
        assert_eq!(
            params.limit("zero", 20).map_err(|e| e.parameter),
            Err("zero".into())
        );
        assert_eq!(
            params.limit("bad", 20).map_err(|e| e.parameter),
            Err("bad".into())
        );
        assert_eq!(
            params.page_key("pageKey").map_err(|e| e.parameter),
            Err("pageKey".into())
        );
        assert_eq!(params.page_key("absent"), Ok(0));
        assert!(params.keys("absent").is_err());
        let many = (0..101)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let params = Params::parse(Some(&format!("ids={many}")));
        assert!(params.keys("ids").unwrap_err().message.contains("101"));
        assert!(Params::parse(Some("%ff%fe=%zz")).get("x").is_none());
    }
}
