//! The Sender Rewriting Scheme (SRS0) for mail forwarded to outside addresses.
//!
//! A message from `alice@sender.example` forwarded by `info@example.org` to
//! `partner@outside.example` leaves with the envelope sender
//! `SRS0=HHHH=TT=sender.example=alice@example.org`, so the receiving server's
//! SPF check looks at our domain, not at the sender's. A bounce to that
//! address is sent back to `alice@sender.example` once the hash and the
//! timestamp check out; anything else (forged, tampered, expired) is refused.
//!
//! The format follows the SRS convention (Shevek's paper, libsrs2, postsrsd):
//! `TT` is the day number modulo 1024 in two base32 characters, `HHHH` the first
//! four base64 characters of an HMAC (here HMAC-SHA256) over the lower-cased
//! timestamp, domain and local part, compared case-insensitively, since some
//! MTAs lower-case addresses. The key is 32 random bytes in `data_dir/srs.secret`
//! (owner-only), made on first use.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use sha2::{Digest, Sha256};

/// How long an SRS address stays valid, in days.
pub const MAX_AGE_DAYS: u64 = 21;
const HASH_LEN: usize = 4;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_FILE: &str = "srs.secret";

/// Why an SRS address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrsError {
    /// Not of the form `SRS0=HHHH=TT=domain=local`.
    Malformed,
    /// The hash does not match: forged or tampered.
    BadHash,
    /// Older than [`MAX_AGE_DAYS`] (or from the future).
    Expired,
}

impl std::fmt::Display for SrsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SrsError::Malformed => "not an SRS0 address",
            SrsError::BadHash => "SRS hash does not match",
            SrsError::Expired => "SRS address expired",
        })
    }
}

/// The SRS key of one data dir.
pub struct Srs {
    key: Vec<u8>,
}

/// True when `local` looks like an SRS0 local part (`SRS0=`, any case).
pub fn is_srs(local: &str) -> bool {
    local
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("srs0="))
}

/// Days since the Unix epoch.
fn today() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn timestamp(day: u64) -> String {
    let t = day % 1024;
    let mut s = String::with_capacity(2);
    s.push(BASE32[(t >> 5) as usize] as char);
    s.push(BASE32[(t & 31) as usize] as char);
    s
}

fn parse_timestamp(tt: &str) -> Option<u64> {
    let mut t = 0u64;
    if tt.chars().count() != 2 {
        return None;
    }
    for c in tt.chars() {
        let c = c.to_ascii_uppercase();
        let v = BASE32.iter().position(|&b| b as char == c)?;
        t = t * 32 + v as u64;
    }
    Some(t)
}

impl Srs {
    pub fn new(key: &[u8]) -> Srs {
        Srs { key: key.to_vec() }
    }

    /// The key of `data_dir`, made (32 random bytes, owner-only) when missing.
    /// Kept in memory per data dir after the first call.
    pub fn open(data_dir: &Path) -> std::io::Result<Arc<Srs>> {
        static CACHE: Mutex<Vec<(PathBuf, Arc<Srs>)>> = Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, s)) = cache.iter().find(|(p, _)| p == data_dir) {
            return Ok(s.clone());
        }
        let srs = Arc::new(Srs::new(&load_or_create_key(data_dir)?));
        cache.push((data_dir.to_path_buf(), srs.clone()));
        Ok(srs)
    }

    fn hash(&self, tt: &str, domain: &str, local: &str) -> String {
        let data = format!("{tt}{domain}{local}").to_lowercase();
        let mac = hmac_sha256(&self.key, data.as_bytes());
        let b = base64::engine::general_purpose::STANDARD.encode(mac);
        b[..HASH_LEN].to_string()
    }

    /// The SRS0 local part for the sender `local@domain`, valid from today.
    pub fn forward_local(&self, local: &str, domain: &str) -> String {
        self.forward_local_at(local, domain, today())
    }

    pub fn forward_local_at(&self, local: &str, domain: &str, day: u64) -> String {
        let tt = timestamp(day);
        let hh = self.hash(&tt, domain, local);
        format!("SRS0={hh}={tt}={domain}={local}")
    }

    /// The envelope sender `SRS0=...@our_domain` for the sender `local@domain`.
    pub fn forward(&self, local: &str, domain: &str, our_domain: &str) -> String {
        format!("{}@{our_domain}", self.forward_local(local, domain))
    }

    /// The original sender `(local, domain)` of an SRS0 local part, checked today.
    pub fn reverse(&self, srs_local: &str) -> Result<(String, String), SrsError> {
        self.reverse_at(srs_local, today())
    }

    pub fn reverse_at(&self, srs_local: &str, day: u64) -> Result<(String, String), SrsError> {
        if !is_srs(srs_local) {
            return Err(SrsError::Malformed);
        }
        let mut parts = srs_local.splitn(5, '=');
        let (_, Some(hh), Some(tt), Some(domain), Some(local)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SrsError::Malformed);
        };
        if domain.is_empty() || local.is_empty() || hh.chars().count() != HASH_LEN {
            return Err(SrsError::Malformed);
        }
        let t = parse_timestamp(tt).ok_or(SrsError::Malformed)?;
        if !self.hash(tt, domain, local).eq_ignore_ascii_case(hh) {
            return Err(SrsError::BadHash);
        }
        let age = (day % 1024 + 1024 - t) % 1024;
        if age > MAX_AGE_DAYS {
            return Err(SrsError::Expired);
        }
        Ok((local.to_string(), domain.to_ascii_lowercase()))
    }
}

/// Reads `data_dir/srs.secret`, or makes it: written to a temporary file,
/// fsynced, then linked into place (so a racing process reads a whole key).
fn load_or_create_key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(SECRET_FILE);
    if let Some(k) = read_key(&path)? {
        return Ok(k);
    }
    crate::store::create_private_dir(data_dir)?;
    let tmp = data_dir.join(format!(
        "{SECRET_FILE}.{}.tmp",
        crate::store::blob::new_blob_id()
    ));
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{hex}\n").as_bytes())?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok(key.to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(&path)?.ok_or_else(|| std::io::Error::other("srs.secret is unreadable"))
        }
        Err(e) => Err(e),
    }
}

fn read_key(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let hex = text.trim();
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    match bytes {
        Some(b) if b.len() >= 16 => Ok(Some(b)),
        _ => Err(std::io::Error::other(format!(
            "{} is not a hex key of at least 16 bytes",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srs() -> Srs {
        Srs::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn round_trip() {
        let s = srs();
        let day = 20_000;
        let l = s.forward_local_at("Alice.Smith", "sender.example", day);
        assert!(l.starts_with("SRS0="), "{l}");
        assert!(l.ends_with("=sender.example=Alice.Smith"), "{l}");
        assert_eq!(
            s.reverse_at(&l, day).unwrap(),
            ("Alice.Smith".into(), "sender.example".into())
        );
        // A local part with '=' and non-ASCII letters survives.
        let l = s.forward_local_at("a=b.jürgen", "sender.example", day);
        assert_eq!(s.reverse_at(&l, day + 3).unwrap().0, "a=b.jürgen");
    }

    #[test]
    fn case_insensitive() {
        let s = srs();
        let l = s.forward_local_at("alice", "sender.example", 20_000);
        assert_eq!(
            s.reverse_at(&l.to_lowercase(), 20_000).unwrap(),
            ("alice".into(), "sender.example".into())
        );
        assert!(s.reverse_at(&l.to_uppercase(), 20_000).is_ok());
    }

    #[test]
    fn tampered_or_forged_is_refused() {
        let s = srs();
        let l = s.forward_local_at("alice", "sender.example", 20_000);
        let other = l.replace("=alice", "=mallory");
        assert_eq!(s.reverse_at(&other, 20_000), Err(SrsError::BadHash));
        let other = l.replace("sender.example", "evil.example");
        assert_eq!(s.reverse_at(&other, 20_000), Err(SrsError::BadHash));
        // Another key's address.
        let theirs = Srs::new(b"another key, another key, another").forward_local_at(
            "alice",
            "sender.example",
            20_000,
        );
        assert_eq!(s.reverse_at(&theirs, 20_000), Err(SrsError::BadHash));
        for bad in [
            "SRS0=",
            "SRS0=abcd=AA=dom",
            "SRS0=abc=AA=dom=x",
            "SRS0=abcd=A!=dom=x",
            "srs1=abcd=AA=dom=x",
            "alice",
            "SRS0=ab=AA=dom=x",
            "SRS0=abcdé=AA=dom=x",
        ] {
            assert_eq!(s.reverse_at(bad, 20_000), Err(SrsError::Malformed), "{bad}");
        }
    }

    #[test]
    fn expiry() {
        let s = srs();
        let day = 20_000;
        let l = s.forward_local_at("alice", "sender.example", day);
        assert!(s.reverse_at(&l, day + MAX_AGE_DAYS).is_ok());
        assert_eq!(
            s.reverse_at(&l, day + MAX_AGE_DAYS + 1),
            Err(SrsError::Expired)
        );
        // From the future (a clock far ahead when it was made): refused.
        assert_eq!(s.reverse_at(&l, day - 2), Err(SrsError::Expired));
        // Wraps around the 1024-day cycle.
        let l = s.forward_local_at("alice", "sender.example", 1023);
        assert!(s.reverse_at(&l, 1025).is_ok());
    }

    #[test]
    fn key_file_is_made_once_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let k1 = load_or_create_key(d.path()).unwrap();
        let k2 = load_or_create_key(d.path()).unwrap();
        assert_eq!(k1, k2);
        let mode = std::fs::metadata(d.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
