//! Quick runs of the real `chat-bench` binary against an in-process server: small numbers,
//! checking that nothing is lost, not how fast it goes.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use chat_server::Config;
use common::{
    Exit, Process, ServerProcess, proc_status, start_server, start_server_with, test_config,
};

/// How long a run may take: its own `--timeout`, and some.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A finished `chat-bench --json` run.
struct Run {
    json: String,
    exit: Exit,
}

impl Run {
    /// Runs `chat-bench --json` against `addr`; the run must succeed.
    fn new(addr: SocketAddr, args: &[&str]) -> Run {
        let exit = bench(addr, args);
        let run = Run {
            json: exit.stdout.join("\n").trim().to_string(),
            exit,
        };
        assert!(
            run.exit.status.success(),
            "chat-bench {args:?} failed\n{}",
            run.describe()
        );
        run
    }

    fn describe(&self) -> String {
        format!("{:?}", self.exit)
    }

    /// The raw text of a field's value in the flat JSON object.
    fn raw(&self, key: &str) -> &str {
        let pattern = format!("\"{key}\":");
        let Some(start) = self.json.find(&pattern) else {
            panic!("no {key:?} in the report\n{}", self.describe());
        };
        let value = &self.json[start + pattern.len()..];
        let end = value.find([',', '}']).unwrap_or(value.len());
        &value[..end]
    }

    fn number(&self, key: &str) -> u64 {
        self.raw(key).parse().unwrap_or_else(|err| {
            panic!("{key} is not a whole number ({err})\n{}", self.describe())
        })
    }

    fn float(&self, key: &str) -> f64 {
        self.raw(key)
            .parse()
            .unwrap_or_else(|err| panic!("{key} is not a number ({err})\n{}", self.describe()))
    }

    /// Every expected delivery arrived exactly once, in order.
    fn assert_complete(&self, expected: u64) {
        for (key, value) in [
            ("expected_deliveries", expected),
            ("deliveries", expected),
            ("lost", 0),
            ("duplicated", 0),
            ("reordered", 0),
            ("unexpected", 0),
            ("server_errors", 0),
            ("disconnected", 0),
        ] {
            assert_eq!(self.number(key), value, "{key}\n{}", self.describe());
        }
        for key in ["timed_out", "stalled"] {
            assert_eq!(self.raw(key), "false", "{key}\n{}", self.describe());
        }
    }
}

fn bench(addr: SocketAddr, args: &[&str]) -> Exit {
    Process::run(
        Command::new(env!("CARGO_BIN_EXE_chat-bench"))
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--json", "--quiet", "--timeout", "20"])
            .args(args),
        RUN_LIMIT,
    )
}

#[test]
fn fanout_delivers_every_message_to_every_other_client() {
    let server = start_server();
    let run = Run::new(server.addr, &["fanout", "-n", "10", "-s", "3", "-m", "50"]);
    run.assert_complete(3 * 50 * 9);
    assert_eq!(run.number("joined"), 10);
    assert_eq!(run.number("messages_sent"), 150);
    assert!(run.float("deliveries_per_sec") > 0.0, "{}", run.describe());
    assert!(run.float("latency_p50_ms") <= run.float("latency_p99_ms"));
    assert!(run.float("latency_p99_ms") <= run.float("latency_max_ms"));
}

#[test]
fn latency_run_sends_at_its_rate_and_reports_percentiles() {
    let server = start_server();
    let args = ["latency", "-n", "5", "--rate", "200", "--duration", "1"];
    let run = Run::new(server.addr, &args);
    run.assert_complete(200 * 4);
    let elapsed = run.float("elapsed_ms");
    assert!(
        (900.0..3000.0).contains(&elapsed),
        "200 messages at 200/s took {elapsed} ms\n{}",
        run.describe()
    );
    assert!(run.float("latency_p50_ms") > 0.0, "{}", run.describe());
}

#[test]
fn connect_run_joins_everyone_and_the_broadcast_reaches_all() {
    let server = start_server();
    let run = Run::new(server.addr, &["connect", "-n", "50"]);
    run.assert_complete(49);
    for (key, value) in [
        ("joined", 50),
        ("refused", 0),
        ("failed", 0),
        ("dropped", 0),
    ] {
        assert_eq!(run.number(key), value, "{key}\n{}", run.describe());
    }
    assert!(run.float("connect_ms") > 0.0, "{}", run.describe());
}

#[test]
fn slow_readers_are_dropped_and_the_others_get_everything() {
    // A small backlog, and slow clients sent far more than fits in it and their sockets.
    let server = start_server_with(Config {
        max_backlog_bytes: 256 * 1024,
        ..test_config()
    });
    let args = [
        "--size",
        "1000",
        "--window",
        "65536",
        "slow-reader",
        "-n",
        "6",
        "-s",
        "2",
        "-k",
        "2",
        "-m",
        "4000",
    ];
    let run = Run::new(server.addr, &args);
    run.assert_complete(2 * 4000 * 3);
    assert_eq!(run.number("slow_disconnected"), 2, "{}", run.describe());
}

#[test]
fn server_memory_and_threads_are_read_from_the_servers_proc_status() {
    const WRITERS: u64 = 3;
    const CLIENTS: u64 = 4;
    let server = ServerProcess::start(&["--flood-rate", "0", "--writer-threads", "3"]);
    let pid = server.pid();
    let (threads_idle, rss_idle) = (proc_status(pid, "Threads"), proc_status(pid, "VmRSS"));
    let pid = pid.to_string();
    let clients = CLIENTS.to_string();
    let args = [
        "--server-pid",
        &pid,
        "fanout",
        "-n",
        &clients,
        "-s",
        "1",
        "-m",
        "10",
    ];
    let run = Run::new(server.addr, &args);
    let rss_after = proc_status(server.pid(), "VmRSS");
    run.assert_complete(10 * (CLIENTS - 1));
    eprintln!(
        "/proc: {threads_idle} threads and {rss_idle} KiB idle, {rss_after} KiB after; {}",
        run.json
    );

    // An idle server has its main thread (the accept loop), its signal thread and its
    // writers, and one more thread per connected client: the bench's numbers must be
    // exactly these, not its own or made up.
    assert!(threads_idle > WRITERS, "{threads_idle} threads in all");
    for (key, threads) in [
        ("server_threads_before", threads_idle),
        ("server_threads_joined", threads_idle + CLIENTS),
        ("server_threads_end", threads_idle + CLIENTS),
    ] {
        assert_eq!(run.number(key), threads, "{key}\n{}", run.describe());
    }
    // Memory moves a little between two readings, and a few clients take little of it:
    // each reported size is the server's to within a factor of two.
    let (low, high) = (rss_idle.min(rss_after) / 2, rss_idle.max(rss_after) * 2);
    for key in [
        "server_rss_before_kib",
        "server_rss_joined_kib",
        "server_rss_end_kib",
    ] {
        let rss = run.number(key);
        assert!(
            (low..=high).contains(&rss),
            "{key} is {rss} KiB, but /proc said {rss_idle} KiB before and {rss_after} KiB \
             after\n{}",
            run.describe()
        );
    }
}

/// A fresh data directory for a server that makes its own certificate.
fn data_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn fanout_runs_over_tls_against_a_tls_only_server() {
    let dir = data_dir("tls");
    let args = [
        "--flood-rate",
        "0",
        "--tls-port",
        "0",
        "--tls-self-signed",
        "--no-plain",
        "--data-dir",
        dir.to_str().expect("utf-8"),
    ];
    let server = ServerProcess::start(&args);
    let addr = server.tls_addr.expect("a TLS address");
    let run = Run::new(addr, &["--tls", "fanout", "-n", "6", "-s", "2", "-m", "50"]);
    run.assert_complete(2 * 50 * 5);
    assert_eq!(run.raw("tls"), "true", "{}", run.describe());
    assert_eq!(run.number("joined"), 6);
    assert_eq!(run.number("messages_sent"), 100);
    assert!(run.float("deliveries_per_sec") > 0.0, "{}", run.describe());
    assert!(run.float("latency_p99_ms") <= run.float("latency_max_ms"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_port_of_the_other_kind_fails_at_once_with_a_hint() {
    let dir = data_dir("mixed");
    let args = [
        "--flood-rate",
        "0",
        "--tls-port",
        "0",
        "--tls-self-signed",
        "--data-dir",
        dir.to_str().expect("utf-8"),
    ];
    let server = ServerProcess::start(&args);
    let tls = server.tls_addr.expect("a TLS address");
    let started = Instant::now();
    // TLS to the plain port: what comes back is no TLS.
    let exit = bench(
        server.addr,
        &["--tls", "fanout", "-n", "3", "-s", "1", "-m", "1"],
    );
    assert!(!exit.status.success(), "{exit:?}");
    assert!(
        exit.stderr.starts_with("chat-bench: TLS with ")
            && exit.stderr.contains("(is it the server's TLS port?)"),
        "{exit:?}"
    );
    // Plain text to the TLS port: the server closes, each client is dropped at once (not
    // when the run times out).
    let exit = bench(tls, &["fanout", "-n", "3", "-s", "1", "-m", "1"]);
    assert!(!exit.status.success(), "{exit:?}");
    assert!(
        exit.stderr.contains("3 dropped") && exit.stderr.contains("then --tls"),
        "{exit:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{exit:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fanout_runs_over_web_socket_and_wss() {
    let server = ServerProcess::start(&["--flood-rate", "0", "--web-port", "0"]);
    let web = server.web_addr.expect("a web address");
    let run = Run::new(web, &["--web", "fanout", "-n", "6", "-s", "2", "-m", "50"]);
    run.assert_complete(2 * 50 * 5);
    assert_eq!(run.raw("web"), "true", "{}", run.describe());
    assert_eq!(run.raw("tls"), "false", "{}", run.describe());
    assert_eq!(run.number("joined"), 6);
    assert_eq!(run.number("messages_sent"), 100);
    assert!(run.float("deliveries_per_sec") > 0.0, "{}", run.describe());
    drop(server);
    // The web port of a server with TLS speaks TLS: wss.
    let dir = data_dir("wss");
    let args = [
        "--flood-rate",
        "0",
        "--tls-port",
        "0",
        "--tls-self-signed",
        "--web-port",
        "0",
        "--data-dir",
        dir.to_str().expect("utf-8"),
    ];
    let server = ServerProcess::start(&args);
    let web = server.web_addr.expect("a web address");
    let args = ["--web", "--tls", "connect", "-n", "5"];
    let run = Run::new(web, &args);
    run.assert_complete(4);
    assert_eq!(run.raw("web"), "true", "{}", run.describe());
    assert_eq!(run.raw("tls"), "true", "{}", run.describe());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn web_socket_to_a_port_that_is_not_a_web_port_fails_at_once() {
    let server = ServerProcess::start(&["--flood-rate", "0", "--web-port", "0"]);
    let started = Instant::now();
    let exit = bench(
        server.addr,
        &["--web", "fanout", "-n", "3", "-s", "1", "-m", "1"],
    );
    assert!(!exit.status.success(), "{exit:?}");
    assert!(
        exit.stderr.starts_with("chat-bench: WebSocket with ")
            && exit.stderr.contains("(is it the server's web port?)"),
        "{exit:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{exit:?}");
}

#[test]
fn unreachable_server_fails_with_one_line() {
    // A port nobody listens on: bind one, then let it go.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port");
    let exit = bench(addr, &["fanout", "-n", "3", "-s", "1", "-m", "1"]);
    assert!(!exit.status.success(), "{exit:?}");
    assert!(exit.stdout.is_empty(), "{exit:?}");
    assert!(
        exit.stderr
            .starts_with("chat-bench: only 0 of 3 clients joined (3 refused"),
        "{exit:?}"
    );
    assert_eq!(exit.stderr.trim_end().lines().count(), 1, "{exit:?}");
}

#[test]
fn invalid_names_are_rejected_before_connecting() {
    // A listener that never accepts: a connection would still complete (into its queue),
    // so an empty queue afterwards shows the bench never connected.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let exit = bench(addr, &["--name-prefix", "a b", "connect", "-n", "2"]);
    assert!(!exit.status.success(), "{exit:?}");
    assert!(exit.stderr.contains("are not valid names"), "{exit:?}");
    assert_eq!(exit.stderr.trim_end().lines().count(), 1, "{exit:?}");
    listener.set_nonblocking(true).expect("non-blocking");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(err) if err.kind() == std::io::ErrorKind::WouldBlock),
        "the bench connected: {accepted:?}"
    );
}
