//! What `migrate test` learned about one user's mailbox, and the copy time it
//! estimates from a measured fetch rate.

use std::time::Duration;

use super::report::{bytes, duration, Out};

/// A timed fetch of a few message bodies.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// How the bodies were read (`BODY.PEEK[]`, `TOP`).
    pub how: &'static str,
    pub messages: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Measured {
    /// Bytes per second (the elapsed time taken as at least a millisecond).
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(0.001)
    }
}

/// One user's mailbox on the legacy server.
#[derive(Debug, Clone, Default)]
pub struct UserTotals {
    pub folders: usize,
    pub messages: u64,
    pub bytes: u64,
    pub measured: Option<Measured>,
}

/// How one user's check ended.
#[derive(Debug)]
pub enum Outcome {
    Done(UserTotals),
    /// The legacy server said no to the credentials (reported by the caller).
    Refused,
    /// Stopped by a problem already reported.
    Failed,
}

/// The copy time of `bytes` at the measured rate, or the configured cap when
/// that is lower.
pub fn copy_time(bytes: u64, m: &Measured, cap: Option<u64>) -> Duration {
    let rate = match cap {
        Some(c) if (c as f64) < m.rate() => c as f64,
        _ => m.rate(),
    };
    Duration::from_secs_f64((bytes as f64 / rate.max(1.0)).min(1e9))
}

/// Prints the fetch rate and the estimated copy time of one user.
pub fn show(t: &UserTotals, cap: Option<u64>, out: &mut Out<'_>) {
    let Some(m) = &t.measured else {
        if t.messages == 0 {
            out.info("  estimated copy time: nothing to copy (no message)");
        } else {
            out.info("  estimated copy time: unknown (the fetch rate was not measured)");
        }
        return;
    };
    out.info(format!(
        "  fetch rate: {} messages, {} in {:.2}s = {}/s ({}, read-only)",
        m.messages,
        bytes(m.bytes),
        m.elapsed.as_secs_f64(),
        bytes(m.rate() as u64),
        m.how
    ));
    let capped = match cap {
        Some(c) if (c as f64) < m.rate() => {
            format!(", at max_bytes_per_sec = {c}")
        }
        _ => String::new(),
    };
    out.info(format!(
        "  estimated copy time: {} for {} messages, {}{capped}",
        duration(copy_time(t.bytes, m, cap)),
        t.messages,
        bytes(t.bytes)
    ));
}

/// The estimate over several users, copied one after another.
pub fn show_sum(users: &[UserTotals], cap: Option<u64>, out: &mut Out<'_>) {
    let folders: usize = users.iter().map(|u| u.folders).sum();
    let messages: u64 = users.iter().map(|u| u.messages).sum();
    let total: u64 = users.iter().map(|u| u.bytes).sum();
    let time: Duration = users
        .iter()
        .filter_map(|u| u.measured.map(|m| copy_time(u.bytes, &m, cap)))
        .sum();
    out.info(format!(
        "sample of {} users: {folders} folders, {messages} messages, {}; estimated copy time {} one after another",
        users.len(),
        bytes(total),
        duration(time)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_time_uses_the_lower_rate() {
        let m = Measured {
            how: "TOP",
            messages: 2,
            bytes: 2_000_000,
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(copy_time(10_000_000, &m, None), Duration::from_secs(5));
        assert_eq!(
            copy_time(10_000_000, &m, Some(1_000_000)),
            Duration::from_secs(10)
        );
        let instant = Measured {
            elapsed: Duration::ZERO,
            ..m
        };
        assert!(copy_time(u64::MAX, &instant, None) > Duration::ZERO);
    }
}
