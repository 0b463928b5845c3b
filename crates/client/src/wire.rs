//! The connection's byte stream, plain TCP or TLS, shared by the thread that reads it and
//! those that write to it. A TLS read blocks on the socket without holding any lock, then
//! feeds what came to rustls under the state's lock; a write hands rustls the plaintext
//! under that lock and takes the records it makes, then sends them with only the sending
//! lock held (which keeps records in order). So a writer never waits for the server to
//! say something, and the reader never waits for a full socket to drain.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use chat_sync::lock;
use rustls::{ClientConfig, ClientConnection};
use rustls_pki_types::ServerName;

use crate::trust::{TlsSettings, Verifier, known_servers_path};
use crate::{ClientError, describe};

/// How long the TLS handshake may take before the connection is given up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most TLS bytes read from the socket at once (a record's worth).
const READ_CHUNK: usize = 16 * 1024 + 256;

/// A connection to the server.
pub enum Wire {
    Plain(TcpStream),
    /// Boxed: rustls's state is a thousand bytes, a socket four.
    Tls(Box<TlsWire>),
}

/// A TLS connection: the socket, and rustls's state for both directions.
pub struct TlsWire {
    socket: TcpStream,
    state: Mutex<ClientConnection>,
    /// Held (before `state`, never after) from taking records out of rustls until they
    /// are on the socket, so they go in the order rustls made them.
    sending: Mutex<()>,
    /// The reading thread's buffer for records from the socket (only it takes this lock).
    inbox: Mutex<Vec<u8>>,
}

impl TlsWire {
    /// Encrypts `plaintext` (if any) and sends it with whatever else rustls has to send.
    fn send(&self, plaintext: &[u8]) -> io::Result<()> {
        let _sending = lock(&self.sending);
        let mut rest = plaintext;
        loop {
            let records = {
                let mut state = lock(&self.state);
                let taken = state.writer().write(rest)?;
                rest = &rest[taken..];
                take_records(&mut state)?
            };
            // Only the sending lock is held while the socket takes it.
            (&self.socket).write_all(&records)?;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Sends what rustls has to send (an alert, a key update's answer) if no writer is
    /// sending now; otherwise that writer's next send takes it along.
    fn send_pending(&self) -> io::Result<()> {
        let _sending = match self.sending.try_lock() {
            Ok(sending) => sending,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(()),
        };
        let records = take_records(&mut lock(&self.state))?;
        (&self.socket).write_all(&records)
    }
}

/// The records rustls has made and not yet sent.
fn take_records(state: &mut ClientConnection) -> io::Result<Vec<u8>> {
    let mut records = Vec::new();
    while state.wants_write() {
        state.write_tls(&mut records)?;
    }
    Ok(records)
}

impl Wire {
    /// Sends one line, adding the LF.
    ///
    /// # Errors
    /// The socket's, or rustls's.
    pub fn send_line(&self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let mut writer = self;
        writer.write_all(&bytes)
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Wire::Plain(socket) => socket,
            Wire::Tls(tls) => &tls.socket,
        }
    }

    /// Closes one or both directions. Closing the write side of a TLS connection sends
    /// its `close_notify` first.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if let (Wire::Tls(tls), Shutdown::Write) = (self, how) {
            lock(&tls.state).send_close_notify();
            // Best effort: the socket may already be gone.
            let _ = tls.send(&[]);
        }
        self.socket().shutdown(how)
    }

    /// Bounds each read (`None`: reads wait for ever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(timeout)
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Wire::Tls(_))
    }

    /// The server's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket().peer_addr()
    }

    /// Whether a secret sent now could be read on the way: plain TCP to an address that
    /// is not this machine's.
    pub fn exposes_secrets(&self) -> bool {
        !self.is_tls() && self.peer_addr().is_ok_and(|addr| !is_local(addr.ip()))
    }
}

/// Whether `ip` is a loopback address (IPv4-mapped ones included).
pub fn is_local(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

impl Read for &Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let tls = match self {
            Wire::Plain(socket) => return Read::read(&mut &*socket, buf),
            Wire::Tls(tls) => tls,
        };
        let mut raw = lock(&tls.inbox);
        raw.resize(READ_CHUNK, 0);
        loop {
            {
                let mut state = lock(&tls.state);
                match state.reader().read(buf) {
                    Ok(read) => return Ok(read),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    // The server closed the socket without a close_notify: to a line
                    // protocol that is the end of the stream as on plain TCP.
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(err) => return Err(err),
                }
            }
            // No lock while waiting for the server: writers go on meanwhile.
            let read = (&tls.socket).read(&mut raw)?;
            if read == 0 {
                return Ok(0);
            }
            let mut records = &raw[..read];
            while !records.is_empty() {
                let (processed, answer) = {
                    let mut state = lock(&tls.state);
                    state.read_tls(&mut records)?;
                    let processed = state.process_new_packets();
                    (processed, state.wants_write())
                };
                // An alert, a key update's answer: sent whatever happened.
                let sent = if answer { tls.send_pending() } else { Ok(()) };
                processed.map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
                sent?;
            }
        }
    }
}

impl Write for &Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let tls = match self {
            Wire::Plain(socket) => return Write::write(&mut &*socket, buf),
            Wire::Tls(tls) => tls,
        };
        tls.send(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(socket) => Write::flush(&mut &*socket),
            Wire::Tls(tls) => tls.send(&[]),
        }
    }
}

/// Makes connections to one server, plain or TLS, the same way each time (a reconnect
/// verifies the certificate as the first connection did).
pub struct Connector {
    host: String,
    port: u16,
    /// `None` for plain TCP; an error when TLS was asked for but can't be set up for
    /// this host (each `open` then fails rather than going plain).
    tls: Option<Result<Tls, String>>,
}

struct Tls {
    config: Arc<ClientConfig>,
    verifier: Arc<Verifier>,
    name: ServerName<'static>,
}

impl Connector {
    /// A connector to `host:port`, over TLS if `tls` is given (the certificates the user
    /// trusted are in the data directory's `known_servers`).
    pub fn new(host: &str, port: u16, tls: Option<&TlsSettings>) -> Connector {
        Connector::with_known_servers(host, port, tls, known_servers_path())
    }

    /// A connector that keeps the certificates the user trusted in `known_servers`.
    pub fn with_known_servers(
        host: &str,
        port: u16,
        tls: Option<&TlsSettings>,
        known_servers: Option<PathBuf>,
    ) -> Connector {
        Connector {
            host: host.to_string(),
            port,
            tls: tls.map(|settings| Tls::new(host, port, settings, known_servers)),
        }
    }

    /// The server, as `HOST:PORT`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The verifier, when connecting over TLS.
    pub fn verifier(&self) -> Option<&Verifier> {
        match &self.tls {
            Some(Ok(tls)) => Some(&tls.verifier),
            _ => None,
        }
    }

    /// Connects (and makes the TLS handshake, verifying the server's certificate).
    ///
    /// # Errors
    /// `Connect` when the server can't be reached or the handshake fails, `Untrusted`
    /// when its certificate is not trusted.
    pub fn open(&self) -> Result<Wire, ClientError> {
        let failed = |source| ClientError::Connect {
            addr: self.addr(),
            source,
        };
        let tls = match &self.tls {
            None => return connect(&self.host, self.port).map(Wire::Plain),
            Some(Ok(tls)) => tls,
            Some(Err(err)) => {
                return Err(failed(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no TLS to this host: {err}"),
                )));
            }
        };
        let socket = connect(&self.host, self.port)?;
        // A refusal is the one this handshake's, not a stale one's.
        tls.verifier.take_refusal();
        tls.handshake(socket)
            .map_err(|err| match tls.verifier.take_refusal() {
                Some(distrust) => ClientError::Untrusted(distrust),
                None => failed(io::Error::new(
                    err.kind(),
                    format!("TLS handshake failed: {}", describe(&err)),
                )),
            })
    }
}

impl Tls {
    fn new(
        host: &str,
        port: u16,
        settings: &TlsSettings,
        known_servers: Option<PathBuf>,
    ) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(Verifier::new(
            settings,
            &provider,
            host,
            port,
            known_servers,
        ));
        let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| err.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&verifier) as _)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string()).map_err(|err| err.to_string())?;
        Ok(Tls {
            config: Arc::new(config),
            verifier,
            name,
        })
    }

    /// Makes the handshake on `socket`, within [`HANDSHAKE_TIMEOUT`].
    fn handshake(&self, mut socket: TcpStream) -> io::Result<Wire> {
        let mut state = ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(io::Error::other)?;
        socket.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        while state.is_handshaking() {
            state.complete_io(&mut socket)?;
        }
        socket.set_read_timeout(None)?;
        Ok(Wire::Tls(Box::new(TlsWire {
            socket,
            state: Mutex::new(state),
            sending: Mutex::new(()),
            inbox: Mutex::new(Vec::new()),
        })))
    }
}

/// Connects to `host:port`, trying each address it resolves to.
pub fn connect(host: &str, port: u16) -> Result<TcpStream, ClientError> {
    let addr = format!("{host}:{port}");
    let connect_error = |source| ClientError::Connect {
        addr: addr.clone(),
        source,
    };
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address found");
    for candidate in (host, port).to_socket_addrs().map_err(connect_error)? {
        match TcpStream::connect(candidate) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = err,
        }
    }
    Err(connect_error(last_error))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::path::Path;
    use std::sync::mpsc;
    use std::thread;

    use rustls::{ServerConfig, ServerConnection, StreamOwned};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    use super::*;
    use crate::trust::{Distrust, Fingerprint};

    /// A certificate for 127.0.0.1 and its key, made for the test.
    struct TestCert {
        der: CertificateDer<'static>,
        key: Vec<u8>,
        pem: String,
    }

    fn test_cert() -> TestCert {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .expect("make a certificate");
        TestCert {
            der: made.cert.der().clone(),
            key: made.signing_key.serialize_der(),
            pem: made.cert.pem(),
        }
    }

    /// A TLS server on 127.0.0.1 that answers each line with `echo LINE` until the
    /// client closes; sends what it saw at the end (`eof` after a close_notify, or the
    /// error) on the returned channel.
    fn server_config(cert: &TestCert) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone())),
            )
            .expect("server config");
        Arc::new(config)
    }

    fn echo_server(cert: &TestCert) -> (u16, mpsc::Receiver<String>) {
        let config = server_config(cert);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let (done, ends) = mpsc::channel();
        thread::spawn(move || {
            for socket in listener.incoming() {
                let Ok(socket) = socket else { return };
                let config = Arc::clone(&config);
                let done = done.clone();
                thread::spawn(move || {
                    let Ok(connection) = ServerConnection::new(config) else {
                        return;
                    };
                    let mut stream = StreamOwned::new(connection, socket);
                    let mut reader = Vec::new();
                    let end = loop {
                        let mut byte = [0];
                        match stream.read(&mut byte) {
                            Ok(0) => break "eof".to_string(),
                            Ok(_) if byte[0] == b'\n' => {
                                let line = String::from_utf8_lossy(&reader).into_owned();
                                reader.clear();
                                let answer = format!("echo {line}\n");
                                if let Err(err) = stream.write_all(answer.as_bytes()) {
                                    break err.to_string();
                                }
                            }
                            Ok(_) => reader.push(byte[0]),
                            Err(err) => break err.to_string(),
                        }
                    };
                    let _ = done.send(end);
                });
            }
        });
        (port, ends)
    }

    fn connector(
        port: u16,
        ca: Option<&Path>,
        pin: Option<Fingerprint>,
        known: Option<PathBuf>,
    ) -> Connector {
        let settings = TlsSettings::new(ca, pin).expect("settings");
        Connector::with_known_servers("127.0.0.1", port, Some(&settings), known)
    }

    fn temp_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chat-wire-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn untrusted(result: Result<Wire, ClientError>) -> Distrust {
        match result {
            Err(ClientError::Untrusted(distrust)) => distrust,
            Err(err) => panic!("refused for another reason: {err}"),
            Ok(_) => panic!("the certificate was trusted"),
        }
    }

    #[test]
    fn lines_go_both_ways_while_another_thread_reads() {
        let cert = test_cert();
        let (port, ends) = echo_server(&cert);
        let pin = Fingerprint::of(&cert.der);
        let wire = Arc::new(
            connector(port, None, Some(pin), None)
                .open()
                .expect("connect"),
        );
        assert!(wire.is_tls());
        assert!(!wire.exposes_secrets());

        // The reader blocks on the socket while this thread writes: no lock is held.
        let reading = Arc::clone(&wire);
        let (lines, received) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(&*reading);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let _ = lines.send(line.trim_end().to_string());
                    }
                }
            }
        });
        for index in 0..200 {
            wire.send_line(&format!("line {index}")).expect("send");
        }
        for index in 0..200 {
            let line = received
                .recv_timeout(Duration::from_secs(10))
                .expect("an answer");
            assert_eq!(line, format!("echo line {index}"));
        }
        wire.shutdown(Shutdown::Write).expect("shut down");
        let end = ends.recv_timeout(Duration::from_secs(10)).expect("the end");
        assert_eq!(end, "eof", "the server saw no close_notify");
    }

    #[test]
    fn the_reader_goes_on_while_a_writer_waits_for_a_full_socket() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let cert = test_cert();
        let config = server_config(&cert);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let (go, ping) = mpsc::channel::<()>();
        let (read_ping, drain) = mpsc::channel::<()>();
        let server = thread::spawn(move || {
            let (socket, _) = listener.accept().expect("accept");
            let connection = ServerConnection::new(config).expect("server connection");
            let mut stream = StreamOwned::new(connection, socket);
            stream.write_all(b"ready\n").expect("ready");
            // Reads nothing until told to send `ping`: the client's writes pile up.
            ping.recv().expect("told to ping");
            stream.write_all(b"ping\n").expect("ping");
            // Still reading nothing until the client has read `ping`.
            drain.recv().expect("told to drain");
            let mut drained = 0;
            let mut chunk = vec![0; 64 * 1024];
            while let Ok(read @ 1..) = stream.read(&mut chunk) {
                drained += read;
            }
            drained
        });
        let pin = Fingerprint::of(&cert.der);
        let wire = Arc::new(
            connector(port, None, Some(pin), None)
                .open()
                .expect("connect"),
        );
        let mut line = String::new();
        BufReader::new(&*wire).read_line(&mut line).expect("ready");
        assert_eq!(line, "ready\n");

        // Far more than the socket buffers hold, while the server reads nothing.
        const LINES: usize = 64 * 1024;
        let sent = Arc::new(AtomicUsize::new(0));
        let writing = (Arc::clone(&wire), Arc::clone(&sent));
        let writer = thread::spawn(move || {
            let (wire, sent) = writing;
            let text = "x".repeat(1000);
            for _ in 0..LINES {
                if wire.send_line(&text).is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
            let _ = wire.shutdown(Shutdown::Write);
        });
        // The writer is stuck once it has sent some and then makes no progress for a
        // while (nothing tells when a socket is full).
        let mut last = 0;
        let stuck = (0..500).any(|_| {
            thread::sleep(Duration::from_millis(50));
            let now = sent.load(Ordering::SeqCst);
            now > 0 && std::mem::replace(&mut last, now) == now
        });
        assert!(stuck, "the writer never waited for the socket");
        go.send(()).expect("ping");
        let (lines, received) = mpsc::channel();
        let reading = Arc::clone(&wire);
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(&*reading).read_line(&mut line);
            let _ = lines.send(line);
        });
        let line = received
            .recv_timeout(Duration::from_secs(10))
            .expect("ping read while the writer waits");
        assert_eq!(line, "ping\n");
        assert!(
            sent.load(Ordering::SeqCst) < LINES,
            "the writer was not stuck"
        );
        read_ping.send(()).expect("drain");
        writer.join().expect("the writer");
        assert_eq!(server.join().expect("the server"), LINES * 1001);
    }

    #[test]
    fn a_read_timeout_ends_a_tls_read() {
        let cert = test_cert();
        let (port, _ends) = echo_server(&cert);
        let pin = Fingerprint::of(&cert.der);
        let wire = connector(port, None, Some(pin), None)
            .open()
            .expect("connect");
        wire.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let err = (&wire).read(&mut [0; 16]).expect_err("nothing to read");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        // Still usable afterwards.
        wire.set_read_timeout(None).expect("no timeout");
        wire.send_line("again").expect("send");
        let mut reader = BufReader::new(&wire);
        let mut line = String::new();
        reader.read_line(&mut line).expect("answer");
        assert_eq!(line, "echo again\n");
    }

    #[test]
    fn a_pin_accepts_its_certificate_only() {
        let cert = test_cert();
        let (port, _ends) = echo_server(&cert);
        let right = Fingerprint::of(&cert.der);
        let wrong = Fingerprint::of(b"another certificate");
        assert!(connector(port, None, Some(right), None).open().is_ok());
        assert_eq!(
            untrusted(connector(port, None, Some(wrong), None).open()),
            Distrust::NotPinned {
                server: format!("127.0.0.1:{port}"),
                pinned: wrong,
                presented: right
            }
        );
        // Pinned to another certificate, a certificate an authority vouches for is
        // refused all the same.
        let dir = temp_dir("pin-ca");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &cert.pem).expect("write the CA");
        assert!(matches!(
            untrusted(connector(port, Some(&ca), Some(wrong), None).open()),
            Distrust::NotPinned { .. }
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_certificate_an_authority_vouches_for_is_trusted_silently() {
        let cert = test_cert();
        let (port, _ends) = echo_server(&cert);
        let dir = temp_dir("ca");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &cert.pem).expect("write the CA");
        let known = dir.join("known_servers");
        let wire = connector(port, Some(&ca), None, Some(known.clone()))
            .open()
            .expect("trusted through --ca");
        wire.send_line("hi").expect("send");
        assert!(!known.exists(), "nothing to remember");
        // The authority vouches for 127.0.0.1 only.
        let settings = TlsSettings::new(Some(&ca), None).expect("settings");
        let other_name = Connector::with_known_servers("localhost", port, Some(&settings), None);
        assert!(matches!(
            untrusted(other_name.open()),
            Distrust::Unknown { .. }
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn trust_on_first_use_then_remembered_then_changed() {
        let cert = test_cert();
        let (port, _ends) = echo_server(&cert);
        let presented = Fingerprint::of(&cert.der);
        let dir = temp_dir("tofu");
        let known = dir.join("known_servers");
        let first = connector(port, None, None, Some(known.clone()));
        assert_eq!(
            untrusted(first.open()),
            Distrust::Unknown {
                server: format!("127.0.0.1:{port}"),
                presented
            }
        );
        let verifier = first.verifier().expect("a TLS connector");
        assert_eq!(verifier.trust(presented).expect("remembered"), known);
        assert!(first.open().is_ok(), "trusted once the user said so");

        // A later run finds it in the file.
        let later = connector(port, None, None, Some(known.clone()));
        assert!(later.open().is_ok(), "remembered");

        // Another certificate on the same host and port is refused.
        let other = test_cert();
        let (other_port, _ends) = echo_server(&other);
        let text = std::fs::read_to_string(&known).expect("read known_servers");
        let moved = text.replace(&format!(":{port} "), &format!(":{other_port} "));
        std::fs::write(&known, moved).expect("rewrite known_servers");
        let changed = connector(other_port, None, None, Some(known.clone()));
        match untrusted(changed.open()) {
            Distrust::Changed {
                remembered,
                presented: new,
                file,
                line,
                ..
            } => {
                assert_eq!(remembered, presented);
                assert_eq!(new, Fingerprint::of(&other.der));
                assert_eq!(file, known);
                assert_eq!(line, 2, "after the file's comment line");
            }
            other => panic!("not refused as changed: {other}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_plain_server_on_the_tls_port_fails_the_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let _ = socket.write_all(b"* hello! send your name\n");
                let _ = socket.read(&mut [0; 1024]);
            }
        });
        match connector(port, None, None, None).open() {
            Err(ClientError::Connect { source, .. }) => {
                assert!(
                    source.to_string().contains("TLS handshake failed"),
                    "{source}"
                );
            }
            Err(err) => panic!("another error: {err}"),
            Ok(_) => panic!("a plain server passed for TLS"),
        }
    }

    #[test]
    fn loopback_is_local_in_both_families() {
        for local in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert!(is_local(local.parse().expect("address")), "{local}");
        }
        for remote in ["192.168.1.10", "10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1"] {
            assert!(!is_local(remote.parse().expect("address")), "{remote}");
        }
    }
}
