//! Terminal mode: the real `chat-client` binary in a tmux pane (a real pseudo-terminal),
//! driven with `send-keys` and read with `capture-pane`, against an in-process server.
//!
//! Needs tmux (3.0 or newer) on the PATH; see `common::Pane`.

mod common;

use common::{Lines, Pane, TestClient, TestServer, last_row, row_index, start_server, strip_stamp};

/// Starts alice in a pane with `bob` already in the lobby; waits for her prompt.
fn alice_and_bob(server: &TestServer, args: &[&str]) -> (Pane, TestClient) {
    let mut bob = TestClient::join(server.addr, "bob");
    let mut all_args = vec!["alice", "--no-history"];
    all_args.extend(args);
    let pane = Pane::start(server, &all_args, &[]);
    bob.expect("* alice joined #lobby");
    pane.wait_prompt("alice@#lobby>");
    (pane, bob)
}

#[test]
fn incoming_line_appears_above_half_typed_text() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);

    pane.type_text("hello wor");
    pane.wait_prompt("alice@#lobby> hello wor");
    bob.send("message from bob");
    let screen = pane.wait("bob's line above the prompt", |screen| {
        screen
            .iter()
            .any(|row| strip_stamp(row) == Some("bob: message from bob"))
            && last_row(screen) == "alice@#lobby> hello wor"
    });
    let bob_row = screen
        .iter()
        .position(|row| strip_stamp(row) == Some("bob: message from bob"))
        .expect("bob's row");
    let prompt_row = row_index(&screen, "alice@#lobby> hello wor").expect("prompt row");
    assert!(bob_row < prompt_row, "screen:\n{}", screen.join("\n"));
    assert_eq!(pane.cursor_x(), "alice@#lobby> hello wor".len());

    pane.type_text("ld");
    pane.press("Enter");
    bob.expect("alice: hello world");
    let screen = pane.wait("alice's own line", |screen| {
        screen
            .iter()
            .any(|row| strip_stamp(row) == Some("alice: hello world"))
            && last_row(screen) == "alice@#lobby>"
    });
    let own = screen
        .iter()
        .filter(|row| row.contains("hello world"))
        .count();
    assert_eq!(own, 1, "own line not shown once:\n{}", screen.join("\n"));
}

#[test]
fn a_flood_of_lines_never_garbles_typing() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    let typed = "typing through the flood";
    for (index, chunk) in typed.as_bytes().chunks(4).enumerate() {
        bob.send_raw(
            (0..50)
                .map(|line| format!("flood {index}-{line}\n"))
                .collect::<String>()
                .as_bytes(),
        );
        pane.type_text(std::str::from_utf8(chunk).expect("ASCII"));
    }
    let last = format!("bob: flood {}-49", typed.len().div_ceil(4) - 1);
    let prompt = format!("alice@#lobby> {typed}");
    let screen = pane.wait("the last flood line above the prompt", |screen| {
        screen.contains(&last) && last_row(screen) == prompt
    });
    for row in screen.iter().filter(|row| **row != prompt) {
        assert!(
            row.is_empty() || row.starts_with("bob: flood ") || row.starts_with("* "),
            "garbled row {row:?} in:\n{}",
            screen.join("\n")
        );
    }
    pane.press("Enter");
    bob.wait_for(&format!("alice: {typed}"));
}

#[test]
fn colour_is_on_in_a_terminal_and_off_with_no_color_or_the_flag() {
    let server = start_server();
    let coloured = Pane::start(&server, &["alice", "--no-history"], &[]);
    coloured.wait_prompt("alice@#lobby>");
    let escapes = coloured.screen_with_escapes();
    assert!(
        escapes.contains("\x1b[33m* welcome alice"),
        "no yellow notice in:\n{escapes:?}"
    );

    for (name, args, env) in [
        ("nocolor", vec!["--no-history"], vec![("NO_COLOR", "1")]),
        ("flag", vec!["--no-history", "--no-color"], vec![]),
    ] {
        let mut all_args = vec![name];
        all_args.extend(args);
        let plain = Pane::start(&server, &all_args, &env);
        plain.wait_prompt(&format!("{name}@#lobby>"));
        let escapes = plain.screen_with_escapes();
        assert!(
            !escapes.contains('\x1b'),
            "escape codes with {env:?} {all_args:?}:\n{escapes:?}"
        );
    }
}

#[test]
fn tab_completes_commands_and_names() {
    let server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);

    pane.type_text("/ni");
    pane.press("Tab");
    pane.wait_prompt("alice@#lobby> /nick");
    assert_eq!(pane.cursor_x(), "alice@#lobby> /nick ".len());
    pane.press("C-u");

    pane.type_text("/msg b");
    pane.press("Tab");
    pane.wait_prompt("alice@#lobby> /msg bob");
    pane.type_text("psst");
    pane.wait_prompt("alice@#lobby> /msg bob psst");
    pane.press("C-u");

    pane.type_text("b");
    pane.press("Tab");
    pane.wait_prompt("alice@#lobby> bob:");
    assert_eq!(pane.cursor_x(), "alice@#lobby> bob: ".len());
}

#[test]
fn up_recalls_history_which_is_kept_per_user() {
    let server = start_server();
    let pane = Pane::start(&server, &["alice", "--no-timestamps"], &[]);
    pane.wait_prompt("alice@#lobby>");
    pane.type_text("first line");
    pane.press("Enter");
    pane.wait_row("alice: first line");
    pane.press("Up");
    pane.wait_prompt("alice@#lobby> first line");
    pane.press("C-u");
    pane.press("C-d");
    pane.wait_row("[exit 0, terminal restored]");

    let file = pane.data_home().join("chat-client").join("alice.history");
    let saved = std::fs::read_to_string(&file).expect("history file");
    assert!(saved.lines().any(|line| line == "first line"), "{saved:?}");

    let pane = pane.restart(&server, &["alice", "--no-timestamps"]);
    pane.wait_prompt("alice@#lobby>");
    pane.press("Up");
    pane.wait_prompt("alice@#lobby> first line");

    // Another user in the same data directory has none of alice's lines: Up recalls
    // nothing, so what is typed after it stands alone.
    let pane = pane.restart(&server, &["carol", "--no-timestamps"]);
    pane.wait_prompt("carol@#lobby>");
    pane.press("Up");
    pane.type_text("x");
    pane.wait_prompt("carol@#lobby> x");
}

#[test]
fn ctrl_r_finds_an_earlier_line_to_send_again() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    for line in ["deploy at noon", "lunch?", "coffee"] {
        pane.type_text(line);
        pane.press("Enter");
        bob.expect(&format!("alice: {line}"));
    }
    pane.press("C-r");
    pane.type_text("deploy");
    pane.wait("the search to find the line", |screen| {
        screen
            .iter()
            .any(|row| row.contains("deploy at noon") && row.contains("search"))
    });
    pane.press("Enter");
    bob.expect("alice: deploy at noon");
}

#[test]
fn ctrl_c_clears_the_line_then_quits_and_the_terminal_is_restored() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    pane.type_text("never sent");
    pane.wait_prompt("alice@#lobby> never sent");
    pane.press("C-c");
    pane.wait_prompt("alice@#lobby>");
    pane.press("C-c");
    bob.expect("* alice quit");
    pane.wait_row("[exit 0, terminal restored]");
}

#[test]
fn ctrl_d_quits_cleanly() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    pane.press("C-d");
    bob.expect("* alice quit");
    pane.wait_row("[exit 0, terminal restored]");
}

#[test]
fn prompt_follows_nick_and_join() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("/nick alicia");
    pane.press("Enter");
    bob.expect("* alice is now alicia");
    pane.wait_prompt("alicia@#lobby>");
    pane.type_text("/join dev");
    pane.press("Enter");
    pane.wait_prompt("alicia@#dev>");
    pane.type_text("/nick bob");
    pane.press("Enter");
    pane.wait_row("! name \"bob\" is taken, choose another");
    pane.wait_prompt("alicia@#dev>");
}

#[test]
fn refused_name_is_asked_for_again() {
    let server = start_server();
    let _holder = TestClient::join(server.addr, "alice");
    let pane = Pane::start(&server, &["alice", "--no-history", "--no-timestamps"], &[]);
    pane.wait_row("! name \"alice\" is taken, choose another");
    pane.wait_prompt("name>");
    pane.type_text("alice2");
    pane.press("Enter");
    pane.wait_prompt("alice2@#lobby>");
}

#[test]
fn losing_the_server_while_typing_exits_with_an_error() {
    let mut server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("half typed");
    pane.wait_prompt("alice@#lobby> half typed");
    server.stop();
    let screen = pane.wait_row("[exit 1, terminal restored]");
    let shutdown = row_index(&screen, "* server shutting down").expect("shutdown notice shown");
    let message =
        row_index(&screen, "chat-client: connection to server lost").expect("loss reported");
    assert!(shutdown < message, "screen:\n{}", screen.join("\n"));
}

#[test]
fn no_history_still_recalls_lines_but_writes_no_file() {
    let server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("said once");
    pane.press("Enter");
    pane.wait_row("alice: said once");
    pane.press("Up");
    pane.wait_prompt("alice@#lobby> said once");
    // Only once the client has exited could it have written nothing at all.
    pane.press("C-u");
    pane.press("C-d");
    pane.wait_row("[exit 0, terminal restored]");
    let written: Vec<_> = std::fs::read_dir(pane.data_home())
        .expect("read the data directory")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    assert!(written.is_empty(), "written with --no-history: {written:?}");
}

#[test]
fn typed_quit_leaves_with_its_reason() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("/quit gone home");
    pane.press("Enter");
    bob.expect("* alice quit (gone home)");
    let screen = pane.wait_row("[exit 0, terminal restored]");
    assert!(
        screen.iter().any(|row| row == "* bye"),
        "{}",
        screen.join("\n")
    );
}

#[test]
fn sigterm_quits_and_restores_the_terminal() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    pane.type_text("interrupted");
    pane.wait_prompt("alice@#lobby> interrupted");
    let pid = rustix::process::Pid::from_raw(pane.client_pid()).expect("a valid pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("send SIGTERM");
    bob.expect("* alice quit");
    // The marker may share its row with a prompt: now and then the server's `* bye`, and
    // the prompt the line editor redraws under it, are printed after the signal handler
    // restored the terminal (a client race, about one run in twelve). The status and the
    // terminal modes are what this test is about.
    pane.wait("the exit marker last", |screen| {
        last_row(screen).ends_with("[exit 143, terminal restored]")
    });
}
