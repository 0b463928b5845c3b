//! The guard for every program a test starts: its stdout lines on a channel, its stderr
//! gathered on a thread, one bounded wait for its exit, and its numbers in `/proc`.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use super::{Lines, TIMEOUT, eventually, show_lines};

/// A running program; killed and reaped when dropped. Its stdin is a pipe, its stdout is
/// read line by line and its stderr kept, each on a thread of its own (so neither pipe
/// can fill up and block the program), and a failure can show everything it said.
pub struct Process {
    /// The program's file name, for failure messages.
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line taken from `lines` so far.
    stdout: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Disconnected once stderr reaches its end.
    stderr_done: Receiver<()>,
}

/// How a program ended: its status, the stdout lines nobody had read yet, and its stderr.
pub struct Exit {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl fmt::Debug for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; stdout after the lines already read: {:#?}; stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl Process {
    /// Starts `command` with its three streams as pipes.
    ///
    /// # Panics
    /// If the program can't be started.
    pub fn spawn(command: &mut Command) -> Process {
        Process::start(command)
            .unwrap_or_else(|err| panic!("could not start {:?}: {err}", command.get_program()))
    }

    /// Starts `command` with its three streams as pipes, or says why it could not.
    pub fn start(command: &mut Command) -> io::Result<Process> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let name = Path::new(command.get_program())
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            // Lossy, so that one bad byte shows up in a failure message instead of ending
            // the output there.
            while let Ok(1..) = stdout.read_until(b'\n', &mut line) {
                let text = String::from_utf8_lossy(&line);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                if sender.send(text.to_string()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (done, stderr_done) = mpsc::channel::<()>();
        let kept = Arc::clone(&stderr);
        thread::spawn(move || {
            let _done = done;
            let mut chunk = [0u8; 4096];
            // Piece by piece, so that what came before a hang can be shown.
            while let Ok(read @ 1..) = stderr_pipe.read(&mut chunk) {
                kept.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&chunk[..read]);
            }
        });
        Ok(Process {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
            stdout: Vec::new(),
            stderr,
            stderr_done,
        })
    }

    /// Runs `command` to its end, which must come within `limit`.
    pub fn run(command: &mut Command, limit: Duration) -> Exit {
        Process::spawn(command).wait_exit(limit)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the program.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("send signal");
    }

    /// Writes `line` and a newline to the program's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to stdin");
    }

    /// Closes the program's stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Every stdout line read so far (by [`Lines::line`] or [`Process::wait_exit`]).
    pub fn stdout(&self) -> &[String] {
        &self.stdout
    }

    /// What the program wrote on stderr so far.
    pub fn stderr(&self) -> String {
        let bytes = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits for the program to exit and its output to end; panics, showing its output, if
    /// that takes longer than `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Exit {
        let mut status = None;
        eventually(limit, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        let Some(status) = status else {
            panic!(
                "{} did not exit within {limit:?}; {}",
                self.name,
                self.transcript()
            );
        };
        // The pipes end with the program, unless it left a child holding them.
        let mut rest = Vec::new();
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{} exited but its stdout never ended", self.name)
                }
            }
        }
        if let Err(RecvTimeoutError::Timeout) = self.stderr_done.recv_timeout(TIMEOUT) {
            panic!("{} exited but its stderr never ended", self.name);
        }
        self.stdout.extend(rest.iter().cloned());
        Exit {
            status,
            stdout: rest,
            stderr: self.stderr(),
        }
    }
}

impl Lines for Process {
    /// The next stdout line; panics, showing all output so far, if none comes in time.
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => {
                self.stdout.push(line.clone());
                line
            }
            Err(err) => panic!(
                "no stdout line from {} within {TIMEOUT:?} ({err}); {}",
                self.name,
                self.transcript()
            ),
        }
    }

    fn transcript(&self) -> String {
        let stderr: Vec<String> = self.stderr().lines().map(String::from).collect();
        format!(
            "{} (pid {}) stdout so far: {}; stderr so far: {}",
            self.name,
            self.pid(),
            show_lines(&self.stdout),
            show_lines(&stderr)
        )
    }
}

impl Drop for Process {
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
