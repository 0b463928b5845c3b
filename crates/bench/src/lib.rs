//! The load generator behind `chat-bench`: many clients driven by a few threads, four
//! scenarios, and a report of throughput, loss and latency.
//!
//! A run connects its clients and waits for every welcome; then client 0 sends probes until
//! every other client has seen one, so everyone is really in the room before anything is
//! measured. Each measured message carries its sender, a sequence number and its send time
//! (`~B SENDER SEQ NANOS`), so receivers count lost, duplicated and reordered deliveries and
//! the latency of each. Every run ends by itself: when all expected deliveries arrived, or at
//! its time limit.
//!
//! # Layout
//! - `marker`: the lines sent and the reading of what the server delivers (pure).
//! - `irc`: the same for an IRC server (`--proto irc`) (pure).
//! - `stats`: the latency histogram and per-sender sequence tracking (pure).
//! - `report`: the result of a run, as a table or JSON (pure).
//! - `process`: the server's memory and threads from `/proc`, our open-file limit.
//! - `client`: one connection's state and socket set-up.
//! - `tls`: the clients' TLS configuration (`--tls`): any certificate, checked signatures.
//! - `web`: WebSocket (`--web`): the upgrade, masked frames out, frames decoded in (pure).
//! - `worker`: a thread's event loop over its share of the clients.

mod client;
mod irc;
mod marker;
mod process;
mod report;
mod stats;
mod tls;
mod web;
mod worker;

pub use process::raise_fd_limit;
pub use report::Report;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chat_protocol as protocol;
use mio::{Poll, Waker};

use crate::process::Snapshot;
use crate::report::ServerUsage;
use crate::stats::{Histogram, Tally};
use crate::tls::Tls;
use crate::web::Web;
use crate::worker::{Outcome, Phase, Plan, Sending, Shared, Worker};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scenario {
    /// `clients` clients; the first `senders` send `messages` each as fast as the server
    /// takes them; everyone counts what everyone else sent.
    Fanout {
        clients: usize,
        senders: usize,
        messages: u64,
    },
    /// `clients` clients; client 0 sends `messages` at `rate` per second, by the clock.
    Latency {
        clients: usize,
        rate: f64,
        messages: u64,
    },
    /// Open `clients` connections as fast as possible, then client 0 sends one message that
    /// must reach all the others.
    Connect { clients: usize },
    /// Like fanout, but the last `slow` clients stop reading once the measurement starts;
    /// all the others must still get everything.
    SlowReader {
        clients: usize,
        senders: usize,
        messages: u64,
        slow: usize,
    },
}

impl Scenario {
    /// The name used on the command line and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Fanout { .. } => "fanout",
            Scenario::Latency { .. } => "latency",
            Scenario::Connect { .. } => "connect",
            Scenario::SlowReader { .. } => "slow-reader",
        }
    }

    fn clients(&self) -> usize {
        match *self {
            Scenario::Fanout { clients, .. }
            | Scenario::Latency { clients, .. }
            | Scenario::Connect { clients }
            | Scenario::SlowReader { clients, .. } => clients,
        }
    }
}

/// The protocol the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// This project's line protocol (docs/protocol.md): everyone is in `#lobby`.
    #[default]
    Chat,
    /// IRC (RFC 2812), enough for ngircd: `NICK`/`USER`, one `JOIN #bench`, `PRIVMSG`.
    Irc,
}

impl Proto {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Chat => "chat",
            Proto::Irc => "irc",
        }
    }
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// The servers (instances of one cluster, or one server): client `i` connects to
    /// `addrs[i % addrs.len()]`, so every room has members on each of them.
    pub addrs: Vec<SocketAddr>,
    /// The protocol the server speaks.
    pub proto: Proto,
    /// Speak TLS, with this as the server's name (sent as SNI if it is a DNS name rather
    /// than an address). Any certificate is accepted; the handshake's signatures are
    /// still checked with it.
    pub tls: Option<String>,
    /// Speak WebSocket (to a chat-server's `--web-port`), with this as the server's name
    /// in the upgrade's `Host` (an address stands for itself): `GET /ws`, then one text
    /// message per line each way. With `tls`, over TLS (wss).
    pub web: Option<String>,
    pub scenario: Scenario,
    /// Worker threads (at least 1, at most one per client).
    pub threads: usize,
    /// The whole run, connecting included, ends after this long at the latest.
    pub timeout: Duration,
    /// Client names are this prefix, this process's id, `-` and the client's number.
    pub name_prefix: String,
    /// Connections being set up (connecting or waiting for the welcome) at once.
    pub max_pending: usize,
    /// Read these processes' memory, threads and CPU time from `/proc` during the run:
    /// the servers, one per instance.
    pub server_pids: Vec<u32>,
    /// And this one's: Redis, which joins the instances (single-threaded, it may be what
    /// bounds them).
    pub redis_pid: Option<u32>,
    /// Flooding senders keep at most about this many bytes of messages in flight to each
    /// receiver (sent and not yet received); 0 sends as fast as the sockets take them.
    pub window_bytes: u64,
    /// Measured messages' text is padded to at least this many bytes.
    pub size: usize,
}

/// How far a run has come, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// `connecting`, `probing` or `measuring`.
    pub phase: &'static str,
    /// Since the run started.
    pub elapsed: Duration,
    /// Clients settled, clients probed, or deliveries so far.
    pub done: u64,
    pub total: u64,
    /// `done` per second over the last interval.
    pub rate: f64,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.phase {
            "measuring" => "deliveries",
            "probing" => "clients probed",
            _ => "clients",
        };
        write!(
            f,
            "{:6.1} s {}: {} of {} {what} ({:.0}/s)",
            self.elapsed.as_secs_f64(),
            self.phase,
            self.done,
            self.total,
            self.rate
        )
    }
}

/// Progress is reported about this often, on runs that last longer than `PROGRESS_AFTER`.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
const PROGRESS_AFTER: Duration = Duration::from_secs(2);

/// How often the driver looks at the workers' counts. Times in the report come from the
/// workers' own clocks, so this only decides how soon a phase ends after its goal is met.
const CHECK_EVERY: Duration = Duration::from_millis(1);

/// A measurement in which nothing was sent or delivered for this long (plus the interval of
/// a paced sender) ends early: whatever is missing is not coming.
const STALL_LIMIT: Duration = Duration::from_secs(2);

/// Messages per sender: a receiver that sees a sender's messages out of order tracks them
/// in a bitmap of this many bits (1.25 MB).
const MAX_MESSAGES: u64 = 10_000_000;

/// Clients times senders: the per-sender counters every receiver keeps (about 24 bytes each).
const MAX_TRACKS: usize = 20_000_000;

/// The longest message text `--size` may ask for: the server's default line limit (4096)
/// less room for the name it adds.
pub const MAX_SIZE: usize = 4000;

/// Files the process needs besides its clients' sockets (a worker's poll and waker, stdio).
const SPARE_FILES: u64 = 64;

/// Runs a scenario and reports what it measured. `progress` is called about once a second
/// on long runs.
///
/// # Errors
/// If the options make no sense, the server can't be reached, a client is refused a name,
/// not every client could join (except in the connect scenario, which reports it), or the
/// probes don't get through. Loss and timeouts during the measurement are not errors: they
/// are in the report (see [`Report::problems`]).
pub fn run(options: &Options, progress: impl FnMut(&Progress)) -> anyhow::Result<Report> {
    let plan = plan(options)?;
    let threads = options.threads.clamp(1, plan.clients);
    let read_server = |when: &str| read_watched(options, when);
    let before = read_server("before connecting")?;

    let shared = Arc::new(Shared::new(plan, threads));
    let mut wakers = Vec::new();
    let mut handles = Vec::new();
    let connect_start = now(&shared);
    for index in 0..threads {
        let poll = Poll::new().context("failed to create a poll")?;
        let indices = (index..shared.plan.clients).step_by(threads);
        let worker = Worker::new(Arc::clone(&shared), index, poll, indices);
        wakers.push(worker.waker().context("failed to create a waker")?);
        let spawned = thread::Builder::new()
            .name(format!("bench-{index}"))
            .spawn(move || worker.run());
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                stop(&shared, &wakers, handles);
                return Err(err).context("failed to start a worker thread");
            }
        }
    }

    let mut driver = Driver {
        shared: &shared,
        wakers: &wakers,
        start: Instant::now(),
        deadline: Instant::now() + options.timeout,
        progress,
        last_progress: None,
    };
    let measured = driver.measure(options, read_server);
    let outcomes = stop(&shared, &wakers, handles);
    let measured = measured?;
    let server = usages(
        options,
        before,
        measured.joined.clone(),
        measured.end.clone(),
    );
    Ok(report(
        options,
        threads,
        &shared,
        connect_start,
        measured,
        outcomes,
        server,
    ))
}

/// Reads the servers' and Redis's status (`--server-pid`, `--redis-pid`), if asked to.
fn read_watched(options: &Options, when: &str) -> anyhow::Result<Option<Snapshot>> {
    let mut pids = options.server_pids.clone();
    pids.extend(options.redis_pid);
    if pids.is_empty() {
        return Ok(None);
    }
    Snapshot::read(&pids)
        .map(Some)
        .with_context(|| format!("failed to read the servers' status {when}"))
}

/// What the three readings say of each server, and of Redis.
fn usages(
    options: &Options,
    before: Option<Snapshot>,
    joined: Option<Snapshot>,
    end: Option<Snapshot>,
) -> (Vec<ServerUsage>, Option<ServerUsage>) {
    let (Some(before), Some(joined), Some(end)) = (before, joined, end) else {
        return (Vec::new(), None);
    };
    let wall = end.at.saturating_duration_since(before.at);
    let mut all: Vec<ServerUsage> = before
        .processes
        .iter()
        .zip(&joined.processes)
        .zip(&end.processes)
        .map(|((&before, &joined), &end)| ServerUsage {
            before,
            joined,
            end,
            wall,
        })
        .collect();
    let redis = match options.redis_pid {
        Some(_) => all.pop(),
        None => None,
    };
    (all, redis)
}

/// Checks the options and works out who does what.
fn plan(options: &Options) -> anyhow::Result<Plan> {
    let clients = options.scenario.clients();
    let (senders, messages, slow, sending) = match options.scenario {
        Scenario::Fanout {
            senders, messages, ..
        } => (senders, messages, 0, Sending::Flood),
        Scenario::SlowReader {
            senders,
            messages,
            slow,
            ..
        } => (senders, messages, slow, Sending::Flood),
        Scenario::Latency { rate, messages, .. } => {
            if !(rate > 0.0 && rate.is_finite()) {
                bail!("the rate must be a positive number of messages per second");
            }
            let sending = Duration::try_from_secs_f64(messages as f64 / rate);
            if sending.is_err() || sending.is_ok_and(|sending| sending >= options.timeout) {
                let sending = messages as f64 / rate;
                bail!(
                    "sending {messages} messages at {rate}/s takes {sending:.1} s, longer than \
                     the timeout of {:?}; raise --timeout",
                    options.timeout
                );
            }
            (1, messages, 0, Sending::Paced(1e9 / rate))
        }
        Scenario::Connect { .. } => (1, 1, 0, Sending::Once),
    };
    if clients < 2 {
        bail!("a run needs at least 2 clients");
    }
    if senders == 0 || senders > clients {
        bail!("the number of senders must be between 1 and the number of clients ({clients})");
    }
    if messages == 0 || messages > MAX_MESSAGES {
        bail!("each sender must send between 1 and {MAX_MESSAGES} messages");
    }
    if slow > 0 && senders + slow > clients - 1 {
        bail!(
            "with {senders} senders, at most {} of {clients} clients can be slow (senders \
             read, and at least one other client must too)",
            (clients - 1).saturating_sub(senders)
        );
    }
    if clients.saturating_mul(senders) > MAX_TRACKS {
        bail!("clients x senders is over {MAX_TRACKS}; use fewer");
    }
    if options.timeout.is_zero() {
        bail!("the timeout must be more than 0");
    }
    let Some(&first_addr) = options.addrs.first() else {
        bail!("no server to connect to");
    };
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    if let Some(limit) = limit
        && clients as u64 + SPARE_FILES > limit
    {
        bail!("{clients} clients need more open files than this process may have ({limit})");
    }
    let name_stem = format!("{}{}-", options.name_prefix, std::process::id());
    let longest = format!("{name_stem}{}", clients - 1);
    protocol::Name::new(&longest)
        .with_context(|| format!("client names like {longest:?} are not valid names"))?;
    // An IRC nick starts with a letter and is ASCII (RFC 2812 section 2.3.1; we don't need
    // the special characters).
    let nick_like =
        longest.is_ascii() && longest.starts_with(|first: char| first.is_ascii_alphabetic());
    if options.proto == Proto::Irc && options.web.is_some() {
        bail!("--web speaks chat-server's web port, which has no IRC: leave out --proto irc");
    }
    if options.proto == Proto::Irc && !nick_like {
        bail!(
            "client names like {longest:?} are not valid IRC nicks: start --name-prefix with a letter"
        );
    }
    let (max_size, why) = match options.proto {
        Proto::Chat => (MAX_SIZE, "the server's default line limit is 4096"),
        Proto::Irc => (irc::MAX_SIZE, "an IRC line is at most 512 bytes"),
    };
    if options.size > max_size {
        bail!("messages can be at most {max_size} bytes ({why})");
    }
    // What a receiver gets per message: `NAME: ~B SENDER SEQ NANOS` (or IRC's
    // `:NAME!~NAME@HOST PRIVMSG #bench :~B ...`) and padding.
    let overhead = match options.proto {
        Proto::Chat => name_stem.len() + 2,
        Proto::Irc => 2 * name_stem.len() + irc::LINE_OVERHEAD,
    };
    let line_bytes = (overhead + 8 + 4 + 21).max(options.size) as u64;
    let window = match options.window_bytes {
        0 => 0,
        bytes => (bytes / line_bytes).max(1),
    };
    let threads = options.threads.clamp(1, clients);
    let tls = options
        .tls
        .as_deref()
        .map(|host| Tls::new(host, first_addr))
        .transpose()?;
    let web = options.web.as_deref().map(|host| {
        // An address is written as the socket address is (IPv6 in brackets).
        let hosts: Vec<String> = options
            .addrs
            .iter()
            .map(|addr| match host.parse::<std::net::IpAddr>() {
                Ok(_) => addr.to_string(),
                Err(_) => format!("{host}:{}", addr.port()),
            })
            .collect();
        Web::new(&hosts)
    });
    Ok(Plan {
        addrs: options.addrs.clone(),
        proto: options.proto,
        tls,
        web,
        clients,
        senders,
        messages,
        slow,
        sending,
        window,
        size: options.size,
        name_stem,
        pending_per_worker: options.max_pending.max(1).div_ceil(threads),
        base: Instant::now(),
    })
}

fn now(shared: &Shared) -> u64 {
    shared.plan.base.elapsed().as_nanos() as u64
}

/// Tells the workers to stop, waits for them, and collects what they measured.
fn stop(shared: &Shared, wakers: &[Waker], handles: Vec<JoinHandle<Outcome>>) -> Vec<Outcome> {
    set_phase(shared, wakers, Phase::Done);
    handles
        .into_iter()
        .filter_map(|handle| match handle.join() {
            Ok(outcome) => Some(outcome),
            Err(_) => {
                log::error!("a worker thread panicked");
                None
            }
        })
        .collect()
}

fn set_phase(shared: &Shared, wakers: &[Waker], phase: Phase) {
    shared.set_phase(phase);
    for waker in wakers {
        if let Err(err) = waker.wake() {
            log::warn!("failed to wake a worker: {err}");
        }
    }
}

/// What the driver learned beyond the workers' counts.
struct Measured {
    /// The server's status once everyone joined, and when the measurement ended (before
    /// the clients close).
    joined: Option<Snapshot>,
    end: Option<Snapshot>,
    /// Deliveries a correct server makes.
    expected: u64,
    timed_out: bool,
    stalled: bool,
}

/// Moves the workers through the phases and watches the time limit.
struct Driver<'a, P> {
    shared: &'a Shared,
    wakers: &'a [Waker],
    start: Instant,
    deadline: Instant,
    progress: P,
    last_progress: Option<(Instant, u64)>,
}

/// How waiting for a phase's goal ended.
enum Wait {
    Reached,
    TimedOut,
    /// Nothing moved for [`STALL_LIMIT`] (measuring only).
    Stalled,
}

impl<P: FnMut(&Progress)> Driver<'_, P> {
    fn measure(
        &mut self,
        options: &Options,
        read_server: impl Fn(&str) -> anyhow::Result<Option<Snapshot>>,
    ) -> anyhow::Result<Measured> {
        let shared = self.shared;
        let plan = &shared.plan;
        let clients = plan.clients as u64;
        let settled = || {
            (shared.welcomed.load(Ordering::Relaxed)
                + shared.refused.load(Ordering::Relaxed)
                + shared.failed.load(Ordering::Relaxed)
                + shared.dropped.load(Ordering::Relaxed)) as u64
        };
        let connected = self.wait("connecting", None, || (settled(), clients))?;
        let welcomed = shared.welcomed.load(Ordering::Relaxed);
        let is_connect = matches!(options.scenario, Scenario::Connect { .. });
        let timed_out = matches!(connected, Wait::TimedOut);
        if !is_connect && (welcomed < plan.clients || timed_out) {
            let within = match timed_out {
                true => format!(" within {:?}", options.timeout),
                false => String::new(),
            };
            let dropped = shared.dropped.load(Ordering::Relaxed);
            // A TLS port closes a connection that sends a name instead of a ClientHello.
            // A web port waits for an HTTP request: a name is no request.
            let hint = match (&plan.tls, &plan.web) {
                (None, _) if dropped > 0 => " (or is it a TLS port? then --tls)",
                (_, None) if timed_out && welcomed == 0 => " (or is it a web port? then --web)",
                _ => "",
            };
            bail!(
                "only {welcomed} of {} clients joined{within} ({} refused, {} failed, \
                 {dropped} dropped); is the server running at {}, with --max-clients high \
                 enough{hint}?",
                plan.clients,
                shared.refused.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed),
                plan.targets()
            );
        }
        if timed_out {
            return Ok(Measured {
                joined: None,
                end: None,
                expected: 0,
                timed_out: true,
                stalled: false,
            });
        }
        let joined = read_server("after the clients joined")?;
        if welcomed == 0 {
            bail!("no client could join the server at {}", plan.targets());
        }

        self.set_phase(Phase::Probe);
        let others = || shared.live().saturating_sub(1) as u64;
        let probed = || shared.probed.load(Ordering::Relaxed) as u64;
        if let Wait::TimedOut = self.wait("probing", None, || (probed(), others()))? {
            bail!(
                "only {} of {} clients saw client 0's probes within {:?}; are messages \
                 relayed (flood control off: --flood-rate 0)?",
                probed(),
                others(),
                options.timeout
            );
        }

        let expected = match options.scenario {
            Scenario::Connect { .. } => others(),
            _ => {
                let receivers = (plan.clients - plan.slow) as u64;
                plan.senders as u64 * plan.messages * (receivers - 1)
            }
        };
        self.last_progress = None;
        self.set_phase(Phase::Measure);
        let delivered = || shared.delivered.load(Ordering::Relaxed);
        let sent = || shared.sent.load(Ordering::Relaxed);
        let stall = STALL_LIMIT
            + match plan.sending {
                Sending::Paced(interval) => Duration::from_nanos(interval as u64),
                Sending::Flood | Sending::Once => Duration::ZERO,
            };
        let measured = self.wait("measuring", Some((stall, &sent)), || {
            (delivered(), expected)
        })?;
        Ok(Measured {
            joined,
            end: read_server("at the end")?,
            expected,
            timed_out: matches!(measured, Wait::TimedOut),
            stalled: matches!(measured, Wait::Stalled),
        })
    }

    fn set_phase(&self, phase: Phase) {
        set_phase(self.shared, self.wakers, phase);
    }

    /// Waits until `count()` gives as many done as in total, the deadline passes, or a
    /// worker fails; with `stall`, also until neither the count nor the other counter
    /// given has moved for that long.
    fn wait(
        &mut self,
        phase: &'static str,
        stall: Option<(Duration, &dyn Fn() -> u64)>,
        count: impl Fn() -> (u64, u64),
    ) -> anyhow::Result<Wait> {
        let mut last_move = (Instant::now(), None);
        loop {
            if let Some(error) = self.shared.error() {
                bail!(error);
            }
            let (done, total) = count();
            if done >= total {
                return Ok(Wait::Reached);
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Ok(Wait::TimedOut);
            }
            if let Some((limit, other)) = stall {
                let state = Some((done, other()));
                if state != last_move.1 {
                    last_move = (now, state);
                } else if now - last_move.0 >= limit {
                    return Ok(Wait::Stalled);
                }
            }
            self.report_progress(phase, done, total, now);
            thread::sleep(CHECK_EVERY);
        }
    }

    fn report_progress(&mut self, phase: &'static str, done: u64, total: u64, now: Instant) {
        let elapsed = now - self.start;
        if elapsed < PROGRESS_AFTER {
            return;
        }
        let (since, before) = match self.last_progress {
            Some((since, _)) if now - since < PROGRESS_EVERY => return,
            Some(last) => last,
            None => {
                self.last_progress = Some((now, done));
                return;
            }
        };
        self.last_progress = Some((now, done));
        (self.progress)(&Progress {
            phase,
            elapsed,
            done,
            total,
            rate: done.saturating_sub(before) as f64 / (now - since).as_secs_f64(),
        });
    }
}

/// Puts the workers' counts together.
fn report(
    options: &Options,
    threads: usize,
    shared: &Shared,
    connect_start: u64,
    measured: Measured,
    outcomes: Vec<Outcome>,
    (servers, redis): (Vec<ServerUsage>, Option<ServerUsage>),
) -> Report {
    let plan = &shared.plan;
    let mut latency = Histogram::default();
    let mut join = Histogram::default();
    let mut tally = Tally::default();
    let mut server_errors = 0;
    let mut slow_closed = BTreeSet::<usize>::new();
    let mut joined_by_instance = vec![0; plan.addrs.len()];
    let mut crossed = 0;
    for outcome in &outcomes {
        for (total, joined) in joined_by_instance
            .iter_mut()
            .zip(&outcome.joined_by_instance)
        {
            *total += joined;
        }
        crossed += outcome.crossed;
        latency.merge(&outcome.latency);
        join.merge(&outcome.join);
        tally.merge(&outcome.tally);
        server_errors += outcome.server_errors;
        slow_closed.extend(
            outcome
                .slow_closed
                .iter()
                .filter(|&&index| index < plan.clients && plan.is_slow(index)),
        );
    }
    let load = |counter: &std::sync::atomic::AtomicUsize| counter.load(Ordering::Relaxed);
    let first_send = shared.first_send.load(Ordering::Relaxed);
    let last_delivery = shared.last_delivery.load(Ordering::Relaxed);
    let elapsed = if tally.unique > 0 && first_send <= last_delivery {
        Duration::from_nanos(last_delivery - first_send)
    } else {
        Duration::ZERO
    };
    let last_welcome = shared.last_welcome.load(Ordering::Relaxed);
    let (rate, slow_disconnected) = match options.scenario {
        Scenario::Latency { rate, .. } => (Some(rate), None),
        Scenario::SlowReader { .. } => (None, Some(slow_closed.len())),
        _ => (None, None),
    };
    Report {
        scenario: options.scenario.name(),
        target: plan.targets(),
        instances: plan.addrs.len(),
        joined_by_instance,
        crossed,
        proto: plan.proto.name(),
        tls: plan.tls.is_some(),
        web: plan.web.is_some(),
        threads,
        clients: plan.clients,
        senders: plan.senders,
        messages_per_sender: plan.messages,
        slow_clients: plan.slow,
        rate,
        joined: load(&shared.welcomed),
        refused: load(&shared.refused),
        failed: load(&shared.failed),
        dropped: load(&shared.dropped),
        disconnected: load(&shared.disconnected),
        connect_time: Duration::from_nanos(last_welcome.saturating_sub(connect_start)),
        join_latency: join.summary(),
        messages_sent: shared.sent.load(Ordering::Relaxed),
        expected: measured.expected,
        tally,
        server_errors,
        elapsed,
        latency: latency.summary(),
        slow_disconnected,
        servers,
        redis,
        timed_out: measured.timed_out,
        stalled: measured.stalled,
    }
}
