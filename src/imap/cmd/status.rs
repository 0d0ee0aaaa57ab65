//! STATUS. State: authenticated. RFC 3501 §6.3.10, RFC 7162 HIGHESTMODSEQ.

use crate::imap::proto::StatusItem;
use crate::imap::session::{store_error, Done, Session};
use crate::imap::write;

impl Session {
    pub(crate) async fn cmd_status(&mut self, name: String, items: Vec<StatusItem>) -> Done {
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        let info = match u.ms.mailbox(&name).await {
            Ok(Some(i)) => i,
            Ok(None) => return Done::No("[NONEXISTENT] No such mailbox".into()),
            Err(e) => return store_error(e),
        };
        let mut parts = Vec::new();
        for i in items {
            match i {
                StatusItem::Messages => parts.push(format!("MESSAGES {}", info.exists)),
                StatusItem::Recent => match u.ms.recent_count(info.id).await {
                    Ok(n) => parts.push(format!("RECENT {n}")),
                    Err(e) => return store_error(e),
                },
                StatusItem::UidNext => parts.push(format!("UIDNEXT {}", info.uidnext)),
                StatusItem::UidValidity => parts.push(format!("UIDVALIDITY {}", info.uidvalidity)),
                StatusItem::Unseen => parts.push(format!("UNSEEN {}", info.unseen)),
                StatusItem::HighestModSeq => {
                    parts.push(format!("HIGHESTMODSEQ {}", info.highestmodseq))
                }
                StatusItem::Other => {}
            }
        }
        self.untagged(&format!(
            "STATUS {} ({})",
            write::mailbox(&info.name),
            parts.join(" ")
        ));
        Done::Ok("STATUS completed".into())
    }
}
