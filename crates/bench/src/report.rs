//! The result of a run: what was measured, printed as a table for people or as one JSON
//! object for scripts.

use std::fmt::{self, Write};
use std::time::Duration;

use crate::process::ProcessStatus;
use crate::stats::{Summary, Tally};

/// A process's memory, threads and CPU time before the clients connected, once all had
/// joined, and at the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerUsage {
    pub before: ProcessStatus,
    pub joined: ProcessStatus,
    pub end: ProcessStatus,
    /// From the reading before to the one at the end.
    pub wall: Duration,
}

impl ServerUsage {
    /// CPU time used from before connecting to the end.
    pub fn cpu(&self) -> Duration {
        self.end.cpu.saturating_sub(self.before.cpu)
    }

    /// That CPU time as a percentage of one core's time over the same span.
    pub fn cpu_percent(&self) -> f64 {
        if self.wall.is_zero() {
            return 0.0;
        }
        100.0 * self.cpu().as_secs_f64() / self.wall.as_secs_f64()
    }

    /// Several processes taken together: their memory, threads and CPU time added up.
    fn sum(usages: &[ServerUsage]) -> Option<ServerUsage> {
        let add = |a: ProcessStatus, b: ProcessStatus| ProcessStatus {
            rss_kib: a.rss_kib + b.rss_kib,
            threads: a.threads + b.threads,
            cpu: a.cpu + b.cpu,
        };
        usages.iter().copied().reduce(|a, b| ServerUsage {
            before: add(a.before, b.before),
            joined: add(a.joined, b.joined),
            end: add(a.end, b.end),
            wall: a.wall.max(b.wall),
        })
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The scenario's name (`fanout`, `latency`, `connect`, `slow-reader`).
    pub scenario: &'static str,
    /// The servers' addresses, `A` or `A, B`.
    pub target: String,
    /// Server instances the clients were spread over (round-robin).
    pub instances: usize,
    /// The protocol spoken (`chat`, `irc`).
    pub proto: &'static str,
    /// Over TLS (`--tls`).
    pub tls: bool,
    /// Over WebSocket (`--web`).
    pub web: bool,
    /// Worker threads driving the clients.
    pub threads: usize,
    /// Clients the run asked for.
    pub clients: usize,
    /// Clients that sent measured messages.
    pub senders: usize,
    /// Measured messages each sender sent.
    pub messages_per_sender: u64,
    /// Clients that never read after joining (slow-reader).
    pub slow_clients: usize,
    /// Messages per second the sender aimed at (latency).
    pub rate: Option<f64>,
    /// Clients welcomed by the server.
    pub joined: usize,
    /// Clients welcomed by each instance, in the order of `target`.
    pub joined_by_instance: Vec<usize>,
    /// Deliveries of a message sent by a client of another instance.
    pub crossed: u64,
    /// Connections refused (ECONNREFUSED, or `! server full`).
    pub refused: usize,
    /// Connections that failed otherwise (timed out, unreachable).
    pub failed: usize,
    /// Connections closed by the server before its welcome.
    pub dropped: usize,
    /// Joined clients (slow ones aside) the server disconnected during the run.
    pub disconnected: usize,
    /// From the first connect to the last welcome.
    pub connect_time: Duration,
    /// From each client's connect to its welcome.
    pub join_latency: Option<Summary>,
    /// Measured messages sent.
    pub messages_sent: u64,
    /// Deliveries a correct server makes: every message to every other healthy client.
    pub expected: u64,
    /// Deliveries counted by the receivers.
    pub tally: Tally,
    /// `! ...` lines received after joining.
    pub server_errors: u64,
    /// From the first measured send to the last delivery.
    pub elapsed: Duration,
    /// From send to receipt, over all deliveries.
    pub latency: Option<Summary>,
    /// Slow clients the server disconnected (slow-reader).
    pub slow_disconnected: Option<usize>,
    /// Each server's memory, threads and CPU time (`--server-pid`, in that order).
    pub servers: Vec<ServerUsage>,
    /// Redis's memory and CPU time (`--redis-pid`).
    pub redis: Option<ServerUsage>,
    /// The run hit its time limit before every expected delivery arrived.
    pub timed_out: bool,
    /// The measurement ended early: nothing was sent or delivered for a while, with
    /// deliveries still missing.
    pub stalled: bool,
}

impl Report {
    /// Expected deliveries that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.tally.unique)
    }

    /// Deliveries per second of the measurement.
    pub fn deliveries_per_sec(&self) -> f64 {
        per_second(self.tally.unique, self.elapsed)
    }

    /// Messages sent per second of the measurement.
    pub fn messages_per_sec(&self) -> f64 {
        per_second(self.messages_sent, self.elapsed)
    }

    /// The servers taken together (one server: itself).
    pub fn server(&self) -> Option<ServerUsage> {
        ServerUsage::sum(&self.servers)
    }

    /// Server memory added per joined client, in bytes (all servers together).
    pub fn rss_per_client(&self) -> Option<f64> {
        let server = self.server()?;
        let added = server.joined.rss_kib as f64 - server.before.rss_kib as f64;
        (self.joined > 0).then(|| added * 1024.0 / self.joined as f64)
    }

    /// What went wrong from the server's side: loss, duplicates, reordering, unexpected
    /// messages, error lines, disconnected healthy clients, a run that timed out.
    pub fn problems(&self) -> Vec<String> {
        let tally = &self.tally;
        let mut problems = Vec::new();
        for (count, what) in [
            (self.lost(), "lost"),
            (tally.duplicated, "duplicated"),
            (tally.reordered, "reordered"),
            (tally.unexpected, "unexpected"),
        ] {
            if count > 0 {
                problems.push(format!("{count} deliveries {what}"));
            }
        }
        if self.server_errors > 0 {
            problems.push(format!(
                "{} error lines from the server",
                self.server_errors
            ));
        }
        if self.disconnected > 0 {
            problems.push(format!("{} clients disconnected", self.disconnected));
        }
        if self.timed_out {
            problems.push("timed out".to_string());
        }
        if self.stalled {
            problems.push("stalled".to_string());
        }
        problems
    }

    /// One JSON object on one line; times in milliseconds, memory in KiB or bytes.
    pub fn to_json(&self) -> String {
        let mut json = Json::default();
        json.string("scenario", self.scenario);
        json.string("target", &self.target);
        json.number("instances", self.instances);
        json.string("proto", self.proto);
        json.boolean("tls", self.tls);
        json.boolean("web", self.web);
        json.number("threads", self.threads);
        json.number("clients", self.clients);
        json.number("senders", self.senders);
        json.number("messages_per_sender", self.messages_per_sender);
        json.number("slow_clients", self.slow_clients);
        json.float("rate", self.rate);
        json.number("joined", self.joined);
        let by_instance: Vec<String> = self
            .joined_by_instance
            .iter()
            .map(ToString::to_string)
            .collect();
        json.raw(
            "joined_by_instance",
            &format!("[{}]", by_instance.join(",")),
        );
        json.number("deliveries_across_instances", self.crossed);
        json.number("refused", self.refused);
        json.number("failed", self.failed);
        json.number("dropped", self.dropped);
        json.number("disconnected", self.disconnected);
        json.float("connect_ms", Some(millis(self.connect_time)));
        json.summary("join", self.join_latency.as_ref());
        json.number("messages_sent", self.messages_sent);
        json.number("expected_deliveries", self.expected);
        json.number("deliveries", self.tally.unique);
        json.number("lost", self.lost());
        json.number("duplicated", self.tally.duplicated);
        json.number("reordered", self.tally.reordered);
        json.number("unexpected", self.tally.unexpected);
        json.number("server_errors", self.server_errors);
        json.float("elapsed_ms", Some(millis(self.elapsed)));
        json.float(
            "deliveries_per_sec",
            Some(self.deliveries_per_sec().round()),
        );
        json.float("messages_per_sec", Some(self.messages_per_sec().round()));
        json.summary("latency", self.latency.as_ref());
        json.optional("slow_disconnected", self.slow_disconnected);
        let server = self.server();
        let server = server.as_ref();
        json.optional("server_rss_before_kib", server.map(|s| s.before.rss_kib));
        json.optional("server_rss_joined_kib", server.map(|s| s.joined.rss_kib));
        json.optional("server_rss_end_kib", server.map(|s| s.end.rss_kib));
        json.float(
            "server_rss_per_client_bytes",
            self.rss_per_client().map(f64::round),
        );
        json.optional("server_threads_before", server.map(|s| s.before.threads));
        json.optional("server_threads_joined", server.map(|s| s.joined.threads));
        json.optional("server_threads_end", server.map(|s| s.end.threads));
        json.float("server_cpu_percent", server.map(|s| s.cpu_percent()));
        let each = |value: fn(&ServerUsage) -> String| {
            let values: Vec<String> = self.servers.iter().map(value).collect();
            format!("[{}]", values.join(","))
        };
        json.raw("servers_rss_end_kib", &each(|s| s.end.rss_kib.to_string()));
        json.raw(
            "servers_cpu_percent",
            &each(|s| format!("{:.1}", s.cpu_percent())),
        );
        let redis = self.redis.as_ref();
        json.optional("redis_rss_end_kib", redis.map(|s| s.end.rss_kib));
        json.float("redis_cpu_percent", redis.map(|s| s.cpu_percent()));
        json.boolean("timed_out", self.timed_out);
        json.boolean("stalled", self.stalled);
        json.finish()
    }
}

/// The human table.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let is_connect = self.scenario == "connect";
        let mut what = format!("{} clients", self.clients);
        if !is_connect {
            let _ = write!(
                what,
                ", {} sender{} x {} message{}",
                self.senders,
                plural(self.senders as u64),
                self.messages_per_sender,
                plural(self.messages_per_sender)
            );
        }
        if let Some(rate) = self.rate {
            let _ = write!(what, " at {rate}/s");
        }
        if self.slow_clients > 0 {
            let _ = write!(what, ", {} never reading", self.slow_clients);
        }
        let tags: Vec<&str> = [
            (self.proto != "chat").then_some(self.proto),
            self.tls.then_some("tls"),
            self.web.then_some("web"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let proto = match tags.is_empty() {
            true => String::new(),
            false => format!(" ({})", tags.join(", ")),
        };
        let instances = match self.instances {
            1 => String::new(),
            count => format!(" ({count} instances)"),
        };
        writeln!(
            f,
            "chat-bench {} against {}{instances}{proto}: {what}, {} threads",
            self.scenario, self.target, self.threads
        )?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: String| {
            writeln!(f, "  {label:<14} {value}")
        };
        row(
            f,
            "clients",
            format!(
                "{} joined ({} refused, {} failed, {} dropped, {} disconnected)",
                self.joined, self.refused, self.failed, self.dropped, self.disconnected
            ),
        )?;
        if self.instances > 1 {
            let by_instance: Vec<String> = self
                .joined_by_instance
                .iter()
                .map(ToString::to_string)
                .collect();
            row(
                f,
                "instances",
                format!(
                    "{} joined each; {} deliveries across instances",
                    by_instance.join(" / "),
                    self.crossed
                ),
            )?;
        }
        let mut connect = format_duration(self.connect_time);
        if let Some(join) = &self.join_latency {
            let _ = write!(
                connect,
                " (each: p50 {}, p99 {}, max {})",
                format_duration(join.p50),
                format_duration(join.p99),
                format_duration(join.max)
            );
        }
        row(f, "connect time", connect)?;
        row(
            f,
            "deliveries",
            format!(
                "{} of {} ({} lost, {} duplicated, {} reordered, {} unexpected)",
                self.tally.unique,
                self.expected,
                self.lost(),
                self.tally.duplicated,
                self.tally.reordered,
                self.tally.unexpected
            ),
        )?;
        if self.server_errors > 0 {
            row(f, "server errors", self.server_errors.to_string())?;
        }
        row(
            f,
            "elapsed",
            format!(
                "{} (first send to last delivery)",
                format_duration(self.elapsed)
            ),
        )?;
        if !is_connect {
            row(
                f,
                "throughput",
                format!(
                    "{} deliveries/s, {} messages/s",
                    format_count(self.deliveries_per_sec()),
                    format_count(self.messages_per_sec())
                ),
            )?;
        }
        let latency = match &self.latency {
            Some(summary) => format!(
                "p50 {}  p90 {}  p99 {}  max {}  (mean {})",
                format_duration(summary.p50),
                format_duration(summary.p90),
                format_duration(summary.p99),
                format_duration(summary.max),
                format_duration(summary.mean)
            ),
            None => "no deliveries".to_string(),
        };
        row(f, "latency", latency)?;
        if is_connect && let Some(summary) = &self.latency {
            row(
                f,
                "broadcast",
                format!(
                    "reached all {} others in {}",
                    summary.count,
                    format_duration(summary.max)
                ),
            )?;
        }
        if let Some(disconnected) = self.slow_disconnected {
            row(
                f,
                "slow clients",
                format!(
                    "{disconnected} of {} disconnected by the server",
                    self.slow_clients
                ),
            )?;
        }
        let instances = self.servers.len();
        for (number, server) in self.servers.iter().enumerate().filter(|_| instances > 1) {
            row(
                f,
                &format!("server {}", number + 1),
                format!(
                    "RSS {} end, {} threads, CPU {} ({:.0}% of a core)",
                    format_kib(server.end.rss_kib),
                    server.end.threads,
                    format_duration(server.cpu()),
                    server.cpu_percent()
                ),
            )?;
        }
        if let Some(server) = &self.server() {
            // Several servers' totals; the labels stay within the table's column.
            let (prefix, sum) = match instances {
                1 => ("server ", ""),
                _ => ("", " (sum)"),
            };
            row(
                f,
                &format!("{prefix}CPU{sum}"),
                format!(
                    "{} ({:.0}% of a core)",
                    format_duration(server.cpu()),
                    server.cpu_percent()
                ),
            )?;
            row(
                f,
                &format!("{prefix}RSS{sum}"),
                format!(
                    "{} before, {} joined, {} end",
                    format_kib(server.before.rss_kib),
                    format_kib(server.joined.rss_kib),
                    format_kib(server.end.rss_kib)
                ),
            )?;
            if let Some(bytes) = self.rss_per_client() {
                row(f, "RSS per client", format!("{:.1} KiB", bytes / 1024.0))?;
            }
            row(
                f,
                &format!("{prefix}threads{sum}"),
                format!(
                    "{} before, {} joined, {} end",
                    server.before.threads, server.joined.threads, server.end.threads
                ),
            )?;
        }
        if let Some(redis) = &self.redis {
            row(
                f,
                "redis",
                format!(
                    "CPU {} ({:.0}% of a core), RSS {} end",
                    format_duration(redis.cpu()),
                    redis.cpu_percent(),
                    format_kib(redis.end.rss_kib)
                ),
            )?;
        }
        if self.timed_out {
            row(f, "timed out", "before every delivery arrived".to_string())?;
        }
        if self.stalled {
            row(
                f,
                "stalled",
                "nothing sent or delivered for 2 s, deliveries missing".to_string(),
            )?;
        }
        Ok(())
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// `950 ns`, `12.3 us`, `1.234 ms`, `2.50 s`.
fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} us", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.3} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2} s", nanos as f64 / 1e9)
    }
}

/// A rate with thousands separators: `4,012,345`.
fn format_count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn format_kib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A flat JSON object, written by hand: the values are numbers, booleans, null, a few
/// short strings and arrays of numbers.
#[derive(Default)]
struct Json {
    text: String,
}

impl Json {
    fn key(&mut self, key: &str) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        let _ = write!(self.text, "\"{key}\":");
    }

    /// An integer (`usize` or `u64`).
    fn number(&mut self, key: &str, value: impl fmt::Display) {
        self.key(key);
        let _ = write!(self.text, "{value}");
    }

    fn optional(&mut self, key: &str, value: Option<impl fmt::Display>) {
        match value {
            Some(value) => self.number(key, value),
            None => self.null(key),
        }
    }

    fn float(&mut self, key: &str, value: Option<f64>) {
        match value {
            Some(value) if value.is_finite() => {
                self.key(key);
                // Microsecond precision for milliseconds; whole numbers print without ".0".
                let rounded = (value * 1000.0).round() / 1000.0;
                let _ = write!(self.text, "{rounded}");
            }
            _ => self.null(key),
        }
    }

    /// A value written as it is (an array of numbers).
    fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.text.push_str(value);
    }

    fn boolean(&mut self, key: &str, value: bool) {
        self.key(key);
        let _ = write!(self.text, "{value}");
    }

    fn null(&mut self, key: &str) {
        self.key(key);
        self.text.push_str("null");
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        self.text.push('"');
        for c in value.chars() {
            match c {
                '"' => self.text.push_str("\\\""),
                '\\' => self.text.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(self.text, "\\u{:04x}", u32::from(c));
                }
                c => self.text.push(c),
            }
        }
        self.text.push('"');
    }

    /// `{prefix}_p50_ms` and so on, or nulls.
    fn summary(&mut self, prefix: &str, summary: Option<&Summary>) {
        let values = summary.map(|s| [s.p50, s.p90, s.p99, s.max, s.mean]);
        for (position, name) in ["p50", "p90", "p99", "max", "mean"].into_iter().enumerate() {
            self.float(
                &format!("{prefix}_{name}_ms"),
                values.map(|values| millis(values[position])),
            );
        }
    }

    fn finish(mut self) -> String {
        if self.text.is_empty() {
            self.text.push('{');
        }
        self.text.push('}');
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            scenario: "fanout",
            target: "127.0.0.1:10000".to_string(),
            instances: 1,
            joined_by_instance: vec![3],
            crossed: 0,
            proto: "chat",
            tls: false,
            web: false,
            threads: 2,
            clients: 3,
            senders: 2,
            messages_per_sender: 10,
            slow_clients: 0,
            rate: None,
            joined: 3,
            refused: 0,
            failed: 0,
            dropped: 0,
            disconnected: 0,
            connect_time: Duration::from_micros(2500),
            join_latency: None,
            messages_sent: 20,
            expected: 40,
            tally: Tally {
                unique: 38,
                duplicated: 1,
                reordered: 0,
                unexpected: 0,
            },
            server_errors: 0,
            elapsed: Duration::from_millis(4),
            latency: Some(Summary {
                count: 38,
                p50: Duration::from_micros(150),
                p90: Duration::from_micros(300),
                p99: Duration::from_micros(900),
                max: Duration::from_nanos(1_234_567),
                mean: Duration::from_micros(200),
            }),
            slow_disconnected: None,
            servers: vec![ServerUsage {
                before: ProcessStatus {
                    rss_kib: 1000,
                    threads: 3,
                    cpu: Duration::from_millis(100),
                },
                joined: ProcessStatus {
                    rss_kib: 1030,
                    threads: 6,
                    cpu: Duration::from_millis(150),
                },
                end: ProcessStatus {
                    rss_kib: 1040,
                    threads: 3,
                    cpu: Duration::from_millis(300),
                },
                wall: Duration::from_secs(1),
            }],
            redis: None,
            timed_out: false,
            stalled: false,
        }
    }

    #[test]
    fn json_is_one_flat_object() {
        let json = report().to_json();
        assert!(json.starts_with(
            "{\"scenario\":\"fanout\",\"target\":\"127.0.0.1:10000\",\"instances\":1,"
        ));
        assert!(json.ends_with(",\"timed_out\":false,\"stalled\":false}"));
        for field in [
            "\"proto\":\"chat\"",
            "\"tls\":false",
            "\"web\":false",
            "\"rate\":null",
            "\"connect_ms\":2.5",
            "\"join_p50_ms\":null",
            "\"deliveries\":38",
            "\"lost\":2",
            "\"duplicated\":1",
            "\"deliveries_per_sec\":9500",
            "\"messages_per_sec\":5000",
            "\"latency_p50_ms\":0.15",
            "\"latency_max_ms\":1.235",
            "\"slow_disconnected\":null",
            "\"server_rss_per_client_bytes\":10240",
            "\"server_threads_joined\":6",
            "\"server_cpu_percent\":20",
            "\"servers_cpu_percent\":[20.0]",
            "\"redis_cpu_percent\":null",
        ] {
            assert!(json.contains(field), "{field} missing from {json}");
        }
        assert!(!json.contains('\n'));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut json = Json::default();
        json.string("s", "a\"b\\c\nd");
        assert_eq!(json.finish(), r#"{"s":"a\"b\\c\u000ad"}"#);
        assert_eq!(Json::default().finish(), "{}");
    }

    #[test]
    fn table_shows_the_numbers() {
        let table = report().to_string();
        for expected in [
            "chat-bench fanout against 127.0.0.1:10000: 3 clients, 2 senders x 10 messages, 2 threads",
            "  clients        3 joined (0 refused, 0 failed, 0 dropped, 0 disconnected)",
            "  connect time   2.500 ms",
            "  deliveries     38 of 40 (2 lost, 1 duplicated, 0 reordered, 0 unexpected)",
            "  throughput     9,500 deliveries/s, 5,000 messages/s",
            "  latency        p50 150.0 us  p90 300.0 us  p99 900.0 us  max 1.235 ms  (mean 200.0 us)",
            "  RSS per client 10.0 KiB",
            "  server CPU     200.000 ms (20% of a core)",
        ] {
            assert!(
                table.contains(expected),
                "{expected:?} missing from:\n{table}"
            );
        }
    }

    #[test]
    fn table_names_tls_and_the_protocol() {
        let mut tls = report();
        tls.tls = true;
        assert!(tls.to_json().contains("\"tls\":true"));
        let header = "chat-bench fanout against 127.0.0.1:10000 (tls): 3 clients";
        assert!(tls.to_string().starts_with(header), "{tls}");
        tls.proto = "irc";
        let header = "chat-bench fanout against 127.0.0.1:10000 (irc, tls): 3 clients";
        assert!(tls.to_string().starts_with(header), "{tls}");
        let mut web = report();
        web.web = true;
        assert!(web.to_json().contains("\"web\":true"));
        let header = "chat-bench fanout against 127.0.0.1:10000 (web): 3 clients";
        assert!(web.to_string().starts_with(header), "{web}");
        web.tls = true;
        let header = "chat-bench fanout against 127.0.0.1:10000 (tls, web): 3 clients";
        assert!(web.to_string().starts_with(header), "{web}");
    }

    #[test]
    fn table_shows_each_server_their_sum_and_redis() {
        let mut two = report();
        two.instances = 2;
        two.target = "127.0.0.1:10000, 127.0.0.1:10001".to_string();
        two.joined_by_instance = vec![2, 1];
        two.crossed = 12;
        let server = two.servers[0];
        two.servers.push(server);
        two.redis = Some(server);
        let table = two.to_string();
        for expected in [
            "against 127.0.0.1:10000, 127.0.0.1:10001 (2 instances): 3 clients",
            "  instances      2 / 1 joined each; 12 deliveries across instances",
            "  server 2       RSS 1.0 MiB end, 3 threads, CPU 200.000 ms (20% of a core)",
            "  CPU (sum)      400.000 ms (40% of a core)",
            "  threads (sum)  6 before, 12 joined, 6 end",
            "  redis          CPU 200.000 ms (20% of a core), RSS 1.0 MiB end",
        ] {
            assert!(
                table.contains(expected),
                "{expected:?} missing from:\n{table}"
            );
        }
        let json = two.to_json();
        for field in [
            "\"instances\":2",
            "\"joined_by_instance\":[2,1]",
            "\"server_threads_end\":6",
            "\"servers_cpu_percent\":[20.0,20.0]",
            "\"redis_cpu_percent\":20",
        ] {
            assert!(json.contains(field), "{field} missing from {json}");
        }
    }

    #[test]
    fn problems_name_what_went_wrong() {
        assert_eq!(
            report().problems(),
            ["2 deliveries lost", "1 deliveries duplicated"]
        );
        let mut clean = report();
        clean.tally = Tally {
            unique: 40,
            ..Tally::default()
        };
        assert!(clean.problems().is_empty());
    }

    #[test]
    fn counts_and_durations_are_readable() {
        assert_eq!(format_count(4_012_345.4), "4,012,345");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(1000.0), "1,000");
        assert_eq!(format_duration(Duration::from_nanos(950)), "950 ns");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.50 s");
    }
}
