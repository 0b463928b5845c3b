//! What rooms have besides their members: private rooms and their keys, owners, topics,
//! invitations, kicks, and the server-wide notices and removals admins make.

use std::net::{IpAddr, Shutdown};
use std::sync::Arc;

use chat_protocol::{self as protocol, LOBBY, Notice, ServerLine, fold_case, name_key};

use super::{Change, MoveError, Private, Registry, Room, State};
use crate::directory::{Order, SharedRoom};
use chat_sync::lock;

use crate::queue::{Chunk, Outbox, line_chunk};
use crate::room_key::{RoomKey, random_room_name};

/// Why a room command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomError {
    /// `/create` with the name of a room that exists.
    Exists(String),
    /// Only the owner of this (private) room may do that.
    NotOwner(String),
    /// The command is for private rooms and this one is public.
    Public(String),
    /// Nobody online has that name.
    NoSuchUser,
    /// The name isn't in the room.
    NotInRoom { name: String, room: String },
    /// Only an admin may do that here.
    NotAdmin,
    /// The room can't be made (bad name, too many rooms, no randomness).
    Move(MoveError),
    /// The system's random source failed.
    NoRandom,
}

/// What `/invite NAME` did: the room the invitation is to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub room: String,
    pub name: String,
}

/// Whom a kick removed, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kicked {
    pub name: String,
    pub room: String,
}

impl Registry {
    /// `/create [ROOM]`: makes a private room (a random name if `room` is `None`) owned
    /// by `key`'s user and moves them into it. Returns its name and key.
    ///
    /// # Errors
    /// If the name is invalid or taken, rooms are at their limit, or there is no random
    /// source.
    pub fn create(&self, key: &str, room: Option<&str>) -> Result<(String, RoomKey), RoomError> {
        let room_key_secret = RoomKey::generate().map_err(|_| RoomError::NoRandom)?;
        let chosen = match room {
            Some(room) => Some(
                protocol::parse_room(room)
                    .map_err(|reason| RoomError::Move(MoveError::InvalidRoom(reason)))?,
            ),
            None => None,
        };
        // A random name that happens to be taken is drawn again.
        let mut drawn = Vec::new();
        if chosen.is_none() {
            for _ in 0..4 {
                drawn.push(random_room_name().map_err(|_| RoomError::NoRandom)?);
            }
        }
        let remote_check = chosen
            .as_ref()
            .map(|room| self.directory.remote_members(&fold_case(room)));
        if remote_check
            .as_ref()
            .is_some_and(|remote| !remote.is_empty())
            && let Some(room) = &chosen
        {
            return Err(RoomError::Exists(room.clone()));
        }
        // The name is the cluster's (its other instances are asked first); a single
        // instance only checks its own rooms, under the lock.
        let owner = {
            let state = lock(&self.state);
            if let Some(room) = &chosen
                && state.rooms.contains_key(&fold_case(room))
            {
                return Err(RoomError::Exists(room.clone()));
            }
            state
                .users
                .get(key)
                .map(|user| fold_case(&user.name))
                .ok_or(RoomError::NoSuchUser)?
        };
        let share = |name: &str| {
            let shared = SharedRoom {
                name: name.to_string(),
                key: room_key_secret.as_str().to_string(),
                owner: owner.clone(),
            };
            self.directory.share_private(&fold_case(name), &shared)
        };
        let shared = match &chosen {
            Some(room) if !share(room) => return Err(RoomError::Exists(room.clone())),
            Some(room) => vec![room.clone()],
            None => match drawn.iter().find(|room| share(room)) {
                Some(room) => vec![room.clone()],
                None => return Err(RoomError::NoRandom),
            },
        };
        let made = self.with_state(|state, change| {
            let name = match &chosen {
                Some(room) => {
                    if state.rooms.contains_key(&fold_case(room)) {
                        return Err(RoomError::Exists(room.clone()));
                    }
                    room.clone()
                }
                None => shared
                    .iter()
                    .find(|room| !state.rooms.contains_key(&fold_case(room)))
                    .cloned()
                    .ok_or(RoomError::NoRandom)?,
            };
            if !state.has_room_for_one_more(key) {
                let max = state.rules.max_rooms;
                return Err(RoomError::Move(MoveError::TooManyRooms(max)));
            }
            let Some(user) = state.users.get(key) else {
                return Err(RoomError::NoSuchUser);
            };
            let mut room = Room::new(&name, super::Recent::default(), None);
            room.private = Some(Private {
                key: room_key_secret.clone(),
                owner: fold_case(&user.name),
            });
            let room_key = fold_case(&name);
            state.relocate(
                &*self.directory,
                key,
                &room_key,
                Some(room),
                &[],
                true,
                change,
            );
            Ok((name, room_key_secret.clone()))
        });
        if made.is_err() {
            // Shared for nothing: the room was not made after all.
            for room in &shared {
                self.directory.forget_private(&fold_case(room));
            }
        }
        made
    }

    /// The user's room, and its key if it is private (for `/invite` alone).
    pub fn room_key(&self, key: &str) -> Option<(String, Option<RoomKey>)> {
        let state = lock(&self.state);
        let user = state.users.get(key)?;
        let room = state.rooms.get(&user.room)?;
        let secret = room.private.as_ref().map(|private| private.key.clone());
        Some((room.name.to_string(), secret))
    }

    /// `/invite NAME`: tells `to` how to join the inviter's room (with its key, if it is
    /// private).
    ///
    /// # Errors
    /// If nobody online has the name.
    pub fn invite(&self, key: &str, to: &str) -> Result<Invitation, RoomError> {
        self.with_state(|state, change| {
            let inviter = state.users.get(key).ok_or(RoomError::NoSuchUser)?;
            let room = state
                .rooms
                .get(&inviter.room)
                .ok_or(RoomError::NoSuchUser)?;
            let notice: ServerLine<'_> = Notice::Invited {
                from: &inviter.name,
                room: &room.name,
                key: room.private.as_ref().map(|private| private.key.as_str()),
            }
            .into();
            let target_key = name_key(to);
            let name = match state.users.get(&target_key) {
                Some(target) => {
                    change.delivery.push(&target.outbox, &line_chunk(&notice));
                    target.name.to_string()
                }
                None => {
                    let (shown, _) = self
                        .directory
                        .remote_user(&target_key)
                        .ok_or(RoomError::NoSuchUser)?;
                    self.directory.relay(Order::User {
                        key: target_key,
                        line: notice.to_string(),
                    });
                    shown
                }
            };
            Ok(Invitation {
                room: room.name.to_string(),
                name,
            })
        })
    }

    /// `/rekey`: a new key for the owner's private room; the old one stops working.
    ///
    /// # Errors
    /// If the room is public or the user doesn't own it, or there is no random source.
    pub fn rekey(&self, key: &str) -> Result<(String, RoomKey), RoomError> {
        let fresh = RoomKey::generate().map_err(|_| RoomError::NoRandom)?;
        let mut state = lock(&self.state);
        let State {
            users, rooms, bus, ..
        } = &mut *state;
        let user = users.get(key).ok_or(RoomError::NoSuchUser)?;
        let room = rooms.get_mut(&user.room).ok_or(RoomError::NoSuchUser)?;
        let Some(private) = &mut room.private else {
            return Err(RoomError::Public(room.name.to_string()));
        };
        if private.owner != fold_case(&user.name) {
            return Err(RoomError::NotOwner(room.name.to_string()));
        }
        private.key = fresh.clone();
        if *bus {
            self.directory.relay(Order::Rekey {
                room_key: user.room.clone(),
                key: fresh.as_str().to_string(),
            });
        }
        Ok((room.name.to_string(), fresh))
    }

    /// `/topic`: the user's room's topic line.
    pub fn topic(&self, key: &str) -> Option<Chunk> {
        let state = lock(&self.state);
        let user = state.users.get(key)?;
        let room = state.rooms.get(&user.room)?;
        let line = match &room.topic {
            Some(text) => Notice::Topic {
                room: &room.name,
                text,
            }
            .into(),
            None => Notice::NoTopic { room: &room.name }.into(),
        };
        let line: ServerLine<'_> = line;
        Some(line_chunk(&line))
    }

    /// `/topic TEXT` (`None` clears it): sets the user's room's topic and tells the room.
    /// Returns the key of the room if it is public (its topic is then to be stored).
    ///
    /// # Errors
    /// If the room is private and the user doesn't own it.
    pub fn set_topic(&self, key: &str, text: Option<&str>) -> Result<Option<String>, RoomError> {
        self.with_state(|state, change| {
            let user = state.users.get(key).ok_or(RoomError::NoSuchUser)?;
            let name = Arc::clone(&user.name);
            let room_key = user.room.clone();
            let room = state
                .rooms
                .get_mut(&room_key)
                .ok_or(RoomError::NoSuchUser)?;
            if let Some(private) = &room.private
                && private.owner != fold_case(&name)
            {
                return Err(RoomError::NotOwner(room.name.to_string()));
            }
            room.topic = text.map(Arc::from);
            let notice = match text {
                Some(text) => Notice::TopicSet {
                    name: &name,
                    room: &room.name,
                    text,
                },
                None => Notice::TopicCleared {
                    name: &name,
                    room: &room.name,
                },
            };
            let line: ServerLine<'_> = notice.into();
            let chunk = line_chunk(&line);
            for member in room.members.values() {
                change.delivery.push(&member.outbox, &chunk);
            }
            // In a cluster a private room's topic is shared too, for its members elsewhere.
            if room.private.is_some() && !state.bus {
                return Ok(None);
            }
            self.directory.relay(Order::Topic {
                room_key: room_key.clone(),
                topic: text.map(str::to_string),
                line: line.to_string(),
            });
            Ok(Some(room_key))
        })
    }

    /// `/kick NAME [REASON]` by `key`'s user (`admin`: a server admin): NAME leaves the
    /// kicker's room for `#lobby` (or, kicked from `#lobby`, the server), the room told
    /// `* NAME was kicked by KICKER (REASON)`.
    ///
    /// # Errors
    /// If NAME isn't in the kicker's room, or the kicker may not kick there.
    pub fn kick(
        &self,
        key: &str,
        name: &str,
        reason: Option<&str>,
        admin: bool,
    ) -> Result<Kicked, RoomError> {
        let target_key = name_key(name);
        let lobby = fold_case(LOBBY);
        let remote = self.directory.remote_members(&lobby);
        let done = self.with_state(|state, change| {
            let kicker = state.users.get(key).ok_or(RoomError::NoSuchUser)?;
            let kicker_name = Arc::clone(&kicker.name);
            let room_key = kicker.room.clone();
            let room = state.rooms.get(&room_key).ok_or(RoomError::NoSuchUser)?;
            let owner = room
                .private
                .as_ref()
                .is_some_and(|private| private.owner == fold_case(&kicker_name));
            if !owner && !admin {
                return Err(match room.private {
                    Some(_) => RoomError::NotOwner(room.name.to_string()),
                    None => RoomError::NotAdmin,
                });
            }
            let target = state.users.get(&target_key);
            let Some(target) = target.filter(|target| target.room == room_key) else {
                // On another instance: their instance takes them out.
                if let Some((shown, Some(their_room))) = self.directory.remote_user(&target_key)
                    && fold_case(&their_room) == room_key
                {
                    let notice = Notice::Kicked {
                        name: &shown,
                        by: &kicker_name,
                        reason,
                    };
                    let notice: ServerLine<'_> = notice.into();
                    let chunk = line_chunk(&notice);
                    let line = notice.to_string();
                    for member in room.members.values() {
                        change.delivery.push(&member.outbox, &chunk);
                    }
                    self.directory.relay(Order::Remove {
                        room_key: room_key.clone(),
                        key: target_key.clone(),
                        line,
                        last: None,
                    });
                    let kicked = Kicked {
                        name: shown,
                        room: room.name.to_string(),
                    };
                    return Ok((kicked, None));
                }
                return Err(RoomError::NotInRoom {
                    name: name.to_string(),
                    room: room.name.to_string(),
                });
            };
            let kicked = Kicked {
                name: target.name.to_string(),
                room: room.name.to_string(),
            };
            let notice = Notice::Kicked {
                name: &target.name,
                by: &kicker_name,
                reason,
            };
            let line = line_chunk(&notice.into());
            for member in room.members.values() {
                change.delivery.push(&member.outbox, &line);
            }
            if room_key == lobby {
                return Ok((
                    kicked,
                    state.remove_user(&*self.directory, &target_key, change),
                ));
            }
            state.relocate(
                &*self.directory,
                &target_key,
                &lobby,
                None,
                &remote,
                false,
                change,
            );
            Ok((kicked, None))
        })?;
        let (kicked, removed) = done;
        if let Some(outbox) = removed {
            close(&outbox, None);
        }
        Ok(kicked)
    }

    /// Removes the user with key `key` from the server (a ban): their room is told
    /// `notice`, they are sent `notice` and then `last`, and their connection is closed.
    /// Returns the address they were connected from, if they were online.
    pub fn remove(
        &self,
        key: &str,
        notice: &Notice<'_>,
        last: &ServerLine<'_>,
    ) -> Option<Option<IpAddr>> {
        let line = line_chunk(&notice.clone().into());
        let outbox = self.with_state(|state, change| {
            let room_key = state.users.get(key)?.room.clone();
            if let Some(room) = state.rooms.get(&room_key) {
                for member in room.members.values() {
                    change.delivery.push(&member.outbox, &line);
                }
            }
            state.remove_user(&*self.directory, key, change)
        })?;
        let address = outbox
            .transport()
            .peer_addr()
            .ok()
            .map(|address| address.ip());
        close(&outbox, Some(last));
        Some(address)
    }

    /// The address someone online is connected from.
    pub fn address_of(&self, key: &str) -> Option<IpAddr> {
        let state = lock(&self.state);
        let user = state.users.get(key)?;
        let address = user.outbox.transport().peer_addr().ok()?;
        Some(address.ip())
    }

    /// The members of the user's room (their outboxes), to tell them all something.
    pub fn room_outboxes(&self, key: &str) -> Vec<Arc<Outbox>> {
        let state = lock(&self.state);
        let Some(user) = state.users.get(key) else {
            return Vec::new();
        };
        state.rooms.get(&user.room).map_or_else(Vec::new, |room| {
            room.members
                .values()
                .map(|member| Arc::clone(&member.outbox))
                .collect()
        })
    }

    /// `/wall`: a notice to everyone, on every instance.
    pub fn wall_everywhere(&self, line: &ServerLine<'_>) {
        self.wall(line);
        self.directory.relay(Order::Everyone {
            line: line.to_string(),
        });
    }

    /// `/ban` of someone on another instance: this instance's members of their room are
    /// told `notice`, and their instance sends them `last` and closes their connection.
    /// Returns whether they were online elsewhere.
    pub fn remove_remote(&self, key: &str, notice: &Notice<'_>, last: &ServerLine<'_>) -> bool {
        let Some((_, room)) = self.directory.remote_user(key) else {
            return false;
        };
        let notice: ServerLine<'_> = notice.clone().into();
        let room_key = room.as_deref().map(fold_case).unwrap_or_default();
        if !room_key.is_empty() {
            let chunk = line_chunk(&notice);
            self.with_state(|state, change| {
                if let Some(room) = state.rooms.get(&room_key) {
                    for member in room.members.values() {
                        change.delivery.push(&member.outbox, &chunk);
                    }
                }
            });
        }
        self.directory.relay(Order::Remove {
            room_key,
            key: key.to_string(),
            line: notice.to_string(),
            last: Some(last.to_string()),
        });
        true
    }

    /// Tells the other instances that the bans changed.
    pub fn bans_changed(&self) {
        self.directory.relay(Order::Bans);
    }

    /// A notice to everyone on this instance.
    pub fn wall(&self, line: &ServerLine<'_>) {
        let line = line_chunk(line);
        self.with_state(|state, change| {
            for user in state.users.values() {
                change.delivery.push(&user.outbox, &line);
            }
        });
    }

    /// Users and rooms here, and lines relayed per second over the last minute.
    pub fn counts(&self) -> (usize, usize, f64) {
        let mut state = lock(&self.state);
        let (users, rooms) = (state.users.len(), state.rooms.len());
        (users, rooms, state.relayed.per_second())
    }
}

impl State {
    /// Takes a user off the server (their name freed, their room left without a word);
    /// returns their outbox.
    pub(super) fn remove_user(
        &mut self,
        directory: &dyn crate::directory::Directory,
        key: &str,
        change: &mut Change,
    ) -> Option<Arc<Outbox>> {
        let user = self.users.remove(key)?;
        directory.release(key);
        directory.moved(&user.name, None, false);
        if let Some(room) = self.rooms.get_mut(&user.room) {
            room.members.remove(&fold_case(&user.name));
        }
        self.hand_over(directory, &user.room, change);
        self.remove_if_empty(directory, &user.room);
        Some(user.outbox)
    }
}

/// Ends a connection the server removed: `last` (if any) is its final line; its thread,
/// blocked reading, sees the end of input and leaves (having nothing left to leave).
fn close(outbox: &Arc<Outbox>, last: Option<&ServerLine<'_>>) {
    if let Some(last) = last {
        outbox.send_borrowed(last);
    }
    outbox.finish();
    outbox.transport().shutdown(Shutdown::Read);
}
