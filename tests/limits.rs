//! The server at its limits: its real capacity, fairness to clients that read, per-address
//! limits, room limits, signals and what the log holds; each against a live server.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chat_server::Config;
use common::{
    Lines, ServerProcess, TIMEOUT, TestClient, connect_from, eventually, room_of,
    start_server_with, test_config,
};

/// Connects and reads the first line the server sends (`None` if it closes first).
fn first_line(addr: SocketAddr) -> (TcpStream, Option<String>) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    let first = match reader.read_line(&mut line) {
        Ok(n) if n > 0 => Some(line.trim_end().to_string()),
        Ok(_) => None,
        Err(err) => panic!("no first line from the server: {err}"),
    };
    (stream, first)
}

/// Connects until the server answers with something other than its greeting; returns the
/// connections it served (named) and what it said instead.
fn fill(addr: SocketAddr, at_most: usize) -> (Vec<TcpStream>, Option<String>) {
    let mut served = Vec::new();
    while served.len() < at_most {
        let (mut stream, first) = first_line(addr);
        match first {
            Some(line) if line.starts_with("* hello") => {
                writeln!(stream, "c{}", served.len()).expect("send a name");
                served.push(stream);
            }
            other => return (served, other),
        }
    }
    panic!("{at_most} connections served and none refused");
}

#[test]
fn clients_beyond_the_descriptor_capacity_are_told_the_server_is_full() {
    const LIMIT: usize = 80;
    let server = ServerProcess::start_with_fd_limit(LIMIT, &["--flood-rate", "0"]);
    let log = server.wait_log("more than this system can serve");
    assert!(
        log.contains("open-file limit (80"),
        "the warning names the limit: {log}"
    );
    let (mut served, refusal) = fill(server.addr, LIMIT);
    assert_eq!(
        refusal.as_deref(),
        Some("! server full"),
        "after {}",
        served.len()
    );
    assert!(
        served.len() >= 20,
        "only {} clients in {LIMIT} files",
        served.len()
    );
    // Once one leaves, a newcomer is served again.
    drop(served.pop());
    let again = eventually(TIMEOUT, || {
        first_line(server.addr)
            .1
            .is_some_and(|line| line.starts_with("* hello"))
    });
    assert!(again, "no slot freed up after a client left");
}

#[test]
fn under_an_address_space_limit_the_server_refuses_instead_of_aborting() {
    // Under an address-space limit, starting threads fails after some hundreds of clients,
    // and a thread whose signal stack can't be mapped aborts the process (the failure the
    // kernel's map limit causes after thousands): the server must stop short of it.
    let mut server = ServerProcess::start_limited(
        "-v 1500000",
        &["--flood-rate", "0", "--max-clients", "5000"],
    );
    let log = server.wait_log("more than this system can serve");
    assert!(
        log.contains("address-space limit"),
        "the warning names the limit: {log}"
    );
    let (mut served, refusal) = fill(server.addr, 5000);
    assert_eq!(
        refusal.as_deref(),
        Some("! server full"),
        "after {}",
        served.len()
    );
    assert!(served.len() >= 100, "only {} served", served.len());
    // Still up, and serving again once someone leaves.
    served.truncate(served.len() - 5);
    let served_again = eventually(TIMEOUT, || {
        first_line(server.addr)
            .1
            .is_some_and(|line| line.starts_with("* hello"))
    });
    assert!(served_again, "nobody served after clients left");
    server.signal(rustix::process::Signal::TERM);
    let exit = server.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
}

/// Reads from `client` at about `bytes_per_second` until `lines` lines from each of
/// `senders` arrived; returns how many arrived from each (in order, or it panics).
fn read_steadily(client: &mut TestClient, senders: &[&str], lines: usize, per_second: usize) {
    let started = Instant::now();
    let mut seen = vec![0; senders.len()];
    let mut bytes = 0;
    while seen.iter().any(|&count| count < lines) {
        let line = client.line();
        assert!(!line.contains("too slow"), "{line}");
        bytes += line.len() + 1;
        if let Some((from, rest)) = line.split_once(" -> ")
            && let Some(index) = senders.iter().position(|sender| *sender == from)
        {
            let expected = format!("{}: {} ", client.name, seen[index]);
            assert!(rest.starts_with(&expected), "{line:?} out of order");
            seen[index] += 1;
        }
        // Hold the pace: never ahead of `per_second`.
        let due = Duration::from_secs_f64(bytes as f64 / per_second as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            thread::sleep(wait);
        }
    }
}

#[test]
fn a_reader_that_keeps_reading_is_never_dropped_and_private_senders_are_slowed() {
    const SENDERS: usize = 10;
    const MESSAGES: usize = 20;
    let server = start_server_with(Config {
        max_backlog_bytes: 64 * 1024,
        flood_burst: 20,
        flood_rate: 10,
        ..test_config()
    });
    let mut reader = TestClient::join(server.addr, "reader");
    let names: Vec<String> = (0..SENDERS).map(|i| format!("s{i}")).collect();
    let started = Instant::now();
    let senders: Vec<_> = names
        .iter()
        .map(|name| {
            let mut sender = TestClient::join(server.addr, name);
            thread::spawn(move || {
                let padding = "m".repeat(4000);
                // Each sender reads its own echoes, so only the reader's pace is tested.
                for i in 0..MESSAGES {
                    sender.send(&format!("/msg reader {i} {padding}"));
                    let echo = format!("{} -> reader: {i} ", sender.name);
                    sender.wait_until("its echo", |line| line.starts_with(&echo));
                }
                sender
            })
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // 800 KB at 256 KiB/s: far more than the 64 KiB backlog the reader may have.
    read_steadily(&mut reader, &names, MESSAGES, 256 * 1024);
    let took = started.elapsed();
    for sender in senders {
        sender.join().expect("sender");
    }
    eprintln!("{SENDERS} senders x {MESSAGES} x 4 KB to a 256 KiB/s reader took {took:?}");
    assert!(
        reader.sync().contains("reader"),
        "the reader is still in the room"
    );
}

#[test]
fn a_client_that_reads_less_than_the_floor_is_dropped_when_its_queue_is_full() {
    let server = start_server_with(Config {
        max_backlog_bytes: 64 * 1024,
        min_read_rate: 16 * 1024,
        ..test_config()
    });
    let [mut alice, mut bob, trickle] = room_of(server.addr, ["alice", "bob", "trickle"]);
    let stream = trickle.stream().try_clone().expect("clone");
    let slow = Arc::new(AtomicBool::new(true));
    let still_slow = Arc::clone(&slow);
    let reading = thread::spawn(move || {
        // 1 KB every 250 ms: 4 KB/s, under the 16 KiB/s floor. Once the others have seen it
        // dropped, it reads what its socket still holds, up to the end.
        let mut buffer = [0u8; 1024];
        while still_slow.load(Ordering::SeqCst) {
            match (&stream).read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => thread::sleep(Duration::from_millis(250)),
            }
        }
        common::drain_until_closed(&stream).1
    });
    let padding = "t".repeat(400);
    let mut sent = 0;
    let mut told = false;
    let dropped = eventually(TIMEOUT, || {
        let block: String = (sent..sent + 100)
            .map(|i| format!("{i} {padding}\n"))
            .collect();
        alice.send_raw(block.as_bytes());
        // bob gets every line, in order, and at some point the notice.
        for i in sent..sent + 100 {
            let mut line = bob.line();
            if line == "* trickle quit (too slow)" {
                told = true;
                line = bob.line();
            }
            assert_eq!(line, format!("alice: {i} {padding}"), "bob lost a line");
        }
        sent += 100;
        alice.send("/who");
        alice.wait_until("the member list", |line| line.starts_with("* #lobby"))
            == "* #lobby (2): alice, bob"
    });
    assert!(
        dropped,
        "the trickle reader was never dropped after {sent} lines"
    );
    slow.store(false, Ordering::SeqCst);
    reading.join().expect("the trickle reader's socket closed");
    if !told {
        bob.wait_for("* trickle quit (too slow)");
    }
}

#[test]
fn one_address_holds_a_few_connections_and_may_only_reconnect_so_often() {
    let server = start_server_with(Config {
        max_per_ip: 3,
        connect_rate_per_ip: 6,
        exempt: Vec::new(),
        ..test_config()
    });
    let here = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let held: Vec<TestClient> = (0..3)
        .map(|_| TestClient::connect_from(here, server.addr))
        .collect();
    let mut fourth = TestClient::from_stream(connect_from(here, server.addr));
    assert_eq!(fourth.line(), "! too many connections from your address");
    fourth.expect_closed();
    // Another address is not affected.
    let _elsewhere = TestClient::connect_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)), server.addr);
    // Leaving frees a place, but the three connections used the burst of connects: the
    // next one must wait for the rate (6 a minute).
    drop(held);
    let mut again = TestClient::from_stream(connect_from(here, server.addr));
    assert_eq!(again.line(), "! too many connections from your address");
}

#[test]
fn loopback_is_exempt_from_the_address_limits_by_default() {
    let server = start_server_with(Config {
        max_per_ip: 2,
        connect_rate_per_ip: 2,
        ..test_config()
    });
    let clients: Vec<TestClient> = (0..10)
        .map(|i| TestClient::join(server.addr, &format!("l{i}")))
        .collect();
    assert_eq!(clients.len(), 10);
}

#[test]
fn rooms_are_listed_at_most_a_hundred_at_a_time_and_can_be_filtered() {
    let server = start_server_with(Config {
        max_rooms: 200,
        ..test_config()
    });
    let mut alice = TestClient::join(server.addr, "alice");
    let mut keepers = Vec::new();
    for i in 0..150 {
        let mut keeper = TestClient::join(server.addr, &format!("k{i}"));
        keeper.send(&format!("/join room{i:03}"));
        keeper.wait_for(&format!("* k{i} joined #room{i:03}"));
        keepers.push(keeper);
    }
    alice.send("/rooms");
    let rooms = alice.wait_until("the room list", |line| line.starts_with("* rooms:"));
    assert!(
        rooms.starts_with("* rooms: #lobby (1), #room000 (1), #room001 (1)"),
        "{rooms}"
    );
    assert!(rooms.ends_with("#room098 (1) (+51 more)"), "{rooms}");
    alice.send("/rooms 14");
    alice.expect("* rooms: #room014 (1), #room114 (1), #room140 (1), #room141 (1), #room142 (1), #room143 (1), #room144 (1), #room145 (1), #room146 (1), #room147 (1), #room148 (1), #room149 (1)");
    alice.send("/rooms nothing-like-it");
    alice.expect("* rooms:");
}

#[test]
fn no_more_rooms_than_allowed_are_made() {
    let server = start_server_with(Config {
        max_rooms: 3,
        ..test_config()
    });
    let [mut alice, mut bob] = room_of(server.addr, ["alice", "bob"]);
    alice.send("/join one");
    alice.wait_for("* #one (1): alice");
    bob.send("/join two");
    bob.wait_for("* #two (1): bob");
    let mut carol = TestClient::join(server.addr, "carol");
    carol.send("/join three");
    carol.expect("! too many rooms (max 3); join one that exists");
    carol.send("/join one");
    carol.wait_for("* #one (2): alice, carol");
    // bob's room empties as he moves: its place goes to the new one.
    bob.send("/join four");
    bob.wait_for("* #four (1): bob");
}

#[test]
fn hangup_and_user_signals_are_logged_and_ignored() {
    let mut server = ServerProcess::start(&["--flood-rate", "0"]);
    let [mut alice, mut bob] = room_of(server.addr, ["alice", "bob"]);
    for (signal, name) in [
        (rustix::process::Signal::HUP, "SIGHUP"),
        (rustix::process::Signal::USR1, "SIGUSR1"),
        (rustix::process::Signal::USR2, "SIGUSR2"),
    ] {
        server.signal(signal);
        server.wait_log(&format!("received {name}; ignored"));
    }
    alice.send("still here");
    bob.expect("alice: still here");
    server.signal(rustix::process::Signal::TERM);
    alice.wait_for("* server shutting down");
    let exit = server.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
}

#[test]
fn the_log_says_how_people_left_but_never_what_they_said() {
    let mut server = ServerProcess::start(&["--flood-rate", "0"]);
    let [mut alice, mut bob] = room_of(server.addr, ["alice", "bob"]);
    alice.send("a secret plan");
    bob.expect("alice: a secret plan");
    alice.send("/join hideout");
    alice.wait_for("* #hideout (1): alice");
    let mut carol = TestClient::connect(server.addr);
    carol.send("carol hunter2");
    carol.expect_prefix("! invalid name");
    bob.send("/quit 점심 먹으러 갑니다");
    bob.wait_for("* bye");
    server.wait_log("bob left: quit");
    server.signal(rustix::process::Signal::TERM);
    let log = server.wait_exit(TIMEOUT).stderr;
    assert!(log.contains("alice moved to hideout"), "{log}");
    for secret in ["secret plan", "점심", "hunter2"] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

#[test]
fn a_join_and_reset_flood_fills_the_log_by_a_few_lines() {
    const CYCLES: usize = 3000;
    let mut server = ServerProcess::start(&["--flood-rate", "0"]);
    for cycle in 0..CYCLES {
        let client = TestClient::join(server.addr, &format!("f{cycle}"));
        client.reset();
    }
    let _last = TestClient::join(server.addr, "last");
    server.signal(rustix::process::Signal::TERM);
    let log = server.wait_exit(TIMEOUT).stderr;
    let per_cycle = log.len() / CYCLES;
    eprintln!("{CYCLES} join-and-reset cycles: {} bytes of log", log.len());
    assert!(per_cycle <= 100, "{per_cycle} bytes per cycle:\n{log}");
}

#[test]
fn one_address_reaches_a_user_with_at_most_a_hundred_lines_in_five_seconds() {
    const ATTACK: Duration = Duration::from_secs(7);
    const WINDOW: Duration = Duration::from_secs(5);
    let server = start_server_with(Config {
        exempt: Vec::new(),
        ..Config::default()
    });
    let mut victim = TestClient::join(server.addr, "victim");
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let addr = server.addr;
    let attack = thread::spawn(move || {
        let started = Instant::now();
        let mut connections = 0;
        while started.elapsed() < ATTACK {
            let stream = connect_from(attacker, addr);
            let mut client = TestClient::from_stream(stream);
            if client.line() != "* hello! send your name (1-32 letters, digits, _ or -)" {
                // Refused: too many connections. Try again shortly.
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            connections += 1;
            client.send(&format!("atk{connections}"));
            let flood: String = (0..50)
                .map(|i| format!("flood {i}\n/msg victim private {i}\n"))
                .collect();
            client.send_raw(flood.as_bytes());
            thread::sleep(Duration::from_millis(100));
            client.reset();
        }
        connections
    });
    // Every line that reached the victim from the attacker, with when it came.
    let mut arrivals = Vec::new();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < ATTACK + Duration::from_secs(1) {
        victim.send("/who");
        loop {
            let line = victim.line();
            if line.starts_with("* #lobby") {
                break;
            }
            if line.contains("atk") {
                arrivals.push(started.elapsed());
                last = line;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    let connections = attack.join().expect("attacker");
    let most = arrivals
        .iter()
        .map(|&from| {
            arrivals
                .iter()
                .filter(|&&at| at >= from && at < from + WINDOW)
                .count()
        })
        .max()
        .unwrap_or(0);
    eprintln!(
        "{connections} connections from one address in {ATTACK:?}: {} lines reached the \
         victim, at most {most} in any {WINDOW:?} (last: {last:?})",
        arrivals.len()
    );
    assert!(connections > 1, "the attacker never reconnected");
    assert!(most <= 100, "{most} lines in {WINDOW:?}");
    assert!(
        most >= 20,
        "only {most} lines: the attack did not get through at all"
    );
}
