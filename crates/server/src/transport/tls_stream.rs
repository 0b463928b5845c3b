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
use rustix::io::Errno;
use rustix::net::SendFlags;
use rustls::ServerConnection;

use super::Sent;
use crate::queue::{CHUNK_OVERHEAD, Chunk};

/// Ciphertext read from the socket at a time.
const READ_BYTES: usize = 8 * 1024;

/// Plaintext encrypted at a time (one TLS record at most).
const RECORD_BYTES: usize = 16 * 1024;

/// A TLS session on an accepted socket.
pub struct TlsStream {
    socket: TcpStream,
    session: Mutex<ServerConnection>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// Sends without blocking: a writer must never wait on one client.
struct DontWait<'a>(&'a TcpStream);

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
        let mut buffer = [0u8; READ_BYTES];
        loop {
            let (out, handshaking) = {
                let mut session = lock(&self.session);
                let mut out = Vec::new();
                while session.wants_write() {
                    session.write_tls(&mut out)?;
                }
                (out, session.is_handshaking())
            };
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))?;
            if !out.is_empty() {
                self.socket.set_write_timeout(Some(left))?;
                (&self.socket).write_all(&out)?;
            }
            if !handshaking {
                self.socket.set_write_timeout(None)?;
                return Ok(());
            }
            self.socket.set_read_timeout(Some(left))?;
            let read = match (&self.socket).read(&mut buffer) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "handshake timed out",
                    ));
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            let mut session = lock(&self.session);
            if let Err(err) = feed(&mut session, &buffer[..read]) {
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

    /// Reads plaintext, blocking (up to the socket's read timeout) without the lock.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ciphertext = [0u8; READ_BYTES];
        loop {
            {
                let mut session = lock(&self.session);
                match session.reader().read(buf) {
                    Ok(read) => return Ok(read),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => return Err(err),
                }
            }
            let read = (&self.socket).read(&mut ciphertext)?;
            if read == 0 {
                return Ok(0);
            }
            feed(&mut lock(&self.session), &ciphertext[..read])?;
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
        self.socket.set_read_timeout(timeout)
    }
}

/// Hands ciphertext to rustls and lets it decrypt.
fn feed(session: &mut ServerConnection, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        if session.read_tls(&mut bytes)? == 0 {
            return Err(io::Error::other("TLS input not taken"));
        }
        session.process_new_packets().map_err(tls_error)?;
    }
    Ok(())
}
