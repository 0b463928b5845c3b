//! `! ` lines: why a line could not be carried out, or a connection won't be served.

use std::fmt;

use crate::name::{NAME_RULE, NameError, is_name, is_room};
use crate::out::Out;
use crate::quote::Quoted;
use crate::time::UtcTime;

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
    /// `NAME is registered: send "NAME PASSWORD"`: a registered name without a password.
    NeedsPassword { name: &'a str },
    /// `wrong password for NAME`.
    WrongPassword { name: &'a str },
    /// `too many wrong passwords, closing`.
    TooManyTries,
    /// `NAME is not registered`: a password for a name nobody registered, or `/unregister`
    /// of one.
    NotRegistered { name: &'a str },
    /// `NAME is already registered`.
    AlreadyRegistered { name: &'a str },
    /// `a password needs at least N characters and no spaces`.
    BadPassword { min: usize },
    /// `NAME logged in from elsewhere`: the last line to a connection whose registered
    /// name was taken back with its password.
    LoggedInElsewhere { name: &'a str },
    /// `NAME's mailbox is full`.
    MailboxFull { name: &'a str },
    /// `nobody called NAME has been seen`.
    NeverSeen { name: &'a str },
    /// `WHAT is unavailable`: the store the command needs failed (`history`, ...).
    Unavailable { what: &'a str },
    /// `WHAT needs the other servers, which are unreachable now`: this instance of a
    /// cluster is cut off from the others.
    CutOff { what: &'a str },
    /// `#ROOM is private: you need an invite` (also for a room that doesn't exist, when a
    /// key was given).
    NeedInvite { room: &'a str },
    /// `#ROOM exists; choose another name`, after `/create #ROOM`.
    RoomExists { room: &'a str },
    /// `only the owner of #ROOM can do that`.
    NotOwner { room: &'a str },
    /// `only a server admin can do that`.
    NotAdmin,
    /// `too many wrong keys, closing`.
    TooManyKeys,
    /// `you are banned until TIME|further notice[ (REASON)]`: the connection is closed.
    YouAreBanned {
        until: Option<UtcTime>,
        reason: Option<&'a str>,
    },
    /// `TARGET is not banned`.
    NotBanned { target: &'a str },
    /// `NAME is not in #ROOM`.
    NotInRoom { name: &'a str, room: &'a str },
    /// An error of a kind this version doesn't know.
    Other(&'a str),
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
            "too many wrong passwords, closing" => return Some(Refusal::TooManyTries),
            "only a server admin can do that" => return Some(Refusal::NotAdmin),
            "too many wrong keys, closing" => return Some(Refusal::TooManyKeys),
            _ => {}
        }
        if let Some(refusal) = Refusal::parse_account(text) {
            return Some(refusal);
        }
        if let Some(refusal) = Refusal::parse_rooms(text) {
            return Some(refusal);
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

impl<'a> Refusal<'a> {
    /// Refusals about private rooms, owners, admins and bans.
    fn parse_rooms(text: &'a str) -> Option<Refusal<'a>> {
        if let Some(room) = text.strip_prefix("only the owner of ")
            && let Some(room) = room.strip_suffix(" can do that")
            && is_room(room)
        {
            return Some(Refusal::NotOwner { room });
        }
        if let Some(rest) = text.strip_prefix("you are banned until ") {
            let (until, rest) = match rest.strip_prefix("further notice") {
                Some(rest) => (None, rest),
                None => {
                    let (time, rest) = UtcTime::parse_prefix(rest)?;
                    (Some(time), rest)
                }
            };
            let reason = match rest {
                "" => None,
                rest => Some(rest.strip_prefix(" (")?.strip_suffix(')')?),
            };
            return Some(Refusal::YouAreBanned { until, reason });
        }
        let (first, rest) = text.split_once(' ')?;
        if is_room(first) {
            return match rest {
                "is private: you need an invite" => Some(Refusal::NeedInvite { room: first }),
                "exists; choose another name" => Some(Refusal::RoomExists { room: first }),
                _ => None,
            };
        }
        if rest == "is not banned" {
            return Some(Refusal::NotBanned { target: first });
        }
        if let Some(room) = rest.strip_prefix("is not in ")
            && is_name(first)
            && is_room(room)
        {
            return Some(Refusal::NotInRoom { name: first, room });
        }
        None
    }

    /// Refusals about registered names, mail and the store.
    fn parse_account(text: &'a str) -> Option<Refusal<'a>> {
        if let Some(name) = text.strip_prefix("wrong password for ")
            && is_name(name)
        {
            return Some(Refusal::WrongPassword { name });
        }
        if let Some(min) = text
            .strip_prefix("a password needs at least ")
            .and_then(|rest| rest.strip_suffix(" characters and no spaces"))
        {
            return Some(Refusal::BadPassword {
                min: min.parse().ok()?,
            });
        }
        if let Some(name) = text
            .strip_prefix("nobody called ")
            .and_then(|rest| rest.strip_suffix(" has been seen"))
            && is_name(name)
        {
            return Some(Refusal::NeverSeen { name });
        }
        if let Some(name) = text.strip_suffix("'s mailbox is full")
            && is_name(name)
        {
            return Some(Refusal::MailboxFull { name });
        }
        if let Some(what) = text.strip_suffix(" is unavailable")
            && !what.is_empty()
        {
            return Some(Refusal::Unavailable { what });
        }
        if let Some(what) = text.strip_suffix(" needs the other servers, which are unreachable now")
            && !what.is_empty()
        {
            return Some(Refusal::CutOff { what });
        }
        let (name, rest) = text.split_once(' ')?;
        if !is_name(name) {
            return None;
        }
        match rest {
            "is not registered" => Some(Refusal::NotRegistered { name }),
            "is already registered" => Some(Refusal::AlreadyRegistered { name }),
            "logged in from elsewhere" => Some(Refusal::LoggedInElsewhere { name }),
            _ if rest == format!("is registered: send \"{name} PASSWORD\"") => {
                Some(Refusal::NeedsPassword { name })
            }
            _ => None,
        }
    }
}

impl Refusal<'_> {
    pub(crate) fn write_to(&self, out: &mut impl Out) -> fmt::Result {
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
            Refusal::NeedsPassword { name } => {
                out.put(name)?;
                out.put(" is registered: send \"")?;
                out.put(name)?;
                out.put(" PASSWORD\"")
            }
            Refusal::WrongPassword { name } => {
                out.put("wrong password for ")?;
                out.put(name)
            }
            Refusal::TooManyTries => out.put("too many wrong passwords, closing"),
            Refusal::NotRegistered { name } => {
                out.put(name)?;
                out.put(" is not registered")
            }
            Refusal::AlreadyRegistered { name } => {
                out.put(name)?;
                out.put(" is already registered")
            }
            Refusal::BadPassword { min } => {
                out.put("a password needs at least ")?;
                out.put_number(*min)?;
                out.put(" characters and no spaces")
            }
            Refusal::LoggedInElsewhere { name } => {
                out.put(name)?;
                out.put(" logged in from elsewhere")
            }
            Refusal::MailboxFull { name } => {
                out.put(name)?;
                out.put("'s mailbox is full")
            }
            Refusal::NeverSeen { name } => {
                out.put("nobody called ")?;
                out.put(name)?;
                out.put(" has been seen")
            }
            Refusal::Unavailable { what } => {
                out.put(what)?;
                out.put(" is unavailable")
            }
            Refusal::CutOff { what } => {
                out.put(what)?;
                out.put(" needs the other servers, which are unreachable now")
            }
            Refusal::NeedInvite { room } => {
                out.put(room)?;
                out.put(" is private: you need an invite")
            }
            Refusal::RoomExists { room } => {
                out.put(room)?;
                out.put(" exists; choose another name")
            }
            Refusal::NotOwner { room } => {
                out.put("only the owner of ")?;
                out.put(room)?;
                out.put(" can do that")
            }
            Refusal::NotAdmin => out.put("only a server admin can do that"),
            Refusal::TooManyKeys => out.put("too many wrong keys, closing"),
            Refusal::YouAreBanned { until, reason } => {
                out.put("you are banned until ")?;
                match until {
                    Some(time) => out.put_display(time)?,
                    None => out.put("further notice")?,
                }
                if let Some(reason) = reason {
                    out.put(" (")?;
                    out.put(reason)?;
                    out.put(")")?;
                }
                Ok(())
            }
            Refusal::NotBanned { target } => {
                out.put(target)?;
                out.put(" is not banned")
            }
            Refusal::NotInRoom { name, room } => {
                out.put(name)?;
                out.put(" is not in ")?;
                out.put(room)
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
