//! A `c360` command run as its own process, as an operator runs it: for what only a
//! process shows (its log lines on stderr, its banner, its memory, how it stops).
//!
//! stdout is read up to the end of the banner; everything printed after it, on either
//! stream, is kept as it comes, so that a test can look at the tail while the process
//! runs and at all of it once it has stopped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest a process may take to print its banner.
const BANNER_WAIT: Duration = Duration::from_secs(60);
/// Longest a graceful stop may take before the process is killed.
const STOP_WAIT: Duration = Duration::from_secs(15);

pub struct C360Process {
    child: Child,
    /// stdout up to and including the line that ended the banner.
    pub banner: String,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl C360Process {
    /// Starts `c360 <args>` in the crate's folder, with `env` over an environment
    /// cleared of the variables that would change its logging or profile, and waits
    /// for the stdout line for which `banner_ends` holds.
    pub fn start(
        args: &[&str],
        env: &[(&str, String)],
        banner_ends: impl Fn(&str) -> bool + Send + 'static,
    ) -> C360Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_c360"));
        command
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("C360_PROFILE")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("c360 starts");
        let output: Arc<Mutex<String>> = Arc::default();

        let stderr = child.stderr.take().unwrap();
        let kept = output.clone();
        let errors = std::thread::spawn(move || keep_lines(BufReader::new(stderr), &kept));

        let stdout = child.stdout.take().unwrap();
        let kept = output.clone();
        let (banner_tx, banner_rx) = std::sync::mpsc::channel::<String>();
        let printed = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut banner = String::new();
            let mut line = String::new();
            while stdout.read_line(&mut line).unwrap_or(0) > 0 {
                banner.push_str(&line);
                if banner_ends(line.trim()) {
                    break;
                }
                line.clear();
            }
            let _ = banner_tx.send(banner);
            // Reads to the end, so that the process never blocks on a full pipe.
            keep_lines(stdout, &kept);
        });

        let mut process = C360Process {
            child,
            banner: String::new(),
            output,
            readers: vec![errors, printed],
        };
        match banner_rx.recv_timeout(BANNER_WAIT) {
            Ok(banner) => process.banner = banner,
            Err(_) => panic!(
                "c360 {} printed no banner within {BANNER_WAIT:?}; it said:\n{}",
                args.join(" "),
                process.output_tail(4096)
            ),
        }
        process
    }

    /// `c360 demo` on free ports, without simulated latency, with `extra` arguments;
    /// its banner ends with the `curl -d` example.
    pub fn demo(extra: &[&str], env: &[(&str, String)]) -> C360Process {
        let mut args = vec![
            "demo",
            "--port",
            "0",
            "--sandbox-port",
            "0",
            "--latency",
            "none",
        ];
        args.extend_from_slice(extra);
        let demo = C360Process::start(&args, env, |line| line.starts_with("-d "));
        assert!(
            demo.banner.contains("GraphQL:") && demo.banner.contains("Sandbox:"),
            "the demo's banner names the hub and the sandbox:\n{}",
            demo.banner
        );
        demo
    }

    /// The first URL on the banner line starting with `label`, up to `cut`.
    pub fn url(&self, label: &str, cut: &str) -> String {
        let line = self
            .banner
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in the banner:\n{}", self.banner));
        let url = line[label.len()..].split_whitespace().next().unwrap();
        url.split(cut).next().unwrap().to_owned()
    }

    /// The demo's hub, without `/graphql`.
    pub fn hub(&self) -> String {
        self.url("GraphQL:", "/graphql")
    }

    /// The demo's sandbox, without the `/{system}` part.
    pub fn sandbox(&self) -> String {
        self.url("Sandbox:", "/{")
    }

    /// Each `role token` line of the demo's banner.
    pub fn tokens(&self) -> Vec<(String, String)> {
        self.banner
            .lines()
            .filter_map(|line| line.trim().split_once(' '))
            .map(|(role, token)| (role.to_owned(), token.trim().to_owned()))
            .filter(|(_, token)| token.starts_with("eyJ"))
            .collect()
    }

    /// The token the demo printed for `role`.
    pub fn token(&self, role: &str) -> String {
        self.tokens()
            .into_iter()
            .find(|(r, _)| r == role)
            .map(|(_, token)| token)
            .unwrap_or_else(|| panic!("a {role} token in the banner:\n{}", self.banner))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `bytes` (about) of what the process printed after its banner.
    pub fn output_tail(&self, bytes: usize) -> String {
        let output = self.output.lock().unwrap();
        let mut from = output.len().saturating_sub(bytes);
        while !output.is_char_boundary(from) {
            from += 1;
        }
        output[from..].to_owned()
    }

    /// Stops the process as an operator does (SIGTERM: a graceful shutdown that
    /// flushes what is pending), kills it if it is still there after a while, and
    /// returns everything it printed after its banner.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The pipes close with the process; the readers then have it all.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        std::mem::take(&mut *self.output.lock().unwrap())
    }
}

impl Drop for C360Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keep_lines(mut from: impl BufRead, into: &Mutex<String>) {
    let mut line = String::new();
    loop {
        line.clear();
        match from.read_line(&mut line) {
            Ok(0) | Err(_) => {
                // A last piece that is not UTF-8 text still counts as printed.
                let mut rest = Vec::new();
                let _ = from.read_to_end(&mut rest);
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&rest));
                return;
            }
            Ok(_) => into.lock().unwrap().push_str(&line),
        }
    }
}
