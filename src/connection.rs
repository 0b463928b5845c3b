//! One client's connection: the thread that reads its lines, the name handshake, and the
//! commands it sends once joined.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::flood::TokenBucket;
use crate::framing::{Frame, LineFramer};
use crate::outbox::{CloseReason, Outbox};
use crate::protocol::{self, Command, ParseError, quote};
use crate::registry::{JoinError, MoveError, Registry};
use crate::server::Config;

/// How much chat from one client is gathered into one broadcast. Lines that arrive together
/// are formatted into one shared buffer and queued once per recipient, instead of once per
/// line per recipient. (A small `--max-backlog-bytes` lowers it; see `chat_batch_limit`.)
const MAX_CHAT_BATCH: usize = 16 * 1024;

/// The largest chat batch buffer a connection keeps while it waits for its client.
const IDLE_CHAT_CAPACITY: usize = 1024;

/// How long a closing connection waits for its last lines to be written and, after `/quit`,
/// for the client to close its side, so those lines reach it instead of being lost to a
/// reset. A client that doesn't read is cut off after this.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// How the connection ended.
#[derive(Debug)]
enum End {
    /// `/quit`, with the user's reason.
    Quit(Option<String>),
    /// The client closed its side.
    Closed,
    /// A read failed (reset, keepalive timeout).
    Lost(io::Error),
    /// Its outbox overflowed.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
    /// No name within the handshake timeout.
    HandshakeTimeout,
}

/// What a member's room is told when it leaves.
enum Farewell {
    /// `* NAME quit` or `* NAME quit (REASON)`.
    Quit(Option<String>),
    /// Nothing: the server is shutting down and everyone is leaving.
    Silent,
}

/// A joined user, from the connection's point of view. Dropping it leaves the registry, so
/// every way out of the connection thread (including a panic) frees the name.
struct Membership<'a> {
    registry: &'a Registry,
    key: String,
    name: String,
    /// Set just before the membership is dropped; `connection lost` until then.
    farewell: Farewell,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        match &self.farewell {
            Farewell::Quit(reason) => self.registry.leave(&self.key, reason.as_deref()),
            Farewell::Silent => self.registry.leave_silently(&self.key),
        }
    }
}

/// Serves one client until it leaves. Runs on the connection's own thread.
pub(crate) fn run(
    config: &Config,
    registry: &Registry,
    outbox: Arc<Outbox>,
    peer: SocketAddr,
    shutting_down: impl Fn() -> bool,
) {
    log::info!("{peer} connected");
    let mut connection = Connection {
        config,
        registry,
        outbox: Arc::clone(&outbox),
        peer,
        flood: TokenBucket::new(config.flood_burst, config.flood_rate, Instant::now()),
        member: None,
    };
    // A read ending because the server closed the socket is explained by why it did.
    let end = match (connection.serve(), outbox.close_reason()) {
        (End::Closed | End::Lost(_), _) if shutting_down() => End::Shutdown,
        (End::Closed | End::Lost(_), Some(CloseReason::TooSlow)) => End::TooSlow,
        (End::Closed, Some(CloseReason::WriteFailed)) => {
            End::Lost(io::Error::other("write failed"))
        }
        (end, _) => end,
    };
    let name = connection.member.as_ref().map(|member| member.name.clone());
    let who = name.as_deref().unwrap_or("(no name)");
    match &end {
        End::Lost(err) => log::warn!("{peer} {who} connection lost: {err}"),
        End::TooSlow => log::warn!("{peer} {who} disconnected: too slow"),
        End::HandshakeTimeout => log::info!("{peer} handshake timed out"),
        end => log::info!("{peer} {who} left ({end:?})"),
    }
    if let Some(mut member) = connection.member.take() {
        let reason = |text: &str| Farewell::Quit(Some(text.to_string()));
        member.farewell = match &end {
            End::Quit(text) => Farewell::Quit(text.clone()),
            End::Closed => reason("connection closed"),
            End::Lost(_) => reason("connection lost"),
            End::TooSlow => reason("too slow"),
            End::Shutdown | End::HandshakeTimeout => Farewell::Silent,
        };
    }
    let deadline = Instant::now() + CLOSE_LINGER;
    if matches!(end, End::Quit(_)) {
        outbox.send_line(protocol::GOODBYE);
    }
    outbox.finish();
    if outbox.wait_finished(CLOSE_LINGER) && matches!(end, End::Quit(_)) {
        linger(&outbox, deadline);
    }
    outbox.abort(CloseReason::Finished);
}

/// Waits (until `deadline`) for the client to close after we finished, discarding what it
/// sends meanwhile.
fn linger(outbox: &Outbox, deadline: Instant) {
    let stream = outbox.stream();
    let mut sink = [0u8; 512];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .is_err()
        {
            return;
        }
        match io::Read::read(&mut &*stream, &mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

struct Connection<'a> {
    config: &'a Config,
    registry: &'a Registry,
    outbox: Arc<Outbox>,
    peer: SocketAddr,
    flood: Option<TokenBucket>,
    member: Option<Membership<'a>>,
}

impl<'a> Connection<'a> {
    fn serve(&mut self) -> End {
        self.outbox.send_line(protocol::GREETING);
        let handshake_deadline = Instant::now() + self.config.handshake_timeout;
        let mut framer = LineFramer::new(self.config.max_line_bytes);
        let mut chat = Vec::new();
        loop {
            loop {
                self.wait_for_flood_token(&mut chat);
                let Some(frame) = framer.next_frame() else {
                    break;
                };
                if let Some(flood) = &mut self.flood {
                    flood.take();
                }
                let end = match frame {
                    Frame::TooLong => {
                        self.flush_chat(&mut chat);
                        let max = self.config.max_line_bytes;
                        self.outbox.send_line(&protocol::line_too_long(max));
                        None
                    }
                    Frame::Line(bytes) => self.handle(bytes, &mut chat),
                };
                if let Some(end) = end {
                    self.flush_chat(&mut chat);
                    return end;
                }
            }
            self.flush_chat(&mut chat);
            // About to wait for the client: a quiet connection keeps no buffers.
            framer.release_memory();
            if framer.buffered() == 0 && chat.capacity() > IDLE_CHAT_CAPACITY {
                chat = Vec::new();
            }

            let stream = self.outbox.stream();
            if self.member.is_none() {
                let Some(left) = handshake_deadline.checked_duration_since(Instant::now()) else {
                    self.outbox.send_line(protocol::HANDSHAKE_TIMEOUT);
                    return End::HandshakeTimeout;
                };
                let timeout = left.max(Duration::from_millis(1));
                if let Err(err) = stream.set_read_timeout(Some(timeout)) {
                    return End::Lost(err);
                }
            }
            match framer.fill_from(stream) {
                Ok(0) => return End::Closed,
                Ok(_) => {}
                // WouldBlock is the handshake's read timeout running out (checked above);
                // TimedOut is TCP giving up on a peer that vanished.
                Err(err) => match err.kind() {
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {}
                    _ => return End::Lost(err),
                },
            }
        }
    }

    /// Sleeps while this client is over its flood allowance; reading stops meanwhile, so
    /// TCP pushes back on the sender.
    fn wait_for_flood_token(&mut self, chat: &mut Vec<u8>) {
        loop {
            let Some(flood) = &mut self.flood else {
                return;
            };
            let Err(wait) = flood.check(Instant::now()) else {
                return;
            };
            self.flush_chat(chat);
            thread::sleep(wait);
        }
    }

    fn flush_chat(&self, chat: &mut Vec<u8>) {
        if chat.is_empty() {
            return;
        }
        if let Some(member) = &self.member
            && let Some(laggard) = self.registry.say(&member.key, &chat.as_slice().into())
        {
            // Read this sender more slowly rather than drop a recipient that is reading.
            laggard.pace();
        }
        chat.clear();
    }

    /// Handles one line; returns how the connection ends if it does.
    fn handle(&mut self, bytes: &[u8], chat: &mut Vec<u8>) -> Option<End> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.flush_chat(chat);
            self.outbox.send_line(protocol::INVALID_UTF8);
            return None;
        };
        let line = protocol::strip_controls(text);
        #[cfg(test)]
        if line == tests::PANIC_LINE {
            panic!("panic requested by a test");
        }
        let Some(member) = &self.member else {
            return self.handshake(&line);
        };
        match protocol::parse_line(&line) {
            Ok(Command::Say(text)) => {
                protocol::append_chat(chat, &member.name, text);
                if chat.len() >= chat_batch_limit(self.config) {
                    self.flush_chat(chat);
                }
                None
            }
            Ok(command) => {
                self.flush_chat(chat);
                self.execute(command)
            }
            Err(ParseError::Empty) => None,
            Err(err) => {
                self.flush_chat(chat);
                self.outbox.send_line(&protocol::error(err));
                None
            }
        }
    }

    /// Takes a line sent before the client has a name.
    fn handshake(&mut self, line: &str) -> Option<End> {
        let name = line.trim();
        if name.is_empty() {
            return None;
        }
        if protocol::is_quit(name) {
            return Some(End::Quit(None));
        }
        match self.registry.join(name, &self.outbox) {
            Ok(key) => {
                log::info!("{} joined as {name}", self.peer);
                // From now on only keepalive decides that a silent client is gone.
                if let Err(err) = self.outbox.stream().set_read_timeout(None) {
                    return Some(End::Lost(err));
                }
                self.member = Some(Membership {
                    registry: self.registry,
                    key,
                    name: name.to_string(),
                    farewell: Farewell::Quit(Some("connection lost".to_string())),
                });
            }
            Err(err) => self.outbox.send_line(&name_refused(name, &err)),
        }
        None
    }

    fn execute(&mut self, command: Command<'_>) -> Option<End> {
        let member = self.member.as_mut()?;
        let reply = match command {
            Command::Say(_) => None,
            Command::Quit(reason) => return Some(End::Quit(reason.map(str::to_string))),
            Command::Who => Some(self.registry.who(&member.key)),
            Command::Rooms => Some(self.registry.rooms()),
            Command::Help => {
                for (usage, what) in protocol::HELP {
                    self.outbox
                        .send_line(&protocol::notice(format_args!("{usage}: {what}")));
                }
                None
            }
            Command::Me(action) if protocol::forges_notice(&member.name, action) => {
                Some(protocol::error("/me can't look like a server notice"))
            }
            Command::Me(action) => {
                self.registry.act(&member.key, action);
                None
            }
            Command::Msg { to, text } => self
                .registry
                .whisper(&member.key, to, text)
                .err()
                .map(|_| protocol::error(format_args!("no such user: {}", quote(to)))),
            Command::Nick(new_name) if new_name == member.name => Some(protocol::error(
                format_args!("you are already called {new_name}"),
            )),
            Command::Nick(new_name) => match self.registry.rename(&member.key, new_name) {
                Ok(new_key) => {
                    log::info!("{} renamed {} to {new_name}", self.peer, member.name);
                    member.key = new_key;
                    member.name = new_name.to_string();
                    None
                }
                Err(err) => Some(name_refused(new_name, &err)),
            },
            Command::Join(room) => match self.registry.move_to(&member.key, room) {
                Ok(()) => None,
                Err(MoveError::AlreadyThere) => {
                    Some(protocol::error(format_args!("you are already in {room}")))
                }
                Err(MoveError::InvalidRoom(err)) => Some(protocol::error(format_args!(
                    "invalid room name {}: {err}; use 1-{} letters, digits, _ or -",
                    quote(room),
                    protocol::MAX_NAME_CHARS
                ))),
            },
        };
        if let Some(reply) = reply {
            self.outbox.send_line(&reply);
        }
        None
    }
}

/// The size at which a chat batch is sent: small against the backlog limit, so that one
/// batch never makes up much of a client's allowed backlog.
fn chat_batch_limit(config: &Config) -> usize {
    MAX_CHAT_BATCH.min(config.max_backlog_bytes / 16)
}

/// The error line for a refused name.
fn name_refused(name: &str, err: &JoinError) -> String {
    match err {
        JoinError::NameTaken => protocol::error(format_args!(
            "name {} is taken, choose another",
            quote(name)
        )),
        JoinError::InvalidName(err) => protocol::error(format_args!(
            "invalid name {}: {err}; use 1-{} letters, digits, _ or -",
            quote(name),
            protocol::MAX_NAME_CHARS
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// A line that makes a connection thread panic, in test builds only, to show that one
    /// failing connection leaves the server and the registry working.
    pub(crate) const PANIC_LINE: &str = "/panic-for-test";
}
