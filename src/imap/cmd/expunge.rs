//! EXPUNGE and UID EXPUNGE. State: selected. RFC 3501 §6.4.3, RFC 4315 §2.1.

use crate::imap::proto::SeqSet;
use crate::imap::session::{store_error, Done, Session, State};

impl Session {
    pub(crate) async fn cmd_expunge(&mut self, uids: Option<SeqSet>) -> Done {
        let State::Selected(user, sel) = &mut self.state else {
            return Done::Bad("No mailbox selected".into());
        };
        if sel.read_only {
            return Done::No("[READ-ONLY] Mailbox is read-only".into());
        }
        let only = match &uids {
            Some(set) => match sel.resolve(set, true) {
                Ok(v) => Some(v.into_iter().map(|(_, u)| u).collect::<Vec<_>>()),
                Err(e) => return Done::Bad(e),
            },
            None => None,
        };
        if only.as_ref().is_some_and(|v| v.is_empty()) {
            return Done::Ok("EXPUNGE completed".into());
        }
        let removed = match user.ms.expunge(sel.mailbox_id, only).await {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        let out = sel.expunged(removed);
        self.conn.write(&out);
        Done::Ok("EXPUNGE completed".into())
    }
}
