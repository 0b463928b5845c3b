//! Servers to test against: one in this process on 127.0.0.1 port 0, or the real
//! `chat-server` binary.

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use chat_server::store::SqliteStore;
use chat_server::{Config, Listener, Server, ShutdownHandle};

use super::tls::{Wire, current_wire, mark_tls, mark_web, server_tls, unmark};
use super::{Exit, Lines, Process, TIMEOUT, eventually};

/// The config tests use unless they test a limit: defaults, but no flood control, so a test
/// can send many lines quickly.
pub fn test_config() -> Config {
    Config {
        flood_burst: 0,
        flood_rate: 0,
        ..Config::default()
    }
}

/// A server running in this process; stopped (and waited for) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Stops the server and waits for `run` to return.
    pub fn stop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .expect("server thread panicked")
                .expect("server run failed");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        unmark(self.addr);
    }
}

pub fn start_server() -> TestServer {
    start_server_with(test_config())
}

/// A server with `config`, speaking TLS if the test runs on TLS (see `both_transports!`).
pub fn start_server_with(config: Config) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
    start_server_on(listener, config)
}

/// A server on a listener of the caller's: to come back on the port of a server that
/// stopped, give each server a clone of one listener. Binding the port again instead can
/// fail while the old server's side of a connection lingers in TIME_WAIT.
pub fn start_server_on(listener: TcpListener, config: Config) -> TestServer {
    let store = Arc::new(SqliteStore::in_memory(config.history_days));
    let tls = (current_wire() == Wire::Tls).then(server_tls);
    let web = current_wire() == Wire::Web;
    let addr = listener.local_addr().expect("the listener's address");
    if tls.is_some() {
        mark_tls(addr);
    }
    if web {
        mark_web(addr);
    }
    let listener = Listener {
        socket: listener,
        tls,
        web,
    };
    let server =
        Server::from_listeners(vec![listener], config, store).expect("serve on the listener");
    run_server(server)
}

fn run_server(server: Server) -> TestServer {
    let addr = server.local_addr().expect("local addr");
    let handle = server.shutdown_handle();
    let thread = thread::spawn(move || server.run());
    TestServer {
        addr,
        handle,
        thread: Some(thread),
    }
}

/// A real `chat-server` process on 127.0.0.1 port 0; killed when dropped.
pub struct ServerProcess {
    /// The first address listened on (the plain one, unless `--no-plain`).
    pub addr: SocketAddr,
    /// The TLS address, with `--tls-port`; clients connecting to it speak TLS.
    pub tls_addr: Option<SocketAddr>,
    /// The web port's address, with `--web-port` (its ready line ends ` (web)`).
    pub web_addr: Option<SocketAddr>,
    process: Process,
}

impl Drop for ServerProcess {
    /// Its TLS port may be another server's next.
    fn drop(&mut self) {
        if let Some(tls) = self.tls_addr {
            unmark(tls);
        }
    }
}

impl ServerProcess {
    pub fn start(extra_args: &[&str]) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
        command.args(extra_args);
        ServerProcess::spawn(command)
    }

    /// Starts the server with its open-file limit (soft and hard) lowered to `limit`, so
    /// it can't raise it.
    pub fn start_with_fd_limit(limit: usize, extra_args: &[&str]) -> ServerProcess {
        ServerProcess::start_limited(&format!("-n {limit}"), extra_args)
    }

    /// Starts the server under `ulimit ULIMIT` (`-n 80`, `-v 300000`).
    pub fn start_limited(ulimit: &str, extra_args: &[&str]) -> ServerProcess {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_chat-server"))
            .args(extra_args);
        ServerProcess::spawn(command)
    }

    /// What the server has logged so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// Waits until the log has a line containing `text`; returns the whole log.
    pub fn wait_log(&self, text: &str) -> String {
        let mut log = String::new();
        let found = eventually(TIMEOUT, || {
            log = self.stderr();
            log.contains(text)
        });
        assert!(found, "the log never said {text:?}; it has:\n{log}");
        log
    }

    /// Starts `command` and waits for its ready line, `listening on ADDR`. A server not
    /// given a `--data-dir` keeps everything in memory (`--ephemeral`), so tests never
    /// touch the user's data directory or each other's.
    fn spawn(mut command: Command) -> ServerProcess {
        let has_data_dir = command.get_args().any(|arg| arg == "--data-dir");
        if !has_data_dir {
            command.arg("--ephemeral");
        }
        let has = |flag: &str| command.get_args().any(|arg| arg == flag);
        let ready_lines = usize::from(!has("--no-plain"))
            + usize::from(has("--tls-port"))
            + usize::from(has("--web-port"));
        let mut process = Process::spawn(command.args(["--host", "127.0.0.1", "--port", "0"]));
        let (mut addr, mut tls_addr, mut web_addr) = (None, None, None);
        for _ in 0..ready_lines {
            let line = process.line();
            // `listening on http://HOST:PORT (web)`, or `https://` with TLS.
            let web = line
                .strip_prefix("listening on ")
                .and_then(|rest| rest.strip_suffix(" (web)"))
                .and_then(|url| url.split_once("://"))
                .and_then(|(_, host_port)| host_port.parse().ok());
            if web.is_some() {
                web_addr = web;
                continue;
            }
            let ready = line.strip_prefix("listening on ").and_then(|rest| {
                match rest.strip_suffix(" (tls)") {
                    Some(tls) => tls.parse().ok().map(|tls| (tls, true)),
                    None => rest.parse().ok().map(|plain| (plain, false)),
                }
            });
            match ready {
                Some((tls, true)) => {
                    mark_tls(tls);
                    tls_addr = Some(tls);
                    addr.get_or_insert(tls);
                }
                Some((plain, false)) => addr = Some(plain),
                None => panic!("not a ready line: {line:?}; {}", process.transcript()),
            }
        }
        let addr = addr.unwrap_or_else(|| panic!("no ready line; {}", process.transcript()));
        ServerProcess {
            addr,
            tls_addr,
            web_addr,
            process,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Sends a signal to the server.
    pub fn signal(&self, signal: rustix::process::Signal) {
        self.process.signal(signal);
    }

    /// Waits for the server to exit; panics if it takes longer than `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Exit {
        self.process.wait_exit(limit)
    }
}
