//! What the engine keeps per legacy host (`host:port`), whatever the source
//! kind: the connection cap, the adaptive backoff after the host was
//! unavailable or throttling, and the bandwidth budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::error::MigrateError;
use crate::legacy::bandwidth::Bandwidth;

/// First host-wide pause after a throttling answer or a timeout.
pub const HOST_BACKOFF: Duration = Duration::from_secs(5);
/// Longest host-wide pause.
pub const MAX_HOST_BACKOFF: Duration = Duration::from_secs(300);

/// Per-host limits and backoff.
#[derive(Default)]
pub struct Hosts {
    caps: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Hosts that recently throttled, timed out or dropped copies: no new copy
    /// starts against them before the instant, and the pause doubles with each
    /// such failure (reset by a successful copy).
    cooldown: Mutex<HashMap<String, (Instant, Duration)>>,
    bandwidth: Mutex<HashMap<String, Arc<Bandwidth>>>,
}

impl Hosts {
    /// A copy from `key` failed: when the legacy host was unavailable or
    /// throttling ([`MigrateError::is_temporary`]), every copy from that host
    /// backs off, 5 s doubling up to 5 minutes.
    pub fn failed(&self, key: &str, error: &MigrateError) {
        if !error.is_temporary() {
            return;
        }
        let mut map = self.cooldown.lock().unwrap_or_else(|p| p.into_inner());
        let delay = map
            .get(key)
            .map(|(_, d)| (*d * 2).min(MAX_HOST_BACKOFF))
            .unwrap_or(HOST_BACKOFF);
        map.insert(key.to_string(), (Instant::now() + delay, delay));
        tracing::warn!(legacy = %key, pause_secs = delay.as_secs(), "legacy host unavailable or throttling; copies from it back off");
    }

    /// A copy from `key` went through: the host's backoff ends.
    pub fn ok(&self, key: &str) {
        self.cooldown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// How long a new copy from `key` must still wait.
    pub fn pause(&self, key: &str) -> Option<Duration> {
        let map = self.cooldown.lock().unwrap_or_else(|p| p.into_inner());
        let (until, _) = map.get(key)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The bandwidth cap of one legacy host (`max_bytes_per_sec`; a changed
    /// value replaces the budget after a reload).
    pub fn bandwidth(&self, key: &str, rate: Option<u64>) -> Option<Arc<Bandwidth>> {
        let mut map = self.bandwidth.lock().unwrap_or_else(|p| p.into_inner());
        let Some(rate) = rate else {
            map.remove(key);
            return None;
        };
        let b = map
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Bandwidth::new(rate)));
        if b.rate() != rate {
            *b = Arc::new(Bandwidth::new(rate));
        }
        Some(b.clone())
    }

    /// The connection cap of one legacy host (`max_connections` of the first
    /// domain that used it), or of a named queue on it.
    pub fn cap(&self, key: &str, max: usize) -> Arc<Semaphore> {
        self.caps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(max.max(1))))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_backoff_doubles_on_throttling_and_resets() {
        let h = Hosts::default();
        let key = "legacy.test:143";
        h.failed(
            key,
            &MigrateError::Verification("folder `x` missing".into()),
        );
        assert!(h.pause(key).is_none());
        h.failed(key, &MigrateError::Refused);
        assert!(h.pause(key).is_none());
        h.failed(key, &MigrateError::Unavailable("timed out".into()));
        let first = h.pause(key).unwrap();
        assert!(first <= HOST_BACKOFF && !first.is_zero());
        h.failed(key, &MigrateError::Unavailable("timed out".into()));
        assert!(h.pause(key).unwrap() > HOST_BACKOFF);
        for _ in 0..20 {
            h.failed(key, &MigrateError::Unavailable("timed out".into()));
        }
        assert!(h.pause(key).unwrap() <= MAX_HOST_BACKOFF);
        h.ok(key);
        assert!(h.pause(key).is_none());
    }
}
