//! Processes: a server's (or Redis's) memory, threads and CPU time, read from
//! `/proc/PID/status` and `/proc/PID/stat`, and this process's own open-file limit (every
//! simulated client is a socket).

use std::fs;
use std::io;
use std::time::{Duration, Instant};

/// Raises this process's open-file limit to its hard limit. Returns the new soft limit.
///
/// # Errors
/// If the limit can't be set.
pub fn raise_fd_limit() -> io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit)?;
    }
    Ok(limit.current.unwrap_or(u64::MAX))
}

/// A snapshot of a process's resident memory, threads and CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStatus {
    /// Resident set size (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Number of threads.
    pub threads: u64,
    /// User and system CPU time so far (`utime + stime`), all threads.
    pub cpu: Duration,
}

/// A reading of several processes at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub at: Instant,
    /// One per process asked for, in order.
    pub processes: Vec<ProcessStatus>,
}

impl Snapshot {
    /// Reads each of `pids`.
    ///
    /// # Errors
    /// If one of them can't be read.
    pub fn read(pids: &[u32]) -> io::Result<Snapshot> {
        let processes = pids
            .iter()
            .map(|&pid| ProcessStatus::read(pid))
            .collect::<io::Result<_>>()?;
        Ok(Snapshot {
            at: Instant::now(),
            processes,
        })
    }
}

impl ProcessStatus {
    /// Reads `/proc/PID/status` and `/proc/PID/stat`.
    ///
    /// # Errors
    /// If a file can't be read (no such process) or lacks the fields.
    pub fn read(pid: u32) -> io::Result<ProcessStatus> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let mut status = ProcessStatus::parse(&text)
            .ok_or_else(|| invalid(&format!("/proc/{pid}/status has no VmRSS or Threads line")))?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let ticks = cpu_ticks(&stat)
            .ok_or_else(|| invalid(&format!("/proc/{pid}/stat has no utime and stime")))?;
        let per_second = rustix::param::clock_ticks_per_second().max(1);
        status.cpu = Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second);
        Ok(status)
    }

    /// Takes `VmRSS` and `Threads` from the text of a status file.
    pub fn parse(text: &str) -> Option<ProcessStatus> {
        let mut rss_kib = None;
        let mut threads = None;
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("VmRSS:") {
                rss_kib = value.trim().strip_suffix("kB")?.trim().parse().ok();
            } else if let Some(value) = line.strip_prefix("Threads:") {
                threads = value.trim().parse().ok();
            }
        }
        Some(ProcessStatus {
            rss_kib: rss_kib?,
            threads: threads?,
            cpu: Duration::ZERO,
        })
    }
}

/// `utime + stime` (fields 14 and 15, in clock ticks) from the text of a stat file. The
/// command name (field 2) is in parentheses and may hold spaces and `)`: fields are
/// counted from the last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name come field 3 (state) onwards: utime is the 12th of those.
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_parsed() {
        let text = "Name:\tchat-server\nVmPeak:\t  300000 kB\nVmRSS:\t    5312 kB\n\
                    RssAnon:\t1000 kB\nThreads:\t105\nSigQ:\t0/95000\n";
        assert_eq!(
            ProcessStatus::parse(text),
            Some(ProcessStatus {
                rss_kib: 5312,
                threads: 105,
                cpu: Duration::ZERO,
            })
        );
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_name() {
        let stat = "4242 (chat (x) server) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    170 30 0 0 20 0 5 0 12345 300000000 1300 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(200));
        assert_eq!(cpu_ticks("4242 (short) S 1 2"), None);
    }

    #[test]
    fn missing_fields_give_none() {
        assert_eq!(ProcessStatus::parse("Name:\tzombie\nThreads:\t1\n"), None);
        assert_eq!(ProcessStatus::parse("VmRSS:\t12 kB\n"), None);
        assert_eq!(ProcessStatus::parse("VmRSS:\tlots\nThreads:\t1\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let status = ProcessStatus::read(std::process::id()).expect("own status");
        assert!(status.rss_kib > 0 && status.threads >= 1);
    }
}
