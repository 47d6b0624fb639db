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
use crate::domain::{ClassSet, DataClass};

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

impl Capability {
    pub const ALL: [Capability; 4] = [
        Capability::Introspect,
        Capability::ReadAudit,
        Capability::WatchAllInteractions,
        Capability::ActForStaff,
    ];

    /// The name `config/policies.toml` gives it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Capability::Introspect => "introspect",
            Capability::ReadAudit => "read_audit",
            Capability::WatchAllInteractions => "watch_all_interactions",
            Capability::ActForStaff => "act_for_staff",
        }
    }
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
    #[serde(default)]
    deny_classes: Vec<String>,
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
    /// `Type.field` entries the role may not resolve: the file's `deny`, and, once
    /// [`Policies::check_against`] has seen the schema, every field that carries a
    /// class of `deny_classes`.
    pub deny: HashSet<String>,
    /// Data classes the role may not see, wherever they show up or whatever is
    /// computed from them. Holds `audit` too for a role without `read_audit`.
    pub deny_classes: ClassSet,
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
    /// The named type it returns, lists and non-null unwrapped.
    pub returns: String,
    /// The data classes its value carries (those of what it is computed from); empty
    /// for a field no one classified, which the check refuses.
    pub classes: ClassSet,
}

const ROOTS: [&str; 3] = ["Query", "Mutation", "Subscription"];

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
            let mut deny_classes = ClassSet::default();
            for class in &role.deny_classes {
                let parsed = DataClass::parse(class).ok_or_else(|| {
                    invalid(format!(
                        "roles.{name}.deny_classes: unknown class '{class}' (expected one of {})",
                        DataClass::NAMES.join(", ")
                    ))
                })?;
                deny_classes.insert(parsed);
            }
            if !role.capabilities.contains(&Capability::ReadAudit) {
                deny_classes.insert(DataClass::Audit);
            }
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
                    deny_classes,
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

    /// Checks the policies against the schema and applies the class denials: every
    /// field must carry a data class, every `deny` entry must name a field, and a
    /// non-null field a role is denied (by name or by class) must not be reachable
    /// for that role, or denying it would null its parent too. Then each role's
    /// `deny` gains the fields that carry a class it denies, so that one check per
    /// field enforces both.
    pub fn check_against(&mut self, fields: &[SchemaField]) -> Result<(), PolicyError> {
        let mut problems = Vec::new();
        for f in fields {
            if f.classes.is_empty() {
                problems.push(format!(
                    "{}.{} has no data class (classify it in the registry, docs/data-classes.md)",
                    f.type_name, f.field
                ));
            }
        }
        let mut names: Vec<String> = self.roles.keys().cloned().collect();
        names.sort();
        for name in names {
            let role = &self.roles[&name];
            let mut denied: Vec<&String> = role.deny.iter().collect();
            denied.sort();
            for entry in denied {
                let (type_name, field) = entry.split_once('.').unwrap_or_default();
                if !fields
                    .iter()
                    .any(|f| f.type_name == type_name && f.field == field)
                {
                    problems.push(format!(
                        "roles.{name}.deny: {entry} is not a field of the schema"
                    ));
                }
            }
            let mut deny = role.deny.clone();
            for f in fields {
                if f.classes.intersects(role.deny_classes) {
                    deny.insert(format!("{}.{}", f.type_name, f.field));
                }
            }
            let is_denied =
                |f: &SchemaField| deny.contains(&format!("{}.{}", f.type_name, f.field));
            // The types a request of this role can reach through fields it may read.
            let mut open: HashSet<&str> = ROOTS.into_iter().collect();
            loop {
                let before = open.len();
                for f in fields {
                    if open.contains(f.type_name.as_str()) && !is_denied(f) {
                        open.insert(f.returns.as_str());
                    }
                }
                if open.len() == before {
                    break;
                }
            }
            let mut hiding: Vec<String> = fields
                .iter()
                .filter(|f| {
                    is_denied(f)
                        && !f.nullable
                        && !ROOTS.contains(&f.type_name.as_str())
                        && open.contains(f.type_name.as_str())
                })
                .map(|f| {
                    let key = format!("{}.{}", f.type_name, f.field);
                    let why = if role.deny.contains(&key) {
                        "deny".to_owned()
                    } else {
                        format!(
                            "deny_classes ({})",
                            f.classes
                                .iter()
                                .filter(|c| role.deny_classes.contains(*c))
                                .map(DataClass::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    format!(
                        "roles.{name}.{why}: {key} is non-null, so denying it would hide its whole parent"
                    )
                })
                .collect();
            hiding.sort();
            problems.extend(hiding);
            let mut expanded = (**role).clone();
            expanded.deny = deny;
            self.roles.insert(name, Arc::new(expanded));
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

    fn field(
        t: &str,
        f: &str,
        nullable: bool,
        returns: &str,
        classes: &[DataClass],
    ) -> SchemaField {
        SchemaField {
            type_name: t.into(),
            field: f.into(),
            nullable,
            returns: returns.into(),
            classes: ClassSet::of(classes),
        }
    }

    #[test]
    fn deny_entries_are_checked_against_the_schema() {
        use DataClass::*;
        let text = with_role(
            "[roles.extra]\nscope=[]\naudited=true\ndeny=[\"Customer.nmae\", \"Customer.id\", \"Query.customer\", \"Customer.email\"]\n",
        );
        let mut policies = Policies::parse(&text, "p.toml").unwrap();
        let schema = [
            field("Customer", "name", true, "String", &[Name]),
            field("Customer", "id", false, "ID", &[CustomerId]),
            field("Customer", "email", true, "String", &[Email]),
            field("Query", "customer", false, "Customer", &[CustomerId]),
            field("Query", "customers", false, "Customer", &[CustomerId]),
        ];
        let error = policies.check_against(&schema).unwrap_err().to_string();
        assert!(error.contains("Customer.nmae is not a field"), "{error}");
        assert!(error.contains("Customer.id is non-null"), "{error}");
        assert!(!error.contains("Query.customer"), "{error}");
        assert!(!error.contains("Customer.email"), "{error}");
    }

    #[test]
    fn a_denied_class_denies_every_field_computed_from_it() {
        use DataClass::*;
        let text = with_role(
            "[roles.extra]\nscope=[\"all\"]\naudited=true\ndeny_classes=[\"deposits\"]\n",
        );
        let mut policies = Policies::parse(&text, "p.toml").unwrap();
        let schema = [
            field("Query", "customer", true, "Customer", &[CustomerId]),
            field("Customer", "holdings", true, "Holdings", &[Meta]),
            field("Customer", "loans", true, "Loan", &[Loans]),
            field("Holdings", "aum", true, "Money", &[Deposits, Insights]),
            field("Holdings", "loansOutstanding", false, "Money", &[Loans]),
        ];
        policies.check_against(&schema).unwrap();
        let extra = policies.role("extra").unwrap();
        assert!(extra.denies("Holdings", "aum"));
        assert!(!extra.denies("Holdings", "loansOutstanding"));
        assert!(!extra.denies("Customer", "loans"));
    }

    #[test]
    fn a_reachable_non_null_field_may_not_be_denied_by_class_and_unclassified_fields_are_refused() {
        use DataClass::*;
        let text = with_role(
            "[roles.extra]\nscope=[\"all\"]\naudited=true\ndeny_classes=[\"deposits\", \"insights\"]\n",
        );
        let mut policies = Policies::parse(&text, "p.toml").unwrap();
        let schema = [
            field("Query", "customer", true, "Customer", &[CustomerId]),
            field("Customer", "holdings", true, "Holdings", &[Meta]),
            field("Customer", "insights", true, "Insights", &[Insights]),
            field("Holdings", "aum", false, "Money", &[Deposits]),
            field("Insights", "tier", false, "Tier", &[Insights, Deposits]),
            field("Holdings", "fxAsOf", false, "Date", &[]),
        ];
        let error = policies.check_against(&schema).unwrap_err().to_string();
        assert!(
            error.contains("roles.extra.deny_classes (deposits): Holdings.aum is non-null"),
            "{error}"
        );
        // Only reachable through a field the role is denied anyway.
        assert!(!error.contains("Insights.tier"), "{error}");
        assert!(
            error.contains("Holdings.fxAsOf has no data class"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_denied_class_is_named() {
        let text = with_role("[roles.extra]\nscope=[]\naudited=true\ndeny_classes=[\"deposit\"]\n");
        let error = Policies::parse(&text, "p.toml").unwrap_err().to_string();
        assert!(error.contains("roles.extra.deny_classes"), "{error}");
        assert!(error.contains("'deposit'"), "{error}");
    }
}
