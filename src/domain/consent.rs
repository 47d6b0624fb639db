//! Consents and contact preferences, and the one question later work (next best
//! offers, campaigns) asks of them: may we contact this customer for this purpose on
//! this channel now? ([`may_contact`]).
//!
//! The bank's other systems do not hold marketing consent, so the hub's own records
//! are the source of truth. Consents are append-only: the latest record per purpose
//! and channel wins, and the history stays (PIPL Art. 14–15: consent can be
//! withdrawn at any time, and the bank must show what it had when it acted).

use chrono::{DateTime, FixedOffset, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::interaction::{codes, text, InvalidField};
use super::{Cif, InteractionChannel};

/// Evidence references: a form number, a recording id, a URL into the document store.
pub const MAX_EVIDENCE_LEN: usize = 200;

/// The bank's wall clock. China has kept UTC+8 without daylight saving since 1991, so
/// a fixed offset is exact for Asia/Shanghai and needs no time-zone database.
pub fn bank_time_zone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

codes!(
    /// What a consent allows.
    ConsentPurpose {
        Marketing = "MARKETING",
        Profiling = "PROFILING",
        ThirdPartySharing = "THIRD_PARTY_SHARING",
    }
);

codes!(
    /// How the bank may reach the customer.
    ContactChannel {
        Sms = "SMS",
        Phone = "PHONE",
        Email = "EMAIL",
        Wechat = "WECHAT",
        AppPush = "APP_PUSH",
    }
);

impl ContactChannel {
    /// Channels that interrupt the customer, and so respect quiet hours. E-mail waits
    /// in the inbox.
    pub fn interrupts(self) -> bool {
        !matches!(self, ContactChannel::Email)
    }
}

impl InteractionChannel {
    /// The contact channel an interaction on this channel uses, if any. Face-to-face
    /// contacts (branch, visit) and internet banking sessions the customer opened
    /// need no contact consent.
    pub fn contact_channel(self) -> Option<ContactChannel> {
        match self {
            InteractionChannel::CallCenter => Some(ContactChannel::Phone),
            InteractionChannel::Sms => Some(ContactChannel::Sms),
            InteractionChannel::Email => Some(ContactChannel::Email),
            InteractionChannel::Wechat => Some(ContactChannel::Wechat),
            InteractionChannel::MobileApp => Some(ContactChannel::AppPush),
            InteractionChannel::Branch
            | InteractionChannel::Visit
            | InteractionChannel::InternetBanking => None,
        }
    }
}

/// One consent record: granted or withdrawn, per purpose and channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub id: Uuid,
    pub customer_id: Cif,
    pub purpose: ConsentPurpose,
    pub channel: ContactChannel,
    pub granted: bool,
    pub recorded_at: DateTime<Utc>,
    /// Where the customer gave or withdrew it.
    pub source: InteractionChannel,
    /// Reference to the signed form, call recording or app screen.
    pub evidence: Option<String>,
    pub staff_id: Option<String>,
}

/// A consent record to append, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewConsent {
    pub customer_id: Cif,
    pub purpose: ConsentPurpose,
    pub channel: ContactChannel,
    pub granted: bool,
    pub source: InteractionChannel,
    pub evidence: Option<String>,
    pub staff_id: Option<String>,
}

/// Quiet hours in the bank's local time; `start > end` spans midnight (21:00–08:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// Quiet hours for customers who have not chosen their own **(design)**: no
/// interrupting contact between 21:00 and 08:00 Beijing time, the window Chinese
/// marketing-call rules and bank practice keep free.
pub const DEFAULT_QUIET_HOURS: QuietHours = QuietHours {
    start: match NaiveTime::from_hms_opt(21, 0, 0) {
        Some(t) => t,
        None => panic!("valid time"),
    },
    end: match NaiveTime::from_hms_opt(8, 0, 0) {
        Some(t) => t,
        None => panic!("valid time"),
    },
};

impl QuietHours {
    /// Whether the local wall-clock time `at` falls inside.
    pub fn contains(&self, at: NaiveTime) -> bool {
        let at = NaiveTime::from_hms_opt(at.hour(), at.minute(), at.second()).unwrap_or(at);
        if self.start <= self.end {
            self.start <= at && at < self.end
        } else {
            at >= self.start || at < self.end
        }
    }
}

/// A customer's contact preferences as last recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactPreferences {
    pub id: Uuid,
    pub customer_id: Cif,
    pub preferred_channel: Option<ContactChannel>,
    pub quiet_hours: Option<QuietHours>,
    /// The customer asked not to be contacted for marketing at all.
    pub do_not_contact: bool,
    pub recorded_at: DateTime<Utc>,
    pub source: InteractionChannel,
    pub staff_id: Option<String>,
}

/// Contact preferences to record, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewContactPreferences {
    pub customer_id: Cif,
    pub preferred_channel: Option<ContactChannel>,
    pub quiet_hours: Option<QuietHours>,
    pub do_not_contact: bool,
    pub source: InteractionChannel,
    pub staff_id: Option<String>,
}

impl NewConsent {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        customer_id: &str,
        purpose: ConsentPurpose,
        channel: ContactChannel,
        granted: bool,
        source: InteractionChannel,
        evidence: Option<String>,
        staff_id: Option<String>,
    ) -> Result<NewConsent, InvalidField> {
        let customer_id =
            Cif::parse(customer_id).map_err(|e| InvalidField::new("customerId", e.to_string()))?;
        let evidence = match evidence {
            None => None,
            Some(e) => {
                let e = text("evidence", &e, MAX_EVIDENCE_LEN, false)?;
                (!e.is_empty()).then_some(e)
            }
        };
        let staff_id = staff_id
            .map(|s| super::interaction::code("staffId", &s))
            .transpose()?;
        Ok(NewConsent {
            customer_id,
            purpose,
            channel,
            granted,
            source,
            evidence,
            staff_id,
        })
    }
}

impl NewContactPreferences {
    /// `quiet_hours` is `(start, end)`: both or neither, and not equal.
    pub fn parse(
        customer_id: &str,
        preferred_channel: Option<ContactChannel>,
        quiet_hours: (Option<NaiveTime>, Option<NaiveTime>),
        do_not_contact: bool,
        source: InteractionChannel,
        staff_id: Option<String>,
    ) -> Result<NewContactPreferences, InvalidField> {
        let customer_id =
            Cif::parse(customer_id).map_err(|e| InvalidField::new("customerId", e.to_string()))?;
        let quiet_hours = match quiet_hours {
            (None, None) => None,
            (Some(_), None) => {
                return Err(InvalidField::new(
                    "quietHoursEnd",
                    "is required with quietHoursStart",
                ))
            }
            (None, Some(_)) => {
                return Err(InvalidField::new(
                    "quietHoursStart",
                    "is required with quietHoursEnd",
                ))
            }
            (Some(start), Some(end)) if start == end => {
                return Err(InvalidField::new(
                    "quietHoursEnd",
                    "must differ from quietHoursStart",
                ))
            }
            (Some(start), Some(end)) => Some(QuietHours {
                start: minute(start),
                end: minute(end),
            }),
        };
        let staff_id = staff_id
            .map(|s| super::interaction::code("staffId", &s))
            .transpose()?;
        Ok(NewContactPreferences {
            customer_id,
            preferred_channel,
            quiet_hours,
            do_not_contact,
            source,
            staff_id,
        })
    }
}

/// Quiet hours are kept to the minute.
fn minute(t: NaiveTime) -> NaiveTime {
    NaiveTime::from_hms_opt(t.hour(), t.minute(), 0).unwrap_or(t)
}

/// What the records say about one purpose on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    Granted,
    Withdrawn,
    /// Nothing recorded: the customer was never asked.
    Unknown,
}

/// The state of `purpose` on `channel`: the latest record wins (`consents` in any
/// order; ties on time are broken by id, which is time-ordered).
pub fn consent_state(
    consents: &[Consent],
    purpose: ConsentPurpose,
    channel: ContactChannel,
) -> ConsentState {
    consents
        .iter()
        .filter(|c| c.purpose == purpose && c.channel == channel)
        .max_by_key(|c| (c.recorded_at, c.id))
        .map_or(ConsentState::Unknown, |c| {
            if c.granted {
                ConsentState::Granted
            } else {
                ConsentState::Withdrawn
            }
        })
}

/// The latest record per purpose and channel.
pub fn current_consents(consents: &[Consent]) -> Vec<Consent> {
    let mut latest: Vec<Consent> = Vec::new();
    for consent in consents {
        match latest
            .iter_mut()
            .find(|c| c.purpose == consent.purpose && c.channel == consent.channel)
        {
            Some(held) if (held.recorded_at, held.id) < (consent.recorded_at, consent.id) => {
                *held = consent.clone()
            }
            Some(_) => {}
            None => latest.push(consent.clone()),
        }
    }
    latest.sort_by_key(|c| (c.purpose, c.channel));
    latest
}

codes!(
    /// Why a contact is or is not allowed.
    ContactReason {
        /// Consent is granted and nothing else stands in the way.
        Allowed = "ALLOWED",
        /// The customer was never asked for this purpose on this channel (PIPL needs
        /// an explicit, separate consent).
        NoConsent = "NO_CONSENT",
        ConsentWithdrawn = "CONSENT_WITHDRAWN",
        /// The customer asked not to be contacted at all.
        DoNotContact = "DO_NOT_CONTACT",
        /// Inside the customer's (or the default) quiet hours.
        QuietHours = "QUIET_HOURS",
    }
);

/// The answer to "may we contact this customer for this purpose on this channel now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::SimpleObject)]
pub struct ContactDecision {
    pub allowed: bool,
    pub reason: ContactReason,
}

impl ContactDecision {
    fn no(reason: ContactReason) -> ContactDecision {
        ContactDecision {
            allowed: false,
            reason,
        }
    }
}

/// May the bank contact this customer for `purpose` on `channel` at `now`?
///
/// In order: do-not-contact refuses everything; then consent must be granted
/// (withdrawn and never-asked both refuse); then interrupting channels respect quiet
/// hours (the customer's, else [`DEFAULT_QUIET_HOURS`]) in Beijing time.
pub fn may_contact(
    consents: &[Consent],
    preferences: Option<&ContactPreferences>,
    purpose: ConsentPurpose,
    channel: ContactChannel,
    now: DateTime<Utc>,
) -> ContactDecision {
    if preferences.is_some_and(|p| p.do_not_contact) {
        return ContactDecision::no(ContactReason::DoNotContact);
    }
    match consent_state(consents, purpose, channel) {
        ConsentState::Withdrawn => return ContactDecision::no(ContactReason::ConsentWithdrawn),
        ConsentState::Unknown => return ContactDecision::no(ContactReason::NoConsent),
        ConsentState::Granted => {}
    }
    if channel.interrupts() {
        let quiet = preferences
            .and_then(|p| p.quiet_hours)
            .unwrap_or(DEFAULT_QUIET_HOURS);
        if quiet.contains(now.with_timezone(&bank_time_zone()).time()) {
            return ContactDecision::no(ContactReason::QuietHours);
        }
    }
    ContactDecision {
        allowed: true,
        reason: ContactReason::Allowed,
    }
}

/// Why logging a contact of this type on this channel must be refused, if it must:
/// a marketing contact on a channel whose marketing consent is withdrawn, or to a
/// customer who asked not to be contacted. A contact that already happened is still
/// logged when consent was never recorded (it may predate the hub) or when it fell in
/// quiet hours: those are for planning contacts, not for refusing history.
pub fn marketing_refusal(
    consents: &[Consent],
    preferences: Option<&ContactPreferences>,
    channel: ContactChannel,
) -> Option<ContactReason> {
    if preferences.is_some_and(|p| p.do_not_contact) {
        return Some(ContactReason::DoNotContact);
    }
    (consent_state(consents, ConsentPurpose::Marketing, channel) == ConsentState::Withdrawn)
        .then_some(ContactReason::ConsentWithdrawn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cif() -> Cif {
        Cif::parse("1000000001").unwrap()
    }

    fn consent(
        purpose: ConsentPurpose,
        channel: ContactChannel,
        granted: bool,
        minute: u32,
    ) -> Consent {
        Consent {
            id: Uuid::now_v7(),
            customer_id: cif(),
            purpose,
            channel,
            granted,
            recorded_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap(),
            source: InteractionChannel::Branch,
            evidence: None,
            staff_id: None,
        }
    }

    fn prefs(dnc: bool, quiet: Option<QuietHours>) -> ContactPreferences {
        ContactPreferences {
            id: Uuid::now_v7(),
            customer_id: cif(),
            preferred_channel: None,
            quiet_hours: quiet,
            do_not_contact: dnc,
            recorded_at: Utc::now(),
            source: InteractionChannel::Branch,
            staff_id: None,
        }
    }

    /// 10:00 Beijing time.
    fn morning() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
    }

    /// 22:30 Beijing time.
    fn late_evening() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 14, 30, 0).unwrap()
    }

    use ConsentPurpose::*;
    use ContactChannel::*;

    #[test]
    fn granted_consent_allows_contact_in_the_daytime() {
        let consents = [consent(Marketing, Sms, true, 0)];
        let decision = may_contact(&consents, None, Marketing, Sms, morning());
        assert_eq!(
            decision,
            ContactDecision {
                allowed: true,
                reason: ContactReason::Allowed
            }
        );
    }

    #[test]
    fn the_latest_record_wins() {
        let consents = [
            consent(Marketing, Sms, true, 0),
            consent(Marketing, Sms, false, 5),
        ];
        assert_eq!(
            may_contact(&consents, None, Marketing, Sms, morning()).reason,
            ContactReason::ConsentWithdrawn
        );
        let regranted = [
            consents[0].clone(),
            consents[1].clone(),
            consent(Marketing, Sms, true, 9),
        ];
        assert!(may_contact(&regranted, None, Marketing, Sms, morning()).allowed);
        assert_eq!(current_consents(&regranted).len(), 1);
        assert!(current_consents(&regranted)[0].granted);
    }

    #[test]
    fn consent_is_per_purpose_and_channel() {
        let consents = [consent(Marketing, Sms, true, 0)];
        assert_eq!(
            may_contact(&consents, None, Marketing, Phone, morning()).reason,
            ContactReason::NoConsent
        );
        assert_eq!(
            may_contact(&consents, None, Profiling, Sms, morning()).reason,
            ContactReason::NoConsent
        );
    }

    #[test]
    fn do_not_contact_beats_any_consent() {
        let consents = [consent(Marketing, Email, true, 0)];
        let decision = may_contact(
            &consents,
            Some(&prefs(true, None)),
            Marketing,
            Email,
            morning(),
        );
        assert_eq!(decision.reason, ContactReason::DoNotContact);
        assert!(!decision.allowed);
    }

    #[test]
    fn quiet_hours_hold_for_interrupting_channels_in_beijing_time() {
        let consents = [
            consent(Marketing, Phone, true, 0),
            consent(Marketing, Email, true, 0),
        ];
        assert_eq!(
            may_contact(&consents, None, Marketing, Phone, late_evening()).reason,
            ContactReason::QuietHours,
            "22:30 in Beijing is inside the default 21:00-08:00"
        );
        assert!(
            may_contact(&consents, None, Marketing, Email, late_evening()).allowed,
            "e-mail waits in the inbox"
        );
        let own = prefs(
            false,
            Some(QuietHours {
                start: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
            }),
        );
        assert!(may_contact(&consents, Some(&own), Marketing, Phone, late_evening()).allowed);
        let lunch = Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0).unwrap();
        assert_eq!(
            may_contact(&consents, Some(&own), Marketing, Phone, lunch).reason,
            ContactReason::QuietHours
        );
    }

    #[test]
    fn quiet_hours_across_midnight() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(DEFAULT_QUIET_HOURS.contains(t(23, 59)));
        assert!(DEFAULT_QUIET_HOURS.contains(t(0, 0)));
        assert!(DEFAULT_QUIET_HOURS.contains(t(7, 59)));
        assert!(!DEFAULT_QUIET_HOURS.contains(t(8, 0)));
        assert!(!DEFAULT_QUIET_HOURS.contains(t(20, 59)));
    }

    #[test]
    fn logging_refuses_marketing_only_where_withdrawn_or_do_not_contact() {
        let withdrawn = [
            consent(Marketing, Sms, true, 0),
            consent(Marketing, Sms, false, 1),
        ];
        assert_eq!(
            marketing_refusal(&withdrawn, None, Sms),
            Some(ContactReason::ConsentWithdrawn)
        );
        assert_eq!(marketing_refusal(&withdrawn, None, Phone), None);
        assert_eq!(marketing_refusal(&[], None, Phone), None);
        assert_eq!(
            marketing_refusal(&[], Some(&prefs(true, None)), Phone),
            Some(ContactReason::DoNotContact)
        );
    }

    #[test]
    fn preferences_need_both_ends_of_quiet_hours() {
        let t = NaiveTime::from_hms_opt(21, 0, 0);
        let err = NewContactPreferences::parse(
            "1000000001",
            None,
            (t, None),
            false,
            InteractionChannel::Branch,
            None,
        )
        .unwrap_err();
        assert_eq!(err.field, "quietHoursEnd");
    }
}
