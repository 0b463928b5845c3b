//! What the server does to text before relaying it (chat, `/me`, `/msg`, quit reasons), so
//! one client's text can't act on other people's terminals or on the lines around it.

use std::borrow::Cow;

/// Bidi controls that open a scope: embeddings and overrides (closed by PDF, U+202C).
const LRE: char = '\u{202a}';
const RLE: char = '\u{202b}';
const LRO: char = '\u{202d}';
const RLO: char = '\u{202e}';
const PDF: char = '\u{202c}';
/// Isolates (closed by PDI, U+2069).
const LRI: char = '\u{2066}';
const RLI: char = '\u{2067}';
const FSI: char = '\u{2068}';
const PDI: char = '\u{2069}';

/// Cleans text the server relays:
/// - C0 controls except TAB, DEL and C1 controls are removed, so no escape sequence reaches
///   a terminal;
/// - the line and paragraph separators (U+2028, U+2029) become spaces, so the text can't
///   start a line of its own for a receiver that splits on them;
/// - every bidi embedding, override or isolate the text opens is closed at its end (PDF
///   or PDI), and closers that close nothing are dropped, so the text can't reorder what
///   follows it on the line.
///
/// Everything else is kept, the joiners (ZWJ, ZWNJ) that emoji and many scripts need
/// included. Cleaning clean text changes nothing.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let plain = |byte: u8| (b' '..=b'~').contains(&byte) || byte == b'\t';
    if text.bytes().all(plain) || !text.chars().any(needs_care) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 3);
    // The scopes open at this point, innermost last.
    let mut open: Vec<Scope> = Vec::new();
    for c in text.chars() {
        match c {
            '\u{2028}' | '\u{2029}' => clean.push(' '),
            LRE | RLE | LRO | RLO => {
                open.push(Scope::Embedding);
                clean.push(c);
            }
            LRI | RLI | FSI => {
                open.push(Scope::Isolate);
                clean.push(c);
            }
            // A PDF closes an embedding only within the innermost isolate (UAX #9).
            PDF => {
                if open.last() == Some(&Scope::Embedding) {
                    open.pop();
                    clean.push(c);
                }
            }
            // A PDI closes the innermost isolate and every embedding inside it.
            PDI => {
                if let Some(at) = open.iter().rposition(|scope| *scope == Scope::Isolate) {
                    clean.extend(open.drain(at..).rev().map(Scope::closer));
                }
            }
            c if c.is_control() && c != '\t' => {}
            c => clean.push(c),
        }
    }
    clean.extend(open.into_iter().rev().map(Scope::closer));
    Cow::Owned(clean)
}

/// What a bidi control opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Embedding,
    Isolate,
}

impl Scope {
    fn closer(self) -> char {
        match self {
            Scope::Embedding => PDF,
            Scope::Isolate => PDI,
        }
    }
}

/// Whether [`sanitize`] may have to change `c`, or what follows it.
fn needs_care(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}' | LRE..=RLO | LRI..=PDI)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn controls_are_stripped_but_tabs_kept() {
        assert_eq!(sanitize("a\x1b[31mb"), "a[31mb");
        assert_eq!(sanitize("a\tb"), "a\tb");
        assert_eq!(sanitize("a\u{7f}b\u{9b}c\u{0}"), "abc");
        assert!(matches!(sanitize("plain"), Cow::Borrowed(_)));
        assert!(matches!(sanitize("민수 😀 \u{200d}"), Cow::Borrowed(_)));
    }

    #[test]
    fn separators_become_spaces() {
        assert_eq!(sanitize("a\u{2028}b\u{2029}c\u{85}d"), "a b cd");
    }

    #[test]
    fn bidi_scopes_end_with_the_text() {
        let cases = [
            ("a\u{202e}b", "a\u{202e}b\u{202c}"),
            ("\u{2067}a", "\u{2067}a\u{2069}"),
            ("\u{202b}\u{2066}x", "\u{202b}\u{2066}x\u{2069}\u{202c}"),
            // A PDI closes the embeddings inside its isolate first.
            (
                "\u{2068}\u{202d}x\u{2069}y",
                "\u{2068}\u{202d}x\u{202c}\u{2069}y",
            ),
            // A PDF can't close an embedding outside the innermost isolate.
            (
                "\u{202a}\u{2066}\u{202c}x",
                "\u{202a}\u{2066}x\u{2069}\u{202c}",
            ),
            ("stray\u{202c}\u{2069}", "stray"),
            ("ok\u{202e}x\u{202c}", "ok\u{202e}x\u{202c}"),
        ];
        for (text, expected) in cases {
            assert_eq!(sanitize(text), expected, "{text:?}");
        }
    }

    /// Whether every scope in `text` is closed, in order, and nothing closes what isn't open.
    fn balanced(text: &str) -> bool {
        let mut open = Vec::new();
        for c in text.chars() {
            match c {
                LRE | RLE | LRO | RLO => open.push(Scope::Embedding),
                LRI | RLI | FSI => open.push(Scope::Isolate),
                PDF if open.pop() != Some(Scope::Embedding) => return false,
                PDI if open.pop() != Some(Scope::Isolate) => return false,
                _ => {}
            }
        }
        open.is_empty()
    }

    /// Text rich in what the filter cares about.
    fn tricky_text() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            LRE, RLE, LRO, RLO, PDF, LRI, RLI, FSI, PDI, '\u{2028}', '\u{2029}', '\u{200c}',
            '\u{200d}', '\u{200e}', '\u{85}', '\n', '\r', '\t', '\x1b', '\x0b', '\x0c', 'a', ' ',
            '민',
        ]);
        prop::collection::vec(prop_oneof![2 => special, 1 => any::<char>()], 0..48)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn clean_text_has_no_breaks_and_balanced_bidi_and_keeps_the_rest(text in tricky_text()) {
            let clean = sanitize(&text);
            prop_assert!(
                !clean.chars().any(|c| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')),
                "{:?}", clean
            );
            prop_assert!(balanced(&clean), "{:?}", clean);
            let again = sanitize(&clean).into_owned();
            prop_assert_eq!(again.as_str(), clean.as_ref());
            let joiners = |text: &str| text.chars().filter(|c| matches!(c, '\u{200c}' | '\u{200d}')).count();
            prop_assert_eq!(joiners(&clean), joiners(&text));
            // Apart from bidi controls, what is left is the text without controls,
            // separators as spaces.
            let bidi = |c: &char| matches!(c, LRE..=RLO | LRI..=PDI);
            let kept: String = text
                .chars()
                .filter(|c| !bidi(c) && (!c.is_control() || *c == '\t'))
                .map(|c| if matches!(c, '\u{2028}' | '\u{2029}') { ' ' } else { c })
                .collect();
            let left: String = clean.chars().filter(|c| !bidi(c)).collect();
            prop_assert_eq!(left, kept);
        }
    }
}
