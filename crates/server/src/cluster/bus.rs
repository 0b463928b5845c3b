//! The bus: one Redis channel every instance publishes to and hears, in the one order
//! Redis gives its messages. A public room's event is numbered by a script (the room's
//! counter in Redis), kept in the room's history list if it is a chat line or an action,
//! and published, in one step; every instance (its own too) delivers it to its members
//! when it hears it, so all see the room's lines in the same order.
//!
//! Messages are lines of fields joined by `\n` (no field holds one):
//! `e SEQ ROOM MICROS FROM SHOWN KIND ARG` (an event), `m INSTANCE NAME ROOM` (a user is
//! in a room; empty: in a private one), `r INSTANCE KEY` (a name given back),
//! `p INSTANCE FROM TO_KEY TEXT` (a private message), `b INSTANCE` (an instance left).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use chat_protocol::fold_case;
use chat_sync::lock;
use redis::{Connection, Script, Value};

use super::names::{self, RELEASE};
use super::{ClusterError, Outgoing, Shared};
use crate::event::{EventKind, RoomEvent};
use crate::store::redis::HISTORY_KEPT;

/// Most items sent in one pipeline.
const BATCH: usize = 2_000;

/// Bus messages heard and not yet handled; past that the subscriber waits (and Redis
/// holds the rest, up to its `client-output-buffer-limit pubsub`).
const HEARD_BACKLOG: usize = 65_536;

/// Most events handed to the registry at once.
const DELIVER_BATCH: usize = 1_024;

/// Numbers an event in its room, keeps it if it is history, and publishes it.
pub(super) static EVENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local seq = redis.call('INCR', KEYS[1])
         if ARGV[3] ~= '' then
           redis.call('RPUSH', KEYS[2], seq .. '\\n' .. ARGV[3])
           redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
         end
         redis.call('PUBLISH', ARGV[1], 'e\\n' .. seq .. '\\n' .. ARGV[2])
         return seq",
    )
});

/// The publisher's loop: sends what is queued, in pipelines, until the cluster stops.
pub(super) fn publish(shared: &Shared) {
    let mut connection: Option<Connection> = None;
    loop {
        let batch: Vec<Outgoing> = {
            let mut queue = lock(&shared.queue);
            if queue.is_empty() {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                queue = shared
                    .queued
                    .wait_timeout(queue, Duration::from_millis(50))
                    .map_or_else(|err| err.into_inner().0, |(guard, _)| guard);
            }
            let count = queue.len().min(BATCH);
            queue.drain(..count).collect()
        };
        if batch.is_empty() {
            continue;
        }
        shared.queued.notify_all();
        if !shared.up.load(Ordering::SeqCst) {
            undeliverable(shared, batch);
            continue;
        }
        // A connection open since before Redis restarted fails once: a new one is tried
        // before the batch counts as undeliverable.
        let mut sent = false;
        let mut why = String::new();
        for _ in 0..2 {
            if connection.is_none() {
                match super::open(&shared.client).and_then(|mut opened| {
                    names::load_scripts(&mut opened)?;
                    Ok(opened)
                }) {
                    Ok(opened) => connection = Some(opened),
                    Err(err) => {
                        why = err.to_string();
                        break;
                    }
                }
            }
            let Some(open) = connection.as_mut() else {
                break;
            };
            match pipeline(shared, &batch).query::<Value>(open) {
                Ok(_) => {
                    sent = true;
                    break;
                }
                Err(err) => {
                    why = err.to_string();
                    connection = None;
                }
            }
        }
        if !sent {
            shared.went_down(&why);
            undeliverable(shared, batch);
        }
    }
}

/// What was queued for the bus and can't go: events are delivered here instead.
fn undeliverable(shared: &Shared, batch: Vec<Outgoing>) {
    let Some(registry) = shared.registry() else {
        return;
    };
    let events = batch.into_iter().filter_map(|item| match item {
        Outgoing::Event(event) => Some((*event).clone()),
        _ => None,
    });
    registry.deliver_unrelayed(events);
}

fn pipeline(shared: &Shared, batch: &[Outgoing]) -> redis::Pipeline {
    let channel = shared.channel();
    let members = shared.key("members", &shared.id);
    let mut pipe = redis::pipe();
    for item in batch {
        match item {
            Outgoing::Event(event) => {
                let room_key = fold_case(&event.room);
                let (message, history) = event_fields(event);
                pipe.cmd("EVALSHA")
                    .arg(EVENT.get_hash())
                    .arg(2)
                    .arg(shared.key("seq", &room_key))
                    .arg(shared.key("history", &room_key))
                    .arg(&channel)
                    .arg(message)
                    .arg(history)
                    .arg(HISTORY_KEPT)
                    .ignore();
            }
            Outgoing::Rekey { room_key, message } => {
                pipe.cmd("EVAL")
                    .arg(
                        "if redis.call('EXISTS', KEYS[1]) == 1 then
                           redis.call('HSET', KEYS[1], 'key', ARGV[1])
                         end
                         return redis.call('PUBLISH', ARGV[2], ARGV[3])",
                    )
                    .arg(1)
                    .arg(shared.key("private", room_key))
                    .arg(message.rsplit('\n').next().unwrap_or(""))
                    .arg(&channel)
                    .arg(message)
                    .ignore();
            }
            Outgoing::ForgetPrivate(room_key) => {
                pipe.cmd("DEL")
                    .arg(shared.key("private", room_key))
                    .arg(shared.key("history", room_key))
                    .arg(shared.key("topic", room_key))
                    .ignore();
                pipe.cmd("PUBLISH")
                    .arg(&channel)
                    .arg(format!("f\n{}\n{room_key}", shared.id))
                    .ignore();
            }
            Outgoing::Moved { name, place } => {
                pipe.cmd("HSET").arg(&members).arg(name).arg(place).ignore();
                pipe.cmd("PUBLISH")
                    .arg(&channel)
                    .arg(moved_message(&shared.id, name, place))
                    .ignore();
            }
            Outgoing::Private { from, to_key, text } => {
                pipe.cmd("PUBLISH")
                    .arg(&channel)
                    .arg(format!("p\n{}\n{from}\n{to_key}\n{text}", shared.id))
                    .ignore();
            }
            Outgoing::Publish(message) => {
                pipe.cmd("PUBLISH").arg(&channel).arg(message).ignore();
            }
            Outgoing::Released(key) => {
                // Claimed again meanwhile (by a new connection here): it stays.
                if shared.directory.holds(key) {
                    continue;
                }
                pipe.cmd("EVALSHA")
                    .arg(RELEASE.get_hash())
                    .arg(1)
                    .arg(shared.key("name", key))
                    .arg(&shared.id)
                    .ignore();
                pipe.cmd("PUBLISH")
                    .arg(&channel)
                    .arg(format!("r\n{}\n{key}", shared.id))
                    .ignore();
            }
        }
    }
    // A reply to read even if everything above was skipped.
    pipe.cmd("PING");
    pipe
}

/// An event as the bus carries it (after its number), and as its room's history keeps it
/// (after its number; empty if it isn't history).
fn event_fields(event: &RoomEvent) -> (String, String) {
    let micros = event
        .time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    let (kind, arg) = match &event.kind {
        EventKind::Chat(text) => ("chat", text.as_str()),
        EventKind::Action(text) => ("action", text.as_str()),
        EventKind::Joined => ("join", ""),
        EventKind::Left => ("left", ""),
        EventKind::Quit(None) => ("quit", ""),
        EventKind::Quit(Some(reason)) => ("quitr", reason.as_str()),
        EventKind::Renamed(new) => ("nick", &**new),
        EventKind::Reconnected => ("back", ""),
    };
    let shown = u8::from(event.shown);
    let message = format!(
        "{}\n{micros}\n{}\n{shown}\n{kind}\n{arg}",
        event.room, event.from
    );
    let history = match event.is_history() {
        true => format!("{micros}\n{kind}\n{}\n{arg}", event.from),
        false => String::new(),
    };
    (message, history)
}

/// An event as the bus brought it (the fields after `e`).
fn parse_event(fields: &str) -> Option<RoomEvent> {
    let mut parts = fields.splitn(7, '\n');
    let seq = parts.next()?.parse().ok()?;
    let room: Arc<str> = parts.next()?.into();
    let micros: u64 = parts.next()?.parse().ok()?;
    let from: Arc<str> = parts.next()?.into();
    let shown = parts.next()? == "1";
    let kind = parts.next()?;
    let arg = parts.next().unwrap_or("");
    let kind = match kind {
        "chat" => EventKind::Chat(arg.to_string()),
        "action" => EventKind::Action(arg.to_string()),
        "join" => EventKind::Joined,
        "left" => EventKind::Left,
        "quit" => EventKind::Quit(None),
        "quitr" => EventKind::Quit(Some(arg.to_string())),
        "nick" => EventKind::Renamed(arg.into()),
        "back" => EventKind::Reconnected,
        _ => return None,
    };
    Some(RoomEvent {
        room,
        seq,
        time: UNIX_EPOCH + Duration::from_micros(micros),
        from,
        kind,
        shown,
    })
}

/// `m INSTANCE NAME PLACE` (a [`names::place_field`]).
pub(super) fn moved_message(instance: &str, name: &str, place: &str) -> String {
    format!("m\n{instance}\n{name}\n{place}")
}

pub(super) fn bye_message(instance: &str) -> String {
    format!("b\n{instance}")
}

/// The subscriber's loop: hears the bus, and after losing Redis, keeps trying until it
/// can hear it again (then this instance joins the cluster again).
///
/// What it hears goes, in order, to a deliverer thread, which hands the events that
/// arrived together to the registry at once (one lock, one chunk per member and room).
pub(super) fn subscribe(shared: &Shared) {
    thread::scope(|scope| {
        let (heard, queue) = mpsc::sync_channel(HEARD_BACKLOG);
        let deliverer = thread::Builder::new()
            .name("cluster-deliverer".into())
            .spawn_scoped(scope, || deliver(shared, queue));
        if let Err(err) = deliverer {
            log::error!("could not start the cluster's deliverer: {err}");
            return;
        }
        hear(shared, &heard);
    });
}

/// Hears the bus until the cluster stops.
fn hear(shared: &Shared, heard: &SyncSender<Vec<u8>>) {
    let mut joined_before = false;
    while !shared.stopping.load(Ordering::SeqCst) {
        if let Err(err) = listen(shared, heard, &mut joined_before) {
            shared.went_down(&err.to_string());
            for _ in 0..10 {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn listen(
    shared: &Shared,
    heard: &SyncSender<Vec<u8>>,
    joined_before: &mut bool,
) -> Result<(), ClusterError> {
    let mut connection = super::open(&shared.client)?;
    connection.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut bus = connection.as_pubsub();
    bus.subscribe(shared.channel())?;
    shared.with_link(names::load_scripts)?;
    shared.up.store(true, Ordering::SeqCst);
    names::resync(shared)?;
    if let Some(registry) = shared.registry() {
        registry.set_relayed(true);
        if *joined_before {
            log::info!(
                "the cluster's Redis is back: instance {} rejoined",
                shared.id
            );
            registry.tell_everyone("connected to the other servers again");
        }
    }
    *joined_before = true;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        if !shared.up.load(Ordering::SeqCst) {
            // Another thread lost Redis: hear the bus again from the start, and resync.
            return Err(ClusterError("Redis was lost".into()));
        }
        match bus.get_message() {
            Ok(message) => {
                if heard.send(message.get_payload_bytes().to_vec()).is_err() {
                    return Ok(());
                }
            }
            Err(err) if err.is_timeout() => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// The deliverer's loop: handles what was heard in order, the events among it in batches.
fn deliver(shared: &Shared, queue: Receiver<Vec<u8>>) {
    let mut events = Vec::new();
    while let Ok(first) = queue.recv() {
        let mut next = Some(first);
        while let Some(payload) = next {
            match payload.strip_prefix(b"e\n") {
                Some(fields) => match std::str::from_utf8(fields).ok().and_then(parse_event) {
                    Some(event) => events.push(event),
                    None => log::warn!("a malformed event on the bus was ignored"),
                },
                None => {
                    hand_over(shared, &mut events);
                    heard(shared, &payload);
                }
            }
            if events.len() >= DELIVER_BATCH {
                hand_over(shared, &mut events);
            }
            next = queue.try_recv().ok();
        }
        hand_over(shared, &mut events);
    }
}

/// Gives the registry the events gathered so far.
fn hand_over(shared: &Shared, events: &mut Vec<RoomEvent>) {
    if !events.is_empty()
        && let Some(registry) = shared.registry()
    {
        registry.deliver_relayed(std::mem::take(events));
    }
    events.clear();
}

/// One message from the bus.
fn heard(shared: &Shared, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let Some((kind, rest)) = text.split_once('\n') else {
        return;
    };
    let Some(registry) = shared.registry() else {
        return;
    };
    match kind {
        "e" => match parse_event(rest) {
            Some(event) => registry.deliver_relayed(vec![event]),
            None => log::warn!("a malformed event on the bus was ignored"),
        },
        "m" => {
            let mut parts = rest.splitn(3, '\n');
            if let (Some(instance), Some(name), Some(room)) =
                (parts.next(), parts.next(), parts.next())
                && instance != shared.id
            {
                shared.directory.heard_moved(instance, name, room);
            }
        }
        "r" => {
            if let Some((instance, key)) = rest.split_once('\n')
                && instance != shared.id
            {
                shared.directory.heard_released(instance, key);
            }
        }
        "p" => {
            let mut parts = rest.splitn(4, '\n');
            if let (Some(_), Some(from), Some(to_key), Some(text)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                registry.deliver_private(from, to_key, text);
            }
        }
        "f" => {
            if let Some((_, room_key)) = rest.split_once('\n') {
                registry.forget_dormant(room_key);
            }
        }
        "b" if rest != shared.id => {
            names::lost_instance(shared, rest, "server shut down");
        }
        _ => {
            super::orders::heard(shared, kind, rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cross_the_bus_unchanged() {
        let kinds = [
            EventKind::Chat("hi there".into()),
            EventKind::Action("waves".into()),
            EventKind::Joined,
            EventKind::Left,
            EventKind::Quit(None),
            EventKind::Quit(Some("lunch".into())),
            EventKind::Renamed("rob".into()),
            EventKind::Reconnected,
        ];
        for kind in kinds {
            let event = RoomEvent {
                room: "#Dev".into(),
                seq: 0,
                time: UNIX_EPOCH + Duration::from_micros(1_234_567),
                from: "bob".into(),
                kind,
                shown: false,
            };
            let (message, _) = event_fields(&event);
            let heard = parse_event(&format!("7\n{message}")).expect("parses");
            assert_eq!(heard, RoomEvent { seq: 7, ..event });
        }
    }
}
