//! Interactions: the hub's own contact history (branch visits, calls, complaints,
//! marketing contacts, sales), which no upstream system holds.
//!
//! [`NewInteraction::parse`] is the one place where a client's input becomes a record
//! worth storing: every rule (ranges, lengths, the clock) is checked here, and each
//! refusal names the input field it is about.

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Cif;

/// How far in the future `occurredAt` may lie: clocks of branch terminals and of the
/// hub disagree by seconds, rarely minutes. Five minutes absorbs that without letting
/// someone log a contact that has not happened yet.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Subjects are one line shown on the timeline.
pub const MAX_SUBJECT_LEN: usize = 200;
/// Notes are free text from the agent; 4,000 characters is two screens, and bounds
/// what one row (and one idempotency fingerprint) can cost.
pub const MAX_NOTES_LEN: usize = 4_000;
/// Staff and branch numbers are short codes in every bank's HR and org systems.
pub const MAX_CODE_LEN: usize = 32;
/// Products discussed in one contact.
pub const MAX_PRODUCTS: usize = 20;

/// Declares a closed set of codes stored as text, with their wire names.
macro_rules! codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize, ::async_graphql::Enum)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code as stored and as GraphQL names it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::UnknownCode;
            fn from_str(s: &str) -> Result<Self, $crate::domain::UnknownCode> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err($crate::domain::UnknownCode { kind: stringify!($name), code: s.to_owned() }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use codes;

/// A stored code that this build does not know (a newer hub wrote it, or someone
/// edited the database by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} code '{code}'")]
pub struct UnknownCode {
    pub kind: &'static str,
    pub code: String,
}

codes!(
    /// Where the contact took place.
    InteractionChannel {
        Branch = "BRANCH",
        CallCenter = "CALL_CENTER",
        MobileApp = "MOBILE_APP",
        InternetBanking = "INTERNET_BANKING",
        Wechat = "WECHAT",
        Email = "EMAIL",
        Sms = "SMS",
        /// A relationship manager visiting the customer.
        Visit = "VISIT",
    }
);

codes!(
    /// What the contact was about.
    InteractionType {
        Inquiry = "INQUIRY",
        Service = "SERVICE",
        Complaint = "COMPLAINT",
        Sale = "SALE",
        Marketing = "MARKETING",
        Advice = "ADVICE",
        FollowUp = "FOLLOW_UP",
        Survey = "SURVEY",
    }
);

codes!(
    /// Who started the contact: the customer (inbound) or the bank (outbound).
    InteractionDirection {
        Inbound = "INBOUND",
        Outbound = "OUTBOUND",
    }
);

codes!(
    InteractionOutcome {
        Resolved = "RESOLVED",
        Pending = "PENDING",
        Escalated = "ESCALATED",
        Sold = "SOLD",
        Declined = "DECLINED",
        NoResponse = "NO_RESPONSE",
    }
);

impl InteractionOutcome {
    /// Outcomes that leave something to do: a follow-up on them is still open.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            InteractionOutcome::Pending
                | InteractionOutcome::Escalated
                | InteractionOutcome::NoResponse
        )
    }
}

codes!(
    /// What `interactionStats` groups by. DAY and MONTH are calendar days and months
    /// in the bank's time zone (Asia/Shanghai), not UTC.
    InteractionDimension {
        Channel = "CHANNEL",
        Type = "TYPE",
        Outcome = "OUTCOME",
        Branch = "BRANCH",
        Staff = "STAFF",
        Day = "DAY",
        Month = "MONTH",
    }
);

/// A stored interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub id: Uuid,
    pub customer_id: Cif,
    pub channel: InteractionChannel,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub direction: InteractionDirection,
    pub occurred_at: DateTime<Utc>,
    /// When the hub committed it.
    pub recorded_at: DateTime<Utc>,
    pub staff_id: String,
    pub branch_id: String,
    pub subject: String,
    pub notes: Option<String>,
    pub outcome: Option<InteractionOutcome>,
    pub satisfaction: Option<u8>,
    pub follow_up_at: Option<DateTime<Utc>>,
    pub products: Vec<String>,
    /// Last change by `updateInteraction` (equal to `recorded_at` until then).
    pub updated_at: DateTime<Utc>,
    /// 0 when logged, +1 per update that changed something.
    pub revision: i32,
    /// The staff member who entered the record when it is attributed to someone else
    /// (`staff_id`): the evidence of who did what must name both. `None` when staff
    /// recorded their own contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<String>,
}

/// A client's request to log a contact, before checking.
#[derive(Debug, Clone, Default)]
pub struct RawInteraction {
    pub customer_id: String,
    pub channel: Option<InteractionChannel>,
    pub kind: Option<InteractionType>,
    pub direction: Option<InteractionDirection>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub staff_id: String,
    pub branch_id: String,
    pub subject: String,
    pub notes: Option<String>,
    pub outcome: Option<InteractionOutcome>,
    pub satisfaction: Option<i32>,
    pub follow_up_at: Option<DateTime<Utc>>,
    pub products: Vec<String>,
}

/// A contact that passed every rule and may be stored. Its JSON form (field order
/// fixed by this struct) is what idempotency fingerprints are computed from, so it
/// holds what the client sent, not defaults computed at some moment: a retry must
/// fingerprint the same.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewInteraction {
    pub customer_id: Cif,
    pub channel: InteractionChannel,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub direction: InteractionDirection,
    /// `None`: it happened as it was recorded (the store uses the commit time).
    pub occurred_at: Option<DateTime<Utc>>,
    pub staff_id: String,
    pub branch_id: String,
    pub subject: String,
    pub notes: Option<String>,
    pub outcome: Option<InteractionOutcome>,
    pub satisfaction: Option<u8>,
    pub follow_up_at: Option<DateTime<Utc>>,
    pub products: Vec<String>,
    /// Who entered it for `staff_id`, when that is someone else. Left out of the
    /// fingerprint when absent, so retries of ordinary contacts fingerprint as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<String>,
}

/// An input field that breaks a rule: the GraphQL layer reports it as
/// `BAD_USER_INPUT` with `extensions.field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidField {
    /// The input field's GraphQL name, e.g. `satisfaction`.
    pub field: &'static str,
    pub problem: String,
}

impl InvalidField {
    pub fn new(field: &'static str, problem: impl Into<String>) -> InvalidField {
        InvalidField {
            field,
            problem: problem.into(),
        }
    }
}

/// Times are kept to the microsecond: PostgreSQL stores no more, and a keyset cursor
/// must compare equal to the row it came from on every backend.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The oldest contact the hub accepts: older dates are typing errors or epoch-zero
/// defaults, not history.
fn earliest_occurrence() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

impl NewInteraction {
    /// Checks every rule against `now` (the hub's clock).
    pub fn parse(raw: RawInteraction, now: DateTime<Utc>) -> Result<NewInteraction, InvalidField> {
        let customer_id = Cif::parse(&raw.customer_id)
            .map_err(|e| InvalidField::new("customerId", e.to_string()))?;
        let channel = raw
            .channel
            .ok_or_else(|| InvalidField::new("channel", "is required"))?;
        let kind = raw
            .kind
            .ok_or_else(|| InvalidField::new("type", "is required"))?;
        let direction = raw
            .direction
            .ok_or_else(|| InvalidField::new("direction", "is required"))?;
        let occurred_at = raw.occurred_at.map(to_micros);
        let effective = occurred_at.unwrap_or(now);
        if effective > now + CLOCK_SKEW {
            return Err(InvalidField::new(
                "occurredAt",
                format!(
                    "lies in the future (more than {} minutes ahead of the hub's clock)",
                    CLOCK_SKEW.num_minutes()
                ),
            ));
        }
        if effective < earliest_occurrence() {
            return Err(InvalidField::new("occurredAt", "must be after 2000-01-01"));
        }
        let staff_id = code("staffId", &raw.staff_id)?;
        let branch_id = code("branchId", &raw.branch_id)?;
        let subject = text("subject", &raw.subject, MAX_SUBJECT_LEN, false)?;
        if subject.is_empty() {
            return Err(InvalidField::new("subject", "must not be empty"));
        }
        let notes = optional_notes(raw.notes)?;
        let satisfaction = match raw.satisfaction {
            None => None,
            Some(n @ 1..=5) => Some(n as u8),
            Some(n) => {
                return Err(InvalidField::new(
                    "satisfaction",
                    format!("must be 1 to 5, got {n}"),
                ))
            }
        };
        let follow_up_at = raw.follow_up_at.map(to_micros);
        if let Some(at) = follow_up_at {
            if at < effective {
                return Err(InvalidField::new(
                    "followUpAt",
                    "must not be before occurredAt",
                ));
            }
        }
        if raw.products.len() > MAX_PRODUCTS {
            return Err(InvalidField::new(
                "products",
                format!("at most {MAX_PRODUCTS} products"),
            ));
        }
        let products = raw
            .products
            .iter()
            .map(|p| code("products", p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewInteraction {
            customer_id,
            channel,
            kind,
            direction,
            occurred_at,
            staff_id,
            branch_id,
            subject,
            notes,
            outcome: raw.outcome,
            satisfaction,
            follow_up_at,
            products,
            recorded_by: None,
        })
    }
}

/// A staff, branch or product code: letters, digits, `-` and `_`.
pub fn code(field: &'static str, raw: &str) -> Result<String, InvalidField> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if value.chars().count() > MAX_CODE_LEN {
        return Err(InvalidField::new(
            field,
            format!("at most {MAX_CODE_LEN} characters"),
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(InvalidField::new(
            field,
            "letters, digits, '-' and '_' only",
        ));
    }
    Ok(value.to_owned())
}

/// Free text, trimmed, at most `max` characters; line breaks only where `multiline`.
pub fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    multiline: bool,
) -> Result<String, InvalidField> {
    let value = raw.trim();
    if value.chars().count() > max {
        return Err(InvalidField::new(
            field,
            format!("at most {max} characters, got {}", value.chars().count()),
        ));
    }
    let allowed = |c: char| !c.is_control() || (multiline && (c == '\n' || c == '\t'));
    if !value.chars().all(allowed) {
        return Err(InvalidField::new(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

/// Notes: optional, and empty means none.
pub fn optional_notes(raw: Option<String>) -> Result<Option<String>, InvalidField> {
    match raw {
        None => Ok(None),
        Some(notes) => {
            let notes = text("notes", &notes, MAX_NOTES_LEN, true)?;
            Ok((!notes.is_empty()).then_some(notes))
        }
    }
}

/// What `updateInteraction` may change. `None` leaves a field as it is; `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InteractionUpdate {
    pub staff_id: String,
    /// Who made the change for `staff_id`, when that is someone else.
    pub recorded_by: Option<String>,
    pub outcome: Option<InteractionOutcome>,
    pub notes: Option<Option<String>>,
    pub follow_up_at: Option<Option<DateTime<Utc>>>,
}

/// One field changed by one update: who changed what, when, from what to what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionChange {
    /// The interaction's revision this change produced.
    pub revision: i32,
    /// `outcome`, `notes` or `followUpAt`.
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
    /// Who entered the change for `changed_by`, when that is someone else.
    pub recorded_by: Option<String>,
}

impl InteractionUpdate {
    /// The field changes this update makes to `current`, as stored text.
    pub fn changes(
        &self,
        current: &Interaction,
    ) -> Vec<(&'static str, Option<String>, Option<String>)> {
        let mut changes = Vec::new();
        if let Some(outcome) = self.outcome {
            if current.outcome != Some(outcome) {
                changes.push((
                    "outcome",
                    current.outcome.map(|o| o.as_str().to_owned()),
                    Some(outcome.as_str().to_owned()),
                ));
            }
        }
        if let Some(notes) = &self.notes {
            if &current.notes != notes {
                changes.push(("notes", current.notes.clone(), notes.clone()));
            }
        }
        if let Some(at) = self.follow_up_at {
            if current.follow_up_at != at {
                changes.push((
                    "followUpAt",
                    current.follow_up_at.map(|t| t.to_rfc3339()),
                    at.map(|t| t.to_rfc3339()),
                ));
            }
        }
        changes
    }

    /// `current` with this update applied.
    pub fn apply(&self, current: &Interaction) -> Interaction {
        let mut next = current.clone();
        if let Some(outcome) = self.outcome {
            next.outcome = Some(outcome);
        }
        if let Some(notes) = &self.notes {
            next.notes = notes.clone();
        }
        if let Some(at) = self.follow_up_at {
            next.follow_up_at = at;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawInteraction {
        RawInteraction {
            customer_id: "1000000001".into(),
            channel: Some(InteractionChannel::Branch),
            kind: Some(InteractionType::Service),
            direction: Some(InteractionDirection::Inbound),
            occurred_at: None,
            staff_id: "S001".into(),
            branch_id: "B01".into(),
            subject: "  Card replacement ".into(),
            notes: Some("".into()),
            outcome: Some(InteractionOutcome::Resolved),
            satisfaction: Some(5),
            follow_up_at: None,
            products: vec!["DEBIT_CARD".into()],
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap()
    }

    #[test]
    fn a_valid_contact_is_trimmed_and_defaults_to_now() {
        let new = NewInteraction::parse(raw(), now()).unwrap();
        assert_eq!(new.subject, "Card replacement");
        assert_eq!(new.occurred_at, None, "the store takes the commit time");
        assert_eq!(new.notes, None, "empty notes are no notes");
        assert_eq!(new.satisfaction, Some(5));
    }

    #[test]
    fn each_rule_names_its_field() {
        type Breaks = Box<dyn Fn(&mut RawInteraction)>;
        let cases: Vec<(&str, Breaks)> = vec![
            ("customerId", Box::new(|r| r.customer_id = "12".into())),
            ("satisfaction", Box::new(|r| r.satisfaction = Some(6))),
            ("satisfaction", Box::new(|r| r.satisfaction = Some(0))),
            (
                "occurredAt",
                Box::new(|r| r.occurred_at = Some(now() + Duration::minutes(6))),
            ),
            ("subject", Box::new(|r| r.subject = " ".into())),
            ("subject", Box::new(|r| r.subject = "x".repeat(201))),
            ("notes", Box::new(|r| r.notes = Some("x".repeat(4001)))),
            ("staffId", Box::new(|r| r.staff_id = "S 1".into())),
            ("branchId", Box::new(|r| r.branch_id = String::new())),
            (
                "followUpAt",
                Box::new(|r| r.follow_up_at = Some(now() - Duration::days(1))),
            ),
            ("products", Box::new(|r| r.products = vec!["".into()])),
            ("channel", Box::new(|r| r.channel = None)),
        ];
        for (field, breaks) in cases {
            let mut input = raw();
            breaks(&mut input);
            let err = NewInteraction::parse(input, now()).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn small_clock_skew_is_accepted() {
        let mut input = raw();
        input.occurred_at = Some(now() + Duration::minutes(4));
        assert!(NewInteraction::parse(input, now()).is_ok());
    }

    #[test]
    fn codes_round_trip_through_their_text() {
        for channel in InteractionChannel::ALL {
            assert_eq!(
                channel.as_str().parse::<InteractionChannel>().unwrap(),
                *channel
            );
        }
        assert!("FAX".parse::<InteractionChannel>().is_err());
    }

    #[test]
    fn an_update_lists_only_real_changes() {
        let new = NewInteraction::parse(raw(), now()).unwrap();
        let current = Interaction {
            id: Uuid::nil(),
            customer_id: new.customer_id,
            channel: new.channel,
            kind: new.kind,
            direction: new.direction,
            occurred_at: now(),
            recorded_at: now(),
            staff_id: new.staff_id,
            branch_id: new.branch_id,
            subject: new.subject,
            notes: None,
            outcome: Some(InteractionOutcome::Pending),
            satisfaction: None,
            follow_up_at: None,
            products: vec![],
            updated_at: now(),
            revision: 0,
            recorded_by: None,
        };
        let update = InteractionUpdate {
            staff_id: "S002".into(),
            recorded_by: None,
            outcome: Some(InteractionOutcome::Pending),
            notes: Some(Some("called back".into())),
            follow_up_at: Some(None),
        };
        let changes = update.changes(&current);
        assert_eq!(
            changes,
            vec![("notes", None, Some("called back".to_owned()))]
        );
        assert_eq!(update.apply(&current).notes.as_deref(), Some("called back"));
    }
}
