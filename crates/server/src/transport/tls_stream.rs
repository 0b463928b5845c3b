//! A client's TLS session over its socket, shared by the connection's thread (which reads)
//! and a writer thread (which encrypts the queue and sends it). The session's lock is held
//! only for work in memory and for non-blocking sends; blocking reads happen without it.
//!
//! Only the writer sends records once the handshake is done, so they reach the socket in
//! the order rustls made them; when a read makes rustls want to answer (an alert, a key
//! update), the connection thread asks the writer to flush ([`TlsStream::wants_flush`]).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chat_sync::lock;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};
use rustls::ServerConnection;

use super::Sent;
use crate::queue::{CHUNK_OVERHEAD, Chunk};

/// Plaintext encrypted at a time (one TLS record at most).
const RECORD_BYTES: usize = 16 * 1024;

/// A TLS session on an accepted socket.
pub struct TlsStream {
    socket: TcpStream,
    session: Mutex<ServerConnection>,
    /// How long a read waits for the client (`None`: as long as it takes).
    read_timeout: Mutex<Option<Duration>>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// Sends and receives without blocking: a writer must never wait on one client, and the
/// session's lock is never held while waiting.
struct DontWait<'a>(&'a TcpStream);

impl Read for DontWait<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match rustix::net::recv(self.0, &mut *buf, RecvFlags::DONTWAIT) {
                Ok((read, _)) => return Ok(read),
                Err(Errno::INTR) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
}

impl Write for DontWait<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        loop {
            match rustix::net::send(self.0, bytes, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
                Ok(sent) => return Ok(sent),
                Err(Errno::INTR) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(err: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

impl TlsStream {
    pub fn new(socket: TcpStream, session: ServerConnection) -> TlsStream {
        TlsStream {
            socket,
            session: Mutex::new(session),
            read_timeout: Mutex::new(None),
        }
    }

    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Runs the handshake on the calling thread (the connection's), until `deadline`.
    ///
    /// # Errors
    /// If the client sends something that isn't TLS (or a version too old), stalls, or
    /// goes away.
    pub fn handshake(&self, deadline: Instant) -> io::Result<()> {
        loop {
            let (out, handshaking) = {
                let mut session = lock(&self.session);
                let mut out = Vec::new();
                while session.wants_write() {
                    session.write_tls(&mut out)?;
                }
                (out, session.is_handshaking())
            };
            let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "handshake timed out");
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .ok_or_else(timed_out)?;
            if !out.is_empty() {
                self.socket.set_write_timeout(Some(left))?;
                (&self.socket).write_all(&out)?;
                self.socket.set_write_timeout(None)?;
            }
            if !handshaking {
                return Ok(());
            }
            if !wait_readable(&self.socket, Some(left))? {
                return Err(timed_out());
            }
            let mut session = lock(&self.session);
            if let Err(err) = receive(&mut session, &self.socket) {
                // Tell the client why (an alert) before closing, best effort.
                let mut alert = Vec::new();
                let _ = session.write_tls(&mut alert);
                drop(session);
                let _ = (&self.socket).write_all(&alert);
                return Err(err);
            }
        }
    }

    /// Whether rustls has records to send that no queued line will carry (an alert, a key
    /// update): the connection then asks a writer to flush.
    pub fn wants_flush(&self) -> bool {
        lock(&self.session).wants_write()
    }

    /// Encrypts what is queued and sends it without blocking (see `Transport::send`).
    /// At most one record waits inside rustls; the rest stays in the queue, so the queue's
    /// limits and pacing work as for plain TCP.
    pub(crate) fn send(&self, pending: &mut VecDeque<Chunk>, offset: &mut usize) -> (usize, Sent) {
        let mut session = lock(&self.session);
        let mut cleared = 0;
        let mut record = Vec::new();
        loop {
            while session.wants_write() {
                match session.write_tls(&mut DontWait(&self.socket)) {
                    Ok(_) => {}
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        return (cleared, Sent::Blocked);
                    }
                    Err(err) => return (cleared, Sent::Failed(err)),
                }
            }
            if pending.is_empty() {
                return (cleared, Sent::All);
            }
            record.clear();
            while record.len() < RECORD_BYTES {
                let Some(front) = pending.front() else { break };
                let take = (front.len() - *offset).min(RECORD_BYTES - record.len());
                record.extend_from_slice(&front[*offset..*offset + take]);
                cleared += take;
                *offset += take;
                if *offset == front.len() {
                    *offset = 0;
                    cleared += CHUNK_OVERHEAD;
                    pending.pop_front();
                }
            }
            if let Err(err) = session.writer().write_all(&record) {
                return (cleared, Sent::Failed(err));
            }
        }
    }

    /// Reads plaintext, waiting (up to the read timeout) without the lock. Ciphertext goes
    /// straight from the socket into rustls: no buffer of our own, which an idle client
    /// would keep paying for.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut session = lock(&self.session);
                match session.reader().read(buf) {
                    Ok(read) => return Ok(read),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => return Err(err),
                }
            }
            let timeout = *lock(&self.read_timeout);
            if !wait_readable(&self.socket, timeout)? {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if receive(&mut lock(&self.session), &self.socket)? == 0 {
                return Ok(0);
            }
        }
    }

    /// Sends `close_notify` (best effort) before shutting the socket's writing side.
    pub fn shutdown(&self, how: Shutdown) {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let mut session = lock(&self.session);
            session.send_close_notify();
            while session.wants_write() {
                if session.write_tls(&mut DontWait(&self.socket)).is_err() {
                    break;
                }
            }
        }
        let _ = self.socket.shutdown(how);
    }

    /// How long a read may block.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *lock(&self.read_timeout) = timeout;
        Ok(())
    }
}

/// Waits until the socket has something to read (or was closed); `false` if `timeout` ran
/// out first.
pub(super) fn wait_readable(socket: &TcpStream, timeout: Option<Duration>) -> io::Result<bool> {
    let timespec = timeout.map(|timeout| Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    });
    loop {
        let mut fds = [PollFd::new(socket, PollFlags::IN)];
        match poll(&mut fds, timespec.as_ref()) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Moves what the socket holds into rustls and lets it decrypt; `0` at the end of the
/// stream. Call once the socket is readable: it doesn't wait.
fn receive(session: &mut ServerConnection, socket: &TcpStream) -> io::Result<usize> {
    let mut total = 0;
    loop {
        match session.read_tls(&mut DontWait(socket)) {
            Ok(0) => return Ok(total),
            Ok(read) => {
                total += read;
                session.process_new_packets().map_err(tls_error)?;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock && total > 0 => return Ok(total),
            // Readable but nothing there: a spurious wake-up; the caller waits again.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::ErrorKind::Interrupted.into());
            }
            Err(err) => return Err(err),
        }
        // What rustls took is decrypted; don't read more than it wants to hold.
        if session.wants_read() {
            continue;
        }
        return Ok(total);
    }
}
