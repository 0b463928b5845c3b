//! Entry point of `chat-server`: parses the command line, binds, and runs the server until
//! SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGXFSZ};
use signal_hook::iterator::Signals;

use chat_protocol::{DEFAULT_HOST, DEFAULT_PORT};
use chat_server::cluster::{Cluster, ClusterOptions};
use chat_server::store::{DataDir, RedisStore, SqliteStore, StartError, Store, default_data_dir};
use chat_server::tls::{CertSource, Tls};
use chat_server::{Config, IpNet, Listener, Server, listen, parse_exempt, raise_fd_limit};

/// A thread-per-connection TCP chat server speaking a line protocol (see docs/protocol.md).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; use 0.0.0.0 to serve your LAN.
    #[arg(long, default_value = DEFAULT_HOST)]
    host: String,

    /// Port to listen on; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Also serve TLS on this port (0 picks a free one); needs --tls-cert and --tls-key,
    /// or --tls-self-signed.
    #[arg(long, value_name = "PORT")]
    tls_port: Option<u16>,

    /// The TLS certificate chain (PEM); reloaded on SIGHUP.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,

    /// The TLS certificate's private key (PEM); reloaded on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Use a self-signed certificate, made once and kept in the data directory (clients
    /// trust it on first use, as ssh does host keys).
    #[arg(long)]
    tls_self_signed: bool,

    /// Serve TLS only: don't listen for plain TCP.
    #[arg(long, requires = "tls_port")]
    no_plain: bool,

    /// Serve the web client on this port (0 picks a free one): the page, and the chat over
    /// WebSocket at /ws; HTTPS with the TLS options.
    #[arg(long, value_name = "PORT")]
    web_port: Option<u16>,

    /// An origin (scheme://host:port) whose pages may also connect to /ws (may be given
    /// more than once); the page's own always may.
    #[arg(long = "web-origin", value_name = "ORIGIN", requires = "web_port")]
    web_origins: Vec<String>,

    /// Longest line a client may send, in bytes.
    #[arg(long, default_value_t = Config::default().max_line_bytes, value_name = "BYTES")]
    max_line_bytes: usize,

    /// Unsent bytes queued for one client; past it, a client that reads less than
    /// --min-read-rate is disconnected as too slow (one that reads more slows its senders).
    #[arg(long, default_value_t = Config::default().max_backlog_bytes, value_name = "BYTES")]
    max_backlog_bytes: usize,

    /// Bytes per second a client with a full queue must read to be kept.
    #[arg(long, default_value_t = Config::default().min_read_rate, value_name = "BYTES")]
    min_read_rate: usize,

    /// Lines a client may send at once before --flood-rate applies (0 = no flood control).
    #[arg(long, default_value_t = Config::default().flood_burst, value_name = "LINES")]
    flood_burst: u32,

    /// Lines per second a client may send after its burst (0 = no flood control).
    #[arg(long, default_value_t = Config::default().flood_rate, value_name = "LINES")]
    flood_rate: u32,

    /// Connections served at once; more are told "! server full" and closed.
    #[arg(long, default_value_t = Config::default().max_clients, value_name = "N")]
    max_clients: usize,

    /// Seconds a new connection has to send a valid name.
    #[arg(long, default_value_t = Config::default().handshake_timeout.as_secs(), value_name = "SECONDS")]
    handshake_timeout: u64,

    /// Announce joins, leaves and quits only in rooms of at most N members (0 = always).
    #[arg(long, default_value_t = Config::default().announce_limit, value_name = "N")]
    announce_limit: usize,

    /// Threads writing to client sockets (0 = one per CPU).
    #[arg(long, default_value_t = 0, value_name = "N")]
    writer_threads: usize,

    /// Connections one address may hold at once (0 = no limit; see --exempt).
    #[arg(long, default_value_t = Config::default().max_per_ip, value_name = "N")]
    max_per_ip: usize,

    /// New connections one address may make per minute (0 = no limit; see --exempt).
    #[arg(long, default_value_t = Config::default().connect_rate_per_ip, value_name = "N")]
    connect_rate_per_ip: u32,

    /// Networks free of the per-address limits: comma-separated CIDRs or addresses, or
    /// `none`.
    #[arg(long, default_value = "127.0.0.0/8,::1", value_name = "CIDR,...", value_parser = parse_networks)]
    exempt: Networks,

    /// Rooms that may exist at once, #lobby included.
    #[arg(long, default_value_t = Config::default().max_rooms, value_name = "N")]
    max_rooms: usize,

    /// Where history, registered names and waiting messages are kept (default: the
    /// platform's data directory, e.g. ~/.local/share/chat-server).
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    data_dir: Option<PathBuf>,

    /// Keep everything in memory and write no file: nothing survives a restart.
    #[arg(long)]
    ephemeral: bool,

    /// Join the cluster of instances that share this Redis (redis://HOST:PORT[/DB]):
    /// names, rooms and private messages span them all (see docs/cluster.md).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,

    /// Prefix for this cluster's keys and channels, so that two clusters can share one
    /// Redis.
    #[arg(long, value_name = "NAME", requires = "redis")]
    cluster: Option<String>,

    /// Lines of a room's history a joiner is shown (0 = none; at most --history-max).
    #[arg(long, default_value_t = Config::default().replay_lines, value_name = "N")]
    replay_lines: usize,

    /// The most lines /history shows.
    #[arg(long, default_value_t = Config::default().history_max, value_name = "N")]
    history_max: usize,

    /// Days history is kept (0 = forever); older lines are deleted at start and hourly.
    #[arg(long, default_value_t = Config::default().history_days, value_name = "DAYS")]
    history_days: u32,

    /// A registered name that is a server admin when logged in with its password (may be
    /// given more than once).
    #[arg(long = "admin", value_name = "NAME")]
    admins: Vec<String>,

    /// The HOST:PORT invite links name (default: the address each client connected to).
    #[arg(long, value_name = "HOST:PORT")]
    public_addr: Option<String>,
}

impl Args {
    fn config(&self) -> Config {
        Config {
            max_line_bytes: self.max_line_bytes,
            max_backlog_bytes: self.max_backlog_bytes,
            min_read_rate: self.min_read_rate,
            flood_burst: self.flood_burst,
            flood_rate: self.flood_rate,
            max_clients: self.max_clients,
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            announce_limit: self.announce_limit,
            writer_threads: self.writer_threads,
            max_per_ip: self.max_per_ip,
            connect_rate_per_ip: self.connect_rate_per_ip,
            exempt: self.exempt.0.clone(),
            max_rooms: self.max_rooms,
            replay_lines: self.replay_lines,
            history_max: self.history_max,
            history_days: self.history_days,
            admins: self.admins.clone(),
            public_addr: self.public_addr.clone(),
            web_origins: self.web_origins.clone(),
            ..Config::default()
        }
    }
}

/// The networks of `--exempt`.
#[derive(Debug, Clone)]
struct Networks(Vec<IpNet>);

fn parse_networks(text: &str) -> Result<Networks, String> {
    parse_exempt(text).map(Networks)
}

/// A signal's usual name, for the log.
fn signal_name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".to_string(),
        SIGTERM => "SIGTERM".to_string(),
        SIGHUP => "SIGHUP".to_string(),
        SIGUSR1 => "SIGUSR1".to_string(),
        SIGUSR2 => "SIGUSR2".to_string(),
        other => format!("signal {other}"),
    }
}

/// The exit status when the data directory or its database can't be used.
const EXIT_STORE: u8 = 2;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-server: {err:#}");
            if err.downcast_ref::<StartError>().is_some() {
                ExitCode::from(EXIT_STORE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The data directory `--data-dir` names, or the default one; `None` with `--ephemeral`.
fn data_path(args: &Args) -> anyhow::Result<Option<PathBuf>> {
    if args.ephemeral {
        return Ok(None);
    }
    match &args.data_dir {
        Some(path) => Ok(Some(path.clone())),
        None => default_data_dir()
            .context("no data directory: give --data-dir DIR (or --ephemeral)")
            .map(Some),
    }
}

/// The TLS the options ask for, if any.
fn tls(args: &Args, data_path: Option<&std::path::Path>) -> anyhow::Result<Option<Arc<Tls>>> {
    if args.tls_port.is_none() {
        if args.tls_cert.is_some() || args.tls_self_signed {
            anyhow::bail!("--tls-cert and --tls-self-signed need --tls-port PORT");
        }
        return Ok(None);
    }
    let source = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ if args.tls_self_signed => CertSource::SelfSigned {
            dir: data_path.map(PathBuf::from),
        },
        _ => anyhow::bail!("--tls-port needs --tls-cert FILE --tls-key FILE, or --tls-self-signed"),
    };
    let tls = Tls::load(source)?;
    log::info!("TLS certificate fingerprint {}", tls.fingerprint());
    Ok(Some(Arc::new(tls)))
}

/// Opens what `--redis`, `--data-dir` or `--ephemeral` ask for. With `--redis` the store
/// is the cluster's Redis, and the data directory (if any) only holds files such as the
/// self-signed certificate.
fn open_store(args: &Args, data_path: Option<PathBuf>) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(url) = &args.redis {
        let options = ClusterOptions {
            url: url.clone(),
            name: args.cluster.clone(),
        };
        let store = RedisStore::connect(url, &options.prefix(), args.history_days)
            .context("failed to open the store in Redis")?;
        let store = match data_path {
            Some(path) => store.holding(DataDir::open(&path)?),
            None => store,
        };
        log::info!("keeping history and registered names in Redis");
        return Ok(Arc::new(store));
    }
    let Some(path) = data_path else {
        log::info!("ephemeral: nothing is written to disk");
        return Ok(Arc::new(SqliteStore::in_memory(args.history_days)));
    };
    let data_dir = DataDir::open(&path)?;
    let store = SqliteStore::open(data_dir, args.history_days)?;
    log::info!("keeping history and registered names in {}", path.display());
    Ok(Arc::new(store))
}

fn run(args: Args) -> anyhow::Result<()> {
    match raise_fd_limit() {
        Ok(limit) => log::debug!("open file limit: {limit}"),
        Err(err) => log::warn!("could not raise the open file limit: {err}"),
    }
    let config = args.config();
    config.validate().context("invalid limits")?;
    // A full disk makes writes fail with EFBIG under a file-size limit, rather than kill
    // the server: the store reports it, and chat goes on.
    signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)))
        .context("failed to set up signals")?;
    let data_path = data_path(&args)?;
    let store = open_store(&args, data_path.clone())?;
    // After the store: the data directory exists (and is ours) by now.
    let tls = tls(&args, data_path.as_deref())?;
    let host = args.host.as_str();
    let mut listeners = Vec::new();
    if !args.no_plain {
        let socket = listen((host, args.port))
            .with_context(|| format!("failed to listen on {host}:{}", args.port))?;
        listeners.push(Listener {
            socket,
            tls: None,
            web: false,
        });
    }
    if let (Some(tls), Some(port)) = (&tls, args.tls_port) {
        let socket =
            listen((host, port)).with_context(|| format!("failed to listen on {host}:{port}"))?;
        listeners.push(Listener {
            socket,
            tls: Some(Arc::clone(tls)),
            web: false,
        });
    }
    if let Some(port) = args.web_port {
        let socket =
            listen((host, port)).with_context(|| format!("failed to listen on {host}:{port}"))?;
        listeners.push(Listener {
            socket,
            tls: tls.clone(),
            web: true,
        });
    }
    let cluster = match &args.redis {
        Some(url) => {
            let options = ClusterOptions {
                url: url.clone(),
                name: args.cluster.clone(),
            };
            Some(Cluster::connect(&options).context("failed to join the cluster")?)
        }
        None => None,
    };
    let server =
        Server::in_cluster(listeners, config, store, cluster).context("failed to start")?;

    // Only SIGINT and SIGTERM stop the server. A closed terminal (SIGHUP) or a stray
    // SIGUSR1/SIGUSR2 must not drop everyone, so they are logged and otherwise ignored.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])
        .context("failed to set up signals")?;
    let handle = server.shutdown_handle();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = signal_name(signal);
                if matches!(signal, SIGINT | SIGTERM) {
                    log::info!("received {name}; shutting down");
                    handle.shutdown();
                    return;
                }
                if signal == SIGHUP
                    && let Some(tls) = &tls
                {
                    match tls.reload() {
                        Ok(()) => log::info!(
                            "received SIGHUP; reloaded the TLS certificate, fingerprint {}",
                            tls.fingerprint()
                        ),
                        Err(err) => {
                            log::error!("received SIGHUP; kept the old TLS certificate: {err}");
                        }
                    }
                    continue;
                }
                log::info!("received {name}; ignored");
            }
        })
        .context("failed to start the signal thread")?;

    // One line on stdout per listener, printed once everything is set up (plain first):
    // scripts and tests read the real ports from them.
    for listening in server.local_addrs() {
        let (addr, scheme) = (listening.addr, if listening.tls { "https" } else { "http" });
        let ready = match (listening.web, listening.tls) {
            (true, _) => format!("listening on {scheme}://{addr} (web)"),
            (false, true) => format!("listening on {addr} (tls)"),
            (false, false) => format!("listening on {addr}"),
        };
        println!("{ready}");
        log::info!("{ready}");
    }
    server.run().context("server failed")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Args::command().debug_assert();
    }
}
