//! Hardening: slow readers, bad input, floods, limits, faults and shutdown, each shown
//! against a live server over real TCP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::{Notice, Refusal, ServerLine};
use chat_server::Config;
use common::{
    Closed, Lines, Process, ServerProcess, TIMEOUT, TestClient, drain_until_closed, eventually,
    fd_count, pair, proc_status, room_of, start_server, start_server_with, test_config,
};

/// Sends chat lines from `sender` until `watcher` sees `notice`, checking that `watcher`
/// gets every line, complete and in order. Returns the bytes sent before the notice.
fn send_until_notice(sender: &mut TestClient, watcher: &mut TestClient, notice: &str) -> usize {
    const LINES_PER_ROUND: usize = 200;
    const MAX_ROUNDS: usize = 2_000;
    let padding = "p".repeat(180);
    let mut next_expected = 0;
    let mut sent_bytes = 0;
    for round in 0..MAX_ROUNDS {
        let mut block = String::new();
        for i in round * LINES_PER_ROUND..(round + 1) * LINES_PER_ROUND {
            block.push_str(&format!("m{i} {padding}\n"));
        }
        sender.send_raw(block.as_bytes());
        sent_bytes += block.len();
        let mut notice_seen = false;
        while next_expected < (round + 1) * LINES_PER_ROUND {
            let line = watcher.line();
            if line == notice {
                assert!(!notice_seen, "{}: {notice:?} twice", watcher.name);
                notice_seen = true;
                continue;
            }
            let expected = format!("{}: m{next_expected} {padding}", sender.name);
            assert_eq!(line, expected, "{}: lost or reordered line", watcher.name);
            next_expected += 1;
        }
        if notice_seen {
            return sent_bytes;
        }
    }
    panic!("{notice:?} never came after {sent_bytes} bytes");
}

#[test]
fn stuck_reader_is_dropped_as_too_slow_and_others_get_every_line_in_order() {
    let server = start_server_with(Config {
        max_backlog_bytes: 64 * 1024,
        ..test_config()
    });
    let [mut alice, mut bob, stuck] = room_of(server.addr, ["alice", "bob", "stuck"]);

    // stuck never reads again. Broadcasts keep flowing to bob meanwhile, and once stuck's
    // backlog passes the limit it is dropped.
    let sent = send_until_notice(&mut alice, &mut bob, "* stuck quit (too slow)");
    eprintln!("stuck reader dropped after alice sent {sent} bytes");
    alice.wait_for("* stuck quit (too slow)");
    alice.send("after");
    bob.expect("alice: after");

    // The name is free again, and the stuck socket was closed: what it still held arrives,
    // then its end (a reset, as the server gives up on it, or an end of file), not a
    // timeout.
    let _new = TestClient::join(server.addr, "stuck");
    let (held, closed) = drain_until_closed(stuck.stream());
    eprintln!("stuck's socket held {} bytes, then {closed:?}", held.len());
    // What it held is the start of alice's chat, in order (a reset may cut the last line).
    let complete = held.iter().filter(|&&byte| byte == b'\n').count();
    for (i, line) in held.split(|&byte| byte == b'\n').take(complete).enumerate() {
        assert!(
            line.starts_with(format!("alice: m{i} ").as_bytes()),
            "line {i} held for stuck: {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn slow_but_reading_client_slows_the_sender_instead_of_being_dropped() {
    const LINES: usize = 40_000;
    const BACKLOG: usize = 2 * 1024 * 1024;
    /// slow's socket receive buffer (the kernel doubles it), fixed so that what can wait
    /// for slow outside the server's queue is known.
    const SLOW_RECEIVE_BUFFER: usize = 64 * 1024;
    let server = start_server_with(Config {
        max_backlog_bytes: BACKLOG,
        ..test_config()
    });
    let [mut sender, mut slow] = room_of(server.addr, ["sender", "slow"]);
    rustix::net::sockopt::set_socket_recv_buffer_size(slow.stream(), SLOW_RECEIVE_BUFFER)
        .expect("set slow's receive buffer");
    let slow_has_read = Arc::new(AtomicUsize::new(0));
    let padding = "p".repeat(200);
    // About 8 MiB, sent as fast as the server reads it: four times slow's backlog limit.
    let blast = {
        let padding = padding.clone();
        let slow_has_read = Arc::clone(&slow_has_read);
        thread::spawn(move || {
            let started = Instant::now();
            for block in 0..LINES / 100 {
                let lines: String = (block * 100..(block + 1) * 100)
                    .map(|i| format!("{i} {padding}\n"))
                    .collect();
                sender.send_raw(lines.as_bytes());
            }
            // Answered only once the server has read and relayed every line before it.
            assert_eq!(sender.sync(), "* #lobby (2): sender, slow");
            let read_by_then = slow_has_read.load(Ordering::SeqCst);
            (sender, read_by_then, started.elapsed())
        })
    };
    // slow keeps reading, but pauses now and then: slower than the sender, never stalled.
    for i in 0..LINES {
        let line = slow.line();
        assert_eq!(line, format!("sender: {i} {padding}"), "line {i}");
        slow_has_read.store(i + 1, Ordering::SeqCst);
        if i % 50 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    let (_sender, read_by_then, took) = blast.join().expect("sender thread");
    eprintln!(
        "the server got through the sender's {LINES} lines in {took:?}, when slow had read \
         {read_by_then}"
    );
    // The sender was held back to slow's pace. Unpaced, the server reads the sender's 8 MiB
    // in a fraction of the second slow needs to read it (1 ms of sleep per 50 lines alone
    // is 0.8 s), and answers the sender's /who while slow has read a small part. Paced, it
    // reads on only while slow's queue is under half its limit, so by the answer at most
    // that (1 MiB and a batch) waits in the queue, and 256 KiB in the server's socket
    // buffer and 128 KiB in slow's: slow has read all but about 7,000 lines. Half is the
    // margin.
    assert!(
        read_by_then >= LINES / 2,
        "the server read all the sender's lines when slow had read only {read_by_then} of \
         {LINES}: the sender was not slowed to slow's pace"
    );
}

#[test]
fn many_stuck_readers_keep_server_memory_bounded() {
    const STUCK: usize = 100;
    let mut server = ServerProcess::start(&["--flood-rate", "0", "--max-clients", "200"]);
    let pid = server.pid();
    let mut alice = TestClient::join(server.addr, "alice");
    let mut bob = TestClient::join(server.addr, "bob");
    let mut stuck = Vec::new();
    for i in 0..STUCK {
        stuck.push(TestClient::join(server.addr, &format!("stuck{i}")));
    }
    // The 100th joiner makes a room of 102: over the announce limit, so no notices from
    // here on; /who tells when everyone is in.
    assert!(bob.sync().starts_with(&format!("* #lobby ({})", STUCK + 2)));
    let rss_before = proc_status(pid, "VmRSS");

    // Each stuck client's backlog is capped at 1 MiB, and the queued lines are shared
    // between all of them, so memory stays far below 100 x 1 MiB.
    let block: String = (0..200)
        .map(|i| format!("line {i} {}\n", "x".repeat(200)))
        .collect();
    let mut peak = rss_before;
    let mut rounds = 0;
    while rounds < 200 {
        alice.send_raw(block.as_bytes());
        for _ in 0..200 {
            bob.line();
        }
        rounds += 1;
        peak = peak.max(proc_status(pid, "VmRSS"));
    }
    let sent_mib = rounds * block.len() / (1 << 20);
    let members = bob.sync();
    eprintln!(
        "{STUCK} stuck clients, {sent_mib} MiB broadcast: server RSS {rss_before} KiB before, \
         peak {peak} KiB; after: {members}"
    );
    assert_eq!(
        members, "* #lobby (2): alice, bob",
        "stuck clients not all dropped"
    );
    assert!(
        peak < rss_before + 64 * 1024,
        "server grew from {rss_before} KiB to {peak} KiB"
    );
    drop(stuck);
    server.signal(rustix::process::Signal::TERM);
    let exit = server.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
}

#[test]
fn too_long_line_is_refused_and_the_connection_stays_usable() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);

    alice.send_raw(&[b'x'; 5000]);
    alice.send_raw(b"\nok\n");
    alice.expect("! line too long (max 4096 bytes)");
    bob.expect("alice: ok");

    let longest = "y".repeat(4096);
    alice.send(&longest);
    bob.expect(&format!("alice: {longest}"));
    alice.send(&format!("{longest}z"));
    alice.expect("! line too long (max 4096 bytes)");
    alice.send_raw(format!("{longest}\r\n").as_bytes());
    bob.expect(&format!("alice: {longest}"));
}

#[test]
fn endless_line_never_makes_the_server_buffer_it() {
    let server = ServerProcess::start(&[]);
    let pid = server.pid();
    let (mut alice, mut bob) = pair(server.addr);
    let rss_before = proc_status(pid, "VmRSS");

    let megabyte = vec![b'z'; 1 << 20];
    for _ in 0..64 {
        alice.send_raw(&megabyte);
    }
    alice.send_raw(b"\nstill here\n");
    alice.expect("! line too long (max 4096 bytes)");
    bob.expect("alice: still here");
    let rss_after = proc_status(pid, "VmRSS");
    eprintln!("64 MiB without a newline: server RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(
        rss_after < rss_before + 4 * 1024,
        "server RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

#[test]
fn invalid_utf8_is_refused_and_the_connection_stays_usable() {
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let mut alice = TestClient::connect(server.addr);
    alice.send_raw(b"\xff\xfe\n");
    alice.expect("! invalid UTF-8");
    alice.send("alice");
    alice.expect_prefix("* welcome alice");
    bob.expect("* alice joined #lobby");
    alice.send_raw(b"half \xe2\x82 euro\n");
    alice.expect("! invalid UTF-8");
    alice.send("fine");
    bob.expect("alice: fine");
}

#[test]
fn odd_names_rooms_and_commands_get_clear_answers() {
    let server = start_server();
    let mut alice = TestClient::connect(server.addr);
    let rule = "use 1-32 letters, digits, _ or -";
    // A name of spaces is a blank line: ignored, like any empty line.
    alice.send("     ");
    alice.send(&"n".repeat(33));
    alice.expect(&format!(
        "! invalid name \"{}\": it is longer than 32 characters; {rule}",
        "n".repeat(33)
    ));
    alice.send("rocket🚀");
    alice.expect(&format!(
        "! invalid name \"rocket🚀\": it contains '🚀'; {rule}"
    ));
    alice.send("  mixedМир민수  ");
    alice.expect(&format!(
        "! invalid name \"mixedМир민수\": it mixes the Latin, Cyrillic and Hangul scripts; {rule}"
    ));
    alice.send("  mixed민수  ");
    alice.expect_prefix("* welcome mixed민수, you are in #lobby");

    let cases = [
        ("/nick", "! usage: /nick NEW [PASSWORD]".to_string()),
        ("/nick    ", "! usage: /nick NEW [PASSWORD]".to_string()),
        (
            "/nick 🚀",
            format!("! invalid name \"🚀\": it contains '🚀'; {rule}"),
        ),
        ("/msg nobody hi", "! no such user: \"nobody\"".to_string()),
        (
            "/msg MIXED민수 to me",
            "mixed민수 -> mixed민수: to me".to_string(),
        ),
        ("/join #lobby", "! you are already in #lobby".to_string()),
        ("/join LOBBY", "! you are already in LOBBY".to_string()),
        (
            "/join #🚀",
            format!("! invalid room name \"#🚀\": it contains '🚀'; {rule}"),
        ),
        (
            &format!("/join {}", "r".repeat(33)),
            format!(
                "! invalid room name \"{}\": it is longer than 32 characters; {rule}",
                "r".repeat(33)
            ),
        ),
        (
            "/join #",
            format!("! invalid room name \"#\": it is empty; {rule}"),
        ),
        ("/", "! unknown command / (try /help)".to_string()),
        ("/ who", "! unknown command / (try /help)".to_string()),
    ];
    for (line, answer) in cases {
        alice.send(line);
        alice.expect(&answer);
    }
}

#[test]
fn flooding_client_is_slowed_down_without_losing_lines_or_delaying_others() {
    let server = start_server_with(Config {
        flood_burst: 5,
        flood_rate: 20,
        ..Config::default()
    });
    let [mut flooder, mut bob, mut carol] = room_of(server.addr, ["flooder", "bob", "carol"]);

    let started = Instant::now();
    let flood: String = (0..45).map(|i| format!("flood {i}\n")).collect();
    flooder.send_raw(flood.as_bytes());
    // The burst of 5 goes through at once; the other 40 take two seconds at 20/s. bob's
    // line, sent once the burst has arrived, overtakes the rest.
    for i in 0..5 {
        carol.expect(&format!("flooder: flood {i}"));
    }
    bob.send("not delayed");
    let mut next = 5;
    let mut bob_seen_at = None;
    while next < 45 {
        let line = carol.line();
        if line == "bob: not delayed" {
            assert!(bob_seen_at.is_none(), "bob's line came twice");
            bob_seen_at = Some(next);
            continue;
        }
        assert_eq!(
            line,
            format!("flooder: flood {next}"),
            "flood lost or reordered"
        );
        next += 1;
    }
    let elapsed = started.elapsed();
    let overtook = bob_seen_at.expect("bob's line never arrived");
    eprintln!(
        "flood of 45 delivered in {elapsed:?}; bob's line arrived after flood line {overtook}"
    );
    assert!(
        overtook < 40,
        "bob's line waited behind the flood (after line {overtook})"
    );
    assert!(
        elapsed >= Duration::from_millis(1500),
        "45 lines at burst 5 + 20/s took only {elapsed:?}: flood control is not applied"
    );
}

#[test]
fn clients_over_the_limit_are_told_the_server_is_full() {
    let server = start_server_with(Config {
        max_clients: 2,
        ..test_config()
    });
    let mut alice = TestClient::join(server.addr, "alice");
    let _bob = TestClient::join(server.addr, "bob");

    let mut third = TcpStream::connect(server.addr).expect("connect");
    third.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut refusal = String::new();
    third.read_to_string(&mut refusal).expect("read refusal");
    assert_eq!(refusal, "! server full\n");

    alice.send("/quit");
    alice.wait_for("* bye");
    alice.expect_closed();
    drop(alice);
    // The slot frees once alice's thread has finished; the listener kept serving.
    let served = eventually(TIMEOUT, || {
        let mut probe = TcpStream::connect(server.addr).expect("connect");
        probe.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let mut first = [0u8; 7];
        probe.read_exact(&mut first).is_ok() && &first == b"* hello"
    });
    assert!(served, "a slot never freed up after a client quit");
}

#[test]
fn silent_connections_time_out_without_delaying_others() {
    let server = start_server_with(Config {
        handshake_timeout: Duration::from_secs(2),
        ..test_config()
    });
    let mut silent = TestClient::connect(server.addr);
    let mut trickler = TestClient::connect(server.addr);
    trickler.send_raw(b"ali");
    // A newcomer is served at once, whatever the silent ones do: bob is welcomed while
    // they still wait for their timeout (had he waited behind them, they would have been
    // told already).
    let _bob = TestClient::join(server.addr, "bob");
    assert!(
        !silent.has_pending() && !trickler.has_pending(),
        "the silent connections were timed out before bob was welcomed"
    );
    silent.expect("! no name received in time, closing");
    silent.expect_closed();
    trickler.send_raw(b"c");
    trickler.expect("! no name received in time, closing");
}

/// The keepalive timer of the server's side of a connection, from `/proc/net/tcp`:
/// (timer kind, seconds until it fires).
fn server_side_timer(server_port: u16, client_port: u16) -> Option<(u32, f64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let local = format!("0100007F:{server_port:04X}");
    let remote = format!("0100007F:{client_port:04X}");
    table.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let (kind, when) = fields.get(5)?.split_once(':')?;
        let kind = u32::from_str_radix(kind, 16).ok()?;
        let ticks = u64::from_str_radix(when, 16).ok()?;
        Some((kind, ticks as f64 / 100.0))
    })
}

#[test]
fn accepted_sockets_have_keepalive_with_short_timers() {
    let server = start_server();
    let alice = TestClient::join(server.addr, "alice");
    let client_port = alice.stream().local_addr().expect("addr").port();
    // Timer kind 2 is keepalive, armed once the welcome is acknowledged (before that, the
    // retransmission timer runs); it fires after 30 s of silence.
    let mut timer = None;
    let armed = eventually(TIMEOUT, || {
        timer = server_side_timer(server.addr.port(), client_port);
        matches!(timer, Some((2, _)))
    });
    let (true, Some((_, seconds))) = (armed, timer) else {
        panic!("no keepalive timer on the server's socket: {timer:?}");
    };
    assert!((20.0..=30.0).contains(&seconds), "keepalive in {seconds} s");
}

#[test]
fn thousands_of_connections_leave_no_threads_or_descriptors_behind() {
    const WORKERS: usize = 4;
    const CYCLES_PER_WORKER: usize = 600;
    let server = ServerProcess::start(&["--flood-rate", "0"]);
    let pid = server.pid();
    let addr = server.addr;
    let (threads_before, fds_before) = (proc_status(pid, "Threads"), fd_count(pid));

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            thread::spawn(move || {
                for cycle in 0..CYCLES_PER_WORKER {
                    let name = format!("w{worker}c{cycle}");
                    match cycle % 5 {
                        0 => {
                            let mut client = TestClient::join(addr, &name);
                            client.send("/quit");
                            let lines = client.read_until_closed();
                            assert_eq!(lines.last().map(String::as_str), Some("* bye"));
                        }
                        1 => TestClient::join(addr, &name).reset(),
                        2 => drop(TcpStream::connect(addr).expect("connect")),
                        3 => {
                            let mut client = TestClient::connect(addr);
                            client.send_raw(b"half-a-na");
                            client.reset();
                        }
                        _ => {
                            let mut client = TestClient::join(addr, &name);
                            client.send("bye for now");
                            client.shutdown_write();
                            let _ = client.read_until_closed();
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    let ok = eventually(TIMEOUT, || {
        proc_status(pid, "Threads") == threads_before && fd_count(pid) == fds_before
    });
    let (threads_after, fds_after) = (proc_status(pid, "Threads"), fd_count(pid));
    eprintln!(
        "{} cycles: threads {threads_before} -> {threads_after}, fds {fds_before} -> {fds_after}",
        WORKERS * CYCLES_PER_WORKER
    );
    assert!(ok, "server kept threads or descriptors after the cycles");
}

#[test]
fn limits_that_cannot_work_are_refused_at_start() {
    for (flags, message) in [
        (
            ["--max-backlog-bytes", "16384"],
            "chat-server: invalid limits: max backlog bytes must be at least 65536",
        ),
        (
            ["--max-line-bytes", "10"],
            "chat-server: invalid limits: max line bytes must be between 64 and 1048576",
        ),
        (
            ["--max-clients", "0"],
            "chat-server: invalid limits: max clients must be at least 1",
        ),
    ] {
        let exit = Process::run(
            std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
                .args(["--host", "127.0.0.1", "--port", "0"])
                .args(flags),
            TIMEOUT,
        );
        assert!(!exit.status.success(), "{flags:?} accepted: {exit:?}");
        assert!(exit.stdout.is_empty(), "{flags:?}: printed a ready line");
        assert!(exit.stderr.starts_with(message), "{flags:?}: {exit:?}");
    }
}

fn shutdown_on(signal: rustix::process::Signal) {
    let mut server =
        ServerProcess::start(&["--max-backlog-bytes", "100000000", "--flood-rate", "0"]);
    let mut pending = TestClient::connect(server.addr);
    let [mut alice, stuck] = room_of(server.addr, ["alice", "stuck"]);
    // Fill stuck's buffers so it can't even be told.
    let block = "s".repeat(4000) + "\n";
    for _ in 0..4000 {
        alice.send_raw(block.as_bytes());
    }
    alice.sync();

    let started = Instant::now();
    server.signal(signal);
    alice.wait_for("* server shutting down");
    alice.expect_closed();
    pending.expect("* server shutting down");
    pending.expect_closed();
    let exit = server.wait_exit(Duration::from_secs(2));
    let took = started.elapsed();
    eprintln!("shutdown on {signal:?} took {took:?}");
    assert!(exit.status.success(), "{exit:?}");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(
        exit.stdout.is_empty(),
        "nothing but the ready line on stdout: {exit:?}"
    );
    drop(stuck);
}

#[test]
fn sigterm_says_goodbye_to_everyone_and_exits_cleanly() {
    shutdown_on(rustix::process::Signal::TERM);
}

#[test]
fn sigint_says_goodbye_to_everyone_and_exits_cleanly() {
    shutdown_on(rustix::process::Signal::INT);
}

#[test]
fn random_bytes_never_disturb_other_clients() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    let alphabet: &[u8] = b"\n\n\r/ /msg /join /nick #aZ\x00\x1b\x7f\xc3\xa9\xff\xe2\x82";
    for seed in 0..200u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut fuzzer = TcpStream::connect(server.addr).expect("connect");
        let mut bytes = Vec::new();
        if rng.bool() {
            bytes.extend_from_slice(format!("fuzz{seed}\n").as_bytes());
        }
        for _ in 0..rng.usize(1..2000) {
            if rng.u8(..) < 200 {
                bytes.push(alphabet[rng.usize(..alphabet.len())]);
            } else {
                bytes.push(rng.u8(..));
            }
        }
        let _ = fuzzer.write_all(&bytes);
        // Whatever the fuzzer did, alice and bob still talk, and the fuzzer is answered.
        alice.send(&format!("round {seed}"));
        let round = format!("alice: round {seed}");
        bob.wait_until(&round, |line| {
            assert!(
                line == round || !line.starts_with("alice:"),
                "seed {seed}: unexpected chat {line:?}"
            );
            line == round
        });
        let _ = fuzzer.write_all(b"\n/quit\n");
        let _ = fuzzer.shutdown(std::net::Shutdown::Write);
        let (answer, closed) = drain_until_closed(&fuzzer);
        check_fuzz_answer(&answer, closed).unwrap_or_else(|err| {
            panic!(
                "seed {seed}: {err}; the fuzzer got {closed:?} after {:?}",
                String::from_utf8_lossy(&answer)
            )
        });
    }
    let _carol = TestClient::join(server.addr, "carol");
}

/// What a fuzzing connection gets must be well-formed: the greeting first, then only lines
/// the protocol knows. A reset (the fuzzer quit before its last write) may cut the end,
/// but it can't take the greeting, which was sent before a byte of the fuzz was read; an
/// end of file comes after `* bye`, the answer to the final `/quit`.
fn check_fuzz_answer(answer: &[u8], closed: Closed) -> Result<(), String> {
    let complete = answer
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |end| end + 1);
    let text =
        std::str::from_utf8(&answer[..complete]).map_err(|err| format!("not UTF-8: {err}"))?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.first().map(|line| ServerLine::parse(line)) != Some(Notice::Greeting.into()) {
        return Err("no greeting first".to_string());
    }
    for line in &lines {
        match ServerLine::parse(line) {
            ServerLine::Other(_)
            | ServerLine::Notice(Notice::Other(_))
            | ServerLine::Refusal(Refusal::Other(_)) => {
                return Err(format!("an unknown line {line:?}"));
            }
            _ => {}
        }
    }
    if closed == Closed::Eof && (complete < answer.len() || lines.last() != Some(&"* bye")) {
        return Err("a clean close without `* bye` last".to_string());
    }
    Ok(())
}
