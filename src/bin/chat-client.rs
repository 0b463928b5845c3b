//! Entry point of `chat-client`: parses the command line and runs the client, interactive
//! when stdin and stdout are a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use chat_client::{Fingerprint, Options, Password, RoomLink, TlsSettings, no_color_requested};
use chat_protocol::{DEFAULT_HOST, DEFAULT_PORT};

/// The exit status for a bad command line (clap's own), a malformed link included.
const EXIT_USAGE: u8 = 2;

/// Command-line client for chat-server: type to talk, /help for commands, /quit to leave.
#[derive(Debug, Parser)]
#[command(version, after_help = EXIT_STATUSES)]
struct Args {
    /// The name to join with (1-32 letters, digits, _ or -).
    name: String,

    /// An invite link, chat://HOST:PORT/ROOM?key=KEY (chats:// for TLS): connect to that
    /// server and join that room.
    link: Option<String>,

    /// Server host [default: 127.0.0.1, or the link's].
    #[arg(long)]
    host: Option<String>,

    /// Server port [default: 10000, or the link's].
    #[arg(long)]
    port: Option<u16>,

    /// Read the password of a registered name from the first line of FILE (in a pipe;
    /// also CHAT_PASSWORD; a terminal asks for it).
    #[arg(long, value_name = "FILE")]
    password_file: Option<std::path::PathBuf>,

    /// Don't prefix lines with the local time.
    #[arg(long)]
    no_timestamps: bool,

    /// Don't colour the output (also off when NO_COLOR is set or stdout is not a terminal).
    #[arg(long)]
    no_color: bool,

    /// Don't read or save input history.
    #[arg(long)]
    no_history: bool,

    /// Don't ring the terminal bell for mentions and private messages.
    #[arg(long)]
    no_bell: bool,

    /// When the connection is lost, keep trying to reconnect (with backoff) and rejoin
    /// with the same name and room, instead of exiting.
    #[arg(long)]
    reconnect: bool,

    /// Connect over TLS (to the server's --tls-port). A certificate no authority vouches
    /// for is shown and asked about once in a terminal, then remembered in known_servers
    /// in the data directory; in a pipe it needs --tls-fingerprint.
    #[arg(long)]
    tls: bool,

    /// Also trust the certificate authorities in FILE (PEM) [implies --tls].
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,

    /// Trust only the server certificate with this fingerprint, as the server's log
    /// shows it (SHA256:...) [implies --tls].
    #[arg(long, value_name = "SHA256:...")]
    tls_fingerprint: Option<String>,
}

/// The exit statuses, after `--help`.
const EXIT_STATUSES: &str = "Exit status: 0 quit, 1 connection lost, 2 bad command line, \
    3 could not connect, 4 refused by the server, 5 terminal or output failed, \
    6 the server's TLS certificate is not trusted (unknown in a pipe, changed, or not the \
    pinned one).";

/// Where to connect: host, port, whether over TLS, and the room to join.
struct Destination {
    host: String,
    port: u16,
    tls: bool,
    join: Option<RoomLink>,
}

/// Whether the options ask for TLS.
fn tls_asked(args: &Args) -> bool {
    args.tls || args.ca.is_some() || args.tls_fingerprint.is_some()
}

/// Where to connect and what to join: the link's server, unless `--host`/`--port` say
/// otherwise (then they must agree with it); over TLS for a `chats://` link or when the
/// options ask for it (a `chat://` link is for the plain port, so they must not).
fn destination(args: &Args) -> Result<Destination, String> {
    let Some(text) = &args.link else {
        let host = args
            .host
            .clone()
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        return Ok(Destination {
            host,
            port: args.port.unwrap_or(DEFAULT_PORT),
            tls: tls_asked(args),
            join: None,
        });
    };
    let link = RoomLink::parse(text).map_err(|err| err.to_string())?;
    if let Some(host) = args.host.as_ref().filter(|host| **host != link.host) {
        return Err(format!(
            "--host {host} contradicts the link, which is for {}",
            link.host
        ));
    }
    if let Some(port) = args.port.filter(|port| *port != link.port) {
        return Err(format!(
            "--port {port} contradicts the link, which is for port {}",
            link.port
        ));
    }
    if tls_asked(args) && !link.tls {
        return Err(
            "--tls (or --ca, --tls-fingerprint) contradicts the link, which is for plain \
             TCP (a link for TLS starts with chats://)"
                .to_string(),
        );
    }
    Ok(Destination {
        host: link.host.clone(),
        port: link.port,
        tls: link.tls,
        join: Some(link),
    })
}

/// The TLS settings when connecting over TLS: `--ca` loaded, `--tls-fingerprint` parsed.
fn tls_settings(args: &Args, tls: bool) -> Result<Option<TlsSettings>, String> {
    if !tls {
        return Ok(None);
    }
    let pin = args
        .tls_fingerprint
        .as_deref()
        .map(Fingerprint::parse)
        .transpose()
        .map_err(|err| format!("--tls-fingerprint: {err}"))?;
    TlsSettings::new(args.ca.as_deref(), pin).map(Some)
}

/// The password from `--password-file` or `CHAT_PASSWORD` (never from the command line).
fn password(args: &Args) -> Result<Option<Password>, String> {
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("could not read --password-file {}: {err}", path.display()))?;
        let line = text.lines().next().unwrap_or_default();
        return Password::new(line)
            .map(Some)
            .ok_or_else(|| format!("--password-file {} is empty", path.display()));
    }
    Ok(std::env::var("CHAT_PASSWORD")
        .ok()
        .and_then(|text| Password::new(&text)))
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let Destination {
        host,
        port,
        tls,
        join,
    } = match destination(&args) {
        Ok(destination) => destination,
        Err(err) => {
            eprintln!("chat-client: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let tls = match tls_settings(&args, tls) {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("chat-client: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let password = match password(&args) {
        Ok(password) => password,
        Err(err) => {
            eprintln!("chat-client: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let options = Options {
        host,
        port,
        password,
        join,
        tls,
        name: args.name,
        timestamps: !args.no_timestamps,
        color: interactive && !args.no_color && !no_color_requested(std::env::var_os("NO_COLOR")),
        history: !args.no_history,
        reconnect: args.reconnect,
        bell: !args.no_bell,
    };
    match chat_client::run(&options, interactive) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-client: {err}");
            ExitCode::from(err.exit_status())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Args::command().debug_assert();
    }
}
