//! A circuit breaker per store: a store seen failing is skipped for a while.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers which stores failed recently, so that reads go straight to a store that
/// works instead of waiting on one that is down.
///
/// After a failure a store is *open* (skipped) for the cool-down. Once it has passed,
/// the next caller is let through as a probe: a success closes the breaker, another
/// failure opens it for a new cool-down. The state lives in this process only; each
/// instance of the service learns on its own.
#[derive(Debug)]
pub struct CircuitBreaker {
    cooldown: Duration,
    opened_at: Mutex<HashMap<String, Instant>>,
}

impl CircuitBreaker {
    /// A breaker that skips a failed store for `cooldown`.
    pub fn new(cooldown: Duration) -> Self {
        Self { cooldown, opened_at: Mutex::new(HashMap::new()) }
    }

    /// Whether `store` should be skipped now.
    pub fn is_open(&self, store: &str) -> bool {
        let opened_at = self.opened_at.lock().expect("breaker lock poisoned");
        opened_at.get(store).is_some_and(|since| since.elapsed() < self.cooldown)
    }

    /// Records that a call to `store` failed; it is skipped for the cool-down.
    pub fn record_failure(&self, store: &str) {
        let mut opened_at = self.opened_at.lock().expect("breaker lock poisoned");
        opened_at.insert(store.to_owned(), Instant::now());
    }

    /// Records that a call to `store` worked; it is no longer skipped.
    pub fn record_success(&self, store: &str) {
        let mut opened_at = self.opened_at.lock().expect("breaker lock poisoned");
        opened_at.remove(store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_store_is_skipped_until_the_cooldown_passes() {
        let breaker = CircuitBreaker::new(Duration::from_millis(50));
        assert!(!breaker.is_open("s3"));

        breaker.record_failure("s3");
        assert!(breaker.is_open("s3"));
        assert!(!breaker.is_open("local"));

        std::thread::sleep(Duration::from_millis(60));
        assert!(!breaker.is_open("s3"), "after the cool-down a probe is let through");
    }

    #[test]
    fn a_success_closes_the_breaker() {
        let breaker = CircuitBreaker::new(Duration::from_secs(60));
        breaker.record_failure("s3");
        breaker.record_success("s3");
        assert!(!breaker.is_open("s3"));
    }
}
