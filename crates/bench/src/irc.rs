//! Just enough IRC to drive an IRC server (ngircd, say) with the same scenarios: the lines a
//! client sends (registration, one `JOIN`, `PONG`, chat as `PRIVMSG`) and the reading of
//! what the server sends, mapped onto the generator's own [`Line`]s.
//!
//! A client registers with `NICK` and `USER`, joins [`CHANNEL`] when the server welcomes it
//! (`001`), and counts as in the room once the server has sent it the channel's member list
//! (`366`, which goes to the joining client alone and only after its join took effect).
//! Deliveries are `:nick!user@host PRIVMSG #bench :TEXT`; TEXT is scanned for the same
//! markers as the chat protocol's chat lines.

use std::io::Write;

use crate::marker::{self, Line, Stamp};

/// The one channel every client joins.
pub const CHANNEL: &str = "#bench";

/// The longest measured message text in IRC mode: a relayed line is at most 512 bytes
/// (RFC 2812) including the sender's `:nick!user@host` prefix, the command and CRLF.
pub const MAX_SIZE: usize = 400;

/// What each delivered line costs beyond its text and two copies of the sender's name:
/// `:` `!~` `@127.0.0.1` ` PRIVMSG #bench :` and CRLF, about.
pub const LINE_OVERHEAD: usize = 36;

/// ngircd's `QUIT` reason for a client it dropped because its write buffer was full (its
/// "SendQ exceeded").
const TOO_SLOW_REASON: &[u8] = b"Write buffer space exhausted";

/// ngircd's `ERROR` texts when it turns a connection away for its connection limits
/// (`MaxConnections`, `MaxConnectionsIP`).
const SERVER_FULL_TEXTS: [&[u8]; 2] = [b"Connection limit reached", b"too many connections"];

/// Appends the registration (`NICK` and `USER`) for `name`.
pub fn write_register(out: &mut Vec<u8>, name: &str) {
    // Writing to a Vec can't fail.
    let _ = write!(out, "NICK {name}\r\nUSER {name} 0 * :{name}\r\n");
}

/// Appends the `JOIN` of [`CHANNEL`].
pub fn write_join(out: &mut Vec<u8>) {
    let _ = write!(out, "JOIN {CHANNEL}\r\n");
}

/// Appends the answer to a `PING` that carried `token`.
pub fn write_pong(out: &mut Vec<u8>, token: &[u8]) {
    out.extend_from_slice(b"PONG :");
    out.extend_from_slice(token);
    out.extend_from_slice(b"\r\n");
}

/// Appends a measured message to the channel, its text padded to at least `size` bytes.
pub fn write_bench(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    write_privmsg_start(out);
    marker::write_bench_text(out, stamp, size);
    out.extend_from_slice(b"\r\n");
}

/// Appends a probe to the channel.
pub fn write_probe(out: &mut Vec<u8>, number: u64) {
    write_privmsg_start(out);
    marker::write_probe_text(out, number);
    out.extend_from_slice(b"\r\n");
}

fn write_privmsg_start(out: &mut Vec<u8>) {
    let _ = write!(out, "PRIVMSG {CHANNEL} :");
}

/// Classifies one line from an IRC server (without its LF; the CR is stripped here).
pub fn classify(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(message) = Message::parse(line) else {
        return Line::Other;
    };
    match message.command {
        b"PRIVMSG" => match message.trailing() {
            Some(text) => marker::classify_text(text),
            None => Line::Other,
        },
        b"PING" => Line::Ping(message.trailing().unwrap_or_default()),
        b"001" => Line::Registered,
        b"366" => match message.params().nth(1) {
            Some(channel) if channel.eq_ignore_ascii_case(CHANNEL.as_bytes()) => Line::Welcome,
            _ => Line::Other,
        },
        b"QUIT" => match (message.trailing(), message.nick()) {
            (Some(reason), Some(nick)) if reason == TOO_SLOW_REASON => {
                std::str::from_utf8(nick).map_or(Line::Other, Line::TooSlow)
            }
            _ => Line::Other,
        },
        b"ERROR" => {
            let text = message.trailing().unwrap_or_default();
            if SERVER_FULL_TEXTS
                .iter()
                .any(|full| memchr::memmem::find(text, full).is_some())
            {
                Line::ServerFull
            } else {
                error(line)
            }
        }
        // ERR_NOMOTD: a server without a message of the day says so with an error numeric.
        b"422" => Line::Other,
        [b'4' | b'5', b'0'..=b'9', b'0'..=b'9'] => error(line),
        _ => Line::Other,
    }
}

/// The whole line, as an error the server reported.
fn error(line: &[u8]) -> Line<'_> {
    Line::Error(std::str::from_utf8(line).unwrap_or("(an IRC error that is not UTF-8)"))
}

/// One IRC message, split into its parts without copying (RFC 2812 section 2.3.1):
/// `[:prefix SPACE] command [params] [SPACE : trailing]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Message<'a> {
    prefix: Option<&'a [u8]>,
    command: &'a [u8],
    /// What follows the command, its leading spaces removed.
    rest: &'a [u8],
}

impl<'a> Message<'a> {
    /// Splits a line; `None` if it has no command.
    fn parse(line: &'a [u8]) -> Option<Message<'a>> {
        let (prefix, line) = match line.strip_prefix(b":") {
            Some(tagged) => {
                let (prefix, rest) = split_word(tagged);
                (Some(prefix), rest)
            }
            None => (None, line),
        };
        let (command, rest) = split_word(line);
        if command.is_empty() {
            return None;
        }
        Some(Message {
            prefix,
            command,
            rest,
        })
    }

    /// The parameters in order, the trailing one (after ` :`) last, without its colon.
    fn params(&self) -> Params<'a> {
        Params { rest: self.rest }
    }

    /// The last parameter if it is a trailing one (after ` :`), or the only parameter.
    fn trailing(&self) -> Option<&'a [u8]> {
        self.params().last()
    }

    /// The nick of a `nick!user@host` prefix.
    fn nick(&self) -> Option<&'a [u8]> {
        let prefix = self.prefix?;
        let end = memchr::memchr(b'!', prefix).unwrap_or(prefix.len());
        Some(&prefix[..end])
    }
}

/// The parameters of a [`Message`].
struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Params<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        if let Some(trailing) = self.rest.strip_prefix(b":") {
            self.rest = &[];
            return Some(trailing);
        }
        let (param, rest) = split_word(self.rest);
        self.rest = rest;
        Some(param)
    }
}

/// The bytes up to the first space, and what follows the spaces after them.
fn split_word(text: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', text) {
        Some(end) => {
            let rest = &text[end..];
            let spaces = rest.iter().take_while(|&&byte| byte == b' ').count();
            (&text[..end], &rest[spaces..])
        }
        None => (text, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sender: u32, seq: u64, nanos: u64) -> Stamp {
        Stamp { sender, seq, nanos }
    }

    #[test]
    fn sent_lines_are_irc_commands() {
        let mut out = Vec::new();
        write_register(&mut out, "b12-3");
        write_join(&mut out);
        write_pong(&mut out, b"irc.example.net");
        write_bench(&mut out, stamp(7, 42, 123), 0);
        write_probe(&mut out, 5);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "NICK b12-3\r\nUSER b12-3 0 * :b12-3\r\nJOIN #bench\r\n\
             PONG :irc.example.net\r\nPRIVMSG #bench :~B 7 42 123\r\n\
             PRIVMSG #bench :~P 5\r\n"
        );
        let mut padded = Vec::new();
        write_bench(&mut padded, stamp(1, 2, 3), 12);
        assert_eq!(padded, b"PRIVMSG #bench :~B 1 2 3 xxx\r\n");
    }

    #[test]
    fn what_the_server_sends_back_is_classified() {
        let cases: &[(&[u8], Line)] = &[
            (
                b":b1-0!~b1-0@127.0.0.1 PRIVMSG #bench :~B 1 2 3\r",
                Line::Bench(stamp(1, 2, 3)),
            ),
            (
                b":b1-0!~b1-0@127.0.0.1 PRIVMSG #bench :~B 1 2 3 xxxx",
                Line::Bench(stamp(1, 2, 3)),
            ),
            (b":b1-0!~b1-0@h PRIVMSG #bench :~P 4", Line::Probe),
            (
                b":b1-0!~b1-0@h PRIVMSG b1-1 :~B 1 2 3",
                Line::Bench(stamp(1, 2, 3)),
            ),
            (b":b1-0!~b1-0@h PRIVMSG #bench :hello", Line::Other),
            (b":b1-0!~b1-0@h PRIVMSG #bench ~B", Line::Other),
            (b":b1-0!~b1-0@h PRIVMSG #bench", Line::Other),
            (
                b":irc.example.net 001 b1-0 :Welcome to the Internet Relay Network b1-0!~b1-0@h",
                Line::Registered,
            ),
            (
                b":irc.example.net 366 b1-0 #bench :End of NAMES list",
                Line::Welcome,
            ),
            (
                b":irc.example.net 366 b1-0 #BENCH :End of NAMES list",
                Line::Welcome,
            ),
            (
                b":irc.example.net 366 b1-0 #other :End of NAMES list",
                Line::Other,
            ),
            (b"PING :irc.example.net\r", Line::Ping(b"irc.example.net")),
            (b"PING token", Line::Ping(b"token")),
            (b"PING", Line::Ping(b"")),
            (b":b1-0!~b1-0@h JOIN :#bench", Line::Other),
            (
                b":b1-5!~b1-5@h QUIT :Write buffer space exhausted",
                Line::TooSlow("b1-5"),
            ),
            (b":b1-5!~b1-5@h QUIT :Client closed connection", Line::Other),
            (
                b":irc.example.net 433 * b1-0 :Nickname already in use",
                Line::Error(":irc.example.net 433 * b1-0 :Nickname already in use"),
            ),
            (
                b":irc.example.net 501 b1-0 :Unknown mode",
                Line::Error(":irc.example.net 501 b1-0 :Unknown mode"),
            ),
            (
                b":irc.example.net 422 b1-0 :MOTD file is missing",
                Line::Other,
            ),
            (b"ERROR :Connection limit reached", Line::ServerFull),
            (
                b"ERROR :Connection refused, too many connections from your IP address",
                Line::ServerFull,
            ),
            (
                b"ERROR :Closing connection",
                Line::Error("ERROR :Closing connection"),
            ),
            (b":irc.example.net 375 b1-0 :- motd -", Line::Other),
            (b":irc.example.net 4 b1-0 :short numeric", Line::Other),
            (
                b":irc.example.net NOTICE * :*** Looking up your hostname",
                Line::Other,
            ),
            (b"", Line::Other),
            (b":prefix-only", Line::Other),
            (
                b":\xff\xfe PRIVMSG #bench :~B 1 2 3",
                Line::Bench(stamp(1, 2, 3)),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(
                classify(line),
                *expected,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn messages_split_into_prefix_command_and_params() {
        let message = Message::parse(b":n!u@h  PRIVMSG  #bench  :a b :c").expect("a message");
        assert_eq!(message.prefix, Some(&b"n!u@h"[..]));
        assert_eq!(message.command, b"PRIVMSG");
        assert_eq!(message.nick(), Some(&b"n"[..]));
        let params: Vec<&[u8]> = message.params().collect();
        assert_eq!(params, [&b"#bench"[..], b"a b :c"]);
        assert_eq!(message.trailing(), Some(&b"a b :c"[..]));

        let message = Message::parse(b"PING x").expect("a message");
        assert_eq!((message.prefix, message.nick()), (None, None));
        assert_eq!(message.trailing(), Some(&b"x"[..]));
        assert_eq!(Message::parse(b":server"), None);
        assert_eq!(Message::parse(b": "), None);
    }
}
