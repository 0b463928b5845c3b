//! Clients: a line client speaking the protocol as a bot or `nc` would, rooms of them
//! already joined, and the real `chat-client` binary in pipe mode.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::tls::{client_config, is_tls, is_web};
use super::{Lines, Process, TIMEOUT, show_lines};

/// A client's connection: plain TCP, TLS to a server that speaks it, or WebSocket to a
/// web port (one message per line).
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Web(Box<WebConn>),
}

/// Lines over a WebSocket: what is written goes out a message per complete line; what
/// comes in reads as the messages' text, each ending in LF.
struct WebConn {
    socket: tungstenite::WebSocket<TcpStream>,
    incoming: Vec<u8>,
    read_at: usize,
    outgoing: Vec<u8>,
}

impl WebConn {
    fn connect(stream: TcpStream, addr: SocketAddr) -> WebConn {
        let url = format!("ws://{addr}/ws");
        let (socket, _) = tungstenite::client(url.as_str(), stream)
            .unwrap_or_else(|err| panic!("WebSocket upgrade at {url} failed: {err}"));
        WebConn {
            socket,
            incoming: Vec::new(),
            read_at: 0,
            outgoing: Vec::new(),
        }
    }
}

impl Read for WebConn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use tungstenite::Message;
        while self.read_at == self.incoming.len() {
            let message = match self.socket.read() {
                Ok(message) => message,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(0);
                }
                Err(tungstenite::Error::Io(err)) => return Err(err),
                Err(tungstenite::Error::Protocol(_)) => return Ok(0),
                Err(err) => return Err(std::io::Error::other(err)),
            };
            self.incoming.clear();
            self.read_at = 0;
            match message {
                Message::Text(text) => self.incoming.extend_from_slice(text.as_bytes()),
                Message::Binary(bytes) => self.incoming.extend_from_slice(&bytes),
                Message::Close(_) => return Ok(0),
                _ => continue,
            }
            self.incoming.push(b'\n');
        }
        let take = buf.len().min(self.incoming.len() - self.read_at);
        buf[..take].copy_from_slice(&self.incoming[self.read_at..self.read_at + take]);
        self.read_at += take;
        Ok(take)
    }
}

impl Write for WebConn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        while let Some(end) = self.outgoing.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = self.outgoing.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            // Not UTF-8 goes as a binary message, which the server answers as such.
            let message = match std::str::from_utf8(line) {
                Ok(text) => tungstenite::Message::text(text),
                Err(_) => tungstenite::Message::binary(line.to_vec()),
            };
            self.socket.send(message).map_err(std::io::Error::other)?;
        }
        Ok(())
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(stream) => stream.read(buf),
            Conn::Tls(stream) => stream.read(buf),
            Conn::Web(web) => web.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(stream) => stream.write(buf),
            Conn::Tls(stream) => stream.write(buf),
            Conn::Web(web) => web.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(stream) => stream.flush(),
            Conn::Tls(stream) => stream.flush(),
            Conn::Web(web) => web.flush(),
        }
    }
}

/// A client speaking the line protocol, as a bot or `nc` would. Its reads and writes time
/// out, so a server that stops answering fails the test instead of hanging it. To a server
/// started for a TLS test it speaks TLS, trusting the test authority.
pub struct TestClient {
    pub name: String,
    stream: TcpStream,
    reader: BufReader<Conn>,
    /// Every line received, for failure messages.
    pub received: Vec<String>,
}

impl TestClient {
    /// Connects and reads the greeting, without sending a name.
    pub fn connect(addr: SocketAddr) -> TestClient {
        let stream = TcpStream::connect(addr).expect("connect to test server");
        TestClient::greeted(stream)
    }

    /// Connects from the local address `source` (another loopback address, such as
    /// 127.0.0.2, is another client address to the server) and reads the greeting.
    pub fn connect_from(source: IpAddr, addr: SocketAddr) -> TestClient {
        TestClient::greeted(connect_from(source, addr))
    }

    fn greeted(stream: TcpStream) -> TestClient {
        let mut client = TestClient::from_stream(stream);
        client.expect_prefix("* hello");
        client
    }

    /// A client on a connection already made, reading nothing yet (for a connection the
    /// server may refuse).
    pub fn from_stream(stream: TcpStream) -> TestClient {
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("set write timeout");
        let socket = stream.try_clone().expect("clone stream");
        let tls = stream.peer_addr().is_ok_and(is_tls);
        let web = stream.peer_addr().is_ok_and(is_web);
        let conn = if web {
            let addr = stream.peer_addr().expect("the server's address");
            Conn::Web(Box::new(WebConn::connect(socket, addr)))
        } else if tls {
            let name = ServerName::IpAddress(
                stream
                    .peer_addr()
                    .expect("the server's address")
                    .ip()
                    .into(),
            );
            let session =
                ClientConnection::new(client_config(), name).expect("a TLS client session");
            Conn::Tls(Box::new(StreamOwned::new(session, socket)))
        } else {
            Conn::Plain(socket)
        };
        let reader = BufReader::new(conn);
        TestClient {
            name: String::new(),
            stream,
            reader,
            received: Vec::new(),
        }
    }

    /// Connects and joins as `name`, waiting for the welcome.
    pub fn join(addr: SocketAddr, name: &str) -> TestClient {
        let mut client = TestClient::connect(addr);
        client.send(name);
        client.expect_prefix(&format!("* welcome {name}, you are in #lobby"));
        client.name = name.to_string();
        client
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let conn = self.reader.get_mut();
        if let Err(err) = conn.write_all(bytes).and_then(|()| conn.flush()) {
            panic!(
                "{}: could not send ({err}); {}",
                self.name,
                self.transcript()
            );
        }
    }

    /// The next line, or `None` if the server closed the connection. Panics on timeout.
    pub fn recv(&mut self) -> Option<String> {
        let mut buffer = Vec::new();
        match self.reader.read_until(b'\n', &mut buffer) {
            Ok(0) => None,
            Ok(_) => {
                assert_eq!(
                    buffer.pop(),
                    Some(b'\n'),
                    "{}: connection closed mid-line after {:?}",
                    self.name,
                    String::from_utf8_lossy(&buffer)
                );
                let line = String::from_utf8(buffer).unwrap_or_else(|err| {
                    panic!("{}: server sent invalid UTF-8: {err}", self.name)
                });
                self.received.push(line.clone());
                Some(line)
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "no line from the server within {TIMEOUT:?}; {}",
                    self.transcript()
                )
            }
            Err(err) => panic!(
                "reading from the server failed: {err}; {}",
                self.transcript()
            ),
        }
    }

    /// Whether something (a line, or the end) has arrived and not been read yet.
    pub fn has_pending(&self) -> bool {
        if !self.reader.buffer().is_empty() {
            return true;
        }
        self.stream.set_nonblocking(true).expect("set non-blocking");
        let peeked = self.stream.peek(&mut [0u8]);
        self.stream.set_nonblocking(false).expect("set blocking");
        match peeked {
            Ok(_) => true,
            Err(err) if err.kind() == ErrorKind::WouldBlock => false,
            Err(err) => panic!("{}: peek failed: {err}", self.name),
        }
    }

    /// The server must close the connection next.
    pub fn expect_closed(&mut self) {
        if let Some(line) = self.recv() {
            panic!(
                "expected the connection to close, got {line:?}; {}",
                self.transcript()
            );
        }
    }

    /// Reads everything until the server closes the connection, which must be within
    /// [`TIMEOUT`].
    pub fn read_until_closed(&mut self) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut lines = Vec::new();
        while let Some(line) = self.recv() {
            lines.push(line);
            if Instant::now() >= deadline {
                panic!("still open after {TIMEOUT:?}; {}", self.transcript());
            }
        }
        lines
    }

    /// Makes sure everything sent so far was handled, by a round trip: `/who` is answered
    /// only after the lines before it. Returns the answer.
    pub fn sync(&mut self) -> String {
        self.send("/who");
        self.wait_until("a /who answer", |line| line.starts_with("* #"))
    }

    /// Closes the sending side (EOF for the server; over TLS, after a `close_notify`).
    pub fn shutdown_write(&mut self) {
        if let Conn::Tls(stream) = self.reader.get_mut() {
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
        self.stream
            .shutdown(Shutdown::Write)
            .expect("shutdown write");
    }

    /// Resets the connection (RST instead of FIN), as a killed process might.
    pub fn reset(self) {
        rustix::net::sockopt::set_socket_linger(&self.stream, Some(Duration::ZERO))
            .expect("set linger");
        drop(self);
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl Lines for TestClient {
    /// The next line, which must exist.
    fn line(&mut self) -> String {
        match self.recv() {
            Some(line) => line,
            None => panic!("connection closed; {}", self.transcript()),
        }
    }

    fn transcript(&self) -> String {
        format!("{} received: {}", self.name, show_lines(&self.received))
    }
}

/// How the peer ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// A FIN: everything it sent arrived.
    Eof,
    /// A reset (`ECONNRESET`): what it had not yet sent is lost.
    Reset,
}

/// A TCP connection to `addr` from the local address `source`.
pub fn connect_from(source: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("make a socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .unwrap_or_else(|err| panic!("bind to {source}: {err}"));
    socket
        .connect_timeout(&addr.into(), TIMEOUT)
        .unwrap_or_else(|err| panic!("connect from {source} to {addr}: {err}"));
    socket.into()
}

/// Reads `stream` until the peer closes it, with an end of file or a reset, keeping every
/// byte that arrived before (a reset discards only what was not yet sent). Panics, showing
/// what arrived, if it is still open after [`TIMEOUT`] or a read fails any other way.
pub fn drain_until_closed(stream: &TcpStream) -> (Vec<u8>, Closed) {
    let deadline = Instant::now() + TIMEOUT;
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let failed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break format!("still open after {TIMEOUT:?}");
        }
        stream
            .set_read_timeout(Some(left))
            .expect("set read timeout");
        match (&*stream).read(&mut chunk) {
            Ok(0) => return (received, Closed::Eof),
            Ok(read) => received.extend_from_slice(&chunk[..read]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => {
                return (received, Closed::Reset);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => break format!("read failed: {err} ({:?})", err.kind()),
        }
    };
    let tail = &received[received.len().saturating_sub(300)..];
    panic!(
        "expected the peer to close the connection, but it is {failed}; {} bytes arrived \
         before, ending {:?}",
        received.len(),
        String::from_utf8_lossy(tail)
    );
}

/// alice and bob in the lobby, alice having seen bob join.
pub fn pair(addr: SocketAddr) -> (TestClient, TestClient) {
    let [alice, bob] = room_of(addr, ["alice", "bob"]);
    (alice, bob)
}

/// Clients joined in the lobby in the order of `names`, each having seen every later one
/// join: everyone is in before the test goes on, and nobody has a notice left unread.
pub fn room_of<const N: usize>(addr: SocketAddr, names: [&str; N]) -> [TestClient; N] {
    let mut clients = names.map(|name| TestClient::join(addr, name));
    // Joins are announced in the order they happen, and each join above waited for its
    // welcome before the next one began.
    for (index, client) in clients.iter_mut().enumerate() {
        for later in &names[index + 1..] {
            client.expect(&format!("* {later} joined #lobby"));
        }
    }
    clients
}

/// The real `chat-client` against `addr` with stdin and stdout as pipes (no terminal).
pub fn start_client(addr: SocketAddr, args: &[&str]) -> Process {
    Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_chat-client"))
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(args)
            .env_remove("NO_COLOR"),
    )
}

/// What follows the `[HH:MM] ` stamp that `chat-client` puts before each line, or `None`
/// if `line` does not start with one.
pub fn strip_stamp(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let stamped = bytes.len() >= 8
        && bytes[0] == b'['
        && bytes[1..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b':'
        && bytes[4..6].iter().all(u8::is_ascii_digit)
        && &bytes[6..8] == b"] ";
    stamped.then(|| &line[8..])
}

/// Registers `name` with `password` on the server at `addr`, then logs in with it in a new
/// session (an `--admin` name is an admin only then).
pub fn registered_session(addr: SocketAddr, name: &str, password: &str) -> TestClient {
    let mut client = TestClient::join(addr, name);
    client.send(&format!("/register {password}"));
    let registered = format!("* {name} is registered");
    // Past the room's replay, if it has history.
    client.wait_until("the registration", |line| line.starts_with(&registered));
    client.send("/quit");
    client.wait_for("* bye");
    let mut client = TestClient::connect(addr);
    client.send(&format!("{name} {password}"));
    client.expect_prefix(&format!("* welcome {name}, you are in #lobby"));
    client
}
