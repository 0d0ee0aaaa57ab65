//! The runner of the relay queue (`queue.rs`): one task per daemon delivers due
//! entries with lettre, retries temporary failures with doubling delays
//! (`[smtp] retry_secs`, capped at an hour), and returns a DSN to the sender
//! after a permanent failure or after `[smtp] queue_lifetime_secs`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Semaphore;

use super::dsn;
use super::hop::Hop;
use super::queue::{clean_orphans, dir, list, remove, waker, write_entry, Entry};
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
        let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        loop {
            let entries = {
                let d = data_dir.clone();
                tokio::task::spawn_blocking(move || list(&d))
                    .await
                    .unwrap_or_default()
            };
            let t = now();
            let mut sleep = MAX_SLEEP;
            for e in entries {
                if in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&e.id)
                {
                    continue;
                }
                if e.next_attempt > t {
                    sleep = sleep.min(Duration::from_secs((e.next_attempt - t) as u64));
                    continue;
                }
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    sleep = Duration::from_secs(1);
                    break;
                };
                in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(e.id.clone());
                let app = app.clone();
                let in_flight = in_flight.clone();
                let notify = notify.clone();
                app.tasks.clone().spawn(async move {
                    let id = e.id.clone();
                    tokio::select! {
                        _ = attempt(&app, e) => {}
                        _ = app.shutdown.cancelled() => {}
                    }
                    in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
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
}

async fn send(app: &Arc<App>, e: &Entry, qdir: &Path) -> Outcome {
    let hostname = app.config().hostname.clone();
    let message = match tokio::fs::read(qdir.join(format!("{}.eml", e.id))).await {
        Ok(m) => m,
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

/// One delivery attempt of one entry, with its bookkeeping.
async fn attempt(app: &Arc<App>, mut e: Entry) {
    let config = app.config();
    let qdir = dir(&config.data_dir);
    let outcome = send(app, &e, &qdir).await;
    let q2 = qdir.clone();
    match outcome {
        Outcome::Delivered => {
            tracing::info!(id = %e.id, rcpt = %e.rcpt, hop = %e.hop, "relayed");
            app.metrics
                .messages_relayed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = e.id.clone();
            let _ = tokio::task::spawn_blocking(move || remove(&q2, &id)).await;
        }
        Outcome::Permanent(reason) => {
            tracing::warn!(id = %e.id, rcpt = %e.rcpt, hop = %e.hop, %reason, "permanent failure");
            fail(app, &e, &reason, "5.0.0").await;
        }
        Outcome::Temporary(reason) => {
            e.attempts += 1;
            let t = now();
            if t - e.created >= config.smtp.queue_lifetime_secs as i64 {
                tracing::warn!(id = %e.id, rcpt = %e.rcpt, %reason, "queue lifetime over; returning to sender");
                let r = format!("gave up after {} attempts: {reason}", e.attempts);
                fail(app, &e, &r, "4.4.7").await;
                return;
            }
            let base = config.smtp.retry_secs.max(1) as i64;
            let delay = (base << (e.attempts - 1).min(12)).min(MAX_BACKOFF_SECS.max(base));
            e.next_attempt = t + delay;
            tracing::info!(id = %e.id, rcpt = %e.rcpt, hop = %e.hop, %reason, retry_in = delay, "temporary failure");
            e.last_error = Some(reason);
            let r = tokio::task::spawn_blocking(move || write_entry(&q2, &e)).await;
            if !matches!(r, Ok(Ok(()))) {
                tracing::error!("cannot update a queue entry; it is retried as it was");
            }
        }
    }
}

/// Returns a DSN to the sender (unless the sender is `<>`), then drops the entry.
/// The entry stays when the DSN cannot be stored: it is tried again later.
async fn fail(app: &Arc<App>, e: &Entry, reason: &str, status: &str) {
    let qdir = dir(&app.config().data_dir);
    if !e.from.is_empty() {
        if let Err(err) = dsn::send(app, e, reason, status).await {
            tracing::error!(id = %e.id, error = %err, "cannot queue a DSN; keeping the entry");
            let mut e = e.clone();
            e.next_attempt = now() + app.config().smtp.retry_secs.max(1) as i64 * 10;
            e.last_error = Some(format!("{reason}; DSN not stored: {err}"));
            let _ = tokio::task::spawn_blocking(move || write_entry(&qdir, &e)).await;
            return;
        }
    }
    let id = e.id.clone();
    let _ = tokio::task::spawn_blocking(move || remove(&qdir, &id)).await;
}
