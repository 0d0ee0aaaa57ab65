//! Passwords: a secret type that never prints, and argon2id hashes in PHC form.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// A cleartext password held in memory. `Debug` and `Display` print `***`, and the
/// bytes are overwritten when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    /// The cleartext, for sending to the legacy server or hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // SAFETY: writing zero bytes keeps the String valid UTF-8.
        unsafe {
            for b in self.0.as_bytes_mut() {
                std::ptr::write_volatile(b, 0);
            }
        }
    }
}

/// Hashes with argon2id (default parameters) into a PHC string.
pub fn hash_password(password: &Password) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Checks `password` against a stored hash. Unknown or malformed hashes never match.
pub fn verify_password(stored: &str, password: &Password) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return false;
    }
    Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// Like [`hash_password`], on the blocking pool (argon2 takes tens of milliseconds).
pub async fn hash_password_async(password: &Password) -> String {
    let p = password.clone();
    tokio::task::spawn_blocking(move || hash_password(&p))
        .await
        .unwrap_or_default()
}

/// Like [`verify_password`], on the blocking pool.
pub async fn verify_password_async(stored: &str, password: &Password) -> bool {
    let (s, p) = (stored.to_string(), password.clone());
    tokio::task::spawn_blocking(move || verify_password(&s, &p))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let p = Password::new("correct horse");
        let h = hash_password(&p);
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password(&h, &p));
        assert!(!verify_password(&h, &Password::new("wrong")));
        assert!(!verify_password("garbage", &p));
        assert_eq!(format!("{p:?} {p}"), "*** ***");
    }
}
