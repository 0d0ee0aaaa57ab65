//! The quota warning (issue 19 item 5): when a delivery takes an account to
//! 90% of a `[quota]` limit, one message tells the user, in their INBOX; the
//! marker `accounts/<id>/quota-warned` keeps it to one until the usage is
//! below 90% again (then the next crossing warns again).

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::App;
use crate::config::Quota;
use crate::store::mailstore::Mailstore;
use crate::store::{Account, Flags, IngestSource, NewMessage};

/// The share of a limit that warns, in percent.
pub const WARN_PERCENT: u64 = 90;

/// Whether `used` reaches [`WARN_PERCENT`] of a limit of `q`.
pub fn at_warning(q: &Quota, used: (u64, u64)) -> bool {
    let near =
        |used: u64, limit: u64| used.saturating_mul(100) >= limit.saturating_mul(WARN_PERCENT);
    q.storage.is_some_and(|l| near(used.0, l)) || q.messages.is_some_and(|l| near(used.1, l))
}

fn marker(app: &App, account: &Account) -> PathBuf {
    app.config()
        .data_dir
        .join("accounts")
        .join(account.id.to_string())
        .join("quota-warned")
}

/// After a delivery to `account`: warns once at 90%, re-arms below it. Best
/// effort: a failure is logged, the delivery stands.
pub async fn after_delivery(app: &Arc<App>, account: &Account, ms: &Mailstore) {
    let config = app.config();
    let quota = config.quota_for(&account.address);
    if quota.is_unlimited() {
        return;
    }
    let Ok(used) = ms.usage().await else {
        return;
    };
    let marker = marker(app, account);
    if !at_warning(&quota, used) {
        let _ = std::fs::remove_file(&marker);
        return;
    }
    if marker.exists() {
        return;
    }
    let text = warning_text(&config.hostname, &account.address, &quota, used);
    let r = async {
        let (spool, mut f) = super::deliver::Spool::create(&config.data_dir).await?;
        {
            use tokio::io::AsyncWriteExt;
            f.write_all(text.as_bytes()).await?;
            f.sync_all().await?;
        }
        let inbox = ms
            .mailbox("INBOX")
            .await?
            .ok_or_else(|| crate::store::StoreError::NotFound("INBOX".into()))?;
        let blob = ms.stage_file(&spool.path).await?;
        ms.ingest(
            IngestSource::Smtp,
            vec![NewMessage {
                mailbox_id: inbox.id,
                uid: None,
                flags: Flags::new(),
                internaldate: crate::store::now(),
                tz_minutes: 0,
                blob,
                legacy: None,
                legacy_uidl: None,
            }],
        )
        .await?;
        std::fs::write(&marker, b"")?;
        Ok::<(), crate::store::StoreError>(())
    };
    match r.await {
        Ok(()) => tracing::info!(user = %account.address, "quota warning delivered"),
        Err(e) => {
            tracing::warn!(user = %account.address, error = %e, "cannot deliver the quota warning")
        }
    }
}

fn warning_text(hostname: &str, address: &str, q: &Quota, used: (u64, u64)) -> String {
    let mut lines = Vec::new();
    if let Some(l) = q.storage {
        lines.push(format!(
            "Storage: {} MB of {} MB used.",
            used.0 / 1_000_000,
            l / 1_000_000
        ));
    }
    if let Some(l) = q.messages {
        lines.push(format!("Messages: {} of {l}.", used.1));
    }
    let date = chrono::Utc::now().to_rfc2822();
    format!(
        "From: Mail System <postmaster@{hostname}>\r\nTo: <{address}>\r\n\
         Subject: Your mailbox is almost full\r\nDate: {date}\r\n\
         Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Your mailbox has reached {WARN_PERCENT}% of its quota.\r\n\r\n{}\r\n\r\n\
         When it is full, new mail is held back by the sending servers and\r\n\
         saving messages fails. Delete or archive old mail to make room.\r\n",
        lines.join("\r\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninety_percent_of_either_limit_warns() {
        let q = Quota {
            storage: Some(1000),
            messages: Some(10),
        };
        assert!(!at_warning(&q, (899, 8)));
        assert!(at_warning(&q, (900, 0)));
        assert!(at_warning(&q, (0, 9)));
        assert!(!at_warning(&Quota::default(), (u64::MAX, u64::MAX)));
    }
}
