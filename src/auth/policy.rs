//! Roles and what each may do, from `config/policies.toml`.
//!
//! Policies are data because a bank's compliance office changes them without a
//! release; they are checked at start against the live schema, so a typo in a field
//! name stops the hub instead of silently granting access.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{Personal, PersonalSet};

/// The policies the binary carries, used when no `config/policies.toml` exists (a
/// binary run outside its source tree).
const EMBEDDED: &str = include_str!("../../config/policies.toml");

/// Which customers a role may read; any matching rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeRule {
    /// Every customer.
    All,
    /// Customers whose home branch is the token's branch.
    Branch,
    /// Customers whose relationship manager is the token's staff member.
    Book,
    /// The token's own CIF.
    #[serde(rename = "self")]
    SelfOnly,
}

/// What a role may do besides reading customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Schema introspection outside the demo profile.
    Introspect,
    /// The `accessAudit` query.
    ReadAudit,
    /// `interactionLogged` without `customerId`: every contact logged in the bank, as
    /// it happens (each still filtered by scope and field policy, and audited).
    WatchAllInteractions,
    /// Writes attributed to another staff member (`staffId`/`branchId` other than the
    /// token's): back-office entry of a colleague's contacts, recorded with both names.
    ActForStaff,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    scope: Vec<ScopeRule>,
    #[serde(default)]
    unmasked: Vec<String>,
    #[serde(default)]
    unmask_with_purpose: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    audited: bool,
    #[serde(default)]
    capabilities: Vec<Capability>,
    #[serde(default)]
    pseudonymous: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicies {
    roles: BTreeMap<String, RawRole>,
}

/// One role's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicy {
    pub name: String,
    pub scope: Vec<ScopeRule>,
    pub unmasked: PersonalSet,
    pub unmask_with_purpose: PersonalSet,
    /// `Type.field` entries the role may not resolve.
    pub deny: HashSet<String>,
    /// Reads of customers are written to the access audit.
    pub audited: bool,
    pub capabilities: HashSet<Capability>,
    /// Customers appear under keyed pseudonyms, amounts in bands, and no figure about
    /// fewer than `k` customers is shown (docs/bi.md).
    pub pseudonymous: bool,
}

impl RolePolicy {
    pub fn may(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// Whether `Type.field` is denied; the common case (nothing denied) is one branch.
    pub fn denies(&self, type_name: &str, field: &str) -> bool {
        if self.deny.is_empty() {
            return false;
        }
        let mut key = String::with_capacity(type_name.len() + field.len() + 1);
        key.push_str(type_name);
        key.push('.');
        key.push_str(field);
        self.deny.contains(&key)
    }
}

/// Every role, by name.
#[derive(Debug, Clone)]
pub struct Policies {
    roles: HashMap<String, Arc<RolePolicy>>,
    /// Where they were read from, for logs and errors.
    pub source: String,
}

/// The policies in force: read per request, replaced whole when the file is reloaded
/// (SIGHUP), so a request sees one version from start to end.
#[derive(Debug, Clone)]
pub struct LivePolicies(Arc<std::sync::RwLock<Arc<Policies>>>);

impl LivePolicies {
    pub fn new(policies: Policies) -> LivePolicies {
        LivePolicies(Arc::new(std::sync::RwLock::new(Arc::new(policies))))
    }

    pub fn current(&self) -> Arc<Policies> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, policies: Policies) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policies);
    }
}

/// Why the policies cannot be used; the hub does not start with them.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The message names the cause, so it is not also returned from `source()`.
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// A field of the schema as the policy check needs it.
pub struct SchemaField {
    pub type_name: String,
    pub field: String,
    /// The field may be null, so denying it leaves its parent standing.
    pub nullable: bool,
}

/// The roles the issue and docs/domain.md#roles require; a policy file without them is
/// incomplete rather than a deliberate choice.
pub const REQUIRED_ROLES: [&str; 8] = [
    "teller",
    "relationship_manager",
    "branch_manager",
    "risk_officer",
    "bi_analyst",
    "customer",
    "admin",
    "auditor",
];

impl Policies {
    /// Reads `path`, or the embedded copy when `path` does not exist.
    pub fn load(path: &Path) -> Result<Policies, PolicyError> {
        if !path.exists() {
            return Policies::parse(EMBEDDED, "embedded config/policies.toml");
        }
        let text = std::fs::read_to_string(path).map_err(|error| PolicyError::Read {
            path: path.to_owned(),
            error,
        })?;
        Policies::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Policies, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            source_name: source_name.to_owned(),
            message,
        };
        let raw: RawPolicies = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut roles = HashMap::new();
        for (name, role) in raw.roles {
            let classes = |key: &str, names: &[String]| -> Result<PersonalSet, PolicyError> {
                let mut set = PersonalSet::default();
                for class in names {
                    let parsed = Personal::parse(class).ok_or_else(|| {
                        invalid(format!(
                            "roles.{name}.{key}: unknown class '{class}' (expected one of {})",
                            Personal::NAMES.join(", ")
                        ))
                    })?;
                    set.insert(parsed);
                }
                Ok(set)
            };
            let unmasked = classes("unmasked", &role.unmasked)?;
            let unmask_with_purpose = classes("unmask_with_purpose", &role.unmask_with_purpose)?;
            for entry in &role.deny {
                let well_formed = entry
                    .split_once('.')
                    .is_some_and(|(t, f)| !t.is_empty() && !f.is_empty() && !f.contains('.'));
                if !well_formed {
                    return Err(invalid(format!(
                        "roles.{name}.deny: '{entry}' is not Type.field"
                    )));
                }
            }
            roles.insert(
                name.clone(),
                Arc::new(RolePolicy {
                    name,
                    scope: role.scope,
                    unmasked,
                    unmask_with_purpose,
                    deny: role.deny.into_iter().collect(),
                    audited: role.audited,
                    capabilities: role.capabilities.into_iter().collect(),
                    pseudonymous: role.pseudonymous,
                }),
            );
        }
        let missing: Vec<&str> = REQUIRED_ROLES
            .iter()
            .copied()
            .filter(|r| !roles.contains_key(*r))
            .collect();
        if !missing.is_empty() {
            return Err(invalid(format!(
                "roles missing: {} (every deployment defines them, if only to deny)",
                missing.join(", ")
            )));
        }
        Ok(Policies {
            roles,
            source: source_name.to_owned(),
        })
    }

    /// Checks every `deny` entry against the schema: the field must exist, and a field
    /// of an object type must be nullable, or denying it would null its parent too.
    pub fn check_against(&self, fields: &[SchemaField]) -> Result<(), PolicyError> {
        let roots = ["Query", "Mutation", "Subscription"];
        let mut problems = Vec::new();
        let mut names: Vec<&String> = self.roles.keys().collect();
        names.sort();
        for name in names {
            let mut denied: Vec<&String> = self.roles[name].deny.iter().collect();
            denied.sort();
            for entry in denied {
                let (type_name, field) = entry.split_once('.').unwrap_or_default();
                match fields
                    .iter()
                    .find(|f| f.type_name == type_name && f.field == field)
                {
                    None => problems.push(format!(
                        "roles.{name}.deny: {entry} is not a field of the schema"
                    )),
                    Some(f) if !f.nullable && !roots.contains(&type_name) => {
                        problems.push(format!(
                            "roles.{name}.deny: {entry} is non-null, so denying it would hide its whole parent"
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::Invalid {
                source_name: self.source.clone(),
                message: problems.join("\n"),
            })
        }
    }

    pub fn role(&self, name: &str) -> Option<&Arc<RolePolicy>> {
        self.roles.get(name)
    }

    /// Role names, sorted (for `c360 demo`'s token list).
    pub fn role_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.roles.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policies_parse_and_define_every_required_role() {
        let policies = Policies::parse(EMBEDDED, "config/policies.toml").unwrap();
        for role in REQUIRED_ROLES {
            assert!(policies.role(role).is_some(), "{role}");
        }
        let customer = policies.role("customer").unwrap();
        assert_eq!(customer.scope, vec![ScopeRule::SelfOnly]);
        assert!(!customer.audited);
        assert!(customer.denies("Interaction", "notes"));
        assert!(!customer.denies("Customer", "accounts"));
        let auditor = policies.role("auditor").unwrap();
        assert!(auditor.scope.is_empty());
        assert!(auditor.may(Capability::ReadAudit));
    }

    fn with_role(role: &str) -> String {
        let mut text = String::new();
        for name in REQUIRED_ROLES {
            text.push_str(&format!(
                "[roles.{name}]\nscope = [\"all\"]\naudited = true\n"
            ));
        }
        text.push_str(role);
        text
    }

    #[test]
    fn an_unknown_class_names_the_role_and_the_key() {
        let text = with_role("[roles.extra]\nscope=[]\naudited=true\nunmasked=[\"salary\"]\n");
        let error = Policies::parse(&text, "p.toml").unwrap_err().to_string();
        assert!(error.contains("roles.extra.unmasked"), "{error}");
        assert!(error.contains("salary"), "{error}");
    }

    #[test]
    fn a_missing_required_role_is_an_error() {
        let error = Policies::parse("[roles.teller]\nscope=[\"all\"]\naudited=true\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("roles missing"), "{error}");
        assert!(error.contains("auditor"), "{error}");
    }

    #[test]
    fn an_unknown_scope_rule_is_refused() {
        let text = with_role("[roles.extra]\nscope=[\"region\"]\naudited=true\n");
        assert!(Policies::parse(&text, "p.toml").is_err());
    }

    #[test]
    fn deny_entries_are_checked_against_the_schema() {
        let text = with_role(
            "[roles.extra]\nscope=[]\naudited=true\ndeny=[\"Customer.nmae\", \"Customer.id\", \"Query.customer\", \"Customer.email\"]\n",
        );
        let policies = Policies::parse(&text, "p.toml").unwrap();
        let field = |t: &str, f: &str, nullable| SchemaField {
            type_name: t.into(),
            field: f.into(),
            nullable,
        };
        let schema = [
            field("Customer", "name", true),
            field("Customer", "id", false),
            field("Customer", "email", true),
            field("Query", "customer", false),
        ];
        let error = policies.check_against(&schema).unwrap_err().to_string();
        assert!(error.contains("Customer.nmae is not a field"), "{error}");
        assert!(error.contains("Customer.id is non-null"), "{error}");
        assert!(!error.contains("Query.customer"), "{error}");
        assert!(!error.contains("Customer.email"), "{error}");
    }
}
