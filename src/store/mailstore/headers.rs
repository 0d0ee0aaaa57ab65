//! The header cache: for each message file, its header block and its
//! ENVELOPE, BODY and BODYSTRUCTURE as IMAP sends them, so that FETCH of those
//! items and of header sections, and SEARCH of header fields, do not open the
//! file.
//!
//! A row is written by [`super::Mailstore::ingest`] in the transaction that
//! commits the message, and removed in the transaction that removes the last
//! message using the file (`sql::unreferenced`). Message files never change
//! and their names are never reused, so a row cannot disagree with its file. Messages stored
//! before the cache existed (or whose row is of an older [`VERSION`]) get
//! theirs when a FETCH or SEARCH that could have used it reads the file
//! ([`super::Mailstore::fill_header_caches`]).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Transaction};

use super::Mailstore;
use crate::message::{header_end, Message};
use crate::store::error::Result;

/// The version of what a row holds. Bump it whenever the rendering of
/// ENVELOPE or BODYSTRUCTURE, or where a header block ends, changes: rows of
/// another version count as missing and are written again.
pub const VERSION: i64 = 1;

/// The biggest header block kept; a bigger one is read from the file.
pub const HEADER_MAX: usize = 64 * 1024;

/// Messages bigger than this are not analysed when stored (a FETCH that
/// needs their structure reads them anyway, and fills the cache then).
pub const MESSAGE_MAX: u64 = 64 << 20;

/// What the cache holds for one message file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCache {
    /// The header block up to and with its empty line ([`header_end`]);
    /// `None` when it is over [`HEADER_MAX`].
    pub header: Option<Vec<u8>>,
    pub envelope: Vec<u8>,
    /// BODY (BODYSTRUCTURE without extension data).
    pub body: Vec<u8>,
    pub bodystructure: Vec<u8>,
}

impl HeaderCache {
    /// Analyses a whole message.
    pub fn of(raw: &[u8]) -> HeaderCache {
        let msg = Message::parse(raw);
        let end = header_end(raw);
        HeaderCache {
            header: (end <= HEADER_MAX).then(|| raw[..end].to_vec()),
            envelope: msg.envelope(),
            body: msg.body_structure(false),
            bodystructure: msg.body_structure(true),
        }
    }

    /// Reads and analyses a message file; `None` when it cannot be read or
    /// is over [`MESSAGE_MAX`].
    fn of_file(path: &std::path::Path) -> Option<HeaderCache> {
        let len = std::fs::metadata(path).ok()?.len();
        if len > MESSAGE_MAX {
            return None;
        }
        std::fs::read(path).ok().map(|raw| HeaderCache::of(&raw))
    }
}

/// Writes (or replaces) the row of `blob`.
pub(super) fn insert(tx: &Transaction<'_>, blob: &str, c: &HeaderCache) -> Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT OR REPLACE INTO header_cache (blob, version, header, envelope, body, bodystructure)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    st.execute(params![
        blob,
        VERSION,
        c.header,
        c.envelope,
        c.body,
        c.bodystructure
    ])?;
    Ok(())
}

impl Mailstore {
    /// Analyses the message files of a batch about to be stored (in the
    /// blocking pool, without holding the index): one entry per blob, `None`
    /// where the file is too big or unreadable (then it is simply not cached).
    pub(super) async fn analyse(&self, blobs: Vec<String>) -> Vec<Option<HeaderCache>> {
        let dir = self.dir.clone();
        let n = blobs.len();
        tokio::task::spawn_blocking(move || {
            blobs
                .iter()
                .map(|b| HeaderCache::of_file(&crate::store::blob::blob_path(&dir, b)))
                .collect()
        })
        .await
        .unwrap_or_else(|_| vec![None; n])
    }

    /// The cache rows of `blobs` that exist and are of this [`VERSION`].
    pub async fn header_caches(
        &self,
        blobs: Vec<String>,
    ) -> Result<HashMap<String, Arc<HeaderCache>>> {
        self.db
            .call(move |c| {
                // One read transaction for all the lookups (each statement
                // outside one takes and drops the WAL read lock).
                let tx = c.transaction()?;
                let mut st = tx.prepare_cached(
                    "SELECT header, envelope, body, bodystructure FROM header_cache
                     WHERE blob = ?1 AND version = ?2",
                )?;
                let mut out = HashMap::with_capacity(blobs.len());
                for b in blobs {
                    if out.contains_key(&b) {
                        continue;
                    }
                    let row = st
                        .query_row(params![b, VERSION], |r| {
                            Ok(HeaderCache {
                                header: r.get(0)?,
                                envelope: r.get(1)?,
                                body: r.get(2)?,
                                bodystructure: r.get(3)?,
                            })
                        })
                        .optional()?;
                    if let Some(row) = row {
                        out.insert(b, Arc::new(row));
                    }
                }
                drop(st);
                tx.commit()?;
                Ok(out)
            })
            .await
    }

    /// The header blocks the cache holds for `blobs` (SEARCH, SORT and
    /// THREAD need nothing else): `Some(None)` for a row without one (too
    /// big), no entry where there is no row of this [`VERSION`].
    pub async fn cached_headers(
        &self,
        blobs: Vec<String>,
    ) -> Result<HashMap<String, Option<Vec<u8>>>> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let mut st = tx.prepare_cached(
                    "SELECT header FROM header_cache WHERE blob = ?1 AND version = ?2",
                )?;
                let mut out = HashMap::with_capacity(blobs.len());
                for b in blobs {
                    if out.contains_key(&b) {
                        continue;
                    }
                    let row = st
                        .query_row(params![b, VERSION], |r| r.get::<_, Option<Vec<u8>>>(0))
                        .optional()?;
                    if let Some(row) = row {
                        out.insert(b, row);
                    }
                }
                drop(st);
                tx.commit()?;
                Ok(out)
            })
            .await
    }

    /// Stores rows computed from files read for a FETCH or SEARCH, for
    /// message files some message still uses (a file removed meanwhile gets
    /// none). Returns how many were written.
    pub async fn fill_header_caches(&self, entries: Vec<(String, HeaderCache)>) -> Result<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let mut n = 0;
                {
                    let mut st = tx.prepare_cached(
                        "INSERT OR REPLACE INTO header_cache (blob, version, header, envelope, body, bodystructure)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6
                         WHERE EXISTS (SELECT 1 FROM messages WHERE blob = ?1)",
                    )?;
                    for (b, e) in &entries {
                        n += st.execute(params![
                            b,
                            VERSION,
                            e.header,
                            e.envelope,
                            e.body,
                            e.bodystructure
                        ])?;
                    }
                }
                tx.commit()?;
                Ok(n)
            })
            .await
    }
}
