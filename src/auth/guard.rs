//! Checks a resolver makes before serving data that only some roles may see.

use async_graphql::Error;

use super::{Capability, Viewer};

/// Allows reading the access audit to roles with the `read_audit` capability only:
/// an audit open to everyone would itself leak who looked at which customer.
pub fn require_audit_reader(viewer: &Viewer) -> Result<(), Error> {
    if viewer.may(Capability::ReadAudit) {
        Ok(())
    } else {
        Err(crate::graphql::forbidden(
            "accessAudit (the auditor role only)",
        ))
    }
}
