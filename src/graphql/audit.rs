//! `accessAudit`: who read which customer, for auditors.
//!
//! Only a viewer [`crate::auth::require_audit_reader`] admits may read it, and the
//! check comes before anything else, so a refused caller learns nothing, not even
//! whether their filter was well formed. Reading the audit is not a read of the
//! customers it names and leaves no audit row of its own.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, InputObject, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::errors;
use super::interactions::{check_period, micros};
use super::paging;
use crate::auth::Viewer;
use crate::config::GraphqlConfig;
use crate::domain::Cif;
use crate::store::{AccessCursor, AccessFilter, StoredAccess};

/// Longest actor (token subject) a filter takes: subjects are ids or e-mail
/// addresses, never essays.
const MAX_ACTOR_LEN: usize = 256;

/// A position in the audit: the time and id of the last row seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor(AccessCursor);

impl CursorType for AuditCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let (at, id) = paging::decode_keyset(s)?;
        Ok(AuditCursor(AccessCursor { at, id }))
    }

    fn encode_cursor(&self) -> String {
        paging::encode_keyset(self.0.at, self.0.id)
    }
}

pub struct AccessRecordNode(StoredAccess);

/// One read of one customer by a member of staff.
#[Object(name = "AccessRecord")]
impl AccessRecordNode {
    /// UUIDv7 of the audit row, for citing it.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// When the customer was read.
    async fn at(&self) -> DateTime<Utc> {
        self.0.record.at
    }

    /// Who read: the subject of their token.
    async fn actor(&self) -> &str {
        &self.0.record.actor
    }

    /// The staff member a write in the operation was recorded for, when the actor
    /// acted for a colleague (the `act_for_staff` capability).
    async fn acting_for(&self) -> Option<&str> {
        self.0.record.acting_for.as_deref()
    }

    /// For a bulk read (an export of the BI snapshot, whose `customerId` is
    /// `0000000000`): how many customers' rows it answered.
    async fn row_count(&self) -> Option<i64> {
        self.0.record.row_count
    }

    async fn role(&self) -> &str {
        &self.0.record.role
    }

    async fn branch(&self) -> Option<&str> {
        self.0.record.branch.as_deref()
    }

    /// The CIF of the customer read.
    async fn customer_id(&self) -> ID {
        ID(self.0.record.customer_id.to_string())
    }

    /// The GraphQL operation name, when the client gave one.
    async fn operation(&self) -> Option<&str> {
        self.0.record.operation.as_deref()
    }

    /// Classes of personal data shown unmasked; empty when everything was masked.
    async fn fields_revealed(&self) -> &[String] {
        &self.0.record.fields_revealed
    }

    /// The reason given for the read.
    async fn purpose(&self) -> Option<&str> {
        self.0.record.purpose.as_deref()
    }

    /// The application that obtained the token.
    async fn client(&self) -> Option<&str> {
        self.0.record.client.as_deref()
    }

    /// Finds the request in logs and traces.
    async fn trace_id(&self) -> &str {
        &self.0.record.trace_id
    }
}

/// Narrows the audit; omitted fields match everything.
#[derive(InputObject, Default)]
pub struct AccessAuditFilter {
    /// Reads of this customer (CIF).
    customer_id: Option<ID>,
    /// Reads by this token subject.
    actor: Option<String>,
    /// Read at or after.
    from: Option<DateTime<Utc>>,
    /// Read before.
    to: Option<DateTime<Utc>>,
}

impl AccessAuditFilter {
    fn into_filter(self) -> Result<AccessFilter> {
        check_period(self.from, self.to)?;
        let customer_id = self
            .customer_id
            .map(|id| Cif::parse(&id).map_err(|e| errors::bad_input("filter.customerId", e)))
            .transpose()?;
        let actor = self.actor.map(|raw| check_actor(&raw)).transpose()?;
        Ok(AccessFilter {
            customer_id,
            actor,
            from: micros(self.from),
            to: micros(self.to),
        })
    }
}

fn check_actor(raw: &str) -> Result<String> {
    let actor = raw.trim();
    if actor.is_empty() {
        return Err(errors::bad_input("filter.actor", "must not be empty"));
    }
    if actor.chars().count() > MAX_ACTOR_LEN {
        return Err(errors::bad_input(
            "filter.actor",
            format!("at most {MAX_ACTOR_LEN} characters"),
        ));
    }
    if actor.chars().any(char::is_control) {
        return Err(errors::bad_input(
            "filter.actor",
            "must not contain control characters",
        ));
    }
    Ok(actor.to_owned())
}

/// A page of the audit, newest first.
pub type AccessRecordConnection = Connection<AuditCursor, AccessRecordNode>;

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Who read which customer's data, newest first, with keyset cursor paging. For
    /// auditors only (`FORBIDDEN` otherwise); never served from a cache.
    async fn access_audit(
        &self,
        ctx: &Context<'_>,
        filter: Option<AccessAuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AccessRecordConnection> {
        let store = super::own_records(ctx);
        crate::auth::require_audit_reader(ctx.data_unchecked::<Viewer>())?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let first = paging::page_size(first, ctx.data_unchecked::<GraphqlConfig>())?;
        let after = after
            .map(|raw| AuditCursor::decode_cursor(&raw).map_err(|e| errors::bad_input("after", e)))
            .transpose()?;
        let page = store
            .access_records(&filter, first, after.map(|c| c.0))
            .await
            .map_err(|e| errors::store(&e))?;
        let mut connection = Connection::new(after.is_some(), page.has_next_page);
        connection.edges.extend(
            page.records
                .into_iter()
                .map(|r| Edge::new(AuditCursor(r.cursor()), AccessRecordNode(r))),
        );
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorCode;

    fn code_and_field(error: async_graphql::Error) -> (String, String) {
        let ext = error.extensions.expect("extensions");
        let text = |key: &str| match ext.get(key) {
            Some(async_graphql::Value::String(s)) => s.clone(),
            other => panic!("{key}: {other:?}"),
        };
        (text("code"), text("field"))
    }

    #[test]
    fn bad_filters_name_their_field() {
        let bad_cif = AccessAuditFilter {
            customer_id: Some(ID("12345".into())),
            ..Default::default()
        };
        assert_eq!(
            code_and_field(bad_cif.into_filter().unwrap_err()),
            (
                ErrorCode::BadUserInput.as_str().into(),
                "filter.customerId".into()
            )
        );
        let reversed = AccessAuditFilter {
            from: Some("2026-11-27T00:00:00Z".parse().unwrap()),
            to: Some("2026-11-26T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            code_and_field(reversed.into_filter().unwrap_err()),
            (ErrorCode::BadUserInput.as_str().into(), "filter.to".into())
        );
        for actor in ["  ", "a\nb", &"x".repeat(MAX_ACTOR_LEN + 1)] {
            let filter = AccessAuditFilter {
                actor: Some(actor.to_owned()),
                ..Default::default()
            };
            assert_eq!(
                code_and_field(filter.into_filter().unwrap_err()),
                (
                    ErrorCode::BadUserInput.as_str().into(),
                    "filter.actor".into()
                ),
                "{actor:?}"
            );
        }
    }

    #[test]
    fn good_filters_are_trimmed_and_kept_to_the_microsecond() {
        let filter = AccessAuditFilter {
            customer_id: Some(ID(" 1000000001 ".into())),
            actor: Some(" u-1001 ".into()),
            from: Some("2026-11-27T00:00:00.1234567Z".parse().unwrap()),
            to: None,
        }
        .into_filter()
        .unwrap();
        assert_eq!(filter.customer_id.unwrap().as_str(), "1000000001");
        assert_eq!(filter.actor.as_deref(), Some("u-1001"));
        assert_eq!(filter.from.unwrap().timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn first_out_of_range_is_bad_input_on_first() {
        let config = GraphqlConfig::default();
        for first in [0, -1, config.max_page_size as i32 + 1] {
            assert_eq!(
                code_and_field(paging::page_size(Some(first), &config).unwrap_err()),
                (ErrorCode::BadUserInput.as_str().into(), "first".into())
            );
        }
        assert_eq!(
            paging::page_size(None, &config).unwrap(),
            config.default_page_size
        );
    }
}
