//! Characters that draw nothing: the Unicode default-ignorable code points (zero-width
//! spaces and joiners, bidi controls, variation selectors, tags, the Hangul fillers...).

/// Whether `c` is a default-ignorable code point (Unicode's `Default_Ignorable_Code_Point`):
/// a renderer that doesn't support it shows nothing, and one that does shows nothing of its
/// own either (it joins, breaks, selects or reorders its neighbours). The Hangul fillers
/// are among them, and so are the unassigned code points kept for more of the kind.
pub(crate) fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_and_joiners_are_ignorable_letters_are_not() {
        for c in [
            '\u{3164}', '\u{115f}', '\u{1160}', '\u{ffa0}', '\u{200b}', '\u{200d}',
        ] {
            assert!(is_default_ignorable(c), "{c:?}");
        }
        for c in ['a', ' ', '민', '\u{301}', '\u{2800}'] {
            assert!(!is_default_ignorable(c), "{c:?}");
        }
    }

    #[test]
    fn the_table_is_what_uts_39_skeletons_drop() {
        // A skeleton drops exactly the default-ignorable code points, so they are the
        // characters whose skeleton is empty.
        for code in 0..=u32::from(char::MAX) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let dropped = unicode_security::skeleton(c.encode_utf8(&mut [0; 4]))
                .next()
                .is_none();
            assert_eq!(is_default_ignorable(c), dropped, "U+{code:04X}");
        }
    }
}
