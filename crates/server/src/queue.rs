//! Each client's bounded queue of outgoing lines (its [`Outbox`]), and the pacing that slows
//! a sender down instead of dropping a recipient that reads.
//!
//! Broadcasting only appends a shared, already formatted [`Chunk`] to each recipient's
//! queue; it never touches a socket, so it never waits on a slow client. The writer threads
//! (`writer`) drain the queues through each client's [`Transport`]. A client whose queue
//! grows past its limit is too slow and gets disconnected (an IRC server's "SendQ
//! exceeded").
//!
//! A client that keeps reading is never dropped: a sender whose lines take it past half its
//! limit waits ([`Outbox::pace`]) until it has drained to a quarter, so TCP pushes back on
//! the sender instead, and a reading client's queue may go past its limit by the one batch
//! each of its senders adds before it waits. Only a client that reads less than
//! `--min-read-rate` bytes in a second ([`RATE_WINDOW`]) is dropped when its queue is full.
//! A client whose socket has been full for [`STALL_LIMIT`] is taken to have stopped reading
//! and is not waited for while its queue has room, so it can't hold anyone up; whether it is
//! dropped is decided by the rate alone, so a reader that is only waiting for a CPU is never
//! mistaken for one that stopped.

use std::collections::VecDeque;
use std::net::Shutdown;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chat_protocol::ServerLine;
use chat_sync::{lock, wait_until};

use crate::transport::Transport;
use crate::writer::{Writer, schedule};

/// One or more complete lines, each ending in LF, shared by every recipient of a broadcast.
pub type Chunk = Arc<[u8]>;

/// Makes a chunk of one line, adding its LF.
pub fn line_chunk(line: &ServerLine<'_>) -> Chunk {
    let mut bytes = Vec::with_capacity(128);
    line.append_to(&mut bytes);
    bytes.into()
}

/// What each queued chunk costs beyond its bytes (its queue slot, the shared buffer's
/// header, the allocator's share), so that a queue of many tiny lines is bounded in memory
/// as well as in bytes.
pub(crate) const CHUNK_OVERHEAD: usize = 64;

/// What a chunk counts toward a client's backlog.
fn backlog_cost(chunk: &Chunk) -> usize {
    chunk.len() + CHUNK_OVERHEAD
}

/// How long a recipient's socket must stay full before senders take it as not reading and
/// stop waiting for it. The kernel holds little unsent data for each client (see
/// `UNSENT_LOW_WATER_BYTES` in `transport`), so a client that reads, however slowly, makes
/// room every few milliseconds.
pub const STALL_LIMIT: Duration = Duration::from_millis(20);

/// How far back the read rate of a client is measured, when its queue is full, to decide
/// whether it is too slow. Long against the time a busy machine keeps a reader off the CPU,
/// short against how long the senders of a client that stopped reading are held up (at
/// most this long, once).
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The rate window is kept in this many slots.
const RATE_SLOTS: usize = 4;

/// How often a sender waiting for a client over its limit looks at the client's rate again.
const RATE_RECHECK: Duration = Duration::from_millis(50);

/// Bytes a client's socket took over the last [`RATE_WINDOW`], in slots.
#[derive(Debug)]
struct RecentBytes {
    epoch: Instant,
    /// (slot number since `epoch`, bytes taken in it).
    slots: [(u64, usize); RATE_SLOTS],
}

impl RecentBytes {
    fn new(now: Instant) -> RecentBytes {
        RecentBytes {
            epoch: now,
            slots: [(0, 0); RATE_SLOTS],
        }
    }

    fn slot(&self, now: Instant) -> u64 {
        let slot_length = RATE_WINDOW.as_nanos() / RATE_SLOTS as u128;
        let slot = now.saturating_duration_since(self.epoch).as_nanos() / slot_length;
        u64::try_from(slot).unwrap_or(u64::MAX)
    }

    fn record(&mut self, now: Instant, bytes: usize) {
        let slot = self.slot(now);
        // RATE_SLOTS is tiny, so the remainder fits in usize.
        let entry = &mut self.slots[(slot % RATE_SLOTS as u64) as usize];
        if entry.0 != slot {
            *entry = (slot, 0);
        }
        entry.1 += bytes;
    }

    /// Bytes taken in the current slot and the ones before it that are within the window.
    fn in_window(&self, now: Instant) -> usize {
        let slot = self.slot(now);
        self.slots
            .iter()
            .filter(|(number, _)| number + RATE_SLOTS as u64 > slot)
            .map(|(_, bytes)| bytes)
            .sum()
    }
}

/// Why an outbox stopped delivering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue went past the backlog limit.
    TooSlow,
    /// Writing to the socket failed (reset, broken pipe, timed out).
    WriteFailed,
    /// The connection's own thread is done with it.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Delivering.
    Open,
    /// Deliver what is queued, then send FIN.
    Finishing,
    /// FIN sent; nothing more can be written.
    Finished,
    /// Dropping everything; the socket gets shut down both ways.
    Aborted(CloseReason),
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) queue: VecDeque<Chunk>,
    /// Bytes of `queue[0]` already written.
    pub(crate) front_written: usize,
    /// What is queued and not yet written (bytes plus [`CHUNK_OVERHEAD`] per chunk),
    /// including what a writer is writing right now.
    pub(crate) queued_bytes: usize,
    /// In its writer's ready list or parked waiting for the socket to drain.
    pub(crate) scheduled: bool,
    pub(crate) stage: Stage,
    /// Since when the socket has refused bytes (it was full at the last write and has
    /// taken nothing since); `None` once it takes some.
    pub(crate) full_since: Option<Instant>,
    /// The client has stopped reading: its socket was full for [`STALL_LIMIT`] and still
    /// is. Nobody paces to it until it takes bytes again.
    pub(crate) stalled: bool,
    /// Senders waiting in [`Outbox::pace`].
    pub(crate) pacers: usize,
    /// What the socket took lately, for the read rate.
    taken: RecentBytes,
}

impl State {
    /// Notes bytes the socket took.
    pub(crate) fn record_taken(&mut self, now: Instant, bytes: usize) {
        self.taken.record(now, bytes);
    }
}

/// One client's outgoing side: its transport and the bounded queue of lines waiting for it.
///
/// Shared (`Arc`) by the connection's thread, which reads through
/// [`transport`](Self::transport), by the registry, which queues broadcasts, and by the
/// writer thread that drains it.
#[derive(Debug)]
pub struct Outbox {
    pub(crate) id: usize,
    transport: Transport,
    max_backlog: usize,
    /// Bytes per [`RATE_WINDOW`] a client must read to be kept when its queue is full.
    min_read_rate: usize,
    pub(crate) state: Mutex<State>,
    /// Signalled when delivery ends (everything written and FIN sent, or aborted), and when
    /// bytes are written while senders wait in [`pace`](Self::pace).
    pub(crate) changed: Condvar,
    pub(crate) writer: Arc<Writer>,
}

impl Outbox {
    pub(crate) fn new(
        id: usize,
        transport: Transport,
        limits: QueueLimits,
        writer: Arc<Writer>,
    ) -> Outbox {
        Outbox {
            id,
            transport,
            max_backlog: limits.max_backlog,
            min_read_rate: limits.min_read_rate.max(1),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                front_written: 0,
                queued_bytes: 0,
                scheduled: false,
                stage: Stage::Open,
                full_since: None,
                stalled: false,
                pacers: 0,
                taken: RecentBytes::new(Instant::now()),
            }),
            changed: Condvar::new(),
            writer,
        }
    }

    /// The client's transport, for the connection's thread to read through.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Queues lines for this client and makes sure a writer will send them.
    pub fn send(self: &Arc<Self>, chunk: &Chunk) {
        if self.enqueue(chunk).needs_writer {
            schedule(vec![Arc::clone(self)]);
        }
    }

    /// Queues one line for this client.
    pub fn send_line(self: &Arc<Self>, line: impl Into<ServerLine<'static>>) {
        self.send(&line_chunk(&line.into()));
    }

    /// Queues one line that borrows from its caller.
    pub fn send_borrowed(self: &Arc<Self>, line: &ServerLine<'_>) {
        self.send(&line_chunk(line));
    }

    /// Waits while this client's backlog is above a quarter of its limit, unless it is
    /// closing, or it has stopped reading and its queue has room. Called by a sender whose
    /// lines took this client past half its limit, so that the sender is read more slowly
    /// instead of this client being dropped. A client past its limit that reads less than
    /// the minimum rate is dropped here.
    ///
    /// A client has stopped reading when its socket has been full for [`STALL_LIMIT`] and
    /// the kernel still says so; a writer thread that is merely late (the machine is busy)
    /// doesn't count.
    pub fn pace(self: &Arc<Self>) {
        let low_water = self.max_backlog / 4;
        let max_backlog = self.max_backlog;
        let caught_up = move |state: &mut State| {
            state.queued_bytes <= low_water
                || state.stage != Stage::Open
                || (state.stalled && state.queued_bytes <= max_backlog)
        };
        let mut state = lock(&self.state);
        state.pacers += 1;
        loop {
            let now = Instant::now();
            if caught_up(&mut state) {
                break;
            }
            if state.queued_bytes > self.max_backlog && !self.keeps_up(&state, now) {
                self.mark_aborted(&mut state, CloseReason::TooSlow);
                drop(state);
                schedule(vec![Arc::clone(self)]);
                state = lock(&self.state);
                break;
            }
            // Wake when the socket would have been full for the limit, when the rate is
            // due another look, or when bytes are written.
            let check_at = state.full_since.map_or(now + STALL_LIMIT, |since| {
                (since + STALL_LIMIT).max(now + Duration::from_millis(1))
            });
            let check_at = check_at.min(now + RATE_RECHECK);
            let done;
            (state, done) = wait_until(&self.changed, state, Some(check_at), caught_up);
            if done {
                break;
            }
            if let Some(since) = state.full_since
                && since.elapsed() >= STALL_LIMIT
                && !state.stalled
            {
                drop(state);
                let full = !self.transport.is_writable();
                state = lock(&self.state);
                if full && state.full_since == Some(since) {
                    state.stalled = true;
                }
            }
        }
        state.pacers -= 1;
    }

    /// Whether the client read at least the minimum rate over the last [`RATE_WINDOW`].
    fn keeps_up(&self, state: &State, now: Instant) -> bool {
        state.taken.in_window(now) >= self.min_read_rate
    }

    /// Sends what is queued, then closes the sending side (FIN). Lines queued after this
    /// are still sent if they arrive before the queue runs dry.
    pub fn finish(self: &Arc<Self>) {
        let needs_writer = {
            let mut state = lock(&self.state);
            if state.stage == Stage::Open {
                state.stage = Stage::Finishing;
            }
            !std::mem::replace(&mut state.scheduled, true)
        };
        if needs_writer {
            schedule(vec![Arc::clone(self)]);
        }
    }

    /// Stops delivering at once: drops the queue and shuts the socket down both ways, which
    /// also wakes the connection's thread from a blocked read.
    pub fn abort(self: &Arc<Self>, reason: CloseReason) {
        let first = self.mark_aborted(&mut lock(&self.state), reason);
        if first {
            schedule(vec![Arc::clone(self)]);
        }
    }

    /// After [`finish`](Self::finish), waits until everything queued was written and FIN
    /// sent, or delivery was aborted, or `timeout` passed. Returns whether it was written.
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (state, _) = wait_until(&self.changed, lock(&self.state), Some(deadline), |state| {
            state.stage != Stage::Finishing
        });
        state.stage == Stage::Finished
    }

    /// Why delivery stopped, if it did for a reason other than an orderly finish.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match lock(&self.state).stage {
            Stage::Aborted(reason) => Some(reason),
            _ => None,
        }
    }

    /// Shuts the socket down both ways now, whatever is queued (the last resort of a
    /// server shutdown for clients that would not read their last lines).
    pub fn force_close(&self) {
        self.transport.shutdown(Shutdown::Both);
    }

    /// Adds a chunk to the queue.
    fn enqueue(&self, chunk: &Chunk) -> Enqueued {
        let mut state = lock(&self.state);
        if matches!(state.stage, Stage::Aborted(_) | Stage::Finished) {
            return Enqueued::default();
        }
        let cost = backlog_cost(chunk);
        // Past the limit, a client that still reads is kept (its sender will wait for it).
        let over = state.queued_bytes + cost > self.max_backlog;
        if over && !self.keeps_up(&state, Instant::now()) {
            return Enqueued {
                needs_writer: self.mark_aborted(&mut state, CloseReason::TooSlow),
                lagging: None,
            };
        }
        state.queued_bytes += cost;
        state.queue.push_back(Arc::clone(chunk));
        let lagging = state.queued_bytes > self.max_backlog / 2 && (over || !state.stalled);
        Enqueued {
            needs_writer: !std::mem::replace(&mut state.scheduled, true),
            lagging: lagging.then_some(state.queued_bytes),
        }
    }

    /// Returns true if this call did the abort (the writer must then release the outbox,
    /// even if it is parked waiting for a socket that will never drain).
    pub(crate) fn mark_aborted(
        &self,
        state: &mut MutexGuard<'_, State>,
        reason: CloseReason,
    ) -> bool {
        if matches!(state.stage, Stage::Aborted(_)) {
            return false;
        }
        state.stage = Stage::Aborted(reason);
        state.queue = VecDeque::new();
        state.queued_bytes = 0;
        state.front_written = 0;
        state.scheduled = true;
        self.changed.notify_all();
        true
    }
}

/// How much one client's queue may hold, and how fast it must read to be kept when full.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Unsent bytes (plus per-chunk overhead) beyond which a client that doesn't keep up is
    /// dropped.
    pub max_backlog: usize,
    /// Bytes per second a client must read to be kept when its queue is full.
    pub min_read_rate: usize,
}

/// What queuing a chunk left to do.
#[derive(Default)]
struct Enqueued {
    /// The outbox must be handed to its writer (it was idle, or it just went over its
    /// limit and must be torn down).
    needs_writer: bool,
    /// The backlog, if it is past half the limit and the client has not stopped reading.
    lagging: Option<usize>,
}

/// Lines for many clients at once (a broadcast). Outboxes that need their writer are
/// collected and handed over when the delivery is dropped, which the registry arranges to
/// happen after it releases its lock.
#[derive(Default)]
pub struct Delivery {
    ready: Vec<Arc<Outbox>>,
    /// The recipient furthest past half its backlog limit, with its backlog.
    laggard: Option<(usize, Arc<Outbox>)>,
}

impl Delivery {
    /// Queues `chunk` for `outbox`.
    pub fn push(&mut self, outbox: &Arc<Outbox>, chunk: &Chunk) {
        let enqueued = outbox.enqueue(chunk);
        if enqueued.needs_writer {
            self.ready.push(Arc::clone(outbox));
        }
        if let Some(backlog) = enqueued.lagging
            && self
                .laggard
                .as_ref()
                .is_none_or(|(most, _)| backlog > *most)
        {
            self.laggard = Some((backlog, Arc::clone(outbox)));
        }
    }

    /// The recipient the sender should [`pace`](Outbox::pace) itself to, if any.
    pub fn take_laggard(&mut self) -> Option<Arc<Outbox>> {
        self.laggard.take().map(|(_, outbox)| outbox)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.ready.is_empty() {
            schedule(std::mem::take(&mut self.ready));
        }
    }
}
