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
    /// `/join ROOM`.
    Join(&'a str),
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
    ("/join ROOM", "move to a room, creating it if needed"),
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
        "history" => match arg.map(str::parse) {
            None => Ok(Command::History(None)),
            Some(Ok(count)) => Ok(Command::History(Some(count))),
            Some(Err(_)) => Err(ParseError::Usage("/history [N]")),
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
            ("/nick", Err(ParseError::Usage("/nick NEW [PASSWORD]"))),
            ("/nick   ", Err(ParseError::Usage("/nick NEW [PASSWORD]"))),
            ("/msg bob", Err(ParseError::Usage("/msg NAME TEXT"))),
            ("/msg", Err(ParseError::Usage("/msg NAME TEXT"))),
            ("/me", Err(ParseError::Usage("/me ACTION"))),
            ("/join", Err(ParseError::Usage("/join ROOM"))),
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
