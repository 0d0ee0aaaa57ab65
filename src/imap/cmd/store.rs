//! STORE and UID STORE, with CONDSTORE UNCHANGEDSINCE. State: selected.
//! RFC 3501 §6.4.6, RFC 7162 §3.1.3.

use crate::imap::proto::{SeqSet, StoreOp};
use crate::imap::session::{store_error, Done, Session, State};
use crate::imap::write;
use crate::store::{FlagOp, Flags};

impl Session {
    pub(crate) async fn cmd_store(
        &mut self,
        uid: bool,
        set: SeqSet,
        op: StoreOp,
        silent: bool,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    ) -> Done {
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let condstore = self.condstore;
        let State::Selected(user, sel) = &mut self.state else {
            return Done::Bad("No mailbox selected".into());
        };
        if sel.read_only {
            return Done::No("[READ-ONLY] Mailbox is read-only".into());
        }
        let mut fl = Flags::new();
        for f in &flags {
            if f.eq_ignore_ascii_case("\\Recent") {
                continue;
            }
            if !fl.insert(f) {
                return Done::Bad(format!("Invalid flag {f}"));
            }
        }
        let msgs = match sel.resolve(&set, uid) {
            Ok(m) => m,
            Err(e) => return Done::Bad(e),
        };
        let op = match op {
            StoreOp::Add => FlagOp::Add,
            StoreOp::Remove => FlagOp::Remove,
            StoreOp::Replace => FlagOp::Replace,
        };
        let uids: Vec<u32> = msgs.iter().map(|m| m.1).collect();
        let res = match user
            .ms
            .store_flags(sel.mailbox_id, uids, op, fl, unchanged_since)
            .await
        {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        let mut out = String::new();
        for m in &res.messages {
            if res.modified.contains(&m.uid) {
                continue;
            }
            let Some(seq) = sel.seq_of(m.uid) else {
                continue;
            };
            sel.told(m.uid, m.modseq);
            if let Some(lines) = sel.new_keywords(&m.flags) {
                out.push_str(&lines);
            }
            let changed = res.changed.contains(&m.uid);
            if silent && !(condstore && changed) {
                continue;
            }
            out.push_str(&format!("* {seq} FETCH ("));
            let mut items = Vec::new();
            if !silent {
                items.push(format!(
                    "FLAGS {}",
                    write::flags_recent(&m.flags, sel.recent.contains(&m.uid))
                ));
            }
            if uid || condstore {
                items.push(format!("UID {}", m.uid));
            }
            if condstore {
                items.push(format!("MODSEQ ({})", m.modseq));
            }
            out.push_str(&items.join(" "));
            out.push_str(")\r\n");
        }
        self.conn.write(out.as_bytes());
        if !res.modified.is_empty() {
            let ids: Vec<u32> = if uid {
                res.modified.clone()
            } else {
                res.modified.iter().filter_map(|u| sel.seq_of(*u)).collect()
            };
            return Done::Ok(format!(
                "[MODIFIED {}] Conditional STORE failed for some messages",
                write::uid_set(&ids)
            ));
        }
        Done::Ok("STORE completed".into())
    }
}
