//! The hub under test, in a process of its own: `c360 demo` started from this binary,
//! so that the load generator and the hub do not share a runtime or an allocator, and
//! the hub's peak memory can be read from the operating system.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Mode;
use crate::config::Config;

/// How long the child may take to print its URLs.
const START_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum HubProcessError {
    #[error("{0}")]
    Mode(String),
    #[error("cannot start the hub process: {0}")]
    Spawn(std::io::Error),
    #[error("the hub process did not print its URLs within {START_TIMEOUT:?}; it said:\n{0}")]
    NoBanner(String),
}

pub struct HubProcess {
    child: Child,
    pub hub: String,
    pub sandbox: String,
    scratch: PathBuf,
}

impl HubProcess {
    /// Starts `c360 demo` on free ports with the cache tiers `mode` asks for, rate
    /// limits off (one load generator is one subject), and a scratch SQLite database
    /// unless `config` names a PostgreSQL one.
    pub fn start(
        config: &Config,
        mode: Mode,
        customers: u64,
    ) -> Result<HubProcess, HubProcessError> {
        let mut env: Vec<(&str, String)> = vec![
            ("C360_ACCESS__SUBJECT_RATE", "0".into()),
            ("C360_ACCESS__CLIENT_RATE", "0".into()),
            (
                "C360_REDIS__KEY_PREFIX",
                format!("{}bench:{}:", config.redis.key_prefix, uuid::Uuid::now_v7()),
            ),
            ("RUST_LOG", "warn".into()),
        ];
        match mode {
            Mode::Cold => {
                env.push(("C360_CACHE__ENABLED", "false".into()));
                env.push(("C360_CACHE__RESPONSE_ENABLED", "false".into()));
            }
            Mode::Warm => {}
            Mode::WarmL1 => env.push(("C360_CACHE__RESPONSE_ENABLED", "false".into())),
            Mode::WarmRedis => {
                if config.redis.url.is_none() {
                    return Err(HubProcessError::Mode(
                        "warm-redis needs Redis: set REDIS_URL".into(),
                    ));
                }
                env.push(("C360_CACHE__RESPONSE_ENABLED", "false".into()));
                env.push(("C360_CACHE__L1_MAX_BYTES", "0".into()));
            }
        }
        let scratch = std::env::temp_dir().join(format!("c360-bench-{}", uuid::Uuid::now_v7()));
        let exe = std::env::current_exe().map_err(HubProcessError::Spawn)?;
        let mut command = Command::new(exe);
        command
            .args([
                "demo",
                "--port",
                "0",
                "--sandbox-port",
                "0",
                "--latency",
                "none",
            ])
            .args(["--customers", &customers.to_string()]);
        if config.database.url.starts_with("sqlite:") {
            command.arg("--data-dir").arg(&scratch);
        }
        let mut child = command
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(HubProcessError::Spawn)?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut said = String::new();
            let (mut hub, mut sandbox) = (None, None);
            let mut sent = false;
            // Reads to the end, so that the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sent {
                    continue;
                }
                said.push_str(&line);
                said.push('\n');
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("GraphQL:") {
                    hub = rest
                        .split_whitespace()
                        .next()
                        .map(|u| u.trim_end_matches("/graphql").to_owned());
                } else if let Some(rest) = line.strip_prefix("Sandbox:") {
                    sandbox = rest
                        .split_whitespace()
                        .next()
                        .and_then(|u| u.split("/{").next())
                        .map(str::to_owned);
                }
                if let (Some(hub), Some(sandbox)) = (&hub, &sandbox) {
                    let _ = tx.send(Ok((hub.clone(), sandbox.clone())));
                    sent = true;
                }
            }
            if !sent {
                let _ = tx.send(Err(said));
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok((hub, sandbox))) => Ok(HubProcess {
                child,
                hub,
                sandbox,
                scratch,
            }),
            Ok(Err(said)) => {
                let _ = child.kill();
                Err(HubProcessError::NoBanner(said))
            }
            Err(_) => {
                let _ = child.kill();
                Err(HubProcessError::NoBanner(String::new()))
            }
        }
    }

    /// The hub process's peak resident memory so far (Linux `VmHWM`), in MiB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
