//! The few writer threads that drain the clients' queues into their transports.
//!
//! A writer takes everything queued for a client and asks its transport to send it without
//! blocking (many lines per system call under load). A socket whose buffer is full is parked
//! with epoll until it drains, and the writer moves on to other clients, so one slow socket
//! never holds a writer up.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat_sync::lock;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::queue::{Chunk, CloseReason, Outbox, QueueLimits, Stage, State};
use crate::transport::{Sent, Transport};

/// The largest queue (in chunks) kept for reuse; a queue that grew bigger for a slow
/// client is freed once drained.
const MAX_SPARE_CAPACITY: usize = 16;

/// The token the writer's waker uses; sockets use their outbox id, which never gets this big.
const WAKE_TOKEN: Token = Token(usize::MAX);

#[derive(Debug, Default)]
struct Work {
    ready: Vec<Arc<Outbox>>,
    /// The writer is (about to be) blocked in `poll` with no timeout and must be woken.
    sleeping: bool,
    stopping: bool,
}

/// One writer thread's inbox of outboxes with something to do.
#[derive(Debug)]
pub(crate) struct Writer {
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

/// Hands outboxes to their writers: one lock and at most one wake-up per writer.
pub(crate) fn schedule(mut outboxes: Vec<Arc<Outbox>>) {
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
    ///
    /// # Errors
    /// If epoll or a thread can't be set up.
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

    /// Gives a client's transport an outbox with the given limits.
    pub fn outbox(&self, transport: Transport, limits: QueueLimits) -> Arc<Outbox> {
        let index = self.next_writer.fetch_add(1, Ordering::Relaxed) % self.writers.len();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let writer = Arc::clone(&self.writers[index]);
        Arc::new(Outbox::new(id, transport, limits, writer))
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

    /// Sends as much of an outbox's queue as its transport takes, then decides what's next
    /// for it: idle, parked until the socket drains, back in the ready list, or closed.
    fn flush(&mut self, outbox: &Arc<Outbox>) {
        let Some(mut state) = self.unless_aborted(outbox, lock(&outbox.state)) else {
            return;
        };
        let mut pending = std::mem::replace(&mut state.queue, std::mem::take(&mut self.spare));
        let mut offset = state.front_written;
        drop(state);
        let (cleared, sent) = outbox.transport().send(&mut pending, &mut offset);

        let Some(mut state) = self.unless_aborted(outbox, lock(&outbox.state)) else {
            return;
        };
        state.queued_bytes -= cleared;
        state.front_written = offset;
        if cleared > 0 {
            state.record_taken(Instant::now(), cleared);
            state.full_since = None;
            state.stalled = false;
            if state.pacers > 0 {
                outbox.changed.notify_all();
            }
        }
        if matches!(sent, Sent::Blocked) && state.full_since.is_none() {
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
        match sent {
            Sent::Failed(err) => {
                log::debug!(
                    "write to {:?} failed: {err}",
                    outbox.transport().peer_addr()
                );
                outbox.mark_aborted(&mut state, CloseReason::WriteFailed);
                self.unless_aborted(outbox, state);
            }
            Sent::Blocked => {
                drop(state);
                self.park(outbox);
            }
            Sent::All if !state.queue.is_empty() => {
                // More arrived while we wrote: go round again after the others.
                drop(state);
                lock(&self.writer.work).ready.push(Arc::clone(outbox));
            }
            Sent::All => {
                state.scheduled = false;
                let finish = state.stage == Stage::Finishing;
                if finish {
                    state.stage = Stage::Finished;
                }
                drop(state);
                self.unpark(outbox);
                if finish {
                    outbox.transport().shutdown(Shutdown::Write);
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
        let fd = outbox.transport().fd().as_raw_fd();
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
            let fd = outbox.transport().fd().as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        }
    }

    /// Lets go of an aborted outbox. Shutting the socket down wakes the connection's thread,
    /// which then leaves the registry; a too-slow client is reset rather than waited for.
    fn release(&mut self, outbox: &Arc<Outbox>, reason: CloseReason) {
        self.unpark(outbox);
        if reason == CloseReason::TooSlow {
            outbox.transport().reset_on_close();
        }
        outbox.transport().shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    use chat_protocol::{Notice, ServerLine};

    use super::*;

    fn limits(max_backlog: usize) -> QueueLimits {
        QueueLimits {
            max_backlog,
            min_read_rate: 16 * 1024,
        }
    }

    fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (server, client)
    }

    #[test]
    fn a_full_socket_is_parked_and_drained_once_the_client_reads() {
        let writers = Writers::start(1).expect("writers");
        let (server, mut client) = connected_pair();
        let outbox = writers.outbox(Transport::plain(server), limits(64 * 1024 * 1024));
        let line = format!("bob: {}", "x".repeat(1000));
        let lines = 4000;
        for _ in 0..lines {
            outbox.send_borrowed(&ServerLine::parse(&line));
        }
        // Far more than the socket holds: the writer must park, and resume as we read.
        outbox.send_line(Notice::Bye);
        outbox.finish();
        let mut received = Vec::new();
        client.read_to_end(&mut received).expect("read until FIN");
        assert!(outbox.wait_finished(Duration::from_secs(5)));
        let expected = format!("{line}\n").repeat(lines) + "* bye\n";
        assert_eq!(received.len(), expected.len());
        assert!(received == expected.as_bytes(), "bytes differ");
        writers.stop();
    }

    #[test]
    fn going_past_the_backlog_drops_the_client_and_closes_its_socket() {
        let writers = Writers::start(1).expect("writers");
        let (server, mut client) = connected_pair();
        let outbox = writers.outbox(Transport::plain(server), limits(64 * 1024));
        let line = format!("bob: {}", "y".repeat(1000));
        for _ in 0..2000 {
            outbox.send_borrowed(&ServerLine::parse(&line));
        }
        assert_eq!(outbox.close_reason(), Some(CloseReason::TooSlow));
        let mut sink = Vec::new();
        // A reset or an EOF: either way the socket is closed, and never hangs.
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        match client.read_to_end(&mut sink) {
            Ok(_) => {}
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}"),
        }
        writers.stop();
    }
}
