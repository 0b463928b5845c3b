//! Every line the server sends, as one type with both directions: the server formats a
//! [`ServerLine`] with `Display`, and the client and the load generator read one back with
//! [`ServerLine::parse`]. Formatting then parsing gives the same value (property-tested).

use std::fmt;

use crate::name::is_name;
use crate::notice::Notice;
use crate::out::Out;
use crate::refusal::Refusal;
use crate::time::UtcTime;

/// One line from the server, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `NAME: TEXT`, room chat.
    Chat { from: &'a str, text: &'a str },
    /// `FROM -> TO: TEXT`, a private message.
    Private {
        from: &'a str,
        to: &'a str,
        text: &'a str,
    },
    /// `* ...`.
    Notice(Notice<'a>),
    /// `! ...`, the answer to a line that could not be carried out.
    Refusal(Refusal<'a>),
    /// `= TIME LINE`: a line from the past (history, a message that waited), as it was
    /// delivered then. `=` can't start a name, so a bot matching `NAME: ` never takes one
    /// for a live line.
    Replay {
        time: UtcTime,
        line: Box<ServerLine<'a>>,
    },
    /// Anything else (a server speaking a newer protocol).
    Other(&'a str),
}

impl<'a> ServerLine<'a> {
    /// Reads one line (without its line ending).
    pub fn parse(line: &'a str) -> ServerLine<'a> {
        if let Some(text) = line.strip_prefix("* ") {
            return ServerLine::Notice(Notice::parse(text));
        }
        if let Some(text) = line.strip_prefix("! ") {
            return ServerLine::Refusal(Refusal::parse(text));
        }
        if let Some(rest) = line.strip_prefix("= ")
            && let Some((time, rest)) = UtcTime::parse_prefix(rest)
            && let Some(past) = rest.strip_prefix(' ')
            && !past.starts_with("= ")
        {
            return ServerLine::Replay {
                time,
                line: Box::new(ServerLine::parse(past)),
            };
        }
        if let Some((head, text)) = line.split_once(": ") {
            if let Some((from, to)) = head.split_once(" -> ") {
                if is_name(from) && is_name(to) {
                    return ServerLine::Private { from, to, text };
                }
            } else if is_name(head) {
                return ServerLine::Chat { from: head, text };
            }
        }
        ServerLine::Other(line)
    }

    /// Appends the line and its LF to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        // Writing to a Vec can't fail.
        let _ = self.write_to(out);
        out.push(b'\n');
    }

    fn write_to(&self, out: &mut impl Out) -> fmt::Result {
        match self {
            ServerLine::Chat { from, text } => {
                out.put(from)?;
                out.put(": ")?;
                out.put(text)
            }
            ServerLine::Private { from, to, text } => {
                out.put(from)?;
                out.put(" -> ")?;
                out.put(to)?;
                out.put(": ")?;
                out.put(text)
            }
            ServerLine::Notice(notice) => {
                out.put("* ")?;
                notice.write_to(out)
            }
            ServerLine::Refusal(refusal) => {
                out.put("! ")?;
                refusal.write_to(out)
            }
            ServerLine::Replay { time, line } => {
                out.put("= ")?;
                out.put_display(time)?;
                out.put(" ")?;
                line.write_to(out)
            }
            ServerLine::Other(line) => out.put(line),
        }
    }
}

impl fmt::Display for ServerLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl<'a> From<Notice<'a>> for ServerLine<'a> {
    fn from(notice: Notice<'a>) -> Self {
        ServerLine::Notice(notice)
    }
}

impl<'a> From<Refusal<'a>> for ServerLine<'a> {
    fn from(refusal: Refusal<'a>) -> Self {
        ServerLine::Refusal(refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::NameError;
    use crate::notice::{MemberList, RoomCount};
    use crate::quote::Quoted;
    use crate::time::UtcTime;

    fn round_trip(line: ServerLine<'_>) {
        let text = line.to_string();
        assert_eq!(ServerLine::parse(&text), line, "{text}");
        let mut bytes = Vec::new();
        line.append_to(&mut bytes);
        assert_eq!(bytes, format!("{text}\n").as_bytes());
    }

    #[test]
    fn every_kind_reads_back() {
        let members = MemberList::new("#dev", 3, ["a", "b", "c"].into_iter());
        let lines = [
            ServerLine::Chat {
                from: "alice",
                text: "hi: there",
            },
            ServerLine::Private {
                from: "alice",
                to: "bob",
                text: "psst",
            },
            Notice::Greeting.into(),
            Notice::Welcome {
                name: "민수",
                members: members.clone(),
            }
            .into(),
            Notice::Joined {
                name: "bob",
                room: "#lobby",
            }
            .into(),
            Notice::Left {
                name: "bob",
                room: "#dev",
            }
            .into(),
            Notice::Quit {
                name: "bob",
                reason: None,
            }
            .into(),
            Notice::Quit {
                name: "bob",
                reason: Some("lunch (back soon)"),
            }
            .into(),
            Notice::Renamed {
                old: "bob",
                new: "rob",
            }
            .into(),
            Notice::Action {
                name: "bob",
                text: "waves",
            }
            .into(),
            Notice::Members(members).into(),
            Notice::Members(MemberList::new("#x", 0, std::iter::empty())).into(),
            Notice::Rooms {
                rooms: vec![
                    RoomCount {
                        room: "#dev",
                        count: 1,
                        private: false,
                    },
                    RoomCount {
                        room: "#k3x9q2ab",
                        count: 2,
                        private: true,
                    },
                ],
                more: 0,
            }
            .into(),
            Notice::Rooms {
                rooms: vec![RoomCount {
                    room: "#dev",
                    count: 1,
                    private: false,
                }],
                more: 250,
            }
            .into(),
            Notice::Help {
                usage: "/who (/members)",
                what: "list the people in your room",
            }
            .into(),
            Notice::Bye.into(),
            Notice::ShuttingDown.into(),
            Notice::HistoryEnd {
                room: "#dev",
                count: 0,
            }
            .into(),
            Notice::HistoryEnd {
                room: "#dev",
                count: 1,
            }
            .into(),
            Notice::HistoryEnd {
                room: "#dev",
                count: 20,
            }
            .into(),
            Notice::Registered { name: "alice" }.into(),
            Notice::PasswordChanged { name: "alice" }.into(),
            Notice::Unregistered { name: "alice" }.into(),
            Notice::Offline { name: "alice" }.into(),
            Notice::MailWaiting { count: 1 }.into(),
            Notice::MailWaiting { count: 7 }.into(),
            Notice::Away {
                name: "bob",
                reason: "lunch: back at 2",
            }
            .into(),
            Notice::MarkedAway { reason: "lunch" }.into(),
            Notice::Back.into(),
            Notice::SeenHere {
                name: "bob",
                room: Some("#dev"),
            }
            .into(),
            Notice::SeenHere {
                name: "bob",
                room: None,
            }
            .into(),
            Notice::SeenAt {
                name: "bob",
                time: UtcTime::from_unix(1_796_150_585),
                ago: "3 hours ago",
            }
            .into(),
            Notice::Whois {
                name: "bob",
                registered: true,
                room: None,
                idle: "5 minutes",
                since: UtcTime::from_unix(1_796_150_585),
                away: Some("lunch"),
            }
            .into(),
            Notice::Reconnected { name: "bob" }.into(),
            Notice::PrivateRoom {
                room: "#k3x9q2ab",
                links: vec![
                    "chat://host:10000/k3x9q2ab?key=abc",
                    "http://host:8080/#k3x9q2ab?key=abc",
                ],
            }
            .into(),
            Notice::Rekeyed {
                room: "#k3x9q2ab",
                links: vec!["chat://host:10000/k3x9q2ab?key=def"],
            }
            .into(),
            Notice::PublicRoom { room: "#dev" }.into(),
            Notice::Invited {
                from: "alice",
                room: "#k3x9q2ab",
                key: Some("abc-_9"),
            }
            .into(),
            Notice::Invited {
                from: "alice",
                room: "#dev",
                key: None,
            }
            .into(),
            Notice::InviteSent {
                room: "#dev",
                name: "bob",
            }
            .into(),
            Notice::Owner {
                name: "bob",
                room: "#k3x9q2ab",
            }
            .into(),
            Notice::Topic {
                room: "#dev",
                text: "release on friday: be ready",
            }
            .into(),
            Notice::NoTopic { room: "#dev" }.into(),
            Notice::TopicSet {
                name: "alice",
                room: "#dev",
                text: "ship it",
            }
            .into(),
            Notice::TopicCleared {
                name: "alice",
                room: "#dev",
            }
            .into(),
            Notice::Kicked {
                name: "bob",
                by: "alice",
                reason: Some("spam (again)"),
            }
            .into(),
            Notice::Kicked {
                name: "bob",
                by: "alice",
                reason: None,
            }
            .into(),
            Notice::Banned {
                name: "bob",
                reason: Some("spam"),
            }
            .into(),
            Notice::Ban {
                target: "192.0.2.7",
                until: Some(UtcTime::from_unix(1_796_150_585)),
                reason: Some("flood"),
            }
            .into(),
            Notice::Ban {
                target: "bob",
                until: None,
                reason: None,
            }
            .into(),
            Notice::BanCount { count: 0 }.into(),
            Notice::BanCount { count: 1 }.into(),
            Notice::BanCount { count: 3 }.into(),
            Notice::Unbanned {
                target: "2001:db8::1",
            }
            .into(),
            Notice::Stats("3 clients, 2 rooms").into(),
            Notice::Wall {
                name: "admin",
                text: "restart at noon",
            }
            .into(),
            ServerLine::Replay {
                time: UtcTime::from_unix(1_796_150_585),
                line: Box::new(ServerLine::Chat {
                    from: "alice",
                    text: "hi",
                }),
            },
            Refusal::NeedsPassword { name: "alice" }.into(),
            Refusal::WrongPassword { name: "alice" }.into(),
            Refusal::TooManyTries.into(),
            Refusal::NotRegistered { name: "alice" }.into(),
            Refusal::AlreadyRegistered { name: "alice" }.into(),
            Refusal::BadPassword { min: 8 }.into(),
            Refusal::LoggedInElsewhere { name: "alice" }.into(),
            Refusal::MailboxFull { name: "alice" }.into(),
            Refusal::NeverSeen { name: "zed" }.into(),
            Refusal::Unavailable { what: "history" }.into(),
            Refusal::CutOff {
                what: "registering",
            }
            .into(),
            Refusal::NeedInvite { room: "#k3x9q2ab" }.into(),
            Refusal::RoomExists { room: "#dev" }.into(),
            Refusal::NotOwner { room: "#dev" }.into(),
            Refusal::NotAdmin.into(),
            Refusal::TooManyKeys.into(),
            Refusal::YouAreBanned {
                until: Some(UtcTime::from_unix(1_796_150_585)),
                reason: Some("spam"),
            }
            .into(),
            Refusal::YouAreBanned {
                until: None,
                reason: None,
            }
            .into(),
            Refusal::NotBanned { target: "bob" }.into(),
            Refusal::NotInRoom {
                name: "bob",
                room: "#dev",
            }
            .into(),
            Refusal::ServerFull.into(),
            Refusal::HandshakeTimeout.into(),
            Refusal::InvalidUtf8.into(),
            Refusal::LineTooLong { max: 4096 }.into(),
            Refusal::NameTaken {
                name: Quoted::new("alice"),
            }
            .into(),
            Refusal::LookAlike {
                name: Quoted::new("\u{430}lice"),
                like: Quoted::new("alice"),
            }
            .into(),
            Refusal::InvalidName {
                name: Quoted::new("a b"),
                reason: NameError::BadChar(' '),
            }
            .into(),
            Refusal::AlreadyCalled { name: "alice" }.into(),
            Refusal::UnknownCommand { word: "dance" }.into(),
            Refusal::Usage {
                usage: "/msg NAME TEXT",
            }
            .into(),
            Refusal::NoSuchUser {
                name: Quoted::new("nobody"),
            }
            .into(),
            Refusal::AlreadyInRoom { room: "#dev" }.into(),
            Refusal::InvalidRoom {
                room: Quoted::new("bad room"),
                reason: NameError::BadChar(' '),
            }
            .into(),
            Refusal::ForgedAction.into(),
            Refusal::TooManyConnections.into(),
            Refusal::TooManyRooms { max: 1000 }.into(),
        ];
        for line in lines {
            round_trip(line);
        }
    }

    #[test]
    fn lines_read_as_the_protocol_documents_them() {
        assert_eq!(
            ServerLine::parse("* welcome carol, you are in #lobby (3): alice, bob, carol"),
            ServerLine::Notice(Notice::Welcome {
                name: "carol",
                members: MemberList::new("#lobby", 3, ["alice", "bob", "carol"].into_iter()),
            })
        );
        assert_eq!(
            ServerLine::parse(
                "! invalid name \"😀\": it contains '😀'; use 1-32 letters, digits, _ or -"
            ),
            ServerLine::Refusal(Refusal::InvalidName {
                name: Quoted::new("😀"),
                reason: NameError::BadChar('😀'),
            })
        );
        assert_eq!(
            ServerLine::parse("what is this"),
            ServerLine::Other("what is this")
        );
        assert_eq!(
            Notice::parse("bob joined #dev now"),
            Notice::Action {
                name: "bob",
                text: "joined #dev now"
            }
        );
        assert_eq!(
            Notice::parse("bob quitting"),
            Notice::Action {
                name: "bob",
                text: "quitting"
            }
        );
        assert_eq!(
            Notice::parse("rooms: #a (x)"),
            Notice::Other("rooms: #a (x)")
        );
    }

    #[test]
    fn member_lists_are_capped() {
        let names: Vec<String> = (0..150).map(|i| format!("u{i:03}")).collect();
        let list = MemberList::new("#big", 150, names.iter().map(String::as_str));
        let text = list.to_string();
        assert!(text.starts_with("#big (150): u000, u001"), "{text}");
        assert!(text.ends_with("u099 (+50 more)"), "{text}");
        assert_eq!(MemberList::parse(&text), Some(list));
        assert_eq!(
            MemberList::new("#x", 0, std::iter::empty()).to_string(),
            "#x (0):"
        );
    }
}
