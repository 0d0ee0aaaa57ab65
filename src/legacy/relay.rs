//! Byte-for-byte relaying of a user's session (IMAP or POP3) to the legacy
//! server while their mailbox is being copied (DESIGN §1, `while_copying =
//! "proxy"`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::server::Conn;

/// Why a relayed session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyEnd {
    /// One side closed the connection (or an i/o error).
    Closed,
    /// No byte either way for `idle` (read timeout).
    Idle,
    /// The daemon is shutting down, or the user's switch needs the session ended.
    Ended,
}

/// Relays bytes between the client and the legacy connection until either side
/// closes, both are idle for `idle`, or `end` is cancelled (the switch to local
/// service, or shutdown). Unread input on either side is forwarded first.
pub async fn relay(client: Conn, legacy: Conn, idle: Duration, end: CancellationToken) -> ProxyEnd {
    let shutdown = client.shutdown_token();
    let (Ok(mut c), Ok(mut l)) = (client.into_raw().await, legacy.into_raw().await) else {
        return ProxyEnd::Closed;
    };
    if !c.buffered.is_empty() && l.stream.write_all(&c.buffered).await.is_err() {
        return ProxyEnd::Closed;
    }
    if !l.buffered.is_empty() && c.stream.write_all(&l.buffered).await.is_err() {
        return ProxyEnd::Closed;
    }
    let mut cbuf = vec![0u8; 16 * 1024];
    let mut lbuf = vec![0u8; 16 * 1024];
    let shutdown = shutdown.unwrap_or_default();
    loop {
        let step = tokio::select! {
            r = c.stream.read(&mut cbuf) => match r {
                Ok(0) | Err(_) => ProxyStep::Closed,
                Ok(n) => if l.stream.write_all(&cbuf[..n]).await.is_err() { ProxyStep::Closed } else { ProxyStep::Go },
            },
            r = l.stream.read(&mut lbuf) => match r {
                Ok(0) | Err(_) => ProxyStep::Closed,
                Ok(n) => if c.stream.write_all(&lbuf[..n]).await.is_err() { ProxyStep::Closed } else { ProxyStep::Go },
            },
            _ = tokio::time::sleep(idle) => ProxyStep::Idle,
            _ = end.cancelled() => ProxyStep::Ended,
            _ = shutdown.cancelled() => ProxyStep::Ended,
        };
        match step {
            ProxyStep::Go => continue,
            ProxyStep::Closed => {
                let _ = c.stream.shutdown().await;
                let _ = l.stream.shutdown().await;
                return ProxyEnd::Closed;
            }
            ProxyStep::Idle => {
                let _ = c.stream.shutdown().await;
                let _ = l.stream.shutdown().await;
                return ProxyEnd::Idle;
            }
            ProxyStep::Ended => {
                let _ = c.stream.shutdown().await;
                let _ = l.stream.shutdown().await;
                return ProxyEnd::Ended;
            }
        }
    }
}

enum ProxyStep {
    Go,
    Closed,
    Idle,
    Ended,
}
