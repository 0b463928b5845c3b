//! One client's connection: the thread that reads its lines through its transport, the name
//! handshake, and the commands it sends once joined (those about rooms, owners and admins
//! in `rooms`).

mod rooms;

pub(crate) use rooms::tell_rekeyed;

use std::borrow::Cow;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::framing::{Frame, LineFramer};
use chat_protocol::{
    self as protocol, Command, HELP, Name, Notice, ParseError, QuitReason, Quoted, Refusal, UtcTime,
};

use crate::account::{Accounts, Login, name_refused};
use crate::address::{Flood, Ticket};
use crate::config::Config;
use crate::queue::{Chunk, CloseReason, Outbox};
use crate::registry::{Farewell, Registry};
use crate::server::Shared;
use crate::store::{Mail, Posted};
use crate::web::{self, Asked};

/// Lines `/history` shows when not told how many.
const DEFAULT_HISTORY_LINES: usize = 20;

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
    /// Too many wrong passwords.
    WrongPasswords,
    /// Too many wrong keys to private rooms.
    WrongKeys,
    /// Banned (by name, at the handshake or `/nick`).
    Banned,
}

impl End {
    /// What the user's room is told.
    fn farewell(&self) -> Farewell {
        let reason = |reason: QuitReason| Farewell::Quit(Some(reason.text().to_string()));
        match self {
            End::Quit(text) => Farewell::Quit(text.clone()),
            End::Closed | End::WrongKeys => reason(QuitReason::Closed),
            End::Lost(_) => reason(QuitReason::Lost),
            End::TooSlow => reason(QuitReason::TooSlow),
            // A user who `/nick`s to a banned name leaves as anyone who quits.
            End::Banned => Farewell::Quit(None),
            End::Shutdown | End::HandshakeTimeout | End::WrongPasswords => Farewell::Silent,
        }
    }
}

/// A joined user, from the connection's point of view. Dropping it leaves the registry, so
/// every way out of the connection thread (including a panic) frees the name.
struct Membership<'a> {
    registry: &'a Registry,
    outbox: Arc<Outbox>,
    key: String,
    name: String,
    /// Set just before the membership is dropped; `connection lost` until then.
    farewell: Farewell,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        self.registry.leave(&self.key, &self.outbox, &self.farewell);
    }
}

/// Serves one client until it leaves. Runs on the connection's own thread.
pub(crate) fn run(shared: &Shared, outbox: Arc<Outbox>, peer: SocketAddr, mut ticket: Ticket) {
    let logs = |level: log::Level| log::log_enabled!(level) && shared.log_limit.allow(peer.ip());
    if logs(log::Level::Info) {
        log::info!("{peer} connected");
    }
    let deadline = Instant::now() + shared.config.handshake_timeout;
    if let Err(err) = outbox.transport().handshake(deadline) {
        if logs(log::Level::Warn) {
            log::warn!("{peer} closed: TLS handshake failed: {err}");
        }
        outbox.abort(CloseReason::Finished);
        return;
    }
    if let Some(ban) = shared.bans.of_address(peer.ip()) {
        if logs(log::Level::Info) {
            log::info!("{peer} refused: banned address");
        }
        shared.note_refused();
        let refusal = Refusal::YouAreBanned {
            until: ban.until,
            reason: ban.reason.as_deref(),
        };
        refuse_after_handshake(shared, &outbox, deadline, &refusal.into());
        return;
    }
    if let Some(web) = outbox.transport().web_socket() {
        match web::serve_head(outbox.transport(), deadline, &shared.config.web_origins) {
            Ok(Asked::Upgrade(response)) => {
                web.send_raw(response);
                web.upgrade();
                if let Err(err) = outbox.transport().set_read_timeout(None) {
                    log::debug!("{peer} read timeout not cleared: {err}");
                }
            }
            Ok(Asked::Answer(response)) => {
                // A page, or a refusal: sent whole, then the connection closes.
                web.send_raw(response);
                outbox.send(&Chunk::from(&[][..]));
                outbox.finish();
                outbox.wait_finished(CLOSE_LINGER);
                outbox.abort(CloseReason::Finished);
                return;
            }
            Err(err) => {
                if logs(log::Level::Info) {
                    log::info!("{peer} closed: no HTTP request: {err}");
                }
                outbox.abort(CloseReason::Finished);
                return;
            }
        }
    }
    let mut connection = Connection {
        shared,
        config: &shared.config,
        registry: &shared.registry,
        outbox: Arc::clone(&outbox),
        peer,
        flood: ticket.flood(),
        member: None,
        wrong_passwords: 0,
        wrong_keys: 0,
        logged_in: false,
    };
    // A read ending because the server closed the socket is explained by why it did.
    let end = match (connection.serve(), outbox.close_reason()) {
        (End::Closed | End::Lost(_), _) if shared.stopping() => End::Shutdown,
        (End::Closed | End::Lost(_), Some(CloseReason::TooSlow)) => End::TooSlow,
        (End::Closed, Some(CloseReason::WriteFailed)) => {
            End::Lost(io::Error::other("write failed"))
        }
        (end, _) => end,
    };
    let name = connection.member.as_ref().map(|member| member.name.clone());
    let who = name.as_deref().unwrap_or("(no name)");
    // The kind of ending, never its text: a quit reason is something a person said.
    match &end {
        End::Lost(err) if logs(log::Level::Warn) => {
            log::warn!("{peer} {who} connection lost: {err}");
        }
        End::TooSlow if logs(log::Level::Warn) => log::warn!("{peer} {who} dropped: too slow"),
        End::HandshakeTimeout if logs(log::Level::Info) => {
            log::info!("{peer} handshake timed out");
        }
        End::WrongPasswords if logs(log::Level::Warn) => {
            log::warn!("{peer} closed: too many wrong passwords");
        }
        End::WrongKeys if logs(log::Level::Warn) => {
            log::warn!("{peer} {who} closed: too many wrong room keys");
        }
        End::Banned if logs(log::Level::Info) => log::info!("{peer} refused: banned name"),
        End::Quit(_) if logs(log::Level::Info) => log::info!("{peer} {who} left: quit"),
        End::Closed if logs(log::Level::Info) => log::info!("{peer} {who} left: closed"),
        _ => {}
    }
    if let Some(mut member) = connection.member.take() {
        member.farewell = end.farewell();
    }
    let deadline = Instant::now() + CLOSE_LINGER;
    if matches!(end, End::Quit(_)) {
        outbox.send_line(Notice::Bye);
    }
    outbox.finish();
    if outbox.wait_finished(CLOSE_LINGER) && matches!(end, End::Quit(_)) {
        linger(&outbox, deadline);
    }
    outbox.abort(CloseReason::Finished);
}

/// Sends `line` and closes, after the TLS handshake (and, on the web port, the upgrade):
/// the refusal reaches the client in the form it reads.
fn refuse_after_handshake(
    shared: &Shared,
    outbox: &Arc<Outbox>,
    deadline: Instant,
    line: &protocol::ServerLine<'_>,
) {
    if let Some(web) = outbox.transport().web_socket() {
        match web::serve_head(outbox.transport(), deadline, &shared.config.web_origins) {
            Ok(Asked::Upgrade(response)) => {
                web.send_raw(response);
                web.upgrade();
            }
            Ok(Asked::Answer(response)) => web.send_raw(response),
            Err(_) => {
                outbox.abort(CloseReason::Finished);
                return;
            }
        }
    }
    outbox.send_borrowed(line);
    outbox.finish();
    outbox.wait_finished(CLOSE_LINGER);
    outbox.abort(CloseReason::Finished);
}

/// Waits (until `deadline`) for the client to close after we finished, discarding what it
/// sends meanwhile.
fn linger(outbox: &Outbox, deadline: Instant) {
    let transport = outbox.transport();
    let mut sink = [0u8; 512];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if transport
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .is_err()
        {
            return;
        }
        match io::Read::read(&mut &*transport, &mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    transport.shutdown(Shutdown::Both);
}

struct Connection<'a> {
    shared: &'a Shared,
    config: &'a Config,
    registry: &'a Registry,
    outbox: Arc<Outbox>,
    peer: SocketAddr,
    flood: &'a mut Flood,
    member: Option<Membership<'a>>,
    /// Wrong passwords this connection sent.
    wrong_passwords: u32,
    /// Refused `/join ROOM KEY`s this connection sent.
    wrong_keys: u32,
    /// Whether this session gave the password of a name registered before it (at the
    /// handshake or with `/nick NAME PASSWORD`): what makes an `--admin` name an admin.
    /// Registering a name now doesn't: whoever first registers an admin's name must not
    /// become one.
    logged_in: bool,
}

impl<'a> Connection<'a> {
    fn serve(&mut self) -> End {
        self.outbox.send_line(Notice::Greeting);
        let handshake_deadline = Instant::now() + self.config.handshake_timeout;
        let mut framer = LineFramer::new(self.config.max_line_bytes);
        // Chat texts gathered from one read, each ending in LF, broadcast together.
        let mut chat = String::new();
        loop {
            loop {
                self.wait_for_flood_token(&mut chat);
                let Some(frame) = framer.next_frame() else {
                    break;
                };
                self.flood.take();
                let end = match frame {
                    Frame::TooLong => {
                        self.flush_chat(&mut chat);
                        let max = self.config.max_line_bytes;
                        self.outbox.send_line(Refusal::LineTooLong { max });
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
                chat = String::new();
            }

            let transport = self.outbox.transport();
            if self.member.is_none() {
                let Some(left) = handshake_deadline.checked_duration_since(Instant::now()) else {
                    self.outbox.send_line(Refusal::HandshakeTimeout);
                    return End::HandshakeTimeout;
                };
                let timeout = left.max(Duration::from_millis(1));
                if let Err(err) = transport.set_read_timeout(Some(timeout)) {
                    return End::Lost(err);
                }
            }
            let filled = framer.fill_from(transport);
            // A TLS alert or key update to answer: a writer sends it, in order.
            if transport.wants_flush() {
                self.outbox.send(&Chunk::from(&[][..]));
            }
            match filled {
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
    fn wait_for_flood_token(&mut self, chat: &mut String) {
        while let Err(wait) = self.flood.check(Instant::now()) {
            self.flush_chat(chat);
            thread::sleep(wait);
        }
    }

    /// Whether a line about this connection may go to the log at `level` (see
    /// [`LogLimit`](crate::log_limit::LogLimit)).
    fn logs(&self, level: log::Level) -> bool {
        log::log_enabled!(level) && self.shared.log_limit.allow(self.peer.ip())
    }

    fn flush_chat(&self, chat: &mut String) {
        if chat.is_empty() {
            return;
        }
        if let Some(member) = &self.member
            && let Some(laggard) = self.registry.say(&member.key, &member.name, chat)
        {
            // Read this sender more slowly rather than drop a recipient that is reading.
            laggard.pace();
        }
        chat.clear();
    }

    /// Handles one line; returns how the connection ends if it does.
    fn handle(&mut self, bytes: &[u8], chat: &mut String) -> Option<End> {
        let Ok(line) = std::str::from_utf8(bytes) else {
            self.flush_chat(chat);
            self.outbox.send_line(Refusal::InvalidUtf8);
            return None;
        };
        #[cfg(test)]
        if line == tests::PANIC_LINE {
            panic!("panic requested by a test");
        }
        // Names and commands are taken as sent (a name with a control character in it is
        // refused, not changed); only the text relayed to others is cleaned.
        if self.member.is_none() {
            return self.handshake(line);
        }
        match protocol::parse_line(line) {
            Ok(Command::Say(text)) => {
                let text = protocol::sanitize(text);
                if text.trim().is_empty() {
                    return None;
                }
                chat.push_str(&text);
                chat.push('\n');
                if chat.len() >= self.config.chat_batch_limit() {
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
                if let Some(refusal) = err.refusal() {
                    self.outbox.send_borrowed(&refusal.into());
                }
                None
            }
        }
    }

    /// Takes a line sent before the client has a name.
    fn handshake(&mut self, line: &str) -> Option<End> {
        let input = line.trim();
        if input.is_empty() {
            return None;
        }
        if protocol::is_quit(input) {
            return Some(End::Quit(None));
        }
        let typed = input.split(' ').next().unwrap_or(input);
        if self.refuse_if_banned(typed) {
            return Some(End::Banned);
        }
        let mut wrong = self.wrong_passwords;
        let login = self.accounts().handshake(input, &mut wrong);
        self.wrong_passwords = wrong;
        match login {
            Login::Joined {
                key,
                name,
                registered,
            } => {
                self.logged_in = registered;
                if self.logs(log::Level::Info) {
                    let how = if registered { " (registered)" } else { "" };
                    log::info!("{} joined as {name}{how}", self.peer);
                }
                // From now on only keepalive decides that a silent client is gone.
                if let Err(err) = self.outbox.transport().set_read_timeout(None) {
                    return Some(End::Lost(err));
                }
                // A name taken back from a ghost may be back in a private room: its
                // client needs the link (to know, and to come back after a reconnect).
                if let Some((room, Some(secret))) = self.registry.room_key(&key) {
                    self.tell_link(&room, &secret);
                }
                self.member = Some(Membership {
                    registry: self.registry,
                    outbox: Arc::clone(&self.outbox),
                    key,
                    name,
                    farewell: End::Lost(io::Error::other("thread ended")).farewell(),
                });
                None
            }
            Login::Again => None,
            Login::Close => Some(End::WrongPasswords),
        }
    }

    /// `/msg NAME TEXT`: to someone online, or left for a registered name that isn't.
    fn message(&self, key: &str, name: &str, to: &str, text: &str) {
        let outbox = &self.outbox;
        let Some(text) = relayed(text) else {
            outbox.send_line(Refusal::Usage {
                usage: "/msg NAME TEXT",
            });
            return;
        };
        match self.registry.whisper(key, to, &text) {
            // Read this sender more slowly rather than drop a recipient that reads.
            Ok(Some(laggard)) => laggard.pace(),
            Ok(None) => {}
            // They may be on another instance, out of reach now.
            Err(_) if self.registry.cut_off() => self.outbox.send_line(Refusal::CutOff {
                what: "a private message to someone on another server",
            }),
            Err(_) => self.leave_message(name, to, &text),
        }
    }

    /// Keeps a private message for a registered user who is offline.
    fn leave_message(&self, from: &str, to: &str, text: &str) {
        let outbox = &self.outbox;
        let no_such_user = || {
            let name = Quoted::new(to);
            outbox.send_borrowed(&Refusal::NoSuchUser { name }.into());
        };
        if !protocol::is_name(to) {
            return no_such_user();
        }
        let key = protocol::name_key(to);
        let account = match self.shared.store.account(&key) {
            Ok(Some(account)) => account,
            Ok(None) => return no_such_user(),
            Err(_) => {
                return outbox.send_line(Refusal::Unavailable {
                    what: "the mailbox",
                });
            }
        };
        let mail = Mail {
            time: UtcTime::now(),
            from: from.to_string(),
            to: account.name.clone(),
            text: text.to_string(),
        };
        let name = &account.name;
        match self.shared.store.post(&key, mail, self.config.mailbox_max) {
            Ok(Posted::Kept) => outbox.send_borrowed(&Notice::Offline { name }.into()),
            Ok(Posted::Full) => outbox.send_borrowed(&Refusal::MailboxFull { name }.into()),
            Err(_) => outbox.send_line(Refusal::Unavailable {
                what: "the mailbox",
            }),
        }
    }

    /// `/nick NEW [PASSWORD]`.
    fn nick(&mut self, input: &str, password: Option<&str>) {
        let Some(member) = &self.member else {
            return;
        };
        let (key, current) = (member.key.clone(), member.name.clone());
        let outbox = Arc::clone(&self.outbox);
        let new_name = match Name::new(input) {
            Ok(name) if password.is_none() && *name == current => {
                outbox.send_borrowed(&Refusal::AlreadyCalled { name: &name }.into());
                return;
            }
            Ok(name) => name,
            Err(reason) => {
                // The name alone: a password after it is never echoed.
                let name = Quoted::new(input);
                outbox.send_borrowed(&Refusal::InvalidName { name, reason }.into());
                return;
            }
        };
        let Some(registered) = self.accounts().may_rename(&new_name, password) else {
            return;
        };
        match self.registry.rename(&key, &new_name) {
            Ok(new_key) => {
                self.registry.set_registered(&new_key, registered);
                self.logged_in = registered;
                if registered {
                    self.accounts().deliver_mail(&new_key, &new_name);
                }
                if self.logs(log::Level::Info) {
                    log::info!("{} renamed {current} to {new_name}", self.peer);
                }
                if let Some(member) = &mut self.member {
                    member.key = new_key;
                    member.name = new_name.to_string();
                }
            }
            Err(err) => outbox.send_borrowed(&name_refused(input, &err)),
        }
    }

    /// `/seen NAME`.
    fn seen(&self, input: &str) {
        let outbox = &self.outbox;
        if !protocol::is_name(input) {
            let name = Quoted::new(input);
            return outbox.send_borrowed(&Refusal::NoSuchUser { name }.into());
        }
        let key = protocol::name_key(input);
        let asker = self
            .member
            .as_ref()
            .map_or("", |member| member.key.as_str());
        if let Some((name, room)) = self.registry.room_of(&key, asker) {
            let room = room.as_deref();
            return outbox.send_borrowed(&Notice::SeenHere { name: &name, room }.into());
        }
        match self.shared.store.last_seen(&key) {
            Ok(Some((name, time))) => {
                let elapsed = UtcTime::now().unix().saturating_sub(time.unix());
                let ago = protocol::ago(Duration::from_secs(elapsed.max(0).unsigned_abs()));
                let (name, ago) = (name.as_str(), ago.as_str());
                outbox.send_borrowed(&Notice::SeenAt { name, time, ago }.into());
            }
            Ok(None) => outbox.send_borrowed(&Refusal::NeverSeen { name: input }.into()),
            Err(_) => outbox.send_line(Refusal::Unavailable { what: "/seen" }),
        }
    }

    /// `/whois NAME`.
    fn whois(&self, input: &str) {
        let outbox = &self.outbox;
        let key = protocol::name_key(input);
        let asker = self
            .member
            .as_ref()
            .map_or("", |member| member.key.as_str());
        let Some(whois) = protocol::is_name(input)
            .then(|| self.registry.whois(&key, asker))
            .flatten()
            .or_else(|| self.registry.remote_whois(&key))
        else {
            let name = Quoted::new(input);
            return outbox.send_borrowed(&Refusal::NoSuchUser { name }.into());
        };
        let registered = whois.registered || matches!(self.shared.store.account(&key), Ok(Some(_)));
        let idle = idle_text(whois.idle);
        let notice = Notice::Whois {
            name: &whois.name,
            registered,
            room: whois.room.as_deref(),
            idle: &idle,
            since: whois.since,
            away: whois.away.as_deref(),
        };
        outbox.send_borrowed(&notice.into());
    }

    /// What account work needs.
    fn accounts(&self) -> Accounts<'_> {
        Accounts {
            store: &*self.shared.store,
            passwords: &self.shared.passwords,
            registry: self.registry,
            outbox: &self.outbox,
            peer: self.peer,
            log_limit: &self.shared.log_limit,
        }
    }

    fn execute(&mut self, command: Command<'_>) -> Option<End> {
        let member = self.member.as_mut()?;
        let outbox = &self.outbox;
        match command {
            Command::Say(_) => {}
            Command::Quit(reason) => {
                return Some(End::Quit(reason.and_then(relayed).map(String::from)));
            }
            Command::Who => outbox.send(&self.registry.who(&member.key)),
            Command::Rooms(filter) => outbox.send(&self.registry.rooms(&member.key, filter)),
            Command::Help => {
                for (usage, what) in HELP {
                    outbox.send_line(Notice::Help { usage, what });
                }
            }
            Command::Me(action) => match relayed(action) {
                None => outbox.send_line(Refusal::Usage {
                    usage: "/me ACTION",
                }),
                Some(action) if protocol::forges_notice(&member.name, &action) => {
                    outbox.send_line(Refusal::ForgedAction);
                }
                Some(action) => self.registry.act(&member.key, &action),
            },
            Command::Msg { to, text } => {
                let (key, name) = (member.key.clone(), member.name.clone());
                self.message(&key, &name, to, text);
            }
            Command::Nick { name, password } => {
                if self.refuse_if_banned(name) {
                    return Some(End::Banned);
                }
                self.nick(name, password);
            }
            Command::History(count) => {
                let max = self.config.history_max;
                let limit = count.unwrap_or(DEFAULT_HISTORY_LINES).min(max);
                match self.registry.history(&member.key, limit) {
                    Ok(lines) => lines.iter().for_each(|line| outbox.send(line)),
                    Err(_) => outbox.send_line(Refusal::Unavailable { what: "history" }),
                }
            }
            Command::Register(password) => {
                let (key, name) = (member.key.clone(), member.name.clone());
                if self.accounts().register(&key, &name, password) {
                    self.registry.set_registered(&key, true);
                }
            }
            Command::Password { old, new } => {
                let (key, name) = (member.key.clone(), member.name.clone());
                self.accounts().change_password(&key, &name, old, new);
            }
            Command::Unregister(password) => {
                let (key, name) = (member.key.clone(), member.name.clone());
                if self.accounts().unregister(&key, &name, password) {
                    self.registry.set_registered(&key, false);
                    self.logged_in = false;
                }
            }
            Command::Seen(name) => self.seen(name),
            Command::Away(reason) => {
                let reason = reason.and_then(relayed).unwrap_or_else(|| "away".into());
                self.registry.set_away(&member.key, Some(&reason));
                outbox.send_borrowed(&Notice::MarkedAway { reason: &reason }.into());
            }
            Command::Back => {
                self.registry.set_away(&member.key, None);
                outbox.send_line(Notice::Back);
            }
            Command::Whois(name) => self.whois(name),
            Command::Join { room, key } => return self.join(room, key),
            Command::Create(room) => self.create(room),
            Command::Invite(name) => self.invite(name),
            Command::Rekey => self.rekey(),
            Command::Topic(text) => self.topic(text),
            Command::Kick { name, reason } => self.kick(name, reason),
            Command::Ban {
                target,
                duration,
                reason,
            } => self.ban(target, duration, reason),
            Command::Unban(target) => self.unban(target),
            Command::Bans => self.bans(),
            Command::Stats => self.stats(),
            Command::Wall(text) => self.wall(text),
        }
        None
    }
}

/// Text for others (an action, a private message, a quit reason) as it is relayed: cleaned
/// and trimmed, or `None` if nothing is left.
fn relayed(text: &str) -> Option<Cow<'_, str>> {
    let clean = match protocol::sanitize(text) {
        Cow::Borrowed(clean) => Cow::Borrowed(clean.trim()),
        Cow::Owned(clean) => Cow::Owned(clean.trim().to_string()),
    };
    (!clean.is_empty()).then_some(clean)
}

/// How long someone has been idle, as `/whois` says it: `5 seconds`, `3 minutes`, ...
fn idle_text(idle: Duration) -> String {
    let seconds = idle.as_secs();
    let (amount, unit) = match seconds {
        0..60 => (seconds, "second"),
        60..3600 => (seconds / 60, "minute"),
        3600..86_400 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("{amount} {unit}{plural}")
}

#[cfg(test)]
pub(crate) mod tests {
    /// A line that makes a connection thread panic, in test builds only, to show that one
    /// failing connection leaves the server and the registry working.
    pub(crate) const PANIC_LINE: &str = "/panic-for-test";
}
