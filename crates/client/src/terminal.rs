//! Interactive mode, when stdin and stdout are a terminal: rustyline edits the line on
//! the main thread, a network thread reads the server, and the [`screen`](super::screen)
//! prints what arrives above the line being typed. The prompt shows the current name and
//! room; history is kept per user name in the platform's data directory.

use std::io::{self, Write};
use std::panic;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread;
use std::time::Duration;

use chat_protocol::{self as protocol, Command, ParseError};
use rustix::termios::{self, OptionalActions, Termios};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor, EventHandler, KeyEvent};

use crate::helper::{ChatHelper, CtrlC, CtrlD};
use crate::link::{Event, Link};
use crate::screen::Screen;
use crate::style::Style;
use crate::{ClientError, Options, timestamp};

/// How long to wait for the server to confirm a `/nick` or `/join` before showing the
/// next prompt (which shows the name and room).
const ANSWER_WAIT: Duration = Duration::from_millis(1500);

/// How long to wait, after quitting, for the server's last lines (`* bye`).
const QUIT_WAIT: Duration = Duration::from_secs(3);

/// Lines of input history kept.
const HISTORY_LINES: usize = 1000;

type LineEditor = Editor<ChatHelper, FileHistory>;

/// Runs the interactive client. Returns `Ok` when the user quit.
///
/// # Errors
/// When the client can't connect, loses the connection (without `--reconnect`), or the
/// terminal fails.
pub fn run(options: &Options) -> Result<(), ClientError> {
    let mut editor = new_editor()?;
    let printer = match editor.create_external_printer() {
        Ok(printer) => printer,
        // A terminal the editor can't drive (TERM=dumb, an editor's shell buffer): plain
        // lines work everywhere.
        Err(err) => {
            log::info!("no line editor on this terminal ({err}); using plain lines");
            return crate::pipe::run(options);
        }
    };
    let restore = Restore::save();
    let style = Style::new(options.color);
    let link = Arc::new(Link::new(options));
    let stream = link.connect()?;
    let terminated_by = leave_on_termination(Arc::clone(&link), restore.saved.clone())?;
    let screen = Screen::start(printer).map_err(|err| ClientError::Terminal(err.to_string()))?;
    // The screen interrupts `readline` with SIGINT when the connection is lost; outside
    // `readline` (whose own handler turns it into `Interrupted`) this handler only
    // records it, instead of killing the client with the terminal half set up.
    signal_hook::flag::register(
        signal_hook::consts::SIGINT,
        Arc::new(AtomicBool::new(false)),
    )
    .map_err(|err| ClientError::Terminal(err.to_string()))?;

    let queue = screen.queue();
    let network_link = Arc::clone(&link);
    let timestamps = options.timestamps;
    // Never joined: the process ends when the main thread returns.
    thread::Builder::new()
        .name("network".into())
        .spawn(move || {
            let result = network_link.run(stream, &mut |event| {
                queue.show(show_event(style, &timestamp(timestamps), &event));
                Ok(())
            });
            queue.closed(result);
        })
        .map_err(|err| ClientError::Terminal(err.to_string()))?;

    let chat = Chat {
        link,
        screen,
        style,
        timestamps,
    };
    let result = if chat.choose_name(&mut editor)? {
        chat.converse(&mut editor, options.history)
    } else {
        chat.finish()
    };
    // A SIGTERM's `/quit` can end the session here before the signal thread gets to exit;
    // end with the signal's status either way.
    let signal = terminated_by.load(Ordering::SeqCst);
    if signal != 0 {
        drop(restore);
        std::process::exit(128 + signal);
    }
    result
}

/// The pieces the main loop works with.
struct Chat {
    link: Arc<Link>,
    screen: Screen,
    style: Style,
    timestamps: bool,
}

impl Chat {
    /// Waits for the welcome; while the server refuses names, prompts for another.
    /// Returns whether the name was accepted (`false`: the user quit or the connection
    /// ended).
    fn choose_name(&self, editor: &mut LineEditor) -> Result<bool, ClientError> {
        let mut seen = 0;
        loop {
            let session = self.link.wait_for(None, |session| {
                session.is_joined() || session.answers() > seen
            });
            if session.is_joined() {
                return Ok(true);
            }
            if self.link.is_closed() || self.link.is_quitting() {
                return Ok(false);
            }
            let name = match editor.readline("name> ") {
                Ok(name) => name.trim().to_string(),
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => {
                    self.link.quit();
                    return Ok(false);
                }
                Err(err) => return Err(terminal_error(err)),
            };
            if name.is_empty() {
                continue;
            }
            seen = self.link.session().answers();
            if self.link.send(&name).is_err() || protocol::is_quit(&name) {
                return Ok(false);
            }
        }
    }

    /// The chat loop: prompt, read a line, send it; until the user quits or the
    /// connection is lost.
    fn converse(&self, editor: &mut LineEditor, keep_history: bool) -> Result<(), ClientError> {
        let gate = self.screen.gate();
        editor.set_helper(Some(ChatHelper::new(
            Arc::clone(&self.link),
            self.style,
            self.timestamps,
            Arc::clone(&gate),
        )));
        editor.bind_sequence(
            KeyEvent::ctrl('C'),
            EventHandler::Conditional(Box::new(CtrlC::new(Arc::clone(&gate)))),
        );
        editor.bind_sequence(
            KeyEvent::ctrl('D'),
            EventHandler::Conditional(Box::new(CtrlD::new(Arc::clone(&gate)))),
        );
        let history = keep_history
            .then(|| history_path(self.link.session().name()))
            .flatten();
        if let Some(path) = &history
            && path.exists()
            && let Err(err) = editor.load_history(path)
        {
            log::warn!("could not read history from {}: {err}", path.display());
        }

        loop {
            if self.link.is_closed() {
                return self.finish();
            }
            let session = self.link.session();
            let prompt = self.style.prompt(session.name(), session.room());
            let result = editor.readline(&prompt);
            gate.resume();
            if let Some(helper) = editor.helper() {
                helper.reset();
            }
            match result {
                Ok(input) => {
                    remember(editor, history.as_deref(), &input);
                    if !self.handle(&input) {
                        return self.finish();
                    }
                }
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => {
                    if !self.link.is_closed() {
                        self.link.quit();
                    }
                    return self.finish();
                }
                Err(err) => return Err(terminal_error(err)),
            }
        }
    }

    /// Sends what the user entered (several lines if pasted). Returns `false` after a
    /// quit command.
    fn handle(&self, input: &str) -> bool {
        for line in input.split('\n') {
            let command = protocol::parse_line(line);
            if matches!(command, Err(ParseError::Empty)) {
                continue;
            }
            let seen = self.link.session().answers();
            if let Err(err) = self.link.send(line)
                && !self.link.is_quitting()
            {
                let stamp = timestamp(self.timestamps);
                let text = format!("line not sent: {}", crate::describe(&err));
                self.screen.show(self.style.client_error(&stamp, &text));
            }
            match command {
                Ok(Command::Quit(_)) => return false,
                // The next prompt shows the new name or room, so wait (briefly) for
                // the server to confirm it or say why not.
                Ok(Command::Nick { .. } | Command::Join(_)) => {
                    self.link
                        .wait_for(Some(ANSWER_WAIT), |session| session.answers() > seen);
                }
                _ => {}
            }
        }
        true
    }

    /// Waits for the last lines to be printed; `Ok` if the user quit, the error if the
    /// connection was lost.
    fn finish(&self) -> Result<(), ClientError> {
        self.screen.wait_finished(QUIT_WAIT);
        match self.screen.lost() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// How a server line or news of a reconnection shows.
fn show_event(style: Style, stamp: &str, event: &Event) -> String {
    let status = event.status().unwrap_or_default();
    match event {
        Event::Line(line) => style.server_line(stamp, line),
        Event::Reconnecting { .. } => style.client_error(stamp, &status),
        Event::Reconnected { .. } => style.client_notice(stamp, &status),
    }
}

fn new_editor() -> Result<LineEditor, ClientError> {
    let config = Config::builder()
        .max_history_size(HISTORY_LINES)
        .and_then(|builder| builder.history_ignore_dups(true))
        .map_err(terminal_error)?
        .history_ignore_space(true)
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .build();
    Editor::with_config(config).map_err(terminal_error)
}

fn terminal_error(err: ReadlineError) -> ClientError {
    ClientError::Terminal(err.to_string())
}

/// Where the history of user `name` is kept: `chat-client/NAME.history` in the data
/// directory (`$XDG_DATA_HOME`, or `~/.local/share` on Linux).
fn history_path(name: &str) -> Option<PathBuf> {
    let dir = dirs::data_dir()?.join("chat-client");
    if let Err(err) = std::fs::create_dir_all(&dir) {
        log::warn!("could not create {}: {err}", dir.display());
        return None;
    }
    Some(dir.join(format!("{}.history", protocol::fold_case(name))))
}

/// Adds a line to the history and, if it is kept, appends it to the file at once, so
/// nothing is lost however the client ends.
fn remember(editor: &mut LineEditor, file: Option<&Path>, input: &str) {
    if input.trim().is_empty() {
        return;
    }
    let result = editor
        .add_history_entry(input)
        .and_then(|added| match file {
            Some(path) if added => editor.append_history(path),
            _ => Ok(()),
        });
    if let Err(err) = result {
        log::warn!("could not save input history: {err}");
    }
}

/// On SIGTERM or SIGHUP (a `kill`, a closed terminal window), which would otherwise end
/// the client with the terminal still in raw mode: quits, restores the terminal and exits
/// with 128 + the signal's number, as a shell reports a killed program. Returns where the
/// signal is recorded (0 until one comes).
fn leave_on_termination(
    link: Arc<Link>,
    saved: Option<Termios>,
) -> Result<Arc<AtomicI32>, ClientError> {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP])
        .map_err(|err| ClientError::Terminal(err.to_string()))?;
    let terminated_by = Arc::new(AtomicI32::new(0));
    let recorded = Arc::clone(&terminated_by);
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                recorded.store(signal, Ordering::SeqCst);
                link.quit();
                if let Some(saved) = &saved {
                    restore(saved, true);
                }
                std::process::exit(128 + signal);
            }
        })
        .map_err(|err| ClientError::Terminal(err.to_string()))?;
    Ok(terminated_by)
}

/// Puts the terminal back as it was when dropped, and on a panic in any thread.
struct Restore {
    saved: Option<Termios>,
}

impl Restore {
    fn save() -> Restore {
        let saved = termios::tcgetattr(io::stdin()).ok();
        if let Some(saved) = saved.clone() {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                restore(&saved, true);
                previous(info);
                // A panic on any thread ends the client: the main thread may be blocked
                // reading a key, with nobody left to read the server.
                std::process::exit(101);
            }));
        }
        Restore { saved }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            restore(saved, false);
        }
    }
}

/// Restores the terminal modes, turns off bracketed paste (which the editor turns on
/// while it reads) and resets colours. `interrupted`: the editor may have left the cursor
/// on the prompt, so start a new line.
fn restore(saved: &Termios, interrupted: bool) {
    let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, saved);
    let mut out = io::stdout();
    let _ = out.write_all(b"\x1b[?2004l\x1b[0m");
    if interrupted {
        let _ = out.write_all(b"\r\n");
    }
    let _ = out.flush();
}
