//! Passwords of registered names: hashed with Argon2id (never kept or logged in clear), at
//! most [`MAX_HASHING`] at a time (each takes about 19 MiB and tens of milliseconds), never
//! under the registry's lock; and wrong guesses for a name slow down further guesses for
//! it, from any address.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chat_sync::{lock, wait_until};

/// The shortest password a name may be registered with.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Hashes computed at once.
const MAX_HASHING: usize = 2;

/// The wait before a guess that follows a wrong one for the same name; it doubles with
/// each wrong guess, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Wrong guesses for a name are forgotten after this long without one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// Whether a password may be registered: long enough, and with no white space (so that
/// `/password OLD NEW` and `NAME PASSWORD` can't be misread).
pub fn acceptable(password: &str) -> bool {
    password.chars().count() >= MIN_PASSWORD_CHARS && !password.contains(char::is_whitespace)
}

/// The Argon2id hashes this server computes, and the wrong guesses it has seen.
#[derive(Debug, Default)]
pub struct Passwords {
    hashing: Mutex<usize>,
    done: Condvar,
    guesses: Mutex<HashMap<String, Guesses>>,
}

#[derive(Debug, Clone, Copy)]
struct Guesses {
    wrong: u32,
    last: Instant,
}

impl Passwords {
    /// Runs `work` once a hashing slot is free.
    fn limited<T>(&self, work: impl FnOnce() -> T) -> T {
        let (mut hashing, _) = wait_until(&self.done, lock(&self.hashing), None, |busy| {
            *busy < MAX_HASHING
        });
        *hashing += 1;
        drop(hashing);
        let result = work();
        *lock(&self.hashing) -= 1;
        self.done.notify_one();
        result
    }

    /// The Argon2id hash (a PHC string, with a fresh random salt) of `password`; `None` if
    /// hashing failed.
    pub fn hash(&self, password: &str) -> Option<String> {
        self.limited(|| Argon2::default().hash_password(password.as_bytes()))
            .map_err(|err| log::error!("could not hash a password: {err}"))
            .ok()
            .map(|hash| hash.to_string())
    }

    /// Whether `password` matches `hash`.
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            log::error!("a stored password hash can't be read");
            return false;
        };
        self.limited(|| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// Waits as long as the wrong guesses for the name with key `key` ask, before its next
    /// guess is checked.
    pub fn wait_turn(&self, key: &str) {
        let delay = {
            let mut guesses = lock(&self.guesses);
            guesses.retain(|_, seen| seen.last.elapsed() < FORGET_AFTER);
            guesses.get(key).map(|seen| {
                let delay = delay_after(seen.wrong);
                delay.saturating_sub(seen.last.elapsed())
            })
        };
        if let Some(delay) = delay.filter(|delay| !delay.is_zero()) {
            thread::sleep(delay);
        }
    }

    /// Notes a wrong guess for a name.
    pub fn wrong(&self, key: &str) {
        let mut guesses = lock(&self.guesses);
        let seen = guesses.entry(key.to_string()).or_insert(Guesses {
            wrong: 0,
            last: Instant::now(),
        });
        seen.wrong += 1;
        seen.last = Instant::now();
    }

    /// Forgets the wrong guesses for a name once the right one came.
    pub fn right(&self, key: &str) {
        lock(&self.guesses).remove(key);
    }
}

/// The wait before the next guess after `wrong` wrong ones.
fn delay_after(wrong: u32) -> Duration {
    if wrong == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << (wrong - 1).min(16);
    FIRST_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(passwords.verify("correct horse", &hash));
        assert!(!passwords.verify("correct hors", &hash));
        assert!(!passwords.verify("correct horse", "not a hash"));
    }

    #[test]
    fn passwords_need_eight_characters_and_no_spaces() {
        assert!(acceptable("hunter22"));
        assert!(acceptable("비밀번호비밀번호"));
        assert!(!acceptable("short"));
        assert!(!acceptable("has a space"));
    }

    #[test]
    fn each_wrong_guess_doubles_the_wait_up_to_a_minute() {
        assert_eq!(delay_after(0), Duration::ZERO);
        assert_eq!(delay_after(1), Duration::from_millis(250));
        assert_eq!(delay_after(3), Duration::from_secs(1));
        assert_eq!(delay_after(50), MAX_DELAY);
    }
}
