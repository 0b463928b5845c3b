//! Keeps the log's volume bounded whatever clients do: past [`LINES_PER_ADDRESS`] lines a
//! minute about one address (loopback included), or [`LINES_IN_ALL`] about all of them,
//! lines are counted instead of written, and one summary line says how many were left out:
//! `... 4,980 more from 192.0.2.7 in the last minute`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chat_sync::lock;

/// Lines a minute written about one address.
pub const LINES_PER_ADDRESS: u32 = 20;

/// Lines a minute written about all addresses together.
pub const LINES_IN_ALL: u32 = 600;

/// The span the limits count over.
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    withheld: u64,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            started: now,
            written: 0,
            withheld: 0,
        }
    }

    fn is_over(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= WINDOW
    }
}

#[derive(Debug)]
struct Windows {
    per_address: HashMap<IpAddr, Window>,
    all: Window,
}

/// Decides which per-connection log lines are written.
#[derive(Debug)]
pub struct LogLimit {
    windows: Mutex<Windows>,
}

impl Default for LogLimit {
    fn default() -> LogLimit {
        LogLimit {
            windows: Mutex::new(Windows {
                per_address: HashMap::new(),
                all: Window::new(Instant::now()),
            }),
        }
    }
}

impl LogLimit {
    /// Whether a line about `ip` may be written now; if not, it is counted for the summary.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let (allowed, summaries) = self.allow_at(ip, Instant::now());
        for summary in summaries {
            log::warn!("{summary}");
        }
        allowed
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> (bool, Vec<String>) {
        let mut summaries = Vec::new();
        let allowed = {
            let mut windows = lock(&self.windows);
            let Windows { per_address, all } = &mut *windows;
            if all.is_over(now) {
                summarise_all(all, &mut summaries);
                *all = Window::new(now);
            }
            let window = per_address.entry(ip).or_insert_with(|| Window::new(now));
            if window.is_over(now) {
                summarise(ip, window, &mut summaries);
                *window = Window::new(now);
            }
            if window.written >= LINES_PER_ADDRESS {
                window.withheld += 1;
                false
            } else if all.written >= LINES_IN_ALL {
                all.withheld += 1;
                false
            } else {
                window.written += 1;
                all.written += 1;
                true
            }
        };
        (allowed, summaries)
    }

    /// Writes the summaries of minutes that have ended, and forgets quiet addresses. Call
    /// now and then (the accept loop does, every second or so).
    pub fn flush(&self) {
        for summary in self.summaries_at(Instant::now()) {
            log::warn!("{summary}");
        }
    }

    fn summaries_at(&self, now: Instant) -> Vec<String> {
        let mut summaries = Vec::new();
        {
            let mut windows = lock(&self.windows);
            let Windows { per_address, all } = &mut *windows;
            per_address.retain(|ip, window| {
                if !window.is_over(now) {
                    return true;
                }
                summarise(*ip, window, &mut summaries);
                false
            });
            if all.is_over(now) {
                summarise_all(all, &mut summaries);
                *all = Window::new(now);
            }
        }
        summaries
    }
}

fn summarise(ip: IpAddr, window: &Window, summaries: &mut Vec<String>) {
    if window.withheld > 0 {
        let more = thousands(window.withheld);
        summaries.push(format!("... {more} more from {ip} in the last minute"));
    }
}

fn summarise_all(all: &Window, summaries: &mut Vec<String>) {
    if all.withheld > 0 {
        let more = thousands(all.withheld);
        summaries.push(format!(
            "... {more} lines about clients left out of the log in the last minute"
        ));
    }
}

/// `4980` as `4,980`.
fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_its_share_of_lines_and_others_are_not_affected() {
        let limit = LogLimit::default();
        let noisy: IpAddr = "192.0.2.7".parse().expect("ip");
        let quiet: IpAddr = "192.0.2.8".parse().expect("ip");
        let allowed = (0..1000).filter(|_| limit.allow(noisy)).count();
        assert_eq!(allowed, LINES_PER_ADDRESS as usize);
        assert!(limit.allow(quiet));
    }

    #[test]
    fn what_was_left_out_is_summarised_once_the_minute_is_over() {
        let limit = LogLimit::default();
        let noisy: IpAddr = "192.0.2.7".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..5000 {
            limit.allow_at(noisy, start);
        }
        assert!(
            limit
                .summaries_at(start + Duration::from_secs(1))
                .is_empty()
        );
        let summaries = limit.summaries_at(start + WINDOW);
        assert_eq!(
            summaries,
            ["... 4,980 more from 192.0.2.7 in the last minute".to_string()]
        );
        assert!(
            limit.allow_at(noisy, start + WINDOW).0,
            "a new minute, a new share"
        );
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(4980), "4,980");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
