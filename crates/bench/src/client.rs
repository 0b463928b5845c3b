//! One simulated client: its socket, where it is in the handshake, what it still has to
//! write, and what it has received from each sender.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpStream;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
use rustls::ClientConnection;

use crate::stats::SeqTrack;
use crate::web::WebSocket;

/// The receive buffer a never-reading client asks for, so that the server's backlog for it
/// grows (and passes the server's limit) after a few KiB instead of after the several MiB
/// that loopback sockets otherwise buffer.
const SLOW_RECEIVE_BUFFER: usize = 4 * 1024;

/// An unfinished line longer than this is dropped (the server's lines are at most about
/// 4 KiB of text plus a name).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Where a client is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not connected yet.
    Idle,
    /// `connect` is in progress.
    Connecting,
    /// Connected, name sent, waiting for the welcome.
    Handshake,
    /// Welcomed: in the room.
    Joined,
    /// Gone (failed, closed by the server, or no longer read).
    Closed,
}

/// One connection of the load generator.
#[derive(Debug)]
pub struct Client {
    /// Its number in the run (0 is the prober and first sender); also its sender id.
    pub index: usize,
    pub stage: Stage,
    /// The connection, from `connect` until the client is closed.
    pub stream: Option<TcpStream>,
    /// With `--tls`, the TLS session over `stream`, from the moment it connected until
    /// the client is closed. `out` is plaintext then, handed to it as it takes it.
    pub tls: Option<Box<ClientConnection>>,
    /// With `--web`, the WebSocket over the connection (or over `tls`), from the moment
    /// it connected until the client is closed. Lines queued in `out` are framed before
    /// they are written; `out` then holds the upgrade request and frames.
    pub web: Option<Box<WebSocket>>,
    /// Never reads once the measurement starts (slow-reader).
    pub slow: bool,
    /// When `connect` was called, in nanoseconds since the run's base instant.
    pub started: u64,
    /// The unfinished last line of the previous read.
    pub carry: Vec<u8>,
    /// The carried line grew past [`MAX_LINE_BYTES`]; drop bytes up to the next LF.
    pub skipping: bool,
    /// Bytes to write: `out[written..]`.
    pub out: Vec<u8>,
    pub written: usize,
    /// Has seen a readiness probe.
    pub probed: bool,
    /// What arrived from each sender, by sender id (allocated on joining).
    pub tracks: Vec<SeqTrack>,
    /// Measured messages this client has queued so far, as a sender.
    pub next_seq: u64,
    /// Measured messages this client has received (each counted once).
    pub received: u64,
    /// The worker's round in which it last queued a batch of messages.
    pub batch_round: u64,
    /// In the worker's list of clients to serve again next round.
    pub again: bool,
    /// The poll reported the server's end of the connection closed: read to the end of the
    /// stream, past short reads.
    pub peer_closed: bool,
}

impl Client {
    /// A client that has not connected yet.
    pub fn new(index: usize, slow: bool) -> Client {
        Client {
            index,
            stage: Stage::Idle,
            stream: None,
            tls: None,
            web: None,
            slow,
            started: 0,
            carry: Vec::new(),
            skipping: false,
            out: Vec::new(),
            written: 0,
            probed: false,
            tracks: Vec::new(),
            next_seq: 0,
            received: 0,
            batch_round: u64::MAX,
            again: false,
            peer_closed: false,
        }
    }

    /// Whether bytes are waiting to be written (or, with TLS, to be handed to the session).
    pub fn has_output(&self) -> bool {
        self.written < self.out.len()
    }

    /// Whether the TLS session has records the socket has not taken yet.
    pub fn tls_pending(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Forgets written output, so new lines start at the front of the buffer.
    pub fn compact_output(&mut self) {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            if let Some(web) = &mut self.web {
                web.output_cleared();
            }
        }
    }

    /// Adds the bytes of an unfinished line to `carry`, within [`MAX_LINE_BYTES`].
    pub fn carry_partial(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        if self.carry.len() + bytes.len() > MAX_LINE_BYTES {
            log::warn!(
                "client {}: dropped a line over {MAX_LINE_BYTES} bytes",
                self.index
            );
            self.carry.clear();
            self.skipping = true;
            return;
        }
        self.carry.extend_from_slice(bytes);
    }
}

/// Opens a non-blocking TCP connection with Nagle off (and a small receive buffer for a
/// client that won't read). Returns the stream and whether it is already connected.
///
/// # Errors
/// If the socket can't be created or the connection fails at once (refused, say).
pub fn connect(addr: SocketAddr, slow: bool) -> io::Result<(TcpStream, bool)> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let socket = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_tcp_nodelay(&socket, true)?;
    if slow {
        // Before connecting, so the window the server sees is small from the start.
        sockopt::set_socket_recv_buffer_size(&socket, SLOW_RECEIVE_BUFFER)?;
    }
    let connected = match rustix::net::connect(&socket, &addr) {
        Ok(()) => true,
        Err(Errno::INPROGRESS | Errno::INTR) => false,
        Err(err) => return Err(err.into()),
    };
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket));
    Ok((stream, connected))
}

/// The outcome of a connect in progress, once the socket says it is writable.
pub fn connect_result(stream: &TcpStream) -> io::Result<bool> {
    if let Some(err) = stream.take_error()? {
        return Err(err);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(err) => Err(err),
    }
}
