//! Who is asking, and what they may see.
//!
//! Every request carries a [`Viewer`]: the verified identity, the role's policy from
//! `config/policies.toml`, the purpose the caller stated, and a log of which customers
//! it read and which personal fields it saw in clear, from which the access audit is
//! written. Masking (JR/T 0171-2020 C2 data: names, ID numbers, mobiles, card and
//! account numbers, e-mail, address) is applied once, at the GraphQL edge, through
//! [`Viewer::show`].
//!
//! Reads of customers by staff are recorded through an [`AuditWriter`]; reading that
//! audit is guarded by [`require_audit_reader`].

pub mod allowlist;
mod audit;
mod deidentify;
mod guard;
pub mod limits;
mod masking;
pub mod policy;
mod token;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use audit::{AuditClosed, AuditSettings, AuditWriter};
pub use deidentify::{AmountBands, Deidentify, DeidentifyError, DEVELOPMENT_KEY_ID};
pub use guard::require_audit_reader;
pub use masking::{
    mask_address, mask_birth_date, mask_email, mask_id_number, mask_mobile, mask_name, mask_number,
};
pub use policy::{Capability, LivePolicies, Policies, PolicyError, RolePolicy, ScopeRule};
#[cfg(feature = "demo")]
pub use token::{dev_secret, dev_token, mint_dev_token, DevTokenError, DevTokenRequest};
pub use token::{AuthSetupError, TokenError, Verifier};

use crate::domain::{Cif, Customer, DataClass};

/// Who a verified bearer token says the caller is. Built by the token verifier;
/// what the identity may see is decided by the role's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`: the staff user or the customer login.
    pub subject: String,
    /// `role`: a role named in `config/policies.toml`.
    pub role: String,
    /// `staff_id`: the staff number of a bank employee.
    pub staff_id: Option<String>,
    /// `branch_id`: the branch a staff member works at.
    pub branch: Option<String>,
    /// `cif`: the customer an internet-banking token belongs to.
    pub customer: Option<crate::domain::Cif>,
    /// `azp` (or `client_id`): the application that obtained the token.
    pub client: Option<String>,
}

/// Classes of personal data that are masked unless the viewer may see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Personal {
    Name,
    IdNumber,
    Mobile,
    Email,
    Address,
    /// Card (PAN) and account numbers.
    AccountNumber,
    /// With the ID number's last digits and the district it rebuilds the ID number,
    /// so it is masked like the rest.
    BirthDate,
}

impl Personal {
    const ALL: [Personal; 7] = [
        Personal::Name,
        Personal::IdNumber,
        Personal::Mobile,
        Personal::Email,
        Personal::Address,
        Personal::AccountNumber,
        Personal::BirthDate,
    ];

    /// The names used in `config/policies.toml` and in the access audit.
    pub const NAMES: [&'static str; 7] = [
        "name",
        "id_number",
        "mobile",
        "email",
        "address",
        "account_number",
        "birth_date",
    ];

    pub fn as_str(self) -> &'static str {
        Personal::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<Personal> {
        Personal::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Personal::ALL[i])
    }

    /// The data class a policy denies this kind of personal data by.
    pub fn class(self) -> DataClass {
        match self {
            Personal::Name => DataClass::Name,
            Personal::IdNumber => DataClass::IdNumber,
            Personal::Mobile => DataClass::Mobile,
            Personal::Email => DataClass::Email,
            Personal::Address => DataClass::Address,
            Personal::AccountNumber => DataClass::AccountNumber,
            Personal::BirthDate => DataClass::BirthDate,
        }
    }
}

/// A set of [`Personal`] classes, as bits: copied into every request's viewer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PersonalSet(u8);

impl PersonalSet {
    pub fn insert(&mut self, class: Personal) {
        self.0 |= 1 << class as u8;
    }

    pub fn contains(self, class: Personal) -> bool {
        self.0 & (1 << class as u8) != 0
    }

    pub fn union(self, other: PersonalSet) -> PersonalSet {
        PersonalSet(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Class names, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        Personal::ALL
            .iter()
            .filter(|c| self.contains(**c))
            .map(|c| c.as_str())
            .collect()
    }
}

impl FromIterator<Personal> for PersonalSet {
    fn from_iter<I: IntoIterator<Item = Personal>>(iter: I) -> PersonalSet {
        let mut set = PersonalSet::default();
        for class in iter {
            set.insert(class);
        }
        set
    }
}

/// Why a staff member reads a customer, from `X-C360-Purpose`
/// (docs/domain.md#purpose-and-audit). Stating one is what lets a role's
/// `unmask_with_purpose` classes show in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Service,
    Marketing,
    Risk,
    Complaint,
    Analytics,
}

impl Purpose {
    pub const NAMES: [&'static str; 5] = ["SERVICE", "MARKETING", "RISK", "COMPLAINT", "ANALYTICS"];

    pub fn parse(raw: &str) -> Option<Purpose> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "SERVICE" => Some(Purpose::Service),
            "MARKETING" => Some(Purpose::Marketing),
            "RISK" => Some(Purpose::Risk),
            "COMPLAINT" => Some(Purpose::Complaint),
            "ANALYTICS" => Some(Purpose::Analytics),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Purpose::NAMES[self as usize]
    }
}

/// Which customers one request read, and which classes it saw in clear for each.
#[derive(Debug, Default)]
pub struct AccessLog {
    reads: Mutex<BTreeMap<Cif, PersonalSet>>,
    /// The colleague a write of this operation was recorded for (`act_for_staff`): the
    /// audit names both, so acting for someone else never hides who did it.
    acting_for: Mutex<Option<String>>,
}

impl AccessLog {
    fn read(&self, cif: &Cif) {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        if !reads.contains_key(cif) {
            reads.insert(cif.clone(), PersonalSet::default());
        }
    }

    fn revealed(&self, cif: &Cif, class: Personal) {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        match reads.get_mut(cif) {
            Some(set) => set.insert(class),
            None => {
                reads.insert(cif.clone(), [class].into_iter().collect());
            }
        }
    }

    /// Every customer read, with the classes revealed, in CIF order.
    pub fn entries(&self) -> Vec<(Cif, PersonalSet)> {
        let reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads.iter().map(|(c, s)| (c.clone(), *s)).collect()
    }

    /// Notes that this operation writes on behalf of staff member `staff`.
    pub fn act_for(&self, staff: &str) {
        *self.acting_for.lock().unwrap_or_else(|e| e.into_inner()) = Some(staff.to_owned());
    }

    /// Takes what was read so far (a subscription audits each answer's new reads).
    pub fn drain(&self, operation: Option<String>) -> AccessSummary {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let acting_for = self
            .acting_for
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        AccessSummary {
            operation,
            reads: std::mem::take(&mut *reads).into_iter().collect(),
            acting_for,
            row_count: None,
        }
    }
}

/// What one operation read, as the access audit records it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AccessSummary {
    /// The GraphQL operation name, when the document gives one.
    pub operation: Option<String>,
    pub reads: Vec<(Cif, PersonalSet)>,
    /// The staff member the operation wrote for, when it acted for a colleague.
    pub acting_for: Option<String>,
    /// A bulk read (an export): how many customers' rows it answered, recorded as one
    /// audit row rather than one per customer.
    pub row_count: Option<i64>,
}

/// The caller of one request: identity, role policy, purpose, and what it read.
#[derive(Debug, Clone)]
pub struct Viewer {
    identity: Arc<Identity>,
    policy: Arc<RolePolicy>,
    unmasked: PersonalSet,
    purpose: Option<Purpose>,
    /// The calling application (`azp`) or, without one, the peer address.
    client: Option<Arc<str>>,
    view_key: Arc<str>,
    access: Arc<AccessLog>,
    /// Pseudonyms and bands, for a role the policies mark `pseudonymous`.
    deidentify: Option<Arc<Deidentify>>,
}

impl Viewer {
    /// The viewer a verified identity gets under its role's policy.
    pub fn new(
        identity: Identity,
        policy: Arc<RolePolicy>,
        purpose: Option<Purpose>,
        client: Option<String>,
    ) -> Viewer {
        let mut unmasked = policy.unmasked;
        if purpose.is_some() {
            unmasked = unmasked.union(policy.unmask_with_purpose);
        }
        let view_key = view_key(&identity, &policy, unmasked);
        let client = identity.client.clone().or(client).map(Arc::from);
        Viewer {
            identity: Arc::new(identity),
            policy,
            unmasked,
            purpose,
            client,
            view_key: Arc::from(view_key),
            access: Arc::new(AccessLog::default()),
            deidentify: None,
        }
    }

    /// Gives the viewer the hub's pseudonym key and bands; they take effect only
    /// when the role is `pseudonymous`.
    pub fn with_deidentify(mut self, deidentify: Arc<Deidentify>) -> Viewer {
        self.deidentify = Some(deidentify);
        self
    }

    /// Whether the role sees pseudonyms, bands and groups of at least `k` only.
    pub fn pseudonymous(&self) -> bool {
        self.policy.pseudonymous
    }

    /// How the viewer is shown a customer's id: the CIF, or for a pseudonymous role
    /// its pseudonym. A pseudonymous viewer built without the key (never by the
    /// hub's own start-up) is shown a constant rather than the CIF.
    pub fn customer_id(&self, cif: &Cif) -> String {
        if !self.policy.pseudonymous {
            return cif.to_string();
        }
        match &self.deidentify {
            Some(deidentify) => deidentify.pseudonym(cif),
            None => "WITHHELD".to_owned(),
        }
    }

    /// The band an amount falls in, under the hub's bands.
    pub fn amount_band(&self, amount: rust_decimal::Decimal) -> String {
        match &self.deidentify {
            Some(deidentify) => deidentify.bands().band(amount),
            None => AmountBands::default().band(amount),
        }
    }

    /// For a pseudonymous role, `k`: the fewest customers a figure it is shown may
    /// be about; `None` for every other role.
    pub fn min_group_size(&self) -> Option<usize> {
        if !self.policy.pseudonymous {
            return None;
        }
        Some(
            self.deidentify
                .as_ref()
                .map(|d| d.min_group_size())
                .unwrap_or(crate::config::BiConfig::default().min_group_size as usize),
        )
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn policy(&self) -> &RolePolicy {
        &self.policy
    }

    /// The policy as the policies hold it: one allocation per role and load, so that
    /// what is decided per policy can be remembered by it.
    pub fn shared_policy(&self) -> &Arc<RolePolicy> {
        &self.policy
    }

    pub fn purpose(&self) -> Option<Purpose> {
        self.purpose
    }

    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    pub fn may(&self, capability: Capability) -> bool {
        self.policy.may(capability)
    }

    /// What distinguishes this viewer's answers from another's: role, the scope
    /// parameters the role's rules use, and the classes shown in clear. Cached
    /// responses are keyed by it, so no caller is served a view meant for another,
    /// while two tellers share one entry.
    pub fn cache_key(&self) -> &str {
        &self.view_key
    }

    /// Whether the role may read `cif`, when that can be told from the CIF alone:
    /// `None` means the customer's record (branch, relationship manager) decides.
    pub fn may_read_cif(&self, cif: &Cif) -> Option<bool> {
        let mut needs_record = false;
        for rule in &self.policy.scope {
            match rule {
                ScopeRule::All => return Some(true),
                ScopeRule::SelfOnly => {
                    if self.identity.customer.as_ref() == Some(cif) {
                        return Some(true);
                    }
                }
                ScopeRule::Branch => needs_record |= self.identity.branch.is_some(),
                ScopeRule::Book => needs_record |= self.identity.staff_id.is_some(),
            }
        }
        if needs_record {
            None
        } else {
            Some(false)
        }
    }

    /// The customers the role may read, as conditions on the BI snapshot's rows (the
    /// same rules as [`Viewer::may_read`], for a question about the whole book).
    pub fn snapshot_scope(&self) -> crate::store::SnapshotScope {
        let mut scope = crate::store::SnapshotScope::default();
        for rule in &self.policy.scope {
            match rule {
                ScopeRule::All => scope.all = true,
                ScopeRule::SelfOnly => {
                    scope.customer = self
                        .identity
                        .customer
                        .as_ref()
                        .map(|c| c.as_str().to_owned())
                }
                ScopeRule::Branch => scope.branch = self.identity.branch.clone(),
                ScopeRule::Book => scope.relationship_manager = self.identity.staff_id.clone(),
            }
        }
        scope
    }

    /// Whether the role may read this customer.
    pub fn may_read(&self, customer: &Customer) -> bool {
        if let Some(decided) = self.may_read_cif(&customer.id) {
            return decided;
        }
        self.policy.scope.iter().any(|rule| match rule {
            ScopeRule::Branch => {
                self.identity.branch.is_some() && customer.branch == self.identity.branch
            }
            ScopeRule::Book => {
                self.identity.staff_id.is_some()
                    && customer.relationship_manager == self.identity.staff_id
            }
            ScopeRule::All | ScopeRule::SelfOnly => false,
        })
    }

    /// Notes that this request read `cif`: the access audit's unit.
    pub fn record_read(&self, cif: &Cif) {
        self.access.read(cif);
    }

    /// What this request read, for the access audit.
    pub fn access(&self) -> &AccessLog {
        &self.access
    }

    /// The value of `owner`'s field as this viewer may see it; a value shown in clear
    /// is noted for the access audit.
    pub fn show(&self, owner: &Cif, class: Personal, value: &str) -> String {
        if self.unmasked.contains(class) {
            if !value.is_empty() {
                self.access.revealed(owner, class);
            }
            return value.to_owned();
        }
        mask(class, value)
    }
}

/// The masked form of a value of `class`.
///
/// ```
/// use c360::auth::{mask, Personal};
///
/// assert_eq!(mask(Personal::Mobile, "13812345678"), "138****5678");
/// assert_eq!(mask(Personal::IdNumber, "11010119900307123X"), "110***********123X");
/// assert_eq!(mask(Personal::AccountNumber, "6228480012345678"), "622848******5678");
/// ```
pub fn mask(class: Personal, value: &str) -> String {
    match class {
        Personal::Name => mask_name(value),
        Personal::IdNumber => mask_id_number(value),
        Personal::Mobile => mask_mobile(value),
        Personal::Email => mask_email(value),
        Personal::Address => mask_address(value),
        Personal::AccountNumber => mask_number(value),
        Personal::BirthDate => mask_birth_date(value),
    }
}

fn view_key(identity: &Identity, policy: &RolePolicy, unmasked: PersonalSet) -> String {
    use std::fmt::Write;
    let mut key = format!("role={}", policy.name);
    for rule in &policy.scope {
        match rule {
            ScopeRule::All => {}
            ScopeRule::Branch => {
                let _ = write!(key, ";branch={}", identity.branch.as_deref().unwrap_or(""));
            }
            ScopeRule::Book => {
                let _ = write!(key, ";staff={}", identity.staff_id.as_deref().unwrap_or(""));
            }
            ScopeRule::SelfOnly => {
                let cif = identity.customer.as_ref().map(Cif::as_str).unwrap_or("");
                let _ = write!(key, ";cif={cif}");
            }
        }
    }
    let _ = write!(key, ";clear={}", unmasked.0);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> Policies {
        Policies::load(std::path::Path::new("config/policies.toml")).unwrap()
    }

    fn identity(role: &str) -> Identity {
        Identity {
            subject: "u1".into(),
            role: role.into(),
            staff_id: Some("S0001".into()),
            branch: Some("0101".into()),
            customer: None,
            client: None,
        }
    }

    fn viewer(role: &str, purpose: Option<Purpose>) -> Viewer {
        let policies = policies();
        Viewer::new(
            identity(role),
            policies.role(role).unwrap().clone(),
            purpose,
            None,
        )
    }

    fn customer(branch: &str, rm: &str) -> Customer {
        serde_json::from_value(serde_json::json!({
            "id": "1000000001", "kind": "INDIVIDUAL", "name": "张三",
            "id_document": {"type": "RESIDENT_ID", "number": "11010119900307123X"},
            "branch": branch, "relationship_manager": rm, "status": "ACTIVE"
        }))
        .unwrap()
    }

    #[test]
    fn a_purpose_reveals_what_the_role_allows_and_the_reveal_is_logged() {
        let cif = Cif::parse("1000000001").unwrap();
        let without = viewer("relationship_manager", None);
        assert_eq!(
            without.show(&cif, Personal::Mobile, "13812345678"),
            "138****5678"
        );
        assert!(without.access().entries().is_empty());
        let with = viewer("relationship_manager", Some(Purpose::Service));
        assert_eq!(
            with.show(&cif, Personal::Mobile, "13812345678"),
            "13812345678"
        );
        // The RM's reason does not reach ID numbers.
        assert_eq!(
            with.show(&cif, Personal::IdNumber, "11010119900307123X"),
            "110***********123X"
        );
        let entries = with.access().entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].1.names(), vec!["mobile"]);
        assert_ne!(without.cache_key(), with.cache_key());
    }

    #[test]
    fn scope_rules_decide_by_cif_or_by_record() {
        let cif = Cif::parse("1000000001").unwrap();
        assert_eq!(viewer("teller", None).may_read_cif(&cif), Some(true));
        assert_eq!(viewer("auditor", None).may_read_cif(&cif), Some(false));
        let branch = viewer("branch_manager", None);
        assert_eq!(branch.may_read_cif(&cif), None);
        assert!(branch.may_read(&customer("0101", "S9999")));
        assert!(!branch.may_read(&customer("0202", "S0001")));
        let rm = viewer("relationship_manager", None);
        assert!(
            rm.may_read(&customer("0202", "S0001")),
            "own book elsewhere"
        );
        assert!(!rm.may_read(&customer("0202", "S9999")));

        let mut own = identity("customer");
        own.customer = Some(cif.clone());
        let policies = policies();
        let portal = Viewer::new(own, policies.role("customer").unwrap().clone(), None, None);
        assert_eq!(portal.may_read_cif(&cif), Some(true));
        assert_eq!(
            portal.may_read_cif(&Cif::parse("1000000002").unwrap()),
            Some(false)
        );
    }

    #[test]
    fn views_share_a_key_only_when_they_see_the_same() {
        let a = viewer("teller", None);
        let mut other = identity("teller");
        other.subject = "u2".into();
        other.branch = Some("0909".into());
        let policies = policies();
        let b = Viewer::new(other, policies.role("teller").unwrap().clone(), None, None);
        assert_eq!(
            a.cache_key(),
            b.cache_key(),
            "tellers see the same everywhere"
        );
        let bm1 = viewer("branch_manager", None);
        let mut elsewhere = identity("branch_manager");
        elsewhere.branch = Some("0909".into());
        let bm2 = Viewer::new(
            elsewhere,
            policies.role("branch_manager").unwrap().clone(),
            None,
            None,
        );
        assert_ne!(bm1.cache_key(), bm2.cache_key());
    }
}
