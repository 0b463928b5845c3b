//! The client's connection to the server: lines go out from any thread, one thread reads
//! what comes back, and with `--reconnect` a lost connection is made again (with backoff)
//! and the client rejoins with the same name and room.

use std::io::{self, BufRead, BufReader, Read};
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chat_protocol::{self as protocol, Command, LOBBY};
use chat_sync::{lock, wait_until};

use crate::session::{Session, Update};
use crate::trust::Fingerprint;
use crate::wire::{Connector, Wire};
use crate::{ClientError, MAX_SERVER_LINE, Options, Password, describe};

/// Wait before the first attempt to reconnect; each failure doubles it.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);

/// The longest wait between two attempts to reconnect.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Something to tell the user, besides the server's own lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line from the server, cleaned as the server cleans what it relays.
    Line(String),
    /// A server line that answers what the client did by itself (the greeting it answers
    /// with the name, the welcome and the move back after a reconnect): a transcript keeps
    /// it, a person at a terminal needn't see it.
    Quiet(String),
    /// The connection was lost or an attempt failed; the next attempt comes after `delay`.
    Reconnecting { reason: String, delay: Duration },
    /// Connected and named again after a loss; the client is moving back to `room`.
    Reconnected { name: String, room: String },
    /// Something the user should know about the connection (a password sent in clear).
    Warning(String),
}

impl Event {
    /// What to tell the user about a reconnection; `None` for a server line.
    pub fn status(&self) -> Option<String> {
        match self {
            Event::Line(_) | Event::Quiet(_) => None,
            Event::Reconnecting { reason, delay } => Some(format!(
                "{reason}; reconnecting in {:.1}s",
                delay.as_secs_f64()
            )),
            Event::Reconnected { name, room } => {
                Some(format!("reconnected as {name}, back to {room}"))
            }
            Event::Warning(text) => Some(text.clone()),
        }
    }
}

/// How a connection ended.
enum End {
    /// The server closed it, or it broke.
    Lost(Option<io::Error>),
    /// On a reconnect, the server refused the name (it may still hold the old connection).
    Refused(String),
    /// The server turned us away for good (full, too many connections, our name when
    /// nobody can be asked for another).
    TurnedAway(String),
}

/// Where to go back to after a reconnect: the room, and its key if it is private.
struct Rejoin {
    room: String,
    key: Option<String>,
}

/// The connection, shared by the thread that reads it and those that write to it.
pub struct Link {
    connector: Connector,
    reconnect: bool,
    /// Whether a refused name is shown so that someone can type another (a terminal),
    /// rather than ending the client (a pipe).
    names_asked: bool,
    /// Where user lines go; `None` while (re)connecting.
    writer: Mutex<Option<Arc<Wire>>>,
    session: Mutex<Session>,
    /// Signalled when the session changes, when the user quits and when `run` ends.
    changed: Condvar,
    quitting: AtomicBool,
    closed: AtomicBool,
    /// The name's password, once known: sent with the name, again after a reconnect.
    password: Mutex<Option<Password>>,
    /// The `/join` to send after the first welcome (an invite link's).
    first_join: Mutex<Option<String>>,
    /// Whether the user was warned that a password went out unencrypted (once is enough).
    warned: AtomicBool,
    /// That warning, until the reading thread hands it on.
    warning: Mutex<Option<String>>,
}

impl Link {
    /// A link that will connect as `options` say. `names_asked`: a refused name is
    /// handed on as a line (someone will type another) instead of ending the link.
    pub fn new(options: &Options, names_asked: bool) -> Link {
        Link {
            connector: Connector::new(&options.host, options.port, options.tls.as_ref()),
            reconnect: options.reconnect,
            names_asked,
            writer: Mutex::new(None),
            session: Mutex::new(Session::new(&options.name)),
            changed: Condvar::new(),
            quitting: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            password: Mutex::new(options.password.clone()),
            first_join: Mutex::new(options.join.as_ref().map(|link| link.join_line())),
            warned: AtomicBool::new(false),
            warning: Mutex::new(None),
        }
    }

    /// Sends the handshake line (the name, with its password if there is one).
    fn send_hello(&self, wire: &Wire) -> io::Result<()> {
        let hello = self.hello();
        if lock(&self.password).is_some() {
            self.sent_password(wire);
        }
        wire.send_line(&hello)
    }

    /// Notes that a password went out on `wire`: if that was in clear to another
    /// machine, the user is told (once).
    fn sent_password(&self, wire: &Wire) {
        if wire.exposes_secrets() && !self.warned.swap(true, Ordering::SeqCst) {
            *lock(&self.warning) = Some(format!(
                "warning: your password went to {} unencrypted (plain TCP), so anyone on \
                 the way can read it; use --tls if the server offers it",
                self.connector.addr()
            ));
        }
    }

    /// Hands on the warning about a password in clear, if there is one.
    fn tell_warning(
        &self,
        on_event: &mut dyn FnMut(Event) -> io::Result<()>,
    ) -> Result<(), ClientError> {
        let warning = lock(&self.warning).take();
        match warning {
            Some(text) => on_event(Event::Warning(text)).map_err(ClientError::Output),
            None => Ok(()),
        }
    }

    /// The handshake line: the name, with its password if there is one.
    fn hello(&self) -> String {
        let name = lock(&self.session).name().to_string();
        match &*lock(&self.password) {
            Some(password) => format!("{name} {}", password.expose()),
            None => name,
        }
    }

    /// Logs in to the registered name asked for with `password` (kept for reconnects).
    ///
    /// # Errors
    /// `NotConnected` while the client is reconnecting, or the socket's error.
    pub fn log_in(&self, password: Password) -> io::Result<()> {
        *lock(&self.password) = Some(password);
        // Under the writer's lock, as every send: lines never interleave.
        match &*lock(&self.writer) {
            Some(wire) => self.send_hello(wire),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "not connected")),
        }
    }

    /// Makes the first connection and sends the name, so lines sent from now on follow it.
    ///
    /// # Errors
    /// When the connection can't be made, or (over TLS) the server's certificate is not
    /// trusted.
    pub fn connect(&self) -> Result<Arc<Wire>, ClientError> {
        let wire = Arc::new(self.connector.open()?);
        self.attach(&wire);
        // A failure here shows as the connection lost when `run` reads.
        let _ = self.send_hello(&wire);
        Ok(wire)
    }

    /// Trusts the server certificate with `fingerprint` from now on (the user said so),
    /// and remembers it in `known_servers`. `None` on plain TCP; otherwise the file it
    /// was written to, or why it could not be (it is trusted until the client ends all
    /// the same).
    pub fn trust(&self, fingerprint: Fingerprint) -> Option<io::Result<PathBuf>> {
        self.connector
            .verifier()
            .map(|verifier| verifier.trust(fingerprint))
    }

    /// Waits until the name is accepted and the link's room (if any) asked for, so that
    /// what is sent from now on follows both; returns the session then.
    pub fn wait_joined(&self) -> Session {
        self.wait_for(None, |session| {
            session.is_joined() && lock(&self.first_join).is_none()
        })
    }

    /// A copy of what the client knows of its name, room and room members.
    pub fn session(&self) -> Session {
        lock(&self.session).clone()
    }

    /// Runs `change` on the session under its lock (to read without a copy, or to change
    /// client-side state such as who is ignored); returns what `change` returns.
    pub fn with_session<T>(&self, change: impl FnOnce(&mut Session) -> T) -> T {
        change(&mut lock(&self.session))
    }

    /// Whether the user asked to leave.
    pub fn is_quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }

    /// Whether `run` has returned (the connection is gone for good).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Sends one line typed by the user. A quit command marks the client as leaving, so
    /// the server closing the connection next is expected.
    ///
    /// # Errors
    /// `NotConnected` while the client is reconnecting, or the socket's error.
    pub fn send(&self, line: &str) -> io::Result<()> {
        if protocol::is_quit(line.trim_end()) {
            self.set_quitting();
        }
        let joined = {
            let mut session = lock(&self.session);
            if session.is_joined() {
                session.sent(line);
            } else {
                session.set_requested_name(line.trim());
            }
            session.is_joined()
        };
        match &*lock(&self.writer) {
            Some(wire) => {
                if carries_password(line, joined) {
                    self.sent_password(wire);
                }
                wire.send_line(line)
            }
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "not connected")),
        }
    }

    /// Leaves: sends `/quit` and closes our side, as at the end of input.
    pub fn quit(&self) {
        self.set_quitting();
        if let Some(wire) = &*lock(&self.writer) {
            let _ = wire.send_line("/quit");
            let _ = wire.shutdown(Shutdown::Write);
        }
    }

    fn set_quitting(&self) {
        self.quitting.store(true, Ordering::SeqCst);
        // Taking the lock orders this with a waiter's check of the flag.
        drop(lock(&self.session));
        self.changed.notify_all();
    }

    /// Waits until `done` holds for the session, the connection is gone for good, or
    /// `limit` passes. Returns the session as it is then.
    pub fn wait_for(&self, limit: Option<Duration>, done: impl Fn(&Session) -> bool) -> Session {
        let deadline = limit.map(|limit| Instant::now() + limit);
        let (session, _) = wait_until(&self.changed, lock(&self.session), deadline, |session| {
            done(session) || self.is_closed() || self.is_quitting()
        });
        session.clone()
    }

    /// Reads the server's lines from `wire` (made by [`Link::connect`]) and hands them
    /// (and news of reconnection) to `on_event` until the connection ends for good. With
    /// `--reconnect` a lost connection is made again; otherwise losing it is an error.
    /// Returns `Ok` when the user quit.
    ///
    /// # Errors
    /// `Lost` when the connection ends without the user quitting, `Output` when
    /// `on_event` fails.
    pub fn run(
        &self,
        wire: Arc<Wire>,
        on_event: &mut dyn FnMut(Event) -> io::Result<()>,
    ) -> Result<(), ClientError> {
        let result = self.serve(wire, on_event);
        *lock(&self.writer) = None;
        self.closed.store(true, Ordering::SeqCst);
        drop(lock(&self.session));
        self.changed.notify_all();
        result
    }

    fn serve(
        &self,
        mut wire: Arc<Wire>,
        on_event: &mut dyn FnMut(Event) -> io::Result<()>,
    ) -> Result<(), ClientError> {
        let mut rejoin: Option<Rejoin> = None;
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            let end = self.read(&wire, rejoin.as_ref(), &mut delay, on_event)?;
            *lock(&self.writer) = None;
            let _ = wire.shutdown(Shutdown::Both);
            let joined = lock(&self.session).is_joined();
            let reason = match end {
                End::TurnedAway(error) if !joined => return Err(ClientError::Refused(error)),
                _ if self.is_quitting() => return Ok(()),
                End::Lost(err) if !self.reconnect || !joined => {
                    return Err(if lock(&self.session).shut_down() {
                        ClientError::ShutDown
                    } else {
                        ClientError::Lost(err)
                    });
                }
                End::Refused(error) | End::TurnedAway(error) if !self.reconnect => {
                    return Err(ClientError::Refused(error));
                }
                End::Lost(None) => "connection to server lost".to_string(),
                End::Lost(Some(err)) => format!("connection to server lost: {}", describe(&err)),
                End::Refused(error) | End::TurnedAway(error) => {
                    format!("could not rejoin: {error}")
                }
            };
            rejoin = Some({
                let session = lock(&self.session);
                Rejoin {
                    room: session.room().to_string(),
                    key: session.room_key().map(String::from),
                }
            });
            match self.connect_again(reason, &mut delay, on_event)? {
                Some(next) => wire = Arc::new(next),
                None => return Ok(()),
            }
        }
    }

    /// Reads lines until the connection ends. After a reconnect (`rejoin` holds the room
    /// to go back to) it sends the name first, and user lines wait until the server has
    /// accepted it.
    fn read(
        &self,
        wire: &Arc<Wire>,
        mut rejoin: Option<&Rejoin>,
        delay: &mut Duration,
        on_event: &mut dyn FnMut(Event) -> io::Result<()>,
    ) -> Result<End, ClientError> {
        if rejoin.is_some()
            && let Err(err) = self.send_hello(wire)
        {
            return Ok(End::Lost(Some(err)));
        }
        let mut reader = BufReader::new(&**wire);
        self.tell_warning(on_event)?;
        if !wire.is_tls() && answers_in_tls(&mut reader) {
            return Err(ClientError::Connect {
                addr: self.connector.addr(),
                source: io::Error::other(
                    "the server answered in TLS: this is its TLS port (connect with --tls, \
                     or with a chats:// link)",
                ),
            });
        }
        // Whether the client sent `/join` to go back to its room and awaits the answer.
        let mut moving_back = false;
        loop {
            self.tell_warning(on_event)?;
            let line = match read_line(&mut reader) {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(End::Lost(None)),
                Err(err) => return Ok(End::Lost(Some(err))),
            };
            // A warning about what was sent goes before the answer to it.
            self.tell_warning(on_event)?;
            let update = lock(&self.session).observe(&line);
            self.changed.notify_all();
            let joined = lock(&self.session).is_joined();
            let error = || line.strip_prefix("! ").unwrap_or(&line).to_string();
            match update {
                Update::Closing => return Ok(End::TurnedAway(error())),
                Update::Refused if rejoin.is_none() && !joined && !self.names_asked => {
                    return Ok(End::TurnedAway(with_password_hint(error())));
                }
                Update::Welcomed if rejoin.is_none() => {
                    on_event(Event::Line(line)).map_err(ClientError::Output)?;
                    let first_join = lock(&self.first_join).clone();
                    let sent = first_join.map(|join| self.send(&join));
                    *lock(&self.first_join) = None;
                    drop(lock(&self.session));
                    self.changed.notify_all();
                    if let Some(Err(err)) = sent {
                        return Ok(End::Lost(Some(err)));
                    }
                    continue;
                }
                Update::Greeted => {
                    // Once is enough: a reconnect's greeting is not shown again.
                    if rejoin.is_none() {
                        on_event(Event::Quiet(line)).map_err(ClientError::Output)?;
                    }
                    continue;
                }
                Update::Moved if moving_back => {
                    moving_back = false;
                    on_event(Event::Quiet(line)).map_err(ClientError::Output)?;
                    continue;
                }
                Update::Refused => moving_back = false,
                _ => {}
            }
            if let Some(Rejoin { room, key }) = rejoin {
                match update {
                    Update::Welcomed => {
                        let (name, here) = {
                            let session = lock(&self.session);
                            (session.name().to_string(), session.room().to_string())
                        };
                        // A name taken back from a ghost is already back in its room.
                        if !protocol::same_room(room, LOBBY) && !protocol::same_room(room, &here) {
                            let join = match key {
                                Some(key) => format!("/join {room} {key}"),
                                None => format!("/join {room}"),
                            };
                            lock(&self.session).sent(&join);
                            if let Err(err) = wire.send_line(&join) {
                                return Ok(End::Lost(Some(err)));
                            }
                            moving_back = true;
                        }
                        self.attach(wire);
                        if self.is_quitting() {
                            let _ = wire.send_line("/quit");
                        }
                        *delay = FIRST_RETRY_DELAY;
                        on_event(Event::Quiet(line)).map_err(ClientError::Output)?;
                        on_event(Event::Reconnected {
                            name,
                            room: room.to_string(),
                        })
                        .map_err(ClientError::Output)?;
                        rejoin = None;
                        continue;
                    }
                    Update::Refused => {
                        let error = line.strip_prefix("! ").unwrap_or(&line).to_string();
                        return Ok(End::Refused(error));
                    }
                    // The greeting and anything else before the welcome was seen before.
                    _ => continue,
                }
            }
            on_event(Event::Line(line)).map_err(ClientError::Output)?;
        }
    }

    fn attach(&self, wire: &Arc<Wire>) {
        *lock(&self.writer) = Some(Arc::clone(wire));
    }

    /// Tries to connect until it works, waiting longer after each failure. `None` when
    /// the user quit meanwhile.
    ///
    /// # Errors
    /// `Untrusted` when the server's certificate is no longer trusted: that is not
    /// retried.
    fn connect_again(
        &self,
        mut reason: String,
        delay: &mut Duration,
        on_event: &mut dyn FnMut(Event) -> io::Result<()>,
    ) -> Result<Option<Wire>, ClientError> {
        loop {
            on_event(Event::Reconnecting {
                reason,
                delay: *delay,
            })
            .map_err(ClientError::Output)?;
            self.wait_for(Some(*delay), |_| false);
            if self.is_quitting() {
                return Ok(None);
            }
            *delay = (*delay * 2).min(MAX_RETRY_DELAY);
            // Only the stream: `read` sends the name, once, and user lines wait for the
            // welcome (sent earlier, they would be taken for the name or sent as chat).
            match self.connector.open() {
                Ok(wire) => return Ok(Some(wire)),
                Err(err @ ClientError::Untrusted(_)) => return Err(err),
                Err(ClientError::Connect { source, .. }) => {
                    reason = format!("could not reconnect: {}", describe(&source));
                }
                Err(err) => reason = format!("could not reconnect: {err}"),
            }
        }
    }
}

/// Whether the first bytes from the server are a TLS record (an alert or a handshake
/// message, TLS 1.x), as a TLS port answers a client that speaks plain lines to it.
fn answers_in_tls(reader: &mut impl BufRead) -> bool {
    reader
        .fill_buf()
        .is_ok_and(|bytes| bytes.len() >= 2 && matches!(bytes[0], 0x15 | 0x16) && bytes[1] == 3)
}

/// Whether `line` holds a password: a name with one before the welcome (`joined` is
/// false), or a command that takes one.
fn carries_password(line: &str, joined: bool) -> bool {
    if !joined {
        return line.split_whitespace().nth(1).is_some();
    }
    matches!(
        protocol::parse_line(line),
        Ok(Command::Register(_)
            | Command::Password { .. }
            | Command::Unregister(_)
            | Command::Nick {
                password: Some(_),
                ..
            })
    )
}

/// A refusal in a pipe (nobody to ask): a registered name's says where a password comes
/// from.
fn with_password_hint(error: String) -> String {
    if matches!(
        protocol::ServerLine::parse(&format!("! {error}")),
        protocol::ServerLine::Refusal(protocol::Refusal::NeedsPassword { .. })
    ) {
        return format!("{error} (give it with CHAT_PASSWORD or --password-file FILE)");
    }
    error
}

/// Reads one line (at most [`MAX_SERVER_LINE`] bytes; a longer one is cut), without its
/// line ending and cleaned ([`protocol::sanitize`]: no controls, no line separators, no
/// open bidi scope), in case the server didn't. `None` at the end of the stream.
pub fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buffer = Vec::new();
    let read = reader
        .take(MAX_SERVER_LINE as u64)
        .read_until(b'\n', &mut buffer)?;
    if read == 0 {
        return Ok(None);
    }
    if buffer.last() == Some(&b'\n') {
        buffer.pop();
    }
    if buffer.last() == Some(&b'\r') {
        buffer.pop();
    }
    let text = String::from_utf8_lossy(&buffer);
    Ok(Some(protocol::sanitize(&text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_answer_is_told_from_a_greeting() {
        let alert: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];
        assert!(answers_in_tls(&mut BufReader::new(alert)));
        let greeting: &[u8] = b"* hello! send your name\n";
        assert!(!answers_in_tls(&mut BufReader::new(greeting)));
        assert!(!answers_in_tls(&mut BufReader::new(&b""[..])));
    }

    #[test]
    fn passwords_are_found_where_they_are_sent() {
        assert!(carries_password("alice hunter22", false));
        assert!(!carries_password("alice", false));
        assert!(!carries_password(" alice ", false));
        for line in [
            "/register hunter22",
            "/password old new",
            "/unregister hunter22",
            "/nick bob hunter22",
        ] {
            assert!(carries_password(line, true), "{line}");
        }
        for line in ["/nick bob", "hello there", "/join #dev key", "/msg bob hi"] {
            assert!(!carries_password(line, true), "{line}");
        }
    }
}
