//! Allowlist mode: only the operations of a persisted-query manifest may run.
//!
//! Portals ship their queries in the manifest at build time (Apollo's
//! `persisted-query-manifest` format); the hub then refuses anything else from the
//! roles the allowlist covers, so a token lifted from a browser cannot be used to
//! explore the graph.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
struct Manifest {
    operations: Vec<Operation>,
}

#[derive(Debug, Deserialize)]
struct Operation {
    id: String,
    body: String,
}

/// The operations that may run, by id and by the SHA-256 of their text.
#[derive(Debug)]
pub struct Allowlist {
    by_id: HashMap<String, String>,
    by_hash: HashMap<String, String>,
    roles: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    /// The message names the cause, so it is not also returned from `source()`.
    #[error("{path}: cannot read the persisted-query manifest: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: not a persisted-query manifest ({{\"operations\": [{{\"id\", \"body\"}}]}}): {message}")]
    Invalid { path: String, message: String },
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Allowlist {
    pub fn load(path: &Path, roles: &[String]) -> Result<Allowlist, AllowlistError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| AllowlistError::Read {
            path: shown.clone(),
            error,
        })?;
        Allowlist::parse(&text, &shown, roles)
    }

    pub fn parse(text: &str, path: &str, roles: &[String]) -> Result<Allowlist, AllowlistError> {
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|e| AllowlistError::Invalid {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        if manifest.operations.is_empty() {
            return Err(AllowlistError::Invalid {
                path: path.to_owned(),
                message: "it lists no operations, so nothing could run".into(),
            });
        }
        let mut by_id = HashMap::new();
        let mut by_hash = HashMap::new();
        for op in manifest.operations {
            by_hash.insert(sha256_hex(&op.body), op.body.clone());
            by_id.insert(op.id, op.body);
        }
        Ok(Allowlist {
            by_id,
            by_hash,
            roles: roles.to_vec(),
        })
    }

    /// Whether callers of `role` are held to the list.
    pub fn applies_to(&self, role: &str) -> bool {
        self.roles.is_empty() || self.roles.iter().any(|r| r == role)
    }

    /// The document to run for a request that names an operation by id (the
    /// persisted-query hash) or sends its text; `None` when it is not listed.
    pub fn find(&self, id: Option<&str>, query: Option<&str>) -> Option<String> {
        if let Some(id) = id {
            return self.by_id.get(id).or_else(|| self.by_hash.get(id)).cloned();
        }
        let query = query?;
        self.by_hash.get(&sha256_hex(query)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{"format":"apollo-persisted-query-manifest","version":1,
        "operations":[{"id":"profile-v1","name":"Profile","type":"query","body":"query Profile { __typename }"}]}"#;

    #[test]
    fn listed_operations_run_by_id_hash_or_identical_text() {
        let list = Allowlist::parse(MANIFEST, "m.json", &[]).unwrap();
        let body = "query Profile { __typename }";
        assert_eq!(list.find(Some("profile-v1"), None).as_deref(), Some(body));
        assert_eq!(
            list.find(Some(&sha256_hex(body)), None).as_deref(),
            Some(body)
        );
        assert_eq!(list.find(None, Some(body)).as_deref(), Some(body));
        assert_eq!(list.find(None, Some("{ __typename }")), None);
        assert_eq!(
            list.find(Some("other"), Some(body)),
            None,
            "an id must match"
        );
    }

    #[test]
    fn roles_narrow_who_is_held_to_it() {
        let list = Allowlist::parse(MANIFEST, "m.json", &["customer".into()]).unwrap();
        assert!(list.applies_to("customer"));
        assert!(!list.applies_to("teller"));
        assert!(Allowlist::parse(MANIFEST, "m.json", &[])
            .unwrap()
            .applies_to("teller"));
    }

    #[test]
    fn an_empty_or_malformed_manifest_is_refused() {
        assert!(Allowlist::parse(r#"{"operations":[]}"#, "m.json", &[]).is_err());
        let error = Allowlist::parse("[]", "m.json", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("m.json"), "{error}");
    }
}
