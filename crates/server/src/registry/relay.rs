//! What the cluster's bus brings to this instance's users: public rooms' events, numbered
//! in the one order every instance gets them; private messages from users elsewhere; the
//! quits of users whose instance went away; and the switch to delivering here alone while
//! the other instances are out of reach.

use std::sync::Arc;

use chat_protocol::{LOBBY, Name, Notice, ServerLine, fold_case};

use super::{Change, Recent, Registry, State};
use crate::event::RoomEvent;
use crate::queue::{Chunk, Outbox, line_chunk};
use crate::room_key::RoomKey;

/// A user of this instance, as the cluster is told of them.
#[derive(Debug, Clone)]
pub struct LocalUser {
    pub key: String,
    pub name: Arc<str>,
    /// Their room as it is shown.
    pub room: Option<Arc<str>>,
    /// Whether that room is private.
    pub private: bool,
}

impl Registry {
    /// With `true`, public rooms' events are delivered when the bus brings them back
    /// ([`Registry::deliver_relayed`]), so members on every instance see them in one order;
    /// with `false` (no cluster, or the cluster out of reach) they are delivered here at
    /// once. Going back to the bus forgets the rooms' numbering, which the bus's takes over.
    pub fn set_relayed(&self, relayed: bool) {
        let mut state = super::lock(&self.state);
        if relayed && !state.bus {
            for room in state.rooms.values_mut() {
                room.recent.next_seq = 0;
            }
            for recent in state.dormant.values_mut() {
                recent.next_seq = 0;
            }
        }
        state.bus = relayed;
    }

    /// Whether public rooms' events go through the bus.
    pub fn is_relayed(&self) -> bool {
        super::lock(&self.state).bus
    }

    /// Delivers events the bus brought, numbered by it, to this instance's members of
    /// their rooms, and keeps their history lines for joiners. An event numbered below
    /// what a room has seen is already in its replayed history (it was read from the store
    /// as the room was made here) and is not delivered twice.
    ///
    /// Consecutive events of one room go to each member as one chunk, so a burst from the
    /// bus costs a queue operation per member, not per member and line.
    pub fn deliver_relayed(&self, events: Vec<RoomEvent>) {
        self.with_state(|state, change| {
            let mut run = Run::default();
            for event in events {
                if let Some((room_key, event)) = state.admit_relayed(event) {
                    run.add(state, room_key, event, change);
                }
            }
            run.flush(state, change);
        });
    }

    /// Delivers here, numbered here, events that were made for the bus but can't go
    /// through it (Redis went away as they were made).
    pub fn deliver_unrelayed(&self, events: impl IntoIterator<Item = RoomEvent>) {
        self.with_state(|state, change| {
            for mut event in events {
                let Some(room) = state.rooms.get(&fold_case(&event.room)) else {
                    continue;
                };
                event.seq = room.recent.next_seq.max(1);
                if let Some((room_key, event)) = state.admit_relayed(event) {
                    state.deliver_run(&room_key, &[event], change);
                }
            }
        });
    }

    /// A private message from a user on another instance, to this instance's user with
    /// key `to_key` (if they are still here).
    pub fn deliver_private(&self, from: &str, to_key: &str, text: &str) {
        self.with_state(|state, change| {
            if let Some(target) = state.users.get(to_key) {
                let line = line_chunk(&ServerLine::Private {
                    from,
                    to: &target.name,
                    text,
                });
                change.delivery.push(&target.outbox, &line);
            }
        });
    }

    /// Users of another instance are gone without a word of their own (it died or shut
    /// down): this instance's members of their rooms are told `* NAME quit (REASON)`.
    pub fn remote_quits(&self, gone: &[(String, String)], reason: &str) {
        self.with_state(|state, change| {
            for (name, room_key) in gone {
                let Some(room) = state.rooms.get(room_key) else {
                    continue;
                };
                let line = line_chunk(
                    &Notice::Quit {
                        name,
                        reason: Some(reason),
                    }
                    .into(),
                );
                for member in room.members.values() {
                    change.delivery.push(&member.outbox, &line);
                }
            }
        });
    }

    /// A line another instance sent for everyone here (`/wall`).
    pub fn deliver_to_everyone(&self, line: &str) {
        let chunk = raw_chunk(line);
        self.with_state(|state, change| {
            for user in state.users.values() {
                change.delivery.push(&user.outbox, &chunk);
            }
        });
    }

    /// A line another instance sent for one user here (`/invite`).
    pub fn deliver_to_user(&self, key: &str, line: &str) {
        let chunk = raw_chunk(line);
        self.with_state(|state, change| {
            if let Some(user) = state.users.get(key) {
                change.delivery.push(&user.outbox, &chunk);
            }
        });
    }

    /// Another instance's `/rekey` of the private room with key `room_key`: only `key`
    /// lets anyone in here too. Returns the room's name and its members here, to be told
    /// the new links.
    pub fn rekey_relayed(
        &self,
        room_key: &str,
        key: &RoomKey,
    ) -> Option<(String, Vec<Arc<Outbox>>)> {
        let mut state = super::lock(&self.state);
        let room = state.rooms.get_mut(room_key)?;
        room.private.as_mut()?.key = key.clone();
        let members = room.members.values();
        Some((
            room.name.to_string(),
            members.map(|member| Arc::clone(&member.outbox)).collect(),
        ))
    }

    /// A private room was forgotten by the cluster (its last member left): what this
    /// instance kept of its lines, with nobody here in it, goes too.
    pub fn forget_dormant(&self, room_key: &str) {
        let mut state = super::lock(&self.state);
        if state.dormant.remove(room_key).is_some() {
            state.dormant_order.retain(|key| key != room_key);
        }
    }

    /// Another instance's `/topic` in the room with key `room_key`: the room here
    /// (if it has members here) takes `topic`, and its members are told `line`.
    pub fn topic_relayed(&self, room_key: &str, topic: Option<&str>, line: &str) {
        let chunk = raw_chunk(line);
        self.with_state(|state, change| {
            if let Some(room) = state.rooms.get_mut(room_key) {
                room.topic = topic.map(Arc::from);
                for member in room.members.values() {
                    change.delivery.push(&member.outbox, &chunk);
                }
            }
        });
    }

    /// Another instance's `/kick` or `/ban` of user `key`, in the room with key
    /// `room_key`: this instance's members of the room are told `line`, and if the user is
    /// here, in that room, they leave it: for `#lobby` (`last: None`, kicked from another
    /// room), or, wherever they are, the server after being sent `last` (a ban).
    pub fn remove_relayed(&self, room_key: &str, key: &str, line: &str, last: Option<&str>) {
        let chunk = raw_chunk(line);
        let lobby = fold_case(LOBBY);
        let remote = self.directory.remote_members(&lobby);
        let removed = self.with_state(|state, change| {
            // A banned user leaves wherever they are (even a private room, which the
            // banning instance can't name).
            let user_room = state.users.get(key).map(|user| user.room.clone());
            let here = user_room
                .as_ref()
                .is_some_and(|room| last.is_some() || room == room_key);
            let told = match (&user_room, here) {
                (Some(room), true) => room.as_str(),
                _ => room_key,
            };
            if let Some(room) = state.rooms.get(told) {
                for member in room.members.values() {
                    change.delivery.push(&member.outbox, &chunk);
                }
            }
            if !here {
                return None;
            }
            if last.is_some() || room_key == lobby {
                return state.remove_user(&*self.directory, key, change);
            }
            state.relocate(&*self.directory, key, &lobby, None, &remote, false, change);
            None
        });
        if let Some(outbox) = removed {
            if let Some(last) = last {
                outbox.send(&raw_chunk(last));
            }
            outbox.finish();
            outbox.transport().shutdown(std::net::Shutdown::Read);
        }
    }

    /// A notice to everyone on this instance (`* TEXT`).
    pub fn tell_everyone(&self, text: &str) {
        self.wall(&Notice::Other(text).into());
    }

    /// This instance's users, to claim their names again and tell the cluster where they
    /// are.
    pub fn local_users(&self) -> Vec<LocalUser> {
        let state = super::lock(&self.state);
        state
            .users
            .iter()
            .map(|(key, user)| {
                let (room, private) = state.place(&user.room);
                LocalUser {
                    key: key.clone(),
                    name: Arc::clone(&user.name),
                    room,
                    private,
                }
            })
            .collect()
    }

    /// Gives this instance's user with key `key`, whose name someone elsewhere took while
    /// this instance was cut off, the name `new_name` (claimed already): they and their
    /// room are told. Returns the new key.
    pub fn force_rename(&self, key: &str, new_name: &Name) -> Option<String> {
        let old = super::lock(&self.state)
            .users
            .get(key)
            .map(|user| Arc::clone(&user.name))?;
        let new_key = self.rename_claimed(key, new_name).ok()?;
        let text = format!(
            "{old} was taken on another server while this one was cut off: you are now {new_name}"
        );
        if let Some(user) = super::lock(&self.state).users.get(&new_key) {
            user.outbox.send_borrowed(&Notice::Other(&text).into());
        }
        Some(new_key)
    }
}

/// A line as another instance sent it, with its line ending.
fn raw_chunk(line: &str) -> crate::queue::Chunk {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    bytes.into()
}

/// Consecutive relayed events of one room, to be delivered together.
#[derive(Default)]
struct Run {
    room_key: String,
    events: Vec<Arc<RoomEvent>>,
}

impl Run {
    /// Most events delivered as one chunk.
    const MOST: usize = 256;

    fn add(&mut self, state: &State, room_key: String, event: Arc<RoomEvent>, change: &mut Change) {
        if self.room_key != room_key || self.events.len() >= Run::MOST {
            self.flush(state, change);
            self.room_key = room_key;
        }
        self.events.push(event);
    }

    fn flush(&mut self, state: &State, change: &mut Change) {
        if !self.events.is_empty() {
            state.deliver_run(&self.room_key, &self.events, change);
            self.events.clear();
        }
    }
}

impl State {
    /// Takes in an event the bus brought: numbered past what its room has seen, it is
    /// kept for joiners; returned with its room's key if it is to be shown to the room's
    /// members here.
    fn admit_relayed(&mut self, event: RoomEvent) -> Option<(String, Arc<RoomEvent>)> {
        let room_key = fold_case(&event.room);
        let replay_lines = self.rules.replay_lines;
        let Some(room) = self.rooms.get_mut(&room_key) else {
            // Nobody here is in the room: its last lines are kept for whoever joins it.
            self.remember_dormant(&room_key, event, replay_lines);
            return None;
        };
        if event.seq < room.recent.next_seq {
            return None;
        }
        room.recent.next_seq = event.seq + 1;
        let keep = room.keeps(&self.rules);
        let event = Arc::new(event);
        room.remember(&event, keep);
        event.shown.then_some((room_key, event))
    }

    /// Queues `events` (of the room with key `room_key`, in order) for its members here:
    /// one chunk for all of them, and for a member who wrote some of them (who isn't sent
    /// their own chat lines), one without those.
    fn deliver_run(&self, room_key: &str, events: &[Arc<RoomEvent>], change: &mut Change) {
        let Some(room) = self.rooms.get(room_key) else {
            return;
        };
        let mut all = Vec::with_capacity(events.len() * 64);
        let mut starts = Vec::with_capacity(events.len() + 1);
        for event in events {
            starts.push(all.len());
            event.line().append_to(&mut all);
        }
        starts.push(all.len());
        // Who isn't sent which of these lines: the authors of chat lines.
        let unsent: Vec<Option<String>> = events
            .iter()
            .map(|event| (!event.echoed()).then(|| fold_case(&event.from)))
            .collect();
        let chunk: Chunk = all.as_slice().into();
        for (member_key, member) in &room.members {
            let wrote = |author: &Option<String>| author.as_ref() == Some(member_key);
            if !unsent.iter().any(wrote) {
                change.delivery.push(&member.outbox, &chunk);
                continue;
            }
            let mut own = Vec::with_capacity(all.len());
            for (index, author) in unsent.iter().enumerate() {
                if !wrote(author) {
                    own.extend_from_slice(&all[starts[index]..starts[index + 1]]);
                }
            }
            if !own.is_empty() {
                change.delivery.push(&member.outbox, &own.into());
            }
        }
    }

    /// Keeps a relayed event of a room with no member here among its dormant lines.
    fn remember_dormant(&mut self, room_key: &str, event: RoomEvent, keep: usize) {
        if !self.dormant.contains_key(room_key) {
            if self.dormant.len() >= self.rules.max_rooms
                && let Some(oldest) = self.dormant_order.pop_front()
            {
                self.dormant.remove(&oldest);
            }
            self.dormant.insert(room_key.to_string(), Recent::default());
            self.dormant_order.push_back(room_key.to_string());
        }
        let Some(recent) = self.dormant.get_mut(room_key) else {
            return;
        };
        if event.seq < recent.next_seq {
            return;
        }
        recent.next_seq = event.seq + 1;
        if keep == 0 || !event.is_history() {
            return;
        }
        if recent.lines.len() >= keep {
            recent.lines.pop_front();
        }
        recent.lines.push_back(Arc::new(event));
    }
}

impl Recent {
    /// The lines of `self` (kept here) after those of `older` (read from the store), each
    /// once, at most `keep` of them, numbered on from the later of the two.
    pub(super) fn after(self, older: Recent, keep: usize) -> Recent {
        let next_seq = self.next_seq.max(older.next_seq);
        let first_here = self.lines.front().map_or(u64::MAX, |event| event.seq);
        let mut lines: std::collections::VecDeque<Arc<RoomEvent>> = older
            .lines
            .into_iter()
            .filter(|event| event.seq < first_here)
            .chain(self.lines)
            .collect();
        while lines.len() > keep {
            lines.pop_front();
        }
        Recent { lines, next_seq }
    }
}
