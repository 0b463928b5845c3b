//! Terminal mode: the real `chat-client` binary in a tmux pane (a real pseudo-terminal),
//! driven with `send-keys` and read with `capture-pane`, against an in-process server.
//!
//! Needs tmux (3.0 or newer) on the PATH; see `common::Pane`.

mod common;

use common::{
    Lines, Pane, TestClient, TestServer, last_row, row_index, start_server, start_server_on,
    strip_stamp, test_config,
};

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
        escapes.contains("\x1b[38;5;243m* welcome alice"),
        "no grey notice in:\n{escapes:?}"
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
    // The chat was on the alternate screen; what is left says why the client ended.
    let screen = pane.wait_row("[exit 1, terminal restored]");
    assert_eq!(
        &screen[..2],
        [
            "chat-client: connection to server lost: the server shut down",
            "[exit 1, terminal restored]"
        ],
        "screen:\n{}",
        screen.join("\n")
    );
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
    assert_eq!(last_row(&screen), "[exit 0, terminal restored]");
}

/// The signal thread used to restore the terminal while the network thread printed
/// `* bye` and the editor redrew its prompt after it. Now only the main thread draws, and
/// it restores the terminal after its last frame: the marker is alone on the screen.
#[test]
fn sigterm_quits_and_restores_the_terminal() {
    use rustix::process::Signal;
    let server = start_server();
    let mut bob = TestClient::join(server.addr, "bob");
    let signals = [
        (Signal::TERM, 143),
        (Signal::HUP, 129),
        (Signal::INT, 130),
        (Signal::TERM, 143),
    ];
    for (round, (signal, status)) in signals.into_iter().enumerate() {
        let name = format!("alice{round}");
        let pane = Pane::start(&server, &[&name, "--no-history"], &[]);
        bob.expect(&format!("* {name} joined #lobby"));
        pane.wait_prompt(&format!("{name}@#lobby>"));
        pane.type_text("interrupted");
        pane.wait_prompt(&format!("{name}@#lobby> interrupted"));
        let pid = rustix::process::Pid::from_raw(pane.client_pid()).expect("a valid pid");
        rustix::process::kill_process(pid, signal).expect("send the signal");
        bob.expect(&format!("* {name} quit"));
        let marker = format!("[exit {status}, terminal restored]");
        let screen = pane.wait_row(&marker);
        let shown: Vec<&String> = screen.iter().filter(|row| !row.is_empty()).collect();
        assert_eq!(shown, [&marker], "round {round}");
    }
}

/// Issue 10, defect 2: a wrapped draft, a narrower window, a line, a wider window: every
/// line stays on the screen once, in order, and the prompt is drawn once.
#[test]
fn resizing_with_a_wrapped_draft_keeps_every_line() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    let draft: String = (0..150u8)
        .map(|index| char::from(b'a' + index % 26))
        .collect();
    let prompt = "alice@#lobby> ";
    let drawn = |screen: &[String], width: usize| {
        let Some(start) = screen.iter().position(|row| row.starts_with(prompt)) else {
            return false;
        };
        let rows = &screen[start..];
        rows.concat() == format!("{prompt}{draft}") && rows[0].len() == width
    };
    pane.type_text(&draft);
    pane.wait("the draft at 100 columns", |screen| drawn(screen, 100));
    pane.resize(50, 30);
    pane.wait("the draft at 50 columns", |screen| drawn(screen, 50));
    bob.send("sent while narrow");
    pane.wait_row("bob: sent while narrow");
    pane.resize(120, 30);
    pane.wait("the draft at 120 columns", |screen| drawn(screen, 120));

    let everything = pane.screen_and_history();
    let count =
        |wanted: &dyn Fn(&String) -> bool| everything.iter().filter(|row| wanted(row)).count();
    assert_eq!(
        count(&|row| row == "bob: sent while narrow"),
        1,
        "{}",
        everything.join("\n")
    );
    assert_eq!(
        count(&|row| row.starts_with("alice@")),
        1,
        "{}",
        everything.join("\n")
    );
    let welcome = row_index(
        &everything,
        "* welcome alice, you are in #lobby (2): alice, bob",
    );
    let line = row_index(&everything, "bob: sent while narrow");
    assert!(welcome < line, "{}", everything.join("\n"));
    pane.press("Enter");
    bob.expect(&format!("alice: {draft}"));
}

/// Issue 10, defect 5: the list Tab shows goes away; nothing of it stays above new lines.
#[test]
fn completion_list_leaves_nothing_behind() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("/w");
    pane.press("Tab");
    pane.wait("the list of candidates", |screen| {
        screen
            .iter()
            .any(|row| row.contains("/whisper") && row.contains("/who"))
    });
    pane.type_text("ho");
    pane.press("Enter");
    pane.wait_row("* #lobby (2): alice, bob");
    bob.send("after the list");
    let screen = pane.wait_row("bob: after the list");
    assert_eq!(last_row(&screen), "alice@#lobby>");
    let everything = pane.screen_and_history();
    assert!(
        !everything.iter().any(|row| row.contains("/whisper")),
        "{}",
        everything.join("\n")
    );
    let prompts = everything
        .iter()
        .filter(|row| row.starts_with("alice@"))
        .count();
    assert_eq!(prompts, 1, "{}", everything.join("\n"));
}

/// Issue 10, long lines: a wrapped line's continuation rows are indented, so text can't
/// pass for a line of its own, and wide characters keep their columns.
#[test]
fn long_lines_wrap_under_their_first_row() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &[]);
    // `[HH:MM] bob: ` takes 13 columns: these spaces fill the first row exactly.
    let forged = format!(
        "{}[00:00] * alice quit (connection lost)",
        " ".repeat(100 - 13)
    );
    bob.send(&forged);
    let korean = "안녕하세요 😀".repeat(12);
    bob.send(&korean);
    bob.send("end marker");
    let screen = pane.wait("the end marker", |screen| {
        screen
            .iter()
            .any(|row| strip_stamp(row) == Some("bob: end marker"))
    });
    let shown = screen.join("\n");
    let forged_row = screen
        .iter()
        .find(|row| row.contains("* alice quit"))
        .expect("the forged text is shown");
    assert!(forged_row.starts_with("        [00:00]"), "{shown}");

    let first = screen
        .iter()
        .position(|row| strip_stamp(row).is_some_and(|rest| rest.starts_with("bob: 안녕")))
        .expect("the Korean line");
    let mut rebuilt = strip_stamp(&screen[first]).expect("stamped")["bob: ".len()..].to_string();
    for row in screen[first + 1..]
        .iter()
        .take_while(|row| row.starts_with("        "))
    {
        rebuilt.push_str(&row[8..]);
    }
    assert_eq!(rebuilt, korean, "{shown}");
    assert!(screen[first + 1].starts_with("        "), "{shown}");
}

/// Issue 10, defect 7: an action is drawn unlike any notice, in any language.
#[test]
fn actions_look_unlike_server_notices() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    bob.send("/me 님이 나갔습니다");
    bob.expect("* bob 님이 나갔습니다");
    bob.send("/me waves");
    bob.expect("* bob waves");
    bob.send("/quit");
    pane.wait_row("* bob quit");
    let screen = pane.screen();
    assert!(
        screen.iter().any(|row| row == "• bob 님이 나갔습니다"),
        "{}",
        screen.join("\n")
    );
    assert!(
        screen.iter().any(|row| row == "• bob waves"),
        "{}",
        screen.join("\n")
    );
    assert!(
        !screen.iter().any(|row| row.starts_with("* bob 님")),
        "{}",
        screen.join("\n")
    );
}

/// The 256-colour index used for `name` on the row where it says `text`.
fn colour_of(escapes: &str, name: &str, text: &str) -> Option<String> {
    let row = escapes
        .lines()
        .find(|row| row.contains(&format!("{name}\x1b[39m: {text}")))?;
    let end = row.find(&format!("{name}\x1b[39m: {text}"))?;
    let start = row[..end].rfind("38;5;")? + "38;5;".len();
    Some(row[start..].split('m').next()?.to_string())
}

/// Issue 10, defect 8: the first eight names get eight colours (robert and 민수 used to
/// share one), notices aren't yellow, and a rename keeps the colour.
#[test]
fn names_get_distinct_colours_that_survive_a_rename() {
    let server = start_server();
    let names = [
        "robert", "민수", "carol", "dave", "erin", "frank", "gina", "hank",
    ];
    let mut clients: Vec<TestClient> = names
        .iter()
        .map(|name| TestClient::join(server.addr, name))
        .collect();
    let pane = Pane::start(&server, &["alice", "--no-history", "--no-timestamps"], &[]);
    pane.wait_prompt("alice@#lobby>");
    for (client, name) in clients.iter_mut().zip(names) {
        client.send(&format!("hello from {name}"));
    }
    pane.wait_row("hank: hello from hank");
    let escapes = pane.screen_with_escapes();
    let colours: Vec<String> = names
        .iter()
        .map(|name| {
            colour_of(&escapes, name, &format!("hello from {name}"))
                .unwrap_or_else(|| panic!("no colour for {name} in {escapes:?}"))
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = colours.iter().collect();
    assert_eq!(distinct.len(), names.len(), "{colours:?}");
    assert!(!escapes.contains("\x1b[33m"), "yellow in {escapes:?}");

    clients[0].send("/nick rob");
    pane.wait_row("* robert is now rob");
    clients[0].send("after the rename");
    pane.wait_row("rob: after the rename");
    let escapes = pane.screen_with_escapes();
    assert_eq!(
        colour_of(&escapes, "rob", "after the rename").as_ref(),
        Some(&colours[0])
    );
}

/// Issue 10, defect 6: commands are never echoed; a failed one shows its error alone,
/// whichever command it was.
#[test]
fn failed_commands_show_only_their_error() {
    let server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("/whisper nobody hello");
    pane.press("Enter");
    pane.wait_row("! no such user: \"nobody\"");
    pane.type_text("/msg alice");
    pane.press("Enter");
    let screen = pane.wait_row("! usage: /msg NAME TEXT");
    for typed in ["/whisper nobody hello", "/msg alice"] {
        assert!(
            !screen.iter().any(|row| row.contains(typed)),
            "{typed:?} echoed:\n{}",
            screen.join("\n")
        );
    }
}

/// Issue 10, defect 10: the greeting the client answers itself isn't shown, and a
/// reconnect shows where it put you back, not a welcome to #lobby.
#[test]
fn connect_and_reconnect_show_what_matters() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let spare = listener.try_clone().expect("clone the listener");
    let mut first = start_server_on(listener, test_config());
    let pane = Pane::start(
        &first,
        &["alice", "--no-history", "--no-timestamps", "--reconnect"],
        &[],
    );
    pane.wait_prompt("alice@#lobby>");
    pane.type_text("/join dev");
    pane.press("Enter");
    pane.wait_prompt("alice@#dev>");
    first.stop();
    pane.wait("news of the loss", |screen| {
        screen.iter().any(|row| row.contains("reconnecting in"))
    });
    let _second = start_server_on(spare, test_config());
    pane.wait_row("reconnected as alice, back to #dev");
    let screen = pane.wait_row("* #dev (1): alice");
    assert_eq!(last_row(&screen), "alice@#dev>");
    let shown = screen.join("\n");
    assert!(!shown.contains("* hello!"), "{shown}");
    let welcomes = screen
        .iter()
        .filter(|row| row.starts_with("* welcome"))
        .count();
    assert_eq!(welcomes, 1, "{shown}");
    assert!(!shown.contains("* alice joined #lobby"), "{shown}");
}

/// Mentions are highlighted and, like private messages, ring the bell and count in the
/// window title until the next key; `--no-bell` keeps quiet.
#[test]
fn mentions_and_private_messages_get_attention() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    assert_eq!(pane.title(), "chat: alice@#lobby");
    bob.send("hey Alice, look");
    pane.wait_row("bob: hey Alice, look");
    let escapes = pane.screen_with_escapes();
    let row = escapes
        .lines()
        .find(|row| row.contains("hey Alice, look"))
        .expect("the mention");
    assert!(row.contains("\x1b[7m"), "not highlighted: {row:?}");
    pane.wait("the title to count it", |_| {
        pane.title() == "(1) chat: alice@#lobby"
    });
    assert!(pane.bell_rang());
    pane.type_text("x");
    pane.wait("the title to reset", |_| {
        pane.title() == "chat: alice@#lobby"
    });

    let quiet = Pane::start(&server, &["carol", "--no-history", "--no-bell"], &[]);
    quiet.wait_prompt("carol@#lobby>");
    bob.send("/msg carol psst");
    quiet.wait("the private message", |screen| {
        screen.iter().any(|row| row.ends_with("bob -> carol: psst"))
    });
    quiet.wait("the title to count it", |_| {
        quiet.title() == "(1) chat: carol@#lobby"
    });
    assert!(!quiet.bell_rang());
}

/// `/reply` answers the last private message; `/msg` Tab offers recent correspondents
/// first; names complete mid-line.
#[test]
fn reply_and_completion_follow_who_you_talk_to() {
    let server = start_server();
    let mut carol = TestClient::join(server.addr, "carol");
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    carol.wait_for("* alice joined #lobby");
    carol.send("/msg alice from carol");
    pane.wait_row("carol -> alice: from carol");
    bob.send("/msg alice from bob");
    pane.wait_row("bob -> alice: from bob");
    pane.type_text("/r got it");
    pane.press("Enter");
    bob.wait_for("alice -> bob: got it");
    pane.wait_row("alice -> bob: got it");

    pane.type_text("/msg ");
    pane.press("Tab");
    pane.wait_row("bob  carol");
    pane.press("C-u");
    pane.type_text("hey ca");
    pane.press("Tab");
    pane.wait_prompt("alice@#lobby> hey carol");
}

/// `/ignore` hides someone's chat until `/unignore`; `/ignore` alone lists.
#[test]
fn ignore_hides_someone_until_unignored() {
    let server = start_server();
    let mut carol = TestClient::join(server.addr, "carol");
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    carol.wait_for("* alice joined #lobby");
    pane.type_text("/ignore bob");
    pane.press("Enter");
    pane.wait("the client's answer", |screen| {
        screen.iter().any(|row| row.starts_with("ignoring bob"))
    });
    bob.send("spam");
    carol.send("after the spam");
    let screen = pane.wait_row("carol: after the spam");
    assert!(
        !screen.iter().any(|row| row == "bob: spam"),
        "{}",
        screen.join("\n")
    );
    pane.type_text("/ignore");
    pane.press("Enter");
    pane.wait_row("ignoring: bob");
    pane.type_text("/unignore bob");
    pane.press("Enter");
    pane.wait_row("no longer ignoring bob");
    bob.send("back again");
    pane.wait_row("bob: back again");
}

/// Page Up and Page Down scroll the chat; `/clear` empties it.
#[test]
fn page_up_scrolls_back_and_clear_empties_the_screen() {
    let server = start_server();
    let (pane, mut bob) = alice_and_bob(&server, &["--no-timestamps"]);
    let lines: String = (0..80).map(|index| format!("line {index}\n")).collect();
    bob.send_raw(lines.as_bytes());
    pane.wait_row("bob: line 79");
    pane.press("PPage");
    let screen = pane.wait("an earlier page", |screen| {
        !screen.iter().any(|row| row == "bob: line 79")
            && screen.iter().any(|row| row.contains("more below"))
    });
    assert!(
        screen.iter().any(|row| row == "bob: line 50"),
        "{}",
        screen.join("\n")
    );
    pane.press("NPage");
    pane.press("NPage");
    pane.wait_row("bob: line 79");
    pane.type_text("/clear");
    pane.press("Enter");
    let screen = pane.wait("an empty chat", |screen| {
        !screen.iter().any(|row| row.starts_with("bob: "))
    });
    assert_eq!(last_row(&screen), "alice@#lobby>");
}

/// `/help` lists the client's own commands after the server's.
#[test]
fn help_lists_the_clients_own_commands_after_the_servers() {
    let server = start_server();
    let (pane, _bob) = alice_and_bob(&server, &["--no-timestamps"]);
    pane.type_text("/help");
    pane.press("Enter");
    let own = "* /reply TEXT (/r): answer the last private message (this client)";
    let screen = pane.wait_row(own);
    // The server's list may have scrolled off the top by now: if its last line shows, it
    // is above the client's own.
    let server_last = row_index(&screen, "* //TEXT: say TEXT starting with a /");
    let first_server = row_index(&screen, "* /who (/members): list the people in your room");
    assert!(
        server_last.is_none_or(|row| Some(row) < row_index(&screen, own)),
        "{}",
        screen.join("\n")
    );
    assert!(
        first_server.is_none_or(|row| Some(row) < row_index(&screen, own)),
        "{}",
        screen.join("\n")
    );
    assert_eq!(last_row(&screen), "alice@#lobby>");
}

/// A full server ends the terminal client too with the refusal's status and message,
/// the terminal restored.
#[test]
fn a_full_server_is_a_refusal_in_the_terminal_too() {
    let server = common::start_server_with(chat_server::Config {
        max_clients: 1,
        ..test_config()
    });
    let _only = TestClient::join(server.addr, "only");
    let pane = Pane::start(&server, &["alice", "--no-history"], &[]);
    let screen = pane.wait_row("[exit 4, terminal restored]");
    assert_eq!(
        &screen[..2],
        [
            "chat-client: refused by the server: server full",
            "[exit 4, terminal restored]"
        ]
    );
}
