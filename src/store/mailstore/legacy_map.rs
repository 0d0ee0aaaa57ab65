//! The legacy identity of copied messages: the legacy UID map and POP3 UIDLs.

use rusqlite::{params, OptionalExtension};

use super::types::LegacyRef;
use super::Mailstore;
use crate::store::error::Result;

impl Mailstore {
    /// Records the legacy POP3 UIDL of messages that have none yet (the copy
    /// carries UIDLs over so POP3 clients download nothing twice). Not an IMAP
    /// change: no modseq is taken.
    pub async fn set_legacy_uidls(
        &self,
        mailbox_id: i64,
        uidls: Vec<(u32, String)>,
    ) -> Result<usize> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let mut n = 0;
                {
                    let mut st = tx.prepare_cached(
                        "UPDATE messages SET legacy_uidl = ?3
                         WHERE mailbox_id = ?1 AND uid = ?2 AND legacy_uidl IS NULL",
                    )?;
                    for (uid, uidl) in uidls {
                        n += st.execute(params![mailbox_id, uid, uidl])?;
                    }
                }
                tx.commit()?;
                Ok(n)
            })
            .await
    }

    /// Every legacy UID of one legacy folder (at one UIDVALIDITY) already copied,
    /// with the local message id it was copied to: one query for a whole folder.
    pub async fn legacy_map_for(
        &self,
        folder: &str,
        uidvalidity: u32,
    ) -> Result<std::collections::HashMap<u32, i64>> {
        let folder = folder.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT uid, message_id FROM legacy_map WHERE folder = ?1 AND uidvalidity = ?2",
                )?;
                let rows = st.query_map(params![folder, uidvalidity as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u32, r.get(1)?))
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Every `legacy_map` entry whose folder key starts with `prefix` and whose
    /// UIDVALIDITY is 0 (no IMAP folder has that): the rest of the key, with the
    /// local message id. The POP3-source copy records each copied UIDL this way
    /// (`pop3-uidl:<uidl>`), so a pass fetches only UIDLs not yet copied.
    pub async fn legacy_keys(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashMap<String, i64>> {
        let prefix = prefix.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT folder, message_id FROM legacy_map
                     WHERE uidvalidity = 0 AND substr(folder, 1, length(?1)) = ?1",
                )?;
                let rows = st.query_map(params![prefix], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?;
                let mut out = std::collections::HashMap::new();
                for row in rows {
                    let (key, id) = row?;
                    if let Some(rest) = key.get(prefix.len()..) {
                        out.insert(rest.to_string(), id);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// The local message a legacy message was copied to, if it was. The mapping
    /// outlives a local expunge, so a later pass does not bring the message back.
    pub async fn legacy_lookup(&self, legacy: &LegacyRef) -> Result<Option<i64>> {
        let l = legacy.clone();
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT message_id FROM legacy_map WHERE folder = ?1 AND uidvalidity = ?2 AND uid = ?3",
                    params![l.folder, l.uidvalidity as i64, l.uid as i64],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await
    }
}
