//! STATUS. State: authenticated. RFC 3501 §6.3.10, RFC 7162 HIGHESTMODSEQ,
//! STATUS=SIZE (RFC 8438); the same answer for LIST-STATUS (RFC 5819).

use crate::imap::proto::StatusItem;
use crate::imap::session::{store_error, Done, Session};
use crate::imap::write;
use crate::store::{MailboxInfo, Mailstore, StoreError};

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
        match status_line(&u.ms, &info, &items).await {
            Ok(line) => {
                self.untagged(&line);
                Done::Ok("STATUS completed".into())
            }
            Err(e) => store_error(e),
        }
    }
}

/// `STATUS "name" (MESSAGES 3 ...)` for `items`, in their order.
pub(crate) async fn status_line(
    ms: &Mailstore,
    info: &MailboxInfo,
    items: &[StatusItem],
) -> Result<String, StoreError> {
    let mut parts = Vec::new();
    for i in items {
        match i {
            StatusItem::Messages => parts.push(format!("MESSAGES {}", info.exists)),
            StatusItem::Recent => parts.push(format!("RECENT {}", ms.recent_count(info.id).await?)),
            StatusItem::UidNext => parts.push(format!("UIDNEXT {}", info.uidnext)),
            StatusItem::UidValidity => parts.push(format!("UIDVALIDITY {}", info.uidvalidity)),
            StatusItem::Unseen => parts.push(format!("UNSEEN {}", info.unseen)),
            StatusItem::HighestModSeq => {
                parts.push(format!("HIGHESTMODSEQ {}", info.highestmodseq))
            }
            StatusItem::Size => parts.push(format!("SIZE {}", ms.mailbox_size(info.id).await?)),
            StatusItem::Other => {}
        }
    }
    Ok(format!(
        "STATUS {} ({})",
        write::mailbox(&info.name),
        parts.join(" ")
    ))
}
