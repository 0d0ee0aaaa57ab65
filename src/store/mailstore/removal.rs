//! Removing messages: EXPUNGE, MOVE's source side, POP3 DELE.

use std::collections::HashSet;

use rusqlite::{params, Transaction};

use super::sql::{bump_modseq, msg_from_row, unreferenced, MSG_COLUMNS};
use super::types::{Change, MessageMeta};
use super::Mailstore;
use crate::store::blob;
use crate::store::error::Result;

impl Mailstore {
    /// Removes messages flagged `\Deleted` (restricted to `uids` when given, as UID
    /// EXPUNGE does). Returns the UIDs removed.
    pub async fn expunge(&self, mailbox_id: i64, uids: Option<Vec<u32>>) -> Result<Vec<u32>> {
        self.remove_where(mailbox_id, uids, true).await
    }

    /// Removes `uids` whatever their flags (MOVE, POP3 DELE). Returns the UIDs removed.
    pub async fn remove(&self, mailbox_id: i64, uids: Vec<u32>) -> Result<Vec<u32>> {
        self.remove_where(mailbox_id, Some(uids), false).await
    }

    async fn remove_where(
        &self,
        mailbox_id: i64,
        uids: Option<Vec<u32>>,
        only_deleted: bool,
    ) -> Result<Vec<u32>> {
        // A deletion on a full disk: the disk reserve makes room for it.
        match self
            .remove_where_once(mailbox_id, uids.clone(), only_deleted)
            .await
        {
            Err(e) if e.is_disk_full() && self.release_reserve() => {
                self.remove_where_once(mailbox_id, uids, only_deleted).await
            }
            r => r,
        }
    }

    async fn remove_where_once(
        &self,
        mailbox_id: i64,
        uids: Option<Vec<u32>>,
        only_deleted: bool,
    ) -> Result<Vec<u32>> {
        let dir = self.dir.clone();
        let views = self.views.clone();
        let (removed, modseq) = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let (removed, modseq, gone) = remove_in_tx(&tx, mailbox_id, uids, only_deleted)?;
                tx.commit()?;
                let uids: Vec<u32> = removed.iter().map(|m| m.uid).collect();
                // Sessions with the mailbox open may still read them.
                for b in views.removed(mailbox_id, removed, gone) {
                    let _ = std::fs::remove_file(blob::blob_path(&dir, &b));
                }
                Ok((uids, modseq))
            })
            .await?;
        self.announce(
            removed
                .iter()
                .map(|uid| Change::Expunged {
                    mailbox_id,
                    uid: *uid,
                    modseq,
                })
                .collect(),
        );
        Ok(removed)
    }
}

/// Deletes messages inside a transaction; returns (the messages as they were,
/// modseq, blobs to unlink after commit).
pub(super) fn remove_in_tx(
    tx: &Transaction<'_>,
    mailbox_id: i64,
    uids: Option<Vec<u32>>,
    only_deleted: bool,
) -> Result<(Vec<MessageMeta>, u64, Vec<String>)> {
    let candidates: Vec<MessageMeta> = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {MSG_COLUMNS} FROM messages WHERE mailbox_id = ?1 ORDER BY uid"
        ))?;
        let rows = st.query_map([mailbox_id], msg_from_row)?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let wanted: Option<HashSet<u32>> = uids.map(|u| u.into_iter().collect());
    let victims: Vec<MessageMeta> = candidates
        .into_iter()
        .filter(|m| {
            wanted.as_ref().is_none_or(|w| w.contains(&m.uid))
                && (!only_deleted || m.flags.contains("\\Deleted"))
        })
        .collect();
    if victims.is_empty() {
        return Ok((vec![], 0, vec![]));
    }
    let modseq = bump_modseq(tx, mailbox_id)?;
    let mut blobs = Vec::with_capacity(victims.len());
    {
        let mut del = tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
        let mut tomb = tx.prepare_cached(
            "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
        )?;
        for m in &victims {
            del.execute([m.id])?;
            tomb.execute(params![mailbox_id, m.uid, modseq as i64])?;
            blobs.push(m.blob.clone());
        }
    }
    let gone = unreferenced(tx, &blobs)?;
    Ok((victims, modseq, gone))
}
