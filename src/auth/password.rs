//! Passwords: a secret type that never prints, and argon2id hashes in PHC form.
//!
//! Hashes imported from a legacy server (Dovecot's `{SCHEME}` prefixes, or bare
//! crypt strings) are verified too: SHA512-CRYPT (`$6$`), SHA256-CRYPT (`$5$`) and
//! BLF-CRYPT (`$2a$`, `$2b$`, `$2y$`). [`needs_rehash`] tells the login path to
//! replace such a hash with argon2id once the password has been seen.

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

/// A hash of a random password with the parameters of [`hash_password`],
/// made once per process.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random = SaltString::generate(&mut OsRng);
        hash_password(&Password::new(random.as_str()))
    })
}

/// Verifies `password` against a hash no password matches: a login for a
/// name without an account (or without a local password) costs what a wrong
/// password costs, so response times do not tell which names exist.
pub async fn verify_nothing(password: &Password) {
    let p = password.clone();
    let _ = tokio::task::spawn_blocking(move || verify_password(dummy_hash(), &p)).await;
}

/// The kinds of stored hash ferrymail can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Argon2,
    Sha512Crypt,
    Sha256Crypt,
    Bcrypt,
}

/// Splits an optional Dovecot-style `{SCHEME}` prefix off a stored hash and names
/// the scheme, or `None` for anything unknown (`{PLAIN}` included: cleartext is
/// never accepted as a stored hash).
pub fn scheme(stored: &str) -> Option<(Scheme, &str)> {
    let (label, hash) = match stored.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((label, rest)) => (Some(label.to_ascii_uppercase()), rest),
        None => (None, stored),
    };
    let by_form = if hash.starts_with("$argon2") {
        Scheme::Argon2
    } else if hash.starts_with("$6$") {
        Scheme::Sha512Crypt
    } else if hash.starts_with("$5$") {
        Scheme::Sha256Crypt
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Scheme::Bcrypt
    } else {
        return None;
    };
    let label_ok = match label.as_deref() {
        None => true,
        Some("ARGON2ID" | "ARGON2I") => by_form == Scheme::Argon2,
        Some("SHA512-CRYPT") => by_form == Scheme::Sha512Crypt,
        Some("SHA256-CRYPT") => by_form == Scheme::Sha256Crypt,
        Some("BLF-CRYPT") => by_form == Scheme::Bcrypt,
        Some("CRYPT") => by_form != Scheme::Argon2,
        Some(_) => false,
    };
    label_ok.then_some((by_form, hash))
}

/// True when `stored` is a hash ferrymail accepts (for `account add --hash-stdin`).
pub fn is_supported_hash(stored: &str) -> bool {
    scheme(stored).is_some()
}

/// True when a hash that just verified should be replaced by an argon2id one.
pub fn needs_rehash(stored: &str) -> bool {
    !matches!(scheme(stored), Some((Scheme::Argon2, h)) if h.starts_with("$argon2id$"))
}

/// Checks `password` against a stored hash. Unknown or malformed hashes never match.
pub fn verify_password(stored: &str, password: &Password) -> bool {
    let Some((scheme, hash)) = scheme(stored) else {
        return false;
    };
    let pw = password.expose();
    match scheme {
        Scheme::Argon2 => {
            let Ok(parsed) = PasswordHash::new(hash) else {
                return false;
            };
            Argon2::default()
                .verify_password(pw.as_bytes(), &parsed)
                .is_ok()
        }
        Scheme::Sha512Crypt => sha_crypt::sha512_check(pw, hash).is_ok(),
        Scheme::Sha256Crypt => sha_crypt::sha256_check(pw, hash).is_ok(),
        Scheme::Bcrypt => bcrypt::verify(pw, hash).unwrap_or(false),
    }
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
        assert!(!needs_rehash(&h));
    }

    #[test]
    fn imported_legacy_hashes_verify_and_ask_for_a_rehash() {
        // Made by Dovecot 2.3: `doveadm pw -s SCHEME -p legacy-pw`.
        let p = Password::new("legacy-pw");
        let sha512 = "{SHA512-CRYPT}$6$Npt5zKhqbiCabXRa$WVF75pQdvzDqnBgOv0FI9.44z/mjwUWRJ5xMsbZjWdxcMpjDRn3FFL7i7zFAyzLHMXckuJXKig5BnI9SkfXGq0";
        let sha256 =
            "{SHA256-CRYPT}$5$CJ5UtWd1YXG3rXtA$sv1SzBNVb3GAG.C22I3tzFIPkPNLzLpcCYp3ZYR6r54";
        let bcrypt = "{BLF-CRYPT}$2y$05$5SUtpAfECK03Ch0MNIClAuetCJkcI.ylsFfTXCKILxpFhZxU.xvJu";
        for h in [sha512, sha256, bcrypt] {
            assert!(verify_password(h, &p), "{h}");
            assert!(!verify_password(h, &Password::new("legacy-PW")), "{h}");
            assert!(needs_rehash(h), "{h}");
            assert!(is_supported_hash(h), "{h}");
        }
        // A label that does not fit the hash, cleartext, and unknown schemes never match.
        let bare = sha512.trim_start_matches("{SHA512-CRYPT}");
        assert!(verify_password(bare, &p));
        assert!(!verify_password(&format!("{{BLF-CRYPT}}{bare}"), &p));
        assert!(!verify_password("{PLAIN}legacy-pw", &p));
        assert!(!verify_password("{MD5}x", &p));
        assert!(!is_supported_hash("{PLAIN}legacy-pw"));
    }
}
