//! A browser's connection: HTTP until the WebSocket upgrade, then one text message per
//! line each way, over plain TCP or TLS (the `inner` transport).
//!
//! Like TLS, the encoding is per recipient: a writer frames the queue's lines as it sends
//! them, at most [`FRAME_BATCH`] bytes ahead of the socket. The connection's thread reads
//! and unmasks the client's frames as a byte stream of lines (each message ends in LF), so
//! the framer, the line limit and every answer are those of TCP. Frame headers are
//! tungstenite's; what it can't do here is share one socket between a reading thread and
//! a writing one, so the frames are read and written here.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chat_sync::lock;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::tls_stream::wait_readable;
use super::{Sent, Transport};
use crate::queue::{CHUNK_OVERHEAD, Chunk};

/// Lines framed ahead of the socket at most.
const FRAME_BATCH: usize = 16 * 1024;

/// The longest frame header (a masked frame with a 64-bit length).
const MAX_HEADER: usize = 14;

/// The client's bytes read at a time (headers and payloads together, so a line costs one
/// read, not three).
const READ_AHEAD: usize = 4 * 1024;

/// What a binary message reads as: a byte that is never UTF-8, so it gets the answer a
/// line that isn't text gets on TCP.
const NOT_TEXT: &[u8] = &[0xff];

/// A browser's connection (see the module).
#[derive(Debug)]
pub struct WebSocketStream {
    inner: Transport,
    /// Set once the upgrade is answered: lines are framed from then on.
    upgraded: AtomicBool,
    /// Set once a closing frame is queued (there is only one).
    closing: AtomicBool,
    /// Bytes to send before anything else: an HTTP response, pongs, a closing frame.
    raw: Mutex<VecDeque<Chunk>>,
    raw_offset: Mutex<usize>,
    /// Framed lines the socket hasn't taken yet.
    framed: Mutex<(VecDeque<Chunk>, usize)>,
    reading: Mutex<Reading>,
}

/// Where the reader is in the client's frames.
#[derive(Debug, Default)]
struct Reading {
    /// Bytes read ahead from the client, from `at` on not yet used.
    input: Vec<u8>,
    at: usize,
    /// In a data frame: its payload bytes left, its mask and how far into it.
    in_data: bool,
    left: u64,
    mask: [u8; 4],
    mask_at: usize,
    is_final: bool,
    /// Whether the current message is binary (its bytes are skipped).
    binary: bool,
    /// A message ended and its LF is still to be read.
    pending_lf: bool,
    /// The client sent a close frame (or broke the protocol): reads end.
    closed: bool,
}

impl WebSocketStream {
    pub fn new(inner: Transport) -> WebSocketStream {
        WebSocketStream {
            inner,
            upgraded: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            raw: Mutex::new(VecDeque::new()),
            raw_offset: Mutex::new(0),
            framed: Mutex::new((VecDeque::new(), 0)),
            reading: Mutex::new(Reading::default()),
        }
    }

    pub fn inner(&self) -> &Transport {
        &self.inner
    }

    /// Queues bytes to go out as they are, ahead of any line (an HTTP response).
    pub fn send_raw(&self, bytes: Vec<u8>) {
        lock(&self.raw).push_back(bytes.into());
    }

    /// From now on, lines are framed (call after queueing the `101` response).
    pub fn upgrade(&self) {
        self.upgraded.store(true, Ordering::SeqCst);
    }

    /// Whether there are control frames (pongs, a close) for a writer to send.
    pub fn wants_flush(&self) -> bool {
        !lock(&self.raw).is_empty() || self.inner.wants_flush()
    }

    /// Sends raw bytes, then frames lines from `pending` and sends them.
    pub(crate) fn send(&self, pending: &mut VecDeque<Chunk>, offset: &mut usize) -> (usize, Sent) {
        let mut framed = lock(&self.framed);
        let (queue, framed_offset) = &mut *framed;
        let mut cleared = 0;
        loop {
            // A batch the socket took part of goes first: raw bytes (a pong, a closing
            // frame) may only go between frames.
            if !queue.is_empty() {
                match self.inner.send(queue, framed_offset) {
                    (_, Sent::All) => {}
                    (_, other) => return (cleared, other),
                }
            }
            {
                let mut raw = lock(&self.raw);
                let mut raw_offset = lock(&self.raw_offset);
                if !raw.is_empty() {
                    match self.inner.send(&mut raw, &mut raw_offset) {
                        (_, Sent::All) => {}
                        (_, other) => return (cleared, other),
                    }
                }
            }
            if !self.upgraded.load(Ordering::SeqCst) {
                // Before the upgrade no line is meant for the browser: drop what was
                // queued (a shutdown notice), counting it as sent.
                cleared += pending
                    .iter()
                    .map(|chunk| chunk.len() + CHUNK_OVERHEAD)
                    .sum::<usize>();
                pending.clear();
                *offset = 0;
                return (cleared, Sent::All);
            }
            if pending.is_empty() {
                return (cleared, Sent::All);
            }
            let mut batch = Vec::new();
            while batch.len() < FRAME_BATCH {
                let Some(front) = pending.front() else { break };
                let lines = &front[*offset..];
                frame_lines(lines, &mut batch);
                cleared += lines.len() + CHUNK_OVERHEAD;
                *offset = 0;
                pending.pop_front();
            }
            if !batch.is_empty() {
                queue.push_back(batch.into());
            }
        }
    }

    /// Reads the client's lines: HTTP bytes as they are before the upgrade, then the text
    /// of its messages, each ending in LF. Only the connection's thread reads.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.upgraded.load(Ordering::SeqCst) {
            return (&self.inner).read(buf);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let mut reading = lock(&self.reading);
        loop {
            if reading.closed {
                return Ok(0);
            }
            if reading.pending_lf {
                reading.pending_lf = false;
                buf[0] = b'\n';
                return Ok(1);
            }
            if reading.in_data {
                if reading.left == 0 {
                    reading.in_data = false;
                    if reading.is_final {
                        reading.pending_lf = true;
                    }
                    continue;
                }
                if reading.input_len() == 0 && !self.fill(&mut reading)? {
                    return Ok(0);
                }
                let take = reading
                    .input_len()
                    .min(usize::try_from(reading.left).unwrap_or(usize::MAX))
                    .min(buf.len());
                let Reading { input, at, .. } = &mut *reading;
                buf[..take].copy_from_slice(&input[*at..*at + take]);
                *at += take;
                reading.unmask(&mut buf[..take]);
                reading.left -= take as u64;
                if reading.binary {
                    // Skipped: the message already read as one bad line.
                    continue;
                }
                return Ok(take);
            }
            // A frame header, from what was read ahead.
            let parsed = {
                let mut cursor = Cursor::new(&reading.input[reading.at..]);
                FrameHeader::parse(&mut cursor).map(|header| (header, cursor.position()))
            };
            match parsed {
                Ok((Some((header, length)), used)) => {
                    reading.at += usize::try_from(used).unwrap_or(0);
                    if let Some(written) = self.start_frame(&mut reading, header, length, buf)? {
                        return Ok(written);
                    }
                }
                Ok((None, _)) if reading.input_len() < MAX_HEADER => {
                    if !self.fill(&mut reading)? {
                        return Ok(0);
                    }
                }
                _ => {
                    reading.closed = true;
                    self.close(1002);
                    return Ok(0);
                }
            }
        }
    }

    /// Reads more of the client's bytes ahead (at most [`READ_AHEAD`]); `false` at the end
    /// of the stream.
    fn fill(&self, reading: &mut Reading) -> io::Result<bool> {
        if reading.at > 0 {
            let at = reading.at;
            reading.input.drain(..at);
            reading.at = 0;
        }
        let have = reading.input.len();
        if have == 0 {
            // An idle browser keeps no buffer: wait for its bytes first, then make room.
            reading.input = Vec::new();
            if let Transport::Plain(socket) = &self.inner
                && !wait_readable(socket, socket.read_timeout()?)?
            {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        reading.input.resize(READ_AHEAD.max(have + 1), 0);
        let read = (&self.inner).read(&mut reading.input[have..]);
        let read = match read {
            Ok(read) => read,
            Err(err) => {
                reading.input.truncate(have);
                return Err(err);
            }
        };
        reading.input.truncate(have + read);
        if read == 0 {
            reading.closed = true;
        }
        Ok(read > 0)
    }

    /// Starts a frame whose header was read. Returns bytes placed in `buf` (a binary
    /// message reads as a bad line), or `None` to go on reading.
    fn start_frame(
        &self,
        reading: &mut Reading,
        header: FrameHeader,
        length: u64,
        buf: &mut [u8],
    ) -> io::Result<Option<usize>> {
        let Some(mask) = header.mask else {
            // Clients must mask what they send.
            reading.closed = true;
            self.close(1002);
            return Ok(Some(0));
        };
        reading.mask = mask;
        reading.mask_at = 0;
        match header.opcode {
            OpCode::Data(data) => {
                reading.in_data = true;
                reading.left = length;
                reading.is_final = header.is_final;
                match data {
                    Data::Text => reading.binary = false,
                    Data::Binary => {
                        reading.binary = true;
                        // It reads as one line that isn't text, as on TCP.
                        buf[..NOT_TEXT.len()].copy_from_slice(NOT_TEXT);
                        return Ok(Some(NOT_TEXT.len()));
                    }
                    Data::Continue => {}
                    Data::Reserved(_) => {
                        reading.closed = true;
                        self.close(1002);
                        return Ok(Some(0));
                    }
                }
                Ok(None)
            }
            OpCode::Control(control) => {
                if length > 125 || !header.is_final {
                    reading.closed = true;
                    self.close(1002);
                    return Ok(Some(0));
                }
                let length = usize::try_from(length).unwrap_or(0);
                while reading.input_len() < length {
                    if !self.fill(reading)? {
                        return Ok(Some(0));
                    }
                }
                let mut payload = reading.input[reading.at..reading.at + length].to_vec();
                reading.at += length;
                reading.unmask(&mut payload);
                match control {
                    Control::Ping => self.queue_frame(OpCode::Control(Control::Pong), &payload),
                    Control::Close => {
                        reading.closed = true;
                        self.close(1000);
                        return Ok(Some(0));
                    }
                    Control::Pong => {}
                    Control::Reserved(_) => {
                        reading.closed = true;
                        self.close(1002);
                        return Ok(Some(0));
                    }
                }
                Ok(None)
            }
        }
    }

    /// Shuts the connection down; the writing side after a closing frame (best effort), so
    /// the page sees a clean close and not a dropped connection.
    pub fn shutdown(&self, how: std::net::Shutdown) {
        let writes = matches!(how, std::net::Shutdown::Write | std::net::Shutdown::Both);
        if writes && self.upgraded.load(Ordering::SeqCst) {
            self.close(1000);
            // After any frame the socket took part of, as every raw byte is.
            let _ = self.send(&mut VecDeque::new(), &mut 0);
        }
        self.inner.shutdown(how);
    }

    /// Queues a closing frame with `code`.
    fn close(&self, code: u16) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        self.queue_frame(OpCode::Control(Control::Close), &code.to_be_bytes());
    }

    fn queue_frame(&self, opcode: OpCode, payload: &[u8]) {
        let mut frame = Vec::with_capacity(payload.len() + 4);
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        if header.format(payload.len() as u64, &mut frame).is_ok() {
            frame.extend_from_slice(payload);
            self.send_raw(frame);
        }
    }
}

impl Reading {
    fn input_len(&self) -> usize {
        self.input.len() - self.at
    }

    fn unmask(&mut self, bytes: &mut [u8]) {
        for byte in bytes {
            *byte ^= self.mask[self.mask_at % 4];
            self.mask_at = (self.mask_at + 1) % 4;
        }
    }
}

/// Each line of `lines` (ending in LF) as one text frame, without its LF.
fn frame_lines(lines: &[u8], out: &mut Vec<u8>) {
    for line in lines.split_inclusive(|&byte| byte == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let header = FrameHeader {
            opcode: OpCode::Data(Data::Text),
            ..FrameHeader::default()
        };
        if header.format(line.len() as u64, out).is_ok() {
            out.extend_from_slice(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_one_text_frame_each() {
        let mut out = Vec::new();
        frame_lines(b"hi\nthere\n", &mut out);
        assert_eq!(out, b"\x81\x02hi\x81\x05there");
        let long = vec![b'x'; 300];
        let mut out = Vec::new();
        frame_lines(&[&long[..], b"\n"].concat(), &mut out);
        assert_eq!(&out[..4], &[0x81, 126, 1, 44]);
        assert_eq!(out.len(), 4 + 300);
    }
}
