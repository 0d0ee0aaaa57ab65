//! The bandwidth cap per legacy host (`[migration] max_bytes_per_sec`): one
//! shared budget for every copy from that host, charged by the legacy IMAP
//! client ([`super::imap::Session::set_bandwidth`]). Each message body read from the
//! legacy server is charged after it arrived; when the budget is overdrawn the
//! reader pauses until it is paid back, so the average rate stays at the cap.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Bandwidth {
    rate: u64,
    state: Mutex<State>,
}

struct State {
    /// Bytes that may still be read now; negative when overdrawn.
    tokens: f64,
    last: Instant,
}

/// At most one second of traffic can be saved up for a burst.
const BURST_SECS: f64 = 1.0;

impl Bandwidth {
    pub fn new(bytes_per_sec: u64) -> Bandwidth {
        Bandwidth {
            rate: bytes_per_sec.max(1),
            state: Mutex::new(State {
                tokens: 0.0,
                last: Instant::now(),
            }),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Charges `bytes` at `now`; returns how long the reader must pause.
    fn charge_at(&self, bytes: u64, now: Instant) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let rate = self.rate as f64;
        let elapsed = now.saturating_duration_since(st.last).as_secs_f64();
        st.last = now;
        st.tokens = (st.tokens + elapsed * rate).min(rate * BURST_SECS);
        st.tokens -= bytes as f64;
        if st.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.tokens / rate)
        }
    }

    /// Charges `bytes` and waits as long as the budget is overdrawn.
    pub async fn charge(&self, bytes: u64) {
        let pause = self.charge_at(bytes, Instant::now());
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_pay_back_the_overdraft() {
        let b = Bandwidth::new(1000);
        let t0 = b.state.lock().unwrap().last;
        // 3000 bytes at once: 3 s of budget owed.
        assert_eq!(b.charge_at(3000, t0), Duration::from_secs(3));
        // After those 3 s the budget is even; 500 more bytes cost 0.5 s.
        assert_eq!(
            b.charge_at(500, t0 + Duration::from_secs(3)),
            Duration::from_millis(500)
        );
        // A long idle time saves up at most one second.
        let later = t0 + Duration::from_secs(100);
        assert_eq!(b.charge_at(1000, later), Duration::ZERO);
        assert_eq!(b.charge_at(1000, later), Duration::from_secs(1));
    }
}
