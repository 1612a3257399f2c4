//! Login throttling: failed logins are counted per account and per client address; past a number of
//! failures each further attempt waits a backoff that doubles up to a cap. Kept in memory, bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures are free and how long the backoff after them lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures allowed before attempts must wait.
    pub free_failures: u32,
    /// The first wait; each further failure doubles it.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// Failures are forgotten this long after the last one (and after its wait ended).
    pub window: Duration,
}

impl Limits {
    /// The wait after `failures` failures (none while they are free).
    fn wait_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?;
        // 2^over, saturating: past 2^20 the cap has long been reached.
        let factor = 1u32 << over.min(20);
        Some(self.backoff.saturating_mul(factor).min(self.max_backoff))
    }
}

/// The failures of one account or address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl Failures {
    /// Nothing to remember any more: the window after the last failure (or the end of its wait) passed.
    fn forgotten(&self, now: Instant, window: Duration) -> bool {
        let since = self.blocked_until.map_or(self.last, |b| b.max(self.last));
        now.saturating_duration_since(since) > window
    }
}

/// Failures per key, at most `capacity` keys: when full, forgotten entries go first, then the entry whose
/// last failure is oldest, so an attacker spraying new keys cannot grow it.
#[derive(Debug)]
struct Counters<K> {
    entries: HashMap<K, Failures>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Clone> Counters<K> {
    fn new(capacity: usize) -> Self {
        Counters {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// How long `key` must still wait, if at all.
    fn blocked(&mut self, key: &K, limits: &Limits, now: Instant) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if entry.forgotten(now, limits.window) {
            self.entries.remove(key);
            return None;
        }
        entry
            .blocked_until
            .map(|until| until.saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }

    /// Counts a failure; returns the wait it starts, if any.
    fn fail(&mut self, key: &K, limits: &Limits, now: Instant) -> Option<Duration> {
        if !self.entries.contains_key(key) {
            self.make_room(limits, now);
        }
        let entry = self.entries.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if entry.forgotten(now, limits.window) {
            entry.count = 0;
            entry.blocked_until = None;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let wait = limits.wait_after(entry.count);
        entry.blocked_until = wait.map(|w| now + w);
        wait
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    fn make_room(&mut self, limits: &Limits, now: Instant) {
        if self.entries.len() < self.capacity {
            return;
        }
        self.entries
            .retain(|_, failures| !failures.forgotten(now, limits.window));
        if self.entries.len() < self.capacity {
            return;
        }
        if let Some(oldest) = self
            .entries
            .iter()
            .min_by_key(|(_, failures)| failures.last)
            .map(|(key, _)| key.clone())
        {
            self.entries.remove(&oldest);
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Failed logins per account (the email as typed, lower-cased) and per client address.
#[derive(Debug)]
pub struct LoginThrottle {
    accounts: Mutex<Counters<String>>,
    addresses: Mutex<Counters<IpAddr>>,
}

/// Most accounts and most addresses remembered (each).
pub const CAPACITY: usize = 10_000;

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::with_capacity(CAPACITY)
    }
}

impl LoginThrottle {
    pub fn with_capacity(capacity: usize) -> Self {
        LoginThrottle {
            accounts: Mutex::new(Counters::new(capacity)),
            addresses: Mutex::new(Counters::new(capacity)),
        }
    }

    /// `Err(wait)` when this account or this address must still wait before another attempt.
    pub fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        per_account: &Limits,
        per_address: &Limits,
        now: Instant,
    ) -> Result<(), Duration> {
        let account_wait = lock(&self.accounts).blocked(&key(account), per_account, now);
        let address_wait =
            address.and_then(|a| lock(&self.addresses).blocked(&a, per_address, now));
        match account_wait.max(address_wait) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against both; returns the longer wait it starts, if any.
    pub fn failed(
        &self,
        account: &str,
        address: Option<IpAddr>,
        per_account: &Limits,
        per_address: &Limits,
        now: Instant,
    ) -> Option<Duration> {
        let account_wait = lock(&self.accounts).fail(&key(account), per_account, now);
        let address_wait = address.and_then(|a| lock(&self.addresses).fail(&a, per_address, now));
        account_wait.max(address_wait)
    }

    /// A successful login clears the account's failures (not the address's: one good account must not
    /// reset an address that is guessing others).
    pub fn succeeded(&self, account: &str) {
        lock(&self.accounts).forget(&key(account));
    }

    /// How many accounts and addresses are remembered.
    pub fn sizes(&self) -> (usize, usize) {
        (lock(&self.accounts).len(), lock(&self.addresses).len())
    }
}

fn key(account: &str) -> String {
    account.trim().to_lowercase()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        free_failures: 5,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(8),
        window: Duration::from_secs(60),
    };
    const LOOSE: Limits = Limits {
        free_failures: 100,
        ..LIMITS
    };

    #[test]
    fn waits_start_after_the_free_failures_and_double_up_to_the_cap() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        for _ in 0..4 {
            assert_eq!(throttle.failed("a@x", ip, &LIMITS, &LOOSE, t0), None);
            assert_eq!(throttle.check("a@x", ip, &LIMITS, &LOOSE, t0), Ok(()));
        }
        assert_eq!(
            throttle.failed("A@X ", ip, &LIMITS, &LOOSE, t0),
            Some(Duration::from_secs(1)),
            "the fifth failure (the key ignores case and spaces)"
        );
        assert_eq!(
            throttle.check("a@x", ip, &LIMITS, &LOOSE, t0),
            Err(Duration::from_secs(1))
        );
        assert_eq!(
            throttle.check("b@x", ip, &LIMITS, &LOOSE, t0),
            Ok(()),
            "other accounts are not held up by one"
        );
        let mut t = t0 + Duration::from_secs(1);
        assert_eq!(throttle.check("a@x", ip, &LIMITS, &LOOSE, t), Ok(()));
        for expected in [2, 4, 8, 8, 8] {
            assert_eq!(
                throttle.failed("a@x", ip, &LIMITS, &LOOSE, t),
                Some(Duration::from_secs(expected))
            );
            assert!(throttle.check("a@x", ip, &LIMITS, &LOOSE, t).is_err());
            t += Duration::from_secs(expected);
            assert_eq!(throttle.check("a@x", ip, &LIMITS, &LOOSE, t), Ok(()));
        }
        // A success clears the account.
        throttle.succeeded("a@x");
        assert_eq!(throttle.failed("a@x", ip, &LIMITS, &LOOSE, t), None);
        // Failures are forgotten a window after the last one.
        let throttle = LoginThrottle::default();
        for _ in 0..4 {
            throttle.failed("a@x", None, &LIMITS, &LOOSE, t0);
        }
        let later = t0 + LIMITS.window + Duration::from_secs(1);
        assert_eq!(throttle.failed("a@x", None, &LIMITS, &LOOSE, later), None);
    }

    #[test]
    fn an_address_guessing_many_accounts_is_held_up_and_a_success_does_not_clear_it() {
        let per_address = Limits {
            free_failures: 3,
            ..LIMITS
        };
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        let ip: Option<IpAddr> = "2001:db8::1".parse().ok();
        for n in 0..3 {
            throttle.failed(&format!("user{n}@x"), ip, &LIMITS, &per_address, t0);
        }
        throttle.succeeded("user0@x");
        assert_eq!(
            throttle.check("new@x", ip, &LIMITS, &per_address, t0),
            Err(Duration::from_secs(1))
        );
        let elsewhere: Option<IpAddr> = "10.0.0.2".parse().ok();
        assert_eq!(
            throttle.check("new@x", elsewhere, &LIMITS, &per_address, t0),
            Ok(())
        );
    }

    #[test]
    fn memory_stays_bounded_and_keeps_recent_entries() {
        let throttle = LoginThrottle::with_capacity(100);
        let t0 = Instant::now();
        // The victim's account is locked first; then an attacker sprays 10 000 other accounts from
        // 10 000 addresses, a second apart.
        for _ in 0..6 {
            throttle.failed("victim@x", None, &LIMITS, &LIMITS, t0);
        }
        for n in 0..10_000u32 {
            let ip = IpAddr::from(n.to_be_bytes());
            let t = t0 + Duration::from_millis(u64::from(n));
            throttle.failed(&format!("spray{n}@x"), Some(ip), &LIMITS, &LIMITS, t);
        }
        let (accounts, addresses) = throttle.sizes();
        assert!(
            accounts <= 100 && addresses <= 100,
            "{accounts} {addresses}"
        );
        // The newest entries are the ones kept.
        let last = t0 + Duration::from_millis(9_999);
        for _ in 0..4 {
            throttle.failed("spray9999@x", None, &LIMITS, &LIMITS, last);
        }
        assert!(throttle
            .check("spray9999@x", None, &LIMITS, &LIMITS, last)
            .is_err());
    }
}
