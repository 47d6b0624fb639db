//! The hub's own commands (`serve`, `migrate`, `check`, `token`, `schema`, `audit`,
//! `snapshot`, `export`), called by
//! `main.rs` once it has parsed the command line and loaded the configuration.

use crate::config::Config;

/// `c360 serve`: the hub only, until a shutdown signal.
pub async fn serve(mut config: Config, port: Option<u16>) -> anyhow::Result<()> {
    if let Some(port) = port {
        config.server.port = port;
    }
    let app = crate::App::build(config).await?;
    println!("c360 hub: http://{}/graphql", app.local_addr());
    app.run(crate::shutdown_signal()).await?;
    Ok(())
}

/// `c360 migrate`: applies the migrations that have not run yet.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    // Nothing serves `/metrics` here: the store counts into a registry of its own.
    let metrics = crate::metrics::Metrics::new();
    let store = crate::store::Store::connect(&config.database, &metrics).await?;
    let applied = store.migrate().await?;
    println!(
        "database ({}) is up to date: {applied} migration(s) applied",
        store.backend().as_str()
    );
    Ok(())
}

/// `c360 check`: prints the effective profile and every relaxed setting, then
/// validates the configuration, connector specs, keys, policies and allowlist. In the
/// production profile, a relaxed setting production refuses fails the check, as it
/// would fail `c360 serve`.
pub async fn check(config: &Config) -> anyhow::Result<()> {
    println!("profile: {}", config.profile);
    let relaxed = config.relaxed();
    if relaxed.is_empty() {
        println!("relaxed settings: none");
    } else {
        println!("relaxed settings:");
        for setting in &relaxed {
            let verdict = if setting.refused_in_production {
                "refused in production"
            } else {
                "allowed in production"
            };
            println!("  - {setting} [{verdict}]");
        }
    }
    crate::check(config).await?;
    println!("configuration, connector specs, keys, policies and allowlist are valid");
    Ok(())
}

/// `c360 token`: prints a development token (demo profile only).
#[cfg(feature = "demo")]
pub fn token(config: &Config, request: &crate::auth::DevTokenRequest) -> anyhow::Result<()> {
    println!("{}", crate::auth::dev_token(config, request)?);
    Ok(())
}

/// `c360 audit verify`: walks the access audit's chain; every break is printed, by
/// position, and makes the command fail, so that a scheduled check alerts.
pub async fn audit_verify(
    config: &Config,
    from: Option<crate::store::ChainBound>,
    to: Option<crate::store::ChainBound>,
) -> anyhow::Result<()> {
    let keys = crate::store::ChainKeys::from_config(&config.access, config.profile)?;
    let metrics = crate::metrics::Metrics::new();
    let store = crate::store::Store::connect(&config.database, &metrics).await?;
    let report = store.verify_access_chain(&keys, from, to).await?;
    let range = match (report.first, report.last) {
        (Some(first), Some(last)) => format!("positions {first}-{last}"),
        _ => "no positions".to_owned(),
    };
    let ids: Vec<&str> = report.key_ids.iter().map(String::as_str).collect();
    let ids = if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(", ")
    };
    for problem in &report.breaks {
        println!("{problem}");
    }
    if report.breaks.is_empty() {
        println!(
            "access audit intact: {} rows checked, {range}, key ids: {ids}",
            report.rows
        );
        Ok(())
    } else {
        anyhow::bail!(
            "access audit chain broken: {} problem(s) in {} rows checked ({range}, key ids: {ids})",
            report.breaks.len(),
            report.rows
        )
    }
}

/// Where `c360 snapshot build` shows how far it is: a bar with rate and ETA on a
/// terminal, a plain line every few seconds otherwise (a scheduler's log).
struct SweepProgress {
    bar: Option<indicatif::ProgressBar>,
    started: std::time::Instant,
    state: std::sync::Mutex<LineState>,
}

struct LineState {
    total: Option<u64>,
    done: u64,
    failed: u64,
    last_line: std::time::Instant,
}

/// How often the plain progress line is printed.
const PROGRESS_LINE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl SweepProgress {
    fn new() -> SweepProgress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} customers  {per_sec}  ETA {eta}  {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        SweepProgress {
            bar,
            started: std::time::Instant::now(),
            state: std::sync::Mutex::new(LineState {
                total: None,
                done: 0,
                failed: 0,
                last_line: std::time::Instant::now(),
            }),
        }
    }
}

impl crate::snapshot::Progress for SweepProgress {
    fn start(&self, total: Option<u64>, done_before: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.total = total.map(|t| t.saturating_sub(done_before));
        if let Some(bar) = &self.bar {
            bar.set_length(state.total.unwrap_or(0));
        }
        if done_before > 0 {
            eprintln!("snapshot: resuming a sweep that had written {done_before} rows");
        }
    }

    fn advance(&self, written: u64, failed: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.done += written + failed;
        state.failed += failed;
        if let Some(bar) = &self.bar {
            bar.inc(written + failed);
            if state.failed > 0 {
                bar.set_message(format!("{} in failed batches", state.failed));
            }
            return;
        }
        if state.last_line.elapsed() >= PROGRESS_LINE_EVERY {
            state.last_line = std::time::Instant::now();
            let seconds = self.started.elapsed().as_secs_f64().max(0.001);
            let rate = state.done as f64 / seconds;
            let eta = match state.total {
                Some(total) if rate > 0.0 => {
                    let left = total.saturating_sub(state.done) as f64 / rate;
                    humantime::format_duration(std::time::Duration::from_secs(left as u64))
                        .to_string()
                }
                _ => "unknown".to_owned(),
            };
            eprintln!(
                "snapshot: {} customers done ({} in failed batches), {rate:.0}/s, ETA {eta}",
                state.done, state.failed
            );
        }
    }

    fn finish(&self, _report: &crate::snapshot::SweepReport) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `c360 snapshot build`: runs or resumes the sweep until the book ends or a
/// shutdown signal (the sweep then resumes from its checkpoint next time).
pub async fn snapshot_build(
    config: &Config,
    settings: crate::snapshot::SweepSettings,
) -> anyhow::Result<()> {
    let builder = crate::snapshot_builder(config).await?;
    let progress = SweepProgress::new();
    let report =
        crate::snapshot::sweep(&builder, &settings, &progress, crate::shutdown_signal()).await?;
    let Some(report) = report else {
        anyhow::bail!(
            "another sweep holds the snapshot's lease (a hub's schedule or another command); \
             see `c360 snapshot status`"
        );
    };
    let rate = report.written as f64 / report.elapsed.as_secs_f64().max(0.001);
    let from = match &report.resumed_from {
        Some(_) => "resumed from its checkpoint",
        None => "from the start",
    };
    println!(
        "snapshot sweep {} ({from}): {} rows written in {:.1}s ({rate:.0}/s), {} recovered from earlier failures, {}",
        report.run,
        report.written,
        report.elapsed.as_secs_f64(),
        report.recovered,
        if report.complete { "the whole book is done" } else { "stopped before the end of the book; run it again to resume" },
    );
    if report.failed > 0 {
        anyhow::bail!(
            "{} customers are in batches that failed after their retries; they are recorded \
             and the next sweep tries them first (`c360 snapshot status` lists them)",
            report.failed
        );
    }
    Ok(())
}

/// `c360 snapshot status`: what the snapshot holds and what failed.
pub async fn snapshot_status(config: &Config) -> anyhow::Result<()> {
    let metrics = crate::metrics::Metrics::new();
    let store = crate::store::Store::connect(&config.database, &metrics).await?;
    store.migrate().await?;
    let status = store.snapshot_status().await?;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "-".to_owned())
    };
    println!(
        "rows: {} (oldest computed {}, newest {})",
        status.rows,
        time(status.oldest),
        time(status.newest)
    );
    match &status.latest_run {
        Some(run) => println!(
            "latest sweep: {} started {}, {}, {} rows written, {} in failed batches",
            run.id,
            time(Some(run.started_at)),
            match run.finished_at {
                Some(at) => format!("finished {}", time(Some(at))),
                None => "not finished (resumes from its checkpoint)".to_owned(),
            },
            run.done,
            run.failed
        ),
        None => println!("latest sweep: none"),
    }
    match &status.last_complete {
        Some(run) => println!(
            "last complete sweep: {} finished {}",
            run.id,
            time(run.finished_at)
        ),
        None => println!("last complete sweep: none"),
    }
    println!("failed batches waiting: {}", status.open_failures.len());
    for failure in &status.open_failures {
        println!(
            "  sweep {} at {}: {} customers from {}: {}",
            failure.run_id,
            time(Some(failure.failed_at)),
            failure.cifs.len(),
            failure.cifs.first().map(String::as_str).unwrap_or("-"),
            failure.error
        );
    }
    Ok(())
}

/// What `c360 export` was asked for.
pub struct ExportRequest {
    pub format: String,
    /// `name=value` conditions.
    pub filter: Vec<String>,
    pub role: String,
    pub branch: Option<String>,
    pub staff: Option<String>,
    pub out: std::path::PathBuf,
}

/// Where `c360 export` shows how far it is: a bar on a terminal, a plain line every
/// few seconds otherwise.
struct ExportProgress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    last_line: std::sync::Mutex<std::time::Instant>,
}

impl ExportProgress {
    fn new(total: u64) -> ExportProgress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} rows  {per_sec}  ETA {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        ExportProgress {
            bar,
            total,
            last_line: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    fn written(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows);
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= PROGRESS_LINE_EVERY || rows == self.total {
            *last = std::time::Instant::now();
            eprintln!("export: {rows}/{} rows written", self.total);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `c360 export`: the snapshot as `--role` may see it, written to `--out`, and one
/// access-audit row for the whole export (committed before the first row is
/// written), naming the operator (`$USER`) as the actor.
pub async fn export(config: &Config, request: &ExportRequest) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let format = crate::export::Format::parse(&request.format)?;
    let mut pairs = Vec::new();
    for condition in &request.filter {
        let (name, value) = condition.split_once('=').with_context(|| {
            format!("--filter '{condition}': write name=value (e.g. branch=0101,tier=GOLD)")
        })?;
        pairs.push((name.trim(), value.trim()));
    }
    let filter = crate::export::parse_filter(pairs)?;
    let mut policies = crate::auth::Policies::load(&config.access.policies)?;
    policies.check_against(&crate::graphql::schema_fields(&crate::graphql::bare_schema()).await)?;
    let policy = policies.role(&request.role).cloned().with_context(|| {
        format!(
            "--role '{}' is not defined in {}; roles: {}",
            request.role,
            config.access.policies.display(),
            policies.role_names().join(", ")
        )
    })?;
    let deidentify = std::sync::Arc::new(crate::auth::Deidentify::from_config(
        &config.bi,
        config.profile,
    )?);
    let keys = crate::store::ChainKeys::from_config(&config.access, config.profile)?;
    let operator = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
    let identity = crate::auth::Identity {
        subject: format!("cli:{operator}"),
        role: request.role.clone(),
        staff_id: request.staff.clone(),
        branch: request.branch.clone(),
        customer: None,
        client: Some("c360 export".to_owned()),
    };
    let viewer = crate::auth::Viewer::new(identity, policy, None, None).with_deidentify(deidentify);
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
    let store = crate::store::Store::connect(&config.database, &metrics).await?;
    store.migrate().await?;
    let export = crate::export::Export::prepare(&store, &viewer, format, filter).await?;
    if let Some(record) = export.audit_record(&viewer, &uuid::Uuid::now_v7().simple().to_string()) {
        let audit = crate::auth::AuditWriter::start(
            store.clone(),
            std::sync::Arc::new(keys),
            crate::auth::AuditSettings::default(),
            metrics.clone(),
        );
        audit
            .record(vec![record])
            .await
            .context("the access audit could not record the export, so nothing was written")?;
        audit.close().await;
    }
    let progress = ExportProgress::new(export.rows);
    let files = export
        .write_to(&store, &request.out, &|rows| progress.written(rows))
        .await?;
    progress.finish();
    println!(
        "exported {} rows as {} ({}) to {} file(s) under {}",
        export.rows,
        format.extension(),
        if viewer.pseudonymous() {
            "pseudonyms and amount bands"
        } else {
            "identified"
        },
        files.len(),
        request.out.display()
    );
    Ok(())
}
