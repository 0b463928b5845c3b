//! TLS against a real `chat-server` process: the certificate (files from the test's own
//! authority, or self-signed and kept), reload on SIGHUP with a client connected, and what
//! isn't TLS on the TLS port (garbage, plain text, a stall, an old version) closed without
//! a word of chat. The protocol tests themselves run over TLS too (tests/protocol.rs).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Lines, ServerProcess, TIMEOUT, TestClient, client_config, test_certs};
use rcgen::{CertificateParams, KeyPair};
use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName};

fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-tls-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a temporary directory");
    dir
}

/// The fingerprint the server logs: `SHA256:` and the unpadded base64 of the certificate's
/// digest, read from its log.
fn logged_fingerprint(server: &ServerProcess) -> String {
    let log = server.wait_log("TLS certificate fingerprint SHA256:");
    let line = log
        .lines()
        .rfind(|line| line.contains("TLS certificate fingerprint "))
        .unwrap_or_default();
    line.rsplit(' ').next().unwrap_or_default().to_string()
}

/// The certificate a TLS server at `addr` presents now, from a fresh handshake that the
/// test authority verifies.
fn presented(addr: SocketAddr) -> CertificateDer<'static> {
    presented_with(addr, client_config())
}

/// The certificate presented to a client with `config`, after its greeting.
fn presented_with(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> CertificateDer<'static> {
    let socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let name = ServerName::IpAddress(addr.ip().into());
    let session = ClientConnection::new(config, name).expect("a session");
    let mut stream = StreamOwned::new(session, socket);
    let mut greeting = [0u8; 8];
    stream
        .read_exact(&mut greeting)
        .expect("a greeting over TLS");
    assert_eq!(&greeting, b"* hello!");
    stream
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a certificate")
        .clone()
        .into_owned()
}

/// A new self-signed certificate for 127.0.0.1, written over `cert` and `key`; returns its
/// fingerprint.
fn write_new_certificate(cert: &Path, key: &Path) -> String {
    let new_key = KeyPair::generate().expect("a key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("parameters");
    let made = params.self_signed(&new_key).expect("a certificate");
    std::fs::write(cert, made.pem()).expect("write the certificate");
    std::fs::write(key, new_key.serialize_pem()).expect("write the key");
    chat_server::tls::fingerprint(made.der())
}

/// The bytes a server sends to a connection that speaks `first` on the TLS port, until it
/// closes it (which it must, within the handshake timeout and the test's patience).
fn answer_to(addr: SocketAddr, first: &[u8]) -> (Vec<u8>, Duration) {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let started = Instant::now();
    if !first.is_empty() {
        socket.write_all(first).expect("send");
    }
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("the server never closed ({err}); got {received:?}"),
        }
    }
    (received, started.elapsed())
}

/// A ClientHello offering TLS 1.1 only (no supported_versions extension).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0, 0, u8::try_from(body.len()).expect("short")];
    handshake.extend_from_slice(&body);
    let mut record = vec![
        0x16,
        0x03,
        0x01,
        0,
        u8::try_from(handshake.len()).expect("short"),
    ];
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn a_self_signed_certificate_is_made_once_and_its_fingerprint_logged_as_ssh_does() {
    let dir = tempdir("self");
    let data_dir = dir.to_str().expect("utf-8");
    let args = [
        "--data-dir",
        data_dir,
        "--tls-port",
        "0",
        "--tls-self-signed",
    ];
    let mut server = ServerProcess::start(&args);
    let tls = server.tls_addr.expect("a TLS address");
    assert_ne!(tls, server.addr);
    let fingerprint = logged_fingerprint(&server);
    assert!(
        fingerprint.starts_with("SHA256:")
            && !fingerprint.ends_with('=')
            && fingerprint.len() == 50,
        "{fingerprint}"
    );
    let pem = std::fs::read(dir.join("tls/cert.pem")).expect("the certificate is kept");
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|der: CertificateDer<'_>| der.into_owned());
    let der = der.expect("a PEM certificate");
    assert_eq!(chat_server::tls::fingerprint(&der), fingerprint);

    server.signal(rustix::process::Signal::TERM);
    server.wait_exit(TIMEOUT);
    let again = ServerProcess::start(&args);
    assert_eq!(
        logged_fingerprint(&again),
        fingerprint,
        "a new certificate was made"
    );
}

#[test]
fn only_tls_with_no_plain_and_chat_flows_between_plain_and_tls_users() {
    let certs = test_certs();
    let (cert, key) = (
        certs.cert_file.to_str().expect("utf-8"),
        certs.key_file.to_str().expect("utf-8"),
    );
    let both = ServerProcess::start(&["--tls-port", "0", "--tls-cert", cert, "--tls-key", key]);
    assert_eq!(logged_fingerprint(&both), certs.fingerprint);
    let tls_addr = both.tls_addr.expect("a TLS address");
    // It verifies against the test authority, for the address it is reached at.
    let der = presented(tls_addr);
    assert_eq!(chat_server::tls::fingerprint(&der), certs.fingerprint);
    let mut plain = TestClient::join(both.addr, "plain");
    let mut secure = TestClient::join(tls_addr, "secure");
    plain.expect("* secure joined #lobby");
    secure.send("over tls");
    plain.expect("secure: over tls");
    plain.send("over tcp");
    secure.expect("plain: over tcp");
    // The invite link names the TLS port first, and a plain client gets the plain one too.
    secure.send("/create");
    let link = secure.wait_until("a link", |line| line.contains("invite link: "));
    assert!(link.contains(&format!("chats://{tls_addr}/")), "{link}");
    assert!(
        !link.contains("chat://"),
        "a TLS client got a plain link: {link}"
    );
    plain.send("/create");
    let links = plain.wait_until("links", |line| line.contains("invite link: "));
    let (first, second) = links
        .split_once(" or ")
        .unwrap_or_else(|| panic!("two links expected: {links}"));
    assert!(first.contains(&format!("chats://{tls_addr}/")), "{links}");
    assert!(
        second.starts_with(&format!("chat://{}/", both.addr)),
        "{links}"
    );

    let only = ServerProcess::start(&[
        "--tls-port",
        "0",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--no-plain",
    ]);
    assert_eq!(Some(only.addr), only.tls_addr);
    let mut client = TestClient::join(only.addr, "secure");
    client.send("/who");
    client.expect("* #lobby (1): secure");
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_everyone_connected() {
    let dir = tempdir("reload");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let certs = test_certs();
    std::fs::copy(&certs.cert_file, &cert).expect("copy");
    std::fs::copy(&certs.key_file, &key).expect("copy");
    let server = ServerProcess::start(&[
        "--tls-port",
        "0",
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    let tls_addr = server.tls_addr.expect("a TLS address");
    let mut alice = TestClient::join(tls_addr, "alice");
    let mut bob = TestClient::join(server.addr, "bob");
    alice.expect("* bob joined #lobby");

    let new_fingerprint = write_new_certificate(&cert, &key);
    server.signal(rustix::process::Signal::HUP);
    server.wait_log(&format!(
        "reloaded the TLS certificate, fingerprint {new_fingerprint}"
    ));
    // Those connected stay, and go on talking.
    bob.send("still here?");
    alice.expect("bob: still here?");
    alice.send("yes");
    bob.expect("alice: yes");
    // New connections get the new certificate (checked by fingerprint: it isn't signed by
    // the test authority, so a verifying client would refuse it).
    let der = presented_unverified(tls_addr);
    assert_eq!(chat_server::tls::fingerprint(&der), new_fingerprint);

    // A reload that fails keeps the certificate in use.
    std::fs::write(&cert, "not a certificate").expect("write");
    server.signal(rustix::process::Signal::HUP);
    server.wait_log("kept the old TLS certificate");
    let der = presented_unverified(tls_addr);
    assert_eq!(chat_server::tls::fingerprint(&der), new_fingerprint);
    alice.send("/who");
    alice.expect("* #lobby (2): alice, bob");
}

/// The certificate presented, without verifying it (the handshake's signatures are still
/// checked by rustls).
fn presented_unverified(addr: SocketAddr) -> CertificateDer<'static> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: rustls_pki_types::UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    presented_with(addr, Arc::new(config))
}

#[test]
fn what_is_not_tls_on_the_tls_port_is_closed_and_told_nothing() {
    let server = ServerProcess::start(&[
        "--tls-port",
        "0",
        "--tls-self-signed",
        "--handshake-timeout",
        "1",
    ]);
    let tls_addr = server.tls_addr.expect("a TLS address");
    let greeting = b"hello! send your name";

    // A line-protocol client on the wrong port: an alert at most, never the greeting.
    let (answer, _) = answer_to(tls_addr, b"alice\n");
    assert!(
        !contains(&answer, greeting),
        "plain text leaked: {answer:?}"
    );
    assert!(answer.len() < 64, "more than an alert: {answer:?}");
    // Garbage.
    let (answer, _) = answer_to(tls_addr, &[0xff; 300]);
    assert!(!contains(&answer, greeting), "{answer:?}");
    // TLS 1.1: refused with an alert (21 = alert record).
    let (answer, _) = answer_to(tls_addr, &tls11_client_hello());
    assert_eq!(answer.first(), Some(&21), "not an alert: {answer:?}");
    // A stall: closed once the handshake timeout (1 s) runs out.
    let (answer, took) = answer_to(tls_addr, b"");
    assert!(
        answer.is_empty() || answer.first() == Some(&21),
        "{answer:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
    let log = server.wait_log("handshake timed out");
    assert!(log.matches("TLS handshake failed").count() >= 4, "{log}");

    // And the server goes on serving TLS and plain clients.
    let mut plain = TestClient::join(server.addr, "plain");
    plain.send("/who");
    plain.expect("* #lobby (1): plain");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn a_banned_address_is_told_so_over_tls_after_the_handshake() {
    let certs = test_certs();
    let (cert, key) = (
        certs.cert_file.to_str().expect("utf-8"),
        certs.key_file.to_str().expect("utf-8"),
    );
    let dir = tempdir("ban");
    let server = ServerProcess::start(&[
        "--data-dir",
        dir.to_str().expect("utf-8"),
        "--admin",
        "root",
        "--tls-port",
        "0",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ]);
    let tls_addr = server.tls_addr.expect("a TLS address");
    let mut root = TestClient::join(server.addr, "root");
    root.send("/register admin-pass-1");
    root.expect_prefix("* root is registered");
    root.send("/quit");
    root.wait_for("* bye");
    let mut root = TestClient::connect(server.addr);
    root.send("root admin-pass-1");
    root.expect_prefix("* welcome root");
    root.send("/ban 127.0.0.9 0 testing");
    root.expect("* 127.0.0.9 is banned until further notice (testing)");

    let stream = common::connect_from("127.0.0.9".parse().expect("address"), tls_addr);
    let mut banned = TestClient::from_stream(stream);
    banned.expect("! you are banned until further notice (testing)");
    banned.expect_closed();
}
