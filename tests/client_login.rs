//! The real `chat-client` logging in to a registered name (a hidden prompt in a terminal;
//! `CHAT_PASSWORD` or `--password-file` in a pipe) and joining a private room from an
//! invite link, against an in-process server.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::{Lines, Pane, Process, TIMEOUT, TestClient, start_client, start_server};

/// Registers `name` with `password` and leaves.
fn register(addr: SocketAddr, name: &str, password: &str) {
    let mut client = TestClient::join(addr, name);
    client.send(&format!("/register {password}"));
    client.expect_prefix(&format!("* {name} is registered"));
    client.send("/quit");
    client.wait_for("* bye");
}

/// `chat-client ARGS` in a pipe, with `env` set (and `CHAT_PASSWORD` unset unless given).
fn client_with_env(addr: SocketAddr, args: &[&str], env: &[(&str, &str)]) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    command
        .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(args)
        .env_remove("CHAT_PASSWORD");
    for (name, value) in env {
        command.env(name, value);
    }
    Process::spawn(&mut command)
}

/// alice creates a private room; returns her client, the room and its link.
fn private_room(addr: SocketAddr) -> (TestClient, String, String) {
    let mut alice = TestClient::join(addr, "alice");
    alice.send("/create");
    let line = alice.wait_until("the invite link", |line| {
        line.contains(" is private; invite link: chat://")
    });
    let room = line
        .strip_prefix("* ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let link = line.rsplit(' ').next().unwrap_or_default().to_string();
    (alice, room, link)
}

#[test]
fn a_pipe_logs_in_with_chat_password_or_a_password_file_and_never_otherwise() {
    let server = start_server();
    register(server.addr, "bob", "bobs-password");

    let mut env_client = client_with_env(
        server.addr,
        &["bob", "--no-timestamps"],
        &[("CHAT_PASSWORD", "bobs-password")],
    );
    env_client.wait_for("* welcome bob, you are in #lobby (1): bob");
    env_client.close_stdin();
    let exit = env_client.wait_exit(TIMEOUT);
    assert!(exit.status.success(), "{exit:?}");

    let file = std::env::temp_dir().join(format!("chat-password-{}", std::process::id()));
    std::fs::write(&file, "bobs-password\n").expect("write the password file");
    let path = file.to_str().expect("utf-8 path");
    let mut file_client = client_with_env(
        server.addr,
        &["bob", "--no-timestamps", "--password-file", path],
        &[],
    );
    file_client.wait_for("* welcome bob, you are in #lobby (1): bob");
    file_client.close_stdin();
    assert!(file_client.wait_exit(TIMEOUT).status.success());
    let _ = std::fs::remove_file(&file);

    // No password: a clear error saying where one comes from, and status 4.
    let mut bare = client_with_env(server.addr, &["bob", "--no-timestamps"], &[]);
    let exit = bare.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(4), "{exit:?}");
    assert!(
        exit.stderr.contains("bob is registered") && exit.stderr.contains("CHAT_PASSWORD"),
        "{exit:?}"
    );

    let mut wrong = client_with_env(
        server.addr,
        &["bob", "--no-timestamps"],
        &[("CHAT_PASSWORD", "not-it-at-all")],
    );
    let exit = wrong.wait_exit(TIMEOUT);
    assert_eq!(exit.status.code(), Some(4), "{exit:?}");
    assert!(exit.stderr.contains("wrong password for bob"), "{exit:?}");
    assert!(!exit.stderr.contains("not-it-at-all"), "{exit:?}");
}

#[test]
fn a_terminal_asks_for_the_password_without_echo() {
    let server = start_server();
    register(server.addr, "alice", "alices-secret-pw");
    let pane = Pane::start(&server, &["alice", "--no-history"], &[]);
    pane.wait_prompt("password for alice:");

    // Everything the client writes to the terminal from here on is kept.
    let output = pane.record_output();
    pane.type_text("wrong-guess-1");
    pane.press("Enter");
    pane.wait("the wrong password shown, and asked again", |screen| {
        screen
            .iter()
            .any(|row| row.contains("! wrong password for alice"))
            && common::last_row(screen) == "password for alice:"
    });
    pane.type_text("alices-secret-pw");
    pane.press("Enter");
    pane.wait_prompt("alice@#lobby>");
    let written = String::from_utf8_lossy(&std::fs::read(&output).unwrap_or_default()).into_owned();
    assert!(
        written.contains("wrong password for alice") && written.contains("@#lobby> "),
        "the recording missed the client's output: {written:?}"
    );
    for password in ["wrong-guess", "alices-secret-pw"] {
        assert!(
            !written.contains(password),
            "{password:?} was echoed: {written:?}"
        );
    }
    let _ = std::fs::remove_file(&output);
}

#[test]
fn a_link_joins_its_private_room_and_the_prompt_says_it_is_private() {
    let server = start_server();
    let (mut alice, room, link) = private_room(server.addr);

    let mut bob = start_client(server.addr, &["bob", "--no-timestamps", &link]);
    bob.wait_for(&format!("* bob joined {room}"));
    alice.wait_for(&format!("* bob joined {room}"));
    bob.send("hello in private");
    alice.expect("bob: hello in private");
    bob.close_stdin();
    assert!(bob.wait_exit(TIMEOUT).status.success());

    let pane = Pane::start(&server, &["carol", "--no-history", &link], &[]);
    pane.wait_prompt(&format!("carol@{room} (private)>"));
    alice.wait_for(&format!("* carol joined {room}"));
    pane.type_text("/join #lobby");
    pane.press("Enter");
    pane.wait_prompt("carol@#lobby>");
    // The creator's prompt is marked too.
    let dave = Pane::start(&server, &["dave", "--no-history"], &[]);
    dave.wait_prompt("dave@#lobby>");
    dave.type_text("/create #dens");
    dave.press("Enter");
    dave.wait_prompt("dave@#dens (private)>");
}

#[test]
fn a_malformed_or_contradicted_link_is_a_usage_error() {
    let server = start_server();
    let cases: [(&[&str], &str); 3] = [
        (&["bob", "chat://127.0.0.1/bad room"], "invalid link"),
        (
            &["bob", "http://example.com/dev"],
            "must start with chat://",
        ),
        (
            &["bob", "--port", "1", "chat://127.0.0.1:2/dev"],
            "--port 1 contradicts the link",
        ),
    ];
    for (args, says) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat-client"));
        command.args(args);
        let exit = Process::run(&mut command, TIMEOUT);
        assert_eq!(exit.status.code(), Some(2), "{args:?}: {exit:?}");
        assert!(exit.stderr.contains(says), "{args:?}: {exit:?}");
    }
    drop(server);
}
