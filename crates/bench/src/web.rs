//! WebSocket for `--web`: the upgrade request and the check of its `101` answer, lines
//! sent as masked text frames (one per line, RFC 6455), and the server's frames decoded
//! as they arrive, in pieces of any size, into the text of its messages (one line each).
//! Pure: the worker moves the bytes.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

/// The longest answer head read: the server's `101` is about 400 bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// Opcodes (RFC 6455 section 5.2).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xa;

/// The longest frame header the server sends (unmasked, 64-bit length).
const MAX_HEADER: usize = 10;

/// The longest payload of a control frame.
const MAX_CONTROL: usize = 125;

/// How every client of a run upgrades: the request it sends (the same for all clients of
/// one server) and the `Sec-WebSocket-Accept` the server must answer with.
#[derive(Debug, Clone)]
pub struct Web {
    /// The request for each server, in the order of the plan's addresses.
    requests: Vec<Box<[u8]>>,
    accept: String,
    /// Each client's mask is drawn from this.
    seed: u64,
}

impl Web {
    /// The requests for `GET /ws` with each of `hosts` as its `Host` (`HOST:PORT`, one per
    /// server), and a key made for this run. No `Origin`: the server lets a client that
    /// isn't a browser's page in without one.
    pub fn new(hosts: &[impl AsRef<str>]) -> Web {
        let random = RandomState::new();
        let key = base64(&random_bytes(&random));
        let requests = hosts
            .iter()
            .map(|host| {
                let host = host.as_ref();
                let request = format!(
                    "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n"
                );
                request.into_bytes().into_boxed_slice()
            })
            .collect();
        Web {
            requests,
            accept: tungstenite::handshake::derive_accept_key(key.as_bytes()),
            seed: random.hash_one(u64::MAX),
        }
    }

    /// Client `index`'s WebSocket to server `instance`, its upgrade request appended to
    /// `out` (and not framed).
    pub fn start(&self, index: usize, instance: usize, out: &mut Vec<u8>) -> WebSocket {
        out.extend_from_slice(&self.requests[instance % self.requests.len()]);
        let mask = mix(self.seed ^ index as u64).to_le_bytes();
        WebSocket {
            mask: [mask[0], mask[1], mask[2], mask[3]],
            framed: out.len(),
            upgraded: false,
            head: Vec::new(),
            decoder: Decoder::default(),
        }
    }

    /// The accept key the server must answer with.
    pub fn accept(&self) -> &str {
        &self.accept
    }
}

/// One client's WebSocket: where it is in the upgrade, its mask, how much of its output is
/// framed, and the decoder of what the server sends.
#[derive(Debug)]
pub struct WebSocket {
    mask: [u8; 4],
    /// The output before this offset is in its final form (the request, frames); what
    /// follows are lines to frame before writing.
    framed: usize,
    upgraded: bool,
    /// The answer head so far, until the upgrade.
    head: Vec<u8>,
    decoder: Decoder,
}

/// What a part of the server's frames held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Bytes of a text message; `true` with its last ones (possibly none).
    Text(&'a [u8], bool),
    /// The server closed the WebSocket, with its status code if it gave one.
    Close(Option<u16>),
}

/// Why the upgrade or the frames can't go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebError {
    /// The answer isn't HTTP; its first line (a chat server's `! server full`, or the
    /// greeting of a port that isn't a web port).
    NotHttp(Vec<u8>),
    /// The server answered the upgrade with this status line.
    Refused(String),
    /// No `Sec-WebSocket-Accept`, or not the one for our key.
    BadAccept,
    /// No end of the head within [`MAX_HEAD`] bytes.
    HeadTooLong,
    /// The server broke the framing rules.
    Frame(&'static str),
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebError::NotHttp(line) => write!(
                f,
                "the answer to the upgrade is not HTTP but {:?} (is it the server's web port?)",
                String::from_utf8_lossy(line)
            ),
            WebError::Refused(status) => write!(f, "the server answered the upgrade with {status}"),
            WebError::BadAccept => f.write_str("the 101 answer has a wrong Sec-WebSocket-Accept"),
            WebError::HeadTooLong => write!(f, "the answer's head is over {MAX_HEAD} bytes"),
            WebError::Frame(what) => write!(f, "bad frame from the server: {what}"),
        }
    }
}

impl WebSocket {
    /// Whether the `101` came.
    pub fn upgraded(&self) -> bool {
        self.upgraded
    }

    /// Reads answer bytes until the head is complete: then checks it is a `101` with our
    /// accept key, and returns what followed it (frames). `None`: more is needed.
    ///
    /// # Errors
    /// See [`WebError`].
    pub fn read_head<'a>(
        &mut self,
        data: &'a [u8],
        accept: &str,
    ) -> Result<Option<&'a [u8]>, WebError> {
        let old = self.head.len();
        let taken = data.len().min(MAX_HEAD - old);
        self.head.extend_from_slice(&data[..taken]);
        let head = &self.head;
        let prefix = head.len().min(5);
        if head[..prefix] != b"HTTP/"[..prefix] {
            return match memchr::memchr(b'\n', head) {
                Some(end) => Err(WebError::NotHttp(head[..end].to_vec())),
                None if head.len() >= MAX_HEAD => Err(WebError::NotHttp(head.clone())),
                None => Ok(None),
            };
        }
        let from = old.saturating_sub(3);
        let Some(at) = memchr::memmem::find(&head[from..], b"\r\n\r\n") else {
            return match head.len() >= MAX_HEAD {
                true => Err(WebError::HeadTooLong),
                false => Ok(None),
            };
        };
        let end = from + at + 4;
        check_head(&head[..end], accept)?;
        self.head = Vec::new();
        self.upgraded = true;
        Ok(Some(&data[end - old..]))
    }

    /// Frames the lines queued after the framed part of `out` (each ending in LF) as one
    /// masked text frame each, going through `scratch`.
    pub fn frame_lines(&mut self, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        if self.framed >= out.len() {
            return;
        }
        scratch.clear();
        scratch.extend_from_slice(&out[self.framed..]);
        out.truncate(self.framed);
        for line in scratch.split_inclusive(|&byte| byte == b'\n') {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            write_frame(out, TEXT, line, self.mask);
        }
        self.framed = out.len();
    }

    /// `out` was emptied: nothing in it is framed any more.
    pub fn output_cleared(&mut self) {
        self.framed = 0;
    }

    /// Appends a closing frame (status 1000, normal) to `out`, after framing what is
    /// queued.
    pub fn write_close(&mut self, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        self.frame_lines(out, scratch);
        write_frame(out, CLOSE, &1000u16.to_be_bytes(), self.mask);
        self.framed = out.len();
    }

    /// Decodes the server's frames in `data` (the rest of any frame of the previous call
    /// first), handing each piece of text to `on`. Stops at the first error, `on`'s or
    /// the framing's. A ping is kept to be answered by [`WebSocket::answer_ping`].
    ///
    /// # Errors
    /// `on`'s, or [`WebError::Frame`] as an `E`.
    pub fn decode<E: From<WebError>>(
        &mut self,
        data: &[u8],
        on: impl FnMut(Frame<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.decoder.decode(data, on)
    }

    /// Appends a pong for the last ping decoded, if one is unanswered; returns whether it
    /// did.
    pub fn answer_ping(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(ping) = self.decoder.ping.take() else {
            return false;
        };
        // Between reads everything queued is framed (lines are framed as they are
        // written), so the pong goes after whole frames.
        debug_assert_eq!(self.framed, out.len());
        write_frame(out, PONG, &ping, self.mask);
        self.framed = out.len();
        true
    }
}

/// The incremental frame reader.
#[derive(Debug, Default)]
struct Decoder {
    /// A header split between reads.
    header: [u8; MAX_HEADER],
    header_len: usize,
    /// The frame being read, once its header is in.
    frame: Option<Header>,
    /// Payload bytes of it still to come.
    left: u64,
    /// A message's frame without FIN came: the next data frame must continue it.
    continuing: bool,
    /// A control frame's payload, gathered whole.
    control: Vec<u8>,
    /// The payload of the last ping not answered yet.
    ping: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
}

impl Decoder {
    fn decode<E: From<WebError>>(
        &mut self,
        mut data: &[u8],
        mut on: impl FnMut(Frame<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            let Some(frame) = self.frame else {
                if data.is_empty() {
                    return Ok(());
                }
                data = self.start_frame(data)?;
                if self.frame.is_some() && self.left == 0 {
                    self.end_frame(&[], &mut on)?;
                }
                continue;
            };
            if data.is_empty() {
                return Ok(());
            }
            let take = usize::try_from(self.left).map_or(data.len(), |left| left.min(data.len()));
            let (bytes, rest) = data.split_at(take);
            data = rest;
            self.left -= take as u64;
            if frame.opcode == TEXT {
                if self.left > 0 {
                    on(Frame::Text(bytes, false))?;
                } else {
                    self.end_frame(bytes, &mut on)?;
                }
            } else {
                self.control.extend_from_slice(bytes);
                if self.left == 0 {
                    self.end_frame(&[], &mut on)?;
                }
            }
        }
    }

    /// Reads a frame header from `data` (after the part of it kept from the last read);
    /// returns the bytes after it. If it is incomplete, keeps it and returns nothing.
    fn start_frame<'a>(&mut self, data: &'a [u8]) -> Result<&'a [u8], WebError> {
        if self.header_len == 0 {
            // Usually the whole header is in this read.
            if let Some((header, length, used)) = parse_header(data)? {
                self.begin(header, length)?;
                return Ok(&data[used..]);
            }
        }
        let kept = self.header_len;
        let taken = data.len().min(MAX_HEADER - kept);
        self.header[kept..kept + taken].copy_from_slice(&data[..taken]);
        self.header_len += taken;
        match parse_header(&self.header[..self.header_len])? {
            Some((header, length, used)) => {
                self.header_len = 0;
                self.begin(header, length)?;
                Ok(&data[used - kept..])
            }
            None => Ok(&[]),
        }
    }

    fn begin(&mut self, header: Header, length: u64) -> Result<(), WebError> {
        let opcode = match header.opcode {
            CONTINUATION if self.continuing => TEXT,
            CONTINUATION => return Err(WebError::Frame("a continuation outside a message")),
            TEXT if self.continuing => return Err(WebError::Frame("a message inside another")),
            TEXT => TEXT,
            BINARY => return Err(WebError::Frame("a binary message")),
            CLOSE | PING | PONG => {
                if !header.fin || length > MAX_CONTROL as u64 {
                    return Err(WebError::Frame("a fragmented or long control frame"));
                }
                self.control.clear();
                header.opcode
            }
            _ => return Err(WebError::Frame("an unknown opcode")),
        };
        if opcode == TEXT {
            self.continuing = !header.fin;
        }
        self.frame = Some(Header {
            fin: header.fin,
            opcode,
        });
        self.left = length;
        Ok(())
    }

    /// The current frame's payload is all in (`last` its last bytes, for a text frame).
    fn end_frame<E: From<WebError>>(
        &mut self,
        last: &[u8],
        on: &mut impl FnMut(Frame<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(frame) = self.frame.take() else {
            return Ok(());
        };
        match frame.opcode {
            TEXT => on(Frame::Text(last, frame.fin)),
            CLOSE => {
                let code = match self.control[..] {
                    [high, low, ..] => Some(u16::from_be_bytes([high, low])),
                    _ => None,
                };
                on(Frame::Close(code))
            }
            PING => {
                self.ping = Some(std::mem::take(&mut self.control));
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A complete header at the start of `bytes`: it, its payload length and its size.
fn parse_header(bytes: &[u8]) -> Result<Option<(Header, u64, usize)>, WebError> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(WebError::Frame("reserved bits set"));
    }
    if second & 0x80 != 0 {
        return Err(WebError::Frame("a masked frame"));
    }
    let header = Header {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
    };
    let (length, used) = match second & 0x7f {
        126 => match bytes.get(2..4) {
            Some(&[high, low]) => (u64::from(u16::from_be_bytes([high, low])), 4),
            _ => return Ok(None),
        },
        127 => match bytes
            .get(2..10)
            .and_then(|length| <[u8; 8]>::try_from(length).ok())
        {
            Some(length) => (u64::from_be_bytes(length), 10),
            None => return Ok(None),
        },
        length => (u64::from(length), 2),
    };
    Ok(Some((header, length, used)))
}

/// Appends `payload` as one final frame with `opcode`, masked with `mask`.
fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    match payload.len() {
        length @ 0..126 => out.push(0x80 | length as u8),
        length @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(length as u16).to_be_bytes());
        }
        length => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    let mask = u32::from_ne_bytes(mask);
    let mut words = out[start..].chunks_exact_mut(4);
    for word in &mut words {
        let masked = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]) ^ mask;
        word.copy_from_slice(&masked.to_ne_bytes());
    }
    for (byte, key) in words.into_remainder().iter_mut().zip(mask.to_ne_bytes()) {
        *byte ^= key;
    }
}

/// Checks the status line and the accept key of a complete answer head.
fn check_head(head: &[u8], accept: &str) -> Result<(), WebError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("101") {
        return Err(WebError::Refused(status.to_string()));
    }
    let accepted = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == accept
        })
    });
    match accepted {
        true => Ok(()),
        false => Err(WebError::BadAccept),
    }
}

/// 16 bytes for the key, from the process's random hash keys.
fn random_bytes(random: &RandomState) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&random.hash_one(0u64).to_le_bytes());
    bytes[8..].copy_from_slice(&random.hash_one(1u64).to_le_bytes());
    bytes
}

/// SplitMix64's finaliser: a client's mask from the run's seed and its number.
fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for position in 0..4 {
            if position <= chunk.len() {
                let index = (group >> (18 - 6 * position)) & 0x3f;
                text.push(char::from(ALPHABET[index as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use tungstenite::protocol::frame::FrameHeader;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    use super::*;

    fn upgraded() -> WebSocket {
        let mut out = Vec::new();
        let mut web = Web::new(&["127.0.0.1:1"]).start(7, 0, &mut out);
        web.upgraded = true;
        web.framed = 0;
        web
    }

    /// Decodes `data` in pieces of `step` bytes; the messages, and whether the server
    /// closed.
    fn messages(data: &[u8], step: usize) -> Result<(Vec<String>, Option<u16>), WebError> {
        let mut web = upgraded();
        let (mut done, mut current, mut closed) = (Vec::new(), Vec::new(), None);
        let mut out = Vec::new();
        for piece in data.chunks(step) {
            web.decode::<WebError>(piece, |frame| {
                match frame {
                    Frame::Text(bytes, ends) => {
                        current.extend_from_slice(bytes);
                        if ends {
                            done.push(String::from_utf8(std::mem::take(&mut current)).unwrap());
                        }
                    }
                    Frame::Close(code) => closed = Some(code.unwrap_or(0)),
                }
                Ok(())
            })?;
            assert!(!web.answer_ping(&mut out));
        }
        Ok((done, closed))
    }

    fn server_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            is_final: fin,
            opcode,
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        header.format(payload.len() as u64, &mut out).unwrap();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn base64_matches_the_rfc() {
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn lines_become_masked_text_frames_that_tungstenite_reads() {
        let mut web = upgraded();
        let long = "x".repeat(300);
        let mut out = format!("hi\n{long}\n\n").into_bytes();
        web.frame_lines(&mut out, &mut Vec::new());
        let mut cursor = Cursor::new(&out[..]);
        for expected in ["hi", &long, ""] {
            let (header, length) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final);
            assert_eq!(header.opcode, OpCode::Data(Data::Text));
            let mask = header.mask.expect("masked");
            let start = cursor.position() as usize;
            let payload: Vec<u8> = out[start..start + length as usize]
                .iter()
                .enumerate()
                .map(|(at, byte)| byte ^ mask[at % 4])
                .collect();
            assert_eq!(payload, expected.as_bytes());
            cursor.set_position((start + length as usize) as u64);
        }
        assert_eq!(cursor.position() as usize, out.len());
        // Framed output stays as it is; new lines after it are framed.
        let framed = out.len();
        out.extend_from_slice(b"more\n");
        web.frame_lines(&mut out, &mut Vec::new());
        assert_eq!(out.len(), framed + 2 + 4 + 4);
    }

    #[test]
    fn frames_decode_in_pieces_of_any_size() {
        let long = "y".repeat(70_000);
        let mut data = server_frame(OpCode::Data(Data::Text), true, b"* hello");
        data.extend(server_frame(OpCode::Data(Data::Text), true, b""));
        data.extend(server_frame(
            OpCode::Data(Data::Text),
            true,
            long.as_bytes(),
        ));
        data.extend(server_frame(OpCode::Data(Data::Text), false, b"frag"));
        data.extend(server_frame(OpCode::Data(Data::Continue), true, b"mented"));
        data.extend(server_frame(OpCode::Data(Data::Text), true, &[b'z'; 200]));
        let expected = vec![
            "* hello".to_string(),
            String::new(),
            long,
            "fragmented".to_string(),
            "z".repeat(200),
        ];
        for step in [1, 2, 3, 7, 100, 4096, data.len()] {
            assert_eq!(
                messages(&data, step),
                Ok((expected.clone(), None)),
                "{step}"
            );
        }
    }

    #[test]
    fn pings_are_answered_and_a_close_is_reported() {
        let ping = server_frame(
            OpCode::Control(tungstenite::protocol::frame::coding::Control::Ping),
            true,
            b"p",
        );
        let mut web = upgraded();
        let mut out = Vec::new();
        web.decode::<WebError>(&ping, |_| Ok(())).unwrap();
        assert!(web.answer_ping(&mut out));
        assert!(!web.answer_ping(&mut out));
        let (header, length) = FrameHeader::parse(&mut Cursor::new(&out[..]))
            .unwrap()
            .unwrap();
        assert_eq!(
            header.opcode,
            OpCode::Control(tungstenite::protocol::frame::coding::Control::Pong)
        );
        assert_eq!(length, 1);
        let close = server_frame(
            OpCode::Control(tungstenite::protocol::frame::coding::Control::Close),
            true,
            &1002u16.to_be_bytes(),
        );
        let mut data = server_frame(OpCode::Data(Data::Text), true, b"bye");
        data.extend(close);
        for step in [1, 3, data.len()] {
            assert_eq!(messages(&data, step), Ok((vec!["bye".into()], Some(1002))));
        }
    }

    #[test]
    fn broken_frames_are_errors() {
        let mut masked = server_frame(OpCode::Data(Data::Text), true, b"x");
        masked[1] |= 0x80;
        let binary = server_frame(OpCode::Data(Data::Binary), true, b"x");
        let continuation = server_frame(OpCode::Data(Data::Continue), true, b"x");
        for data in [masked, binary, continuation, vec![0xf1, 0]] {
            assert!(
                matches!(messages(&data, 1), Err(WebError::Frame(_))),
                "{data:?}"
            );
        }
    }

    #[test]
    fn the_head_must_be_a_101_with_our_key() {
        let web = Web::new(&["h:1"]);
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             sec-websocket-accept: {}\r\n\r\n",
            web.accept()
        );
        let answer = [answer.as_bytes(), b"\x81\x02hi"].concat();
        for step in [1, 5, answer.len()] {
            let mut socket = web.start(0, 0, &mut Vec::new());
            let mut after: Option<Vec<u8>> = None;
            for piece in answer.chunks(step) {
                match &mut after {
                    Some(after) => after.extend_from_slice(piece),
                    None => {
                        let rest = socket.read_head(piece, web.accept()).unwrap();
                        after = rest.map(<[u8]>::to_vec);
                    }
                }
            }
            assert_eq!(after.as_deref(), Some(&b"\x81\x02hi"[..]), "{step}");
            assert!(socket.upgraded());
        }
        let head = |text: &'static str| {
            let mut socket = web.start(0, 0, &mut Vec::new());
            socket.read_head(text.as_bytes(), web.accept())
        };
        assert_eq!(
            head("HTTP/1.1 403 Forbidden\r\n\r\n"),
            Err(WebError::Refused("HTTP/1.1 403 Forbidden".into()))
        );
        assert_eq!(
            head("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n"),
            Err(WebError::BadAccept)
        );
        assert_eq!(head("HTTP/1.1 101 OK\r\n"), Ok(None));
        assert_eq!(head("! ser"), Ok(None));
        assert_eq!(
            head("! server full\n"),
            Err(WebError::NotHttp(b"! server full".to_vec()))
        );
        let mut socket = web.start(0, 0, &mut Vec::new());
        let long = format!("HTTP/1.1 101 OK\r\n{}", "x".repeat(MAX_HEAD));
        assert_eq!(
            socket.read_head(long.as_bytes(), web.accept()),
            Err(WebError::HeadTooLong)
        );
    }
}
