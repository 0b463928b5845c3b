//! The registry of who is connected and in which room; every broadcast goes through it.
//!
//! One `Mutex` guards users and rooms together, so a check and the change it guards happen in
//! one critical section (two clients can't both claim a name), and a message reaches exactly
//! the members of its room at the moment it is sent. Critical sections only queue lines in
//! outboxes; no socket is ever touched while the lock is held.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::lock;
use crate::outbox::{Chunk, Delivery, Outbox, line_chunk};
use crate::protocol::{self, LOBBY, NameError, name_key};

/// Why a name (at the handshake or for `/nick`) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The name breaks the character rules.
    InvalidName(NameError),
    /// Someone else has it (compared ignoring case).
    NameTaken,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::InvalidName(err) => write!(f, "invalid name: {err}"),
            JoinError::NameTaken => write!(f, "name taken"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Why `/join` did not move the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveError {
    /// The room name breaks the character rules.
    InvalidRoom(NameError),
    /// The user is already there.
    AlreadyThere,
}

impl fmt::Display for MoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoveError::InvalidRoom(err) => write!(f, "invalid room name: {err}"),
            MoveError::AlreadyThere => write!(f, "already in that room"),
        }
    }
}

impl std::error::Error for MoveError {}

/// `/msg` to a name nobody has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSuchUser;

impl fmt::Display for NoSuchUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no such user")
    }
}

impl std::error::Error for NoSuchUser {}

#[derive(Debug)]
struct User {
    name: String,
    room: String,
    outbox: Arc<Outbox>,
}

#[derive(Debug)]
struct Room {
    name: String,
    /// Member outboxes by user key; sorted, so member lists come out in order.
    members: BTreeMap<String, Arc<Outbox>>,
}

impl Room {
    fn new(name: &str) -> Room {
        Room {
            name: name.to_string(),
            members: BTreeMap::new(),
        }
    }
}

#[derive(Debug)]
struct State {
    users: HashMap<String, User>,
    rooms: BTreeMap<String, Room>,
    announce_limit: usize,
}

/// A cheap handle (clone it freely) to the shared users and rooms.
#[derive(Debug, Clone)]
pub struct Registry {
    state: Arc<Mutex<State>>,
}

impl Registry {
    /// An empty registry with `#lobby`. Joins, leaves and quits are announced only in rooms
    /// of at most `announce_limit` members (0 = always), so a room of thousands is not
    /// flooded with presence notices.
    pub fn new(announce_limit: usize) -> Registry {
        let mut rooms = BTreeMap::new();
        rooms.insert(name_key(LOBBY), Room::new(LOBBY));
        Registry {
            state: Arc::new(Mutex::new(State {
                users: HashMap::new(),
                rooms,
                announce_limit,
            })),
        }
    }

    /// Runs `change` under the lock; what it queued is handed to the writers after the lock
    /// is released.
    fn with_state<R>(&self, change: impl FnOnce(&mut State, &mut Delivery) -> R) -> R {
        let mut delivery = Delivery::default();
        let result = change(&mut lock(&self.state), &mut delivery);
        drop(delivery);
        result
    }

    /// Registers `name` in `#lobby`: the room is told `* NAME joined #lobby` and the newcomer
    /// gets its welcome. Returns the user's key, which the other methods take.
    pub fn join(&self, name: &str, outbox: &Arc<Outbox>) -> Result<String, JoinError> {
        protocol::validate_name(name).map_err(JoinError::InvalidName)?;
        let key = name_key(name);
        self.with_state(|state, delivery| {
            if state.users.contains_key(&key) {
                return Err(JoinError::NameTaken);
            }
            let lobby = name_key(LOBBY);
            state.users.insert(
                key.clone(),
                User {
                    name: name.to_string(),
                    room: lobby.clone(),
                    outbox: Arc::clone(outbox),
                },
            );
            state.enter(&key, &lobby, delivery, false);
            let welcome = protocol::welcome(name, &state.member_list(&lobby));
            delivery.push(outbox, &line_chunk(&welcome));
            Ok(key)
        })
    }

    /// Removes a user; the room is told `* NAME quit` or `* NAME quit (REASON)`.
    pub fn leave(&self, key: &str, reason: Option<&str>) {
        self.remove(key, Some(reason));
    }

    /// Removes a user without telling anyone (the server is shutting down and everyone
    /// is leaving).
    pub fn leave_silently(&self, key: &str) {
        self.remove(key, None);
    }

    fn remove(&self, key: &str, announce: Option<Option<&str>>) {
        self.with_state(|state, delivery| {
            let Some(user) = state.users.remove(key) else {
                return;
            };
            let room_announces = state.announces(&user.room);
            if let Some(room) = state.rooms.get_mut(&user.room) {
                room.members.remove(key);
            }
            if let (Some(reason), true) = (announce, room_announces) {
                let notice = line_chunk(&protocol::quit(&user.name, reason));
                state.send_to_room(&user.room, None, &notice, delivery);
            }
            state.remove_if_empty(&user.room);
        })
    }

    /// Sends chat lines (already formatted, one or more) to the sender's room, not back to
    /// the sender. Returns a recipient the sender should [`pace`](Outbox::pace) itself to,
    /// if the lines took one past half its backlog limit.
    pub fn say(&self, key: &str, lines: &Chunk) -> Option<Arc<Outbox>> {
        self.with_state(|state, delivery| {
            if let Some(user) = state.users.get(key) {
                state.send_to_room(&user.room, Some(&user.outbox), lines, delivery);
            }
            delivery.take_laggard()
        })
    }

    /// `* NAME ACTION` to the whole room, sender included.
    pub fn act(&self, key: &str, action: &str) {
        self.with_state(|state, delivery| {
            if let Some(user) = state.users.get(key) {
                let line = line_chunk(&protocol::action(&user.name, action));
                let room = user.room.clone();
                state.send_to_room(&room, None, &line, delivery);
            }
        })
    }

    /// A private message, delivered to its target and, as confirmation, to its sender
    /// (once, if they are the same).
    pub fn whisper(&self, key: &str, to: &str, text: &str) -> Result<(), NoSuchUser> {
        self.with_state(|state, delivery| {
            let sender = state.users.get(key).ok_or(NoSuchUser)?;
            let target = state.users.get(&name_key(to)).ok_or(NoSuchUser)?;
            let line = line_chunk(&protocol::private(&sender.name, &target.name, text));
            delivery.push(&target.outbox, &line);
            if !Arc::ptr_eq(&sender.outbox, &target.outbox) {
                delivery.push(&sender.outbox, &line);
            }
            Ok(())
        })
    }

    /// Renames a user; the room, renamer included, sees `* OLD is now NEW`. Returns the new
    /// key. A change of case only is allowed.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<String, JoinError> {
        protocol::validate_name(new_name).map_err(JoinError::InvalidName)?;
        let new_key = name_key(new_name);
        self.with_state(|state, delivery| {
            if new_key != key && state.users.contains_key(&new_key) {
                return Err(JoinError::NameTaken);
            }
            let Some(mut user) = state.users.remove(key) else {
                return Err(JoinError::NameTaken);
            };
            let notice = line_chunk(&protocol::renamed(&user.name, new_name));
            user.name = new_name.to_string();
            let room_key = user.room.clone();
            if let Some(room) = state.rooms.get_mut(&room_key)
                && let Some(outbox) = room.members.remove(key)
            {
                room.members.insert(new_key.clone(), outbox);
            }
            state.users.insert(new_key.clone(), user);
            state.send_to_room(&room_key, None, &notice, delivery);
            Ok(new_key)
        })
    }

    /// Moves a user to a room (created on demand; an emptied room other than `#lobby`
    /// disappears). The old room sees `* NAME left #OLD`, the new one, mover included,
    /// `* NAME joined #NEW`, and the mover then gets the new room's member list.
    pub fn move_to(&self, key: &str, room: &str) -> Result<(), MoveError> {
        let room_name = protocol::parse_room(room).map_err(MoveError::InvalidRoom)?;
        let room_key = name_key(&room_name);
        self.with_state(|state, delivery| {
            let Some(user) = state.users.get(key) else {
                return Ok(());
            };
            if user.room == room_key {
                return Err(MoveError::AlreadyThere);
            }
            let (name, old_key) = (user.name.clone(), user.room.clone());
            let outbox = Arc::clone(&user.outbox);
            let announce_leave = state.announces(&old_key);
            let old_name = state.rooms.get_mut(&old_key).map(|old| {
                old.members.remove(key);
                old.name.clone()
            });
            if let (Some(old_name), true) = (old_name, announce_leave) {
                let notice = line_chunk(&protocol::left(&name, &old_name));
                state.send_to_room(&old_key, None, &notice, delivery);
            }
            state.remove_if_empty(&old_key);
            state
                .rooms
                .entry(room_key.clone())
                .or_insert_with(|| Room::new(&room_name));
            if let Some(user) = state.users.get_mut(key) {
                user.room = room_key.clone();
            }
            state.enter(key, &room_key, delivery, true);
            let members = protocol::who(&state.member_list(&room_key));
            delivery.push(&outbox, &line_chunk(&members));
            Ok(())
        })
    }

    /// `* #ROOM (N): a, b, c` for the user's room.
    pub fn who(&self, key: &str) -> String {
        let state = lock(&self.state);
        let room = state
            .users
            .get(key)
            .map_or(LOBBY, |user| user.room.as_str());
        protocol::who(&state.member_list(room))
    }

    /// `* rooms: #a (N), #b (M)`.
    pub fn rooms(&self) -> String {
        let state = lock(&self.state);
        protocol::rooms(
            state
                .rooms
                .values()
                .map(|room| (room.name.as_str(), room.members.len())),
        )
    }

    /// How many users have joined.
    pub fn len(&self) -> usize {
        lock(&self.state).users.len()
    }

    /// Whether nobody has joined.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn announces(&self, room_key: &str) -> bool {
        let size = self
            .rooms
            .get(room_key)
            .map_or(0, |room| room.members.len());
        self.announce_limit == 0 || size <= self.announce_limit
    }

    /// Adds a user to a room's members and announces it (to the newcomer too if `echo`).
    fn enter(&mut self, key: &str, room_key: &str, delivery: &mut Delivery, echo: bool) {
        let Some(user) = self.users.get(key) else {
            return;
        };
        let (name, outbox) = (user.name.clone(), Arc::clone(&user.outbox));
        let Some(room) = self.rooms.get_mut(room_key) else {
            return;
        };
        room.members.insert(key.to_string(), Arc::clone(&outbox));
        let notice = line_chunk(&protocol::joined(&name, &room.name));
        if self.announces(room_key) {
            self.send_to_room(room_key, Some(&outbox), &notice, delivery);
        }
        if echo {
            delivery.push(&outbox, &notice);
        }
    }

    fn send_to_room(
        &self,
        room_key: &str,
        except: Option<&Arc<Outbox>>,
        chunk: &Chunk,
        delivery: &mut Delivery,
    ) {
        let Some(room) = self.rooms.get(room_key) else {
            return;
        };
        for outbox in room.members.values() {
            if !except.is_some_and(|except| Arc::ptr_eq(except, outbox)) {
                delivery.push(outbox, chunk);
            }
        }
    }

    fn remove_if_empty(&mut self, room_key: &str) {
        let empty = self
            .rooms
            .get(room_key)
            .is_some_and(|room| room.members.is_empty());
        if empty && room_key != name_key(LOBBY) {
            self.rooms.remove(room_key);
        }
    }

    fn member_list(&self, room_key: &str) -> String {
        let Some(room) = self.rooms.get(room_key) else {
            return protocol::member_list(room_key, 0, std::iter::empty());
        };
        let names = room
            .members
            .keys()
            .filter_map(|key| self.users.get(key).map(|user| user.name.as_str()));
        protocol::member_list(&room.name, room.members.len(), names)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::thread;

    use super::*;
    use crate::outbox::Writers;

    #[test]
    fn a_lock_poisoned_by_a_panic_is_recovered() {
        let registry = Registry::new(100);
        let poisoner = registry.clone();
        let panicked = thread::spawn(move || {
            poisoner.with_state(|_, _| panic!("panic while holding the registry lock"))
        })
        .join();
        assert!(panicked.is_err());
        assert!(registry.state.is_poisoned());

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let _client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (stream, _) = listener.accept().expect("accept");
        let writers = Writers::start(1).expect("writers");
        let outbox = writers.outbox(stream, 1024);
        assert_eq!(registry.join("alice", &outbox), Ok("alice".to_string()));
        assert_eq!(registry.rooms(), "* rooms: #lobby (1)");
        registry.leave("alice", None);
        assert!(registry.is_empty());
        writers.stop();
    }
}
