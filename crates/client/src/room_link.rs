//! Invite links, `chat://HOST:PORT/ROOM?key=KEY` (`chats://` for the server's TLS port):
//! what `chat-client NAME LINK` connects to and joins.

use std::fmt;

use chat_protocol::{self as protocol, DEFAULT_PORT};

/// A parsed invite link.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomLink {
    pub host: String,
    pub port: u16,
    /// Whether the link is for TLS (`chats://`).
    pub tls: bool,
    /// The room, with its `#`.
    pub room: String,
    /// The private room's key (a public room's link has none).
    pub key: Option<String>,
}

impl fmt::Debug for RoomLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomLink")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("room", &self.room)
            .field("key", &self.key.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Why a link can't be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLink(pub String);

impl fmt::Display for BadLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadLink {}

const SCHEME: &str = "chat://";
const TLS_SCHEME: &str = "chats://";

impl RoomLink {
    /// Parses `chat://HOST[:PORT]/ROOM[?key=KEY]` (HOST may be `[IPv6]`), or the same
    /// with `chats://` for TLS.
    ///
    /// # Errors
    /// Saying what is wrong with it.
    pub fn parse(text: &str) -> Result<RoomLink, BadLink> {
        let bad = |why: &str| Err(BadLink(format!("invalid link {text:?}: {why}")));
        let (tls, rest) = match (text.strip_prefix(SCHEME), text.strip_prefix(TLS_SCHEME)) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            (None, None) => return bad("it must start with chat:// (or chats:// for TLS)"),
        };
        let Some((authority, rest)) = rest.split_once('/') else {
            return bad("it has no room (chat://HOST:PORT/ROOM?key=KEY)");
        };
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, port)) => match port.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return bad("junk after the IPv6 address"),
                },
                None => return bad("an unclosed [ in the host"),
            },
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return bad("it has no host");
        }
        let port = match port {
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return bad("the port must be a number from 1 to 65535"),
            },
            None => DEFAULT_PORT,
        };
        let (room, query) = match rest.split_once('?') {
            Some((room, query)) => (room, Some(query)),
            None => (rest, None),
        };
        let room = format!("#{}", room.trim_start_matches('#'));
        if let Err(reason) = protocol::parse_room(&room) {
            return bad(&format!("the room {room:?} is not valid: {reason}"));
        }
        let key = match query {
            None => None,
            Some(query) => match query.strip_prefix("key=") {
                Some(key) if protocol::is_key_shaped(key) => Some(key.to_string()),
                Some(_) => return bad("the key is not one the server gives"),
                None => return bad("the only thing after ? may be key=KEY"),
            },
        };
        Ok(RoomLink {
            host: host.to_string(),
            port,
            tls,
            room,
            key,
        })
    }

    /// The `/join` line that takes one into the room.
    pub fn join_line(&self) -> String {
        match &self.key {
            Some(key) => format!("/join {} {key}", self.room),
            None => format!("/join {}", self.room),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Zm9vYmFyYmF6cXV4LV8xMj";

    #[test]
    fn links_parse_into_host_port_room_and_key() {
        let link = RoomLink::parse(&format!("chat://127.0.0.1:7000/k3x9q2ab?key={KEY}"))
            .expect("a good link");
        assert_eq!(link.host, "127.0.0.1");
        assert_eq!(link.port, 7000);
        assert!(!link.tls);
        assert_eq!(link.room, "#k3x9q2ab");
        assert_eq!(link.join_line(), format!("/join #k3x9q2ab {KEY}"));
        assert!(!format!("{link:?}").contains(KEY));

        let v6 = RoomLink::parse("chat://[::1]:9/dev").expect("IPv6");
        assert_eq!((v6.host.as_str(), v6.port, v6.key), ("::1", 9, None));
        let default_port = RoomLink::parse("chat://chat.example/dev").expect("no port");
        assert_eq!(default_port.port, DEFAULT_PORT);

        let tls = RoomLink::parse(&format!("chats://chat.example:7001/dev?key={KEY}"))
            .expect("a TLS link");
        assert!(tls.tls);
        assert_eq!((tls.host.as_str(), tls.port), ("chat.example", 7001));
        assert_eq!(tls.join_line(), format!("/join #dev {KEY}"));
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        let cases = [
            ("http://host/dev", "chat://"),
            ("chatss://host/dev", "chats://"),
            ("chats://host", "no room"),
            ("chat://host", "no room"),
            ("chat:///dev", "no host"),
            ("chat://host:0/dev", "port"),
            ("chat://host:99999/dev", "port"),
            ("chat://host:1/bad room", "not valid"),
            ("chat://host:1/dev?key=short", "key"),
            ("chat://host:1/dev?x=1", "key=KEY"),
            ("chat://[::1/dev", "unclosed"),
        ];
        for (text, says) in cases {
            let err = RoomLink::parse(text).expect_err(text);
            assert!(err.0.contains(says), "{text}: {err}");
        }
    }
}
