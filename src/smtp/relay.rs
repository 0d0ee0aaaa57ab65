//! The runner of the relay queue (`queue.rs`): one task per daemon delivers due
//! entries with lettre, retries temporary failures with doubling delays
//! (`[smtp] retry_secs`, capped at an hour), and returns a DSN to the sender
//! after a permanent failure or after `[smtp] queue_lifetime_secs`.

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Semaphore;

use super::claim::{Claim, Loaded, Updated};
use super::dsn;
use super::hop::Hop;
use super::queue::{clean_orphans, dir, list, waker, Entry};
use crate::app::App;
use crate::store::now;

/// Deliveries running at once.
const CONCURRENCY: usize = 8;
/// Longest wait between two scans of the queue folder.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Longest delay between two attempts of one entry.
const MAX_BACKOFF_SECS: i64 = 3600;

/// Starts the queue runner of `app`; it ends on shutdown.
pub fn spawn(app: &Arc<App>) {
    let app = app.clone();
    let data_dir = app.config().data_dir.clone();
    let qdir = dir(&data_dir);
    if let Err(e) = crate::store::create_private_dir(&qdir) {
        tracing::error!(dir = %qdir.display(), error = %e, "cannot create the relay queue folder");
    }
    clean_orphans(&qdir);
    let notify = waker(&data_dir);
    let tasks = app.tasks.clone();
    tasks.spawn(async move {
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        loop {
            // A snapshot: by the time an attempt starts, its entry may have been
            // finished or rescheduled by an earlier attempt; `attempt` reads it
            // again after claiming it.
            let entries = {
                let d = data_dir.clone();
                tokio::task::spawn_blocking(move || list(&d))
                    .await
                    .unwrap_or_default()
            };
            let t = now();
            let mut sleep = MAX_SLEEP;
            for e in entries {
                if e.next_attempt > t {
                    sleep = sleep.min(Duration::from_secs((e.next_attempt - t) as u64));
                    continue;
                }
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    sleep = Duration::from_secs(1);
                    break;
                };
                // Held by the attempt until it is done with the files.
                let Some(claim) = Claim::try_take(&qdir, &e.id) else {
                    continue;
                };
                let app = app.clone();
                let notify = notify.clone();
                app.tasks.clone().spawn(async move {
                    attempt(&app, claim).await;
                    drop(permit);
                    notify.notify_one();
                });
            }
            tokio::select! {
                _ = app.shutdown.cancelled() => break,
                _ = notify.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    });
}

/// The lettre transport for a hop.
fn transport(hostname: &str, hop: &Hop) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(hop.host.clone())
        .port(hop.port)
        .timeout(Some(Duration::from_secs(120)))
        .hello_name(ClientId::Domain(hostname.to_string()));
    if hop.tls != "none" {
        let mut p = TlsParameters::builder(hop.host.clone())
            .dangerous_accept_invalid_certs(!hop.verify_certificate);
        if let Some(ca) = &hop.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            p = p.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| e.to_string())?);
        }
        let p = p.build_rustls().map_err(|e| e.to_string())?;
        b = b.tls(match hop.tls.as_str() {
            "implicit" => Tls::Wrapper(p),
            "starttls" => Tls::Required(p),
            _ => Tls::Opportunistic(p),
        });
    }
    Ok(b.build())
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    Temporary(String),
    Permanent(String),
    /// The message file disappeared under the attempt.
    MessageGone,
}

async fn send(app: &Arc<App>, e: &Entry, claim: &Claim) -> Outcome {
    let hostname = app.config().hostname.clone();
    let message = match tokio::fs::read(claim.message_path()).await {
        Ok(m) => m,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Outcome::MessageGone,
        Err(err) => return Outcome::Temporary(format!("cannot read the queued message: {err}")),
    };
    let from = if e.from.is_empty() {
        None
    } else {
        match e.from.parse::<lettre::Address>() {
            Ok(a) => Some(a),
            Err(err) => return Outcome::Permanent(format!("invalid sender <{}>: {err}", e.from)),
        }
    };
    let rcpt = match e.rcpt.parse::<lettre::Address>() {
        Ok(a) => a,
        Err(err) => return Outcome::Permanent(format!("invalid recipient <{}>: {err}", e.rcpt)),
    };
    let envelope = match lettre::address::Envelope::new(from, vec![rcpt]) {
        Ok(env) => env,
        Err(err) => return Outcome::Permanent(format!("invalid envelope: {err}")),
    };
    let t = match transport(&hostname, &e.hop) {
        Ok(t) => t,
        Err(err) => return Outcome::Temporary(err),
    };
    // lettre ends the data with CRLF . CRLF itself (and dot-stuffs the rest): give
    // it the message without its last CRLF so the bytes arrive unchanged.
    let body = message.strip_suffix(b"\r\n").unwrap_or(&message);
    match t.send_raw(&envelope, body).await {
        Ok(_) => Outcome::Delivered,
        Err(err) if err.is_permanent() => Outcome::Permanent(err.to_string()),
        Err(err) => Outcome::Temporary(err.to_string()),
    }
}

/// Runs blocking file work of the claim holder off the async threads.
async fn blocking<T: Send + 'static>(
    claim: &Claim,
    f: impl FnOnce(&Claim) -> T + Send + 'static,
) -> Option<T> {
    let c = claim.clone();
    tokio::task::spawn_blocking(move || f(&c)).await.ok()
}

/// One delivery attempt of the entry `claim` holds, with its bookkeeping.
async fn attempt(app: &Arc<App>, claim: Claim) {
    let config = app.config();
    let mut e = match blocking(&claim, Claim::load).await {
        Some(Loaded::Ready(e)) => e,
        Some(Loaded::Gone) => {
            tracing::debug!(id = %claim.id(), "queue entry already done");
            return;
        }
        Some(Loaded::NoMessage(e)) => return message_gone(&claim, &e).await,
        Some(Loaded::Unreadable(err)) => {
            tracing::error!(id = %claim.id(), error = %err, "unreadable queue entry left in place");
            return;
        }
        None => return,
    };
    if e.next_attempt > now() {
        // Rescheduled since the runner's scan.
        return;
    }
    // Shutdown stops the conversation with the next hop, never the bookkeeping
    // of an answer already received.
    let outcome = tokio::select! {
        o = send(app, &e, &claim) => o,
        _ = app.shutdown.cancelled() => return,
    };
    match outcome {
        Outcome::Delivered => {
            tracing::info!(id = %e.id, rcpt = %e.rcpt, hop = %e.hop, "relayed");
            app.metrics
                .messages_relayed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(Err(err)) = blocking(&claim, Claim::finish).await {
                tracing::error!(id = %e.id, error = %err, "relayed, but the queue entry cannot be removed; it will be sent again");
            }
        }
        Outcome::MessageGone => message_gone(&claim, &e).await,
        Outcome::Permanent(reason) => {
            tracing::warn!(id = %e.id, rcpt = %e.rcpt, hop = %e.hop, %reason, "permanent failure");
            fail(app, &claim, &e, &reason, "5.0.0").await;
        }
        Outcome::Temporary(reason) => {
            e.attempts += 1;
            let t = now();
            if t - e.created >= config.smtp.queue_lifetime_secs as i64 {
                tracing::warn!(id = %e.id, rcpt = %e.rcpt, %reason, "queue lifetime over; returning to sender");
                let r = format!("gave up after {} attempts: {reason}", e.attempts);
                fail(app, &claim, &e, &r, "4.4.7").await;
                return;
            }
            let base = config.smtp.retry_secs.max(1) as i64;
            let delay = (base << (e.attempts - 1).min(12)).min(MAX_BACKOFF_SECS.max(base));
            e.next_attempt = t + delay;
            tracing::info!(id = %e.id, rcpt = %e.rcpt, hop = %e.hop, %reason, retry_in = delay, "temporary failure");
            e.last_error = Some(reason);
            reschedule(&claim, e).await;
        }
    }
}

/// Writes the entry back for a later attempt; never recreates a finished entry
/// nor keeps one whose message is gone.
async fn reschedule(claim: &Claim, e: Entry) {
    let e2 = e.clone();
    match blocking(claim, move |c| c.update(&e2)).await {
        Some(Ok(Updated::Written)) => {}
        Some(Ok(Updated::Gone)) => {
            tracing::error!(id = %e.id, "queue entry removed during its attempt; not recreated")
        }
        Some(Ok(Updated::NoMessage)) => message_gone(claim, &e).await,
        Some(Err(err)) => {
            tracing::error!(id = %e.id, error = %err, "cannot update a queue entry; it is retried as it was")
        }
        None => tracing::error!(id = %e.id, "cannot update a queue entry; it is retried as it was"),
    }
}

/// An envelope whose message file is gone: the queue never leaves one behind
/// (message written before the envelope, removed after it), so something else
/// removed it. Whether the message was delivered is unknown: no retry, no DSN;
/// the envelope is set aside for the administrator.
async fn message_gone(claim: &Claim, e: &Entry) {
    let r = blocking(claim, Claim::set_aside).await;
    let kept = match &r {
        Some(Ok(p)) => p.display().to_string(),
        Some(Err(err)) => format!("left in place: {err}"),
        None => "left in place".into(),
    };
    tracing::error!(
        id = %e.id,
        from = %e.from,
        rcpt = %e.rcpt,
        created = e.created,
        attempts = e.attempts,
        envelope = %kept,
        "the queued message file is gone; entry set aside, not retried, no DSN sent"
    );
}

/// Returns a DSN to the sender (unless the sender is `<>`), then drops the entry.
/// The entry stays when the DSN cannot be stored: it is tried again later.
async fn fail(app: &Arc<App>, claim: &Claim, e: &Entry, reason: &str, status: &str) {
    if !e.from.is_empty() {
        if let Err(err) = dsn::send(app, e, reason, status).await {
            tracing::error!(id = %e.id, error = %err, "cannot queue a DSN; keeping the entry");
            let mut e = e.clone();
            e.next_attempt = now() + app.config().smtp.retry_secs.max(1) as i64 * 10;
            e.last_error = Some(format!("{reason}; DSN not stored: {err}"));
            reschedule(claim, e).await;
            return;
        }
    }
    if let Some(Err(err)) = blocking(claim, Claim::finish).await {
        tracing::error!(id = %e.id, error = %err, "cannot remove a returned queue entry; it may be returned again");
    }
}
