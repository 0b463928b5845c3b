//! The server at its limits: its real capacity, fairness to clients that read, per-address
//! limits, room limits, signals and what the log holds; each against a live server.

mod common;

use std::io::Read;
use std::net::TcpStream;

use common::{ServerProcess, TIMEOUT, TestClient};

/// Reads what a connection gets until it closes, however it closes.
fn read_all(stream: &TcpStream) -> String {
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut text = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match (&*stream).read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn clients_beyond_the_descriptor_capacity_are_told_the_server_is_full() {
    const LIMIT: usize = 80;
    let server = ServerProcess::start_with_fd_limit(LIMIT, &["--flood-rate", "0"]);
    let addr = server.addr;
    let mut served = Vec::new();
    let refusal = loop {
        assert!(served.len() < LIMIT, "{} clients served with {LIMIT} files", served.len());
        let mut client = TestClient::connect_raw(addr);
        match client.first_line().as_deref() {
            Some(line) if line.starts_with("* hello") => {
                client.send(&format!("c{}", served.len()));
                served.push(client);
            }
            other => break other.map(str::to_string),
        }
    };
    assert_eq!(refusal.as_deref(), Some("! server full"), "after {} clients", served.len());
    assert!(served.len() >= 20, "only {} clients fit in {LIMIT} files", served.len());
    // Once one leaves, a newcomer is served again.
    drop(served.pop());
    let again = common::eventually(TIMEOUT, || {
        let mut probe = TestClient::connect_raw(addr);
        probe.first_line().is_some_and(|line| line.starts_with("* hello"))
    });
    assert!(again, "no slot freed up after a client left");
    let _ = read_all;
}
