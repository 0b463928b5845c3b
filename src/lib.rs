//! A small self-hosted terminal chat: a thread-per-connection TCP server, its command-line
//! client, and a load generator, sharing one line protocol (see `docs/protocol.md`).
//!
//! # Layout
//! - [`protocol`]: names, rooms, parsing client lines and formatting server lines (pure).
//! - [`framing`]: cutting a byte stream into bounded lines (pure).
//! - [`flood`]: the per-client token bucket.
//! - [`outbox`]: each client's bounded send queue and the writer threads that drain them.
//! - [`registry`]: who is connected, in which room; every broadcast goes through it.
//! - `connection`: one client's thread: handshake and commands.
//! - [`server`]: limits, the accept loop and shutdown.
//! - [`client`]: the `chat-client` program.
//! - [`bench`]: the `chat-bench` load generator.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub mod bench;
pub mod client;
mod connection;
pub mod flood;
pub mod framing;
pub mod outbox;
pub mod protocol;
pub mod registry;
pub mod server;

/// The port the server listens on and the client connects to by default.
pub const DEFAULT_PORT: u16 = 10000;

/// Locks a mutex even if a thread panicked while holding it. Every critical section in this
/// crate leaves its data consistent at each step, so a panic elsewhere (which should never
/// happen) must not make the server, or the client, unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The host the server binds and the client connects to by default (loopback only; use
/// `--host 0.0.0.0` to serve a LAN).
pub const DEFAULT_HOST: &str = "127.0.0.1";
