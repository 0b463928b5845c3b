//! `* ` lines: what the server tells clients (welcomes, joins, quits, lists, actions...).

use std::fmt;

use crate::name::{is_name, is_room};
use crate::out::Out;

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
    /// `rooms: #a (N), #b (M)`, ending `(+N more)` when not all are listed.
    Rooms {
        rooms: Vec<(&'a str, usize)>,
        more: usize,
    },
    /// `/COMMAND ...: what it does`, one line of `/help`.
    Help { usage: &'a str, what: &'a str },
    /// `bye`, the last line after `/quit`.
    Bye,
    /// `server shutting down`.
    ShuttingDown,
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
}

impl<'a> MemberList<'a> {
    /// A list of `count` members, spelling out the first [`MAX_LISTED_NAMES`] of `names`.
    pub fn new(room: &'a str, count: usize, names: impl Iterator<Item = &'a str>) -> Self {
        MemberList {
            room,
            count,
            names: names.take(MAX_LISTED_NAMES).collect(),
        }
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
        let names = match listed {
            "" => Vec::new(),
            listed => listed.split(", ").collect(),
        };
        names
            .iter()
            .all(|name| is_name(name))
            .then_some(MemberList { room, count, names })
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
            _ => {}
        }
        Notice::parse_listing(text)
            .or_else(|| Notice::parse_presence(text))
            .unwrap_or(Notice::Other(text))
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

/// ` #a (N), #b (M)` (after `rooms:`).
fn parse_rooms(list: &str) -> Option<Vec<(&str, usize)>> {
    let Some(list) = list.strip_prefix(' ') else {
        return list.is_empty().then(Vec::new);
    };
    list.split(", ")
        .map(|item| {
            let (room, count) = item.split_once(" (")?;
            let count = count.strip_suffix(')')?.parse().ok()?;
            is_room(room).then_some((room, count))
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
                for (index, (room, count)) in rooms.iter().enumerate() {
                    pair(out, if index == 0 { " " } else { ", " }, room, " (")?;
                    out.put_number(*count)?;
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
            Notice::Other(text) => out.put(text),
        }
    }
}

impl fmt::Display for Notice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}
