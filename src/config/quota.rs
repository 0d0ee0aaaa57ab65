//! `[quota]` (issue 19 item 5): storage and message-count limits per user.
//! The server file gives the default, a domain file its own for the domain
//! and, per user, a storage limit (`users = { "alice" = "10 GiB" }`). No
//! limit anywhere: unlimited.
//!
//! Sizes are a number of bytes or a text with a unit: `K`, `M`, `G`, `T`
//! and `KiB`... are powers of 1024 (as in Dovecot: `10G` is 10 GiB), `KB`,
//! `MB`, `GB`, `TB` powers of 1000.

use std::collections::BTreeMap;

/// Limits of one user; `None`: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub storage: Option<u64>,
    pub messages: Option<u64>,
}

impl Quota {
    pub fn is_unlimited(&self) -> bool {
        self.storage.is_none() && self.messages.is_none()
    }

    /// Whether `bytes` more bytes in `messages` more messages on top of the
    /// usage `(used_bytes, used_messages)` stay within the limits.
    pub fn allows(&self, used: (u64, u64), bytes: u64, messages: u64) -> bool {
        self.storage
            .is_none_or(|l| used.0.saturating_add(bytes) <= l)
            && self
                .messages
                .is_none_or(|l| used.1.saturating_add(messages) <= l)
    }
}

/// A domain's limits: its own default and per-user storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainQuota {
    pub default: Quota,
    /// Whether the domain file had a `[quota] storage` / `messages`.
    pub has_storage: bool,
    pub has_messages: bool,
    pub users: BTreeMap<String, u64>,
}

/// Parses `10 GiB`, `500MB`, `2G`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    let n: f64 = num.parse().map_err(|_| {
        format!("`{s}` is not a size (say `10 GiB`, `500 MB` or a number of bytes)")
    })?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ))
        }
    };
    let v = n * mult;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(v as u64)
}

/// The limits of `local`@domain: the user's own storage, else the domain's,
/// else the server's; the same for messages.
pub fn resolve(server: &Quota, domain: Option<&DomainQuota>, local: &str) -> Quota {
    let Some(d) = domain else {
        return *server;
    };
    let storage = d
        .users
        .get(&local.to_lowercase())
        .copied()
        .or(if d.has_storage {
            d.default.storage
        } else {
            server.storage
        });
    let messages = if d.has_messages {
        d.default.messages
    } else {
        server.messages
    };
    Quota { storage, messages }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10 GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert_eq!(parse_size("500 MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("1.5 KiB").unwrap(), 1536);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("1e400 TB").is_err());
    }

    #[test]
    fn the_most_specific_limit_wins() {
        let server = Quota {
            storage: Some(100),
            messages: Some(10),
        };
        let d = DomainQuota {
            default: Quota {
                storage: Some(50),
                messages: None,
            },
            has_storage: true,
            has_messages: false,
            users: [("alice".to_string(), 7)].into_iter().collect(),
        };
        assert_eq!(resolve(&server, None, "x"), server);
        assert_eq!(
            resolve(&server, Some(&d), "Alice"),
            Quota {
                storage: Some(7),
                messages: Some(10)
            }
        );
        assert_eq!(resolve(&server, Some(&d), "bob").storage, Some(50));
        let q = Quota {
            storage: Some(100),
            messages: Some(2),
        };
        assert!(q.allows((90, 1), 10, 1));
        assert!(!q.allows((90, 1), 11, 1));
        assert!(!q.allows((0, 2), 1, 1));
        assert!(Quota::default().allows((u64::MAX, u64::MAX), 1, 1));
    }
}
