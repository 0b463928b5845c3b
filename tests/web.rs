//! The web client in a real browser: headless Chromium (see `common::browser`) against a
//! real `chat-server --web-port 0`, next to line clients on the TCP port. The page is read
//! as a person reads it: what it shows, and the field that has the focus.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{Browser, Lines, PHONE, Page, ServerProcess, TempDir, TestClient};
use serde_json::json;
use tungstenite::client::IntoClientRequest;

/// A reconnect after a restart: the page waits 0.5 s, then 1 s, 2 s... between tries.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A server with its web port on `port` (0: any free one); with `--ephemeral` unless
/// `extra` has a `--data-dir`.
fn web_server(port: u16, extra: &[&str]) -> (ServerProcess, SocketAddr) {
    let port = port.to_string();
    let mut args = vec!["--web-port", &port, "--flood-rate", "0"];
    args.extend(extra);
    let server = ServerProcess::start(&args);
    let web = server.web_addr.expect("a web ready line");
    (server, web)
}

fn page_url(web: SocketAddr) -> String {
    format!("http://{web}/")
}

/// Opens the page as `name` and logs in (the name field has the focus).
fn log_in(browser: &Browser, web: SocketAddr, name: &str) -> Page {
    let page = browser.open(name, &page_url(web));
    page.type_line(name);
    page.wait_text(&format!("* welcome {name}, you are in #lobby"));
    page
}

/// The people the page lists beside the log (its first list), one entry a person.
const MEMBERS: &str =
    "[...document.querySelectorAll('aside ul:first-of-type li')].map(li => li.innerText)";

fn members(page: &Page) -> Vec<String> {
    serde_json::from_value(page.eval(MEMBERS)).expect("a list of strings")
}

fn wait_members(page: &Page, expected: &[&str]) {
    let expected_json = json!(expected).to_string();
    let expression = format!("JSON.stringify({MEMBERS}) === {}", json!(expected_json));
    page.wait_for(&format!("the people {expected:?}"), &expression);
}

/// The name colour the terminal client gives `name` (FNV-1a of its name key into its
/// 256-colour palette), as CSS `rgb(...)`.
fn terminal_colour(name: &str) -> String {
    const PALETTE: [u8; 12] = [32, 28, 130, 98, 30, 64, 62, 166, 29, 31, 27, 134];
    let hash = chat_protocol::name_key(name)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    let index = PALETTE[(hash % PALETTE.len() as u64) as usize] - 16;
    let level = |step: u8| if step == 0 { 0 } else { 55 + 40 * step };
    format!(
        "rgb({}, {}, {})",
        level(index / 36),
        level(index / 6 % 6),
        level(index % 6)
    )
}

/// The colour the page draws `name` in, in its first line that shows it.
fn page_colour(page: &Page, name: &str) -> String {
    let expression = format!(
        "getComputedStyle([...document.querySelectorAll('[role=log] span')]
            .find(s => s.innerText === {})).color",
        json!(name)
    );
    page.eval(&expression)
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn two_browser_users_and_a_tcp_user_chat_both_ways() {
    let (server, web) = web_server(0, &[]);
    let mut tcp = TestClient::join(server.addr, "tcp1");
    tcp.send("said before anyone came");
    tcp.sync();
    let browser = Browser::start();
    let web1 = log_in(&browser, web, "web1");
    tcp.expect("* web1 joined #lobby");
    // The room's history, replayed to a joiner, is dimmed and keeps its own time.
    web1.wait_text("tcp1: said before anyone came");
    assert_eq!(
        web1.eval(
            "[...document.querySelectorAll('[role=log] > *')]
                .filter(line => line.innerText.includes('said before anyone came'))
                .map(line => Number(getComputedStyle(line).opacity) < 1)"
        ),
        json!([true])
    );
    let web2 = log_in(&browser, web, "web2");
    tcp.expect("* web2 joined #lobby");
    web1.wait_text("* web2 joined #lobby");

    // Browser to TCP and browser, TCP to both browsers.
    web1.type_line("hello from the browser");
    tcp.expect("web1: hello from the browser");
    web2.wait_text("web1: hello from the browser");
    web1.wait_text("web1: hello from the browser");
    tcp.send("hello from the terminal");
    web1.wait_text("tcp1: hello from the terminal");
    web2.wait_text("tcp1: hello from the terminal");

    // Actions, private messages, and commands as typed.
    web2.type_line("/me waves");
    tcp.expect("* web2 waves");
    web1.wait_text("• web2 waves");
    web2.type_line("/msg web1 psst");
    web1.wait_text("web2 -> web1: psst");
    web2.wait_text("web2 -> web1: psst");
    tcp.send("/msg web2 a secret");
    tcp.expect("tcp1 -> web2: a secret");
    web2.wait_text("tcp1 -> web2: a secret");
    web1.type_line("/who");
    web1.wait_text("* #lobby (3): tcp1, web1, web2");

    // Tab completes a name; Up brings back what was sent.
    web1.type_text("tc");
    web1.press("Tab");
    assert_eq!(web1.focused_value(), "tcp1: ");
    web1.type_line("thanks");
    tcp.expect("web1: tcp1: thanks");
    web1.type_text("/wh");
    web1.press("Tab");
    assert_eq!(web1.focused_value(), "/who");
    web1.press("Tab");
    assert_eq!(web1.focused_value(), "/whisper ");
    web1.eval("document.activeElement.select()");
    web1.press("Backspace");
    web1.press("ArrowUp");
    assert_eq!(web1.focused_value(), "tcp1: thanks");
    web1.press("ArrowUp");
    assert_eq!(web1.focused_value(), "/who");
    web1.press("ArrowDown");
    web1.press("ArrowDown");
    assert_eq!(web1.focused_value(), "");

    // Names are coloured as the terminal client colours them.
    for name in ["tcp1", "web1", "web2"] {
        assert_eq!(page_colour(&web1, name), terminal_colour(name), "{name}");
    }

    // Notifications, once allowed (the page asks when its button is pressed).
    web2.grant("notifications", &format!("http://{web}"));
    web2.click(
        "the notification button",
        "element.tagName === 'BUTTON' && element.innerText === 'Notify me of mentions'",
    );
    web2.wait_text("Notifying of mentions");
    // The page's notifications are kept instead of shown.
    web2.eval(
        "window.Notification = class { \
             constructor(title, options) { \
                 (window.notified ||= []).push(`${title}: ${options.body}`); \
             } \
             addEventListener() {} }",
    );
    // A mention from someone else is marked, counted in the title while the tab is
    // hidden, and notified; so is a private message.
    web2.eval(
        "Object.defineProperty(document, 'hidden', { value: true, configurable: true }); \
         document.dispatchEvent(new Event('visibilitychange'))",
    );
    tcp.send("web2: are you there?");
    web2.wait_text("tcp1: web2: are you there?");
    web2.wait_for(
        "the unread count in the title",
        "document.title.startsWith('(1) #lobby')",
    );
    tcp.send("/msg web2 hello?");
    web2.wait_text("tcp1 -> web2: hello?");
    assert_eq!(
        web2.eval("window.notified"),
        json!([
            "tcp1 in #lobby: web2: are you there?",
            "tcp1 in #lobby: hello?"
        ])
    );
    web2.eval("delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))");
    web2.wait_for(
        "the title without a count",
        "document.title === '#lobby - chat'",
    );

    browser.assert_clean();
    screenshots(&browser, &web1, &mut tcp);
}

/// The page at desktop and phone width, light and dark, with lines of every kind; and
/// "N new" when scrolled up.
fn screenshots(browser: &Browser, page: &Page, tcp: &mut TestClient) {
    tcp.send("/topic Friday release: see https://example.com/notes");
    page.wait_text("Friday release");
    page.type_line("/nosuchcommand");
    page.wait_text("! unknown command /nosuchcommand");
    tcp.send("web1: a line that mentions you");
    page.wait_text("tcp1: web1: a line that mentions you");
    page.type_line(
        "a link: https://example.com/a?b=1, and a long line that has to wrap at the edge of \
         a phone's screen",
    );
    page.screenshot("desktop-light");
    page.dark(true);
    page.screenshot("desktop-dark");
    page.resize(PHONE);
    assert_eq!(
        page.eval("document.documentElement.scrollWidth"),
        json!(PHONE.0),
        "nothing sticks out sideways at phone width"
    );
    page.screenshot("phone-dark");
    page.dark(false);
    page.screenshot("phone-light");
    page.click("the People button", "element.innerText === 'People'");
    page.wait_for(
        "the people drawer",
        "document.querySelector('aside').checkVisibility()",
    );
    page.screenshot("phone-people");
    page.press("Escape");
    page.resize(common::DESKTOP);

    // Scrolled up, new lines are counted instead of scrolled to.
    for number in 0..40 {
        tcp.send(&format!("filler line {number}"));
    }
    page.wait_text("filler line 39");
    page.eval("document.querySelector('[role=log]').scrollTop = 0");
    tcp.send("one more");
    tcp.send("and another");
    page.wait_text("2 new");
    page.screenshot("desktop-scrolled-up");
    page.click("the 2 new button", "element.innerText === '2 new'");
    page.wait_for(
        "the log at its newest line",
        "(log => log.scrollHeight - log.scrollTop - log.clientHeight < 5)
            (document.querySelector('[role=log]'))",
    );
    assert!(!page.text().contains("2 new"), "{}", page.text());
    browser.assert_clean();
}

#[test]
fn an_invite_link_opened_in_the_browser_joins_the_private_room() {
    let (server, web) = web_server(0, &[]);
    let mut owner = TestClient::join(server.addr, "owner");
    owner.send("/create");
    let joined = owner.expect_prefix("* owner joined #");
    let room = joined.trim_start_matches("* owner joined ").to_string();
    owner.expect(&format!("* {room} (1): owner"));
    let links = owner.expect_prefix(&format!("* {room} is private; invite link: "));
    let links = links.rsplit_once("link: ").expect("links").1.to_string();
    let key = links
        .split(" or ")
        .find_map(|link| link.split_once("?key=").map(|(_, key)| key.to_string()))
        .expect("a key in the link");
    // The server's own web link: it must give one.
    let bare = room.trim_start_matches('#');
    let expected = format!("http://{web}/#{bare}?key={key}");
    let link = links
        .split(" or ")
        .find(|link| link.starts_with("http://"))
        .unwrap_or_else(|| panic!("no web link in {links:?}"))
        .to_string();
    assert_eq!(link, expected, "the web link in {links:?}");

    let browser = Browser::start();
    let page = browser.open("guest", &link);
    page.wait_text(&format!("You are invited to {room}"));
    page.resize(PHONE);
    page.screenshot("phone-login-invite");
    page.type_line("guest");
    owner.expect(&format!("* guest joined {room}"));
    page.wait_text(&format!("* #{bare} ("));
    page.wait_for(
        "the room's name at the top",
        &format!("document.querySelector('h1').innerText === {}", json!(room)),
    );
    page.wait_text("private");
    wait_members(&page, &["guest (you)", "owner"]);
    page.type_line("thanks for the invite");
    owner.expect("guest: thanks for the invite");
    owner.send("welcome in");
    page.wait_text("owner: welcome in");
    page.resize(PHONE);
    page.screenshot("phone-private-room");
    // The address is the room's link, so a reload comes back to it.
    assert_eq!(
        page.eval("location.hash"),
        json!(format!("#{bare}?key={key}"))
    );
    browser.assert_clean();
}

#[test]
fn a_line_of_html_shows_as_text_and_runs_nothing() {
    let (server, web) = web_server(0, &[]);
    let mut eve = TestClient::join(server.addr, "eve");
    let browser = Browser::start();
    let page = log_in(&browser, web, "alice");
    let attacks = [
        r#"<img src=x onerror="window.__xss=1">"#,
        "<script>window.__xss=2</script>",
        r#"<a href="javascript:window.__xss=3">click</a>"#,
        "javascript:window.__xss=4 https://example.com/x\"onmouseover=\"window.__xss=5",
    ];
    for attack in attacks {
        eve.send(attack);
        page.wait_text(&format!("eve: {attack}"));
    }
    eve.wait_for("* alice joined #lobby");
    eve.send(&format!("/topic {}", attacks[0]));
    page.wait_text(&format!("* eve set the topic of #lobby: {}", attacks[0]));
    eve.send(&format!("/me {}", attacks[1]));
    page.wait_text(&format!("• eve {}", attacks[1]));
    // Our own line, shown by the page itself, is text too.
    page.type_line(attacks[0]);
    eve.wait_for(&format!("alice: {}", attacks[0]));
    page.wait_text(&format!("alice: {}", attacks[0]));

    let page_has = |selector: &str| {
        page.eval(&format!(
            "document.querySelectorAll({}).length",
            json!(selector)
        ))
    };
    assert_eq!(page_has("img"), json!(0));
    assert_eq!(page_has("script:not([src])"), json!(0));
    assert_eq!(page_has("a[href^='javascript']"), json!(0));
    assert_eq!(page.eval("typeof window.__xss"), json!("undefined"));
    // The one URL is a link, opened apart from the page.
    let link = page
        .eval("[...document.querySelectorAll('[role=log] a')].map(a => [a.href, a.rel, a.target])");
    assert_eq!(
        link,
        json!([["https://example.com/x", "noopener noreferrer", "_blank"]])
    );
    browser.assert_clean();
}

#[test]
fn a_registered_name_asks_for_its_password() {
    let (server, web) = web_server(0, &[]);
    let mut owner = TestClient::join(server.addr, "rosa");
    owner.send("/register rosa-pass-1");
    owner.expect("* rosa is registered; from now on connect with \"rosa PASSWORD\"");
    owner.send("/quit");
    owner.wait_for("* bye");

    let browser = Browser::start();
    let page = browser.open("rosa", &page_url(web));
    page.type_line("rosa");
    page.wait_text("Password for rosa");
    page.wait_for(
        "the password field to have the focus",
        "document.activeElement.type === 'password'",
    );
    page.screenshot("password-prompt");
    page.type_line("not-the-password");
    page.wait_text("wrong password for rosa");
    assert_eq!(page.focused_value(), "", "the wrong password is cleared");
    page.type_line("rosa-pass-1");
    page.wait_text("* welcome rosa, you are in #lobby");
    assert!(!page.text().contains("rosa-pass-1"), "{}", page.text());
    let mut other = TestClient::join(server.addr, "other");
    other.send("/whois rosa");
    other.expect_prefix("* rosa is registered, in #lobby");
    browser.assert_clean();
}

#[test]
fn the_page_reconnects_after_the_server_restarts() {
    let data = TempDir::new("web-restart");
    let data_dir = data.path().to_str().expect("a UTF-8 path").to_string();
    let (mut server, web) = web_server(0, &["--data-dir", &data_dir]);
    let browser = Browser::start();
    let page = log_in(&browser, web, "phoenix");
    page.type_line("/register phoenix-pass");
    page.wait_text("* phoenix is registered");
    page.type_line("/join #den");
    page.wait_text("* phoenix joined #den");

    page.type_line("said before the restart");
    page.wait_text("phoenix: said before the restart");

    server.signal(rustix::process::Signal::TERM);
    server.wait_exit(Duration::from_secs(10));
    page.wait_text("offline");
    page.wait_text("* server shutting down");
    page.screenshot("desktop-offline");

    // The same web port again, once the old server's listener is gone. Both this probe
    // and the server bind with std's SO_REUSEADDR, so the old connections in TIME_WAIT
    // don't hold the port; a listener still open would.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpListener::bind(web).is_err() {
        assert!(Instant::now() < deadline, "{web} stayed in use");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (server, again) = web_server(web.port(), &["--data-dir", &data_dir]);
    assert_eq!(again, web);

    // It logs in again with the password, and goes back to its room: a second join.
    page.wait_for_within(
        RECONNECT_TIMEOUT,
        "the page back in #den",
        "[...document.querySelectorAll('[role=log] > *')]
            .filter(line => line.innerText.endsWith('* phoenix joined #den')).length === 2",
    );
    page.wait_text("online");
    assert_eq!(
        page.eval("document.querySelector('h1').innerText"),
        json!("#den")
    );
    let mut watcher = TestClient::join(server.addr, "watcher");
    watcher.send("/whois phoenix");
    watcher.expect_prefix("* phoenix is registered, in #den");
    watcher.send("/join #den");
    watcher.expect("* watcher joined #den");
    watcher.wait_for("* #den (2): phoenix, watcher");
    page.wait_text("* watcher joined #den");
    page.type_line("risen");
    watcher.expect("phoenix: risen");
    // Back in #den, the page was given the room's history again (dimmed).
    assert_eq!(
        page.eval(
            "[...document.querySelectorAll('[role=log] > *')]
                .filter(line => line.innerText.includes('phoenix: said before the restart'))
                .map(line => Number(getComputedStyle(line).opacity) < 1)"
        ),
        json!([false, true])
    );
    browser.assert_clean();
}

#[test]
fn the_people_list_follows_joins_renames_and_quits() {
    let (server, web) = web_server(0, &[]);
    let browser = Browser::start();
    let page = log_in(&browser, web, "watcher");
    wait_members(&page, &["watcher (you)"]);
    let mut alice = TestClient::join(server.addr, "alice");
    wait_members(&page, &["alice", "watcher (you)"]);
    let mut bob = TestClient::join(server.addr, "bob");
    wait_members(&page, &["alice", "bob", "watcher (you)"]);
    alice.send("/nick alicia");
    alice.wait_for("* alice is now alicia");
    wait_members(&page, &["alicia", "bob", "watcher (you)"]);

    // The topic is shown at the top while the room has one.
    let banner = "document.querySelector('header').innerText";
    alice.send("/topic weekly sync");
    page.wait_for(
        "the topic at the top",
        &format!("{banner}.includes('weekly sync')"),
    );
    alice.send("/topic -");
    page.wait_text("* alicia cleared the topic of #lobby");
    page.wait_for(
        "no topic at the top",
        &format!("!{banner}.includes('weekly sync')"),
    );

    bob.send("/quit");
    wait_members(&page, &["alicia", "watcher (you)"]);
    alice.send("/join #elsewhere");
    wait_members(&page, &["watcher (you)"]);
    alice.send("/join #lobby");
    wait_members(&page, &["alicia", "watcher (you)"]);
    page.type_line("/nick watcher2");
    wait_members(&page, &["alicia", "watcher2 (you)"]);
    alice.wait_for("* watcher is now watcher2");

    // The room list comes from /rooms, and a room in it is a button that joins it.
    alice.send("/join #elsewhere");
    alice.wait_for("* #elsewhere (1): alicia");
    page.click("the Refresh button", "element.innerText === 'Refresh'");
    page.click(
        "#elsewhere in the room list",
        "element.tagName === 'BUTTON' && element.innerText.startsWith('#elsewhere')",
    );
    alice.expect("* watcher2 joined #elsewhere");
    wait_members(&page, &["alicia", "watcher2 (you)"]);
    assert_eq!(members(&page).len(), 2);
    browser.assert_clean();
}

#[test]
fn a_web_socket_from_another_origin_is_refused() {
    let (_server, web) = web_server(0, &[]);
    // The upgrade with `origin`: the socket, or the HTTP status it was refused with.
    let connect = |origin: &str| {
        let stream = TcpStream::connect(web).expect("connect to the web port");
        stream
            .set_read_timeout(Some(common::TIMEOUT))
            .expect("set read timeout");
        let mut request = format!("ws://{web}/ws")
            .into_client_request()
            .expect("a request");
        request
            .headers_mut()
            .insert("Origin", origin.parse().expect("a header value"));
        match tungstenite::client(request, stream) {
            Ok((socket, _)) => Ok(socket),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(response.status().as_u16())
            }
            Err(err) => panic!("the upgrade with Origin {origin} failed: {err}"),
        }
    };
    assert_eq!(connect("http://evil.example").err(), Some(403));
    // The page's own origin is let in, and greeted as on TCP.
    let mut socket = connect(&format!("http://{web}"))
        .unwrap_or_else(|status| panic!("the page's own origin was refused: {status}"));
    let greeting = socket.read().expect("a greeting");
    assert_eq!(
        greeting.to_text().expect("text"),
        "* hello! send your name (1-32 letters, digits, _ or -)"
    );
}

#[test]
fn a_browser_closing_its_socket_leaves_the_server_serving() {
    // A closing frame from the page once made both writer threads spin on an empty
    // chunk: nobody could join after it, and the server's CPU stayed at 100 %.
    let (server, web) = web_server(0, &[]);
    for round in 0..3 {
        let stream = TcpStream::connect(web).expect("connect to the web port");
        stream
            .set_read_timeout(Some(common::TIMEOUT))
            .expect("set read timeout");
        let (mut socket, _) =
            tungstenite::client(format!("ws://{web}/ws"), stream).expect("the upgrade");
        socket.read().expect("a greeting");
        let name = format!("leaver{round}");
        socket
            .send(tungstenite::Message::text(name.as_str()))
            .expect("send the name");
        let welcome = socket.read().expect("a welcome");
        assert!(
            welcome
                .to_text()
                .is_ok_and(|text| text.starts_with("* welcome leaver")),
            "{welcome:?}"
        );
        socket.close(None).expect("close");
        // The server answers the close with its own.
        loop {
            match socket.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(err) => panic!("after the close: {err}"),
            }
        }
        let mut after = TestClient::join(server.addr, &format!("after{round}"));
        after.send("/who");
        after.expect_prefix("* #lobby (1): after");
    }
    // Spinning writers burn CPU with nothing to do: its CPU time stays put when idle.
    let cpu = || cpu_ticks(server.pid());
    let before = cpu();
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu() - before;
    assert!(spent < 20, "the idle server used {spent} ticks in 0.5 s");
}

/// User plus system CPU time of a process, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server's stat");
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |index: usize| fields.get(index).and_then(|text| text.parse::<u64>().ok());
    field(11).unwrap_or(0) + field(12).unwrap_or(0)
}
