//! Why a migration step failed, as one type for the whole engine: the sequence
//! decides retries and the legacy host's backoff with [`MigrateError::is_temporary`],
//! never by reading error text.

use crate::legacy::LegacyError;
use crate::store::StoreError;

/// A failed migration step.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The legacy server said no to the user's password.
    #[error("the legacy server refused the password")]
    Refused,
    /// The legacy server cannot be used now: unreachable, timed out, closed the
    /// connection, answered with a temporary or throttling response.
    #[error("legacy server unavailable: {0}")]
    Unavailable(String),
    /// The legacy server answered something the copy cannot use.
    #[error("legacy protocol error: {0}")]
    Protocol(String),
    /// The local store failed (disk full, I/O, database).
    #[error("local store: {0}")]
    Store(#[from] StoreError),
    /// The switch's check found a difference between the two sides.
    #[error("verification failed: {0}")]
    Verification(String),
    /// Nothing to run with: the domain is no longer hosted or migrating, it has
    /// no legacy host for its source, or no password is in memory.
    #[error("{0}")]
    Setup(String),
    /// The daemon is stopping.
    #[error("shutting down")]
    Shutdown,
}

impl MigrateError {
    /// True when the legacy host was unavailable or throttling (the failure
    /// may pass by itself): every copy from that host then backs off. Wrong
    /// data, a refused password, local failures and setup problems are not.
    pub fn is_temporary(&self) -> bool {
        matches!(self, MigrateError::Unavailable(_))
    }
}

/// Throttling words some servers put in a failed command's text instead of a
/// response code (`NO [THROTTLED]`, `NO Too many commands`).
fn says_throttled(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("throttl") || t.contains("too many")
}

impl From<LegacyError> for MigrateError {
    fn from(e: LegacyError) -> Self {
        match e {
            LegacyError::Refused => MigrateError::Refused,
            LegacyError::Unavailable(t) => MigrateError::Unavailable(t),
            LegacyError::Protocol(t) if says_throttled(&t) => MigrateError::Unavailable(t),
            LegacyError::Protocol(t) => MigrateError::Protocol(t),
            LegacyError::Store(e) => MigrateError::Store(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, MigrateError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_means_the_legacy_host_is_unavailable_or_throttling() {
        let t = |e: LegacyError| MigrateError::from(e).is_temporary();
        assert!(t(LegacyError::Unavailable("connection closed".into())));
        assert!(t(LegacyError::Unavailable(
            "legacy login: [UNAVAILABLE] Throttled".into()
        )));
        assert!(t(LegacyError::Protocol(
            "UID FETCH: [THROTTLED] slow down".into()
        )));
        assert!(t(LegacyError::Protocol("SELECT: Too many commands".into())));
        assert!(!t(LegacyError::Refused));
        assert!(!t(LegacyError::Protocol("unparsable response".into())));
        assert!(!MigrateError::Verification("folder `x` missing".into()).is_temporary());
        assert!(!MigrateError::Setup("no legacy host".into()).is_temporary());
    }
}
