//! Every line the server sends, as one type with both directions: the server formats a
//! [`ServerLine`] with `Display`, and the client and the load generator read one back with
//! [`ServerLine::parse`]. Formatting then parsing gives the same value (property-tested).

use std::fmt;

use crate::name::{NAME_RULE, NameError, is_name, is_room};
use crate::out::Out;
use crate::quote::Quoted;

/// How many names a member list (`/who`, the welcome) spells out before it says `(+N more)`,
/// so a room of thousands doesn't produce a line of hundreds of kilobytes.
pub const MAX_LISTED_NAMES: usize = 100;

/// One line from the server, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `NAME: TEXT`, room chat.
    Chat { from: &'a str, text: &'a str },
    /// `FROM -> TO: TEXT`, a private message.
    Private {
        from: &'a str,
        to: &'a str,
        text: &'a str,
    },
    /// `* ...`.
    Notice(Notice<'a>),
    /// `! ...`, the answer to a line that could not be carried out.
    Refusal(Refusal<'a>),
    /// Anything else (a server speaking a newer protocol).
    Other(&'a str),
}

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

/// A `! ` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// `server full`: the connection is closed.
    ServerFull,
    /// `no name received in time, closing`.
    HandshakeTimeout,
    /// `invalid UTF-8`: the line was skipped.
    InvalidUtf8,
    /// `line too long (max N bytes)`: the line was skipped.
    LineTooLong { max: usize },
    /// `name "NAME" is taken, choose another`.
    NameTaken { name: Quoted<'a> },
    /// `name "NAME" is too much like "OTHER", choose another`: NAME would pass for OTHER's
    /// name, which someone has.
    LookAlike { name: Quoted<'a>, like: Quoted<'a> },
    /// `invalid name "NAME": REASON; use 1-32 letters, digits, _ or -`.
    InvalidName { name: Quoted<'a>, reason: NameError },
    /// `you are already called NAME`, after `/nick` to one's own name.
    AlreadyCalled { name: &'a str },
    /// `unknown command /WORD (try /help)`.
    UnknownCommand { word: &'a str },
    /// `usage: USAGE`, a command without its arguments.
    Usage { usage: &'a str },
    /// `no such user: "NAME"`.
    NoSuchUser { name: Quoted<'a> },
    /// `you are already in ROOM`, the room as it was typed (`#dev` or `dev`).
    AlreadyInRoom { room: &'a str },
    /// `invalid room name "ROOM": REASON; use 1-32 letters, digits, _ or -`.
    InvalidRoom { room: Quoted<'a>, reason: NameError },
    /// `/me can't look like a server notice`.
    ForgedAction,
    /// `too many connections from your address`: the connection is closed.
    TooManyConnections,
    /// `too many rooms (max N); join one that exists`.
    TooManyRooms { max: usize },
    /// An error of a kind this version doesn't know.
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

    fn parse(text: &'a str) -> Option<MemberList<'a>> {
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
    fn write_to(&self, out: &mut impl Out) -> fmt::Result {
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

impl<'a> ServerLine<'a> {
    /// Reads one line (without its line ending).
    pub fn parse(line: &'a str) -> ServerLine<'a> {
        if let Some(text) = line.strip_prefix("* ") {
            return ServerLine::Notice(Notice::parse(text));
        }
        if let Some(text) = line.strip_prefix("! ") {
            return ServerLine::Refusal(Refusal::parse(text));
        }
        if let Some((head, text)) = line.split_once(": ") {
            if let Some((from, to)) = head.split_once(" -> ") {
                if is_name(from) && is_name(to) {
                    return ServerLine::Private { from, to, text };
                }
            } else if is_name(head) {
                return ServerLine::Chat { from: head, text };
            }
        }
        ServerLine::Other(line)
    }

    /// Appends the line and its LF to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        // Writing to a Vec can't fail.
        let _ = self.write_to(out);
        out.push(b'\n');
    }

    fn write_to(&self, out: &mut impl Out) -> fmt::Result {
        match self {
            ServerLine::Chat { from, text } => {
                out.put(from)?;
                out.put(": ")?;
                out.put(text)
            }
            ServerLine::Private { from, to, text } => {
                out.put(from)?;
                out.put(" -> ")?;
                out.put(to)?;
                out.put(": ")?;
                out.put(text)
            }
            ServerLine::Notice(notice) => {
                out.put("* ")?;
                notice.write_to(out)
            }
            ServerLine::Refusal(refusal) => {
                out.put("! ")?;
                refusal.write_to(out)
            }
            ServerLine::Other(line) => out.put(line),
        }
    }
}

impl fmt::Display for ServerLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl<'a> From<Notice<'a>> for ServerLine<'a> {
    fn from(notice: Notice<'a>) -> Self {
        ServerLine::Notice(notice)
    }
}

impl<'a> From<Refusal<'a>> for ServerLine<'a> {
    fn from(refusal: Refusal<'a>) -> Self {
        ServerLine::Refusal(refusal)
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
    fn write_to(&self, out: &mut impl Out) -> fmt::Result {
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

impl<'a> Refusal<'a> {
    /// Reads the text of an error line (after `! `).
    pub fn parse(text: &'a str) -> Refusal<'a> {
        Refusal::parse_known(text).unwrap_or(Refusal::Other(text))
    }

    fn parse_known(text: &'a str) -> Option<Refusal<'a>> {
        match text {
            "server full" => return Some(Refusal::ServerFull),
            "no name received in time, closing" => return Some(Refusal::HandshakeTimeout),
            "invalid UTF-8" => return Some(Refusal::InvalidUtf8),
            "/me can't look like a server notice" => return Some(Refusal::ForgedAction),
            "too many connections from your address" => {
                return Some(Refusal::TooManyConnections);
            }
            _ => {}
        }
        if let Some(max) = text
            .strip_prefix("too many rooms (max ")
            .and_then(|rest| rest.strip_suffix("); join one that exists"))
        {
            return Some(Refusal::TooManyRooms {
                max: max.parse().ok()?,
            });
        }
        if let Some(max) = text
            .strip_prefix("line too long (max ")
            .and_then(|rest| rest.strip_suffix(" bytes)"))
        {
            return Some(Refusal::LineTooLong {
                max: max.parse().ok()?,
            });
        }
        if let Some(rest) = text.strip_prefix("name ") {
            let (name, rest) = Quoted::parse(rest)?;
            if rest == " is taken, choose another" {
                return Some(Refusal::NameTaken { name });
            }
            let (like, rest) = Quoted::parse(rest.strip_prefix(" is too much like ")?)?;
            return (rest == ", choose another").then_some(Refusal::LookAlike { name, like });
        }
        if let Some(rest) = text.strip_prefix("invalid name ") {
            let (name, reason) = parse_invalid(rest)?;
            return Some(Refusal::InvalidName { name, reason });
        }
        if let Some(rest) = text.strip_prefix("invalid room name ") {
            let (room, reason) = parse_invalid(rest)?;
            return Some(Refusal::InvalidRoom { room, reason });
        }
        if let Some(word) = text
            .strip_prefix("unknown command /")
            .and_then(|rest| rest.strip_suffix(" (try /help)"))
        {
            return (!word.contains(char::is_whitespace))
                .then_some(Refusal::UnknownCommand { word });
        }
        if let Some(usage) = text.strip_prefix("usage: ") {
            return Some(Refusal::Usage { usage });
        }
        if let Some(rest) = text.strip_prefix("no such user: ") {
            let (name, rest) = Quoted::parse(rest)?;
            return rest.is_empty().then_some(Refusal::NoSuchUser { name });
        }
        if let Some(name) = text.strip_prefix("you are already called ") {
            return is_name(name).then_some(Refusal::AlreadyCalled { name });
        }
        if let Some(room) = text.strip_prefix("you are already in ") {
            let bare = room.strip_prefix('#').unwrap_or(room);
            return is_name(bare).then_some(Refusal::AlreadyInRoom { room });
        }
        None
    }
}

/// `"INPUT": REASON; use ...`.
fn parse_invalid(text: &str) -> Option<(Quoted<'_>, NameError)> {
    let (input, rest) = Quoted::parse(text)?;
    let reason = rest
        .strip_prefix(": ")?
        .strip_suffix(NAME_RULE)?
        .strip_suffix("; ")?;
    Some((input, NameError::parse(reason)?))
}

impl Refusal<'_> {
    fn write_to(&self, out: &mut impl Out) -> fmt::Result {
        match self {
            Refusal::ServerFull => out.put("server full"),
            Refusal::HandshakeTimeout => out.put("no name received in time, closing"),
            Refusal::InvalidUtf8 => out.put("invalid UTF-8"),
            Refusal::LineTooLong { max } => {
                out.put("line too long (max ")?;
                out.put_number(*max)?;
                out.put(" bytes)")
            }
            Refusal::NameTaken { name } => {
                out.put("name ")?;
                out.put_display(name)?;
                out.put(" is taken, choose another")
            }
            Refusal::LookAlike { name, like } => {
                out.put("name ")?;
                out.put_display(name)?;
                out.put(" is too much like ")?;
                out.put_display(like)?;
                out.put(", choose another")
            }
            Refusal::InvalidName { name, reason } => {
                out.put("invalid name ")?;
                write_invalid(out, name, reason)
            }
            Refusal::AlreadyCalled { name } => {
                out.put("you are already called ")?;
                out.put(name)
            }
            Refusal::UnknownCommand { word } => {
                out.put("unknown command /")?;
                out.put(word)?;
                out.put(" (try /help)")
            }
            Refusal::Usage { usage } => {
                out.put("usage: ")?;
                out.put(usage)
            }
            Refusal::NoSuchUser { name } => {
                out.put("no such user: ")?;
                out.put_display(name)
            }
            Refusal::AlreadyInRoom { room } => {
                out.put("you are already in ")?;
                out.put(room)
            }
            Refusal::InvalidRoom { room, reason } => {
                out.put("invalid room name ")?;
                write_invalid(out, room, reason)
            }
            Refusal::ForgedAction => out.put("/me can't look like a server notice"),
            Refusal::TooManyConnections => out.put("too many connections from your address"),
            Refusal::TooManyRooms { max } => {
                out.put("too many rooms (max ")?;
                out.put_number(*max)?;
                out.put("); join one that exists")
            }
            Refusal::Other(text) => out.put(text),
        }
    }
}

/// `"INPUT": REASON; use ...`.
fn write_invalid(out: &mut impl Out, input: &Quoted<'_>, reason: &NameError) -> fmt::Result {
    out.put_display(input)?;
    out.put(": ")?;
    out.put_display(reason)?;
    out.put("; ")?;
    out.put(NAME_RULE)
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(line: ServerLine<'_>) {
        let text = line.to_string();
        assert_eq!(ServerLine::parse(&text), line, "{text}");
        let mut bytes = Vec::new();
        line.append_to(&mut bytes);
        assert_eq!(bytes, format!("{text}\n").as_bytes());
    }

    #[test]
    fn every_kind_reads_back() {
        let members = MemberList::new("#dev", 3, ["a", "b", "c"].into_iter());
        let lines = [
            ServerLine::Chat {
                from: "alice",
                text: "hi: there",
            },
            ServerLine::Private {
                from: "alice",
                to: "bob",
                text: "psst",
            },
            Notice::Greeting.into(),
            Notice::Welcome {
                name: "민수",
                members: members.clone(),
            }
            .into(),
            Notice::Joined {
                name: "bob",
                room: "#lobby",
            }
            .into(),
            Notice::Left {
                name: "bob",
                room: "#dev",
            }
            .into(),
            Notice::Quit {
                name: "bob",
                reason: None,
            }
            .into(),
            Notice::Quit {
                name: "bob",
                reason: Some("lunch (back soon)"),
            }
            .into(),
            Notice::Renamed {
                old: "bob",
                new: "rob",
            }
            .into(),
            Notice::Action {
                name: "bob",
                text: "waves",
            }
            .into(),
            Notice::Members(members).into(),
            Notice::Members(MemberList::new("#x", 0, std::iter::empty())).into(),
            Notice::Rooms {
                rooms: vec![("#dev", 1), ("#lobby", 0)],
                more: 0,
            }
            .into(),
            Notice::Rooms {
                rooms: vec![("#dev", 1)],
                more: 250,
            }
            .into(),
            Notice::Help {
                usage: "/who (/members)",
                what: "list the people in your room",
            }
            .into(),
            Notice::Bye.into(),
            Notice::ShuttingDown.into(),
            Refusal::ServerFull.into(),
            Refusal::HandshakeTimeout.into(),
            Refusal::InvalidUtf8.into(),
            Refusal::LineTooLong { max: 4096 }.into(),
            Refusal::NameTaken {
                name: Quoted::new("alice"),
            }
            .into(),
            Refusal::LookAlike {
                name: Quoted::new("\u{430}lice"),
                like: Quoted::new("alice"),
            }
            .into(),
            Refusal::InvalidName {
                name: Quoted::new("a b"),
                reason: NameError::BadChar(' '),
            }
            .into(),
            Refusal::AlreadyCalled { name: "alice" }.into(),
            Refusal::UnknownCommand { word: "dance" }.into(),
            Refusal::Usage {
                usage: "/msg NAME TEXT",
            }
            .into(),
            Refusal::NoSuchUser {
                name: Quoted::new("nobody"),
            }
            .into(),
            Refusal::AlreadyInRoom { room: "#dev" }.into(),
            Refusal::InvalidRoom {
                room: Quoted::new("bad room"),
                reason: NameError::BadChar(' '),
            }
            .into(),
            Refusal::ForgedAction.into(),
            Refusal::TooManyConnections.into(),
            Refusal::TooManyRooms { max: 1000 }.into(),
        ];
        for line in lines {
            round_trip(line);
        }
    }

    #[test]
    fn lines_read_as_the_protocol_documents_them() {
        assert_eq!(
            ServerLine::parse("* welcome carol, you are in #lobby (3): alice, bob, carol"),
            ServerLine::Notice(Notice::Welcome {
                name: "carol",
                members: MemberList::new("#lobby", 3, ["alice", "bob", "carol"].into_iter()),
            })
        );
        assert_eq!(
            ServerLine::parse(
                "! invalid name \"😀\": it contains '😀'; use 1-32 letters, digits, _ or -"
            ),
            ServerLine::Refusal(Refusal::InvalidName {
                name: Quoted::new("😀"),
                reason: NameError::BadChar('😀'),
            })
        );
        assert_eq!(
            ServerLine::parse("what is this"),
            ServerLine::Other("what is this")
        );
        assert_eq!(
            Notice::parse("bob joined #dev now"),
            Notice::Action {
                name: "bob",
                text: "joined #dev now"
            }
        );
        assert_eq!(
            Notice::parse("bob quitting"),
            Notice::Action {
                name: "bob",
                text: "quitting"
            }
        );
        assert_eq!(
            Notice::parse("rooms: #a (x)"),
            Notice::Other("rooms: #a (x)")
        );
    }

    #[test]
    fn member_lists_are_capped() {
        let names: Vec<String> = (0..150).map(|i| format!("u{i:03}")).collect();
        let list = MemberList::new("#big", 150, names.iter().map(String::as_str));
        let text = list.to_string();
        assert!(text.starts_with("#big (150): u000, u001"), "{text}");
        assert!(text.ends_with("u099 (+50 more)"), "{text}");
        assert_eq!(MemberList::parse(&text), Some(list));
        assert_eq!(
            MemberList::new("#x", 0, std::iter::empty()).to_string(),
            "#x (0):"
        );
    }
}
