//! CPU time of the processes under test, read from the operating system, so that a
//! run reports what each request cost the hub and the sandbox, not only how long it
//! took: on a shared, noisy machine req/s moves with the neighbours, CPU per request
//! much less.

use std::time::Duration;

/// User plus system time a process has spent so far, over all its threads (Linux
/// `/proc/PID/stat`); `None` elsewhere or when the process is gone.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = cpu_ticks(&stat)?;
    Some(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// `utime + stime` out of a `/proc/PID/stat` line. The command name (second field)
/// is in parentheses and may hold spaces, so fields are counted after its last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (field 3) … utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the running system; it has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// CPU time of one process over the measured part of a run.
pub struct CpuMeter {
    pid: u32,
    start: Option<Duration>,
}

impl CpuMeter {
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            start: process_cpu(pid),
        }
    }

    /// Microseconds of CPU per request since [`CpuMeter::start`].
    pub fn per_request_us(&self, requests: u64) -> Option<f64> {
        let spent = process_cpu(self.pid)?.checked_sub(self.start?)?;
        (requests > 0).then(|| spent.as_secs_f64() * 1e6 / requests as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_read_past_a_name_with_spaces() {
        let stat = "4242 (c360 (serve)) S 1 4242 4242 0 -1 4194560 3200 0 0 0 1234 56 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(1290));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_has_spent_cpu_and_a_gone_one_none() {
        let before = process_cpu(std::process::id()).expect("this process");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = process_cpu(std::process::id()).expect("this process");
        assert!(after > before, "{before:?} then {after:?}");
        assert_eq!(process_cpu(u32::MAX), None);
    }
}
