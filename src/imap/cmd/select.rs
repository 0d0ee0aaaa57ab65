//! SELECT, EXAMINE (RFC 3501 §6.3.1-2, RFC 7162 CONDSTORE parameter), CLOSE
//! (§6.4.2) and UNSELECT (RFC 3691). State: authenticated / selected.

use std::collections::BTreeSet;

use crate::imap::proto::Qresync;
use crate::imap::selected::{flags_lines, Selected};
use crate::imap::session::{store_error, Done, Session, State};
use crate::imap::write;

impl Session {
    pub(crate) async fn cmd_select(
        &mut self,
        name: String,
        read_only: bool,
        condstore: bool,
        qresync: Option<Qresync>,
    ) -> Done {
        if qresync.is_some() && !self.qresync {
            return Done::Bad("QRESYNC is not enabled (ENABLE QRESYNC first)".into());
        }
        // A SELECT, even a failing one, leaves the mailbox selected before.
        self.deselect();
        if condstore {
            self.condstore = true;
        }
        let user = match std::mem::replace(&mut self.state, State::Logout) {
            State::Authenticated(u) => u,
            other => {
                self.state = other;
                return Done::Bad("Not authenticated".into());
            }
        };
        let mut user = user;
        // Everything the feed said so far is covered by the fresh read below.
        use tokio::sync::broadcast::error::TryRecvError;
        while matches!(user.rx.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
        let info = match user.ms.mailbox(&name).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                self.state = State::Authenticated(user);
                return Done::No("[NONEXISTENT] No such mailbox".into());
            }
            Err(e) => {
                self.state = State::Authenticated(user);
                return store_error(e);
            }
        };
        // Open before the read: what is removed after it stays readable here
        // until this session is told.
        let view = user.ms.open_view(info.id);
        let messages = match user.ms.messages(info.id).await {
            Ok(m) => m,
            Err(e) => {
                self.state = State::Authenticated(user);
                return store_error(e);
            }
        };
        let mut keywords = BTreeSet::new();
        let mut first_unseen = None;
        for (i, m) in messages.iter().enumerate() {
            for k in m.flags.keywords() {
                keywords.insert(k.to_string());
            }
            if first_unseen.is_none() && !m.flags.contains("\\Seen") {
                first_unseen = Some(i + 1);
            }
        }
        let uids: Vec<u32> = messages.iter().map(|m| m.uid).collect();
        let uidnext = info
            .uidnext
            .max(uids.last().map(|u| u.saturating_add(1)).unwrap_or(1));
        let highest = messages
            .iter()
            .map(|m| m.modseq)
            .max()
            .unwrap_or(0)
            .max(info.highestmodseq);
        self.conn
            .write(flags_lines(&keywords, read_only).as_bytes());
        // \Recent: SELECT takes the messages no session was shown yet;
        // EXAMINE shows them as recent without taking them.
        // On a full disk the claim cannot be written: nothing is \Recent then,
        // and the mailbox still opens.
        let first_recent = match user.ms.claim_recent(info.id, uidnext, !read_only).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "imap: cannot record \\Recent; none shown");
                uidnext
            }
        };
        let recent: std::collections::HashSet<u32> = uids
            .iter()
            .copied()
            .filter(|&u| u >= first_recent)
            .collect();
        self.untagged(&format!("{} EXISTS", uids.len()));
        self.untagged(&format!("{} RECENT", recent.len()));
        if let Some(n) = first_unseen {
            self.untagged(&format!("OK [UNSEEN {n}] First unseen"));
        }
        self.untagged(&format!("OK [UIDVALIDITY {}] UIDs valid", info.uidvalidity));
        self.untagged(&format!("OK [UIDNEXT {uidnext}] Predicted next UID"));
        self.untagged(&format!("OK [HIGHESTMODSEQ {highest}] Highest"));
        // QRESYNC (RFC 7162 §3.2.5): what changed since the client's modseq,
        // when its UIDVALIDITY is still the mailbox's.
        if let Some(q) = qresync.filter(|q| q.uidvalidity == info.uidvalidity) {
            let max = uids.last().copied().unwrap_or(0);
            let known = |u: u32| q.known_uids.as_ref().is_none_or(|k| k.contains(u, max));
            let changes = match user.ms.changes_since(info.id, q.modseq).await {
                Ok(c) => c,
                Err(e) => {
                    self.state = State::Authenticated(user);
                    return store_error(e);
                }
            };
            let mut gone: Vec<u32> = changes.expunged.into_iter().filter(|&u| known(u)).collect();
            gone.sort_unstable();
            gone.dedup();
            if !gone.is_empty() {
                self.untagged(&format!("VANISHED (EARLIER) {}", write::uid_list(&gone)));
            }
            for (i, m) in messages.iter().enumerate() {
                if m.modseq > q.modseq && known(m.uid) {
                    self.untagged(&format!(
                        "{} FETCH (UID {} FLAGS {} MODSEQ ({}))",
                        i + 1,
                        m.uid,
                        write::flags_recent(&m.flags, recent.contains(&m.uid)),
                        m.modseq
                    ));
                }
            }
        }
        let sel = Selected {
            mailbox_id: info.id,
            name: info.name.clone(),
            read_only,
            told: Default::default(),
            uids,
            // Changes after the mailbox row was read are picked up at the next sync.
            modseq: info.highestmodseq,
            pending_expunge: vec![],
            dirty: true,
            keywords,
            recent,
            view: Some(view),
            qresync: self.qresync,
        };
        self.state = State::Selected(user, Box::new(sel));
        Done::Ok(format!(
            "[{}] {} completed",
            if read_only { "READ-ONLY" } else { "READ-WRITE" },
            if read_only { "EXAMINE" } else { "SELECT" }
        ))
    }

    /// CLOSE (`expunge`: removes `\Deleted` messages silently unless read-only) and
    /// UNSELECT.
    pub(crate) async fn cmd_close(&mut self, expunge: bool) -> Done {
        let Some(sel) = self.deselect() else {
            return Done::Bad("No mailbox selected".into());
        };
        if expunge && !sel.read_only {
            if let Some(u) = self.user() {
                if let Err(e) = u.ms.expunge(sel.mailbox_id, None).await {
                    return store_error(e);
                }
            }
        }
        Done::Ok(format!(
            "{} completed",
            if expunge { "CLOSE" } else { "UNSELECT" }
        ))
    }
}
