//! Shared test harness: the sandbox and a hub on port 0, over real HTTP, each hub on
//! its own database (a temporary SQLite file, or a fresh PostgreSQL database when
//! `C360_TEST_DATABASE_URL` is set).

#![allow(dead_code)]

pub mod process;
pub mod redis_server;

use std::path::PathBuf;
use std::time::Duration;

use c360::config::Config;
use c360::sandbox::{LatencyProfile, SandboxConfig};
use chrono::NaiveDate;
use serde_json::{json, Value};
use sqlx::Connection as _;

/// Customers in the test bank: enough for paging and batching, quick to scan.
pub const CUSTOMERS: u64 = 3_000;

/// The access-audit chain key (`k1`) for hubs started in the production profile,
/// which refuses to start without one.
pub const AUDIT_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A pseudonym key (base64 of 32 bytes) for hubs started in the production profile,
/// which refuses to start without one.
pub const PSEUDONYM_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// The amount bands of the shipped `bi.amount_bands`, as a pseudonymous role sees them.
pub const BANDS: [&str; 7] = [
    "<0",
    "0-10k",
    "10k-50k",
    "50k-100k",
    "100k-500k",
    "500k-1m",
    "1m+",
];

pub struct TestApp {
    pub hub: String,
    pub sandbox: String,
    /// Sends an `admin` token with every request (masked views, every customer).
    pub client: reqwest::Client,
    /// Sends no credentials: for tests of authentication itself.
    pub bare: reqwest::Client,
    /// What SIGHUP runs, for tests of reloading.
    pub reloader: c360::Reloader,
    /// The hub's own temporary database folder, removed with the app.
    _data: Option<tempfile::TempDir>,
}

/// Longest any store test may run: a hung test fails instead of stalling CI.
pub const TEST_DEADLINE: Duration = Duration::from_secs(180);

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and the database to drop afterwards.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A SQLite file in a fresh temporary folder.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary folder");
        TestDb {
            url: format!("sqlite://{}/c360.db", dir.path().display()),
            backend: "sqlite",
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh database `c360_test_<random>` on the server `C360_TEST_DATABASE_URL`
    /// names. Only tests built with `cfg(c360_postgres)` run this (see `build.rs`), so
    /// a server that is missing or unreachable fails the test.
    pub async fn postgres() -> TestDb {
        let server = std::env::var("C360_TEST_DATABASE_URL")
            .expect("C360_TEST_DATABASE_URL names the PostgreSQL server for this test");
        let name = format!("c360_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at C360_TEST_DATABASE_URL is unreachable: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let mut url = url::Url::parse(&server).expect("a database URL");
        url.set_path(&name);
        TestDb {
            url: url.to_string(),
            backend: "postgres",
            _dir: None,
            postgres: Some((server, name)),
        }
    }
}

impl TestDb {
    /// PostgreSQL: the server URL (to administer from) and this test's database name.
    pub fn postgres_parts(&self) -> Option<(&str, &str)> {
        self.postgres
            .as_ref()
            .map(|(server, name)| (server.as_str(), name.as_str()))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime, which cannot block on itself.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The URL of the Redis server `C360_TEST_REDIS_URL` names. Only tests built with
/// `cfg(c360_redis)` run this (see `build.rs`); each uses a key prefix of its own.
pub fn redis_url() -> String {
    std::env::var("C360_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("C360_TEST_REDIS_URL names the Redis server for this test")
}

/// The RabbitMQ broker `C360_TEST_AMQP_URL` names. Only tests built with
/// `cfg(c360_amqp)` run this (see `build.rs`); each uses queues and exchanges of its
/// own.
pub fn amqp_url() -> String {
    std::env::var("C360_TEST_AMQP_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("C360_TEST_AMQP_URL names the RabbitMQ broker for this test")
}

/// Declares each scenario `async fn name(db: TestDb)` as two tests, `sqlite::name`
/// and `postgres::name`, each bounded by [`TEST_DEADLINE`]. The PostgreSQL one is
/// ignored unless the tests were built with `C360_TEST_DATABASE_URL` set.
///
/// A scenario that needs another service names its cfg and the reason to give when
/// it is missing: `name if c360_redis "needs Redis: set C360_TEST_REDIS_URL"`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident $(if $needs:ident $why:literal)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[cfg_attr(not($needs), ignore = $why)])?
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite();
                    tokio::time::timeout($crate::common::TEST_DEADLINE, super::$name(db))
                        .await
                        .expect("the test finished in time");
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(c360_postgres),
                    ignore = "needs PostgreSQL: set C360_TEST_DATABASE_URL"
                )]
                $(#[cfg_attr(all(c360_postgres, not($needs)), ignore = $why)])?
                async fn $name() {
                    let db = $crate::common::TestDb::postgres().await;
                    tokio::time::timeout($crate::common::TEST_DEADLINE, super::$name(db))
                        .await
                        .expect("the test finished in time");
                }
            )*
        }
    };
}

/// Turns a test hub's configuration into a production one that trusts the test RSA
/// key (tests/fixtures/auth) and holds the secrets production requires.
pub fn production(config: &mut Config) {
    config.profile = c360::config::Profile::Production;
    config.auth.public_key_file =
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth/rsa_public.pem"));
    config.auth.dev_secret = None;
    config
        .access
        .audit_chain_keys
        .0
        .insert("k1".into(), AUDIT_KEY.into());
    config.bi.pseudonym_key = Some(PSEUDONYM_KEY.into());
}

pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        customers: CUSTOMERS,
        seed: 42,
        latency: LatencyProfile::None,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 27),
    }
}

/// A change to a hub's configuration, which may borrow from the test.
type Tweak<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

/// How a test wants its hub: by default a fresh sandbox, a temporary SQLite file of
/// its own and the test configuration (port 0, the shipped `connectors/`, rate limits
/// off); each method changes one of those.
#[must_use = "a builder starts nothing until `spawn`"]
pub struct TestAppBuilder<'a> {
    tweaks: Vec<Tweak<'a>>,
    database: Option<String>,
    sandbox: Option<String>,
    /// The broker URL and exchange the fresh sandbox publishes its changes to.
    broker: Option<(String, String)>,
    /// What recomputes snapshot rows when changes arrive.
    snapshot_refresh: Option<std::sync::Arc<dyn c360::feed::SnapshotRefresh>>,
}

impl TestApp {
    /// `TestApp::builder().spawn().await` is a hub on the shipped connectors against
    /// a fresh sandbox.
    pub fn builder<'a>() -> TestAppBuilder<'a> {
        TestAppBuilder {
            tweaks: Vec::new(),
            database: None,
            sandbox: None,
            broker: None,
            snapshot_refresh: None,
        }
    }
}

impl<'a> TestAppBuilder<'a> {
    /// Changes the configuration: applied over the test defaults (and the
    /// database and sandbox URLs), in the order given.
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Runs on `db`, which the test keeps (to read its rows, or to take it away).
    pub fn database(self, db: &TestDb) -> Self {
        self.database_url(&db.url)
    }

    /// Runs on the database at `url` (SQLite or PostgreSQL).
    pub fn database_url(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self
    }

    /// Reads from an existing sandbox instead of a fresh one: another instance of a
    /// deployment, next to the hub that started `sandbox`.
    pub fn sandbox(mut self, sandbox: &str) -> Self {
        self.sandbox = Some(sandbox.to_owned());
        self
    }

    /// The fresh sandbox publishes each change made through `/_sandbox/changes` to
    /// `exchange` on the broker at `url`.
    pub fn broker(mut self, url: &str, exchange: &str) -> Self {
        self.broker = Some((url.to_owned(), exchange.to_owned()));
        self
    }

    /// Plugs `refresh` in as the snapshot's refresher of change events.
    pub fn snapshot_refresh(
        mut self,
        refresh: std::sync::Arc<dyn c360::feed::SnapshotRefresh>,
    ) -> Self {
        self.snapshot_refresh = Some(refresh);
        self
    }

    /// Starts the hub; it runs until the test's runtime ends.
    pub async fn spawn(self) -> TestApp {
        let (app, run) = self.start().await;
        tokio::spawn(run.run(std::future::pending()));
        app
    }

    /// Starts a hub that stops when the returned sender fires (or is dropped); the
    /// handle completes when it has finished in-flight requests and flushed its audit.
    pub async fn spawn_stoppable(
        self,
    ) -> (
        TestApp,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let (app, run) = self.start().await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(run.run(async move {
            let _ = stopped.await;
        }));
        (app, stop, running)
    }

    async fn start(self) -> (TestApp, c360::App) {
        let data = match self.database {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("a temporary folder")),
        };
        // The test hub signs and verifies development tokens: the demo profile, as
        // `c360 demo` runs (tests of the production profile set it in a tweak).
        let mut config = Config {
            profile: c360::config::Profile::Demo,
            ..Config::default()
        };
        config.server.port = 0;
        config.connectors.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("connectors");
        config.database.url = match (&self.database, &data) {
            (Some(url), _) => url.clone(),
            (None, Some(dir)) => format!("sqlite://{}/c360.db", dir.path().display()),
            (None, None) => unreachable!("a database URL or a folder for one"),
        };
        // Tests drive load from one admin token; the rate-limit tests turn limits on.
        config.access.subject_rate = 0;
        config.access.client_rate = 0;
        if let Some(sandbox) = &self.sandbox {
            for system in c360::domain::System::ALL {
                config.connectors.override_mut(system).base_url =
                    Some(format!("{sandbox}/{system}/v1"));
            }
        }
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        let (app, sandbox) = match self.sandbox {
            Some(sandbox) => (c360::App::build(config).await.expect("hub starts"), sandbox),
            None => {
                let bank = c360::sandbox::Sandbox::new(sandbox_config()).expect("a sandbox");
                if let Some((url, exchange)) = &self.broker {
                    bank.publish_to(url, exchange).expect("a broker URL");
                }
                let demo = c360::demo::start_with(config, bank, 0)
                    .await
                    .expect("sandbox and hub start");
                let sandbox = format!("http://{}", demo.sandbox_addr);
                (demo.app, sandbox)
            }
        };
        if let Some(refresh) = self.snapshot_refresh {
            app.changes().set_snapshot_refresh(refresh);
        }
        let test_app = TestApp {
            hub: format!("http://{}", app.local_addr()),
            sandbox,
            client: client_with(&admin_token()),
            bare: reqwest::Client::new(),
            reloader: app.reloader(),
            _data: data,
        };
        (test_app, app)
    }
}

/// Rows in `table` of the database at `db`, read directly (not through the hub).
pub async fn count_rows(db: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    if db.backend == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
    }
}

/// A development token, as `c360 token` mints them.
pub fn token_for(
    role: &str,
    staff: Option<&str>,
    branch: Option<&str>,
    cif: Option<&str>,
) -> String {
    token_for_ttl(role, staff, branch, cif, Duration::from_secs(3600))
}

/// [`token_for`], valid for `ttl` only (`c360 token --ttl`).
pub fn token_for_ttl(
    role: &str,
    staff: Option<&str>,
    branch: Option<&str>,
    cif: Option<&str>,
    ttl: Duration,
) -> String {
    let config = Config::default();
    let identity = c360::auth::Identity {
        subject: staff.or(cif).unwrap_or(role).to_owned(),
        role: role.to_owned(),
        staff_id: staff.map(str::to_owned),
        branch: branch.map(str::to_owned),
        customer: cif.map(|c| c360::domain::Cif::parse(c).expect("a CIF")),
        client: Some("c360-tests".into()),
    };
    c360::auth::mint_dev_token(
        &c360::auth::dev_secret(&config.auth).expect("the demo profile has a development key"),
        &config.auth.issuer,
        &config.auth.audience,
        &identity,
        ttl,
    )
}

/// The role most tests run as: every customer, personal data masked. It has no staff
/// number, so it records no contacts: [`TestApp::log`] logs as the input's staff.
pub fn admin_token() -> String {
    token_for("admin", None, Some("B001"), None)
}

/// An HTTP client that sends `token` with every request.
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// The value of the `/metrics` sample line that starts with `series`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

impl TestApp {
    /// The hub's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.hub))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// POSTs a query with `token` (and extra headers); returns status and answer.
    pub async fn graphql_as(
        &self,
        token: &str,
        query: &str,
        variables: Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self
            .bare
            .post(format!("{}/graphql", self.hub))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("hub answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// POSTs a query as `application/json` and returns the JSON answer.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.hub))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("hub answers");
        assert_eq!(response.status(), 200, "status for {query}");
        response.json().await.expect("JSON answer")
    }

    /// The same as [`TestApp::graphql`] against another hub.
    pub async fn graphql_at(&self, hub: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{hub}/graphql"))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("hub answers");
        assert_eq!(response.status(), 200, "status for {query}");
        response.json().await.expect("JSON answer")
    }

    pub async fn clear_faults(&self) {
        self.client
            .delete(format!("{}/_sandbox/faults", self.sandbox))
            .send()
            .await
            .unwrap();
    }

    /// Total upstream requests since the last reset.
    pub async fn total_requests(&self) -> u64 {
        let stats = self.stats().await;
        ["core", "cards", "loans", "channels"]
            .iter()
            .map(|s| requests(&stats, s))
            .sum()
    }

    /// The WebSocket endpoint of the hub.
    pub fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.hub.replacen("http://", "ws://", 1))
    }

    pub async fn set_fault(&self, fault: Value) {
        let response = self
            .client
            .post(format!("{}/_sandbox/faults", self.sandbox))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "fault accepted: {}",
            response.text().await.unwrap()
        );
    }

    pub async fn reset_stats(&self) {
        self.client
            .delete(format!("{}/_sandbox/stats", self.sandbox))
            .send()
            .await
            .unwrap();
    }

    /// Requests each system received since the last reset.
    pub async fn stats(&self) -> Value {
        self.client
            .get(format!("{}/_sandbox/stats", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A raw upstream record, straight from the sandbox (unmasked), for assertions.
    pub async fn core_customer(&self, cif: &str) -> Value {
        let answer: Value = self
            .client
            .get(format!("{}/core/v1/customers/{cif}", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["body"].clone()
    }
}

/// The error entries whose `extensions.code` is `code`.
pub fn errors_with_code<'a>(answer: &'a Value, code: &str) -> Vec<&'a Value> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter(|e| e["extensions"]["code"] == code)
                .collect()
        })
        .unwrap_or_default()
}

/// The sandbox saw one call per system and entity: customers and accounts from core,
/// cards, loans and online users from the others.
pub fn assert_one_call_per_system_and_entity(stats: &Value) {
    assert_eq!(requests(stats, "core"), 2, "customers + accounts: {stats}");
    assert_eq!(requests(stats, "cards"), 1, "{stats}");
    assert_eq!(requests(stats, "loans"), 1, "{stats}");
    assert_eq!(requests(stats, "channels"), 1, "{stats}");
}

pub fn requests(stats: &Value, system: &str) -> u64 {
    stats[system]["requests"].as_u64().unwrap_or(0)
}

pub const PROFILE_360: &str = r#"query Profile($id: ID!) {
  customer(id: $id) {
    id kind name mobile idDocument { type number } branch status
    accounts { number type balance { amount currency }
      transactions(first: 5) { edges { cursor node { id amount { amount currency } direction postedAt } } pageInfo { hasNextPage endCursor } } }
    cards { number kind creditLimit { amount } outstanding { amount } }
    loans { id product outstanding { amount } overdueDays classification }
    onlineBanking { userId lastLoginAt preferredChannel }
    sources { system fetchedAt fromCache stale error }
  }
}"#;

/// `logInteraction` returning the fields tests look at.
pub const LOG_INTERACTION: &str = r#"mutation Log($input: LogInteractionInput!, $key: String) {
  logInteraction(input: $input, idempotencyKey: $key) {
    id customerId channel type direction occurredAt recordedAt staffId branchId subject
    notes outcome satisfaction followUpAt products revision
  }
}"#;

/// A valid `LogInteractionInput` for `cif`; tests override fields as needed.
pub fn interaction_input(cif: &str, subject: &str) -> Value {
    json!({
        "customerId": cif,
        "channel": "BRANCH",
        "type": "SERVICE",
        "direction": "INBOUND",
        "staffId": "S0001",
        "branchId": "B001",
        "subject": subject,
        "outcome": "RESOLVED",
        "satisfaction": 4,
    })
}

/// `input` with `changes` merged over it.
pub fn with(mut input: Value, changes: Value) -> Value {
    if let (Some(base), Some(changes)) = (input.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            base.insert(k.clone(), v.clone());
        }
    }
    input
}

/// The token of the staff member a contact's input names (`staffId` at `branchId`):
/// writes are recorded as the token says, so a test logs as the colleague it means.
/// An admin (every customer in scope); without `staffId`, a token without one.
pub fn staff_token_for(input: &Value) -> String {
    token_for(
        "admin",
        input["staffId"].as_str(),
        input["branchId"].as_str(),
        None,
    )
}

impl TestApp {
    /// Logs an interaction as the staff member its input names; returns the whole
    /// answer.
    pub async fn log(&self, input: Value, key: Option<&str>) -> Value {
        let token = staff_token_for(&input);
        let (status, answer) = self
            .graphql_as(
                &token,
                LOG_INTERACTION,
                json!({"input": input, "key": key}),
                &[],
            )
            .await;
        assert_eq!(status, 200, "logInteraction status: {answer}");
        answer
    }

    /// Logs an interaction that must succeed; returns it.
    pub async fn log_ok(&self, input: Value, key: Option<&str>) -> Value {
        let answer = self.log(input, key).await;
        assert!(
            answer.get("errors").is_none(),
            "logInteraction failed: {answer}"
        );
        answer["data"]["logInteraction"].clone()
    }
}

/// A WebSocket connection to a hub.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a `graphql-transport-ws` connection to `ws_url` as an admin and starts `query`.
pub async fn ws_subscribe(ws_url: &str, query: &str, variables: Value) -> Socket {
    ws_subscribe_as(ws_url, &admin_token(), query, variables).await
}

/// Opens a `graphql-transport-ws` connection with `token` in `connection_init` and
/// starts `query`.
pub async fn ws_subscribe_as(ws_url: &str, token: &str, query: &str, variables: Value) -> Socket {
    let mut socket = ws_connect(ws_url, token).await;
    ws_send(
        &mut socket,
        json!({"type": "subscribe", "id": "1", "payload": {"query": query, "variables": variables}}),
    )
    .await;
    // The subscribe message has no acknowledgement in this protocol; give the hub a
    // moment to register the stream before anything happens.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    socket
}

/// Opens a `graphql-transport-ws` connection to `ws_url` with `token` in
/// `connection_init`, and waits for the hub's `connection_ack`.
pub async fn ws_connect(ws_url: &str, token: &str) -> Socket {
    let payload = json!({"Authorization": format!("Bearer {token}")});
    let (socket, first) = ws_open(ws_url, payload).await;
    assert_eq!(
        first.map(|m| m["type"].clone()),
        Some(json!("connection_ack"))
    );
    socket
}

/// Opens a `graphql-transport-ws` connection to `ws_url`, sends `connection_init`
/// with `payload`, and returns the hub's first message (none when it closed).
pub async fn ws_open(ws_url: &str, payload: Value) -> (Socket, Option<Value>) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket upgrade");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    ws_send(
        &mut socket,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    let first = ws_next(&mut socket, std::time::Duration::from_secs(5)).await;
    (socket, first)
}

/// How a WebSocket operation ended: its first answer, or the hub closing the socket.
#[derive(Debug)]
pub enum WsOutcome {
    /// The payload of the first `next` message: `{"data": …, "errors": […]}`.
    Answer(Value),
    /// The close frame's code and reason (1006 and "" when the socket just ended).
    Closed(u16, String),
}

/// Sends one operation (a `subscribe` payload: `query`, `variables`, `operationName`,
/// `extensions`) on `socket` under `id` and waits up to `wait` for how it ends.
pub async fn ws_operation(
    socket: &mut Socket,
    id: &str,
    payload: Value,
    wait: std::time::Duration,
) -> WsOutcome {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let message = json!({"type": "subscribe", "id": id, "payload": payload}).to_string();
    if socket.send(Message::Text(message.into())).await.is_err() {
        return WsOutcome::Closed(1006, String::new());
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("no answer to operation {id} within {wait:?}"),
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                match value["type"].as_str() {
                    Some("ping") => ws_send(socket, json!({"type": "pong"})).await,
                    Some("next") if value["id"] == id => {
                        return WsOutcome::Answer(value["payload"].clone())
                    }
                    _ => {}
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return match frame {
                    Some(frame) => WsOutcome::Closed(frame.code.into(), frame.reason.to_string()),
                    None => WsOutcome::Closed(1005, String::new()),
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return WsOutcome::Closed(1006, String::new()),
        }
    }
}

/// Runs one query or mutation over WebSocket with `token` and returns its answer
/// (`{"data": …, "errors": […]}`), as [`TestApp::graphql_as`] does over HTTP.
pub async fn ws_execute(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let mut socket = ws_connect(&app.ws_url(), token).await;
    match ws_operation(
        &mut socket,
        "1",
        json!({"query": query, "variables": variables}),
        std::time::Duration::from_secs(30),
    )
    .await
    {
        WsOutcome::Answer(answer) => answer,
        WsOutcome::Closed(code, reason) => panic!("the hub closed the socket: {code} {reason}"),
    }
}

pub async fn ws_send(socket: &mut Socket, message: Value) {
    use futures::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            message.to_string().into(),
        ))
        .await
        .expect("send");
}

/// The next protocol message (pings answered and skipped), or `None` after `wait`.
pub async fn ws_next(socket: &mut Socket, wait: std::time::Duration) -> Option<Value> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                if value["type"] == "ping" {
                    ws_send(socket, json!({"type": "pong"})).await;
                    continue;
                }
                return Some(value);
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// A database made unavailable by the test: SQLite's write lock held, or a
/// PostgreSQL database refusing connections.
pub enum Outage {
    /// A connection holding SQLite's write lock.
    Sqlite(sqlx::SqliteConnection),
    /// An admin connection and the database refused.
    Postgres(sqlx::PgConnection, String),
}

impl Outage {
    pub async fn start(db: &TestDb) -> Outage {
        match db.postgres_parts() {
            None => {
                let mut lock = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query("BEGIN EXCLUSIVE")
                    .execute(&mut lock)
                    .await
                    .unwrap();
                Outage::Sqlite(lock)
            }
            Some((server, name)) => {
                let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(name)
                .execute(&mut admin)
                .await
                .unwrap();
                Outage::Postgres(admin, name.to_owned())
            }
        }
    }

    pub async fn end(self) {
        match self {
            Outage::Sqlite(mut lock) => {
                sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
            }
            Outage::Postgres(mut admin, name) => {
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
        }
    }
}

/// A change event for `POST /events` as a sender writes it: `body` with an id of its
/// own and the time it was written.
pub fn stamped(mut body: Value) -> Value {
    body["id"] = json!(uuid::Uuid::now_v7().to_string());
    body["timestamp"] = json!(chrono::Utc::now().to_rfc3339());
    body
}

/// The shipped `config/policies.toml` with capabilities added: `(role, capability)`
/// pairs, for tests of capabilities no role has by default. Returns the folder that
/// holds the file (keep it while the hub runs) and the file's path.
pub fn policies_granting(grants: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/policies.toml");
    let text = std::fs::read_to_string(shipped).expect("the shipped policies");
    let mut role: Option<String> = None;
    let mut out = String::new();
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("[roles.")
            .and_then(|l| l.strip_suffix(']'))
        {
            role = Some(name.to_owned());
        }
        let extra: Vec<String> = grants
            .iter()
            .filter(|(r, _)| role.as_deref() == Some(*r))
            .map(|(_, c)| format!("\"{c}\""))
            .collect();
        match line.strip_prefix("capabilities = [") {
            Some(rest) if !extra.is_empty() => {
                let mut all: Vec<String> = rest
                    .trim_end_matches(']')
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect();
                all.extend(extra);
                out.push_str(&format!("capabilities = [{}]\n", all.join(", ")));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("policies.toml");
    std::fs::write(&path, out).expect("policies written");
    (dir, path)
}

/// A sweep's progress, not shown.
pub struct Quiet;

impl c360::snapshot::Progress for Quiet {
    fn start(&self, _total: Option<u64>, _done_before: u64) {}
    fn advance(&self, _written: u64, _failed: u64) {}
    fn finish(&self, _report: &c360::snapshot::SweepReport) {}
}

/// Runs a sweep of the sandbox's book into the test's database, as
/// `c360 snapshot build` would with `settings`.
pub async fn sweep(
    db: &TestDb,
    sandbox: &str,
    settings: c360::snapshot::SweepSettings,
) -> c360::snapshot::SweepReport {
    let builder = c360::snapshot_builder(&snapshot_config(db, sandbox))
        .await
        .expect("the snapshot's builder starts");
    c360::snapshot::sweep(&builder, &settings, &Quiet, std::future::pending())
        .await
        .expect("the sweep runs")
        .expect("no other sweep holds the lease")
}

/// What `c360 snapshot build` and `c360 export` read: the test's database and sandbox.
pub fn snapshot_config(db: &TestDb, sandbox: &str) -> Config {
    let mut config = Config {
        profile: c360::config::Profile::Demo,
        ..Config::default()
    };
    config.connectors.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("connectors");
    config.database.url = db.url.clone();
    for system in c360::domain::System::ALL {
        config.connectors.override_mut(system).base_url = Some(format!("{sandbox}/{system}/v1"));
    }
    config
}
