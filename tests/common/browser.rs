//! A real browser for the web client's tests: headless Chromium driven over the DevTools
//! protocol (CDP), on one WebSocket to the browser. Each [`Page`] is a tab in a browser
//! context of its own (its own cookies and storage, like a private window), so two pages
//! are two people. Pages are read as a person reads them: their visible text, and the
//! field that has the focus is where typing goes.
//!
//! Every console error, uncaught exception and error the browser logs (a refused script
//! or style, say) is kept; [`Browser::assert_clean`] fails the test on any. Chromium and
//! its profile directory are gone when the [`Browser`] is dropped.

use std::cell::RefCell;
use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::WebSocket;

use super::{TIMEOUT, eventually};

/// How long Chromium may take to start and say where its DevTools listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one DevTools call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a condition on a page is looked at again.
const POLL: Duration = Duration::from_millis(25);

/// The window of a desktop, and a phone's (CSS pixels).
pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (360, 740);

/// A directory under the system's temporary one, removed (with what is in it) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "chat-{what}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The DevTools connection, shared by the browser and its pages.
struct Cdp {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Console errors, exceptions and logged errors, each with the page it came from.
    problems: Vec<String>,
    /// Which page (by its session) is which, for the problems' sake.
    labels: Vec<(String, String)>,
}

impl Cdp {
    /// Calls `method` (on the page of `session`, or on the browser) and returns its result.
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(tungstenite::Message::text(message.to_string()))
            .map_err(|err| format!("{method}: could not send: {err}"))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        while Instant::now() < deadline {
            let Some(message) = self.read()? else {
                continue;
            };
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    return Err(format!("{method}: {error}"));
                }
                return Ok(message["result"].clone());
            }
            self.event(&message);
        }
        Err(format!("{method}: no answer in {CALL_TIMEOUT:?}"))
    }

    /// The next message, or `None` if none came within the socket's read timeout.
    fn read(&mut self) -> Result<Option<Value>, String> {
        match self.socket.read() {
            Ok(tungstenite::Message::Text(text)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|err| format!("DevTools sent something that is not JSON: {err}")),
            Ok(_) => Ok(None),
            Err(tungstenite::Error::Io(err))
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(format!("the DevTools connection failed: {err}")),
        }
    }

    /// Reads what has come so far (events), without waiting.
    fn drain(&mut self) {
        while let Ok(Some(message)) = self.read() {
            self.event(&message);
        }
    }

    /// Keeps what an event says went wrong.
    fn event(&mut self, message: &Value) {
        let params = &message["params"];
        let problem = match message["method"].as_str() {
            Some("Runtime.consoleAPICalled")
                if matches!(params["type"].as_str(), Some("error" | "assert")) =>
            {
                let args: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|arg| {
                        arg["value"]
                            .as_str()
                            .map_or_else(|| arg["description"].to_string(), String::from)
                    })
                    .collect();
                format!("console.error: {}", args.join(" "))
            }
            Some("Runtime.exceptionThrown") => {
                let details = &params["exceptionDetails"];
                let description = details["exception"]["description"]
                    .as_str()
                    .unwrap_or_else(|| details["text"].as_str().unwrap_or("?"));
                format!("uncaught exception: {description}")
            }
            // What the browser itself logs: a script or style the page's policy refused,
            // a file that failed to load.
            Some("Log.entryAdded") if params["entry"]["level"] == "error" && !expected(params) => {
                format!(
                    "logged ({}): {} {}",
                    params["entry"]["source"].as_str().unwrap_or("?"),
                    params["entry"]["text"].as_str().unwrap_or("?"),
                    params["entry"]["url"].as_str().unwrap_or("")
                )
            }
            _ => return,
        };
        let session = message["sessionId"].as_str().unwrap_or("");
        let label = self
            .labels
            .iter()
            .find(|(known, _)| known == session)
            .map_or("the browser", |(_, label)| label.as_str());
        self.problems.push(format!("{label}: {problem}"));
    }
}

/// Whether a logged error is one a test expects: the WebSocket to a server that is down
/// refusing the page's reconnects (the restart test means it to).
fn expected(params: &Value) -> bool {
    let text = params["entry"]["text"].as_str().unwrap_or_default();
    text.starts_with("WebSocket connection to ")
}

/// Headless Chromium with a fresh profile; killed, and its profile removed, when dropped.
pub struct Browser {
    cdp: Rc<RefCell<Cdp>>,
    child: Child,
    profile: TempDir,
}

impl Browser {
    /// Starts Chromium (`chromium` on the PATH) and connects to its DevTools.
    pub fn start() -> Browser {
        let profile = TempDir::new("chromium");
        let log = fs::File::create(profile.path().join("chromium.log")).expect("a log file");
        let data = profile.path().join("data");
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                // Pages in other windows keep their timers: two people in one browser.
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", data.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // A process group of its own, so that its helpers go when it goes.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("could not start chromium (is it installed?): {err}"));
        Browser {
            cdp: Rc::new(RefCell::new(Cdp {
                socket: Browser::connect(&data, &profile),
                next_id: 0,
                problems: Vec::new(),
                labels: Vec::new(),
            })),
            child,
            profile,
        }
    }

    /// Waits for `DevToolsActivePort` in the profile and opens its WebSocket.
    fn connect(data: &Path, profile: &TempDir) -> WebSocket<TcpStream> {
        let file = data.join("DevToolsActivePort");
        let mut contents = String::new();
        let found = eventually(START_TIMEOUT, || {
            contents = fs::read_to_string(&file).unwrap_or_default();
            contents.lines().count() >= 2
        });
        if !found {
            let log = fs::read_to_string(profile.path().join("chromium.log")).unwrap_or_default();
            panic!("chromium never wrote {}; its log:\n{log}", file.display());
        }
        let mut lines = contents.lines();
        let port = lines.next().unwrap_or_default().trim();
        let path = lines.next().unwrap_or_default().trim();
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("set write timeout");
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (socket, _) = tungstenite::client(url.as_str(), stream)
            .unwrap_or_else(|err| panic!("the DevTools handshake at {url} failed: {err}"));
        // From now on reads give up quickly, so waiting loops can look at the clock.
        socket
            .get_ref()
            .set_read_timeout(Some(POLL))
            .expect("set read timeout");
        socket
    }

    fn call(&self, method: &str, params: Value) -> Value {
        self.cdp
            .borrow_mut()
            .call(None, method, params)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// A new tab in a browser context of its own, at the desktop size, showing `url`.
    /// `label` names it in failure messages.
    pub fn open(&self, label: &str, url: &str) -> Page {
        let context =
            self.call("Target.createBrowserContext", json!({}))["browserContextId"].clone();
        let target = self.call(
            "Target.createTarget",
            json!({ "url": "about:blank", "browserContextId": context }),
        )["targetId"]
            .clone();
        let session = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        )["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        self.cdp
            .borrow_mut()
            .labels
            .push((session.clone(), label.to_string()));
        let page = Page {
            cdp: Rc::clone(&self.cdp),
            session,
            context,
            label: label.to_string(),
        };
        for domain in ["Runtime.enable", "Page.enable", "Log.enable"] {
            page.call(domain, json!({}));
        }
        // Every page acts as the focused one: typing reaches it, as it would a person's.
        page.call(
            "Emulation.setFocusEmulationEnabled",
            json!({ "enabled": true }),
        );
        page.resize(DESKTOP);
        page.goto(url);
        page
    }

    /// Fails the test if any page had a console error, an uncaught exception or a logged
    /// error.
    pub fn assert_clean(&self) {
        let mut cdp = self.cdp.borrow_mut();
        cdp.drain();
        assert!(
            cdp.problems.is_empty(),
            "the browser reported problems:\n{}",
            cdp.problems.join("\n")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Politely first, then the whole process group.
        let _ = self.cdp.borrow_mut().call(None, "Browser.close", json!({}));
        let exited = eventually(Duration::from_secs(3), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if let Ok(pid) = i32::try_from(self.child.id())
            && let Some(group) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Helpers may still be writing into the profile for a moment.
        let profile = self.profile.path().to_path_buf();
        eventually(Duration::from_secs(2), || {
            let _ = fs::remove_dir_all(&profile);
            !profile.exists()
        });
    }
}

/// One tab: one person at the web page.
pub struct Page {
    cdp: Rc<RefCell<Cdp>>,
    session: String,
    /// Its browser context, which holds its permissions.
    context: Value,
    pub label: String,
}

impl Page {
    fn call(&self, method: &str, params: Value) -> Value {
        self.cdp
            .borrow_mut()
            .call(Some(&self.session), method, params)
            .unwrap_or_else(|err| panic!("{}: {err}", self.label))
    }

    /// Grants `permission` (`notifications`) to `origin`, as if the person had allowed it
    /// when the page asked.
    pub fn grant(&self, permission: &str, origin: &str) {
        self.cdp
            .borrow_mut()
            .call(
                None,
                "Browser.grantPermissions",
                json!({ "permissions": [permission], "origin": origin,
                        "browserContextId": self.context }),
            )
            .unwrap_or_else(|err| panic!("{}: {err}", self.label));
    }

    /// Goes to `url` and waits until the page has loaded.
    pub fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_for("the page to load", "document.readyState === 'complete'");
    }

    /// Evaluates `expression` (a promise is awaited) and returns its value.
    pub fn eval(&self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(details) = result.get("exceptionDetails") {
            panic!(
                "{}: evaluating {expression:?} threw: {}",
                self.label, details["exception"]["description"]
            );
        }
        result["result"]["value"].clone()
    }

    /// What the page shows as text (hidden elements left out).
    pub fn text(&self) -> String {
        self.eval("document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until `expression` is truthy; fails, showing the page's text, if it isn't
    /// within [`TIMEOUT`].
    pub fn wait_for(&self, what: &str, expression: &str) {
        self.wait_for_within(TIMEOUT, what, expression);
    }

    /// Waits until `expression` is truthy, at most `limit`.
    pub fn wait_for_within(&self, limit: Duration, what: &str, expression: &str) {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.eval(expression);
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: waited {limit:?} for {what} ({expression}); the page shows:\n{}",
                    self.label,
                    self.text()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Waits until the page shows `text` somewhere.
    pub fn wait_text(&self, text: &str) {
        self.wait_text_within(TIMEOUT, text);
    }

    pub fn wait_text_within(&self, limit: Duration, text: &str) {
        let expression = format!("document.body.innerText.includes({})", json!(text));
        self.wait_for_within(limit, &format!("the text {text:?}"), &expression);
    }

    /// Types `text` where the focus is, as a keyboard would.
    pub fn type_text(&self, text: &str) {
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Presses and releases a key: `Enter`, `Tab`, `Backspace`, `ArrowUp`, `ArrowDown`,
    /// `Escape`.
    pub fn press(&self, key: &str) {
        let (code, text) = match key {
            "Enter" => (13, "\r"),
            "Tab" => (9, ""),
            "Backspace" => (8, ""),
            "Escape" => (27, ""),
            "ArrowUp" => (38, ""),
            "ArrowDown" => (40, ""),
            other => panic!("no key code for {other:?}"),
        };
        let mut down = json!({
            "type": "keyDown",
            "key": key,
            "code": key,
            "windowsVirtualKeyCode": code,
            "nativeVirtualKeyCode": code,
        });
        if !text.is_empty() {
            down["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down);
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyUp", "key": key, "code": key, "windowsVirtualKeyCode": code }),
        );
    }

    /// Types `line` where the focus is and presses Enter.
    pub fn type_line(&self, line: &str) {
        self.type_text(line);
        self.press("Enter");
    }

    /// The value of the focused field.
    pub fn focused_value(&self) -> String {
        self.eval("document.activeElement && document.activeElement.value || ''")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Clicks the middle of the first visible element for which `predicate` (JavaScript
    /// taking `element`) holds, with the mouse.
    pub fn click(&self, what: &str, predicate: &str) {
        let find = format!(
            "[...document.querySelectorAll('body *')].find(element => \
                element.checkVisibility() && ({predicate}))"
        );
        self.wait_for(what, &find);
        let at = self.eval(&format!(
            "(() => {{ const box = ({find}).getBoundingClientRect(); \
                return [box.x + box.width / 2, box.y + box.height / 2]; }})()"
        ));
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": at[0], "y": at[1], "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Sets the window's size (CSS pixels); a phone's is drawn at twice the pixels.
    pub fn resize(&self, (width, height): (u32, u32)) {
        let phone = width < 600;
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": width,
                "height": height,
                "deviceScaleFactor": if phone { 2 } else { 1 },
                "mobile": phone,
            }),
        );
    }

    /// Makes the page see `prefers-color-scheme: dark` (or light).
    pub fn dark(&self, dark: bool) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme",
                                   "value": if dark { "dark" } else { "light" } }] }),
        );
    }

    /// Saves a screenshot as `target/web-screenshots/NAME.png`; returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("a base64 screenshot");
        let dir = screenshot_dir();
        fs::create_dir_all(&dir).expect("create the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        fs::write(&path, png).expect("write the screenshot");
        path
    }
}

/// `target/web-screenshots`, beside the test binary's `release` or `debug` directory.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/PROFILE/deps/web-HASH
    exe.ancestors()
        .nth(3)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("web-screenshots")
}
