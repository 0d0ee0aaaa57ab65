//! Mailbox names: the stored form and what can be stored.

use crate::store::error::{Result, StoreError};

/// Canonical stored name: `INBOX` in any case becomes `INBOX`, also as a prefix.
pub fn normalize_name(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return "INBOX".into();
    }
    if name.len() > 6 && name[..6].eq_ignore_ascii_case("INBOX/") {
        return format!("INBOX/{}", &name[6..]);
    }
    name.to_string()
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
