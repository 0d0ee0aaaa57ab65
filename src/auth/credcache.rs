//! The verified-credential cache: a returning user's LOGIN skips the argon2id
//! verification when the same password verified against the same stored hash
//! a short while ago.
//!
//! What is kept is a keyed hash (HMAC-SHA256 under a random key made at start,
//! never written anywhere) of the account, its stored password hash and the
//! password — never the password. Only a successful verification adds an
//! entry; an entry answers only for the stored hash it was made with, so a
//! changed password (`account passwd`) or a re-created account never matches
//! an old entry even before [`CredentialCache::forget`] drops it. Entries live
//! `[auth] credential_cache_secs` from the verification (0 turns the cache
//! off) and die with the process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::hmac;

use super::Password;

/// More entries than this and the expired ones go; if none has expired, all go.
const MAX_ENTRIES: usize = 100_000;

pub struct CredentialCache {
    key: hmac::Key,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    tag: hmac::Tag,
    verified: Instant,
}

impl Default for CredentialCache {
    fn default() -> Self {
        CredentialCache::new()
    }
}

impl CredentialCache {
    pub fn new() -> CredentialCache {
        let rng = ring::rand::SystemRandom::new();
        // Generating a key fails only without an OS random source, where
        // nothing else here would work either: fall back to a key no one
        // knows for this process (the entries are useless, never wrong).
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            let seed = format!("{:?}{:?}", Instant::now(), std::process::id());
            hmac::Key::new(hmac::HMAC_SHA256, seed.as_bytes())
        });
        CredentialCache {
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn message(address: &str, stored_hash: &str, password: &Password) -> Vec<u8> {
        let mut m = Vec::with_capacity(address.len() + stored_hash.len() + 64);
        for part in [address.as_bytes(), stored_hash.as_bytes()] {
            m.extend_from_slice(&(part.len() as u64).to_le_bytes());
            m.extend_from_slice(part);
        }
        m.extend_from_slice(password.expose().as_bytes());
        m
    }

    /// Whether `password` verified against `stored_hash` for `address` less
    /// than `max_age` ago.
    pub fn verified(
        &self,
        address: &str,
        stored_hash: &str,
        password: &Password,
        max_age: Duration,
    ) -> bool {
        if max_age.is_zero() || stored_hash.is_empty() {
            return false;
        }
        let tag = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get(address) {
                Some(e) if e.verified.elapsed() < max_age => e.tag,
                _ => return false,
            }
        };
        let mut m = Self::message(address, stored_hash, password);
        // Constant-time comparison of the tags.
        let ok = hmac::verify(&self.key, &m, tag.as_ref()).is_ok();
        m.fill(0);
        ok
    }

    /// Records a successful verification (never call it for a failed one).
    pub fn remember(&self, address: &str, stored_hash: &str, password: &Password, ttl: Duration) {
        if ttl.is_zero() || stored_hash.is_empty() {
            return;
        }
        let mut m = Self::message(address, stored_hash, password);
        let tag = hmac::sign(&self.key, &m);
        m.fill(0);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(address) {
            entries.retain(|_, e| e.verified.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            address.to_string(),
            Entry {
                tag,
                verified: Instant::now(),
            },
        );
    }

    /// Drops what is known of `address` (password changed, account deleted).
    pub fn forget(&self, address: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn only_the_same_password_and_hash_within_the_ttl_match() {
        let c = CredentialCache::new();
        let pw = Password::new("Entwürfe-пароль");
        assert!(!c.verified("a@x.org", "$argon2id$h1", &pw, TTL));
        c.remember("a@x.org", "$argon2id$h1", &pw, TTL);
        assert!(c.verified("a@x.org", "$argon2id$h1", &pw, TTL));
        // Another password, another stored hash, another account: no.
        assert!(!c.verified("a@x.org", "$argon2id$h1", &Password::new("x"), TTL));
        assert!(!c.verified("a@x.org", "$argon2id$h2", &pw, TTL));
        assert!(!c.verified("b@x.org", "$argon2id$h1", &pw, TTL));
        // Expired, or the cache off.
        assert!(!c.verified("a@x.org", "$argon2id$h1", &pw, Duration::ZERO));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!c.verified("a@x.org", "$argon2id$h1", &pw, Duration::from_millis(10)));
        c.forget("a@x.org");
        assert!(!c.verified("a@x.org", "$argon2id$h1", &pw, TTL));
    }

    #[test]
    fn the_length_prefix_keeps_fields_apart() {
        let c = CredentialCache::new();
        c.remember("a", "bc", &Password::new("d"), TTL);
        assert!(!c.verified("a", "b", &Password::new("cd"), TTL));
        assert!(c.verified("a", "bc", &Password::new("d"), TTL));
    }

    #[test]
    fn a_full_cache_makes_room() {
        let c = CredentialCache::new();
        let pw = Password::new("p");
        for i in 0..MAX_ENTRIES + 5 {
            c.remember(&format!("u{i}@x.org"), "h", &pw, TTL);
        }
        let n = c.entries.lock().unwrap().len();
        assert!(n <= MAX_ENTRIES, "{n}");
        assert!(c.verified(&format!("u{}@x.org", MAX_ENTRIES + 4), "h", &pw, TTL));
    }
}
