//! Several `chat-server` processes joined through a real `redis-server` (started per test
//! on a free port, persistence off) behave as one server: chat, private messages, renames
//! and member lists across instances, unique names under a race, one order for a room's
//! members wherever they are, an instance killed, and Redis stopped and started again.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Lines, Redis, ServerProcess, TestClient, eventually};
use rustix::process::Signal;

/// An instance of the cluster that shares `redis`.
fn instance(redis: &Redis, extra: &[&str]) -> ServerProcess {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str(), "--flood-rate", "0"];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

/// Waits until `client`'s `/who` lists exactly `members` (each instance learns of the
/// others' users from the bus, a moment after they join).
fn wait_members(client: &mut TestClient, expected: &str) {
    let mut last = String::new();
    let ok = eventually(Duration::from_secs(10), || {
        last = client.sync();
        last == expected
    });
    assert!(ok, "/who never said {expected:?}; last {last:?}");
}

#[test]
fn instances_share_rooms_names_and_private_messages() {
    let redis = Redis::start();
    let (a, b) = (instance(&redis, &[]), instance(&redis, &[]));
    let mut alice = TestClient::join(a.addr, "alice");
    let mut bob = TestClient::join(b.addr, "bob");
    alice.wait_for("* bob joined #lobby");
    wait_members(&mut bob, "* #lobby (2): alice, bob");

    // Names are unique across instances, ignoring case.
    let mut other = TestClient::connect(b.addr);
    other.send("ALICE");
    other.expect("! name \"ALICE\" is taken, choose another");

    alice.send("hello from a");
    bob.wait_for("alice: hello from a");
    bob.send("/me waves");
    alice.wait_for("* bob waves");
    bob.wait_for("* bob waves");
    bob.send("/msg alice psst");
    alice.wait_for("bob -> alice: psst");
    bob.wait_for("bob -> alice: psst");

    bob.send("/nick rob");
    alice.wait_for("* bob is now rob");
    wait_members(&mut alice, "* #lobby (2): alice, rob");
    // The old name is free again, on either instance.
    let mut new_bob = TestClient::join(a.addr, "bob");
    alice.wait_for("* bob joined #lobby");
    new_bob.send("hi rob");
    bob.wait_for("bob: hi rob");

    // Rooms span instances.
    alice.send("/join #dev");
    alice.wait_for("* #dev (1): alice");
    bob.send("/join #dev");
    alice.wait_for("* rob joined #dev");
    wait_members(&mut bob, "* #dev (2): alice, rob");
    alice.send("/rooms");
    alice.wait_until("/rooms with both rooms", |line| {
        line.starts_with("* rooms:") && line.contains("#dev (2)") && line.contains("#lobby (1)")
    });
}

#[test]
fn exactly_one_of_two_instances_racing_for_a_name_gets_it() {
    let redis = Redis::start();
    let (a, b) = (instance(&redis, &[]), instance(&redis, &[]));
    for round in 0..20 {
        let name = format!("racer{round}");
        let (addr_a, addr_b) = (a.addr, b.addr);
        let claim = |addr| {
            let name = name.clone();
            thread::spawn(move || {
                let mut client = TestClient::connect(addr);
                client.send(&name);
                let answer = client.line();
                (answer.starts_with("* welcome"), answer, client)
            })
        };
        let (first, second) = (claim(addr_a), claim(addr_b));
        let first = first.join().expect("first claimer");
        let second = second.join().expect("second claimer");
        assert!(
            first.0 != second.0,
            "round {round}: exactly one must win; got {:?} and {:?}",
            first.1,
            second.1
        );
    }
}

#[test]
fn members_on_every_instance_see_a_room_in_one_order() {
    let redis = Redis::start();
    let instances = [
        instance(&redis, &[]),
        instance(&redis, &[]),
        instance(&redis, &[]),
    ];
    let mut listeners: Vec<TestClient> = instances
        .iter()
        .enumerate()
        .map(|(index, server)| TestClient::join(server.addr, &format!("ear{index}")))
        .collect();
    let mut senders: Vec<TestClient> = instances
        .iter()
        .enumerate()
        .map(|(index, server)| TestClient::join(server.addr, &format!("mouth{index}")))
        .collect();
    wait_members(
        &mut listeners[0],
        "* #lobby (6): ear0, ear1, ear2, mouth0, mouth1, mouth2",
    );
    for listener in &mut listeners[1..] {
        wait_members(
            listener,
            "* #lobby (6): ear0, ear1, ear2, mouth0, mouth1, mouth2",
        );
    }
    const LINES: usize = 200;
    let floods: Vec<_> = senders
        .drain(..)
        .enumerate()
        .map(|(index, mut sender)| {
            thread::spawn(move || {
                for line in 0..LINES {
                    sender.send(&format!("{index}-{line}"));
                }
                sender
            })
        })
        .collect();
    let _senders: Vec<TestClient> = floods
        .into_iter()
        .map(|flood| flood.join().expect("sender"))
        .collect();
    let heard: Vec<Vec<String>> = listeners
        .iter_mut()
        .map(|listener| {
            let mut lines = Vec::new();
            while lines.len() < 3 * LINES {
                let line = listener.line();
                if line.starts_with("mouth") {
                    lines.push(line);
                }
            }
            lines
        })
        .collect();
    for (index, lines) in heard.iter().enumerate().skip(1) {
        let first_difference = lines.iter().zip(&heard[0]).position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "ear{index} heard the room in another order than ear0"
        );
    }
}

#[test]
fn a_killed_instance_leaves_the_cluster_and_frees_its_names() {
    let redis = Redis::start();
    let a = instance(&redis, &[]);
    let b = instance(&redis, &[]);
    let mut alice = TestClient::join(a.addr, "alice");
    let _bob = TestClient::join(b.addr, "bob");
    alice.wait_for("* bob joined #lobby");
    let killed = Instant::now();
    b.signal(Signal::KILL);
    let gone = eventually(Duration::from_secs(16), || alice.has_pending());
    assert!(gone, "nothing came within 16 s of the SIGKILL");
    alice.wait_for("* bob quit (server lost)");
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}");
    eprintln!("an instance's users were gone {took:?} after its SIGKILL");
    // The name is free (its lease ran out).
    let mut new_bob = TestClient::connect(a.addr);
    let free = eventually(Duration::from_secs(5), || {
        new_bob = TestClient::connect(a.addr);
        new_bob.send("bob");
        new_bob.line().starts_with("* welcome bob")
    });
    assert!(free, "bob stayed taken; {}", new_bob.transcript());
    alice.wait_for("* bob joined #lobby");
}

#[test]
fn a_stopped_instance_gives_its_names_back_at_once() {
    let redis = Redis::start();
    let a = instance(&redis, &[]);
    let mut b = instance(&redis, &[]);
    let _bob = TestClient::join(b.addr, "bob");
    let mut alice = TestClient::join(a.addr, "alice");
    wait_members(&mut alice, "* #lobby (2): alice, bob");
    b.signal(Signal::TERM);
    b.wait_exit(Duration::from_secs(10));
    let mut new_bob = TestClient::connect(a.addr);
    new_bob.send("bob");
    new_bob.expect_prefix("* welcome bob");
}

#[test]
fn chat_goes_on_without_redis_and_the_cluster_comes_back() {
    let mut redis = Redis::start();
    let (a, b) = (instance(&redis, &[]), instance(&redis, &[]));
    let mut alice = TestClient::join(a.addr, "alice");
    let mut carol = TestClient::join(a.addr, "carol");
    let mut bob = TestClient::join(b.addr, "bob");
    alice.wait_for("* bob joined #lobby");
    carol.wait_for("* bob joined #lobby");

    redis.stop();
    // The first line after Redis went away shows it; chat among this instance's users
    // goes on.
    alice.send("anyone?");
    alice.wait_for("* the other servers are unreachable: chat goes on with the users of this one");
    carol.wait_for("alice: anyone?");
    carol.send("me");
    alice.wait_for("carol: me");
    // What needs the other instances is refused, and says why.
    alice.send("/msg bob still there?");
    alice.expect(
        "! a private message to someone on another server needs the other servers, \
         which are unreachable now",
    );

    assert!(redis.run(), "redis-server did not start again");
    let back = "* connected to the other servers again";
    let mut line = String::new();
    let ok = eventually(Duration::from_secs(15), || {
        while alice.has_pending() {
            line = alice.line();
            if line == back {
                return true;
            }
        }
        false
    });
    assert!(
        ok,
        "never told the cluster was back; {}",
        alice.transcript()
    );
    bob.wait_for(back);
    wait_members(&mut alice, "* #lobby (3): alice, bob, carol");
    bob.send("back again");
    alice.wait_for("bob: back again");
    carol.wait_for("bob: back again");
    alice.send("welcome back");
    bob.wait_for("alice: welcome back");
}

#[test]
fn commands_reach_users_on_other_instances() {
    let redis = Redis::start();
    let admin = ["--admin", "root"];
    let (a, b) = (instance(&redis, &admin), instance(&redis, &admin));
    let mut root = common::registered_session(a.addr, "root", "admin-pass-1");
    let mut bob = TestClient::join(b.addr, "bob");
    let mut carol = TestClient::join(b.addr, "carol");
    root.wait_for("* carol joined #lobby");
    wait_members(&mut root, "* #lobby (3): bob, carol, root");

    root.send("/wall maintenance at noon");
    root.expect("* root to everyone: maintenance at noon");
    bob.wait_for("* root to everyone: maintenance at noon");
    carol.wait_for("* root to everyone: maintenance at noon");

    // A topic set on one instance reaches the room's members on the other, and is shown
    // to joiners there.
    bob.send("/topic release on Friday");
    bob.expect("* bob set the topic of #lobby: release on Friday");
    root.wait_for("* bob set the topic of #lobby: release on Friday");
    let mut dave = TestClient::connect(a.addr);
    dave.send("dave");
    dave.expect_prefix("* welcome dave");
    dave.wait_for("* topic of #lobby: release on Friday");
    drop(dave);
    root.wait_for("* dave quit (connection closed)");

    bob.send("/away lunch");
    bob.wait_for("* you are away: lunch");
    root.send("/whois bob");
    let whois = root.expect_prefix("* bob is not registered, in #lobby, idle ");
    assert!(whois.ends_with(", away: lunch"), "{whois}");
    root.send("/seen BOB");
    root.expect("* bob is here, in #lobby");

    root.send("/join #side");
    root.wait_for("* #side (1): root");
    bob.send("/join #side");
    root.wait_for("* bob joined #side");
    root.send("/invite carol");
    root.expect("* invitation to #side sent to carol");
    carol.wait_for("* root invites you to #side: /join #side");

    root.send("/kick bob off topic");
    root.expect("* bob was kicked by root (off topic)");
    bob.wait_for("* bob was kicked by root (off topic)");
    bob.wait_for("* #lobby (2): bob (away), carol");
    carol.wait_for("* bob joined #lobby");

    root.send("/ban bob spam");
    root.expect_prefix("* bob is banned until ");
    carol.wait_for("* bob was banned (spam)");
    bob.wait_until("the ban", |line| {
        line.starts_with("! you are banned until ")
    });
    bob.expect_closed();
}

/// Sends `/history`; returns the text of its `= ` lines (after the time stamp).
fn history(client: &mut TestClient) -> Vec<String> {
    client.send("/history");
    let mut lines = Vec::new();
    loop {
        let line = client.line();
        let Some(past) = line.strip_prefix("= ") else {
            return lines;
        };
        lines.push(past.get(21..).unwrap_or(past).to_string());
    }
}

#[test]
fn names_history_mail_and_bans_are_kept_in_redis_for_every_instance() {
    let mut redis = Redis::start();
    let admin = ["--admin", "root"];
    let (mut a, b) = (instance(&redis, &admin), instance(&redis, &admin));
    // Registered on one instance, logged in on the other.
    let mut hana = common::registered_session(a.addr, "hana", "hana-password");
    hana.send("remember this");
    hana.sync();
    hana.send("/quit");
    hana.wait_for("* bye");
    let mut wrong = TestClient::connect(b.addr);
    wrong.send("hana not-her-password");
    wrong.expect("! wrong password for hana");
    // History written through one instance is replayed by the other, on joining and by
    // /history.
    let mut ivan = TestClient::join(b.addr, "ivan");
    ivan.wait_until("the replay", |line| line.ends_with(" hana: remember this"));
    ivan.send("/register hana-again");
    ivan.expect_prefix("* ivan is registered");
    assert!(
        history(&mut ivan).contains(&"hana: remember this".to_string()),
        "{}",
        ivan.transcript()
    );
    // A message left on one instance waits for its reader on the other.
    ivan.send("/msg hana see you later");
    ivan.expect("* hana is offline; they will get your message when they return");
    ivan.send("/seen hana");
    ivan.expect_prefix("* hana was last seen ");
    let mut hana = TestClient::connect(a.addr);
    hana.send("hana hana-password");
    hana.expect_prefix("* welcome hana");
    hana.wait_for("* 1 message arrived while you were away");
    let mail = hana.line();
    assert!(mail.ends_with(" ivan -> hana: see you later"), "{mail}");

    // A ban made on one instance keeps the name out of the other.
    let mut root = common::registered_session(b.addr, "root", "admin-pass-1");
    root.send("/ban mallory spam");
    let banned = root.wait_until("an answer", |line| !line.starts_with("= "));
    assert!(banned.starts_with("* mallory is banned until "), "{banned}");
    // (The other instance reloads its bans when the bus tells it, a moment later.)
    let mut last = String::new();
    let kept_out = eventually(Duration::from_secs(5), || {
        let mut mallory = TestClient::connect(a.addr);
        mallory.send("mallory");
        last = mallory.line();
        last.starts_with("! you are banned until ")
    });
    assert!(kept_out, "mallory got in: {last:?}; log:\n{}", a.stderr());

    // Everything is still there for an instance started after both stopped, one of them
    // killed (hana's, stopped, gave her name back at once).
    a.signal(Signal::TERM);
    b.signal(Signal::KILL);
    a.wait_exit(Duration::from_secs(10));
    let c = instance(&redis, &admin);
    let mut hana = TestClient::connect(c.addr);
    hana.send("hana hana-password");
    hana.expect_prefix("* welcome hana");
    assert!(
        history(&mut hana).contains(&"hana: remember this".to_string()),
        "{}",
        hana.transcript()
    );

    // Without Redis, logging in is refused, and says why; so is a new name (it can't be
    // claimed for the whole cluster), while hana's session goes on.
    redis.stop();
    for first in ["hana hana-password", "guest"] {
        let mut refused = TestClient::connect(c.addr);
        refused.send(first);
        refused.wait_for("! logging in needs the other servers, which are unreachable now");
    }
    hana.send("/who");
    hana.wait_until("a /who answer", |line| line.starts_with("* #lobby"));
}

#[test]
fn a_private_room_spans_instances_and_goes_when_its_last_member_anywhere_leaves() {
    let redis = Redis::start();
    let (a, b) = (instance(&redis, &[]), instance(&redis, &[]));
    let mut alice = TestClient::join(a.addr, "alice");
    let mut bob = TestClient::join(b.addr, "bob");
    let mut carol = TestClient::join(b.addr, "carol");
    wait_members(&mut alice, "* #lobby (3): alice, bob, carol");
    alice.send("/create #secret");
    let line = alice.wait_until("the link", |line| line.starts_with("* #secret is private"));
    let key = line
        .split_once("?key=")
        .map(|(_, key)| key.to_string())
        .unwrap_or_else(|| panic!("no key in {line:?}"));
    assert_eq!(redis.query("EXISTS chat:private:#secret"), ":1");

    // Through the other instance: only with the key.
    bob.send("/join #secret AAAAAAAAAAAAAAAAAAAAAA");
    bob.wait_for("! #secret is private: you need an invite");
    bob.send(&format!("/join #secret {key}"));
    bob.wait_for("* bob joined #secret");
    alice.wait_for("* bob joined #secret");
    wait_members(&mut bob, "* #secret (2): alice, bob");
    wait_members(&mut alice, "* #secret (2): alice, bob");
    alice.send("psst");
    bob.wait_for("alice: psst");
    bob.send("got it");
    alice.wait_for("bob: got it");
    alice.send("/topic only us");
    bob.wait_for("* alice set the topic of #secret: only us");
    // Nobody else sees it listed, or where its members are.
    carol.send("/rooms");
    let rooms = carol.wait_until("the rooms", |line| line.starts_with("* rooms: "));
    assert!(!rooms.contains("secret"), "{rooms}");
    carol.send("/whois alice");
    let whois = carol.wait_until("whois", |line| line.starts_with("* alice "));
    assert!(!whois.contains("secret"), "{whois}");

    // A joiner on the other instance gets its topic and its past.
    carol.send(&format!("/join #secret {key}"));
    carol.wait_for("* topic of #secret: only us");
    carol.wait_until("the replay", |line| line.ends_with(" alice: psst"));
    wait_members(&mut carol, "* #secret (3): alice, bob, carol");

    // A new key: members on both instances are told, and only it lets anyone in.
    alice.send("/rekey");
    let rekeyed = alice.wait_until("the new key", |line| {
        line.starts_with("* #secret has a new key; invite link: chat://")
    });
    let new_key = rekeyed
        .rsplit("?key=")
        .next()
        .unwrap_or_default()
        .to_string();
    assert_ne!(new_key, key);
    let told = bob.wait_until("the new key", |line| line.contains("has a new key"));
    assert!(told.ends_with(&format!("?key={new_key}")), "{told}");
    let mut erin = TestClient::join(b.addr, "erin");
    erin.send(&format!("/join #secret {key}"));
    erin.wait_for("! #secret is private: you need an invite");
    erin.send(&format!("/join #secret {new_key}"));
    erin.wait_for("* erin joined #secret");
    erin.send("/join #lobby");
    carol.wait_for("* erin left #secret");
    let key = new_key;

    // The owner leaving doesn't end it; the last member anywhere leaving does.
    alice.send("/join #lobby");
    bob.wait_for("* alice left #secret");
    bob.send("/join #lobby");
    carol.wait_for("* bob left #secret");
    assert_eq!(redis.query("EXISTS chat:private:#secret"), ":1");
    carol.send("/join #lobby");
    carol.wait_until("the lobby", |line| line.starts_with("* #lobby ("));
    let gone = eventually(Duration::from_secs(5), || {
        redis.query("EXISTS chat:private:#secret") == ":0"
            && redis.query("EXISTS chat:history:#secret") == ":0"
            && redis.query("EXISTS chat:topic:#secret") == ":0"
    });
    assert!(gone, "the room's keys are still in Redis");
    let mut dave = TestClient::join(a.addr, "dave");
    dave.send(&format!("/join #secret {key}"));
    dave.wait_for("! #secret is private: you need an invite");
}
