//! Failed-login accounting: growing delays per client address, and a budget of
//! legacy-server checks per user and per address so that ferrymail can never be
//! used to brute-force (or lock out) accounts on the legacy server.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed legacy checks allowed per user within [`WINDOW`].
pub const LEGACY_FAILURES_PER_USER: u32 = 3;
/// Failed legacy checks allowed per client address within [`WINDOW`].
pub const LEGACY_FAILURES_PER_IP: u32 = 10;
/// Legacy checks of any outcome (refused, timed out, unreachable) started per
/// user within [`WINDOW`]. A legacy server that slows failures down (Dovecot's
/// auth penalty) makes checks time out; those must count too, or a client could
/// go on guessing through ferrymail. A successful check resets it.
pub const LEGACY_ATTEMPTS_PER_USER: u32 = 8;
/// Entries kept at most per table; the oldest go first.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    n: u32,
    last: Instant,
}

#[derive(Default)]
struct Tables {
    by_ip: HashMap<IpAddr, Count>,
    legacy_by_user: HashMap<String, Count>,
    legacy_by_ip: HashMap<IpAddr, Count>,
    /// Legacy checks started per user, whatever their outcome.
    legacy_attempts: HashMap<String, Count>,
    /// Digests of (user, password) pairs the legacy server refused recently.
    refused_pairs: HashMap<[u8; 32], Instant>,
}

/// Shared by every protocol.
pub struct Throttle {
    base: Duration,
    cap: Duration,
    salt: [u8; 16],
    t: Mutex<Tables>,
}

fn fresh(c: Option<&Count>) -> u32 {
    match c {
        Some(c) if c.last.elapsed() < WINDOW => c.n,
        _ => 0,
    }
}

fn bump<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Count>, k: K) -> u32 {
    if m.len() >= MAX_ENTRIES {
        m.retain(|_, c| c.last.elapsed() < WINDOW);
    }
    let n = fresh(m.get(&k)) + 1;
    m.insert(
        k,
        Count {
            n,
            last: Instant::now(),
        },
    );
    n
}

impl Throttle {
    pub fn new(base: Duration, cap: Duration) -> Throttle {
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut salt);
        Throttle {
            base,
            cap,
            salt,
            t: Mutex::new(Tables::default()),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.t.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failed login from `ip`; returns how long to wait before answering:
    /// `base`, doubled per further recent failure from that address, up to `cap`.
    pub fn failure(&self, ip: IpAddr) -> Duration {
        let n = bump(&mut self.tables().by_ip, ip);
        let factor = 1u32
            .checked_shl(n.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Recent failures from `ip`.
    pub fn failures(&self, ip: IpAddr) -> u32 {
        fresh(self.tables().by_ip.get(&ip))
    }

    /// A successful login clears the address's failures.
    pub fn success(&self, ip: IpAddr) {
        self.tables().by_ip.remove(&ip);
    }

    fn pair_digest(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// May `user`, from `ip`, with this password, be checked against the legacy
    /// server now? No when the same pair was refused recently, when the user's or
    /// the address's budget of failed legacy checks is spent, or when the user's
    /// budget of checks of any outcome ([`LEGACY_ATTEMPTS_PER_USER`]) is. A yes
    /// takes one check from that budget (so parallel logins count too).
    pub fn legacy_allowed(&self, user: &str, password: &str, ip: IpAddr) -> bool {
        let d = self.pair_digest(user, password);
        let mut t = self.tables();
        if t.refused_pairs
            .get(&d)
            .is_some_and(|at| at.elapsed() < WINDOW)
        {
            return false;
        }
        let ok = fresh(t.legacy_by_user.get(user)) < LEGACY_FAILURES_PER_USER
            && fresh(t.legacy_by_ip.get(&ip)) < LEGACY_FAILURES_PER_IP
            && fresh(t.legacy_attempts.get(user)) < LEGACY_ATTEMPTS_PER_USER;
        if ok {
            bump(&mut t.legacy_attempts, user.to_string());
        }
        ok
    }

    /// The legacy server refused `user` with this password.
    pub fn legacy_refused(&self, user: &str, password: &str, ip: IpAddr) {
        let d = self.pair_digest(user, password);
        let mut t = self.tables();
        if t.refused_pairs.len() >= MAX_ENTRIES {
            t.refused_pairs.retain(|_, at| at.elapsed() < WINDOW);
        }
        t.refused_pairs.insert(d, Instant::now());
        bump(&mut t.legacy_by_user, user.to_string());
        bump(&mut t.legacy_by_ip, ip);
    }

    /// The legacy server accepted `user`: its failure budget is restored.
    pub fn legacy_accepted(&self, user: &str) {
        let mut t = self.tables();
        t.legacy_by_user.remove(user);
        t.legacy_attempts.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap() {
        let t = Throttle::new(Duration::from_millis(100), Duration::from_millis(1000));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let d: Vec<u128> = (0..6).map(|_| t.failure(ip).as_millis()).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000]);
        // Another address is not affected.
        assert_eq!(t.failure("192.0.2.2".parse().unwrap()).as_millis(), 100);
        t.success(ip);
        assert_eq!(t.failure(ip).as_millis(), 100);
    }

    #[test]
    fn twenty_failures_serially_then_in_parallel_grow_to_the_cap() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_millis(15_000);
        let t = std::sync::Arc::new(Throttle::new(base, cap));
        let expected: Vec<Duration> = (0..20u32)
            .map(|i| base.saturating_mul(1 << i.min(20)).min(cap))
            .collect();
        // Serially: 0.5 s, 1 s, 2 s, 4 s, 8 s, then the cap of 15 s for the rest.
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let serial: Vec<Duration> = (0..20).map(|_| t.failure(ip)).collect();
        assert_eq!(serial, expected);
        assert_eq!(serial[19], cap);
        assert!(serial.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(t.failures(ip), 20);
        // In parallel from another address: every failure counts once, so the
        // delays handed out are the same set, whatever the interleaving.
        let ip2: IpAddr = "192.0.2.2".parse().unwrap();
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || t.failure(ip2))
            })
            .collect();
        let mut parallel: Vec<Duration> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        parallel.sort();
        assert_eq!(parallel, expected);
        // Far more failures never overflow past the cap.
        for _ in 0..100 {
            assert_eq!(t.failure(ip), cap);
        }
    }

    #[test]
    fn legacy_budget_per_user_per_address_and_per_pair() {
        let t = Throttle::new(Duration::ZERO, Duration::ZERO);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(t.legacy_allowed("a@x", "p1", ip));
        t.legacy_refused("a@x", "p1", ip);
        // The same wrong password is never sent again.
        assert!(!t.legacy_allowed("a@x", "p1", ip));
        assert!(t.legacy_allowed("a@x", "p2", ip));
        t.legacy_refused("a@x", "p2", ip);
        t.legacy_refused("a@x", "p3", ip);
        // Budget spent for the user, from any address.
        assert!(!t.legacy_allowed("a@x", "p4", "192.0.2.9".parse().unwrap()));
        // Other users from this address still have the address budget.
        assert!(t.legacy_allowed("b@x", "p", ip));
        for i in 0..LEGACY_FAILURES_PER_IP {
            t.legacy_refused(&format!("u{i}@x"), "p", ip);
        }
        assert!(!t.legacy_allowed("c@x", "p", ip));
    }

    #[test]
    fn legacy_checks_that_never_finish_count_too() {
        let t = Throttle::new(Duration::ZERO, Duration::ZERO);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // Timed-out checks record no refusal; the attempt budget still ends them.
        for i in 0..LEGACY_ATTEMPTS_PER_USER {
            assert!(t.legacy_allowed("a@x", &format!("p{i}"), ip));
        }
        assert!(!t.legacy_allowed("a@x", "right", ip));
        assert!(t.legacy_allowed("b@x", "p", ip));
        // A success gives the budget back.
        t.legacy_accepted("a@x");
        assert!(t.legacy_allowed("a@x", "right", ip));
    }
}
