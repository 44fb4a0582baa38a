//! Guessing passwords is slow and then refused: failed log-ins are counted
//! per user name and per address; past a few the answers are delayed,
//! past more the key is locked out for a while (429 with `Retry-After`).
//! A success clears the user name's count. Counts live in this process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures of one key before its answers are slowed down.
pub const SLOW_AFTER: u32 = 3;
/// Failures of one user name before it is locked out.
pub const LOCK_USER_AFTER: u32 = 10;
/// Failures from one address before it is locked out (several stations
/// may share one address behind a NAT).
pub const LOCK_ADDRESS_AFTER: u32 = 50;
/// The longest delay added to a failed attempt.
const MAX_DELAY: Duration = Duration::from_secs(2);
/// Most keys remembered; the oldest are forgotten first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The verdict on an attempt before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go on after waiting this long (zero for a first attempt).
    Proceed(Duration),
    /// Refused without checking: locked for this much longer.
    Locked(Duration),
}

/// Failed log-ins by key, with the lock-out length.
#[derive(Debug)]
pub struct LoginThrottle {
    lockout: Duration,
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// A throttle whose lock-outs (and memory of failures) last `lockout`.
    pub fn new(lockout: Duration) -> Self {
        LoginThrottle {
            lockout,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn user_key(username: &str) -> String {
        format!("user:{}", username.to_lowercase())
    }

    fn address_key(address: Option<std::net::IpAddr>) -> Option<String> {
        address.map(|address| format!("addr:{address}"))
    }

    /// Whether an attempt for `username` from `address` may be checked.
    pub fn gate(&self, username: &str, address: Option<std::net::IpAddr>) -> Gate {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle lock");
        let keys = std::iter::once(Self::user_key(username)).chain(Self::address_key(address));
        let mut delay = Duration::ZERO;
        for key in keys {
            let Some(entry) = failures.get(&key).copied() else {
                continue;
            };
            if now.duration_since(entry.last) > self.lockout {
                failures.remove(&key);
                continue;
            }
            if let Some(until) = entry.locked_until {
                if until > now {
                    return Gate::Locked(until - now);
                }
            }
            if entry.count >= SLOW_AFTER {
                let extra = Duration::from_millis(100 * u64::from(entry.count - SLOW_AFTER + 1));
                delay = delay.max(extra.min(MAX_DELAY));
            }
        }
        Gate::Proceed(delay)
    }

    /// Counts a failed attempt; past the limits the key is locked.
    pub fn failed(&self, username: &str, address: Option<std::net::IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() >= MAX_KEYS {
            let oldest = failures
                .iter()
                .min_by_key(|(_, entry)| entry.last)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                failures.remove(&oldest);
            }
        }
        let keys = std::iter::once((Self::user_key(username), LOCK_USER_AFTER))
            .chain(Self::address_key(address).map(|key| (key, LOCK_ADDRESS_AFTER)));
        for (key, limit) in keys {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(entry.last) > self.lockout {
                *entry = Failures {
                    count: 0,
                    last: now,
                    locked_until: None,
                };
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= limit {
                entry.locked_until = Some(now + self.lockout);
                tracing::warn!(
                    failures = entry.count,
                    lockout_seconds = self.lockout.as_secs(),
                    "log-in locked out after repeated failures"
                );
            }
        }
    }

    /// Clears the user name's failures after a correct password.
    pub fn succeeded(&self, username: &str) {
        self.failures
            .lock()
            .expect("throttle lock")
            .remove(&Self::user_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_then_lock_then_expire() {
        let throttle = LoginThrottle::new(Duration::from_millis(300));
        assert_eq!(throttle.gate("amal", None), Gate::Proceed(Duration::ZERO));
        for _ in 0..SLOW_AFTER {
            throttle.failed("amal", None);
        }
        assert!(
            matches!(throttle.gate("Amal", None), Gate::Proceed(delay) if delay > Duration::ZERO)
        );
        for _ in SLOW_AFTER..LOCK_USER_AFTER {
            throttle.failed("amal", None);
        }
        assert!(matches!(throttle.gate("amal", None), Gate::Locked(_)));
        assert_eq!(throttle.gate("other", None), Gate::Proceed(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(throttle.gate("amal", None), Gate::Proceed(Duration::ZERO));
    }

    #[test]
    fn one_address_guessing_many_names_is_locked() {
        let throttle = LoginThrottle::new(Duration::from_secs(60));
        let address = Some("10.0.0.7".parse().unwrap());
        for attempt in 0..LOCK_ADDRESS_AFTER {
            throttle.failed(&format!("name{attempt}"), address);
        }
        assert!(matches!(throttle.gate("fresh", address), Gate::Locked(_)));
        assert_eq!(throttle.gate("fresh", None), Gate::Proceed(Duration::ZERO));
    }

    #[test]
    fn a_success_clears_the_name() {
        let throttle = LoginThrottle::new(Duration::from_secs(60));
        for _ in 0..SLOW_AFTER + 2 {
            throttle.failed("amal", None);
        }
        throttle.succeeded("amal");
        assert_eq!(throttle.gate("amal", None), Gate::Proceed(Duration::ZERO));
    }
}
