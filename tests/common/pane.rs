//! The real `chat-client` in a tmux pane (a real pseudo-terminal), typed into with
//! `send-keys` and read with `capture-pane`.
//!
//! Needs tmux (3.0 or newer) on the PATH. Each pane has a tmux server of its own (`-S` with
//! a socket of its own), killed when the pane is dropped.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Process, TIMEOUT, TestServer, eventually};

/// Pane size; wide enough that no test line wraps.
const COLUMNS: &str = "100";
const ROWS: &str = "30";

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A tmux server with one pane running `chat-client`; killed when dropped.
pub struct Pane {
    /// The tmux server's socket (`-S`), so parallel tests never share a server.
    socket: PathBuf,
    /// A data directory of our own (for history), removed when dropped.
    data_home: PathBuf,
}

impl Pane {
    /// Runs `chat-client ARGS` against `server` in a fresh pane. When the client exits,
    /// the pane shows `[exit STATUS, terminal restored]` (or `CHANGED` if the terminal
    /// modes differ from before).
    pub fn start(server: &TestServer, args: &[&str], env: &[(&str, &str)]) -> Pane {
        Pane::start_at(server.addr, args, env)
    }

    /// Runs `chat-client ARGS` against the server at `addr` (a `chat-server` process's)
    /// in a fresh pane.
    pub fn start_at(addr: SocketAddr, args: &[&str], env: &[(&str, &str)]) -> Pane {
        let data_home = unique_path("data");
        std::fs::create_dir_all(&data_home).expect("create a data directory");
        let pane = Pane {
            socket: unique_path("tmux"),
            data_home,
        };
        pane.launch(addr, args, env);
        pane
    }

    /// Ends this pane and starts the client again in a new one, with the same data
    /// directory.
    pub fn restart(self, server: &TestServer, args: &[&str]) -> Pane {
        self.restart_at(server.addr, args)
    }

    /// Ends this pane and starts the client again against the server at `addr`, with the
    /// same data directory.
    pub fn restart_at(mut self, addr: SocketAddr, args: &[&str]) -> Pane {
        let data_home = std::mem::take(&mut self.data_home);
        drop(self);
        let pane = Pane {
            socket: unique_path("tmux"),
            data_home,
        };
        pane.launch(addr, args, &[]);
        pane
    }

    fn launch(&self, addr: SocketAddr, args: &[&str], env: &[(&str, &str)]) {
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
        let port = addr.port().to_string();
        command.extend(["--host", "127.0.0.1", "--port", &port].map(String::from));
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

    /// Runs a tmux command against this pane's server; returns its output.
    fn tmux(&self, args: &[&str]) -> String {
        let mut process = match Process::start(&mut tmux_command(&self.socket, args)) {
            Ok(process) => process,
            Err(err) if err.kind() == ErrorKind::NotFound => panic!(
                "tmux is not installed; the terminal tests drive chat-client through it: \
                 install tmux (e.g. `apt-get install tmux`) and run the tests again"
            ),
            Err(err) => panic!("could not run tmux: {err}"),
        };
        let exit = process.wait_exit(TIMEOUT);
        assert!(exit.status.success(), "tmux {args:?} failed: {exit:?}");
        exit.stdout.join("\n")
    }

    /// The data directory the client keeps its history in.
    pub fn data_home(&self) -> &Path {
        &self.data_home
    }

    /// The pid of the `chat-client` process: the child of the pane's shell.
    pub fn client_pid(&self) -> i32 {
        let shell: i32 = self
            .tmux(&["display-message", "-p", "-t", "chat", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid");
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .expect("children of the pane's shell");
        children
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .expect("chat-client's pid")
    }

    /// Types `text` as it is.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "chat", "-l", text]);
    }

    /// Presses keys by tmux name: `Enter`, `Tab`, `Up`, `C-c`...
    pub fn press(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "chat", key]);
    }

    /// The screen as plain text, one string per row, trailing blanks removed.
    pub fn screen(&self) -> Vec<String> {
        self.tmux(&["capture-pane", "-p", "-t", "chat"])
            .lines()
            .map(|row| row.trim_end().to_string())
            .collect()
    }

    /// Everything the pane holds, its scrollback first, as plain text.
    pub fn screen_and_history(&self) -> Vec<String> {
        self.tmux(&["capture-pane", "-p", "-S", "-", "-t", "chat"])
            .lines()
            .map(|row| row.trim_end().to_string())
            .collect()
    }

    /// Resizes the window to `columns` x `rows`.
    pub fn resize(&self, columns: usize, rows: usize) {
        let (columns, rows) = (columns.to_string(), rows.to_string());
        self.tmux(&["resize-window", "-t", "chat", "-x", &columns, "-y", &rows]);
    }

    /// The pane's width, as tmux has it.
    pub fn width(&self) -> usize {
        self.format("#{pane_width}")
            .parse()
            .expect("pane_width is a number")
    }

    /// The window title the program set.
    pub fn title(&self) -> String {
        self.format("#{pane_title}")
    }

    /// Whether the terminal bell rang in the window (tmux keeps the flag in a detached
    /// session).
    pub fn bell_rang(&self) -> bool {
        self.format("#{window_bell_flag}") == "1"
    }

    fn format(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "chat", format])
            .trim()
            .to_string()
    }

    /// From now on, every byte the client writes to its terminal is copied to a file;
    /// returns its path (read it with [`std::fs::read`]).
    #[allow(dead_code)]
    pub fn record_output(&self) -> PathBuf {
        let path = unique_path("output");
        let command = format!("cat >> '{}'", path.display());
        self.tmux(&["pipe-pane", "-o", "-t", "chat", &command]);
        path
    }

    /// The screen with colours as escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "chat"])
    }

    /// The cursor column.
    pub fn cursor_x(&self) -> usize {
        self.tmux(&["display-message", "-p", "-t", "chat", "#{cursor_x}"])
            .trim()
            .parse()
            .expect("cursor_x is a number")
    }

    /// Waits until `ready` holds for the screen; fails showing the screen after
    /// [`TIMEOUT`]. Returns the screen.
    pub fn wait(&self, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        let mut screen = Vec::new();
        let shown = eventually(TIMEOUT, || {
            screen = self.screen();
            ready(&screen)
        });
        assert!(
            shown,
            "timed out waiting for {what}; the screen:\n{}",
            screen.join("\n")
        );
        screen
    }

    /// Waits until some row is exactly `row`.
    pub fn wait_row(&self, row: &str) -> Vec<String> {
        self.wait(&format!("a row {row:?}"), |screen| {
            screen.iter().any(|line| line == row)
        })
    }

    /// Waits until the last non-empty row (where the prompt is) is exactly `row`.
    pub fn wait_prompt(&self, row: &str) -> Vec<String> {
        self.wait(&format!("the prompt row {row:?}"), |screen| {
            last_row(screen) == row
        })
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        // Not `tmux`, which panics: a second panic while a failed test unwinds would
        // abort. `kill-server` only signals the server, so it returns at once.
        let _ = tmux_command(&self.socket, &["kill-server"]).output();
        // tmux leaves its socket file behind.
        let _ = std::fs::remove_file(&self.socket);
        if !self.data_home.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.data_home);
        }
    }
}

/// The last non-empty row of a screen.
pub fn last_row(screen: &[String]) -> &str {
    screen
        .iter()
        .rev()
        .find(|row| !row.is_empty())
        .map_or("", String::as_str)
}

/// Where on the screen a row is exactly `row`.
pub fn row_index(screen: &[String], row: &str) -> Option<usize> {
    screen.iter().position(|line| line == row)
}

/// A path of our own in the temporary directory.
fn unique_path(kind: &str) -> PathBuf {
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let name = format!("chat-client-test-{}-{id}.{kind}", std::process::id());
    std::env::temp_dir().join(name)
}

fn tmux_command(socket: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("tmux");
    command.arg("-S").arg(socket).args(args);
    command
}
