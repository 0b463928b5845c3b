//! Splitting a byte stream into lines, with a hard bound on how much is ever buffered.

use std::io::{self, Read};

/// The most one read from a socket asks for: big enough that a client sending fast delivers
/// many lines per read (which the server then broadcasts as one batch).
pub const READ_CHUNK: usize = 16 * 1024;

/// What one read asks for when the previous read did not fill its buffer: a quiet client
/// sends a line at a time, and a small buffer keeps thousands of them cheap.
const SMALL_READ: usize = 512;

/// One item cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its LF (or CR LF).
    Line(&'a [u8]),
    /// A line longer than the limit; its bytes up to the next LF are thrown away.
    TooLong,
}

/// Buffers bytes from a stream and yields them as [`Frame`]s.
///
/// A line ends with LF, and a CR just before the LF is dropped. The buffer never holds more
/// than `max_line + 1` bytes of an unfinished line plus one [`READ_CHUNK`]: a longer line is
/// reported as [`Frame::TooLong`] as soon as it is known to be too long, and the rest of it
/// is discarded as it arrives.
#[derive(Debug)]
pub struct LineFramer {
    buffer: Vec<u8>,
    /// Where the next frame starts in `buffer`.
    start: usize,
    /// How far past `start` we already looked for an LF.
    scanned: usize,
    max_line: usize,
    /// Inside a too-long line: drop everything up to the next LF.
    discarding: bool,
    /// The last read filled all the space it was given, so the next one asks for more.
    busy: bool,
}

impl LineFramer {
    /// A framer for lines of at most `max_line` bytes (not counting the line ending).
    pub fn new(max_line: usize) -> LineFramer {
        LineFramer {
            buffer: Vec::new(),
            start: 0,
            scanned: 0,
            max_line,
            discarding: false,
            busy: false,
        }
    }

    /// Reads once from `reader` into the buffer. Returns the number of bytes read; 0 means
    /// end of stream.
    ///
    /// # Errors
    /// Besides the reader's own errors, `InvalidInput` if called while complete frames are
    /// still buffered beyond the line limit: call [`next_frame`](Self::next_frame) until it
    /// returns `None` first, which is what keeps the buffer bounded.
    pub fn fill_from(&mut self, mut reader: impl Read) -> io::Result<usize> {
        self.compact();
        let filled = self.buffer.len();
        if filled > self.max_line + 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "line framer filled before its frames were taken",
            ));
        }
        let want = if self.busy { READ_CHUNK } else { SMALL_READ };
        self.buffer.resize(filled + want, 0);
        let result = reader.read(&mut self.buffer[filled..]);
        let read = *result.as_ref().unwrap_or(&0);
        self.buffer.truncate(filled + read);
        self.busy = read == want;
        result
    }

    /// Appends bytes as if they had been read (for tests and tools that already hold bytes).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.compact();
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The next complete frame in the buffer, if there is one.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            let pending = &self.buffer[self.start..];
            let newline = pending[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| self.scanned + i);
            let Some(newline) = newline else {
                self.scanned = pending.len();
                // One byte of slack for a CR that may turn out to end the line.
                if !self.discarding && pending.len() > self.max_line + 1 {
                    self.discarding = true;
                    self.drop_pending();
                    return Some(Frame::TooLong);
                }
                if self.discarding {
                    self.drop_pending();
                }
                return None;
            };
            let line_start = self.start;
            self.start += newline + 1;
            self.scanned = 0;
            if self.discarding {
                self.discarding = false;
                continue;
            }
            let mut line = &self.buffer[line_start..line_start + newline];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.len() > self.max_line {
                return Some(Frame::TooLong);
            }
            return Some(Frame::Line(line));
        }
    }

    fn drop_pending(&mut self) {
        self.start = self.buffer.len();
        self.scanned = 0;
    }

    /// Moves the unfinished line to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
    }

    /// Frees a large read buffer once nothing is pending, so thousands of quiet connections
    /// don't each keep one.
    pub fn release_memory(&mut self) {
        if self.buffered() == 0 && self.buffer.capacity() > SMALL_READ {
            self.buffer = Vec::new();
            self.start = 0;
            self.scanned = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut LineFramer) -> Vec<Result<String, ()>> {
        let mut out = Vec::new();
        while let Some(frame) = framer.next_frame() {
            out.push(match frame {
                Frame::Line(line) => Ok(String::from_utf8_lossy(line).into_owned()),
                Frame::TooLong => Err(()),
            });
        }
        out
    }

    #[test]
    fn splits_on_lf_and_drops_one_cr() {
        let mut framer = LineFramer::new(100);
        framer.extend(b"a\nb\r\n\r\nc\r\r\npartial");
        let ok = |s: &str| Ok(s.to_string());
        assert_eq!(frames(&mut framer), [ok("a"), ok("b"), ok(""), ok("c\r")]);
        framer.extend(b" line\n");
        assert_eq!(frames(&mut framer), [ok("partial line")]);
    }

    #[test]
    fn too_long_line_is_reported_once_and_skipped() {
        let mut framer = LineFramer::new(4);
        framer.extend(b"12345678");
        assert_eq!(frames(&mut framer), [Err(())]);
        assert_eq!(framer.buffered(), 0);
        framer.extend(b"9999\nok\n");
        assert_eq!(frames(&mut framer), [Ok("ok".to_string())]);
    }

    #[test]
    fn limit_counts_content_not_line_ending() {
        let mut framer = LineFramer::new(4);
        framer.extend(b"1234\r\n12345\n1234");
        assert_eq!(frames(&mut framer), [Ok("1234".to_string()), Err(())]);
        framer.extend(b"\r");
        assert_eq!(frames(&mut framer), []);
        framer.extend(b"\n");
        assert_eq!(frames(&mut framer), [Ok("1234".to_string())]);
    }

    #[test]
    fn fill_from_reads_and_reports_eof() {
        let mut framer = LineFramer::new(10);
        let mut input: &[u8] = b"hi\nthere\n";
        assert_eq!(framer.fill_from(&mut input).unwrap(), 9);
        assert_eq!(frames(&mut framer).len(), 2);
        assert_eq!(framer.fill_from(&mut input).unwrap(), 0);
    }
}
