//! `viewer`: who the token says the caller is, and what their role may not see.
//!
//! A front end decides from it what to offer (the console shows no insights to a
//! teller, the audit only to an auditor), so that a person is not handed a screen of
//! refusals. It changes nothing on the server: every field is still checked where it
//! is resolved. It describes the caller's own token and role, not any customer, so it
//! is neither audited nor cached.

use std::time::SystemTime;

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::{Capability, Viewer};
use crate::errors::{ApiError, ErrorCode};

/// When the request's token stops being accepted.
#[derive(Debug, Clone, Copy)]
pub struct TokenExpiry(pub SystemTime);

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller: their identity from the token, and what their role denies.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<ViewerNode> {
        if let Some(scope) = ctx.data_opt::<std::sync::Arc<crate::cache::RequestScope>>() {
            // The same role and subject may hold tokens with other lifetimes.
            scope.uncacheable();
        }
        let viewer = ctx.data_unchecked::<Viewer>();
        let expires = ctx.data_opt::<TokenExpiry>().ok_or_else(|| {
            ApiError::new(ErrorCode::Internal, "the request carries no token expiry")
        })?;
        let identity = viewer.identity();
        let policy = viewer.policy();
        let mut denied_fields: Vec<String> = policy.deny.iter().cloned().collect();
        denied_fields.sort_unstable();
        Ok(ViewerNode {
            subject: identity.subject.clone(),
            role: identity.role.clone(),
            staff_id: identity.staff_id.clone(),
            branch_id: identity.branch.clone(),
            customer_id: identity.customer.as_ref().map(|cif| ID(cif.to_string())),
            capabilities: Capability::ALL
                .into_iter()
                .filter(|c| policy.may(*c))
                .map(|c| c.as_str().to_owned())
                .collect(),
            denied_classes: policy
                .deny_classes
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            denied_fields,
            pseudonymous: policy.pseudonymous,
            expires_at: DateTime::<Utc>::from(expires.0),
        })
    }
}

/// The caller of this request.
#[derive(SimpleObject)]
#[graphql(name = "Viewer")]
pub struct ViewerNode {
    /// The token's subject.
    subject: String,
    /// The role in `config/policies.toml` the token names.
    role: String,
    /// The staff number, for bank staff.
    staff_id: Option<String>,
    /// The branch the staff member works at.
    branch_id: Option<String>,
    /// The customer an internet-banking token belongs to.
    customer_id: Option<ID>,
    /// What the role may do besides reading customers (`read_audit`, ...).
    capabilities: Vec<String>,
    /// Data classes the role may not see (docs/data-classes.md).
    denied_classes: Vec<String>,
    /// Every `Type.field` the role may not read or run, those denied by class
    /// included, in order.
    denied_fields: Vec<String>,
    /// Customers appear under pseudonyms and amounts in bands (docs/bi.md).
    pseudonymous: bool,
    /// When the hub stops accepting the token: its `exp` plus the clock-skew leeway
    /// (`auth.leeway`). The console asks its holder to sign in again then.
    expires_at: DateTime<Utc>,
}
