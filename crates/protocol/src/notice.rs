//! `* ` lines: what the server tells clients (welcomes, joins, quits, lists, actions...).

use std::fmt;

use crate::name::{is_name, is_room};
use crate::out::Out;
use crate::time::UtcTime;

/// How many names a member list (`/who`, the welcome) spells out before it says `(+N more)`,
/// so a room of thousands doesn't produce a line of hundreds of kilobytes.
pub const MAX_LISTED_NAMES: usize = 100;

/// A `* ` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice<'a> {
    /// `hello! send your name (...)`, the first line on a connection.
    Greeting,
    /// `welcome NAME, you are in #ROOM (N): a, b, c`.
    Welcome {
        name: &'a str,
        members: MemberList<'a>,
    },
    /// `NAME joined #ROOM`.
    Joined { name: &'a str, room: &'a str },
    /// `NAME left #ROOM`, a move to another room.
    Left { name: &'a str, room: &'a str },
    /// `NAME quit` or `NAME quit (REASON)`.
    Quit {
        name: &'a str,
        reason: Option<&'a str>,
    },
    /// `OLD is now NEW`.
    Renamed { old: &'a str, new: &'a str },
    /// `NAME ACTION`, from `/me ACTION`.
    Action { name: &'a str, text: &'a str },
    /// `#ROOM (N): a, b, c`, the answer to `/who`.
    Members(MemberList<'a>),
    /// `rooms: #a (N), #b (M, private)`, ending `(+N more)` when not all are listed.
    Rooms {
        rooms: Vec<RoomCount<'a>>,
        more: usize,
    },
    /// `/COMMAND ...: what it does`, one line of `/help`.
    Help { usage: &'a str, what: &'a str },
    /// `bye`, the last line after `/quit`.
    Bye,
    /// `server shutting down`.
    ShuttingDown,
    /// `history of #ROOM: N lines` (or `nothing stored`), after the lines of `/history`.
    HistoryEnd { room: &'a str, count: usize },
    /// `NAME is registered; from now on connect with "NAME PASSWORD"`.
    Registered { name: &'a str },
    /// `the password of NAME is changed`.
    PasswordChanged { name: &'a str },
    /// `NAME is no longer registered`.
    Unregistered { name: &'a str },
    /// `NAME is offline; they will get your message when they return`.
    Offline { name: &'a str },
    /// `N messages arrived while you were away`, before them.
    MailWaiting { count: usize },
    /// `NAME is away: REASON`, the answer to a private message to someone away.
    Away { name: &'a str, reason: &'a str },
    /// `you are away: REASON`, the answer to `/away`.
    MarkedAway { reason: &'a str },
    /// `you are back`, the answer to `/back`.
    Back,
    /// `NAME is here, in #ROOM` (`/seen`), or `NAME is here` when the room is private.
    SeenHere {
        name: &'a str,
        room: Option<&'a str>,
    },
    /// `NAME was last seen TIME (AGO)` (`/seen`).
    SeenAt {
        name: &'a str,
        time: UtcTime,
        ago: &'a str,
    },
    /// `NAME is registered, in #ROOM, idle IDLE, connected since TIME[, away: REASON]`
    /// (`/whois`; `not registered`, and `in a private room` when it can't be named).
    Whois {
        name: &'a str,
        registered: bool,
        room: Option<&'a str>,
        idle: &'a str,
        since: UtcTime,
        away: Option<&'a str>,
    },
    /// `NAME reconnected`: a registered user took their name back from a connection that
    /// was still open; their room is told this instead of a quit and a join.
    Reconnected { name: &'a str },
    /// `#ROOM is private; invite link: LINK[ or LINK...]`, after `/create` and `/invite`.
    PrivateRoom { room: &'a str, links: Vec<&'a str> },
    /// `#ROOM has a new key; invite link: LINK[ or LINK...]`, after `/rekey`.
    Rekeyed { room: &'a str, links: Vec<&'a str> },
    /// `#ROOM is public: anyone can /join #ROOM`, after `/invite` alone in a public room.
    PublicRoom { room: &'a str },
    /// `NAME invites you to #ROOM: /join #ROOM[ KEY]`.
    Invited {
        from: &'a str,
        room: &'a str,
        key: Option<&'a str>,
    },
    /// `invitation to #ROOM sent to NAME`.
    InviteSent { room: &'a str, name: &'a str },
    /// `NAME now owns #ROOM`.
    Owner { name: &'a str, room: &'a str },
    /// `topic of #ROOM: TEXT`.
    Topic { room: &'a str, text: &'a str },
    /// `#ROOM has no topic`.
    NoTopic { room: &'a str },
    /// `NAME set the topic of #ROOM: TEXT`.
    TopicSet {
        name: &'a str,
        room: &'a str,
        text: &'a str,
    },
    /// `NAME cleared the topic of #ROOM`.
    TopicCleared { name: &'a str, room: &'a str },
    /// `NAME was kicked by BY[ (REASON)]`.
    Kicked {
        name: &'a str,
        by: &'a str,
        reason: Option<&'a str>,
    },
    /// `NAME was banned[ (REASON)]`, to the banned user's room.
    Banned {
        name: &'a str,
        reason: Option<&'a str>,
    },
    /// `TARGET is banned until TIME|further notice[ (REASON)]`, after `/ban` and in
    /// `/bans`.
    Ban {
        target: &'a str,
        until: Option<UtcTime>,
        reason: Option<&'a str>,
    },
    /// `N bans` (`1 ban`, `no bans`), after the lines of `/bans`.
    BanCount { count: usize },
    /// `TARGET is no longer banned`.
    Unbanned { target: &'a str },
    /// `stats: ...`, the answer to `/stats`.
    Stats(&'a str),
    /// `NAME to everyone: TEXT`, from `/wall`.
    Wall { name: &'a str, text: &'a str },
    /// A notice of a kind this version doesn't know.
    Other(&'a str),
}

/// Why the server ended someone's connection, as their room's quit notice says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitReason {
    /// The client closed its side without `/quit`.
    Closed,
    /// The connection broke (reset, keepalive, write timeout).
    Lost,
    /// The client stopped reading and its backlog passed the limit.
    TooSlow,
}

impl QuitReason {
    /// The text in `* NAME quit (TEXT)`.
    pub const fn text(self) -> &'static str {
        match self {
            QuitReason::Closed => "connection closed",
            QuitReason::Lost => "connection lost",
            QuitReason::TooSlow => "too slow",
        }
    }
}

/// `#ROOM (N): a, b, c`: a room, its size, and the first [`MAX_LISTED_NAMES`] names;
/// when there are more, it ends `(+N more)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberList<'a> {
    pub room: &'a str,
    /// Members in all (listed or not).
    pub count: usize,
    /// The names listed, in order.
    pub names: Vec<&'a str>,
    /// Those of `names` who are away (listed with `(away)`).
    pub away: Vec<&'a str>,
}

impl<'a> MemberList<'a> {
    /// A list of `count` members, spelling out the first [`MAX_LISTED_NAMES`] of `names`.
    pub fn new(room: &'a str, count: usize, names: impl Iterator<Item = &'a str>) -> Self {
        MemberList {
            room,
            count,
            names: names.take(MAX_LISTED_NAMES).collect(),
            away: Vec::new(),
        }
    }

    /// The same list, marking `away` as away.
    pub fn with_away(mut self, away: Vec<&'a str>) -> Self {
        self.away = away;
        self
    }

    pub(crate) fn parse(text: &'a str) -> Option<MemberList<'a>> {
        let (room, rest) = text.split_once(" (")?;
        let (count, listed) = rest.split_once("):")?;
        let count = count.parse().ok()?;
        if !is_room(room) {
            return None;
        }
        let mut listed = match listed {
            "" => return Some(MemberList::new(room, count, std::iter::empty())),
            listed => listed.strip_prefix(' ')?,
        };
        if let Some(more) = listed.strip_suffix(" more)")
            && let Some(start) = more.rfind("(+")
        {
            more[start + 2..].parse::<usize>().ok()?;
            listed = more[..start].trim_end_matches(' ');
        }
        let mut names = Vec::new();
        let mut away = Vec::new();
        if !listed.is_empty() {
            for item in listed.split(", ") {
                let name = match item.strip_suffix(AWAY_MARK) {
                    Some(name) => {
                        away.push(name);
                        name
                    }
                    None => item,
                };
                if !is_name(name) {
                    return None;
                }
                names.push(name);
            }
        }
        Some(MemberList {
            room,
            count,
            names,
            away,
        })
    }
}

impl MemberList<'_> {
    pub(crate) fn write_to(&self, out: &mut impl Out) -> fmt::Result {
        out.put(self.room)?;
        out.put(" (")?;
        out.put_number(self.count)?;
        out.put("):")?;
        for (index, name) in self.names.iter().enumerate() {
            out.put(if index == 0 { " " } else { ", " })?;
            out.put(name)?;
            if self.away.contains(name) {
                out.put(AWAY_MARK)?;
            }
        }
        if self.count > self.names.len() {
            out.put(" (+")?;
            out.put_number(self.count - self.names.len())?;
            out.put(" more)")?;
        }
        Ok(())
    }
}

impl fmt::Display for MemberList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// One room of `/rooms`: `#ROOM (N)`, or `#ROOM (N, private)` (listed only to members).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomCount<'a> {
    pub room: &'a str,
    pub count: usize,
    pub private: bool,
}

/// What follows an away member's name in a member list.
const AWAY_MARK: &str = " (away)";

/// Between two invite links (chat, TLS, web).
const LINK_SEPARATOR: &str = " or ";

/// A ban that lasts until it is lifted.
const FURTHER_NOTICE: &str = "further notice";

/// What follows a private room's count in `/rooms`.
const PRIVATE_MARK: &str = ", private";

/// Where `/whois` says someone is when their room is private and the asker isn't in it.
const PRIVATE_ROOM: &str = "a private room";

const GREETING: &str = "hello! send your name (1-32 letters, digits, _ or -)";
const BYE: &str = "bye";
const SHUTTING_DOWN: &str = "server shutting down";

impl<'a> Notice<'a> {
    /// Reads the text of a notice (after `* `).
    pub fn parse(text: &'a str) -> Notice<'a> {
        match text {
            GREETING => return Notice::Greeting,
            BYE => return Notice::Bye,
            SHUTTING_DOWN => return Notice::ShuttingDown,
            "you are back" => return Notice::Back,
            _ => {}
        }
        Notice::parse_listing(text)
            .or_else(|| Notice::parse_rooms_and_moderation(text))
            .or_else(|| Notice::parse_about(text))
            .or_else(|| Notice::parse_presence(text))
            .unwrap_or(Notice::Other(text))
    }

    /// Private rooms, invitations, owners, topics, kicks, bans, `/stats`, `/wall`.
    fn parse_rooms_and_moderation(text: &'a str) -> Option<Notice<'a>> {
        if let Some(stats) = text.strip_prefix("stats: ") {
            return Some(Notice::Stats(stats));
        }
        if let Some(rest) = text.strip_prefix("topic of ")
            && let Some((room, topic)) = rest.split_once(": ")
            && is_room(room)
        {
            return Some(Notice::Topic { room, text: topic });
        }
        if let Some(rest) = text.strip_prefix("invitation to ")
            && let Some((room, name)) = rest.split_once(" sent to ")
            && is_room(room)
            && is_name(name)
        {
            return Some(Notice::InviteSent { room, name });
        }
        match text {
            "no bans" => return Some(Notice::BanCount { count: 0 }),
            "1 ban" => return Some(Notice::BanCount { count: 1 }),
            _ => {}
        }
        if let Some(count) = text.strip_suffix(" bans")
            && let Ok(count) = count.parse::<usize>()
            && count > 1
        {
            return Some(Notice::BanCount { count });
        }
        let (first, rest) = text.split_once(' ')?;
        if is_room(first) {
            let room = first;
            if let Some(links) = rest.strip_prefix("is private; invite link: ") {
                return Some(Notice::PrivateRoom {
                    room,
                    links: links.split(LINK_SEPARATOR).collect(),
                });
            }
            if let Some(links) = rest.strip_prefix("has a new key; invite link: ") {
                return Some(Notice::Rekeyed {
                    room,
                    links: links.split(LINK_SEPARATOR).collect(),
                });
            }
            if rest == "has no topic" {
                return Some(Notice::NoTopic { room });
            }
            if rest == format!("is public: anyone can /join {room}") {
                return Some(Notice::PublicRoom { room });
            }
            return None;
        }
        if !is_name(first) {
            return Notice::parse_ban(text);
        }
        let name = first;
        if let Some(rest) = rest.strip_prefix("invites you to ")
            && let Some((room, join)) = rest.split_once(": /join ")
            && is_room(room)
        {
            let key = match join.strip_prefix(room)? {
                "" => None,
                key => Some(key.strip_prefix(' ')?),
            };
            return Some(Notice::Invited {
                from: name,
                room,
                key,
            });
        }
        if let Some(room) = rest.strip_prefix("now owns ")
            && is_room(room)
        {
            return Some(Notice::Owner { name, room });
        }
        if let Some(rest) = rest.strip_prefix("set the topic of ")
            && let Some((room, topic)) = rest.split_once(": ")
            && is_room(room)
        {
            return Some(Notice::TopicSet {
                name,
                room,
                text: topic,
            });
        }
        if let Some(room) = rest.strip_prefix("cleared the topic of ")
            && is_room(room)
        {
            return Some(Notice::TopicCleared { name, room });
        }
        if let Some(rest) = rest.strip_prefix("was kicked by ") {
            let (by, reason) = split_reason(rest)?;
            return is_name(by).then_some(Notice::Kicked { name, by, reason });
        }
        if let Some(rest) = rest.strip_prefix("was banned") {
            let (empty, reason) = split_reason(rest)?;
            return empty.is_empty().then_some(Notice::Banned { name, reason });
        }
        if let Some(text) = rest.strip_prefix("to everyone: ") {
            return Some(Notice::Wall { name, text });
        }
        if rest.starts_with("is banned until ") || rest == "is no longer banned" {
            return Notice::parse_ban(text);
        }
        None
    }

    /// `TARGET is banned until ...` and `TARGET is no longer banned` (a target is a name
    /// or an address).
    fn parse_ban(text: &'a str) -> Option<Notice<'a>> {
        let (target, rest) = text.split_once(' ')?;
        if rest == "is no longer banned" {
            return Some(Notice::Unbanned { target });
        }
        let rest = rest.strip_prefix("is banned until ")?;
        let (until, rest) = match rest.strip_prefix(FURTHER_NOTICE) {
            Some(rest) => (None, rest),
            None => {
                let (time, rest) = UtcTime::parse_prefix(rest)?;
                (Some(time), rest)
            }
        };
        let (empty, reason) = split_reason(rest)?;
        empty.is_empty().then_some(Notice::Ban {
            target,
            until,
            reason,
        })
    }

    /// Answers about the store's things: history, accounts, mail, `/seen`, `/whois`.
    fn parse_about(text: &'a str) -> Option<Notice<'a>> {
        if let Some((room, count)) = text
            .strip_prefix("history of ")
            .and_then(|rest| rest.split_once(": "))
            && is_room(room)
        {
            let count = match count {
                "nothing stored" => 0,
                "1 line" => 1,
                count => match count.strip_suffix(" lines")?.parse().ok()? {
                    0 | 1 => return None,
                    count => count,
                },
            };
            return Some(Notice::HistoryEnd { room, count });
        }
        if let Some(name) = text.strip_prefix("the password of ")
            && let Some(name) = name.strip_suffix(" is changed")
            && is_name(name)
        {
            return Some(Notice::PasswordChanged { name });
        }
        if let Some(reason) = text.strip_prefix("you are away: ") {
            return Some(Notice::MarkedAway { reason });
        }
        if let Some(what) = text.strip_suffix(" arrived while you were away") {
            let count = match what {
                "1 message" => 1,
                what => match what.strip_suffix(" messages")?.parse().ok()? {
                    1 => return None,
                    count => count,
                },
            };
            return Some(Notice::MailWaiting { count });
        }
        let (name, rest) = text.split_once(' ')?;
        if !is_name(name) {
            return None;
        }
        match rest {
            "is no longer registered" => return Some(Notice::Unregistered { name }),
            "is offline; they will get your message when they return" => {
                return Some(Notice::Offline { name });
            }
            "reconnected" => return Some(Notice::Reconnected { name }),
            _ => {}
        }
        if rest == format!("is registered; from now on connect with \"{name} PASSWORD\"") {
            return Some(Notice::Registered { name });
        }
        if let Some(reason) = rest.strip_prefix("is away: ") {
            return Some(Notice::Away { name, reason });
        }
        if rest == "is here" {
            return Some(Notice::SeenHere { name, room: None });
        }
        if let Some(room) = rest.strip_prefix("is here, in ")
            && is_room(room)
        {
            let room = Some(room);
            return Some(Notice::SeenHere { name, room });
        }
        if let Some(rest) = rest.strip_prefix("was last seen ") {
            let (time, rest) = UtcTime::parse_prefix(rest)?;
            let ago = rest.strip_prefix(" (")?.strip_suffix(')')?;
            return Some(Notice::SeenAt { name, time, ago });
        }
        Notice::parse_whois(name, rest)
    }

    /// `is registered, in #ROOM, idle IDLE, connected since TIME[, away: REASON]` after a
    /// name.
    fn parse_whois(name: &'a str, rest: &'a str) -> Option<Notice<'a>> {
        let (registered, rest) = if let Some(rest) = rest.strip_prefix("is registered, in ") {
            (true, rest)
        } else {
            (false, rest.strip_prefix("is not registered, in ")?)
        };
        let (room, rest) = rest.split_once(", idle ")?;
        let room = match room {
            PRIVATE_ROOM => None,
            room if is_room(room) => Some(room),
            _ => return None,
        };
        let (idle, rest) = rest.split_once(", connected since ")?;
        let (since, rest) = UtcTime::parse_prefix(rest)?;
        let away = match rest {
            "" => None,
            rest => Some(rest.strip_prefix(", away: ")?),
        };
        Some(Notice::Whois {
            name,
            registered,
            room,
            idle,
            since,
            away,
        })
    }

    /// Welcome, member lists, room lists and help lines.
    fn parse_listing(text: &'a str) -> Option<Notice<'a>> {
        if let Some(rest) = text.strip_prefix("welcome ")
            && let Some((name, list)) = rest.split_once(", you are in ")
            && is_name(name)
        {
            return Some(Notice::Welcome {
                name,
                members: MemberList::parse(list)?,
            });
        }
        if let Some(list) = text.strip_prefix("rooms:") {
            let (list, more) = match list.strip_suffix(" more)").and_then(|rest| {
                let (list, more) = rest.rsplit_once(" (+")?;
                Some((list, more.parse().ok()?))
            }) {
                Some((list, more)) => (list, more),
                None => (list, 0),
            };
            let rooms = parse_rooms(list)?;
            return Some(Notice::Rooms { rooms, more });
        }
        if text.starts_with('#') {
            return MemberList::parse(text).map(Notice::Members);
        }
        if text.starts_with('/') {
            let (usage, what) = text.split_once(": ")?;
            return Some(Notice::Help { usage, what });
        }
        None
    }

    /// Joins, leaves, quits, renames, and (whatever else starts with a name) actions.
    fn parse_presence(text: &'a str) -> Option<Notice<'a>> {
        let (name, rest) = text.split_once(' ')?;
        if !is_name(name) || rest.is_empty() {
            return None;
        }
        if let Some((verb, room)) = rest.split_once(' ')
            && is_room(room)
        {
            match verb {
                "joined" => return Some(Notice::Joined { name, room }),
                "left" => return Some(Notice::Left { name, room }),
                _ => {}
            }
        }
        if let Some(new) = rest.strip_prefix("is now ")
            && is_name(new)
        {
            return Some(Notice::Renamed { old: name, new });
        }
        if rest == "quit" {
            return Some(Notice::Quit { name, reason: None });
        }
        if let Some(reason) = rest
            .strip_prefix("quit (")
            .and_then(|reason| reason.strip_suffix(')'))
        {
            let reason = Some(reason);
            return Some(Notice::Quit { name, reason });
        }
        Some(Notice::Action { name, text: rest })
    }
}

/// `TEXT` or `TEXT (REASON)` into the text and the reason.
fn split_reason(text: &str) -> Option<(&str, Option<&str>)> {
    match text
        .strip_suffix(')')
        .and_then(|rest| rest.split_once(" ("))
    {
        Some((text, reason)) => Some((text, Some(reason))),
        None => Some((text, None)),
    }
}

/// Writes ` (REASON)` if there is one.
fn write_reason(out: &mut impl Out, reason: Option<&str>) -> fmt::Result {
    match reason {
        Some(reason) => {
            out.put(" (")?;
            out.put(reason)?;
            out.put(")")
        }
        None => Ok(()),
    }
}

/// ` #a (N), #b (M)` (after `rooms:`).
fn parse_rooms(list: &str) -> Option<Vec<RoomCount<'_>>> {
    let Some(list) = list.strip_prefix(' ') else {
        return list.is_empty().then(Vec::new);
    };
    let list = list.strip_suffix(')')?;
    list.split("), ")
        .map(|item| {
            let (room, count) = item.split_once(" (")?;
            let (count, private) = match count.strip_suffix(PRIVATE_MARK) {
                Some(count) => (count, true),
                None => (count, false),
            };
            let count = count.parse().ok()?;
            is_room(room).then_some(RoomCount {
                room,
                count,
                private,
            })
        })
        .collect()
}

impl Notice<'_> {
    pub(crate) fn write_to(&self, out: &mut impl Out) -> fmt::Result {
        let pair = |out: &mut _, first: &str, middle: &str, last: &str| {
            Out::put(out, first)?;
            Out::put(out, middle)?;
            Out::put(out, last)
        };
        match self {
            Notice::Greeting => out.put(GREETING),
            Notice::Welcome { name, members } => {
                pair(out, "welcome ", name, ", you are in ")?;
                members.write_to(out)
            }
            Notice::Joined { name, room } => pair(out, name, " joined ", room),
            Notice::Left { name, room } => pair(out, name, " left ", room),
            Notice::Quit { name, reason: None } => pair(out, name, " quit", ""),
            Notice::Quit {
                name,
                reason: Some(reason),
            } => {
                pair(out, name, " quit (", reason)?;
                out.put(")")
            }
            Notice::Renamed { old, new } => pair(out, old, " is now ", new),
            Notice::Action { name, text } => pair(out, name, " ", text),
            Notice::Members(members) => members.write_to(out),
            Notice::Rooms { rooms, more } => {
                out.put("rooms:")?;
                for (index, listed) in rooms.iter().enumerate() {
                    pair(out, if index == 0 { " " } else { ", " }, listed.room, " (")?;
                    out.put_number(listed.count)?;
                    if listed.private {
                        out.put(PRIVATE_MARK)?;
                    }
                    out.put(")")?;
                }
                if *more > 0 {
                    out.put(" (+")?;
                    out.put_number(*more)?;
                    out.put(" more)")?;
                }
                Ok(())
            }
            Notice::Help { usage, what } => pair(out, usage, ": ", what),
            Notice::Bye => out.put(BYE),
            Notice::ShuttingDown => out.put(SHUTTING_DOWN),
            Notice::HistoryEnd { room, count } => {
                pair(out, "history of ", room, ": ")?;
                match count {
                    0 => out.put("nothing stored"),
                    1 => out.put("1 line"),
                    count => {
                        out.put_number(*count)?;
                        out.put(" lines")
                    }
                }
            }
            Notice::Registered { name } => {
                pair(
                    out,
                    name,
                    " is registered; from now on connect with \"",
                    name,
                )?;
                out.put(" PASSWORD\"")
            }
            Notice::PasswordChanged { name } => pair(out, "the password of ", name, " is changed"),
            Notice::Unregistered { name } => pair(out, name, " is no longer registered", ""),
            Notice::Offline { name } => pair(
                out,
                name,
                " is offline; they will get your message when they return",
                "",
            ),
            Notice::MailWaiting { count: 1 } => out.put("1 message arrived while you were away"),
            Notice::MailWaiting { count } => {
                out.put_number(*count)?;
                out.put(" messages arrived while you were away")
            }
            Notice::Away { name, reason } => pair(out, name, " is away: ", reason),
            Notice::MarkedAway { reason } => pair(out, "you are away: ", reason, ""),
            Notice::Back => out.put("you are back"),
            Notice::SeenHere { name, room: None } => pair(out, name, " is here", ""),
            Notice::SeenHere {
                name,
                room: Some(room),
            } => pair(out, name, " is here, in ", room),
            Notice::SeenAt { name, time, ago } => {
                pair(out, name, " was last seen ", "")?;
                out.put_display(time)?;
                pair(out, " (", ago, ")")
            }
            Notice::Whois {
                name,
                registered,
                room,
                idle,
                since,
                away,
            } => {
                let registered = if *registered {
                    " is registered, in "
                } else {
                    " is not registered, in "
                };
                pair(out, name, registered, room.unwrap_or(PRIVATE_ROOM))?;
                pair(out, ", idle ", idle, ", connected since ")?;
                out.put_display(since)?;
                match away {
                    Some(reason) => pair(out, ", away: ", reason, ""),
                    None => Ok(()),
                }
            }
            Notice::Reconnected { name } => pair(out, name, " reconnected", ""),
            Notice::PrivateRoom { room, links } | Notice::Rekeyed { room, links } => {
                let what = if matches!(self, Notice::PrivateRoom { .. }) {
                    " is private; invite link: "
                } else {
                    " has a new key; invite link: "
                };
                pair(out, room, what, "")?;
                for (index, link) in links.iter().enumerate() {
                    if index > 0 {
                        out.put(LINK_SEPARATOR)?;
                    }
                    out.put(link)?;
                }
                Ok(())
            }
            Notice::PublicRoom { room } => pair(out, room, " is public: anyone can /join ", room),
            Notice::Invited { from, room, key } => {
                pair(out, from, " invites you to ", room)?;
                pair(out, ": /join ", room, "")?;
                match key {
                    Some(key) => pair(out, " ", key, ""),
                    None => Ok(()),
                }
            }
            Notice::InviteSent { room, name } => {
                pair(out, "invitation to ", room, " sent to ")?;
                out.put(name)
            }
            Notice::Owner { name, room } => pair(out, name, " now owns ", room),
            Notice::Topic { room, text } => {
                pair(out, "topic of ", room, ": ")?;
                out.put(text)
            }
            Notice::NoTopic { room } => pair(out, room, " has no topic", ""),
            Notice::TopicSet { name, room, text } => {
                pair(out, name, " set the topic of ", room)?;
                pair(out, ": ", text, "")
            }
            Notice::TopicCleared { name, room } => pair(out, name, " cleared the topic of ", room),
            Notice::Kicked { name, by, reason } => {
                pair(out, name, " was kicked by ", by)?;
                write_reason(out, *reason)
            }
            Notice::Banned { name, reason } => {
                pair(out, name, " was banned", "")?;
                write_reason(out, *reason)
            }
            Notice::Ban {
                target,
                until,
                reason,
            } => {
                pair(out, target, " is banned until ", "")?;
                match until {
                    Some(time) => out.put_display(time)?,
                    None => out.put(FURTHER_NOTICE)?,
                }
                write_reason(out, *reason)
            }
            Notice::BanCount { count: 0 } => out.put("no bans"),
            Notice::BanCount { count: 1 } => out.put("1 ban"),
            Notice::BanCount { count } => {
                out.put_number(*count)?;
                out.put(" bans")
            }
            Notice::Unbanned { target } => pair(out, target, " is no longer banned", ""),
            Notice::Stats(text) => pair(out, "stats: ", text, ""),
            Notice::Wall { name, text } => pair(out, name, " to everyone: ", text),
            Notice::Other(text) => out.put(text),
        }
    }
}

impl fmt::Display for Notice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}
