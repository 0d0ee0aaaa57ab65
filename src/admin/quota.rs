//! An account's usage against its `[quota]`, for `status` (issue 19 item 5).

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::store::Account;

/// An account's usage against its limits (None: unlimited).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuotaUse {
    pub bytes: u64,
    pub messages: u64,
    pub storage_limit: Option<u64>,
    pub message_limit: Option<u64>,
    /// At or over a limit: mail arriving by SMTP is refused with 452, APPEND
    /// and COPY with NO [OVERQUOTA] (a migration copy never is).
    pub over: bool,
}

pub(super) async fn quota_use(app: &App, a: &Account) -> Option<QuotaUse> {
    let quota = app.config().quota_for(&a.address);
    if quota.is_unlimited() {
        return None;
    }
    let ms = app.store.mailstore(a.id).await.ok()?;
    let (bytes, messages) = ms.usage().await.ok()?;
    Some(QuotaUse {
        bytes,
        messages,
        storage_limit: quota.storage,
        message_limit: quota.messages,
        over: !quota.allows((bytes, messages), 1, 1),
    })
}
