//! The `chat-client` program. In a terminal it is an interactive chat (`terminal`); in a
//! pipe it copies plain lines both ways (`pipe`). Both share the connection (`link`) and
//! what the client knows of its name and room (`session`).
//!
//! # Layout
//! - `link`: connecting, sending, reading on one thread, reconnecting.
//! - `session`: name, room and members, learned from the server's notices (pure).
//! - `pipe`: plain lines in and out, for scripts and bots.
//! - `terminal`: the line editor and its main loop.
//! - `screen`: printing incoming lines above the line being typed.
//! - `helper`: the editor's completion, own-line display and key handlers.
//! - `complete`: what Tab completes (pure).
//! - `style`: colours (pure).

mod complete;
mod helper;
mod link;
mod pipe;
mod screen;
mod session;
mod style;
mod terminal;

pub use style::no_color_requested;

use std::fmt;
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};

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

/// Why the client stopped, when it wasn't asked to.
#[derive(Debug)]
pub enum ClientError {
    /// The connection could not be made.
    Connect { addr: String, source: io::Error },
    /// The server closed the connection or it broke.
    Lost(Option<io::Error>),
    /// Writing to stdout failed.
    Output(io::Error),
    /// The terminal could not be set up or read.
    Terminal(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { addr, source } => {
                write!(f, "could not connect to {addr}: {}", describe(source))
            }
            ClientError::Lost(None) => write!(f, "connection to server lost"),
            ClientError::Lost(Some(err)) => {
                write!(f, "connection to server lost: {}", describe(err))
            }
            ClientError::Output(err) => write!(f, "could not write output: {err}"),
            ClientError::Terminal(err) => write!(f, "terminal error: {err}"),
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

/// Connects to `host:port`, trying each address it resolves to.
pub fn connect(host: &str, port: u16) -> Result<TcpStream, ClientError> {
    let addr = format!("{host}:{port}");
    let connect_error = |source| ClientError::Connect {
        addr: addr.clone(),
        source,
    };
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address found");
    for candidate in (host, port).to_socket_addrs().map_err(connect_error)? {
        match TcpStream::connect(candidate) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = err,
        }
    }
    Err(connect_error(last_error))
}

/// Formats the local time prefix `[HH:MM] `, or nothing when timestamps are off.
pub fn timestamp(on: bool) -> String {
    if on {
        chrono::Local::now().format("[%H:%M] ").to_string()
    } else {
        String::new()
    }
}

/// Sends one line, adding the LF.
pub fn send_line(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    stream.write_all(&bytes)
}
