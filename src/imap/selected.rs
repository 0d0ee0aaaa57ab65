//! The selected mailbox as one session sees it: its message sequence (numbers to
//! UIDs), the flags it last told the client, and the updates from the account's
//! change feed that it still owes the client (RFC 3501 §5.2, §7.4.1).

use std::collections::{BTreeSet, HashMap, HashSet};

use tokio::sync::broadcast::{self, error::TryRecvError};

use super::proto::{SeqBound, SeqSet};
use super::write;
use crate::store::flags::SYSTEM_FLAGS;
use crate::store::mailstore::View;
use crate::store::{Change, Flags, Mailstore, StoreError};

pub struct Selected {
    pub mailbox_id: i64,
    pub name: String,
    pub read_only: bool,
    /// UIDs in sequence order: message number n is `uids[n - 1]`. Ascending.
    pub uids: Vec<u32>,
    /// Messages whose flags this session told the client itself (FETCH,
    /// STORE) at a modseq above `modseq`, with that modseq: the next sync does
    /// not tell them again. Emptied as `modseq` passes them, so a session
    /// holds nothing per message but its UID.
    pub told: HashMap<u32, u64>,
    /// Every change up to this modseq has been taken into account.
    pub modseq: u64,
    /// UIDs expunged in the store that the client has not been told of yet.
    pub pending_expunge: Vec<u32>,
    /// The feed reported a change of this mailbox since the last sync.
    pub dirty: bool,
    /// The keywords the client was told of in `FLAGS` (at SELECT and since).
    pub keywords: BTreeSet<String>,
    /// Messages that are `\Recent` in this session (RFC 3501 §2.3.2: shown to
    /// no other session first).
    pub recent: HashSet<u32>,
    /// Keeps removed messages readable here until this session was told
    /// (`None` in unit tests).
    pub view: Option<View>,
    /// QRESYNC is on: expunges are told as VANISHED (RFC 7162 §3.2.10).
    pub qresync: bool,
}

/// `FLAGS` and `PERMANENTFLAGS` for the system flags and `keywords`.
pub fn flags_lines(keywords: &BTreeSet<String>, read_only: bool) -> String {
    let mut flags = SYSTEM_FLAGS.join(" ");
    for k in keywords {
        flags.push(' ');
        flags.push_str(k);
    }
    let permanent = if read_only {
        "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n".to_string()
    } else {
        format!("* OK [PERMANENTFLAGS ({flags} \\*)] Flags permitted\r\n")
    };
    format!("* FLAGS ({flags})\r\n{permanent}")
}

impl Selected {
    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// The messages a sequence set names, as (number, UID) in number order.
    /// Message numbers beyond the mailbox are an error (RFC 3501 §6.4.8 for UIDs:
    /// non-existent UIDs are ignored).
    pub fn resolve(&self, set: &SeqSet, uid: bool) -> Result<Vec<(u32, u32)>, String> {
        let n = self.uids.len();
        let mut idx: Vec<usize> = Vec::new();
        if uid {
            let max = self.uids.last().copied().unwrap_or(0);
            for (a, b) in &set.0 {
                let a = bound(*a, max);
                let b = bound(*b, max);
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let start = self.uids.partition_point(|&u| u < lo);
                let end = self.uids.partition_point(|&u| u <= hi);
                idx.extend(start..end);
            }
        } else {
            let max = n as u32;
            for (a, b) in &set.0 {
                let star = matches!(a, SeqBound::Star) || matches!(b, SeqBound::Star);
                let a = bound(*a, max);
                let b = bound(*b, max);
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                // `n:*` beyond the end (or on an empty mailbox) is read as the
                // range it names, clipped; an explicit number beyond is an error.
                if hi > max && !star {
                    return Err("Invalid message sequence number".into());
                }
                let hi = hi.min(max);
                if lo == 0 {
                    continue;
                }
                idx.extend((lo as usize - 1)..(hi as usize));
            }
        }
        idx.sort_unstable();
        idx.dedup();
        Ok(idx
            .into_iter()
            .map(|i| (i as u32 + 1, self.uids[i]))
            .collect())
    }

    /// Takes in what the feed has delivered so far.
    pub fn drain(&mut self, rx: &mut broadcast::Receiver<Change>) {
        loop {
            match rx.try_recv() {
                Ok(c) => self.note(&c),
                Err(TryRecvError::Lagged(_)) => self.dirty = true,
                Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => return,
            }
        }
    }

    pub fn note(&mut self, c: &Change) {
        // `Mailboxes` too: the selected one may have been deleted.
        if matches!(c, Change::Mailboxes) || c.mailbox_id() == Some(self.mailbox_id) {
            self.dirty = true;
        }
    }

    /// A keyword of `flags` the client was not told of (RFC 3501 §7.2.6: the
    /// FLAGS list changed): the new `FLAGS`/`PERMANENTFLAGS` lines to send
    /// before the FETCH that shows it.
    pub fn new_keywords(&mut self, flags: &Flags) -> Option<String> {
        let mut new = false;
        for k in flags.keywords() {
            if !self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                self.keywords.insert(k.to_string());
                new = true;
            }
        }
        new.then(|| flags_lines(&self.keywords, self.read_only))
    }

    /// Remembers that the session itself told the client the flags of `uid`
    /// as of `modseq`.
    pub fn told(&mut self, uid: u32, modseq: u64) {
        if modseq > self.modseq && self.uids.binary_search(&uid).is_ok() {
            let t = self.told.entry(uid).or_insert(0);
            *t = (*t).max(modseq);
        }
    }

    /// Removes a message from the view; returns its former number.
    pub fn remove(&mut self, uid: u32) -> Option<u32> {
        let i = self.uids.binary_search(&uid).ok()?;
        self.uids.remove(i);
        self.told.remove(&uid);
        self.recent.remove(&uid);
        self.pending_expunge.retain(|&u| u != uid);
        if let Some(v) = &self.view {
            v.told_expunged(uid);
        }
        Some(i as u32 + 1)
    }

    /// Removes `uids` from the view and says so: `* n EXPUNGE` for each,
    /// highest first, or one `* VANISHED uid-set` once QRESYNC is on.
    pub fn expunged(&mut self, mut uids: Vec<u32>) -> Vec<u8> {
        let mut out = Vec::new();
        uids.sort_unstable_by(|a, b| b.cmp(a));
        let mut gone = Vec::new();
        for uid in uids {
            if let Some(seq) = self.remove(uid) {
                if self.qresync {
                    gone.push(uid);
                } else {
                    out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
                }
            }
        }
        if !gone.is_empty() {
            gone.reverse();
            out.extend_from_slice(format!("* VANISHED {}\r\n", write::uid_list(&gone)).as_bytes());
        }
        out
    }

    /// Brings the view up to date and writes the untagged responses that say so
    /// into `out`: FETCH for flag changes, EXISTS for new messages and, when
    /// `allow_expunge`, EXPUNGE for removed ones (otherwise they wait).
    pub async fn sync(
        &mut self,
        ms: &Mailstore,
        out: &mut Vec<u8>,
        allow_expunge: bool,
        condstore: bool,
    ) -> Result<(), StoreError> {
        if self.dirty {
            self.dirty = false;
            let changes = ms.changes_since(self.mailbox_id, self.modseq).await?;
            for uid in changes.expunged {
                if self.uids.binary_search(&uid).is_err() {
                    // Never shown here: nothing to tell, nothing to keep.
                    if let Some(v) = &self.view {
                        v.told_expunged(uid);
                    }
                } else if !self.pending_expunge.contains(&uid) {
                    self.pending_expunge.push(uid);
                }
            }
            let last = self.uids.last().copied().unwrap_or(0);
            let mut added = false;
            // Shown before this sync (sorted; new ones are pushed after).
            let shown = self.uids.len();
            for m in changes.changed {
                if let Ok(i) = self.uids[..shown].binary_search(&m.uid) {
                    // Changed since the last sync; unless told already.
                    if self.told.get(&m.uid).is_some_and(|&t| t >= m.modseq) {
                        continue;
                    }
                    if let Some(lines) = self.new_keywords(&m.flags) {
                        out.extend_from_slice(lines.as_bytes());
                    }
                    let mut line = format!(
                        "* {} FETCH (UID {} FLAGS {}",
                        i + 1,
                        m.uid,
                        write::flags_recent(&m.flags, self.recent.contains(&m.uid))
                    );
                    if condstore {
                        line.push_str(&format!(" MODSEQ ({})", m.modseq));
                    }
                    line.push_str(")\r\n");
                    out.extend_from_slice(line.as_bytes());
                } else if m.uid > last {
                    if let Some(lines) = self.new_keywords(&m.flags) {
                        out.extend_from_slice(lines.as_bytes());
                    }
                    self.uids.push(m.uid);
                    added = true;
                } else {
                    // A UID below ones already shown (the migration copy keeps legacy
                    // UIDs): numbers must stay ascending, so it shows at the next
                    // SELECT. See docs/quirks.md.
                    tracing::debug!(
                        uid = m.uid,
                        "message below the highest UID shown; visible after reselect"
                    );
                }
            }
            self.uids.sort_unstable();
            if added {
                out.extend_from_slice(format!("* {} EXISTS\r\n", self.uids.len()).as_bytes());
                // The new messages are recent here unless another session saw
                // them first (read-only sessions take none).
                let upto = self.uids.last().map_or(1, |u| u.saturating_add(1));
                let first = match ms
                    .claim_recent(self.mailbox_id, upto, !self.read_only)
                    .await
                {
                    Ok(f) => f,
                    Err(e) => {
                        // A full disk: the new mail is shown, not as \Recent.
                        tracing::warn!(error = %e, "imap: cannot record \\Recent");
                        upto
                    }
                };
                let before = self.recent.len();
                for &u in self.uids.iter().rev() {
                    if u < first || u <= last {
                        break;
                    }
                    self.recent.insert(u);
                }
                if self.recent.len() != before {
                    out.extend_from_slice(format!("* {} RECENT\r\n", self.recent.len()).as_bytes());
                }
            }
            self.modseq = self.modseq.max(changes.highestmodseq);
            let upto = self.modseq;
            self.told.retain(|_, t| *t > upto);
            if self.told.is_empty() {
                self.told.shrink_to_fit();
            }
        }
        if allow_expunge && !self.pending_expunge.is_empty() {
            let gone = std::mem::take(&mut self.pending_expunge);
            out.extend_from_slice(&self.expunged(gone));
        }
        Ok(())
    }
}

fn bound(b: SeqBound, max: u32) -> u32 {
    match b {
        SeqBound::Num(n) => n,
        SeqBound::Star => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(uids: &[u32]) -> Selected {
        Selected {
            mailbox_id: 1,
            name: "INBOX".into(),
            read_only: false,
            uids: uids.to_vec(),
            told: HashMap::new(),
            modseq: 1,
            pending_expunge: vec![],
            dirty: false,
            keywords: BTreeSet::new(),
            recent: HashSet::new(),
            view: None,
            qresync: false,
        }
    }

    fn set(v: &[(SeqBound, SeqBound)]) -> SeqSet {
        SeqSet(v.to_vec())
    }

    #[test]
    fn resolve_sets() {
        use SeqBound::*;
        let s = sel(&[3, 5, 9, 12]);
        assert_eq!(
            s.resolve(&set(&[(Num(2), Star)]), false).unwrap(),
            vec![(2, 5), (3, 9), (4, 12)]
        );
        assert_eq!(
            s.resolve(&set(&[(Star, Num(3)), (Num(1), Num(1))]), false)
                .unwrap(),
            vec![(1, 3), (3, 9), (4, 12)]
        );
        assert!(s.resolve(&set(&[(Num(5), Num(5))]), false).is_err());
        assert_eq!(
            s.resolve(&set(&[(Num(6), Star)]), false).unwrap(),
            vec![(4, 12)]
        );
        assert_eq!(
            sel(&[]).resolve(&set(&[(Num(1), Star)]), false).unwrap(),
            vec![]
        );
        assert_eq!(
            s.resolve(&set(&[(Num(4), Num(9))]), true).unwrap(),
            vec![(2, 5), (3, 9)]
        );
        // 100:* includes the last UID even though 100 is above it (RFC 3501 §6.4.8).
        assert_eq!(
            s.resolve(&set(&[(Num(100), Star)]), true).unwrap(),
            vec![(4, 12)]
        );
        assert_eq!(
            sel(&[]).resolve(&set(&[(Num(1), Star)]), true).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_lagged_feed_marks_the_view_for_resync() {
        let (tx, mut rx) = broadcast::channel(2);
        let mut s = sel(&[1]);
        for uid in 0..10 {
            let _ = tx.send(Change::Added {
                mailbox_id: 99,
                uid,
                modseq: 1,
            });
        }
        s.drain(&mut rx);
        assert!(s.dirty, "Lagged must force a resync from the store");
        let mut s = sel(&[1]);
        let _ = tx.send(Change::Flags {
            mailbox_id: 99,
            uid: 1,
            modseq: 2,
        });
        s.drain(&mut rx);
        assert!(!s.dirty, "another mailbox's change is ignored");
        let _ = tx.send(Change::Expunged {
            mailbox_id: 1,
            uid: 1,
            modseq: 3,
        });
        s.drain(&mut rx);
        assert!(s.dirty);
    }
}
