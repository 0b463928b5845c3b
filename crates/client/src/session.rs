//! What the client knows of its own place in the chat (its name, its room, who is there),
//! learned from the server's notices. Pure, so it is tested without sockets.

use std::collections::BTreeMap;

use chat_protocol::{
    self as protocol, Command, LOBBY, Notice, ServerLine, fold_case, name_key, same_room,
};

/// How many unconfirmed `/nick` and `/join` requests are remembered; older ones are
/// forgotten (the server answers each at once, so only a refused one lingers).
const MAX_EXPECTED: usize = 8;

/// A change the client asked for and the server has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// `/nick NEW`, holding the key of NEW.
    Nick(String),
    /// `/join ROOM`, holding the key of `#ROOM`.
    Join(String),
}

/// What one server line changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Nothing the client tracks.
    Nothing,
    /// The welcome: the name was accepted.
    Welcomed,
    /// Our `/nick` was confirmed.
    Renamed,
    /// Our `/join` was confirmed.
    Moved,
    /// An error line (a refused name or command).
    Refused,
}

/// The client's view of itself and its room.
#[derive(Debug, Clone)]
pub struct Session {
    name: String,
    room: String,
    joined: bool,
    /// People in our room (ourselves included), by name key.
    members: BTreeMap<String, String>,
    /// People we exchanged private messages with, by name key.
    correspondents: BTreeMap<String, String>,
    expected: Vec<Expected>,
    answers: u64,
}

impl Session {
    /// A session that will ask for `name` and has not joined yet.
    pub fn new(name: &str) -> Session {
        Session {
            name: name.to_string(),
            room: LOBBY.to_string(),
            joined: false,
            members: BTreeMap::new(),
            correspondents: BTreeMap::new(),
            expected: Vec::new(),
            answers: 0,
        }
    }

    /// Our name: the one asked for until the welcome, then the one the server knows.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Our room, with its `#`.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// Whether the server accepted our name.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// Counts the server's answers to our requests (confirmations and errors), so a caller
    /// can wait for the one that follows a request.
    pub fn answers(&self) -> u64 {
        self.answers
    }

    /// Sets the name to ask for next (a name typed after a refusal).
    pub fn set_requested_name(&mut self, name: &str) {
        if !self.joined {
            self.name = name.to_string();
        }
    }

    /// Notes a line we are about to send, so the confirmation of a `/nick` or `/join` is
    /// recognised (and `/me is now bob` is not taken for one).
    pub fn sent(&mut self, line: &str) {
        if !self.joined {
            return;
        }
        let expected = match protocol::parse_line(line) {
            Ok(Command::Nick { name, .. }) => Expected::Nick(name_key(name)),
            Ok(Command::Join(room)) => match protocol::parse_room(room) {
                Ok(room) => Expected::Join(fold_case(&room)),
                Err(_) => return,
            },
            _ => return,
        };
        if self.expected.len() == MAX_EXPECTED {
            self.expected.remove(0);
        }
        self.expected.push(expected);
    }

    /// Names to complete: the people in our room and those we exchanged private
    /// messages with, without ourselves, sorted ignoring case.
    pub fn completion_names(&self) -> Vec<String> {
        let me = name_key(&self.name);
        let mut names: BTreeMap<String, &String> = BTreeMap::new();
        for (key, name) in self.members.iter().chain(&self.correspondents) {
            if *key != me {
                names.insert(fold_case(name), name);
            }
        }
        names.into_values().cloned().collect()
    }

    /// Learns from one server line (already cleaned by [`protocol::sanitize`]).
    pub fn observe(&mut self, line: &str) -> Update {
        match ServerLine::parse(line) {
            ServerLine::Notice(notice) => self.observe_notice(notice),
            ServerLine::Refusal(_) => {
                self.answers += 1;
                Update::Refused
            }
            ServerLine::Chat { from, .. } => {
                insert(&mut self.members, from);
                Update::Nothing
            }
            ServerLine::Private { from, to, .. } => {
                let other = if self.is_me(from) { to } else { from };
                insert(&mut self.correspondents, other);
                Update::Nothing
            }
            ServerLine::Replay { .. } | ServerLine::Other(_) => Update::Nothing,
        }
    }

    fn observe_notice(&mut self, notice: Notice<'_>) -> Update {
        match notice {
            Notice::Welcome { name, members } => {
                self.name = name.to_string();
                self.joined = true;
                self.expected.clear();
                self.answers += 1;
                self.room = members.room.to_string();
                self.set_members(&members.names);
                Update::Welcomed
            }
            Notice::Members(members) => {
                if same_room(members.room, &self.room) {
                    self.set_members(&members.names);
                }
                Update::Nothing
            }
            Notice::Renamed { old, new } => {
                let was_me = self.is_me(old);
                let key = name_key(old);
                for names in [&mut self.members, &mut self.correspondents] {
                    if names.remove(&key).is_some() {
                        insert(names, new);
                    }
                }
                if was_me && self.confirm(&Expected::Nick(name_key(new))) {
                    self.name = new.to_string();
                    return Update::Renamed;
                }
                Update::Nothing
            }
            Notice::Joined { name, room }
                if self.is_me(name) && self.confirm(&Expected::Join(fold_case(room))) =>
            {
                self.room = room.to_string();
                self.members.clear();
                insert(&mut self.members, name);
                Update::Moved
            }
            Notice::Joined { name, room } => {
                if same_room(room, &self.room) {
                    insert(&mut self.members, name);
                }
                Update::Nothing
            }
            Notice::Left { name, room } => {
                if same_room(room, &self.room) {
                    self.members.remove(&name_key(name));
                }
                Update::Nothing
            }
            Notice::Quit { name, .. } => {
                self.members.remove(&name_key(name));
                Update::Nothing
            }
            _ => Update::Nothing,
        }
    }

    fn set_members(&mut self, names: &[&str]) {
        self.members = names
            .iter()
            .map(|name| (name_key(name), name.to_string()))
            .collect();
    }

    fn is_me(&self, name: &str) -> bool {
        name_key(name) == name_key(&self.name)
    }

    /// Removes `expected` if we were waiting for it; counts it as an answer.
    fn confirm(&mut self, expected: &Expected) -> bool {
        match self.expected.iter().position(|e| e == expected) {
            Some(index) => {
                self.expected.remove(index);
                self.answers += 1;
                true
            }
            None => false,
        }
    }
}

fn insert(names: &mut BTreeMap<String, String>, name: &str) {
    names.insert(name_key(name), name.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(name: &str, welcome: &str) -> Session {
        let mut session = Session::new(name);
        assert_eq!(session.observe(welcome), Update::Welcomed);
        session
    }

    #[test]
    fn welcome_sets_name_room_and_members() {
        let mut session = Session::new("alice");
        assert!(!session.is_joined());
        session.observe("* hello! send your name (1-32 letters, digits, _ or -)");
        assert_eq!(
            session.observe("! name \"alice\" is taken, choose another"),
            Update::Refused
        );
        session.set_requested_name("Alice2");
        session.observe("* welcome Alice2, you are in #lobby (3): Alice2, bob, carol");
        assert!(session.is_joined());
        assert_eq!(session.name(), "Alice2");
        assert_eq!(session.room(), "#lobby");
        assert_eq!(session.completion_names(), ["bob", "carol"]);
    }

    #[test]
    fn members_follow_joins_leaves_quits_and_renames() {
        let mut session = joined(
            "alice",
            "* welcome alice, you are in #lobby (2): alice, bob",
        );
        session.observe("* carol joined #lobby");
        session.observe("* dave joined #lobby");
        session.observe("* bob left #lobby");
        session.observe("* dave quit (gone home)");
        session.observe("* carol is now Caroline");
        session.observe("erin: hi");
        assert_eq!(session.completion_names(), ["Caroline", "erin"]);
        session.observe("* #lobby (3): alice, frank, gina");
        assert_eq!(session.completion_names(), ["frank", "gina"]);
    }

    #[test]
    fn our_rename_needs_a_request() {
        let mut session = joined("alice", "* welcome alice, you are in #lobby (1): alice");
        assert_eq!(session.observe("* alice is now bob"), Update::Nothing);
        assert_eq!(session.name(), "alice");
        session.sent("/nick Bob");
        let before = session.answers();
        assert_eq!(session.observe("* alice is now Bob"), Update::Renamed);
        assert_eq!(session.name(), "Bob");
        assert!(session.answers() > before);
    }

    #[test]
    fn our_move_needs_a_request() {
        let mut session = joined(
            "alice",
            "* welcome alice, you are in #lobby (2): alice, bob",
        );
        assert_eq!(session.observe("* alice joined #fake"), Update::Nothing);
        session.sent("/join dev");
        assert_eq!(session.observe("* alice joined #dev"), Update::Moved);
        assert_eq!(session.room(), "#dev");
        assert!(session.completion_names().is_empty());
        session.observe("* #dev (2): alice, zed");
        assert_eq!(session.completion_names(), ["zed"]);
        session.observe("* bob joined #lobby");
        assert_eq!(session.completion_names(), ["zed"]);
    }

    #[test]
    fn private_messages_add_correspondents() {
        let mut session = joined("alice", "* welcome alice, you are in #lobby (1): alice");
        session.observe("zoe -> alice: psst");
        session.observe("alice -> yan: hi");
        session.observe("alice -> alice: note");
        assert_eq!(session.completion_names(), ["yan", "zoe"]);
    }
}
