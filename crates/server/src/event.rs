//! Room events: what happened in a room (chat, an action, a join, a leave, a quit, a
//! rename), numbered and timed by the registry in the order the room's members got it, and
//! handed afterwards to the sinks that keep or forward them.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

use chat_protocol::{Notice, ServerLine, UtcTime};

/// Something that happened in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEvent {
    /// The room, as its name is shown (`#dev`).
    pub room: Arc<str>,
    /// Its place in the room's history: each event in a room gets the next number, under
    /// the registry's lock, so this is the order the members got them in.
    pub seq: u64,
    /// When it happened (UTC).
    pub time: SystemTime,
    /// Who did it, as their name is shown.
    pub from: Arc<str>,
    pub kind: EventKind,
    /// Whether the room's members are shown it (a join, leave or quit in a room past
    /// `--announce-limit` is not).
    pub shown: bool,
}

/// What kind of thing happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A chat line.
    Chat(String),
    /// `/me ACTION`.
    Action(String),
    /// Someone came into the room.
    Joined,
    /// Someone moved to another room.
    Left,
    /// Someone left the chat, with the reason their room is told.
    Quit(Option<String>),
    /// Someone took a new name.
    Renamed(Arc<str>),
    /// Someone took their registered name back from a connection still open (a dropped
    /// laptop): they are back, on a new connection.
    Reconnected,
}

impl RoomEvent {
    /// Whether it is kept in the room's history (chat and actions are; comings and goings
    /// are not).
    pub fn is_history(&self) -> bool {
        matches!(self.kind, EventKind::Chat(_) | EventKind::Action(_))
    }

    /// Whether the one who did it gets its line too (their own chat line and their own
    /// join or reconnection they don't: they were told otherwise).
    pub fn echoed(&self) -> bool {
        !matches!(
            self.kind,
            EventKind::Chat(_) | EventKind::Joined | EventKind::Reconnected
        )
    }

    /// The line a joiner replaying the room's history gets for it: `= TIME LINE`.
    pub fn replay_line(&self) -> ServerLine<'_> {
        ServerLine::Replay {
            time: UtcTime::from_system(self.time),
            line: Box::new(self.line()),
        }
    }

    /// The line the room's members get for it.
    pub fn line(&self) -> ServerLine<'_> {
        let (name, room) = (&*self.from, &*self.room);
        match &self.kind {
            EventKind::Chat(text) => ServerLine::Chat { from: name, text },
            EventKind::Action(text) => Notice::Action { name, text }.into(),
            EventKind::Joined => Notice::Joined { name, room }.into(),
            EventKind::Left => Notice::Left { name, room }.into(),
            EventKind::Quit(reason) => Notice::Quit {
                name,
                reason: reason.as_deref(),
            }
            .into(),
            EventKind::Renamed(new) => Notice::Renamed { old: name, new }.into(),
            EventKind::Reconnected => Notice::Reconnected { name }.into(),
        }
    }
}

/// Where room events go once the registry has delivered them and released its lock: the
/// store keeps history, the cluster bus forwards them to other instances. A sink must not
/// block for long: the connection whose line made the event waits for it.
pub trait EventSink: Send + Sync + Debug {
    /// Takes events in the order they happened (per room).
    fn accept(&self, events: &[Arc<RoomEvent>]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_format_as_the_protocol_says() {
        let event = |kind| RoomEvent {
            room: "#dev".into(),
            seq: 1,
            time: SystemTime::UNIX_EPOCH,
            from: "bob".into(),
            kind,
            shown: true,
        };
        let cases = [
            (EventKind::Chat("hi".into()), "bob: hi"),
            (EventKind::Action("waves".into()), "* bob waves"),
            (EventKind::Joined, "* bob joined #dev"),
            (EventKind::Left, "* bob left #dev"),
            (EventKind::Quit(None), "* bob quit"),
            (EventKind::Quit(Some("lunch".into())), "* bob quit (lunch)"),
            (EventKind::Renamed("rob".into()), "* bob is now rob"),
        ];
        for (kind, line) in cases {
            assert_eq!(event(kind).line().to_string(), line);
        }
    }
}
