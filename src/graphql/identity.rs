//! Who a write is recorded as. The contact history and the consent records are the
//! bank's evidence of who did what, so the staff number and branch on them come from
//! the verified token (`staff_id`, `branch_id`), never from what a client typed.
//!
//! An input `staffId` or `branchId` may repeat the token's; one that differs is
//! `FORBIDDEN` naming the field, unless the role has `act_for_staff` (back-office
//! entry of a colleague's contacts), in which case the record is attributed to the
//! colleague and keeps the token's staff member as `recordedBy`.

use async_graphql::Result;

use super::errors;
use crate::auth::{Capability, Viewer};

/// The attribution of a contact or of a change to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StaffWrite {
    pub staff_id: String,
    /// Only for new contacts; an update keeps the contact's branch.
    pub branch_id: Option<String>,
    /// The token's staff member, when the write is attributed to someone else.
    pub recorded_by: Option<String>,
}

/// A trimmed input code, `None` when absent or blank (blank is "not given").
fn given(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|v| !v.is_empty())
}

/// The staff member a write is recorded as: the token's, or (with `act_for_staff`)
/// the one the input names. A token without `staff_id` (a portal customer, a
/// service account) cannot write as staff at all.
fn staff(viewer: &Viewer, input: Option<&str>) -> Result<(String, bool)> {
    let own = viewer.identity().staff_id.as_deref().ok_or_else(|| {
        errors::forbidden_claim(
            "staff_id",
            "a write recorded as staff by a token without a staff_id claim",
        )
    })?;
    match given(input) {
        None => Ok((own.to_owned(), false)),
        Some(given) if given == own => Ok((own.to_owned(), false)),
        Some(given) if viewer.may(Capability::ActForStaff) => Ok((given.to_owned(), true)),
        Some(given) => Err(errors::forbidden_field(
            "staffId",
            format!(
                "staffId {given} (this token is staff member {own}; recording for someone \
                 else needs the act_for_staff capability)"
            ),
        )),
    }
}

/// `logInteraction`: staff and branch from the token, or from the input with
/// `act_for_staff`.
pub(super) fn new_contact(
    viewer: &Viewer,
    staff_input: Option<&str>,
    branch_input: Option<&str>,
) -> Result<StaffWrite> {
    let (staff_id, mut acting) = staff(viewer, staff_input)?;
    let own_branch = viewer.identity().branch.as_deref();
    let branch_id = match (own_branch, given(branch_input)) {
        (Some(own), None) => own.to_owned(),
        (Some(own), Some(given)) if given == own => own.to_owned(),
        (_, Some(given)) if viewer.may(Capability::ActForStaff) => {
            acting = true;
            given.to_owned()
        }
        (None, None) => {
            return Err(errors::forbidden_claim(
                "branch_id",
                "a contact recorded by a token without a branch_id claim",
            ))
        }
        (own, Some(given)) => {
            return Err(errors::forbidden_field(
                "branchId",
                format!(
                    "branchId {given} (this token is at branch {}; recording for another \
                     branch needs the act_for_staff capability)",
                    own.unwrap_or("none")
                ),
            ))
        }
    };
    if acting {
        viewer.access().act_for(&staff_id);
    }
    Ok(StaffWrite {
        staff_id,
        branch_id: Some(branch_id),
        recorded_by: acting.then(|| viewer.identity().staff_id.clone()).flatten(),
    })
}

/// `updateInteraction`: the change is the token's staff member's, or (with
/// `act_for_staff`) the named colleague's.
pub(super) fn change(viewer: &Viewer, staff_input: Option<&str>) -> Result<StaffWrite> {
    let (staff_id, acting) = staff(viewer, staff_input)?;
    if acting {
        viewer.access().act_for(&staff_id);
    }
    Ok(StaffWrite {
        staff_id,
        branch_id: None,
        recorded_by: acting.then(|| viewer.identity().staff_id.clone()).flatten(),
    })
}

/// `recordConsent` and `recordContactPreferences`: a member of staff is recorded as
/// themselves; a token without `staff_id` (the customer in the internet bank) records
/// no staff member. Naming anyone else is refused: consents carry no second name, so
/// nobody records one for a colleague.
pub(super) fn consent_staff(viewer: &Viewer, input: Option<&str>) -> Result<Option<String>> {
    let own = viewer.identity().staff_id.as_deref();
    match (own, given(input)) {
        (own, None) => Ok(own.map(str::to_owned)),
        (Some(own), Some(given)) if given == own => Ok(Some(own.to_owned())),
        (Some(own), Some(given)) => Err(errors::forbidden_field(
            "staffId",
            format!("staffId {given} (this token is staff member {own})"),
        )),
        (None, Some(given)) => Err(errors::forbidden_field(
            "staffId",
            format!("staffId {given} (this token carries no staff_id claim)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::{Identity, Policies};

    fn viewer(role: &str, staff: Option<&str>, branch: Option<&str>, act: bool) -> Viewer {
        let policies = Policies::load(std::path::Path::new("config/policies.toml")).unwrap();
        let mut policy = policies.role(role).unwrap().as_ref().clone();
        if act {
            policy.capabilities.insert(Capability::ActForStaff);
        }
        Viewer::new(
            Identity {
                subject: "u1".into(),
                role: role.into(),
                staff_id: staff.map(str::to_owned),
                branch: branch.map(str::to_owned),
                customer: None,
                client: None,
            },
            Arc::new(policy),
            None,
            None,
        )
    }

    fn code(error: async_graphql::Error, key: &str) -> String {
        let extensions = error.extensions.expect("extensions");
        format!(
            "{}:{}",
            extensions.get("code").expect("a code"),
            extensions.get(key).expect("the named key")
        )
    }

    #[test]
    fn a_contact_is_recorded_as_the_token_says() {
        let teller = viewer("teller", Some("T0001"), Some("B001"), false);
        let own = new_contact(&teller, None, Some(" B001 ")).unwrap();
        assert_eq!(own.staff_id, "T0001");
        assert_eq!(own.branch_id.as_deref(), Some("B001"));
        assert_eq!(own.recorded_by, None);
        let error = new_contact(&teller, Some("T0002"), None).unwrap_err();
        assert_eq!(code(error, "field"), "\"FORBIDDEN\":\"staffId\"");
        let error = new_contact(&teller, None, Some("B002")).unwrap_err();
        assert_eq!(code(error, "field"), "\"FORBIDDEN\":\"branchId\"");
        let anonymous = viewer("admin", None, Some("B001"), true);
        let error = new_contact(&anonymous, Some("T0001"), None).unwrap_err();
        assert_eq!(code(error, "claim"), "\"FORBIDDEN\":\"staff_id\"");
        let nowhere = viewer("teller", Some("T0001"), None, false);
        let error = new_contact(&nowhere, None, None).unwrap_err();
        assert_eq!(code(error, "claim"), "\"FORBIDDEN\":\"branch_id\"");
    }

    #[test]
    fn acting_for_a_colleague_keeps_both_names() {
        let back_office = viewer("admin", Some("A0001"), Some("HQ"), true);
        let write = new_contact(&back_office, Some("T0002"), Some("B002")).unwrap();
        assert_eq!(write.staff_id, "T0002");
        assert_eq!(write.branch_id.as_deref(), Some("B002"));
        assert_eq!(write.recorded_by.as_deref(), Some("A0001"));
        let change = change(&back_office, Some("T0002")).unwrap();
        assert_eq!(change.recorded_by.as_deref(), Some("A0001"));
        let own = new_contact(&back_office, None, None).unwrap();
        assert_eq!(own.recorded_by, None);
    }

    #[test]
    fn consents_name_the_tokens_staff_member_or_nobody() {
        let portal = viewer("customer", None, None, false);
        assert_eq!(consent_staff(&portal, None).unwrap(), None);
        assert!(consent_staff(&portal, Some("S0001")).is_err());
        let rm = viewer("relationship_manager", Some("R0001"), Some("B001"), true);
        assert_eq!(consent_staff(&rm, None).unwrap().as_deref(), Some("R0001"));
        assert!(consent_staff(&rm, Some("R0002")).is_err());
    }
}
