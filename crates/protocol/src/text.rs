//! What the server does to text before relaying it.

use std::borrow::Cow;

/// Removes the characters the server never relays: C0 controls except TAB, DEL and C1
/// controls. This is what stops one client from sending terminal escape sequences to others.
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    let is_banned = |c: char| c.is_control() && c != '\t';
    if text.contains(is_banned) {
        Cow::Owned(text.chars().filter(|&c| !is_banned(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_stripped_but_tabs_kept() {
        assert_eq!(strip_controls("a\x1b[31mb"), "a[31mb");
        assert_eq!(strip_controls("a\tb"), "a\tb");
        assert_eq!(strip_controls("a\u{7f}b\u{9b}c\u{0}"), "abc");
        assert!(matches!(strip_controls("plain"), Cow::Borrowed(_)));
    }
}
