//! Whether a `/me` action would pass for one of the server's notices, judged as a person
//! reads the line rather than byte for byte.

use unicode_normalization::UnicodeNormalization;

use crate::invisible::is_default_ignorable;
use crate::notice::Notice;

/// Whether `/me ACTION` from `name` would read like one of the server's own notices (a
/// join, leave, quit or rename, a welcome, the shutdown notice, a list): such actions are
/// refused, because people and clients rely on notices. An action is sent only if it
/// reads back as an action and doesn't start with a presence verb.
///
/// The line is judged as written and as it reads: compatibility forms folded (NFKC, so a
/// no-break or ideographic space is a space), characters that draw nothing left out or
/// (as a Hangul filler looks) taken for a space, every run of spaces as one, case
/// ignored, and with or without trailing punctuation. `quit\u{200b}`,
/// `quit\u{a0}(connection lost)` and `server`'s `shutting down.` are all forgeries.
pub fn forges_notice(name: &str, action: &str) -> bool {
    let line = format!("{name} {action}");
    looks_like_notice(&line)
        || [Invisible::Dropped, Invisible::Blank]
            .into_iter()
            .any(|invisible| {
                let seen = as_read(&line, invisible);
                looks_like_notice(&seen) || looks_like_notice(without_punctuation(&seen))
            })
}

/// How a reading takes the characters that draw nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Invisible {
    Dropped,
    Blank,
}

/// `line` as a reader takes it in: NFKC, lowercase, invisible characters dropped or
/// blank, every kind of space (and anything else that shows as one) a single space, no
/// space at either end.
fn as_read(line: &str, invisible: Invisible) -> String {
    let mut seen = String::with_capacity(line.len());
    for c in line.nfkc() {
        let hidden = is_default_ignorable(c) || (c.is_control() && !c.is_whitespace());
        let blank =
            c.is_whitespace() || c == '\u{2800}' || (hidden && invisible == Invisible::Blank);
        if blank {
            if !seen.is_empty() && !seen.ends_with(' ') {
                seen.push(' ');
            }
        } else if !hidden {
            seen.extend(c.to_lowercase());
        }
    }
    let end = seen.trim_end().len();
    seen.truncate(end);
    seen
}

/// `seen` without the punctuation (and spaces) at its end: `shutting down.` reads as the
/// notice it imitates.
fn without_punctuation(seen: &str) -> &str {
    seen.trim_end_matches(|c: char| {
        c == ' ' || c.is_ascii_punctuation() || matches!(c, '\u{3001}' | '\u{3002}')
    })
}

/// Whether `line` (a notice's text, after `* `) is anything but a plain action.
fn looks_like_notice(line: &str) -> bool {
    const PRESENCE: [&str; 4] = ["joined #", "left #", "quit (", "is now "];
    match Notice::parse(line) {
        Notice::Action { text, .. } => {
            text == "quit" || PRESENCE.iter().any(|verb| text.starts_with(verb))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("bob", "is nowhere to be seen"),
            ("server", "waves"),
        ] {
            assert!(!forges_notice(name, action), "{name} {action}");
        }
    }

    #[test]
    fn spacing_invisible_characters_case_and_punctuation_change_nothing() {
        for (name, action) in [
            ("bob", "quit\u{200b}"),
            ("bob", "\u{2060}quit"),
            ("bob", "qu\u{200d}it"),
            ("bob", "quit\u{a0}(connection lost)"),
            ("bob", "quit  (connection lost)"),
            ("bob", "quit \u{3000} (too slow)"),
            ("bob", "quit\u{3164}(connection lost)"),
            ("bob", "quit\u{2800}(connection lost)"),
            ("bob", "quit\u{2028}(connection lost)"),
            ("bob", "Quit (Connection Lost)"),
            ("bob", "quit (connection lost)."),
            ("bob", "quit!!!"),
            ("bob", "quit\u{3002}"),
            ("bob", "is\u{a0}now alice"),
            ("bob", "is now \u{ff41}lice"),
            ("bob", "joined\u{2009}#dev"),
            ("bob", "left\u{180e} #dev"),
            ("server", "shutting down."),
            ("Server", "shutting\u{a0}down"),
            ("\u{ff53}erver", "shutting down"),
            ("welcome", "alice,\u{a0}you are in #lobby (1): alice"),
        ] {
            assert!(forges_notice(name, action), "{name} {action:?}");
        }
        for (name, action) in [
            ("bob", "waves\u{a0}hello"),
            ("bob", "says \u{201c}quit\u{201d}"),
            ("bob", "\u{1f44b}"),
            ("server", "shuts the door"),
        ] {
            assert!(!forges_notice(name, action), "{name} {action:?}");
        }
    }

    #[test]
    fn a_reading_folds_spaces_case_and_invisibles() {
        let line = " A\u{a0}\u{a0}B\u{200b}c\u{3164}D\t ";
        assert_eq!(as_read(line, Invisible::Dropped), "a bcd");
        assert_eq!(as_read(line, Invisible::Blank), "a b c d");
        assert_eq!(without_punctuation("down. !"), "down");
        assert_eq!(without_punctuation("(too slow)"), "(too slow");
    }
}
