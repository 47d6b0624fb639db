//! The idle HTTP/1.1 connections of one system's transport.
//!
//! hyper-util's pooled client keeps one pool for every host a client has reached, keyed
//! by scheme and authority (SipHash on every checkout and every return), races a
//! new connection against an idle one coming back, and moves each call's futures
//! through a dozen layers: about 8,000 instructions a call, 40,000 of a cold
//! profile360's five calls. A transport talks to one system only, so its pool is a
//! list: the newest ready connection is taken, and one whose answer has been read to
//! its end is put back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;

/// Sends requests on one open connection.
pub type Sender = SendRequest<Full<Bytes>>;

/// Idle connections, newest last, at most `max_idle`, none older than `idle_timeout`.
pub struct Pool {
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl Pool {
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            max_idle,
            idle_timeout,
        }
    }

    /// The newest idle connection ready for a request. Connections the system has
    /// closed, or idle past the timeout, are dropped on the way (which closes them);
    /// one still finishing its last answer is left for a later call.
    pub fn take(&self) -> Option<Sender> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|entry| {
            !entry.sender.is_closed() && now.duration_since(entry.since) < self.idle_timeout
        });
        let at = idle.iter().rposition(|entry| entry.sender.is_ready())?;
        Some(idle.remove(at).sender)
    }

    /// Keeps a connection whose last answer was read to its end; past `max_idle`, the
    /// one idle longest is closed to make room.
    pub fn put(&self, sender: Sender) {
        if sender.is_closed() || self.max_idle == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= self.max_idle {
            idle.remove(0);
        }
        idle.push(Idle {
            sender,
            since: Instant::now(),
        });
    }

    /// How many connections are idle (closed ones included until the next take).
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|idle| idle.len()).unwrap_or_default()
    }
}
