//! Consents and contact preferences in the graph: `recordConsent`,
//! `recordContactPreferences`, and the `Customer` fields `consents`,
//! `consentHistory`, `contactPreferences` and `mayContact`.

use async_graphql::{Context, InputObject, Object, Result, ID};
use chrono::{DateTime, NaiveTime, Utc};

use super::errors;
use crate::domain::{
    current_consents, may_contact, Cif, Consent, ConsentPurpose, ContactChannel, ContactDecision,
    ContactPreferences, InteractionChannel, NewConsent, NewContactPreferences,
};
use crate::store::IdempotencyKey;

/// One consent record.
pub struct ConsentNode(Consent);

#[Object(name = "Consent")]
impl ConsentNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The CIF; for a pseudonymous role, the customer's pseudonym.
    async fn customer_id(&self, ctx: &Context<'_>) -> ID {
        ID(super::access::viewer(ctx).customer_id(&self.0.customer_id))
    }

    async fn purpose(&self) -> ConsentPurpose {
        self.0.purpose
    }

    /// The channel the consent is about.
    async fn channel(&self) -> ContactChannel {
        self.0.channel
    }

    /// Granted (true) or withdrawn (false).
    async fn granted(&self) -> bool {
        self.0.granted
    }

    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    /// Where the customer gave or withdrew it.
    async fn source(&self) -> InteractionChannel {
        self.0.source
    }

    /// Reference to the evidence: signed form, call recording, app screen.
    async fn evidence(&self) -> Option<&str> {
        self.0.evidence.as_deref()
    }

    async fn staff_id(&self) -> Option<&str> {
        self.0.staff_id.as_deref()
    }
}

/// How and when the customer wants to be contacted.
pub struct ContactPreferencesNode(ContactPreferences);

#[Object(name = "ContactPreferences")]
impl ContactPreferencesNode {
    async fn preferred_channel(&self) -> Option<ContactChannel> {
        self.0.preferred_channel
    }

    /// Start of the quiet hours, `HH:MM` Beijing time; null when the customer chose
    /// none (the bank's default of 21:00–08:00 then applies).
    async fn quiet_hours_start(&self) -> Option<String> {
        self.0
            .quiet_hours
            .map(|q| q.start.format("%H:%M").to_string())
    }

    /// End of the quiet hours, `HH:MM` Beijing time (before the start: across midnight).
    async fn quiet_hours_end(&self) -> Option<String> {
        self.0
            .quiet_hours
            .map(|q| q.end.format("%H:%M").to_string())
    }

    /// The customer asked not to be contacted for marketing at all.
    async fn do_not_contact(&self) -> bool {
        self.0.do_not_contact
    }

    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    async fn source(&self) -> InteractionChannel {
        self.0.source
    }

    async fn staff_id(&self) -> Option<&str> {
        self.0.staff_id.as_deref()
    }
}

/// A consent given or withdrawn.
#[derive(InputObject)]
pub struct RecordConsentInput {
    customer_id: ID,
    purpose: ConsentPurpose,
    channel: ContactChannel,
    /// True to grant, false to withdraw.
    granted: bool,
    /// Where the customer gave or withdrew it.
    source: InteractionChannel,
    /// Reference to the evidence (at most 200 characters).
    evidence: Option<String>,
    /// Who recorded it: the token's `staff_id` (none for a customer's own token);
    /// any other value is `FORBIDDEN`.
    staff_id: Option<String>,
}

/// A customer's contact preferences; replaces the previous ones (which stay in the
/// history).
#[derive(InputObject)]
pub struct ContactPreferencesInput {
    customer_id: ID,
    preferred_channel: Option<ContactChannel>,
    /// `HH:MM` Beijing time; give both ends or neither.
    quiet_hours_start: Option<String>,
    quiet_hours_end: Option<String>,
    #[graphql(default)]
    do_not_contact: bool,
    source: InteractionChannel,
    /// As in `RecordConsentInput`: the token's `staff_id`, or `FORBIDDEN`.
    staff_id: Option<String>,
}

fn parse_key(raw: Option<String>) -> Result<Option<IdempotencyKey>> {
    raw.map(|k| IdempotencyKey::parse(&k).map_err(|e| errors::bad_input("idempotencyKey", e)))
        .transpose()
}

fn clock(field: &'static str, raw: Option<String>) -> Result<Option<NaiveTime>> {
    raw.map(|r| {
        NaiveTime::parse_from_str(r.trim(), "%H:%M")
            .map_err(|_| errors::bad_input(field, "HH:MM, e.g. 21:00"))
    })
    .transpose()
}

#[derive(Default)]
pub struct ConsentMutation;

#[Object]
impl ConsentMutation {
    /// Appends a consent record: the latest per purpose and channel wins, and the
    /// history stays. Idempotent under `idempotencyKey` like `logInteraction`.
    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        input: RecordConsentInput,
        idempotency_key: Option<String>,
    ) -> Result<ConsentNode> {
        let key = parse_key(idempotency_key)?;
        let staff_id =
            super::identity::consent_staff(super::access::viewer(ctx), input.staff_id.as_deref())?;
        let new = NewConsent::parse(
            &input.customer_id,
            input.purpose,
            input.channel,
            input.granted,
            input.source,
            input.evidence,
            staff_id,
        )
        .map_err(errors::invalid)?;
        super::access::authorize(ctx, &new.customer_id, "customerId").await?;
        let store = super::own_records(ctx);
        let consent = store
            .record_consent(&new, key.as_ref())
            .await
            .map_err(|e| errors::store(&e))?;
        Ok(ConsentNode(consent))
    }

    /// Records a customer's contact preferences (preferred channel, quiet hours,
    /// do-not-contact). Idempotent under `idempotencyKey`.
    async fn record_contact_preferences(
        &self,
        ctx: &Context<'_>,
        input: ContactPreferencesInput,
        idempotency_key: Option<String>,
    ) -> Result<ContactPreferencesNode> {
        let key = parse_key(idempotency_key)?;
        let staff_id =
            super::identity::consent_staff(super::access::viewer(ctx), input.staff_id.as_deref())?;
        let new = NewContactPreferences::parse(
            &input.customer_id,
            input.preferred_channel,
            (
                clock("quietHoursStart", input.quiet_hours_start)?,
                clock("quietHoursEnd", input.quiet_hours_end)?,
            ),
            input.do_not_contact,
            input.source,
            staff_id,
        )
        .map_err(errors::invalid)?;
        super::access::authorize(ctx, &new.customer_id, "customerId").await?;
        let store = super::own_records(ctx);
        let preferences = store
            .record_contact_preferences(&new, key.as_ref())
            .await
            .map_err(|e| errors::store(&e))?;
        Ok(ContactPreferencesNode(preferences))
    }
}

/// `Customer.consents`: the current consent per purpose and channel.
pub(super) async fn current(ctx: &Context<'_>, customer: &Cif) -> Result<Vec<ConsentNode>> {
    let store = super::own_records(ctx);
    let all = store
        .consents(customer)
        .await
        .map_err(|e| errors::store(&e))?;
    Ok(current_consents(&all)
        .into_iter()
        .map(ConsentNode)
        .collect())
}

/// `Customer.consentHistory`: every record, newest first.
pub(super) async fn history(ctx: &Context<'_>, customer: &Cif) -> Result<Vec<ConsentNode>> {
    let store = super::own_records(ctx);
    let all = store
        .consents(customer)
        .await
        .map_err(|e| errors::store(&e))?;
    Ok(all.into_iter().map(ConsentNode).collect())
}

/// `Customer.contactPreferences`.
pub(super) async fn preferences(
    ctx: &Context<'_>,
    customer: &Cif,
) -> Result<Option<ContactPreferencesNode>> {
    let store = super::own_records(ctx);
    Ok(store
        .contact_preferences(customer)
        .await
        .map_err(|e| errors::store(&e))?
        .map(ContactPreferencesNode))
}

/// `Customer.mayContact`: [`may_contact`] over the stored records.
pub(super) async fn decision(
    ctx: &Context<'_>,
    customer: &Cif,
    purpose: ConsentPurpose,
    channel: ContactChannel,
    at: Option<DateTime<Utc>>,
) -> Result<ContactDecision> {
    let store = super::own_records(ctx);
    let (consents, preferences) = tokio::try_join!(
        store.consents(customer),
        store.contact_preferences(customer)
    )
    .map_err(|e| errors::store(&e))?;
    Ok(may_contact(
        &consents,
        preferences.as_ref(),
        purpose,
        channel,
        at.unwrap_or_else(Utc::now),
    ))
}
