//! The SQLite store: one thread owns the database connection. Room lines and "last seen"
//! notes arrive through a bounded queue and are written in batches, one transaction each
//! (group commit), so nothing on the hot path waits for the disk; queries go through the
//! same queue, after every write handed over before them, and wait at most
//! [`QUERY_TIMEOUT`](super::QUERY_TIMEOUT).
//!
//! The database is in WAL mode with `synchronous=NORMAL`: a committed batch survives the
//! process being killed; a batch gathers for [`COMMIT_GATHER`] after its first write and is
//! committed when the queue runs dry, so a line is on disk within milliseconds of being
//! relayed.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat_protocol::{UtcTime, fold_case};
use chat_sync::lock;
use rusqlite::{Connection, OpenFlags, params};

use super::data_dir::{DataDir, StartError};
use super::schema::{self, Found};
use super::{
    Account, Ban, LineKind, Mail, Posted, QUERY_TIMEOUT, RoomTail, Store, StoredLine, Unavailable,
};
use crate::event::{EventKind, EventSink, RoomEvent};

/// The database file in the data directory.
pub const DATABASE_FILE: &str = "chat.db";

/// Jobs the store thread may have waiting; past that, new lines are dropped (and counted)
/// rather than make anyone wait.
const QUEUE_JOBS: usize = 65_536;

/// The most rows one transaction writes.
const MAX_BATCH_ROWS: usize = 50_000;

/// How long a write waits for the writes after it before they are committed together.
const COMMIT_GATHER: Duration = Duration::from_millis(20);

/// How often old history is deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How long a write waits for a database that another process has locked.
const BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// How often the same kind of failure is logged.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

/// How long closing waits for the writes still queued.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

type Query = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Lines(Vec<Row>),
    Seen {
        key: String,
        name: String,
        time: i64,
    },
    Query(Query),
    Close(SyncSender<()>),
}

/// One line of history, as it is written.
struct Row {
    room: String,
    seq: u64,
    time: i64,
    sender: String,
    kind: LineKind,
    text: String,
}

/// The store, as the rest of the server holds it: a queue to its thread.
pub struct SqliteStore {
    jobs: SyncSender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Lines dropped since the last warning because the queue was full.
    dropped: AtomicU64,
    last_drop_warning: Mutex<Option<Instant>>,
    /// Whether the last write of history worked: while it doesn't, `history` answers
    /// [`Unavailable`].
    healthy: Arc<AtomicBool>,
    /// Held for as long as the store is open (`None` in memory).
    _data_dir: Option<DataDir>,
    /// The database file (`None` in memory).
    file: Option<PathBuf>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("healthy", &self.healthy.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or makes) the database in `data_dir`, keeping history for `history_days`
    /// days (0: forever).
    ///
    /// # Errors
    /// If the database can't be opened, isn't one of ours or is from a newer release; the
    /// file is then left as it is.
    pub fn open(data_dir: DataDir, history_days: u32) -> Result<SqliteStore, StartError> {
        let path = data_dir.path().join(DATABASE_FILE);
        let connection = open_file(&path)?;
        Ok(SqliteStore::start(connection, history_days, Some(data_dir)))
    }

    /// A store that keeps everything in memory and writes no file (`--ephemeral`).
    pub fn in_memory(history_days: u32) -> SqliteStore {
        let connection = Connection::open_in_memory().and_then(|mut connection| {
            schema::prepare(&mut connection)?;
            Ok(connection)
        });
        match connection {
            Ok(connection) => SqliteStore::start(connection, history_days, None),
            // SQLite in memory fails only if it can't allocate: then nothing is stored,
            // and every query says the store is unavailable.
            Err(err) => {
                log::error!("could not make the in-memory store: {err}");
                let (jobs, _) = mpsc::sync_channel(1);
                SqliteStore {
                    jobs,
                    thread: Mutex::new(None),
                    dropped: AtomicU64::new(0),
                    last_drop_warning: Mutex::new(None),
                    healthy: Arc::new(AtomicBool::new(false)),
                    _data_dir: None,
                    file: None,
                }
            }
        }
    }

    fn start(connection: Connection, history_days: u32, dir: Option<DataDir>) -> SqliteStore {
        let (jobs, queue) = mpsc::sync_channel(QUEUE_JOBS);
        let healthy = Arc::new(AtomicBool::new(true));
        let thread_healthy = Arc::clone(&healthy);
        let thread = thread::Builder::new().name("store".into()).spawn(move || {
            StoreThread {
                connection,
                history_days,
                healthy: thread_healthy,
                failures: Failures::default(),
            }
            .run(&queue);
        });
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(err) => {
                log::error!("could not start the store's thread: {err}");
                healthy.store(false, Ordering::Relaxed);
                None
            }
        };
        SqliteStore {
            jobs,
            thread: Mutex::new(thread),
            dropped: AtomicU64::new(0),
            last_drop_warning: Mutex::new(None),
            healthy,
            file: dir.as_ref().map(|dir| dir.path().join(DATABASE_FILE)),
            _data_dir: dir,
        }
    }

    /// Hands a write to the thread, or counts it as dropped if the queue is full.
    fn write(&self, job: Job, rows: u64) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(rows, Ordering::Relaxed) + rows;
                let mut last = lock(&self.last_drop_warning);
                if last.is_none_or(|at| at.elapsed() >= FAILURE_LOG_EVERY) {
                    *last = Some(Instant::now());
                    self.dropped.store(0, Ordering::Relaxed);
                    log::warn!("the store is behind: {dropped} lines were not stored");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Runs `query` on the store's thread, after the writes handed over before it.
    fn query<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Unavailable> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job::Query(Box::new(move |connection| {
            let _ = reply.send(query(connection));
        }));
        if self.jobs.try_send(job).is_err() {
            return Err(Unavailable);
        }
        match answer.recv_timeout(QUERY_TIMEOUT) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                log::error!("a store query failed: {err}");
                Err(Unavailable)
            }
            Err(_) => Err(Unavailable),
        }
    }
}

/// Opens the database file, refusing one that isn't ours; never replaces it.
fn open_file(path: &Path) -> Result<Connection, StartError> {
    let not_ours = |problem: String| StartError::Database {
        path: path.to_path_buf(),
        problem,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection =
        Connection::open_with_flags(path, flags).map_err(|err| not_ours(err.to_string()))?;
    match schema::prepare(&mut connection) {
        Ok(Found::Ours) => {}
        Ok(Found::Foreign(id)) => {
            return Err(not_ours(format!(
                "it belongs to another program: id {id:#x}"
            )));
        }
        Ok(Found::Newer(version)) => {
            return Err(StartError::Newer {
                path: path.to_path_buf(),
                version,
                known: schema::VERSION,
            });
        }
        Err(err) => return Err(not_ours(err.to_string())),
    }
    let settings = connection
        .pragma_update(None, "journal_mode", "WAL")
        .and_then(|()| connection.pragma_update(None, "synchronous", "NORMAL"))
        .and_then(|()| connection.busy_timeout(BUSY_TIMEOUT));
    settings.map_err(|err| not_ours(err.to_string()))?;
    Ok(connection)
}

impl EventSink for SqliteStore {
    fn accept(&self, events: &[Arc<RoomEvent>]) {
        let rows: Vec<Row> = events
            .iter()
            .filter_map(|event| {
                let (kind, text) = match &event.kind {
                    EventKind::Chat(text) => (LineKind::Chat, text),
                    EventKind::Action(text) => (LineKind::Action, text),
                    _ => return None,
                };
                Some(Row {
                    room: fold_case(&event.room),
                    seq: event.seq,
                    time: UtcTime::from_system(event.time).unix(),
                    sender: event.from.to_string(),
                    kind,
                    text: text.clone(),
                })
            })
            .collect();
        if !rows.is_empty() {
            let count = rows.len() as u64;
            self.write(Job::Lines(rows), count);
        }
    }
}

impl Store for SqliteStore {
    fn history(&self, room_key: &str, limit: usize) -> Result<Vec<StoredLine>, Unavailable> {
        let room = room_key.to_string();
        let healthy = Arc::clone(&self.healthy);
        // Run after the writes before it, so `healthy` says whether the last of them
        // worked. If it didn't (a full disk, a locked file), what the database holds is
        // missing the room's latest lines: better to say the history is unavailable than
        // to show it as if it were whole.
        self.query(move |connection| match healthy.load(Ordering::Relaxed) {
            true => last_lines(connection, &room, limit).map(Some),
            false => Ok(None),
        })?
        .ok_or(Unavailable)
    }

    fn room_tail(&self, room_key: &str, limit: usize) -> Result<RoomTail, Unavailable> {
        // Answered even while writes fail, unlike `history`: a room made from it must go
        // on from its last stored number, not from 0 over its stored lines.
        let room = room_key.to_string();
        self.query(move |connection| {
            let lines = last_lines(connection, &room, limit)?;
            let last_seq: Option<i64> = connection.query_row(
                "SELECT max(seq) FROM lines WHERE room = ?1",
                [&room],
                |row| row.get(0),
            )?;
            Ok(RoomTail {
                lines,
                last_seq: last_seq.map_or(0, |seq| u64::try_from(seq).unwrap_or(0)),
            })
        })
    }

    fn account(&self, key: &str) -> Result<Option<Account>, Unavailable> {
        let key = key.to_string();
        self.query(move |connection| {
            let mut statement =
                connection.prepare_cached("SELECT name, hash FROM accounts WHERE key = ?1")?;
            let mut rows = statement.query([&key])?;
            match rows.next()? {
                Some(row) => Ok(Some(Account {
                    name: row.get(0)?,
                    hash: row.get(1)?,
                })),
                None => Ok(None),
            }
        })
    }

    fn register(&self, key: &str, account: Account) -> Result<bool, Unavailable> {
        let key = key.to_string();
        self.query(move |connection| {
            let added = connection.execute(
                "INSERT OR IGNORE INTO accounts (key, name, hash, created) VALUES (?1, ?2, ?3, ?4)",
                params![key, account.name, account.hash, UtcTime::now().unix()],
            )?;
            Ok(added == 1)
        })
    }

    fn set_password(&self, key: &str, hash: String) -> Result<(), Unavailable> {
        let key = key.to_string();
        self.query(move |connection| {
            connection.execute(
                "UPDATE accounts SET hash = ?2 WHERE key = ?1",
                params![key, hash],
            )?;
            Ok(())
        })
    }

    fn unregister(&self, key: &str) -> Result<(), Unavailable> {
        let key = key.to_string();
        self.query(move |connection| {
            let transaction = connection.transaction()?;
            transaction.execute("DELETE FROM accounts WHERE key = ?1", [&key])?;
            transaction.execute("DELETE FROM mail WHERE recipient = ?1", [&key])?;
            transaction.commit()
        })
    }

    fn post(&self, key: &str, mail: Mail, max: usize) -> Result<Posted, Unavailable> {
        let key = key.to_string();
        self.query(move |connection| {
            let transaction = connection.transaction()?;
            let waiting: i64 = transaction.query_row(
                "SELECT count(*) FROM mail WHERE recipient = ?1",
                [&key],
                |row| row.get(0),
            )?;
            if usize::try_from(waiting).unwrap_or(usize::MAX) >= max {
                return Ok(Posted::Full);
            }
            transaction.execute(
                "INSERT INTO mail (recipient, time, sender, addressee, text)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, mail.time.unix(), mail.from, mail.to, mail.text],
            )?;
            transaction.commit()?;
            Ok(Posted::Kept)
        })
    }

    fn take_mail(&self, key: &str) -> Result<Vec<Mail>, Unavailable> {
        let key = key.to_string();
        self.query(move |connection| {
            let transaction = connection.transaction()?;
            let mail = {
                let mut statement = transaction.prepare_cached(
                    "SELECT time, sender, addressee, text FROM mail WHERE recipient = ?1
                     ORDER BY id",
                )?;
                let rows = statement.query_map([&key], |row| {
                    Ok(Mail {
                        time: UtcTime::from_unix(row.get(0)?),
                        from: row.get(1)?,
                        to: row.get(2)?,
                        text: row.get(3)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<Mail>>>()?
            };
            transaction.execute("DELETE FROM mail WHERE recipient = ?1", [&key])?;
            transaction.commit()?;
            Ok(mail)
        })
    }

    fn note_seen(&self, key: &str, name: &str, time: UtcTime) {
        let job = Job::Seen {
            key: key.to_string(),
            name: name.to_string(),
            time: time.unix(),
        };
        self.write(job, 0);
    }

    fn last_seen(&self, key: &str) -> Result<Option<(String, UtcTime)>, Unavailable> {
        let key = key.to_string();
        self.query(move |connection| {
            let mut statement =
                connection.prepare_cached("SELECT name, time FROM seen WHERE key = ?1")?;
            let mut rows = statement.query([&key])?;
            match rows.next()? {
                Some(row) => Ok(Some((row.get(0)?, UtcTime::from_unix(row.get(1)?)))),
                None => Ok(None),
            }
        })
    }

    fn topic(&self, room_key: &str) -> Result<Option<String>, Unavailable> {
        let room = room_key.to_string();
        self.query(move |connection| {
            let mut statement =
                connection.prepare_cached("SELECT text FROM topics WHERE room = ?1")?;
            let mut rows = statement.query([&room])?;
            match rows.next()? {
                Some(row) => Ok(Some(row.get(0)?)),
                None => Ok(None),
            }
        })
    }

    fn set_topic(&self, room_key: &str, text: Option<&str>) -> Result<(), Unavailable> {
        let (room, text) = (room_key.to_string(), text.map(String::from));
        self.query(move |connection| {
            match text {
                Some(text) => connection.execute(
                    "INSERT OR REPLACE INTO topics (room, text) VALUES (?1, ?2)",
                    params![room, text],
                )?,
                None => connection.execute("DELETE FROM topics WHERE room = ?1", [&room])?,
            };
            Ok(())
        })
    }

    fn bans(&self) -> Result<Vec<Ban>, Unavailable> {
        self.query(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT name, address, until, reason FROM bans ORDER BY id")?;
            let rows = statement.query_map([], |row| {
                let address: Option<String> = row.get(1)?;
                Ok(Ban {
                    name: row.get(0)?,
                    address: address.and_then(|address| address.parse().ok()),
                    until: row.get::<_, Option<i64>>(2)?.map(UtcTime::from_unix),
                    reason: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn add_ban(&self, ban: Ban) -> Result<(), Unavailable> {
        self.query(move |connection| {
            let transaction = connection.transaction()?;
            let name_key = ban.name.as_deref().map(chat_protocol::name_key);
            let address = ban.address.map(|address| address.to_string());
            delete_bans(&transaction, name_key.as_deref(), address.as_deref())?;
            transaction.execute(
                "INSERT INTO bans (name_key, name, address, until, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    name_key,
                    ban.name,
                    address,
                    ban.until.map(UtcTime::unix),
                    ban.reason
                ],
            )?;
            transaction.commit()
        })
    }

    fn remove_bans(
        &self,
        name_key: Option<&str>,
        address: Option<IpAddr>,
    ) -> Result<(), Unavailable> {
        let name_key = name_key.map(String::from);
        let address = address.map(|address| address.to_string());
        self.query(move |connection| {
            delete_bans(connection, name_key.as_deref(), address.as_deref())?;
            Ok(())
        })
    }

    fn size(&self) -> Option<u64> {
        let file = self.file.as_ref()?;
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |meta| meta.len());
        Some(size(file) + size(Path::new(&wal)))
    }

    fn close(&self) {
        let Some(thread) = lock(&self.thread).take() else {
            return;
        };
        let (done, finished) = mpsc::sync_channel(1);
        // A full queue still takes the close once the thread catches up.
        let sent = self.jobs.send(Job::Close(done)).is_ok();
        if sent && finished.recv_timeout(CLOSE_TIMEOUT).is_err() {
            log::error!("the store did not finish writing within {CLOSE_TIMEOUT:?}");
            return;
        }
        if thread.join().is_err() {
            log::error!("the store's thread panicked");
        }
    }
}

/// The last `limit` lines of a room, oldest first.
/// Deletes the bans on a name key or an address (a name's ban goes with its address).
fn delete_bans(
    connection: &Connection,
    name_key: Option<&str>,
    address: Option<&str>,
) -> rusqlite::Result<usize> {
    connection.execute(
        "DELETE FROM bans WHERE (?1 IS NOT NULL AND name_key = ?1)
                             OR (?2 IS NOT NULL AND address = ?2)",
        params![name_key, address],
    )
}

fn last_lines(
    connection: &mut Connection,
    room: &str,
    limit: usize,
) -> rusqlite::Result<Vec<StoredLine>> {
    let mut statement = connection.prepare_cached(
        "SELECT seq, time, sender, kind, text FROM lines WHERE room = ?1
         ORDER BY seq DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![room, limit], |row| {
        let kind: i64 = row.get(3)?;
        Ok(StoredLine {
            seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
            time: UtcTime::from_unix(row.get(1)?),
            from: row.get(2)?,
            kind: if kind == 1 {
                LineKind::Action
            } else {
                LineKind::Chat
            },
            text: row.get(4)?,
        })
    })?;
    let mut lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    lines.reverse();
    Ok(lines)
}

/// Failures seen by the thread, so each kind is logged once a minute, not once a batch.
#[derive(Default)]
struct Failures {
    last_logged: Option<Instant>,
    since_logged: u64,
}

impl Failures {
    fn note(&mut self, what: &str, err: &rusqlite::Error) {
        self.since_logged += 1;
        if self
            .last_logged
            .is_none_or(|at| at.elapsed() >= FAILURE_LOG_EVERY)
        {
            log::error!(
                "the store could not {what}: {err} ({} failures since the last report)",
                self.since_logged
            );
            self.last_logged = Some(Instant::now());
            self.since_logged = 0;
        }
    }
}

/// The thread that owns the database.
struct StoreThread {
    connection: Connection,
    history_days: u32,
    healthy: Arc<AtomicBool>,
    failures: Failures,
}

/// Writes gathered into one transaction.
#[derive(Default)]
struct Batch {
    lines: Vec<Row>,
    seen: Vec<(String, String, i64)>,
}

impl StoreThread {
    fn run(mut self, queue: &Receiver<Job>) {
        self.delete_old_history();
        let mut retention_due = Instant::now() + RETENTION_EVERY;
        loop {
            let wait = retention_due.saturating_duration_since(Instant::now());
            let first = match queue.recv_timeout(wait) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.delete_old_history();
                    retention_due = Instant::now() + RETENTION_EVERY;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // A write waits a moment for those that follow it: one commit for a few
            // milliseconds of chat, not one per line (which kept a core busy enough to show
            // in the relay's latency). A query ends the wait: it is answered at once, after
            // what came before it.
            let gather_until = matches!(first, Job::Lines(_) | Job::Seen { .. })
                .then(|| Instant::now() + COMMIT_GATHER);
            let mut batch = Batch::default();
            let mut next = Some(first);
            while let Some(job) = next {
                match job {
                    Job::Lines(rows) => batch.lines.extend(rows),
                    Job::Seen { key, name, time } => batch.seen.push((key, name, time)),
                    Job::Query(query) => {
                        self.commit(&mut batch);
                        query(&mut self.connection);
                    }
                    Job::Close(done) => {
                        self.commit(&mut batch);
                        let _ = done.send(());
                        return;
                    }
                }
                if batch.lines.len() >= MAX_BATCH_ROWS {
                    break;
                }
                next = match queue.try_recv() {
                    Ok(job) => Some(job),
                    Err(_) => {
                        let left = gather_until
                            .and_then(|until| until.checked_duration_since(Instant::now()));
                        match left {
                            Some(left) if !batch.lines.is_empty() || !batch.seen.is_empty() => {
                                queue.recv_timeout(left).ok()
                            }
                            _ => None,
                        }
                    }
                };
            }
            self.commit(&mut batch);
        }
    }

    /// Writes a batch in one transaction; on failure the batch is dropped and logged.
    fn commit(&mut self, batch: &mut Batch) {
        if batch.lines.is_empty() && batch.seen.is_empty() {
            return;
        }
        let lines = batch.lines.len();
        match self.write(batch) {
            Ok(()) => self.healthy.store(true, Ordering::Relaxed),
            Err(err) => {
                self.healthy.store(false, Ordering::Relaxed);
                self.failures
                    .note(&format!("store {lines} lines of history"), &err);
            }
        }
        batch.lines.clear();
        batch.seen.clear();
    }

    fn write(&mut self, batch: &Batch) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT OR REPLACE INTO lines (room, seq, time, sender, kind, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut room =
                transaction.prepare_cached("INSERT OR IGNORE INTO rooms (key) VALUES (?1)")?;
            let mut last_room: Option<&str> = None;
            for row in &batch.lines {
                if last_room != Some(row.room.as_str()) {
                    room.execute([&row.room])?;
                    last_room = Some(&row.room);
                }
                let kind = match row.kind {
                    LineKind::Chat => 0,
                    LineKind::Action => 1,
                };
                let seq = i64::try_from(row.seq).unwrap_or(i64::MAX);
                insert.execute(params![row.room, seq, row.time, row.sender, kind, row.text])?;
            }
            let mut seen = transaction.prepare_cached(
                "INSERT OR REPLACE INTO seen (key, name, time) VALUES (?1, ?2, ?3)",
            )?;
            for (key, name, time) in &batch.seen {
                seen.execute(params![key, name, time])?;
            }
        }
        transaction.commit()
    }

    fn delete_old_history(&mut self) {
        if self.history_days == 0 {
            return;
        }
        let cutoff = UtcTime::now().unix() - i64::from(self.history_days) * 86_400;
        match self
            .connection
            .execute("DELETE FROM lines WHERE time < ?1", [cutoff])
        {
            Ok(0) => {}
            Ok(deleted) => log::info!(
                "deleted {deleted} lines of history older than {} days",
                self.history_days
            ),
            Err(err) => self.failures.note("delete old history", &err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn chat(room: &str, seq: u64, from: &str, text: &str) -> Arc<RoomEvent> {
        Arc::new(RoomEvent {
            room: room.into(),
            seq,
            time: SystemTime::now(),
            from: from.into(),
            kind: EventKind::Chat(text.to_string()),
            shown: true,
        })
    }

    #[test]
    fn lines_are_stored_in_order_and_read_back_after_what_was_handed_over() {
        let store = SqliteStore::in_memory(30);
        let events: Vec<Arc<RoomEvent>> = (1..=30)
            .map(|seq| chat("#Dev", seq, "alice", &format!("line {seq}")))
            .collect();
        store.accept(&events);
        store.accept(&[Arc::new(RoomEvent {
            kind: EventKind::Joined,
            ..(*chat("#dev", 31, "bob", "")).clone()
        })]);
        let lines = store.history("#dev", 5).expect("history");
        let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
        assert_eq!(
            texts,
            ["line 26", "line 27", "line 28", "line 29", "line 30"]
        );
        let tail = store.room_tail("#dev", 2).expect("tail");
        assert_eq!(tail.last_seq, 30, "joins are not stored");
        assert_eq!(tail.lines.len(), 2);
        assert_eq!(
            store.room_tail("#nowhere", 5).expect("tail"),
            RoomTail::default()
        );
        store.close();
    }

    #[test]
    fn accounts_mail_and_seen_are_kept() {
        let store = SqliteStore::in_memory(30);
        let account = Account {
            name: "Alice".into(),
            hash: "$argon2id$fake".into(),
        };
        assert_eq!(store.register("alice", account.clone()), Ok(true));
        assert_eq!(store.register("alice", account.clone()), Ok(false));
        assert_eq!(store.account("alice"), Ok(Some(account)));
        store.set_password("alice", "$new".into()).expect("set");
        assert_eq!(
            store.account("alice").expect("account").map(|a| a.hash),
            Some("$new".into())
        );

        let mail = |text: &str| Mail {
            time: UtcTime::from_unix(1_000),
            from: "bob".into(),
            to: "Alice".into(),
            text: text.into(),
        };
        assert_eq!(store.post("alice", mail("one"), 2), Ok(Posted::Kept));
        assert_eq!(store.post("alice", mail("two"), 2), Ok(Posted::Kept));
        assert_eq!(store.post("alice", mail("three"), 2), Ok(Posted::Full));
        let taken = store.take_mail("alice").expect("mail");
        assert_eq!(taken, [mail("one"), mail("two")]);
        assert_eq!(store.take_mail("alice"), Ok(Vec::new()));

        store.note_seen("alice", "Alice", UtcTime::from_unix(5_000));
        assert_eq!(
            store.last_seen("alice"),
            Ok(Some(("Alice".to_string(), UtcTime::from_unix(5_000))))
        );
        store.unregister("alice").expect("unregister");
        assert_eq!(store.account("alice"), Ok(None));
        store.close();
    }
}
