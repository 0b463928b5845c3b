//! A worker thread: one `mio::Poll` driving its share of the clients through connecting,
//! the handshake, the readiness probes and the measurement, and counting what they receive.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chat_sync::lock;
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::ClientConnection;

use crate::Proto;
use crate::client::{self, Client, Stage};
use crate::irc;
use crate::marker::{self, Line, Stamp};
use crate::stats::{Arrival, Histogram, SeqTrack, Tally};
use crate::tls::Tls;
use crate::web::{Frame, Web, WebError, WebSocket};

/// The token of each worker's waker; clients use their position in the worker's list.
pub const WAKE_TOKEN: Token = Token(usize::MAX);

/// Size of the buffer every read goes into (one per worker, shared by its clients). With
/// TLS the socket is read into a second buffer of this size, and the session's plaintext
/// into this one.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Events taken from one poll. Sockets reported ready together count as received at that
/// moment, so a big batch keeps the time spent reading them one by one out of the
/// latencies (with 1024, a broadcast to 10,000 clients looked 25 ms slower).
const EVENTS_PER_POLL: usize = 8192;

/// A client that has read this much in one turn lets the others go first.
const TURN_BYTES: usize = 256 * 1024;

/// A sender generates its lines this many bytes at a time (each batch gets one timestamp);
/// the server reads 16 KiB at a time.
const SEND_BATCH_BYTES: usize = 16 * 1024;

/// How often client 0 sends a probe until everyone has seen one.
const PROBE_INTERVAL_NS: u64 = 20_000_000;

/// How long a worker whose senders wait for the window sleeps at most.
const BLOCKED_WAIT: Duration = Duration::from_millis(1);

/// How long clients wait at the end for the server to close after they did.
const GOODBYE_LIMIT: Duration = Duration::from_millis(500);

/// The longest a worker sleeps without looking at the phase (it is also woken on change).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// After the measurement, how long slow clients are read to see whether the server closed
/// them, and how long without any data ends that early.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
const DRAIN_QUIET: Duration = Duration::from_millis(100);

/// How the measured messages are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sending {
    /// Clients `0..senders` send as fast as their sockets take the lines.
    Flood,
    /// Client 0 sends one message every this many nanoseconds, by the clock.
    Paced(f64),
    /// Client 0 sends one message.
    Once,
}

/// What the workers are to do; fixed for the run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The servers: client `index` connects to `addrs[index % addrs.len()]` (never empty).
    pub addrs: Vec<SocketAddr>,
    /// The protocol the clients speak.
    pub proto: Proto,
    /// Over TLS (`--tls`).
    pub tls: Option<Tls>,
    /// Over WebSocket (`--web`), over TLS too if `tls` is set.
    pub web: Option<Web>,
    /// Clients in the run, numbered from 0.
    pub clients: usize,
    /// Clients `0..senders` send measured messages; their index is their sender id.
    pub senders: usize,
    /// Measured messages per sender.
    pub messages: u64,
    /// Clients `clients - slow..` stop reading when the measurement starts.
    pub slow: usize,
    /// How the measured messages are sent.
    pub sending: Sending,
    /// Flooding senders keep at most this many messages in flight to each receiver: sent,
    /// and not yet received by it (0: no limit).
    pub window: u64,
    /// Measured messages' text is padded to at least this many bytes.
    pub size: usize,
    /// Names are this stem followed by the client's index.
    pub name_stem: String,
    /// Connections each worker sets up at once.
    pub pending_per_worker: usize,
    /// Timestamps are nanoseconds since this instant.
    pub base: Instant,
}

impl Plan {
    /// The name client `index` joins with.
    pub fn name(&self, index: usize) -> String {
        format!("{}{index}", self.name_stem)
    }

    /// The client a name belongs to, if it is one of ours.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        name.strip_prefix(self.name_stem.as_str())?.parse().ok()
    }

    /// The server client `index` connects to: the instances take turns.
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.addrs[self.instance(index)]
    }

    /// Which of the servers client `index` connects to.
    pub fn instance(&self, index: usize) -> usize {
        index % self.addrs.len()
    }

    /// The servers, for messages: `A` or `A, B`.
    pub fn targets(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        addrs.join(", ")
    }

    /// Whether client `index` stops reading when the measurement starts.
    pub fn is_slow(&self, index: usize) -> bool {
        index >= self.clients - self.slow
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// The stages of a run, in order; the driver moves the workers from one to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Connect and join.
    Connect,
    /// Client 0 sends probes until every other client has seen one.
    Probe,
    /// Send and count the measured messages.
    Measure,
    /// Stop.
    Done,
}

/// What the driver and the workers share: the plan, the phase, and running counts.
#[derive(Debug)]
pub struct Shared {
    pub plan: Plan,
    phase: AtomicU8,
    /// Clients welcomed by the server.
    pub welcomed: AtomicUsize,
    /// Connections refused (ECONNREFUSED or `! server full`).
    pub refused: AtomicUsize,
    /// Connections that failed otherwise.
    pub failed: AtomicUsize,
    /// Connections closed before the welcome.
    pub dropped: AtomicUsize,
    /// Joined clients closed during the run (slow ones aside, as nobody reads them).
    pub disconnected: AtomicUsize,
    /// Clients other than 0 that have seen a probe.
    pub probed: AtomicUsize,
    /// Distinct measured messages received by clients that read.
    pub delivered: AtomicU64,
    /// For each worker, the least that any of its reading clients has received plus sent
    /// (`u64::MAX` if it has none): how far its slowest receiver is behind is the total
    /// sent minus this.
    floors: Vec<AtomicU64>,
    /// Measured messages queued by the senders.
    pub sent: AtomicU64,
    /// Times in nanoseconds since the plan's base: the first measured send (`u64::MAX`
    /// before), the last delivery and the last welcome.
    pub first_send: AtomicU64,
    pub last_delivery: AtomicU64,
    pub last_welcome: AtomicU64,
    error: Mutex<Option<String>>,
}

impl Shared {
    /// Counts at zero, in the connect phase, for `workers` workers.
    pub fn new(plan: Plan, workers: usize) -> Shared {
        Shared {
            plan,
            phase: AtomicU8::new(Phase::Connect as u8),
            welcomed: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            disconnected: AtomicUsize::new(0),
            probed: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            floors: (0..workers).map(|_| AtomicU64::new(u64::MAX)).collect(),
            sent: AtomicU64::new(0),
            first_send: AtomicU64::new(u64::MAX),
            last_delivery: AtomicU64::new(0),
            last_welcome: AtomicU64::new(0),
            error: Mutex::new(None),
        }
    }

    /// The phase the driver has set.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Connect,
            1 => Phase::Probe,
            2 => Phase::Measure,
            _ => Phase::Done,
        }
    }

    /// Moves the run to `phase` (the driver then wakes the workers).
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Ends the run with an error (the first one reported wins).
    pub fn fail(&self, message: String) {
        let mut error = lock(&self.error);
        if error.is_none() {
            *error = Some(message);
        }
        drop(error);
        self.set_phase(Phase::Done);
    }

    /// The error that ended the run, if one did.
    pub fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }

    /// Clients joined and still connected (slow clients that stopped reading included).
    pub fn live(&self) -> usize {
        self.welcomed
            .load(Ordering::Relaxed)
            .saturating_sub(self.disconnected.load(Ordering::Relaxed))
    }
}

/// What a worker measured, handed back when it stops.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Send-to-receipt times of the deliveries.
    pub latency: Histogram,
    /// Connect-to-welcome times of the clients.
    pub join: Histogram,
    pub tally: Tally,
    /// `! ...` lines received after joining.
    pub server_errors: u64,
    /// Clients welcomed, by the instance they joined (an entry per instance at most).
    pub joined_by_instance: Vec<usize>,
    /// Deliveries of messages sent by a client of another instance.
    pub crossed: u64,
    /// Slow clients found closed by the server (by reading them after the measurement, or
    /// from `* NAME quit (too slow)` notices seen by client 0).
    pub slow_closed: Vec<usize>,
}

/// Why a client stops.
enum End {
    /// The connection failed or closed; counted by what stage it was in.
    Lost(io::Error),
    /// `! server full`.
    Refused,
    /// The run is over (the error is already reported).
    Fatal,
    /// The TLS session failed (other than by the server's alert): before the welcome this
    /// ends the run, as every other connection would fail the same way.
    Tls(rustls::Error),
    /// The WebSocket upgrade failed, or the server's frames broke the protocol: before
    /// the welcome this ends the run, like [`End::Tls`].
    Web(WebError),
}

impl From<WebError> for End {
    fn from(err: WebError) -> End {
        End::Web(err)
    }
}

/// One worker thread's state.
pub struct Worker {
    shared: Arc<Shared>,
    /// This worker's number (its slot in [`Shared`]'s floors).
    slot: usize,
    poll: Poll,
    clients: Vec<Client>,
    buffer: Box<[u8]>,
    /// With TLS, what the socket gave, before the session decrypts it into `buffer`
    /// (empty without TLS).
    tls_buffer: Box<[u8]>,
    /// With `--web`, where lines are copied to be framed (empty without it).
    web_scratch: Vec<u8>,
    counts: Counts,
    /// The next client (position in `clients`) to connect.
    next_start: usize,
    /// Clients connecting or in the handshake.
    pending: usize,
    /// Clients to serve again without waiting for an event (their turn ran out).
    again: Vec<usize>,
    /// Flooding senders waiting for the window to open.
    blocked: Vec<usize>,
    phase: Phase,
    /// When client 0 (if ours) sends its next probe, and how many it sent.
    next_probe: u64,
    probes: u64,
    /// When the measurement started here.
    measure_start: u64,
    /// Rounds of the event loop so far.
    round: u64,
}

/// What a worker counts as lines arrive; published to [`Shared`] after each round.
#[derive(Default)]
struct Counts {
    outcome: Outcome,
    delivered: u64,
    sent: u64,
    first_send: Option<u64>,
    last_delivery: u64,
    last_welcome: u64,
    welcomed: usize,
    probed: usize,
}

impl Worker {
    /// Worker number `slot`, for the clients with the given indices.
    pub fn new(
        shared: Arc<Shared>,
        slot: usize,
        poll: Poll,
        indices: impl Iterator<Item = usize>,
    ) -> Worker {
        let clients = indices
            .map(|index| Client::new(index, shared.plan.is_slow(index)))
            .collect();
        let tls_bytes = match shared.plan.tls {
            Some(_) => READ_BUFFER_BYTES,
            None => 0,
        };
        Worker {
            shared,
            slot,
            poll,
            clients,
            buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            tls_buffer: vec![0; tls_bytes].into_boxed_slice(),
            web_scratch: Vec::new(),
            counts: Counts::default(),
            next_start: 0,
            pending: 0,
            again: Vec::new(),
            blocked: Vec::new(),
            phase: Phase::Connect,
            next_probe: 0,
            probes: 0,
            measure_start: 0,
            round: 0,
        }
    }

    /// A waker the driver uses to tell this worker the phase changed.
    pub fn waker(&self) -> io::Result<Waker> {
        Waker::new(self.poll.registry(), WAKE_TOKEN)
    }

    /// Runs until the phase is [`Phase::Done`].
    pub fn run(mut self) -> Outcome {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let phase = self.shared.phase();
            if phase != self.phase {
                self.enter(phase);
            }
            if phase == Phase::Done {
                break;
            }
            if phase == Phase::Connect {
                self.start_connects();
            }
            self.send_scheduled();
            let again = std::mem::take(&mut self.again);
            let timeout = if !again.is_empty() {
                Duration::ZERO
            } else if !self.blocked.is_empty() {
                // Deliveries open the window; they usually come with events of our own
                // receivers, but may all be on other workers.
                self.wait_time().min(BLOCKED_WAIT)
            } else {
                self.wait_time()
            };
            if let Err(err) = self.poll.poll(&mut events, Some(timeout)) {
                if err.kind() != io::ErrorKind::Interrupted {
                    self.shared
                        .fail(format!("waiting for sockets failed: {err}"));
                }
                continue;
            }
            let ready_at = self.shared.plan.now();
            for event in events.iter() {
                if event.token() != WAKE_TOKEN {
                    let closed = event.is_read_closed() || event.is_error();
                    self.serve(event.token().0, Some(ready_at), closed);
                }
            }
            for position in again {
                self.clients[position].again = false;
                self.serve(position, None, false);
            }
            if !self.blocked.is_empty() && self.window_open() {
                self.again.append(&mut self.blocked);
            }
            self.round += 1;
            self.publish();
        }
        self.publish();
        self.drain_slow_clients();
        self.say_goodbye(&mut events);
        self.counts.outcome
    }

    /// Closes the joined clients the way a polite client does: send FIN, read what the
    /// server still sends (quit notices of the others) until it closes too. Closing with
    /// unread data would reset the connection and fill the server's log with "connection
    /// lost". Over TLS, a `close_notify` goes first; what the server sends after it is read
    /// and dropped without decrypting it. Slow clients and unfinished handshakes are just
    /// dropped.
    fn say_goodbye(&mut self, events: &mut Events) {
        let mut open = 0;
        for client in &mut self.clients {
            if client.stage == Stage::Joined && !client.slow && client.web.is_some() {
                send_web_close(client, &mut self.web_scratch);
            }
            match &mut client.stream {
                Some(stream) if client.stage == Stage::Joined && !client.slow => {
                    if let Some(tls) = &mut client.tls {
                        tls.send_close_notify();
                        while tls.wants_write() {
                            if let Err(err) = tls.write_tls(stream)
                                && err.kind() != io::ErrorKind::Interrupted
                            {
                                break;
                            }
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                    open += 1;
                }
                _ => {
                    client.stream = None;
                    client.tls = None;
                    client.web = None;
                }
            }
        }
        let deadline = Instant::now() + GOODBYE_LIMIT;
        while open > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            if let Err(err) = self.poll.poll(events, Some(left)) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            for event in events.iter() {
                let Some(client) = self.clients.get_mut(event.token().0) else {
                    continue;
                };
                let Some(stream) = &mut client.stream else {
                    continue;
                };
                let closed = loop {
                    match stream.read(&mut self.buffer) {
                        Ok(0) => break true,
                        Ok(_) => {}
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break false,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break true,
                    }
                };
                if closed {
                    client.stream = None;
                    client.tls = None;
                    client.web = None;
                    open -= 1;
                }
            }
        }
    }

    fn enter(&mut self, phase: Phase) {
        let now = self.shared.plan.now();
        self.phase = phase;
        match phase {
            Phase::Connect | Phase::Done => {}
            Phase::Probe => self.next_probe = now,
            Phase::Measure => {
                self.measure_start = now;
                for position in 0..self.clients.len() {
                    let client = &mut self.clients[position];
                    if client.slow {
                        // It stops reading: no more events for it until the end.
                        if let Some(stream) = &mut client.stream {
                            let _ = self.poll.registry().deregister(stream);
                        }
                    } else if client.stage == Stage::Joined
                        && client.index < self.shared.plan.senders
                        && !client.again
                    {
                        client.again = true;
                        self.again.push(position);
                    }
                }
            }
        }
    }

    /// Starts connections while fewer than the allowed number are being set up.
    fn start_connects(&mut self) {
        let shared = Arc::clone(&self.shared);
        let plan = &shared.plan;
        while self.pending < plan.pending_per_worker && self.next_start < self.clients.len() {
            let position = self.next_start;
            self.next_start += 1;
            let client = &mut self.clients[position];
            client.started = plan.now();
            match client::connect(plan.addr(client.index), client.slow) {
                Ok((mut stream, connected)) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(err) =
                        self.poll
                            .registry()
                            .register(&mut stream, Token(position), interest)
                    {
                        self.shared.fail(format!("failed to watch a socket: {err}"));
                        return;
                    }
                    client.stream = Some(stream);
                    client.stage = Stage::Connecting;
                    self.pending += 1;
                    if connected {
                        self.serve_again(position);
                    }
                }
                Err(err) => {
                    client.stage = Stage::Connecting;
                    self.pending += 1;
                    self.close(position, End::Lost(err));
                }
            }
        }
    }

    /// Probes and paced or single messages that are due now.
    fn send_scheduled(&mut self) {
        // Client 0 is always the first client of worker 0.
        let Some(first) = self.clients.first() else {
            return;
        };
        if first.index != 0 || first.stage != Stage::Joined {
            return;
        }
        let plan = &self.shared.plan;
        let now = plan.now();
        let client = &mut self.clients[0];
        client.compact_output();
        let queued = match self.phase {
            Phase::Probe if now >= self.next_probe => {
                match plan.proto {
                    Proto::Chat => marker::write_probe(&mut client.out, self.probes),
                    Proto::Irc => irc::write_probe(&mut client.out, self.probes),
                }
                self.probes += 1;
                self.next_probe = now + PROBE_INTERVAL_NS;
                true
            }
            Phase::Measure => match plan.sending {
                Sending::Flood => false,
                Sending::Once => {
                    let first = client.next_seq == 0;
                    if first {
                        queue_message(client, &mut self.counts, plan, now);
                    }
                    first
                }
                Sending::Paced(interval) => {
                    let mut queued = false;
                    while client.next_seq < plan.messages
                        && now >= self.measure_start + (client.next_seq as f64 * interval) as u64
                    {
                        queue_message(client, &mut self.counts, plan, now);
                        queued = true;
                    }
                    queued
                }
            },
            _ => false,
        };
        if queued {
            self.write(0);
        }
    }

    /// How long to wait for events: until the next probe or paced message, at most
    /// [`IDLE_WAIT`].
    fn wait_time(&self) -> Duration {
        let plan = &self.shared.plan;
        let due = match (self.phase, plan.sending, self.clients.first()) {
            (Phase::Probe, _, Some(client)) if client.index == 0 => Some(self.next_probe),
            (Phase::Measure, Sending::Paced(interval), Some(client))
                if client.index == 0 && client.next_seq < plan.messages =>
            {
                Some(self.measure_start + (client.next_seq as f64 * interval) as u64)
            }
            _ => None,
        };
        match due {
            Some(due) => Duration::from_nanos(due.saturating_sub(plan.now())).min(IDLE_WAIT),
            None => IDLE_WAIT,
        }
    }

    /// Handles readiness of one client (or its turn coming round again). `ready_at` is when
    /// the poll reported it ready, if it did; `closed`, that the poll saw the server close
    /// the connection (or fail it).
    fn serve(&mut self, position: usize, ready_at: Option<u64>, closed: bool) {
        let Some(client) = self.clients.get_mut(position) else {
            return;
        };
        if closed {
            client.peer_closed = true;
        }
        match client.stage {
            Stage::Idle | Stage::Closed => return,
            Stage::Connecting => {
                let Some(stream) = &client.stream else {
                    return;
                };
                match client::connect_result(stream) {
                    Ok(true) => {
                        if let Some(tls) = &self.shared.plan.tls {
                            match tls.connect() {
                                Ok(session) => client.tls = Some(session),
                                Err(err) => {
                                    self.shared.fail(format!("failed to start TLS: {err}"));
                                    self.close(position, End::Fatal);
                                    return;
                                }
                            }
                        }
                        match &self.shared.plan.web {
                            // The name goes once the upgrade is answered.
                            Some(web) => {
                                let instance = self.shared.plan.instance(client.index);
                                let socket = web.start(client.index, instance, &mut client.out);
                                client.web = Some(Box::new(socket));
                            }
                            None => queue_greeting(&self.shared.plan, client),
                        }
                        client.stage = Stage::Handshake;
                    }
                    Ok(false) => return,
                    Err(err) => {
                        self.close(position, End::Lost(err));
                        return;
                    }
                }
            }
            Stage::Handshake | Stage::Joined => {}
        }
        if !self.write(position) {
            return;
        }
        let client = &self.clients[position];
        if !(client.slow && self.phase >= Phase::Measure) {
            self.read(position, ready_at);
        }
    }

    /// Writes what the client has queued until the socket is full. A flooding sender adds
    /// one batch of new lines per round of the event loop and comes back the next round:
    /// if reading falls behind, rounds get longer and sending slows down with them, instead
    /// of the server's backlog for our receivers growing until it drops them. Returns false
    /// if the client was closed.
    fn write(&mut self, position: usize) -> bool {
        let plan = &self.shared.plan;
        let client = &mut self.clients[position];
        client.compact_output();
        let flooding = self.phase == Phase::Measure
            && plan.sending == Sending::Flood
            && client.stage == Stage::Joined
            && client.index < plan.senders
            && client.next_seq < plan.messages;
        if flooding
            && !client.has_output()
            && client.batch_round != self.round
            && !client.tls_pending()
        {
            if !window_open(&self.shared, &self.counts) {
                if !client.again {
                    client.again = true;
                    self.blocked.push(position);
                }
                return true;
            }
            client.batch_round = self.round;
            let now = plan.now();
            while client.out.len() < SEND_BATCH_BYTES && client.next_seq < plan.messages {
                queue_message(client, &mut self.counts, plan, now);
            }
        }
        if let Some(web) = &mut client.web {
            // Whatever was queued since the last write: this batch, a probe, the name.
            web.frame_lines(&mut client.out, &mut self.web_scratch);
        }
        if client.tls.is_some() {
            match flush_tls(client) {
                Ok(true) => {}
                Ok(false) => return true,
                Err(err) => {
                    self.close(position, End::Lost(err));
                    return false;
                }
            }
        } else {
            while client.has_output() {
                let Some(stream) = &mut client.stream else {
                    return false;
                };
                match stream.write(&client.out[client.written..]) {
                    // After a short write the socket is full; its draining raises a new event.
                    Ok(written) => {
                        client.written += written;
                        if client.has_output() {
                            return true;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => {
                        self.close(position, End::Lost(err));
                        return false;
                    }
                }
            }
        }
        if flooding && client.next_seq < plan.messages {
            self.serve_again(position);
        }
        true
    }

    fn window_open(&self) -> bool {
        window_open(&self.shared, &self.counts)
    }

    /// Serves a client next round even if no event comes for it.
    fn serve_again(&mut self, position: usize) {
        let client = &mut self.clients[position];
        if !client.again {
            client.again = true;
            self.again.push(position);
        }
    }

    /// Reads until the socket is empty or the client's turn is over, handling every line.
    ///
    /// Lines of the first read count as received when the poll reported the socket ready
    /// (`ready_at`): they were there by then, and the time this thread then spends reading
    /// other sockets first is the generator's, not the server's. Later reads use the clock.
    fn read(&mut self, position: usize, mut ready_at: Option<u64>) {
        if !self.tls_buffer.is_empty() {
            self.read_tls(position, ready_at);
            return;
        }
        let mut turn = 0;
        loop {
            let client = &mut self.clients[position];
            let Some(stream) = &mut client.stream else {
                return;
            };
            let result = stream.read(&mut self.buffer);
            match result {
                Ok(0) => {
                    let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server");
                    self.close(position, End::Lost(eof));
                    return;
                }
                Ok(count) => {
                    let stage = client.stage;
                    let mut lines = Lines {
                        shared: &self.shared,
                        counts: &mut self.counts,
                        now: ready_at.take().unwrap_or_else(|| self.shared.plan.now()),
                        replied: false,
                    };
                    let result = lines.take(client, &self.buffer[..count]);
                    let replied = lines.replied;
                    if stage == Stage::Handshake && client.stage == Stage::Joined {
                        self.pending -= 1;
                    }
                    if let Err(end) = result {
                        self.close(position, end);
                        return;
                    }
                    // An IRC client answers some lines (001 with its JOIN, PING with PONG).
                    if replied && !self.write(position) {
                        return;
                    }
                    // A short read emptied the socket, and data arriving after it raises a new
                    // edge-triggered event: no need to read again just to see WouldBlock. An
                    // end of stream that came with the data raises none: read on to it.
                    if count < self.buffer.len() && !self.clients[position].peer_closed {
                        return;
                    }
                    turn += count;
                    if turn >= TURN_BYTES {
                        self.serve_again(position);
                        return;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    self.close(position, End::Lost(err));
                    return;
                }
            }
        }
    }

    /// [`Worker::read`] over TLS: reads the socket into the TLS buffer (as many bytes per
    /// system call as a plain read), has the session decrypt them into the read buffer, and
    /// handles the lines as a plain read does. Whatever the session then has to send (its
    /// handshake, IRC's answers) is written at once.
    fn read_tls(&mut self, position: usize, mut ready_at: Option<u64>) {
        let mut turn = 0;
        loop {
            let client = &mut self.clients[position];
            let Some(stream) = &mut client.stream else {
                return;
            };
            let count = match stream.read(&mut self.tls_buffer) {
                Ok(0) => {
                    let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server");
                    self.close(position, End::Lost(eof));
                    return;
                }
                Ok(count) => count,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    self.close(position, End::Lost(err));
                    return;
                }
            };
            let Some(mut tls) = client.tls.take() else {
                return;
            };
            let stage = client.stage;
            let mut lines = Lines {
                shared: &self.shared,
                counts: &mut self.counts,
                now: ready_at.take().unwrap_or_else(|| self.shared.plan.now()),
                replied: false,
            };
            let received = &self.tls_buffer[..count];
            let mut result = decrypt(&mut tls, received, &mut self.buffer, client, &mut lines);
            if let Err(End::Tls(_)) = result
                && stage == Stage::Handshake
                && self.shared.plan.proto == Proto::Chat
                && tls.protocol_version().is_none()
                && received.starts_with(b"! ")
            {
                // A server turning a connection away (full, say) may do it before TLS.
                result = refused_in_plain_text(&self.shared, client, received, "TLS");
            }
            let replied = lines.replied || tls.wants_write();
            client.tls = Some(tls);
            if stage == Stage::Handshake && client.stage == Stage::Joined {
                self.pending -= 1;
            }
            if let Err(end) = result {
                self.close(position, end);
                return;
            }
            if replied && !self.write(position) {
                return;
            }
            // As for a plain read: a short read emptied the socket.
            if count < self.tls_buffer.len() && !self.clients[position].peer_closed {
                return;
            }
            turn += count;
            if turn >= TURN_BYTES {
                self.serve_again(position);
                return;
            }
        }
    }

    /// Closes a client and counts why, by the stage it was in.
    fn close(&mut self, position: usize, end: End) {
        let client = &mut self.clients[position];
        if let Some(mut stream) = client.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        client.tls = None;
        client.web = None;
        let shared = &self.shared;
        let name = shared.plan.name(client.index);
        match (client.stage, &end) {
            (Stage::Connecting | Stage::Handshake, End::Refused) => {
                log::debug!("{name}: server full");
                shared.refused.fetch_add(1, Ordering::Relaxed);
            }
            (Stage::Connecting, End::Lost(err)) => {
                log::debug!("{name}: connect failed: {err}");
                let counter = match err.kind() {
                    io::ErrorKind::ConnectionRefused => &shared.refused,
                    _ => &shared.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            (Stage::Handshake, End::Lost(err)) => {
                log::debug!("{name}: closed before the welcome: {err}");
                shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            (Stage::Joined, End::Lost(err)) if self.phase < Phase::Done => {
                log::warn!("{name}: {err}");
                shared.disconnected.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if matches!(client.stage, Stage::Connecting | Stage::Handshake) {
            self.pending -= 1;
        }
        if let End::Tls(err) = &end {
            if matches!(client.stage, Stage::Connecting | Stage::Handshake) {
                // What a plain port answers to a ClientHello doesn't parse as TLS.
                let hint = match err {
                    rustls::Error::InvalidMessage(_) => " (is it the server's TLS port?)",
                    _ => "",
                };
                let addr = shared.plan.addr(client.index);
                shared.fail(format!("TLS with {addr} failed: {err}{hint}"));
            } else if self.phase < Phase::Done {
                log::warn!("{name}: TLS failed: {err}");
                shared.disconnected.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let End::Web(err) = &end {
            if matches!(client.stage, Stage::Connecting | Stage::Handshake) {
                let addr = shared.plan.addr(client.index);
                shared.fail(format!("WebSocket with {addr} failed: {err}"));
            } else if self.phase < Phase::Done {
                log::warn!("{name}: {err}");
                shared.disconnected.fetch_add(1, Ordering::Relaxed);
            }
        }
        client.stage = Stage::Closed;
        client.carry = Vec::new();
        client.out = Vec::new();
    }

    /// Makes this round's counts visible to the driver and the other workers.
    fn publish(&mut self) {
        let shared = &self.shared;
        if self.phase == Phase::Measure && shared.plan.window > 0 {
            let floor = self
                .clients
                .iter()
                .filter(|client| client.stage == Stage::Joined && !client.slow)
                .map(|client| client.received + client.next_seq)
                .min()
                .unwrap_or(u64::MAX);
            shared.floors[self.slot].store(floor, Ordering::Relaxed);
        }
        let counts = &mut self.counts;
        if counts.delivered > 0 {
            shared
                .delivered
                .fetch_add(std::mem::take(&mut counts.delivered), Ordering::Relaxed);
            shared
                .last_delivery
                .fetch_max(counts.last_delivery, Ordering::Relaxed);
        }
        if counts.sent > 0 {
            shared
                .sent
                .fetch_add(std::mem::take(&mut counts.sent), Ordering::Relaxed);
        }
        if let Some(first) = counts.first_send.take() {
            shared.first_send.fetch_min(first, Ordering::Relaxed);
        }
        if counts.welcomed > 0 {
            shared
                .last_welcome
                .fetch_max(counts.last_welcome, Ordering::Relaxed);
            shared
                .welcomed
                .fetch_add(std::mem::take(&mut counts.welcomed), Ordering::Relaxed);
        }
        if counts.probed > 0 {
            shared
                .probed
                .fetch_add(std::mem::take(&mut counts.probed), Ordering::Relaxed);
        }
    }

    /// Reads the slow clients to the end to see which ones the server closed.
    fn drain_slow_clients(&mut self) {
        let start = Instant::now();
        let mut quiet_since = start;
        let mut open: Vec<usize> = (0..self.clients.len())
            .filter(|&position| {
                let client = &self.clients[position];
                client.slow && client.stream.is_some()
            })
            .collect();
        while !open.is_empty() && start.elapsed() < DRAIN_LIMIT {
            let mut progress = false;
            open.retain(|&position| {
                let Some(stream) = &mut self.clients[position].stream else {
                    return false;
                };
                loop {
                    match stream.read(&mut self.buffer) {
                        Ok(0) => {
                            self.counts
                                .outcome
                                .slow_closed
                                .push(self.clients[position].index);
                            return false;
                        }
                        Ok(_) => progress = true,
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => return true,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            self.counts
                                .outcome
                                .slow_closed
                                .push(self.clients[position].index);
                            return false;
                        }
                    }
                }
            });
            if progress {
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= DRAIN_QUIET {
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Whether every receiver has fewer than the window's messages in flight to it, counting
/// this worker's unpublished sends. A receiver's in-flight messages are those sent by
/// others that it hasn't received: the total sent minus its own sends and receipts.
fn window_open(shared: &Shared, counts: &Counts) -> bool {
    let plan = &shared.plan;
    if plan.window == 0 {
        return true;
    }
    let sent = shared.sent.load(Ordering::Relaxed) + counts.sent;
    let floor = shared
        .floors
        .iter()
        .map(|floor| floor.load(Ordering::Relaxed))
        .min()
        .unwrap_or(u64::MAX);
    sent < plan.window.saturating_add(floor)
}

/// Hands the client's output to its TLS session and writes the session's records until the
/// socket is full. Returns whether everything was written; if not, the socket's becoming
/// writable (or, before the handshake is done, the server's answer) brings the client back.
fn flush_tls(client: &mut Client) -> io::Result<bool> {
    let (Some(stream), Some(tls)) = (&mut client.stream, &mut client.tls) else {
        return Ok(false);
    };
    loop {
        if client.written < client.out.len() {
            // Takes what fits within the session's buffer limit.
            client.written += tls.writer().write(&client.out[client.written..])?;
        }
        if !tls.wants_write() {
            return Ok(client.written == client.out.len());
        }
        // One vectored write of up to 64 records.
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Feeds bytes read from the socket to the TLS session, and the lines it decrypts to the
/// client.
fn decrypt(
    tls: &mut ClientConnection,
    mut received: &[u8],
    plaintext: &mut [u8],
    client: &mut Client,
    lines: &mut Lines<'_>,
) -> Result<(), End> {
    while !received.is_empty() {
        // rustls takes at most a record (or 4 KiB) at a time.
        if tls.read_tls(&mut received).map_err(End::Lost)? == 0 {
            // After the server's close_notify the session takes no more.
            return Err(End::Lost(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed by the server",
            )));
        }
        tls.process_new_packets().map_err(|err| match err {
            // The server ended the session (a timeout, say): a connection lost, no more.
            rustls::Error::AlertReceived(_) => {
                End::Lost(io::Error::new(io::ErrorKind::ConnectionAborted, err))
            }
            err => End::Tls(err),
        })?;
        loop {
            match tls.reader().read(plaintext) {
                Ok(0) => {
                    let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server");
                    return Err(End::Lost(eof));
                }
                Ok(count) => lines.take(client, &plaintext[..count])?,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(End::Lost(err)),
            }
        }
    }
    Ok(())
}

/// The first bytes on a TLS connection were a `! ...` line instead of a handshake (or on a
/// WebSocket one instead of the answer to the upgrade): a chat server's refusal, sent
/// before `what`. `! server full` counts as refused; anything else ends the run.
fn refused_in_plain_text(
    shared: &Shared,
    client: &Client,
    received: &[u8],
    what: &str,
) -> Result<(), End> {
    let line = received
        .split(|&byte| byte == b'\n')
        .next()
        .unwrap_or(received);
    if let Line::ServerFull = marker::classify(line) {
        return Err(End::Refused);
    }
    shared.fail(format!(
        "the server did not accept {} (in plain text, before {what}): {}",
        shared.plan.name(client.index),
        String::from_utf8_lossy(line)
    ));
    Err(End::Fatal)
}

/// Queues the client's first line(s): its name, or IRC's registration.
fn queue_greeting(plan: &Plan, client: &mut Client) {
    let name = plan.name(client.index);
    match plan.proto {
        Proto::Chat => {
            client.out.extend_from_slice(name.as_bytes());
            client.out.push(b'\n');
        }
        Proto::Irc => irc::write_register(&mut client.out, &name),
    }
}

/// Queues a WebSocket closing frame and writes what the socket (or the TLS session)
/// takes at once: the end of the run, so nothing is waited for.
fn send_web_close(client: &mut Client, scratch: &mut Vec<u8>) {
    let Some(web) = &mut client.web else {
        return;
    };
    web.write_close(&mut client.out, scratch);
    if client.tls.is_some() {
        let _ = flush_tls(client);
        return;
    }
    let Some(stream) = &mut client.stream else {
        return;
    };
    while client.written < client.out.len() {
        match stream.write(&client.out[client.written..]) {
            Ok(written) => client.written += written,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Queues the client's next measured message, stamped `now`, padded to the plan's size.
fn queue_message(client: &mut Client, counts: &mut Counts, plan: &Plan, now: u64) {
    let stamp = Stamp {
        sender: client.index as u32,
        seq: client.next_seq,
        nanos: now,
    };
    match plan.proto {
        Proto::Chat => marker::write_bench(&mut client.out, stamp, plan.size),
        Proto::Irc => irc::write_bench(&mut client.out, stamp, plan.size),
    }
    client.next_seq += 1;
    counts.sent += 1;
    counts.first_send.get_or_insert(now);
}

/// Handles the lines of one read for one client.
struct Lines<'a> {
    shared: &'a Shared,
    counts: &'a mut Counts,
    /// When the bytes were read.
    now: u64,
    /// Lines were queued in answer (IRC): the client has output to write.
    replied: bool,
}

impl Lines<'_> {
    /// Handles every complete line of `data`, read in the plan's protocol. The protocol is
    /// chosen here, once per read, so that each protocol's loop calls its own classifier
    /// directly (the chat protocol's loop is the one the benchmarks' numbers come from).
    fn take(&mut self, client: &mut Client, data: &[u8]) -> Result<(), End> {
        if client.web.is_some() {
            return self.take_web(client, data);
        }
        match self.shared.plan.proto {
            Proto::Chat => self.take_with(client, data, marker::classify),
            Proto::Irc => self.take_with(client, data, irc::classify),
        }
    }

    fn take_with(
        &mut self,
        client: &mut Client,
        data: &[u8],
        classify: impl Fn(&[u8]) -> Line<'_>,
    ) -> Result<(), End> {
        let mut rest = data;
        if !client.carry.is_empty() || client.skipping {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                client.carry_partial(rest);
                return Ok(());
            };
            client.carry_partial(&rest[..end]);
            let carried = std::mem::take(&mut client.carry);
            let result = if std::mem::take(&mut client.skipping) {
                Ok(())
            } else {
                self.line(client, &carried, classify(&carried))
            };
            client.carry = carried;
            client.carry.clear();
            result?;
            rest = &rest[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', rest) {
            let line = &rest[start..end];
            self.line(client, line, classify(line))?;
            start = end + 1;
        }
        if start < rest.len() {
            client.carry_partial(&rest[start..]);
        }
        Ok(())
    }

    /// Handles what the server sent over WebSocket: the answer to the upgrade (then the
    /// name goes), and frames, each text message one line (`--web` speaks only the chat
    /// protocol).
    fn take_web(&mut self, client: &mut Client, data: &[u8]) -> Result<(), End> {
        let Some(mut web) = client.web.take() else {
            return Ok(());
        };
        let result = self.take_frames(client, &mut web, data);
        client.web = Some(web);
        result
    }

    fn take_frames(
        &mut self,
        client: &mut Client,
        web: &mut WebSocket,
        mut data: &[u8],
    ) -> Result<(), End> {
        if !web.upgraded() {
            let accept = self.shared.plan.web.as_ref().map_or("", Web::accept);
            match web.read_head(data, accept) {
                Ok(Some(rest)) => {
                    queue_greeting(&self.shared.plan, client);
                    self.replied = true;
                    data = rest;
                }
                Ok(None) => return Ok(()),
                // A chat server turning a connection away does it before HTTP.
                Err(WebError::NotHttp(line)) if line.starts_with(b"! ") => {
                    let before = "the WebSocket upgrade";
                    return refused_in_plain_text(self.shared, client, &line, before);
                }
                Err(err) => return Err(End::Web(err)),
            }
        }
        web.decode(data, |frame| match frame {
            Frame::Text(bytes, ends) => self.message(client, bytes, ends),
            Frame::Close(code) => {
                let code = code.map_or(String::new(), |code| format!(" {code}"));
                let closed = format!("closed by the server (WebSocket close{code})");
                Err(End::Lost(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    closed,
                )))
            }
        })?;
        if web.answer_ping(&mut client.out) {
            self.replied = true;
        }
        Ok(())
    }

    /// Handles bytes of one WebSocket message (a line, without its LF); `ends` with its
    /// last ones. A message split between reads is carried as a line is.
    fn message(&mut self, client: &mut Client, bytes: &[u8], ends: bool) -> Result<(), End> {
        if ends && client.carry.is_empty() && !client.skipping {
            return self.line(client, bytes, marker::classify(bytes));
        }
        client.carry_partial(bytes);
        if !ends {
            return Ok(());
        }
        let carried = std::mem::take(&mut client.carry);
        let result = if std::mem::take(&mut client.skipping) {
            Ok(())
        } else {
            self.line(client, &carried, marker::classify(&carried))
        };
        client.carry = carried;
        client.carry.clear();
        result
    }

    /// Acts on one line, `line` as read and `class` what it was found to be.
    fn line(&mut self, client: &mut Client, line: &[u8], class: Line<'_>) -> Result<(), End> {
        match class {
            Line::Bench(stamp) => self.delivery(client, stamp),
            Line::Probe => {
                if client.stage == Stage::Joined && !client.probed {
                    client.probed = true;
                    self.counts.probed += 1;
                }
            }
            Line::Welcome => {
                if client.stage == Stage::Handshake {
                    client.stage = Stage::Joined;
                    self.counts.welcomed += 1;
                    self.counts.last_welcome = self.counts.last_welcome.max(self.now);
                    let took = self.now.saturating_sub(client.started);
                    self.counts.outcome.join.record(took);
                    let instance = self.shared.plan.instance(client.index);
                    let joined = &mut self.counts.outcome.joined_by_instance;
                    if joined.len() <= instance {
                        joined.resize(instance + 1, 0);
                    }
                    joined[instance] += 1;
                    client.tracks = vec![SeqTrack::default(); self.shared.plan.senders];
                }
            }
            Line::Registered => {
                if client.stage == Stage::Handshake {
                    irc::write_join(&mut client.out);
                    self.replied = true;
                }
            }
            Line::Ping(token) => {
                irc::write_pong(&mut client.out, token);
                self.replied = true;
            }
            Line::TooSlow(name) => {
                if client.index == 0
                    && let Some(index) = self.shared.plan.index_of(name)
                {
                    self.counts.outcome.slow_closed.push(index);
                }
            }
            Line::ServerFull if client.stage == Stage::Handshake => return Err(End::Refused),
            Line::ServerFull | Line::Error(_) => {
                let text = String::from_utf8_lossy(line);
                let name = self.shared.plan.name(client.index);
                if client.stage != Stage::Handshake {
                    log::warn!("{name}: the server said {text:?}");
                    self.counts.outcome.server_errors += 1;
                } else {
                    self.shared
                        .fail(format!("the server did not accept {name}: {text}"));
                    return Err(End::Fatal);
                }
            }
            Line::Other => {}
        }
        Ok(())
    }

    fn delivery(&mut self, client: &mut Client, stamp: Stamp) {
        // Slow clients may still read for a moment after the measurement started; what
        // they get is not counted, as they are not expected to get anything.
        if client.slow || client.stage != Stage::Joined {
            return;
        }
        let sender = stamp.sender as usize;
        let arrival = match client.tracks.get_mut(sender) {
            Some(track) if sender != client.index => {
                track.record(stamp.seq, self.shared.plan.messages)
            }
            _ => Arrival::OutOfRange,
        };
        self.counts.outcome.tally.count(arrival);
        if matches!(arrival, Arrival::InOrder | Arrival::Ahead | Arrival::Late) {
            self.counts.delivered += 1;
            client.received += 1;
            let plan = &self.shared.plan;
            if plan.instance(sender) != plan.instance(client.index) {
                self.counts.outcome.crossed += 1;
            }
            self.counts.last_delivery = self.now;
            let latency = self.now.saturating_sub(stamp.nanos);
            self.counts.outcome.latency.record(latency);
        }
    }
}
