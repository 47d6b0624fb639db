//! PostgreSQL-only proofs: the timeline query uses its index at 1,000,000 rows
//! (EXPLAIN), and a PostgreSQL stopped mid-load loses no acknowledged write (a
//! server this test starts itself with initdb/pg_ctl on its own port, so other tests
//! keep theirs).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{interaction_input, TestApp};
use c360::config::DatabaseConfig;
use c360::domain::Cif;
use c360::metrics::Metrics;
use c360::store::{InteractionFilter, Store, TimelineCursor};
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(c360_postgres),
    ignore = "needs PostgreSQL: set C360_TEST_DATABASE_URL"
)]
async fn the_timeline_query_uses_its_index_at_a_million_rows() {
    let db = crate::common::TestDb::postgres().await;
    tokio::time::timeout(Duration::from_secs(120), async {
        let store = Store::connect(
            &DatabaseConfig {
                url: db.url.clone(),
                ..DatabaseConfig::default()
            },
            &Metrics::new(),
        )
        .await
        .expect("connect");
        store.migrate().await.expect("migrate");
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let started = Instant::now();
        // Bulk loading is faster into a table without secondary indexes, so the
        // migration's indexes are dropped and then rebuilt from their own definitions
        // (which keeps this test honest about the indexes the hub really has).
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'interactions' \
             AND indexname NOT IN ('interactions_pkey', 'interactions_idempotency_key_key')",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(indexes
            .iter()
            .any(|(name, _)| name == "interactions_timeline"));
        for (name, _) in &indexes {
            sqlx::query(&format!("DROP INDEX {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        sqlx::query("SET maintenance_work_mem = '256MB'")
            .execute(&mut conn)
            .await
            .unwrap();
        // 1,000,000 contacts over 10,000 customers, one a minute going back in time.
        sqlx::query(
            "INSERT INTO interactions (id, customer_id, channel, type, direction, occurred_at, \
             recorded_at, staff_id, branch_id, subject, updated_at) \
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, \
             (1000000001 + g % 10000)::text, 'BRANCH', 'SERVICE', 'INBOUND', \
             now() - g * interval '1 minute', now(), 'S' || g % 200, 'B' || g % 20, \
             'generated', now() FROM generate_series(1, 1000000) AS g",
        )
        .execute(&mut conn)
        .await
        .expect("generate rows");
        for (_, definition) in &indexes {
            sqlx::query(definition).execute(&mut conn).await.unwrap();
        }
        sqlx::query("ANALYZE interactions")
            .execute(&mut conn)
            .await
            .unwrap();
        eprintln!("1,000,000 rows generated in {:?}", started.elapsed());

        let filter = InteractionFilter {
            customer_id: Some(Cif::parse("1000000042").unwrap()),
            ..InteractionFilter::default()
        };
        let first_page = store.explain_interactions(&filter, None, 21).await.unwrap();
        let page = store.interactions(&filter, None, 20).await.unwrap();
        assert_eq!(page.len(), 20);
        let last = page.last().unwrap();
        let cursor = TimelineCursor {
            occurred_at: last.occurred_at,
            id: last.id,
        };
        let next_page = store
            .explain_interactions(&filter, Some(cursor), 21)
            .await
            .unwrap();
        for plan in [&first_page, &next_page] {
            eprintln!("{plan}");
            assert!(
                plan.contains("Index Scan Backward using interactions_timeline"),
                "the timeline is read from its index, newest first:\n{plan}"
            );
            assert!(!plan.contains("Seq Scan"), "{plan}");
            assert!(
                !plan.contains("Sort"),
                "no sort: the index gives the order\n{plan}"
            );
        }
        assert!(
            next_page.contains("Index Cond") && next_page.contains("ROW(occurred_at, id) <"),
            "the cursor is an index condition, not a filter:\n{next_page}"
        );
        let next = store.interactions(&filter, Some(cursor), 20).await.unwrap();
        assert!(next
            .iter()
            .all(|i| (i.occurred_at, i.id) < (cursor.occurred_at, cursor.id)));
    })
    .await
    .expect("finished in time");
}

/// A PostgreSQL server of this test's own, in a temporary folder.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    /// Fails the test when the PostgreSQL server binaries are not installed: it runs
    /// only where `C360_TEST_DATABASE_URL` says PostgreSQL is available.
    fn init() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists());
        let bin = bin.expect(
            "initdb and pg_ctl under /usr/lib/postgresql/*/bin: this test starts a \
             PostgreSQL server of its own",
        );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = OwnPostgres { bin, dir, port };
        if server.as_root() {
            // initdb refuses to run as root: the folder goes to the postgres user.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(server.dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the data folder to postgres");
        }
        let data = server.data();
        server.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "-N"],
        );
        server
    }

    fn as_root(&self) -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let output = if self.as_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        }
        .unwrap();
        assert!(
            output.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "30", "start",
            ],
        );
    }

    /// Stops the server the hard way: no checkpoint, recovery from the WAL on start.
    fn crash(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = Command::new(if self.as_root() { "runuser" } else { "true" })
            .args(if self.as_root() {
                vec!["-u", "postgres", "--"]
            } else {
                vec![]
            })
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(c360_postgres),
    ignore = "needs PostgreSQL: set C360_TEST_DATABASE_URL (and initdb/pg_ctl installed)"
)]
async fn a_database_stopped_mid_load_loses_no_acknowledged_write() {
    let server = OwnPostgres::init();
    server.start();
    tokio::time::timeout(Duration::from_secs(120), async {
        let app = TestApp::builder()
            .database_url(&server.url())
            .config(|config| {
                config.database.acquire_timeout = Duration::from_secs(1);
                config.database.max_connections = 5;
            })
            .spawn()
            .await;
        let app = Arc::new(app);
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let longest = Arc::new(Mutex::new(Duration::ZERO));
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let (app, stop, acknowledged, failures, longest) = (
                    app.clone(),
                    stop.clone(),
                    acknowledged.clone(),
                    failures.clone(),
                    longest.clone(),
                );
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let cif = format!("{}", 1_000_000_001 + (w * 100 + n) % 3000);
                        let key = format!("mid-load-{w}-{n}");
                        let sent = Instant::now();
                        let answer = app.log(interaction_input(&cif, &key), Some(&key)).await;
                        let took = sent.elapsed();
                        let mut longest = longest.lock().unwrap();
                        *longest = (*longest).max(took);
                        drop(longest);
                        match answer["data"]["logInteraction"]["id"].as_str() {
                            Some(id) => acknowledged
                                .lock()
                                .unwrap()
                                .push((id.to_owned(), Instant::now())),
                            None => failures.lock().unwrap().push(
                                answer["errors"][0]["extensions"]["code"]
                                    .as_str()
                                    .unwrap_or("NO CODE")
                                    .to_owned(),
                            ),
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = acknowledged.lock().unwrap().len();
        server.crash();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.start();
        let restarted = Instant::now();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.await.unwrap();
        }

        let acknowledged = acknowledged.lock().unwrap().clone();
        let failures = failures.lock().unwrap().clone();
        eprintln!(
            "{} writes acknowledged ({before} before the stop), {} refused",
            acknowledged.len(),
            failures.len()
        );
        assert!(before > 0, "writes went through before the stop");
        // A write in flight through the stop is refused, or (its customer lookup
        // waiting for the audit commit) held until the database is back.
        let longest = *longest.lock().unwrap();
        assert!(
            !failures.is_empty() || longest >= Duration::from_secs(1),
            "the stop was noticed: no write refused, the longest took {longest:?}"
        );
        assert!(
            failures.iter().all(|code| code == "STORE_UNAVAILABLE"),
            "every failure says what it is: {failures:?}"
        );
        assert!(
            acknowledged.iter().any(|(_, at)| *at > restarted),
            "the hub recovered without a restart"
        );

        let mut conn = sqlx::PgConnection::connect(&server.url()).await.unwrap();
        let stored: HashSet<String> =
            sqlx::query_scalar::<_, String>("SELECT id::text FROM interactions")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .into_iter()
                .collect();
        let lost: Vec<&String> = acknowledged
            .iter()
            .map(|(id, _)| id)
            .filter(|id| !stored.contains(*id))
            .collect();
        assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    })
    .await
    .expect("finished in time");
}
