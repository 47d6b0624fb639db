//! Checks a resolver makes before serving data that only some roles may see.

use super::{Capability, Viewer};
use crate::errors::ApiError;

/// Allows reading the access audit to roles with the `read_audit` capability only:
/// an audit open to everyone would itself leak who looked at which customer.
pub fn require_audit_reader(viewer: &Viewer) -> Result<(), ApiError> {
    if viewer.may(Capability::ReadAudit) {
        Ok(())
    } else {
        Err(ApiError::forbidden("accessAudit (the auditor role only)"))
    }
}
