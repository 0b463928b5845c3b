//! What a client sends once it has a name: chat, or a `/command`.

use std::fmt;

use crate::refusal::Refusal;
use crate::text::sanitize;

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
    /// `/nick NEW [PASSWORD]` (the password of NEW, if NEW is registered).
    Nick {
        name: &'a str,
        password: Option<&'a str>,
    },
    /// `/join ROOM [KEY]` (a private room's key).
    Join { room: &'a str, key: Option<&'a str> },
    /// `/create [ROOM]`: a private room.
    Create(Option<&'a str>),
    /// `/invite [NAME]`.
    Invite(Option<&'a str>),
    /// `/rekey`.
    Rekey,
    /// `/topic [TEXT]` (`-` clears it).
    Topic(Option<&'a str>),
    /// `/kick NAME [REASON]`.
    Kick {
        name: &'a str,
        reason: Option<&'a str>,
    },
    /// `/ban NAME|ADDRESS [DURATION] [REASON]`.
    Ban {
        target: &'a str,
        duration: Option<&'a str>,
        reason: Option<&'a str>,
    },
    /// `/unban NAME|ADDRESS`.
    Unban(&'a str),
    /// `/bans`.
    Bans,
    /// `/stats`.
    Stats,
    /// `/wall TEXT`.
    Wall(&'a str),
    /// `/rooms [FILTER]`.
    Rooms(Option<&'a str>),
    /// `/me ACTION`.
    Me(&'a str),
    /// `/help`.
    Help,
    /// `/history [N]`.
    History(Option<usize>),
    /// `/register PASSWORD`.
    Register(&'a str),
    /// `/password OLD NEW`.
    Password { old: &'a str, new: &'a str },
    /// `/unregister PASSWORD`.
    Unregister(&'a str),
    /// `/seen NAME`.
    Seen(&'a str),
    /// `/away [REASON]`.
    Away(Option<&'a str>),
    /// `/back`.
    Back,
    /// `/whois NAME`.
    Whois(&'a str),
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

impl ParseError {
    /// The error line that answers it (`None` for an empty line, which gets no answer).
    pub fn refusal(&self) -> Option<Refusal<'_>> {
        match self {
            ParseError::Empty => None,
            ParseError::UnknownCommand(word) => Some(Refusal::UnknownCommand { word }),
            ParseError::Usage(usage) => Some(Refusal::Usage { usage }),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.refusal() {
            Some(refusal) => refusal.fmt(f),
            None => write!(f, "empty line"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The commands with their usage and what they do, as `/help` prints them.
pub const HELP: &[(&str, &str)] = &[
    ("/who (/members)", "list the people in your room"),
    ("/msg NAME TEXT (/w, /whisper)", "send a private message"),
    (
        "/nick NEW [PASSWORD]",
        "change your name (with its password, if NEW is registered)",
    ),
    (
        "/join ROOM [KEY]",
        "move to a room, creating it if needed (a private one needs its KEY)",
    ),
    (
        "/create [ROOM]",
        "make a private room and move to it; it gives you its invite link",
    ),
    (
        "/invite [NAME]",
        "invite NAME to your room (alone: show the room's link)",
    ),
    (
        "/rekey",
        "give your private room a new key (old links stop working)",
    ),
    (
        "/topic [TEXT]",
        "show or set the room's topic (- clears it)",
    ),
    ("/kick NAME [REASON]", "send NAME out of your private room"),
    (
        "/ban NAME|ADDRESS [DURATION] [REASON]",
        "keep someone out (admins; 30s, 10m, 2h, 1d (default 1h), 0 = until lifted)",
    ),
    ("/unban NAME|ADDRESS", "lift a ban (admins)"),
    ("/bans", "list the bans (admins)"),
    ("/stats", "show the server's numbers (admins)"),
    ("/wall TEXT", "tell everyone on the server (admins)"),
    (
        "/rooms [FILTER]",
        "list the rooms (whose name contains FILTER) and how many are in each",
    ),
    ("/me ACTION", "tell the room what you are doing"),
    ("/quit [REASON] (/exit, /종료)", "leave the chat"),
    (
        "/history [N]",
        "show the room's last N lines (20 if not given)",
    ),
    (
        "/register PASSWORD",
        "register your name (then connect with \"NAME PASSWORD\")",
    ),
    ("/password OLD NEW", "change your password"),
    ("/unregister PASSWORD", "stop your name being registered"),
    ("/seen NAME", "say when NAME was last here"),
    (
        "/away [REASON]",
        "say you are away (private messages get REASON back)",
    ),
    ("/back", "say you are back"),
    ("/whois NAME", "show what is known of NAME"),
    ("/help", "show this list"),
    ("//TEXT", "say TEXT starting with a /"),
];

/// Parses one line from a joined client, as it was sent: the text in it is relayed only
/// once it is cleaned ([`sanitize`]).
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
        "rooms" => Ok(Command::Rooms(arg)),
        "help" => Ok(Command::Help),
        "me" => Ok(Command::Me(required("/me ACTION")?)),
        "nick" => {
            let (name, password) = split_word(required("/nick NEW [PASSWORD]")?);
            Ok(Command::Nick { name, password })
        }
        "history" => match arg.map(|text| (text, text.parse::<usize>())) {
            None => Ok(Command::History(None)),
            Some((_, Ok(count))) => Ok(Command::History(Some(count))),
            // More digits than a number holds is as many as there are.
            Some((text, Err(_)))
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(Command::History(Some(usize::MAX)))
            }
            Some(_) => Err(ParseError::Usage("/history [N]")),
        },
        "register" => Ok(Command::Register(required("/register PASSWORD")?)),
        "password" => match split_word(required("/password OLD NEW")?) {
            (old, Some(new)) => Ok(Command::Password { old, new }),
            (_, None) => Err(ParseError::Usage("/password OLD NEW")),
        },
        "unregister" => Ok(Command::Unregister(required("/unregister PASSWORD")?)),
        "seen" => Ok(Command::Seen(required("/seen NAME")?)),
        "whois" => Ok(Command::Whois(required("/whois NAME")?)),
        "away" => Ok(Command::Away(arg)),
        "back" => Ok(Command::Back),
        "join" => {
            let arg = required("/join ROOM [KEY]")?;
            match split_word(arg) {
                (room, Some(key)) if is_key_shaped(key) => Ok(Command::Join {
                    room,
                    key: Some(key),
                }),
                _ => Ok(Command::Join {
                    room: arg,
                    key: None,
                }),
            }
        }
        "create" => Ok(Command::Create(arg)),
        "invite" => Ok(Command::Invite(arg)),
        "rekey" => Ok(Command::Rekey),
        "topic" => Ok(Command::Topic(arg)),
        "kick" => {
            let (name, reason) = split_word(required("/kick NAME [REASON]")?);
            Ok(Command::Kick { name, reason })
        }
        "ban" => {
            let (target, rest) = split_word(required("/ban NAME|ADDRESS [DURATION] [REASON]")?);
            let (duration, reason) = match rest.map(split_word) {
                Some((first, rest)) if is_duration(first) => (Some(first), rest),
                Some(_) => (None, rest),
                None => (None, None),
            };
            Ok(Command::Ban {
                target,
                duration,
                reason,
            })
        }
        "unban" => Ok(Command::Unban(required("/unban NAME|ADDRESS")?)),
        "bans" => Ok(Command::Bans),
        "stats" => Ok(Command::Stats),
        "wall" => Ok(Command::Wall(required("/wall TEXT")?)),
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
        // The word is quoted back to the sender: as typed, but without controls.
        _ => Err(ParseError::UnknownCommand(sanitize(word).into_owned())),
    }
}

/// The first word of `text` and, if there is more, the rest (without the white space
/// between).
fn split_word(text: &str) -> (&str, Option<&str>) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, Some(rest.trim_start())),
        None => (text, None),
    }
}

/// Whether `word` could be a private room's key: 16 to 64 URL-safe base64 characters.
/// Anything else after `/join ROOM` stays part of the room's name, so that
/// `/join bad room` is refused as a bad name rather than tried as a key.
pub fn is_key_shaped(word: &str) -> bool {
    (16..=64).contains(&word.len())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `word` is a ban's duration: `0` (until lifted), or a number of seconds,
/// minutes, hours or days (`30s`, `10m`, `2h`, `1d`).
fn is_duration(word: &str) -> bool {
    parse_duration(word).is_some()
}

/// A ban's duration in seconds (`0`: until lifted), if `text` is one.
pub fn parse_duration(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let number = &text[..text.len() - 1];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<u64>().ok()?.checked_mul(unit)
}

/// Whether a line (at the handshake, or typed) asks to leave.
pub fn is_quit(line: &str) -> bool {
    matches!(parse_line(line), Ok(Command::Quit(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("/rooms", Ok(Command::Rooms(None))),
            ("/rooms dev", Ok(Command::Rooms(Some("dev")))),
            ("/help", Ok(Command::Help)),
            ("/me waves", Ok(Command::Me("waves"))),
            (
                "/nick bob",
                Ok(Command::Nick {
                    name: "bob",
                    password: None,
                }),
            ),
            (
                "/nick bob  s3cret pass",
                Ok(Command::Nick {
                    name: "bob",
                    password: Some("s3cret pass"),
                }),
            ),
            ("/history", Ok(Command::History(None))),
            ("/history 50", Ok(Command::History(Some(50)))),
            ("/history lots", Err(ParseError::Usage("/history [N]"))),
            ("/register hunter22", Ok(Command::Register("hunter22"))),
            (
                "/password old1 new2",
                Ok(Command::Password {
                    old: "old1",
                    new: "new2",
                }),
            ),
            (
                "/password old1",
                Err(ParseError::Usage("/password OLD NEW")),
            ),
            ("/away", Ok(Command::Away(None))),
            (
                "/away lunch, back at 2",
                Ok(Command::Away(Some("lunch, back at 2"))),
            ),
            ("/back", Ok(Command::Back)),
            ("/seen bob", Ok(Command::Seen("bob"))),
            ("/whois bob", Ok(Command::Whois("bob"))),
            (
                "/join #dev",
                Ok(Command::Join {
                    room: "#dev",
                    key: None,
                }),
            ),
            (
                "/join #k3x9 Zm9vYmFyYmF6cXV4LV8",
                Ok(Command::Join {
                    room: "#k3x9",
                    key: Some("Zm9vYmFyYmF6cXV4LV8"),
                }),
            ),
            ("/create", Ok(Command::Create(None))),
            (
                "/ban bob 2h spamming the room",
                Ok(Command::Ban {
                    target: "bob",
                    duration: Some("2h"),
                    reason: Some("spamming the room"),
                }),
            ),
            (
                "/ban 192.0.2.7 flood",
                Ok(Command::Ban {
                    target: "192.0.2.7",
                    duration: None,
                    reason: Some("flood"),
                }),
            ),
            (
                "/kick bob",
                Ok(Command::Kick {
                    name: "bob",
                    reason: None,
                }),
            ),
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
            ("/nick", Err(ParseError::Usage("/nick NEW [PASSWORD]"))),
            ("/nick   ", Err(ParseError::Usage("/nick NEW [PASSWORD]"))),
            ("/msg bob", Err(ParseError::Usage("/msg NAME TEXT"))),
            ("/msg", Err(ParseError::Usage("/msg NAME TEXT"))),
            ("/me", Err(ParseError::Usage("/me ACTION"))),
            ("/join", Err(ParseError::Usage("/join ROOM [KEY]"))),
            (
                "/history 99999999999999999999999",
                Ok(Command::History(Some(usize::MAX))),
            ),
            ("/history -1", Err(ParseError::Usage("/history [N]"))),
            ("/dance", Err(ParseError::UnknownCommand("dance".into()))),
            ("/", Err(ParseError::UnknownCommand("".into()))),
            (
                "/da\x1bnce",
                Err(ParseError::UnknownCommand("dance".into())),
            ),
            (
                "/nick bob\x07",
                Ok(Command::Nick {
                    name: "bob\x07",
                    password: None,
                }),
            ),
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
}
