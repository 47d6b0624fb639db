//! Who is asking, and what they may see.
//!
//! Masking (JR/T 0171-2020 C2 data: names, ID numbers, mobiles, card and account
//! numbers, e-mail, address) is applied once, at the GraphQL edge, through the
//! request's [`Viewer`]. Until roles and tokens exist, every caller is anonymous and
//! sees personal data masked: the safe default.
//!
//! Every read of a customer by staff is recorded in the access audit through an
//! [`AuditWriter`]; reading that audit is guarded by [`require_audit_reader`].

mod audit;
mod guard;
mod masking;
mod token;

pub use audit::{AuditClosed, AuditSettings, AuditWriter};
pub use guard::require_audit_reader;
pub use masking::{mask_address, mask_email, mask_id_number, mask_mobile, mask_name, mask_number};
pub use token::{
    dev_secret, dev_token, mint_dev_token, AuthSetupError, DevTokenError, DevTokenRequest,
    TokenError, Verifier,
};

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
}

/// The caller of one request, as far as masking is concerned.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// Classes this viewer sees in clear.
    unmasked: Vec<Personal>,
}

impl Viewer {
    /// A caller with no identity: everything personal is masked.
    pub fn anonymous() -> Viewer {
        Viewer::default()
    }

    /// A viewer who sees the given classes in clear (granted by a role).
    pub fn with_unmasked(classes: impl IntoIterator<Item = Personal>) -> Viewer {
        Viewer {
            unmasked: classes.into_iter().collect(),
        }
    }

    /// What distinguishes this viewer's answers from another's: cached responses are
    /// keyed by it, so no caller is served a view meant for another.
    pub fn cache_key(&self) -> String {
        if self.unmasked.is_empty() {
            return "anonymous".to_owned();
        }
        let mut classes: Vec<String> = self.unmasked.iter().map(|c| format!("{c:?}")).collect();
        classes.sort();
        format!("unmasked:{}", classes.join(","))
    }

    /// The value as this viewer may see it.
    ///
    /// ```
    /// use c360::auth::{Personal, Viewer};
    ///
    /// let anonymous = Viewer::anonymous();
    /// assert_eq!(anonymous.show(Personal::Mobile, "13812345678"), "138****5678");
    /// assert_eq!(anonymous.show(Personal::IdNumber, "11010119900307123X"), "110***********123X");
    /// let teller = Viewer::with_unmasked([Personal::Mobile]);
    /// assert_eq!(teller.show(Personal::Mobile, "13812345678"), "13812345678");
    /// ```
    pub fn show(&self, class: Personal, value: &str) -> String {
        if self.unmasked.contains(&class) {
            return value.to_owned();
        }
        match class {
            Personal::Name => mask_name(value),
            Personal::IdNumber => mask_id_number(value),
            Personal::Mobile => mask_mobile(value),
            Personal::Email => mask_email(value),
            Personal::Address => mask_address(value),
            Personal::AccountNumber => mask_number(value),
        }
    }
}
