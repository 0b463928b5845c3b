//! User and room names: what a valid name is, the form it is kept in, and how two names
//! are compared.
//!
//! Two checks for two jobs. [`is_name`] is the shape of a name (no spaces, no colons), what
//! reading a server line relies on, cheap enough for millions of lines. [`Name::new`] is
//! what the server checks before it gives a name out: the name in its normal form (NFC),
//! no character that draws nothing, and no mix of scripts that UTS #39 (Unicode security
//! mechanisms) flags, such as a Cyrillic `а` in a Latin name.
//!
//! Users are unique by [`name_key`], under which names that look alike are one name, as
//! `Alice` and `alice` are; rooms are compared by [`fold_case`], ignoring case only.

use std::fmt;
use std::ops::Deref;

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};
use unicode_security::mixed_script::AugmentedScriptSet;

use crate::invisible::is_default_ignorable;
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
    /// A character that draws nothing: a zero-width space, a Hangul filler, a joiner.
    Invisible(char),
    /// Letters of scripts that don't go together in one name: the scripts, in the order
    /// they first appear, by their Unicode names (`Latin`, `Cyrillic`).
    MixedScripts(Vec<&'static str>),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "it is empty"),
            NameError::TooLong => write!(f, "it is longer than {MAX_NAME_CHARS} characters"),
            NameError::BadChar(' ') => write!(f, "it contains a space"),
            NameError::BadChar(c) => write!(f, "it contains {}", quote_char(*c)),
            NameError::Invisible(c) => {
                write!(f, "it contains {}{INVISIBLE}", quote_char(*c))
            }
            NameError::MixedScripts(scripts) => {
                write!(f, "it mixes the ")?;
                for (index, script) in scripts.iter().enumerate() {
                    let separator = match index {
                        0 => "",
                        _ if index + 1 == scripts.len() => " and ",
                        _ => ", ",
                    };
                    // Unicode's names join words with `_`: `Canadian_Aboriginal`.
                    write!(f, "{separator}{}", script.replace('_', " "))?;
                }
                write!(f, " scripts")
            }
        }
    }
}

/// What follows an invisible character in [`NameError::Invisible`]'s text.
const INVISIBLE: &str = ", which is invisible";

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
                if let Some(list) = text
                    .strip_prefix("it mixes the ")
                    .and_then(|rest| rest.strip_suffix(" scripts"))
                {
                    return parse_scripts(list).map(NameError::MixedScripts);
                }
                let quoted = text.strip_prefix("it contains ")?;
                match unquote_char(quoted)? {
                    (c, "") => Some(NameError::BadChar(c)),
                    (c, INVISIBLE) => Some(NameError::Invisible(c)),
                    _ => None,
                }
            }
        }
    }
}

/// `Latin, Cyrillic and Hangul`, as [`NameError::MixedScripts`] writes it.
fn parse_scripts(list: &str) -> Option<Vec<&'static str>> {
    let (head, last) = match list.rsplit_once(" and ") {
        Some((head, last)) => (Some(head), last),
        None => (None, list),
    };
    head.into_iter()
        .flat_map(|head| head.split(", "))
        .chain([last])
        .map(|script| Script::from_full_name(&script.replace(' ', "_")).map(Script::full_name))
        .collect()
}

/// Whether `c` may appear in a name.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// A user name that passed every rule, in the form it is kept and shown from then on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Checks a name someone asked for and puts it in its normal form: 1 to 32 characters
    /// once composed (NFC, so `jose` with a combining accent is `josé`), each a Unicode
    /// letter or digit, `_` or `-`, none of them drawing nothing, and no mix of scripts
    /// beyond UTS #39's *highly restrictive* level. Whether someone has a name like it is
    /// for whoever gives names out to say, by [`name_key`].
    ///
    /// # Errors
    /// The first rule the name breaks.
    pub fn new(input: &str) -> Result<Name, NameError> {
        normalize(input).map(Name)
    }

    /// The name as it is shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rules of [`Name::new`], for user and room names alike.
fn normalize(input: &str) -> Result<String, NameError> {
    let name: String = input.nfc().collect();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| is_default_ignorable(c) || !is_name_char(c))
    {
        // Invisible first: some of them (the Hangul fillers) are letters.
        return Err(if is_default_ignorable(c) {
            NameError::Invisible(c)
        } else {
            NameError::BadChar(c)
        });
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if mixes_scripts(&name) {
        return Err(NameError::MixedScripts(scripts_of(&name)));
    }
    Ok(name)
}

/// Whether `name` mixes scripts beyond what UTS #39 calls *highly restrictive*: one script
/// (digits, `_` and `-` go with any), or Latin with Han and Hiragana or Katakana (Japanese),
/// with Han and Bopomofo (Chinese), or with Han and Hangul (Korean). So `민수`, `梁민수` and
/// `Tom민수` are fine, and so are Greek, Cyrillic or Cherokee names on their own, but not
/// a Cyrillic `а` among Latin letters.
///
/// Written here on the crate's augmented script sets rather than with its
/// `detect_restriction_level`, because that one also holds every character to UTS #39's
/// identifier profile, which leaves out whole scripts (Cherokee, Syriac, Canadian
/// syllabics) and the Hangul jamo Korean keyboards type on their own (`ㅋ`). Within the
/// profile the two agree (tested below).
fn mixes_scripts(name: &str) -> bool {
    let mut all = AugmentedScriptSet::default();
    let mut besides_latin = AugmentedScriptSet::default();
    for c in name.chars() {
        let scripts = AugmentedScriptSet::for_char(c);
        all.intersect_with(scripts);
        if !scripts.base.contains_script(Script::Latin) {
            besides_latin.intersect_with(scripts);
        }
    }
    let east_asian = besides_latin.hanb || besides_latin.jpan || besides_latin.kore;
    all.is_empty() && !east_asian
}

/// The scripts of `name`'s letters, in the order they first appear. A character that
/// belongs to a few scripts (a digit of Arabic and Thaana) counts for the first.
fn scripts_of(name: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for c in name.chars() {
        let extension = c.script_extension();
        if extension.is_common() || extension.is_inherited() {
            continue;
        }
        let script = match c.script() {
            Script::Common | Script::Inherited | Script::Unknown => extension.iter().next(),
            script => Some(script),
        };
        if let Some(script) = script.map(Script::full_name)
            && !found.contains(&script)
        {
            found.push(script);
        }
    }
    found
}

/// Whether `text` has the shape of a name: 1 to 32 letters, digits, `_` or `-` (no spaces,
/// no colons). This is what parsing server lines relies on; the server's own check,
/// [`Name::new`], is stricter.
pub fn is_name(text: &str) -> bool {
    if text.len() > MAX_NAME_CHARS * 4 {
        return false;
    }
    let mut count = 0;
    for c in text.chars() {
        if !is_name_char(c) {
            return false;
        }
        count += 1;
    }
    (1..=MAX_NAME_CHARS).contains(&count)
}

/// Whether `text` has the shape of a room name: `#` and a name.
pub fn is_room(text: &str) -> bool {
    text.strip_prefix('#').is_some_and(is_name)
}

/// The key user names are unique by: the UTS #39 skeleton of the name ignoring case, so
/// names that look alike share it as `Alice` and `alice` do. `аӏісе` (Cyrillic),
/// `ａｌｉｃｅ` (fullwidth) and `a1ice` all have `alice`'s key. Lowercased again after the
/// skeleton, whose prototypes are sometimes capitals (`0` is `O`).
///
/// Anything that holds names for the server (the directory, and a store of registered
/// names) holds them by this key, so a look-alike of a name finds it as the name does.
pub fn name_key(name: &str) -> String {
    unicode_security::skeleton(&fold_case(name))
        .collect::<String>()
        .to_lowercase()
}

/// A name or room ignoring case only (composed, lowercased): two names with the same
/// `fold_case` are the same name spelt in another case. Rooms are keyed by it, and
/// lists of names are sorted by it.
pub fn fold_case(name: &str) -> String {
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    name.nfc().collect::<String>().to_lowercase()
}

/// Whether two room names are the same room (ignoring case).
pub fn same_room(a: &str, b: &str) -> bool {
    a == b || fold_case(a) == fold_case(b)
}

/// Turns what a user typed after `/join` into a room name with its `#`, checking it by the
/// same rules as user names.
///
/// # Errors
/// The first rule the room name breaks.
pub fn parse_room(input: &str) -> Result<String, NameError> {
    let bare = input.strip_prefix('#').unwrap_or(input);
    Ok(format!("#{}", normalize(bare)?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(input: &str) -> Result<String, NameError> {
        Name::new(input).map(|name| name.as_str().to_string())
    }

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
            assert_eq!(check(good).as_deref(), Ok(good), "{good:?}");
            assert!(is_name(good), "{good:?}");
        }
        let cases = [
            ("", NameError::Empty),
            ("a b", NameError::BadChar(' ')),
            ("a:b", NameError::BadChar(':')),
            ("#room", NameError::BadChar('#')),
            ("😀", NameError::BadChar('😀')),
            ("tab\t", NameError::BadChar('\t')),
            ("bell\x07", NameError::BadChar('\x07')),
            ("nul\0", NameError::BadChar('\0')),
            ("\u{3164}", NameError::Invisible('\u{3164}')),
            ("alice\u{ffa0}", NameError::Invisible('\u{ffa0}')),
            ("al\u{200d}ice", NameError::Invisible('\u{200d}')),
            ("\u{430}lice", mixed(&["Cyrillic", "Latin"])),
            (
                "mixed\u{41c}\u{438}\u{440}민수",
                mixed(&["Latin", "Cyrillic", "Hangul"]),
            ),
            ("\u{3a9}mega", mixed(&["Greek", "Latin"])),
            ("x\u{663}", mixed(&["Latin", "Arabic"])),
        ];
        for (bad, expected) in cases {
            assert_eq!(check(bad), Err(expected), "{bad:?}");
        }
        assert_eq!(check(&"n".repeat(33)), Err(NameError::TooLong));
        assert_eq!(check(&"민".repeat(32)).map(|_| ()), Ok(()));
    }

    fn mixed(scripts: &[&'static str]) -> NameError {
        NameError::MixedScripts(scripts.to_vec())
    }

    #[test]
    fn each_script_works_alone_and_east_asian_names_mix_as_they_do() {
        for good in [
            "민수",
            "김철수",
            "梁민수",
            "Tom민수",
            "ㅋㅋ",
            "日本のHana",
            "李ㄅ",
            "Мир",
            "Ωμέγα",
            "ᏣᎳᎩ",
            "محمد",
            "สวัสดี",
            "x_1-2",
        ] {
            assert_eq!(check(good).as_deref(), Ok(good), "{good:?}");
        }
    }

    #[test]
    fn the_script_rule_agrees_with_uts_39_inside_its_identifier_profile() {
        use unicode_security::{
            GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection,
        };
        let letters = [
            "a", "Z", "а", "Ж", "ω", "민", "梁", "の", "カ", "ㄅ", "ب", "क", "1", "_",
        ];
        for first in letters {
            for second in letters {
                for third in letters {
                    let name = format!("{first}{second}{third}");
                    if !name.chars().all(GeneralSecurityProfile::identifier_allowed) {
                        continue;
                    }
                    let flagged =
                        name.detect_restriction_level() > RestrictionLevel::HighlyRestrictive;
                    assert_eq!(mixes_scripts(&name), flagged, "{name:?}");
                }
            }
        }
    }

    #[test]
    fn names_are_kept_composed() {
        assert_eq!(check("jose\u{301}").as_deref(), Ok("jos\u{e9}"));
        // Conjoining jamo compose into the syllable.
        assert_eq!(check("\u{1106}\u{1175}\u{11ab}").as_deref(), Ok("\u{bbfc}"));
        // Composing can bring a long name within the limit.
        let decomposed = "e\u{301}".repeat(32);
        assert_eq!(check(&decomposed), Ok("\u{e9}".repeat(32)));
        assert_eq!(parse_room("#caf\u{65}\u{301}").as_deref(), Ok("#caf\u{e9}"));
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
            NameError::Invisible('\u{3164}'),
            mixed(&["Latin", "Cyrillic"]),
            mixed(&["Latin", "Cyrillic", "Hangul", "Canadian_Aboriginal"]),
        ] {
            assert_eq!(
                NameError::parse(&err.to_string()),
                Some(err.clone()),
                "{err}"
            );
        }
        assert_eq!(NameError::BadChar('😀').to_string(), "it contains '😀'");
        assert_eq!(
            NameError::Invisible('\u{200b}').to_string(),
            "it contains '\\u{200b}', which is invisible"
        );
        assert_eq!(
            mixed(&["Latin", "Canadian_Aboriginal"]).to_string(),
            "it mixes the Latin and Canadian Aboriginal scripts"
        );
        assert_eq!(NameError::parse("it mixes the Klingon scripts"), None);
    }

    #[test]
    fn names_compare_ignoring_case() {
        assert_eq!(name_key("Alice"), name_key("aLICE"));
        assert_eq!(name_key("ÉMILE"), name_key("émile"));
        assert_eq!(name_key("jose\u{301}"), name_key("JOS\u{c9}"));
        assert_eq!(fold_case("JOSE\u{301}"), "jos\u{e9}");
        assert!(same_room("#Dev", "#dEV"));
    }

    #[test]
    fn look_alikes_share_a_key() {
        for like_alice in [
            "alice",
            "ALICE",
            "\u{430}\u{4cf}\u{456}\u{441}\u{435}",
            "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}",
            "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}",
            "a1ice",
            "a\u{217c}ice",
        ] {
            assert_eq!(name_key(like_alice), name_key("alice"), "{like_alice:?}");
        }
        assert_eq!(name_key("b0b"), name_key("BOB"));
        assert_eq!(name_key("rnike"), name_key("mike"));
        for other in ["alicia", "aiice", "민수", "\u{bbfc}\u{c218}2"] {
            assert_ne!(name_key(other), name_key("alice"), "{other:?}");
        }
        // Case alone is not a look-alike: the two spellings fold to one.
        assert_eq!(fold_case("ALICE"), fold_case("alice"));
        assert_ne!(fold_case("a1ice"), fold_case("alice"));
    }

    #[test]
    fn rooms_take_an_optional_hash() {
        assert_eq!(parse_room("dev"), Ok("#dev".to_string()));
        assert_eq!(parse_room("#dev"), Ok("#dev".to_string()));
        assert_eq!(parse_room("##dev"), Err(NameError::BadChar('#')));
        assert_eq!(parse_room("#"), Err(NameError::Empty));
        assert!(is_room("#dev") && !is_room("dev"));
    }

    proptest! {
        #[test]
        fn accepted_names_are_composed_and_have_the_shape_of_a_name(
            input in "\\PC{0,40}|[a-zA-Z\u{e9}\u{301}\u{3164}\u{200d}민수\u{1100}\u{1161}Мир_-]{0,40}",
        ) {
            if let Ok(name) = Name::new(&input) {
                prop_assert!(is_name(&name), "{:?}", name);
                prop_assert!(unicode_normalization::is_nfc(&name), "{:?}", name);
                prop_assert!(!name.chars().any(is_default_ignorable), "{:?}", name);
                prop_assert_eq!(Name::new(&name), Ok(name.clone()));
                prop_assert_eq!(name_key(&name), name_key(&input));
                prop_assert_eq!(name_key(&name), name_key(&name.to_uppercase()));
            }
        }
    }
}
