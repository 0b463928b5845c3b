//! The commands about rooms and moderation: `/join` (with a private room's key), `/create`,
//! `/invite`, `/rekey`, `/topic`, `/kick`, and the admins' `/ban`, `/unban`, `/bans`,
//! `/stats` and `/wall`. Nothing here logs a private room's name, key or text.

use std::sync::Arc;
use std::time::Duration;

use chat_protocol::{self as protocol, Notice, Quoted, Refusal, UtcTime, parse_duration};

use super::{Connection, End, relayed};
use crate::ban::Target;
use crate::queue::Outbox;
use crate::registry::{MoveError, RoomError};
use crate::room_key::{RoomKey, invite_link, web_link};
use crate::server::Shared;
use crate::store::Ban;
use crate::transport::Transport;

/// Refused `/join ROOM KEY`s after which a connection is closed.
pub const MAX_WRONG_KEYS: u32 = 5;

/// How long a ban lasts when `/ban` doesn't say.
const DEFAULT_BAN: Duration = Duration::from_secs(3600);

impl Connection<'_> {
    /// `/join ROOM [KEY]`.
    pub(super) fn join(&mut self, room: &str, key: Option<&str>) -> Option<End> {
        let member = self.member.as_ref()?;
        let outbox = &self.outbox;
        match self.registry.move_to(&member.key, room, key) {
            Ok(private) => {
                if self.logs(log::Level::Info) {
                    let peer = self.peer;
                    match private {
                        true => log::info!("{peer} {} joined a private room", member.name),
                        false => log::info!("{peer} {} moved to {room}", member.name),
                    }
                }
                // A member knows the room's link (and their client that the room is
                // private, and how to come back after a reconnect).
                if private && let Some((room, Some(key))) = self.registry.room_key(&member.key) {
                    self.tell_link(&room, &key);
                }
            }
            Err(MoveError::AlreadyThere) => {
                outbox.send_borrowed(&Refusal::AlreadyInRoom { room }.into());
            }
            Err(MoveError::TooManyRooms(max)) => outbox.send_line(Refusal::TooManyRooms { max }),
            Err(MoveError::InvalidRoom(reason)) => {
                let room = Quoted::new(room);
                outbox.send_borrowed(&Refusal::InvalidRoom { room, reason }.into());
            }
            Err(MoveError::NeedInvite(room)) => {
                outbox.send_borrowed(&Refusal::NeedInvite { room: &room }.into());
                if key.is_some() {
                    self.wrong_keys += 1;
                    if self.wrong_keys >= MAX_WRONG_KEYS {
                        outbox.send_line(Refusal::TooManyKeys);
                        return Some(End::WrongKeys);
                    }
                }
            }
        }
        None
    }

    /// The invite links to `room` with `key`, for this client (see [`links_for`]).
    fn links(&self, room: &str, key: &RoomKey) -> Vec<String> {
        links_for(self.shared, self.outbox.transport(), room, key)
    }

    /// `* #ROOM is private; invite link: ...`, with this client's links.
    pub(super) fn tell_link(&self, room: &str, key: &RoomKey) {
        let links = self.links(room, key);
        let links = links.iter().map(String::as_str).collect();
        let notice = Notice::PrivateRoom { room, links };
        self.outbox.send_borrowed(&notice.into());
    }

    /// `/create [ROOM]`.
    pub(super) fn create(&mut self, room: Option<&str>) {
        let Some(member) = &self.member else {
            return;
        };
        let outbox = &self.outbox;
        match self.registry.create(&member.key, room) {
            Ok((room, key)) => {
                if self.logs(log::Level::Info) {
                    log::info!("{} {} created a private room", self.peer, member.name);
                }
                self.tell_link(&room, &key);
            }
            Err(RoomError::Move(MoveError::InvalidRoom(reason))) => {
                let room = Quoted::new(room.unwrap_or_default());
                outbox.send_borrowed(&Refusal::InvalidRoom { room, reason }.into());
            }
            Err(err) => self.refuse(&err),
        }
    }

    /// `/invite [NAME]`.
    pub(super) fn invite(&self, name: Option<&str>) {
        let Some(member) = &self.member else {
            return;
        };
        let outbox = &self.outbox;
        let Some(name) = name else {
            let Some((room, key)) = self.registry.room_key(&member.key) else {
                return;
            };
            match key {
                Some(key) => {
                    self.tell_link(&room, &key);
                }
                None => outbox.send_borrowed(&Notice::PublicRoom { room: &room }.into()),
            }
            return;
        };
        let no_such_user = || {
            let name = Quoted::new(name);
            outbox.send_borrowed(&Refusal::NoSuchUser { name }.into());
        };
        if !protocol::is_name(name) {
            return no_such_user();
        }
        match self.registry.invite(&member.key, name) {
            Ok(invitation) => {
                let notice = Notice::InviteSent {
                    room: &invitation.room,
                    name: &invitation.name,
                };
                outbox.send_borrowed(&notice.into());
            }
            Err(RoomError::NoSuchUser) => no_such_user(),
            Err(err) => self.refuse(&err),
        }
    }

    /// `/rekey`.
    pub(super) fn rekey(&self) {
        let Some(member) = &self.member else {
            return;
        };
        match self.registry.rekey(&member.key) {
            // Every member is told the new link: they stay members, and their clients
            // need it to come back after a reconnect.
            // Each with the links for their own connection.
            Ok((room, key)) => {
                let outboxes = self.registry.room_outboxes(&member.key);
                tell_rekeyed(self.shared, &outboxes, &room, &key);
            }
            Err(err) => self.refuse(&err),
        }
    }

    /// `/topic [TEXT]` (`-` clears it).
    pub(super) fn topic(&self, text: Option<&str>) {
        let Some(member) = &self.member else {
            return;
        };
        let outbox = &self.outbox;
        let Some(text) = text else {
            if let Some(line) = self.registry.topic(&member.key) {
                outbox.send(&line);
            }
            return;
        };
        let text = match text.trim() {
            "-" => None,
            text => match relayed(text) {
                Some(text) => Some(text),
                None => {
                    return outbox.send_line(Refusal::Usage {
                        usage: "/topic [TEXT]",
                    });
                }
            },
        };
        match self.registry.set_topic(&member.key, text.as_deref()) {
            Ok(Some(room_key)) => {
                if self
                    .shared
                    .store
                    .set_topic(&room_key, text.as_deref())
                    .is_err()
                {
                    outbox.send_line(Refusal::Unavailable {
                        what: "keeping the topic",
                    });
                }
            }
            Ok(None) => {}
            Err(err) => self.refuse(&err),
        }
    }

    /// `/kick NAME [REASON]`.
    pub(super) fn kick(&self, name: &str, reason: Option<&str>) {
        let Some(member) = &self.member else {
            return;
        };
        let reason = reason.and_then(relayed);
        let admin = self.is_admin();
        match self
            .registry
            .kick(&member.key, name, reason.as_deref(), admin)
        {
            Ok(kicked) => {
                if self.logs(log::Level::Info) {
                    log::info!("{} {} kicked {}", self.peer, member.name, kicked.name);
                }
            }
            Err(err) => self.refuse(&err),
        }
    }

    /// Whether this session is a server admin's: a `--admin` name, logged in with the
    /// password it was registered with before this session.
    fn is_admin(&self) -> bool {
        self.logged_in
            && self
                .member
                .as_ref()
                .is_some_and(|member| self.config.is_admin_name(&member.key))
    }

    /// Refuses what only admins may do; `true` if it refused.
    fn not_admin(&self) -> bool {
        if self.is_admin() {
            return false;
        }
        self.outbox.send_line(Refusal::NotAdmin);
        true
    }

    /// `/ban NAME|ADDRESS [DURATION] [REASON]`.
    pub(super) fn ban(&self, target: &str, duration: Option<&str>, reason: Option<&str>) {
        if self.not_admin() {
            return;
        }
        let outbox = &self.outbox;
        let usage = || {
            outbox.send_line(Refusal::Usage {
                usage: "/ban NAME|ADDRESS [DURATION] [REASON]",
            });
        };
        let Some(parsed) = Target::parse(target) else {
            return usage();
        };
        let seconds = match duration {
            Some(duration) => match parse_duration(duration) {
                Some(seconds) => seconds,
                None => return usage(),
            },
            None => DEFAULT_BAN.as_secs(),
        };
        let until = (seconds > 0).then(|| {
            let now = UtcTime::now().unix();
            UtcTime::from_unix(now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)))
        });
        let reason = reason.and_then(relayed).map(|reason| reason.into_owned());
        let mut ban = Ban {
            name: None,
            address: None,
            until,
            reason: reason.clone(),
        };
        match &parsed {
            Target::Address(address) => ban.address = Some(*address),
            Target::Name(name) => {
                let key = protocol::name_key(name);
                ban.name = Some(
                    self.registry
                        .room_of(&key, "")
                        .map_or_else(|| name.clone(), |(name, _)| name),
                );
                ban.address = self.registry.address_of(&key);
            }
        }
        // Kept first: if the store can't keep it, nobody is put out for nothing.
        if self
            .shared
            .bans
            .add(&*self.shared.store, ban.clone())
            .is_err()
        {
            return outbox.send_line(Refusal::Unavailable { what: "banning" });
        }
        if let Some(name) = &ban.name {
            let notice = Notice::Banned {
                name,
                reason: reason.as_deref(),
            };
            let refusal = Refusal::YouAreBanned {
                until,
                reason: reason.as_deref(),
            };
            let key = protocol::name_key(name);
            let refusal = refusal.into();
            if self.registry.remove(&key, &notice, &refusal).is_none() {
                self.registry.remove_remote(&key, &notice, &refusal);
            }
        }
        self.registry.bans_changed();
        if self.logs(log::Level::Info) {
            log::info!("{} banned {target}", self.peer);
        }
        for target in ban_targets(&ban) {
            let notice = Notice::Ban {
                target: &target,
                until: ban.until,
                reason: ban.reason.as_deref(),
            };
            outbox.send_borrowed(&notice.into());
        }
    }

    /// `/unban NAME|ADDRESS`.
    pub(super) fn unban(&self, target: &str) {
        if self.not_admin() {
            return;
        }
        let outbox = &self.outbox;
        let Some(parsed) = Target::parse(target) else {
            return outbox.send_borrowed(&Refusal::NotBanned { target }.into());
        };
        match self.shared.bans.remove(&*self.shared.store, &parsed) {
            Ok(true) => {
                self.registry.bans_changed();
                outbox.send_borrowed(&Notice::Unbanned { target }.into());
            }
            Ok(false) => outbox.send_borrowed(&Refusal::NotBanned { target }.into()),
            Err(_) => outbox.send_line(Refusal::Unavailable { what: "unbanning" }),
        }
    }

    /// `/bans`.
    pub(super) fn bans(&self) {
        if self.not_admin() {
            return;
        }
        let mut count = 0;
        for ban in self.shared.bans.in_force() {
            for target in ban_targets(&ban) {
                count += 1;
                let notice = Notice::Ban {
                    target: &target,
                    until: ban.until,
                    reason: ban.reason.as_deref(),
                };
                self.outbox.send_borrowed(&notice.into());
            }
        }
        self.outbox.send_line(Notice::BanCount { count });
    }

    /// `/stats`.
    pub(super) fn stats(&self) {
        if self.not_admin() {
            return;
        }
        let (users, rooms, per_second) = self.registry.counts();
        let uptime = super::idle_text(self.shared.started.elapsed());
        let memory = resident_bytes().map_or_else(|| "unknown".to_string(), mebibytes);
        let store = self
            .shared
            .store
            .size()
            .map_or_else(|| "in memory".to_string(), mebibytes);
        let (connections, refused) = self.shared.connection_counts();
        let text = format!(
            "clients {users}, rooms {rooms}, lines/s {per_second:.1} (last minute), \
             uptime {uptime}, memory {memory}, store {store}, connections {connections}, \
             refused {refused}"
        );
        let text = match &self.shared.cluster {
            Some(cluster) => format!(
                "{text}, instance {}, cluster {} instances{}",
                cluster.id(),
                cluster.size(),
                if cluster.is_up() {
                    ""
                } else {
                    " (unreachable)"
                }
            ),
            None => text,
        };
        self.outbox.send_borrowed(&Notice::Stats(&text).into());
    }

    /// `/wall TEXT`.
    pub(super) fn wall(&self, text: &str) {
        if self.not_admin() {
            return;
        }
        let Some(member) = &self.member else {
            return;
        };
        let Some(text) = relayed(text) else {
            return self.outbox.send_line(Refusal::Usage {
                usage: "/wall TEXT",
            });
        };
        let notice = Notice::Wall {
            name: &member.name,
            text: &text,
        };
        self.registry.wall_everywhere(&notice.into());
    }

    /// Refuses a name that is banned, and closes; `true` if it did.
    pub(super) fn refuse_if_banned(&self, name: &str) -> bool {
        if !protocol::is_name(name) {
            return false;
        }
        let Some(ban) = self.shared.bans.of_name(&protocol::name_key(name)) else {
            return false;
        };
        let refusal = Refusal::YouAreBanned {
            until: ban.until,
            reason: ban.reason.as_deref(),
        };
        self.outbox.send_borrowed(&refusal.into());
        true
    }

    /// Tells the user why a room command was refused.
    fn refuse(&self, err: &RoomError) {
        let outbox = &self.outbox;
        match err {
            RoomError::Exists(room) => outbox.send_borrowed(&Refusal::RoomExists { room }.into()),
            RoomError::NotOwner(room) => outbox.send_borrowed(&Refusal::NotOwner { room }.into()),
            RoomError::Public(room) => outbox.send_borrowed(&Notice::PublicRoom { room }.into()),
            RoomError::NotInRoom { name, room } => {
                outbox.send_borrowed(&Refusal::NotInRoom { name, room }.into());
            }
            RoomError::NotAdmin => outbox.send_line(Refusal::NotAdmin),
            RoomError::Move(MoveError::TooManyRooms(max)) => {
                outbox.send_line(Refusal::TooManyRooms { max: *max });
            }
            RoomError::Move(_) | RoomError::NoSuchUser | RoomError::NoRandom => {
                outbox.send_line(Refusal::Unavailable {
                    what: "that, just now",
                });
            }
        }
    }
}

/// The invite links to `room` with `key`: `chats://` on the TLS port if there is one,
/// and, to a client on plain TCP, `chat://` on the plain port, then the web page's
/// (`http[s]://HOST:PORT/#ROOM?key=KEY`) if the web port is on; on the host of
/// `--public-addr`, or the address this client connected to.
/// Tells each of `outboxes` (a private room's members) the room's new links.
pub(crate) fn tell_rekeyed(shared: &Shared, outboxes: &[Arc<Outbox>], room: &str, key: &RoomKey) {
    for outbox in outboxes {
        let links = links_for(shared, outbox.transport(), room, key);
        let links = links.iter().map(String::as_str).collect();
        let notice = Notice::Rekeyed { room, links };
        outbox.send_borrowed(&notice.into());
    }
}

pub(super) fn links_for(
    shared: &Shared,
    transport: &Transport,
    room: &str,
    key: &RoomKey,
) -> Vec<String> {
    let on_tls = transport.is_tls();
    let here = transport.socket().local_addr().ok();
    let public = shared.config.public_addr.as_deref().and_then(|address| {
        let (host, port) = address.rsplit_once(':')?;
        Some((host.to_string(), port.to_string()))
    });
    let mut listening = shared.listening.clone();
    // TLS first, the web last: the order to prefer.
    listening.sort_by_key(|listening| (listening.web, !listening.tls));
    let mut links = Vec::new();
    for listening in listening {
        let (address, tls) = (listening.addr, listening.tls);
        if on_tls && !tls && !listening.web {
            continue;
        }
        let plain_tcp = !tls && !listening.web;
        let (host, port) = match (&public, here) {
            (Some((host, port)), _) if plain_tcp => (host.clone(), port.clone()),
            (Some((host, _)), _) => (host.clone(), address.port().to_string()),
            (None, Some(here)) => (host_of(here.ip()), address.port().to_string()),
            (None, None) => (host_of(address.ip()), address.port().to_string()),
        };
        let address = format!("{host}:{port}");
        links.push(match listening.web {
            true => web_link(tls, &address, room, key),
            false => invite_link(tls, &address, room, key),
        });
    }
    links
}

/// An address as the host of a link (`[...]` around IPv6).
fn host_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// What `/bans` lists of a ban: its name and its address.
fn ban_targets(ban: &Ban) -> Vec<String> {
    let mut targets = Vec::new();
    targets.extend(ban.name.clone());
    targets.extend(ban.address.map(|address| address.to_string()));
    targets
}

/// `12.3 MiB`.
fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// This process's resident memory, from `/proc/self/status` (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
