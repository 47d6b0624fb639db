//! Checks a resolver makes before serving data that only some roles may see.

use async_graphql::Error;

use super::Viewer;

/// Allows reading the access audit. Until roles carry a policy, nobody may: an audit
/// open to everyone would itself leak who looked at which customer.
pub fn require_audit_reader(_viewer: &Viewer) -> Result<(), Error> {
    Err(crate::graphql::forbidden(
        "reading the access audit requires the auditor role",
    ))
}
