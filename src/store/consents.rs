//! Consent records and contact preferences: append-only, the latest wins, with the
//! same idempotency rules as interactions.
//!
//! Every write here, and every MARKETING contact ([`Store::log_marketing`]), holds the
//! customer's contact lock from before it reads the clock until it commits: SQLite's
//! write lock (`BEGIN IMMEDIATE`), or on PostgreSQL a transaction-scoped advisory lock
//! keyed by the CIF. Their `recorded_at` times therefore follow their commit order,
//! and the consent history can be read as the order in which things happened.

use chrono::{DateTime, NaiveTime, Utc};
use uuid::Uuid;

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::{
    bind_args, classify, decode, fingerprint, new_id, now, on_pool, Arg, Conditions,
    IdempotencyKey, Store, StoreError,
};
use crate::domain::{
    current_consents, Cif, Consent, ConsentPurpose, ContactPreferences, NewConsent,
    NewContactPreferences, QuietHours,
};

pub(super) const CONSENT_COLUMNS: &str =
    "id, customer_id, purpose, channel, granted, recorded_at, source, evidence, staff_id";
pub(super) const PREFERENCE_COLUMNS: &str =
    "id, customer_id, preferred_channel, quiet_start, quiet_end, \
    do_not_contact, recorded_at, source, staff_id";

#[derive(sqlx::FromRow)]
pub(super) struct ConsentRow {
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
    pub(super) fn into_domain(self) -> Result<Consent, StoreError> {
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
pub(super) struct PreferenceRow {
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
    pub(super) fn into_domain(self) -> Result<ContactPreferences, StoreError> {
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

/// The PostgreSQL advisory lock that orders a customer's consent and preference
/// writes and MARKETING contacts: the first eight bytes of a SHA-256 of the CIF, so
/// any CIF format maps into the lock space. Two customers sharing a key only wait
/// for each other.
pub(super) fn contact_lock_key(customer: &Cif) -> i64 {
    let digest = Sha256::digest(format!("c360:contact:{}", customer.as_str()).as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Takes the customer's contact lock in the transaction `$tx` (opened with
/// `Backend::begin_write`, which on SQLite already holds the write lock). A macro so
/// that one text serves both backends' transaction types.
macro_rules! contact_lock {
    ($tx:expr, $backend:expr, $customer:expr) => {
        if $backend == $crate::store::Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind($crate::store::consents::contact_lock_key($customer))
                .execute(&mut *$tx)
                .await
                .map_err($crate::store::classify)?;
        }
    };
}
pub(super) use contact_lock;

/// A customer's consent records (newest first) and latest contact preferences, read
/// in the transaction `$tx`.
macro_rules! contact_state {
    ($tx:expr, $customer:expr) => {{
        use $crate::store::consents::{
            ConsentRow, PreferenceRow, CONSENT_COLUMNS, PREFERENCE_COLUMNS,
        };
        let customer: &$crate::domain::Cif = $customer;
        let consents: Vec<ConsentRow> = sqlx::query_as(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE customer_id = $1 \
             ORDER BY recorded_at DESC, id DESC"
        ))
        .bind(customer.as_str())
        .fetch_all(&mut *$tx)
        .await
        .map_err($crate::store::classify)?;
        let preferences: Option<PreferenceRow> = sqlx::query_as(&format!(
            "SELECT {PREFERENCE_COLUMNS} FROM contact_preferences WHERE customer_id = $1 \
             ORDER BY recorded_at DESC, id DESC LIMIT 1"
        ))
        .bind(customer.as_str())
        .fetch_optional(&mut *$tx)
        .await
        .map_err($crate::store::classify)?;
        (
            consents
                .into_iter()
                .map(ConsentRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?,
            preferences.map(PreferenceRow::into_domain).transpose()?,
        )
    }};
}
pub(super) use contact_state;

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
        let print = key.map(|_| fingerprint(new));
        let sql = format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}, idempotency_key, fingerprint) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (idempotency_key) DO NOTHING"
        );
        let backend = self.backend();
        let (consent, inserted) = on_pool!(self, p => {
            let mut tx = p.begin_with(backend.begin_write()).await.map_err(classify)?;
            contact_lock!(tx, backend, &new.customer_id);
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
            let c = &consent;
            let inserted = sqlx::query(&sql)
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
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
            tx.commit().await.map_err(classify)?;
            (consent, inserted)
        });
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
        let print = key.map(|_| fingerprint(new));
        let hhmm = |t: NaiveTime| t.format("%H:%M").to_string();
        let quiet_start = new.quiet_hours.map(|q| hhmm(q.start));
        let quiet_end = new.quiet_hours.map(|q| hhmm(q.end));
        let sql = format!(
            "INSERT INTO contact_preferences ({PREFERENCE_COLUMNS}, idempotency_key, fingerprint) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (idempotency_key) DO NOTHING"
        );
        let backend = self.backend();
        let (preferences, inserted) = on_pool!(self, p => {
            let mut tx = p.begin_with(backend.begin_write()).await.map_err(classify)?;
            contact_lock!(tx, backend, &new.customer_id);
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
            let c = &preferences;
            let inserted = sqlx::query(&sql)
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
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
            tx.commit().await.map_err(classify)?;
            (preferences, inserted)
        });
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

    /// Which of `customers` must not be marketed to at all: those who asked not to be
    /// contacted, and those whose current MARKETING consent is withdrawn on any
    /// channel. A campaign list reaches customers on channels it does not name, so
    /// one withdrawal is enough to leave a customer out (docs/domain.md#consent).
    pub async fn marketing_refused_among(
        &self,
        customers: &[Cif],
    ) -> Result<HashSet<Cif>, StoreError> {
        let mut refused = HashSet::new();
        if customers.is_empty() {
            return Ok(refused);
        }
        let mut c = Conditions::default();
        let placeholders: Vec<String> = customers
            .iter()
            .map(|cif| c.arg(Arg::Text(cif.as_str().to_owned())))
            .collect();
        c.push(format!("customer_id IN ({})", placeholders.join(", ")));
        let mut marketing = c.clone();
        let purpose = marketing.arg(Arg::Text(ConsentPurpose::Marketing.as_str().to_owned()));
        marketing.push(format!("purpose = {purpose}"));
        let consents_sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents {} ORDER BY recorded_at DESC, id DESC",
            marketing.sql()
        );
        let preferences_sql = format!(
            "SELECT {PREFERENCE_COLUMNS} FROM contact_preferences {} \
             ORDER BY recorded_at DESC, id DESC",
            c.sql()
        );
        let (consent_args, preference_args) = (&marketing.args, &c.args);
        let (consents, preferences): (Vec<ConsentRow>, Vec<PreferenceRow>) = on_pool!(self, p => {
            let consents = bind_args!(sqlx::query_as(&consents_sql), consent_args)
                .fetch_all(p)
                .await
                .map_err(classify)?;
            let preferences = bind_args!(sqlx::query_as(&preferences_sql), preference_args)
                .fetch_all(p)
                .await
                .map_err(classify)?;
            (consents, preferences)
        });
        let mut by_customer: HashMap<Cif, Vec<Consent>> = HashMap::new();
        for row in consents {
            let consent = row.into_domain()?;
            by_customer
                .entry(consent.customer_id.clone())
                .or_default()
                .push(consent);
        }
        for (customer, consents) in by_customer {
            if current_consents(&consents).iter().any(|c| !c.granted) {
                refused.insert(customer);
            }
        }
        let mut seen = HashSet::new();
        for row in preferences {
            let latest = row.into_domain()?;
            if seen.insert(latest.customer_id.clone()) && latest.do_not_contact {
                refused.insert(latest.customer_id);
            }
        }
        Ok(refused)
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
