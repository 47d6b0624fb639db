//! The built-in sandbox: four simulated upstream systems (core banking, cards, loans,
//! online channel) over one deterministic synthetic bank, with latency and fault
//! injection. `c360 sandbox` and `c360 demo` serve it; integration tests run the hub
//! against it. The wire formats are the contract in `docs/sandbox.md`.
//!
//! # Layout
//! - [`bank`]: the generator, plain Rust records (no HTTP).
//! - `core`, `cards`, `loans`, `channels`: one axum router per system, each rendering
//!   the records and its errors in that system's own dialect.
//! - `faults`: per-system request counters, latency and injected failures, and the
//!   `/_sandbox` admin endpoints.
//! - `changes`: `POST /_sandbox/changes`, the overlay of changed balances, cards and
//!   loans over the generated bank, and the broker publisher that announces them.
//! - `openapi`: the OpenAPI 3.0 document each system serves.
//! - `params`: query-parameter parsing shared by the systems.

pub mod bank;
mod cards;
mod changes;
mod channels;
mod core;
mod faults;
mod loans;
mod openapi;
mod params;
#[cfg(test)]
mod test_support;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;
use chrono::{Datelike, FixedOffset, NaiveDate, Utc};

pub use bank::Bank;

/// Largest bank the sandbox generates; identifiers are sized for it.
pub const MAX_CUSTOMERS: u64 = 1_000_000;
/// Customers in a default sandbox: enough for realistic searches and lists, small
/// enough that a name scan is instant.
pub const DEFAULT_CUSTOMERS: u64 = 10_000;
/// Seed of the default bank, so every demo shows the same customers.
pub const DEFAULT_SEED: u64 = 42;
/// Business dates the generator supports; birth dates and tenures are computed back
/// from `as_of` and must stay within four-digit years.
const AS_OF_YEARS: std::ops::RangeInclusive<i32> = 1990..=2999;
/// The bank works in Beijing time (UTC+8), which has no daylight saving.
const BEIJING_OFFSET_SECONDS: i32 = 8 * 3600;

/// How the sandbox is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Number of customers, `1..=1_000_000`.
    pub customers: u64,
    /// Seed of the synthetic bank: the same seed gives the same bank on every machine.
    pub seed: u64,
    pub latency: LatencyProfile,
    /// Business date; `None` means today in Beijing time.
    pub as_of: Option<NaiveDate>,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            customers: DEFAULT_CUSTOMERS,
            seed: DEFAULT_SEED,
            latency: LatencyProfile::Default,
            as_of: None,
        }
    }
}

/// How long each system takes to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyProfile {
    /// Scaled down so the demo is pleasant: core 30 ms, cards 20 ms, loans 25 ms,
    /// channels 10 ms.
    #[default]
    Default,
    /// The medians of docs/domain.md#upstream-systems: core 300 ms, cards 150 ms, loans 200 ms,
    /// channels 50 ms.
    Realistic,
    /// No added latency (tests).
    None,
}

impl FromStr for LatencyProfile {
    type Err = SandboxError;

    fn from_str(text: &str) -> Result<LatencyProfile, SandboxError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "default" => Ok(LatencyProfile::Default),
            "realistic" => Ok(LatencyProfile::Realistic),
            "none" => Ok(LatencyProfile::None),
            _ => Err(SandboxError::UnknownLatencyProfile {
                given: text.to_string(),
            }),
        }
    }
}

impl LatencyProfile {
    fn delay(self, system: System) -> Duration {
        let ms = match (self, system) {
            (LatencyProfile::None, _) => 0,
            (LatencyProfile::Default, System::Core) => 30,
            (LatencyProfile::Default, System::Cards) => 20,
            (LatencyProfile::Default, System::Loans) => 25,
            (LatencyProfile::Default, System::Channels) => 10,
            (LatencyProfile::Realistic, System::Core) => 300,
            (LatencyProfile::Realistic, System::Cards) => 150,
            (LatencyProfile::Realistic, System::Loans) => 200,
            (LatencyProfile::Realistic, System::Channels) => 50,
        };
        Duration::from_millis(ms)
    }
}

/// Why a sandbox could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox needs between 1 and {max} customers, got {given}", max = MAX_CUSTOMERS)]
    CustomerCount { given: u64 },
    #[error("the business date {given} is outside the supported years {first}..={last}", first = AS_OF_YEARS.start(), last = AS_OF_YEARS.end())]
    AsOf { given: NaiveDate },
    #[error("unknown latency profile `{given}`: expected `default`, `realistic` or `none`")]
    UnknownLatencyProfile { given: String },
    #[error("--broker: {problem}")]
    Broker { problem: String },
}

/// The four simulated systems, each under its own URL prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum System {
    Core,
    Cards,
    Loans,
    Channels,
}

impl System {
    pub(crate) const ALL: [System; 4] =
        [System::Core, System::Cards, System::Loans, System::Channels];

    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Core => "core",
            System::Cards => "cards",
            System::Loans => "loans",
            System::Channels => "channels",
        }
    }

    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

/// What every handler shares: the bank, the latency profile, the fault board, and
/// the changes made since start with the broker they are announced on.
#[derive(Debug)]
pub(crate) struct SandboxState {
    pub(crate) bank: Bank,
    pub(crate) latency: LatencyProfile,
    pub(crate) faults: faults::FaultBoard,
    pub(crate) overlay: changes::Overlay,
    pub(crate) publisher: std::sync::OnceLock<changes::Publisher>,
}

/// The bank's records as the systems serve them: generated, with the changes made
/// through `/_sandbox/changes` laid over.
impl SandboxState {
    pub(crate) fn accounts(&self, index: u64) -> Vec<bank::Account> {
        self.bank
            .accounts(index)
            .into_iter()
            .map(|a| self.overlay.account(a))
            .collect()
    }

    pub(crate) fn account(&self, number: &str) -> Option<bank::Account> {
        self.bank.account(number).map(|a| self.overlay.account(a))
    }

    pub(crate) fn cards(&self, index: u64) -> Vec<bank::Card> {
        self.bank
            .cards(index)
            .into_iter()
            .map(|c| self.overlay.card(c))
            .collect()
    }

    pub(crate) fn card(&self, id: &str) -> Option<bank::Card> {
        self.bank.card(id).map(|c| self.overlay.card(c))
    }

    pub(crate) fn loans(&self, index: u64) -> Vec<bank::Loan> {
        self.bank
            .loans(index)
            .into_iter()
            .map(|l| self.overlay.loan(l))
            .collect()
    }

    pub(crate) fn loan_by_id(&self, id: &str) -> Option<bank::Loan> {
        self.bank.loan_by_id(id).map(|l| self.overlay.loan(l))
    }
}

pub(crate) type SharedState = Arc<SandboxState>;

/// A running sandbox's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    state: SharedState,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        if !(1..=MAX_CUSTOMERS).contains(&config.customers) {
            return Err(SandboxError::CustomerCount {
                given: config.customers,
            });
        }
        let as_of = config.as_of.unwrap_or_else(today_in_beijing);
        if !AS_OF_YEARS.contains(&as_of.year()) {
            return Err(SandboxError::AsOf { given: as_of });
        }
        Ok(Sandbox {
            state: Arc::new(SandboxState {
                bank: Bank::new(config.customers, config.seed, as_of),
                latency: config.latency,
                faults: faults::FaultBoard::default(),
                overlay: changes::Overlay::default(),
                publisher: std::sync::OnceLock::new(),
            }),
        })
    }

    /// All four systems under `/core`, `/cards`, `/loans`, `/channels`, plus the
    /// `/_sandbox` admin endpoints.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        Router::new()
            .nest("/core", faults::gated(core::routes(), System::Core, &state))
            .nest(
                "/cards",
                faults::gated(cards::routes(), System::Cards, &state),
            )
            .nest(
                "/loans",
                faults::gated(loans::routes(), System::Loans, &state),
            )
            .nest(
                "/channels",
                faults::gated(channels::routes(), System::Channels, &state),
            )
            .nest(
                "/_sandbox",
                faults::admin_routes().route("/changes", axum::routing::post(changes::post_change)),
            )
            .with_state(state)
    }

    /// Publishes each change made through `POST /_sandbox/changes` to the topic
    /// `exchange` of the AMQP broker at `url` (`amqp://user:password@host:5672/%2f`),
    /// in the dialect of the system that owns the record. Connects on the first
    /// change; set once.
    pub fn publish_to(&self, url: &str, exchange: &str) -> Result<(), SandboxError> {
        url.parse::<lapin::uri::AMQPUri>()
            .map_err(|problem| SandboxError::Broker { problem })?;
        if exchange.trim().is_empty() {
            return Err(SandboxError::Broker {
                problem: "the exchange name is empty".into(),
            });
        }
        self.state
            .publisher
            .set(changes::Publisher::new(
                url.to_owned(),
                exchange.trim().to_owned(),
            ))
            .map_err(|_| SandboxError::Broker {
                problem: "the sandbox already publishes to a broker".into(),
            })
    }

    /// The generator behind the systems.
    pub fn bank(&self) -> &Bank {
        &self.state.bank
    }
}

/// Serves `sandbox` on `listener` until `shutdown` completes, then drains in-flight
/// requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sandbox: Sandbox,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // As the hub's own listener, and as real gateways do (see `App::run`).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, sandbox.router())
        .with_graceful_shutdown(shutdown)
        .await
}

fn today_in_beijing() -> NaiveDate {
    let now = Utc::now();
    FixedOffset::east_opt(BEIJING_OFFSET_SECONDS).map_or_else(
        || now.date_naive(),
        |offset| now.with_timezone(&offset).date_naive(),
    )
}

/// A fresh id for `traceId` / `requestId` / `Id` fields: unique within the process,
/// different between processes.
pub(crate) fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}{n:08x}", start & 0xFFFF_FFFF)
}
