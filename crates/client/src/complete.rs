//! Tab completion: command words after a `/`, and names of people in the room at the
//! start of a line and after `/msg`, `/w` and `/whisper`. Pure, so it is tested by table.

/// The commands offered, and whether each takes an argument (then a space follows it).
const COMMANDS: &[(&str, bool)] = &[
    ("/exit", false),
    ("/help", false),
    ("/join", true),
    ("/me", true),
    ("/members", false),
    ("/msg", true),
    ("/nick", true),
    ("/quit", false),
    ("/rooms", false),
    ("/w", true),
    ("/whisper", true),
    ("/who", false),
];

/// Completes the text before the cursor. Returns where the replaced word starts and
/// the replacements (each with what follows it: a space, or `: ` for a name that starts a
/// line); none when there is nothing to complete.
pub fn complete(before: &str, names: &[String]) -> (usize, Vec<String>) {
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
                .filter(|(command, _)| starts_with_ignoring_case(command, word))
                .map(|(command, takes_argument)| {
                    let space = if *takes_argument { " " } else { "" };
                    format!("{command}{space}")
                })
                .collect()
        } else {
            matching(names, word, ": ")
        }
    } else if is_private_command(head) {
        matching(names, word, " ")
    } else {
        Vec::new()
    };
    (word_start, candidates)
}

/// Whether `head` is a private message command followed by white space only, so the
/// word after it is the recipient.
fn is_private_command(head: &str) -> bool {
    let mut words = head.split_whitespace();
    let command = words.next().unwrap_or_default().to_lowercase();
    words.next().is_none() && matches!(command.as_str(), "/msg" | "/w" | "/whisper")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_commands_names_and_recipients() {
        let names = vec!["bob".to_string(), "Bobby".to_string(), "carol".to_string()];
        let cases: &[(&str, usize, &[&str])] = &[
            ("/ni", 0, &["/nick "]),
            ("/WH", 0, &["/whisper ", "/who"]),
            ("/x", 0, &[]),
            ("//no", 0, &[]),
            ("b", 0, &["bob: ", "Bobby: "]),
            ("ca", 0, &["carol: "]),
            ("", 0, &["bob: ", "Bobby: ", "carol: "]),
            ("/msg c", 5, &["carol "]),
            ("/w  BO", 4, &["bob ", "Bobby "]),
            ("/whisper ", 9, &["bob ", "Bobby ", "carol "]),
            ("/msg carol hi b", 14, &[]),
            ("hello b", 6, &[]),
            ("/join b", 6, &[]),
        ];
        for (before, start, expected) in cases {
            let (got_start, got) = complete(before, &names);
            assert_eq!(got, *expected, "{before:?}");
            if !expected.is_empty() {
                assert_eq!(got_start, *start, "{before:?}");
            }
        }
    }
}
