//! Who holds which name, and who is in which room, across every instance that serves one
//! chat. This process's registry asks the [`Directory`] before it gives a name away, and
//! tells it about room changes; [`LocalDirectory`] is the directory of a server that is the
//! only instance.

use std::collections::HashSet;
use std::fmt::{self, Debug};
use std::sync::Mutex;

use chat_sync::lock;

use crate::registry::Whois;

/// The name is held by someone (on any instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTaken;

impl fmt::Display for NameTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "name taken")
    }
}

impl std::error::Error for NameTaken {}

/// Names and room membership shared by the instances of one chat.
///
/// `claim` may wait (on another machine, say) and is never called under the registry's
/// lock; the other methods are called under it and must not block.
pub trait Directory: Send + Sync + Debug {
    /// Claims the name with key `key` for a user of this instance. The key is
    /// [`name_key`](chat_protocol::name_key), which names that look alike share: claiming
    /// `alice` claims `аӏісе` and `ａｌｉｃｅ` too.
    ///
    /// # Errors
    /// [`NameTaken`] if someone, on any instance, holds it.
    fn claim(&self, key: &str) -> Result<(), NameTaken>;

    /// Gives a claimed name back.
    fn release(&self, key: &str);

    /// A user of this instance is now in `room` (or, with `None`, in no room); `private`
    /// if it is a private room (its members elsewhere may know, nobody else).
    fn moved(&self, name: &str, room: Option<&str>, private: bool);

    /// Members of `room` connected to other instances, as their names are shown.
    fn remote_members(&self, room_key: &str) -> Vec<String>;

    /// Rooms with members on other instances, and how many (public rooms only).
    fn remote_rooms(&self) -> Vec<(String, usize)>;

    /// Sends a private message from `from` to the user with key `to_key`, if they are on
    /// another instance; returns their name as it is shown. Called under the registry's
    /// lock: it only queues the message.
    fn relay_private(&self, from: &str, to_key: &str, text: &str) -> Option<String>;

    /// A user of another instance, by key: their name as it is shown, and their room
    /// (`None` if it is private).
    fn remote_user(&self, key: &str) -> Option<(String, Option<String>)>;

    /// Whether this instance is cut off from the others (what needs them is refused).
    fn cut_off(&self) -> bool;

    /// Asks the other instances to do `order` for a command of a user here. Called under
    /// the registry's lock: it only queues it.
    fn relay(&self, order: Order);

    /// What `/whois` says of a user of another instance, asked of their instance (waits
    /// a moment; never called under the registry's lock).
    fn remote_whois(&self, key: &str) -> Option<Whois>;

    /// Makes a private room made here known to every instance, so its key lets people in
    /// wherever they are connected. `false` if a room of that name exists elsewhere (or
    /// the others can't be asked). Waits for the answer: never called under the lock.
    fn share_private(&self, room_key: &str, room: &SharedRoom) -> bool;

    /// A private room made on another instance, if there is one by that key (waits for
    /// the answer: never called under the lock).
    fn shared_private(&self, room_key: &str) -> Option<SharedRoom>;

    /// The private room's last member anywhere left: it, its topic and its history are
    /// forgotten everywhere. Called under the lock: it only queues it.
    fn forget_private(&self, room_key: &str);
}

/// A private room as the instances share it.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedRoom {
    /// As it is shown.
    pub name: String,
    /// The key that lets people in (as [`RoomKey::as_str`](crate::room_key::RoomKey::as_str)).
    pub key: String,
    /// Its owner's [`fold_case`](chat_protocol::fold_case)d name.
    pub owner: String,
}

impl Debug for SharedRoom {
    /// Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRoom")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// What one instance asks of the others, for its users' commands that reach users
/// elsewhere. Lines are as they are sent, without their line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// `/wall`: a line for everyone on the other instances.
    Everyone { line: String },
    /// `/invite`: a line for one user elsewhere.
    User { key: String, line: String },
    /// `/kick` and `/ban`: the members elsewhere of the room with key `room_key` are told
    /// `line`, and the user `key` leaves it: for `#lobby` (`last: None`, a kick from
    /// another room), or the server, after being sent `last`.
    Remove {
        room_key: String,
        key: String,
        line: String,
        last: Option<String>,
    },
    /// `/ban` and `/unban`: the bans changed; the other instances read them again.
    Bans,
    /// `/rekey`: the private room with key `room_key` now lets in with `key` only.
    Rekey { room_key: String, key: String },
    /// `/topic`: the public room with key `room_key` now has `topic` (`None`: none), and
    /// its members elsewhere are told `line`.
    Topic {
        room_key: String,
        topic: Option<String>,
        line: String,
    },
}

/// The directory of a server that is the only instance: the names its users hold, and no
/// one elsewhere.
#[derive(Debug, Default)]
pub struct LocalDirectory {
    claimed: Mutex<HashSet<String>>,
}

impl Directory for LocalDirectory {
    fn claim(&self, key: &str) -> Result<(), NameTaken> {
        if lock(&self.claimed).insert(key.to_string()) {
            Ok(())
        } else {
            Err(NameTaken)
        }
    }

    fn release(&self, key: &str) {
        lock(&self.claimed).remove(key);
    }

    /// Nobody else needs to know: the registry itself lists this instance's members.
    fn moved(&self, _name: &str, _room: Option<&str>, _private: bool) {}

    fn remote_members(&self, _room_key: &str) -> Vec<String> {
        Vec::new()
    }

    fn remote_rooms(&self) -> Vec<(String, usize)> {
        Vec::new()
    }

    fn relay_private(&self, _from: &str, _to_key: &str, _text: &str) -> Option<String> {
        None
    }

    fn remote_user(&self, _key: &str) -> Option<(String, Option<String>)> {
        None
    }

    fn cut_off(&self) -> bool {
        false
    }

    fn relay(&self, _order: Order) {}

    fn remote_whois(&self, _key: &str) -> Option<Whois> {
        None
    }

    /// No other instance can have one.
    fn share_private(&self, _room_key: &str, _room: &SharedRoom) -> bool {
        true
    }

    fn shared_private(&self, _room_key: &str) -> Option<SharedRoom> {
        None
    }

    fn forget_private(&self, _room_key: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_claimed_once_until_released() {
        let directory = LocalDirectory::default();
        assert_eq!(directory.claim("alice"), Ok(()));
        assert_eq!(directory.claim("alice"), Err(NameTaken));
        assert_eq!(directory.claim("bob"), Ok(()));
        directory.release("alice");
        assert_eq!(directory.claim("alice"), Ok(()));
    }
}
