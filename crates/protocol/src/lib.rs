//! The chat line protocol, shared by the server, the client and the load generator: what
//! names and rooms may be, what clients send, what the server sends (formatted and parsed
//! by one type), and how a byte stream is cut into lines. Pure: no sockets, no threads.
//! The contract is written up in `docs/protocol.md`.
//!
//! # Layout
//! - `name`: user and room names, their rules, their normal form and how they compare.
//! - `invisible`: the characters that draw nothing.
//! - `command`: parsing a joined client's line into a [`Command`].
//! - `line`: [`ServerLine`], every line the server sends, both directions.
//! - `notice`, `refusal`: the `* ` and `! ` lines.
//! - `forgery`: whether a `/me` action would pass for a server notice.
//! - `out`: writing a line into a `Formatter` or straight into bytes.
//! - `quote`: user input quoted in error lines, and read back.
//! - `text`: cleaning relayed text (controls, line separators, unclosed bidi scopes).
//! - [`framing`]: cutting a byte stream into bounded lines.

mod command;
mod forgery;
pub mod framing;
mod invisible;
mod line;
mod name;
mod notice;
mod out;
mod quote;
mod refusal;
mod text;
mod time;

pub use command::{Command, HELP, ParseError, is_key_shaped, is_quit, parse_duration, parse_line};
pub use forgery::forges_notice;
pub use line::ServerLine;
pub use name::{
    LOBBY, MAX_NAME_CHARS, NAME_RULE, Name, NameError, fold_case, is_name, is_room, name_key,
    parse_room, same_room,
};
pub use notice::{MAX_LISTED_NAMES, MemberList, Notice, QuitReason, RoomCount};
pub use quote::{MAX_QUOTED_CHARS, Quoted};
pub use refusal::Refusal;
pub use text::sanitize;
pub use time::{UtcTime, ago};

/// The port the server listens on and the client connects to by default.
pub const DEFAULT_PORT: u16 = 10000;

/// The host the server binds and the client connects to by default (loopback only; use
/// `--host 0.0.0.0` to serve a LAN).
pub const DEFAULT_HOST: &str = "127.0.0.1";
