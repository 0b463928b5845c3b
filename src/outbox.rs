//! What the server sends to each client: a bounded queue per connection (its [`Outbox`]) and
//! the few writer threads that drain those queues into the sockets.
//!
//! Broadcasting only appends a shared, already formatted [`Chunk`] to each recipient's queue;
//! it never touches a socket, so it never waits on a slow client. A writer thread takes
//! everything queued for a client and hands it to the kernel in one `sendmsg` (many lines per
//! system call under load), without blocking: a socket whose buffer is full is parked with
//! epoll until it drains, and the writer moves on to other clients. A client whose queue
//! grows past its limit is too slow and gets disconnected (an IRC server's "SendQ exceeded").
//!
//! A client that is reading, just more slowly than the room talks, is not dropped for a
//! burst: a sender whose chat takes it past half its limit waits ([`Outbox::pace`]) until
//! it has drained to a quarter, so TCP pushes back on the sender instead. A client whose
//! socket has been full for [`STALL_LIMIT`] has stopped reading and is never waited for,
//! so it can't hold anyone up.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::lock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use rustix::net::{SendAncillaryBuffer, SendFlags};

/// One or more complete lines, each ending in LF, shared by every recipient of a broadcast.
pub type Chunk = Arc<[u8]>;

/// Makes a chunk of one line, adding its LF.
pub fn line_chunk(line: &str) -> Chunk {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    bytes.into()
}

/// What each queued chunk costs beyond its bytes (its queue slot, the shared buffer's
/// header, the allocator's share), so that a queue of many tiny lines is bounded in memory
/// as well as in bytes.
const CHUNK_OVERHEAD: usize = 64;

/// What a chunk counts toward a client's backlog.
fn backlog_cost(chunk: &Chunk) -> usize {
    chunk.len() + CHUNK_OVERHEAD
}

/// The most buffers one `sendmsg` is given (Linux accepts up to 1024).
const MAX_SLICES_PER_SEND: usize = 256;

/// The largest queue (in chunks) kept for reuse; a queue that grew bigger for a slow
/// client is freed once drained.
const MAX_SPARE_CAPACITY: usize = 16;

/// How long a recipient's socket must stay full before senders take it as not reading and
/// stop waiting for it. The kernel holds little unsent data for each client (see
/// `UNSENT_LOW_WATER_BYTES` in the server), so a client that reads, however slowly, makes
/// room every few milliseconds.
pub const STALL_LIMIT: Duration = Duration::from_millis(20);

/// The token the writer's waker uses; sockets use their outbox id, which never gets this big.
const WAKE_TOKEN: Token = Token(usize::MAX);

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
enum Stage {
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
struct State {
    queue: VecDeque<Chunk>,
    /// Bytes of `queue[0]` already written.
    front_written: usize,
    /// What is queued and not yet written (bytes plus [`CHUNK_OVERHEAD`] per chunk),
    /// including what a writer is writing right now.
    queued_bytes: usize,
    /// In its writer's ready list or parked waiting for the socket to drain.
    scheduled: bool,
    stage: Stage,
    /// Since when the socket has refused bytes (it was full at the last write and has
    /// taken nothing since); `None` once it takes some.
    full_since: Option<Instant>,
    /// The client has stopped reading: its socket was full for [`STALL_LIMIT`] and still
    /// is. Nobody paces to it until it takes bytes again.
    stalled: bool,
    /// Senders waiting in [`Outbox::pace`].
    pacers: usize,
}

/// One client's outgoing side: its socket and the bounded queue of lines waiting for it.
///
/// Shared (`Arc`) by the connection's thread, which reads from [`stream`](Self::stream), by
/// the registry, which queues broadcasts, and by the writer thread that drains it.
#[derive(Debug)]
pub struct Outbox {
    id: usize,
    stream: TcpStream,
    max_backlog: usize,
    state: Mutex<State>,
    /// Signalled when delivery ends (everything written and FIN sent, or aborted), and when
    /// bytes are written while senders wait in [`pace`](Self::pace).
    changed: Condvar,
    writer: Arc<Writer>,
}

impl Outbox {
    /// The socket, for the connection's thread to read from.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Queues lines for this client and makes sure a writer will send them.
    pub fn send(self: &Arc<Self>, chunk: &Chunk) {
        if self.enqueue(chunk).needs_writer {
            schedule(vec![Arc::clone(self)]);
        }
    }

    /// Waits while this client's backlog is above a quarter of its limit, unless it has
    /// stopped reading or is closing. Called by a sender whose chat took this client past
    /// half its limit, so that the sender is read more slowly instead of this client being
    /// dropped.
    ///
    /// A client has stopped reading when its socket has been full for [`STALL_LIMIT`] and
    /// the kernel still says so; a writer thread that is merely late (the machine is busy)
    /// doesn't count, so a reading client is never given up on for that.
    pub fn pace(&self) {
        let low_water = self.max_backlog / 4;
        let mut state = lock(&self.state);
        state.pacers += 1;
        while state.queued_bytes > low_water && state.stage == Stage::Open && !state.stalled {
            if let Some(since) = state.full_since
                && since.elapsed() >= STALL_LIMIT
            {
                drop(state);
                let full = !self.is_writable();
                state = lock(&self.state);
                if full && state.full_since == Some(since) {
                    state.stalled = true;
                    break;
                }
            }
            // Wake when the socket would have been full for the limit, or bytes are written.
            let wait = state.full_since.map_or(STALL_LIMIT, |since| {
                (since + STALL_LIMIT)
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.pacers -= 1;
    }

    /// Whether the kernel would take bytes for this socket now.
    fn is_writable(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(&self.stream, PollFlags::OUT)];
        let ready = poll(&mut fds, Some(&Timespec::default()));
        // If asking fails, say it is writable: wrongly waiting a little beats wrongly
        // dropping a client.
        ready.is_err() || fds[0].revents().contains(PollFlags::OUT)
    }

    /// Queues one line (adding its LF) for this client.
    pub fn send_line(self: &Arc<Self>, line: &str) {
        self.send(&line_chunk(line));
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
        let mut state = lock(&self.state);
        loop {
            match state.stage {
                Stage::Finished => return true,
                Stage::Aborted(_) | Stage::Open => return false,
                Stage::Finishing => {}
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
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
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Adds a chunk to the queue.
    fn enqueue(&self, chunk: &Chunk) -> Enqueued {
        let mut state = lock(&self.state);
        if matches!(state.stage, Stage::Aborted(_) | Stage::Finished) {
            return Enqueued::default();
        }
        let cost = backlog_cost(chunk);
        if state.queued_bytes + cost > self.max_backlog {
            return Enqueued {
                needs_writer: self.mark_aborted(&mut state, CloseReason::TooSlow),
                lagging: None,
            };
        }
        state.queued_bytes += cost;
        state.queue.push_back(Arc::clone(chunk));
        let lagging = state.queued_bytes > self.max_backlog / 2 && !state.stalled;
        Enqueued {
            needs_writer: !std::mem::replace(&mut state.scheduled, true),
            lagging: lagging.then_some(state.queued_bytes),
        }
    }

    /// Returns true if this call did the abort (the writer must then release the outbox,
    /// even if it is parked waiting for a socket that will never drain).
    fn mark_aborted(&self, state: &mut State, reason: CloseReason) -> bool {
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

/// What queuing a chunk left to do.
#[derive(Default)]
struct Enqueued {
    /// The outbox must be handed to its writer (it was idle, or it just went over its
    /// limit and must be torn down).
    needs_writer: bool,
    /// The backlog, if it is past half the limit and the client has not stopped reading.
    lagging: Option<usize>,
}

/// Hands outboxes to their writers: one lock and at most one wake-up per writer.
fn schedule(mut outboxes: Vec<Arc<Outbox>>) {
    if let Some(first) = outboxes.first()
        && outboxes[1..]
            .iter()
            .all(|outbox| Arc::ptr_eq(&outbox.writer, &first.writer))
    {
        let writer = Arc::clone(&first.writer);
        writer.add_ready(outboxes);
        return;
    }
    while let Some(first) = outboxes.first() {
        let writer = Arc::clone(&first.writer);
        let (mine, rest): (Vec<_>, Vec<_>) = outboxes
            .into_iter()
            .partition(|outbox| Arc::ptr_eq(&outbox.writer, &writer));
        writer.add_ready(mine);
        outboxes = rest;
    }
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

#[derive(Debug, Default)]
struct Work {
    ready: Vec<Arc<Outbox>>,
    /// The writer is (about to be) blocked in `poll` with no timeout and must be woken.
    sleeping: bool,
    stopping: bool,
}

/// One writer thread's inbox of outboxes with something to do.
#[derive(Debug)]
struct Writer {
    work: Mutex<Work>,
    waker: Waker,
}

impl Writer {
    fn add_ready(&self, outboxes: Vec<Arc<Outbox>>) {
        let wake = {
            let mut work = lock(&self.work);
            work.ready.extend(outboxes);
            std::mem::replace(&mut work.sleeping, false)
        };
        if wake {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Err(err) = self.waker.wake() {
            log::error!("failed to wake a writer thread: {err}");
        }
    }
}

/// The writer threads. Each outbox belongs to one writer, chosen round-robin.
#[derive(Debug)]
pub struct Writers {
    writers: Vec<Arc<Writer>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_writer: AtomicUsize,
    next_id: AtomicUsize,
}

impl Writers {
    /// Starts `count` writer threads (at least one).
    pub fn start(count: usize) -> io::Result<Writers> {
        let mut writers = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
            let writer = Arc::new(Writer {
                work: Mutex::default(),
                waker,
            });
            let thread_writer = Arc::clone(&writer);
            threads.push(
                thread::Builder::new()
                    .name(format!("writer-{index}"))
                    .spawn(move || WriterLoop::new(thread_writer, poll).run())?,
            );
            writers.push(writer);
        }
        Ok(Writers {
            writers,
            threads: Mutex::new(threads),
            next_writer: AtomicUsize::new(0),
            next_id: AtomicUsize::new(0),
        })
    }

    /// Wraps a connected socket in an outbox holding at most `max_backlog` unsent bytes.
    pub fn outbox(&self, stream: TcpStream, max_backlog: usize) -> Arc<Outbox> {
        let index = self.next_writer.fetch_add(1, Ordering::Relaxed) % self.writers.len();
        Arc::new(Outbox {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            stream,
            max_backlog,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                front_written: 0,
                queued_bytes: 0,
                scheduled: false,
                stage: Stage::Open,
                full_since: None,
                stalled: false,
                pacers: 0,
            }),
            changed: Condvar::new(),
            writer: Arc::clone(&self.writers[index]),
        })
    }

    /// Stops the writer threads once they have handed over what is already scheduled, and
    /// waits for them.
    pub fn stop(&self) {
        for writer in &self.writers {
            lock(&writer.work).stopping = true;
            writer.wake();
        }
        for thread in lock(&self.threads).drain(..) {
            if thread.join().is_err() {
                log::error!("a writer thread panicked");
            }
        }
    }
}

/// How one attempt to drain an outbox ended.
enum Drained {
    /// Everything queued was written.
    All,
    /// The socket's buffer is full; wait until it drains.
    Blocked,
    /// The socket failed.
    Failed(io::Error),
}

/// The state a writer thread keeps to itself.
struct WriterLoop {
    writer: Arc<Writer>,
    poll: Poll,
    /// An empty queue with room, swapped into each outbox it drains so that queuing the
    /// next line doesn't allocate.
    spare: VecDeque<Chunk>,
    /// Outboxes whose sockets were full, by token, waiting for epoll to say they drained.
    parked: HashMap<Token, Arc<Outbox>>,
}

impl WriterLoop {
    fn new(writer: Arc<Writer>, poll: Poll) -> WriterLoop {
        WriterLoop {
            writer,
            poll,
            spare: VecDeque::new(),
            parked: HashMap::new(),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let ready = {
                let mut work = lock(&self.writer.work);
                if work.ready.is_empty() && work.stopping {
                    break;
                }
                work.sleeping = work.ready.is_empty();
                std::mem::take(&mut work.ready)
            };
            // Sleep only when there's nothing to do; otherwise just collect drained sockets.
            let timeout = if ready.is_empty() {
                None
            } else {
                Some(Duration::ZERO)
            };
            if timeout.is_none() || !self.parked.is_empty() {
                if let Err(err) = self.poll.poll(&mut events, timeout) {
                    if err.kind() != io::ErrorKind::Interrupted {
                        log::error!("writer poll failed: {err}");
                        thread::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
                for event in events.iter() {
                    if event.token() != WAKE_TOKEN
                        && let Some(outbox) = self.parked.get(&event.token()).cloned()
                    {
                        self.flush(&outbox);
                    }
                }
            }
            for outbox in ready {
                self.flush(&outbox);
            }
        }
        for outbox in std::mem::take(&mut self.parked).into_values() {
            self.unpark(&outbox);
        }
    }

    /// Writes as much of an outbox's queue as the socket takes, then decides what's next
    /// for it: idle, parked until the socket drains, back in the ready list, or closed.
    fn flush(&mut self, outbox: &Arc<Outbox>) {
        let Some(mut state) = self.unless_aborted(outbox, lock(&outbox.state)) else {
            return;
        };
        let mut pending = std::mem::replace(&mut state.queue, std::mem::take(&mut self.spare));
        let mut offset = state.front_written;
        drop(state);
        let (written, drained) = write_queue(&outbox.stream, &mut pending, &mut offset);

        let Some(mut state) = self.unless_aborted(outbox, lock(&outbox.state)) else {
            return;
        };
        state.queued_bytes -= written;
        state.front_written = offset;
        if written > 0 {
            state.full_since = None;
            state.stalled = false;
            if state.pacers > 0 {
                outbox.changed.notify_all();
            }
        }
        if matches!(drained, Drained::Blocked) && state.full_since.is_none() {
            state.full_since = Some(Instant::now());
        }
        if pending.is_empty() {
            if pending.capacity() <= MAX_SPARE_CAPACITY {
                self.spare = pending;
            }
        } else {
            pending.append(&mut state.queue);
            std::mem::swap(&mut state.queue, &mut pending);
            if pending.capacity() <= MAX_SPARE_CAPACITY {
                self.spare = pending;
            }
        }
        match drained {
            Drained::Failed(err) => {
                log::debug!("write to {:?} failed: {err}", outbox.stream.peer_addr());
                outbox.mark_aborted(&mut state, CloseReason::WriteFailed);
                self.unless_aborted(outbox, state);
            }
            Drained::Blocked => {
                drop(state);
                self.park(outbox);
            }
            Drained::All if !state.queue.is_empty() => {
                // More arrived while we wrote: go round again after the others.
                drop(state);
                lock(&self.writer.work).ready.push(Arc::clone(outbox));
            }
            Drained::All => {
                state.scheduled = false;
                let finish = state.stage == Stage::Finishing;
                if finish {
                    state.stage = Stage::Finished;
                }
                drop(state);
                self.unpark(outbox);
                if finish {
                    let _ = outbox.stream.shutdown(Shutdown::Write);
                    outbox.changed.notify_all();
                }
            }
        }
    }

    /// Gives the lock back unless the outbox was aborted, in which case it is let go of.
    fn unless_aborted<'a>(
        &mut self,
        outbox: &Arc<Outbox>,
        mut state: MutexGuard<'a, State>,
    ) -> Option<MutexGuard<'a, State>> {
        let Stage::Aborted(reason) = state.stage else {
            return Some(state);
        };
        state.scheduled = false;
        drop(state);
        self.release(outbox, reason);
        None
    }

    fn park(&mut self, outbox: &Arc<Outbox>) {
        let token = Token(outbox.id);
        if self.parked.contains_key(&token) {
            return;
        }
        let fd = outbox.stream.as_raw_fd();
        match self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), token, Interest::WRITABLE)
        {
            Ok(()) => {
                self.parked.insert(token, Arc::clone(outbox));
            }
            Err(err) => {
                log::error!("failed to watch a full socket: {err}");
                outbox.abort(CloseReason::WriteFailed);
            }
        }
    }

    fn unpark(&mut self, outbox: &Arc<Outbox>) {
        if self.parked.remove(&Token(outbox.id)).is_some() {
            let fd = outbox.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        }
    }

    /// Lets go of an aborted outbox. Shutting the socket down wakes the connection's thread,
    /// which then leaves the registry; a too-slow client is reset rather than waited for.
    fn release(&mut self, outbox: &Arc<Outbox>, reason: CloseReason) {
        self.unpark(outbox);
        if reason == CloseReason::TooSlow {
            let _ = socket2::SockRef::from(&outbox.stream).set_linger(Some(Duration::ZERO));
        }
        let _ = outbox.stream.shutdown(Shutdown::Both);
    }
}

/// Writes queued chunks until the queue is empty, the socket is full or it fails. Returns
/// how much backlog that cleared (see [`backlog_cost`]); `pending` and `offset` are
/// advanced past what was written.
fn write_queue(
    stream: &TcpStream,
    pending: &mut VecDeque<Chunk>,
    offset: &mut usize,
) -> (usize, Drained) {
    let mut written = 0;
    while !pending.is_empty() {
        let slices: Vec<IoSlice<'_>> = pending
            .iter()
            .take(MAX_SLICES_PER_SEND)
            .enumerate()
            .map(|(index, chunk)| IoSlice::new(&chunk[if index == 0 { *offset } else { 0 }..]))
            .collect();
        // MSG_DONTWAIT: the socket stays blocking for the connection thread's reads, but a
        // writer must never wait on one client.
        let sent = rustix::net::sendmsg(
            stream,
            &slices,
            &mut SendAncillaryBuffer::default(),
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        );
        match sent {
            Ok(mut bytes) => {
                written += bytes;
                while bytes > 0 {
                    let Some(front) = pending.front() else { break };
                    let left = front.len() - *offset;
                    if bytes >= left {
                        bytes -= left;
                        *offset = 0;
                        written += CHUNK_OVERHEAD;
                        pending.pop_front();
                    } else {
                        *offset += bytes;
                        bytes = 0;
                    }
                }
            }
            Err(rustix::io::Errno::AGAIN) => return (written, Drained::Blocked),
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return (written, Drained::Failed(err.into())),
        }
    }
    (written, Drained::All)
}
