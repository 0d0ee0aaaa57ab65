//! Messages: staging message files, ingesting them, reading the index, the
//! changes since a modseq, and COPY/MOVE.

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};

use super::removal::remove_in_tx;
use super::sql::{bump_modseq, msg_from_row, MSG_COLUMNS};
use super::types::{Change, Changes, IngestSource, MessageMeta, NewMessage, StoredMessage};
use super::Mailstore;
use crate::store::blob::{self, BlobWriter, Durability, StagedBlob};
use crate::store::error::{Result, StoreError};

impl Mailstore {
    /// Starts writing a message file; finish it and pass it to [`Self::ingest`].
    pub async fn blob_writer(&self) -> Result<BlobWriter> {
        BlobWriter::create(&self.dir, self.writes.clone()).await
    }

    /// Writes `data` as a message file, durable on return.
    pub async fn stage_bytes(&self, data: &[u8]) -> Result<StagedBlob> {
        let mut w = self.blob_writer().await?;
        w.write(data).await?;
        w.finish(Durability::Now).await
    }

    /// Brings a durable file from elsewhere (the SMTP spool) in as a message file.
    pub async fn stage_file(&self, path: &Path) -> Result<StagedBlob> {
        let dir = self.dir.clone();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || blob::import_file(&dir, &path))
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?
    }

    /// Makes every blob finished with [`Durability::Batch`] durable at once.
    pub async fn sync_batch(&self) -> Result<()> {
        self.writes.settle().await?;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || blob::sync_filesystem(&dir))
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))??;
        Ok(())
    }

    /// Path of a message file, for readers.
    pub fn blob_path(&self, blob: &str) -> PathBuf {
        blob::blob_path(&self.dir, blob)
    }

    /// The one way messages enter the store: commits `items` in one durable
    /// transaction (UIDs, flags, dates, legacy identity) and announces them.
    ///
    /// Every blob must already be durable. On error nothing is committed and the
    /// batch's blob files are removed.
    pub async fn ingest(
        &self,
        source: IngestSource,
        items: Vec<NewMessage>,
    ) -> Result<Vec<StoredMessage>> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        let blobs: Vec<String> = items.iter().map(|i| i.blob.id.clone()).collect();
        let count = items.len();
        // The header cache rows go in with the messages (headers.rs).
        let caches = self.analyse(blobs.clone()).await;
        let result = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let mut stored = Vec::with_capacity(items.len());
                {
                    let mut get_mbx = tx.prepare_cached(
                        "SELECT uidnext, highestmodseq FROM mailboxes WHERE id = ?1",
                    )?;
                    let mut set_mbx = tx.prepare_cached(
                        "UPDATE mailboxes SET uidnext = ?2, highestmodseq = ?3 WHERE id = ?1",
                    )?;
                    let mut uid_used =
                        tx.prepare_cached("SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2")?;
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO messages (mailbox_id, uid, blob, size, internaldate, tz_minutes, flags, modseq, legacy_uidl)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?;
                    let mut map = tx.prepare_cached(
                        "INSERT INTO legacy_map (folder, uidvalidity, uid, message_id) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for (m, cache) in items.iter().zip(&caches) {
                        let (uidnext, modseq): (i64, i64) = get_mbx
                            .query_row([m.mailbox_id], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()?
                            .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", m.mailbox_id)))?;
                        let uid = match m.uid {
                            Some(0) => return Err(StoreError::Invalid("UID 0 is not a UID".into())),
                            Some(u) => u,
                            None => u32::try_from(uidnext).map_err(|_| {
                                StoreError::Invalid("the mailbox has run out of UIDs".into())
                            })?,
                        };
                        if uid == u32::MAX {
                            return Err(StoreError::Invalid("the mailbox has run out of UIDs".into()));
                        }
                        if uid_used.exists(params![m.mailbox_id, uid])? {
                            return Err(StoreError::DuplicateUid { uid });
                        }
                        let modseq = modseq + 1;
                        insert.execute(params![
                            m.mailbox_id,
                            uid,
                            m.blob.id,
                            m.blob.size as i64,
                            m.internaldate,
                            m.tz_minutes,
                            m.flags.to_stored(),
                            modseq,
                            m.legacy_uidl
                        ])?;
                        let id = tx.last_insert_rowid();
                        if let Some(cache) = cache {
                            super::headers::insert(&tx, &m.blob.id, cache)?;
                        }
                        if let Some(l) = &m.legacy {
                            map.execute(params![l.folder, l.uidvalidity as i64, l.uid as i64, id])?;
                        }
                        set_mbx.execute(params![
                            m.mailbox_id,
                            uidnext.max(uid as i64 + 1),
                            modseq
                        ])?;
                        stored.push(StoredMessage {
                            id,
                            mailbox_id: m.mailbox_id,
                            uid,
                            modseq: modseq as u64,
                        });
                    }
                }
                tx.commit()?;
                Ok(stored)
            })
            .await;
        match result {
            Ok(stored) => {
                tracing::debug!(account = self.account_id, ?source, count, "messages stored");
                self.announce(
                    stored
                        .iter()
                        .map(|s| Change::Added {
                            mailbox_id: s.mailbox_id,
                            uid: s.uid,
                            modseq: s.modseq,
                        })
                        .collect(),
                );
                Ok(stored)
            }
            Err(e) => {
                for b in blobs {
                    let _ = std::fs::remove_file(self.blob_path(&b));
                }
                Err(e)
            }
        }
    }

    /// Every message of a mailbox, in UID order.
    pub async fn messages(&self, mailbox_id: i64) -> Result<Vec<MessageMeta>> {
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {MSG_COLUMNS} FROM messages WHERE mailbox_id = ?1 ORDER BY uid"
                ))?;
                let rows = st.query_map([mailbox_id], msg_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    /// The UIDs of a mailbox, ascending (4 bytes a message, for big mailboxes).
    pub async fn uids(&self, mailbox_id: i64) -> Result<Vec<u32>> {
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
                )?;
                let rows = st.query_map([mailbox_id], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<u32>>>()?)
            })
            .await
    }

    /// Up to `limit` messages with a UID above `after`, ascending: walks a big
    /// mailbox in pages with bounded memory.
    pub async fn messages_page(
        &self,
        mailbox_id: i64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<MessageMeta>> {
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {MSG_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND uid > ?2 ORDER BY uid LIMIT ?3"
                ))?;
                let rows = st.query_map(
                    params![mailbox_id, after as i64, limit.min(i64::MAX as usize) as i64],
                    msg_from_row,
                )?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    /// The messages of a mailbox with `lo <= uid <= hi`, in UID order (IMAP FETCH
    /// and SEARCH of a few messages without reading the whole mailbox).
    pub async fn messages_between(
        &self,
        mailbox_id: i64,
        lo: u32,
        hi: u32,
    ) -> Result<Vec<MessageMeta>> {
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {MSG_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND uid >= ?2 AND uid <= ?3 ORDER BY uid"
                ))?;
                let rows = st.query_map(params![mailbox_id, lo, hi], msg_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    /// Messages added or changed, and UIDs expunged, after `modseq`.
    pub async fn changes_since(&self, mailbox_id: i64, modseq: u64) -> Result<Changes> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let highestmodseq: i64 = tx
                    .query_row("SELECT highestmodseq FROM mailboxes WHERE id = ?1", [mailbox_id], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))?;
                let changed = {
                    let mut st = tx.prepare_cached(&format!(
                        "SELECT {MSG_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid"
                    ))?;
                    let rows = st.query_map(params![mailbox_id, modseq as i64], msg_from_row)?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                let expunged = {
                    let mut st = tx.prepare_cached(
                        "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
                    )?;
                    let rows = st.query_map(params![mailbox_id, modseq as i64], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<Vec<u32>>>()?
                };
                Ok(Changes {
                    changed,
                    expunged,
                    highestmodseq: highestmodseq as u64,
                })
            })
            .await
    }

    /// Copies `uids` into another mailbox (sharing their files); returns
    /// `(source uid, new uid)` pairs for COPYUID.
    pub async fn copy(
        &self,
        from_mailbox: i64,
        uids: Vec<u32>,
        to_mailbox: i64,
    ) -> Result<Vec<(u32, u32)>> {
        self.copy_or_move(from_mailbox, uids, to_mailbox, false)
            .await
    }

    /// Moves `uids` into another mailbox atomically (RFC 6851).
    pub async fn move_messages(
        &self,
        from_mailbox: i64,
        uids: Vec<u32>,
        to_mailbox: i64,
    ) -> Result<Vec<(u32, u32)>> {
        self.copy_or_move(from_mailbox, uids, to_mailbox, true)
            .await
    }

    async fn copy_or_move(
        &self,
        from: i64,
        uids: Vec<u32>,
        to: i64,
        remove_source: bool,
    ) -> Result<Vec<(u32, u32)>> {
        let views = self.views.clone();
        let (pairs, added_modseq, expunged_modseq) = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let (uidnext, _): (i64, i64) = tx
                    .query_row(
                        "SELECT uidnext, highestmodseq FROM mailboxes WHERE id = ?1",
                        [to],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("mailbox {to}")))?;
                let mut pairs = Vec::new();
                let mut next = uidnext;
                let modseq = bump_modseq(&tx, to)?;
                {
                    let mut get = tx.prepare_cached(&format!(
                        "SELECT {MSG_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
                    ))?;
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO messages (mailbox_id, uid, blob, size, internaldate, tz_minutes, flags, modseq, legacy_uidl)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
                    )?;
                    let mut sorted = uids.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    for uid in sorted {
                        let Some(m) = get.query_row(params![from, uid], msg_from_row).optional()? else {
                            continue;
                        };
                        if next >= u32::MAX as i64 {
                            return Err(StoreError::Invalid("the mailbox has run out of UIDs".into()));
                        }
                        insert.execute(params![
                            to,
                            next,
                            m.blob,
                            m.size as i64,
                            m.internaldate,
                            m.tz_minutes,
                            m.flags.to_stored(),
                            modseq as i64
                        ])?;
                        pairs.push((uid, next as u32));
                        next += 1;
                    }
                }
                tx.execute("UPDATE mailboxes SET uidnext = ?2 WHERE id = ?1", params![to, next])?;
                let mut expunged_modseq = 0;
                let mut moved = Vec::new();
                if remove_source && !pairs.is_empty() {
                    let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
                    let (removed, m, _) = remove_in_tx(&tx, from, Some(src), false)?;
                    expunged_modseq = m;
                    moved = removed;
                }
                tx.commit()?;
                // The files now belong to the moved copies: nothing to unlink.
                views.removed(from, moved, vec![]);
                Ok((pairs, modseq, expunged_modseq))
            })
            .await?;
        let mut changes: Vec<Change> = pairs
            .iter()
            .map(|(_, uid)| Change::Added {
                mailbox_id: to,
                uid: *uid,
                modseq: added_modseq,
            })
            .collect();
        if remove_source {
            changes.extend(pairs.iter().map(|(uid, _)| Change::Expunged {
                mailbox_id: from,
                uid: *uid,
                modseq: expunged_modseq,
            }));
        }
        self.announce(changes);
        Ok(pairs)
    }
}
