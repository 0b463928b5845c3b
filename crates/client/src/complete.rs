//! Tab completion: every command word after a `/` (from the command table), room names
//! after `/join`, recipients after `/msg` (recent correspondents first), and names of
//! people anywhere else: `bob: ` at the start of a line, `bob ` mid-line. Pure, so it is
//! tested by table.

use crate::commands::{Arg, COMMANDS, find};

/// What can be completed: people (room members and correspondents), recipients (the
/// same, recent correspondents first) and rooms.
#[derive(Debug, Default, Clone)]
pub struct Known {
    pub names: Vec<String>,
    pub recipients: Vec<String>,
    pub rooms: Vec<String>,
}

/// Completes the text before the cursor. Returns where the replaced word starts and
/// the replacements (each with what follows it: a space, or `: ` for a name that starts a
/// line); none when there is nothing to complete.
pub fn complete(before: &str, known: &Known) -> (usize, Vec<String>) {
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(index, c)| index + c.len_utf8());
    let word = &before[word_start..];
    let head = &before[..word_start];

    let candidates = if head.is_empty() {
        if word.starts_with('/') && !word.starts_with("//") {
            COMMANDS
                .iter()
                .flat_map(|spec| spec.words.iter().map(move |word| (word, spec.arg)))
                .filter(|(command, _)| starts_with_ignoring_case(command, word))
                .map(|(command, arg)| {
                    let space = if arg == Arg::None { "" } else { " " };
                    format!("{command}{space}")
                })
                .collect()
        } else {
            matching(&known.names, word, ": ")
        }
    } else {
        match first_argument_of(head) {
            Some(Arg::Name) => matching(&known.recipients, word, " "),
            Some(Arg::Room) => known
                .rooms
                .iter()
                .filter(|room| {
                    starts_with_ignoring_case(room, word)
                        || starts_with_ignoring_case(room.trim_start_matches('#'), word)
                })
                .map(|room| format!("{room} "))
                .collect(),
            Some(Arg::None) => Vec::new(),
            Some(Arg::Text) | None => matching(&known.names, word, " "),
        }
    };
    (word_start, candidates)
}

/// When `head` is a command word followed by white space only, what that command takes
/// first; `None` anywhere else.
fn first_argument_of(head: &str) -> Option<Arg> {
    let mut words = head.split_whitespace();
    let command = words.next()?;
    if words.next().is_some() || !command.starts_with('/') {
        return None;
    }
    find(command).map(|(spec, _)| spec.arg)
}

fn matching(names: &[String], word: &str, suffix: &str) -> Vec<String> {
    names
        .iter()
        .filter(|name| starts_with_ignoring_case(name, word))
        .map(|name| format!("{name}{suffix}"))
        .collect()
}

fn starts_with_ignoring_case(candidate: &str, prefix: &str) -> bool {
    candidate.to_lowercase().starts_with(&prefix.to_lowercase())
}

/// The longest start that all of `candidates` share, compared ignoring case (the first
/// one's spelling is kept), measured in bytes of the first.
pub fn common_prefix(candidates: &[String]) -> &str {
    let Some(first) = candidates.first() else {
        return "";
    };
    let mut end = first.len();
    for other in &candidates[1..] {
        let shared = first
            .char_indices()
            .zip(other.chars())
            .find(|((_, a), b)| !a.to_lowercase().eq(b.to_lowercase()))
            .map_or(first.len().min(other.len()), |((index, _), _)| index);
        end = end.min(shared);
    }
    &first[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        let names = ["bob", "Bobby", "carol", "robert"]
            .map(String::from)
            .to_vec();
        let mut recipients = vec!["zed".to_string(), "carol".to_string()];
        recipients.extend(["bob", "Bobby", "robert"].map(String::from));
        Known {
            names,
            recipients,
            rooms: vec!["#dev".to_string(), "#lobby".to_string()],
        }
    }

    #[test]
    fn completes_commands_names_rooms_and_recipients() {
        let known = known();
        let cases: &[(&str, usize, &[&str])] = &[
            ("/ni", 0, &["/nick "]),
            ("/WH", 0, &["/who", "/whisper ", "/whois "]),
            ("/종", 0, &["/종료 "]),
            (
                "/r",
                0,
                &["/reply ", "/r ", "/register ", "/rekey", "/rooms "],
            ),
            ("/ki", 0, &["/kick "]),
            ("/ban", 0, &["/ban ", "/bans"]),
            ("/cr", 0, &["/create "]),
            ("/t", 0, &["/topic "]),
            ("/invite b", 8, &["bob ", "Bobby "]),
            ("/kick ca", 6, &["carol "]),
            ("/x", 0, &[]),
            ("//no", 0, &[]),
            ("b", 0, &["bob: ", "Bobby: "]),
            ("ca", 0, &["carol: "]),
            ("", 0, &["bob: ", "Bobby: ", "carol: ", "robert: "]),
            ("/msg c", 5, &["carol "]),
            ("/w  BO", 4, &["bob ", "Bobby "]),
            (
                "/whisper ",
                9,
                &["zed ", "carol ", "bob ", "Bobby ", "robert "],
            ),
            ("/msg carol hi b", 14, &["bob ", "Bobby "]),
            ("hey ro", 4, &["robert "]),
            ("/join d", 6, &["#dev "]),
            ("/join #l", 6, &["#lobby "]),
            ("/who b", 5, &[]),
            ("/me waves at ca", 13, &["carol "]),
        ];
        for (before, start, expected) in cases {
            let (got_start, got) = complete(before, &known);
            assert_eq!(got, *expected, "{before:?}");
            if !expected.is_empty() {
                assert_eq!(got_start, *start, "{before:?}");
            }
        }
    }

    #[test]
    fn common_prefix_ignores_case() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(common_prefix(&list(&["bob ", "Bobby "])), "bob");
        assert_eq!(common_prefix(&list(&["/who", "/whisper "])), "/wh");
        assert_eq!(common_prefix(&list(&["carol "])), "carol ");
        assert_eq!(common_prefix(&[]), "");
    }
}
