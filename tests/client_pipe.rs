//! Pipe mode: the real `chat-client` binary with stdin and stdout as pipes, against an
//! in-process server on port 0.

mod common;

use std::net::TcpListener;

use common::{
    Lines, TIMEOUT, TestClient, start_client, start_server, start_server_on, strip_stamp,
    test_config,
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
fn refused_name_is_retried_with_the_next_input_line() {
    let server = start_server();
    let _holder = TestClient::join(server.addr, "alice");
    let mut client = start_client(server.addr, &["alice", "--no-timestamps"]);
    client.wait_for("! name \"alice\" is taken, choose another");
    client.send("alice2");
    client.wait_for("* welcome alice2, you are in #lobby (2): alice, alice2");
    client.send("/quit");
    client.wait_for("* bye");
    let exit = client.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");
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
