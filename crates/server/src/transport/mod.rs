//! A client's socket and the encoding between the chat's plaintext lines and the bytes on
//! the wire: the connection's thread reads plaintext through it, and a writer thread asks it
//! to turn queued lines into wire bytes and send them without blocking.
//!
//! Plain TCP is one variant: its lines are the wire bytes, so a writer hands the queue's
//! shared chunks straight to one `sendmsg` (zero-copy, many lines per system call). A
//! variant that must encode per recipient (TLS records, WebSocket frames) encodes from the
//! same queue and keeps what the socket has not taken yet; nothing else changes for it.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendFlags};
use socket2::{SockRef, TcpKeepalive};

use crate::queue::{CHUNK_OVERHEAD, Chunk};
use crate::tls::Tls;

mod tls_stream;
mod web_socket;

pub use tls_stream::TlsStream;
pub use web_socket::WebSocketStream;

/// The most buffers one `sendmsg` is given (Linux accepts up to 1024).
const MAX_SLICES_PER_SEND: usize = 256;

/// Keepalive probes start after this much silence from a peer...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// ...and are sent this often...
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// ...this many at most.
const KEEPALIVE_PROBES: u32 = 6;
/// A peer that has acknowledged nothing for this long is dropped: with keepalive, a silent
/// peer that vanished (cable pulled, laptop suspended) goes 90 s after its last packet;
/// data sent to one that vanished goes 90 s after it was sent.
const UNACKED_TIMEOUT: Duration = Duration::from_secs(90);

/// The kernel send buffer of each client socket. Fixing it (instead of letting Linux grow
/// it to 4 MiB) keeps what a stuck client can hold in kernel memory small, next to the
/// `--max-backlog-bytes` it can hold in its queue; Linux doubles it for bookkeeping.
const SEND_BUFFER_BYTES: usize = 128 * 1024;

/// The most bytes of a client's socket the kernel may hold unsent (waiting for the
/// client's receive window); the rest waits in the queue. A client that reads slowly then
/// takes new bytes in small steps as it reads, which is how senders pacing themselves to
/// it see that it is alive (see [`crate::queue::STALL_LIMIT`]).
const UNSENT_LOW_WATER_BYTES: u32 = 16 * 1024;

/// How one attempt to send a queue ended.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Everything queued is on its way.
    All,
    /// The socket's buffer is full; try again once it drains.
    Blocked,
    /// The socket failed.
    Failed(io::Error),
}

/// One client's socket and the way lines are encoded on it.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP: lines are sent as they are.
    Plain(TcpStream),
    /// TLS: lines are encrypted for each client as a writer sends them.
    Tls(Box<TlsStream>),
    /// A browser: HTTP, then WebSocket frames, over plain TCP or TLS.
    WebSocket(Box<WebSocketStream>),
}

impl Transport {
    /// A plain TCP transport over an accepted socket, with the options every client socket
    /// gets (see [`configure_tcp`]).
    pub fn plain(stream: TcpStream) -> Transport {
        if let Err(err) = configure_tcp(&stream) {
            log::warn!("{:?} socket options not set: {err}", stream.peer_addr());
        }
        Transport::Plain(stream)
    }

    /// A TLS transport over an accepted socket; its handshake runs later, on the
    /// connection's thread ([`Transport::handshake`]).
    ///
    /// # Errors
    /// If rustls can't make a session.
    pub fn tls(stream: TcpStream, tls: &Tls) -> io::Result<Transport> {
        if let Err(err) = configure_tcp(&stream) {
            log::warn!("{:?} socket options not set: {err}", stream.peer_addr());
        }
        let session = tls
            .accept()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        Ok(Transport::Tls(Box::new(TlsStream::new(stream, session))))
    }

    /// A browser's transport over `inner` (plain or TLS): HTTP until the upgrade.
    pub fn web(inner: Transport) -> Transport {
        Transport::WebSocket(Box::new(WebSocketStream::new(inner)))
    }

    /// Whether lines are encrypted.
    pub fn is_tls(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(_) => true,
            Transport::WebSocket(web) => web.inner().is_tls(),
        }
    }

    /// The browser side, if this is one.
    pub fn web_socket(&self) -> Option<&WebSocketStream> {
        match self {
            Transport::WebSocket(web) => Some(web),
            _ => None,
        }
    }

    /// Runs the TLS handshake until `deadline` (nothing to do for plain TCP).
    ///
    /// # Errors
    /// If the client doesn't complete it in time or sends something that isn't TLS.
    pub fn handshake(&self, deadline: std::time::Instant) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(tls) => tls.handshake(deadline),
            Transport::WebSocket(web) => web.inner().handshake(deadline),
        }
    }

    /// Whether the transport has bytes of its own to send (TLS alerts, key updates).
    pub fn wants_flush(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.wants_flush(),
            Transport::WebSocket(web) => web.wants_flush(),
        }
    }

    /// The TCP socket underneath (for socket options, addresses and timeouts).
    pub fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(tls) => tls.socket(),
            Transport::WebSocket(web) => web.inner().socket(),
        }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket().peer_addr()
    }

    /// The descriptor a writer waits on when the socket is full.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }

    /// Sets how long a read may block (`None`: as long as it takes).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.set_read_timeout(timeout),
            Transport::Tls(tls) => tls.set_read_timeout(timeout),
            Transport::WebSocket(web) => web.inner().set_read_timeout(timeout),
        }
    }

    /// Shuts the socket down in one or both directions.
    pub fn shutdown(&self, how: Shutdown) {
        match self {
            Transport::Plain(stream) => {
                let _ = stream.shutdown(how);
            }
            Transport::Tls(tls) => tls.shutdown(how),
            Transport::WebSocket(web) => web.shutdown(how),
        }
    }

    /// Closes with a reset instead of a FIN when the socket is closed, so a client that
    /// stopped reading doesn't keep kernel buffers around.
    pub(crate) fn reset_on_close(&self) {
        let _ = SockRef::from(self.socket()).set_linger(Some(Duration::ZERO));
    }

    /// Whether the kernel would take bytes for this socket now.
    pub(crate) fn is_writable(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(self.socket(), PollFlags::OUT)];
        let ready = poll(&mut fds, Some(&Timespec::default()));
        // If asking fails, say it is writable: wrongly waiting a little beats wrongly
        // dropping a client.
        ready.is_err() || fds[0].revents().contains(PollFlags::OUT)
    }

    /// Sends as much of `pending` (whose first chunk is already written up to `offset`) as
    /// the socket takes now, without blocking. Returns how much backlog that cleared (bytes
    /// plus [`CHUNK_OVERHEAD`] per finished chunk); `pending` and `offset` are advanced past
    /// what was sent.
    pub(crate) fn send(&self, pending: &mut VecDeque<Chunk>, offset: &mut usize) -> (usize, Sent) {
        match self {
            Transport::Plain(stream) => write_queue(stream, pending, offset),
            Transport::Tls(tls) => tls.send(pending, offset),
            Transport::WebSocket(web) => web.send(pending, offset),
        }
    }
}

impl Read for &Transport {
    /// Reads plaintext, blocking (up to the read timeout); runs on the connection's thread.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => (&*stream).read(buf),
            Transport::Tls(tls) => tls.read(buf),
            Transport::WebSocket(web) => web.read(buf),
        }
    }
}

/// Sets the options every accepted TCP socket gets: no Nagle delay for small lines, bounded
/// kernel buffering, and keepalive plus a timeout on unacknowledged data so a vanished peer
/// is noticed.
pub fn configure_tcp(stream: &TcpStream) -> io::Result<()> {
    let socket = SockRef::from(stream);
    socket.set_tcp_nodelay(true)?;
    socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
    socket.set_tcp_notsent_lowat(UNSENT_LOW_WATER_BYTES)?;
    socket.set_tcp_keepalive(
        &TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_PROBES),
    )?;
    socket.set_tcp_user_timeout(Some(UNACKED_TIMEOUT))?;
    Ok(())
}

/// Where wire bytes go: a socket that takes a list of buffers without blocking.
trait Wire {
    /// Sends from `slices` in order; `AGAIN` when nothing fits now.
    fn send_slices(&self, slices: &[IoSlice<'_>]) -> rustix::io::Result<usize>;
}

impl Wire for TcpStream {
    fn send_slices(&self, slices: &[IoSlice<'_>]) -> rustix::io::Result<usize> {
        // MSG_DONTWAIT: the socket stays blocking for the connection thread's reads, but a
        // writer must never wait on one client.
        rustix::net::sendmsg(
            self,
            slices,
            &mut SendAncillaryBuffer::default(),
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        )
    }
}

/// Writes queued chunks, as they are, until the queue is empty, the wire is full or it
/// fails (see [`Transport::send`]).
fn write_queue(
    wire: &impl Wire,
    pending: &mut VecDeque<Chunk>,
    offset: &mut usize,
) -> (usize, Sent) {
    let mut cleared = 0;
    loop {
        // An empty chunk (a nudge for a transport with bytes of its own) is done at once.
        while pending.front().is_some_and(|front| front.len() == *offset) {
            pending.pop_front();
            *offset = 0;
            cleared += CHUNK_OVERHEAD;
        }
        if pending.is_empty() {
            break;
        }
        let slices: Vec<IoSlice<'_>> = pending
            .iter()
            .take(MAX_SLICES_PER_SEND)
            .enumerate()
            .map(|(index, chunk)| IoSlice::new(&chunk[if index == 0 { *offset } else { 0 }..]))
            .collect();
        match wire.send_slices(&slices) {
            Ok(mut bytes) => {
                cleared += bytes;
                while bytes > 0 {
                    let Some(front) = pending.front() else { break };
                    let left = front.len() - *offset;
                    if bytes >= left {
                        bytes -= left;
                        *offset = 0;
                        cleared += CHUNK_OVERHEAD;
                        pending.pop_front();
                    } else {
                        *offset += bytes;
                        bytes = 0;
                    }
                }
            }
            Err(Errno::AGAIN) => return (cleared, Sent::Blocked),
            Err(Errno::INTR) => {}
            Err(err) => return (cleared, Sent::Failed(err.into())),
        }
    }
    (cleared, Sent::All)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A socket that takes at most `budget` bytes per call, follows a script of results,
    /// and records what it took and how many buffers each call was given.
    #[derive(Default)]
    struct FakeWire {
        script: RefCell<VecDeque<Result<usize, Errno>>>,
        taken: RefCell<Vec<u8>>,
        slices_per_call: RefCell<Vec<usize>>,
    }

    impl FakeWire {
        fn scripted(script: &[Result<usize, Errno>]) -> FakeWire {
            FakeWire {
                script: RefCell::new(script.iter().copied().collect()),
                ..FakeWire::default()
            }
        }
    }

    impl Wire for FakeWire {
        fn send_slices(&self, slices: &[IoSlice<'_>]) -> rustix::io::Result<usize> {
            self.slices_per_call.borrow_mut().push(slices.len());
            let budget = self
                .script
                .borrow_mut()
                .pop_front()
                .unwrap_or(Err(Errno::AGAIN))?;
            let mut taken = 0;
            for slice in slices {
                let part = &slice[..slice.len().min(budget - taken)];
                self.taken.borrow_mut().extend_from_slice(part);
                taken += part.len();
            }
            Ok(taken)
        }
    }

    fn queue(lines: &[&str]) -> VecDeque<Chunk> {
        lines
            .iter()
            .map(|line| Chunk::from(line.as_bytes()))
            .collect()
    }

    #[test]
    fn everything_goes_in_one_call_when_it_fits() {
        let wire = FakeWire::scripted(&[Ok(1000)]);
        let mut pending = queue(&["a\n", "bb\n", "ccc\n"]);
        let mut offset = 0;
        let (cleared, sent) = write_queue(&wire, &mut pending, &mut offset);
        assert!(matches!(sent, Sent::All));
        assert_eq!(&*wire.taken.borrow(), b"a\nbb\nccc\n");
        assert_eq!(*wire.slices_per_call.borrow(), [3]);
        assert_eq!(cleared, 9 + 3 * CHUNK_OVERHEAD);
        assert!(pending.is_empty() && offset == 0);
    }

    #[test]
    fn a_partial_write_resumes_mid_chunk_after_the_socket_drains() {
        let wire = FakeWire::scripted(&[Ok(4), Err(Errno::AGAIN)]);
        let mut pending = queue(&["hello\n", "world\n"]);
        let mut offset = 0;
        let (cleared, sent) = write_queue(&wire, &mut pending, &mut offset);
        assert!(matches!(sent, Sent::Blocked));
        assert_eq!((cleared, offset, pending.len()), (4, 4, 2));

        let wire_after = FakeWire::scripted(&[Ok(3), Ok(100)]);
        let (cleared, sent) = write_queue(&wire_after, &mut pending, &mut offset);
        assert!(matches!(sent, Sent::All));
        assert_eq!(&*wire_after.taken.borrow(), b"o\nworld\n");
        assert_eq!(cleared, 8 + 2 * CHUNK_OVERHEAD);
    }

    #[test]
    fn interrupted_calls_are_retried_and_errors_reported() {
        let wire = FakeWire::scripted(&[Err(Errno::INTR), Ok(2), Err(Errno::CONNRESET)]);
        let mut pending = queue(&["ab\n"]);
        let mut offset = 0;
        let (cleared, sent) = write_queue(&wire, &mut pending, &mut offset);
        assert!(matches!(sent, Sent::Failed(_)));
        assert_eq!((cleared, offset), (2, 2));
    }

    #[test]
    fn a_long_queue_is_sent_in_calls_of_bounded_size() {
        let lines: Vec<String> = (0..600).map(|i| format!("{i}\n")).collect();
        let mut pending: VecDeque<Chunk> = lines
            .iter()
            .map(|line| Chunk::from(line.as_bytes()))
            .collect();
        let wire = FakeWire::scripted(&[Ok(usize::MAX / 2); 3]);
        let mut offset = 0;
        let (_, sent) = write_queue(&wire, &mut pending, &mut offset);
        assert!(matches!(sent, Sent::All));
        assert_eq!(*wire.slices_per_call.borrow(), [256, 256, 88]);
        assert_eq!(*wire.taken.borrow(), lines.concat().into_bytes());
    }
}
