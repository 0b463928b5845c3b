//! The Redis store (`--redis`): registered names, history, mail, last-seen notes, topics
//! and bans kept in the cluster's Redis, so that any instance can serve any user. Every
//! call is one command or one script (atomic), on a connection from a small pool, bounded
//! by [`QUERY_TIMEOUT`]; "last seen" notes go through a background writer so no command
//! waits for them.
//!
//! History is written by the cluster's bus (its event script numbers, keeps and publishes
//! a line in one step), not here: this store only reads it.
//!
//! Keys, after the cluster's prefix (`chat:` or `chat:NAME:`): `account:KEY` (hash: name,
//! hash), `history:ROOM` (list of `SEQ\nMICROS\nKIND\nFROM\nTEXT`), `seq:ROOM` (the room's
//! last number), `mail:KEY` (list of `MICROS\nFROM\nTO\nTEXT`), `seen:KEY`
//! (`MICROS\nNAME`), `topic:ROOM`, `bans` (hash: id to ban) and `ban-id` (counter).

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat_protocol::UtcTime;
use chat_sync::lock;
use redis::{Client, Connection, IntoConnectionInfo, Script};

use super::data_dir::DataDir;
use super::{
    Account, Ban, LineKind, Mail, Posted, QUERY_TIMEOUT, RoomTail, Store, StoredLine, Unavailable,
};
use crate::event::{EventSink, RoomEvent};

/// How many history lines a room keeps in Redis (the bus trims each list to it).
pub const HISTORY_KEPT: usize = 10_000;

/// Connections kept open for the store's calls (more may be open at once; the rest are
/// closed after use).
const POOL_SIZE: usize = 4;

/// "Last seen" notes the writer may have waiting; past that, notes are dropped.
const SEEN_QUEUE: usize = 4_096;

/// Most notes the writer sends in one pipeline.
const SEEN_BATCH: usize = 500;

/// How often the same kind of failure is logged.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

/// How long closing waits for the notes still queued.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Microseconds in a second, for the times kept as microseconds.
const MICROS: i64 = 1_000_000;

/// Registers a name unless it is registered already.
static REGISTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('HSETNX', KEYS[1], 'name', ARGV[1]) == 0 then return 0 end
         redis.call('HSET', KEYS[1], 'hash', ARGV[2])
         return 1",
    )
});

/// Changes a registered name's hash (nothing if it isn't registered).
static SET_PASSWORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then
           redis.call('HSET', KEYS[1], 'hash', ARGV[1])
         end
         return 1",
    )
});

/// Leaves a message unless the mailbox holds `ARGV[2]` already.
static POST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
         redis.call('RPUSH', KEYS[1], ARGV[1])
         return 1",
    )
});

/// Takes a mailbox's messages and empties it.
static TAKE_MAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local mail = redis.call('LRANGE', KEYS[1], 0, -1)
         redis.call('DEL', KEYS[1])
         return mail",
    )
});

/// Appends a line with its own number, raising the room's counter to it (tests only).
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('RPUSH', KEYS[2], ARGV[2])
         redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
         local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
         if tonumber(ARGV[1]) > seq then redis.call('SET', KEYS[1], ARGV[1]) end
         return 1",
    )
});

/// Removes the bans whose name key is `ARGV[1]` or whose address is `ARGV[2]` (fields as
/// [`encode_ban`] writes them; `-` matches nothing), then adds `ARGV[3]` unless it is empty.
static REPLACE_BANS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local function field(text, n)
           local start = 1
           for _ = 2, n do
             local at = string.find(text, '\\n', start, true)
             if not at then return nil end
             start = at + 1
           end
           local stop = string.find(text, '\\n', start, true)
           if stop then return string.sub(text, start, stop - 1) end
           return string.sub(text, start)
         end
         local bans = redis.call('HGETALL', KEYS[1])
         for i = 1, #bans, 2 do
           local ban = bans[i + 1]
           if (ARGV[1] ~= '-' and field(ban, 1) == ARGV[1])
              or (ARGV[2] ~= '-' and field(ban, 3) == ARGV[2]) then
             redis.call('HDEL', KEYS[1], bans[i])
           end
         end
         if ARGV[3] ~= '' then
           local id = redis.call('INCR', KEYS[2])
           redis.call('HSET', KEYS[1], id, ARGV[3])
         end
         return 1",
    )
});

/// Redis could not be reached at start, or the URL is malformed.
#[derive(Debug)]
pub struct ConnectError(String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// What the store and its "last seen" writer share.
struct Shared {
    client: Client,
    /// Put before every key.
    prefix: String,
    /// Idle connections.
    pool: Mutex<Vec<Connection>>,
    failures: Failures,
}

enum SeenJob {
    Note {
        key: String,
        value: String,
    },
    /// Answers once the notes before it are written (or failed).
    Flush(SyncSender<()>),
    Close(SyncSender<()>),
}

/// The store in Redis, shared by every instance of the cluster.
pub struct RedisStore {
    shared: Arc<Shared>,
    history_days: u32,
    seen: SyncSender<SeenJob>,
    seen_thread: Mutex<Option<JoinHandle<()>>>,
    /// Whether a dropped note was logged already since the queue last had room.
    seen_dropping: AtomicBool,
    /// Held for as long as the store is open, if the server has one.
    _data_dir: Option<DataDir>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url`, keeping keys under `prefix` and history lines for
    /// `history_days` days (0: forever).
    ///
    /// # Errors
    /// If the URL is malformed, Redis doesn't answer, or the writer thread can't start.
    pub fn connect(url: &str, prefix: &str, history_days: u32) -> Result<RedisStore, ConnectError> {
        let info = url
            .into_connection_info()
            .map_err(|err| ConnectError(format!("bad --redis URL: {err}")))?;
        // The store's connections are opened often (after each failure): no extra
        // round trip to name the library each time.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = Client::open(info.set_redis_settings(settings))
            .map_err(|err| ConnectError(format!("bad --redis URL: {err}")))?;
        let connection = open(&client)
            .and_then(|mut connection| {
                redis::cmd("PING").query::<String>(&mut connection)?;
                Ok(connection)
            })
            .map_err(|err| ConnectError(format!("Redis at {url} doesn't answer: {err}")))?;
        let shared = Arc::new(Shared {
            client,
            prefix: prefix.to_string(),
            pool: Mutex::new(vec![connection]),
            failures: Failures::default(),
        });
        let (seen, queue) = mpsc::sync_channel(SEEN_QUEUE);
        let writer = Arc::clone(&shared);
        let seen_thread = thread::Builder::new()
            .name("store-seen".into())
            .spawn(move || write_seen(&writer, &queue))
            .map_err(|err| ConnectError(format!("could not start the store's writer: {err}")))?;
        Ok(RedisStore {
            shared,
            history_days,
            seen,
            seen_thread: Mutex::new(Some(seen_thread)),
            seen_dropping: AtomicBool::new(false),
            _data_dir: None,
        })
    }

    /// Holds `data_dir` (its lock) for as long as the store is open.
    #[must_use]
    pub fn holding(mut self, data_dir: DataDir) -> RedisStore {
        self._data_dir = Some(data_dir);
        self
    }

    /// Appends `line` to a room's history as the bus would, with the line's own number
    /// (nothing is numbered here); the room's counter becomes at least that number. For
    /// tests, which have no bus.
    ///
    /// # Errors
    /// [`Unavailable`] if Redis can't answer in time.
    pub fn append_history(&self, room_key: &str, line: &StoredLine) -> Result<(), Unavailable> {
        let (seq_key, list_key) = (self.key("seq", room_key), self.key("history", room_key));
        let entry = encode_history_line(line);
        self.shared.run("append history", |connection| {
            APPEND
                .key(&seq_key)
                .key(&list_key)
                .arg(line.seq)
                .arg(&entry)
                .arg(HISTORY_KEPT)
                .invoke::<i64>(connection)
                .map(drop)
        })
    }

    fn key(&self, what: &str, id: &str) -> String {
        self.shared.key(what, id)
    }

    /// A room's last `limit` lines, oldest first, without those past `history_days`.
    fn last_lines(&self, room_key: &str, limit: usize) -> Result<Vec<StoredLine>, Unavailable> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.key("history", room_key);
        let start = -isize::try_from(limit).unwrap_or(isize::MAX);
        let entries: Vec<String> = self.shared.run("read history", |connection| {
            redis::cmd("LRANGE")
                .arg(&key)
                .arg(start)
                .arg(-1)
                .query(connection)
        })?;
        let cutoff = match self.history_days {
            0 => i64::MIN,
            days => UtcTime::now().unix() - i64::from(days) * 86_400,
        };
        let mut malformed = 0usize;
        let lines: Vec<StoredLine> = entries
            .iter()
            .filter_map(|entry| {
                let line = decode_history_line(entry);
                malformed += usize::from(line.is_none());
                line
            })
            .filter(|line| line.time.unix() >= cutoff)
            .collect();
        if malformed > 0 {
            log::debug!("{malformed} malformed history entries in {key} were skipped");
        }
        Ok(lines)
    }
}

impl Shared {
    fn key(&self, what: &str, id: &str) -> String {
        format!("{}{what}:{id}", self.prefix)
    }

    /// Runs `command` on a pooled connection (a new one if none is idle). A connection
    /// open since before Redis restarted fails once, so a dropped connection is retried
    /// once on a new one; a timeout is not (the call would take twice as long).
    fn run<T>(
        &self,
        what: &str,
        mut command: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Unavailable> {
        let mut last_error = None;
        for attempt in 0..2 {
            let pooled = lock(&self.pool).pop();
            let fresh = pooled.is_none();
            let mut connection = match pooled.map_or_else(|| open(&self.client), Ok) {
                Ok(connection) => connection,
                Err(err) => {
                    last_error = Some(err);
                    break;
                }
            };
            match command(&mut connection) {
                Ok(value) => {
                    let mut pool = lock(&self.pool);
                    if pool.len() < POOL_SIZE {
                        pool.push(connection);
                    }
                    return Ok(value);
                }
                // Redis answered, with an error: the connection is fine.
                Err(err) if !err.is_io_error() && !err.is_timeout() => {
                    let mut pool = lock(&self.pool);
                    if pool.len() < POOL_SIZE {
                        pool.push(connection);
                    }
                    last_error = Some(err);
                    break;
                }
                Err(err) => {
                    let retry = attempt == 0 && !fresh && !err.is_timeout();
                    last_error = Some(err);
                    if !retry {
                        break;
                    }
                    // Every idle connection is as old as this one.
                    lock(&self.pool).clear();
                }
            }
        }
        if let Some(err) = last_error {
            self.failures.note(what, &err);
        }
        Err(Unavailable)
    }
}

impl EventSink for RedisStore {
    /// Nothing: the cluster's bus keeps history lines as it numbers and publishes them.
    fn accept(&self, _events: &[Arc<RoomEvent>]) {}
}

impl Store for RedisStore {
    fn history(&self, room_key: &str, limit: usize) -> Result<Vec<StoredLine>, Unavailable> {
        self.last_lines(room_key, limit)
    }

    fn room_tail(&self, room_key: &str, limit: usize) -> Result<RoomTail, Unavailable> {
        let lines = self.last_lines(room_key, limit)?;
        let key = self.key("seq", room_key);
        let last_seq: Option<u64> = self.shared.run("read a room's number", |connection| {
            redis::cmd("GET").arg(&key).query(connection)
        })?;
        Ok(RoomTail {
            lines,
            last_seq: last_seq.unwrap_or(0),
        })
    }

    fn account(&self, key: &str) -> Result<Option<Account>, Unavailable> {
        let key = self.key("account", key);
        let (name, hash): (Option<String>, Option<String>) =
            self.shared.run("read an account", |connection| {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg("name")
                    .arg("hash")
                    .query(connection)
            })?;
        Ok(name.zip(hash).map(|(name, hash)| Account { name, hash }))
    }

    fn register(&self, key: &str, account: Account) -> Result<bool, Unavailable> {
        let key = self.key("account", key);
        let added: i64 = self.shared.run("register a name", |connection| {
            REGISTER
                .key(&key)
                .arg(&account.name)
                .arg(&account.hash)
                .invoke(connection)
        })?;
        Ok(added == 1)
    }

    fn set_password(&self, key: &str, hash: String) -> Result<(), Unavailable> {
        let key = self.key("account", key);
        self.shared.run("change a password", |connection| {
            SET_PASSWORD
                .key(&key)
                .arg(&hash)
                .invoke::<i64>(connection)
                .map(drop)
        })
    }

    fn unregister(&self, key: &str) -> Result<(), Unavailable> {
        let (account, mail) = (self.key("account", key), self.key("mail", key));
        self.shared.run("unregister a name", |connection| {
            redis::cmd("DEL")
                .arg(&account)
                .arg(&mail)
                .query::<i64>(connection)
                .map(drop)
        })
    }

    fn post(&self, key: &str, mail: Mail, max: usize) -> Result<Posted, Unavailable> {
        let key = self.key("mail", key);
        let entry = encode_mail(&mail);
        let kept: i64 = self.shared.run("leave a message", |connection| {
            POST.key(&key).arg(&entry).arg(max).invoke(connection)
        })?;
        Ok(if kept == 1 {
            Posted::Kept
        } else {
            Posted::Full
        })
    }

    fn take_mail(&self, key: &str) -> Result<Vec<Mail>, Unavailable> {
        let key = self.key("mail", key);
        let entries: Vec<String> = self.shared.run("take messages", |connection| {
            TAKE_MAIL.key(&key).invoke(connection)
        })?;
        Ok(entries
            .iter()
            .filter_map(|entry| {
                let mail = decode_mail(entry);
                if mail.is_none() {
                    log::debug!("a malformed message in {key} was dropped");
                }
                mail
            })
            .collect())
    }

    fn note_seen(&self, key: &str, name: &str, time: UtcTime) {
        let job = SeenJob::Note {
            key: self.key("seen", key),
            value: format!("{}\n{name}", time.unix() * MICROS),
        };
        match self.seen.try_send(job) {
            Ok(()) => self.seen_dropping.store(false, Ordering::Relaxed),
            Err(TrySendError::Full(_)) => {
                if !self.seen_dropping.swap(true, Ordering::Relaxed) {
                    log::warn!("the store is behind: \"last seen\" notes are being dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn last_seen(&self, key: &str) -> Result<Option<(String, UtcTime)>, Unavailable> {
        // Notes handed over before are written first, as the SQLite store does.
        let (done, written) = mpsc::sync_channel(1);
        self.seen
            .try_send(SeenJob::Flush(done))
            .map_err(|_| Unavailable)?;
        written
            .recv_timeout(QUERY_TIMEOUT)
            .map_err(|_| Unavailable)?;
        let key = self.key("seen", key);
        let value: Option<String> = self.shared.run("read last seen", |connection| {
            redis::cmd("GET").arg(&key).query(connection)
        })?;
        Ok(value.as_deref().and_then(|value| {
            let (micros, name) = value.split_once('\n')?;
            Some((name.to_string(), from_micros(micros.parse().ok()?)))
        }))
    }

    fn topic(&self, room_key: &str) -> Result<Option<String>, Unavailable> {
        let key = self.key("topic", room_key);
        self.shared.run("read a topic", |connection| {
            redis::cmd("GET").arg(&key).query(connection)
        })
    }

    fn set_topic(&self, room_key: &str, text: Option<&str>) -> Result<(), Unavailable> {
        let key = self.key("topic", room_key);
        self.shared.run("set a topic", |connection| match text {
            Some(text) => redis::cmd("SET").arg(&key).arg(text).exec(connection),
            None => redis::cmd("DEL").arg(&key).exec(connection),
        })
    }

    fn bans(&self) -> Result<Vec<Ban>, Unavailable> {
        let key = self.shared.prefix.clone() + "bans";
        let entries: Vec<(String, String)> = self.shared.run("read the bans", |connection| {
            redis::cmd("HGETALL").arg(&key).query(connection)
        })?;
        let mut bans: Vec<(u64, Ban)> = entries
            .iter()
            .filter_map(|(id, ban)| Some((id.parse().ok()?, decode_ban(ban)?)))
            .collect();
        bans.sort_by_key(|(id, _)| *id);
        Ok(bans.into_iter().map(|(_, ban)| ban).collect())
    }

    fn add_ban(&self, ban: Ban) -> Result<(), Unavailable> {
        let name_key = ban.name.as_deref().map(chat_protocol::name_key);
        self.replace_bans(name_key.as_deref(), ban.address, &encode_ban(&ban))
    }

    fn remove_bans(
        &self,
        name_key: Option<&str>,
        address: Option<IpAddr>,
    ) -> Result<(), Unavailable> {
        self.replace_bans(name_key, address, "")
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn close(&self) {
        let Some(thread) = lock(&self.seen_thread).take() else {
            return;
        };
        let (done, finished) = mpsc::sync_channel(1);
        // A full queue still takes the close once the writer catches up.
        let sent = self.seen.send(SeenJob::Close(done)).is_ok();
        if sent && finished.recv_timeout(CLOSE_TIMEOUT).is_err() {
            log::error!("the store did not finish writing within {CLOSE_TIMEOUT:?}");
            return;
        }
        if thread.join().is_err() {
            log::error!("the store's writer panicked");
        }
    }
}

impl RedisStore {
    /// Removes the bans on a name key or an address and adds `encoded` (if not empty), in
    /// one step.
    fn replace_bans(
        &self,
        name_key: Option<&str>,
        address: Option<IpAddr>,
        encoded: &str,
    ) -> Result<(), Unavailable> {
        let (bans, ids) = (
            self.shared.prefix.clone() + "bans",
            self.shared.prefix.clone() + "ban-id",
        );
        let name_key = optional(name_key);
        let address = optional(address.map(|address| address.to_string()).as_deref());
        self.shared.run("change the bans", |connection| {
            REPLACE_BANS
                .key(&bans)
                .key(&ids)
                .arg(&name_key)
                .arg(&address)
                .arg(encoded)
                .invoke::<i64>(connection)
                .map(drop)
        })
    }
}

/// The writer's loop: "last seen" notes, in pipelines, until it is closed.
fn write_seen(shared: &Shared, queue: &Receiver<SeenJob>) {
    while let Ok(first) = queue.recv() {
        let mut notes: Vec<(String, String)> = Vec::new();
        let mut flushed: Vec<SyncSender<()>> = Vec::new();
        let mut closing = None;
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                SeenJob::Note { key, value } => notes.push((key, value)),
                SeenJob::Flush(done) => flushed.push(done),
                SeenJob::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if notes.len() >= SEEN_BATCH {
                break;
            }
            next = queue.try_recv().ok();
        }
        if !notes.is_empty() {
            let _ = shared.run("note when names were last seen", |connection| {
                let mut pipe = redis::pipe();
                for (key, value) in &notes {
                    pipe.cmd("SET").arg(key).arg(value).ignore();
                }
                pipe.exec(connection)
            });
        }
        for done in flushed {
            let _ = done.send(());
        }
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
    }
}

/// A connection with [`QUERY_TIMEOUT`] on connecting and on both directions.
fn open(client: &Client) -> redis::RedisResult<Connection> {
    let connection = client.get_connection_with_timeout(QUERY_TIMEOUT)?;
    connection.set_read_timeout(Some(QUERY_TIMEOUT))?;
    connection.set_write_timeout(Some(QUERY_TIMEOUT))?;
    Ok(connection)
}

/// Failures, so each is logged once a minute, not once a call. Never logs what was sent
/// (a password's hash may be in it).
#[derive(Default)]
struct Failures {
    state: Mutex<(Option<Instant>, u64)>,
}

impl Failures {
    fn note(&self, what: &str, err: &redis::RedisError) {
        let mut state = lock(&self.state);
        let (last_logged, since_logged) = &mut *state;
        *since_logged += 1;
        if last_logged.is_none_or(|at| at.elapsed() >= FAILURE_LOG_EVERY) {
            log::warn!(
                "the store could not {what}: {err} ({since_logged} failures since the last report)"
            );
            *last_logged = Some(Instant::now());
            *since_logged = 0;
        }
    }
}

fn from_micros(micros: i64) -> UtcTime {
    UtcTime::from_unix(micros.div_euclid(MICROS))
}

/// A history line as the bus keeps it: `SEQ\nMICROS\nKIND\nFROM\nTEXT`.
pub(crate) fn encode_history_line(line: &StoredLine) -> String {
    let kind = match line.kind {
        LineKind::Chat => "chat",
        LineKind::Action => "action",
    };
    format!(
        "{}\n{}\n{kind}\n{}\n{}",
        line.seq,
        line.time.unix() * MICROS,
        line.from,
        line.text
    )
}

/// A history line from its entry; `None` if it isn't one.
pub(crate) fn decode_history_line(entry: &str) -> Option<StoredLine> {
    let mut fields = entry.splitn(5, '\n');
    let seq = fields.next()?.parse().ok()?;
    let time = from_micros(fields.next()?.parse().ok()?);
    let kind = match fields.next()? {
        "chat" => LineKind::Chat,
        "action" => LineKind::Action,
        _ => return None,
    };
    let from = fields.next()?.to_string();
    let text = fields.next().unwrap_or("").to_string();
    Some(StoredLine {
        seq,
        time,
        from,
        kind,
        text,
    })
}

/// A message as its mailbox keeps it: `MICROS\nFROM\nTO\nTEXT`.
fn encode_mail(mail: &Mail) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        mail.time.unix() * MICROS,
        mail.from,
        mail.to,
        mail.text
    )
}

fn decode_mail(entry: &str) -> Option<Mail> {
    let mut fields = entry.splitn(4, '\n');
    let time = from_micros(fields.next()?.parse().ok()?);
    let from = fields.next()?.to_string();
    let to = fields.next()?.to_string();
    let text = fields.next()?.to_string();
    Some(Mail {
        time,
        from,
        to,
        text,
    })
}

/// An optional field: `-` for none, `+VALUE` for one (so a reason of `-` stays one).
fn optional(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("+{value}"))
}

fn parse_optional(field: &str) -> Option<Option<&str>> {
    match field {
        "-" => Some(None),
        _ => field.strip_prefix('+').map(Some),
    }
}

/// A ban as the `bans` hash keeps it: `NAME_KEY\nNAME\nADDRESS\nUNTIL\nREASON`, each field
/// [`optional`] (no field holds a newline: they come from one protocol line). The name key
/// comes first for the script that replaces bans.
fn encode_ban(ban: &Ban) -> String {
    let name_key = ban.name.as_deref().map(chat_protocol::name_key);
    let address = ban.address.map(|address| address.to_string());
    let until = ban.until.map(|until| (until.unix() * MICROS).to_string());
    [
        optional(name_key.as_deref()),
        optional(ban.name.as_deref()),
        optional(address.as_deref()),
        optional(until.as_deref()),
        optional(ban.reason.as_deref()),
    ]
    .join("\n")
}

fn decode_ban(entry: &str) -> Option<Ban> {
    let mut fields = entry.splitn(5, '\n');
    let _name_key = parse_optional(fields.next()?)?;
    let name = parse_optional(fields.next()?)?.map(String::from);
    let address = match parse_optional(fields.next()?)? {
        Some(address) => Some(address.parse().ok()?),
        None => None,
    };
    let until = match parse_optional(fields.next()?)? {
        Some(micros) => Some(from_micros(micros.parse().ok()?)),
        None => None,
    };
    let reason = parse_optional(fields.next()?)?.map(String::from);
    Some(Ban {
        name,
        address,
        until,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_read_back_as_the_bus_writes_them() {
        let line = StoredLine {
            seq: 42,
            time: UtcTime::from_unix(1_700_000_000),
            from: "bob".into(),
            kind: LineKind::Action,
            text: "waves".into(),
        };
        let entry = encode_history_line(&line);
        assert_eq!(entry, "42\n1700000000000000\naction\nbob\nwaves");
        assert_eq!(decode_history_line(&entry), Some(line));
        // The bus writes microseconds that aren't whole seconds, and empty text.
        let bus = decode_history_line("7\n1700000000123456\nchat\nalice\n").expect("parses");
        assert_eq!(bus.time, UtcTime::from_unix(1_700_000_000));
        assert_eq!(
            (bus.seq, bus.kind, bus.text.as_str()),
            (7, LineKind::Chat, "")
        );
        for bad in ["", "x\n1\nchat\na\nb", "1\n1\nshout\na\nb", "1\n1\nchat"] {
            assert_eq!(decode_history_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mail_and_bans_read_back_unchanged() {
        let mail = Mail {
            time: UtcTime::from_unix(1_000),
            from: "bob".into(),
            to: "Alice".into(),
            text: "see you".into(),
        };
        assert_eq!(decode_mail(&encode_mail(&mail)), Some(mail));
        let bans = [
            Ban {
                name: Some("Bob".into()),
                address: Some("192.0.2.7".parse().expect("ip")),
                until: Some(UtcTime::from_unix(2_000)),
                reason: Some("-".into()),
            },
            Ban {
                name: None,
                address: Some("::1".parse().expect("ip")),
                until: None,
                reason: None,
            },
        ];
        for ban in bans {
            assert_eq!(decode_ban(&encode_ban(&ban)), Some(ban));
        }
    }
}
