//! Colours and how each kind of line looks in the terminal. Names get colours from a
//! palette that reads on dark and light backgrounds (256 colours where the terminal has
//! them, 16 otherwise): the first names seen in a session get different colours, in the
//! order they are seen, and a name keeps its colour when its owner renames. Actions
//! (`/me`) are drawn unlike any server notice, by the client, whatever their words.

use std::collections::HashMap;

use chat_protocol::{Notice, ServerLine, name_key};

use crate::text::Styled;

/// Name colours with 256 colours: each has a contrast ratio of at least 3.8 against both
/// black and white (WCAG's formula), in hues far apart, the most distinct first; no red
/// (errors) or magenta (private messages).
const NAMES_256: &[&str] = &[
    "38;5;32", "38;5;28", "38;5;130", "38;5;98", "38;5;30", "38;5;64", "38;5;62", "38;5;166",
    "38;5;29", "38;5;31", "38;5;27", "38;5;134",
];
/// Name colours with 16 colours (no dark blue, which is hard to read on black).
const NAMES_16: &[&str] = &["32", "36", "94", "1;32", "1;36", "1;34"];

/// The styles of one palette.
#[derive(Debug)]
struct Palette {
    names: &'static [&'static str],
    /// Server notices (`* `).
    notice: &'static str,
    /// Private messages, both directions.
    private: &'static str,
}

const PALETTE_256: Palette = Palette {
    names: NAMES_256,
    // Grey (118, 118, 118): 4.5 against white and against black.
    notice: "38;5;243",
    private: "38;5;163",
};
const PALETTE_16: Palette = Palette {
    names: NAMES_16,
    notice: "2",
    private: "35",
};

/// Timestamps: dim.
const STAMP: &str = "2";
/// Lines from the past (history, messages that waited): dim.
const REPLAYED: &str = "2";
/// Errors (`! `) and the client's own failures: bold red.
const ERROR: &str = "1;31";
/// What you said yourself: bold.
const OWN: &str = "1";
/// An action's text: italic.
const ACTION: &str = "3";
/// A line that mentions you: the sender's name reversed, the text bold.
const MENTION_NAME: &str = "7";
const MENTION_TEXT: &str = "1";

/// What starts an action (`/me`): never `* `, which starts the server's notices.
pub const ACTION_MARK: &str = "• ";

/// Whether the terminal described by `term` and `colorterm` has 256 colours.
pub fn has_256_colors(term: &str, colorterm: Option<&str>, in_tmux: bool) -> bool {
    term.contains("256") || term.contains("direct") || colorterm.is_some() || in_tmux
}

/// The look of every line, and the colour of every name seen so far.
#[derive(Debug)]
pub struct Style {
    palette: &'static Palette,
    /// Name key to palette index, given in the order names are first seen.
    colors: HashMap<String, usize>,
    next: usize,
}

impl Style {
    /// A style with 256 colours or 16.
    pub fn new(colors_256: bool) -> Style {
        Style {
            palette: if colors_256 {
                &PALETTE_256
            } else {
                &PALETTE_16
            },
            colors: HashMap::new(),
            next: 0,
        }
    }

    /// The SGR of a name: a new name takes the next colour not yet given (after the
    /// palette's length, a hash of the name decides).
    pub fn name_sgr(&mut self, name: &str) -> &'static str {
        let names = self.palette.names;
        let key = name_key(name);
        let index = match self.colors.get(&key) {
            Some(index) => *index,
            None => {
                let index = if self.next < names.len() {
                    self.next
                } else {
                    hash(&key) % names.len()
                };
                self.next += 1;
                self.colors.insert(key, index);
                index
            }
        };
        names[index]
    }

    /// Gives `new` the colour `old` had.
    pub fn renamed(&mut self, old: &str, new: &str) {
        if let Some(index) = self.colors.remove(&name_key(old)) {
            self.colors.insert(name_key(new), index);
        }
    }

    fn stamp(line: &mut Styled, stamp: &str) {
        if let Some(bare) = stamp.strip_suffix(' ') {
            line.push(STAMP, bare);
            line.push("", " ");
        }
    }

    /// A line from the server after `stamp`, coloured by kind; `mention` marks a line
    /// that mentions us. Renames move colours.
    pub fn server_line(&mut self, stamp: &str, line: &str, mention: bool) -> Styled {
        let mut out = Styled::default();
        let parsed = ServerLine::parse(line);
        if let ServerLine::Replay { time, line: past } = &parsed {
            // A line from the past: its own time, and dimmed, apart from live lines.
            if !stamp.is_empty() {
                Style::stamp(&mut out, &crate::past_timestamp(time.to_system()));
            }
            out.push(REPLAYED, &past.to_string());
            return out;
        }
        Style::stamp(&mut out, stamp);
        match parsed {
            ServerLine::Chat { from, text } => {
                let sgr = self.name_sgr(from);
                if mention {
                    out.push(&format!("{sgr};{MENTION_NAME}"), from);
                    out.push("", ": ");
                    out.push(MENTION_TEXT, text);
                } else {
                    out.push(sgr, from);
                    out.push("", ": ");
                    out.push("", text);
                }
            }
            ServerLine::Private { from, to, text } => {
                let private = self.palette.private;
                let from_sgr = self.name_sgr(from);
                out.push(from_sgr, from);
                out.push(private, " -> ");
                let to_sgr = self.name_sgr(to);
                out.push(to_sgr, to);
                out.push(private, &format!(": {text}"));
            }
            ServerLine::Notice(Notice::Action { name, text }) => {
                out.push("", ACTION_MARK);
                let sgr = self.name_sgr(name);
                out.push(sgr, name);
                out.push("", " ");
                out.push(if mention { MENTION_TEXT } else { ACTION }, text);
            }
            ServerLine::Notice(notice) => {
                if let Notice::Renamed { old, new } = notice {
                    self.renamed(old, new);
                }
                out.push(self.palette.notice, line);
            }
            ServerLine::Refusal(_) => out.push(ERROR, line),
            ServerLine::Replay { .. } | ServerLine::Other(_) => out.push("", line),
        }
        out
    }

    /// Our own chat line as the room sees it: `NAME: TEXT`, after `stamp`.
    pub fn own_chat(&mut self, stamp: &str, name: &str, text: &str) -> Styled {
        let mut out = Styled::default();
        Style::stamp(&mut out, stamp);
        let sgr = format!("{OWN};{}", self.name_sgr(name));
        out.push(&sgr, name);
        out.push("", ": ");
        out.push(OWN, text);
        out
    }

    /// A message from the client itself (not the server) about a failure.
    pub fn client_error(&self, stamp: &str, text: &str) -> Styled {
        let mut out = Styled::default();
        Style::stamp(&mut out, stamp);
        out.push(ERROR, text);
        out
    }

    /// A message from the client itself (not the server) about what it did.
    pub fn client_notice(&self, stamp: &str, text: &str) -> Styled {
        let mut out = Styled::default();
        Style::stamp(&mut out, stamp);
        out.push(self.palette.notice, text);
        out
    }

    /// The prompt `NAME@#ROOM> `.
    pub fn prompt(&mut self, name: &str, room: &str, private: bool) -> Styled {
        let mut out = Styled::default();
        let sgr = format!("1;{}", self.name_sgr(name));
        out.push(&sgr, name);
        out.push("", &format!("@{room}"));
        if private {
            out.push("2", " (private)");
        }
        out.push("", "> ");
        out
    }

    /// A line of the status row (completions, search, news below).
    pub fn status(&self, text: &str) -> Styled {
        let mut out = Styled::default();
        out.push("7", text);
        out
    }
}

/// FNV-1a, the same in every session (std's hasher is randomly seeded).
fn hash(key: &str) -> usize {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    // Only the remainder is used, so dropping the high bits on 32-bit targets is fine.
    hash as usize
}

/// Whether `NO_COLOR` asks for no colour: set and not empty (no-color.org).
pub fn no_color_requested(value: Option<std::ffi::OsString>) -> bool {
    value.is_some_and(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_names_seen_get_different_colours() {
        let mut style = Style::new(true);
        let names = [
            "robert", "민수", "alice", "bob", "carol", "dave", "erin", "frank",
        ];
        let colours: std::collections::BTreeSet<_> =
            names.iter().map(|name| style.name_sgr(name)).collect();
        assert_eq!(colours.len(), names.len());
        assert_eq!(style.name_sgr("ROBERT"), style.name_sgr("robert"));
        let mut small = Style::new(false);
        let six: std::collections::BTreeSet<_> =
            names[..6].iter().map(|name| small.name_sgr(name)).collect();
        assert_eq!(six.len(), 6);
    }

    #[test]
    fn a_rename_keeps_the_colour() {
        let mut style = Style::new(true);
        let before = style.name_sgr("bob");
        style.name_sgr("carol");
        style.server_line("", "* bob is now robert", false);
        assert_eq!(style.name_sgr("robert"), before);
    }

    #[test]
    fn actions_never_look_like_notices() {
        let mut style = Style::new(true);
        for (line, shown) in [
            ("* alice waves", "• alice waves"),
            ("* alice 님이 나갔습니다", "• alice 님이 나갔습니다"),
            ("* alice quit", "* alice quit"),
            ("* bob joined #lobby", "* bob joined #lobby"),
        ] {
            assert_eq!(style.server_line("", line, false).text(), shown);
        }
    }

    #[test]
    fn kinds_get_their_styles() {
        let mut style = Style::new(true);
        let line = style.server_line("[12:00] ", "! nope", false);
        assert_eq!(line.spans.last().map(|span| span.sgr.as_str()), Some(ERROR));
        let line = style.server_line("", "* bob joined #lobby", false);
        assert_eq!(line.spans[0].sgr, "38;5;243");
        let line = style.server_line("", "bob: hi alice", true);
        assert!(line.spans[0].sgr.ends_with(";7"), "{line:?}");
        assert_eq!(style.prompt("alice", "#dev", false).text(), "alice@#dev> ");
        assert_eq!(
            style.prompt("alice", "#k3x9q2ab", true).text(),
            "alice@#k3x9q2ab (private)> "
        );
        assert!(has_256_colors("xterm-256color", None, false));
        assert!(has_256_colors("screen", None, true));
        assert!(!has_256_colors("xterm", None, false));
    }

    #[test]
    fn no_color_must_be_non_empty() {
        assert!(!no_color_requested(None));
        assert!(!no_color_requested(Some("".into())));
        assert!(no_color_requested(Some("1".into())));
    }
}
