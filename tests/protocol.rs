//! Protocol-level tests: real clients against an in-process server on port 0, each one run
//! three times: over plain TCP (`NAME::plain`), TLS (`NAME::tls`) and the web port's
//! WebSocket (`NAME::web`).

mod common;

use common::{Lines, TestClient, pair, room_of, start_server};

crate::both_transports! {
fn newcomer_is_welcomed_and_announced() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    let mut bob = TestClient::connect(server.addr);
    bob.send("bob");
    bob.expect("* welcome bob, you are in #lobby (2): alice, bob");
    alice.expect("* bob joined #lobby");
}

fn chat_reaches_the_room_but_not_the_sender() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);

    alice.send("hello bob");
    bob.expect("alice: hello bob");
    bob.send("hi alice");
    // Had alice's own line come back to her, it would arrive before bob's.
    alice.expect("bob: hi alice");
}

fn taken_names_are_refused_ignoring_case_and_another_name_can_follow() {
    let server = start_server();
    let _alice = TestClient::join(server.addr, "alice");
    let mut other = TestClient::connect(server.addr);
    other.send("alice");
    other.expect("! name \"alice\" is taken, choose another");
    other.send("ALICE");
    other.expect("! name \"ALICE\" is taken, choose another");
    other.send("carol");
    other.expect("* welcome carol, you are in #lobby (2): alice, carol");
}

fn invalid_names_say_why_and_the_connection_stays_open() {
    let server = start_server();
    let mut client = TestClient::connect(server.addr);
    let rule = "use 1-32 letters, digits, _ or -";
    client.send("a b");
    client.expect(&format!(
        "! invalid name \"a …\": it contains a space; {rule}"
    ));
    client.send(&"x".repeat(33));
    client.expect(&format!(
        "! invalid name \"{}\": it is longer than 32 characters; {rule}",
        "x".repeat(33)
    ));
    client.send("😀");
    client.expect(&format!("! invalid name \"😀\": it contains '😀'; {rule}"));
    client.send("#lobby");
    client.expect(&format!(
        "! invalid name \"#lobby\": it contains '#'; {rule}"
    ));
    // An empty line is not a name attempt.
    client.send("");
    client.send(&"x".repeat(32));
    client.expect_prefix(&format!("* welcome {}, you are in #lobby", "x".repeat(32)));
}

fn korean_and_other_unicode_names_work() {
    let server = start_server();
    let [mut minsu, mut emile] = room_of(server.addr, ["민수", "Émile_2"]);
    emile.send("안녕하세요");
    minsu.expect("Émile_2: 안녕하세요");
    minsu.send("/msg émile_2 bonjour");
    emile.expect("민수 -> Émile_2: bonjour");
}

fn who_and_members_list_the_room_sorted() {
    let server = start_server();
    let [mut carol, _alice, _bob] = room_of(server.addr, ["carol", "Alice", "bob"]);
    carol.send("/who");
    carol.expect("* #lobby (3): Alice, bob, carol");
    carol.send("/members");
    carol.expect("* #lobby (3): Alice, bob, carol");
}

fn private_messages_reach_only_their_target_and_confirm_to_the_sender() {
    let server = start_server();
    let [mut alice, mut bob, mut carol] = room_of(server.addr, ["alice", "bob", "carol"]);

    alice.send("/msg bob the secret");
    bob.expect("alice -> bob: the secret");
    alice.expect("alice -> bob: the secret");
    alice.send("/w BOB two");
    bob.expect("alice -> bob: two");
    alice.expect("alice -> bob: two");
    alice.send("/whisper bob three");
    bob.expect("alice -> bob: three");
    alice.expect("alice -> bob: three");

    // carol's next line is bob's public one: none of the whispers reached her.
    bob.send("public");
    carol.expect("bob: public");
}

fn private_message_errors() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    alice.send("/msg nobody hello");
    alice.expect("! no such user: \"nobody\"");
    alice.send("/msg alice note to self");
    alice.expect("alice -> alice: note to self");
    alice.send("/msg bob");
    alice.expect("! usage: /msg NAME TEXT");
    alice.send("/msg");
    alice.expect("! usage: /msg NAME TEXT");
}

fn rename_is_seen_by_the_room_and_frees_the_old_name() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);

    alice.send("/nick alicia");
    alice.expect("* alice is now alicia");
    bob.expect("* alice is now alicia");
    alice.send("hi");
    bob.expect("alicia: hi");

    let mut new_alice = TestClient::join(server.addr, "alice");
    new_alice.expect_replay("alicia: hi");
    new_alice.send("/nick BOB");
    new_alice.expect("! name \"BOB\" is taken, choose another");
    new_alice.send("/nick");
    new_alice.expect("! usage: /nick NEW [PASSWORD]");
    new_alice.send("/nick alice");
    new_alice.expect("! you are already called alice");
    new_alice.send("/nick Alice");
    new_alice.expect("* alice is now Alice");
    new_alice.send("/nick bad name");
    new_alice.expect(
        "! invalid name \"bad …\": it contains a space; use 1-32 letters, digits, _ or -",
    );
    new_alice.send("/who");
    new_alice.expect("* #lobby (3): Alice, alicia, bob");
}

fn rooms_isolate_chat_and_disappear_when_empty() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);

    alice.send("/join dev");
    alice.expect("* alice joined #dev");
    alice.expect("* #dev (1): alice");
    bob.expect("* alice left #lobby");

    bob.send("lobby only");
    alice.send("/rooms");
    // alice's next line is the /rooms answer: bob's lobby chat never reached #dev.
    alice.expect("* rooms: #dev (1), #lobby (1)");

    bob.send("/join #dev");
    bob.expect("* bob joined #dev");
    bob.expect("* #dev (2): alice, bob");
    alice.expect("* bob joined #dev");
    bob.send("in dev");
    alice.expect("bob: in dev");

    alice.send("/join #dev");
    alice.expect("! you are already in #dev");
    alice.send("/join bad room");
    alice.expect(
        "! invalid room name \"bad room\": it contains a space; use 1-32 letters, digits, _ or -",
    );
    alice.send("/join");
    alice.expect("! usage: /join ROOM [KEY]");

    alice.send("/join lobby");
    alice.expect("* alice joined #lobby");
    alice.expect_replay("bob: lobby only");
    alice.expect("* #lobby (1): alice");
    bob.expect("* alice left #dev");
    bob.send("/join LOBBY");
    bob.expect("* bob joined #lobby");
    bob.expect_replay("bob: lobby only");
    bob.expect("* #lobby (2): alice, bob");
    bob.send("/rooms");
    bob.expect("* rooms: #lobby (2)");
}

fn lobby_is_listed_even_when_empty() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    alice.send("/join attic");
    alice.expect("* alice joined #attic");
    alice.expect("* #attic (1): alice");
    alice.send("/rooms");
    alice.expect("* rooms: #attic (1), #lobby (0)");
}

fn me_is_shown_to_the_whole_room() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    alice.send("/me waves hello");
    alice.expect("* alice waves hello");
    bob.expect("* alice waves hello");
    alice.send("/me");
    alice.expect("! usage: /me ACTION");
}

fn me_cannot_forge_server_notices() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    for forged in [
        "quit (too slow)",
        "quit",
        "is now carol",
        "left #lobby",
        "joined #dev",
    ] {
        alice.send(&format!("/me {forged}"));
        alice.expect("! /me can't look like a server notice");
    }
    alice.send("/me is nowhere to be seen");
    bob.expect("* alice is nowhere to be seen");
}

fn help_lists_every_command() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    alice.send("/help");
    let mut help = Vec::new();
    for _ in 0..chat_protocol::HELP.len() {
        help.push(alice.expect_prefix("* /"));
    }
    let help = help.join("\n");
    for command in [
        "/who", "/members", "/msg", "/w", "/whisper", "/nick", "/join", "/rooms", "/me", "/quit",
        "/exit", "/종료", "/help", "//",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

fn unknown_commands_point_to_help() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    alice.send("/dance wildly");
    alice.expect("! unknown command /dance (try /help)");
}

fn double_slash_sends_a_line_starting_with_slash() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    alice.send("//shrug");
    bob.expect("alice: /shrug");
}

fn control_characters_are_stripped_from_chat() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    alice.send_raw(b"\x1b[2J\x1b[31mred\x07 and\ttab\x7f \xc2\x9bcsi\n");
    bob.expect("alice: [2J[31mred and\ttab csi");
    alice.send("/me \x1b]0;pwned\x07dances");
    bob.expect("* alice ]0;pwneddances");
    alice.send("/msg bob \x1bsecret");
    bob.expect("alice -> bob: secret");
    // A line of nothing but controls is empty once they are gone, and is ignored.
    alice.send("\x1b\x1b");
    alice.send("after");
    bob.expect("alice: after");
}

fn empty_lines_are_ignored_and_crlf_accepted() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    alice.send_raw(b"\n\r\n   \nwindows line\r\n");
    bob.expect("alice: windows line");
}

fn name_and_lines_can_arrive_in_one_packet() {
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let mut alice = TestClient::connect(server.addr);
    alice.send_raw(b"alice\nfirst\nsecond\n");
    alice.expect_prefix("* welcome alice");
    bob.expect("* alice joined #lobby");
    bob.expect("alice: first");
    bob.expect("alice: second");
}

fn quit_tells_the_room_then_closes() {
    let server = start_server();
    let (mut alice, mut bob) = pair(server.addr);
    alice.send("/quit  off to lunch ");
    bob.expect("* alice quit (off to lunch)");
    alice.expect("* bye");
    alice.expect_closed();

    let mut carol = TestClient::join(server.addr, "carol");
    bob.expect("* carol joined #lobby");
    carol.send("/exit");
    bob.expect("* carol quit");
    carol.expect("* bye");
    carol.expect_closed();

    let mut dan = TestClient::join(server.addr, "dan");
    bob.expect("* dan joined #lobby");
    dan.send("/종료");
    bob.expect("* dan quit");
    dan.expect("* bye");
    dan.expect_closed();
}

fn quit_during_the_handshake_closes() {
    let server = start_server();
    let mut client = TestClient::connect(server.addr);
    client.send("/quit");
    client.expect("* bye");
    client.expect_closed();
}

fn end_of_input_is_a_quit_and_frees_the_name() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    let mut bob = TestClient::join(server.addr, "bob");
    alice.shutdown_write();
    bob.expect("* alice quit (connection closed)");
    let _again = TestClient::join(server.addr, "alice");
    bob.expect("* alice joined #lobby");
}

fn reset_connection_is_removed_at_once() {
    let server = start_server();
    let alice = TestClient::join(server.addr, "alice");
    let mut bob = TestClient::join(server.addr, "bob");
    alice.reset();
    bob.expect("* alice quit (connection lost)");
    bob.send("/who");
    bob.expect("* #lobby (1): bob");
}

fn closed_connection_without_quit_is_removed() {
    let server = start_server();
    // pair has alice read everything: closing with unread data would send a reset instead.
    let (alice, mut bob) = pair(server.addr);
    drop(alice);
    bob.expect("* alice quit (connection closed)");
}
}
