//! The `chat-client` program. In a terminal it is an interactive chat (`terminal`); in a
//! pipe it copies plain lines both ways (`pipe`). Both share the connection (`link`) and
//! what the client knows of its name and room (`session`).
//!
//! # Layout
//! - `link`: connecting, sending, reading on one thread, reconnecting.
//! - `wire`: the connection's bytes, plain TCP or TLS, shared by the reading and the
//!   writing threads.
//! - `trust`: which server certificates are trusted (authorities, `--tls-fingerprint`,
//!   `known_servers`).
//! - `session`: name, room, members, correspondents, rooms and who is ignored, learned
//!   from the server's lines (pure).
//! - `room_link`: invite links (`chat://HOST:PORT/ROOM?key=KEY`, `chats://` for TLS).
//! - `commands`: the command table, and the commands the client carries out itself.
//! - `pipe`: plain lines in and out, for scripts and bots.
//! - `terminal`: the interactive client: the main loop, which alone draws.
//! - `view`: what the window shows, laid out for its size (pure).
//! - `editor`: the line being typed, its keys and its history (pure).
//! - `complete`: what Tab completes (pure).
//! - `style`: colours and the look of each kind of line (pure).
//! - `text`: styled text, display widths and wrapping (pure).

mod commands;
mod complete;
mod editor;
mod link;
mod pipe;
mod room_link;
mod session;
mod style;
mod terminal;
mod text;
mod trust;
mod view;
mod wire;

pub use room_link::{BadLink, RoomLink};
pub use style::no_color_requested;
pub use trust::{Distrust, Fingerprint, KNOWN_SERVERS, TlsSettings};

use std::fmt;
use std::io;

/// Longest line the client accepts from the server; a longer one is cut (the server never
/// sends one: its own limits keep lines far shorter).
pub const MAX_SERVER_LINE: usize = 64 * 1024;

/// How `chat-client` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// The name to ask for.
    pub name: String,
    /// Prefix each line with the local time `[HH:MM] `.
    pub timestamps: bool,
    /// Colour the terminal (ignored in a pipe, which never gets escape codes).
    pub color: bool,
    /// Keep input history in the data directory (terminal only).
    pub history: bool,
    /// Connect again when the connection is lost, instead of exiting.
    pub reconnect: bool,
    /// Ring the terminal bell for mentions and private messages (terminal only).
    pub bell: bool,
    /// The password of a registered name, if given (`CHAT_PASSWORD`, `--password-file`).
    pub password: Option<Password>,
    /// The room to join once connected (from an invite link).
    pub join: Option<RoomLink>,
    /// Connect over TLS, trusting certificates as these say; `None`: plain TCP.
    pub tls: Option<TlsSettings>,
}

/// A password, kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A password; `None` if it is empty.
    pub fn new(text: &str) -> Option<Password> {
        (!text.is_empty()).then(|| Password(text.to_string()))
    }

    /// The password itself, to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Runs the client: interactive in a terminal, plain lines otherwise. Returns `Ok` when the
/// user quit.
///
/// # Errors
/// When the client can't connect, loses the connection (without `--reconnect`), or its
/// terminal or output fails.
pub fn run(options: &Options, interactive: bool) -> Result<(), ClientError> {
    if interactive {
        terminal::run(options)
    } else {
        pipe::run(options)
    }
}

/// Why the client stopped, when it wasn't asked to. Each kind has its own exit status
/// ([`ClientError::exit_status`]) and one line on stderr (its `Display`).
#[derive(Debug)]
pub enum ClientError {
    /// The connection could not be made.
    Connect { addr: String, source: io::Error },
    /// The server turned us away: it is full, our address has too many connections, no
    /// name was sent in time, or (when no one can be asked for another) the name was
    /// refused. Holds the server's error line without its `! `.
    Refused(String),
    /// The server closed the connection or it broke.
    Lost(Option<io::Error>),
    /// The server said it was shutting down, and closed the connection.
    ShutDown,
    /// Writing to stdout failed.
    Output(io::Error),
    /// The terminal could not be set up or read.
    Terminal(String),
    /// The server's TLS certificate is not trusted (unknown, changed, not the pinned one).
    Untrusted(Distrust),
}

/// Exit status after the user quit.
pub const EXIT_QUIT: u8 = 0;
/// Exit status when the connection was lost (without `--reconnect`).
pub const EXIT_LOST: u8 = 1;
/// Exit status when the connection could not be made.
pub const EXIT_CONNECT: u8 = 3;
/// Exit status when the server refused us (full, too many connections, name refused).
pub const EXIT_REFUSED: u8 = 4;
/// Exit status when the terminal or stdout failed.
pub const EXIT_TERMINAL: u8 = 5;
/// Exit status when the server's TLS certificate is not trusted: unknown (in a pipe, or
/// declined), changed since it was trusted, or not the one `--tls-fingerprint` pins.
pub const EXIT_UNTRUSTED: u8 = 6;

impl ClientError {
    /// The process's exit status for this ending (see the README's table).
    pub fn exit_status(&self) -> u8 {
        match self {
            ClientError::Connect { .. } => EXIT_CONNECT,
            ClientError::Refused(_) => EXIT_REFUSED,
            ClientError::Lost(_) | ClientError::ShutDown => EXIT_LOST,
            ClientError::Output(_) | ClientError::Terminal(_) => EXIT_TERMINAL,
            ClientError::Untrusted(_) => EXIT_UNTRUSTED,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { addr, source } => {
                write!(f, "could not connect to {addr}: {}", describe(source))
            }
            ClientError::Refused(reason) => write!(f, "refused by the server: {reason}"),
            ClientError::Lost(None) => write!(f, "connection to server lost"),
            ClientError::Lost(Some(err)) => {
                write!(f, "connection to server lost: {}", describe(err))
            }
            ClientError::ShutDown => write!(f, "connection to server lost: the server shut down"),
            ClientError::Output(err) => write!(f, "could not write output: {err}"),
            ClientError::Terminal(err) => write!(f, "terminal error: {err}"),
            ClientError::Untrusted(distrust) => distrust.fmt(f),
        }
    }
}

impl std::error::Error for ClientError {}

/// A short lowercase description of an I/O error: "connection refused", not
/// "Connection refused (os error 111)".
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// Formats the local time prefix `[HH:MM] `, or nothing when timestamps are off.
pub fn timestamp(on: bool) -> String {
    if on {
        chrono::Local::now().format("[%H:%M] ").to_string()
    } else {
        String::new()
    }
}

/// The local time of something from the past, as its line is stamped: `[HH:MM] ` for
/// today, `[Mon DD HH:MM] ` before.
pub fn past_timestamp(time: std::time::SystemTime) -> String {
    let local: chrono::DateTime<chrono::Local> = time.into();
    if local.date_naive() == chrono::Local::now().date_naive() {
        local.format("[%H:%M] ").to_string()
    } else {
        local.format("[%b %d %H:%M] ").to_string()
    }
}
