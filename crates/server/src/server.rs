//! The server: the listening socket, the accept loop that gives each client its own thread,
//! and graceful shutdown.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::{Notice, Refusal, ServerLine};
use chat_sync::{lock, wait_until};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::address::{Addresses, TooMany};
use crate::ban::Bans;
use crate::capacity;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::connection;
use crate::directory::{Directory, LocalDirectory};
use crate::event::EventSink;
use crate::log_limit::LogLimit;
use crate::password::Passwords;
use crate::queue::Outbox;
use crate::registry::Registry;
use crate::store::{SqliteStore, Store};
use crate::tls::Tls;
use crate::transport::Transport;
use crate::writer::Writers;

/// What `listen` is asked to queue; Linux caps it at `net.core.somaxconn` (4096 by default),
/// far above std's default of 128, so thousands of clients can connect at once.
const LISTEN_BACKLOG: i32 = 65_535;

/// Stack reserved for each connection thread. Only the pages actually touched count toward
/// memory (a few KiB for a connection), but a panic printing a backtrace needs room.
const CONNECTION_STACK_BYTES: usize = 256 * 1024;

/// How often the accept loop wakes up without a connection, to write the log summaries.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);

/// Pause after a failed `accept` (out of file descriptors, say) before trying again.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// On shutdown, how long clients get to read `* server shutting down` and close, and then
/// how long their threads get to finish after their sockets are forced shut.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);
const SHUTDOWN_FORCE: Duration = Duration::from_millis(500);

const WAKE: Token = Token(0);
/// Listener `i` has token `FIRST_LISTENER + i`.
const FIRST_LISTENER: usize = 1;

/// Every live connection, joined or not, so shutdown can reach all of them and
/// `--max-clients` can count them.
#[derive(Debug, Default)]
struct Connections {
    by_id: Mutex<HashMap<usize, Arc<Outbox>>>,
    gone: Condvar,
    next_id: AtomicUsize,
}

impl Connections {
    /// Registers a new connection; returns its id.
    fn add(&self, outbox: &Arc<Outbox>) -> usize {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.by_id).insert(id, Arc::clone(outbox));
        id
    }

    fn remove(&self, id: usize) {
        lock(&self.by_id).remove(&id);
        self.gone.notify_all();
    }

    fn len(&self) -> usize {
        lock(&self.by_id).len()
    }

    fn all(&self) -> Vec<Arc<Outbox>> {
        lock(&self.by_id).values().cloned().collect()
    }

    /// Waits until no connection is left or `timeout` passes; returns whether none is left.
    fn wait_until_empty(&self, timeout: Duration) -> bool {
        let deadline = Some(Instant::now() + timeout);
        wait_until(&self.gone, lock(&self.by_id), deadline, |by_id| {
            by_id.is_empty()
        })
        .1
    }
}

/// What the accept loop and every connection thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    pub(crate) store: Arc<dyn Store>,
    /// This instance's part of a cluster (`--redis`), if it is in one.
    pub(crate) cluster: Option<Arc<Cluster>>,
    writers: Writers,
    connections: Connections,
    /// Connections served at once: `--max-clients`, or less if the system can't take it
    /// (lowered further if starting a thread ever fails).
    max_clients: AtomicUsize,
    addresses: Arc<Addresses>,
    pub(crate) log_limit: LogLimit,
    pub(crate) passwords: Passwords,
    pub(crate) bans: Bans,
    /// The addresses listened on, and what each serves (for invite links).
    pub(crate) listening: Vec<Listening>,
    /// When the server started, for `/stats`.
    pub(crate) started: Instant,
    /// Connections turned away (full, too many from an address, banned).
    refused: AtomicU64,
    stopping: AtomicBool,
    waker: Waker,
}

impl Shared {
    /// Whether the server is shutting down.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Counts a connection turned away.
    pub(crate) fn note_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections open now, and turned away since the start.
    pub(crate) fn connection_counts(&self) -> (usize, u64) {
        (self.connections.len(), self.refused.load(Ordering::Relaxed))
    }
}

/// A connection's place in [`Connections`], given up when its thread ends, however it ends.
struct Tracked {
    shared: Arc<Shared>,
    id: usize,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.shared.connections.remove(self.id);
    }
}

/// Stops a running [`Server`] from any thread (a signal handler thread, a test).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Asks the server to stop: it tells every client `* server shutting down`, closes the
    /// connections and [`Server::run`] returns.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Err(err) = self.shared.waker.wake() {
            log::error!("failed to wake the accept loop: {err}");
        }
    }
}

/// A bound chat server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listeners: Vec<Listener>,
    poll: Poll,
    shared: Arc<Shared>,
}

/// A listening socket, the TLS its connections get (`None`: plain TCP), and whether it is
/// the web port (the page, and the line protocol over WebSocket).
#[derive(Debug)]
pub struct Listener {
    pub socket: TcpListener,
    pub tls: Option<Arc<Tls>>,
    pub web: bool,
}

/// An address the server listens on, and what it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub addr: SocketAddr,
    pub tls: bool,
    pub web: bool,
}

/// Binds `addr` (port 0 picks a free port) with a long listen queue.
///
/// # Errors
/// If the address doesn't resolve or can't be bound.
pub fn listen(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // Listening again only changes the queue length; std chose 128.
    rustix::net::listen(&listener, LISTEN_BACKLOG)?;
    Ok(listener)
}

impl Server {
    /// Binds `host:port` (port 0 picks a free port) with a long listen queue.
    ///
    /// Remembers everything in memory only (as `--ephemeral`); see
    /// [`bind_with`](Server::bind_with).
    ///
    /// # Errors
    /// If the address doesn't resolve or can't be bound, or the limits are invalid.
    pub fn bind(addr: impl ToSocketAddrs, config: Config) -> io::Result<Server> {
        let store = Arc::new(SqliteStore::in_memory(config.history_days));
        Server::bind_with(addr, config, store)
    }

    /// Binds `host:port` (port 0 picks a free port) with a long listen queue, keeping what
    /// the server remembers in `store`.
    ///
    /// # Errors
    /// If the address doesn't resolve or can't be bound, or the limits are invalid.
    pub fn bind_with(
        addr: impl ToSocketAddrs,
        config: Config,
        store: Arc<dyn Store>,
    ) -> io::Result<Server> {
        Server::from_listener(listen(addr)?, config, store)
    }

    /// Serves on an already bound listener.
    ///
    /// # Errors
    /// If the limits don't make sense together ([`Config::validate`]), the listener can't be
    /// made non-blocking or the threads can't start.
    pub fn from_listener(
        listener: TcpListener,
        config: Config,
        store: Arc<dyn Store>,
    ) -> io::Result<Server> {
        let plain = Listener {
            socket: listener,
            tls: None,
            web: false,
        };
        Server::from_listeners(vec![plain], config, store)
    }

    /// Serves on already bound listeners, plain or TLS.
    ///
    /// # Errors
    /// As [`Server::from_listener`], and if there is no listener.
    pub fn from_listeners(
        listeners: Vec<Listener>,
        config: Config,
        store: Arc<dyn Store>,
    ) -> io::Result<Server> {
        Server::in_cluster(listeners, config, store, None)
    }

    /// Serves on already bound listeners as one instance of `cluster` (when given): names
    /// are claimed and public rooms' events delivered through it.
    ///
    /// # Errors
    /// As [`Server::from_listeners`].
    pub fn in_cluster(
        listeners: Vec<Listener>,
        config: Config,
        store: Arc<dyn Store>,
        cluster: Option<Arc<Cluster>>,
    ) -> io::Result<Server> {
        config.validate()?;
        if listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nothing to listen on",
            ));
        }
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let mut listening = Vec::new();
        for (index, listener) in listeners.iter().enumerate() {
            listener.socket.set_nonblocking(true)?;
            poll.registry().register(
                &mut SourceFd(&listener.socket.as_raw_fd()),
                Token(FIRST_LISTENER + index),
                Interest::READABLE,
            )?;
            listening.push(Listening {
                addr: listener.socket.local_addr()?,
                tls: listener.tls.is_some(),
                web: listener.web,
            });
        }
        let (directory, sinks): (Arc<dyn Directory>, Vec<Arc<dyn EventSink>>) = match &cluster {
            Some(cluster) => (cluster.directory(), vec![cluster.sink()]),
            None => (Arc::new(LocalDirectory::default()), Vec::new()),
        };
        let capacity = capacity::measure(CONNECTION_STACK_BYTES);
        if config.max_clients > capacity.clients {
            log::warn!(
                "--max-clients {} is more than this system can serve: about {} clients, \
                 limited by {}; connections beyond {} are told the server is full",
                config.max_clients,
                capacity.clients,
                capacity.bound,
                capacity.clients
            );
        }
        let shared = Arc::new(Shared {
            max_clients: AtomicUsize::new(config.max_clients.min(capacity.clients)),
            addresses: Arc::new(Addresses::new(config.address_limits())),
            log_limit: LogLimit::default(),
            passwords: Passwords::default(),
            bans: Bans::load(&*store),
            listening,
            started: Instant::now(),
            refused: AtomicU64::new(0),
            registry: Registry::new(config.rules(), directory, Arc::clone(&store), sinks),
            store,
            cluster,
            writers: Writers::start(config.writer_thread_count())?,
            connections: Connections::default(),
            stopping: AtomicBool::new(false),
            waker,
            config,
        });
        if let Some(cluster) = &shared.cluster {
            let weak = Arc::downgrade(&shared);
            cluster.on_bans_changed(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.bans.reload(&*shared.store);
                }
            });
            let weak = Arc::downgrade(&shared);
            cluster.on_rekeyed(move |room, members, key| {
                if let Some(shared) = weak.upgrade() {
                    crate::connection::tell_rekeyed(&shared, members, room, key);
                }
            });
            cluster.start(shared.registry.clone())?;
        }
        Ok(Server {
            listeners,
            poll,
            shared,
        })
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners[0].socket.local_addr()
    }

    /// Every address listened on, and what it serves, in the order given.
    pub fn local_addrs(&self) -> Vec<Listening> {
        self.shared.listening.clone()
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Accepts clients, one thread each, until shut down; then says goodbye to everyone
    /// and returns once their connections are closed.
    ///
    /// # Errors
    /// Only if waiting for new connections fails; errors of single connections and of
    /// `accept` are logged and the server carries on.
    pub fn run(mut self) -> io::Result<()> {
        let result = self.accept_until_shutdown();
        self.stop_connections();
        if let Some(cluster) = &self.shared.cluster {
            cluster.stop();
        }
        self.shared.writers.stop();
        // Everything relayed is handed to the store by now: write it before returning.
        self.shared.store.close();
        result
    }

    fn accept_until_shutdown(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(16);
        while !self.stopping() {
            if let Err(err) = self.poll.poll(&mut events, Some(HOUSEKEEPING_EVERY)) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            for index in 0..self.listeners.len() {
                self.accept_pending(index);
            }
            self.shared.log_limit.flush();
        }
        Ok(())
    }

    fn stopping(&self) -> bool {
        self.shared.stopping()
    }

    /// Accepts until the listen queue is empty (the listener is edge-triggered).
    fn accept_pending(&self, index: usize) {
        let listener = &self.listeners[index];
        while !self.stopping() {
            match listener.socket.accept() {
                Ok((stream, peer)) => {
                    self.admit(stream, peer, listener.tls.as_deref(), listener.web);
                }
                Err(err) => match err.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => {}
                    _ => {
                        log::error!("failed to accept: {err}; retrying shortly");
                        thread::sleep(ACCEPT_RETRY_PAUSE);
                    }
                },
            }
        }
    }

    /// Gives a new connection its outbox and its thread, or turns it away if the server
    /// is full or its address has too many connections.
    fn admit(&self, stream: TcpStream, peer: SocketAddr, tls: Option<&Tls>, web: bool) {
        let shared = &self.shared;
        let logs = shared.log_limit.allow(peer.ip());
        let max_clients = shared.max_clients.load(Ordering::Relaxed);
        if shared.connections.len() >= max_clients {
            if logs {
                log::warn!("{peer} refused: server full ({max_clients} clients)");
            }
            shared.refused.fetch_add(1, Ordering::Relaxed);
            refuse(&stream, &Refusal::ServerFull.into());
            return;
        }
        // A TLS or web client is told after its handshake, in a language it reads.
        if tls.is_none()
            && !web
            && let Some(ban) = shared.bans.of_address(peer.ip())
        {
            if logs {
                log::info!("{peer} refused: banned address");
            }
            shared.refused.fetch_add(1, Ordering::Relaxed);
            let refusal = Refusal::YouAreBanned {
                until: ban.until,
                reason: ban.reason.as_deref(),
            };
            refuse(&stream, &refusal.into());
            return;
        }
        let ticket = match shared.addresses.admit(peer.ip(), Instant::now()) {
            Ok(ticket) => ticket,
            Err(TooMany) => {
                if logs {
                    log::warn!("{peer} refused: too many connections from this address");
                }
                shared.refused.fetch_add(1, Ordering::Relaxed);
                refuse(&stream, &Refusal::TooManyConnections.into());
                return;
            }
        };
        let transport = match tls {
            None => Transport::plain(stream),
            Some(tls) => match Transport::tls(stream, tls) {
                Ok(transport) => transport,
                Err(err) => {
                    log::error!("{peer} refused: no TLS session: {err}");
                    return;
                }
            },
        };
        let transport = if web {
            Transport::web(transport)
        } else {
            transport
        };
        let outbox = shared
            .writers
            .outbox(transport, shared.config.queue_limits());
        // Made before the thread so that if the thread can't start, dropping the closure
        // still removes the connection.
        let tracked = Tracked {
            shared: Arc::clone(shared),
            id: shared.connections.add(&outbox),
        };
        let thread_outbox = Arc::clone(&outbox);
        let spawned = thread::Builder::new()
            .name(format!("client-{peer}"))
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || connection::run(&tracked.shared, thread_outbox, peer, ticket));
        if let Err(err) = spawned {
            // The system can't take more threads, whatever the limits said: serve as many
            // as now from here on, rather than try again at the edge of what it can do.
            let now_serving = shared.connections.len();
            shared.max_clients.fetch_min(now_serving, Ordering::Relaxed);
            log::error!(
                "{peer} refused: failed to start its thread ({err}); serving at most \
                 {now_serving} clients from now on"
            );
            refuse(outbox.transport().socket(), &Refusal::ServerFull.into());
        }
    }

    /// Tells every client the server is going away, gives them a moment to read it and
    /// close, then closes whatever is left.
    fn stop_connections(&self) {
        log::info!("shutting down");
        let connections = &self.shared.connections;
        for outbox in connections.all() {
            outbox.send_line(Notice::ShuttingDown);
            outbox.finish();
        }
        if connections.wait_until_empty(SHUTDOWN_GRACE) {
            return;
        }
        for outbox in connections.all() {
            outbox.force_close();
        }
        if !connections.wait_until_empty(SHUTDOWN_FORCE) {
            log::warn!("{} connections did not close in time", connections.len());
        }
    }
}

/// Sends one error line to a connection that won't be served, then closes it. What the
/// client already sent is read first, so the close is a clean FIN and not a reset that
/// could destroy the error line before the client reads it.
fn refuse(stream: &TcpStream, line: &ServerLine<'_>) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write_all(format!("{line}\n").as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    for _ in 0..64 {
        if !matches!((&*stream).read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

/// Raises this process's open-file limit to its hard limit (each client is a descriptor).
/// Returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit)?;
    }
    Ok(limit.current.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};

    use super::*;
    use crate::connection::tests::PANIC_LINE;

    struct LineClient {
        stream: TcpStream,
        reader: BufReader<TcpStream>,
    }

    impl LineClient {
        fn join(addr: SocketAddr, name: &str) -> LineClient {
            let stream = TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut client = LineClient { stream, reader };
            client.send(name);
            client.read_until(&format!("* welcome {name},"));
            client
        }

        fn send(&mut self, line: &str) {
            writeln!(self.stream, "{line}").expect("send");
        }

        fn read_until(&mut self, prefix: &str) -> String {
            let mut seen = Vec::new();
            loop {
                let mut line = String::new();
                match self.reader.read_line(&mut line) {
                    Ok(n) if n > 0 => {}
                    other => panic!("no line starting {prefix:?} ({other:?}); saw {seen:#?}"),
                }
                let line = line.trim_end().to_string();
                if line.starts_with(prefix) {
                    return line;
                }
                seen.push(line);
            }
        }
    }

    #[test]
    fn a_panicking_connection_leaves_the_server_working() {
        let server = Server::bind("127.0.0.1:0", Config::default()).expect("bind");
        let addr = server.local_addr().expect("addr");
        let handle = server.shutdown_handle();
        let running = thread::spawn(move || server.run());

        let mut alice = LineClient::join(addr, "alice");
        let mut doomed = LineClient::join(addr, "doomed");
        alice.read_until("* doomed joined");
        doomed.send(PANIC_LINE);
        // The membership is dropped while unwinding: the name is freed and the room told.
        alice.read_until("* doomed quit (connection lost)");

        let mut again = LineClient::join(addr, "doomed");
        again.send("still here");
        assert_eq!(alice.read_until("doomed:"), "doomed: still here");

        handle.shutdown();
        running.join().expect("server thread").expect("server run");
    }
}
