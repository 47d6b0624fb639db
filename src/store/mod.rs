//! The hub's own SQL database: interactions, consents, contact preferences, the
//! access audit, the BI snapshot and the change events taken on from the broker.
//!
//! One [`Store`] over SQLite (the embedded default: a file, WAL mode, created on first
//! run) or PostgreSQL (when the URL says `postgres://`). The repository code is the
//! same for both: every statement is written once, in the SQL both speak (`$1`
//! placeholders, `ON CONFLICT … DO NOTHING`, row-value comparisons), and the
//! [`on_pool!`] macro compiles it once per backend. Only the calendar functions of
//! `interactionStats` and the JSON type of the audit differ, in [`Backend`].
//!
//! A write is acknowledged only after its transaction commits (SQLite with
//! `synchronous = FULL`). Failures are classified once, in [`classify`]: a database
//! that is down, locked or full is [`StoreError::Unavailable`] (`STORE_UNAVAILABLE`),
//! and the pool reconnects by itself when it returns.

mod audit;
mod checkpoint;
mod consents;
mod feed_events;
mod group_commit;
mod interactions;
mod snapshot;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

use crate::config::DatabaseConfig;
use crate::errors::ErrorCode;
use crate::metrics::Metrics;

pub use audit::chain::{
    ChainBreak, ChainHead, ChainKeyError, ChainKeys, ChainReport, ChainedRow, Walk, DEMO_KEY_ID,
    GENESIS,
};
pub use audit::{
    AccessCursor, AccessFilter, AccessPage, AccessRecord, ChainBound, Link, StoredAccess,
};
pub use feed_events::{before, EventClaim};
pub use interactions::{InteractionFilter, InteractionStat, Logged, MarketingLog, TimelineCursor};
pub use snapshot::{
    SegmentTotal, SnapshotDimension, SnapshotFailure, SnapshotFilter, SnapshotRow, SnapshotRun,
    SnapshotScope, SnapshotStatus,
};

/// Longest idempotency key: a UUID is 36 characters; 128 leaves room for composite
/// keys (`terminal-42:20261127:0001`) without storing essays.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The calendar day (`YYYY-MM-DD`) of a UTC time column in Beijing time.
    fn local_day(self, column: &str) -> String {
        match self {
            Backend::Sqlite => format!("strftime('%Y-%m-%d', {column}, '+8 hours')"),
            Backend::Postgres => {
                format!("to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')")
            }
        }
    }

    /// The calendar month (`YYYY-MM`) of a UTC time column in Beijing time.
    fn local_month(self, column: &str) -> String {
        match self {
            Backend::Sqlite => format!("strftime('%Y-%m', {column}, '+8 hours')"),
            Backend::Postgres => {
                format!("to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')")
            }
        }
    }

    /// A placeholder bound to JSON text, as the value of a JSON column (`jsonb` in
    /// PostgreSQL, plain text in SQLite).
    fn json_value(self, placeholder: &str) -> String {
        match self {
            Backend::Sqlite => placeholder.to_owned(),
            Backend::Postgres => format!("CAST({placeholder} AS jsonb)"),
        }
    }

    /// The statement that opens a transaction which reads before it writes and must
    /// not be overtaken in between: SQLite takes its write lock at once (a deferred
    /// transaction that read would fail to upgrade when another wrote meanwhile);
    /// PostgreSQL locks what it needs inside.
    fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// A JSON column read back as text.
    fn json_text(self, column: &str) -> String {
        match self {
            Backend::Sqlite => column.to_owned(),
            Backend::Postgres => format!("{column}::text"),
        }
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }
}

/// A pooled connection that a background writer keeps from one commit to the next
/// while it has more to write. SQLite's page cache belongs to a connection and is
/// emptied when another connection has written since; the pool hands out its idle
/// connections in turn, so a writer that took a new one for every commit read back
/// every page it touched (`pread` was a tenth of the SQLite thread's time under the
/// `search` benchmark). On PostgreSQL it saves the acquire and its ping.
pub(crate) enum HeldConnection {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// [`on_pool`] for a [`HeldConnection`]: `$c` is the concrete connection.
macro_rules! on_connection {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::HeldConnection::Sqlite($c) => $body,
            $crate::store::HeldConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_connection;

/// `(…), (…), …` for a multi-row `INSERT` of `rows` rows of `width` columns;
/// `column(n, placeholder)` writes the value of the 1-based column `n` (a placeholder,
/// or an expression around it).
///
/// SQLite gets anonymous `?` placeholders, bound in order: for a numbered one, sqlx
/// asks SQLite its name, which SQLite finds by a linear search of the statement's
/// parameters, so binding a statement of n numbered parameters costs n².
fn values_sql(
    backend: Backend,
    rows: usize,
    width: usize,
    column: impl Fn(usize, String) -> String,
) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|row| {
            let values: Vec<String> = (1..=width)
                .map(|n| {
                    let placeholder = match backend {
                        Backend::Sqlite => "?".to_owned(),
                        Backend::Postgres => format!("${}", row * width + n),
                    };
                    column(n, placeholder)
                })
                .collect();
            format!("({})", values.join(", "))
        })
        .collect();
    tuples.join(", ")
}

/// Runs the same code against whichever pool the store has: `$p` is bound to the
/// concrete pool, so `sqlx` types and encodings are checked for each backend.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The hub's database: cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    interactions: group_commit::InteractionWriter,
    /// SQLite's checkpoints, kept running while any handle is alive.
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
}

/// Why a store operation failed. Each message names its cause, so none of these returns
/// it again from `source()`: the cause is printed once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is down, unreachable, locked past its timeout or full: nothing was
    /// written, and the caller may retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// An idempotency key came back with a different request.
    #[error("idempotency key '{key}' was already used for a different request")]
    Conflict { key: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// A failure that retrying will not fix (a constraint, a bug).
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A stored value this build cannot read.
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("database URL {url}: {problem}")]
    Url { url: String, problem: String },
    #[error("database migrations failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {path}: {error}")]
    Folder { path: String, error: std::io::Error },
}

impl Store {
    /// A connection to keep for a run of writes; see [`HeldConnection`].
    pub(crate) async fn hold_connection(&self) -> Result<HeldConnection, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => HeldConnection::Sqlite(p.acquire().await.map_err(classify)?),
            Pool::Postgres(p) => HeldConnection::Postgres(p.acquire().await.map_err(classify)?),
        })
    }
}

impl StoreError {
    /// Which entry of the error catalogue this failure is: the one mapping from store
    /// failures to codes, shared by the GraphQL errors, `/readyz` and the audit
    /// writer's metrics (which, in `auth`, cannot depend on `graphql`).
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Unavailable(_) => ErrorCode::StoreUnavailable,
            StoreError::Conflict { .. } => ErrorCode::Conflict,
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::Database(_)
            | StoreError::Corrupt(_)
            | StoreError::Url { .. }
            | StoreError::Migrate(_)
            | StoreError::Folder { .. } => ErrorCode::Internal,
        }
    }
}

/// Sorts a `sqlx` failure into "the database is not there" (retry later) and
/// everything else.
pub fn classify(error: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    let unavailable = match &error {
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => true,
        E::Protocol(_) => true,
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            if sqlite {
                let sqlite_code = code.parse::<i32>().unwrap_or_default();
                // SQLite primary codes (the low byte of extended ones): BUSY, LOCKED,
                // READONLY, IOERR, FULL, CANTOPEN.
                matches!(sqlite_code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
            } else {
                // PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient
                // resources (disk full, out of memory, too many connections), 57P admin
                // or crash shutdown and "cannot connect now", 57014 a cancelled query,
                // 25006 a read-only server (a standby after failover), 55000 a database
                // not accepting connections.
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || matches!(code.as_str(), "57014" | "25006" | "55000")
            }
        }
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(error)
    } else {
        StoreError::Database(error)
    }
}

/// A pooled connection used this recently is not pinged before it is handed out.
///
/// sqlx pings every connection on every acquire by default: one more round trip to
/// the database for each statement, as many as the statements themselves. A connection
/// that answered moments ago is almost always still there, and when it is not (the
/// database restarted in between) the statement fails as `STORE_UNAVAILABLE` and the
/// connection is dropped, which a ping just before could not have ruled out either.
/// Connections that sat idle are the ones a restart, a failover or a firewall's idle
/// timeout leaves dead, and they are still checked. HikariCP draws the line at the
/// same half second.
const TRUSTED_IF_USED_WITHIN: Duration = Duration::from_millis(500);

async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for >= TRUSTED_IF_USED_WITHIN {
        conn.ping().await?;
    }
    Ok(true)
}

impl Store {
    /// Opens the pool the URL names: SQLite (its file and folder created if missing,
    /// WAL, `synchronous = FULL`, checkpoints off the commit path) or PostgreSQL. Its
    /// interaction writer counts into `metrics`.
    pub async fn connect(config: &DatabaseConfig, metrics: &Metrics) -> Result<Store, StoreError> {
        let url = config.url.trim();
        let bad_url = |problem: String| StoreError::Url {
            url: redact(url),
            problem,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|e| bad_url(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
                .min_connections(config.min_connections)
                .acquire_timeout(config.acquire_timeout)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                .connect_with(options)
                .await
                .map_err(classify)?;
            Ok(Store::over(Pool::Postgres(pool), metrics, None))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| bad_url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before it is acknowledged, even across a
                // power cut (NORMAL in WAL mode may lose the last commits).
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(config.busy_timeout)
                .foreign_keys(true)
                // Checkpoints run beside the writers, not inside a commit: see
                // [`checkpoint`].
                .pragma("wal_autocheckpoint", "0");
            let file = options.get_filename();
            if let Some(folder) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder).map_err(|error| StoreError::Folder {
                    path: folder.display().to_string(),
                    error,
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections)
                .min_connections(config.min_connections)
                .acquire_timeout(config.acquire_timeout)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                .connect_with(options.clone())
                .await
                .map_err(classify)?;
            let checkpointer = checkpoint::Checkpointer::start(options, metrics);
            Ok(Store::over(Pool::Sqlite(pool), metrics, Some(checkpointer)))
        } else {
            Err(bad_url(
                "expected sqlite://path/file.db or postgres://user@host/database".into(),
            ))
        }
    }

    /// Starts the interaction writer on the current runtime; `checkpointer` is SQLite's.
    fn over(
        pool: Pool,
        metrics: &Metrics,
        checkpointer: Option<checkpoint::Checkpointer>,
    ) -> Store {
        Store {
            interactions: group_commit::InteractionWriter::start(
                pool.clone(),
                metrics.interaction_rows_per_statement.clone(),
            ),
            pool,
            _checkpointer: checkpointer.map(std::sync::Arc::new),
        }
    }

    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Applies the embedded migrations of this backend that have not run yet; returns
    /// how many it applied. Safe to run from several hub instances at once
    /// (PostgreSQL takes an advisory lock; SQLite's write lock serializes).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        // Migrations already recorded; the table does not exist before the first run.
        let count = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let (total, before) = match &self.pool {
            Pool::Sqlite(p) => {
                let migrator = sqlx::migrate!("migrations/sqlite");
                let before = sqlx::query_scalar::<_, i64>(count).fetch_one(p).await;
                migrator.run(p).await.map_err(StoreError::Migrate)?;
                (migrator.iter().count(), before.unwrap_or(0))
            }
            Pool::Postgres(p) => {
                let migrator = sqlx::migrate!("migrations/postgres");
                let before = sqlx::query_scalar::<_, i64>(count).fetch_one(p).await;
                migrator.run(p).await.map_err(StoreError::Migrate)?;
                (migrator.iter().count(), before.unwrap_or(0))
            }
        };
        Ok(total.saturating_sub(before as usize))
    }

    /// Connections open, and idle among them: the pool's use, for `/metrics`.
    pub fn connections(&self) -> (u32, usize) {
        match &self.pool {
            Pool::Sqlite(pool) => (pool.size(), pool.num_idle()),
            Pool::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// A round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ())).map_err(classify)
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A client's retry key, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Printable ASCII, 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] characters.
    pub fn parse(raw: &str) -> Result<IdempotencyKey, String> {
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("printable ASCII without spaces only (a UUID is ideal)".into());
        }
        Ok(IdempotencyKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a request's canonical JSON: equal requests, equal fingerprints, so a
/// retry is told apart from a different request reusing the key.
fn fingerprint(request: &impl serde::Serialize) -> String {
    let json = serde_json::to_vec(request).expect("requests serialize");
    Sha256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The store's clock: UTC to the microsecond, like every stored time.
fn now() -> DateTime<Utc> {
    crate::domain::to_micros(Utc::now())
}

fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Reads a stored code back into its enum.
fn decode<T: FromStr<Err = crate::domain::UnknownCode>>(raw: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|e: crate::domain::UnknownCode| StoreError::Corrupt(e.to_string()))
}

/// A value bound to a statement built at run time.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Time(DateTime<Utc>),
    Id(Uuid),
    Int(i64),
}

/// Binds `args` in order to `$1`, `$2`, … of a statement: a `query`, `query_as` or
/// `query_scalar`, which are three types with a `bind` each, hence a macro.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::store::Arg::Text(s) => query.bind(s.as_str()),
                $crate::store::Arg::Time(t) => query.bind(*t),
                $crate::store::Arg::Id(id) => query.bind(*id),
                $crate::store::Arg::Int(n) => query.bind(*n),
            };
        }
        query
    }};
}
use bind_args;

/// Builds a `WHERE` clause with numbered placeholders.
#[derive(Debug, Clone, Default)]
struct Conditions {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Conditions {
    /// Adds an argument and returns its placeholder.
    fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// `column IN (…)` over codes; nothing when the list is empty.
    fn any_of(&mut self, column: &str, codes: impl IntoIterator<Item = &'static str>) {
        let placeholders: Vec<String> = codes
            .into_iter()
            .map(|c| self.arg(Arg::Text(c.to_owned())))
            .collect();
        if !placeholders.is_empty() {
            self.push(format!("{column} IN ({})", placeholders.join(", ")));
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_bounded_printable_ascii() {
        assert!(IdempotencyKey::parse("0190c3c4-7d1e-7000-8000-000000000001").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        assert_eq!(fingerprint(&("a", 1)), fingerprint(&("a", 1)));
        assert_ne!(fingerprint(&("a", 1)), fingerprint(&("a", 2)));
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://c360:secret@db/c360"),
            "postgres://c360:***@db/c360"
        );
    }

    #[test]
    fn pool_timeouts_and_io_are_unavailable_other_errors_are_not() {
        assert_eq!(
            classify(sqlx::Error::PoolTimedOut).code(),
            ErrorCode::StoreUnavailable
        );
        assert_eq!(
            classify(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused
            )))
            .code(),
            ErrorCode::StoreUnavailable
        );
        assert_eq!(
            classify(sqlx::Error::RowNotFound).code(),
            ErrorCode::Internal
        );
    }
}
