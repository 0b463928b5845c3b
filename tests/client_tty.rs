//! Terminal mode: the real `chat-client` binary in a tmux pane (a real pseudo-terminal),
//! driven with `send-keys` and read with `capture-pane`, against an in-process server.
//!
//! Needs tmux (3.0 or newer) on the PATH. Each test runs its own tmux server (`-S` with a
//! socket of its own), killed when the test ends.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{TIMEOUT, TestClient, TestServer, start_server};

/// How often a wait looks at the screen again.
const POLL: Duration = Duration::from_millis(20);

/// Pane size; wide enough that no test line wraps.
const COLUMNS: &str = "100";
const ROWS: &str = "30";

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A tmux server with one pane running `chat-client`; killed when dropped.
struct Pane {
    /// The tmux server's socket (`-S`), so parallel tests never share a server.
    socket: PathBuf,
    /// A data directory of our own (for history), removed when dropped.
    data_home: PathBuf,
}

impl Pane {
    /// Runs `chat-client ARGS` against `server` in a fresh pane. When the client exits,
    /// the pane shows `[exit STATUS, terminal restored]` (or `CHANGED` if the terminal
    /// modes differ from before).
    fn start(server: &TestServer, args: &[&str], env: &[(&str, &str)]) -> Pane {
        let data_home = unique_path("data");
        std::fs::create_dir_all(&data_home).expect("create a data directory");
        let pane = Pane {
            socket: unique_path("tmux"),
            data_home,
        };
        pane.launch(server, args, env);
        pane
    }

    /// Ends this pane and starts the client again in a new one, with the same data
    /// directory.
    fn restart(mut self, server: &TestServer, args: &[&str]) -> Pane {
        let data_home = std::mem::take(&mut self.data_home);
        drop(self);
        let pane = Pane {
            socket: unique_path("tmux"),
            data_home,
        };
        pane.launch(server, args, &[]);
        pane
    }

    fn launch(&self, server: &TestServer, args: &[&str], env: &[(&str, &str)]) {
        let script = "before=$(stty -g); \"$@\"; status=$?; \
            if [ \"$(stty -g)\" = \"$before\" ]; then t=restored; else t=CHANGED; fi; \
            echo \"[exit $status, terminal $t]\"; exec sleep 600";
        let mut command: Vec<String> = ["env", "-u", "NO_COLOR"]
            .into_iter()
            .map(String::from)
            .collect();
        command.push(format!("XDG_DATA_HOME={}", self.data_home.display()));
        command.extend(env.iter().map(|(name, value)| format!("{name}={value}")));
        command.extend(["sh", "-c", script, "sh"].map(String::from));
        command.push(env!("CARGO_BIN_EXE_chat-client").to_string());
        command.extend(["--port".to_string(), server.addr.port().to_string()]);
        command.extend(args.iter().map(|arg| arg.to_string()));

        let mut tmux_args = vec![
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            COLUMNS,
            "-y",
            ROWS,
        ];
        tmux_args.extend(command.iter().map(String::as_str));
        self.tmux(&tmux_args);
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = tmux_output(&self.socket, args);
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Types `text` as it is.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "chat", "-l", text]);
    }

    /// Presses keys by tmux name: `Enter`, `Tab`, `Up`, `C-c`...
    fn press(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "chat", key]);
    }

    /// The screen as plain text, one string per row, trailing blanks removed.
    fn screen(&self) -> Vec<String> {
        self.tmux(&["capture-pane", "-p", "-t", "chat"])
            .lines()
            .map(|row| row.trim_end().to_string())
            .collect()
    }

    /// The screen with colours as escape sequences.
    fn screen_with_escapes(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "chat"])
    }

    /// The cursor column.
    fn cursor_x(&self) -> usize {
        self.tmux(&["display-message", "-p", "-t", "chat", "#{cursor_x}"])
            .trim()
            .parse()
            .expect("cursor_x is a number")
    }

    /// Waits until `ready` holds for the screen; fails showing the screen after the test's
    /// timeout. Returns the screen.
    fn wait(&self, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{}",
                screen.join("\n")
            );
            thread::sleep(POLL);
        }
    }

    /// Waits until some row is exactly `row`.
    fn wait_row(&self, row: &str) -> Vec<String> {
        self.wait(&format!("a row {row:?}"), |screen| {
            screen.iter().any(|line| line == row)
        })
    }

    /// Waits until the last non-empty row (where the prompt is) is exactly `row`.
    fn wait_prompt(&self, row: &str) -> Vec<String> {
        self.wait(&format!("the prompt row {row:?}"), |screen| {
            last_row(screen) == row
        })
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        // Not `tmux_output`: a second panic while a failed test unwinds would abort.
        let _ = tmux_command(&self.socket, &["kill-server"]).output();
        // tmux leaves its socket file behind.
        let _ = std::fs::remove_file(&self.socket);
        if !self.data_home.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.data_home);
        }
    }
}

/// A path of our own in the temporary directory.
fn unique_path(kind: &str) -> PathBuf {
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let name = format!("chat-client-test-{}-{id}.{kind}", std::process::id());
    std::env::temp_dir().join(name)
}

fn tmux_output(socket: &Path, args: &[&str]) -> Output {
    match tmux_command(socket, args).output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "tmux is not installed; the terminal tests drive chat-client through it: \
             install tmux (e.g. `apt-get install tmux`) and run the tests again"
        ),
        Err(err) => panic!("could not run tmux: {err}"),
    }
}

fn tmux_command(socket: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("tmux");
    command.arg("-S").arg(socket).args(args);
    command
}

fn last_row(screen: &[String]) -> &str {
    screen
        .iter()
        .rev()
        .find(|row| !row.is_empty())
        .map_or("", String::as_str)
}

fn row_index(screen: &[String], row: &str) -> Option<usize> {
    screen.iter().position(|line| line == row)
}

/// Whether `row` is `[HH:MM] ` followed by `rest`.
fn is_stamped(row: &str, rest: &str) -> bool {
    let bytes = row.as_bytes();
    bytes.len() >= 8
        && bytes[0] == b'['
        && bytes[1..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b':'
        && bytes[4..6].iter().all(u8::is_ascii_digit)
        && &bytes[6..8] == b"] "
        && &row[8..] == rest
}

/// Starts alice in a pane with `bob` already in the lobby; waits for her prompt.
fn alice_and_bob(server: &TestServer, args: &[&str]) -> (Pane, TestClient) {
    let mut bob = TestClient::join(server.addr, "bob");
    let mut all_args = vec!["alice", "--no-history"];
    all_args.extend(args);
    let pane = Pane::start(server, &all_args, &[]);
    bob.expect("* alice joined #lobby");
    pane.wait_prompt("alice@#lobby>");
    (pane, bob)
}

#[test]
fn incoming_line_appears_above_half_typed_text() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);

    pane.type_text("hello wor");
    pane.wait_prompt("alice@#lobby> hello wor");
    bob.send("message from bob");
    let screen = pane.wait("bob's line above the prompt", |screen| {
        screen
            .iter()
            .any(|row| is_stamped(row, "bob: message from bob"))
            && last_row(screen) == "alice@#lobby> hello wor"
    });
    let bob_row = screen
        .iter()
        .position(|row| is_stamped(row, "bob: message from bob"))
        .expect("bob's row");
    let prompt_row = row_index(&screen, "alice@#lobby> hello wor").expect("prompt row");
    assert!(bob_row < prompt_row, "screen:\n{}", screen.join("\n"));
    assert_eq!(pane.cursor_x(), "alice@#lobby> hello wor".len());

    pane.type_text("ld");
    pane.press("Enter");
    bob.expect("alice: hello world");
    let screen = pane.wait("alice's own line", |screen| {
        screen
            .iter()
            .any(|row| is_stamped(row, "alice: hello world"))
            && last_row(screen) == "alice@#lobby>"
    });
    let own = screen
        .iter()
        .filter(|row| row.contains("hello world"))
        .count();
    assert_eq!(own, 1, "own line not shown once:\n{}", screen.join("\n"));
}

#[test]
fn a_flood_of_lines_never_garbles_typing() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    let typed = "typing through the flood";
    for (index, chunk) in typed.as_bytes().chunks(4).enumerate() {
        bob.send_raw(
            (0..50)
                .map(|line| format!("flood {index}-{line}\n"))
                .collect::<String>()
                .as_bytes(),
        );
        pane.type_text(std::str::from_utf8(chunk).expect("ASCII"));
    }
    let last = format!("bob: flood {}-49", typed.len().div_ceil(4) - 1);
    let prompt = format!("alice@#lobby> {typed}");
    let screen = pane.wait("the last flood line above the prompt", |screen| {
        screen.contains(&last) && last_row(screen) == prompt
    });
    for row in screen.iter().filter(|row| **row != prompt) {
        assert!(
            row.is_empty() || row.starts_with("bob: flood ") || row.starts_with("* "),
            "garbled row {row:?} in:\n{}",
            screen.join("\n")
        );
    }
    pane.press("Enter");
    bob.wait_for(&format!("alice: {typed}"));
}

#[test]
fn colour_is_on_in_a_terminal_and_off_with_no_color_or_the_flag() {
    let server = start_server();
    let coloured = Pane::start(&server, &["alice", "--no-history"], &[]);
    coloured.wait_prompt("alice@#lobby>");
    let escapes = coloured.screen_with_escapes();
    assert!(
        escapes.contains("\x1b[33m* welcome alice"),
        "no yellow notice in:\n{escapes:?}"
    );

    for (name, args, env) in [
        ("nocolor", vec!["--no-history"], vec![("NO_COLOR", "1")]),
        ("flag", vec!["--no-history", "--no-color"], vec![]),
    ] {
        let mut all_args = vec![name];
        all_args.extend(args);
        let plain = Pane::start(&server, &all_args, &env);
        plain.wait_prompt(&format!("{name}@#lobby>"));
        let escapes = plain.screen_with_escapes();
        assert!(
            !escapes.contains('\x1b'),
            "escape codes with {env:?} {all_args:?}:\n{escapes:?}"
        );
    }
}

#[test]
fn tab_completes_commands_and_names() {
    let server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);

    pane.type_text("/ni");
    pane.press("Tab");
    pane.wait_prompt("alice@#lobby> /nick");
    assert_eq!(pane.cursor_x(), "alice@#lobby> /nick ".len());
    pane.press("C-u");

    pane.type_text("/msg b");
    pane.press("Tab");
    pane.wait_prompt("alice@#lobby> /msg bob");
    pane.type_text("psst");
    pane.wait_prompt("alice@#lobby> /msg bob psst");
    pane.press("C-u");

    pane.type_text("b");
    pane.press("Tab");
    pane.wait_prompt("alice@#lobby> bob:");
    assert_eq!(pane.cursor_x(), "alice@#lobby> bob: ".len());
}

#[test]
fn up_recalls_history_which_is_kept_per_user() {
    let server = start_server();
    let pane = Pane::start(&server, &["alice", "--no-timestamps"], &[]);
    pane.wait_prompt("alice@#lobby>");
    pane.type_text("first line");
    pane.press("Enter");
    pane.wait_row("alice: first line");
    pane.press("Up");
    pane.wait_prompt("alice@#lobby> first line");
    pane.press("C-u");
    pane.press("C-d");
    pane.wait_row("[exit 0, terminal restored]");

    let file = pane.data_home.join("chat-client").join("alice.history");
    let saved = std::fs::read_to_string(&file).expect("history file");
    assert!(saved.lines().any(|line| line == "first line"), "{saved:?}");

    let pane = pane.restart(&server, &["alice", "--no-timestamps"]);
    pane.wait_prompt("alice@#lobby>");
    pane.press("Up");
    pane.wait_prompt("alice@#lobby> first line");
}

#[test]
fn ctrl_r_finds_an_earlier_line_to_send_again() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    for line in ["deploy at noon", "lunch?", "coffee"] {
        pane.type_text(line);
        pane.press("Enter");
        bob.expect(&format!("alice: {line}"));
    }
    pane.press("C-r");
    pane.type_text("deploy");
    pane.wait("the search to find the line", |screen| {
        screen
            .iter()
            .any(|row| row.contains("deploy at noon") && row.contains("search"))
    });
    pane.press("Enter");
    bob.expect("alice: deploy at noon");
}

#[test]
fn ctrl_c_clears_the_line_then_quits_and_the_terminal_is_restored() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    pane.type_text("never sent");
    pane.wait_prompt("alice@#lobby> never sent");
    pane.press("C-c");
    pane.wait_prompt("alice@#lobby>");
    pane.press("C-c");
    bob.expect("* alice quit");
    pane.wait_row("[exit 0, terminal restored]");
}

#[test]
fn ctrl_d_quits_cleanly() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    pane.press("C-d");
    bob.expect("* alice quit");
    pane.wait_row("[exit 0, terminal restored]");
}

#[test]
fn prompt_follows_nick_and_join() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("/nick alicia");
    pane.press("Enter");
    bob.expect("* alice is now alicia");
    pane.wait_prompt("alicia@#lobby>");
    pane.type_text("/join dev");
    pane.press("Enter");
    pane.wait_prompt("alicia@#dev>");
    pane.type_text("/nick bob");
    pane.press("Enter");
    pane.wait_row("! name \"bob\" is taken, choose another");
    pane.wait_prompt("alicia@#dev>");
}

#[test]
fn refused_name_is_asked_for_again() {
    let server = start_server();
    let _holder = TestClient::join(server.addr, "alice");
    let pane = Pane::start(&server, &["alice", "--no-history", "--no-timestamps"], &[]);
    pane.wait_row("! name \"alice\" is taken, choose another");
    pane.wait_prompt("name>");
    pane.type_text("alice2");
    pane.press("Enter");
    pane.wait_prompt("alice2@#lobby>");
}

#[test]
fn losing_the_server_while_typing_exits_with_an_error() {
    let mut server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("half typed");
    pane.wait_prompt("alice@#lobby> half typed");
    server.stop();
    let screen = pane.wait_row("[exit 1, terminal restored]");
    let shutdown = row_index(&screen, "* server shutting down").expect("shutdown notice shown");
    let message =
        row_index(&screen, "chat-client: connection to server lost").expect("loss reported");
    assert!(shutdown < message, "screen:\n{}", screen.join("\n"));
}

#[test]
fn no_history_still_recalls_lines_but_writes_no_file() {
    let server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("said once");
    pane.press("Enter");
    pane.wait_row("alice: said once");
    pane.press("Up");
    pane.wait_prompt("alice@#lobby> said once");
    assert!(!pane.data_home.join("chat-client").exists());
}

#[test]
fn typed_quit_leaves_with_its_reason() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("/quit gone home");
    pane.press("Enter");
    bob.expect("* alice quit (gone home)");
    let screen = pane.wait_row("[exit 0, terminal restored]");
    assert!(
        screen.iter().any(|row| row == "* bye"),
        "{}",
        screen.join("\n")
    );
}

#[test]
fn sigterm_quits_and_restores_the_terminal() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    pane.type_text("interrupted");
    pane.wait_prompt("alice@#lobby> interrupted");
    let shell: i32 = pane
        .tmux(&["display-message", "-p", "-t", "chat", "#{pane_pid}"])
        .trim()
        .parse()
        .expect("pane pid");
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("children of the pane's shell");
    let client: i32 = children
        .split_whitespace()
        .next()
        .and_then(|pid| pid.parse().ok())
        .expect("chat-client's pid");
    let pid = rustix::process::Pid::from_raw(client).expect("a valid pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("send SIGTERM");
    bob.expect("* alice quit");
    pane.wait_row("[exit 143, terminal restored]");
}
