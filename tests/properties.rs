//! Property tests of the pure parts: the line framer, the command parser, name rules and the
//! control-character filter, over arbitrary input.

use chat_protocol::framing::{Frame, LineFramer};
use chat_protocol::{
    Command, MAX_NAME_CHARS, MemberList, Name, NameError, Notice, ParseError, Quoted, Refusal,
    RoomCount, ServerLine, UtcTime, forges_notice, is_name, parse_line, sanitize,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::time::{Duration, UNIX_EPOCH};

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
        let filtered = sanitize(&text);
        prop_assert!(!filtered.chars().any(|c| c.is_control() && c != '\t'));
        let space = |c: char| if matches!(c, '\u{2028}' | '\u{2029}') { ' ' } else { c };
        let kept: String = text.chars().filter(|&c| !c.is_control() || c == '\t').map(space).collect();
        prop_assert_eq!(filtered.as_ref(), kept.as_str());
        let again = sanitize(&filtered).into_owned();
        prop_assert_eq!(again.as_str(), filtered.as_ref());
    }

    #[test]
    fn names_are_valid_exactly_when_the_rules_say(name in "\\PC{0,40}|[\\w-]{0,40}") {
        let allowed = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
        let count = name.chars().count();
        let expected = (1..=MAX_NAME_CHARS).contains(&count) && name.chars().all(allowed);
        prop_assert_eq!(is_name(&name), expected, "{:?}", name);
    }

    #[test]
    fn every_server_line_reads_back_as_it_was_written(
        kind in 0usize..90,
        names in prop::collection::vec(name(), 3),
        room in name(),
        text in "\\PC{0,60}",
        input in "\\PC{0,60}|[\\x00-\\x{9f}\\u{200b}\\u{202e}\\\\\"']{0,20}",
        count in 0usize..300,
        listed in prop::collection::vec(name(), 0..120),
        bad in any::<char>(),
        number in any::<usize>(),
    ) {
        let room = format!("#{room}");
        let (from, to) = (names[0].as_str(), names[1].as_str());
        let listed_count = count.max(listed.len());
        let members = MemberList::new(&room, listed_count, listed.iter().map(String::as_str));
        let reason = match Name::new(&bad.to_string()) {
            Err(reason) => reason,
            Ok(_) if number % 2 == 0 => NameError::TooLong,
            Ok(_) => NameError::MixedScripts(vec!["Latin", "Cyrillic"]),
        };
        let reason_text = text.trim_start_matches(' ');
        let action = format!("does {reason_text}");
        let rooms: Vec<(&str, usize)> = listed.iter().map(|name| (name.as_str(), count)).collect();
        let hashed: Vec<String> = rooms.iter().map(|(name, _)| format!("#{name}")).collect();
        let rooms: Vec<RoomCount> = hashed
            .iter()
            .zip(rooms.iter())
            .enumerate()
            .map(|(index, (room, (_, count)))| RoomCount { room, count: *count, private: (index + number) % 3 == 0 })
            .collect();
        let time = UtcTime::from_system(UNIX_EPOCH + Duration::from_secs((number % 4_000_000_000) as u64));
        fn maybe(number: usize, text: &str) -> Option<&str> {
            number.is_multiple_of(2).then_some(text)
        }
        let links: Vec<String> = names.iter().take(1 + number % 3).map(|name| format!("chat://{name}.example:7878/{room}?key={name}")).collect();
        let links: Vec<&str> = links.iter().map(String::as_str).collect();
        let address = format!("127.0.{}.{}", number % 256, count % 256);
        let target = if number % 2 == 0 { from } else { address.as_str() };
        let word: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let line: ServerLine = match kind {
            0 => ServerLine::Chat { from, text: &text },
            1 => ServerLine::Private { from, to, text: &text },
            2 => Notice::Greeting.into(),
            3 => Notice::Welcome { name: from, members: members.clone() }.into(),
            4 => Notice::Joined { name: from, room: &room }.into(),
            5 => Notice::Left { name: from, room: &room }.into(),
            6 => Notice::Quit { name: from, reason: None }.into(),
            7 => Notice::Quit { name: from, reason: Some(&text) }.into(),
            8 => Notice::Renamed { old: from, new: to }.into(),
            9 => Notice::Action { name: from, text: &action }.into(),
            10 => Notice::Members(members.clone()).into(),
            11 => Notice::Rooms { rooms, more: count }.into(),
            12 => Notice::Help { usage: "/who (/members)", what: &text }.into(),
            13 => Notice::Bye.into(),
            14 => Notice::ShuttingDown.into(),
            15 => Refusal::ServerFull.into(),
            16 => Refusal::HandshakeTimeout.into(),
            17 => Refusal::InvalidUtf8.into(),
            18 => Refusal::LineTooLong { max: number }.into(),
            19 => Refusal::NameTaken { name: Quoted::new(&input) }.into(),
            20 => Refusal::InvalidName { name: Quoted::new(&input), reason: reason.clone() }.into(),
            21 => Refusal::AlreadyCalled { name: from }.into(),
            22 => Refusal::UnknownCommand { word: &word }.into(),
            23 => Refusal::Usage { usage: &text }.into(),
            24 => Refusal::NoSuchUser { name: Quoted::new(&input) }.into(),
            25 => Refusal::AlreadyInRoom { room: &room }.into(),
            26 => Refusal::TooManyConnections.into(),
            27 => Refusal::TooManyRooms { max: number }.into(),
            28 => Refusal::LookAlike { name: Quoted::new(&input), like: Quoted::new(&text) }.into(),
            29 => Notice::HistoryEnd { room: &room, count }.into(),
            30 => Notice::Registered { name: from }.into(),
            31 => Notice::PasswordChanged { name: from }.into(),
            32 => Notice::Unregistered { name: from }.into(),
            33 => Notice::Offline { name: from }.into(),
            34 => Notice::MailWaiting { count }.into(),
            35 => Notice::Away { name: from, reason: &text }.into(),
            36 => Notice::MarkedAway { reason: &text }.into(),
            37 => Notice::Back.into(),
            38 => Notice::SeenHere { name: from, room: maybe(number, &room) }.into(),
            39 => Notice::SeenAt { name: from, time, ago: "3 minutes ago" }.into(),
            40 => Notice::Whois { name: from, registered: count % 2 == 0, room: maybe(number, &room), idle: "5 seconds", since: time, away: maybe(number, &text) }.into(),
            41 => Notice::Reconnected { name: from }.into(),
            42 => Notice::PrivateRoom { room: &room, links: links.clone() }.into(),
            43 => Notice::Rekeyed { room: &room, links: links.clone() }.into(),
            44 => Notice::PublicRoom { room: &room }.into(),
            45 => Notice::Invited { from, room: &room, key: maybe(number, to) }.into(),
            46 => Notice::InviteSent { room: &room, name: to }.into(),
            47 => Notice::Owner { name: from, room: &room }.into(),
            48 => Notice::Topic { room: &room, text: &text }.into(),
            49 => Notice::NoTopic { room: &room }.into(),
            50 => Notice::TopicSet { name: from, room: &room, text: &text }.into(),
            51 => Notice::TopicCleared { name: from, room: &room }.into(),
            52 => Notice::Kicked { name: from, by: to, reason: maybe(number, &text) }.into(),
            53 => Notice::Banned { name: from, reason: maybe(number, &text) }.into(),
            54 => Notice::Ban { target, until: (count % 2 == 0).then_some(time), reason: maybe(number, &text) }.into(),
            55 => Notice::BanCount { count }.into(),
            56 => Notice::Unbanned { target }.into(),
            57 => Notice::Stats(&text).into(),
            58 => Notice::Wall { name: from, text: &text }.into(),
            59 => Refusal::ForgedAction.into(),
            60 => Refusal::NeedsPassword { name: from }.into(),
            61 => Refusal::WrongPassword { name: from }.into(),
            62 => Refusal::TooManyTries.into(),
            63 => Refusal::NotRegistered { name: from }.into(),
            64 => Refusal::AlreadyRegistered { name: from }.into(),
            65 => Refusal::BadPassword { min: count }.into(),
            66 => Refusal::LoggedInElsewhere { name: from }.into(),
            67 => Refusal::MailboxFull { name: from }.into(),
            68 => Refusal::NeverSeen { name: from }.into(),
            69 => Refusal::Unavailable { what: "the store" }.into(),
            70 => Refusal::NeedInvite { room: &room }.into(),
            71 => Refusal::RoomExists { room: &room }.into(),
            72 => Refusal::NotOwner { room: &room }.into(),
            73 => Refusal::NotAdmin.into(),
            74 => Refusal::TooManyKeys.into(),
            75 => Refusal::YouAreBanned { until: (count % 2 == 0).then_some(time), reason: maybe(number, &text) }.into(),
            76 => Refusal::NotBanned { target }.into(),
            77 => Refusal::NotInRoom { name: from, room: &room }.into(),
            _ => Refusal::InvalidRoom { room: Quoted::new(&input), reason }.into(),
        };
        let written = line.to_string();
        prop_assert_eq!(ServerLine::parse(&written), line, "{}", written);
    }

    #[test]
    fn actions_the_server_relays_read_back_as_actions(name in name(), text in "\\PC{1,60}") {
        let text = text.trim();
        prop_assume!(!text.is_empty() && !forges_notice(&name, text));
        let line = ServerLine::from(Notice::Action { name: &name, text });
        let written = line.to_string();
        prop_assert_eq!(ServerLine::parse(&written), line);
    }
}

/// A valid name: letters (Latin, Hangul, accented), digits, `_` and `-`.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_민수é-]{1,32}"
}
