//! What the server remembers: room history, registered names, messages waiting for people
//! who are away, when each name was last seen. [`Store`] is the seam: the SQLite store
//! ([`SqliteStore`], one thread owning the database) serves one instance; the Redis store
//! ([`RedisStore`], with `--redis`) is shared by every instance of a cluster.
//!
//! Writes never make a caller wait for the disk: room events are handed over through the
//! [`EventSink`] and written in batches. Reads wait, but only up to [`QUERY_TIMEOUT`]; a
//! store that can't answer says so ([`Unavailable`]) and the command tells its user.

mod data_dir;
pub mod redis;
mod schema;
mod sqlite;

use std::fmt::{self, Debug};
use std::net::IpAddr;
use std::time::Duration;

use chat_protocol::UtcTime;

use crate::event::EventSink;

pub use data_dir::{DataDir, StartError, default_data_dir};
pub use redis::RedisStore;
pub use sqlite::SqliteStore;

/// The longest a command waits for the store before it answers that it is unavailable.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The store could not answer (the disk failed, the database is locked or broken, or it
/// is too far behind): the command that needed it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the store is unavailable")
    }
}

impl std::error::Error for Unavailable {}

/// What a stored line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `NAME: TEXT`.
    Chat,
    /// `* NAME TEXT`, from `/me`.
    Action,
}

/// One line of a room's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub seq: u64,
    pub time: UtcTime,
    pub from: String,
    pub kind: LineKind,
    pub text: String,
}

/// The end of a room's history: its last lines, oldest first, and its last sequence
/// number (0 if it has none), so that a room made again goes on from there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomTail {
    pub lines: Vec<StoredLine>,
    pub last_seq: u64,
}

/// A registered name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name as it was registered.
    pub name: String,
    /// Its password's Argon2id hash, as a PHC string.
    pub hash: String,
}

/// A private message waiting for its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub time: UtcTime,
    pub from: String,
    /// The recipient's name, as the sender wrote it to a registered name.
    pub to: String,
    pub text: String,
}

/// What became of a message left for someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// It waits for them.
    Kept,
    /// Their mailbox already holds as many as it may.
    Full,
}

/// A ban, as `/ban` set it: on a name (and the address its user was connected from, when
/// they were online), or on an address alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The banned name as it was spelt, if a name was banned.
    pub name: Option<String>,
    pub address: Option<IpAddr>,
    /// When it ends; `None`: until it is lifted.
    pub until: Option<UtcTime>,
    pub reason: Option<String>,
}

/// A store of what the server remembers. Names are held by their key (`name_key`), rooms
/// by theirs (`fold_case`).
pub trait Store: EventSink + Send + Sync + Debug {
    /// Up to `limit` of a room's last stored lines, oldest first (everything handed to the
    /// store before the call is included).
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time, or if the last write of history
    /// failed (what it holds would be missing the latest lines).
    fn history(&self, room_key: &str, limit: usize) -> Result<Vec<StoredLine>, Unavailable>;

    /// A room's last `limit` lines and last sequence number.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn room_tail(&self, room_key: &str, limit: usize) -> Result<RoomTail, Unavailable>;

    /// The account of a registered name, if it is registered.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn account(&self, key: &str) -> Result<Option<Account>, Unavailable>;

    /// Registers a name; `false` if it was registered already.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn register(&self, key: &str, account: Account) -> Result<bool, Unavailable>;

    /// Changes a registered name's password hash.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn set_password(&self, key: &str, hash: String) -> Result<(), Unavailable>;

    /// Unregisters a name (and drops what waits for it).
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn unregister(&self, key: &str) -> Result<(), Unavailable>;

    /// Leaves a message for a registered name, unless `max` already wait for it.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn post(&self, key: &str, mail: Mail, max: usize) -> Result<Posted, Unavailable>;

    /// Takes the messages waiting for a name, oldest first.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn take_mail(&self, key: &str) -> Result<Vec<Mail>, Unavailable>;

    /// Notes that someone called `name` was here until `time` (written later, in a batch).
    fn note_seen(&self, key: &str, name: &str, time: UtcTime);

    /// When a name was last seen, and how it was spelt then.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn last_seen(&self, key: &str) -> Result<Option<(String, UtcTime)>, Unavailable>;

    /// A public room's topic.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn topic(&self, room_key: &str) -> Result<Option<String>, Unavailable>;

    /// Sets (`Some`) or clears a public room's topic.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn set_topic(&self, room_key: &str, text: Option<&str>) -> Result<(), Unavailable>;

    /// Every ban, expired ones included (the caller ignores those).
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn bans(&self) -> Result<Vec<Ban>, Unavailable>;

    /// Replaces the bans that `ban` covers (its name, its address) with `ban`.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn add_ban(&self, ban: Ban) -> Result<(), Unavailable>;

    /// Removes the bans on a name (by its key) or on an address.
    ///
    /// # Errors
    /// [`Unavailable`] if the store can't answer in time.
    fn remove_bans(
        &self,
        name_key: Option<&str>,
        address: Option<IpAddr>,
    ) -> Result<(), Unavailable>;

    /// The size of the database on disk (with its write-ahead log), if it has a file.
    fn size(&self) -> Option<u64>;

    /// Writes everything handed over so far and stops (at shutdown).
    fn close(&self);
}
