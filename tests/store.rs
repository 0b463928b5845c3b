//! The store, against real `chat-server` processes over TCP with real restarts on one data
//! directory: history across SIGTERM and SIGKILL (the 1 s bound, measured), the handover
//! from replay to live lines while a sender floods, the replay's form and order, the bounds
//! of `/history` and `--replay-lines`, retention, a data directory or database the server
//! must refuse at start, and a store that fails while the server runs.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::UtcTime;
use common::{Exit, Lines, Process, ServerProcess, TIMEOUT, TestClient, show_lines};
use rusqlite::{Connection, OpenFlags};
use rustix::process::Signal;

/// The database file in a data directory.
const DATABASE: &str = "chat.db";

/// Lines a joiner is shown by default (`--replay-lines`).
const DEFAULT_REPLAY: usize = 20;

/// A fresh directory under the system's temporary directory, for this process only:
/// removed when its test passes, kept for a look when it fails.
fn tempdir(what: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("chat-store-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a temporary directory");
    TempDir(dir)
}

struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn text_of(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// A server keeping its things in `dir`, flood control off, with `extra` flags.
fn serve(dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--data-dir", text_of(dir), "--flood-rate", "0"];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

/// Stops a server with SIGTERM, which must end it cleanly; returns its log.
fn stop(mut server: ServerProcess) -> String {
    server.signal(Signal::TERM);
    let exit = server.wait_exit(TIMEOUT);
    assert!(
        exit.status.success(),
        "SIGTERM did not end it cleanly: {exit:?}"
    );
    exit.stderr
}

/// `= TIME REST`: the time and the line as it was delivered live.
fn replayed(line: &str) -> Option<(UtcTime, &str)> {
    let (time, rest) = UtcTime::parse_prefix(line.strip_prefix("= ")?)?;
    Some((time, rest.strip_prefix(' ')?))
}

/// The live lines that replayed `lines` stand for; panics unless every one is
/// `= TIME LINE` with TIME in RFC 3339 UTC, the times never going back, and none before
/// `since` or after now.
fn replayed_lines(lines: &[String], since: UtcTime) -> Vec<String> {
    let now = UtcTime::now();
    let mut last = since;
    lines
        .iter()
        .map(|line| {
            let Some((time, rest)) = replayed(line) else {
                panic!("not a replayed line: {line:?}; in {}", show_lines(lines));
            };
            assert!(
                last <= time && time <= now,
                "{line:?} is stamped out of order or outside {since}..{now}; in {}",
                show_lines(lines)
            );
            last = time;
            rest.to_string()
        })
        .collect()
}

/// Sends `/who` and returns what the client was sent before its answer: right after a
/// join, the replay (and nothing else).
fn lines_before_who(client: &mut TestClient) -> Vec<String> {
    client.send("/who");
    let mut lines = Vec::new();
    for _ in 0..10_000 {
        let line = client.line();
        if line.starts_with("* #") && line.contains(" (") {
            return lines;
        }
        lines.push(line);
    }
    panic!("no answer to /who; {}", client.transcript());
}

/// Sends `/history ARGS`; returns its `= ` lines and the line that ended them.
fn history(client: &mut TestClient, args: &str) -> (Vec<String>, String) {
    client.send(format!("/history {args}").trim_end());
    let mut lines = Vec::new();
    for _ in 0..10_000 {
        let line = client.line();
        if !line.starts_with("= ") {
            return (lines, line);
        }
        lines.push(line);
    }
    panic!("/history never ended; {}", client.transcript());
}

/// Sends `lines` in writes of 100 lines each.
fn send_all(client: &mut TestClient, lines: &[String]) {
    for chunk in lines.chunks(100) {
        let mut bytes = chunk.join("\n");
        bytes.push('\n');
        client.send_raw(bytes.as_bytes());
    }
}

/// The last `count` of `lines`.
fn last(lines: &[String], count: usize) -> &[String] {
    &lines[lines.len().saturating_sub(count)..]
}

/// How many lines the database holds for `room` (the server must be stopped, or the
/// connection read-only).
fn stored_count(db: &Connection, room: &str) -> rusqlite::Result<i64> {
    db.query_row(
        "SELECT count(*) FROM lines WHERE room = ?1",
        [room],
        |row| row.get(0),
    )
}

#[test]
fn history_survives_a_sigterm_restart_with_nothing_accepted_lost() {
    // Enough that the store is still writing when the last line has been relayed.
    const LINES: usize = 100_000;
    let dir = tempdir("sigterm");
    let since = UtcTime::now();
    let server = serve(&dir, &[]);
    let (mut alice, mut bob) = common::pair(server.addr);
    let said: Vec<String> = (1..=LINES)
        .map(|n| match n % 100 {
            0 => format!("/me counts {n}"),
            _ => format!("line {n}"),
        })
        .collect();
    let delivered: Vec<String> = said
        .iter()
        .map(|line| match line.strip_prefix("/me ") {
            Some(action) => format!("* alice {action}"),
            None => format!("alice: {line}"),
        })
        .collect();
    // bob reads all along (or alice would be slowed down for him) until the end.
    let reader = thread::spawn(move || {
        let mut lines = Vec::new();
        while let Some(line) = bob.recv() {
            match line.as_str() {
                "* server shutting down" => break,
                "* alice quit (connection closed)" => continue,
                _ => lines.push(line),
            }
            assert!(lines.len() <= LINES, "{}", bob.transcript());
        }
        lines
    });
    send_all(&mut alice, &said);
    // Accepted: alice's /who is answered after all her lines were relayed. (Gone, she
    // doesn't hold up the shutdown.)
    alice.sync();
    drop(alice);
    // At once, while some of it may still be on its way to the disk.
    let db = Connection::open_with_flags(dir.join(DATABASE), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database read-only");
    let written = stored_count(&db, "#lobby");
    drop(db);
    let log = stop(server);
    eprintln!("at SIGTERM {written:?} of the {LINES} lines relayed were on disk");
    assert!(log.contains("shutting down"), "{log}");
    let received = reader.join().expect("bob");
    assert!(
        delivered.starts_with(&received),
        "bob received something else: {}",
        show_lines(&received)
    );

    let db = Connection::open(dir.join(DATABASE)).expect("open the database");
    let (count, first, newest): (i64, i64, i64) = db
        .query_row(
            "SELECT count(*), min(seq), max(seq) FROM lines WHERE room = '#lobby'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .expect("count the stored lines");
    assert_eq!(count, LINES as i64, "stored lines after SIGTERM");
    assert_eq!(newest - first + 1, count, "their numbers have gaps");
    drop(db);

    let server = serve(&dir, &[]);
    let mut carol = TestClient::join(server.addr, "carol");
    let replay = lines_before_who(&mut carol);
    assert_eq!(
        replayed_lines(&replay, since),
        last(&delivered, DEFAULT_REPLAY),
        "the replay after the restart; {}",
        carol.transcript()
    );
    let (lines, end) = history(&mut carol, "500");
    assert_eq!(replayed_lines(&lines, since), last(&delivered, 500));
    assert_eq!(end, "* history of #lobby: 500 lines");

    // The room goes on after its stored lines rather than over them.
    carol.send("after the restart");
    carol.sync();
    let (lines, end) = history(&mut carol, "3");
    let mut expected = last(&delivered, 2).to_vec();
    expected.push("carol: after the restart".into());
    assert_eq!(replayed_lines(&lines, since), expected);
    assert_eq!(end, "* history of #lobby: 3 lines");
    drop(carol);
    stop(server);
}

#[test]
fn lines_relayed_a_second_before_a_sigkill_survive_it() {
    let dir = tempdir("sigkill");
    let since = UtcTime::now();
    let mut server = serve(&dir, &[]);
    // In another room, alone: handled (the /who answer comes after them) is relayed.
    let mut dave = TestClient::join(server.addr, "dave");
    dave.send("/join #dev");
    dave.wait_until("dave's member list", |line| line.starts_with("* #dev ("));
    for n in 1..=5 {
        dave.send(&format!("dev {n}"));
    }
    dave.sync();
    let (mut alice, mut bob) = common::pair(server.addr);
    let early: Vec<String> = (1..=50).map(|n| format!("early {n}")).collect();
    send_all(&mut alice, &early);
    for line in &early {
        bob.expect(&format!("alice: {line}"));
    }
    let relayed = Instant::now();
    // Measured: how long after it was relayed the last line is in the database, as
    // another reader of the file sees it.
    let reader = Connection::open_with_flags(dir.join(DATABASE), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database read-only");
    let mut committed = false;
    while !committed && relayed.elapsed() < Duration::from_secs(1) {
        committed = stored_count(&reader, "#lobby").is_ok_and(|count| count == early.len() as i64);
        thread::sleep(Duration::from_millis(1));
    }
    let took = relayed.elapsed();
    drop(reader);
    assert!(committed, "50 lines relayed were not on disk within 1 s");
    eprintln!("the last of 50 lines was on disk {took:?} after it was relayed");

    // The bound: whatever was relayed more than a second before the kill is kept.
    thread::sleep(Duration::from_millis(1100).saturating_sub(relayed.elapsed()));
    // These are relayed just before the kill: some, all or none may be kept, but only
    // from the first one on, in order.
    let late: Vec<String> = (1..=200).map(|n| format!("late {n}")).collect();
    send_all(&mut alice, &late);
    server.signal(Signal::KILL);
    let exit = server.wait_exit(TIMEOUT);
    assert!(!exit.status.success(), "{exit:?}");

    let server = serve(&dir, &[]);
    let mut carol = TestClient::join(server.addr, "carol");
    let replay = replayed_lines(&lines_before_who(&mut carol), since);
    let (lines, end) = history(&mut carol, "500");
    let kept = replayed_lines(&lines, since);
    let said: Vec<String> = early
        .iter()
        .chain(&late)
        .map(|line| format!("alice: {line}"))
        .collect();
    assert!(
        kept.len() >= early.len() && said.starts_with(&kept),
        "after the SIGKILL the history is not the early lines and some late ones in order: {}",
        show_lines(&kept)
    );
    assert_eq!(end, format!("* history of #lobby: {} lines", kept.len()));
    assert_eq!(replay, last(&kept, DEFAULT_REPLAY));
    eprintln!(
        "{} of the {} lines sent just before the SIGKILL were kept",
        kept.len() - early.len(),
        late.len()
    );

    // Another room's history comes back when someone joins it.
    carol.send("/join #dev");
    carol.expect("* carol joined #dev");
    for n in 1..=5 {
        carol.expect_replay(&format!("dave: dev {n}"));
    }
    carol.expect("* #dev (1): carol");
    let (lines, end) = history(&mut carol, "");
    assert_eq!(lines.len(), 5, "{}", show_lines(&lines));
    assert_eq!(end, "* history of #dev: 5 lines");
    drop(carol);
    stop(server);
}

/// Reads a flood's lines until its end marker (`alice: end N`); counts the live numbered
/// lines in `progress`, if given.
fn read_flood(
    mut client: TestClient,
    progress: Option<&AtomicU64>,
    max_lines: u64,
) -> (TestClient, Vec<String>) {
    let mut lines = Vec::new();
    for _ in 0..max_lines + 10_000 {
        let line = client.line();
        if let (Some(progress), Some(number)) = (progress, line.strip_prefix("alice: n ")) {
            progress.store(number.parse().expect("a number"), Ordering::Relaxed);
        }
        let end = line.starts_with("alice: end ");
        lines.push(line);
        if end {
            return (client, lines);
        }
    }
    panic!("{}: the flood never ended", client.name);
}

/// Checks that a joiner's numbered lines are a full replay followed by live lines, all
/// consecutive and ending with the flood's last.
fn check_handover(name: &str, lines: &[String], last_number: u64) -> u64 {
    let mut numbered: Vec<(bool, u64, usize)> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let (is_replay, rest) = match replayed(line) {
            Some((_, rest)) => (true, rest),
            None => (false, line.as_str()),
        };
        if let Some(number) = rest.strip_prefix("alice: n ") {
            numbered.push((is_replay, number.parse().expect("a number"), index));
        }
    }
    let around =
        |index: usize| show_lines(&lines[index.saturating_sub(25)..(index + 5).min(lines.len())]);
    let replays = numbered
        .iter()
        .take_while(|(is_replay, ..)| *is_replay)
        .count();
    assert_eq!(
        replays,
        DEFAULT_REPLAY,
        "{name} was replayed {replays} lines; it received {}",
        show_lines(&lines[..lines.len().min(40)])
    );
    if let Some((_, _, index)) = numbered[replays..]
        .iter()
        .find(|(is_replay, ..)| *is_replay)
    {
        panic!(
            "{name}: a replayed line after a live one: {}",
            around(*index)
        );
    }
    assert!(
        numbered.len() > replays,
        "{name} got no live line: it joined after the flood"
    );
    for pair in numbered.windows(2) {
        let ((_, before, _), (_, after, index)) = (pair[0], pair[1]);
        assert_eq!(
            after,
            before + 1,
            "{name}: line {after} came after line {before} (a gap or a duplicate): {}",
            around(index)
        );
    }
    assert_eq!(numbered.last().map(|line| line.1), Some(last_number - 1));
    numbered[replays].1
}

/// Waits (polling every millisecond, for at most [`TIMEOUT`]) until `counter` is at least
/// `value`; returns whether it got there.
fn reaches(counter: &AtomicU64, value: u64) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while counter.load(Ordering::Relaxed) < value {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

#[test]
fn a_joiner_during_a_flood_gets_every_line_once_replayed_or_live() {
    /// The numbered lines at most, whatever happens (10 s of flood).
    const MAX_LINES: u64 = 1_000_000;
    /// Lines sent at once; one such write a millisecond at most.
    const CHUNK: u64 = 100;
    /// Lines relayed between one join and the next.
    const BETWEEN: u64 = 1500;
    /// How far the sender may run ahead of what the room was sent.
    const LEAD: u64 = 5000;
    let dir = tempdir("flood");
    let server = serve(&dir, &[]);
    let addr = server.addr;
    let mut alice = TestClient::join(addr, "alice");
    let watch = TestClient::join(addr, "watch");
    alice.expect("* watch joined #lobby");
    // Two wait in another room and come over with /join; four join by the handshake.
    let mut movers: Vec<TestClient> = ["mover1", "mover2"]
        .into_iter()
        .map(|name| {
            let mut client = TestClient::join(addr, name);
            client.send("/join #side");
            client.wait_until("the member list of #side", |line| {
                line.starts_with("* #side (")
            });
            client
        })
        .collect();
    alice.sync();

    let relayed = Arc::new(AtomicU64::new(0));
    let stop_flood = Arc::new(AtomicBool::new(false));
    let watcher = thread::spawn({
        let relayed = Arc::clone(&relayed);
        move || read_flood(watch, Some(&relayed), MAX_LINES)
    });
    let sender = thread::spawn({
        let (relayed, stop_flood) = (Arc::clone(&relayed), Arc::clone(&stop_flood));
        move || {
            let mut next = 0u64;
            while !stop_flood.load(Ordering::Relaxed) && next < MAX_LINES {
                let room = reaches(&relayed, next.saturating_sub(LEAD));
                assert!(room, "the room stopped receiving the flood at {next}");
                let mut chunk = String::new();
                for _ in 0..CHUNK {
                    writeln!(chunk, "n {next}").expect("write to a string");
                    next += 1;
                }
                alice.send_raw(chunk.as_bytes());
                // Paced (100,000 lines a second at most), so the flood outlasts the joins
                // on a busy machine too.
                thread::sleep(Duration::from_millis(1));
            }
            alice.send(&format!("end {next}"));
            (alice, next)
        }
    });

    let mut joiners = Vec::new();
    for index in 0..6 {
        let due = (index + 1) * BETWEEN;
        assert!(reaches(&relayed, due), "the flood never reached line {due}");
        let mover = if index % 3 == 2 { movers.pop() } else { None };
        let client = match mover {
            Some(mut mover) => {
                mover.send("/join #lobby");
                mover
            }
            None => {
                let name = format!("joiner{index}");
                TestClient::join(addr, &name)
            }
        };
        joiners.push(thread::spawn(move || read_flood(client, None, MAX_LINES)));
    }
    // Long enough after the last join was sent for it to be handled on a busy machine
    // (a join waits for the store, which gathers writes for 20 ms).
    let after = relayed.load(Ordering::Relaxed) + 20 * BETWEEN;
    assert!(
        reaches(&relayed, after),
        "the flood stopped at the last join"
    );
    stop_flood.store(true, Ordering::Relaxed);
    let (mut alice, last_number) = sender.join().expect("the sender");
    // Everyone stays connected to the end, so no quit notice comes in between below.
    let mut everyone = vec![watcher.join().expect("the watcher").0];
    for joiner in joiners {
        let (client, lines) = joiner.join().expect("a joiner");
        let from = check_handover(&client.name, &lines, last_number);
        eprintln!("{} joined at line {from} of {last_number}", client.name);
        everyone.push(client);
    }

    // What the store has is the flood's end, in order: the sender's own /history comes
    // after all its lines reached the store.
    alice.sync();
    let (lines, end) = history(&mut alice, "500");
    let mut expected: Vec<String> = (last_number - 499..last_number)
        .map(|number| format!("alice: n {number}"))
        .collect();
    expected.push(format!("alice: end {last_number}"));
    assert_eq!(replayed_lines(&lines, UtcTime::from_unix(0)), expected);
    assert_eq!(end, "* history of #lobby: 500 lines");
    drop((alice, everyone));
    stop(server);
}

#[test]
fn replays_show_the_lines_as_delivered_and_history_keeps_to_its_bounds() {
    let dir = tempdir("bounds");
    let since = UtcTime::now();
    let server = serve(&dir, &["--replay-lines", "5", "--history-max", "8"]);
    let (mut alice, mut bob) = common::pair(server.addr);
    for n in 1..=10 {
        alice.send(&format!("line {n}"));
    }
    alice.send("/me waves at 민수");
    // Stored as relayed: cleaned of the bell, the tab kept.
    alice.send("tab\tand bell\u{7}");
    // Handed to the store: alice's thread answers /who after it passed her lines on.
    alice.sync();
    let mut delivered = Vec::new();
    for _ in 0..12 {
        delivered.push(bob.line());
    }
    assert_eq!(delivered[10], "* alice waves at 민수");
    assert_eq!(delivered[11], "alice: tab\tand bell");
    // Joins, quits and renames are not history.
    let mut dave = TestClient::join(server.addr, "dave");
    dave.send("/quit");
    dave.wait_for("* bye");
    bob.send("/nick bobby");
    bob.wait_for("* bob is now bobby");
    bob.send("/nick bob");
    bob.wait_for("* bobby is now bob");

    let mut erin = TestClient::join(server.addr, "erin");
    let replay = lines_before_who(&mut erin);
    assert_eq!(replayed_lines(&replay, since), last(&delivered, 5));
    for (arg, count) in [
        ("", 8),
        ("3", 3),
        ("1000000", 8),
        (&*usize::MAX.to_string(), 8),
    ] {
        let (lines, end) = history(&mut erin, arg);
        assert_eq!(
            replayed_lines(&lines, since),
            last(&delivered, count),
            "/history {arg}"
        );
        assert_eq!(end, format!("* history of #lobby: {count} lines"));
    }
    let (lines, end) = history(&mut erin, "1");
    assert_eq!(replayed_lines(&lines, since), last(&delivered, 1));
    assert_eq!(end, "* history of #lobby: 1 line");
    let (lines, end) = history(&mut erin, "0");
    assert!(lines.is_empty(), "/history 0 sent {lines:?}");
    assert!(end.starts_with("* history of #lobby: "), "{end}");
    for bad in ["lots", "-1", "2.5"] {
        erin.send(&format!("/history {bad}"));
        erin.expect("! usage: /history [N]");
    }
    erin.send("/join #quiet");
    erin.expect("* erin joined #quiet");
    erin.expect("* #quiet (1): erin");
    erin.send("/history");
    erin.expect("* history of #quiet: nothing stored");
    drop((alice, bob, erin));
    stop(server);

    // From the store after a restart: --history-max caps --replay-lines too.
    let server = serve(&dir, &["--replay-lines", "50", "--history-max", "8"]);
    let mut frank = TestClient::join(server.addr, "frank");
    let from_store = lines_before_who(&mut frank);
    assert_eq!(replayed_lines(&from_store, since), last(&delivered, 8));
    // Stamped with the times they had before the restart.
    assert_eq!(last(&from_store, 5), replay);
    drop(frank);
    stop(server);

    // --replay-lines 0: no replay, /history still answers.
    let server = serve(&dir, &["--replay-lines", "0"]);
    let mut gina = TestClient::join(server.addr, "gina");
    let nothing = lines_before_who(&mut gina);
    assert!(
        nothing.is_empty(),
        "replayed with --replay-lines 0: {nothing:?}"
    );
    let (lines, end) = history(&mut gina, "2");
    assert_eq!(replayed_lines(&lines, since), last(&delivered, 2));
    assert_eq!(end, "* history of #lobby: 2 lines");
    drop(gina);
    stop(server);
}

#[test]
fn history_older_than_history_days_is_deleted_at_start() {
    const DAY: i64 = 86_400;
    let dir = tempdir("retention");
    let server = serve(&dir, &[]);
    let mut alice = TestClient::join(server.addr, "alice");
    for age in ["old", "middle", "new"] {
        for n in 1..=3 {
            alice.send(&format!("{age} {n}"));
        }
    }
    alice.sync();
    drop(alice);
    stop(server);

    // Aged while the server is stopped: 40 days for the old lines, 20 for the middle ones.
    let db = Connection::open(dir.join(DATABASE)).expect("open the database");
    for (age, days) in [("old", 40), ("middle", 20)] {
        let aged = db
            .execute(
                "UPDATE lines SET time = time - ?1 WHERE text LIKE ?2",
                rusqlite::params![days * DAY, format!("{age} %")],
            )
            .expect("age the lines");
        assert_eq!(aged, 3);
    }
    drop(db);

    let texts = |lines: &[String]| -> Vec<String> {
        replayed_lines(lines, UtcTime::from_unix(0))
            .into_iter()
            .map(|line| line.trim_start_matches("alice: ").to_string())
            .collect()
    };
    let all: Vec<String> = ["old", "middle", "new"]
        .iter()
        .flat_map(|age| (1..=3).map(move |n| format!("{age} {n}")))
        .collect();

    // 0 keeps everything, stamped with the times it was (now) said.
    let server = serve(&dir, &["--history-days", "0"]);
    let mut bob = TestClient::join(server.addr, "bob");
    let replay = lines_before_who(&mut bob);
    assert_eq!(texts(&replay), all);
    let now = UtcTime::now().unix();
    for (line, days) in replay.iter().zip([40, 40, 40, 20, 20, 20, 0, 0, 0]) {
        let (time, _) = replayed(line).expect("a replayed line");
        let age = now - time.unix();
        assert!(
            (days * DAY..days * DAY + 120).contains(&age),
            "{line:?} is {age} s old, not {days} days"
        );
    }
    drop(bob);
    let log = stop(server);
    assert!(!log.contains("deleted"), "{log}");

    // The default, 30 days: the old lines go.
    let server = serve(&dir, &[]);
    server.wait_log("deleted 3 lines of history older than 30 days");
    let mut bob = TestClient::join(server.addr, "bob");
    assert_eq!(texts(&lines_before_who(&mut bob)), &all[3..]);
    drop(bob);
    stop(server);

    let server = serve(&dir, &["--history-days", "10"]);
    server.wait_log("deleted 3 lines of history older than 10 days");
    let mut bob = TestClient::join(server.addr, "bob");
    assert_eq!(texts(&lines_before_who(&mut bob)), &all[6..]);
    let (lines, end) = history(&mut bob, "20");
    assert_eq!(texts(&lines), &all[6..]);
    assert_eq!(end, "* history of #lobby: 3 lines");
    drop(bob);
    stop(server);
    let db = Connection::open(dir.join(DATABASE)).expect("open the database");
    assert_eq!(stored_count(&db, "#lobby"), Ok(3));
}

/// Runs `chat-server` on `data_dir`, which must refuse to start.
fn refused_start(data_dir: &Path) -> Exit {
    let exit = Process::run(
        Command::new(env!("CARGO_BIN_EXE_chat-server")).args([
            "--data-dir",
            text_of(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]),
        TIMEOUT,
    );
    assert_eq!(exit.status.code(), Some(2), "{exit:?}");
    assert!(exit.stdout.is_empty(), "it started: {exit:?}");
    assert_eq!(
        exit.stderr.lines().count(),
        1,
        "not one line: {:?}",
        exit.stderr
    );
    exit
}

/// Checks that the one line of `exit` names `path` and says `what`.
fn says(exit: &Exit, path: &Path, what: &str) {
    let line = exit.stderr.trim_end();
    assert!(
        line.starts_with("chat-server: ") && line.contains(text_of(path)) && line.contains(what),
        "expected one line naming {} and saying {what:?}, got {line:?}",
        path.display()
    );
}

/// Every file in `dir` with its bytes.
fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("list the directory")
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_data_dir_or_database_that_cant_be_used_stops_the_start_with_one_line_and_status_2() {
    let scratch = tempdir("start");

    // A directory that can't be made (even by root: its parent is a file).
    let file = scratch.join("a-file");
    std::fs::write(&file, "not a directory").expect("write a file");
    let below = file.join("data");
    says(
        &refused_start(&below),
        &below,
        "can't use the data directory",
    );
    says(&refused_start(&file), &file, "can't use the data directory");
    assert_eq!(std::fs::read(&file).expect("read"), b"not a directory");

    // A database file that can't be opened.
    let dir_db = scratch.join("dir-db");
    std::fs::create_dir_all(dir_db.join(DATABASE)).expect("a directory as the database");
    says(
        &refused_start(&dir_db),
        &dir_db.join(DATABASE),
        "left as it is",
    );

    // Not a database at all; another program's; ours from a newer release: each is left
    // exactly as it was.
    let garbage = scratch.join("garbage");
    std::fs::create_dir_all(&garbage).expect("mkdir");
    std::fs::write(garbage.join(DATABASE), "x".repeat(10_000)).expect("write");
    let foreign = scratch.join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    let theirs = Connection::open(foreign.join(DATABASE)).expect("make their database");
    theirs
        .execute_batch(
            "PRAGMA application_id = 305419896;
             CREATE TABLE notes (body TEXT);
             INSERT INTO notes VALUES ('keep me');",
        )
        .expect("fill their database");
    drop(theirs);
    let newer = scratch.join("newer");
    stop(serve(&newer, &[]));
    let db = Connection::open(newer.join(DATABASE)).expect("open ours");
    let version: i64 = db
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("its version");
    db.pragma_update(None, "user_version", version + 5)
        .expect("pretend a newer release wrote it");
    drop(db);
    for (dir, what) in [
        (&garbage, "is not a database this chat-server can use"),
        (&foreign, "belongs to another program"),
        (&newer, "written by a newer chat-server"),
    ] {
        let before = files_in(dir);
        says(&refused_start(dir), &dir.join(DATABASE), what);
        let after: Vec<(String, Vec<u8>)> = files_in(dir)
            .into_iter()
            .filter(|(name, _)| !name.ends_with("/lock"))
            .collect();
        let before: Vec<(String, Vec<u8>)> = before
            .into_iter()
            .filter(|(name, _)| !name.ends_with("/lock"))
            .collect();
        assert!(before == after, "{} was changed", dir.display());
    }

    // One server per directory.
    let held = scratch.join("held");
    let first = serve(&held, &[]);
    says(
        &refused_start(&held),
        &held,
        "in use by another chat-server",
    );
    assert!(refused_start(&held).stderr.contains("--data-dir"));
    let mut alice = TestClient::join(first.addr, "alice");
    alice.send("/history");
    alice.expect("* history of #lobby: nothing stored");
    drop(alice);
    stop(first);
}

#[test]
fn a_locked_database_leaves_chat_going_and_store_commands_answer_unavailable() {
    let dir = tempdir("locked");
    let server = serve(&dir, &[]);
    let mut owner = TestClient::join(server.addr, "owner");
    owner.send("/register owner-password");
    owner.expect("* owner is registered; from now on connect with \"owner PASSWORD\"");
    owner.send("/quit");
    owner.wait_for("* bye");
    let (mut alice, mut bob) = common::pair(server.addr);
    alice.send("before the lock");
    bob.expect("alice: before the lock");
    // On disk before the lock is taken: /history answers after the writes before it.
    let (lines, _) = history(&mut alice, "1");
    assert_eq!(
        replayed_lines(&lines, UtcTime::from_unix(0)),
        ["alice: before the lock"]
    );

    // Another program takes the database's write lock and keeps it.
    let locker = Connection::open(dir.join(DATABASE)).expect("open the database");
    locker.busy_timeout(TIMEOUT).expect("busy timeout");
    locker
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");
    let mut during = Vec::new();
    for n in 1..=5 {
        let line = format!("during the lock {n}");
        alice.send(&line);
        bob.expect(&format!("alice: {line}"));
        during.push(line);
    }
    server.wait_log("database is locked");
    for (command, answer) in [
        ("/history", "! history is unavailable"),
        ("/register bob-password", "! registering is unavailable"),
        ("/msg owner are you there?", "! the mailbox is unavailable"),
    ] {
        let asked = Instant::now();
        bob.send(command);
        bob.expect(answer);
        let took = asked.elapsed();
        assert!(took < Duration::from_secs(3), "{command} took {took:?}");
    }
    alice.send("still chatting");
    bob.expect("alice: still chatting");
    during.push("still chatting".into());

    // Let go: the store works again.
    locker.execute_batch("ROLLBACK").expect("let go");
    drop(locker);
    alice.send("after the lock");
    bob.expect("alice: after the lock");
    let (lines, end) = history(&mut alice, "");
    let kept = replayed_lines(&lines, UtcTime::from_unix(0));
    assert_eq!(
        kept.first().map(String::as_str),
        Some("alice: before the lock")
    );
    assert_eq!(
        kept.last().map(String::as_str),
        Some("alice: after the lock")
    );
    let said: Vec<String> = std::iter::once("before the lock".to_string())
        .chain(during)
        .chain(["after the lock".to_string()])
        .map(|line| format!("alice: {line}"))
        .collect();
    let mut rest = said.iter();
    assert!(
        kept.iter().all(|line| rest.any(|said| said == line)),
        "not what alice said, in order: {kept:?}"
    );
    assert_eq!(end, format!("* history of #lobby: {} lines", kept.len()));
    bob.send("/msg owner are you there?");
    bob.expect("* owner is offline; they will get your message when they return");
    bob.send("/register bob-password");
    bob.expect("* bob is registered; from now on connect with \"bob PASSWORD\"");
    drop((alice, bob));
    let log = stop(server);
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_full_disk_leaves_chat_going_and_the_database_usable_afterwards() {
    let dir = tempdir("full");
    // A file-size limit of 96 KiB (512-byte blocks): writes past it fail with EFBIG, as
    // on a full disk, while the fresh database (36 KiB) still fits.
    let server = ServerProcess::start_limited(
        "-f 192",
        &["--data-dir", text_of(&dir), "--flood-rate", "0"],
    );
    let (mut alice, mut bob) = common::pair(server.addr);
    alice.send("before the disk filled");
    bob.expect("alice: before the disk filled");
    // On disk before the flood, not in a batch with it.
    let (lines, _) = history(&mut alice, "1");
    assert_eq!(
        replayed_lines(&lines, UtcTime::from_unix(0)),
        ["alice: before the disk filled"]
    );

    // 300 KB of chat: more than the disk takes. All of it is relayed.
    let big: Vec<String> = (1..=300)
        .map(|n| format!("{n} {}", "x".repeat(1000)))
        .collect();
    send_all(&mut alice, &big);
    for line in &big {
        bob.expect(&format!("alice: {line}"));
    }
    server.wait_log("the store could not store");

    // Once the disk is full for good, /history says so rather than show a history with
    // its latest lines missing (bounded: each line that still fits takes room).
    let mut unavailable_in_a_row = 0;
    for n in 0..200 {
        if unavailable_in_a_row == 3 {
            break;
        }
        let line = format!("filler {n}");
        alice.send(&line);
        let (lines, end) = history(&mut alice, "1");
        if end == "! history is unavailable" {
            assert!(lines.is_empty(), "{lines:?}");
            unavailable_in_a_row += 1;
        } else {
            assert_eq!(end, "* history of #lobby: 1 line", "{}", alice.transcript());
            assert_eq!(lines.len(), 1);
            assert_eq!(
                replayed(&lines[0]).map(|l| l.1),
                Some(&*format!("alice: {line}"))
            );
            unavailable_in_a_row = 0;
        }
    }
    assert_eq!(unavailable_in_a_row, 3, "{}", alice.transcript());
    alice.send("still relayed");
    bob.wait_for("alice: still relayed");
    drop((alice, bob));
    let log = stop(server);
    assert!(!log.contains("panicked"), "{log}");

    // With room again: the database opens, what was stored is there, new lines are kept.
    let server = serve(&dir, &[]);
    let mut carol = TestClient::join(server.addr, "carol");
    carol.send("room again");
    carol.sync();
    let (lines, _) = history(&mut carol, "500");
    let kept = replayed_lines(&lines, UtcTime::from_unix(0));
    assert_eq!(
        kept.first().map(String::as_str),
        Some("alice: before the disk filled")
    );
    assert_eq!(kept.last().map(String::as_str), Some("carol: room again"));
    drop(carol);
    stop(server);
}
