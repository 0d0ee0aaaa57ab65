//! The kinds of legacy server this build migrates from: one arm per kind.

use super::error::{MigrateError, Result};
use super::imap_source::ImapSource;
use super::pop3_source::Pop3Source;
use super::source::Source;
use crate::config::{Migration, Source as Kind};

/// The source a domain's `[migration]` names (`source = "imap" | "pop3"`).
pub fn open(m: &Migration) -> Result<Box<dyn Source>> {
    let missing = |table: &str| MigrateError::Setup(format!("no [migration.{table}] legacy host"));
    Ok(match m.source {
        Kind::Imap => Box::new(ImapSource::new(
            m.imap.clone().ok_or_else(|| missing("imap"))?,
            m.timeout,
            m.pop3.clone(),
        )),
        Kind::Pop3 => Box::new(Pop3Source::new(
            m.pop3.clone().ok_or_else(|| missing("pop3"))?,
            m.timeout,
            m.mark_seen,
        )),
    })
}
