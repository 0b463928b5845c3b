//! Pipe mode: the real `chat-client` binary with stdin and stdout as pipes, against an
//! in-process server on port 0.

mod common;

use std::net::TcpListener;

use chat_server::Config;

use common::{
    Lines, TIMEOUT, TestClient, start_client, start_server, start_server_on, start_server_with,
    strip_stamp, test_config,
};

#[test]
fn chat_flows_both_ways_in_plain_lines() {
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let mut alice = start_client(server.addr, &["alice", "--no-timestamps"]);
    alice.wait_for("* welcome alice, you are in #lobby (2): alice, bob");
    bob.expect("* alice joined #lobby");

    alice.send("hi bob");
    bob.expect("alice: hi bob");
    bob.send("hello alice");
    alice.wait_for("bob: hello alice");
    bob.send("/msg alice psst");
    bob.expect("bob -> alice: psst");
    alice.wait_for("bob -> alice: psst");

    alice.close_stdin();
    bob.expect("* alice quit");
    let exit = alice.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
    assert!(
        alice.stdout().iter().all(|line| !line.contains('\x1b')),
        "escape codes in pipe output: {:#?}",
        alice.stdout()
    );
}

#[test]
fn lines_carry_a_local_timestamp_by_default() {
    let server = start_server();
    let mut client = start_client(server.addr, &["stamped"]);
    let welcome = client.wait_until("the welcome", |line| line.contains("* welcome stamped"));
    assert!(
        strip_stamp(&welcome).is_some_and(|rest| rest.starts_with("* welcome stamped")),
        "not `[HH:MM] * welcome ...`: {welcome:?}"
    );
    client.close_stdin();
    let exit = client.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
}

#[test]
fn a_script_on_stdin_talks_and_quits_at_end_of_input() {
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let mut bot = start_client(server.addr, &["bot", "--no-timestamps"]);
    bot.send("hello from a script");
    bot.close_stdin();
    bob.expect("* bot joined #lobby");
    bob.expect("bot: hello from a script");
    bob.expect("* bot quit");
    let exit = bot.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
    assert_eq!(exit.stderr, "");
}

#[test]
fn server_shutdown_ends_the_client_with_an_error() {
    let mut server = start_server();
    let mut client = start_client(server.addr, &["alice", "--no-timestamps"]);
    client.wait_until("the welcome", |line| line.starts_with("* welcome alice"));
    server.stop();
    let exit = client.wait_exit(TIMEOUT);
    assert!(!exit.status.success(), "{exit:?}");
    assert!(
        exit.stderr
            .starts_with("chat-client: connection to server lost")
            && exit.stderr.lines().count() == 1,
        "{exit:?}"
    );
    assert!(
        client
            .stdout()
            .iter()
            .any(|line| line == "* server shutting down"),
        "stdout: {:#?}",
        client.stdout()
    );
}

#[test]
fn refused_connection_is_one_line_and_a_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let mut client = start_client(addr, &["alice"]);
    let exit = client.wait_exit(TIMEOUT);
    assert!(!exit.status.success(), "{exit:?}");
    assert!(exit.stdout.is_empty(), "{exit:?}");
    assert_eq!(
        exit.stderr,
        format!(
            "chat-client: could not connect to 127.0.0.1:{}: connection refused\n",
            addr.port()
        )
    );
}

#[test]
fn reconnect_rejoins_with_the_same_name_and_room() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let spare = listener.try_clone().expect("clone the listener");
    let mut first = start_server_on(listener, test_config());
    let addr = first.addr;
    let mut client = start_client(addr, &["alice", "--no-timestamps", "--reconnect"]);
    client.wait_until("the welcome", |line| line.starts_with("* welcome alice"));
    client.send("/join dev");
    client.wait_for("* #dev (1): alice");
    first.stop();
    client.wait_for("* server shutting down");

    // The same listening socket: the port stayed bound, so the client comes back to it.
    let _second = start_server_on(spare, test_config());
    client.wait_until("the welcome back", |line| {
        line.starts_with("* welcome alice, you are in #lobby")
    });
    client.wait_for("* #dev (1): alice");
    let mut bob = TestClient::join(addr, "bob");
    bob.send("/join dev");
    bob.expect("* bob joined #dev");
    bob.expect("* #dev (2): alice, bob");
    client.send("still here");
    bob.expect("alice: still here");

    client.close_stdin();
    bob.expect("* alice quit");
    let exit = client.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
    assert!(
        exit.stderr
            .contains("chat-client: connection to server lost; reconnecting in 0.5s")
            && exit
                .stderr
                .contains("chat-client: reconnected as alice, back to #dev"),
        "{exit:?}"
    );
}

/// Issue 10, defect 1: after a reconnect the room never sees the name sent as chat.
#[test]
fn reconnect_sends_the_name_once_and_never_as_chat() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let spare = listener.try_clone().expect("clone the listener");
    let mut first = start_server_on(listener, test_config());
    let addr = first.addr;
    let mut client = start_client(addr, &["alice", "--no-timestamps", "--reconnect"]);
    client.wait_until("the welcome", |line| line.starts_with("* welcome alice"));
    first.stop();
    client.wait_for("* server shutting down");

    let _second = start_server_on(spare, test_config());
    let mut bob = TestClient::join(addr, "bob");
    bob.expect("* alice joined #lobby");
    client.wait_until("the welcome back", |line| {
        line.starts_with("* welcome alice, you are in #lobby")
    });
    // What bob gets next is what alice types, not her name.
    client.send("typed by alice");
    bob.expect("alice: typed by alice");
    client.close_stdin();
    bob.expect("* alice quit");
    let exit = client.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
}

/// Issue 10, defect 3: a bot whose name is taken stops with an error instead of joining
/// under its first message.
#[test]
fn refused_name_in_a_pipe_ends_the_client() {
    let server = start_server();
    let mut holder = TestClient::join(server.addr, "alice");
    let mut client = start_client(server.addr, &["alice", "--no-timestamps"]);
    client.send("hello");
    client.send("second line");
    let exit = client.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(4), "{exit:?}");
    assert_eq!(
        exit.stderr,
        "chat-client: refused by the server: name \"alice\" is taken, choose another\n"
    );
    // Nobody joined as `hello`, nothing was said: the next thing alice's holder hears is
    // a newcomer that comes after.
    let _carol = TestClient::join(server.addr, "carol");
    holder.expect("* carol joined #lobby");
}

/// Issue 10, defect 4: `server full` always ends with the refusal's own status and
/// message, whether stdin is still open or already closed.
#[test]
fn server_full_is_a_refusal_with_its_own_status() {
    let server = start_server_with(Config {
        max_clients: 1,
        ..test_config()
    });
    let _only = TestClient::join(server.addr, "only");
    for close_stdin in [false, true, false, true] {
        let mut client = start_client(server.addr, &["alice"]);
        if close_stdin {
            client.close_stdin();
        }
        let exit = client.wait_exit(TIMEOUT);
        assert_eq!(exit.status.code(), Some(4), "{exit:?}");
        assert_eq!(
            exit.stderr,
            "chat-client: refused by the server: server full\n"
        );
    }
}

/// Issue 10, defect 9: stdout is a transcript, one's own lines included, as the room
/// sees them.
#[test]
fn pipe_output_is_a_complete_transcript() {
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let mut alice = start_client(server.addr, &["alice", "--no-timestamps"]);
    alice.wait_for("* welcome alice, you are in #lobby (2): alice, bob");
    bob.expect("* alice joined #lobby");
    alice.send("first from alice");
    bob.expect("alice: first from alice");
    bob.send("answer from bob");
    alice.wait_for("bob: answer from bob");
    alice.send("second from alice");
    bob.expect("alice: second from alice");
    alice.close_stdin();
    bob.expect("* alice quit");
    let exit = alice.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
    let transcript: Vec<&str> = alice
        .stdout()
        .iter()
        .map(String::as_str)
        .filter(|line| line.contains(" from "))
        .collect();
    assert_eq!(
        transcript,
        [
            "alice: first from alice",
            "bob: answer from bob",
            "alice: second from alice"
        ],
        "{:#?}",
        alice.stdout()
    );
}
