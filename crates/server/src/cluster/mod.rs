//! Several instances as one server, through Redis (`--redis`): the names this instance's
//! users hold (leases in Redis), the bus that carries every public room's events to every
//! instance in one order, the view of who is on the other instances, and what happens when
//! an instance or Redis goes away. docs/cluster.md describes the keys and channels.
//!
//! Four threads: the publisher sends what this instance has to tell (events, moves,
//! private messages, released names) in pipelines; the subscriber hears the bus; the
//! deliverer hands what it heard to the registry, the events that came together at once;
//! the keeper renews leases and notices instances that died.

mod bus;
mod names;
mod orders;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat_sync::lock;
use redis::{Client, Connection};

use crate::directory::Directory;
use crate::event::{EventSink, RoomEvent};
use crate::queue::Outbox;
use crate::registry::{Registry, Whois};
use crate::room_key::RoomKey;

pub use names::RedisDirectory;

/// How long a name, and an instance's presence, last in Redis unless renewed.
const LEASE: Duration = Duration::from_secs(10);
/// How often the keeper renews them (and looks for instances that died).
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// The longest any one Redis command may take before Redis counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Most items the publisher's queue holds; past it, senders wait for it to drain.
const MAX_QUEUED: usize = 100_000;

/// How to reach the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// Prefixes every key and channel, so that two clusters can share one Redis.
    pub name: Option<String>,
}

impl ClusterOptions {
    /// What every key and channel of this cluster starts with: `chat:`, or `chat:NAME:`.
    pub fn prefix(&self) -> String {
        match &self.name {
            Some(name) => format!("chat:{name}:"),
            None => "chat:".to_string(),
        }
    }
}

/// Redis could not be reached or refused what was asked.
#[derive(Debug)]
pub struct ClusterError(String);

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

impl From<redis::RedisError> for ClusterError {
    fn from(err: redis::RedisError) -> ClusterError {
        ClusterError(err.to_string())
    }
}

/// Something this instance has to tell the cluster, in the order it happened.
#[derive(Debug)]
enum Outgoing {
    /// A public room's event, to be numbered and published (and kept, if it is history).
    Event(Arc<RoomEvent>),
    /// A user here is now in a room (a [`names::place_field`]).
    Moved { name: String, place: String },
    /// A private room's last member left: its keys go, and every instance forgets what
    /// it kept of it.
    ForgetPrivate(String),
    /// A private room's new key: kept in Redis, then `message` tells the others.
    Rekey { room_key: String, message: String },
    /// A private message to a user on another instance.
    Private {
        from: String,
        to_key: String,
        text: String,
    },
    /// A name this instance's user gave back.
    Released(String),
    /// A message for the bus as it is (see `orders`).
    Publish(String),
}

/// This instance's part of the cluster.
pub struct Cluster {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

/// What the cluster's threads, its directory and its sink share.
struct Shared {
    /// This instance's id (random), in the log, in `/stats` and in Redis.
    id: String,
    /// Put before every key and channel.
    prefix: String,
    client: Client,
    /// The connection claims and the keeper use (the publisher and subscriber have their
    /// own).
    link: Mutex<Option<Connection>>,
    queue: Mutex<VecDeque<Outgoing>>,
    queued: Condvar,
    directory: Arc<RedisDirectory>,
    /// Redis answers, and public rooms' events go through the bus.
    up: AtomicBool,
    stopping: AtomicBool,
    registry: OnceLock<Registry>,
    /// Instances alive at the last look, this one included.
    size: Mutex<usize>,
    /// `/whois` questions waiting for their answers, by number.
    questions: Mutex<HashMap<u64, mpsc::SyncSender<Whois>>>,
    next_question: AtomicU64,
    /// Reads the bans again when another instance changed them.
    bans_changed: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Tells a private room's members here its new links (another instance rekeyed it).
    rekeyed: OnceLock<Box<Rekeyed>>,
}

/// What tells a private room's members (`room`, their outboxes) its new key.
type Rekeyed = dyn Fn(&str, &[Arc<Outbox>], &RoomKey) + Send + Sync;

impl Cluster {
    /// Connects to the Redis at `options.url` and checks that it answers.
    ///
    /// # Errors
    /// If the URL is malformed or Redis doesn't answer.
    pub fn connect(options: &ClusterOptions) -> Result<Arc<Cluster>, ClusterError> {
        let client = Client::open(options.url.as_str())
            .map_err(|err| ClusterError(format!("bad --redis URL: {err}")))?;
        let mut link = open(&client).map_err(|err| {
            ClusterError(format!("Redis at {} doesn't answer: {err}", options.url))
        })?;
        redis::cmd("PING").query::<String>(&mut link)?;
        let prefix = options.prefix();
        let id = instance_id().map_err(|err| ClusterError(format!("no random source: {err}")))?;
        let directory = Arc::new(RedisDirectory::new());
        let shared = Arc::new(Shared {
            id,
            prefix,
            client,
            link: Mutex::new(Some(link)),
            queue: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            directory: Arc::clone(&directory),
            up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            registry: OnceLock::new(),
            size: Mutex::new(1),
            questions: Mutex::new(HashMap::new()),
            next_question: AtomicU64::new(0),
            bans_changed: OnceLock::new(),
            rekeyed: OnceLock::new(),
        });
        directory.attach(Arc::downgrade(&shared));
        Ok(Arc::new(Cluster {
            shared,
            threads: Mutex::new(Vec::new()),
        }))
    }

    /// This instance's id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// How many instances are alive (at the last look), this one included.
    pub fn size(&self) -> usize {
        *lock(&self.shared.size)
    }

    /// Whether the other instances are reachable now.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// The directory of names and members across the cluster.
    pub fn directory(&self) -> Arc<dyn Directory> {
        Arc::clone(&self.shared.directory) as _
    }

    /// Has `reload` read the bans again whenever another instance changes them.
    pub fn on_bans_changed(&self, reload: impl Fn() + Send + Sync + 'static) {
        let _ = self.shared.bans_changed.set(Box::new(reload));
    }

    /// Has `tell` give a private room's members here its new links whenever another
    /// instance rekeys it.
    pub fn on_rekeyed(
        &self,
        tell: impl Fn(&str, &[Arc<Outbox>], &RoomKey) + Send + Sync + 'static,
    ) {
        let _ = self.shared.rekeyed.set(Box::new(tell));
    }

    /// The sink that hands public rooms' events to the bus.
    pub fn sink(&self) -> Arc<dyn EventSink> {
        Arc::new(BusSink(Arc::clone(&self.shared)))
    }

    /// Starts the threads, for `registry`'s users. Returns once this instance hears the
    /// bus (or, if Redis is unreachable meanwhile, at once: it joins when Redis returns).
    ///
    /// # Errors
    /// If a thread can't be started.
    pub fn start(&self, registry: Registry) -> std::io::Result<()> {
        let _ = self.shared.registry.set(registry);
        let mut threads = lock(&self.threads);
        let shared = Arc::clone(&self.shared);
        threads.push(
            thread::Builder::new()
                .name("cluster-publisher".into())
                .spawn(move || bus::publish(&shared))?,
        );
        let shared = Arc::clone(&self.shared);
        threads.push(
            thread::Builder::new()
                .name("cluster-subscriber".into())
                .spawn(move || bus::subscribe(&shared))?,
        );
        let shared = Arc::clone(&self.shared);
        threads.push(
            thread::Builder::new()
                .name("cluster-keeper".into())
                .spawn(move || names::keep(&shared))?,
        );
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        while !self.is_up() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        log::info!(
            "instance {} joined the cluster ({} instances)",
            self.shared.id,
            self.size()
        );
        Ok(())
    }

    /// Leaves the cluster (at shutdown): what is queued is sent, and this instance's names
    /// and presence are given back at once.
    pub fn stop(&self) {
        let shared = &self.shared;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        while !lock(&shared.queue).is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        shared.stopping.store(true, Ordering::SeqCst);
        shared.queued.notify_all();
        for thread in lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
        if let Err(err) = names::leave(shared) {
            log::warn!("could not tell the cluster this instance is leaving: {err}");
        }
    }
}

impl Shared {
    fn key(&self, what: &str, id: &str) -> String {
        format!("{}{what}:{id}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}bus", self.prefix)
    }

    fn registry(&self) -> Option<&Registry> {
        self.registry.get()
    }

    /// Queues something to tell the cluster (waiting if the queue is full).
    fn send(&self, item: Outgoing) {
        let mut queue = lock(&self.queue);
        while queue.len() >= MAX_QUEUED && !self.stopping.load(Ordering::SeqCst) {
            queue = self
                .queued
                .wait_timeout(queue, Duration::from_millis(50))
                .map_or_else(|err| err.into_inner().0, |(guard, _)| guard);
        }
        queue.push_back(item);
        drop(queue);
        self.queued.notify_all();
    }

    /// Runs `command` on the shared connection, opening it if needed (a connection open
    /// since before Redis restarted fails once, and a new one is tried). A failure marks
    /// the cluster unreachable.
    fn with_link<T>(
        &self,
        mut command: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, ClusterError> {
        let mut link = lock(&self.link);
        let mut failure = None;
        for _ in 0..2 {
            if link.is_none() {
                match open(&self.client).and_then(|mut opened| {
                    names::load_scripts(&mut opened)?;
                    Ok(opened)
                }) {
                    Ok(opened) => *link = Some(opened),
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            let Some(connection) = link.as_mut() else {
                break;
            };
            match command(connection) {
                Ok(value) => return Ok(value),
                Err(err) => {
                    *link = None;
                    failure = Some(err);
                }
            }
        }
        drop(link);
        let why = failure.map_or_else(|| "no connection".to_string(), |err| err.to_string());
        self.went_down(&why);
        Err(ClusterError(why))
    }

    /// Redis stopped answering: chat goes on among this instance's users, who are told
    /// once.
    fn went_down(&self, why: &str) {
        if self.stopping.load(Ordering::SeqCst) || !self.up.swap(false, Ordering::SeqCst) {
            return;
        }
        log::error!(
            "the cluster's Redis is unreachable ({why}): serving this instance's users alone"
        );
        self.directory.forget_others();
        *lock(&self.size) = 1;
        if let Some(registry) = self.registry() {
            registry.set_relayed(false);
            registry.tell_everyone(
                "the other servers are unreachable: chat goes on with the users of this one",
            );
        }
    }
}

/// Hands this registry's public room events to the bus.
struct BusSink(Arc<Shared>);

impl fmt::Debug for BusSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BusSink")
    }
}

impl EventSink for BusSink {
    fn accept(&self, events: &[Arc<RoomEvent>]) {
        // Numbered events were delivered here already (the bus was down as they were
        // made); only unnumbered ones wait for the bus.
        let waiting: Vec<&Arc<RoomEvent>> = events.iter().filter(|event| event.seq == 0).collect();
        if waiting.is_empty() {
            return;
        }
        if !self.0.up.load(Ordering::SeqCst) {
            if let Some(registry) = self.0.registry() {
                registry.deliver_unrelayed(waiting.iter().map(|event| (***event).clone()));
            }
            return;
        }
        for event in waiting {
            self.0.send(Outgoing::Event(Arc::clone(event)));
        }
    }
}

/// A connection to Redis with the command timeout on both directions.
fn open(client: &Client) -> redis::RedisResult<Connection> {
    let connection = client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
    connection.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    connection.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(connection)
}

/// A random id for this instance: 8 hex digits.
fn instance_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}
