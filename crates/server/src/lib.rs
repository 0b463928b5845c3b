//! The chat server: a thread per connection reading lines, a registry of users and rooms,
//! a bounded queue per client drained by a few writer threads, and the seams later features
//! plug into (transports, room event sinks, the directory of names).
//!
//! # Layout
//! - [`config`]: the limits ([`Config`]) and their validation.
//! - `server`: the listening socket, the accept loop and shutdown ([`Server`]).
//! - `connection`: one client's thread: handshake and commands.
//! - `account`: registered names: logging in, taking a name back, registering.
//! - `flood`: the token bucket behind flood control and connection rates.
//! - `address`: limits per client address, and the flood allowance its connections share.
//! - `capacity`: how many clients the kernel's limits allow this process.
//! - `log_limit`: keeping the log's volume bounded whatever clients do.
//! - `password`: Argon2id hashes of registered names' passwords, and slowing guessers.
//! - `registry`: who is connected, in which room; every room event goes through it. Its
//!   `rooms` part: private rooms, owners, topics, invitations, kicks, removals.
//! - `room_key`: private rooms' keys, random names and invite links.
//! - `ban`: bans on names and addresses, in the store and in memory.
//! - `meter`: lines relayed per second, for `/stats`.
//! - [`event`]: room events, numbered and timed, and the [`EventSink`] seam.
//! - [`directory`]: name claims and room membership across instances.
//! - [`cluster`]: several instances as one through Redis: name leases, the bus, failures.
//! - `queue`: each client's bounded queue of lines, and pacing.
//! - `writer`: the writer threads that drain the queues.
//! - [`transport`]: a client's socket and how lines are encoded on it (plain or TLS).
//! - [`tls`]: certificates, their fingerprint and reload, and the rustls settings.
//! - `web`: the web port: the page built into the binary, and the WebSocket upgrade.
//! - [`store`]: what the server remembers (history, registered names, mail), in SQLite.
//!
//! `docs/architecture.md` follows one chat line through these.

mod account;
mod address;
mod ban;
mod capacity;
pub mod cluster;
pub mod config;
mod connection;
pub mod directory;
pub mod event;
mod flood;
mod log_limit;
mod meter;
mod password;
mod queue;
mod registry;
mod room_key;
mod server;
pub mod store;
pub mod tls;
pub mod transport;
mod web;
mod writer;

pub use address::parse_exempt;
pub use config::Config;
pub use event::{EventKind, EventSink, RoomEvent};
pub use ipnet::IpNet;
pub use server::{Listener, Listening, Server, ShutdownHandle, listen, raise_fd_limit};
