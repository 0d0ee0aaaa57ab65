//! Mailbox names: the stored form and what can be stored.

use crate::store::error::{Result, StoreError};

/// Canonical stored name: `INBOX` in any case becomes `INBOX`, also as a prefix.
pub fn normalize_name(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return "INBOX".into();
    }
    // `get` is `None` when byte 6 falls inside a character (`Briefé`, `a收件`).
    match name.get(..6) {
        Some(p) if name.len() > 6 && p.eq_ignore_ascii_case("INBOX/") => {
            format!("INBOX/{}", &name[6..])
        }
        _ => name.to_string(),
    }
}

/// Rejects names that cannot be stored: empty, empty levels, control characters.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 1000
        || name.split('/').any(str::is_empty)
        || name.chars().any(|c| c.is_control())
    {
        return Err(StoreError::Invalid(format!(
            "invalid mailbox name `{}`",
            name.escape_debug()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_inbox_prefix_and_multibyte() {
        assert_eq!(normalize_name("inbox"), "INBOX");
        assert_eq!(normalize_name("Inbox/ü"), "INBOX/ü");
        assert_eq!(normalize_name("INBOX/"), "INBOX/");
        // Byte 6 inside a character: no panic, the name stays as it is.
        for name in ["Briefé", "a收件", "Entwürfe", "😀 emoji", "INBOXé/x"] {
            assert_eq!(normalize_name(name), name);
        }
    }
}
