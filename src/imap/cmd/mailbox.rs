//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE. State: authenticated.
//! RFC 3501 §6.3.3-7.

use crate::imap::session::{store_error, Done, Session};
use crate::store::NewMailbox;

impl Session {
    /// CREATE. RFC 3501 §6.3.3: a trailing separator is dropped; parents are created.
    pub(crate) async fn cmd_create(&mut self, name: String) -> Done {
        let name = name.trim_end_matches('/').to_string();
        if name.eq_ignore_ascii_case("INBOX") {
            return Done::No("[ALREADYEXISTS] INBOX always exists".into());
        }
        if name.contains(['*', '%']) {
            return Done::No("[CANNOT] Mailbox names cannot contain * or %".into());
        }
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        match u.ms.create_mailbox(&name, NewMailbox::default()).await {
            Ok(_) => Done::Ok("CREATE completed".into()),
            Err(e) => store_error(e),
        }
    }

    /// DELETE. RFC 3501 §6.3.4. Child mailboxes stay (their parent then shows as
    /// `\Noselect`).
    pub(crate) async fn cmd_delete(&mut self, name: String) -> Done {
        if name.eq_ignore_ascii_case("INBOX") {
            return Done::No("[CANNOT] INBOX cannot be deleted".into());
        }
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        let ms = u.ms.clone();
        if let crate::imap::session::State::Selected(_, sel) = &self.state {
            if sel.name == crate::store::mailstore::normalize_name(&name) {
                self.deselect();
            }
        }
        match ms.delete_mailbox(&name).await {
            Ok(()) => Done::Ok("DELETE completed".into()),
            Err(e) => store_error(e),
        }
    }

    /// RENAME. RFC 3501 §6.3.5, INBOX included (its messages move, INBOX stays).
    pub(crate) async fn cmd_rename(&mut self, from: String, to: String) -> Done {
        let to = to.trim_end_matches('/').to_string();
        if to.contains(['*', '%']) {
            return Done::No("[CANNOT] Mailbox names cannot contain * or %".into());
        }
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        match u.ms.mailbox(&from).await {
            Ok(Some(_)) => {}
            Ok(None) => return Done::No("[NONEXISTENT] No such mailbox".into()),
            Err(e) => return store_error(e),
        }
        match u.ms.rename_mailbox(&from, &to).await {
            Ok(()) => Done::Ok("RENAME completed".into()),
            Err(e) => store_error(e),
        }
    }

    /// SUBSCRIBE / UNSUBSCRIBE. RFC 3501 §6.3.6-7.
    pub(crate) async fn cmd_subscribe(&mut self, name: String, on: bool) -> Done {
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        if on {
            match u.ms.mailbox(&name).await {
                Ok(Some(_)) => {}
                Ok(None) => return Done::No("[NONEXISTENT] No such mailbox".into()),
                Err(e) => return store_error(e),
            }
        }
        match u.ms.set_subscribed(&name, on).await {
            Ok(()) => Done::Ok(format!(
                "{} completed",
                if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" }
            )),
            Err(e) => store_error(e),
        }
    }
}
