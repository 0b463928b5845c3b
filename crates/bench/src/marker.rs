//! The lines the load generator sends and how it recognises what the server delivers:
//! server lines are read with the protocol's own parser, and the text of chat lines is
//! scanned for the generator's markers without allocating.

use std::io::Write;

use chat_protocol::{Notice, QuitReason, Refusal, ServerLine};

/// Starts the text of a measured message: `~B SENDER SEQ NANOS`.
const BENCH: &[u8] = b"~B ";
/// Starts the text of a readiness probe: `~P N`.
const PROBE: &[u8] = b"~P ";

/// What a measured message carries: who sent it, its place in that sender's sequence, and
/// when it was sent (nanoseconds since the run's base instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u32,
    pub seq: u64,
    pub nanos: u64,
}

/// A line from the server, as far as the load generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A measured message relayed by the server.
    Bench(Stamp),
    /// A readiness probe relayed by the server.
    Probe,
    /// The client is in the room: `* welcome ...` (the name was accepted), or in IRC the
    /// end of the channel's member list after joining it.
    Welcome,
    /// IRC: the server accepted the registration (`001`); the client joins the channel.
    Registered,
    /// IRC: `PING`, with its token, to be answered with `PONG`.
    Ping(&'a [u8]),
    /// `* NAME quit (too slow)`, with the name.
    TooSlow(&'a str),
    /// `! server full`.
    ServerFull,
    /// Any other `! ...`, the whole line.
    Error(&'a str),
    /// Anything else (greetings, notices, chat without a marker, bad markers).
    Other,
}

/// Appends a measured message line (with its LF) to `out`, its text padded with `x` to at
/// least `size` bytes.
pub fn write_bench(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    write_bench_text(out, stamp, size);
    out.push(b'\n');
}

/// Appends the text of a measured message (no line ending), padded with `x` to at least
/// `size` bytes.
pub fn write_bench_text(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    let start = out.len();
    // Writing to a Vec can't fail.
    let _ = write!(out, "~B {} {} {}", stamp.sender, stamp.seq, stamp.nanos);
    let written = out.len() - start;
    if written < size {
        out.push(b' ');
        out.resize(start + size, b'x');
    }
}

/// Appends a probe line (with its LF) to `out`.
pub fn write_probe(out: &mut Vec<u8>, number: u64) {
    write_probe_text(out, number);
    out.push(b'\n');
}

/// Appends the text of a probe (no line ending).
pub fn write_probe_text(out: &mut Vec<u8>, number: u64) {
    let _ = write!(out, "~P {number}");
}

/// Classifies one line from the server (without its LF; a trailing CR is tolerated).
pub fn classify(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(line) = std::str::from_utf8(line) else {
        return Line::Other;
    };
    match ServerLine::parse(line) {
        ServerLine::Chat { text, .. } | ServerLine::Private { text, .. } => {
            classify_text(text.as_bytes())
        }
        ServerLine::Notice(Notice::Welcome { .. }) => Line::Welcome,
        ServerLine::Notice(Notice::Quit {
            name,
            reason: Some(reason),
        }) if reason == QuitReason::TooSlow.text() => Line::TooSlow(name),
        ServerLine::Refusal(Refusal::ServerFull) => Line::ServerFull,
        ServerLine::Refusal(_) => Line::Error(line),
        _ => Line::Other,
    }
}

/// The text of a chat line: a measured message, a probe, or something else.
pub fn classify_text(text: &[u8]) -> Line<'_> {
    if let Some(numbers) = text.strip_prefix(BENCH) {
        return parse_stamp(numbers).map_or(Line::Other, Line::Bench);
    }
    if text.starts_with(PROBE) {
        return Line::Probe;
    }
    Line::Other
}

/// Parses `SENDER SEQ NANOS`; anything may follow NANOS after a space.
fn parse_stamp(text: &[u8]) -> Option<Stamp> {
    let (sender, rest) = parse_number(text)?;
    let rest = rest.strip_prefix(b" ")?;
    let (seq, rest) = parse_number(rest)?;
    let rest = rest.strip_prefix(b" ")?;
    let (nanos, rest) = parse_number(rest)?;
    if !matches!(rest.first(), None | Some(b' ' | b'\r')) {
        return None;
    }
    Some(Stamp {
        sender: u32::try_from(sender).ok()?,
        seq,
        nanos,
    })
}

/// A decimal number of 1 to 19 digits at the start of `text`, and what follows it.
fn parse_number(text: &[u8]) -> Option<(u64, &[u8])> {
    let digits = text
        .iter()
        .take(20)
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    // 19 digits always fit in a u64; more is not a number we sent.
    if digits == 0 || digits > 19 {
        return None;
    }
    let value = text[..digits]
        .iter()
        .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'));
    Some((value, &text[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sender: u32, seq: u64, nanos: u64) -> Stamp {
        Stamp { sender, seq, nanos }
    }

    #[test]
    fn written_lines_parse_back_after_the_server_prefix() {
        let mut out = b"b12-3: ".to_vec();
        write_bench(&mut out, stamp(7, 42, 123_456_789), 0);
        assert_eq!(out, b"b12-3: ~B 7 42 123456789\n");
        out.pop();
        assert_eq!(classify(&out), Line::Bench(stamp(7, 42, 123_456_789)));

        let mut out = b"b12-3: ".to_vec();
        write_bench(&mut out, stamp(1, 2, 3), 12);
        assert_eq!(out, b"b12-3: ~B 1 2 3 xxx\n");
        out.pop();
        assert_eq!(classify(&out), Line::Bench(stamp(1, 2, 3)));

        let mut out = b"b12-0: ".to_vec();
        write_probe(&mut out, 3);
        assert_eq!(classify(out.trim_ascii_end()), Line::Probe);
    }

    #[test]
    fn server_lines_are_classified() {
        let cases: &[(&[u8], Line)] = &[
            (
                b"* welcome b1-0, you are in #lobby (1): b1-0",
                Line::Welcome,
            ),
            (b"* b1-5 quit (too slow)", Line::TooSlow("b1-5")),
            (b"* b1-5 quit (too slow)\r", Line::TooSlow("b1-5")),
            (b"* b1-5 quit (connection closed)", Line::Other),
            (
                b"* hello! send your name (1-32 letters, digits, _ or -)",
                Line::Other,
            ),
            (b"* b1-5 joined #lobby", Line::Other),
            (
                b"! name \"b1-0\" is taken, choose another",
                Line::Error("! name \"b1-0\" is taken, choose another"),
            ),
            (b"! server full", Line::ServerFull),
            (b"alice: hello", Line::Other),
            (b"alice: ~B 1 2 3", Line::Bench(stamp(1, 2, 3))),
            (b"alice: ~B 1 2 3\r", Line::Bench(stamp(1, 2, 3))),
            (b"alice: ~B 1 2 3 padding", Line::Bench(stamp(1, 2, 3))),
            (b"a -> b: ~B 1 2 3", Line::Bench(stamp(1, 2, 3))),
            (b"", Line::Other),
            (b"no colon here", Line::Other),
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
    fn malformed_markers_are_ignored() {
        let cases: &[&[u8]] = &[
            b"alice: ~B",
            b"alice: ~B 1 2",
            b"alice: ~B 1 2 ",
            b"alice: ~B 1  2 3",
            b"alice: ~B x 2 3",
            b"alice: ~B 1 2 3x",
            b"alice: ~B -1 2 3",
            b"alice: ~B 1 2 99999999999999999999",
            b"alice: ~B 4294967296 2 3",
            b"alice:~B 1 2 3",
            b"alice: ~b 1 2 3",
        ];
        for line in cases {
            assert_eq!(
                classify(line),
                Line::Other,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn numbers_up_to_nineteen_digits_parse() {
        assert_eq!(
            parse_number(b"9999999999999999999 rest"),
            Some((9_999_999_999_999_999_999, &b" rest"[..]))
        );
        assert_eq!(parse_number(b"0"), Some((0, &b""[..])));
        assert_eq!(parse_number(b""), None);
    }
}
