//! Bans on names and addresses: kept in the store (so they survive restarts) and in memory
//! (so the accept loop checks an address without waiting for the disk). An expired ban is
//! ignored, and dropped the next time the bans change.

use std::net::IpAddr;

use chat_protocol::{UtcTime, is_name, name_key};
use chat_sync::lock;
use std::sync::Mutex;

use crate::store::{Ban, Store, Unavailable};

/// What `/ban` and `/unban` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A user's name, as typed.
    Name(String),
    Address(IpAddr),
}

impl Target {
    /// An address if `text` is one, else a name if it is one.
    pub fn parse(text: &str) -> Option<Target> {
        if let Ok(address) = text.parse() {
            return Some(Target::Address(address));
        }
        is_name(text).then(|| Target::Name(text.to_string()))
    }
}

/// The bans in force, as the store has them.
#[derive(Debug, Default)]
pub struct Bans {
    list: Mutex<Vec<Ban>>,
}

/// Whether a ban still holds at `now`.
fn holds(ban: &Ban, now: UtcTime) -> bool {
    ban.until.is_none_or(|until| until.unix() > now.unix())
}

impl Bans {
    /// The bans in `store`; none (and an error in the log) if it can't say.
    pub fn load(store: &dyn Store) -> Bans {
        let list = store.bans().unwrap_or_else(|Unavailable| {
            log::error!("the bans could not be read from the store; starting with none");
            Vec::new()
        });
        Bans {
            list: Mutex::new(list),
        }
    }

    /// Reads the bans from `store` again (another instance of the cluster changed them);
    /// keeps those it had if the store can't say.
    pub fn reload(&self, store: &dyn Store) {
        match store.bans() {
            Ok(list) => *lock(&self.list) = list,
            Err(Unavailable) => log::warn!("the bans could not be read again from the store"),
        }
    }

    /// The ban on `address`, if one holds.
    pub fn of_address(&self, address: IpAddr) -> Option<Ban> {
        let now = UtcTime::now();
        let address = canonical(address);
        lock(&self.list)
            .iter()
            .find(|ban| ban.address.map(canonical) == Some(address) && holds(ban, now))
            .cloned()
    }

    /// The ban on the name with key `key`, if one holds.
    pub fn of_name(&self, key: &str) -> Option<Ban> {
        let now = UtcTime::now();
        lock(&self.list)
            .iter()
            .find(|ban| {
                ban.name.as_deref().map(name_key).as_deref() == Some(key) && holds(ban, now)
            })
            .cloned()
    }

    /// Keeps `ban` (replacing what it covers), in the store first.
    ///
    /// # Errors
    /// If the store can't answer; nothing changes then.
    pub fn add(&self, store: &dyn Store, ban: Ban) -> Result<(), Unavailable> {
        store.add_ban(ban.clone())?;
        let now = UtcTime::now();
        let key = ban.name.as_deref().map(name_key);
        let mut list = lock(&self.list);
        list.retain(|old| {
            holds(old, now)
                && !(key.is_some() && old.name.as_deref().map(name_key) == key)
                && !(ban.address.is_some() && old.address == ban.address)
        });
        list.push(ban);
        Ok(())
    }

    /// Lifts the bans on `target` (a name's ban goes with its address); `false` if there
    /// were none.
    ///
    /// # Errors
    /// If the store can't answer; nothing changes then.
    pub fn remove(&self, store: &dyn Store, target: &Target) -> Result<bool, Unavailable> {
        let (key, address) = match target {
            Target::Name(name) => (Some(name_key(name)), None),
            Target::Address(address) => (None, Some(*address)),
        };
        let covered = |ban: &Ban| {
            (key.is_some() && ban.name.as_deref().map(name_key) == key)
                || (address.is_some() && ban.address == address)
        };
        let now = UtcTime::now();
        if !lock(&self.list)
            .iter()
            .any(|ban| covered(ban) && holds(ban, now))
        {
            return Ok(false);
        }
        store.remove_bans(key.as_deref(), address)?;
        lock(&self.list).retain(|ban| !covered(ban));
        Ok(true)
    }

    /// The bans that hold now, oldest first.
    pub fn in_force(&self) -> Vec<Ban> {
        let now = UtcTime::now();
        lock(&self.list)
            .iter()
            .filter(|ban| holds(ban, now))
            .cloned()
            .collect()
    }
}

/// An IPv4 address that arrived as IPv4-mapped IPv6 is the same client.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn bans_hold_until_they_expire_or_are_lifted() {
        let store = SqliteStore::in_memory(0);
        let bans = Bans::load(&store);
        let address: IpAddr = "192.0.2.7".parse().expect("address");
        let ban = Ban {
            name: Some("Bob".into()),
            address: Some(address),
            until: None,
            reason: Some("spam".into()),
        };
        bans.add(&store, ban.clone()).expect("stored");
        assert_eq!(bans.of_name(&name_key("bob")), Some(ban.clone()));
        assert_eq!(bans.of_address(address), Some(ban.clone()));
        assert_eq!(Bans::load(&store).in_force(), vec![ban]);

        let expired = Ban {
            name: None,
            address: Some("192.0.2.8".parse().expect("address")),
            until: Some(UtcTime::from_unix(UtcTime::now().unix() - 1)),
            reason: None,
        };
        bans.add(&store, expired).expect("stored");
        assert_eq!(bans.of_address("192.0.2.8".parse().expect("address")), None);

        let lifted = bans.remove(&store, &Target::Name("BOB".into()));
        assert_eq!(lifted, Ok(true));
        assert_eq!(bans.of_address(address), None);
        assert!(Bans::load(&store).of_name(&name_key("bob")).is_none());
        assert_eq!(bans.remove(&store, &Target::Address(address)), Ok(false));
        store.close();
    }

    #[test]
    fn targets_are_addresses_or_names() {
        assert_eq!(
            Target::parse("::1"),
            Some(Target::Address("::1".parse().expect("address")))
        );
        assert_eq!(Target::parse("bob"), Some(Target::Name("bob".into())));
        assert_eq!(Target::parse("b o b"), None);
    }
}
