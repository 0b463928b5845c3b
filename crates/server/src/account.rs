//! Registered names, from a connection's point of view: the name handshake (`NAME` or
//! `NAME PASSWORD`), taking a registered name back from a connection that is still open,
//! and `/register`, `/password`, `/unregister`, `/nick NEW PASSWORD`.
//!
//! Passwords are checked off the registry's lock; the third wrong one on a connection
//! closes it, and each wrong one slows the next guess for that name, from anywhere.

use std::net::SocketAddr;
use std::sync::Arc;

use chat_protocol::{Name, NameError, Notice, Quoted, Refusal, ServerLine, fold_case, name_key};

use crate::log_limit::LogLimit;
use crate::password::{MIN_PASSWORD_CHARS, Passwords, acceptable};
use crate::queue::Outbox;
use crate::registry::{JoinError, Registry, TakeOver};
use crate::store::{Account, Store, Unavailable};

/// Wrong passwords a connection may send before it is closed.
pub const MAX_WRONG_PASSWORDS: u32 = 3;

/// How a handshake line ended.
pub enum Login {
    /// The name was given out.
    Joined {
        key: String,
        name: String,
        registered: bool,
    },
    /// Answered; the connection waits for another line.
    Again,
    /// Too many wrong passwords: the connection is to be closed.
    Close,
}

/// What account work needs.
pub struct Accounts<'a> {
    pub store: &'a dyn Store,
    pub passwords: &'a Passwords,
    pub registry: &'a Registry,
    pub outbox: &'a Arc<Outbox>,
    pub peer: SocketAddr,
    pub log_limit: &'a LogLimit,
}

/// A registered name's account, unless `name` only looks like it (then the refusal).
fn same_account<'a>(name: &'a str, account: &'a Account) -> Result<(), ServerLine<'a>> {
    if fold_case(name) == fold_case(&account.name) {
        Ok(())
    } else {
        Err(Refusal::LookAlike {
            name: Quoted::new(name),
            like: Quoted::new(&account.name),
        }
        .into())
    }
}

impl Accounts<'_> {
    fn send(&self, line: &ServerLine<'_>) {
        self.outbox.send_borrowed(line);
    }

    /// The store can't answer: because this instance is cut off from the cluster (whose
    /// store it is), or it failed.
    fn unavailable(&self, what: &str) {
        match self.registry.cut_off() {
            true => self.send(&Refusal::CutOff { what }.into()),
            false => self.send(&Refusal::Unavailable { what }.into()),
        }
    }

    /// Checks `password` for the name with key `key`, after the wait earlier wrong guesses
    /// for it ask; a wrong one is noted and logged (with the peer, never the password).
    fn check(&self, key: &str, name: &str, password: &str, account: &Account) -> bool {
        self.passwords.wait_turn(key);
        if self.passwords.verify(password, &account.hash) {
            self.passwords.right(key);
            return true;
        }
        self.passwords.wrong(key);
        log::warn!("{} wrong password for {name}", self.peer);
        false
    }

    /// Takes one line sent before the client has a name. `wrong` counts this connection's
    /// wrong passwords.
    pub fn handshake(&self, input: &str, wrong: &mut u32) -> Login {
        let (typed, password) = match input.split_once(' ') {
            Some((typed, password)) => (typed, Some(password.trim())),
            None => (input, None),
        };
        let name = match Name::new(typed) {
            Ok(name) => name,
            Err(reason) => {
                // Only the name is quoted back: what follows a space may be a password.
                let name = Quoted::new(typed);
                self.send(&Refusal::InvalidName { name, reason }.into());
                return Login::Again;
            }
        };
        let key = name_key(&name);
        let account = match self.store.account(&key) {
            Ok(account) => account,
            Err(Unavailable) => {
                self.unavailable("logging in");
                return Login::Again;
            }
        };
        match (account, password) {
            (None, None) => self.join(&name, typed, false),
            (None, Some(_)) => {
                with_a_space(typed, |line| self.send(line));
                Login::Again
            }
            (Some(account), password) => {
                if let Err(refusal) = same_account(&name, &account) {
                    self.send(&refusal);
                    return Login::Again;
                }
                let Some(password) = password else {
                    self.send(&Refusal::NeedsPassword { name: &name }.into());
                    return Login::Again;
                };
                if self.check(&key, &name, password, &account) {
                    return self.join(&name, typed, true);
                }
                *wrong += 1;
                if *wrong >= MAX_WRONG_PASSWORDS {
                    self.send(&Refusal::TooManyTries.into());
                    return Login::Close;
                }
                self.send(&Refusal::WrongPassword { name: &name }.into());
                Login::Again
            }
        }
    }

    /// Gives the name out (`typed` is how it was sent, for refusals); a registered name
    /// held by a connection still open is taken back from it.
    fn join(&self, name: &Name, typed: &str, registered: bool) -> Login {
        let joined = |key| Login::Joined {
            key,
            name: name.to_string(),
            registered,
        };
        let key = name_key(name);
        for _ in 0..2 {
            match self.registry.join(name, self.outbox, registered) {
                Ok(key) => {
                    if registered {
                        self.deliver_mail(&key, name);
                    }
                    return joined(key);
                }
                Err(JoinError::NameTaken) if registered => {
                    if self.registry.take_over(&key, self.outbox) == TakeOver::Done {
                        log::info!("{} took {name} back from its old connection", self.peer);
                        self.deliver_mail(&key, name);
                        return joined(key);
                    }
                }
                Err(err) => {
                    if self.log_limit.allow(self.peer.ip()) {
                        log::info!("{} name refused ({err}): {}", self.peer, Quoted::new(typed));
                    }
                    self.send(&name_refused(typed, &err));
                    return Login::Again;
                }
            }
        }
        self.send(
            &Refusal::NameTaken {
                name: Quoted::new(typed),
            }
            .into(),
        );
        Login::Again
    }

    /// The messages that waited for a registered user who just logged in.
    pub fn deliver_mail(&self, key: &str, name: &str) {
        let mail = match self.store.take_mail(key) {
            Ok(mail) => mail,
            Err(Unavailable) => {
                self.unavailable("the mailbox");
                return;
            }
        };
        if mail.is_empty() {
            return;
        }
        self.send(&Notice::MailWaiting { count: mail.len() }.into());
        for mail in &mail {
            let line = ServerLine::Replay {
                time: mail.time,
                line: Box::new(ServerLine::Private {
                    from: &mail.from,
                    to: name,
                    text: &mail.text,
                }),
            };
            self.send(&line);
        }
    }

    /// `/register PASSWORD`: registers the user's name. Returns whether it did.
    pub fn register(&self, key: &str, name: &str, password: &str) -> bool {
        if !acceptable(password) {
            let min = MIN_PASSWORD_CHARS;
            self.send(&Refusal::BadPassword { min }.into());
            return false;
        }
        match self.store.account(key) {
            Ok(Some(_)) => {
                self.send(&Refusal::AlreadyRegistered { name }.into());
                return false;
            }
            Ok(None) => {}
            Err(Unavailable) => {
                self.unavailable("registering");
                return false;
            }
        }
        let Some(hash) = self.passwords.hash(password) else {
            self.unavailable("registering");
            return false;
        };
        let account = Account {
            name: name.to_string(),
            hash,
        };
        match self.store.register(key, account) {
            Ok(true) => {
                log::info!("{} registered {name}", self.peer);
                self.send(&Notice::Registered { name }.into());
                true
            }
            Ok(false) => {
                self.send(&Refusal::AlreadyRegistered { name }.into());
                false
            }
            Err(Unavailable) => {
                self.unavailable("registering");
                false
            }
        }
    }

    /// The account of the user's registered name, after checking `password` for it;
    /// `None` (and the answer sent) if it isn't registered or the password is wrong.
    fn checked(&self, key: &str, name: &str, password: &str) -> Option<Account> {
        match self.store.account(key) {
            Ok(Some(account)) if self.check(key, name, password, &account) => Some(account),
            Ok(Some(_)) => {
                self.send(&Refusal::WrongPassword { name }.into());
                None
            }
            Ok(None) => {
                self.send(&Refusal::NotRegistered { name }.into());
                None
            }
            Err(Unavailable) => {
                self.unavailable("registered names");
                None
            }
        }
    }

    /// `/password OLD NEW`.
    pub fn change_password(&self, key: &str, name: &str, old: &str, new: &str) {
        if self.checked(key, name, old).is_none() {
            return;
        }
        if !acceptable(new) {
            let min = MIN_PASSWORD_CHARS;
            self.send(&Refusal::BadPassword { min }.into());
            return;
        }
        let changed = self
            .passwords
            .hash(new)
            .ok_or(Unavailable)
            .and_then(|hash| self.store.set_password(key, hash));
        match changed {
            Ok(()) => {
                log::info!("{} changed the password of {name}", self.peer);
                self.send(&Notice::PasswordChanged { name }.into());
            }
            Err(Unavailable) => self.unavailable("registered names"),
        }
    }

    /// `/unregister PASSWORD`. Returns whether the name was unregistered.
    pub fn unregister(&self, key: &str, name: &str, password: &str) -> bool {
        if self.checked(key, name, password).is_none() {
            return false;
        }
        match self.store.unregister(key) {
            Ok(()) => {
                log::info!("{} unregistered {name}", self.peer);
                self.send(&Notice::Unregistered { name }.into());
                true
            }
            Err(Unavailable) => {
                self.unavailable("registered names");
                false
            }
        }
    }

    /// Whether the user may rename to `new`: an unregistered name without a password, or
    /// a registered one with its right password. Returns whether the new name is
    /// registered (`None`: refused, the answer sent).
    pub fn may_rename(&self, new: &Name, password: Option<&str>) -> Option<bool> {
        let key = name_key(new);
        let account = match self.store.account(&key) {
            Ok(account) => account,
            Err(Unavailable) => {
                self.unavailable("registered names");
                return None;
            }
        };
        match (account, password) {
            (None, None) => Some(false),
            (None, Some(_)) => {
                with_a_space(new, |line| self.send(line));
                None
            }
            (Some(account), password) => {
                if let Err(refusal) = same_account(new, &account) {
                    self.send(&refusal);
                    return None;
                }
                let Some(password) = password else {
                    self.send(&Refusal::NeedsPassword { name: new }.into());
                    return None;
                };
                if self.check(&key, new, password, &account) {
                    Some(true)
                } else {
                    self.send(&Refusal::WrongPassword { name: new }.into());
                    None
                }
            }
        }
    }
}

/// The answer to `NAME WORDS` for a name nobody registered: a name with a space, as far as
/// whoever typed `bad name` can tell. What follows the space is never echoed: it may be
/// someone's password.
fn with_a_space(name: &str, send: impl FnOnce(&ServerLine<'_>)) {
    let shown = format!("{name} …");
    let refusal = Refusal::InvalidName {
        name: Quoted::new(&shown),
        reason: NameError::BadChar(' '),
    };
    send(&refusal.into());
}

/// The error line for a name that is held.
pub fn name_refused<'a>(input: &'a str, err: &'a JoinError) -> ServerLine<'a> {
    let name = Quoted::new(input);
    match err {
        JoinError::NameTaken => Refusal::NameTaken { name }.into(),
        JoinError::LooksLike(holder) => {
            let like = Quoted::new(holder);
            Refusal::LookAlike { name, like }.into()
        }
    }
}
