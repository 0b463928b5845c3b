//! A private room's key and its invite links: 128 random bits from the operating system,
//! written in URL-safe base64, compared in constant time, and never shown by `Debug`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Random bytes in a key: 128 bits, 22 characters.
const KEY_BYTES: usize = 16;

/// Characters in a random room name after its `#`.
const RANDOM_NAME_CHARS: usize = 8;

/// The secret that lets someone join a private room.
#[derive(Clone)]
pub struct RoomKey(String);

impl RoomKey {
    /// A new key from the operating system's random source.
    ///
    /// # Errors
    /// If the operating system can't give random bytes.
    pub fn generate() -> Result<RoomKey, getrandom::Error> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(RoomKey(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A key another instance of the cluster made (as [`RoomKey::as_str`] gave it).
    pub fn from_shared(key: String) -> RoomKey {
        RoomKey(key)
    }

    /// Whether `offered` is this key, taking the same time whatever it is.
    pub fn matches(&self, offered: &str) -> bool {
        self.0.as_bytes().ct_eq(offered.as_bytes()).into()
    }

    /// The key as it is written in links and invitations.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomKey(..)")
    }
}

/// A random private room name, `#` and eight of `a-z0-9` (41 bits: not something to guess
/// at five tries per connection).
///
/// # Errors
/// If the operating system can't give random bytes.
pub fn random_room_name() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut name = String::from("#");
    while name.len() <= RANDOM_NAME_CHARS {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte)?;
        // Rejecting the top of the range keeps every character equally likely.
        if usize::from(byte[0]) < 252 {
            name.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(name)
}

/// The invite link to `room` (`#name`) with `key`, on the server at `address`
/// (`HOST:PORT`): `chat://HOST:PORT/name?key=KEY`, or `chats://` for its TLS port.
pub fn invite_link(tls: bool, address: &str, room: &str, key: &RoomKey) -> String {
    let room = room.strip_prefix('#').unwrap_or(room);
    let scheme = if tls { "chats" } else { "chat" };
    format!("{scheme}://{address}/{room}?key={}", key.as_str())
}

/// The web page's link to `room` with `key`: `http[s]://HOST:PORT/#name?key=KEY`.
pub fn web_link(tls: bool, address: &str, room: &str, key: &RoomKey) -> String {
    let room = room.strip_prefix('#').unwrap_or(room);
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{address}/#{room}?key={}", key.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_url_safe_and_match_only_themselves() {
        let first = RoomKey::generate().expect("random");
        let second = RoomKey::generate().expect("random");
        assert_eq!(first.as_str().len(), 22);
        assert_ne!(first.as_str(), second.as_str());
        assert!(chat_protocol::is_key_shaped(first.as_str()));
        assert!(first.matches(first.as_str()));
        assert!(!first.matches(second.as_str()));
        assert!(!first.matches(""));
        assert_eq!(format!("{first:?}"), "RoomKey(..)");
    }

    #[test]
    fn random_names_are_valid_rooms() {
        let name = random_room_name().expect("random");
        assert_eq!(name.len(), 9);
        assert!(chat_protocol::is_room(&name), "{name}");
        let key = RoomKey::generate().expect("random");
        let link = invite_link(false, "127.0.0.1:7000", &name, &key);
        assert_eq!(
            link,
            format!("chat://127.0.0.1:7000/{}?key={}", &name[1..], key.as_str())
        );
        assert!(invite_link(true, "[::1]:7001", &name, &key).starts_with("chats://[::1]:7001/"));
    }
}
