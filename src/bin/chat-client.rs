//! Entry point of `chat-client`: parses the command line and runs the client, interactive
//! when stdin and stdout are a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use chat_client::{Options, no_color_requested};
use chat_protocol::{DEFAULT_HOST, DEFAULT_PORT};

/// Command-line client for chat-server: type to talk, /help for commands, /quit to leave.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The name to join with (1-32 letters, digits, _ or -).
    name: String,

    /// Server host.
    #[arg(long, default_value = DEFAULT_HOST)]
    host: String,

    /// Server port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

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
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let options = Options {
        host: args.host,
        port: args.port,
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
