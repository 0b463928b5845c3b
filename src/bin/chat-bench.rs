//! Entry point of `chat-bench`: parses the command line, runs a scenario against a chat
//! server and prints the report.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use chat_bench::{self as bench, Options, Progress, Proto, Scenario};
use chat_protocol::{DEFAULT_HOST, DEFAULT_PORT};

const LONG_ABOUT: &str = "\
Load generator for chat-server and other servers speaking its line protocol (like \
redis-benchmark for Redis). It drives many clients from a few threads, waits until every \
client is in the room, then measures deliveries per second, loss, duplicates, reordering and \
latency percentiles.

Start the server with flood control off, or it relays only 10 lines/s per client:

    chat-server --port 10000 --flood-rate 0

and for more than 1024 clients raise its --max-clients. Pass --server-pid to also report \
the server's memory and threads. With --tls the clients connect over TLS, to a server's \
--tls-port (chat-server --tls-port 10001 --tls-self-signed ...). With --web they are WebSocket clients of a server's --web-port (GET /ws, one text message per line each way; with --tls as well, wss to a web port that has TLS).

With --proto irc the clients speak IRC instead (for comparing with an IRC server such as \
ngircd): NICK and USER, then JOIN #bench after the welcome (001); a client is in the room \
when the server ends the channel's member list (366); messages are PRIVMSG #bench. Nicks \
are longer than IRC's traditional 9 characters: raise the server's limit (ngircd: \
MaxNickLength), and its per-client flood limits.

The run ends by itself when every expected delivery has arrived, when nothing has moved for \
2 s, or when --timeout has passed. \
The exit status is 1 if the run could not be done or if the server lost, duplicated or \
reordered anything (the report is printed first).";

/// Load generator for chat-server: fanout, latency, connect and slow-reader scenarios.
#[derive(Debug, Parser)]
#[command(
    version,
    long_about = LONG_ABOUT,
    subcommand_value_name = "SCENARIO",
    subcommand_help_heading = "Scenarios"
)]
struct Args {
    /// Server host (loopback unless you say otherwise).
    #[arg(long, default_value = DEFAULT_HOST, global = true)]
    host: String,

    /// Server port; repeat it or list several (`4000,4001`) to spread the clients over
    /// instances of a cluster, client i on the (i mod n)th port.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [DEFAULT_PORT],
        value_name = "PORT",
        global = true
    )]
    port: Vec<u16>,

    /// The protocol the server speaks.
    #[arg(long, value_enum, default_value_t = ProtoArg::Chat, global = true)]
    proto: ProtoArg,

    /// Connect over TLS (to the server's --tls-port). Any certificate is accepted, as from
    /// a server you pointed the bench at; the handshake's signatures are still checked.
    #[arg(long, global = true)]
    tls: bool,

    /// Connect with WebSocket, to the server's --web-port: `GET /ws`, then one text message
    /// per line each way (with --tls, wss). Only with --proto chat.
    #[arg(long, global = true)]
    web: bool,

    /// Threads driving the clients (default: one per CPU; 1 for latency, where a second
    /// thread only adds wake-ups that compete with the server for the CPUs).
    #[arg(long, value_name = "N", global = true)]
    threads: Option<usize>,

    /// Seconds the whole run may take; it stops and reports then, whatever is missing.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS", global = true)]
    timeout: f64,

    /// Print the report as one JSON object instead of a table.
    #[arg(long, global = true)]
    json: bool,

    /// Report this server process's memory (RSS, RSS per client), thread count and CPU
    /// time; repeat it or list several (one per instance) for each one's and their sum.
    #[arg(long, value_name = "PID", value_delimiter = ',', global = true)]
    server_pid: Vec<u32>,

    /// Report this Redis process's CPU time (as % of one core: Redis is single-threaded
    /// and may bound a cluster) and memory.
    #[arg(long, value_name = "PID", global = true)]
    redis_pid: Option<u32>,

    /// Client names are this prefix, the bench's process id, `-` and a number.
    #[arg(long, default_value = "b", value_name = "PREFIX", global = true)]
    name_prefix: String,

    /// Connections set up at once (connecting or waiting for the welcome).
    #[arg(long, default_value_t = 256, value_name = "N", global = true)]
    max_pending: usize,

    /// Most bytes of messages in flight to each receiver in fanout and slow-reader (sent and
    /// not yet received); keeps the server's backlogs below its slow-client limit. 0 = no
    /// limit: send as fast as the sockets take the lines.
    #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES", global = true)]
    window: u64,

    /// Pad each measured message's text to at least this many bytes.
    #[arg(long, default_value_t = 0, value_name = "BYTES", global = true)]
    size: usize,

    /// No progress line on stderr.
    #[arg(long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    scenario: ScenarioArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProtoArg {
    /// chat-server's line protocol.
    Chat,
    /// IRC, as ngircd speaks it: one channel, #bench.
    Irc,
}

impl From<ProtoArg> for Proto {
    fn from(proto: ProtoArg) -> Proto {
        match proto {
            ProtoArg::Chat => Proto::Chat,
            ProtoArg::Irc => Proto::Irc,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ScenarioArgs {
    /// N clients; S of them send M messages each as fast as the server takes them, and
    /// every client must receive every message but its own.
    Fanout {
        /// Clients in the room (N).
        #[arg(long, short = 'n', default_value_t = 100)]
        clients: usize,
        /// Clients that send (S).
        #[arg(long, short = 's', default_value_t = 100)]
        senders: usize,
        /// Messages each sender sends (M).
        #[arg(long, short = 'm', default_value_t = 100)]
        messages: u64,
    },
    /// N clients; one sends at a fixed rate and the others measure the latency.
    Latency {
        /// Clients in the room.
        #[arg(long, short = 'n', default_value_t = 100)]
        clients: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        duration: f64,
        /// Messages to send (instead of rate x duration).
        #[arg(long, short = 'm')]
        messages: Option<u64>,
    },
    /// Opens C clients as fast as possible, then one broadcast that must reach them all.
    Connect {
        /// Clients to open (C).
        #[arg(long, short = 'n', default_value_t = 1000)]
        clients: usize,
    },
    /// Fanout while K clients never read after joining; the others must get everything,
    /// and the server should disconnect the slow ones.
    SlowReader {
        /// Clients in the room, slow ones included.
        #[arg(long, short = 'n', default_value_t = 20)]
        clients: usize,
        /// Clients that send.
        #[arg(long, short = 's', default_value_t = 4)]
        senders: usize,
        /// Messages each sender sends.
        #[arg(long, short = 'm', default_value_t = 50_000)]
        messages: u64,
        /// Clients that never read (K), the last ones.
        #[arg(long, short = 'k', default_value_t = 2)]
        slow: usize,
    },
}

impl ScenarioArgs {
    fn scenario(&self) -> anyhow::Result<Scenario> {
        Ok(match *self {
            ScenarioArgs::Fanout {
                clients,
                senders,
                messages,
            } => Scenario::Fanout {
                clients,
                senders,
                messages,
            },
            ScenarioArgs::Latency {
                clients,
                rate,
                duration,
                messages,
            } => {
                if !(duration > 0.0 && duration.is_finite()) {
                    bail!("--duration must be a positive number of seconds");
                }
                Scenario::Latency {
                    clients,
                    rate,
                    messages: messages.unwrap_or((rate * duration).round() as u64),
                }
            }
            ScenarioArgs::Connect { clients } => Scenario::Connect { clients },
            ScenarioArgs::SlowReader {
                clients,
                senders,
                messages,
                slow,
            } => Scenario::SlowReader {
                clients,
                senders,
                messages,
                slow,
            },
        })
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Args::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chat-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Err(err) = bench::raise_fd_limit() {
        log::warn!("could not raise the open file limit: {err}");
    }
    let timeout = match Duration::try_from_secs_f64(args.timeout) {
        Ok(timeout) if !timeout.is_zero() => timeout,
        _ => bail!("--timeout must be a positive number of seconds"),
    };
    let options = Options {
        addrs: args
            .port
            .iter()
            .map(|&port| resolve(&args.host, port))
            .collect::<anyhow::Result<_>>()?,
        proto: args.proto.into(),
        tls: args.tls.then(|| args.host.clone()),
        web: args.web.then(|| args.host.clone()),
        scenario: args.scenario.scenario()?,
        threads: args.threads.unwrap_or_else(|| match args.scenario {
            ScenarioArgs::Latency { .. } => 1,
            _ => thread::available_parallelism().map_or(1, usize::from),
        }),
        timeout,
        name_prefix: args.name_prefix,
        max_pending: args.max_pending,
        server_pids: args.server_pid,
        redis_pid: args.redis_pid,
        window_bytes: args.window,
        size: args.size,
    };

    let terminal = std::io::stderr().is_terminal();
    let mut shown = false;
    let progress = |progress: &Progress| {
        if args.quiet {
            return;
        }
        // On a terminal the line is rewritten in place; in a log, one line each time.
        if terminal {
            eprint!("\r{progress}\x1b[K");
            shown = true;
        } else {
            eprintln!("{progress}");
        }
    };
    let result = bench::run(&options, progress);
    if shown {
        eprint!("\r\x1b[K");
    }
    let report = result?;

    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", report.to_json())?;
    } else {
        write!(stdout, "{report}")?;
    }
    stdout.flush()?;
    let problems = report.problems();
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("chat-bench: {}", problems.join(", "));
    Ok(ExitCode::FAILURE)
}

fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("failed to resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Args::command().debug_assert();
    }
}
