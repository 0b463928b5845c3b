//! Private rooms shared by link, owners, topics, kicks, and the admins' commands: real TCP
//! clients against an in-process server, and against a real `chat-server` process on a
//! data directory for what must survive a restart or stay out of the log and the disk.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use chat_server::Config;
use common::{
    Lines, ServerProcess, TestClient, eventually, start_server, start_server_with, test_config,
};

/// A private room as its creator was told of it.
struct Created {
    room: String,
    key: String,
    link: String,
}

/// `client` sends `/create [ROOM]`; returns what the server said of the new room, after
/// checking the creator is in it alone.
fn create(client: &mut TestClient, room: Option<&str>) -> Created {
    match room {
        Some(room) => client.send(&format!("/create {room}")),
        None => client.send("/create"),
    }
    let joined_prefix = format!("* {} joined #", client_name(client));
    let joined = client.wait_until(&joined_prefix, |line| line.starts_with(&joined_prefix));
    let room = joined.rsplit(' ').next().unwrap_or_default().to_string();
    client.expect(&format!("* {room} (1): {}", client_name(client)));
    let line = client.expect_prefix(&format!("* {room} is private; invite link: chat://"));
    let link = line.rsplit(' ').next().unwrap_or_default().to_string();
    let key = link
        .split_once("?key=")
        .map(|(_, key)| key.to_string())
        .unwrap_or_else(|| panic!("no key in {line:?}"));
    Created { room, key, link }
}

fn client_name(client: &TestClient) -> String {
    client.name.clone()
}

fn join_as(addr: SocketAddr, name: &str) -> TestClient {
    TestClient::join(addr, name)
}

/// A wrong key of the right shape.
const WRONG_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAA";

#[test]
fn a_private_room_is_joined_only_with_its_key_and_the_answer_never_tells_it_exists() {
    let server = start_server();
    let mut alice = join_as(server.addr, "alice");
    let mut bob = join_as(server.addr, "bob");
    alice.wait_for("* bob joined #lobby");
    let room = create(&mut alice, None);
    bob.wait_for("* alice left #lobby");

    // A random name: # and 8 of a-z0-9; a key of 22 URL-safe base64 characters.
    assert_eq!(room.room.len(), 9, "{}", room.room);
    assert!(
        room.room[1..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(room.key.len(), 22);
    assert!(
        room.key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(
        room.link,
        format!(
            "chat://{}/{}?key={}",
            server.addr,
            &room.room[1..],
            room.key
        )
    );

    let need_invite = |room: &str| format!("! {room} is private: you need an invite");
    bob.send(&format!("/join {}", room.room));
    bob.expect(&need_invite(&room.room));
    bob.send(&format!("/join {} {WRONG_KEY}", room.room));
    bob.expect(&need_invite(&room.room));
    // A room that doesn't exist gets the same answer when a key is given...
    bob.send(&format!("/join #nosuchroom {}", room.key));
    bob.expect(&need_invite("#nosuchroom"));
    // ... and is not made.
    bob.send("/rooms");
    bob.expect("* rooms: #lobby (1)");

    bob.send(&format!("/join {} {}", room.room, room.key));
    bob.expect(&format!("* bob joined {}", room.room));
    bob.expect(&format!("* {} (2): alice, bob", room.room));
    bob.expect(&format!(
        "* {} is private; invite link: {}",
        room.room, room.link
    ));
    alice.expect(&format!("* bob joined {}", room.room));

    // Only its members see it listed, marked private.
    bob.send("/rooms");
    // Sorted by name, as every list is.
    let mut listed = [
        format!("{} (2, private)", room.room),
        "#lobby (0)".to_string(),
    ];
    listed.sort();
    bob.expect(&format!("* rooms: {}", listed.join(", ")));
    let mut carol = join_as(server.addr, "carol");
    carol.send("/rooms");
    carol.expect("* rooms: #lobby (1)");
    carol.send("/rooms k");
    carol.expect("* rooms:");
    // From outside, /seen and /whois don't name it.
    carol.send("/seen alice");
    carol.expect("* alice is here");
    carol.send("/whois alice");
    let whois = carol.expect_prefix("* alice is not registered, in a private room, idle ");
    assert!(!whois.contains(&room.room), "{whois}");
    bob.send("/seen alice");
    bob.expect(&format!("* alice is here, in {}", room.room));
}

#[test]
fn invitations_carry_the_key_and_a_rekey_ends_the_old_links() {
    let server = start_server();
    let mut alice = join_as(server.addr, "alice");
    let room = create(&mut alice, Some("#plans"));
    assert_eq!(room.room, "#plans");

    let mut bob = join_as(server.addr, "bob");
    alice.send("/invite bob");
    alice.expect("* invitation to #plans sent to bob");
    bob.expect(&format!(
        "* alice invites you to #plans: /join #plans {}",
        room.key
    ));
    alice.send("/invite nobody");
    alice.expect("! no such user: \"nobody\"");
    // Alone, /invite repeats the link.
    alice.send("/invite");
    alice.expect(&format!("* #plans is private; invite link: {}", room.link));

    bob.send(&format!("/join #plans {}", room.key));
    bob.expect("* bob joined #plans");
    bob.expect("* #plans (2): alice, bob");
    bob.expect(&format!("* #plans is private; invite link: {}", room.link));
    alice.expect("* bob joined #plans");

    // Only the owner rekeys.
    bob.send("/rekey");
    bob.expect("! only the owner of #plans can do that");
    alice.send("/rekey");
    let line = alice.expect_prefix("* #plans has a new key; invite link: chat://");
    let new_key = line.rsplit("?key=").next().unwrap_or_default().to_string();
    assert_ne!(new_key, room.key);
    // Every member is told, so their clients can come back after a reconnect.
    bob.expect(&line);

    let mut carol = join_as(server.addr, "carol");
    carol.send(&format!("/join #plans {}", room.key));
    carol.expect("! #plans is private: you need an invite");
    carol.send(&format!("/join #plans {new_key}"));
    carol.expect("* carol joined #plans");

    // A chosen name that exists is refused; so is #lobby.
    let mut dave = join_as(server.addr, "dave");
    dave.send("/create #plans");
    dave.expect("! #plans exists; choose another name");
    dave.send("/create #LOBBY");
    dave.expect("! #LOBBY exists; choose another name");
    // In a public room, /invite sends no key.
    dave.send("/invite alice");
    dave.expect("* invitation to #lobby sent to alice");
    alice.wait_for("* dave invites you to #lobby: /join #lobby");
    dave.send("/invite");
    dave.expect("* #lobby is public: anyone can /join #lobby");
}

#[test]
fn a_private_room_keeps_its_history_in_memory_and_vanishes_when_empty() {
    let server = start_server();
    let mut alice = join_as(server.addr, "alice");
    let room = create(&mut alice, Some("#pop-up"));
    alice.send("first words");
    alice.send("/me waves");
    alice.expect("* alice waves");

    let mut bob = join_as(server.addr, "bob");
    bob.send(&format!("/join #pop-up {}", room.key));
    bob.expect("* bob joined #pop-up");
    bob.expect_replay("alice: first words");
    bob.expect_replay("* alice waves");
    bob.expect("* #pop-up (2): alice, bob");
    // A member is told the room's link, as its creator was.
    bob.expect(&format!("* #pop-up is private; invite link: {}", room.link));
    bob.send("/history 10");
    bob.expect_replay("alice: first words");
    bob.expect_replay("* alice waves");
    bob.expect("* history of #pop-up: 2 lines");

    alice.send("/join #lobby");
    alice.wait_for("* #lobby (1): alice");
    bob.wait_for("* bob now owns #pop-up");
    bob.send("/quit");
    bob.wait_for("* bye");

    // Gone with its key: the old key opens nothing, and the name is free for a public room
    // that has none of the private room's lines.
    alice.send("/rooms");
    alice.expect("* rooms: #lobby (1)");
    alice.send(&format!("/join #pop-up {}", room.key));
    alice.expect("! #pop-up is private: you need an invite");
    alice.send("/join #pop-up");
    alice.expect("* alice joined #pop-up");
    alice.expect("* #pop-up (1): alice");
    alice.send("/history");
    alice.expect("* history of #pop-up: nothing stored");
}

#[test]
fn ownership_passes_to_the_longest_present_member() {
    let server = start_server();
    let mut alice = join_as(server.addr, "alice");
    let room = create(&mut alice, None);
    let mut enter = |name: &str| {
        let mut client = join_as(server.addr, name);
        client.send(&format!("/join {} {}", room.room, room.key));
        client.wait_for(&format!("* {name} joined {}", room.room));
        alice.wait_for(&format!("* {name} joined {}", room.room));
        client
    };
    let mut bob = enter("bob");
    let mut carol = enter("carol");
    bob.wait_for(&format!("* carol joined {}", room.room));

    alice.send("/quit");
    alice.wait_for("* bye");
    bob.expect("* alice quit");
    bob.expect(&format!("* bob now owns {}", room.room));
    carol.wait_for(&format!("* bob now owns {}", room.room));

    carol.send("/rekey");
    carol.expect(&format!("! only the owner of {} can do that", room.room));
    bob.send("/rekey");
    bob.expect_prefix(&format!("* {} has a new key; invite link: ", room.room));
    // The owner's new name keeps the room.
    bob.send("/nick robert");
    bob.expect("* bob is now robert");
    bob.send("/topic renamed owner");
    bob.expect(&format!(
        "* robert set the topic of {}: renamed owner",
        room.room
    ));
}

#[test]
fn topics_are_shown_to_joiners_and_only_a_private_rooms_owner_sets_its_topic() {
    let server = start_server();
    let mut alice = join_as(server.addr, "alice");
    alice.send("/join #dev");
    alice.wait_for("* #dev (1): alice");
    alice.send("/topic");
    alice.expect("* #dev has no topic");
    alice.send("/topic release on Friday");
    alice.expect("* alice set the topic of #dev: release on Friday");

    let mut bob = join_as(server.addr, "bob");
    bob.send("/join #dev");
    bob.expect("* bob joined #dev");
    bob.expect("* topic of #dev: release on Friday");
    bob.expect("* #dev (2): alice, bob");
    // Anyone in a public room sets its topic.
    bob.send("/topic -");
    bob.expect("* bob cleared the topic of #dev");
    alice.wait_for("* bob cleared the topic of #dev");
    alice.send("/topic");
    alice.expect("* #dev has no topic");

    let room = create(&mut alice, Some("#inner"));
    bob.wait_for("* alice left #dev");
    alice.send("/topic owners only");
    alice.expect("* alice set the topic of #inner: owners only");
    bob.send(&format!("/join #inner {}", room.key));
    bob.expect("* bob joined #inner");
    bob.expect("* topic of #inner: owners only");
    bob.expect("* #inner (2): alice, bob");
    bob.expect_prefix("* #inner is private; invite link: ");
    bob.send("/topic mine now");
    bob.expect("! only the owner of #inner can do that");
}

#[test]
fn the_owner_kicks_to_the_lobby_and_a_kicked_user_needs_the_new_key_after_a_rekey() {
    let server = start_server();
    let mut alice = join_as(server.addr, "alice");
    let room = create(&mut alice, Some("#club"));
    let mut bob = join_as(server.addr, "bob");
    bob.send(&format!("/join #club {}", room.key));
    bob.wait_for("* #club (2): alice, bob");
    bob.expect(&format!("* #club is private; invite link: {}", room.link));
    alice.wait_for("* bob joined #club");

    bob.send("/kick alice");
    bob.expect("! only the owner of #club can do that");
    alice.send("/kick nobody");
    alice.expect("! nobody is not in #club");
    alice.send("/kick bob spamming links");
    alice.expect("* bob was kicked by alice (spamming links)");
    bob.expect("* bob was kicked by alice (spamming links)");
    bob.expect("* bob joined #lobby");
    bob.expect("* #lobby (1): bob");

    // Back with the key, until the owner rekeys.
    bob.send(&format!("/join #club {}", room.key));
    bob.expect("* bob joined #club");
    alice.wait_for("* bob joined #club");
    alice.send("/kick bob");
    alice.expect("* bob was kicked by alice");
    bob.wait_for("* #lobby (1): bob");
    alice.send("/rekey");
    alice.expect_prefix("* #club has a new key");
    bob.send(&format!("/join #club {}", room.key));
    bob.expect("! #club is private: you need an invite");

    // In a public room only an admin kicks.
    alice.send("/join #lobby");
    alice.wait_for("* #lobby (2): alice, bob");
    alice.send("/kick bob");
    alice.expect("! only a server admin can do that");
}

#[test]
fn five_wrong_keys_close_the_connection() {
    let server = start_server();
    let mut alice = join_as(server.addr, "alice");
    let room = create(&mut alice, None);
    let mut mallory = join_as(server.addr, "mallory");
    for attempt in 0..4 {
        let guess = format!("{WRONG_KEY}{attempt}");
        mallory.send(&format!("/join {} {guess}", room.room));
        mallory.expect(&format!("! {} is private: you need an invite", room.room));
    }
    // An unknown room counts alike.
    mallory.send(&format!("/join #guess {WRONG_KEY}"));
    mallory.expect("! #guess is private: you need an invite");
    mallory.expect("! too many wrong keys, closing");
    mallory.expect_closed();
    // Joining without a key is not a guess.
    let mut eve = join_as(server.addr, "eve");
    for _ in 0..6 {
        eve.send(&format!("/join {}", room.room));
        eve.expect(&format!("! {} is private: you need an invite", room.room));
    }
    eve.send("/who");
    eve.expect("* #lobby (1): eve");
}

/// A config whose admin is `root`.
fn admin_config() -> Config {
    Config {
        admins: vec!["root".to_string()],
        ..test_config()
    }
}

#[test]
fn admin_commands_need_an_admin_logged_in_with_the_password() {
    let server = start_server_with(admin_config());
    let mut bob = join_as(server.addr, "bob");
    for command in ["/ban carol", "/unban carol", "/bans", "/stats", "/wall hi"] {
        bob.send(command);
        bob.expect("! only a server admin can do that");
    }
    // The admin name is no admin without its password, nor in the session that registers
    // it: whoever registers it first must not become an admin by doing so.
    let mut fake = join_as(server.addr, "root");
    fake.send("/stats");
    fake.expect("! only a server admin can do that");
    fake.send("/register admin-pass-1");
    fake.expect_prefix("* root is registered");
    fake.send("/stats");
    fake.expect("! only a server admin can do that");
    fake.send("/quit");
    fake.wait_for("* bye");

    let mut root = TestClient::connect(server.addr);
    root.send("root admin-pass-1");
    root.expect_prefix("* welcome root, you are in #lobby");
    root.send("/stats");
    let stats = root.expect_prefix("* stats: clients 2, rooms 1, lines/s ");
    for part in [
        " (last minute), uptime ",
        ", memory ",
        " MiB, store in memory, connections ",
        ", refused 0",
    ] {
        assert!(stats.contains(part), "{part:?} missing from {stats}");
    }

    root.send("/wall maintenance at noon");
    root.expect("* root to everyone: maintenance at noon");
    bob.wait_for("* root to everyone: maintenance at noon");

    // An admin kicks in any room; from #lobby that means off the server.
    bob.send("/join #side");
    bob.wait_for("* #side (1): bob");
    root.send("/join #side");
    root.wait_for("* #side (2): bob, root");
    root.send("/kick bob off topic");
    root.expect("* bob was kicked by root (off topic)");
    bob.wait_for("* #lobby (1): bob");
    root.send("/join #lobby");
    root.wait_for("* #lobby (2): bob, root");
    root.send("/kick bob");
    root.expect("* bob was kicked by root");
    bob.wait_for("* bob was kicked by root");
    bob.expect_closed();

    root.send("/bans");
    root.expect("* no bans");
    root.send("/unban 192.0.2.1");
    root.expect("! 192.0.2.1 is not banned");
    // A word that isn't a duration starts the reason; the default is an hour.
    root.send("/ban bad name here");
    let line = root.expect_prefix("* bad is banned until ");
    assert!(line.ends_with(" (name here)"), "{line}");
    root.send("/bans");
    root.expect(&line);
    root.expect("* 1 ban");
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Connects from `source` and expects to be refused as banned, with `reason`.
fn refused_from(source: IpAddr, addr: SocketAddr, reason: &str) {
    let stream = common::connect_from(source, addr);
    let (bytes, _) = common::drain_until_closed(&stream);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("! you are banned until ") && text.ends_with(&format!(" ({reason})\n")),
        "from {source}: {text:?}"
    );
}

/// Connects from `source` and sends `name`; returns the client.
fn hello_from(source: IpAddr, addr: SocketAddr, line: &str) -> TestClient {
    let mut client = TestClient::connect_from(source, addr);
    client.send(line);
    client
}

#[test]
fn bans_close_the_user_refuse_name_and_address_survive_a_restart_and_expire() {
    let dir = tempdir("bans");
    let data_dir = dir.to_str().expect("utf-8 path");
    let args = ["--data-dir", data_dir, "--admin", "root"];
    let server = ServerProcess::start(&args);
    let mut root = common::registered_session(server.addr, "root", "admin-pass-1");
    let mut bob = hello_from(loopback(5), server.addr, "bob");
    bob.expect_prefix("* welcome bob");
    root.wait_for("* bob joined #lobby");
    let mut bobs_friend = hello_from(loopback(5), server.addr, "friend");
    bobs_friend.expect_prefix("* welcome friend");

    root.send("/ban bob 2h spamming");
    root.wait_for("* bob was banned (spamming)");
    let name_line = root.expect_prefix("* bob is banned until ");
    assert!(name_line.ends_with(" (spamming)"), "{name_line}");
    root.expect_prefix("* 127.0.0.5 is banned until ");
    bob.wait_for("* bob was banned (spamming)");
    let told = bob.expect_prefix("! you are banned until ");
    assert!(told.ends_with(" (spamming)"), "{told}");
    bob.expect_closed();
    // The open connection from the same address stays.
    bobs_friend.send("/who");
    bobs_friend.wait_for("* #lobby (2): friend, root");

    // New connections from the address, and the name from anywhere, are refused.
    refused_from(loopback(5), server.addr, "spamming");
    let mut renamed = hello_from(loopback(6), server.addr, "BOB");
    renamed.expect_prefix("! you are banned until ");
    renamed.expect_closed();
    let mut nick = hello_from(loopback(6), server.addr, "carol");
    nick.expect_prefix("* welcome carol");
    nick.send("/nick bob");
    nick.expect_prefix("! you are banned until ");
    nick.expect_closed();

    root.send("/ban 127.0.0.7 0 open proxy");
    root.wait_for("* 127.0.0.7 is banned until further notice (open proxy)");
    root.send("/ban 127.0.0.8 2s");
    root.expect_prefix("* 127.0.0.8 is banned until ");
    drop(root);

    // SIGKILL: nothing is lost that was answered.
    let mut server = server;
    server.signal(rustix::process::Signal::KILL);
    server.wait_exit(Duration::from_secs(10));
    let server = ServerProcess::start(&args);
    refused_from(loopback(7), server.addr, "open proxy");
    refused_from(loopback(5), server.addr, "spamming");
    // The short ban runs out.
    let expired = eventually(Duration::from_secs(15), || {
        let stream = common::connect_from(loopback(8), server.addr);
        let mut client = TestClient::from_stream(stream);
        client
            .recv()
            .is_some_and(|line| line.starts_with("* hello"))
    });
    assert!(expired, "the 2 s ban on 127.0.0.8 never ran out");

    let mut root = TestClient::connect(server.addr);
    root.send("root admin-pass-1");
    root.expect_prefix("* welcome root");
    root.send("/bans");
    root.expect_prefix("* bob is banned until ");
    root.expect_prefix("* 127.0.0.5 is banned until ");
    root.expect("* 127.0.0.7 is banned until further notice (open proxy)");
    root.expect("* 3 bans");
    // Lifting the name lifts its address.
    root.send("/unban BOB");
    root.expect("* BOB is no longer banned");
    root.send("/unban bob");
    root.expect("! bob is not banned");
    let mut back = hello_from(loopback(5), server.addr, "bob");
    back.expect_prefix("* welcome bob");
    root.send("/unban 127.0.0.7");
    root.wait_for("* 127.0.0.7 is no longer banned");
    root.send("/bans");
    root.expect("* no bans");
}

#[test]
fn topics_of_public_rooms_survive_a_restart_and_private_rooms_leave_no_trace() {
    let dir = tempdir("private");
    let data_dir = dir.to_str().expect("utf-8 path");
    let args = ["--data-dir", data_dir];
    let mut server = ServerProcess::start(&args);
    let mut alice = join_as(server.addr, "alice");
    alice.send("/topic welcome, be kind");
    alice.expect("* alice set the topic of #lobby: welcome, be kind");
    alice.send("/join #dev");
    alice.wait_for("* #dev (1): alice");
    alice.send("/topic builds are green");
    alice.expect("* alice set the topic of #dev: builds are green");
    alice.send("a public line");

    let room = create(&mut alice, Some("#hushhush"));
    let random = {
        let mut bob = join_as(server.addr, "bob");
        let random = create(&mut bob, None);
        bob.send("whispered-secret-words");
        bob.send("/topic secret-topic-words");
        bob.expect_prefix("* bob set the topic of");
        random
    };
    alice.send("private-chat-words");
    alice.send("/me does-private-things");
    alice.expect("* alice does-private-things");
    alice.send("/invite");
    alice.expect_prefix("* #hushhush is private");
    alice.send("/quit");
    alice.wait_for("* bye");

    // A clean stop writes everything out; then the files can be read whole.
    server.signal(rustix::process::Signal::TERM);
    server.wait_exit(Duration::from_secs(10));
    let log = server.stderr();
    let secrets = [
        "hushhush",
        &room.key,
        &random.room[1..],
        &random.key,
        "whispered-secret-words",
        "secret-topic-words",
        "private-chat-words",
        "does-private-things",
    ];
    for secret in secrets {
        assert!(!log.contains(secret), "the log has {secret:?}:\n{log}");
        for (file, bytes) in files_in(&dir) {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{} has {secret:?}",
                file.display()
            );
        }
    }
    assert!(
        files_in(&dir)
            .iter()
            .any(|(_, bytes)| contains(bytes, b"builds are green")),
        "the public topic was not stored"
    );

    let server = ServerProcess::start(&args);
    let mut carol = TestClient::connect(server.addr);
    carol.send("carol");
    carol.expect_prefix("* welcome carol, you are in #lobby");
    carol.expect("* topic of #lobby: welcome, be kind");
    carol.send("/join #dev");
    carol.expect("* carol joined #dev");
    carol.expect("* topic of #dev: builds are green");
    carol.expect_replay("alice: a public line");
    carol.expect("* #dev (1): carol");
    carol.send("/topic -");
    carol.expect("* carol cleared the topic of #dev");
}

/// A fresh directory under the target directory, removed first if a run left it.
fn tempdir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-rooms-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a temporary directory");
    dir
}

/// Every file under `dir`, with its bytes.
fn files_in(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_in(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            files.push((path, bytes));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
