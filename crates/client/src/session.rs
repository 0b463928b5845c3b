//! What the client knows of its own place in the chat (its name, its room, who is there),
//! learned from the server's notices. Pure, so it is tested without sockets.

use std::collections::BTreeMap;

use chat_protocol::{
    self as protocol, Command, LOBBY, Notice, Refusal, ServerLine, fold_case, name_key, same_room,
};

/// How many recent correspondents are remembered in order, for completion.
const MAX_RECENT: usize = 32;

/// How many unconfirmed `/nick` and `/join` requests are remembered; older ones are
/// forgotten (the server answers each at once, so only a refused one lingers).
const MAX_EXPECTED: usize = 8;

/// A change the client asked for and the server has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// `/nick NEW`, holding the key of NEW.
    Nick(String),
    /// `/join ROOM [KEY]`, holding the fold of `#ROOM`.
    Join(String),
    /// `/create [ROOM]`: whichever room we are put in, private.
    Create,
}

/// What one server line changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Nothing the client tracks.
    Nothing,
    /// The server's greeting, which the client answers with the name itself.
    Greeted,
    /// The welcome: the name was accepted.
    Welcomed,
    /// Our `/nick` was confirmed.
    Renamed,
    /// Our `/join` was confirmed.
    Moved,
    /// An error line (a refused name or command).
    Refused,
    /// An error after which the server closes the connection (full, too many
    /// connections from our address, no name in time).
    Closing,
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
    /// The same people, the most recent first (at most [`MAX_RECENT`]).
    recent: Vec<String>,
    /// Who sent us the last private message (`/reply` answers them).
    last_private_from: Option<String>,
    /// People whose chat, actions and private messages are hidden, by name key.
    ignored: BTreeMap<String, String>,
    /// Rooms we heard of, by their folded name.
    rooms: BTreeMap<String, String>,
    /// Whether the server said it is shutting down.
    shut_down: bool,
    expected: Vec<Expected>,
    /// Our room's key, if it is private and we know it (kept to go back after a
    /// reconnect).
    room_key: Option<String>,
    /// Whether our room is private.
    private: bool,
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
            recent: Vec::new(),
            last_private_from: None,
            ignored: BTreeMap::new(),
            rooms: BTreeMap::new(),
            shut_down: false,
            expected: Vec::new(),
            room_key: None,
            private: false,
        }
    }

    /// Whether our room is private.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Our private room's key, if we know it.
    pub fn room_key(&self) -> Option<&str> {
        self.room_key.as_deref()
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
            Ok(Command::Join { room, .. }) => match protocol::parse_room(room) {
                Ok(room) => Expected::Join(fold_case(&room)),
                Err(_) => return,
            },
            Ok(Command::Create(_)) => Expected::Create,
            _ => return,
        };
        self.expect(expected);
    }

    fn expect(&mut self, expected: Expected) {
        if self.expected.len() == MAX_EXPECTED {
            self.expected.remove(0);
        }
        self.expected.push(expected);
    }

    /// Whether we were waiting to be moved to `room` (by `/join`, `/create`, a kick).
    fn confirm_join(&mut self, room: &str) -> bool {
        let folded = fold_case(room);
        let found = self.expected.iter().position(|expected| match expected {
            Expected::Join(wanted) => *wanted == folded,
            Expected::Create => true,
            Expected::Nick(_) => false,
        });
        found.map(|index| self.expected.remove(index)).is_some()
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

    /// Names to offer after `/msg`: recent correspondents first (the most recent first),
    /// then everyone else in [`Session::completion_names`].
    pub fn recipients(&self) -> Vec<String> {
        let mut names = self.recent.clone();
        for name in self.completion_names() {
            if !names.iter().any(|known| name_key(known) == name_key(&name)) {
                names.push(name);
            }
        }
        names
    }

    /// Rooms we heard of (in `/rooms` answers, joins and leaves), sorted ignoring case.
    pub fn rooms(&self) -> Vec<String> {
        self.rooms.values().cloned().collect()
    }

    /// Whether the server said it is shutting down (the loss that follows is why).
    pub fn shut_down(&self) -> bool {
        self.shut_down
    }

    /// Who sent us the last private message.
    pub fn last_private_from(&self) -> Option<&str> {
        self.last_private_from.as_deref()
    }

    /// Hides what `name` says from now on.
    pub fn ignore(&mut self, name: &str) {
        insert(&mut self.ignored, name);
    }

    /// Shows what `name` says again; `false` if they were not ignored.
    pub fn unignore(&mut self, name: &str) -> bool {
        self.ignored.remove(&name_key(name)).is_some()
    }

    /// The people ignored, sorted ignoring case.
    pub fn ignored(&self) -> Vec<String> {
        let mut names: Vec<String> = self.ignored.values().cloned().collect();
        names.sort_by_key(|name| fold_case(name));
        names
    }

    /// Whether `line` is chat, an action or a private message from someone ignored.
    pub fn ignores_line(&self, line: &str) -> bool {
        if self.ignored.is_empty() {
            return false;
        }
        let from = match ServerLine::parse(line) {
            ServerLine::Chat { from, .. } => from,
            ServerLine::Private { from, .. } if !self.is_me(from) => from,
            ServerLine::Notice(Notice::Action { name, .. }) => name,
            _ => return false,
        };
        self.ignored.contains_key(&name_key(from))
    }

    /// Whether `text` mentions our name as a whole word, ignoring case.
    pub fn mentions_me(&self, text: &str) -> bool {
        let me = fold_case(&self.name);
        let text = fold_case(text);
        let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
        text.match_indices(&me).any(|(start, found)| {
            let before = text[..start].chars().next_back();
            let after = text[start + found.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        })
    }

    fn remember_correspondent(&mut self, name: &str) {
        insert(&mut self.correspondents, name);
        let key = name_key(name);
        self.recent.retain(|known| name_key(known) != key);
        self.recent.insert(0, name.to_string());
        self.recent.truncate(MAX_RECENT);
    }

    fn remember_room(&mut self, room: &str) {
        self.rooms.insert(fold_case(room), room.to_string());
    }

    /// Learns from one server line (already cleaned by [`protocol::sanitize`]).
    pub fn observe(&mut self, line: &str) -> Update {
        match ServerLine::parse(line) {
            ServerLine::Notice(notice) => self.observe_notice(notice),
            ServerLine::Refusal(
                Refusal::ServerFull
                | Refusal::TooManyConnections
                | Refusal::HandshakeTimeout
                | Refusal::TooManyTries
                | Refusal::TooManyKeys
                | Refusal::YouAreBanned { .. },
            ) => Update::Closing,
            ServerLine::Refusal(_) => Update::Refused,
            ServerLine::Chat { from, .. } => {
                insert(&mut self.members, from);
                Update::Nothing
            }
            ServerLine::Private { from, to, .. } => {
                let other = if self.is_me(from) { to } else { from };
                if !self.is_me(from) {
                    self.last_private_from = Some(from.to_string());
                }
                if !self.is_me(other) {
                    self.remember_correspondent(other);
                }
                Update::Nothing
            }
            ServerLine::Replay { .. } | ServerLine::Other(_) => Update::Nothing,
        }
    }

    fn observe_notice(&mut self, notice: Notice<'_>) -> Update {
        match &notice {
            Notice::Welcome { members, .. } | Notice::Members(members) => {
                self.remember_room(members.room);
            }
            Notice::Joined { room, .. } | Notice::Left { room, .. } => self.remember_room(room),
            Notice::Rooms { rooms, .. } => {
                for listed in rooms {
                    let room = listed.room;
                    self.remember_room(room);
                }
            }
            _ => {}
        }
        match notice {
            Notice::Greeting => Update::Greeted,
            Notice::ShuttingDown => {
                self.shut_down = true;
                Update::Nothing
            }
            Notice::Welcome { name, members } => {
                self.name = name.to_string();
                self.joined = true;
                self.shut_down = false;
                self.expected.clear();
                // A name taken back from a ghost comes back in its room, key and all.
                if !same_room(members.room, &self.room) {
                    self.private = false;
                    self.room_key = None;
                }
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
                for names in [
                    &mut self.members,
                    &mut self.correspondents,
                    &mut self.ignored,
                ] {
                    if names.remove(&key).is_some() {
                        insert(names, new);
                    }
                }
                for known in self.recent.iter_mut().chain(&mut self.last_private_from) {
                    if name_key(known) == key {
                        *known = new.to_string();
                    }
                }
                if was_me && self.confirm(&Expected::Nick(name_key(new))) {
                    self.name = new.to_string();
                    return Update::Renamed;
                }
                Update::Nothing
            }
            Notice::Joined { name, room } if self.is_me(name) => {
                if !self.confirm_join(room) {
                    return Update::Nothing;
                }
                self.room = room.to_string();
                // Whether it is private (and its link) the server says next.
                self.private = false;
                self.room_key = None;
                self.members.clear();
                insert(&mut self.members, name);
                Update::Moved
            }
            Notice::PrivateRoom { room, links } | Notice::Rekeyed { room, links }
                if same_room(room, &self.room) =>
            {
                self.private = true;
                self.room_key = links
                    .first()
                    .and_then(|link| link.rsplit_once("?key="))
                    .map(|(_, key)| key.to_string());
                Update::Nothing
            }
            // Kicked out: the server moves us to #lobby next.
            Notice::Kicked { name, .. } if self.is_me(name) => {
                self.expect(Expected::Join(fold_case(LOBBY)));
                Update::Nothing
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
        assert_eq!(session.observe("* alice is now Bob"), Update::Renamed);
        assert_eq!(session.name(), "Bob");
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
        assert_eq!(session.last_private_from(), Some("zoe"));
        assert_eq!(session.recipients(), ["yan", "zoe"]);
        session.observe("* zoe is now Zoey");
        assert_eq!(session.last_private_from(), Some("Zoey"));
    }

    #[test]
    fn recipients_put_recent_correspondents_first() {
        let mut session = joined(
            "alice",
            "* welcome alice, you are in #lobby (4): alice, bob, carol, dave",
        );
        session.observe("dave -> alice: one");
        session.observe("alice -> carol: two");
        assert_eq!(session.recipients(), ["carol", "dave", "bob"]);
    }

    #[test]
    fn ignoring_hides_chat_actions_and_private_messages_only() {
        let mut session = joined(
            "alice",
            "* welcome alice, you are in #lobby (2): alice, bob",
        );
        session.ignore("Bob");
        for line in ["bob: hi", "* bob waves", "bob -> alice: psst"] {
            assert!(session.ignores_line(line), "{line}");
        }
        for line in ["* bob quit", "carol: hi", "alice -> bob: hi"] {
            assert!(!session.ignores_line(line), "{line}");
        }
        session.observe("* bob is now rob");
        assert!(session.ignores_line("rob: hi"));
        assert_eq!(session.ignored(), ["rob"]);
        assert!(session.unignore("ROB"));
        assert!(!session.ignores_line("rob: hi"));
    }

    #[test]
    fn mentions_are_whole_words_ignoring_case() {
        let session = joined("alice", "* welcome alice, you are in #lobby (1): alice");
        for text in ["hi alice", "ALICE: look", "(alice)", "alice"] {
            assert!(session.mentions_me(text), "{text}");
        }
        for text in ["malice", "alice_b", "alices", "a lice"] {
            assert!(!session.mentions_me(text), "{text}");
        }
    }

    #[test]
    fn rooms_are_learned_from_answers_and_moves() {
        let mut session = joined("alice", "* welcome alice, you are in #lobby (1): alice");
        session.observe("* rooms: #dev (2), #lobby (1)");
        session.observe("* bob left #ops");
        assert_eq!(session.rooms(), ["#dev", "#lobby", "#ops"]);
    }
}
