//! What one instance asks of the others for its users' commands that reach users
//! elsewhere (`/wall`, `/invite`, `/kick`, `/ban`, `/unban`, `/topic`), and `/whois` questions with
//! their answers, as bus messages.
//!
//! Messages (fields joined by `\n`; lines are as sent, without their line ending):
//! `w INSTANCE LINE` (to everyone), `i INSTANCE KEY LINE` (to one user),
//! `k INSTANCE ROOM_KEY KEY LINE LAST` (a kick, `LAST` empty, or a ban),
//! `B INSTANCE` (bans changed), `K INSTANCE ROOM_KEY KEY` (a private room's new key), `t INSTANCE ROOM_KEY LINE TOPIC` (a topic, `+TEXT` or
//! empty), `q INSTANCE ID KEY` (whois?) and
//! `a INSTANCE ID NAME REGISTERED IDLE SINCE AWAY? AWAY ROOM` (its answer, to `INSTANCE`).

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use chat_protocol::UtcTime;
use chat_sync::lock;

use super::{Outgoing, Shared};
use crate::directory::Order;
use crate::registry::Whois;
use crate::room_key::RoomKey;

/// How long `/whois` waits for another instance's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// The bus message for `order`, from this instance.
pub(super) fn message(instance: &str, order: &Order) -> String {
    match order {
        Order::Everyone { line } => format!("w\n{instance}\n{line}"),
        Order::User { key, line } => format!("i\n{instance}\n{key}\n{line}"),
        Order::Remove {
            room_key,
            key,
            line,
            last,
        } => format!(
            "k\n{instance}\n{room_key}\n{key}\n{line}\n{}",
            last.as_deref().unwrap_or("")
        ),
        Order::Bans => format!("B\n{instance}"),
        Order::Rekey { room_key, key } => format!("K\n{instance}\n{room_key}\n{key}"),
        Order::Topic {
            room_key,
            topic,
            line,
        } => format!(
            "t\n{instance}\n{room_key}\n{line}\n{}",
            topic
                .as_deref()
                .map_or_else(String::new, |topic| format!("+{topic}"))
        ),
    }
}

/// Asks the instance of the user with key `key` what `/whois` says of them.
pub(super) fn ask_whois(shared: &Shared, key: &str) -> Option<Whois> {
    if !shared.up.load(Ordering::SeqCst) {
        return None;
    }
    let id = shared.next_question.fetch_add(1, Ordering::Relaxed);
    let (answer, answered) = mpsc::sync_channel(1);
    lock(&shared.questions).insert(id, answer);
    shared.send(Outgoing::Publish(format!("q\n{}\n{id}\n{key}", shared.id)));
    let whois = answered.recv_timeout(ANSWER_TIMEOUT).ok();
    lock(&shared.questions).remove(&id);
    whois
}

/// Handles a message of this module's kinds; `false` if `kind` isn't one.
pub(super) fn heard(shared: &Shared, kind: &str, rest: &str) -> bool {
    let Some(registry) = shared.registry() else {
        return true;
    };
    // Some kinds (`B`) carry nothing after the instance's id.
    let (instance, rest) = rest.split_once('\n').unwrap_or((rest, ""));
    let mine = instance == shared.id;
    match kind {
        "w" if !mine => registry.deliver_to_everyone(rest),
        "i" if !mine => {
            if let Some((key, line)) = rest.split_once('\n') {
                registry.deliver_to_user(key, line);
            }
        }
        "k" if !mine => {
            let mut parts = rest.splitn(4, '\n');
            if let (Some(room_key), Some(key), Some(line), Some(last)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                let last = (!last.is_empty()).then_some(last);
                registry.remove_relayed(room_key, key, line, last);
            }
        }
        "B" => {
            if !mine && let Some(reload) = shared.bans_changed.get() {
                reload();
            }
        }
        "K" if !mine => {
            if let Some((room_key, key)) = rest.split_once('\n') {
                let key = RoomKey::from_shared(key.to_string());
                if let Some((room, members)) = registry.rekey_relayed(room_key, &key)
                    && let Some(tell) = shared.rekeyed.get()
                {
                    tell(&room, &members, &key);
                }
            }
        }
        "t" if !mine => {
            let mut parts = rest.splitn(3, '\n');
            if let (Some(room_key), Some(line), Some(topic)) =
                (parts.next(), parts.next(), parts.next())
            {
                registry.topic_relayed(room_key, topic.strip_prefix('+'), line);
            }
        }
        "q" if !mine => {
            if let Some((id, key)) = rest.split_once('\n')
                && shared.directory.holds(key)
                && let Some(whois) = registry.whois(key, "")
            {
                shared.send(Outgoing::Publish(answer(instance, id, &whois)));
            }
        }
        "a" if mine => {
            if let Some((id, fields)) = rest.split_once('\n')
                && let Ok(id) = id.parse::<u64>()
                && let Some(whois) = parse_answer(fields)
                && let Some(waiting) = lock(&shared.questions).get(&id)
            {
                let _ = waiting.try_send(whois);
            }
        }
        "w" | "i" | "k" | "K" | "t" | "q" | "a" => {}
        _ => return false,
    }
    true
}

/// The answer to question `id` of instance `asker`.
fn answer(asker: &str, id: &str, whois: &Whois) -> String {
    let (has_away, away) = match &whois.away {
        Some(reason) => ("1", reason.as_str()),
        None => ("0", ""),
    };
    format!(
        "a\n{asker}\n{id}\n{}\n{}\n{}\n{}\n{has_away}\n{away}\n{}",
        whois.name,
        u8::from(whois.registered),
        whois.idle.as_secs(),
        whois.since.unix(),
        whois.room.as_deref().unwrap_or("")
    )
}

fn parse_answer(fields: &str) -> Option<Whois> {
    let mut parts = fields.splitn(7, '\n');
    let name = parts.next()?.to_string();
    let registered = parts.next()? == "1";
    let idle = Duration::from_secs(parts.next()?.parse().ok()?);
    let since = UtcTime::from_unix(parts.next()?.parse().ok()?);
    let has_away = parts.next()? == "1";
    let away = parts.next()?;
    let room = parts.next().unwrap_or("");
    Some(Whois {
        name,
        room: (!room.is_empty()).then(|| room.to_string()),
        registered,
        idle,
        since,
        away: has_away.then(|| away.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whois_answer_crosses_the_bus_unchanged() {
        for (room, away) in [
            (Some("#dev".to_string()), Some("lunch".to_string())),
            (None, Some(String::new())),
            (None, None),
        ] {
            let whois = Whois {
                name: "Bob".into(),
                room,
                registered: true,
                idle: Duration::from_secs(42),
                since: UtcTime::from_unix(1_796_150_585),
                away,
            };
            let message = answer("ab12cd34", "7", &whois);
            let fields = message
                .strip_prefix("a\nab12cd34\n7\n")
                .expect("addressed to the asker");
            assert_eq!(parse_answer(fields), Some(whois));
        }
    }
}
