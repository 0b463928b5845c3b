//! Limits per client address: how many connections one address may hold at once, how often
//! it may connect, and the flood allowance all its connections share, so that reconnecting
//! never buys a fresh burst. Addresses in the exempt networks (loopback by default) have no
//! address limits, and each of their connections gets an allowance of its own.
//!
//! IPv6 addresses are counted per /64, the block a single host or home usually gets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_sync::lock;
use ipnet::IpNet;

use crate::flood::TokenBucket;

/// How often idle addresses are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The limits, as configured.
#[derive(Debug, Clone)]
pub struct AddressLimits {
    /// Connections one address may hold at once (0 = no limit).
    pub max_connections: usize,
    /// New connections one address may make per minute (0 = no limit); up to
    /// `max_connections` of them may come at once.
    pub connects_per_minute: u32,
    /// Networks with no address limits.
    pub exempt: Vec<IpNet>,
    /// The flood allowance: a burst of lines, then a rate per second (either 0 = off).
    pub flood_burst: u32,
    pub flood_rate: u32,
}

/// A connection refused because its address has too many connections or made too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

#[derive(Debug)]
struct Entry {
    connections: usize,
    connects: Option<TokenBucket>,
    flood: Arc<Mutex<Option<TokenBucket>>>,
}

#[derive(Debug)]
struct Table {
    entries: HashMap<IpAddr, Entry>,
    swept_at: Instant,
}

/// Every address with a connection, or a recent one.
#[derive(Debug)]
pub struct Addresses {
    limits: AddressLimits,
    table: Mutex<Table>,
}

/// A connection's place in its address's count, given back when dropped; and its flood
/// allowance.
#[derive(Debug)]
pub struct Ticket {
    addresses: Arc<Addresses>,
    /// The address as counted; `None` if exempt.
    key: Option<IpAddr>,
    flood: Flood,
}

/// The allowance a connection's lines are taken from.
#[derive(Debug)]
pub enum Flood {
    /// Its own (an exempt address), or none if flood control is off.
    Own(Option<TokenBucket>),
    /// Its address's, shared by all the address's connections.
    Shared(Arc<Mutex<Option<TokenBucket>>>),
}

impl Flood {
    /// `Ok` if a line may be handled now, otherwise how long until one may.
    pub fn check(&mut self, now: Instant) -> Result<(), Duration> {
        match self {
            Flood::Own(None) => Ok(()),
            Flood::Own(Some(bucket)) => bucket.check(now),
            Flood::Shared(shared) => match &mut *lock(shared) {
                None => Ok(()),
                Some(bucket) => bucket.check(now),
            },
        }
    }

    /// Spends a token on a line.
    pub fn take(&mut self) {
        match self {
            Flood::Own(bucket) => bucket.iter_mut().for_each(TokenBucket::take),
            Flood::Shared(shared) => lock(shared).iter_mut().for_each(TokenBucket::take),
        }
    }
}

/// The address an address is counted as: itself for IPv4 (also when mapped into IPv6), its
/// /64 for IPv6.
pub fn counted_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

impl Addresses {
    /// No addresses yet.
    pub fn new(limits: AddressLimits) -> Addresses {
        Addresses {
            limits,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                swept_at: Instant::now(),
            }),
        }
    }

    /// Whether connections from `ip` are exempt from the address limits.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = counted_as(ip);
        self.limits.exempt.iter().any(|net| net.contains(&ip))
    }

    fn flood_bucket(&self, now: Instant) -> Option<TokenBucket> {
        let limits = &self.limits;
        TokenBucket::new(limits.flood_burst, f64::from(limits.flood_rate), now)
    }

    /// Counts a new connection from `ip`.
    ///
    /// # Errors
    /// [`TooMany`] if the address holds or made too many connections.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<Ticket, TooMany> {
        if self.is_exempt(ip) {
            return Ok(Ticket {
                addresses: Arc::clone(self),
                key: None,
                flood: Flood::Own(self.flood_bucket(now)),
            });
        }
        let key = counted_as(ip);
        let limits = &self.limits;
        let mut table = lock(&self.table);
        if now.saturating_duration_since(table.swept_at) >= SWEEP_EVERY {
            table.sweep(now);
        }
        let entry = table.entries.entry(key).or_insert_with(|| Entry {
            connections: 0,
            connects: TokenBucket::new(
                u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX),
                f64::from(limits.connects_per_minute) / 60.0,
                now,
            ),
            flood: Arc::new(Mutex::new(self.flood_bucket(now))),
        });
        let full = limits.max_connections > 0 && entry.connections >= limits.max_connections;
        let too_often = entry
            .connects
            .as_mut()
            .is_some_and(|connects| connects.check(now).is_err());
        if full || too_often {
            return Err(TooMany);
        }
        if let Some(connects) = &mut entry.connects {
            connects.take();
        }
        entry.connections += 1;
        Ok(Ticket {
            addresses: Arc::clone(self),
            key: Some(key),
            flood: Flood::Shared(Arc::clone(&entry.flood)),
        })
    }

    /// How many addresses are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.table).entries.len()
    }
}

impl Table {
    /// Forgets addresses with no connection whose allowances have refilled: nothing about
    /// them is left to remember.
    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, entry| {
            entry.connections > 0
                || !entry
                    .connects
                    .as_mut()
                    .is_none_or(|bucket| bucket.is_full(now))
                || !lock(&entry.flood)
                    .as_mut()
                    .is_none_or(|bucket| bucket.is_full(now))
        });
        self.swept_at = now;
    }
}

impl Ticket {
    /// The flood allowance of this connection.
    pub fn flood(&mut self) -> &mut Flood {
        &mut self.flood
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(key) = self.key
            && let Some(entry) = lock(&self.addresses.table).entries.get_mut(&key)
        {
            entry.connections = entry.connections.saturating_sub(1);
        }
    }
}

/// Parses `--exempt`: comma-separated networks (`127.0.0.0/8`) or addresses (`::1`), or
/// `none`.
///
/// # Errors
/// Names the part that is neither.
pub fn parse_exempt(text: &str) -> Result<Vec<IpNet>, String> {
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{part:?} is not a network (such as 10.0.0.0/8) or address"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_minute: u32) -> AddressLimits {
        AddressLimits {
            max_connections: max,
            connects_per_minute: per_minute,
            exempt: parse_exempt("127.0.0.0/8,::1").expect("networks"),
            flood_burst: 2,
            flood_rate: 1,
        }
    }

    #[test]
    fn an_address_holds_at_most_its_share_of_connections() {
        let addresses = Arc::new(Addresses::new(limits(2, 1000)));
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let now = Instant::now();
        let first = addresses.admit(ip, now).expect("first");
        let _second = addresses.admit(ip, now).expect("second");
        assert_eq!(addresses.admit(ip, now).err(), Some(TooMany));
        drop(first);
        let later = now + Duration::from_secs(1);
        assert!(addresses.admit(ip, later).is_ok(), "a place is free again");
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        for _ in 0..10 {
            assert!(addresses.admit(loopback, now).is_ok(), "loopback is exempt");
        }
    }

    #[test]
    fn reconnecting_is_limited_per_minute_and_never_refills_the_flood_allowance() {
        let addresses = Arc::new(Addresses::new(limits(3, 60)));
        let ip: IpAddr = "192.0.2.8".parse().expect("ip");
        let now = Instant::now();
        let mut lines = 0;
        for _ in 0..3 {
            let mut ticket = addresses.admit(ip, now).expect("within the burst");
            while ticket.flood().check(now).is_ok() {
                ticket.flood().take();
                lines += 1;
            }
        }
        assert_eq!(lines, 2, "all connections share one allowance");
        assert_eq!(addresses.admit(ip, now).err(), Some(TooMany));
        let later = now + Duration::from_secs(1);
        assert!(addresses.admit(ip, later).is_ok(), "one connect per second");
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("ip");
        assert_eq!(counted_as(a), counted_as(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            counted_as(mapped),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn exempt_networks_parse() {
        assert_eq!(parse_exempt("none"), Ok(Vec::new()));
        assert_eq!(
            parse_exempt("10.0.0.0/8, ::1").map(|nets| nets.len()),
            Ok(2)
        );
        assert!(parse_exempt("10.0.0.0/8,nonsense").is_err());
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let addresses = Arc::new(Addresses::new(limits(2, 60)));
        let now = Instant::now();
        for i in 0..100u8 {
            drop(addresses.admit(IpAddr::from([192, 0, 2, i]), now));
        }
        assert_eq!(addresses.len(), 100);
        let later = now + SWEEP_EVERY + Duration::from_secs(5);
        drop(addresses.admit("198.51.100.1".parse().expect("ip"), later));
        assert_eq!(addresses.len(), 1);
    }
}
