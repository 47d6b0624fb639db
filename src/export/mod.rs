//! Exports of the BI snapshot (`c360 export`, `GET /export`): the rows the caller's
//! scope admits, as CSV or Parquet, de-identified exactly as the caller's role sees
//! the book in GraphQL (docs/bi.md#exports).
//!
//! Both transports go through [`Export::prepare`], which takes the same decisions in
//! the same order: the role may read the book at all (`Query.customerBook` is not
//! denied), which columns its data classes leave, how many rows the filter selects
//! (refused below `bi.min_group_size` for a pseudonymous role), and the one audit row
//! that records the export as a bulk read. Rows are then read in keyset pages, so an
//! export of the whole book never holds more than a page (and a Parquet row group)
//! in memory.

mod encode;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;

use crate::auth::{AccessSummary, PersonalSet, Viewer};
use crate::domain::{Cif, ClassSet, DataClass};
use crate::errors::{ApiError, ErrorCode};
use crate::store::{AccessRecord, SnapshotFilter, SnapshotRow, SnapshotScope, Store, StoreError};

pub use encode::Encoder;

/// Rows read from the snapshot per query: large enough that the per-query cost
/// vanishes, small enough that a page is a few megabytes.
pub const PAGE_ROWS: usize = 5_000;

/// The audit row of a bulk read names no single customer: this is no CIF the bank
/// issues (customer numbers start at `1000000001`), so it cannot be mistaken for one.
pub const BULK_READ_CUSTOMER: &str = "0000000000";

/// The Hive partition value of rows without a home branch, as Hive, Spark and Trino
/// write and read it.
pub const NO_BRANCH_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Why an export is refused or failed. Each names what the caller should change.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("format '{0}': use csv or parquet")]
    BadFormat(String),
    #[error("{field}: {message}")]
    BadFilter { field: String, message: String },
    #[error("role '{0}' may not read the customer book, so it may not export it")]
    Forbidden(String),
    #[error(
        "the filter selects {selected} customers; this role is shown no group of fewer than \
         {k} (bi.min_group_size): widen the filter"
    )]
    TooFew { selected: u64, k: usize },
    #[error("the snapshot could not be read: {0}")]
    Store(#[from] StoreError),
    #[error("the export could not be written: {0}")]
    Write(String),
}

impl ExportError {
    /// The error as the HTTP endpoint answers it, in the catalogue's codes, naming
    /// the parameter at fault in `extensions.field`.
    pub fn api_error(&self) -> ApiError {
        let message = self.to_string();
        match self {
            ExportError::BadFormat(_) => {
                ApiError::new(ErrorCode::BadRequest, message).with("field", "format")
            }
            ExportError::BadFilter { field, .. } => {
                ApiError::new(ErrorCode::BadRequest, message).with("field", field.clone())
            }
            ExportError::Forbidden(_) => ApiError::new(ErrorCode::Forbidden, message)
                .with_status(http::StatusCode::FORBIDDEN),
            ExportError::TooFew { .. } => ApiError::new(ErrorCode::Forbidden, message)
                .with("field", "filter")
                .with_status(http::StatusCode::FORBIDDEN),
            ExportError::Store(_) => ApiError::new(ErrorCode::StoreUnavailable, message)
                .with_status(http::StatusCode::SERVICE_UNAVAILABLE),
            ExportError::Write(_) => ApiError::new(ErrorCode::Internal, message),
        }
    }
}

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn parse(raw: &str) -> Result<Format, ExportError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(ExportError::BadFormat(raw.to_owned())),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// The filter of an export from `name=value` pairs (query parameters, or the CLI's
/// `--filter branch=0101,tier=GOLD`): the same names and codes as GraphQL's
/// `BookFilter`, checked so that a typo is refused rather than exporting nothing.
pub fn parse_filter<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<SnapshotFilter, ExportError> {
    let mut filter = SnapshotFilter::default();
    for (name, value) in pairs {
        let value = value.trim();
        let bad = |message: String| ExportError::BadFilter {
            field: name.to_owned(),
            message,
        };
        match name {
            "branch" => {
                let ok = !value.is_empty()
                    && value.len() <= 16
                    && value.chars().all(|c| c.is_ascii_alphanumeric());
                if !ok {
                    return Err(bad(format!(
                        "'{value}' is not a branch number (1 to 16 letters and digits)"
                    )));
                }
                filter.branch = Some(value.to_owned());
            }
            "tier" => {
                code::<crate::insights::Tier>(value).map_err(bad)?;
                filter.tier = Some(value.to_owned());
            }
            "lifecycleStage" => {
                code::<crate::insights::LifecycleStage>(value).map_err(bad)?;
                filter.lifecycle_stage = Some(value.to_owned());
            }
            "churnLevel" => {
                code::<crate::insights::ChurnLevel>(value).map_err(bad)?;
                filter.churn_level = Some(value.to_owned());
            }
            _ => {
                return Err(bad(
                    "unknown filter; use branch, tier, lifecycleStage or churnLevel".to_owned(),
                ))
            }
        }
    }
    Ok(filter)
}

/// Checks that `raw` is one of the GraphQL names of `T` (`GOLD`, `AT_RISK`, …).
fn code<T: serde::de::DeserializeOwned + async_graphql::resolver_utils::EnumType>(
    raw: &str,
) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        let names: Vec<&str> = T::items().iter().map(|i| i.name).collect();
        format!("'{raw}' is not one of {}", names.join(", "))
    })
}

/// How a column's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A customer key: the CIF, or its pseudonym for a pseudonymous role.
    CustomerKey,
    Text,
    Int,
    /// CNY held in fen: DECIMAL(20,2), or a band (text) for a pseudonymous role.
    Amount,
    Bool,
    /// TIMESTAMP, microseconds, UTC.
    Time,
}

/// One column of the export: its name, how it is written, and the data classes its
/// values carry (the same classes as the GraphQL fields they correspond to,
/// docs/data-classes.md). A role denied any of them does not get the column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub classes: &'static [DataClass],
    value: fn(&SnapshotRow) -> Value<'_>,
}

/// A cell before formatting.
enum Value<'a> {
    Text(Option<&'a str>),
    Int(i64),
    Fen(i64),
    Bool(bool),
    Time(DateTime<Utc>),
}

use DataClass::{
    Cards, Channels, Consents, ContactHistory, CustomerId, Deposits, Insights, Loans, Meta,
    Profile, Relationships, Staff,
};

const TIER: &[DataClass] = &[Insights, Deposits];
const STAGE: &[DataClass] = &[Insights, Profile, Deposits, Cards, Loans, Channels];
const CHURN: &[DataClass] = &[Insights, Deposits, Cards, Loans, Channels, ContactHistory];
const VALUE: &[DataClass] = &[Insights, Deposits, Cards, Loans];

/// Every column an export can hold, in file order.
pub const COLUMNS: &[Column] = &[
    Column {
        name: "customer_id",
        kind: Kind::CustomerKey,
        classes: &[CustomerId],
        value: |r| Value::Text(Some(&r.cif)),
    },
    Column {
        name: "party_id",
        kind: Kind::CustomerKey,
        classes: &[CustomerId, Relationships],
        value: |r| Value::Text(r.party_id.as_deref()),
    },
    Column {
        name: "branch",
        kind: Kind::Text,
        classes: &[Profile],
        value: |r| Value::Text(r.branch.as_deref()),
    },
    Column {
        name: "relationship_manager",
        kind: Kind::Text,
        classes: &[Staff],
        value: |r| Value::Text(r.relationship_manager.as_deref()),
    },
    Column {
        name: "tier",
        kind: Kind::Text,
        classes: TIER,
        value: |r| Value::Text(Some(&r.tier)),
    },
    Column {
        name: "lifecycle_stage",
        kind: Kind::Text,
        classes: STAGE,
        value: |r| Value::Text(Some(&r.lifecycle_stage)),
    },
    Column {
        name: "churn_level",
        kind: Kind::Text,
        classes: CHURN,
        value: |r| Value::Text(Some(&r.churn_level)),
    },
    Column {
        name: "churn_score",
        kind: Kind::Int,
        classes: CHURN,
        value: |r| Value::Int(r.churn_score.into()),
    },
    Column {
        name: "aum",
        kind: Kind::Amount,
        classes: &[Deposits],
        value: |r| Value::Fen(r.aum_fen),
    },
    Column {
        name: "deposits",
        kind: Kind::Amount,
        classes: &[Deposits],
        value: |r| Value::Fen(r.deposits_fen),
    },
    Column {
        name: "loans",
        kind: Kind::Amount,
        classes: &[Loans],
        value: |r| Value::Fen(r.loans_fen),
    },
    Column {
        name: "credit_limit",
        kind: Kind::Amount,
        classes: &[Cards],
        value: |r| Value::Fen(r.credit_limit_fen),
    },
    Column {
        name: "credit_used",
        kind: Kind::Amount,
        classes: &[Cards],
        value: |r| Value::Fen(r.credit_used_fen),
    },
    Column {
        name: "deposit_products",
        kind: Kind::Int,
        classes: &[Deposits],
        value: |r| Value::Int(r.deposit_products.into()),
    },
    Column {
        name: "card_products",
        kind: Kind::Int,
        classes: &[Cards],
        value: |r| Value::Int(r.card_products.into()),
    },
    Column {
        name: "loan_products",
        kind: Kind::Int,
        classes: &[Loans],
        value: |r| Value::Int(r.loan_products.into()),
    },
    Column {
        name: "e_banking",
        kind: Kind::Bool,
        classes: &[Channels],
        value: |r| Value::Bool(r.e_banking),
    },
    Column {
        name: "payroll",
        kind: Kind::Bool,
        classes: &[Deposits],
        value: |r| Value::Bool(r.payroll),
    },
    Column {
        name: "rfm_recency",
        kind: Kind::Int,
        classes: VALUE,
        value: |r| Value::Int(r.rfm_recency.into()),
    },
    Column {
        name: "rfm_frequency",
        kind: Kind::Int,
        classes: VALUE,
        value: |r| Value::Int(r.rfm_frequency.into()),
    },
    Column {
        name: "rfm_monetary",
        kind: Kind::Int,
        classes: VALUE,
        value: |r| Value::Int(r.rfm_monetary.into()),
    },
    Column {
        name: "rfm_segment",
        kind: Kind::Text,
        classes: VALUE,
        value: |r| Value::Text(r.rfm_segment.as_deref()),
    },
    Column {
        name: "marketing_refused",
        kind: Kind::Bool,
        classes: &[Consents],
        value: |r| Value::Bool(r.marketing_refused),
    },
    Column {
        name: "do_not_contact",
        kind: Kind::Bool,
        classes: &[Consents],
        value: |r| Value::Bool(r.do_not_contact),
    },
    Column {
        name: "products_at",
        kind: Kind::Time,
        classes: &[Meta],
        value: |r| Value::Time(r.products_at),
    },
    Column {
        name: "insights_at",
        kind: Kind::Time,
        classes: &[Meta],
        value: |r| Value::Time(r.insights_at),
    },
    Column {
        name: "consents_at",
        kind: Kind::Time,
        classes: &[Meta],
        value: |r| Value::Time(r.consents_at),
    },
    Column {
        name: "as_of",
        kind: Kind::Time,
        classes: &[Meta],
        value: |r| Value::Time(r.computed_at),
    },
];

/// The columns a role gets and how their cells are written for it.
#[derive(Clone)]
pub struct Plan {
    columns: Vec<Column>,
    viewer: Viewer,
}

/// A cell as written: what the encoders put in a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(i64),
    /// Fen: written as DECIMAL(20,2).
    Fen(i64),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl Plan {
    /// The plan of `viewer`'s role; refused when the role may not read the book.
    pub fn for_viewer(viewer: &Viewer) -> Result<Plan, ExportError> {
        let policy = viewer.policy();
        if policy.denies("Query", "customerBook") || policy.scope.is_empty() {
            return Err(ExportError::Forbidden(policy.name.clone()));
        }
        let denied = policy.deny_classes;
        let columns = COLUMNS
            .iter()
            .filter(|c| !ClassSet::of(c.classes).intersects(denied))
            .copied()
            .collect();
        Ok(Plan {
            columns,
            viewer: viewer.clone(),
        })
    }

    /// The columns, with the name each has in the file: a pseudonymous role's
    /// amounts are bands, named `<amount>_band` so that no tool mistakes them for
    /// figures.
    pub fn headers(&self) -> Vec<(String, Kind)> {
        self.columns
            .iter()
            .map(|c| match (c.kind, self.pseudonymous()) {
                (Kind::Amount, true) => (format!("{}_band", c.name), Kind::Text),
                (kind, _) => (c.name.to_owned(), kind),
            })
            .collect()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn pseudonymous(&self) -> bool {
        self.viewer.pseudonymous()
    }

    /// Whether the file holds the `branch` column (Parquet directories partition by it).
    pub fn has_branch(&self) -> bool {
        self.columns.iter().any(|c| c.name == "branch")
    }

    /// One row's cells, in [`Plan::headers`] order.
    pub fn cells(&self, row: &SnapshotRow) -> Vec<Cell> {
        let pseudonymous = self.pseudonymous();
        self.columns
            .iter()
            .map(|column| match ((column.value)(row), column.kind) {
                (Value::Text(key), Kind::CustomerKey) => {
                    Cell::Text(key.map(|k| self.customer_key(k)))
                }
                (Value::Text(text), _) => Cell::Text(text.map(str::to_owned)),
                (Value::Int(n), _) => Cell::Int(n),
                (Value::Fen(fen), _) if pseudonymous => {
                    Cell::Text(Some(self.viewer.amount_band(Decimal::new(fen, 2))))
                }
                (Value::Fen(fen), _) => Cell::Fen(fen),
                (Value::Bool(b), _) => Cell::Bool(b),
                (Value::Time(t), _) => Cell::Time(t),
            })
            .collect()
    }

    /// The CIF as the role is shown it: itself, or its pseudonym. A stored key that
    /// is not a CIF is withheld from a pseudonymous role rather than shown.
    fn customer_key(&self, raw: &str) -> String {
        match Cif::parse(raw) {
            Ok(cif) => self.viewer.customer_id(&cif),
            Err(_) if self.pseudonymous() => "WITHHELD".to_owned(),
            Err(_) => raw.to_owned(),
        }
    }
}

/// An export decided and audited-to-be: the plan, what it selects, and how many rows.
pub struct Export {
    pub format: Format,
    pub plan: Plan,
    pub scope: SnapshotScope,
    pub filter: SnapshotFilter,
    /// Rows the filter selected when the export started: what the audit records,
    /// and the most the export writes (rows added while it runs are left out, so the
    /// audit never holds fewer rows than were answered).
    pub rows: u64,
}

impl Export {
    /// Decides an export for `viewer`: role, columns, scope, count, and `k`.
    pub async fn prepare(
        store: &Store,
        viewer: &Viewer,
        format: Format,
        filter: SnapshotFilter,
    ) -> Result<Export, ExportError> {
        let plan = Plan::for_viewer(viewer)?;
        let scope = viewer.snapshot_scope();
        let rows = store.snapshot_count(&scope, &filter, None).await?.max(0) as u64;
        if let Some(k) = viewer.min_group_size() {
            if (rows as usize) < k {
                return Err(ExportError::TooFew { selected: rows, k });
            }
        }
        Ok(Export {
            format,
            plan,
            scope,
            filter,
            rows,
        })
    }

    /// The operation the audit records: `export <format>` and the filter
    /// (`export csv branch=0101 tier=GOLD`); the row count goes in `row_count`.
    pub fn operation(&self) -> String {
        let mut operation = format!("export {}", self.format.extension());
        let f = &self.filter;
        for (name, value) in [
            ("branch", &f.branch),
            ("tier", &f.tier),
            ("lifecycleStage", &f.lifecycle_stage),
            ("churnLevel", &f.churn_level),
        ] {
            if let Some(value) = value {
                operation.push_str(&format!(" {name}={value}"));
            }
        }
        operation
    }

    /// The one audit row of this export, for a role whose reads are audited.
    pub fn audit_record(&self, viewer: &Viewer, trace_id: &str) -> Option<AccessRecord> {
        if !viewer.policy().audited {
            return None;
        }
        let identity = viewer.identity();
        Some(AccessRecord {
            at: Utc::now(),
            actor: identity.subject.clone(),
            acting_for: None,
            role: identity.role.clone(),
            branch: identity.branch.clone(),
            customer_id: Cif::parse(BULK_READ_CUSTOMER).expect("ten digits are a CIF"),
            operation: Some(self.operation()),
            fields_revealed: Vec::new(),
            purpose: viewer.purpose().map(|p| p.as_str().to_owned()),
            client: viewer.client().map(str::to_owned),
            trace_id: trace_id.to_owned(),
            row_count: Some(self.rows as i64),
        })
    }

    /// The export as the audit gate of the HTTP endpoint takes it: one bulk read.
    pub fn access_summary(&self) -> AccessSummary {
        AccessSummary {
            operation: Some(self.operation()),
            reads: vec![(
                Cif::parse(BULK_READ_CUSTOMER).expect("ten digits are a CIF"),
                PersonalSet::default(),
            )],
            acting_for: None,
            row_count: Some(self.rows as i64),
        }
    }

    /// Reads the next page after `after` of the rows `filter` admits (within the
    /// caller's scope), at most what is left of [`Export::rows`].
    async fn page_of(
        &self,
        store: &Store,
        filter: &SnapshotFilter,
        after: Option<&str>,
        written: u64,
    ) -> Result<Vec<SnapshotRow>, ExportError> {
        let left = self.rows.saturating_sub(written).min(PAGE_ROWS as u64) as usize;
        if left == 0 {
            return Ok(Vec::new());
        }
        Ok(store
            .snapshot_page(&self.scope, filter, after, left)
            .await?)
    }

    /// Reads the next page of the export after `after`.
    pub async fn page(
        &self,
        store: &Store,
        after: Option<&str>,
        written: u64,
    ) -> Result<Vec<SnapshotRow>, ExportError> {
        self.page_of(store, &self.filter, after, written).await
    }

    /// The body of `GET /export`: one file, written a page at a time.
    pub fn stream(
        self,
        store: Store,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, ExportError>> + Send + 'static {
        struct State {
            export: Export,
            store: Store,
            encoder: Option<Encoder>,
            after: Option<String>,
            written: u64,
        }
        let start = Encoder::new(self.format, &self.plan, false);
        let state = match start {
            Ok(encoder) => Ok(State {
                export: self,
                store,
                encoder: Some(encoder),
                after: None,
                written: 0,
            }),
            Err(e) => Err(e),
        };
        futures::stream::unfold(Some(state), |state| async move {
            let mut state = match state? {
                Ok(state) => state,
                Err(e) => return Some((Err(e), None)),
            };
            let mut encoder = state.encoder.take()?;
            let rows = match state
                .export
                .page(&state.store, state.after.as_deref(), state.written)
                .await
            {
                Ok(rows) => rows,
                Err(e) => return Some((Err(e), None)),
            };
            if rows.is_empty() {
                return Some((encoder.finish(), None));
            }
            state.written += rows.len() as u64;
            state.after = rows.last().map(|r| r.cif.clone());
            let cells: Vec<Vec<Cell>> = rows.iter().map(|r| state.export.plan.cells(r)).collect();
            let chunk = encoder.write(&cells);
            state.encoder = Some(encoder);
            Some((chunk, Some(Ok(state))))
        })
    }

    /// Writes the export to `out` for `c360 export`: one CSV file, or for Parquet a
    /// directory partitioned by branch (`branch=0101/part-0.parquet`, Hive style).
    /// A partitioned export walks the book one branch at a time, each partition
    /// written whole before the next begins, so it holds one page and one row group
    /// in memory whatever the number of branches. `progress` is told the rows
    /// written after each page. Returns the files written.
    pub async fn write_to(
        &self,
        store: &Store,
        out: &std::path::Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<std::path::PathBuf>, ExportError> {
        let io = |e: std::io::Error| ExportError::Write(format!("{}: {e}", out.display()));
        let partitioned = self.format == Format::Parquet && self.plan.has_branch();
        if self.format == Format::Parquet {
            std::fs::create_dir_all(out).map_err(io)?;
        }
        let mut parts: Vec<(std::path::PathBuf, SnapshotFilter)> = Vec::new();
        if partitioned {
            for branch in store.snapshot_branches(&self.scope, &self.filter).await? {
                let dir = branch
                    .as_deref()
                    .map_or_else(|| NO_BRANCH_PARTITION.to_owned(), partition_value);
                let filter = SnapshotFilter {
                    no_branch: branch.is_none(),
                    branch,
                    ..self.filter.clone()
                };
                parts.push((
                    out.join(format!("branch={dir}")).join("part-0.parquet"),
                    filter,
                ));
            }
        }
        if parts.is_empty() {
            let path = match self.format {
                Format::Csv => out.to_path_buf(),
                Format::Parquet => out.join("part-0.parquet"),
            };
            parts.push((path, self.filter.clone()));
        }
        // The partition is in the directory's name, not in its files.
        let branch_at = self
            .plan
            .columns()
            .iter()
            .position(|c| c.name == "branch")
            .filter(|_| partitioned);
        let mut written = 0u64;
        let mut paths = Vec::new();
        for (path, filter) in parts {
            let io = |e: std::io::Error| ExportError::Write(format!("{}: {e}", path.display()));
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let mut file = std::fs::File::create(&path).map_err(io)?;
            let mut encoder = Encoder::new(self.format, &self.plan, partitioned)?;
            let mut after: Option<String> = None;
            loop {
                let rows = self
                    .page_of(store, &filter, after.as_deref(), written)
                    .await?;
                if rows.is_empty() {
                    break;
                }
                written += rows.len() as u64;
                after = rows.last().map(|r| r.cif.clone());
                let cells: Vec<Vec<Cell>> = rows
                    .iter()
                    .map(|row| {
                        let mut cells = self.plan.cells(row);
                        if let Some(at) = branch_at {
                            cells.remove(at);
                        }
                        cells
                    })
                    .collect();
                let chunk = encoder.write(&cells)?;
                std::io::Write::write_all(&mut file, &chunk).map_err(io)?;
                progress(written);
            }
            let chunk = encoder.finish()?;
            std::io::Write::write_all(&mut file, &chunk).map_err(io)?;
            file.sync_all().map_err(io)?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// A branch as a Hive partition directory's value: letters, digits, `-` and `_` as
/// they are, any other byte as `%XX` (Hive's escaping), so that no branch code can
/// name a path outside the export's directory.
fn partition_value(branch: &str) -> String {
    let mut value = String::with_capacity(branch.len());
    for byte in branch.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            value.push(char::from(byte));
        } else {
            value.push_str(&format!("%{byte:02X}"));
        }
    }
    value
}

/// A time as the CSV writes it: RFC 3339, microseconds, UTC.
fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_filters_are_checked_naming_the_parameter() {
        assert_eq!(Format::parse("CSV").unwrap(), Format::Csv);
        assert_eq!(Format::parse("parquet").unwrap(), Format::Parquet);
        let error = Format::parse("xlsx").unwrap_err().api_error();
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        assert!(error.message().contains("xlsx"), "{}", error.message());
        let filter =
            parse_filter([("branch", "0101"), ("tier", "GOLD"), ("churnLevel", "HIGH")]).unwrap();
        assert_eq!(filter.branch.as_deref(), Some("0101"));
        assert_eq!(filter.tier.as_deref(), Some("GOLD"));
        let tier = parse_filter([("tier", "gold")]).unwrap_err();
        assert!(matches!(&tier, ExportError::BadFilter { field, .. } if field == "tier"));
        assert!(tier.to_string().contains("GOLD"), "{tier}");
        let unknown = parse_filter([("region", "north")]).unwrap_err();
        assert!(unknown.to_string().starts_with("region:"), "{unknown}");
        assert!(parse_filter([("branch", "01;--")]).is_err());
    }

    #[test]
    fn a_partition_value_never_leaves_the_directory() {
        assert_eq!(partition_value("0101"), "0101");
        assert_eq!(partition_value("B-7_x"), "B-7_x");
        assert_eq!(partition_value("../etc"), "%2E%2E%2Fetc");
        assert_eq!(partition_value("a=b c"), "a%3Db%20c");
    }

    #[test]
    fn every_column_has_a_unique_name_and_classes() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len());
        assert!(COLUMNS.iter().all(|c| !c.classes.is_empty()));
    }
}
