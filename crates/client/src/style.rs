//! Colours for the terminal: one SGR style per kind of line, and one colour per user name,
//! the same in every session. With colour off everything is plain text.

use chat_protocol::{self as protocol, ServerLine};

/// Colours a user name can get. Red, yellow and magenta are left out: they mark errors,
/// notices and private messages.
const NAME_COLORS: &[&str] = &["32", "36", "92", "94", "96", "34"];

/// Timestamps: dim.
const STAMP: &str = "2";
/// Notices (`* `): yellow.
const NOTICE: &str = "33";
/// Errors (`! `) and the client's own failures: bold red.
const ERROR: &str = "1;31";
/// Private messages, both directions: magenta.
const PRIVATE: &str = "35";
/// What you typed yourself: bold.
const OWN: &str = "1";
/// Commands you typed, shown in the scrollback: dim.
const COMMAND: &str = "2";

/// Whether to colour, and how.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// A style that colours when `color` is true.
    pub fn new(color: bool) -> Style {
        Style { color }
    }

    fn paint(&self, sgr: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A user name in its colour.
    pub fn name(&self, name: &str) -> String {
        self.paint(name_color(name), name)
    }

    /// The `[HH:MM] ` prefix (empty stays empty).
    pub fn stamp(&self, stamp: &str) -> String {
        match stamp.strip_suffix(' ') {
            Some(bare) => format!("{} ", self.paint(STAMP, bare)),
            None => stamp.to_string(),
        }
    }

    /// A line from the server, coloured by kind, after `stamp`.
    pub fn server_line(&self, stamp: &str, line: &str) -> String {
        let body = match ServerLine::parse(line) {
            ServerLine::Chat { from, text } => format!("{}: {text}", self.name(from)),
            ServerLine::Private { from, to, text } => format!(
                "{} {} {}{}",
                self.name(from),
                self.paint(PRIVATE, "->"),
                self.name(to),
                self.paint(PRIVATE, &format!(": {text}"))
            ),
            ServerLine::Notice(_) => self.paint(NOTICE, line),
            ServerLine::Refusal(_) => self.paint(ERROR, line),
            ServerLine::Replay { .. } => self.paint(COMMAND, line),
            ServerLine::Other(_) => line.to_string(),
        };
        format!("{}{body}", self.stamp(stamp))
    }

    /// Our own chat line as the room sees it: `NAME: TEXT`, after `stamp`.
    pub fn own_chat(&self, stamp: &str, name: &str, text: &str) -> String {
        let name = if self.color {
            format!("\x1b[{OWN};{}m{name}\x1b[0m", name_color(name))
        } else {
            name.to_string()
        };
        format!("{}{name}: {}", self.stamp(stamp), self.paint(OWN, text))
    }

    /// A command we typed, kept in the scrollback, after `stamp`.
    pub fn own_command(&self, stamp: &str, line: &str) -> String {
        format!("{}{}", self.stamp(stamp), self.paint(COMMAND, line))
    }

    /// A message from the client itself (not the server) about a failure.
    pub fn client_error(&self, stamp: &str, text: &str) -> String {
        format!("{}{}", self.stamp(stamp), self.paint(ERROR, text))
    }

    /// A message from the client itself (not the server) about what it did.
    pub fn client_notice(&self, stamp: &str, text: &str) -> String {
        format!("{}{}", self.stamp(stamp), self.paint(NOTICE, text))
    }

    /// The prompt `NAME@#ROOM> `: its plain text and its styled text, of the same width.
    pub fn prompt(&self, name: &str, room: &str) -> (String, String) {
        let raw = format!("{name}@{room}> ");
        let styled = if self.color {
            format!("\x1b[1;{}m{name}\x1b[0m@{room}> ", name_color(name))
        } else {
            raw.clone()
        };
        (raw, styled)
    }
}

/// The SGR colour of a name: a hash of it ignoring case, so `Alice` and `alice` match and each
/// user keeps the colour across sessions (FNV-1a, not std's randomly seeded hasher).
pub fn name_color(name: &str) -> &'static str {
    let hash = protocol::fold_case(name)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    // The remainder is below the palette's length, so it fits in usize.
    NAME_COLORS[(hash % NAME_COLORS.len() as u64) as usize]
}

/// Whether `NO_COLOR` asks for no colour: set and not empty (no-color.org).
pub fn no_color_requested(value: Option<std::ffi::OsString>) -> bool {
    value.is_some_and(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_adds_no_escapes() {
        let style = Style::new(false);
        let lines = [
            "alice: hi",
            "alice -> bob: psst",
            "* bob joined #lobby",
            "! nope",
            "odd",
        ];
        for line in lines {
            assert_eq!(
                style.server_line("[12:00] ", line),
                format!("[12:00] {line}")
            );
        }
        assert_eq!(style.own_chat("", "alice", "hi"), "alice: hi");
        assert_eq!(style.prompt("alice", "#dev").1, "alice@#dev> ");
    }

    #[test]
    fn kinds_get_their_colours() {
        let style = Style::new(true);
        assert_eq!(
            style.server_line("", "! nope"),
            "\x1b[1;31m! nope\x1b[0m".to_string()
        );
        assert_eq!(
            style.server_line("", "* hi"),
            "\x1b[33m* hi\x1b[0m".to_string()
        );
        let chat = style.server_line("[12:00] ", "bob: hi");
        let bob = name_color("bob");
        assert_eq!(
            chat,
            format!("\x1b[2m[12:00]\x1b[0m \x1b[{bob}mbob\x1b[0m: hi")
        );
        assert!(style.server_line("", "a -> b: x").contains("\x1b[35m"));
        assert!(style.own_chat("", "bob", "x").contains("\x1b[1mx"));
    }

    #[test]
    fn a_name_keeps_its_colour() {
        assert_eq!(name_color("Alice"), name_color("alice"));
        let colours: std::collections::BTreeSet<_> = ["alice", "bob", "carol", "dave", "erin"]
            .iter()
            .map(|name| name_color(name))
            .collect();
        assert!(colours.len() > 1);
        let (raw, styled) = Style::new(true).prompt("alice", "#lobby");
        assert_eq!(raw, "alice@#lobby> ");
        assert!(styled.ends_with("@#lobby> ") && styled.contains("alice"));
    }

    #[test]
    fn no_color_must_be_non_empty() {
        assert!(!no_color_requested(None));
        assert!(!no_color_requested(Some("".into())));
        assert!(no_color_requested(Some("1".into())));
    }
}
