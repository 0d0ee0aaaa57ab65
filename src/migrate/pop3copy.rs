//! POP3 and the move (DESIGN §3): the copy from a POP3-only legacy server
//! (`[migration] source = "pop3"`), and carrying the legacy POP3 UIDLs over for
//! an IMAP-source domain that has `[migration.pop3]`.
//!
//! POP3 source, per pass: `UIDL` and `LIST`, then one `RETR` per message not yet
//! copied, streamed into a message file; batches committed as the IMAP copy does
//! ([`super::copy`]). `DELE` is never sent. Each copied message records its
//! UIDL twice: as the message's legacy UIDL (served verbatim by POP3) and in
//! `legacy_map` under the key `pop3-uidl:<uidl>` (UIDVALIDITY 0, UID 0), which
//! outlives a local deletion, so no pass brings a message back or copies it
//! twice. Local UIDs are given in legacy message-number order, so POP3 numbers
//! in ferrymail follow the legacy order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::copy::{self, Committer, Mode, PassReport};
use super::error::MigrateError;
use super::progress::{Progress, Size};
use crate::config::Endpoint;
use crate::legacy::pop3::{self, RetrInto};
use crate::legacy::{LegacyError, Login, Result};
use crate::server::Conn;
use crate::store::blob::Durability;
use crate::store::mailstore::LegacyRef;
use crate::store::{Flags, MailboxInfo, Mailstore, NewMailbox, NewMessage};

/// Folder-key prefix of the copied UIDLs in `legacy_map`.
pub const UIDL_KEY: &str = "pop3-uidl:";

/// One message of the legacy maildrop.
#[derive(Debug, Clone)]
struct LegacyMsg {
    n: u32,
    uidl: String,
    size: u64,
}

/// `UIDL` + `LIST` of the legacy session, in message-number order. A UIDL that
/// appears twice (a broken server) is kept for its first message only.
async fn maildrop(conn: &mut Conn) -> Result<Vec<LegacyMsg>> {
    let mut uidls = pop3::uidl_list(conn).await?;
    let sizes: HashMap<u32, u64> = pop3::list(conn).await?.into_iter().collect();
    uidls.sort_by_key(|e| e.0);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(uidls.len());
    for (n, uidl) in uidls {
        if !seen.insert(uidl.clone()) {
            tracing::warn!(uidl = %uidl, "the legacy POP3 server lists this UIDL twice; the second message is skipped");
            continue;
        }
        let Some(&size) = sizes.get(&n) else {
            return Err(LegacyError::Protocol(format!(
                "message {n} is in UIDL but not in LIST"
            )));
        };
        out.push(LegacyMsg { n, uidl, size });
    }
    Ok(out)
}

async fn inbox(ms: &Mailstore) -> Result<MailboxInfo> {
    Ok(match ms.mailbox("INBOX").await? {
        Some(m) => m,
        None => ms.create_mailbox("INBOX", NewMailbox::default()).await?,
    })
}

/// INTERNALDATE of a message taken over POP3: the date of the most recent
/// Received field (the topmost: the final delivery), else the Date field, else
/// now.
pub fn internaldate(head: &[u8]) -> (i64, i32) {
    let head = &head[..crate::message::header_end(head)];
    let mut received: Option<Vec<u8>> = None;
    let mut date: Option<Vec<u8>> = None;
    // Unfolded fields.
    let mut fields: Vec<Vec<u8>> = Vec::new();
    for line in head.split_inclusive(|&b| b == b'\n') {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(last) = fields.last_mut() {
                last.extend_from_slice(line);
            }
        } else {
            fields.push(line.to_vec());
        }
    }
    for f in fields {
        let Some(colon) = f.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&f[..colon], &f[colon + 1..]);
        if name.eq_ignore_ascii_case(b"received") && received.is_none() {
            if let Some(semi) = value.iter().rposition(|&b| b == b';') {
                received = Some(value[semi + 1..].to_vec());
            }
        } else if name.eq_ignore_ascii_case(b"date") {
            date = Some(value.to_vec());
        }
    }
    received
        .and_then(|v| crate::message::parse_date(&v))
        .or_else(|| date.and_then(|v| crate::message::parse_date(&v)))
        .unwrap_or((crate::store::now(), 0))
}

/// One pass over the legacy maildrop. `Mirror` (before the flip) also removes
/// local copies of messages deleted on the legacy side meanwhile (by a proxied
/// POP3 client); `CatchUp` (after) only adds. The maildrop's size for the
/// progress comes from the `UIDL` and `LIST` the pass reads anyway.
pub async fn pass(
    conn: &mut Conn,
    ms: &Arc<Mailstore>,
    mark_seen: bool,
    mode: Mode,
    progress: &Progress,
) -> Result<PassReport> {
    let legacy = maildrop(conn).await?;
    let size = Size {
        messages: legacy.len() as u64,
        bytes: Some(legacy.iter().map(|m| m.size).sum()),
    };
    progress.begin(Some(size)).await;
    let inbox = inbox(ms).await?;
    let copied = ms.legacy_keys(UIDL_KEY).await?;
    let mut report = PassReport {
        folders: 1,
        ..Default::default()
    };
    if mode == Mode::Mirror && !copied.is_empty() {
        let present: HashSet<&str> = legacy.iter().map(|m| m.uidl.as_str()).collect();
        let gone_ids: HashSet<i64> = copied
            .iter()
            .filter(|(uidl, _)| !present.contains(uidl.as_str()))
            .map(|(_, id)| *id)
            .collect();
        if !gone_ids.is_empty() {
            let uids: Vec<u32> = ms
                .messages(inbox.id)
                .await?
                .into_iter()
                .filter(|m| gone_ids.contains(&m.id))
                .map(|m| m.uid)
                .collect();
            if !uids.is_empty() {
                report.expunged += ms.remove(inbox.id, uids).await?.len() as u64;
            }
        }
    }
    let flags = if mark_seen {
        Flags::from_names(["\\Seen"])
    } else {
        Flags::default()
    };
    let mut committer = Committer::new(ms, progress);
    let fetched = fetch(conn, ms, &legacy, &copied, inbox.id, &flags, &mut committer).await;
    // Whatever happened, no commit may still run once the pass returns.
    let committed = committer.finish(&mut report).await;
    fetched?;
    committed?;
    Ok(report)
}

/// `RETR`s the messages not copied yet into message files and hands them to
/// the committer in batches (committed while the next messages are read).
async fn fetch(
    conn: &mut Conn,
    ms: &Mailstore,
    legacy: &[LegacyMsg],
    copied: &HashMap<String, i64>,
    inbox_id: i64,
    flags: &Flags,
    committer: &mut Committer,
) -> Result<()> {
    let delay = copy::test_delay();
    let mut batch = committer.batch();
    for m in legacy.iter().filter(|m| !copied.contains_key(&m.uidl)) {
        let mut w = ms.blob_writer().await?;
        let head = pop3::retr(conn, m.n, RetrInto::Blob(&mut w)).await?;
        let blob = w.finish(Durability::Batch).await?;
        let (internaldate, tz_minutes) = internaldate(&head);
        batch.push(NewMessage {
            mailbox_id: inbox_id,
            uid: None,
            flags: flags.clone(),
            internaldate,
            tz_minutes,
            blob,
            legacy: Some(LegacyRef {
                folder: format!("{UIDL_KEY}{}", m.uidl),
                uidvalidity: 0,
                uid: 0,
            }),
            legacy_uidl: Some(m.uidl.clone()),
        });
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if batch.full() {
            committer.submit(batch.take()).await?;
        }
    }
    committer.submit(batch.take()).await
}

/// The switch's check: the local INBOX holds exactly the legacy UIDL list, in
/// the legacy order (ascending local UIDs). [`MigrateError::Verification`]
/// carries the first difference.
pub async fn verify(conn: &mut Conn, ms: &Mailstore) -> std::result::Result<(), MigrateError> {
    let legacy = maildrop(conn).await?;
    let inbox = inbox(ms).await?;
    let local = ms.messages(inbox.id).await?;
    if local.len() != legacy.len() {
        return Err(MigrateError::Verification(format!(
            "INBOX: {} messages locally, {} on the legacy POP3 server",
            local.len(),
            legacy.len()
        )));
    }
    for (i, (l, r)) in local.iter().zip(&legacy).enumerate() {
        // Sizes are not compared: RFC 1939 lets LIST sizes be approximate.
        if l.legacy_uidl.as_deref() != Some(r.uidl.as_str()) {
            return Err(MigrateError::Verification(format!(
                "INBOX message {}: UIDL {:?} locally, {} on the legacy server",
                i + 1,
                l.legacy_uidl,
                r.uidl,
            )));
        }
    }
    Ok(())
}

// ----- legacy UIDLs for an IMAP-source domain -----

/// How the legacy UIDLs matched the copied INBOX.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UidlMatch {
    /// (local UID, legacy UIDL).
    pub pairs: Vec<(u32, String)>,
    /// Matched through the legacy IMAP UID the UIDL is derived from.
    pub by_uid: usize,
    /// Matched by size and SHA-256 of the message.
    pub by_content: usize,
    /// Legacy UIDLs with no copied message.
    pub unmatched: Vec<String>,
    /// POP3 order differs from the UID order of INBOX.
    pub order_differs: bool,
}

/// The ways legacy servers derive a POP3 UIDL from the IMAP UID (`%u`) and
/// UIDVALIDITY (`%v`) (Dovecot's `pop3_uidl_format` and its common settings).
#[derive(Debug, Clone, Copy)]
enum UidlFormat {
    /// `%08Xu%08Xv`
    HexUidValidity,
    /// `%08Xv%08Xu`
    HexValidityUid,
    /// `%v.%u`
    DecValidityDotUid,
    /// `%u.%v`
    DecUidDotValidity,
    /// `%u`
    DecUid,
}

impl UidlFormat {
    const ALL: [UidlFormat; 5] = [
        UidlFormat::HexUidValidity,
        UidlFormat::HexValidityUid,
        UidlFormat::DecValidityDotUid,
        UidlFormat::DecUidDotValidity,
        UidlFormat::DecUid,
    ];

    /// The UID in `uidl`, when `uidl` has this form for `uidvalidity`.
    fn uid(self, uidl: &str, uidvalidity: u32) -> Option<u32> {
        let hex = |s: &str| {
            (s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(s, 16).ok())
                .flatten()
        };
        let dec = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0'))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let uid = match self {
            UidlFormat::HexUidValidity | UidlFormat::HexValidityUid => {
                if uidl.len() != 16 || !uidl.is_ascii() {
                    return None;
                }
                let (a, b) = (hex(&uidl[..8])?, hex(&uidl[8..])?);
                let (uid, v) = match self {
                    UidlFormat::HexUidValidity => (a, b),
                    _ => (b, a),
                };
                (v == uidvalidity).then_some(uid)?
            }
            UidlFormat::DecValidityDotUid | UidlFormat::DecUidDotValidity => {
                let (a, b) = uidl.split_once('.')?;
                let (a, b) = (dec(a)?, dec(b)?);
                let (uid, v) = match self {
                    UidlFormat::DecValidityDotUid => (b, a),
                    _ => (a, b),
                };
                (v == uidvalidity).then_some(uid)?
            }
            UidlFormat::DecUid => dec(uidl)?,
        };
        (uid > 0).then_some(uid)
    }
}

/// The format every legacy UIDL follows, if one does. A format without the
/// UIDVALIDITY (`%u`) counts only when the UIDs also rise with the message
/// numbers, as the UIDs of one IMAP folder do.
fn uidl_format(legacy: &[LegacyMsg], uidvalidity: u32) -> Option<UidlFormat> {
    if legacy.is_empty() {
        return None;
    }
    UidlFormat::ALL.into_iter().find(|f| {
        let uids: Option<Vec<u32>> = legacy.iter().map(|m| f.uid(&m.uidl, uidvalidity)).collect();
        match (uids, f) {
            (None, _) => false,
            (Some(u), UidlFormat::DecUid) => u.windows(2).all(|w| w[0] < w[1]),
            (Some(_), _) => true,
        }
    })
}

async fn sha256_file(path: std::path::PathBuf) -> Result<[u8; 32]> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(&path)
        .await
        .map_err(|e| LegacyError::Store(e.into()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| LegacyError::Store(e.into()))?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

/// Matches each legacy UIDL (legacy order) to its copied INBOX message: by the
/// legacy IMAP UID when the legacy UIDLs are derived from it (and the sizes
/// agree), otherwise by content (size, then SHA-256 of the bytes, fetched with
/// `RETR` for the sizes a local candidate has). Identical messages are paired in
/// order. Nothing is invented: a UIDL without a match is returned as unmatched.
async fn match_uidls(conn: &mut Conn, ms: &Mailstore, inbox: &MailboxInfo) -> Result<UidlMatch> {
    let legacy = maildrop(conn).await?;
    let local = ms.messages(inbox.id).await?;
    let mut free: HashMap<u32, &crate::store::MessageMeta> = local
        .iter()
        .filter(|m| m.legacy_uidl.is_none())
        .map(|m| (m.uid, m))
        .collect();
    let already: HashSet<&str> = local
        .iter()
        .filter_map(|m| m.legacy_uidl.as_deref())
        .collect();
    let mut out = UidlMatch::default();
    let mut matched: Vec<(u32, u32)> = Vec::new(); // (POP3 number, local UID)
    let mut rest: Vec<&LegacyMsg> = Vec::new();
    let format = uidl_format(&legacy, inbox.uidvalidity);
    for m in &legacy {
        if already.contains(m.uidl.as_str()) {
            continue; // carried over by an earlier attempt
        }
        let uid = format
            .and_then(|f| f.uid(&m.uidl, inbox.uidvalidity))
            .filter(|u| free.get(u).is_some_and(|l| l.size == m.size));
        match uid {
            Some(uid) => {
                free.remove(&uid);
                out.pairs.push((uid, m.uidl.clone()));
                matched.push((m.n, uid));
                out.by_uid += 1;
            }
            None => rest.push(m),
        }
    }
    // By content, for what is left.
    let mut by_size: HashMap<u64, Vec<u32>> = HashMap::new();
    for l in free.values() {
        by_size.entry(l.size).or_default().push(l.uid);
    }
    for v in by_size.values_mut() {
        v.sort_unstable();
    }
    let mut local_hash: HashMap<u32, [u8; 32]> = HashMap::new();
    for m in rest {
        // Some servers give approximate LIST sizes: the size that counts is
        // that of the bytes RETR sends, fetched when any candidate is left.
        if by_size.values().all(|c| c.is_empty()) {
            out.unmatched.push(m.uidl.clone());
            continue;
        }
        let (mut h, mut size) = (Sha256::new(), 0u64);
        pop3::retr(conn, m.n, RetrInto::Hash(&mut h, &mut size)).await?;
        let theirs: [u8; 32] = h.finalize().into();
        let Some(cands) = by_size.get_mut(&size).filter(|c| !c.is_empty()) else {
            out.unmatched.push(m.uidl.clone());
            continue;
        };
        let mut found = None;
        for (i, uid) in cands.iter().enumerate() {
            let ours = match local_hash.get(uid) {
                Some(h) => *h,
                None => {
                    let Some(meta) = free.get(uid) else { continue };
                    let h = sha256_file(ms.blob_path(&meta.blob)).await?;
                    local_hash.insert(*uid, h);
                    h
                }
            };
            if ours == theirs {
                found = Some(i);
                break;
            }
        }
        match found {
            Some(i) => {
                let uid = cands.remove(i);
                out.pairs.push((uid, m.uidl.clone()));
                matched.push((m.n, uid));
                out.by_content += 1;
            }
            None => out.unmatched.push(m.uidl.clone()),
        }
    }
    matched.sort_unstable();
    out.order_differs = matched.windows(2).any(|w| w[0].1 > w[1].1);
    Ok(out)
}

/// Carries the legacy POP3 UIDLs of INBOX over during the switch of an
/// IMAP-source domain (DESIGN §3), so that "leave mail on server" POP3 clients
/// download nothing twice. Unmatched messages are logged and returned as a
/// note for the job's status; they get ferrymail's own UIDLs. A failure does
/// not stop the switch: it is logged and returned as the note.
pub(super) async fn carry_uidls(
    ep: &Endpoint,
    timeout: Duration,
    login: &Login,
    ms: &Mailstore,
    address: &str,
) -> Option<String> {
    let result = async {
        let inbox = ms
            .mailbox("INBOX")
            .await?
            .ok_or_else(|| LegacyError::Protocol("no local INBOX".into()))?;
        let mut conn = pop3::login(ep, timeout, login).await?;
        let r = match_uidls(&mut conn, ms, &inbox).await;
        pop3::quit(conn).await;
        let r = r?;
        let n = ms.set_legacy_uidls(inbox.id, r.pairs.clone()).await?;
        Ok::<(UidlMatch, usize), LegacyError>((r, n))
    }
    .await;
    match result {
        Ok((r, n)) => {
            tracing::info!(user = %address, uidls = n, by_uid = r.by_uid, by_content = r.by_content, unmatched = r.unmatched.len(), "legacy POP3 UIDLs carried over");
            if r.order_differs {
                tracing::warn!(user = %address, "the legacy POP3 order differs from the IMAP UID order of INBOX; ferrymail numbers POP3 messages in UID order");
            }
            if r.unmatched.is_empty() {
                return None;
            }
            let first: Vec<&str> = r.unmatched.iter().take(5).map(String::as_str).collect();
            tracing::warn!(user = %address, unmatched = r.unmatched.len(), first = ?first, "legacy POP3 UIDLs without a copied message: those messages get ferrymail's own UIDLs");
            Some(format!(
                "{} legacy POP3 UIDL(s) could not be matched to a copied message (first: {}); POP3 clients may download those again",
                r.unmatched.len(),
                first.join(", ")
            ))
        }
        Err(e) => {
            tracing::warn!(user = %address, error = %e, "legacy POP3 UIDLs not carried over; POP3 clients may download INBOX again");
            Some(format!("legacy POP3 UIDLs not carried over: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidl_formats() {
        assert_eq!(
            UidlFormat::HexUidValidity.uid("0000001a5f000001", 0x5f000001),
            Some(26)
        );
        assert_eq!(UidlFormat::HexUidValidity.uid("0000001a5f000001", 7), None);
        assert_eq!(
            UidlFormat::HexValidityUid.uid("5f0000010000001a", 0x5f000001),
            Some(26)
        );
        assert_eq!(UidlFormat::DecValidityDotUid.uid("77.12", 77), Some(12));
        assert_eq!(UidlFormat::DecUidDotValidity.uid("12.77", 77), Some(12));
        assert_eq!(UidlFormat::DecUid.uid("12", 77), Some(12));
        assert_eq!(UidlFormat::DecUid.uid("012", 77), None);
        assert_eq!(UidlFormat::DecUid.uid("abc", 77), None);
        let l = |v: &[&str]| -> Vec<LegacyMsg> {
            v.iter()
                .enumerate()
                .map(|(i, u)| LegacyMsg {
                    n: i as u32 + 1,
                    uidl: u.to_string(),
                    size: 1,
                })
                .collect()
        };
        assert!(matches!(
            uidl_format(&l(&["000000015f000001", "000000025f000001"]), 0x5f000001),
            Some(UidlFormat::HexUidValidity)
        ));
        // Decimal ids that do not rise are not taken for UIDs.
        assert!(uidl_format(&l(&["5", "3"]), 1).is_none());
        assert!(uidl_format(&l(&["<abc@x>"]), 1).is_none());
    }

    #[test]
    fn internaldate_from_headers() {
        let m = b"Received: from b by c; Tue, 24 Nov 2026 10:00:00 +0100\r\nReceived: from a by b;\r\n Mon, 23 Nov 2026 10:00:00 +0000\r\nDate: Sun, 1 Jan 2023 00:00:00 +0000\r\n\r\nbody\r\n";
        let (t, tz) = internaldate(m);
        assert_eq!(tz, 60);
        assert_eq!(t, 1_795_510_800);
        let (t, _) = internaldate(b"Date: Sun, 1 Jan 2023 00:00:00 +0000\r\n\r\nx");
        assert_eq!(t, 1672531200);
        let (t, _) = internaldate(b"Subject: none\r\n\r\n");
        assert!((t - crate::store::now()).abs() < 60);
    }
}
