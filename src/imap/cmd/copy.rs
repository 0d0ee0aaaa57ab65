//! COPY, MOVE and their UID forms. State: selected. RFC 3501 §6.4.7, RFC 6851,
//! COPYUID of RFC 4315.

use crate::imap::proto::SeqSet;
use crate::imap::session::{store_error, Done, Session, State};
use crate::imap::write;

impl Session {
    pub(crate) async fn cmd_copy(
        &mut self,
        uid: bool,
        set: SeqSet,
        mailbox: String,
        is_move: bool,
    ) -> Done {
        let verb = if is_move { "MOVE" } else { "COPY" };
        let State::Selected(user, sel) = &mut self.state else {
            return Done::Bad("No mailbox selected".into());
        };
        if is_move && sel.read_only {
            return Done::No("[READ-ONLY] Mailbox is read-only".into());
        }
        let msgs = match sel.resolve(&set, uid) {
            Ok(m) => m,
            Err(e) => return Done::Bad(e),
        };
        let dest = match user.ms.mailbox(&mailbox).await {
            Ok(Some(d)) => d,
            Ok(None) => return Done::No("[TRYCREATE] No such mailbox".into()),
            Err(e) => return store_error(e),
        };
        if msgs.is_empty() {
            return Done::Ok(format!("{verb} completed (no messages)"));
        }
        let uids: Vec<u32> = msgs.iter().map(|(_, u)| *u).collect();
        // COPY adds to what the account uses (MOVE within it does not).
        let quota = self.app.config().quota_for(&user.account.address);
        if !is_move && !quota.is_unlimited() {
            let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
            let sizes = user.ms.messages(sel.mailbox_id).await.map(|all| {
                all.iter()
                    .filter(|m| wanted.contains(&m.uid))
                    .map(|m| m.size)
                    .sum::<u64>()
            });
            match (sizes, user.ms.usage().await) {
                (Ok(bytes), Ok(used)) if !quota.allows(used, bytes, uids.len() as u64) => {
                    return Done::No(
                        "[OVERQUOTA] The mailbox is over its quota (see GETQUOTAROOT)".into(),
                    );
                }
                (Err(e), _) | (_, Err(e)) => return store_error(e),
                _ => {}
            }
        }
        // MOVE into the selected mailbox itself is allowed (RFC 6851 §3.3): the
        // messages get new UIDs at its end, the old ones are expunged.
        let pairs = if is_move {
            user.ms.move_messages(sel.mailbox_id, uids, dest.id).await
        } else {
            user.ms.copy(sel.mailbox_id, uids, dest.id).await
        };
        let pairs = match pairs {
            Ok(p) => p,
            Err(e) => return store_error(e),
        };
        if pairs.is_empty() {
            return Done::No("[EXPUNGEISSUED] The messages have been expunged".into());
        }
        let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let code = format!(
            "COPYUID {} {} {}",
            dest.uidvalidity,
            write::uid_list(&src),
            write::uid_list(&dst)
        );
        if is_move {
            self.conn
                .write(format!("* OK [{code}] Moved\r\n").as_bytes());
            let out = sel.expunged(src);
            self.conn.write(&out);
            Done::Ok("MOVE completed".into())
        } else {
            Done::Ok(format!("[{code}] COPY completed"))
        }
    }
}
