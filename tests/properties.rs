//! Property tests of the pure parts: the line framer, the command parser, name rules and the
//! control-character filter, over arbitrary input.

use chat::framing::{Frame, LineFramer};
use chat::protocol::{
    self, Command, MAX_NAME_CHARS, ParseError, ServerLine, parse_line, strip_controls,
    validate_name,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// What the framer must produce for `input`: split on LF, drop one CR before it, and
/// report lines over `max` as too long. An unfinished last line counts only once it is
/// known to be too long.
fn reference_frames(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let unfinished = pieces.pop().unwrap_or_default();
    let mut frames: Vec<Option<Vec<u8>>> = pieces
        .into_iter()
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line.len() <= max).then(|| line.to_vec())
        })
        .collect();
    if unfinished.len() > max + 1 {
        frames.push(None);
    }
    frames
}

/// Bytes with plenty of line endings, CRs and multi-byte characters.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<u8>(),
            2 => Just(b'\n'),
            1 => Just(b'\r'),
            1 => Just(b'a'),
        ],
        0..600,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn framer_matches_the_reference_for_any_chunking(
        input in stream_bytes(),
        max in 1usize..40,
        cuts in prop::collection::vec(0usize..600, 0..20),
    ) {
        let mut framer = LineFramer::new(max);
        let mut frames = Vec::new();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(input.len())).collect();
        cuts.push(input.len());
        cuts.sort_unstable();
        let mut start = 0;
        for cut in cuts {
            framer.extend(&input[start..cut]);
            start = cut;
            while let Some(frame) = framer.next_frame() {
                frames.push(match frame {
                    Frame::Line(line) => Some(line.to_vec()),
                    Frame::TooLong => None,
                });
            }
            // What stays buffered is at most one unfinished line within the limit.
            prop_assert!(framer.buffered() <= max + 1, "buffered {}", framer.buffered());
        }
        prop_assert_eq!(frames, reference_frames(&input, max));
    }

    #[test]
    fn framer_reads_from_a_stream_within_its_bound(input in stream_bytes(), max in 1usize..40) {
        let mut framer = LineFramer::new(max);
        let mut reader: &[u8] = &input;
        let mut frames = 0;
        loop {
            while framer.next_frame().is_some() {
                frames += 1;
            }
            prop_assert!(framer.buffered() <= max + 1);
            if framer.fill_from(&mut reader).expect("reading a slice") == 0 {
                break;
            }
        }
        prop_assert_eq!(frames, reference_frames(&input, max).len());
    }

    #[test]
    fn parser_never_panics_and_keeps_chat_text(line in "\\PC{0,80}") {
        match parse_line(&line) {
            Ok(Command::Say(text)) => {
                if let Some(rest) = line.strip_prefix("//") {
                    prop_assert_eq!(text, &line[1..]);
                    prop_assert!(text.starts_with('/') && rest == &text[1..]);
                } else {
                    prop_assert!(!line.starts_with('/'));
                    prop_assert_eq!(text, line.as_str());
                }
            }
            Ok(_) | Err(ParseError::UnknownCommand(_)) | Err(ParseError::Usage(_)) => {
                prop_assert!(line.starts_with('/'));
            }
            Err(ParseError::Empty) => prop_assert!(line.trim().is_empty()),
        }
    }

    #[test]
    fn commands_keep_their_arguments(name in "[a-z]{1,8}", text in "[a-z][a-z ]{0,20}[a-z]") {
        let line = format!("/msg {name}  {text}");
        let parsed = parse_line(&line);
        prop_assert_eq!(parsed, Ok(Command::Msg { to: &name, text: &text }));
        let line = format!("/quit {text}");
        prop_assert_eq!(parse_line(&line), Ok(Command::Quit(Some(text.as_str()))));
    }

    #[test]
    fn filtered_text_has_no_controls_but_everything_else(text in "\\PC{0,40}|[\\x00-\\x{9f}]{0,40}") {
        let filtered = strip_controls(&text);
        prop_assert!(!filtered.chars().any(|c| c.is_control() && c != '\t'));
        let kept: String = text.chars().filter(|&c| !c.is_control() || c == '\t').collect();
        prop_assert_eq!(filtered.as_ref(), kept.as_str());
        let again = strip_controls(&filtered).into_owned();
        prop_assert_eq!(again.as_str(), filtered.as_ref());
    }

    #[test]
    fn names_are_valid_exactly_when_the_rules_say(name in "\\PC{0,40}|[\\w-]{0,40}") {
        let allowed = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
        let count = name.chars().count();
        let expected = (1..=MAX_NAME_CHARS).contains(&count) && name.chars().all(allowed);
        prop_assert_eq!(validate_name(&name).is_ok(), expected, "{:?}", name);
    }

    #[test]
    fn formatted_lines_classify_back(
        from in "[a-zA-Z0-9_민수é-]{1,32}",
        to in "[a-zA-Z0-9_민수é-]{1,32}",
        text in "\\PC{0,60}",
    ) {
        let chat = protocol::chat(&from, &text);
        prop_assert_eq!(ServerLine::parse(&chat), ServerLine::Chat { from: &from, text: &text });
        let private = protocol::private(&from, &to, &text);
        prop_assert_eq!(
            ServerLine::parse(&private),
            ServerLine::Private { from: &from, to: &to, text: &text }
        );
    }
}
