//! Quoting user input inside server lines, so that an error can show what was typed without
//! echoing kilobytes or invisible characters, and a client can read it back.
//!
//! The form is Rust's debug form for strings: `"a b"`, with `\"`, `\\`, `\t`, `\r`, `\n`,
//! `\0` and `\u{HEX}` for characters that don't show.

use std::borrow::Cow;
use std::fmt::{self, Write};

use crate::invisible::is_default_ignorable;

/// Most characters of user input quoted back in an error line.
pub const MAX_QUOTED_CHARS: usize = 40;

/// User input as an error line quotes it: at most [`MAX_QUOTED_CHARS`] characters, then
/// `...`. Displays with its quotes and escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted<'a>(Cow<'a, str>);

impl<'a> Quoted<'a> {
    /// Quotes `input`, shortened if it is long.
    pub fn new(input: &'a str) -> Quoted<'a> {
        match input.char_indices().nth(MAX_QUOTED_CHARS) {
            Some((cut, _)) => Quoted(Cow::Owned(format!("{}...", &input[..cut]))),
            None => Quoted(Cow::Borrowed(input)),
        }
    }

    /// The quoted text, without quotes or escapes (shortened input ends with `...`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a quoted string at the start of `text`; returns it and what follows.
    pub fn parse(text: &'a str) -> Option<(Quoted<'a>, &'a str)> {
        let body = text.strip_prefix('"')?;
        let mut owned: Option<String> = None;
        let mut chars = body.char_indices();
        while let Some((index, c)) = chars.next() {
            match c {
                '"' => {
                    let rest = &body[index + 1..];
                    let quoted = match owned {
                        Some(owned) => Cow::Owned(owned),
                        None => Cow::Borrowed(&body[..index]),
                    };
                    return Some((Quoted(quoted), rest));
                }
                '\\' => {
                    let escaped = unescape(&mut chars)?;
                    owned.get_or_insert_with(|| body[..index].to_string());
                    if let Some(owned) = &mut owned {
                        owned.push(escaped);
                    }
                }
                c => {
                    if let Some(owned) = &mut owned {
                        owned.push(c);
                    }
                }
            }
        }
        None
    }

    /// The same text, owned.
    pub fn into_owned(self) -> Quoted<'static> {
        Quoted(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            escape(c, '"', f)?;
        }
        f.write_char('"')
    }
}

/// A character in single quotes, escaped like a quoted string: `'#'`, `'\t'`.
pub fn quote_char(c: char) -> String {
    let mut quoted = String::from("'");
    let _ = escape(c, '\'', &mut quoted);
    quoted.push('\'');
    quoted
}

/// Reads a character written by [`quote_char`] at the start of `text`; returns it and what
/// follows.
pub fn unquote_char(text: &str) -> Option<(char, &str)> {
    let mut chars = text.strip_prefix('\'')?.char_indices();
    let c = match chars.next()? {
        (_, '\\') => unescape(&mut chars)?,
        (_, c) => c,
    };
    let (index, close) = chars.next()?;
    let body = &text[1..];
    (close == '\'').then(|| (c, &body[index + 1..]))
}

/// Characters that draw nothing or move the text around, written as `\u{HEX}` so an error
/// line shows them.
fn is_invisible(c: char) -> bool {
    (c.is_whitespace() && c != ' ') || c.is_control() || is_default_ignorable(c)
}

fn escape(c: char, quote: char, out: &mut impl Write) -> fmt::Result {
    match c {
        '\\' => out.write_str("\\\\"),
        '\t' => out.write_str("\\t"),
        '\r' => out.write_str("\\r"),
        '\n' => out.write_str("\\n"),
        '\0' => out.write_str("\\0"),
        c if c == quote => {
            out.write_char('\\')?;
            out.write_char(c)
        }
        c if is_invisible(c) => write!(out, "\\u{{{:x}}}", u32::from(c)),
        c => out.write_char(c),
    }
}

/// Reads the rest of an escape after its backslash.
fn unescape(chars: &mut std::str::CharIndices<'_>) -> Option<char> {
    Some(match chars.next()?.1 {
        't' => '\t',
        'r' => '\r',
        'n' => '\n',
        '0' => '\0',
        'u' => {
            if chars.next()?.1 != '{' {
                return None;
            }
            let mut code = 0u32;
            loop {
                match chars.next()?.1 {
                    '}' => break,
                    digit => code = code.checked_mul(16)? + digit.to_digit(16)?,
                }
            }
            char::from_u32(code)?
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_the_debug_form_for_common_input() {
        for input in [
            "bob",
            "a b",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "😀",
            "#x",
        ] {
            assert_eq!(Quoted::new(input).to_string(), format!("{input:?}"));
        }
        assert_eq!(Quoted::new("a\u{200b}b").to_string(), "\"a\\u{200b}b\"");
        assert_eq!(
            Quoted::new("\u{3164}\u{fe0f}").to_string(),
            "\"\\u{3164}\\u{fe0f}\""
        );
    }

    #[test]
    fn long_input_is_shortened() {
        let quoted = Quoted::new(&"x".repeat(100)).to_string();
        assert_eq!(quoted, format!("\"{}...\"", "x".repeat(MAX_QUOTED_CHARS)));
        assert_eq!(
            Quoted::new("민".repeat(41).as_str())
                .as_str()
                .chars()
                .count(),
            43
        );
    }

    #[test]
    fn quoted_text_reads_back() {
        for input in [
            "",
            "bob",
            "a \"b\" c",
            "\\\t\r\n\0",
            "x\u{202e}y",
            "민수 😀",
        ] {
            let written = format!("{} rest", Quoted::new(input));
            let (quoted, rest) = Quoted::parse(&written).expect(input);
            assert_eq!((quoted.as_str(), rest), (input, " rest"));
        }
        assert!(Quoted::parse("\"open").is_none());
        assert!(Quoted::parse("\"bad \\u{zz}\"").is_none());
        for c in ['a', '\'', '\\', '\t', '\u{7}', '😀'] {
            let written = format!("{}!", quote_char(c));
            assert_eq!(unquote_char(&written), Some((c, "!")), "{written}");
        }
    }
}
