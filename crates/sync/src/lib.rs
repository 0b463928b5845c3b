//! Locking and waiting that survive a panicked thread, written once for the server, the
//! client and the load generator.
//!
//! Every critical section in these programs leaves its data consistent at each step, so a
//! panic in one thread (which should never happen) must not make the others unusable: a
//! poisoned lock is taken as it is.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Locks `mutex`, even if a thread panicked while holding it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `condvar` until `done` holds for the guarded value or `deadline` passes (`None`
/// waits as long as it takes). Returns the guard and whether `done` held.
pub fn wait_until<'a, T>(
    condvar: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    mut done: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    let Some(deadline) = deadline else {
        let guard = condvar
            .wait_while(guard, |value| !done(value))
            .unwrap_or_else(PoisonError::into_inner);
        return (guard, true);
    };
    loop {
        if done(&mut guard) {
            return (guard, true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (guard, false);
        }
        let (next, timeout) = condvar
            .wait_timeout_while(guard, left, |value| !done(value))
            .unwrap_or_else(PoisonError::into_inner);
        guard = next;
        if !timeout.timed_out() {
            return (guard, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_poisoned_lock_is_still_usable() {
        let shared = Arc::new(Mutex::new(1));
        let poisoner = Arc::clone(&shared);
        let _ = thread::spawn(move || {
            let _guard = poisoner.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(shared.is_poisoned());
        *lock(&shared) += 1;
        assert_eq!(*lock(&shared), 2);
    }

    #[test]
    fn wait_until_returns_when_the_condition_holds_or_the_deadline_passes() {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let setter = Arc::clone(&pair);
        let handle = thread::spawn(move || {
            *lock(&setter.0) = true;
            setter.1.notify_all();
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let (guard, held) = wait_until(&pair.1, lock(&pair.0), Some(deadline), |set| *set);
        assert!(held);
        drop(guard);
        handle.join().expect("setter");

        let start = Instant::now();
        let soon = start + Duration::from_millis(30);
        let (guard, held) = wait_until(&pair.1, lock(&pair.0), Some(soon), |set| !*set);
        drop(guard);
        assert!(!held);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
