//! One account's mail: mailboxes, messages, flags, modseq, the legacy UID map, and
//! the change feed every session of the account listens to.
//!
//! All writers (SMTP delivery, APPEND, the migration copy) go through
//! [`Mailstore::ingest`]: message files are durable before the index row that points
//! at them is committed, and the commit is durable before `ingest` returns.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Transaction};
use tokio::sync::broadcast;

use super::blob::{self, BatchWrites, BlobWriter, Durability, StagedBlob};
use super::db::{Db, Migration};
use super::flags::Flags;
use super::error::{Result, StoreError};
use super::util::{create_private_dir, now};

const SCHEMA: &[Migration] = &[r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    uidvalidity   INTEGER NOT NULL,
    uidnext       INTEGER NOT NULL,
    highestmodseq INTEGER NOT NULL,
    special_use   TEXT
);
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid          INTEGER NOT NULL,
    blob         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    internaldate INTEGER NOT NULL,
    tz_minutes   INTEGER NOT NULL DEFAULT 0,
    flags        TEXT NOT NULL DEFAULT '',
    modseq       INTEGER NOT NULL,
    legacy_uidl  TEXT,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob);
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
CREATE TABLE subscriptions (
    name TEXT PRIMARY KEY
);
CREATE TABLE legacy_map (
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    PRIMARY KEY (folder, uidvalidity, uid)
);
"#];

/// Where a message came from; logged, and kept for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestSource {
    Smtp,
    Append,
    Migration,
    Copy,
}

/// Options for a new mailbox. `None` means "choose": a fresh UIDVALIDITY, UIDNEXT 1,
/// HIGHESTMODSEQ 1.
#[derive(Debug, Clone, Default)]
pub struct NewMailbox {
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
    pub special_use: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: i64,
    /// UTF-8, `/` as hierarchy separator, `INBOX` for the inbox.
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub special_use: Option<String>,
    /// Number of messages.
    pub exists: u32,
    /// Number of messages without `\Seen`.
    pub unseen: u32,
}

/// The identity of a message on the legacy server, recorded with the copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegacyRef {
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// A message to commit with [`Mailstore::ingest`].
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub mailbox_id: i64,
    /// A UID chosen by the caller (the copy keeps legacy UIDs); `None`: UIDNEXT.
    pub uid: Option<u32>,
    pub flags: Flags,
    /// INTERNALDATE: seconds since the epoch and the zone offset in minutes.
    pub internaldate: i64,
    pub tz_minutes: i32,
    pub blob: StagedBlob,
    pub legacy: Option<LegacyRef>,
    pub legacy_uidl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub mailbox_id: i64,
    pub uid: u32,
    pub modseq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub id: i64,
    pub uid: u32,
    pub blob: String,
    pub size: u64,
    pub internaldate: i64,
    pub tz_minutes: i32,
    pub flags: Flags,
    pub modseq: u64,
    pub legacy_uidl: Option<String>,
}

/// What changed in a mailbox since a modseq.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Messages added or whose flags changed, by UID.
    pub changed: Vec<MessageMeta>,
    /// UIDs expunged.
    pub expunged: Vec<u32>,
    pub highestmodseq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// Result of [`Mailstore::store_flags`].
#[derive(Debug, Clone, Default)]
pub struct FlagsResult {
    /// Every message addressed that still exists, with its flags after the change.
    pub messages: Vec<MessageMeta>,
    /// UIDs whose flags really changed.
    pub changed: Vec<u32>,
    /// UIDs not changed because their modseq was above UNCHANGEDSINCE.
    pub modified: Vec<u32>,
}

/// An event of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added {
        mailbox_id: i64,
        uid: u32,
        modseq: u64,
    },
    Flags {
        mailbox_id: i64,
        uid: u32,
        modseq: u64,
    },
    Expunged {
        mailbox_id: i64,
        uid: u32,
        modseq: u64,
    },
    /// Mailboxes were created, deleted or renamed.
    Mailboxes,
}

impl Change {
    pub fn mailbox_id(&self) -> Option<i64> {
        match self {
            Change::Added { mailbox_id, .. }
            | Change::Flags { mailbox_id, .. }
            | Change::Expunged { mailbox_id, .. } => Some(*mailbox_id),
            Change::Mailboxes => None,
        }
    }
}

/// One account's mail store.
pub struct Mailstore {
    pub account_id: i64,
    dir: PathBuf,
    db: Db,
    feed: broadcast::Sender<Change>,
    writes: Arc<BatchWrites>,
}

impl std::fmt::Debug for Mailstore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailstore")
            .field("account_id", &self.account_id)
            .finish()
    }
}

const MSG_COLUMNS: &str =
    "id, uid, blob, size, internaldate, tz_minutes, flags, modseq, legacy_uidl";

fn msg_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageMeta> {
    let flags: String = r.get(6)?;
    Ok(MessageMeta {
        id: r.get(0)?,
        uid: r.get(1)?,
        blob: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        internaldate: r.get(4)?,
        tz_minutes: r.get(5)?,
        flags: Flags::parse(&flags),
        modseq: r.get::<_, i64>(7)? as u64,
        legacy_uidl: r.get(8)?,
    })
}

const MBX_COLUMNS: &str = "m.id, m.name, m.uidvalidity, m.uidnext, m.highestmodseq, m.special_use,
     (SELECT count(*) FROM messages WHERE mailbox_id = m.id),
     (SELECT count(*) FROM messages WHERE mailbox_id = m.id AND ' ' || flags || ' ' NOT LIKE '% \\Seen %')";

fn mbx_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxInfo> {
    Ok(MailboxInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        uidvalidity: r.get::<_, i64>(2)? as u32,
        uidnext: r.get::<_, i64>(3)? as u32,
        highestmodseq: r.get::<_, i64>(4)? as u64,
        special_use: r.get(5)?,
        exists: r.get::<_, i64>(6)? as u32,
        unseen: r.get::<_, i64>(7)? as u32,
    })
}

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

fn next_uidvalidity(tx: &Transaction<'_>) -> rusqlite::Result<u32> {
    let last: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_uidvalidity'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let last: u32 = last.and_then(|s| s.parse().ok()).unwrap_or(0);
    let t = (now().max(1) as u64).min(u32::MAX as u64 - 1) as u32;
    let v = t.max(last.saturating_add(1)).max(1);
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('last_uidvalidity', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [v.to_string()],
    )?;
    Ok(v)
}

fn insert_mailbox(tx: &Transaction<'_>, name: &str, opts: &NewMailbox) -> Result<i64> {
    let uidvalidity = match opts.uidvalidity {
        Some(v) if v > 0 => v,
        Some(_) => return Err(StoreError::Invalid("UIDVALIDITY must be non-zero".into())),
        None => next_uidvalidity(tx)?,
    };
    let n = tx.execute(
        "INSERT INTO mailboxes (name, uidvalidity, uidnext, highestmodseq, special_use)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO NOTHING",
        params![
            name,
            uidvalidity as i64,
            opts.uidnext.unwrap_or(1).max(1) as i64,
            opts.highestmodseq.unwrap_or(1).max(1) as i64,
            opts.special_use
        ],
    )?;
    if n == 0 {
        return Err(StoreError::AlreadyExists(format!("mailbox {name}")));
    }
    Ok(tx.last_insert_rowid())
}

/// Takes the next modseq of a mailbox and records it.
fn bump_modseq(tx: &Transaction<'_>, mailbox_id: i64) -> Result<u64> {
    let m: i64 = tx
        .query_row(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq",
            [mailbox_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))?;
    Ok(m as u64)
}

/// Blob names among `blobs` no longer referenced by any message.
fn unreferenced(tx: &Transaction<'_>, blobs: &[String]) -> Result<Vec<String>> {
    let mut st = tx.prepare_cached("SELECT 1 FROM messages WHERE blob = ?1 LIMIT 1")?;
    let mut out = Vec::new();
    for b in blobs {
        if !st.exists([b])? {
            out.push(b.clone());
        }
    }
    Ok(out)
}

impl Mailstore {
    /// Creates the directory layout and index of a new account, with `folders`.
    pub(crate) fn create(dir: &Path, folders: &[(&str, Option<&str>)]) -> Result<()> {
        create_private_dir(dir)?;
        create_private_dir(&dir.join("tmp"))?;
        for i in 0..=255u8 {
            create_private_dir(&dir.join("blobs").join(format!("{i:02x}")))?;
        }
        let db = Db::open(&dir.join("index.sqlite"), SCHEMA)?;
        db.call_blocking(|c| {
            let tx = c.transaction()?;
            for (name, special) in folders {
                insert_mailbox(
                    &tx,
                    name,
                    &NewMailbox {
                        special_use: special.map(str::to_string),
                        ..Default::default()
                    },
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)",
                    [name],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        blob::sync_dir(&dir.join("blobs"))?;
        blob::sync_dir(dir)?;
        if let Some(parent) = dir.parent() {
            blob::sync_dir(parent)?;
        }
        Ok(())
    }

    /// Opens an existing account's store, clearing what an earlier crash left behind:
    /// half-written files in `tmp/` and blobs that no committed message references.
    pub(crate) fn open(account_id: i64, dir: &Path) -> Result<Mailstore> {
        let db = Db::open(&dir.join("index.sqlite"), SCHEMA)?;
        if let Ok(entries) = std::fs::read_dir(dir.join("tmp")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let referenced: HashSet<String> = db.call_blocking(|c| {
            let mut st = c.prepare("SELECT DISTINCT blob FROM messages")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<HashSet<_>>>()?)
        })?;
        if let Ok(subdirs) = std::fs::read_dir(dir.join("blobs")) {
            for sub in subdirs.flatten() {
                let Ok(files) = std::fs::read_dir(sub.path()) else {
                    continue;
                };
                for f in files.flatten() {
                    let name = f.file_name().to_string_lossy().into_owned();
                    if !referenced.contains(&name) {
                        tracing::info!(account = account_id, blob = %name, "removing unreferenced message file left by an interrupted write");
                        let _ = std::fs::remove_file(f.path());
                    }
                }
            }
        }
        let (feed, _) = broadcast::channel(4096);
        Ok(Mailstore {
            account_id,
            dir: dir.to_path_buf(),
            db,
            feed,
            writes: Arc::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Listens to every change made to this account from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    fn announce(&self, changes: Vec<Change>) {
        for c in changes {
            // No subscriber is not an error.
            let _ = self.feed.send(c);
        }
    }

    // ----- mailboxes -----

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

    // ----- messages -----

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
                    for m in &items {
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
        let dir = self.dir.clone();
        let (removed, modseq) = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let victims = remove_in_tx(&tx, mailbox_id, uids, only_deleted)?;
                let (removed, modseq, gone) = victims;
                tx.commit()?;
                for b in gone {
                    let _ = std::fs::remove_file(blob::blob_path(&dir, &b));
                }
                Ok((removed, modseq))
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
                if remove_source && !pairs.is_empty() {
                    let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
                    let (_, m, _) = remove_in_tx(&tx, from, Some(src), false)?;
                    expunged_modseq = m;
                }
                tx.commit()?;
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

/// Deletes messages inside a transaction; returns (uids, modseq, blobs to unlink
/// after commit).
fn remove_in_tx(
    tx: &Transaction<'_>,
    mailbox_id: i64,
    uids: Option<Vec<u32>>,
    only_deleted: bool,
) -> Result<(Vec<u32>, u64, Vec<String>)> {
    let candidates: Vec<(i64, u32, String, String)> = {
        let mut st = tx.prepare_cached(
            "SELECT id, uid, blob, flags FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
        )?;
        let rows = st.query_map([mailbox_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let wanted: Option<HashSet<u32>> = uids.map(|u| u.into_iter().collect());
    let victims: Vec<(i64, u32, String)> = candidates
        .into_iter()
        .filter(|(_, uid, _, flags)| {
            wanted.as_ref().is_none_or(|w| w.contains(uid))
                && (!only_deleted || Flags::parse(flags).contains("\\Deleted"))
        })
        .map(|(id, uid, blob, _)| (id, uid, blob))
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
        for (id, uid, blob) in &victims {
            del.execute([id])?;
            tomb.execute(params![mailbox_id, uid, modseq as i64])?;
            blobs.push(blob.clone());
        }
    }
    let gone = unreferenced(tx, &blobs)?;
    Ok((victims.iter().map(|v| v.1).collect(), modseq, gone))
}
