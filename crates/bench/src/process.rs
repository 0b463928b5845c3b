//! Processes: the server's memory and thread count, read from `/proc/PID/status`, and this
//! process's own open-file limit (every simulated client is a socket).

use std::fs;
use std::io;

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

/// A snapshot of a process's resident memory and threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStatus {
    /// Resident set size (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Number of threads.
    pub threads: u64,
}

impl ProcessStatus {
    /// Reads `/proc/PID/status`.
    ///
    /// # Errors
    /// If the file can't be read (no such process) or lacks the two fields.
    pub fn read(pid: u32) -> io::Result<ProcessStatus> {
        let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
        ProcessStatus::parse(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/{pid}/status has no VmRSS or Threads line"),
            )
        })
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
        })
    }
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
                threads: 105
            })
        );
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
