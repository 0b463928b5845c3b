//! The registry of who is connected and in which room; every room event goes through it.
//!
//! One `Mutex` guards users and rooms together, so a check and the change it guards happen
//! in one critical section, and a line reaches exactly the members of its room at the moment
//! it is sent. Under the lock, each room event gets the room's next sequence number and the
//! time, is formatted once and queued for the members; no socket is touched. After the lock
//! is released, the queued lines are handed to the writers and the events to the sinks.
//! Names are claimed from the [`Directory`] first, so they stay unique across instances.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chat_protocol::{
    self as protocol, LOBBY, MemberList, Name, NameError, Notice, Refusal, RoomCount, ServerLine,
    UtcTime, fold_case, name_key,
};
use chat_sync::lock;

use crate::directory::Directory;
use crate::event::{EventKind, EventSink, RoomEvent};
use crate::meter::LineMeter;
use crate::queue::{Chunk, Delivery, Outbox, line_chunk};
use crate::room_key::RoomKey;
use crate::store::{LineKind, RoomTail, Store, StoredLine, Unavailable};

mod relay;
mod rooms;

pub use rooms::RoomError;

/// Why a valid name (at the handshake or for `/nick`) was not given out: someone holds its
/// key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// Someone else has it (compared ignoring case).
    NameTaken,
    /// Someone has a name it looks like (the same key): that name, as it is shown.
    LooksLike(String),
}

impl JoinError {
    /// Why `name` can't be had from `holder`, who has its key: the same name ignoring case
    /// is taken; any other is a look-alike.
    fn held_by(name: &str, holder: &str) -> JoinError {
        if fold_case(name) == fold_case(holder) {
            JoinError::NameTaken
        } else {
            JoinError::LooksLike(holder.to_string())
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::NameTaken => write!(f, "name taken"),
            JoinError::LooksLike(holder) => write!(f, "name too much like {holder}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Why `/join` did not move the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveError {
    /// The room is private and no right key was given (or it doesn't exist and a key was).
    NeedInvite(String),
    /// The room name breaks the character rules.
    InvalidRoom(NameError),
    /// The user is already there.
    AlreadyThere,
    /// The room would be new, and there are as many rooms as allowed.
    TooManyRooms(usize),
}

impl fmt::Display for MoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoveError::InvalidRoom(err) => write!(f, "invalid room name: {err}"),
            MoveError::AlreadyThere => write!(f, "already in that room"),
            MoveError::NeedInvite(room) => write!(f, "{room} is private: you need an invite"),
            MoveError::TooManyRooms(max) => write!(f, "too many rooms (max {max})"),
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

/// What a member's room is told when the member leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Farewell {
    /// `* NAME quit` or `* NAME quit (REASON)`.
    Quit(Option<String>),
    /// Nothing: the server is shutting down and everyone is leaving.
    Silent,
}

#[derive(Debug)]
struct User {
    name: Arc<str>,
    /// The key of the user's room.
    room: String,
    outbox: Arc<Outbox>,
    /// When this session joined.
    since: UtcTime,
    /// When the user last said something (chat, an action, a private message).
    active: Instant,
    away: Option<Away>,
    /// Logged in with the password of a registered name.
    registered: bool,
}

/// Someone's `/away`: the reason, and who has been told it since.
#[derive(Debug)]
struct Away {
    reason: String,
    told: HashSet<String>,
}

/// What `/whois` says of someone online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whois {
    pub name: String,
    /// `None` if it is a private room the asker isn't in.
    pub room: Option<String>,
    pub registered: bool,
    pub idle: Duration,
    pub since: UtcTime,
    pub away: Option<String>,
}

/// What became of a registered user's login while their name was held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeOver {
    /// The name's connection was replaced by the new one.
    Done,
    /// Nobody holds the name here (it was freed meanwhile): join as usual.
    NotHeld,
}

/// A user as their room holds them.
#[derive(Debug)]
struct Member {
    name: Arc<str>,
    outbox: Arc<Outbox>,
    /// When they came in, in the order of all entries: the one who has been there longest
    /// has the lowest.
    entered: u64,
}

/// What makes a room private: the key that lets people in, and who owns it (by the
/// [`fold_case`] of their name, as members are held).
#[derive(Debug)]
struct Private {
    key: RoomKey,
    owner: String,
}

#[derive(Debug)]
struct Room {
    name: Arc<str>,
    /// Members by their names' [`fold_case`]: unique, as user keys are, and sorted as
    /// member lists are (the keys themselves are skeletons, in no useful order).
    members: BTreeMap<String, Member>,
    /// What a joiner is shown of the room's past: its last chat lines and actions.
    recent: Recent,
    /// Set for a private room, which never reaches the store.
    private: Option<Private>,
    topic: Option<Arc<str>>,
}

/// A room's last lines (at most `--replay-lines`), and the number its next event gets; kept
/// while the room is empty, so it goes on where it left off.
#[derive(Debug, Default)]
struct Recent {
    lines: VecDeque<Arc<RoomEvent>>,
    next_seq: u64,
}

impl Recent {
    /// What the store remembers of a room.
    /// A room whose stored past couldn't be read: numbered from now (microseconds since
    /// the epoch), past any number it can have used, so no stored line is overwritten.
    fn unknown_past() -> Recent {
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| {
                u64::try_from(since.as_micros()).unwrap_or(u64::MAX / 2)
            });
        Recent {
            lines: VecDeque::new(),
            next_seq: now,
        }
    }

    fn from_tail(room: &Arc<str>, tail: RoomTail) -> Recent {
        let lines = tail
            .lines
            .into_iter()
            .map(|line| Arc::new(stored_event(room, line)))
            .collect();
        Recent {
            lines,
            next_seq: tail.last_seq + 1,
        }
    }
}

/// A stored line as the event it was.
fn stored_event(room: &Arc<str>, line: StoredLine) -> RoomEvent {
    RoomEvent {
        room: Arc::clone(room),
        seq: line.seq,
        time: line.time.to_system(),
        from: line.from.into(),
        kind: match line.kind {
            LineKind::Chat => EventKind::Chat(line.text),
            LineKind::Action => EventKind::Action(line.text),
        },
        shown: true,
    }
}

impl Room {
    fn new(name: &str, recent: Recent, topic: Option<String>) -> Room {
        Room {
            name: name.into(),
            members: BTreeMap::new(),
            recent: Recent {
                next_seq: recent.next_seq.max(1),
                ..recent
            },
            private: None,
            topic: topic.map(Arc::from),
        }
    }
}

/// How the registry runs: its limits, and how much history a joiner sees.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Joins, leaves and quits are announced only in rooms of at most this many members
    /// (0 = always).
    pub announce_limit: usize,
    /// Rooms that may exist at once, `#lobby` included.
    pub max_rooms: usize,
    /// Lines of a room's history a joiner is shown (0 = none).
    pub replay_lines: usize,
    /// Lines a private room keeps in memory for `/history` (it has no other).
    pub private_history: usize,
}

/// How many rooms `/rooms` spells out before it says `(+N more)`, so that a server with
/// thousands of rooms doesn't answer a 7-byte command with hundreds of kilobytes.
pub const MAX_LISTED_ROOMS: usize = 100;

#[derive(Debug)]
struct State {
    users: HashMap<String, User>,
    rooms: BTreeMap<String, Room>,
    /// The recent lines of rooms that emptied, by room key, and the order they emptied in
    /// (at most `max_rooms` are kept).
    dormant: HashMap<String, Recent>,
    dormant_order: VecDeque<String>,
    rules: Rules,
    /// Entries into rooms so far (see [`Member::entered`]).
    entries: u64,
    /// Chat lines and actions relayed, per second.
    relayed: LineMeter,
    /// Public rooms' events are delivered by the cluster's bus, in the order every
    /// instance gets them, rather than here as they happen (see [`Registry::set_relayed`]).
    bus: bool,
}

/// What one critical section did: lines queued for the writers, events for the sinks.
#[derive(Default)]
struct Change {
    delivery: Delivery,
    events: Vec<Arc<RoomEvent>>,
}

/// A cheap handle (clone it freely) to the shared users and rooms.
#[derive(Debug, Clone)]
pub struct Registry {
    state: Arc<Mutex<State>>,
    directory: Arc<dyn Directory>,
    store: Arc<dyn Store>,
    sinks: Arc<[Arc<dyn EventSink>]>,
}

impl Registry {
    /// A registry with `#lobby` (and what the store remembers of it). Names are claimed
    /// from `directory`; every room event goes to the store and to each of `sinks`.
    pub fn new(
        rules: Rules,
        directory: Arc<dyn Directory>,
        store: Arc<dyn Store>,
        sinks: Vec<Arc<dyn EventSink>>,
    ) -> Registry {
        let lobby_name: Arc<str> = LOBBY.into();
        let recent = match store.room_tail(&fold_case(LOBBY), rules.replay_lines) {
            Ok(tail) => Recent::from_tail(&lobby_name, tail),
            Err(Unavailable) => {
                log::error!("the history of {LOBBY} could not be read from the store");
                Recent::unknown_past()
            }
        };
        let topic = store
            .topic(&fold_case(LOBBY))
            .unwrap_or_else(|Unavailable| {
                log::error!("the topic of {LOBBY} could not be read from the store");
                None
            });
        let mut rooms = BTreeMap::new();
        rooms.insert(fold_case(LOBBY), Room::new(LOBBY, recent, topic));
        let mut all_sinks: Vec<Arc<dyn EventSink>> = vec![Arc::clone(&store) as _];
        all_sinks.extend(sinks);
        Registry {
            state: Arc::new(Mutex::new(State {
                users: HashMap::new(),
                rooms,
                dormant: HashMap::new(),
                dormant_order: VecDeque::new(),
                rules,
                entries: 0,
                relayed: LineMeter::default(),
                bus: false,
            })),
            directory,
            store,
            sinks: all_sinks.into(),
        }
    }

    /// Runs `change` under the lock; after the lock is released, what it queued is handed
    /// to the writers and the events it made to the sinks.
    fn with_state<R>(&self, change: impl FnOnce(&mut State, &mut Change) -> R) -> R {
        let mut made = Change::default();
        let result = change(&mut lock(&self.state), &mut made);
        let Change { delivery, events } = made;
        drop(delivery);
        if !events.is_empty() {
            for sink in self.sinks.iter() {
                sink.accept(&events);
            }
        }
        result
    }

    /// Registers `name` in `#lobby`: the room is told `* NAME joined #lobby` and the newcomer
    /// gets its welcome. Returns the user's key, which the other methods take.
    ///
    /// # Errors
    /// If the name, or one it looks like, is taken (here or on another instance).
    pub fn join(
        &self,
        name: &Name,
        outbox: &Arc<Outbox>,
        registered: bool,
    ) -> Result<String, JoinError> {
        let key = name_key(name);
        self.directory
            .claim(&key)
            .map_err(|_| self.held(&key, name))?;
        let lobby = fold_case(LOBBY);
        let remote = self.directory.remote_members(&lobby);
        self.with_state(|state, change| {
            let name: Arc<str> = name.as_str().into();
            state.users.insert(
                key.clone(),
                User {
                    name: Arc::clone(&name),
                    room: lobby.clone(),
                    outbox: Arc::clone(outbox),
                    since: UtcTime::now(),
                    active: Instant::now(),
                    away: None,
                    registered,
                },
            );
            self.directory.moved(&name, Some(LOBBY), false);
            state.enter(&key, &lobby, change, false);
            let away = state.away_names(&lobby);
            let welcome = state.member_list(&lobby, &remote, &away, |members| {
                line_chunk(
                    &Notice::Welcome {
                        name: &name,
                        members,
                    }
                    .into(),
                )
            });
            change.delivery.push(outbox, &welcome);
            state.show_topic(&lobby, outbox, change);
            state.replay(&lobby, outbox, change);
            Ok(key)
        })
    }

    /// Why `name` can't be had, its key `key` being held: by whom. Only this instance's
    /// users are named; a key held elsewhere (or being claimed here at this moment) is
    /// plainly taken. Registered names, when there are any, are holders too: looked up by
    /// the same key, a look-alike of a registered name is refused like the name itself.
    fn held(&self, key: &str, name: &str) -> JoinError {
        let holder = lock(&self.state)
            .users
            .get(key)
            .map(|user| Arc::clone(&user.name));
        match holder {
            Some(holder) => JoinError::held_by(name, &holder),
            None => JoinError::NameTaken,
        }
    }

    /// Removes the user with key `key` if `outbox` is still theirs (a connection whose
    /// name was taken back by its owner leaves nothing); unless the farewell is silent,
    /// the room is told `* NAME quit` or `* NAME quit (REASON)`.
    pub fn leave(&self, key: &str, outbox: &Arc<Outbox>, farewell: &Farewell) {
        let left = self.with_state(|state, change| {
            let theirs = state
                .users
                .get(key)
                .is_some_and(|user| Arc::ptr_eq(&user.outbox, outbox));
            if !theirs {
                return None;
            }
            let user = state.users.remove(key)?;
            // Under the lock, so the name is free by the time anyone reads the notice.
            self.directory.release(key);
            self.directory.moved(&user.name, None, false);
            let announce = state.announces(&user.room);
            if let Some(room) = state.rooms.get_mut(&user.room) {
                room.members.remove(&fold_case(&user.name));
            }
            if let Farewell::Quit(reason) = farewell {
                let kind = EventKind::Quit(reason.clone());
                state.post(&user.room, &user.name, kind, announce, None, change);
            }
            state.hand_over(&*self.directory, &user.room, change);
            state.remove_if_empty(&*self.directory, &user.room);
            Some(user.name)
        });
        if let Some(name) = left {
            self.store.note_seen(key, &name, UtcTime::now());
        }
    }

    /// Sends chat lines (`texts`, each ending in LF) from `name` (the user with key `key`)
    /// to their room, not back to the sender. Returns a recipient the sender should
    /// [`pace`](Outbox::pace) itself to, if the lines took one past half its backlog limit.
    ///
    /// The lines are formatted, and their events made, before the lock is taken: under it,
    /// the events only get their room and numbers, and the one shared buffer is queued.
    pub fn say(&self, key: &str, name: &str, texts: &str) -> Option<Arc<Outbox>> {
        let lines = texts.split_terminator('\n');
        let count = texts.bytes().filter(|&byte| byte == b'\n').count();
        let mut batch = Vec::with_capacity(texts.len() + (name.len() + 2) * count);
        for text in lines.clone() {
            ServerLine::Chat { from: name, text }.append_to(&mut batch);
        }
        let chunk: Chunk = batch.into();
        let (from, time) = (Arc::from(name), SystemTime::now());
        let events: Vec<RoomEvent> = lines
            .map(|text| RoomEvent {
                room: Arc::clone(&from),
                seq: 0,
                time,
                from: Arc::clone(&from),
                kind: EventKind::Chat(text.to_string()),
                shown: true,
            })
            .collect();
        self.with_state(|state, change| {
            let bus = state.bus;
            let State {
                users,
                rooms,
                rules,
                relayed,
                ..
            } = state;
            let user = users.get_mut(key)?;
            user.active = Instant::now();
            let room = rooms.get_mut(&user.room)?;
            relayed.add(count as u64);
            if bus {
                // Numbered and delivered when the bus brings them back.
                for mut event in events {
                    event.room = Arc::clone(&room.name);
                    change.events.push(Arc::new(event));
                }
                return None;
            }
            let keep = room.keeps(rules);
            for mut event in events {
                event.room = Arc::clone(&room.name);
                event.seq = room.recent.next_seq;
                room.recent.next_seq += 1;
                let event = Arc::new(event);
                room.remember(&event, keep);
                if room.private.is_none() {
                    change.events.push(event);
                }
            }
            for member in room.members.values() {
                if !Arc::ptr_eq(&member.outbox, &user.outbox) {
                    change.delivery.push(&member.outbox, &chunk);
                }
            }
            change.delivery.take_laggard()
        })
    }

    /// `* NAME ACTION` to the whole room, sender included.
    pub fn act(&self, key: &str, action: &str) {
        self.with_state(|state, change| {
            if let Some(user) = state.users.get_mut(key) {
                user.active = Instant::now();
                let (name, room) = (Arc::clone(&user.name), user.room.clone());
                let kind = EventKind::Action(action.to_string());
                state.relayed.add(1);
                state.post(&room, &name, kind, true, None, change);
            }
        })
    }

    /// A private message, delivered to its target and, as confirmation, to its sender
    /// (once, if they are the same). Returns the target if the sender should
    /// [`pace`](Outbox::pace) itself to it.
    ///
    /// # Errors
    /// If nobody has the name `to`.
    pub fn whisper(
        &self,
        key: &str,
        to: &str,
        text: &str,
    ) -> Result<Option<Arc<Outbox>>, NoSuchUser> {
        self.with_state(|state, change| {
            let target_key = name_key(to);
            if !state.users.contains_key(key) {
                return Err(NoSuchUser);
            }
            if !state.users.contains_key(&target_key) {
                let sender = state.users.get_mut(key).ok_or(NoSuchUser)?;
                let shown = self
                    .directory
                    .relay_private(&sender.name, &target_key, text)
                    .ok_or(NoSuchUser)?;
                sender.active = Instant::now();
                let line = line_chunk(&ServerLine::Private {
                    from: &sender.name,
                    to: &shown,
                    text,
                });
                change.delivery.push(&sender.outbox, &line);
                return Ok(None);
            }
            if let Some(sender) = state.users.get_mut(key) {
                sender.active = Instant::now();
            }
            let sender = &state.users[key];
            let target = &state.users[&target_key];
            let line = line_chunk(&ServerLine::Private {
                from: &sender.name,
                to: &target.name,
                text,
            });
            change.delivery.push(&target.outbox, &line);
            let laggard = change.delivery.take_laggard();
            let sender_outbox = Arc::clone(&sender.outbox);
            if !Arc::ptr_eq(&sender.outbox, &target.outbox) {
                change.delivery.push(&sender.outbox, &line);
            }
            // Someone away answers once per sender per absence.
            if let Some(target) = state.users.get_mut(&target_key)
                && let Some(away) = &mut target.away
                && key != target_key
                && away.told.insert(key.to_string())
            {
                let notice = Notice::Away {
                    name: &target.name,
                    reason: &away.reason,
                };
                change
                    .delivery
                    .push(&sender_outbox, &line_chunk(&notice.into()));
            }
            Ok(laggard)
        })
    }

    /// Renames a user; the room, renamer included, sees `* OLD is now NEW`. Returns the new
    /// key. A change of case only is allowed.
    ///
    /// Renaming to a look-alike of one's own name (the same key) is allowed, as a change
    /// of case is.
    ///
    /// # Errors
    /// If the new name, or one it looks like, is taken.
    pub fn rename(&self, key: &str, new_name: &Name) -> Result<String, JoinError> {
        let new_key = name_key(new_name);
        if new_key != key {
            self.directory
                .claim(&new_key)
                .map_err(|_| self.held(&new_key, new_name))?;
        }
        self.rename_claimed(key, new_name)
    }

    /// [`Registry::rename`], the new name's key claimed already (or the same as the old).
    fn rename_claimed(&self, key: &str, new_name: &Name) -> Result<String, JoinError> {
        let new_key = name_key(new_name);
        self.with_state(|state, change| {
            let Some(mut user) = state.users.remove(key) else {
                self.directory.release(&new_key);
                return Err(JoinError::NameTaken);
            };
            if new_key != key {
                self.directory.release(key);
            }
            let old_name = std::mem::replace(&mut user.name, new_name.as_str().into());
            self.directory.moved(&old_name, None, false);
            let (shown, private) = state.place(&user.room);
            self.directory.moved(&user.name, shown.as_deref(), private);
            let room_key = user.room.clone();
            if let Some(room) = state.rooms.get_mut(&room_key)
                && let Some(mut member) = room.members.remove(&fold_case(&old_name))
            {
                member.name = Arc::clone(&user.name);
                room.members.insert(fold_case(&user.name), member);
                if let Some(private) = &mut room.private
                    && private.owner == fold_case(&old_name)
                {
                    private.owner = fold_case(&user.name);
                }
            }
            let kind = EventKind::Renamed(Arc::clone(&user.name));
            state.users.insert(new_key.clone(), user);
            state.post(&room_key, &old_name, kind, true, None, change);
            Ok(new_key)
        })
    }

    /// Moves a user to a room (created on demand, if it is public; an emptied room other
    /// than `#lobby` disappears). The old room sees `* NAME left #OLD`, the new one, mover
    /// included, `* NAME joined #NEW`, and the mover then gets the new room's topic, recent
    /// lines and member list. A private room takes only its key (`offered`). Returns
    /// whether the room is private (its link is then the mover's to be told).
    ///
    /// # Errors
    /// If the room name is invalid, the user is already there, the room is private and
    /// `offered` isn't its key, or a key was offered for a room that doesn't exist.
    pub fn move_to(&self, key: &str, room: &str, offered: Option<&str>) -> Result<bool, MoveError> {
        let room_name = protocol::parse_room(room).map_err(MoveError::InvalidRoom)?;
        let room_key = fold_case(&room_name);
        let remote = self.directory.remote_members(&room_key);
        // A private room made on another instance, if a key is offered for a room that
        // isn't here.
        let here = lock(&self.state).rooms.contains_key(&room_key);
        let shared = match (here, offered) {
            (false, Some(_)) => self.directory.shared_private(&room_key),
            _ => None,
        };
        let seed = self.seed(&room_key, &room_name);
        self.with_state(|state, change| {
            let Some(user) = state.users.get(key) else {
                return Ok(false);
            };
            if user.room == room_key {
                return Err(MoveError::AlreadyThere);
            }
            let private = state
                .rooms
                .get(&room_key)
                .map_or(shared.is_some(), |room| room.private.is_some());
            match (state.rooms.get(&room_key), &shared) {
                (Some(room), _) => {
                    if let Some(private) = &room.private
                        && !offered.is_some_and(|offered| private.key.matches(offered))
                    {
                        // As typed, so the answer is the same whether the room exists.
                        return Err(MoveError::NeedInvite(room_name));
                    }
                }
                (None, Some(shared)) => {
                    let key = RoomKey::from_shared(shared.key.clone());
                    if !offered.is_some_and(|offered| key.matches(offered)) {
                        return Err(MoveError::NeedInvite(room_name));
                    }
                }
                // The same answer as a wrong key: whether a private room exists is not
                // told to someone who has no key to it.
                (None, None) if offered.is_some() => {
                    return Err(MoveError::NeedInvite(room_name));
                }
                (None, None) => {}
            }
            if !state.rooms.contains_key(&room_key) && !state.has_room_for_one_more(key) {
                return Err(MoveError::TooManyRooms(state.rules.max_rooms));
            }
            let new_room = match state.rooms.contains_key(&room_key) {
                true => None,
                false => {
                    let keep = state.rules.replay_lines;
                    let (recent, topic) = match (state.wake(&room_key), seed) {
                        // Relayed lines kept while nobody here was in the room, after
                        // what the store has from before (read as this instance started
                        // hearing them, so together they leave nothing out).
                        (Some(recent), Some((stored, topic))) if state.bus => {
                            (recent.after(stored, keep), topic)
                        }
                        (Some(recent), seed) => (recent, seed.and_then(|seed| seed.1)),
                        (None, seed) => seed.unwrap_or_default(),
                    };
                    let mut room = match &shared {
                        Some(shared) => Room::new(&shared.name, recent, topic),
                        None => Room::new(&room_name, recent, topic),
                    };
                    room.private = shared.as_ref().map(|shared| Private {
                        key: RoomKey::from_shared(shared.key.clone()),
                        owner: shared.owner.clone(),
                    });
                    Some(room)
                }
            };
            state.relocate(
                &*self.directory,
                key,
                &room_key,
                new_room,
                &remote,
                true,
                change,
            );
            Ok(private)
        })
    }

    /// What the store remembers of a room that isn't here (read before the lock is taken):
    /// its recent lines, unless it emptied lately (the registry still has those), and its
    /// topic. `None` if the room is here or the store can't say.
    fn seed(&self, room_key: &str, room_name: &str) -> Option<(Recent, Option<String>)> {
        let (here, dormant, replay_lines) = {
            let state = lock(&self.state);
            (
                state.rooms.contains_key(room_key),
                state.dormant.contains_key(room_key) && !state.bus,
                state.rules.replay_lines,
            )
        };
        if here {
            return None;
        }
        let topic = self.store.topic(room_key).ok().flatten();
        if dormant {
            return Some((Recent::default(), topic));
        }
        match self.store.room_tail(room_key, replay_lines) {
            Ok(tail) => Some((Recent::from_tail(&room_name.into(), tail), topic)),
            Err(Unavailable) => Some((Recent::unknown_past(), topic)),
        }
    }

    /// Up to `limit` of the last stored lines of the user's room, as `= TIME LINE`, then
    /// `* history of #ROOM: N lines`.
    ///
    /// # Errors
    /// If the store can't answer.
    pub fn history(&self, key: &str, limit: usize) -> Result<Vec<Chunk>, Unavailable> {
        let (room_key, room_name, in_memory) = {
            let state = lock(&self.state);
            let room_key = state
                .users
                .get(key)
                .map_or_else(|| fold_case(LOBBY), |user| user.room.clone());
            let room = state.rooms.get(&room_key);
            let room_name = room.map_or_else(|| LOBBY.into(), |room| Arc::clone(&room.name));
            // A private room's history is what it keeps in memory.
            let in_memory = room.filter(|room| room.private.is_some()).map(|room| {
                let lines = &room.recent.lines;
                let skip = lines.len().saturating_sub(limit);
                let mut chunks: Vec<Chunk> = Vec::new();
                for event in lines.iter().skip(skip) {
                    chunks.push(line_chunk(&event.replay_line()));
                }
                chunks
            });
            (room_key, room_name, in_memory)
        };
        let mut chunks = match in_memory {
            Some(chunks) => chunks,
            None => self
                .store
                .history(&room_key, limit)?
                .into_iter()
                .map(|line| line_chunk(&stored_event(&room_name, line).replay_line()))
                .collect(),
        };
        let count = chunks.len();
        let end = Notice::HistoryEnd {
            room: &room_name,
            count,
        };
        chunks.push(line_chunk(&end.into()));
        Ok(chunks)
    }

    /// `* #ROOM (N): a, b, c` for the user's room.
    pub fn who(&self, key: &str) -> Chunk {
        let room_key = lock(&self.state)
            .users
            .get(key)
            .map_or_else(|| fold_case(LOBBY), |user| user.room.clone());
        let remote = self.directory.remote_members(&room_key);
        let state = lock(&self.state);
        let away = state.away_names(&room_key);
        state.member_list(&room_key, &remote, &away, |members| {
            line_chunk(&Notice::Members(members).into())
        })
    }

    /// `* rooms: #a (N), #b (M)`: the rooms whose name contains `filter` (ignoring case),
    /// at most [`MAX_LISTED_ROOMS`], then `(+N more)`. A private room is listed (marked so)
    /// only to its members.
    pub fn rooms(&self, asker: &str, filter: Option<&str>) -> Chunk {
        let filter = filter.map(|filter| filter.to_lowercase());
        let wanted = |key: &str| filter.as_ref().is_none_or(|filter| key.contains(filter));
        let mut rooms: BTreeMap<String, (String, usize, bool)> = self
            .directory
            .remote_rooms()
            .into_iter()
            .map(|(room, count)| (fold_case(&room), (room, count, false)))
            .filter(|(key, _)| wanted(key))
            .collect();
        let state = lock(&self.state);
        for (key, room) in &state.rooms {
            if !wanted(&room.name.to_lowercase()) || state.visible_room(key, asker).is_none() {
                continue;
            }
            let entry = rooms
                .entry(key.clone())
                .or_insert_with(|| (room.name.to_string(), 0, room.private.is_some()));
            entry.1 += room.members.len();
        }
        drop(state);
        let listed = rooms
            .values()
            .take(MAX_LISTED_ROOMS)
            .map(|(room, count, private)| RoomCount {
                room: room.as_str(),
                count: *count,
                private: *private,
            })
            .collect();
        let more = rooms.len().saturating_sub(MAX_LISTED_ROOMS);
        line_chunk(
            &Notice::Rooms {
                rooms: listed,
                more,
            }
            .into(),
        )
    }

    /// Gives the name with key `key`, held by a connection that is still open, to a new
    /// connection of its owner (who gave its password): the old connection is told why
    /// and closed, the new one is welcomed into the old one's room (with its recent lines),
    /// and the room sees `* NAME reconnected` instead of a quit and a join.
    pub fn take_over(&self, key: &str, outbox: &Arc<Outbox>) -> TakeOver {
        let remote_room = lock(&self.state)
            .users
            .get(key)
            .map(|user| user.room.clone());
        let remote = remote_room
            .as_deref()
            .map(|room| self.directory.remote_members(room))
            .unwrap_or_default();
        let old = self.with_state(|state, change| {
            let user = state.users.get_mut(key)?;
            let old = std::mem::replace(&mut user.outbox, Arc::clone(outbox));
            user.since = UtcTime::now();
            user.active = Instant::now();
            user.registered = true;
            let (name, room_key) = (Arc::clone(&user.name), user.room.clone());
            if let Some(member) = state
                .rooms
                .get_mut(&room_key)
                .and_then(|room| room.members.get_mut(&fold_case(&name)))
            {
                member.outbox = Arc::clone(outbox);
            }
            let away = state.away_names(&room_key);
            let welcome = state.member_list(&room_key, &remote, &away, |members| {
                line_chunk(
                    &Notice::Welcome {
                        name: &name,
                        members,
                    }
                    .into(),
                )
            });
            change.delivery.push(outbox, &welcome);
            state.show_topic(&room_key, outbox, change);
            state.replay(&room_key, outbox, change);
            state.post(
                &room_key,
                &name,
                EventKind::Reconnected,
                true,
                Some(outbox),
                change,
            );
            Some((old, name))
        });
        let Some((old, name)) = old else {
            return TakeOver::NotHeld;
        };
        old.send_borrowed(&Refusal::LoggedInElsewhere { name: &name }.into());
        old.finish();
        // Its thread is blocked reading: the end of input makes it leave (having nothing
        // left to leave).
        old.transport().shutdown(Shutdown::Read);
        TakeOver::Done
    }

    /// Marks the user's session as logged in to their (now) registered name.
    pub fn set_registered(&self, key: &str, registered: bool) {
        if let Some(user) = lock(&self.state).users.get_mut(key) {
            user.registered = registered;
        }
    }

    /// Marks the user away (`Some` reason) or back (`None`).
    pub fn set_away(&self, key: &str, reason: Option<&str>) {
        if let Some(user) = lock(&self.state).users.get_mut(key) {
            user.away = reason.map(|reason| Away {
                reason: reason.to_string(),
                told: HashSet::new(),
            });
        }
    }

    /// The name of someone online, by their key, and their room as `asker` may see it
    /// (a private room only if `asker` is in it too).
    pub fn room_of(&self, key: &str, asker: &str) -> Option<(String, Option<Arc<str>>)> {
        let state = lock(&self.state);
        match state.users.get(key) {
            Some(user) => Some((user.name.to_string(), state.visible_room(&user.room, asker))),
            None => {
                let (name, room) = self.directory.remote_user(key)?;
                Some((name, room.map(Arc::from)))
            }
        }
    }

    /// What `/whois` says of someone online on another instance, by their key (asked of
    /// their instance: this waits a moment).
    pub fn remote_whois(&self, key: &str) -> Option<Whois> {
        self.directory.remote_whois(key)
    }

    /// Whether this instance is cut off from the rest of its cluster.
    pub fn cut_off(&self) -> bool {
        self.directory.cut_off()
    }

    /// What `/whois` says of someone online, by their key.
    pub fn whois(&self, key: &str, asker: &str) -> Option<Whois> {
        let state = lock(&self.state);
        let user = state.users.get(key)?;
        let room = state
            .visible_room(&user.room, asker)
            .map(|room| room.to_string());
        Some(Whois {
            name: user.name.to_string(),
            room,
            registered: user.registered,
            idle: user.active.elapsed(),
            since: user.since,
            away: user.away.as_ref().map(|away| away.reason.clone()),
        })
    }

    /// How many users of this instance have joined.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.state).users.len()
    }

    /// Whether nobody has joined.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Room {
    /// How many of its lines the room keeps: what joiners are shown, or for a private room
    /// (whose `/history` has nothing else) up to what `/history` shows.
    fn keeps(&self, rules: &Rules) -> usize {
        match self.private {
            Some(_) => rules.private_history.max(rules.replay_lines),
            None => rules.replay_lines,
        }
    }

    /// The room's next event (numbered, not yet delivered).
    fn event(&mut self, from: &Arc<str>, kind: EventKind, shown: bool) -> Arc<RoomEvent> {
        let seq = self.recent.next_seq;
        self.recent.next_seq += 1;
        Arc::new(RoomEvent {
            room: Arc::clone(&self.name),
            seq,
            time: SystemTime::now(),
            from: Arc::clone(from),
            kind,
            shown,
        })
    }

    /// Keeps an event among the room's recent lines if it is history.
    fn remember(&mut self, event: &Arc<RoomEvent>, keep: usize) {
        if keep == 0 || !event.is_history() {
            return;
        }
        if self.recent.lines.len() == keep {
            self.recent.lines.pop_front();
        }
        self.recent.lines.push_back(Arc::clone(event));
    }
}

impl State {
    fn announces(&self, room_key: &str) -> bool {
        let size = self
            .rooms
            .get(room_key)
            .map_or(0, |room| room.members.len());
        let limit = self.rules.announce_limit;
        limit == 0 || size <= limit
    }

    /// Makes a room event and, if `deliver`, queues its line for the room's members (but
    /// not `except`).
    fn post(
        &mut self,
        room_key: &str,
        from: &Arc<str>,
        kind: EventKind,
        deliver: bool,
        except: Option<&Arc<Outbox>>,
        change: &mut Change,
    ) -> Option<Chunk> {
        let room = self.rooms.get_mut(room_key)?;
        if self.bus {
            // Numbered and delivered when the bus brings it back.
            let event = Arc::new(RoomEvent {
                room: Arc::clone(&room.name),
                seq: 0,
                time: SystemTime::now(),
                from: Arc::clone(from),
                kind,
                shown: deliver,
            });
            let chunk = line_chunk(&event.line());
            change.events.push(event);
            return Some(chunk);
        }
        let keep = room.keeps(&self.rules);
        let event = room.event(from, kind, deliver);
        room.remember(&event, keep);
        let chunk = line_chunk(&event.line());
        if deliver {
            for member in room.members.values() {
                if !except.is_some_and(|except| Arc::ptr_eq(except, &member.outbox)) {
                    change.delivery.push(&member.outbox, &chunk);
                }
            }
        }
        if room.private.is_none() {
            change.events.push(event);
        }
        Some(chunk)
    }

    /// Adds a user to a room's members and announces it (to the newcomer too if `echo`).
    fn enter(&mut self, key: &str, room_key: &str, change: &mut Change, echo: bool) {
        let Some(user) = self.users.get(key) else {
            return;
        };
        let (name, outbox) = (Arc::clone(&user.name), Arc::clone(&user.outbox));
        let Some(room) = self.rooms.get_mut(room_key) else {
            return;
        };
        self.entries += 1;
        let member = Member {
            name: Arc::clone(&name),
            outbox: Arc::clone(&outbox),
            entered: self.entries,
        };
        room.members.insert(fold_case(&name), member);
        let announce = self.announces(room_key);
        let notice = self.post(
            room_key,
            &name,
            EventKind::Joined,
            announce,
            Some(&outbox),
            change,
        );
        if echo && let Some(notice) = notice {
            change.delivery.push(&outbox, &notice);
        }
    }

    /// Removes a room that emptied (not `#lobby`), keeping its recent lines for a while.
    fn remove_if_empty(&mut self, directory: &dyn Directory, room_key: &str) {
        let empty = self
            .rooms
            .get(room_key)
            .is_some_and(|room| room.members.is_empty());
        if !empty || room_key == fold_case(LOBBY) {
            return;
        }
        let Some(room) = self.rooms.remove(room_key) else {
            return;
        };
        // A private room goes with everything it had, everywhere once nobody on any
        // instance is in it.
        if room.private.is_some() {
            if self.bus && directory.remote_members(room_key).is_empty() {
                directory.forget_private(room_key);
            }
            return;
        }
        if self.dormant.len() >= self.rules.max_rooms
            && let Some(oldest) = self.dormant_order.pop_front()
        {
            self.dormant.remove(&oldest);
        }
        self.dormant.insert(room_key.to_string(), room.recent);
        self.dormant_order.push_back(room_key.to_string());
    }

    /// The recent lines of a room that emptied lately, taken back.
    fn wake(&mut self, room_key: &str) -> Option<Recent> {
        let recent = self.dormant.remove(room_key)?;
        self.dormant_order.retain(|key| key != room_key);
        Some(recent)
    }

    /// Queues a room's recent lines for a joiner, as `= TIME LINE`.
    fn replay(&self, room_key: &str, outbox: &Arc<Outbox>, change: &mut Change) {
        let Some(room) = self.rooms.get(room_key) else {
            return;
        };
        if room.recent.lines.is_empty() || self.rules.replay_lines == 0 {
            return;
        }
        let mut lines = Vec::new();
        let skip = room
            .recent
            .lines
            .len()
            .saturating_sub(self.rules.replay_lines);
        for event in room.recent.lines.iter().skip(skip) {
            event.replay_line().append_to(&mut lines);
        }
        change.delivery.push(outbox, &lines.into());
    }

    /// Whether a room may be made, with `key`'s user leaving their room for it (leaving an
    /// emptied room frees its place).
    fn has_room_for_one_more(&self, key: &str) -> bool {
        let frees_one = self.users.get(key).is_some_and(|user| {
            user.room != fold_case(LOBBY)
                && self
                    .rooms
                    .get(&user.room)
                    .is_some_and(|old| old.members.len() == 1)
        });
        self.rooms.len() < self.rules.max_rooms + usize::from(frees_one)
    }

    /// Moves `key`'s user from their room to `room_key` (made from `new_room` if it isn't
    /// here). The old room sees them leave (if `announce_leaving`; a kick says it itself),
    /// the new one sees them join, and they get its topic, recent lines and members.
    #[allow(clippy::too_many_arguments)]
    fn relocate(
        &mut self,
        directory: &dyn Directory,
        key: &str,
        room_key: &str,
        new_room: Option<Room>,
        remote: &[String],
        announce_leaving: bool,
        change: &mut Change,
    ) {
        let Some(user) = self.users.get(key) else {
            return;
        };
        let (name, old_key) = (Arc::clone(&user.name), user.room.clone());
        let outbox = Arc::clone(&user.outbox);
        let announce = announce_leaving && self.announces(&old_key);
        if let Some(old) = self.rooms.get_mut(&old_key) {
            old.members.remove(&fold_case(&name));
        }
        self.post(&old_key, &name, EventKind::Left, announce, None, change);
        self.hand_over(directory, &old_key, change);
        self.remove_if_empty(directory, &old_key);
        if let Some(room) = new_room {
            self.rooms.entry(room_key.to_string()).or_insert(room);
        }
        if let Some(user) = self.users.get_mut(key) {
            user.room = room_key.to_string();
        }
        // Where someone is in a private room is only its members' business.
        let (shown, private) = self.place(room_key);
        directory.moved(&name, shown.as_deref(), private);
        self.enter(key, room_key, change, true);
        self.show_topic(room_key, &outbox, change);
        self.replay(room_key, &outbox, change);
        let away = self.away_names(room_key);
        let members = self.member_list(room_key, remote, &away, |members| {
            line_chunk(&Notice::Members(members).into())
        });
        change.delivery.push(&outbox, &members);
    }

    /// If a private room's owner is gone, gives it to the member who has been there
    /// longest, and tells the room.
    fn hand_over(&mut self, directory: &dyn Directory, room_key: &str, change: &mut Change) {
        let Some(room) = self.rooms.get_mut(room_key) else {
            return;
        };
        let Some(private) = &mut room.private else {
            return;
        };
        if room.members.contains_key(&private.owner)
            || directory
                .remote_members(room_key)
                .iter()
                .any(|name| fold_case(name) == private.owner)
        {
            return;
        }
        let Some((heir, member)) = room.members.iter().min_by_key(|(_, member)| member.entered)
        else {
            return;
        };
        private.owner = heir.clone();
        let notice = Notice::Owner {
            name: &member.name,
            room: &room.name,
        };
        let line = line_chunk(&notice.into());
        for member in room.members.values() {
            change.delivery.push(&member.outbox, &line);
        }
    }

    /// A room as the directory is told of it: its shown name, and whether it is private.
    fn place(&self, room_key: &str) -> (Option<Arc<str>>, bool) {
        self.rooms.get(room_key).map_or((None, false), |room| {
            (Some(Arc::clone(&room.name)), room.private.is_some())
        })
    }

    /// `* topic of #ROOM: TEXT` to a joiner, if the room has one.
    fn show_topic(&self, room_key: &str, outbox: &Arc<Outbox>, change: &mut Change) {
        if let Some(room) = self.rooms.get(room_key)
            && let Some(topic) = &room.topic
        {
            let notice = Notice::Topic {
                room: &room.name,
                text: topic,
            };
            change.delivery.push(outbox, &line_chunk(&notice.into()));
        }
    }

    /// Whether the user with key `key` is in the room with key `room_key`.
    fn is_in(&self, key: &str, room_key: &str) -> bool {
        self.users
            .get(key)
            .is_some_and(|user| user.room == room_key)
    }

    /// A room's name as `asker` may see it: a private room's only to its members.
    fn visible_room(&self, room_key: &str, asker: &str) -> Option<Arc<str>> {
        let room = self.rooms.get(room_key)?;
        (room.private.is_none() || self.is_in(asker, room_key)).then(|| Arc::clone(&room.name))
    }

    /// The names of a room's members who are away.
    fn away_names(&self, room_key: &str) -> Vec<Arc<str>> {
        // A cheap test per user (most are not away), not a name key per member: this runs
        // on every join, and a name key is a Unicode skeleton.
        let mut away: Vec<Arc<str>> = self
            .users
            .values()
            .filter(|user| user.away.is_some() && user.room == room_key)
            .map(|user| Arc::clone(&user.name))
            .collect();
        away.sort_by_key(|name| fold_case(name));
        away
    }

    /// The member list of a room (this instance's members and `remote` ones, `away` marked),
    /// formatted by `line`.
    fn member_list<R>(
        &self,
        room_key: &str,
        remote: &[String],
        away: &[Arc<str>],
        line: impl FnOnce(MemberList<'_>) -> R,
    ) -> R {
        let Some(room) = self.rooms.get(room_key) else {
            return line(MemberList::new(room_key, 0, std::iter::empty()));
        };
        let away: Vec<&str> = away.iter().map(|name| &**name).collect();
        let local = room.members.values().map(|member| &*member.name);
        if remote.is_empty() {
            let list = MemberList::new(&room.name, room.members.len(), local);
            return line(list.with_away(away));
        }
        let mut names: Vec<&str> = local.chain(remote.iter().map(String::as_str)).collect();
        names.sort_by_key(|name| fold_case(name));
        names.dedup_by_key(|name| fold_case(name));
        let list = MemberList::new(&room.name, names.len(), names.into_iter());
        line(list.with_away(away))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::thread;

    use super::*;
    use crate::directory::LocalDirectory;
    use crate::queue::QueueLimits;
    use crate::store::SqliteStore;
    use crate::transport::Transport;
    use crate::writer::Writers;

    const RULES: Rules = Rules {
        announce_limit: 100,
        max_rooms: 10,
        replay_lines: 3,
        private_history: 5,
    };

    fn memory() -> Arc<dyn Store> {
        Arc::new(SqliteStore::in_memory(30))
    }

    /// Keeps every event it is given.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<Arc<RoomEvent>>>);

    impl EventSink for Recorder {
        fn accept(&self, events: &[Arc<RoomEvent>]) {
            lock(&self.0).extend_from_slice(events);
        }
    }

    fn name(name: &str) -> Name {
        Name::new(name).expect("a valid name")
    }

    fn outbox(writers: &Writers, listener: &TcpListener) -> (Arc<Outbox>, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (stream, _) = listener.accept().expect("accept");
        let limits = QueueLimits {
            max_backlog: 1 << 20,
            min_read_rate: 1 << 14,
        };
        (writers.outbox(Transport::plain(stream), limits), client)
    }

    #[test]
    fn room_events_are_numbered_in_order_and_reach_the_sinks() {
        let recorder = Arc::new(Recorder::default());
        let sink: Arc<dyn EventSink> = recorder.clone();
        let registry = Registry::new(
            RULES,
            Arc::new(LocalDirectory::default()),
            memory(),
            vec![sink],
        );
        let writers = Writers::start(1).expect("writers");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let (alice, _a) = outbox(&writers, &listener);
        let (bob, _b) = outbox(&writers, &listener);
        let alice_key = registry
            .join(&name("alice"), &alice, false)
            .expect("alice joins");
        let bob_key = registry.join(&name("Bob"), &bob, false).expect("bob joins");
        registry.say(&alice_key, "alice", "one\ntwo\n");
        registry.act(&bob_key, "waves");
        registry.rename(&bob_key, &name("rob")).expect("rename");
        registry.leave("rob", &bob, &Farewell::Quit(None));

        let events = lock(&recorder.0).clone();
        let seen: Vec<(u64, String)> = events
            .iter()
            .map(|event| (event.seq, event.line().to_string()))
            .collect();
        assert_eq!(
            seen,
            [
                (1, "* alice joined #lobby".to_string()),
                (2, "* Bob joined #lobby".to_string()),
                (3, "alice: one".to_string()),
                (4, "alice: two".to_string()),
                (5, "* Bob waves".to_string()),
                (6, "* Bob is now rob".to_string()),
                (7, "* rob quit".to_string()),
            ]
        );
        assert!(events.iter().all(|event| &*event.room == "#lobby"));
        assert!(events.windows(2).all(|pair| pair[0].time <= pair[1].time));
        writers.stop();
    }

    #[test]
    fn a_name_is_free_again_once_its_user_leaves_or_renames() {
        let registry = Registry::new(
            RULES,
            Arc::new(LocalDirectory::default()),
            memory(),
            Vec::new(),
        );
        let writers = Writers::start(1).expect("writers");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let (first, _a) = outbox(&writers, &listener);
        let (second, _b) = outbox(&writers, &listener);
        let key = registry
            .join(&name("alice"), &first, false)
            .expect("alice joins");
        assert_eq!(
            registry.join(&name("ALICE"), &second, false),
            Err(JoinError::NameTaken)
        );
        let key = registry.rename(&key, &name("alicia")).expect("rename");
        assert_eq!(
            registry.join(&name("alice"), &second, false),
            Ok("alice".to_string())
        );
        registry.leave(&key, &first, &Farewell::Silent);
        assert_eq!(registry.len(), 1);
        writers.stop();
    }

    #[test]
    fn look_alikes_are_refused_naming_the_holder_and_lists_sort_by_name() {
        let registry = Registry::new(
            RULES,
            Arc::new(LocalDirectory::default()),
            memory(),
            Vec::new(),
        );
        let writers = Writers::start(1).expect("writers");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let (mike, _m) = outbox(&writers, &listener);
        let (paul, _p) = outbox(&writers, &listener);
        let (nina, _n) = outbox(&writers, &listener);
        let mike_key = registry
            .join(&name("mike"), &mike, false)
            .expect("mike joins");
        // `m` and `rn` look alike: one key.
        assert_eq!(
            registry.join(&name("rnike"), &paul, false),
            Err(JoinError::LooksLike("mike".to_string()))
        );
        assert_eq!(
            registry.join(&name("MIKE"), &paul, false),
            Err(JoinError::NameTaken)
        );
        let paul_key = registry
            .join(&name("paul"), &paul, false)
            .expect("paul joins");
        registry
            .join(&name("Nina"), &nina, false)
            .expect("nina joins");
        // Sorted by name ignoring case, not by key (mike's is `rnike`).
        assert_eq!(
            &*registry.who(&paul_key),
            b"* #lobby (3): mike, Nina, paul\n"
        );
        // A look-alike of one's own name keeps the key, and is then the name refusals give.
        let renamed = registry.rename(&mike_key, &name("rnike")).expect("rename");
        assert_eq!(renamed, mike_key);
        assert_eq!(
            &*registry.who(&paul_key),
            b"* #lobby (3): Nina, paul, rnike\n"
        );
        assert_eq!(
            registry.rename(&paul_key, &name("mike")),
            Err(JoinError::LooksLike("rnike".to_string()))
        );
        writers.stop();
    }

    #[test]
    fn a_lock_poisoned_by_a_panic_is_recovered() {
        let registry = Registry::new(
            RULES,
            Arc::new(LocalDirectory::default()),
            memory(),
            Vec::new(),
        );
        let poisoner = registry.clone();
        let panicked = thread::spawn(move || {
            poisoner.with_state(|_, _| panic!("panic while holding the registry lock"))
        })
        .join();
        assert!(panicked.is_err());
        assert!(registry.state.is_poisoned());

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let writers = Writers::start(1).expect("writers");
        let (alice, _client) = outbox(&writers, &listener);
        assert_eq!(
            registry.join(&name("alice"), &alice, false),
            Ok("alice".to_string())
        );
        assert_eq!(&*registry.rooms("", None), b"* rooms: #lobby (1)\n");
        registry.leave("alice", &alice, &Farewell::Silent);
        assert!(registry.is_empty());
        writers.stop();
    }
}
