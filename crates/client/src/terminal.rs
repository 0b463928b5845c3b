//! Interactive mode, when stdin and stdout are a terminal: the client draws the whole
//! window itself (on the terminal's alternate screen, as irssi and weechat do), so that
//! a resize, a flood or a long line is a new layout from the client's own lines, never
//! a patch of what the terminal kept.
//!
//! One thread, the main one, owns the terminal: it alone writes to it. The others only
//! send it what happened, through one channel: a thread reads keys (crossterm's
//! parser), the network thread reads the server (`Link::run`), and the signal thread
//! reports SIGTERM, SIGHUP and SIGINT. Typing is never garbled by incoming lines
//! because both are drawn by the same thread, in one frame, and the terminal is restored
//! by that thread too, after its last frame, however the client ends.

use std::io::{self, Write};
use std::panic;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::{self as protocol, Command, Notice, Refusal, ServerLine, name_key};
use chat_sync::lock;
use crossterm::event::{Event as TermEvent, KeyEventKind};
use rustix::termios::{self, OptionalActions, Termios};

use crate::commands::{self, Answer};
use crate::complete::Known;
use crate::editor::{Editor, Outcome};
use crate::link::{Event, Link};
use crate::style::{self, Style};
use crate::text::Styled;
use crate::trust::{Distrust, Fingerprint};
use crate::view::{Frame, Input, View};
use crate::wire::Wire;
use crate::{ClientError, Options, Password, timestamp};

/// How long to wait, after quitting, for the server's last lines (`* bye`).
const QUIT_WAIT: Duration = Duration::from_secs(3);

/// How long the signal thread gives the main thread to quit and restore the terminal
/// before it does so itself (the main thread may be stuck writing to a dead terminal).
const SIGNAL_GRACE: Duration = Duration::from_secs(2);

/// Lines of input history kept.
const HISTORY_LINES: usize = 1000;

/// Messages queued for the main thread; when full, the network thread waits, and TCP
/// slows the server down.
const QUEUE_EVENTS: usize = 4096;

/// After a bell, mentions and private messages ring again only after this long.
const BELL_QUIET: Duration = Duration::from_secs(5);

/// Columns by which a wrapped line's continuation rows are indented: the width of the
/// `[HH:MM] ` stamp, or two without timestamps.
fn indent(timestamps: bool) -> usize {
    if timestamps { 8 } else { 2 }
}

/// What the main thread is told.
enum Message {
    Term(TermEvent),
    /// Reading the terminal failed (it is gone).
    TermFailed(io::Error),
    Net(Event),
    /// `Link::run` returned: the connection is gone for good.
    Closed(Result<(), ClientError>),
    /// SIGTERM, SIGHUP or SIGINT.
    Signal(i32),
}

/// Runs the interactive client. Returns `Ok` when the user quit.
///
/// # Errors
/// When the client can't connect, is refused, loses the connection (without
/// `--reconnect`), or the terminal fails.
pub fn run(options: &Options) -> Result<(), ClientError> {
    if std::env::var("TERM").is_ok_and(|term| term == "dumb") {
        // A terminal that can't be drawn on (an editor's shell buffer): plain lines.
        return crate::pipe::run(options);
    }
    let link = Arc::new(Link::new(options, true));
    let wire = connect_asking(&link)?;
    let tty = Tty::enter().map_err(|err| ClientError::Terminal(err.to_string()))?;
    let (sender, receiver) = mpsc::sync_channel(QUEUE_EVENTS);
    spawn_threads(&link, wire, &sender, &tty)?;

    let term = std::env::var("TERM").unwrap_or_default();
    let colors_256 = style::has_256_colors(
        &term,
        std::env::var("COLORTERM").ok().as_deref(),
        std::env::var_os("TMUX").is_some(),
    );
    let history_file = options
        .history
        .then(|| history_path(link.session().name()))
        .flatten();
    let notify = notification_kind(
        &term,
        std::env::var("TERM_PROGRAM").ok().as_deref(),
        std::env::var_os("KITTY_WINDOW_ID").is_some(),
        std::env::var_os("VTE_VERSION").is_some(),
    );
    let mut ui = Ui {
        link,
        notify,
        tty: Arc::clone(&tty),
        style: Style::new(colors_256),
        color: options.color,
        timestamps: options.timestamps,
        bell: options.bell,
        view: View::new(indent(options.timestamps)),
        editor: Editor::new(Vec::new()),
        history_file: None,
        history_loaded: false,
        history_wanted: history_file.is_some(),
        size: size(),
        last: None,
        asking_name: false,
        asking_password: None,
        help: Help::None,
        quit_by: None,
        last_bell: None,
        alerts: 0,
        title: String::new(),
    };
    let result = ui.run(&receiver);
    ui.leave();
    result
}

/// Connects; a TLS certificate that nothing vouches for is shown, and the user asked
/// whether to trust it (as ssh asks about a host key), before the screen is taken.
fn connect_asking(link: &Link) -> Result<Arc<Wire>, ClientError> {
    let (server, presented) = match link.connect() {
        Err(ClientError::Untrusted(Distrust::Unknown { server, presented })) => (server, presented),
        other => return other,
    };
    let trusted = ask_trust(&server, presented).map_err(|err| {
        ClientError::Terminal(format!("could not ask whether to trust the server: {err}"))
    })?;
    if !trusted {
        return Err(ClientError::Untrusted(Distrust::Declined {
            server,
            presented,
        }));
    }
    match link.trust(presented) {
        Some(Ok(path)) => println!("remembered in {}", path.display()),
        Some(Err(err)) => eprintln!(
            "chat-client: could not remember it: {err}; it is trusted until the client ends"
        ),
        None => {}
    }
    link.connect()
}

/// Shows the certificate's fingerprint and asks; `true` when the answer is yes (or the
/// fingerprint itself, typed or pasted).
fn ask_trust(server: &str, presented: Fingerprint) -> io::Result<bool> {
    let mut out = io::stdout();
    writeln!(
        out,
        "the server {server} presented an unknown certificate, fingerprint {presented}"
    )?;
    writeln!(
        out,
        "(the server's log shows its fingerprint when it starts: they should be the same)"
    )?;
    loop {
        write!(out, "trust it? (yes/no) ")?;
        out.flush()?;
        let mut answer = String::new();
        if io::stdin().read_line(&mut answer)? == 0 {
            writeln!(out)?;
            return Ok(false);
        }
        let answer = answer.trim();
        if answer.eq_ignore_ascii_case("yes") || Fingerprint::parse(answer) == Ok(presented) {
            return Ok(true);
        }
        if answer.eq_ignore_ascii_case("no") {
            return Ok(false);
        }
        writeln!(out, "please type yes or no")?;
    }
}

fn spawn_threads(
    link: &Arc<Link>,
    wire: Arc<Wire>,
    sender: &SyncSender<Message>,
    tty: &Arc<Tty>,
) -> Result<(), ClientError> {
    let spawn_error = |err: io::Error| ClientError::Terminal(err.to_string());
    let keys = sender.clone();
    // Never joined: it is blocked reading keys when the client ends.
    thread::Builder::new()
        .name("keys".into())
        .spawn(move || {
            loop {
                let message = match crossterm::event::read() {
                    Ok(event) => Message::Term(event),
                    Err(err) => Message::TermFailed(err),
                };
                let failed = matches!(message, Message::TermFailed(_));
                if keys.send(message).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(spawn_error)?;

    let network = sender.clone();
    let network_link = Arc::clone(link);
    thread::Builder::new()
        .name("network".into())
        .spawn(move || {
            let result = network_link.run(wire, &mut |event| {
                network
                    .send(Message::Net(event))
                    .map_err(|_| io::Error::other("the terminal has ended"))
            });
            let _ = network.send(Message::Closed(result));
        })
        .map_err(spawn_error)?;

    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT]).map_err(spawn_error)?;
    let signal_sender = sender.clone();
    let signal_link = Arc::clone(link);
    let signal_tty = Arc::clone(tty);
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = signal_sender.send(Message::Signal(signal));
                // The main thread quits, restores the terminal and exits; if it is
                // stuck, this thread does it instead, once it has had time.
                thread::sleep(SIGNAL_GRACE);
                signal_link.quit();
                signal_tty.restore();
                std::process::exit(128 + signal);
            }
        })
        .map_err(spawn_error)?;
    Ok(())
}

/// The main thread's state: the terminal, the chat, the line being typed.
struct Ui {
    link: Arc<Link>,
    /// How this terminal shows a desktop notification, if it does.
    notify: Option<Notify>,
    tty: Arc<Tty>,
    style: Style,
    color: bool,
    timestamps: bool,
    bell: bool,
    view: View,
    editor: Editor,
    history_file: Option<PathBuf>,
    history_loaded: bool,
    history_wanted: bool,
    /// Columns and rows.
    size: (usize, usize),
    /// The frame on the screen, to redraw only the rows that changed (`None`: redraw all).
    last: Option<Frame>,
    /// Whether the server refused our name and the next line typed is another name.
    asking_name: bool,
    /// The registered name whose password the next line typed is (never shown).
    asking_password: Option<String>,
    /// Where the answer to `/help` is.
    help: Help,
    /// When we quit, the time by which the connection should have closed.
    quit_by: Option<Instant>,
    last_bell: Option<Instant>,
    /// Mentions and private messages since the last key, shown in the window title.
    alerts: usize,
    title: String,
}

/// Where the answer to `/help` is, so the client's own commands follow the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Help {
    None,
    /// Sent; the server's lines have not come yet.
    Asked,
    /// The server's lines are coming.
    Listing,
}

/// What the loop does after handling a message.
enum Step {
    Go,
    End(Result<(), ClientError>),
    /// A signal: restore the terminal and exit with 128 + the signal.
    Exit(i32),
}

impl Ui {
    fn run(&mut self, receiver: &Receiver<Message>) -> Result<(), ClientError> {
        self.draw();
        loop {
            let message = match self.quit_by {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match receiver.recv_timeout(left) {
                        Ok(message) => message,
                        // The server never closed after our `/quit`: we are done anyway.
                        Err(RecvTimeoutError::Timeout) => return Ok(()),
                        Err(RecvTimeoutError::Disconnected) => return Ok(()),
                    }
                }
                None => match receiver.recv() {
                    Ok(message) => message,
                    Err(_) => return Err(ClientError::Lost(None)),
                },
            };
            // Everything that is already waiting is handled before one redraw, so a flood
            // costs one frame per batch, not one per line.
            let mut step = self.handle(message);
            while matches!(step, Step::Go) {
                match receiver.try_recv() {
                    Ok(message) => step = self.handle(message),
                    Err(_) => break,
                }
            }
            self.ring();
            match step {
                Step::Go => self.draw(),
                Step::End(result) => {
                    self.draw();
                    return result;
                }
                Step::Exit(signal) => {
                    self.link.quit();
                    self.leave();
                    std::process::exit(128 + signal);
                }
            }
        }
    }

    fn handle(&mut self, message: Message) -> Step {
        match message {
            Message::Term(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => {
                self.alerts = 0;
                let link = Arc::clone(&self.link);
                let outcome = self.editor.key(key, || known(&link));
                self.outcome(outcome)
            }
            Message::Term(TermEvent::Paste(text)) => {
                self.editor.paste(&text);
                Step::Go
            }
            Message::Term(TermEvent::Resize(..)) => {
                self.size = size();
                self.last = None;
                Step::Go
            }
            Message::Term(_) => Step::Go,
            Message::TermFailed(err) => {
                self.link.quit();
                Step::End(Err(ClientError::Terminal(err.to_string())))
            }
            Message::Net(event) => {
                self.show_event(event);
                Step::Go
            }
            Message::Closed(Ok(())) => Step::End(Ok(())),
            Message::Closed(Err(err)) if self.link.is_quitting() => match err {
                ClientError::Refused(_) => Step::End(Err(err)),
                _ => Step::End(Ok(())),
            },
            Message::Closed(Err(err)) => Step::End(Err(err)),
            Message::Signal(signal) => Step::Exit(signal),
        }
    }

    fn outcome(&mut self, outcome: Outcome) -> Step {
        match outcome {
            Outcome::Redraw => Step::Go,
            Outcome::Submit(input) => self.submit(&input),
            Outcome::Quit => {
                self.quit();
                Step::Go
            }
            Outcome::Clear => {
                self.view.clear();
                self.last = None;
                Step::Go
            }
            Outcome::PageUp | Outcome::PageDown => {
                let (width, height) = self.size;
                let page = height.saturating_sub(3).max(1);
                self.view.scroll(outcome == Outcome::PageUp, page, width);
                Step::Go
            }
        }
    }

    fn quit(&mut self) {
        if self.quit_by.is_none() {
            self.link.quit();
            self.quit_by = Some(Instant::now() + QUIT_WAIT);
        }
    }

    /// Enter: sends what was typed (several lines if pasted), or carries out the
    /// client's own commands. Chat shows as the room sees it; commands are not echoed:
    /// each one's answer (the server's confirmation or error, or the client's) shows.
    fn submit(&mut self, input: &str) -> Step {
        if self.quit_by.is_some() {
            return Step::Go;
        }
        let session = self.link.session();
        if !session.is_joined()
            && let Some(name) = self.asking_password.take()
        {
            match Password::new(input) {
                Some(password) => {
                    if self.link.log_in(password).is_err() {
                        self.quit();
                    }
                }
                None => self.asking_password = Some(name),
            }
            return Step::Go;
        }
        if !session.is_joined() {
            let name = input.trim();
            // Before the server answers the name the client sent, a line would be taken
            // for another name (or for chat): it waits until a name is asked for.
            if !self.asking_name || name.is_empty() {
                return Step::Go;
            }
            self.asking_name = false;
            if self.link.send(name).is_err() || protocol::is_quit(name) {
                self.quit();
            }
            return Step::Go;
        }
        self.remember(input);
        for line in input.split('\n') {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(local) = commands::local(line) {
                for answer in commands::carry_out(&self.link, &local) {
                    self.show_answer(answer);
                }
                continue;
            }
            let stamp = timestamp(self.timestamps);
            match self.link.send(line) {
                Ok(()) => {}
                Err(err) => {
                    if !self.link.is_quitting() {
                        let text = format!("line not sent: {}", crate::describe(&err));
                        let shown = self.style.client_error(&stamp, &text);
                        self.view.push(shown);
                    }
                    continue;
                }
            }
            match protocol::parse_line(line) {
                Ok(Command::Say(text)) => {
                    let name = self.link.session().name().to_string();
                    let shown = self
                        .style
                        .own_chat(&stamp, &name, &protocol::sanitize(text));
                    self.view.push(shown);
                }
                Ok(Command::Quit(_)) => {
                    self.quit_by = Some(Instant::now() + QUIT_WAIT);
                    return Step::Go;
                }
                // The client's own commands are listed after the server's.
                Ok(Command::Help) => self.help = Help::Asked,
                _ => {}
            }
        }
        // Back to the newest lines after sending, as a terminal does after typing.
        self.view.scroll(false, usize::MAX, self.size.0);
        Step::Go
    }

    fn show_answer(&mut self, answer: Answer) {
        let stamp = timestamp(self.timestamps);
        match answer {
            Answer::Notice(text) => {
                let shown = self.style.client_notice(&stamp, &text);
                self.view.push(shown);
            }
            Answer::Error(text) => {
                let shown = self.style.client_error(&stamp, &text);
                self.view.push(shown);
            }
            Answer::Clear => {
                self.view.clear();
                self.last = None;
            }
        }
    }

    fn show_event(&mut self, event: Event) {
        let stamp = timestamp(self.timestamps);
        let status = event.status().unwrap_or_default();
        let shown = match event {
            Event::Line(line) => {
                // Under the session's lock, not a copy of it: this runs for every line.
                let (ignored, joined, (mention, alert)) = self.link.with_session(|session| {
                    let ignored = session.ignores_line(&line);
                    (ignored, session.is_joined(), attention(session, &line))
                });
                if ignored {
                    return;
                }
                if !joined {
                    match ServerLine::parse(&line) {
                        // Asked for in the prompt, without echo.
                        ServerLine::Refusal(Refusal::NeedsPassword { name }) => {
                            self.asking_password = Some(name.to_string());
                            return;
                        }
                        ServerLine::Refusal(Refusal::WrongPassword { name }) => {
                            self.asking_password = Some(name.to_string());
                        }
                        ServerLine::Refusal(_) => self.asking_name = true,
                        _ => {}
                    }
                }
                let help_usage = match ServerLine::parse(&line) {
                    ServerLine::Notice(Notice::Help { usage, .. }) => Some(usage.to_string()),
                    _ => None,
                };
                match self.help {
                    Help::Asked if help_usage.is_some() => self.help = Help::Listing,
                    Help::Listing if help_usage.is_none() => self.list_client_commands(),
                    _ => {}
                }
                if alert {
                    self.alerts += 1;
                }
                let shown = self.style.server_line(&stamp, &line, mention);
                // The server's list ends with `//TEXT`: the client's own commands follow.
                if self.help == Help::Listing
                    && help_usage
                        .as_deref()
                        .is_some_and(|usage| usage.starts_with("//"))
                {
                    self.view.push(shown);
                    self.list_client_commands();
                    return;
                }
                shown
            }
            Event::Quiet(_) => return,
            Event::Reconnecting { .. } => self.style.client_error(&stamp, &status),
            Event::Reconnected { .. } | Event::Warning(_) => {
                self.style.client_notice(&stamp, &status)
            }
        };
        self.view.push(shown);
    }

    /// Adds the client's own commands after the server's `/help` lines.
    fn list_client_commands(&mut self) {
        self.help = Help::None;
        let stamp = timestamp(self.timestamps);
        for help in commands::client_help() {
            let shown = self.style.client_notice(&stamp, &format!("* {help}"));
            self.view.push(shown);
        }
    }

    /// Rings the bell (and asks for a notification where the terminal has them) once
    /// for a burst of mentions and private messages.
    fn ring(&mut self) {
        if self.alerts == 0 || !self.bell {
            return;
        }
        let quiet = self
            .last_bell
            .is_some_and(|last| last.elapsed() < BELL_QUIET);
        if quiet {
            return;
        }
        self.last_bell = Some(Instant::now());
        let place = self.link.with_session(|session| session.room().to_string());
        let text = format!("chat: a mention or a private message in {place}");
        let notification = match self.notify {
            Some(Notify::Osc9) => format!("\x1b]9;{text}\x07"),
            Some(Notify::Osc777) => format!("\x1b]777;notify;chat;{text}\x07"),
            None => String::new(),
        };
        let _ = self.tty.write(format!("\x07{notification}").as_bytes());
    }

    fn remember(&mut self, input: &str) {
        if self.history_wanted && !self.history_loaded {
            self.history_loaded = true;
            self.history_file = history_path(self.link.session().name());
        }
        if self.editor.remember(input)
            && let Some(path) = &self.history_file
            && let Err(err) = append_history(path, input)
        {
            log::warn!("could not save input history to {}: {err}", path.display());
        }
    }

    /// Loads the user's history once the name is known for sure (the welcome).
    fn load_history(&mut self) {
        if self.history_loaded || !self.history_wanted {
            return;
        }
        let session = self.link.session();
        if !session.is_joined() {
            return;
        }
        self.history_loaded = true;
        self.history_file = history_path(session.name());
        if let Some(path) = &self.history_file {
            match read_history(path) {
                Ok(history) => self.editor = Editor::new(history),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => log::warn!("could not read history from {}: {err}", path.display()),
            }
        }
    }

    fn draw(&mut self) {
        self.load_history();
        let session = self.link.session();
        let password = self.asking_password.is_some() && !session.is_joined();
        let prompt = if session.is_joined() {
            self.style
                .prompt(session.name(), session.room(), session.is_private())
        } else if let Some(name) = self.asking_password.as_ref().filter(|_| password) {
            Styled::plain(&format!("password for {name}: "))
        } else if self.asking_name {
            Styled::plain("name> ")
        } else {
            Styled::plain("")
        };
        let status = self.editor.status().map(|text| self.style.status(&text));
        let (width, height) = self.size;
        let frame = self.view.render(
            width,
            height,
            self.color,
            &Input {
                prompt,
                // A password is typed without echo.
                line: if password { "" } else { self.editor.line() },
                before_cursor: if password {
                    ""
                } else {
                    self.editor.before_cursor()
                },
                status,
            },
        );
        let mut out = String::from("\x1b[?2026h\x1b[?25l");
        if self.last.is_none() {
            out.push_str("\x1b[0m\x1b[2J");
        }
        for (index, row) in frame.rows.iter().enumerate() {
            let same = self
                .last
                .as_ref()
                .is_some_and(|last| last.rows.get(index) == Some(row));
            if !same {
                // Erase first, then write: erasing after a row that fills the width
                // would erase its last column.
                out.push_str(&format!("\x1b[{};1H\x1b[2K{row}", index + 1));
            }
        }
        let title = title(&session, self.alerts);
        if title != self.title {
            out.push_str(&format!("\x1b]2;{title}\x07"));
            self.title = title;
        }
        let (column, row) = frame.cursor;
        out.push_str(&format!(
            "\x1b[{};{}H\x1b[?25h\x1b[?2026l",
            row + 1,
            column + 1
        ));
        if self.tty.write(out.as_bytes()).is_ok() {
            self.last = Some(frame);
        }
    }

    fn leave(&mut self) {
        self.tty.restore();
    }
}

/// Whether `line` mentions us (and is to be highlighted), and whether it asks for
/// attention (a mention or a private message from someone else).
fn attention(session: &crate::session::Session, line: &str) -> (bool, bool) {
    let me = name_key(session.name());
    match ServerLine::parse(line) {
        ServerLine::Chat { from, text }
        | ServerLine::Notice(Notice::Action { name: from, text }) => {
            let mention = name_key(from) != me && session.mentions_me(text);
            (mention, mention)
        }
        ServerLine::Private { from, .. } => (false, name_key(from) != me),
        _ => (false, false),
    }
}

/// The escape sequence a terminal takes as a desktop notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notify {
    /// `OSC 9`: iTerm2, WezTerm, kitty.
    Osc9,
    /// `OSC 777 ; notify`: VTE (GNOME Terminal), foot, urxvt.
    Osc777,
}

/// Which notification this terminal understands, from what it says of itself; `None`
/// when unsure (a terminal that doesn't know a sequence may show it).
fn notification_kind(
    term: &str,
    term_program: Option<&str>,
    kitty: bool,
    vte: bool,
) -> Option<Notify> {
    if kitty || matches!(term_program, Some("iTerm.app" | "WezTerm")) {
        Some(Notify::Osc9)
    } else if vte || term.starts_with("foot") || term.starts_with("rxvt") {
        Some(Notify::Osc777)
    } else {
        None
    }
}

/// What Tab may complete, from what the session knows.
fn known(link: &Link) -> Known {
    let session = link.session();
    Known {
        names: session.completion_names(),
        recipients: session.recipients(),
        rooms: session.rooms(),
    }
}

/// The window title: who and where, with the count of mentions and private messages
/// since the last key.
fn title(session: &crate::session::Session, alerts: usize) -> String {
    let place = if session.is_joined() {
        format!("{}@{}", session.name(), session.room())
    } else {
        session.name().to_string()
    };
    // Until the welcome the name is the one typed on the command line: nothing in it may
    // end the title's escape sequence early.
    let place: String = place.chars().filter(|c| !c.is_control()).collect();
    match alerts {
        0 => format!("chat: {place}"),
        count => format!("({count}) chat: {place}"),
    }
}

fn size() -> (usize, usize) {
    crossterm::terminal::size().map_or((80, 24), |(columns, rows)| {
        (usize::from(columns), usize::from(rows))
    })
}

/// The terminal: its modes as they were, and a lock around writing to it, so that
/// nothing is drawn after it was restored (by the main thread, the signal thread's
/// fallback, or a panic).
struct Tty {
    state: Mutex<TtyState>,
}

struct TtyState {
    saved: Option<Termios>,
    restored: bool,
}

/// Switches to the alternate screen, bracketed paste on, the title saved.
const ENTER: &[u8] = b"\x1b[?1049h\x1b[22;0t\x1b[?2004h\x1b[H\x1b[2J";
/// Back to the main screen, bracketed paste off, colours reset, the cursor shown and
/// the title put back.
const LEAVE: &[u8] = b"\x1b[?2004l\x1b[0m\x1b[?25h\x1b[?2026l\x1b[?1049l\x1b[23;0t";

impl Tty {
    /// Saves the terminal's modes, makes it raw and takes the alternate screen; a panic
    /// on any thread restores it and ends the client.
    fn enter() -> io::Result<Arc<Tty>> {
        let saved = termios::tcgetattr(io::stdin())?;
        let mut raw = saved.clone();
        raw.make_raw();
        // Keep output processing, so that a stray `\n` still starts a new line.
        raw.output_modes = saved.output_modes;
        termios::tcsetattr(io::stdin(), OptionalActions::Now, &raw)?;
        let tty = Arc::new(Tty {
            state: Mutex::new(TtyState {
                saved: Some(saved),
                restored: false,
            }),
        });
        let hooked = Arc::clone(&tty);
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            hooked.restore();
            previous(info);
            // A panic on any thread ends the client: the main thread may be waiting
            // for a message nobody will send.
            std::process::exit(101);
        }));
        tty.write(ENTER)?;
        Ok(tty)
    }

    /// Writes to the terminal, unless it was restored.
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let state = lock(&self.state);
        if state.restored {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()
    }

    /// Puts the terminal back as it was, once; nothing is drawn after.
    fn restore(&self) {
        // `try_lock`: a panic while drawing holds the lock on this very thread.
        let mut guard = match self.state.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let state = match guard.as_deref_mut() {
            Some(state) if state.restored => return,
            Some(state) => {
                state.restored = true;
                state.saved.take()
            }
            None => None,
        };
        let mut out = io::stdout();
        let _ = out.write_all(LEAVE);
        let _ = out.flush();
        if let Some(saved) = state {
            let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &saved);
        }
    }
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

/// First line of a history file (the format rustyline wrote, so old files still load).
const HISTORY_HEADER: &str = "#V2";

/// Reads a history file: one entry per line, `\n` and `\\` escaped; the last
/// [`HISTORY_LINES`] are kept.
fn read_history(path: &Path) -> io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    let mut entries: Vec<String> = text
        .lines()
        .filter(|line| *line != HISTORY_HEADER && !line.is_empty())
        .map(unescape)
        .collect();
    let excess = entries.len().saturating_sub(HISTORY_LINES);
    entries.drain(..excess);
    Ok(entries)
}

/// Appends one entry at once, so nothing is lost however the client ends.
fn append_history(path: &Path, entry: &str) -> io::Result<()> {
    let fresh = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = String::new();
    if fresh {
        text.push_str(HISTORY_HEADER);
        text.push('\n');
    }
    text.push_str(&entry.replace('\\', "\\\\").replace('\n', "\\n"));
    text.push('\n');
    file.write_all(text.as_bytes())
}

fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_entries_survive_the_file() {
        let dir = std::env::temp_dir().join(format!("chat-history-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("alice.history");
        let _ = std::fs::remove_file(&path);
        for entry in ["one", "two\nlines", "back\\slash"] {
            append_history(&path, entry).expect("append");
        }
        let read = read_history(&path).expect("read");
        assert_eq!(read, ["one", "two\nlines", "back\\slash"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn notifications_only_where_the_terminal_has_them() {
        assert_eq!(
            notification_kind("xterm-256color", Some("WezTerm"), false, false),
            Some(Notify::Osc9)
        );
        assert_eq!(
            notification_kind("xterm-kitty", None, true, false),
            Some(Notify::Osc9)
        );
        assert_eq!(
            notification_kind("xterm-256color", None, false, true),
            Some(Notify::Osc777)
        );
        assert_eq!(
            notification_kind("foot", None, false, false),
            Some(Notify::Osc777)
        );
        assert_eq!(notification_kind("screen", None, false, false), None);
    }

    #[test]
    fn attention_is_for_mentions_and_private_messages_from_others() {
        let mut session = crate::session::Session::new("alice");
        session.observe("* welcome alice, you are in #lobby (2): alice, bob");
        assert_eq!(attention(&session, "bob: hi Alice!"), (true, true));
        assert_eq!(attention(&session, "* bob waves at alice"), (true, true));
        assert_eq!(attention(&session, "bob: hi all"), (false, false));
        assert_eq!(attention(&session, "bob -> alice: psst"), (false, true));
        assert_eq!(attention(&session, "alice -> bob: psst"), (false, false));
        assert_eq!(attention(&session, "* alice quit"), (false, false));
    }
}
