//! Names and members across the cluster: each name a user here holds is a key in Redis
//! with this instance's id and a lease the keeper renews (claimed with `SET NX`, given
//! back with a compare-and-delete); what the other instances' users are called and where
//! they are, as the bus tells it; and the instances that died.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{LazyLock, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::{Name, fold_case, name_key};
use chat_sync::lock;
use redis::{Connection, Script, Value};

use super::{ClusterError, LEASE, Outgoing, RENEW_EVERY, Shared};
use crate::directory::{Directory, NameTaken, Order, SharedRoom};
use crate::registry::Whois;

/// Renews a name this instance holds, or takes it again if it lapsed: 1; 0 if another
/// instance has it now.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local v = redis.call('GET', KEYS[1])
         if v == ARGV[1] or not v then
           redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
         end
         return 0",
    )
});

/// Shares a private room (`private:ROOM`: name, key, owner) unless a room of that name
/// is shared already or a public one has history or a topic there: 1 if it was shared.
static SHARE_PRIVATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "for _, key in ipairs(KEYS) do
           if redis.call('EXISTS', key) == 1 then return 0 end
         end
         redis.call('HSET', KEYS[1], 'name', ARGV[1], 'key', ARGV[2], 'owner', ARGV[3])
         return 1",
    )
});

/// Deletes a name only if this instance still holds it.
const RELEASE_LUA: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1]) end
  return 0";

pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LUA));

/// Marks this instance alive for one lease (by Redis's clock, so instances on machines
/// whose clocks differ agree), forgets those whose lease ran out, and lists those alive.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local t = redis.call('TIME')
         local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
         redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
         redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
         redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 3)
         return redis.call('ZRANGE', KEYS[1], 0, -1)",
    )
});

/// Loads the scripts into Redis (after it restarted, say), so pipelines can call them by
/// their hash.
pub(super) fn load_scripts(connection: &mut Connection) -> redis::RedisResult<()> {
    for script in [&*RENEW, &*RELEASE, &*HEARTBEAT, &*super::bus::EVENT] {
        script.load(connection)?;
    }
    Ok(())
}

/// A user of another instance, as the bus told of them.
#[derive(Debug, Clone)]
struct Remote {
    name: String,
    /// Their room as it is shown, and whether it is private.
    room: Option<(String, bool)>,
    instance: String,
}

/// A room with members on other instances.
#[derive(Debug)]
struct RemoteRoom {
    /// As it is shown.
    name: String,
    private: bool,
    /// By folded name.
    members: BTreeMap<String, String>,
}

/// Who is on the other instances.
#[derive(Debug, Default)]
struct View {
    /// By name key.
    users: HashMap<String, Remote>,
    /// Rooms by key.
    rooms: HashMap<String, RemoteRoom>,
}

/// Where a user is, as the bus and the `members:` hashes carry it: empty for no room,
/// the room's name, or `~` and the name of a private room (room names start with `#`).
pub(super) fn place_field(room: Option<&str>, private: bool) -> String {
    match (room, private) {
        (None, _) => String::new(),
        (Some(room), false) => room.to_string(),
        (Some(room), true) => format!("~{room}"),
    }
}

/// A place as [`place_field`] wrote it.
fn parse_place(field: &str) -> Option<(&str, bool)> {
    match field.strip_prefix('~') {
        _ if field.is_empty() => None,
        Some(room) => Some((room, true)),
        None => Some((field, false)),
    }
}

impl View {
    fn set(&mut self, instance: &str, name: &str, place: &str) {
        let key = name_key(name);
        self.remove(&key);
        let room = parse_place(place);
        if let Some((room, private)) = room {
            let entry = self
                .rooms
                .entry(fold_case(room))
                .or_insert_with(|| RemoteRoom {
                    name: room.to_string(),
                    private,
                    members: BTreeMap::new(),
                });
            entry.members.insert(fold_case(name), name.to_string());
        }
        self.users.insert(
            key,
            Remote {
                name: name.to_string(),
                room: room.map(|(room, private)| (room.to_string(), private)),
                instance: instance.to_string(),
            },
        );
    }

    fn remove(&mut self, key: &str) -> Option<Remote> {
        let remote = self.users.remove(key)?;
        if let Some((room, _)) = &remote.room {
            let room_key = fold_case(room);
            if let Some(room) = self.rooms.get_mut(&room_key) {
                room.members.remove(&fold_case(&remote.name));
                if room.members.is_empty() {
                    self.rooms.remove(&room_key);
                }
            }
        }
        Some(remote)
    }

    /// Forgets an instance's users; returns their names and the keys of their rooms.
    fn remove_instance(&mut self, instance: &str) -> Vec<(String, String)> {
        let keys: Vec<String> = self
            .users
            .iter()
            .filter(|(_, remote)| remote.instance == instance)
            .map(|(key, _)| key.clone())
            .collect();
        keys.iter()
            .filter_map(|key| self.remove(key))
            .filter_map(|remote| Some((remote.name, fold_case(&remote.room?.0))))
            .collect()
    }

    fn instances(&self) -> HashSet<String> {
        self.users
            .values()
            .map(|remote| remote.instance.clone())
            .collect()
    }
}

/// The directory of a cluster: names claimed in Redis, members of other instances as the
/// bus tells them.
#[derive(Debug, Default)]
pub struct RedisDirectory {
    shared: OnceLock<Weak<Shared>>,
    /// Keys of the names this instance's users hold.
    held: Mutex<HashSet<String>>,
    view: Mutex<View>,
}

impl RedisDirectory {
    pub(super) fn new() -> RedisDirectory {
        RedisDirectory::default()
    }

    pub(super) fn attach(&self, shared: Weak<Shared>) {
        let _ = self.shared.set(shared);
    }

    fn shared(&self) -> Option<std::sync::Arc<Shared>> {
        self.shared.get()?.upgrade()
    }

    pub(super) fn holds(&self, key: &str) -> bool {
        lock(&self.held).contains(key)
    }

    pub(super) fn forget_others(&self) {
        *lock(&self.view) = View::default();
    }

    /// The bus said where a user of another instance is (a [`place_field`]).
    pub(super) fn heard_moved(&self, instance: &str, name: &str, place: &str) {
        lock(&self.view).set(instance, name, place);
    }

    /// The bus said a user of another instance gave their name back.
    pub(super) fn heard_released(&self, instance: &str, key: &str) {
        let mut view = lock(&self.view);
        if view
            .users
            .get(key)
            .is_some_and(|remote| remote.instance == instance)
        {
            view.remove(key);
        }
    }

    /// Forgets an instance that died or left; returns its users and their rooms' keys.
    pub(super) fn drop_instance(&self, instance: &str) -> Vec<(String, String)> {
        lock(&self.view).remove_instance(instance)
    }
}

impl Directory for RedisDirectory {
    fn claim(&self, key: &str) -> Result<(), NameTaken> {
        if !lock(&self.held).insert(key.to_string()) {
            return Err(NameTaken);
        }
        let Some(shared) = self.shared() else {
            return Ok(());
        };
        if !shared.up.load(Ordering::SeqCst) {
            // Claimed again, or given up for another, when Redis returns.
            return Ok(());
        }
        let name_key = shared.key("name", key);
        let lease = lease_ms();
        let claimed = shared.with_link(|connection| {
            let set: Option<String> = redis::cmd("SET")
                .arg(&name_key)
                .arg(&shared.id)
                .arg("NX")
                .arg("PX")
                .arg(lease)
                .query(connection)?;
            if set.is_some() {
                return Ok(true);
            }
            let holder: Option<String> = redis::cmd("GET").arg(&name_key).query(connection)?;
            Ok(holder.as_deref() == Some(shared.id.as_str()))
        });
        match claimed {
            Ok(true) | Err(_) => Ok(()),
            Ok(false) => {
                lock(&self.held).remove(key);
                Err(NameTaken)
            }
        }
    }

    fn release(&self, key: &str) {
        lock(&self.held).remove(key);
        if let Some(shared) = self.shared()
            && shared.up.load(Ordering::SeqCst)
        {
            shared.send(Outgoing::Released(key.to_string()));
        }
    }

    fn moved(&self, name: &str, room: Option<&str>, private: bool) {
        // A user who gave their name back is gone, not moved.
        if !self.holds(&name_key(name)) {
            return;
        }
        if let Some(shared) = self.shared()
            && shared.up.load(Ordering::SeqCst)
        {
            shared.send(Outgoing::Moved {
                name: name.to_string(),
                place: place_field(room, private),
            });
        }
    }

    fn share_private(&self, room_key: &str, room: &SharedRoom) -> bool {
        let Some(shared) = self.shared() else {
            return true;
        };
        if !shared.up.load(Ordering::SeqCst) {
            // Cut off: the room lives here only.
            return true;
        }
        let (private, history, topic) = (
            shared.key("private", room_key),
            shared.key("history", room_key),
            shared.key("topic", room_key),
        );
        let shared_now = shared.with_link(|connection| {
            SHARE_PRIVATE
                .key(&private)
                .key(&history)
                .key(&topic)
                .arg(&room.name)
                .arg(&room.key)
                .arg(&room.owner)
                .invoke::<i64>(connection)
        });
        // Redis failing as it was asked: the room lives here only.
        shared_now.map_or(true, |made| made == 1)
    }

    fn shared_private(&self, room_key: &str) -> Option<SharedRoom> {
        let shared = self.shared()?;
        if !shared.up.load(Ordering::SeqCst) {
            return None;
        }
        let private = shared.key("private", room_key);
        let fields: (Option<String>, Option<String>, Option<String>) = shared
            .with_link(|connection| {
                redis::cmd("HMGET")
                    .arg(&private)
                    .arg("name")
                    .arg("key")
                    .arg("owner")
                    .query(connection)
            })
            .ok()?;
        match fields {
            (Some(name), Some(key), Some(owner)) => Some(SharedRoom { name, key, owner }),
            _ => None,
        }
    }

    fn forget_private(&self, room_key: &str) {
        if let Some(shared) = self.shared()
            && shared.up.load(Ordering::SeqCst)
        {
            shared.send(Outgoing::ForgetPrivate(room_key.to_string()));
        }
    }

    fn remote_members(&self, room_key: &str) -> Vec<String> {
        lock(&self.view)
            .rooms
            .get(room_key)
            .map_or_else(Vec::new, |room| room.members.values().cloned().collect())
    }

    fn remote_rooms(&self) -> Vec<(String, usize)> {
        lock(&self.view)
            .rooms
            .values()
            .filter(|room| !room.private)
            .map(|room| (room.name.clone(), room.members.len()))
            .collect()
    }

    fn relay_private(&self, from: &str, to_key: &str, text: &str) -> Option<String> {
        let shared = self.shared()?;
        if !shared.up.load(Ordering::SeqCst) {
            return None;
        }
        let name = lock(&self.view).users.get(to_key)?.name.clone();
        shared.send(Outgoing::Private {
            from: from.to_string(),
            to_key: to_key.to_string(),
            text: text.to_string(),
        });
        Some(name)
    }

    fn remote_user(&self, key: &str) -> Option<(String, Option<String>)> {
        let view = lock(&self.view);
        let remote = view.users.get(key)?;
        let room = remote
            .room
            .as_ref()
            .filter(|(_, private)| !private)
            .map(|(room, _)| room.clone());
        Some((remote.name.clone(), room))
    }

    fn cut_off(&self) -> bool {
        self.shared()
            .is_some_and(|shared| !shared.up.load(Ordering::SeqCst))
    }

    fn relay(&self, order: Order) {
        if let Some(shared) = self.shared()
            && shared.up.load(Ordering::SeqCst)
        {
            let message = super::orders::message(&shared.id, &order);
            shared.send(match order {
                // The shared room's key changes with the message that tells the others.
                Order::Rekey { room_key, .. } => Outgoing::Rekey { room_key, message },
                _ => Outgoing::Publish(message),
            });
        }
    }

    fn remote_whois(&self, key: &str) -> Option<Whois> {
        if !lock(&self.view).users.contains_key(key) {
            return None;
        }
        super::orders::ask_whois(&*self.shared()?, key)
    }
}

fn lease_ms() -> u64 {
    u64::try_from(LEASE.as_millis()).unwrap_or(10_000)
}

/// The keeper's loop: every [`RENEW_EVERY`], while Redis answers, renews this instance's
/// presence and names, and tells this instance's users of the others that died.
pub(super) fn keep(shared: &Shared) {
    let mut next = Instant::now() + RENEW_EVERY;
    while !shared.stopping.load(Ordering::SeqCst) {
        if Instant::now() < next {
            thread::sleep(Duration::from_millis(50));
            continue;
        }
        next = Instant::now() + RENEW_EVERY;
        if shared.up.load(Ordering::SeqCst)
            && let Err(err) = renew(shared)
        {
            log::warn!("renewing this instance's names failed: {err}");
        }
    }
}

/// This instance's presence: returns the instances alive.
fn heartbeat(shared: &Shared) -> Result<Vec<String>, ClusterError> {
    let (instances, members) = (
        format!("{}instances", shared.prefix),
        shared.key("members", &shared.id),
    );
    let live: Vec<String> = shared.with_link(|connection| {
        HEARTBEAT
            .key(&instances)
            .key(&members)
            .arg(&shared.id)
            .arg(lease_ms())
            .invoke(connection)
    })?;
    *lock(&shared.size) = live.len().max(1);
    Ok(live)
}

fn renew(shared: &Shared) -> Result<(), ClusterError> {
    let live = heartbeat(shared)?;
    let held: Vec<String> = lock(&shared.directory.held).iter().cloned().collect();
    let lost = claim_all(shared, &held)?;
    rename_lost(shared, &lost);
    let live: HashSet<String> = live.into_iter().collect();
    let dead: Vec<String> = shared
        .directory
        .view
        .lock()
        .map(|view| view.instances())
        .unwrap_or_default()
        .into_iter()
        .filter(|instance| !live.contains(instance))
        .collect();
    for instance in dead {
        lost_instance(shared, &instance, "server lost");
        let members = shared.key("members", &instance);
        shared.with_link(|connection| redis::cmd("DEL").arg(&members).query::<()>(connection))?;
    }
    Ok(())
}

/// An instance is gone: its users leave the view, and their rooms here are told.
pub(super) fn lost_instance(shared: &Shared, instance: &str, reason: &str) {
    let gone = shared.directory.drop_instance(instance);
    if gone.is_empty() {
        return;
    }
    log::info!(
        "instance {instance} is gone ({reason}): its {} users left the cluster",
        gone.len()
    );
    if let Some(registry) = shared.registry() {
        registry.remote_quits(&gone, reason);
    }
}

/// Renews (or takes again) each of `keys` for this instance; returns those another
/// instance holds now.
fn claim_all(shared: &Shared, keys: &[String]) -> Result<Vec<String>, ClusterError> {
    let mut lost = Vec::new();
    for chunk in keys.chunks(1000) {
        let results: Vec<i64> = shared.with_link(|connection| {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("EVALSHA")
                    .arg(RENEW.get_hash())
                    .arg(1)
                    .arg(shared.key("name", key))
                    .arg(&shared.id)
                    .arg(lease_ms());
            }
            pipe.query(connection)
        })?;
        lost.extend(
            chunk
                .iter()
                .zip(results)
                .filter(|(_, result)| *result == 0)
                .map(|(key, _)| key.clone()),
        );
    }
    Ok(lost)
}

/// Gives each user here whose name (by key) was taken elsewhere a free one.
fn rename_lost(shared: &Shared, lost: &[String]) {
    let Some(registry) = shared.registry() else {
        return;
    };
    if lost.is_empty() {
        return;
    }
    let users = registry.local_users();
    for key in lost {
        let Some(user) = users.iter().find(|user| user.key == *key) else {
            continue;
        };
        for suffix in 2..1000 {
            let Ok(candidate) = Name::new(&format!("{}{suffix}", user.name)) else {
                break;
            };
            if shared.directory.claim(&name_key(&candidate)).is_ok() {
                log::info!("a name held here was taken elsewhere: its user was renamed");
                registry.force_rename(key, &candidate);
                break;
            }
        }
    }
}

/// After (re)subscribing to the bus: learns who is where on the other instances, claims
/// this instance's names again (renaming whoever lost theirs) and tells the cluster where
/// its users are.
pub(super) fn resync(shared: &Shared) -> Result<(), ClusterError> {
    let live = heartbeat(shared)?;
    shared.directory.forget_others();
    for instance in live.iter().filter(|instance| **instance != shared.id) {
        let members = shared.key("members", instance);
        let users: HashMap<String, String> =
            shared.with_link(|connection| redis::cmd("HGETALL").arg(&members).query(connection))?;
        for (name, place) in users {
            shared.directory.heard_moved(instance, &name, &place);
        }
    }
    let Some(registry) = shared.registry() else {
        return Ok(());
    };
    let users = registry.local_users();
    let keys: Vec<String> = users.iter().map(|user| user.key.clone()).collect();
    {
        let mut held = lock(&shared.directory.held);
        held.extend(keys.iter().cloned());
    }
    let lost = claim_all(shared, &keys)?;
    let members = shared.key("members", &shared.id);
    shared.with_link(|connection| {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(&members).ignore();
        for user in &users {
            if !lost.contains(&user.key) {
                pipe.cmd("HSET")
                    .arg(&members)
                    .arg(&*user.name)
                    .arg(place_field(user.room.as_deref(), user.private))
                    .ignore();
            }
        }
        pipe.cmd("PEXPIRE")
            .arg(&members)
            .arg(lease_ms() * 3)
            .ignore();
        pipe.query::<()>(connection)
    })?;
    for user in users.iter().filter(|user| !lost.contains(&user.key)) {
        let place = place_field(user.room.as_deref(), user.private);
        let message = super::bus::moved_message(&shared.id, &user.name, &place);
        shared.with_link(|connection| {
            redis::cmd("PUBLISH")
                .arg(shared.channel())
                .arg(&message)
                .query::<Value>(connection)
        })?;
    }
    rename_lost(shared, &lost);
    Ok(())
}

/// Gives back this instance's names and presence at once (at shutdown).
pub(super) fn leave(shared: &Shared) -> Result<(), ClusterError> {
    let held: Vec<String> = lock(&shared.directory.held).drain().collect();
    let mut connection = super::open(&shared.client)?;
    let mut pipe = redis::pipe();
    for key in &held {
        pipe.cmd("EVAL")
            .arg(RELEASE_LUA)
            .arg(1)
            .arg(shared.key("name", key))
            .arg(&shared.id)
            .ignore();
    }
    pipe.cmd("ZREM")
        .arg(format!("{}instances", shared.prefix))
        .arg(&shared.id)
        .ignore();
    pipe.cmd("DEL")
        .arg(shared.key("members", &shared.id))
        .ignore();
    pipe.cmd("PUBLISH")
        .arg(shared.channel())
        .arg(super::bus::bye_message(&shared.id))
        .ignore();
    pipe.query::<()>(&mut connection)?;
    Ok(())
}
