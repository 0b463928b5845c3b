//! Registered names and what the server keeps for people: every password path of the
//! handshake and of the commands, taking a name back from a ghost, messages left for
//! someone who is away, `/seen`, `/away`, `/whois`. Real TCP clients against an
//! in-process server (its store in memory).

mod common;

use std::time::{Duration, Instant};

use common::{Lines, TestClient, pair, start_server};

/// Registers alice's name with `password` and leaves.
fn register(addr: std::net::SocketAddr, name: &str, password: &str) {
    let mut client = TestClient::join(addr, name);
    client.send(&format!("/register {password}"));
    client.expect(&format!(
        "* {name} is registered; from now on connect with \"{name} PASSWORD\""
    ));
    client.send("/quit");
    client.wait_for("* bye");
}

/// Connects and sends `line` as the first line; returns the client.
fn hello(addr: std::net::SocketAddr, line: &str) -> TestClient {
    let mut client = TestClient::connect(addr);
    client.send(line);
    client
}

#[test]
fn a_registered_name_needs_its_password_and_three_wrong_ones_close() {
    let server = start_server();
    register(server.addr, "alice", "correct-horse");

    let mut client = hello(server.addr, "alice");
    client.expect("! alice is registered: send \"alice PASSWORD\"");
    // A bare name is not a wrong password: the connection stays.
    client.send("alice");
    client.expect("! alice is registered: send \"alice PASSWORD\"");
    client.send("alice wrong-one");
    client.expect("! wrong password for alice");
    client.send("alice wrong-two");
    client.expect("! wrong password for alice");
    client.send("alice wrong-three");
    client.expect("! too many wrong passwords, closing");
    client.expect_closed();

    let mut right = hello(server.addr, "ALICE correct-horse");
    right.expect_prefix("* welcome ALICE, you are in #lobby");
}

#[test]
fn wrong_passwords_slow_down_further_tries_for_that_name_from_anywhere() {
    let server = start_server();
    register(server.addr, "bob", "hunter2-hunter2");
    for guess in 0..3 {
        let mut client = hello(server.addr, &format!("bob guess{guess}"));
        client.expect("! wrong password for bob");
    }
    // After three wrong guesses the next one waits about a second (250 ms, doubling).
    let started = Instant::now();
    let mut client = hello(server.addr, "bob hunter2-hunter2");
    client.expect_prefix("* welcome bob");
    let waited = started.elapsed();
    eprintln!("the fourth try waited {waited:?}");
    assert!(
        waited >= Duration::from_millis(900),
        "waited only {waited:?}"
    );
}

#[test]
fn a_password_for_a_name_nobody_registered_is_refused_and_the_handshake_goes_on() {
    let server = start_server();
    // The password is never echoed back, not even to whoever sent it.
    let mut client = hello(server.addr, "carol secret-pass");
    client.expect(
        "! invalid name \"carol …\": it contains a space; use 1-32 letters, digits, _ or -",
    );
    client.send("bad! secret-pass");
    client.expect("! invalid name \"bad!\": it contains '!'; use 1-32 letters, digits, _ or -");
    client.send("carol");
    client.expect_prefix("* welcome carol");
}

#[test]
fn passwords_are_checked_when_registered_changed_and_dropped() {
    let server = start_server();
    let mut dave = TestClient::join(server.addr, "dave");
    dave.send("/register short");
    dave.expect("! a password needs at least 8 characters and no spaces");
    dave.send("/register first-pass");
    dave.expect("* dave is registered; from now on connect with \"dave PASSWORD\"");
    dave.send("/register again-pass");
    dave.expect("! dave is already registered");
    dave.send("/password wrong-pass second-pass");
    dave.expect("! wrong password for dave");
    dave.send("/password first-pass tiny");
    dave.expect("! a password needs at least 8 characters and no spaces");
    dave.send("/password first-pass second-pass");
    dave.expect("* the password of dave is changed");
    dave.send("/quit");
    dave.wait_for("* bye");

    let mut old = hello(server.addr, "dave first-pass");
    old.expect("! wrong password for dave");
    old.send("dave second-pass");
    old.expect_prefix("* welcome dave");
    old.send("/unregister first-pass");
    old.expect("! wrong password for dave");
    old.send("/unregister second-pass");
    old.expect("* dave is no longer registered");
    old.send("/unregister second-pass");
    old.expect("! dave is not registered");
}

#[test]
fn a_registered_name_is_taken_with_nick_and_its_password() {
    let server = start_server();
    register(server.addr, "erin", "erin-password");
    let mut frank = TestClient::join(server.addr, "frank");
    frank.send("/nick erin");
    frank.expect("! erin is registered: send \"erin PASSWORD\"");
    frank.send("/nick erin not-it-at-all");
    frank.expect("! wrong password for erin");
    frank.send("/nick erin erin-password");
    frank.expect("* frank is now erin");
}

#[test]
fn a_ghost_gives_the_name_back_to_its_owner_with_one_notice_to_the_room() {
    let server = start_server();
    register(server.addr, "gina", "gina-password");
    let mut watcher = TestClient::join(server.addr, "watcher");
    let mut ghost = hello(server.addr, "gina gina-password");
    ghost.expect_prefix("* welcome gina");
    watcher.expect("* gina joined #lobby");
    ghost.send("/join dev");
    ghost.wait_for("* #dev (1): gina");
    watcher.expect("* gina left #lobby");
    watcher.send("/join dev");
    watcher.wait_for("* #dev (2): gina, watcher");
    ghost.wait_for("* watcher joined #dev");

    // The laptop dropped: its connection is still open. She logs in again elsewhere.
    let mut back = hello(server.addr, "gina gina-password");
    back.expect("* welcome gina, you are in #dev (2): gina, watcher");
    ghost.expect("! gina logged in from elsewhere");
    ghost.expect_closed();
    watcher.expect("* gina reconnected");
    back.send("still me");
    watcher.expect("gina: still me");
    // The ghost's end leaves nothing: no quit notice, and gina is still there.
    watcher.send("/who");
    watcher.expect("* #dev (2): gina, watcher");
}

#[test]
fn a_message_to_a_registered_user_who_is_away_waits_for_them() {
    let server = start_server();
    register(server.addr, "hana", "hana-password");
    let mut ivan = TestClient::join(server.addr, "ivan");
    ivan.send("/msg hana are you there?");
    ivan.expect("* hana is offline; they will get your message when they return");
    ivan.send("/msg hana second one");
    ivan.expect("* hana is offline; they will get your message when they return");
    ivan.send("/msg nobody hello");
    ivan.expect("! no such user: \"nobody\"");

    let mut hana = hello(server.addr, "hana hana-password");
    hana.expect_prefix("* welcome hana");
    hana.expect("* 2 messages arrived while you were away");
    for text in ["are you there?", "second one"] {
        let line = hana.line();
        let past = line.strip_prefix("= ").and_then(|rest| rest.get(21..));
        assert_eq!(past, Some(&*format!("ivan -> hana: {text}")), "{line}");
    }
    hana.send("/quit");
    hana.wait_for("* bye");
    // Taken once: the next login has nothing waiting.
    let mut again = hello(server.addr, "hana hana-password");
    again.expect_prefix("* welcome hana");
    again.send("/who");
    again.expect_prefix("* #lobby");
    again.send("/quit");
    again.wait_for("* bye");

    // Logging in with /nick NAME PASSWORD gets what waits too.
    ivan.wait_for("* hana quit");
    ivan.send("/msg hana third");
    ivan.wait_for("* hana is offline; they will get your message when they return");
    let mut guest = TestClient::join(server.addr, "guest");
    guest.send("/nick hana hana-password");
    guest.expect("* guest is now hana");
    guest.expect("* 1 message arrived while you were away");
    let line = guest.line();
    assert!(line.ends_with(" ivan -> hana: third"), "{line}");
}

#[test]
fn a_mailbox_holds_a_hundred_messages() {
    let server = start_server();
    register(server.addr, "jack", "jack-password");
    let mut kim = TestClient::join(server.addr, "kim");
    for number in 0..100 {
        kim.send(&format!("/msg jack note {number}"));
        kim.expect("* jack is offline; they will get your message when they return");
    }
    kim.send("/msg jack one too many");
    kim.expect("! jack's mailbox is full");
}

#[test]
fn seen_says_who_is_here_who_was_and_who_never_came() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    alice.send("/seen bob");
    alice.expect("* bob is here, in #lobby");
    bob.send("/quit");
    bob.wait_for("* bye");
    alice.wait_for("* bob quit");
    alice.send("/seen BOB");
    let line = alice.line();
    let rest = line.strip_prefix("* bob was last seen ").expect(&line);
    assert!(
        chat_protocol::UtcTime::parse(&rest[..20]).is_some() && rest.ends_with("(just now)"),
        "{line}"
    );
    alice.send("/seen zed");
    alice.expect("! nobody called zed has been seen");
}

#[test]
fn away_answers_private_messages_once_and_shows_in_who_and_whois() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    bob.send("/away lunch");
    bob.expect("* you are away: lunch");
    alice.send("/msg bob one");
    bob.expect("alice -> bob: one");
    alice.expect("alice -> bob: one");
    alice.expect("* bob is away: lunch");
    alice.send("/msg bob two");
    bob.expect("alice -> bob: two");
    alice.expect("alice -> bob: two");
    // Told once per absence: the next line is the answer to /who.
    alice.send("/who");
    alice.expect("* #lobby (2): alice, bob (away)");
    alice.send("/whois bob");
    let whois = alice.line();
    assert!(
        whois.starts_with("* bob is not registered, in #lobby, idle ")
            && whois.contains(", connected since ")
            && whois.ends_with(", away: lunch"),
        "{whois}"
    );
    bob.send("/back");
    bob.expect("* you are back");
    alice.send("/msg bob three");
    alice.expect("alice -> bob: three");
    alice.send("/whois nobody");
    alice.expect("! no such user: \"nobody\"");
}

#[test]
fn a_look_alike_of_a_registered_name_is_refused_even_while_its_owner_is_away() {
    let server = start_server();
    register(server.addr, "alice", "alice-password");
    let mut client = hello(server.addr, "ａｌｉｃｅ");
    client.expect("! name \"ａｌｉｃｅ\" is too much like \"alice\", choose another");
}

#[test]
fn passwords_never_reach_the_log_but_wrong_tries_do_with_the_address() {
    let mut server = common::ServerProcess::start(&["--flood-rate", "0"]);
    register(server.addr, "lena", "lena-secret-1");
    let mut client = hello(server.addr, "lena lena-guess-2");
    client.expect("! wrong password for lena");
    client.send("lena lena-secret-1");
    client.expect_prefix("* welcome lena");
    client.send("/password lena-secret-1 lena-secret-3");
    client.expect("* the password of lena is changed");
    client.send("/nick lena2 lena-guess-4");
    client.expect_prefix("! invalid name \"lena2 …\": it contains a space");
    server.wait_log("127.0.0.1");
    let log = server.wait_log("wrong password for lena");
    assert!(log.contains("127.0.0.1"), "{log}");
    server.signal(rustix::process::Signal::TERM);
    let log = server.wait_exit(common::TIMEOUT).stderr;
    for secret in [
        "lena-secret-1",
        "lena-guess-2",
        "lena-secret-3",
        "lena-guess-4",
    ] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}
