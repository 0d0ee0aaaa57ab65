//! Mailboxes: listing, creating, deleting, renaming, updating, subscriptions.

use rusqlite::{params, OptionalExtension};

use super::names::{check_name, normalize_name};
use super::sql::{bump_modseq, insert_mailbox, mbx_from_row, unreferenced, MBX_COLUMNS};
use super::types::{Change, MailboxInfo, NewMailbox};
use super::Mailstore;
use crate::store::blob;
use crate::store::error::{Result, StoreError};

impl Mailstore {
    pub async fn mailboxes(&self) -> Result<Vec<MailboxInfo>> {
        self.db
            .call(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {MBX_COLUMNS} FROM mailboxes m ORDER BY m.name"
                ))?;
                let rows = st.query_map([], mbx_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    pub async fn mailbox(&self, name: &str) -> Result<Option<MailboxInfo>> {
        let name = normalize_name(name);
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {MBX_COLUMNS} FROM mailboxes m WHERE m.name = ?1"),
                    [name],
                    mbx_from_row,
                )
                .optional()?)
            })
            .await
    }

    /// \Recent: the first UID of the mailbox no session has been shown yet.
    /// With `claim`, the messages below `upto` become this caller's (the
    /// session that selected the mailbox, or saw them arrive): later callers
    /// get `upto` or more. A message is recent in exactly one session.
    pub async fn claim_recent(&self, mailbox_id: i64, upto: u32, claim: bool) -> Result<u32> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let first: i64 = tx
                    .query_row(
                        "SELECT first_recent FROM mailboxes WHERE id = ?1",
                        [mailbox_id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(i64::from(upto));
                if claim && i64::from(upto) > first {
                    tx.execute(
                        "UPDATE mailboxes SET first_recent = ?2 WHERE id = ?1",
                        rusqlite::params![mailbox_id, upto],
                    )?;
                }
                tx.commit()?;
                Ok(first.clamp(0, i64::from(u32::MAX)) as u32)
            })
            .await
    }

    /// No message of the account is `\Recent` any more (a migrated mailbox:
    /// what came from the legacy server is not new mail).
    pub async fn clear_recent(&self) -> Result<()> {
        self.db
            .call(|c| Ok(c.execute("UPDATE mailboxes SET first_recent = uidnext", [])?))
            .await
            .map(|_| ())
    }

    /// The octets of every message in the mailbox (STATUS SIZE).
    pub async fn mailbox_size(&self, mailbox_id: i64) -> Result<u64> {
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ?1",
                    [mailbox_id],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64)
            })
            .await
    }

    /// Messages no session has been shown yet (STATUS RECENT).
    pub async fn recent_count(&self, mailbox_id: i64) -> Result<u32> {
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
                     WHERE b.id = ?1 AND m.uid >= b.first_recent",
                    [mailbox_id],
                    |r| r.get::<_, i64>(0),
                )? as u32)
            })
            .await
    }

    pub async fn mailbox_by_id(&self, id: i64) -> Result<Option<MailboxInfo>> {
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {MBX_COLUMNS} FROM mailboxes m WHERE m.id = ?1"),
                    [id],
                    mbx_from_row,
                )
                .optional()?)
            })
            .await
    }

    /// Creates a mailbox; its missing parents are created too (RFC 3501 §6.3.3).
    pub async fn create_mailbox(&self, name: &str, opts: NewMailbox) -> Result<MailboxInfo> {
        let name = normalize_name(name);
        check_name(&name)?;
        let n2 = name.clone();
        let id = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let parts: Vec<&str> = n2.split('/').collect();
                for i in 1..parts.len() {
                    let parent = parts[..i].join("/");
                    let exists: bool = tx
                        .prepare_cached("SELECT 1 FROM mailboxes WHERE name = ?1")?
                        .exists([&parent])?;
                    if !exists {
                        insert_mailbox(&tx, &parent, &NewMailbox::default())?;
                    }
                }
                let id = insert_mailbox(&tx, &n2, &opts)?;
                tx.commit()?;
                Ok(id)
            })
            .await?;
        self.announce(vec![Change::Mailboxes]);
        self.mailbox_by_id(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))
    }

    /// Deletes a mailbox and its messages. INBOX cannot be deleted.
    pub async fn delete_mailbox(&self, name: &str) -> Result<()> {
        let name = normalize_name(name);
        if name == "INBOX" {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let dir = self.dir.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let id: i64 = tx
                    .query_row("SELECT id FROM mailboxes WHERE name = ?1", [&name], |r| {
                        r.get(0)
                    })
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
                let blobs: Vec<String> = {
                    let mut st = tx.prepare("SELECT blob FROM messages WHERE mailbox_id = ?1")?;
                    let rows = st.query_map([id], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                tx.execute("DELETE FROM messages WHERE mailbox_id = ?1", [id])?;
                tx.execute("DELETE FROM expunged WHERE mailbox_id = ?1", [id])?;
                tx.execute("DELETE FROM mailboxes WHERE id = ?1", [id])?;
                let gone = unreferenced(&tx, &blobs)?;
                tx.commit()?;
                for b in gone {
                    let _ = std::fs::remove_file(blob::blob_path(&dir, &b));
                }
                Ok(())
            })
            .await?;
        self.announce(vec![Change::Mailboxes]);
        Ok(())
    }

    /// Renames a mailbox and its children. Renaming INBOX moves its messages into a
    /// new mailbox and leaves INBOX empty (RFC 3501 §6.3.5).
    pub async fn rename_mailbox(&self, from: &str, to: &str) -> Result<()> {
        let from = normalize_name(from);
        let to = normalize_name(to);
        check_name(&to)?;
        if to == "INBOX" {
            return Err(StoreError::AlreadyExists("mailbox INBOX".into()));
        }
        if to.starts_with(&format!("{from}/")) {
            return Err(StoreError::Invalid(
                "cannot rename a mailbox into itself".into(),
            ));
        }
        let mut changes = vec![Change::Mailboxes];
        let expunged = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                if tx.prepare("SELECT 1 FROM mailboxes WHERE name = ?1")?.exists([&to])? {
                    return Err(StoreError::AlreadyExists(format!("mailbox {to}")));
                }
                let src: (i64, i64) = tx
                    .query_row(
                        "SELECT id, uidnext FROM mailboxes WHERE name = ?1",
                        [&from],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("mailbox {from}")))?;
                // Create missing parents of the new name.
                let parts: Vec<&str> = to.split('/').collect();
                for i in 1..parts.len() {
                    let parent = parts[..i].join("/");
                    if !tx.prepare("SELECT 1 FROM mailboxes WHERE name = ?1")?.exists([&parent])? {
                        insert_mailbox(&tx, &parent, &NewMailbox::default())?;
                    }
                }
                let mut expunged = Vec::new();
                if from == "INBOX" {
                    let new_id = insert_mailbox(
                        &tx,
                        &to,
                        &NewMailbox {
                            uidnext: Some(src.1 as u32),
                            ..Default::default()
                        },
                    )?;
                    let uids: Vec<u32> = {
                        let mut st = tx.prepare("SELECT uid FROM messages WHERE mailbox_id = ?1")?;
                        let rows = st.query_map([src.0], |r| r.get(0))?;
                        rows.collect::<rusqlite::Result<_>>()?
                    };
                    if !uids.is_empty() {
                        let modseq = bump_modseq(&tx, src.0)?;
                        for uid in &uids {
                            tx.execute(
                                "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
                                params![src.0, uid, modseq as i64],
                            )?;
                            expunged.push(Change::Expunged { mailbox_id: src.0, uid: *uid, modseq });
                        }
                        tx.execute(
                            "UPDATE messages SET mailbox_id = ?2, modseq = 1 WHERE mailbox_id = ?1",
                            params![src.0, new_id],
                        )?;
                    }
                } else {
                    let children: Vec<(i64, String)> = {
                        let mut st = tx.prepare(
                            "SELECT id, name FROM mailboxes WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '/'",
                        )?;
                        let rows = st.query_map([&from], |r| Ok((r.get(0)?, r.get(1)?)))?;
                        rows.collect::<rusqlite::Result<_>>()?
                    };
                    for (id, name) in children {
                        let new_name = format!("{to}{}", &name[from.len()..]);
                        tx.execute("UPDATE mailboxes SET name = ?2 WHERE id = ?1", params![id, new_name])?;
                    }
                }
                tx.commit()?;
                Ok(expunged)
            })
            .await?;
        changes.extend(expunged);
        self.announce(changes);
        Ok(())
    }

    /// Raises UIDNEXT/HIGHESTMODSEQ, sets the special-use role, or replaces the
    /// UIDVALIDITY of an empty mailbox (the copy carries legacy values over).
    pub async fn update_mailbox(
        &self,
        id: i64,
        uidvalidity: Option<u32>,
        uidnext_at_least: Option<u32>,
        highestmodseq_at_least: Option<u64>,
        special_use: Option<Option<String>>,
    ) -> Result<MailboxInfo> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                if let Some(v) = uidvalidity {
                    let (count, current): (i64, i64) = tx.query_row(
                        "SELECT (SELECT count(*) FROM messages WHERE mailbox_id = ?1), uidvalidity FROM mailboxes WHERE id = ?1",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    if current as u32 != v {
                        if count > 0 || v == 0 {
                            return Err(StoreError::Invalid(
                                "UIDVALIDITY can only be replaced on an empty mailbox".into(),
                            ));
                        }
                        tx.execute(
                            "UPDATE mailboxes SET uidvalidity = ?2, uidnext = 1 WHERE id = ?1",
                            params![id, v as i64],
                        )?;
                        tx.execute("DELETE FROM expunged WHERE mailbox_id = ?1", [id])?;
                    }
                }
                if let Some(n) = uidnext_at_least {
                    tx.execute(
                        "UPDATE mailboxes SET uidnext = max(uidnext, ?2) WHERE id = ?1",
                        params![id, n as i64],
                    )?;
                }
                if let Some(m) = highestmodseq_at_least {
                    tx.execute(
                        "UPDATE mailboxes SET highestmodseq = max(highestmodseq, ?2) WHERE id = ?1",
                        params![id, m.min(i64::MAX as u64) as i64],
                    )?;
                }
                if let Some(s) = special_use {
                    tx.execute("UPDATE mailboxes SET special_use = ?2 WHERE id = ?1", params![id, s])?;
                }
                let info = tx
                    .query_row(
                        &format!("SELECT {MBX_COLUMNS} FROM mailboxes m WHERE m.id = ?1"),
                        [id],
                        mbx_from_row,
                    )
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("mailbox {id}")))?;
                tx.commit()?;
                Ok(info)
            })
            .await
    }

    pub async fn subscriptions(&self) -> Result<Vec<String>> {
        self.db
            .call(|c| {
                let mut st = c.prepare("SELECT name FROM subscriptions ORDER BY name")?;
                let rows = st.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    pub async fn set_subscribed(&self, name: &str, subscribed: bool) -> Result<()> {
        let name = normalize_name(name);
        check_name(&name)?;
        self.db
            .call(move |c| {
                if subscribed {
                    c.execute(
                        "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)",
                        [name],
                    )?;
                } else {
                    c.execute("DELETE FROM subscriptions WHERE name = ?1", [name])?;
                }
                Ok(())
            })
            .await
    }
}
