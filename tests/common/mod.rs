//! The test environment: servers on 127.0.0.1 port 0, line clients, and every program a
//! test starts, each owned by a guard that ends it, with failures that show what was
//! received.
//!
//! - `server`: an in-process server, and the real `chat-server` process.
//! - `client`: a line client as a bot or `nc` would be, rooms of them, and the real
//!   `chat-client` in pipe mode.
//! - `pane`: the real `chat-client` in a tmux pane.
//! - `process`: the guard for any program a test starts, and its numbers in `/proc`.
//! - `redis`: a `redis-server` of the test's own, on a free port, for the cluster.
//! - `tls`: the test certificate authority, and running one test over plain TCP and TLS.
//! - `browser`: headless Chromium driven over the DevTools protocol, for the web page.

#![allow(dead_code)] // each test file uses a different part of this

mod browser;
mod client;
mod pane;
mod process;
mod redis;
mod server;
mod tls;

use std::thread;
use std::time::{Duration, Instant};

// Each test file uses a different part of these too.
#[allow(unused_imports)]
pub use self::{
    browser::{Browser, DESKTOP, PHONE, Page, TempDir},
    client::{
        Closed, TestClient, connect_from, drain_until_closed, pair, registered_session, room_of,
        start_client, strip_stamp,
    },
    pane::{Pane, last_row, row_index},
    process::{Exit, Process, fd_count, proc_status},
    redis::Redis,
    server::{
        ServerProcess, TestServer, start_server, start_server_on, start_server_with, test_config,
    },
    tls::{Wire, client_config, current_wire, test_certs, with_wire},
};

/// How long any single expectation may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds or `limit` passes; returns whether it held. Every
/// wait for something that sends no message of its own (a process exit, a screen, a
/// count in `/proc`) goes through here.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// Lines for a failure message: all of them, or the count and the last few.
pub fn show_lines(lines: &[String]) -> String {
    const SHOWN: usize = 30;
    match lines.len().checked_sub(SHOWN) {
        None | Some(0) => format!("{lines:#?}"),
        Some(skipped) => format!("{} lines, ending {:#?}", lines.len(), &lines[skipped..]),
    }
}

/// A source of lines that keeps what it received, for failure messages: a client's
/// socket, a program's stdout.
pub trait Lines {
    /// The next line; panics, showing what came before, if none comes in time.
    fn line(&mut self) -> String;

    /// Who this is and everything received so far.
    fn transcript(&self) -> String;

    /// The next line must be exactly `expected`.
    fn expect(&mut self, expected: &str) {
        let line = self.line();
        assert_eq!(line, expected, "unexpected line; {}", self.transcript());
    }

    /// The next line must be `line` replayed from history: `= TIME LINE`, TIME in
    /// RFC 3339 UTC.
    fn expect_replay(&mut self, line: &str) {
        let got = self.line();
        let replayed = got
            .strip_prefix("= ")
            .and_then(|rest| rest.get(20..).map(|past| (&rest[..20], past)))
            .is_some_and(|(time, past)| {
                chat_protocol::UtcTime::parse(time).is_some() && past == format!(" {line}")
            });
        assert!(
            replayed,
            "expected {line:?} replayed, got {got:?}; {}",
            self.transcript()
        );
    }

    /// The next line must start with `prefix`; returns it.
    fn expect_prefix(&mut self, prefix: &str) -> String {
        let line = self.line();
        assert!(
            line.starts_with(prefix),
            "expected a line starting with {prefix:?}; {}",
            self.transcript()
        );
        line
    }

    /// Reads until a line for which `matches` holds, skipping others; returns it.
    fn wait_until(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let line = self.line();
            if matches(&line) {
                return line;
            }
        }
        panic!("{what} never came; {}", self.transcript());
    }

    /// Reads until a line equal to `expected` arrives, skipping others.
    fn wait_for(&mut self, expected: &str) -> String {
        self.wait_until(&format!("{expected:?}"), |line| line == expected)
    }
}
