//! Consent records and contact preferences: append-only, the latest wins, with the
//! same idempotency rules as interactions.

use chrono::{DateTime, NaiveTime, Utc};
use uuid::Uuid;

use super::{
    classify, decode, fingerprint, new_id, now, on_pool, IdempotencyKey, Store, StoreError,
};
use crate::domain::{
    Cif, Consent, ContactPreferences, NewConsent, NewContactPreferences, QuietHours,
};

const CONSENT_COLUMNS: &str =
    "id, customer_id, purpose, channel, granted, recorded_at, source, evidence, staff_id";
const PREFERENCE_COLUMNS: &str = "id, customer_id, preferred_channel, quiet_start, quiet_end, \
    do_not_contact, recorded_at, source, staff_id";

#[derive(sqlx::FromRow)]
struct ConsentRow {
    id: Uuid,
    customer_id: String,
    purpose: String,
    channel: String,
    granted: bool,
    recorded_at: DateTime<Utc>,
    source: String,
    evidence: Option<String>,
    staff_id: Option<String>,
}

impl ConsentRow {
    fn into_domain(self) -> Result<Consent, StoreError> {
        Ok(Consent {
            id: self.id,
            customer_id: cif(&self.customer_id)?,
            purpose: decode(&self.purpose)?,
            channel: decode(&self.channel)?,
            granted: self.granted,
            recorded_at: self.recorded_at,
            source: decode(&self.source)?,
            evidence: self.evidence,
            staff_id: self.staff_id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct PreferenceRow {
    id: Uuid,
    customer_id: String,
    preferred_channel: Option<String>,
    quiet_start: Option<String>,
    quiet_end: Option<String>,
    do_not_contact: bool,
    recorded_at: DateTime<Utc>,
    source: String,
    staff_id: Option<String>,
}

impl PreferenceRow {
    fn into_domain(self) -> Result<ContactPreferences, StoreError> {
        let time = |raw: &str| {
            NaiveTime::parse_from_str(raw, "%H:%M")
                .map_err(|e| StoreError::Corrupt(format!("quiet hours '{raw}': {e}")))
        };
        let quiet_hours = match (self.quiet_start.as_deref(), self.quiet_end.as_deref()) {
            (Some(start), Some(end)) => Some(QuietHours {
                start: time(start)?,
                end: time(end)?,
            }),
            _ => None,
        };
        Ok(ContactPreferences {
            id: self.id,
            customer_id: cif(&self.customer_id)?,
            preferred_channel: self.preferred_channel.as_deref().map(decode).transpose()?,
            quiet_hours,
            do_not_contact: self.do_not_contact,
            recorded_at: self.recorded_at,
            source: decode(&self.source)?,
            staff_id: self.staff_id,
        })
    }
}

fn cif(raw: &str) -> Result<Cif, StoreError> {
    Cif::parse(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The stored form of an idempotent row's key: what a replay must match.
#[derive(sqlx::FromRow)]
struct Fingerprint {
    id: Uuid,
    fingerprint: Option<String>,
}

impl Store {
    /// Appends a consent record (idempotent under `key`, like
    /// [`Store::log_interaction`]).
    pub async fn record_consent(
        &self,
        new: &NewConsent,
        key: Option<&IdempotencyKey>,
    ) -> Result<Consent, StoreError> {
        let consent = Consent {
            id: new_id(),
            customer_id: new.customer_id.clone(),
            purpose: new.purpose,
            channel: new.channel,
            granted: new.granted,
            recorded_at: now(),
            source: new.source,
            evidence: new.evidence.clone(),
            staff_id: new.staff_id.clone(),
        };
        let print = key.map(|_| fingerprint(new));
        let sql = format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}, idempotency_key, fingerprint) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (idempotency_key) DO NOTHING"
        );
        let c = &consent;
        let inserted = on_pool!(self, p => sqlx::query(&sql)
            .bind(c.id)
            .bind(c.customer_id.as_str())
            .bind(c.purpose.as_str())
            .bind(c.channel.as_str())
            .bind(c.granted)
            .bind(c.recorded_at)
            .bind(c.source.as_str())
            .bind(c.evidence.as_deref())
            .bind(c.staff_id.as_deref())
            .bind(key.map(|k| k.as_str()))
            .bind(print.as_deref())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(classify)?;
        if inserted == 1 {
            return Ok(consent);
        }
        let id = self.replayed("consents", key, print.as_deref()).await?;
        let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1");
        let row: ConsentRow = on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_one(p).await)
            .map_err(classify)?;
        row.into_domain()
    }

    /// Every consent record of a customer, newest first.
    pub async fn consents(&self, customer: &Cif) -> Result<Vec<Consent>, StoreError> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE customer_id = $1 \
             ORDER BY recorded_at DESC, id DESC"
        );
        let rows: Vec<ConsentRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(customer.as_str())
            .fetch_all(p)
            .await)
        .map_err(classify)?;
        rows.into_iter().map(ConsentRow::into_domain).collect()
    }

    /// Records a customer's contact preferences (idempotent under `key`).
    pub async fn record_contact_preferences(
        &self,
        new: &NewContactPreferences,
        key: Option<&IdempotencyKey>,
    ) -> Result<ContactPreferences, StoreError> {
        let preferences = ContactPreferences {
            id: new_id(),
            customer_id: new.customer_id.clone(),
            preferred_channel: new.preferred_channel,
            quiet_hours: new.quiet_hours,
            do_not_contact: new.do_not_contact,
            recorded_at: now(),
            source: new.source,
            staff_id: new.staff_id.clone(),
        };
        let print = key.map(|_| fingerprint(new));
        let hhmm = |t: NaiveTime| t.format("%H:%M").to_string();
        let quiet_start = new.quiet_hours.map(|q| hhmm(q.start));
        let quiet_end = new.quiet_hours.map(|q| hhmm(q.end));
        let sql = format!(
            "INSERT INTO contact_preferences ({PREFERENCE_COLUMNS}, idempotency_key, fingerprint) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (idempotency_key) DO NOTHING"
        );
        let c = &preferences;
        let inserted = on_pool!(self, p => sqlx::query(&sql)
            .bind(c.id)
            .bind(c.customer_id.as_str())
            .bind(c.preferred_channel.map(|x| x.as_str()))
            .bind(quiet_start.as_deref())
            .bind(quiet_end.as_deref())
            .bind(c.do_not_contact)
            .bind(c.recorded_at)
            .bind(c.source.as_str())
            .bind(c.staff_id.as_deref())
            .bind(key.map(|k| k.as_str()))
            .bind(print.as_deref())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(classify)?;
        if inserted == 1 {
            return Ok(preferences);
        }
        let id = self
            .replayed("contact_preferences", key, print.as_deref())
            .await?;
        let sql = format!("SELECT {PREFERENCE_COLUMNS} FROM contact_preferences WHERE id = $1");
        let row: PreferenceRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_one(p).await)
                .map_err(classify)?;
        row.into_domain()
    }

    /// A customer's latest contact preferences; `None` if never recorded.
    pub async fn contact_preferences(
        &self,
        customer: &Cif,
    ) -> Result<Option<ContactPreferences>, StoreError> {
        let sql = format!(
            "SELECT {PREFERENCE_COLUMNS} FROM contact_preferences WHERE customer_id = $1 \
             ORDER BY recorded_at DESC, id DESC LIMIT 1"
        );
        let row: Option<PreferenceRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(customer.as_str())
            .fetch_optional(p)
            .await)
        .map_err(classify)?;
        row.map(PreferenceRow::into_domain).transpose()
    }

    /// After an insert that wrote nothing because `key` exists: the id of the row that
    /// key stored, if its request had the same fingerprint.
    async fn replayed(
        &self,
        table: &'static str,
        key: Option<&IdempotencyKey>,
        print: Option<&str>,
    ) -> Result<Uuid, StoreError> {
        let Some(key) = key else {
            return Err(StoreError::Corrupt(format!(
                "an insert into {table} without idempotency key wrote nothing"
            )));
        };
        let sql = format!("SELECT id, fingerprint FROM {table} WHERE idempotency_key = $1");
        let row: Fingerprint = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(key.as_str())
            .fetch_one(p)
            .await)
        .map_err(classify)?;
        if row.fingerprint.as_deref() != print {
            return Err(StoreError::Conflict {
                key: key.as_str().to_owned(),
            });
        }
        Ok(row.id)
    }
}
