//! Row readers and transaction steps shared by several mail store operations.

use rusqlite::{params, OptionalExtension, Transaction};

use super::types::{MailboxInfo, MessageMeta, NewMailbox};
use crate::store::error::{Result, StoreError};
use crate::store::flags::Flags;
use crate::store::util::now;

pub(super) const MSG_COLUMNS: &str =
    "id, uid, blob, size, internaldate, tz_minutes, flags, modseq, legacy_uidl";

pub(super) fn msg_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageMeta> {
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

pub(super) const MBX_COLUMNS: &str = "m.id, m.name, m.uidvalidity, m.uidnext, m.highestmodseq, m.special_use,
     (SELECT count(*) FROM messages WHERE mailbox_id = m.id),
     (SELECT count(*) FROM messages WHERE mailbox_id = m.id AND ' ' || flags || ' ' NOT LIKE '% \\Seen %')";

pub(super) fn mbx_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxInfo> {
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

pub(super) fn insert_mailbox(tx: &Transaction<'_>, name: &str, opts: &NewMailbox) -> Result<i64> {
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
pub(super) fn bump_modseq(tx: &Transaction<'_>, mailbox_id: i64) -> Result<u64> {
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

/// Blob names among `blobs` no longer referenced by any message; their
/// header cache rows are removed in the same transaction.
pub(super) fn unreferenced(tx: &Transaction<'_>, blobs: &[String]) -> Result<Vec<String>> {
    let mut st = tx.prepare_cached("SELECT 1 FROM messages WHERE blob = ?1 LIMIT 1")?;
    let mut out = Vec::new();
    for b in blobs {
        if !st.exists([b])? {
            out.push(b.clone());
        }
    }
    let mut forget = tx.prepare_cached("DELETE FROM header_cache WHERE blob = ?1")?;
    for b in &out {
        forget.execute([b])?;
    }
    Ok(out)
}
