//! The servers under test, each in a process of its own started from this binary, so
//! that the load generator and the servers do not share a runtime or an allocator, and
//! the hub's peak memory can be read from the operating system: the hub with its
//! sandbox (`c360 demo`), or the hub (`c360 serve`) and the sandbox (`c360 sandbox`)
//! apart, and the bare reference server (`c360 bench-reference`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Mode;

/// The upstream systems, by the names their connectors and sandbox prefixes use.
const SYSTEMS: [&str; 4] = ["core", "cards", "loans", "channels"];

/// What the hub process takes over from the bench's own configuration.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// `redis.key_prefix`; each run writes under a prefix of its own below it.
    pub redis_key_prefix: String,
    /// Whether `redis.url` is set (`warm-redis` needs it).
    pub redis_configured: bool,
    /// `database.url`: a scratch SQLite file is used unless it names PostgreSQL.
    pub database_url: String,
    /// The `c360` binary to start the hub and the sandbox from (default: this one),
    /// so that two builds can be compared by one load generator in the same minutes.
    pub binary: Option<PathBuf>,
}

/// How long the child may take to print its URLs.
const START_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum HubProcessError {
    #[error("{0}")]
    Mode(String),
    /// `--target` is not a URL the load generator can send to.
    #[error("{0}")]
    Target(String),
    #[error("cannot start the hub process: {0}")]
    Spawn(std::io::Error),
    #[error("the hub process did not print its URLs within {START_TIMEOUT:?}; it said:\n{0}")]
    NoBanner(String),
}

pub struct HubProcess {
    child: Child,
    /// `c360 sandbox` when the sandbox runs in a process of its own.
    sandbox_child: Option<Child>,
    pub hub: String,
    pub sandbox: String,
    scratch: PathBuf,
}

/// Where the sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxPlacement {
    /// In the hub's process (`c360 demo`): one child, but its memory is the hub's and
    /// the sandbox's together.
    WithHub,
    /// In a process of its own (`c360 sandbox`), the hub alone in another (`c360
    /// serve`), so that the hub's peak memory is the hub's only.
    OwnProcess,
}

impl HubProcess {
    /// Starts a hub (and the sandbox it reads) on free ports with the cache tiers
    /// `mode` asks for, rate limits off (one load generator is one subject), and a
    /// scratch SQLite database unless `settings` name a PostgreSQL one.
    pub fn start(
        settings: &HubSettings,
        mode: Mode,
        customers: u64,
        placement: SandboxPlacement,
    ) -> Result<HubProcess, HubProcessError> {
        let mut env: Vec<(String, String)> = vec![
            // The hub verifies the development token the bench sends: only the demo
            // profile has a development key (`c360 serve` runs production otherwise).
            ("C360_PROFILE".into(), "demo".into()),
            ("C360_ACCESS__SUBJECT_RATE".into(), "0".into()),
            ("C360_ACCESS__CLIENT_RATE".into(), "0".into()),
            (
                "C360_REDIS__KEY_PREFIX".into(),
                format!(
                    "{}bench:{}:",
                    settings.redis_key_prefix,
                    uuid::Uuid::now_v7()
                ),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ];
        let mut set = |key: &str, value: &str| env.push((key.into(), value.into()));
        match mode {
            Mode::Cold | Mode::Warm => {}
            Mode::Uncached => {
                set("C360_CACHE__ENABLED", "false");
                set("C360_CACHE__RESPONSE_ENABLED", "false");
            }
            Mode::WarmL1 => set("C360_CACHE__RESPONSE_ENABLED", "false"),
            Mode::WarmRedis => {
                if !settings.redis_configured {
                    return Err(HubProcessError::Mode(
                        "warm-redis needs Redis: set REDIS_URL".into(),
                    ));
                }
                set("C360_CACHE__RESPONSE_ENABLED", "false");
                set("C360_CACHE__L1_MAX_BYTES", "0");
            }
        }
        let scratch = std::env::temp_dir().join(format!("c360-bench-{}", uuid::Uuid::now_v7()));
        let sqlite = settings.database_url.starts_with("sqlite:");
        let customers = customers.to_string();
        match placement {
            SandboxPlacement::WithHub => {
                let mut command = own_binary(settings.binary.as_deref())?;
                command
                    .args(["demo", "--port", "0", "--sandbox-port", "0"])
                    .args(["--latency", "none", "--customers", &customers]);
                if sqlite {
                    command.arg("--data-dir").arg(&scratch);
                }
                command.envs(env);
                let (child, urls) = start_child(&mut command, &["GraphQL:", "Sandbox:"])?;
                Ok(HubProcess {
                    child,
                    sandbox_child: None,
                    hub: urls[0].trim_end_matches("/graphql").to_owned(),
                    sandbox: sandbox_base(&urls[1]),
                    scratch,
                })
            }
            SandboxPlacement::OwnProcess => {
                let mut command = own_binary(settings.binary.as_deref())?;
                command
                    .args(["sandbox", "--port", "0", "--latency", "none"])
                    .args(["--customers", &customers])
                    .env("RUST_LOG", "warn");
                let (mut sandbox_child, urls) = start_child(&mut command, &["c360 sandbox:"])?;
                let sandbox = sandbox_base(&urls[0]);
                for system in SYSTEMS {
                    env.push((
                        format!("C360_CONNECTORS__{}__BASE_URL", system.to_ascii_uppercase()),
                        format!("{sandbox}/{system}/v1"),
                    ));
                }
                if sqlite {
                    // DATABASE_URL outranks every other layer of the configuration.
                    env.push((
                        "DATABASE_URL".into(),
                        format!("sqlite://{}/c360.db", scratch.display()),
                    ));
                }
                let mut command = own_binary(settings.binary.as_deref())?;
                command.args(["serve", "--port", "0"]).envs(env);
                let (child, urls) = match start_child(&mut command, &["c360 hub:"]) {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = sandbox_child.kill();
                        let _ = sandbox_child.wait();
                        return Err(e);
                    }
                };
                Ok(HubProcess {
                    child,
                    sandbox_child: Some(sandbox_child),
                    hub: urls[0].trim_end_matches("/graphql").to_owned(),
                    sandbox,
                    scratch,
                })
            }
        }
    }

    /// The process whose CPU time is the hub's alone: `None` when the sandbox shares
    /// it (`SandboxPlacement::WithHub`).
    pub fn hub_alone_pid(&self) -> Option<u32> {
        self.sandbox_child.as_ref().map(|_| self.child.id())
    }

    /// The sandbox's process, when it runs in one of its own.
    pub fn sandbox_pid(&self) -> Option<u32> {
        self.sandbox_child.as_ref().map(Child::id)
    }

    /// The hub process's peak resident memory so far (Linux `VmHWM`), in MiB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        peak_rss_mb(&self.child)
    }

    /// The sandbox process's peak resident memory, when it runs in its own process.
    pub fn sandbox_peak_rss_mb(&self) -> Option<f64> {
        self.sandbox_child.as_ref().and_then(peak_rss_mb)
    }
}

/// The bench's reference server (`c360 bench-reference`) in a process of its own, so
/// that it runs under the same conditions as the hub it is compared with.
pub struct ReferenceProcess {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
}

impl ReferenceProcess {
    /// The process id, for its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the reference on a free port with profiles of customers `1..=customers`.
    pub fn start(customers: u64) -> Result<ReferenceProcess, HubProcessError> {
        let mut command = own_binary(None)?;
        command
            .args(["bench-reference", "--port", "0"])
            .args(["--customers", &customers.to_string()])
            .env("RUST_LOG", "warn");
        let (child, urls) = start_child(&mut command, &[REFERENCE_BANNER])?;
        Ok(ReferenceProcess {
            child,
            url: urls[0].trim_end_matches("/graphql").to_owned(),
        })
    }
}

impl Drop for ReferenceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `c360 bench-reference` prints before its URL.
pub const REFERENCE_BANNER: &str = "c360 bench reference:";

fn own_binary(binary: Option<&Path>) -> Result<Command, HubProcessError> {
    match binary {
        Some(binary) => Ok(Command::new(binary)),
        None => Ok(Command::new(
            std::env::current_exe().map_err(HubProcessError::Spawn)?,
        )),
    }
}

/// `http://host:port` out of the sandbox's `http://host:port/{core,cards,…}/v1`.
fn sandbox_base(banner_url: &str) -> String {
    banner_url
        .split("/{")
        .next()
        .unwrap_or(banner_url)
        .to_owned()
}

/// Spawns `command` and waits until it has printed a line starting with each of
/// `prefixes` (after leading spaces); returns the first word after each prefix, in
/// the order of `prefixes`.
fn start_child(
    command: &mut Command,
    prefixes: &[&'static str],
) -> Result<(Child, Vec<String>), HubProcessError> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(HubProcessError::Spawn)?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let prefixes = prefixes.to_vec();
    std::thread::spawn(move || {
        let mut said = String::new();
        let mut found: Vec<Option<String>> = vec![None; prefixes.len()];
        let mut sent = false;
        // Reads to the end, so that the child never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sent {
                continue;
            }
            said.push_str(&line);
            said.push('\n');
            let line = line.trim();
            for (prefix, slot) in prefixes.iter().zip(found.iter_mut()) {
                if let Some(rest) = line.strip_prefix(prefix) {
                    *slot = rest.split_whitespace().next().map(str::to_owned);
                }
            }
            if found.iter().all(Option::is_some) {
                let _ = tx.send(Ok(found.iter().flatten().cloned().collect()));
                sent = true;
            }
        }
        if !sent {
            let _ = tx.send(Err(said));
        }
    });
    let failed = |mut child: Child, said: String| {
        let _ = child.kill();
        let _ = child.wait();
        Err(HubProcessError::NoBanner(said))
    };
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(urls)) => Ok((child, urls)),
        Ok(Err(said)) => failed(child, said),
        Err(_) => failed(child, String::new()),
    }
}

/// A child's peak resident memory so far (Linux `VmHWM`), in MiB.
fn peak_rss_mb(child: &Child) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(sandbox) = &mut self.sandbox_child {
            let _ = sandbox.kill();
            let _ = sandbox.wait();
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
