//! Delivery status notifications (RFC 3464) for relayed mail that failed for good.
//! Sent with the null reverse-path, so a DSN never causes another.

use std::io::Read;
use std::sync::Arc;

use super::address::parse_address;
use super::hop::Hop;
use super::queue::{self, Entry};
use crate::app::App;
use crate::store::{AccountState, StoreError};

/// Most of the original header block quoted in the DSN.
const MAX_QUOTED_HEADER: u64 = 32 * 1024;

/// Builds the DSN for `entry` and delivers it (locally) or queues it.
pub async fn send(app: &Arc<App>, e: &Entry, reason: &str, status: &str) -> Result<(), StoreError> {
    let config = app.config();
    // A DSN for mail we forwarded goes to the original sender, not our SRS address.
    let mut e = e.clone();
    e.from = super::aliases::dsn_recipient(&config, &e.from);
    let e = &e;
    let qdir = queue::dir(&config.data_dir);
    let header = {
        let path = qdir.join(format!("{}.eml", e.id));
        tokio::task::spawn_blocking(move || original_header(&path))
            .await
            .unwrap_or_default()
    };
    let text = build(&config.hostname, e, reason, status, &header);
    let (spool, mut f) = super::deliver::Spool::create(&config.data_dir).await?;
    {
        use tokio::io::AsyncWriteExt;
        f.write_all(&text).await?;
        f.sync_all().await?;
    }
    // Where the sender's mail goes: a local account, its domain's legacy server,
    // or (a sender elsewhere) the relay host or the hop recorded with the entry.
    let sender = parse_address(&e.from).ok();
    let mut hop: Option<Hop> = None;
    if let Some(s) = &sender {
        if let Some(domain) = config.domain(&s.domain) {
            match app.store.account(&s.key()).await? {
                Some(a)
                    if a.state.serves_locally()
                        || (!domain.migrating() && a.state != AccountState::Pending) =>
                {
                    super::deliver::deliver_local(app, &a, &spool.path, "", &e.from).await?;
                    tracing::info!(id = %e.id, to = %e.from, "DSN delivered locally");
                    return Ok(());
                }
                _ => {
                    hop = domain.migration.smtp.as_ref().map(Hop::from_endpoint);
                }
            }
        }
    }
    let hop = hop
        .or_else(|| {
            config
                .relay_host
                .as_ref()
                .map(|(h, p)| Hop::relay_host(h, *p))
        })
        .or_else(|| e.dsn_hop.clone())
        .unwrap_or_else(|| e.hop.clone());
    super::deliver::enqueue(app, &spool.path, "", &e.from, &hop, None).await?;
    tracing::info!(id = %e.id, to = %e.from, hop = %hop, "DSN queued");
    queue::wake(&config.data_dir);
    Ok(())
}

/// The header block of the original message (bounded).
fn original_header(path: &std::path::Path) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(MAX_QUOTED_HEADER).read_to_end(&mut buf);
    }
    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => buf.truncate(i + 2),
        None => {
            // Cut at the last complete line.
            if let Some(i) = buf.windows(2).rposition(|w| w == b"\r\n") {
                buf.truncate(i + 2);
            } else {
                buf.clear();
            }
        }
    }
    buf
}

fn build(hostname: &str, e: &Entry, reason: &str, status: &str, header: &[u8]) -> Vec<u8> {
    let boundary = format!("dsn-{}", e.id);
    let date = chrono::Utc::now().to_rfc2822();
    let reason: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    let arrival = chrono::DateTime::from_timestamp(e.created, 0)
        .map(|d| d.to_rfc2822())
        .unwrap_or_default();
    let mut m = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
To: <{to}>\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Date: {date}\r\n\
Message-ID: <{id}.dsn@{hostname}>\r\n\
Auto-Submitted: auto-replied\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
\r\n\
--{boundary}\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
This is the mail system at {hostname}.\r\n\
\r\n\
Your message could not be delivered to <{rcpt}>.\r\n\
The server {hop} said or failed with:\r\n\
\r\n\
  {reason}\r\n\
\r\n\
--{boundary}\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; {hostname}\r\n\
Arrival-Date: {arrival}\r\n\
\r\n\
Final-Recipient: rfc822; {rcpt}\r\n\
Action: failed\r\n\
Status: {status_class}\r\n\
Remote-MTA: dns; {hophost}\r\n\
Diagnostic-Code: smtp; {reason}\r\n\
\r\n\
--{boundary}\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n",
        to = e.from,
        id = e.id,
        rcpt = e.rcpt,
        hop = e.hop,
        hophost = e.hop.host,
        status_class = if status.starts_with('4') {
            "5.4.7"
        } else {
            status
        },
    )
    .into_bytes();
    m.extend_from_slice(header);
    m.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    m
}
