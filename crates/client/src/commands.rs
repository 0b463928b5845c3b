//! The commands the client knows: one table, from which completion and `/help` are made,
//! and the commands the client carries out itself (`/reply`, `/ignore`, `/clear`), which
//! never reach the server as typed. A new command is one line in [`COMMANDS`].

use chat_protocol::{self as protocol, name_key};

use crate::link::Link;

/// What follows a command word, so completion knows what to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Nothing.
    None,
    /// Free text (names may be completed within it).
    Text,
    /// A user name first (people one talked to privately come first), then text.
    Name,
    /// A room name.
    Room,
}

/// Who carries a command out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The server: the line is sent as typed.
    Server,
    /// The client: the line never leaves it.
    Client,
}

/// One command: its words (the first is the one shown), its usage, what it takes, who
/// carries it out and what it does.
#[derive(Debug)]
pub struct Spec {
    pub words: &'static [&'static str],
    pub usage: &'static str,
    pub arg: Arg,
    pub by: By,
    pub what: &'static str,
}

const fn spec(
    words: &'static [&'static str],
    usage: &'static str,
    arg: Arg,
    by: By,
    what: &'static str,
) -> Spec {
    Spec {
        words,
        usage,
        arg,
        by,
        what,
    }
}

/// Every command, server's and client's, in the order `/help` lists them.
pub const COMMANDS: &[Spec] = &[
    spec(
        &["/who", "/members"],
        "/who",
        Arg::None,
        By::Server,
        "list the people in your room",
    ),
    spec(
        &["/msg", "/w", "/whisper"],
        "/msg NAME TEXT",
        Arg::Name,
        By::Server,
        "send a private message",
    ),
    spec(
        &["/reply", "/r"],
        "/reply TEXT",
        Arg::Text,
        By::Client,
        "answer the last private message",
    ),
    spec(
        &["/nick"],
        "/nick NEW [PASSWORD]",
        Arg::Text,
        By::Server,
        "change your name (with its password, if registered)",
    ),
    spec(
        &["/history"],
        "/history [N]",
        Arg::Text,
        By::Server,
        "show the room's last N lines",
    ),
    spec(
        &["/register"],
        "/register PASSWORD",
        Arg::Text,
        By::Server,
        "register your name",
    ),
    spec(
        &["/password"],
        "/password OLD NEW",
        Arg::Text,
        By::Server,
        "change your password",
    ),
    spec(
        &["/unregister"],
        "/unregister PASSWORD",
        Arg::Text,
        By::Server,
        "stop your name being registered",
    ),
    spec(
        &["/seen"],
        "/seen NAME",
        Arg::Name,
        By::Server,
        "when NAME was last here",
    ),
    spec(
        &["/whois"],
        "/whois NAME",
        Arg::Name,
        By::Server,
        "what is known of NAME",
    ),
    spec(
        &["/away"],
        "/away [REASON]",
        Arg::Text,
        By::Server,
        "say you are away",
    ),
    spec(
        &["/back"],
        "/back",
        Arg::None,
        By::Server,
        "say you are back",
    ),
    spec(
        &["/join"],
        "/join ROOM [KEY]",
        Arg::Room,
        By::Server,
        "move to a room (a private one needs its KEY)",
    ),
    spec(
        &["/create"],
        "/create [ROOM]",
        Arg::Text,
        By::Server,
        "make a private room and get its invite link",
    ),
    spec(
        &["/invite"],
        "/invite [NAME]",
        Arg::Name,
        By::Server,
        "invite NAME to your room (alone: its link)",
    ),
    spec(
        &["/rekey"],
        "/rekey",
        Arg::None,
        By::Server,
        "a new key for your private room",
    ),
    spec(
        &["/topic"],
        "/topic [TEXT]",
        Arg::Text,
        By::Server,
        "show or set the room's topic (- clears it)",
    ),
    spec(
        &["/kick"],
        "/kick NAME [REASON]",
        Arg::Name,
        By::Server,
        "send NAME out of your room",
    ),
    spec(
        &["/ban"],
        "/ban NAME|ADDRESS [DURATION] [REASON]",
        Arg::Name,
        By::Server,
        "keep someone out (admins)",
    ),
    spec(
        &["/unban"],
        "/unban NAME|ADDRESS",
        Arg::Text,
        By::Server,
        "lift a ban (admins)",
    ),
    spec(
        &["/bans"],
        "/bans",
        Arg::None,
        By::Server,
        "list the bans (admins)",
    ),
    spec(
        &["/stats"],
        "/stats",
        Arg::None,
        By::Server,
        "the server's numbers (admins)",
    ),
    spec(
        &["/wall"],
        "/wall TEXT",
        Arg::Text,
        By::Server,
        "tell everyone on the server (admins)",
    ),
    spec(
        &["/rooms"],
        "/rooms [FILTER]",
        Arg::Text,
        By::Server,
        "list the rooms",
    ),
    spec(
        &["/me"],
        "/me ACTION",
        Arg::Text,
        By::Server,
        "tell the room what you are doing",
    ),
    spec(
        &["/ignore"],
        "/ignore [NAME]",
        Arg::Name,
        By::Client,
        "hide what NAME says (no NAME: list)",
    ),
    spec(
        &["/unignore"],
        "/unignore NAME",
        Arg::Name,
        By::Client,
        "show what NAME says again",
    ),
    spec(
        &["/clear"],
        "/clear",
        Arg::None,
        By::Client,
        "clear the screen",
    ),
    spec(
        &["/help"],
        "/help",
        Arg::None,
        By::Server,
        "list the commands",
    ),
    spec(
        &["/quit", "/exit", "/종료"],
        "/quit [REASON]",
        Arg::Text,
        By::Server,
        "leave the chat",
    ),
];

/// The command a line starts with, matched ignoring case; `None` for chat (`//text`
/// included) and for words nobody knows (the server answers those).
pub fn find(line: &str) -> Option<(&'static Spec, &str)> {
    let body = line.strip_prefix('/')?;
    if body.starts_with('/') {
        return None;
    }
    let (word, rest) = match body.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (body, ""),
    };
    let word = format!("/{}", word.to_lowercase());
    COMMANDS
        .iter()
        .find(|spec| spec.words.contains(&word.as_str()))
        .map(|spec| (spec, rest))
}

/// A command the client carries out itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// `/reply TEXT`: a private message to whoever sent us the last one.
    Reply(String),
    /// `/ignore NAME`, or `/ignore` to list.
    Ignore(Option<String>),
    /// `/unignore NAME`.
    Unignore(String),
    /// `/clear`.
    Clear,
    /// A client command without what it needs; holds its usage.
    Usage(&'static str),
}

/// The client's own command in `line`, if it is one.
pub fn local(line: &str) -> Option<Local> {
    let (spec, rest) = find(line)?;
    if spec.by != By::Client {
        return None;
    }
    let arg = (!rest.is_empty()).then(|| rest.to_string());
    let first = || rest.split_whitespace().next().map(String::from);
    Some(match spec.words[0] {
        "/reply" => arg.map_or(Local::Usage(spec.usage), Local::Reply),
        "/ignore" => Local::Ignore(first()),
        "/unignore" => first().map_or(Local::Usage(spec.usage), Local::Unignore),
        _ => Local::Clear,
    })
}

/// What the client says after one of its own commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Notice(String),
    Error(String),
    /// The screen is to be cleared (nothing to say).
    Clear,
}

/// Carries out a client command; a `/reply` is sent through `link` as `/msg`.
pub fn carry_out(link: &Link, local: &Local) -> Vec<Answer> {
    match local {
        Local::Reply(text) => match link.session().last_private_from() {
            Some(to) => match link.send(&format!("/msg {to} {text}")) {
                Ok(()) => Vec::new(),
                Err(err) => vec![Answer::Error(format!(
                    "line not sent: {}",
                    crate::describe(&err)
                ))],
            },
            None => vec![Answer::Error(
                "nobody has sent you a private message yet".to_string(),
            )],
        },
        Local::Ignore(None) => {
            let ignored = link.session().ignored();
            vec![Answer::Notice(if ignored.is_empty() {
                "ignoring nobody".to_string()
            } else {
                format!("ignoring: {}", ignored.join(", "))
            })]
        }
        Local::Ignore(Some(name)) => {
            if !protocol::is_name(name) {
                return vec![Answer::Error(format!("not a name: {name}"))];
            }
            if name_key(name) == name_key(link.session().name()) {
                return vec![Answer::Error("you can't ignore yourself".to_string())];
            }
            link.with_session(|session| session.ignore(name));
            vec![Answer::Notice(format!(
                "ignoring {name} (chat, actions and private messages) until you quit or /unignore {name}"
            ))]
        }
        Local::Unignore(name) => {
            if link.with_session(|session| session.unignore(name)) {
                vec![Answer::Notice(format!("no longer ignoring {name}"))]
            } else {
                vec![Answer::Error(format!("you are not ignoring {name}"))]
            }
        }
        Local::Clear => vec![Answer::Clear],
        Local::Usage(usage) => vec![Answer::Error(format!("usage: {usage}"))],
    }
}

/// `/help`'s lines for the client's own commands (the server lists its own).
pub fn client_help() -> impl Iterator<Item = String> {
    COMMANDS
        .iter()
        .filter(|spec| spec.by == By::Client)
        .map(|spec| {
            let aliases = &spec.words[1..];
            let aliases = if aliases.is_empty() {
                String::new()
            } else {
                format!(" ({})", aliases.join(", "))
            };
            format!("{}{aliases}: {} (this client)", spec.usage, spec.what)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_commands_are_recognised_and_server_ones_are_not() {
        let cases = [
            ("/r hi there", Some(Local::Reply("hi there".into()))),
            ("/REPLY x", Some(Local::Reply("x".into()))),
            ("/r", Some(Local::Usage("/reply TEXT"))),
            ("/ignore", Some(Local::Ignore(None))),
            ("/ignore bob  ", Some(Local::Ignore(Some("bob".into())))),
            ("/unignore", Some(Local::Usage("/unignore NAME"))),
            ("/unignore bob", Some(Local::Unignore("bob".into()))),
            ("/clear", Some(Local::Clear)),
            ("/msg bob hi", None),
            ("//r hi", None),
            ("r hi", None),
            ("/rooms", None),
        ];
        for (line, expected) in cases {
            assert_eq!(local(line), expected, "{line:?}");
        }
    }

    #[test]
    fn every_server_command_is_in_the_table() {
        for word in [
            "/quit", "/exit", "/종료", "/who", "/members", "/msg", "/w", "/whisper",
        ] {
            assert!(find(word).is_some(), "{word}");
        }
        for (usage, _) in protocol::HELP {
            let word = usage.split_whitespace().next().unwrap_or_default();
            assert!(word == "//TEXT" || find(word).is_some(), "{usage}");
        }
    }
}
