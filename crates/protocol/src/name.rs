//! User and room names: what a valid name is, and how two names are compared.

use std::fmt;

use crate::quote::{quote_char, unquote_char};

/// Longest user or room name, in characters (not bytes), so `민수` counts as two.
pub const MAX_NAME_CHARS: usize = 32;

/// The room everyone starts in; it exists even when empty.
pub const LOBBY: &str = "#lobby";

/// The name rule as error lines state it.
pub const NAME_RULE: &str = "use 1-32 letters, digits, _ or -";

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
            NameError::BadChar(' ') => write!(f, "it contains a space"),
            NameError::BadChar(c) => write!(f, "it contains {}", quote_char(*c)),
        }
    }
}

impl std::error::Error for NameError {}

impl NameError {
    /// Reads back what [`Display`](fmt::Display) wrote.
    pub fn parse(text: &str) -> Option<NameError> {
        match text {
            "it is empty" => Some(NameError::Empty),
            "it contains a space" => Some(NameError::BadChar(' ')),
            _ if text == format!("it is longer than {MAX_NAME_CHARS} characters") => {
                Some(NameError::TooLong)
            }
            _ => {
                let quoted = text.strip_prefix("it contains ")?;
                let (c, rest) = unquote_char(quoted)?;
                rest.is_empty().then_some(NameError::BadChar(c))
            }
        }
    }
}

/// Whether `c` may appear in a name.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Checks a user name: 1 to 32 characters, each a Unicode letter or digit, `_` or `-`.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name.chars().find(|&c| !is_name_char(c)) {
        return Err(NameError::BadChar(c));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// Whether `text` has the shape of a name (what parsing server lines relies on: no spaces,
/// no colons).
pub fn is_name(text: &str) -> bool {
    validate_name(text).is_ok()
}

/// Whether `text` has the shape of a room name: `#` and a name.
pub fn is_room(text: &str) -> bool {
    text.strip_prefix('#').is_some_and(is_name)
}

/// The key two names are compared by: names are unique ignoring case, so `Alice` and `alice`
/// are the same user (and `#Dev` and `#dev` the same room).
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Whether two names are the same name (ignoring case).
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || name_key(a) == name_key(b)
}

/// Turns what a user typed after `/join` into a room name with its `#`, checking it by the
/// same rules as user names.
pub fn parse_room(input: &str) -> Result<String, NameError> {
    let bare = input.strip_prefix('#').unwrap_or(input);
    validate_name(bare)?;
    Ok(format!("#{bare}"))
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
    fn name_errors_read_back() {
        for err in [
            NameError::Empty,
            NameError::TooLong,
            NameError::BadChar(' '),
            NameError::BadChar('\t'),
            NameError::BadChar('\''),
            NameError::BadChar('#'),
            NameError::BadChar('\u{7}'),
        ] {
            assert_eq!(
                NameError::parse(&err.to_string()),
                Some(err.clone()),
                "{err}"
            );
        }
        assert_eq!(NameError::BadChar('😀').to_string(), "it contains '😀'");
    }

    #[test]
    fn names_compare_ignoring_case() {
        assert_eq!(name_key("Alice"), name_key("aLICE"));
        assert_eq!(name_key("ÉMILE"), name_key("émile"));
        assert!(same_name("Bob", "bOB"));
    }

    #[test]
    fn rooms_take_an_optional_hash() {
        assert_eq!(parse_room("dev"), Ok("#dev".to_string()));
        assert_eq!(parse_room("#dev"), Ok("#dev".to_string()));
        assert_eq!(parse_room("##dev"), Err(NameError::BadChar('#')));
        assert_eq!(parse_room("#"), Err(NameError::Empty));
        assert!(is_room("#dev") && !is_room("dev"));
    }
}
