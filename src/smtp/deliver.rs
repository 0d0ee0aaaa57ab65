//! Delivery of an accepted message: into local INBOXes through the store's one
//! ingest path, and into the relay queue. Both are durable on return.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::HashSet;

use super::hop::Hop;
use super::queue;
use crate::app::App;
use crate::filter;
use crate::store::mailstore::{Mailstore, NewMailbox};
use crate::store::{Account, Flags, IngestSource, NewMessage, StoreError};

/// A message file being received, under `data_dir/spool/`; removed on drop.
pub struct Spool {
    pub path: PathBuf,
}

impl Spool {
    pub async fn create(data_dir: &Path) -> std::io::Result<(Spool, tokio::fs::File)> {
        crate::store::reserve::check_room(data_dir, data_dir)?;
        let dir = data_dir.join("spool");
        crate::store::create_private_dir(&dir)?;
        let path = dir.join(crate::store::blob::new_blob_id());
        let f = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await?;
        Ok((Spool { path }, f))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes spool files a crash left behind (never acknowledged).
pub fn clean_spool(data_dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(data_dir.join("spool")) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Delivers the durable file `path` to `account`, as its active Sieve script
/// says (`crate::filter`; without one: INBOX). `from`/`rcpt`: the envelope
/// (`from` empty for the null sender). Every copy is stored in one
/// transaction and every redirect queued before this returns.
pub async fn deliver_local(
    app: &Arc<App>,
    account: &Account,
    path: &Path,
    from: &str,
    rcpt: &str,
) -> Result<(), StoreError> {
    let ms = app.store.mailstore_or_create(account.id).await?;
    let config = app.config();
    let plan = filter_plan(app, &ms, account, path, from, rcpt).await?;
    let mut plan_error = plan.error.clone();
    let mut targets = plan.targets;
    // Redirects first: one that cannot leave keeps the message here.
    let mut queued = false;
    if !plan.redirects.is_empty() {
        let domain = account.domain.clone();
        match super::aliases::forward_hop(&config, &domain) {
            Some(hop) => {
                let sender_addr = super::address::parse_address(from).ok();
                let sender = super::aliases::forward_sender(&config, sender_addr.as_ref(), &domain)
                    .map_err(StoreError::Io)?;
                // The copy that leaves carries this account's mark (loops).
                let marked = marked_copy(&config.data_dir, path, &account.address).await?;
                for to in &plan.redirects {
                    enqueue(app, &marked.path, &sender, to, &hop, None).await?;
                    tracing::info!(user = %account.address, to = %to, "sieve: redirected");
                    queued = true;
                }
            }
            None => {
                plan_error = Some("redirect: no way out (no relay_host, no legacy SMTP server); the message is kept in INBOX".into());
                if !targets.iter().any(|t| t.mailbox == "INBOX") {
                    targets.push(filter::Target {
                        mailbox: "INBOX".into(),
                        flags: vec![],
                        create: false,
                    });
                }
            }
        }
    }
    let mut items = Vec::new();
    if !targets.is_empty() {
        let blob = ms.stage_file(path).await?;
        for t in &targets {
            let (mailbox_id, err) = target_mailbox(&ms, t).await?;
            if let Some(e) = err {
                plan_error = Some(e);
            }
            if items
                .iter()
                .any(|m: &NewMessage| m.mailbox_id == mailbox_id)
            {
                continue;
            }
            items.push(NewMessage {
                mailbox_id,
                uid: None,
                flags: Flags::from_names(t.flags.iter()),
                internaldate: crate::store::now(),
                tz_minutes: 0,
                blob: blob.clone(),
                legacy: None,
                legacy_uidl: None,
            });
        }
    }
    if !items.is_empty() {
        ms.ingest(IngestSource::Smtp, items).await?;
        super::quota_warn::after_delivery(app, account, &ms).await;
    }
    if let Some(reason) = &plan.reject {
        if from.is_empty() {
            tracing::info!(user = %account.address, "sieve: rejected a message with a null sender (no notice)");
        } else {
            let notice = filter::replies::reject_notice(
                &read_head(path).await,
                from,
                &account.address,
                reason,
                &config.hostname,
                crate::store::now(),
            );
            match send_reply(app, &account.domain, from, &notice).await {
                Ok(true) => {
                    tracing::info!(user = %account.address, to = %from, "sieve: rejected; notice queued");
                    queued = true;
                }
                Ok(false) => {
                    plan_error = Some(
                        "reject: no way out for the notice (no relay_host, no legacy SMTP server)"
                            .into(),
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }
    if let Some(v) = &plan.vacation {
        match vacation(app, account, path, from, v).await? {
            Ok(()) => queued = true,
            Err(why) => {
                tracing::debug!(user = %account.address, to = %from, why, "sieve: no vacation reply")
            }
        }
    }
    if let Some(e) = &plan_error {
        tracing::warn!(user = %account.address, error = %e, "sieve: the message is kept in INBOX");
        let scripts = filter::Scripts::of(&config.data_dir, account.id);
        let e = e.clone();
        let _ = tokio::task::spawn_blocking(move || scripts.record_error(Some(&e))).await;
    }
    if queued {
        super::queue::wake(&config.data_dir);
    }
    app.metrics
        .messages_delivered
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Sends the vacation reply `v` to the sender of the message in `path`
/// when RFC 5230/3834 allow and it was not sent to them within its period.
/// `Ok(Err(why))`: none sent.
async fn vacation(
    app: &Arc<App>,
    account: &Account,
    path: &Path,
    from: &str,
    v: &crate::sieve::Vacation,
) -> Result<Result<(), &'static str>, StoreError> {
    let config = app.config();
    let raw = read_head(path).await;
    if let Some(why) = filter::replies::refuse_reason(&raw, from, &account.address, v) {
        return Ok(Err(why));
    }
    let dir = config
        .data_dir
        .join("accounts")
        .join(account.id.to_string())
        .join("sieve");
    let (sender, handle, period, now) = (
        from.to_string(),
        filter::replies::handle(v),
        filter::replies::period_secs(v),
        crate::store::now(),
    );
    let due = tokio::task::spawn_blocking(move || {
        filter::replies::due(&dir, &sender, &handle, period, now)
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?;
    if !due {
        return Ok(Err("replied to this sender within the period"));
    }
    let reply =
        filter::replies::vacation_reply(&raw, from, &account.address, v, &config.hostname, now);
    if send_reply(app, &account.domain, from, &reply).await? {
        tracing::info!(user = %account.address, to = %from, "sieve: vacation reply queued");
        Ok(Ok(()))
    } else {
        Ok(Err("no way out (no relay_host, no legacy SMTP server)"))
    }
}

/// A spool copy of the message in `path` with a first header line
/// `X-Ferrymail-Redirected: user`, durable.
async fn marked_copy(data_dir: &Path, path: &Path, user: &str) -> Result<Spool, StoreError> {
    use tokio::io::AsyncWriteExt;
    let (spool, mut f) = Spool::create(data_dir).await?;
    f.write_all(format!("{}: {user}\r\n", filter::REDIRECT_MARK).as_bytes())
        .await?;
    let mut src = tokio::fs::File::open(path).await?;
    tokio::io::copy(&mut src, &mut f).await?;
    f.sync_all().await?;
    Ok(spool)
}

/// The message's header block (enough for replies; bounded).
async fn read_head(path: &Path) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    if let Ok(f) = tokio::fs::File::open(path).await {
        let _ = f.take(256 * 1024).read_to_end(&mut buf).await;
    }
    buf
}

/// Queues `message` from the null sender to `to` through the forward hop of
/// `domain`; false when there is none.
async fn send_reply(
    app: &Arc<App>,
    domain: &str,
    to: &str,
    message: &[u8],
) -> Result<bool, StoreError> {
    let config = app.config();
    let Some(hop) = super::aliases::forward_hop(&config, domain) else {
        return Ok(false);
    };
    let (spool, mut f) = Spool::create(&config.data_dir).await?;
    {
        use tokio::io::AsyncWriteExt;
        f.write_all(message).await?;
        f.sync_all().await?;
    }
    enqueue(app, &spool.path, "", to, &hop, None).await?;
    Ok(true)
}

/// The filter's plan for this delivery (INBOX when the account has no
/// active script).
async fn filter_plan(
    app: &Arc<App>,
    ms: &Mailstore,
    account: &Account,
    path: &Path,
    from: &str,
    rcpt: &str,
) -> Result<filter::Plan, StoreError> {
    let config = app.config();
    let scripts = filter::Scripts::of(&config.data_dir, account.id);
    // Most accounts have no script: one stat, no mailbox listing.
    if !scripts.has_active() {
        return Ok(filter::Plan::inbox());
    }
    let names: Vec<String> = ms.mailboxes().await?.into_iter().map(|m| m.name).collect();
    let separator: String = config
        .domain(&account.domain)
        .and_then(|d| d.addresses.delimiters.chars().next())
        .unwrap_or('+')
        .to_string();
    let hosted: HashSet<String> = config
        .domains
        .keys()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    let envelope = crate::sieve::Envelope {
        from: from.to_string(),
        to: rcpt.to_string(),
    };
    let path = path.to_path_buf();
    let user = account.address.clone();
    tokio::task::spawn_blocking(move || {
        let is_hosted = |a: &str| {
            a.rsplit_once('@')
                .is_some_and(|(_, d)| hosted.contains(&d.to_ascii_lowercase()))
        };
        filter::plan(
            &scripts, &user, &path, envelope, names, &is_hosted, &separator,
        )
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))
}

/// The mailbox a copy goes to: the named one, created when asked; INBOX
/// (with the reason) when it does not exist or cannot be created.
async fn target_mailbox(
    ms: &Mailstore,
    t: &filter::Target,
) -> Result<(i64, Option<String>), StoreError> {
    if let Some(m) = ms.mailbox(&t.mailbox).await? {
        return Ok((m.id, None));
    }
    let mut why = format!("fileinto: mailbox \"{}\" does not exist", t.mailbox);
    if t.create {
        match ms.create_mailbox(&t.mailbox, NewMailbox::default()).await {
            Ok(m) => return Ok((m.id, None)),
            // Created meanwhile by another delivery or session.
            Err(StoreError::AlreadyExists(_)) => {
                if let Some(m) = ms.mailbox(&t.mailbox).await? {
                    return Ok((m.id, None));
                }
            }
            Err(e) if e.is_disk_full() => return Err(e),
            Err(e) => why = format!("fileinto :create \"{}\": {e}", t.mailbox),
        }
    }
    let inbox = ms
        .mailbox("INBOX")
        .await?
        .ok_or_else(|| StoreError::NotFound("INBOX".into()))?;
    Ok((
        inbox.id,
        Some(format!("{why}; the message is kept in INBOX")),
    ))
}

/// Queues the durable file `path` for `rcpt` via `hop`.
pub async fn enqueue(
    app: &Arc<App>,
    path: &Path,
    from: &str,
    rcpt: &str,
    hop: &Hop,
    dsn_hop: Option<&Hop>,
) -> Result<String, StoreError> {
    let data_dir = app.config().data_dir.clone();
    let (path, from, rcpt, hop, dsn_hop) = (
        path.to_path_buf(),
        from.to_string(),
        rcpt.to_string(),
        hop.clone(),
        dsn_hop.cloned(),
    );
    tokio::task::spawn_blocking(move || {
        queue::enqueue(&data_dir, &path, &from, &rcpt, &hop, dsn_hop.as_ref())
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?
    .map_err(StoreError::Io)
}
