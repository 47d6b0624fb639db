//! redis-server processes of a test's own, on free ports: a test that kills and
//! restarts Redis must not disturb the shared one other tests use.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server of the test's own on a free port, killed on drop.
pub struct OwnRedis {
    pub child: Child,
    pub port: u16,
}

impl OwnRedis {
    /// Starts a server without persistence on `port`; `None` when redis-server is not
    /// installed or does not listen within 2.5 s.
    pub fn start(port: u16) -> Option<OwnRedis> {
        OwnRedis::start_with(port, &[], None)
    }

    /// As [`OwnRedis::start`], with `extra` arguments (cluster mode, say), in `dir`
    /// when the server writes files of its own there.
    pub fn start_with(
        port: u16,
        extra: &[&str],
        dir: Option<&std::path::Path>,
    ) -> Option<OwnRedis> {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let redis = OwnRedis {
            child: command.spawn().ok()?,
            port,
        };
        listening(port).then_some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something accepts connections on `port` within 2.5 s.
pub fn listening(port: u16) -> bool {
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A port nothing listens on just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
