//! The server's limits: [`Config`], its defaults, and the check that they can work together.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::address::AddressLimits;
use crate::queue::QueueLimits;
use crate::registry::Rules;

/// The server's limits. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Longest line a client may send, in bytes, not counting the line ending.
    pub max_line_bytes: usize,
    /// Unsent bytes queued for one client before it is disconnected as too slow (if it
    /// also reads less than `min_read_rate`).
    pub max_backlog_bytes: usize,
    /// Bytes per second a client whose queue is full must read to be kept: one that reads
    /// at least this much slows its senders down instead.
    pub min_read_rate: usize,
    /// Lines a client may send in a burst before the steady rate applies (0 = no limit).
    pub flood_burst: u32,
    /// Lines per second a client may send after its burst (0 = no limit).
    pub flood_rate: u32,
    /// Connections (joined or still in the handshake) served at once.
    pub max_clients: usize,
    /// Time a new connection has to send a valid name.
    pub handshake_timeout: Duration,
    /// Joins, leaves and quits are announced only in rooms of at most this many members
    /// (0 = always).
    pub announce_limit: usize,
    /// Threads writing to sockets (0 = one per CPU).
    pub writer_threads: usize,
    /// Connections one address may hold at once (0 = no limit).
    pub max_per_ip: usize,
    /// New connections one address may make per minute (0 = no limit).
    pub connect_rate_per_ip: u32,
    /// Networks free of the per-address limits.
    pub exempt: Vec<IpNet>,
    /// Rooms that may exist at once, `#lobby` included.
    pub max_rooms: usize,
    /// Lines of a room's history a joiner is shown (0 = none).
    pub replay_lines: usize,
    /// The most lines `/history` shows (it caps `replay_lines` too).
    pub history_max: usize,
    /// Days history is kept (0 = forever).
    pub history_days: u32,
    /// Messages that may wait for one registered user who is away.
    pub mailbox_max: usize,
    /// Registered names that are server admins when logged in with their password.
    pub admins: Vec<String>,
    /// `HOST:PORT` that invite links name (`None`: the address each client connected to).
    pub public_addr: Option<String>,
    /// Origins besides the page's own whose pages may open a WebSocket (`--web-origin`).
    pub web_origins: Vec<String>,
}

/// The smallest `max_backlog_bytes` allowed: room for several of the largest lines (chat
/// batches, member lists of 100 names) so that a healthy client is never over its limit
/// because of one line.
pub const MIN_BACKLOG_BYTES: usize = 64 * 1024;

/// The bounds of `max_line_bytes`: a name must fit, and every connection may buffer one
/// line of this size.
pub const LINE_BYTES_RANGE: RangeInclusive<usize> = 64..=1024 * 1024;

/// How much chat from one client is gathered into one broadcast at most. Lines that arrive
/// together are formatted into one shared buffer and queued once per recipient, instead of
/// once per line per recipient.
const MAX_CHAT_BATCH: usize = 16 * 1024;

impl Config {
    /// Checks that the limits make sense together.
    ///
    /// # Errors
    /// `InvalidInput`, saying which limit is out of range.
    pub fn validate(&self) -> io::Result<()> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        let (min_line, max_line) = (*LINE_BYTES_RANGE.start(), *LINE_BYTES_RANGE.end());
        if !LINE_BYTES_RANGE.contains(&self.max_line_bytes) {
            return invalid(format!(
                "max line bytes must be between {min_line} and {max_line}"
            ));
        }
        let min_backlog = MIN_BACKLOG_BYTES.max(4 * self.max_line_bytes);
        if self.max_backlog_bytes < min_backlog {
            return invalid(format!(
                "max backlog bytes must be at least {min_backlog} (64 KiB, and 4 lines)"
            ));
        }
        if self.min_read_rate == 0 {
            return invalid("the minimum read rate must be at least 1 byte per second".to_string());
        }
        if self.max_clients == 0 {
            return invalid("max clients must be at least 1".to_string());
        }
        if self.max_rooms == 0 {
            return invalid("max rooms must be at least 1 (#lobby)".to_string());
        }
        if self.handshake_timeout.is_zero() {
            return invalid("the handshake timeout must be longer than 0".to_string());
        }
        if let Some(name) = self
            .admins
            .iter()
            .find(|name| !chat_protocol::is_name(name))
        {
            return invalid(format!("--admin {name:?} is not a valid name"));
        }
        if let Some(address) = &self.public_addr
            && (address.is_empty()
                || address.contains(char::is_whitespace)
                || !address.contains(':'))
        {
            return invalid(format!("--public-addr {address:?} must be HOST:PORT"));
        }
        Ok(())
    }

    /// The size at which a sender's gathered chat is broadcast: small against the backlog
    /// limit, so that one batch never makes up much of a client's allowed backlog.
    pub(crate) fn chat_batch_limit(&self) -> usize {
        MAX_CHAT_BATCH.min(self.max_backlog_bytes / 16)
    }

    /// The limits of each client's queue.
    pub(crate) fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_backlog: self.max_backlog_bytes,
            min_read_rate: self.min_read_rate,
        }
    }

    /// Whether the name with key `key` is one of `--admin`.
    pub(crate) fn is_admin_name(&self, key: &str) -> bool {
        self.admins
            .iter()
            .any(|name| chat_protocol::name_key(name) == key)
    }

    /// How the registry runs.
    pub(crate) fn rules(&self) -> Rules {
        Rules {
            announce_limit: self.announce_limit,
            max_rooms: self.max_rooms,
            replay_lines: self.replay_lines.min(self.history_max),
            private_history: self.history_max,
        }
    }

    /// The limits per client address.
    pub(crate) fn address_limits(&self) -> AddressLimits {
        AddressLimits {
            max_connections: self.max_per_ip,
            connects_per_minute: self.connect_rate_per_ip,
            exempt: self.exempt.clone(),
            flood_burst: self.flood_burst,
            flood_rate: self.flood_rate,
        }
    }

    /// Writer threads to start: as configured, or one per CPU.
    pub(crate) fn writer_thread_count(&self) -> usize {
        match self.writer_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            count => count,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_line_bytes: 4096,
            max_backlog_bytes: 1024 * 1024,
            min_read_rate: 16 * 1024,
            flood_burst: 20,
            flood_rate: 10,
            max_clients: 1024,
            handshake_timeout: Duration::from_secs(30),
            announce_limit: 100,
            writer_threads: 0,
            max_per_ip: 10,
            connect_rate_per_ip: 30,
            exempt: vec![
                IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
                IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
            ],
            max_rooms: 1000,
            replay_lines: 20,
            history_max: 500,
            history_days: 30,
            mailbox_max: 100,
            admins: Vec::new(),
            public_addr: None,
            web_origins: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_limits_say_which() {
        assert!(Config::default().validate().is_ok());
        let cases = [
            (
                Config {
                    max_line_bytes: 10,
                    ..Config::default()
                },
                "max line bytes",
            ),
            (
                Config {
                    max_backlog_bytes: 1000,
                    ..Config::default()
                },
                "max backlog bytes",
            ),
            (
                Config {
                    max_clients: 0,
                    ..Config::default()
                },
                "max clients",
            ),
            (
                Config {
                    handshake_timeout: Duration::ZERO,
                    ..Config::default()
                },
                "handshake timeout",
            ),
        ];
        for (config, says) in cases {
            let err = config.validate().expect_err(says);
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
