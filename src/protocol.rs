//! The line protocol: names and rooms, parsing what clients send, formatting what the server sends.
//!
//! Everything here is pure (no sockets), so it is tested by table and by property. The full
//! contract is written up in `docs/protocol.md`.

use std::borrow::Cow;
use std::fmt;

/// Longest user or room name, in characters (not bytes), so `민수` counts as two.
pub const MAX_NAME_CHARS: usize = 32;

/// The room everyone starts in; it exists even when empty.
pub const LOBBY: &str = "#lobby";

/// How many names a member list (`/who`, the welcome) spells out before it says `(+N more)`,
/// so a room of thousands doesn't produce a line of hundreds of kilobytes.
pub const MAX_LISTED_NAMES: usize = 100;

/// Why a user or room name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Nothing left after trimming.
    Empty,
    /// More than [`MAX_NAME_CHARS`] characters.
    TooLong,
    /// A character that is not a letter, a digit, `_` or `-`.
    BadChar(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "it is empty"),
            NameError::TooLong => write!(f, "it is longer than {MAX_NAME_CHARS} characters"),
            NameError::BadChar(c) if c.is_whitespace() => write!(f, "it contains a space"),
            NameError::BadChar(c) => write!(f, "it contains {c:?}"),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a user name: 1 to 32 characters, each a Unicode letter or digit, `_` or `-`.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(NameError::BadChar(c));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// The key two names are compared by: names are unique ignoring case, so `Alice` and `alice`
/// are the same user (and `#Dev` and `#dev` the same room).
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Turns what a user typed after `/join` into a room name with its `#`, checking it by the
/// same rules as user names.
pub fn parse_room(input: &str) -> Result<String, NameError> {
    let bare = input.strip_prefix('#').unwrap_or(input);
    validate_name(bare)?;
    Ok(format!("#{bare}"))
}

/// Removes the characters the server never relays: C0 controls except TAB, DEL and C1
/// controls. This is what stops one client from sending terminal escape sequences to others.
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    let is_banned = |c: char| c.is_control() && c != '\t';
    if text.contains(is_banned) {
        Cow::Owned(text.chars().filter(|&c| !is_banned(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// One line from a client that has joined, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// Chat text for the room (`//text` arrives here as `/text`).
    Say(&'a str),
    /// `/quit [reason]`, `/exit`, `/종료`.
    Quit(Option<&'a str>),
    /// `/who`, `/members`.
    Who,
    /// `/msg NAME TEXT`, `/w`, `/whisper`.
    Msg { to: &'a str, text: &'a str },
    /// `/nick NEW`.
    Nick(&'a str),
    /// `/join ROOM`.
    Join(&'a str),
    /// `/rooms`.
    Rooms,
    /// `/me ACTION`.
    Me(&'a str),
    /// `/help`.
    Help,
}

/// Why a client line is not a command to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but white space: ignored, never answered.
    Empty,
    /// `/something` the server doesn't know; holds the word as typed.
    UnknownCommand(String),
    /// A known command with missing arguments; holds its usage text.
    Usage(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "empty line"),
            ParseError::UnknownCommand(word) => {
                write!(f, "unknown command /{word} (try /help)")
            }
            ParseError::Usage(usage) => write!(f, "usage: {usage}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The commands with their usage and what they do, as `/help` prints them.
pub const HELP: &[(&str, &str)] = &[
    ("/who (/members)", "list the people in your room"),
    ("/msg NAME TEXT (/w, /whisper)", "send a private message"),
    ("/nick NEW", "change your name"),
    ("/join ROOM", "move to a room, creating it if needed"),
    ("/rooms", "list the rooms and how many are in each"),
    ("/me ACTION", "tell the room what you are doing"),
    ("/quit [REASON] (/exit, /종료)", "leave the chat"),
    ("/help", "show this list"),
    ("//TEXT", "say TEXT starting with a /"),
];

/// Parses one line from a joined client (control characters already removed).
pub fn parse_line(line: &str) -> Result<Command<'_>, ParseError> {
    if line.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let Some(body) = line.strip_prefix('/') else {
        return Ok(Command::Say(line));
    };
    if body.starts_with('/') {
        return Ok(Command::Say(body));
    }
    let (word, rest) = match body.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (body, ""),
    };
    let arg = (!rest.is_empty()).then_some(rest);
    let required = |usage| arg.ok_or(ParseError::Usage(usage));
    match word.to_lowercase().as_str() {
        "quit" | "exit" | "종료" => Ok(Command::Quit(arg)),
        "who" | "members" => Ok(Command::Who),
        "rooms" => Ok(Command::Rooms),
        "help" => Ok(Command::Help),
        "me" => Ok(Command::Me(required("/me ACTION")?)),
        "nick" => Ok(Command::Nick(required("/nick NEW")?)),
        "join" => Ok(Command::Join(required("/join ROOM")?)),
        "msg" | "w" | "whisper" => {
            let usage = "/msg NAME TEXT";
            let (to, text) = required(usage)?
                .split_once(char::is_whitespace)
                .ok_or(ParseError::Usage(usage))?;
            Ok(Command::Msg {
                to,
                text: text.trim_start(),
            })
        }
        _ => Err(ParseError::UnknownCommand(word.to_string())),
    }
}

/// Whether a handshake line asks to leave instead of giving a name.
pub fn is_quit(line: &str) -> bool {
    matches!(parse_line(line), Ok(Command::Quit(_)))
}

/// Shortens user input quoted back in an error line, so an error never echoes kilobytes.
pub fn quote(input: &str) -> String {
    const MAX_QUOTED_CHARS: usize = 40;
    let mut chars = input.chars();
    let head: String = chars.by_ref().take(MAX_QUOTED_CHARS).collect();
    if chars.next().is_some() {
        format!("{:?}", format!("{head}..."))
    } else {
        format!("{head:?}")
    }
}

/// `NAME: TEXT`, room chat.
pub fn chat(from: &str, text: &str) -> String {
    format!("{from}: {text}")
}

/// Appends `NAME: TEXT` and its LF to a batch of chat lines.
pub fn append_chat(batch: &mut Vec<u8>, from: &str, text: &str) {
    batch.extend_from_slice(from.as_bytes());
    batch.extend_from_slice(b": ");
    batch.extend_from_slice(text.as_bytes());
    batch.push(b'\n');
}

/// `FROM -> TO: TEXT`, a private message.
pub fn private(from: &str, to: &str, text: &str) -> String {
    format!("{from} -> {to}: {text}")
}

/// `* TEXT`, a notice.
pub fn notice(text: impl fmt::Display) -> String {
    format!("* {text}")
}

/// `! TEXT`, an error.
pub fn error(text: impl fmt::Display) -> String {
    format!("! {text}")
}

/// `* NAME joined #ROOM`.
pub fn joined(name: &str, room: &str) -> String {
    notice(format_args!("{name} joined {room}"))
}

/// `* NAME left #ROOM`, for a move to another room.
pub fn left(name: &str, room: &str) -> String {
    notice(format_args!("{name} left {room}"))
}

/// `* NAME quit` or `* NAME quit (REASON)`.
pub fn quit(name: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => notice(format_args!("{name} quit ({reason})")),
        None => notice(format_args!("{name} quit")),
    }
}

/// `* OLD is now NEW`.
pub fn renamed(old: &str, new: &str) -> String {
    notice(format_args!("{old} is now {new}"))
}

/// `* NAME ACTION`, for `/me`.
pub fn action(name: &str, action: &str) -> String {
    notice(format_args!("{name} {action}"))
}

/// Whether `/me ACTION` from `name` would read like one of the server's own notices (a join,
/// leave, quit or rename of that user, a welcome, the shutdown notice), which people and
/// clients rely on; such actions are refused.
pub fn forges_notice(name: &str, action: &str) -> bool {
    let presence = ["joined #", "left #", "quit (", "is now "];
    let line = self::action(name, action);
    action == "quit"
        || presence.iter().any(|form| action.starts_with(form))
        || [SHUTTING_DOWN, GOODBYE].contains(&line.as_str())
        || line.starts_with("* welcome ")
        || line.starts_with("* rooms: ")
}

/// `#ROOM (N): a, b, c`, names already sorted; lists at most [`MAX_LISTED_NAMES`].
pub fn member_list<'a>(room: &str, count: usize, names: impl Iterator<Item = &'a str>) -> String {
    let mut list = format!("{room} ({count}):");
    let mut listed = 0;
    for name in names.take(MAX_LISTED_NAMES) {
        list.push_str(if listed == 0 { " " } else { ", " });
        list.push_str(name);
        listed += 1;
    }
    if count > listed {
        list.push_str(&format!(" (+{} more)", count - listed));
    }
    list
}

/// `* #ROOM (N): a, b, c`, the answer to `/who`.
pub fn who(member_list: &str) -> String {
    notice(member_list)
}

/// `* welcome NAME, you are in #ROOM (N): a, b, c`.
pub fn welcome(name: &str, member_list: &str) -> String {
    notice(format_args!("welcome {name}, you are in {member_list}"))
}

/// `* rooms: #a (N), #b (M)`, rooms already sorted.
pub fn rooms<'a>(rooms: impl Iterator<Item = (&'a str, usize)>) -> String {
    let list: Vec<String> = rooms
        .map(|(room, count)| format!("{room} ({count})"))
        .collect();
    notice(format_args!("rooms: {}", list.join(", ")))
}

/// The first line a new connection gets.
pub const GREETING: &str = "* hello! send your name (1-32 letters, digits, _ or -)";
/// Sent to every client when the server stops.
pub const SHUTTING_DOWN: &str = "* server shutting down";
/// Sent to a connection refused by `--max-clients`.
pub const SERVER_FULL: &str = "! server full";
/// Sent to a connection that took too long to give a name.
pub const HANDSHAKE_TIMEOUT: &str = "! no name received in time, closing";
/// Sent for a line that is not valid UTF-8.
pub const INVALID_UTF8: &str = "! invalid UTF-8";
/// The last line a client gets after `/quit`.
pub const GOODBYE: &str = "* bye";

/// `! line too long (max N bytes)`.
pub fn line_too_long(max: usize) -> String {
    error(format_args!("line too long (max {max} bytes)"))
}

/// A line from the server, classified for clients (colour, prompt, completion) and tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `NAME: TEXT`.
    Chat { from: &'a str, text: &'a str },
    /// `FROM -> TO: TEXT`.
    Private {
        from: &'a str,
        to: &'a str,
        text: &'a str,
    },
    /// `* TEXT`, holding TEXT.
    Notice(&'a str),
    /// `! TEXT`, holding TEXT.
    Error(&'a str),
    /// Anything else (a server speaking a newer protocol).
    Other(&'a str),
}

impl<'a> ServerLine<'a> {
    /// Classifies one line (without its line ending). Names contain no spaces or colons, so
    /// the forms can't be confused.
    pub fn parse(line: &'a str) -> ServerLine<'a> {
        if let Some(text) = line.strip_prefix("* ") {
            return ServerLine::Notice(text);
        }
        if let Some(text) = line.strip_prefix("! ") {
            return ServerLine::Error(text);
        }
        let is_name = |name: &str| validate_name(name).is_ok();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for good in [
            "alice",
            "민수",
            "a",
            "Bob_2",
            "x-y",
            "ÉMILE",
            &"n".repeat(32),
        ] {
            assert_eq!(validate_name(good), Ok(()), "{good:?}");
        }
        let cases = [
            ("", NameError::Empty),
            ("a b", NameError::BadChar(' ')),
            ("a:b", NameError::BadChar(':')),
            ("#room", NameError::BadChar('#')),
            ("😀", NameError::BadChar('😀')),
            ("tab\t", NameError::BadChar('\t')),
        ];
        for (bad, expected) in cases {
            assert_eq!(validate_name(bad), Err(expected), "{bad:?}");
        }
        assert_eq!(validate_name(&"n".repeat(33)), Err(NameError::TooLong));
        assert_eq!(validate_name(&"민".repeat(32)), Ok(()));
    }

    #[test]
    fn names_compare_ignoring_case() {
        assert_eq!(name_key("Alice"), name_key("aLICE"));
        assert_eq!(name_key("ÉMILE"), name_key("émile"));
    }

    #[test]
    fn rooms_take_an_optional_hash() {
        assert_eq!(parse_room("dev"), Ok("#dev".to_string()));
        assert_eq!(parse_room("#dev"), Ok("#dev".to_string()));
        assert_eq!(parse_room("##dev"), Err(NameError::BadChar('#')));
        assert_eq!(parse_room("#"), Err(NameError::Empty));
    }

    #[test]
    fn controls_are_stripped_but_tabs_kept() {
        assert_eq!(strip_controls("a\x1b[31mb"), "a[31mb");
        assert_eq!(strip_controls("a\tb"), "a\tb");
        assert_eq!(strip_controls("a\u{7f}b\u{9b}c\u{0}"), "abc");
        assert!(matches!(strip_controls("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn lines_parse_into_commands() {
        let cases: &[(&str, Result<Command, ParseError>)] = &[
            ("hello", Ok(Command::Say("hello"))),
            ("  spaced  ", Ok(Command::Say("  spaced  "))),
            ("//slash", Ok(Command::Say("/slash"))),
            ("/quit", Ok(Command::Quit(None))),
            ("/quit  gone home ", Ok(Command::Quit(Some("gone home")))),
            ("/exit", Ok(Command::Quit(None))),
            ("/종료", Ok(Command::Quit(None))),
            ("/QUIT", Ok(Command::Quit(None))),
            ("/who", Ok(Command::Who)),
            ("/members", Ok(Command::Who)),
            ("/rooms", Ok(Command::Rooms)),
            ("/help", Ok(Command::Help)),
            ("/me waves", Ok(Command::Me("waves"))),
            ("/nick bob", Ok(Command::Nick("bob"))),
            ("/join #dev", Ok(Command::Join("#dev"))),
            (
                "/msg bob  hi there",
                Ok(Command::Msg {
                    to: "bob",
                    text: "hi there",
                }),
            ),
            (
                "/w bob x",
                Ok(Command::Msg {
                    to: "bob",
                    text: "x",
                }),
            ),
            (
                "/whisper bob x",
                Ok(Command::Msg {
                    to: "bob",
                    text: "x",
                }),
            ),
            ("", Err(ParseError::Empty)),
            ("   ", Err(ParseError::Empty)),
            ("/nick", Err(ParseError::Usage("/nick NEW"))),
            ("/nick   ", Err(ParseError::Usage("/nick NEW"))),
            ("/msg bob", Err(ParseError::Usage("/msg NAME TEXT"))),
            ("/msg", Err(ParseError::Usage("/msg NAME TEXT"))),
            ("/me", Err(ParseError::Usage("/me ACTION"))),
            ("/join", Err(ParseError::Usage("/join ROOM"))),
            ("/dance", Err(ParseError::UnknownCommand("dance".into()))),
            ("/", Err(ParseError::UnknownCommand("".into()))),
        ];
        for (line, expected) in cases {
            assert_eq!(&parse_line(line), expected, "{line:?}");
        }
    }

    #[test]
    fn unknown_command_error_points_to_help() {
        let err = parse_line("/dance now").unwrap_err();
        assert_eq!(err.to_string(), "unknown command /dance (try /help)");
    }

    #[test]
    fn actions_that_read_like_server_notices_are_spotted() {
        for (name, action) in [
            ("bob", "quit"),
            ("bob", "quit (too slow)"),
            ("bob", "is now alice"),
            ("bob", "joined #lobby"),
            ("bob", "left #dev"),
            ("server", "shutting down"),
            ("welcome", "alice, you are in #lobby (1): alice"),
        ] {
            assert!(forges_notice(name, action), "{name} {action}");
        }
        for (name, action) in [
            ("bob", "waves"),
            ("bob", "quite likes it"),
            ("server", "waves"),
        ] {
            assert!(!forges_notice(name, action), "{name} {action}");
        }
    }

    #[test]
    fn member_lists_are_capped() {
        let names: Vec<String> = (0..150).map(|i| format!("u{i:03}")).collect();
        let list = member_list("#big", 150, names.iter().map(String::as_str));
        assert!(list.starts_with("#big (150): u000, u001"), "{list}");
        assert!(list.ends_with("u099 (+50 more)"), "{list}");
        assert_eq!(member_list("#x", 0, std::iter::empty()), "#x (0):");
    }

    #[test]
    fn server_lines_are_classified() {
        assert_eq!(
            ServerLine::parse("alice: hi: there"),
            ServerLine::Chat {
                from: "alice",
                text: "hi: there"
            }
        );
        assert_eq!(
            ServerLine::parse("alice -> bob: psst"),
            ServerLine::Private {
                from: "alice",
                to: "bob",
                text: "psst"
            }
        );
        assert_eq!(
            ServerLine::parse("* bob joined #lobby"),
            ServerLine::Notice("bob joined #lobby")
        );
        assert_eq!(ServerLine::parse("! nope"), ServerLine::Error("nope"));
        assert_eq!(
            ServerLine::parse("what is this"),
            ServerLine::Other("what is this")
        );
    }

    #[test]
    fn chat_lines_append_to_a_batch_as_they_format() {
        let mut batch = Vec::new();
        append_chat(&mut batch, "alice", "hi");
        append_chat(&mut batch, "bob", "yo: there");
        let expected = format!("{}\n{}\n", chat("alice", "hi"), chat("bob", "yo: there"));
        assert_eq!(batch, expected.as_bytes());
    }

    #[test]
    fn quoting_shortens_long_input() {
        assert_eq!(quote("bob"), "\"bob\"");
        let quoted = quote(&"x".repeat(100));
        assert!(quoted.len() < 50 && quoted.ends_with("...\""), "{quoted}");
    }
}
