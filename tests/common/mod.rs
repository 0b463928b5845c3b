//! Test helpers: an in-process server on 127.0.0.1 port 0, the real binaries, and a line
//! client whose reads time out and whose failures show everything it received.

#![allow(dead_code)] // each test file uses a different part of this

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat_server::{Config, Server, ShutdownHandle};

/// How long any single expectation may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

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
    }
}

pub fn start_server() -> TestServer {
    start_server_with(test_config())
}

pub fn start_server_with(config: Config) -> TestServer {
    start_server_at("127.0.0.1:0".parse().expect("address"), config)
}

/// A server on a given address (port 0 for a free one; a fixed one to come back on the
/// port of a server that stopped).
pub fn start_server_at(addr: SocketAddr, config: Config) -> TestServer {
    let server = Server::bind(addr, config).expect("bind the test server");
    let addr = server.local_addr().expect("local addr");
    let handle = server.shutdown_handle();
    let thread = thread::spawn(move || server.run());
    TestServer {
        addr,
        handle,
        thread: Some(thread),
    }
}

/// A client speaking the line protocol, as a bot or `nc` would.
pub struct TestClient {
    pub name: String,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    /// Every line received, for failure messages.
    pub received: Vec<String>,
}

impl TestClient {
    /// Connects and reads the greeting, without sending a name.
    pub fn connect(addr: SocketAddr) -> TestClient {
        let stream = TcpStream::connect(addr).expect("connect to test server");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set read timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone stream"));
        let mut client = TestClient {
            name: String::new(),
            stream,
            reader,
            received: Vec::new(),
        };
        client.expect_prefix("* hello");
        client
    }

    /// Connects and joins as `name`, waiting for the welcome.
    pub fn join(addr: SocketAddr, name: &str) -> TestClient {
        let mut client = TestClient::connect(addr);
        client.send(name);
        client.expect_prefix(&format!("* welcome {name}, you are in #lobby"));
        client.name = name.to_string();
        client
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to server");
    }

    /// The next line, or `None` if the server closed the connection. Panics on timeout.
    pub fn recv(&mut self) -> Option<String> {
        let mut buffer = Vec::new();
        match self.reader.read_until(b'\n', &mut buffer) {
            Ok(0) => None,
            Ok(_) => {
                assert_eq!(
                    buffer.pop(),
                    Some(b'\n'),
                    "{}: connection closed mid-line after {:?}",
                    self.name,
                    String::from_utf8_lossy(&buffer)
                );
                let line = String::from_utf8(buffer).unwrap_or_else(|err| {
                    panic!("{}: server sent invalid UTF-8: {err}", self.name)
                });
                self.received.push(line.clone());
                Some(line)
            }
            Err(err) => panic!(
                "{}: no line from the server within {TIMEOUT:?} ({err}); received so far: {:#?}",
                self.name, self.received
            ),
        }
    }

    /// The next line, which must exist.
    pub fn line(&mut self) -> String {
        match self.recv() {
            Some(line) => line,
            None => panic!(
                "{}: connection closed; received: {:#?}",
                self.name, self.received
            ),
        }
    }

    /// The next line must be exactly `expected`.
    pub fn expect(&mut self, expected: &str) {
        let line = self.line();
        assert_eq!(
            line, expected,
            "{}: unexpected line; received: {:#?}",
            self.name, self.received
        );
    }

    /// The next line must start with `prefix`; returns it.
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let line = self.line();
        assert!(
            line.starts_with(prefix),
            "{}: expected a line starting with {prefix:?}; received: {:#?}",
            self.name,
            self.received
        );
        line
    }

    /// Reads until a line equal to `expected` arrives, skipping others.
    pub fn wait_for(&mut self, expected: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if self.line() == expected {
                return;
            }
        }
        panic!(
            "{}: {expected:?} never came; received: {:#?}",
            self.name, self.received
        );
    }

    /// The server must close the connection next (after any lines matching nothing).
    pub fn expect_closed(&mut self) {
        if let Some(line) = self.recv() {
            panic!(
                "{}: expected the connection to close, got {line:?}; received: {:#?}",
                self.name, self.received
            );
        }
    }

    /// Reads everything until the server closes the connection.
    pub fn read_until_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.recv() {
            lines.push(line);
        }
        lines
    }

    /// Makes sure everything sent so far was handled, by a round trip: `/who` is answered
    /// only after the lines before it.
    pub fn sync(&mut self) -> String {
        self.send("/who");
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let line = self.line();
            if line.starts_with("* #") {
                return line;
            }
        }
        panic!(
            "{}: no /who answer; received: {:#?}",
            self.name, self.received
        );
    }

    /// Closes the sending side (EOF for the server).
    pub fn shutdown_write(&self) {
        self.stream
            .shutdown(Shutdown::Write)
            .expect("shutdown write");
    }

    /// Resets the connection (RST instead of FIN), as a killed process might.
    pub fn reset(self) {
        rustix::net::sockopt::set_socket_linger(&self.stream, Some(Duration::ZERO))
            .expect("set linger");
        drop(self);
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// A real `chat-server` process on port 0; killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: BufReader<ChildStdout>,
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
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_chat-server"))
            .args(extra_args);
        ServerProcess::spawn(command)
    }

    fn spawn(mut command: Command) -> ServerProcess {
        let mut child = command
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chat-server");
        let stdout = child.stdout.take().expect("server stdout");
        let (sender, receiver) = mpsc::channel();
        // Read the ready line on a thread so a server that never prints fails the test
        // instead of hanging it.
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = sender.send((line, stdout));
        });
        let (line, stdout) = receiver
            .recv_timeout(TIMEOUT)
            .expect("chat-server printed no ready line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from chat-server: {line:?}"))
            .parse()
            .expect("address in the ready line");
        ServerProcess {
            child,
            addr,
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the server.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("send signal");
    }

    /// Waits for the process to exit; panics if it takes longer than `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "chat-server did not exit within {limit:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the server printed on stdout after the ready line.
    pub fn rest_of_stdout(&mut self) -> String {
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        rest
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number from `/proc/PID/status`, such as `VmRSS` (in KiB) or `Threads`.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// How many file descriptors a process has open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fd dir")
        .count()
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
