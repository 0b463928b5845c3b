//! The real `chat-client` over TLS against the real `chat-server` with `--tls-port`: a
//! pinned fingerprint, refusals of unknown, wrong and changed certificates, a certificate
//! authority given with `--ca`, `chats://` links, reconnects that verify again, and trust
//! on first use in a terminal (tmux).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Lines, Pane, Process, ServerProcess, TIMEOUT, TestClient, eventually};

/// The exit status for a certificate that is not trusted.
const EXIT_UNTRUSTED: i32 = 6;

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory of this test's (removed when dropped).
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "chat-client-tls-{what}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a test directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fingerprint the server logged at start (the last one, after a reload).
fn logged_fingerprint(server: &ServerProcess) -> String {
    const SAYS: &str = "TLS certificate fingerprint ";
    let log = server.wait_log(&format!("{SAYS}SHA256:"));
    log.lines()
        .rev()
        .find_map(|line| {
            line.split_once(SAYS)
                .map(|(_, print)| print.trim().to_string())
        })
        .expect("a fingerprint line")
}

/// A server with a plain and a TLS port and a self-signed certificate made for this start
/// (or kept in `extra`'s `--data-dir`); returns it, its TLS address and the fingerprint it
/// logged.
fn tls_server(extra: &[&str]) -> (ServerProcess, SocketAddr, String) {
    let mut args = vec!["--tls-self-signed"];
    if !extra.contains(&"--tls-port") {
        args.extend(["--tls-port", "0"]);
    }
    args.extend(extra);
    let server = ServerProcess::start(&args);
    let tls_addr = server.tls_addr.expect("the server's TLS address");
    let fingerprint = logged_fingerprint(&server);
    (server, tls_addr, fingerprint)
}

/// `chat-client ARGS` in a pipe, its data directory `data_home` (so nothing of the user's
/// is read), no timestamps.
fn pipe_client(data_home: &TempDir, args: &[&str]) -> Process {
    Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_chat-client"))
            .args(args)
            .arg("--no-timestamps")
            .env("XDG_DATA_HOME", data_home.path())
            .env_remove("CHAT_PASSWORD")
            .env_remove("NO_COLOR"),
    )
}

/// The arguments for `addr`.
fn at(addr: SocketAddr) -> [String; 4] {
    [
        "--host".to_string(),
        addr.ip().to_string(),
        "--port".to_string(),
        addr.port().to_string(),
    ]
}

fn args<'a>(addr: &'a [String; 4], rest: &[&'a str]) -> Vec<&'a str> {
    rest.iter()
        .copied()
        .chain(addr.iter().map(String::as_str))
        .collect()
}

/// Where a client with data directory `data_home` remembers certificates.
fn known_servers(data_home: &Path) -> PathBuf {
    data_home.join("chat-client").join("known_servers")
}

#[test]
fn a_pinned_pipe_client_chats_over_tls_with_a_plain_user() {
    let (server, tls_addr, fingerprint) = tls_server(&[]);
    let mut bob = TestClient::join(server.addr, "bob");
    let home = TempDir::new("pinned");
    let addr = at(tls_addr);
    let mut alice = pipe_client(
        &home,
        &args(&addr, &["alice", "--tls-fingerprint", &fingerprint]),
    );
    bob.expect("* alice joined #lobby");
    alice.wait_until("alice's welcome", |line| {
        line.starts_with("* welcome alice")
    });
    alice.send("hello over tls");
    bob.expect("alice: hello over tls");
    bob.send("hello over tcp");
    alice.wait_for("bob: hello over tcp");
    alice.close_stdin();
    let exit = alice.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
    assert_eq!(exit.stderr, "", "{exit:?}");
    assert!(
        !known_servers(home.path()).exists(),
        "a pinned certificate is not remembered"
    );
}

#[test]
fn an_unknown_certificate_is_refused_in_a_pipe_and_says_what_to_do() {
    let (_server, tls_addr, fingerprint) = tls_server(&[]);
    let home = TempDir::new("unknown");
    let addr = at(tls_addr);
    let mut carol = pipe_client(&home, &args(&addr, &["carol", "--tls"]));
    let exit = carol.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(EXIT_UNTRUSTED), "{exit:?}");
    assert!(exit.stdout.is_empty(), "{exit:?}");
    let told = &exit.stderr;
    for part in [
        format!(
            "the server {tls_addr} presented an unknown certificate, fingerprint {fingerprint}"
        ),
        format!("--tls-fingerprint {fingerprint}"),
        "connect once from a terminal".to_string(),
    ] {
        assert!(told.contains(&part), "{part:?} not said: {exit:?}");
    }
    assert!(!known_servers(home.path()).exists(), "{exit:?}");
}

#[test]
fn a_wrong_pin_is_refused() {
    let (server, tls_addr, fingerprint) = tls_server(&[]);
    let home = TempDir::new("wrong-pin");
    let addr = at(tls_addr);
    // The certificate of another server.
    let (_other, _, other_fingerprint) = tls_server(&[]);
    assert_ne!(fingerprint, other_fingerprint);
    let mut dave = pipe_client(
        &home,
        &args(&addr, &["dave", "--tls-fingerprint", &other_fingerprint]),
    );
    let exit = dave.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(EXIT_UNTRUSTED), "{exit:?}");
    assert!(
        exit.stderr.contains(&format!(
            "the server {tls_addr} presented the certificate {fingerprint}, not the one pinned \
             with --tls-fingerprint ({other_fingerprint})"
        )),
        "{exit:?}"
    );
    // Nobody joined.
    let mut bob = TestClient::join(server.addr, "bob");
    bob.send("/who");
    bob.wait_until("the member list", |line| line.contains("(1): bob"));

    // A malformed pin is a bad command line.
    let mut typo = pipe_client(&home, &args(&addr, &["dave", "--tls-fingerprint", "abc"]));
    let exit = typo.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(2), "{exit:?}");
    assert!(exit.stderr.contains("not a fingerprint"), "{exit:?}");
}

/// A certificate authority and a certificate it signs for 127.0.0.1, as PEM files in
/// `dir`: returns (ca, cert, key).
fn authority_and_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("a server key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("server parameters")
        .signed_by(&key, &issuer)
        .expect("the server certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).expect("write the CA");
    std::fs::write(&paths.1, cert.pem()).expect("write the certificate");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write the key");
    paths
}

#[test]
fn a_certificate_signed_by_the_ca_given_is_trusted_silently() {
    let files = TempDir::new("ca");
    let (ca, cert, key) = authority_and_certificate(files.path());
    let path = |path: &Path| path.to_str().expect("UTF-8").to_string();
    let (cert, key) = (path(&cert), path(&key));
    let server = ServerProcess::start(&["--tls-port", "0", "--tls-cert", &cert, "--tls-key", &key]);
    let tls_addr = server.tls_addr.expect("the TLS address");
    let home = TempDir::new("ca-home");
    let addr = at(tls_addr);
    let mut erin = pipe_client(&home, &args(&addr, &["erin", "--ca", &path(&ca)]));
    erin.wait_until("erin's welcome", |line| line.starts_with("* welcome erin"));
    erin.close_stdin();
    let exit = erin.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
    assert_eq!(exit.stderr, "", "{exit:?}");
    assert!(!known_servers(home.path()).exists(), "nothing to remember");

    // Without the authority, the same certificate is unknown.
    let mut again = pipe_client(&home, &args(&addr, &["erin", "--tls"]));
    let exit = again.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(EXIT_UNTRUSTED), "{exit:?}");
    assert!(exit.stderr.contains("unknown certificate"), "{exit:?}");

    // Pinned to another certificate, it is refused though the authority vouches for it.
    let (_other, _, other_fingerprint) = tls_server(&[]);
    let mut pinned = pipe_client(
        &home,
        &args(
            &addr,
            &[
                "erin",
                "--ca",
                &path(&ca),
                "--tls-fingerprint",
                &other_fingerprint,
            ],
        ),
    );
    let exit = pinned.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(EXIT_UNTRUSTED), "{exit:?}");
    assert!(exit.stderr.contains("not the one pinned"), "{exit:?}");
}

#[test]
fn a_chats_link_joins_a_private_room_over_tls() {
    let (server, tls_addr, fingerprint) = tls_server(&[]);
    let mut bob = TestClient::join(server.addr, "bob");
    bob.send("/create");
    let answer = bob.wait_until("the invite links", |line| line.contains("invite link: "));
    let link = answer
        .split_whitespace()
        .find(|word| word.starts_with("chats://"))
        .unwrap_or_else(|| panic!("no chats:// link in {answer:?}"))
        .to_string();
    assert!(link.starts_with(&format!("chats://{tls_addr}/")), "{link}");
    let room = answer
        .strip_prefix("* ")
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the room")
        .to_string();

    let home = TempDir::new("link");
    let mut alice = pipe_client(&home, &["alice", &link, "--tls-fingerprint", &fingerprint]);
    bob.wait_for(&format!("* alice joined {room}"));
    alice.wait_until("alice in the room", |line| line.contains(&room));
    alice.send("in private, encrypted");
    bob.expect("alice: in private, encrypted");

    // A plain link with --tls contradicts itself.
    let plain = link.replacen("chats://", "chat://", 1);
    let mut mixed = pipe_client(&home, &["alice", &plain, "--tls"]);
    let exit = mixed.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(2), "{exit:?}");
    assert!(exit.stderr.contains("chats://"), "{exit:?}");
}

#[test]
fn plain_lines_to_the_tls_port_are_told_to_use_tls() {
    let (_server, tls_addr, _) = tls_server(&[]);
    let home = TempDir::new("plain-to-tls");
    let addr = at(tls_addr);
    let mut frank = pipe_client(&home, &args(&addr, &["frank"]));
    let exit = frank.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(3), "{exit:?}");
    assert!(exit.stderr.contains("--tls"), "{exit:?}");
    assert!(exit.stdout.is_empty(), "{exit:?}");
}

#[test]
fn a_reconnect_over_tls_verifies_the_certificate_again() {
    let data = TempDir::new("reconnect-data");
    let (mut first, tls_addr, fingerprint) = tls_server(&["--data-dir", data.arg()]);
    let home = TempDir::new("reconnect");
    let addr = at(tls_addr);
    let mut alice = pipe_client(
        &home,
        &args(
            &addr,
            &["alice", "--reconnect", "--tls-fingerprint", &fingerprint],
        ),
    );
    alice.wait_until("alice's welcome", |line| {
        line.starts_with("* welcome alice")
    });

    // The same certificate (kept in the data directory) on the same port: back in.
    first.signal(rustix::process::Signal::TERM);
    first.wait_exit(TIMEOUT);
    let port = tls_addr.port().to_string();
    let (second, _, again) = tls_server(&["--data-dir", data.arg(), "--tls-port", &port]);
    assert_eq!(again, fingerprint, "the certificate was not kept");
    let reconnected = eventually(TIMEOUT, || alice.stderr().contains("reconnected as alice"));
    assert!(reconnected, "no reconnect; {}", alice.transcript());
    let mut bob = TestClient::join(second.addr, "bob");
    alice.wait_for("* bob joined #lobby");
    bob.send("welcome back");
    alice.wait_for("bob: welcome back");

    // Another certificate on that port: refused, not retried.
    drop(bob);
    let mut second = second;
    second.signal(rustix::process::Signal::TERM);
    second.wait_exit(TIMEOUT);
    let (_third, _, other) = tls_server(&["--tls-port", &port]);
    assert_ne!(other, fingerprint);
    let exit = alice.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(EXIT_UNTRUSTED), "{exit:?}");
    assert!(
        exit.stderr.contains(&format!(
            "presented the certificate {other}, not the one pinned"
        )),
        "{exit:?}"
    );
}

/// The screen as one string without blanks, so that what wrapped across rows is found.
fn squeezed(screen: &[String]) -> String {
    screen.concat().replace(' ', "")
}

fn shows(screen: &[String], text: &str) -> bool {
    squeezed(screen).contains(&text.replace(' ', ""))
}

#[test]
fn trust_on_first_use_asks_once_remembers_and_refuses_a_changed_certificate() {
    let (_server, tls_addr, fingerprint) = tls_server(&[]);
    let client_args = ["alice", "--tls", "--no-history"];
    let pane = Pane::start_at(tls_addr, &client_args, &[]);
    let question = format!(
        "the server {tls_addr} presented an unknown certificate, fingerprint {fingerprint}"
    );
    pane.wait("the question", |screen| {
        shows(screen, &question) && shows(screen, "trust it? (yes/no)")
    });
    pane.type_text("yes");
    pane.press("Enter");
    pane.wait_prompt("alice@#lobby>");
    let file = known_servers(pane.data_home());
    let text = std::fs::read_to_string(&file).expect("known_servers written");
    let entry = format!("{tls_addr} {fingerprint}");
    assert!(
        text.lines().any(|line| line == entry),
        "no {entry:?} in {}:\n{text}",
        file.display()
    );
    pane.type_text("/quit");
    pane.press("Enter");
    pane.wait_row("[exit 0, terminal restored]");

    // Again: no question (the client would wait for the answer), straight to the chat.
    let pane = pane.restart_at(tls_addr, &client_args);
    pane.wait_prompt("alice@#lobby>");
    pane.type_text("/quit");
    pane.press("Enter");
    pane.wait_row("[exit 0, terminal restored]");

    // A server with another certificate where known_servers remembers this one: as if
    // the server at that address had changed its certificate.
    let (_changed, changed_addr, new_fingerprint) = tls_server(&[]);
    assert_ne!(new_fingerprint, fingerprint);
    let mut text = std::fs::read_to_string(&file).expect("read known_servers");
    text.push_str(&format!("{changed_addr} {fingerprint}\n"));
    std::fs::write(&file, &text).expect("write known_servers");
    let line = text.lines().count();
    let pane = pane.restart_at(changed_addr, &client_args);
    let screen = pane.wait("the refusal", |screen| {
        shows(
            screen,
            &format!("[exit {EXIT_UNTRUSTED}, terminal restored]"),
        )
    });
    for part in [
        format!("THE CERTIFICATE OF {changed_addr} HAS CHANGED"),
        format!("remembered: {fingerprint}"),
        format!("presented: {new_fingerprint}"),
        format!("delete line {line} of {}", file.display()),
    ] {
        assert!(
            shows(&screen, &part),
            "{part:?} not shown:\n{}",
            screen.join("\n")
        );
    }
    assert!(
        !shows(&screen, "trust it?"),
        "a changed certificate was asked about:\n{}",
        screen.join("\n")
    );
    let after = std::fs::read_to_string(&file).expect("read known_servers");
    assert_eq!(after, text, "known_servers changed");
}

#[test]
fn a_certificate_declined_in_the_terminal_is_not_remembered() {
    let (server, tls_addr, fingerprint) = tls_server(&[]);
    let pane = Pane::start_at(tls_addr, &["alice", "--tls", "--no-history"], &[]);
    pane.wait("the question", |screen| shows(screen, "trust it? (yes/no)"));
    pane.type_text("maybe");
    pane.press("Enter");
    pane.wait("asked again", |screen| {
        shows(screen, "please type yes or no")
    });
    pane.type_text("no");
    pane.press("Enter");
    let screen = pane.wait("the refusal", |screen| {
        shows(
            screen,
            &format!("[exit {EXIT_UNTRUSTED}, terminal restored]"),
        )
    });
    assert!(
        shows(
            &screen,
            &format!("(fingerprint {fingerprint}) was not trusted")
        ),
        "{}",
        screen.join("\n")
    );
    assert!(!known_servers(pane.data_home()).exists());
    // Nobody joined.
    let mut bob = TestClient::join(server.addr, "bob");
    bob.send("/who");
    bob.wait_until("the member list", |line| line.contains("(1): bob"));
}
