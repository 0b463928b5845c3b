//! The `chat-client` program: connects, sends the name, and runs two threads, one copying
//! stdin to the socket and one (the main thread) printing what the server sends.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crate::protocol;

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

/// Formats the local time prefix `[HH:MM] `.
pub fn timestamp() -> String {
    chrono::Local::now().format("[%H:%M] ").to_string()
}

/// Runs the client with plain lines in and out (for pipes, scripts and bots). Returns
/// `Ok` when the user quit (`/quit` or end of input).
pub fn run_plain(options: &Options) -> Result<(), ClientError> {
    let stream = connect(&options.host, options.port)?;
    let quitting = Arc::new(AtomicBool::new(false));
    send_line(&stream, &options.name).map_err(|err| ClientError::Lost(Some(err)))?;

    let writer = stream
        .try_clone()
        .map_err(|err| ClientError::Lost(Some(err)))?;
    let stdin_quitting = Arc::clone(&quitting);
    // Never joined: it may be blocked on stdin when the server goes away, and returning
    // from here then ends the process.
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || copy_stdin(&writer, &stdin_quitting))
        .map_err(|err| ClientError::Lost(Some(err)))?;

    let mut out = io::stdout().lock();
    // A refused name needs no special case: the server waits for another one, and the
    // stdin thread sends the next line typed as the next try.
    let result = print_server_lines(&stream, &mut out, options.timestamps);
    match result {
        Ok(()) if quitting.load(Ordering::SeqCst) => Ok(()),
        Ok(()) => Err(ClientError::Lost(None)),
        Err(ReadError::Socket(_)) if quitting.load(Ordering::SeqCst) => Ok(()),
        Err(ReadError::Socket(err)) => Err(ClientError::Lost(Some(err))),
        Err(ReadError::Output(err)) => Err(ClientError::Output(err)),
    }
}

/// Sends one line, adding the LF.
pub fn send_line(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    stream.write_all(&bytes)
}

/// Copies stdin to the server line by line. A quit command, or the end of input (which
/// quits the way `/quit` does), marks the client as leaving so that the server closing
/// the connection is expected.
fn copy_stdin(stream: &TcpStream, quitting: &AtomicBool) {
    let stdin = io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if protocol::is_quit(line.trim_end()) {
            quitting.store(true, Ordering::SeqCst);
        }
        if send_line(stream, &line).is_err() {
            return;
        }
    }
    quitting.store(true, Ordering::SeqCst);
    let _ = send_line(stream, "/quit");
    let _ = stream.shutdown(Shutdown::Write);
}

/// Why printing the server's lines stopped.
pub enum ReadError {
    /// Reading from the server failed.
    Socket(io::Error),
    /// Writing to the output failed.
    Output(io::Error),
}

/// Prints every line from the server (with a timestamp if asked) until it closes the
/// connection.
pub fn print_server_lines(
    stream: &TcpStream,
    out: &mut impl Write,
    timestamps: bool,
) -> Result<(), ReadError> {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = (&mut reader)
            .take(MAX_SERVER_LINE as u64)
            .read_until(b'\n', &mut buffer)
            .map_err(ReadError::Socket)?;
        if read == 0 {
            return Ok(());
        }
        if buffer.last() == Some(&b'\n') {
            buffer.pop();
        }
        if buffer.last() == Some(&b'\r') {
            buffer.pop();
        }
        let text = String::from_utf8_lossy(&buffer);
        let line = protocol::strip_controls(&text);
        let prefix = if timestamps {
            timestamp()
        } else {
            String::new()
        };
        writeln!(out, "{prefix}{line}").map_err(ReadError::Output)?;
    }
}
