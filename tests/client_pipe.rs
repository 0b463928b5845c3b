//! Pipe mode: the real `chat-client` binary with stdin and stdout as pipes, against an
//! in-process server on port 0.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{TIMEOUT, TestClient, start_server, start_server_at, test_config};

/// A `chat-client` process whose stdout lines arrive on a channel; killed when dropped.
struct ClientProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// Everything read from stdout so far, for failure messages.
    seen: Vec<String>,
}

impl ClientProcess {
    fn start(addr: SocketAddr, args: &[&str]) -> ClientProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-client"))
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(args)
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-client");
        let stdout = child.stdout.take().expect("client stdout");
        let mut stderr = child.stderr.take().expect("client stderr");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        ClientProcess {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to client stdin");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line.
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(err) => panic!(
                "no line from chat-client ({err}); stdout so far: {:#?}",
                self.seen
            ),
        }
    }

    /// Reads stdout until a line equal to `expected`; returns it.
    fn wait_for(&mut self, expected: &str) -> String {
        self.wait_until(|line| line == expected)
    }

    /// Reads stdout until a line for which `matches` holds; returns it.
    fn wait_until(&mut self, matches: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.line();
            if matches(&line) {
                return line;
            }
        }
    }

    /// Waits for the process to exit; returns its status, the rest of stdout and stderr.
    fn finish(&mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "chat-client did not exit; stdout: {:#?}",
                self.seen
            );
            thread::sleep(Duration::from_millis(10));
        };
        let rest: Vec<String> = self.lines.iter().collect();
        self.seen.extend(rest.iter().cloned());
        let stderr = self
            .stderr
            .take()
            .expect("finish called once")
            .join()
            .expect("stderr reader");
        (status, rest, stderr)
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn chat_flows_both_ways_in_plain_lines() {
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let mut alice = ClientProcess::start(server.addr, &["alice", "--no-timestamps"]);
    alice.wait_for("* welcome alice, you are in #lobby (2): alice, bob");
    bob.expect("* alice joined #lobby");

    alice.send("hi bob");
    bob.expect("alice: hi bob");
    bob.send("hello alice");
    alice.wait_for("bob: hello alice");
    bob.send("/msg alice psst");
    bob.expect("bob -> alice: psst");
    alice.wait_for("bob -> alice: psst");

    alice.close_stdin();
    bob.expect("* alice quit");
    let (status, _, stderr) = alice.finish();
    assert!(status.success(), "exit {status}; stderr: {stderr}");
    assert!(
        alice.seen.iter().all(|line| !line.contains('\x1b')),
        "escape codes in pipe output: {:#?}",
        alice.seen
    );
}

#[test]
fn refused_name_is_retried_with_the_next_input_line() {
    let server = start_server();
    let _holder = TestClient::join(server.addr, "alice");
    let mut client = ClientProcess::start(server.addr, &["alice", "--no-timestamps"]);
    client.wait_for("! name \"alice\" is taken, choose another");
    client.send("alice2");
    client.wait_for("* welcome alice2, you are in #lobby (2): alice, alice2");
    client.send("/quit");
    client.wait_for("* bye");
    let (status, _, stderr) = client.finish();
    assert!(status.success(), "exit {status}; stderr: {stderr}");
}

#[test]
fn lines_carry_a_local_timestamp_by_default() {
    let server = start_server();
    let mut client = ClientProcess::start(server.addr, &["stamped"]);
    let welcome = client.wait_until(|line| line.contains("* welcome stamped"));
    let bytes = welcome.as_bytes();
    let shape_ok = bytes.len() > 8
        && bytes[0] == b'['
        && bytes[1..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b':'
        && bytes[4..6].iter().all(u8::is_ascii_digit)
        && &bytes[6..8] == b"] "
        && welcome[8..].starts_with("* welcome stamped");
    assert!(shape_ok, "not `[HH:MM] * welcome ...`: {welcome:?}");
    client.close_stdin();
    let (status, _, _) = client.finish();
    assert!(status.success());
}

#[test]
fn a_script_on_stdin_talks_and_quits_at_end_of_input() {
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let mut bot = ClientProcess::start(server.addr, &["bot", "--no-timestamps"]);
    bot.send("hello from a script");
    bot.close_stdin();
    bob.expect("* bot joined #lobby");
    bob.expect("bot: hello from a script");
    bob.expect("* bot quit");
    let (status, _, stderr) = bot.finish();
    assert!(status.success(), "exit {status}; stderr: {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn server_shutdown_ends_the_client_with_an_error() {
    let mut server = start_server();
    let mut client = ClientProcess::start(server.addr, &["alice", "--no-timestamps"]);
    client.wait_until(|line| line.starts_with("* welcome alice"));
    server.stop();
    let (status, rest, stderr) = client.finish();
    assert!(!status.success(), "exit {status}");
    assert!(
        stderr.starts_with("chat-client: connection to server lost") && stderr.lines().count() == 1,
        "stderr: {stderr}"
    );
    assert!(
        client
            .seen
            .iter()
            .any(|line| line == "* server shutting down"),
        "stdout: {rest:#?}"
    );
}

#[test]
fn refused_connection_is_one_line_and_a_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let mut client = ClientProcess::start(addr, &["alice"]);
    let (status, rest, stderr) = client.finish();
    assert!(!status.success(), "exit {status}");
    assert!(rest.is_empty(), "stdout: {rest:#?}");
    assert_eq!(
        stderr,
        format!(
            "chat-client: could not connect to 127.0.0.1:{}: connection refused\n",
            addr.port()
        )
    );
}

#[test]
fn reconnect_rejoins_with_the_same_name_and_room() {
    let mut first = start_server();
    let addr = first.addr;
    let mut client = ClientProcess::start(addr, &["alice", "--no-timestamps", "--reconnect"]);
    client.wait_until(|line| line.starts_with("* welcome alice"));
    client.send("/join dev");
    client.wait_for("* #dev (1): alice");
    first.stop();
    client.wait_for("* server shutting down");

    let _second = start_server_at(addr, test_config());
    client.wait_until(|line| line.starts_with("* welcome alice, you are in #lobby"));
    client.wait_for("* #dev (1): alice");
    let mut bob = TestClient::join(addr, "bob");
    bob.send("/join dev");
    bob.expect("* bob joined #dev");
    bob.expect("* #dev (2): alice, bob");
    client.send("still here");
    bob.expect("alice: still here");

    client.close_stdin();
    bob.expect("* alice quit");
    let (status, _, stderr) = client.finish();
    assert!(status.success(), "exit {status}; stderr: {stderr}");
    assert!(
        stderr.contains("chat-client: connection to server lost; reconnecting in 0.5s")
            && stderr.contains("chat-client: reconnected as alice, back to #dev"),
        "stderr: {stderr}"
    );
}
