//! Changing the flags of messages (STORE).

use rusqlite::{params, OptionalExtension};

use super::sql::{bump_modseq, msg_from_row, MSG_COLUMNS};
use super::types::{Change, FlagOp, FlagsResult};
use super::Mailstore;
use crate::store::error::Result;
use crate::store::flags::Flags;

impl Mailstore {
    /// Changes flags of `uids` (RFC 3501 STORE, RFC 7162 UNCHANGEDSINCE). All
    /// messages changed by one call share one new modseq.
    pub async fn store_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        op: FlagOp,
        flags: Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsResult> {
        // On a full disk the reserve makes room: marking mail \Deleted is how
        // IMAP users free space.
        let again = (uids.clone(), flags.clone());
        match self
            .store_flags_once(mailbox_id, uids, op, flags, unchanged_since)
            .await
        {
            Err(e) if e.is_disk_full() && self.release_reserve() => {
                self.store_flags_once(mailbox_id, again.0, op, again.1, unchanged_since)
                    .await
            }
            r => r,
        }
    }

    async fn store_flags_once(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        op: FlagOp,
        flags: Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsResult> {
        let res = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let mut res = FlagsResult::default();
                let mut modseq = None;
                {
                    let mut get = tx.prepare_cached(&format!(
                        "SELECT {MSG_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
                    ))?;
                    let mut set = tx.prepare_cached(
                        "UPDATE messages SET flags = ?2, modseq = ?3 WHERE id = ?1",
                    )?;
                    for uid in uids {
                        let Some(mut m) = get
                            .query_row(params![mailbox_id, uid], msg_from_row)
                            .optional()?
                        else {
                            continue;
                        };
                        if let Some(since) = unchanged_since {
                            if m.modseq > since {
                                res.modified.push(uid);
                                res.messages.push(m);
                                continue;
                            }
                        }
                        let new = match op {
                            FlagOp::Add => m.flags.union(&flags),
                            FlagOp::Remove => m.flags.difference(&flags),
                            FlagOp::Replace => flags.clone(),
                        };
                        if new != m.flags {
                            let ms = match modseq {
                                Some(ms) => ms,
                                None => {
                                    let ms = bump_modseq(&tx, mailbox_id)?;
                                    modseq = Some(ms);
                                    ms
                                }
                            };
                            set.execute(params![m.id, new.to_stored(), ms as i64])?;
                            m.flags = new;
                            m.modseq = ms;
                            res.changed.push(uid);
                        }
                        res.messages.push(m);
                    }
                }
                tx.commit()?;
                Ok(res)
            })
            .await?;
        self.announce(
            res.messages
                .iter()
                .filter(|m| res.changed.contains(&m.uid))
                .map(|m| Change::Flags {
                    mailbox_id,
                    uid: m.uid,
                    modseq: m.modseq,
                })
                .collect(),
        );
        Ok(res)
    }
}
