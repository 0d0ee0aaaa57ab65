//! QUOTA (RFC 9208): one quota root per account, named "", with the
//! resources STORAGE (units of 1024 octets) and MESSAGE, from `[quota]`
//! (crate::config::quota). Limits are the administrator's: SETQUOTA is
//! refused. APPEND and COPY over the limit answer `NO [OVERQUOTA]`.

use crate::imap::session::{store_error, Done, Session};
use crate::imap::write;

impl Session {
    /// The `* QUOTA "" (...)` line of the user, or None when unlimited.
    async fn quota_line(&self) -> Result<Option<String>, Done> {
        let Some(u) = self.user() else {
            return Err(Done::Bad("Not authenticated".into()));
        };
        let quota = self.app.config().quota_for(&u.account.address);
        if quota.is_unlimited() {
            return Ok(None);
        }
        let (bytes, messages) = u.ms.usage().await.map_err(store_error)?;
        let mut res = Vec::new();
        if let Some(l) = quota.storage {
            res.push(format!("STORAGE {} {}", bytes.div_ceil(1024), l / 1024));
        }
        if let Some(l) = quota.messages {
            res.push(format!("MESSAGE {messages} {l}"));
        }
        Ok(Some(format!("QUOTA \"\" ({})", res.join(" "))))
    }

    /// GETQUOTA root.
    pub(crate) async fn cmd_getquota(&mut self, root: &str) -> Done {
        let line = match self.quota_line().await {
            Ok(l) => l,
            Err(done) => return done,
        };
        match line {
            Some(l) if root.is_empty() => {
                self.untagged(&l);
                Done::Ok("GETQUOTA completed".into())
            }
            _ => Done::No("[NONEXISTENT] No such quota root".into()),
        }
    }

    /// GETQUOTAROOT mailbox.
    pub(crate) async fn cmd_getquotaroot(&mut self, mailbox: &str) -> Done {
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        match u.ms.mailbox(mailbox).await {
            Ok(Some(_)) => {}
            Ok(None) => return Done::No("[NONEXISTENT] No such mailbox".into()),
            Err(e) => return store_error(e),
        }
        let line = match self.quota_line().await {
            Ok(l) => l,
            Err(done) => return done,
        };
        match line {
            Some(l) => {
                self.untagged(&format!("QUOTAROOT {} \"\"", write::mailbox(mailbox)));
                self.untagged(&l);
            }
            None => self.untagged(&format!("QUOTAROOT {}", write::mailbox(mailbox))),
        }
        Done::Ok("GETQUOTAROOT completed".into())
    }
}
